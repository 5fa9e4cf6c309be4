//! A service's confinement keys (`cap_add`, `cap_drop`, `privileged`, `security_opt`, `user`,
//! `pid`, `ipc`, `init`, `read_only`, `volumes`) turned into the `security` part of its
//! sandbox request, as `ferry run`'s flags would give it. The only I/O is reading a
//! `seccomp=FILE` profile, whose JSON is sent, as the docker CLI sends it.

use crate::build::E;
use crate::model::NamespaceShare;
use crate::node::{boolean, check_keys, index, join, kind, list, map, scalar, scalar_list, R};
use ferry_types::security::{parse_bind, parse_user, Security, SecurityRequest};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The service keys read here.
pub(crate) const KEYS: &[&str] = &[
    "cap_add",
    "cap_drop",
    "privileged",
    "security_opt",
    "user",
    "pid",
    "ipc",
    "init",
    "read_only",
    "volumes",
];

/// What confinement needs from outside the file.
pub(crate) struct Ctx<'a> {
    /// The project directory, for relative host paths.
    pub dir: Option<&'a Path>,
    /// `HOME`, for `~`.
    pub home: Option<&'a str>,
    /// Whether files (seccomp profiles) may be read.
    pub fs: bool,
}

/// A service's confinement, parsed.
#[derive(Default)]
pub(crate) struct SecDef {
    /// The request part; `pid_mode` and `ipc_mode` are set when the plan resolves them.
    pub request: SecurityRequest,
    pub pid: Option<NamespaceShare>,
    pub ipc: Option<NamespaceShare>,
    /// `security_opt` as `config` prints it (profile files by absolute path).
    pub security_opt: Vec<String>,
}

/// Reads the confinement keys of the service at `path`. Warnings go to `warnings`.
pub(crate) fn parse(
    path: &str,
    m: &Map<String, Value>,
    cx: &Ctx,
    warnings: &mut Vec<String>,
) -> Result<SecDef, E> {
    let get = |k: &str| m.get(k).filter(|v| !v.is_null());
    let sub = |k: &str| join(path, k);
    let mut d = SecDef::default();
    let r = &mut d.request;
    if let Some(v) = get("cap_add") {
        r.cap_add = capabilities(&sub("cap_add"), v)?;
    }
    if let Some(v) = get("cap_drop") {
        r.cap_drop = capabilities(&sub("cap_drop"), v)?;
    }
    if let Some(v) = get("privileged") {
        r.privileged = boolean(&sub("privileged"), v)?;
    }
    if let Some(v) = get("read_only") {
        r.readonly_rootfs = boolean(&sub("read_only"), v)?;
    }
    if let Some(v) = get("init") {
        r.init = Some(boolean(&sub("init"), v)?);
    }
    if let Some(v) = get("user") {
        let up = sub("user");
        let u = scalar(&up, v)?;
        parse_user(&u)
            .map_err(|_| format!("{up}: invalid user {u:?}: use UID[:GID] or NAME[:GROUP]"))?;
        r.user = u;
    }
    if let Some(v) = get("pid") {
        d.pid = Some(share_mode(&sub("pid"), v, false)?);
    }
    if let Some(v) = get("ipc") {
        d.ipc = Some(share_mode(&sub("ipc"), v, true)?);
    }
    if let Some(v) = get("security_opt") {
        let sp = sub("security_opt");
        for (i, o) in scalar_list(&sp, v)?.into_iter().enumerate() {
            let (sent, shown) = security_opt(&index(&sp, i), &o, cx)?;
            d.request.security_opt.push(sent);
            d.security_opt.push(shown);
        }
    }
    if let Some(v) = get("volumes") {
        let vp = sub("volumes");
        let mut targets: Vec<(String, String)> = Vec::new();
        for (i, x) in list(&vp, v)?.iter().enumerate() {
            let at = index(&vp, i);
            let spec = match x {
                Value::Object(vm) => long_volume(&at, vm, cx, warnings)?,
                other => short_volume(&at, &scalar(&at, other)?, cx)?,
            };
            let bind = parse_bind(&spec).map_err(|e| format!("{at}: {e}"))?;
            if let Some((_, first)) = targets.iter().find(|(t, _)| *t == bind.target) {
                return Err(E::Msg(format!(
                    "{at}: {} is already the target of {first}: give each mount its own sandbox path",
                    bind.target
                )));
            }
            targets.push((bind.target.clone(), at));
            d.request.binds.push(bind.spec());
        }
    }
    // What the daemon will check again, checked here so `up` changes nothing on a bad file.
    let mut check = d.request.clone();
    for (mode, share) in [(&mut check.pid_mode, &d.pid), (&mut check.ipc_mode, &d.ipc)] {
        if let Some(s) = share.as_ref().filter(|s| s.service().is_none()) {
            *mode = s.to_compose();
        }
    }
    Security::parse(&check, true).map_err(|e| format!("{path}: {}", e.message))?;
    Ok(d)
}

/// Capability names, as given (the daemon knows which exist); `CAP_` may prefix them.
fn capabilities(path: &str, v: &Value) -> R<Vec<String>> {
    let caps = scalar_list(path, v)?;
    for (i, c) in caps.iter().enumerate() {
        if c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "{}: invalid capability {c:?}: give a name such as NET_ADMIN, or ALL",
                index(path, i)
            ));
        }
    }
    Ok(caps)
}

/// `pid:` (host, service:NAME, container:NAME) or `ipc:` (also private and shareable).
fn share_mode(path: &str, v: &Value, ipc: bool) -> R<NamespaceShare> {
    let s = scalar(path, v)?;
    let mode = match (s.as_str(), s.split_once(':')) {
        ("host", _) => NamespaceShare::Host,
        ("private", _) if ipc => NamespaceShare::Private,
        ("shareable", _) if ipc => NamespaceShare::Shareable,
        (_, Some(("service", t))) if !t.is_empty() => NamespaceShare::Service(t.into()),
        (_, Some(("container", t))) if !t.is_empty() => NamespaceShare::Container(t.into()),
        ("none", _) if ipc => {
            return Err(format!(
                "{path}: ipc: none is not supported: a sandbox always has an IPC namespace; use private"
            ))
        }
        _ if ipc => {
            return Err(format!(
                "{path}: {s:?} is not an IPC mode: use private, shareable, host, service:NAME or container:NAME"
            ))
        }
        _ => {
            return Err(format!(
                "{path}: {s:?} is not a PID mode: use host, service:NAME or container:NAME (without pid:, the sandbox has its own)"
            ))
        }
    };
    Ok(mode)
}

/// One `security_opt` entry: what the request carries, and what `config` shows.
fn security_opt(at: &str, opt: &str, cx: &Ctx) -> Result<(String, String), E> {
    // Docker accepts `key=value` and the older `key:value`.
    let (key, value) = match opt.split_once(['=', ':']) {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    match (key, value) {
        ("seccomp", Some(v)) if v == "unconfined" || v.trim_start().starts_with('{') => {
            Ok((opt.to_string(), opt.to_string()))
        }
        ("seccomp", Some(file)) if !file.is_empty() => {
            let full = host_path(at, file, cx)?;
            if !cx.fs {
                return Err(E::Msg(format!(
                    "{at}: reading the seccomp profile {file:?} needs the file system: load the project from its file (ferry_compose::load)"
                )));
            }
            let text = std::fs::read_to_string(&full).map_err(|e| E::Read(full.clone(), e))?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(_)) => {}
                Ok(other) => {
                    return Err(E::Msg(format!(
                        "{at}: {} is not a seccomp profile: it holds {} instead of a JSON object in Docker's profile format",
                        full.display(),
                        kind(&other)
                    )))
                }
                Err(e) => {
                    return Err(E::Msg(format!(
                        "{at}: {} is not a seccomp profile: invalid JSON: {e}",
                        full.display()
                    )))
                }
            }
            Ok((
                format!("seccomp={text}"),
                format!("seccomp={}", full.display()),
            ))
        }
        ("seccomp", _) => Err(E::Msg(format!(
            "{at}: {opt:?} names no profile: use seccomp=unconfined or seccomp=FILE (a profile in Docker's JSON format)"
        ))),
        ("no-new-privileges", None | Some("true" | "false")) => {
            Ok((opt.to_string(), opt.to_string()))
        }
        ("no-new-privileges", Some(v)) => Err(E::Msg(format!(
            "{at}: no-new-privileges takes true or false, not {v:?}"
        ))),
        ("apparmor" | "label", _) => Err(E::Msg(format!(
            "{at}: {opt:?}: AppArmor and SELinux labels are not supported by ferry: remove it"
        ))),
        _ => Err(E::Msg(format!(
            "{at}: unknown security option {opt:?}: ferry knows seccomp=unconfined|FILE and no-new-privileges[=true|false]"
        ))),
    }
}

/// A host path as written in the file: `~` is `HOME`, a relative path is taken from the
/// project directory, and `.`/`..` are resolved as text (as Compose does).
fn host_path(at: &str, p: &str, cx: &Ctx) -> R<PathBuf> {
    let full = if p == "~" || p.starts_with("~/") {
        let Some(home) = cx.home.filter(|h| h.starts_with('/')) else {
            return Err(format!(
                "{at}: {p:?} starts with ~, but HOME is not set to an absolute path: give the path in full"
            ));
        };
        Path::new(home).join(p.trim_start_matches('~').trim_start_matches('/'))
    } else if p.starts_with('~') {
        return Err(format!(
            "{at}: {p:?}: ~USER is not supported: give the path in full"
        ));
    } else if p.starts_with('/') {
        PathBuf::from(p)
    } else {
        match cx.dir {
            Some(dir) => dir.join(p),
            None => {
                return Err(format!(
                    "{at}: {p:?} is relative and the project directory is unknown: give an absolute path"
                ))
            }
        }
    };
    let full = crate::clean(&full);
    let text = full.to_string_lossy();
    if text.contains(':') {
        return Err(format!(
            "{at}: the host path {text} contains ':', which a bind mount cannot carry: rename it or bind a parent directory"
        ));
    }
    Ok(full)
}

/// `HOST:SANDBOX[:ro|rw]`, as ferry's `-v` takes it (the host path resolved).
fn short_volume(at: &str, s: &str, cx: &Ctx) -> R<String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => {
            return Err(format!(
                "{at}: {s:?} is an anonymous volume: ferry has only bind mounts: give HOST-PATH:{target}"
            ))
        }
        [source, target] => (*source, *target, ""),
        [source, target, mode] => (*source, *target, *mode),
        _ => {
            return Err(format!(
                "{at}: {s:?} is not a bind mount: use HOST-PATH:SANDBOX-PATH[:ro|rw]"
            ))
        }
    };
    if !(source.starts_with(['/', '.', '~'])) {
        return Err(named_volume(at, source));
    }
    let mut read_only = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(format!(
                    "{at}: mode {other:?} of {s:?} is not supported: ferry knows ro and rw"
                ))
            }
        }
    }
    bind_spec(at, source, target, read_only, cx)
}

/// The long syntax: `{type: bind, source, target, read_only}`.
fn long_volume(
    at: &str,
    m: &Map<String, Value>,
    cx: &Ctx,
    warnings: &mut Vec<String>,
) -> R<String> {
    check_keys(
        at,
        m,
        &[
            "type",
            "source",
            "target",
            "read_only",
            "bind",
            "volume",
            "tmpfs",
            "image",
            "consistency",
        ],
    )?;
    let text = |k: &str| -> R<Option<String>> {
        match m.get(k).filter(|v| !v.is_null()) {
            Some(v) => scalar(&join(at, k), v).map(Some),
            None => Ok(None),
        }
    };
    match text("type")?.as_deref() {
        Some("bind") => {}
        Some("volume") => {
            return Err(match text("source")? {
                Some(name) => named_volume(at, &name),
                None => format!(
                    "{at}: a volume without a source is an anonymous volume, and ferry has only bind mounts: use type: bind with a host path as source"
                ),
            });
        }
        Some(t) => {
            return Err(format!(
                "{at}.type: {t} mounts are not supported: ferry has only bind mounts (type: bind with a host path as source)"
            ))
        }
        None => {
            return Err(format!(
                "{at}: type is missing: give type: bind (ferry has only bind mounts)"
            ))
        }
    }
    for k in ["volume", "tmpfs", "image"] {
        if m.get(k).is_some_and(|v| !v.is_null()) {
            return Err(format!(
                "{at}.{k}: these options are for type: {k}, but the mount is a bind: remove them"
            ));
        }
    }
    if let Some(b) = m.get("bind") {
        let bp = join(at, "bind");
        let empty = Map::new();
        let bm = map(&bp, b)?.unwrap_or(&empty);
        check_keys(&bp, bm, &["create_host_path", "propagation", "selinux"])?;
        for k in ["propagation", "selinux"] {
            if bm.get(k).is_some_and(|v| !v.is_null()) {
                return Err(format!(
                    "{bp}.{k}: not supported: ferry's bind mounts are private and carry no SELinux label; remove it"
                ));
            }
        }
        if let Some(c) = bm.get("create_host_path") {
            if boolean(&join(&bp, "create_host_path"), c)? {
                warnings.push(format!(
                    "{bp}.create_host_path is ignored: ferry does not create host paths, so the path must exist"
                ));
            }
        }
    }
    let Some(source) = text("source")? else {
        return Err(format!(
            "{at}: source is missing: give the host path to bind"
        ));
    };
    let Some(target) = text("target")? else {
        return Err(format!(
            "{at}: target is missing: give the path in the sandbox"
        ));
    };
    let read_only = match m.get("read_only") {
        Some(v) => boolean(&join(at, "read_only"), v)?,
        None => false,
    };
    bind_spec(at, &source, &target, read_only, cx)
}

fn named_volume(at: &str, name: &str) -> String {
    format!(
        "{at}: {name:?} is a named volume, and ferry has only bind mounts: give a host path instead (./{name} for a directory of the project, or an absolute path), and remove it from the top-level volumes:"
    )
}

fn bind_spec(at: &str, source: &str, target: &str, read_only: bool, cx: &Ctx) -> R<String> {
    if !target.starts_with('/') {
        return Err(format!(
            "{at}: the sandbox path {target:?} is relative: give an absolute path, such as /{}",
            target.trim_start_matches("./")
        ));
    }
    let source = host_path(at, source, cx)?;
    let mut spec = format!("{}:{target}", source.display());
    if read_only {
        spec.push_str(":ro");
    }
    Ok(spec)
}
