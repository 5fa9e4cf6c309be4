//! A sandbox's confinement as the kernel layer applies it: its `Security` (what the user
//! asked for) turned into capabilities, a seccomp program, `no_new_privs` and a user.

use crate::state::State;
use ferry_kernel::process::{Confinement, User};
use ferry_types::api::SandboxCreateRequest;
use ferry_types::security::{parse_user, NamespaceMode, Seccomp, Security};
use ferry_types::FerryError;
use std::path::Path;

/// The capabilities a sandbox keeps; `None` for all of them (privileged).
pub fn capabilities(sec: &Security) -> Result<Option<u64>, FerryError> {
    if sec.privileged {
        return Ok(None);
    }
    ferry_kernel::caps::CapSet::resolve(&sec.cap_add, &sec.cap_drop, false)
        .map(|c| Some(c.0))
        .map_err(|e| FerryError::invalid(e.to_string()))
}

/// The sandbox's seccomp program, compiled for the capabilities it keeps.
pub fn seccomp(
    sec: &Security,
    caps: Option<u64>,
) -> Result<Option<Vec<libc::sock_filter>>, FerryError> {
    seccomp_program(&sec.seccomp, caps)
}

/// A seccomp program: ferry's default profile, none, or a profile in Docker's format,
/// compiled for the capabilities the process keeps (rules may depend on them).
pub fn seccomp_program(
    which: &Seccomp,
    caps: Option<u64>,
) -> Result<Option<Vec<libc::sock_filter>>, FerryError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Programs = HashMap<(Seccomp, Option<u64>), Vec<libc::sock_filter>>;
    // Sandboxes mostly share a few (profile, capabilities) pairs: compile each once, not at
    // every start. Bounded: a full cache starts over.
    static PROGRAMS: OnceLock<Mutex<Programs>> = OnceLock::new();
    let cache = PROGRAMS.get_or_init(Default::default);
    let key = (which.clone(), caps);
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(Some(p));
    }
    let program = compile_program(which, caps)?;
    if let (Some(p), Ok(mut c)) = (&program, cache.lock()) {
        if c.len() >= 64 {
            c.clear();
        }
        c.insert(key, p.clone());
    }
    Ok(program)
}

fn compile_program(
    which: &Seccomp,
    caps: Option<u64>,
) -> Result<Option<Vec<libc::sock_filter>>, FerryError> {
    use ferry_kernel::seccomp::{self, Profile, Target};
    let profile = match which {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Default => seccomp::default_profile(),
        Seccomp::Profile(json) => Profile::from_json(json)
            .map_err(|e| FerryError::invalid(format!("invalid seccomp profile: {e}")))?,
    };
    let kernel = seccomp::KernelVersion::running()
        .map_err(|e| FerryError::internal(format!("seccomp profile: {e}")))?;
    let target = Target {
        caps: ferry_kernel::caps::CapSet(caps.unwrap_or(u64::MAX)),
        kernel,
    };
    let compiled = seccomp::compile(&profile, &target)
        .map_err(|e| FerryError::invalid(format!("seccomp profile: {e}")))?;
    Ok(Some(compiled.program))
}

/// One line of `/etc/passwd` or `/etc/group`: name, ID, and (passwd) the primary group.
fn field_line(line: &str) -> Option<(&str, u32, Option<u32>, Option<&str>)> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 {
        return None;
    }
    let id = f[2].parse().ok()?;
    Some((f[0], id, f[3].parse().ok(), f.get(3).copied()))
}

/// Resolves `--user` against the sandbox's own `/etc/passwd` and `/etc/group` (those of its
/// root filesystem, else the host's), as Docker resolves it in the image: a name must exist,
/// a number need not. Returns the user and its supplementary groups.
pub fn user(spec: &str, passwd: &str, group: &str) -> Result<(User, Vec<u32>), FerryError> {
    let (u, g) = parse_user(spec)?;
    let entry = passwd
        .lines()
        .filter_map(field_line)
        .find(|(name, id, ..)| *name == u || u.parse::<u32>().ok() == Some(*id));
    let (uid, name, primary) = match (u.parse::<u32>(), entry) {
        (_, Some((name, id, gid, _))) => (id, Some(name), gid),
        (Ok(id), None) => (id, None, None),
        (Err(_), None) => {
            return Err(FerryError::invalid(format!(
                "--user {spec}: no user {u:?} in the sandbox's /etc/passwd; give a numeric UID"
            )))
        }
    };
    let groups: Vec<(&str, u32, &str)> = group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((*f.first()?, f.get(2)?.parse().ok()?, *f.get(3)?))
        })
        .collect();
    let gid = match g {
        None => primary.unwrap_or(0),
        Some(g) => match (g.parse::<u32>(), groups.iter().find(|(n, ..)| *n == g)) {
            (Ok(id), _) => id,
            (Err(_), Some((_, id, _))) => *id,
            (Err(_), None) => {
                return Err(FerryError::invalid(format!(
                    "--user {spec}: no group {g:?} in the sandbox's /etc/group; give a numeric GID"
                )))
            }
        },
    };
    // Supplementary groups: those that list the user by name, as login does.
    let mut extra: Vec<u32> = match name {
        Some(n) => groups
            .iter()
            .filter(|(_, _, members)| members.split(',').any(|m| m == n))
            .map(|(_, id, _)| *id)
            .collect(),
        None => Vec::new(),
    };
    if !extra.contains(&gid) {
        extra.insert(0, gid);
    }
    Ok((User { uid, gid }, extra))
}

/// Parses and checks a create request's confinement: capability names, the seccomp profile,
/// bind sources (and, on the host's root, mount points), and the sandboxes whose PID or IPC
/// namespace it shares (resolved to their IDs).
pub(crate) fn parse_request(
    st: &State,
    req: &SandboxCreateRequest,
    init_default: bool,
) -> Result<Security, FerryError> {
    let mut sec = Security::parse(&req.security, init_default)?;
    for (mode, flag) in [(&mut sec.pid, "--pid"), (&mut sec.ipc, "--ipc")] {
        if let NamespaceMode::Sandbox(name) = mode {
            let t = st.find_sandbox(name).map_err(|e| e.context(flag))?;
            *mode = NamespaceMode::Sandbox(t.id.to_string());
        }
    }
    let caps = capabilities(&sec)?;
    seccomp(&sec, caps)?;
    for b in &sec.binds {
        if std::fs::symlink_metadata(&b.source).is_err() {
            return Err(FerryError::invalid(format!(
                "volume {}: the host path {} does not exist; create it first",
                b.spec(),
                b.source
            )));
        }
        if req.rootfs.is_empty() && !Path::new(&b.target).exists() {
            return Err(FerryError::invalid(format!(
                "volume {}: {} does not exist on the host, whose root the sandbox shares; bind onto an existing path or give the sandbox a --rootfs",
                b.spec(),
                b.target
            )));
        }
    }
    Ok(sec)
}

/// The whole confinement of a sandbox whose root is `root` (`/` for the host's).
pub fn confinement(sec: &Security, root: &Path) -> Result<Confinement, FerryError> {
    let caps = capabilities(sec)?;
    let seccomp = seccomp(sec, caps)?;
    let (user, groups) = if sec.user.is_empty() {
        (None, Vec::new())
    } else {
        let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap_or_default();
        let (u, g) = user(&sec.user, &read("etc/passwd"), &read("etc/group"))?;
        (Some(u), g)
    };
    Ok(Confinement {
        caps,
        seccomp,
        no_new_privs: sec.no_new_privileges,
        user,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nwheel:x:10:alice,bob\n";

    #[test]
    fn users_by_name_and_number() {
        let (u, g) = user("alice", PASSWD, GROUP).unwrap();
        assert_eq!(
            u,
            User {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(g, vec![1000, 10]);
        let (u, g) = user("1000:nogroup", PASSWD, GROUP).unwrap();
        assert_eq!(
            u,
            User {
                uid: 1000,
                gid: 65534
            }
        );
        assert_eq!(g, vec![65534, 10]);
        let (u, g) = user("4242", PASSWD, GROUP).unwrap();
        assert_eq!(u, User { uid: 4242, gid: 0 });
        assert_eq!(g, vec![0]);
        assert!(user("mallory", PASSWD, GROUP).is_err());
        assert!(user("alice:staff", PASSWD, GROUP).is_err());
    }
}
