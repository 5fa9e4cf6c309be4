//! Routes only Docker clients use: `kill`, `top`, `container prune`, `attach` and `exec` (over a hijacked
//! connection: 101 Switching Protocols, then Docker's multiplexed frames), and `images`,
//! which lists the named root filesystems ferry runs instead of images.

use crate::docker::events::Snapshot;
use crate::docker::exec::{self as exec, ExecCreate, ExecRecord, ExecStart};
use crate::docker::{image, stream};
use crate::server::{
    body, flag, json_response, log_stream, ok_json, truthy, ApiError, App, Ctl, RawBody, Res,
};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_kernel::pty::Pty;
use ferry_types::FerryError;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The exec instances, by ID.
pub type Execs = Arc<Mutex<HashMap<String, ExecRecord>>>;

fn lock(execs: &Execs) -> std::sync::MutexGuard<'_, HashMap<String, ExecRecord>> {
    // A panic while holding it leaves the map as it was: keep using it.
    execs.lock().unwrap_or_else(|p| p.into_inner())
}

/// A signal by Docker's names (`KILL`, `SIGKILL`) or number.
pub fn parse_signal(s: &str) -> Result<i32, FerryError> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let sig = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "WINCH" => libc::SIGWINCH,
        "ALRM" => libc::SIGALRM,
        _ => {
            return Err(FerryError::invalid(format!(
                "invalid signal: {s}; give a name such as KILL or TERM, or a number"
            )))
        }
    };
    Ok(sig)
}

/// `kill`: SIGKILL unless `signal` says otherwise.
pub(crate) async fn kill(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let sig = match q.get("signal").filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(s)?,
        None => libc::SIGKILL,
    };
    ctl.kill_sandbox(&id, sig).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `top`.
pub(crate) async fn top(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    let v = ctl.inspect_sandbox(&id).await?;
    let sb = &v.sandbox;
    match (sb.is_running(), sb.state.pid) {
        (true, Some(pid)) => Ok(ok_json(&crate::docker::top::top(pid))),
        _ => Err(FerryError::conflict(format!("Container {} is not running", sb.name)).into()),
    }
}

/// `container prune`: removes the sandboxes that do not run (ferry's own; containers attached
/// from outside are left alone), those with the `label` filters' labels only.
pub(crate) async fn prune(State(ctl): State<Ctl>, Query(q): Query<HashMap<String, String>>) -> Res {
    let f = crate::docker::filters::parse(q.get("filters").map(String::as_str).unwrap_or(""))?;
    let mut filter = crate::docker::filters::ps_filter(&f)?.engine;
    filter.statuses = Some(vec![
        ferry_types::Status::Created,
        ferry_types::Status::Exited,
    ]);
    let mut deleted = Vec::new();
    for v in ctl.list_sandboxes(true, &filter).await? {
        if v.sandbox.external_netns.is_some() {
            continue;
        }
        match ctl.remove_sandbox(&v.sandbox.id, false).await {
            Ok(()) => deleted.push(v.sandbox.id.to_string()),
            // Started or removed meanwhile: not this prune's.
            Err(e) => tracing::debug!(sandbox = %v.sandbox.name, error = %e.message, "not pruned"),
        }
    }
    Ok(ok_json(&serde_json::json!({
        "ContainersDeleted": deleted,
        "SpaceReclaimed": 0
    })))
}

/// The window size of a `resize` query: `h` rows, `w` columns (dockerd's message when
/// either is not a number).
pub fn window_size(q: &HashMap<String, String>) -> Result<(u16, u16), FerryError> {
    let get = |k: &str| -> Result<u16, FerryError> {
        let v = q.get(k).map(String::as_str).unwrap_or("0");
        v.parse::<u16>().map_err(|_| {
            FerryError::invalid(format!("invalid resize parameter {k}={v:?}: give a number"))
        })
    };
    Ok((get("h")?, get("w")?))
}

/// `POST /containers/{id}/resize`: the window size of the sandbox's terminal.
pub(crate) async fn container_resize(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let (rows, cols) = window_size(&q)?;
    ctl.resize_tty(&id, rows, cols).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /exec/{id}/resize`: the window size of the exec's terminal.
pub(crate) async fn exec_resize(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let (rows, cols) = window_size(&q)?;
    let pty = lock(&app.execs)
        .get(&id)
        .ok_or_else(|| no_such_exec(&id))?
        .pty
        .clone();
    match pty {
        Some(p) => p
            .resize(rows, cols)
            .map_err(|e| FerryError::internal(e.to_string()))?,
        None => {
            return Err(FerryError::conflict(format!(
                "cannot resize exec {id}: it does not run with a terminal"
            ))
            .into())
        }
    }
    Ok(StatusCode::OK.into_response())
}

/// `images`: the named root filesystems ([`image`]), and the reserved `host`.
pub(crate) async fn images(State(ctl): State<Ctl>) -> Res {
    let dir = image::rootfs_dir(&ctl.config().data_root);
    let rows: Vec<serde_json::Value> = std::iter::once(image::HOST_IMAGE.to_string())
        .chain(image::list(&dir))
        .map(|name| image_summary(&name))
        .collect();
    Ok(ok_json(&rows))
}

fn image_id(name: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let a = h.finish();
    a.hash(&mut h);
    let b = h.finish();
    format!("sha256:{a:016x}{b:016x}{a:016x}{b:016x}")
}

fn image_summary(name: &str) -> serde_json::Value {
    serde_json::json!({
        "Id": image_id(name),
        "ParentId": "",
        "RepoTags": [format!("{name}:latest")],
        "RepoDigests": [],
        "Created": 0,
        "Size": 0,
        "SharedSize": -1,
        "VirtualSize": 0,
        "Labels": {},
        "Containers": -1
    })
}

/// `image inspect` (the CLI asks before `run`): the names ferry resolves.
pub(crate) async fn image_inspect(State(ctl): State<Ctl>, Path(name): Path<String>) -> Res {
    let name = name.strip_suffix("/json").unwrap_or(&name).to_string();
    let dir = image::rootfs_dir(&ctl.config().data_root);
    image::resolve(&name, &dir)?;
    let mut v = image_summary(image::name_of(&name));
    v["Config"] = serde_json::json!({"Cmd": null, "Env": [], "Entrypoint": null});
    v["Os"] = "linux".into();
    v["Architecture"] = crate::docker::system::goarch(std::env::consts::ARCH).into();
    Ok(ok_json(&v))
}

/// `pull` (and `run` of an image it does not have): ferry pulls nothing.
pub(crate) async fn image_pull(
    State(ctl): State<Ctl>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let name = q.get("fromImage").cloned().unwrap_or_default();
    let dir = image::rootfs_dir(&ctl.config().data_root);
    Err(FerryError::not_found(format!("cannot pull {name}: {}", image::help(&dir))).into())
}

/// Where what a client sends over a taken-over connection goes.
pub(crate) enum Input {
    /// Nowhere.
    None,
    /// A child's standard input; its end is the end of the child's input.
    Pipe(tokio::process::ChildStdin),
    /// An exec's terminal: its end (the client's terminal went) hangs the terminal up.
    Tty(Arc<Pty>),
    /// The terminal of sandbox `id`, once it runs with one (a client attaches before the
    /// start).
    SandboxTty(Ctl, ferry_types::SandboxId),
}

impl Input {
    async fn pump(self, mut rd: impl AsyncRead + Unpin) {
        match self {
            Input::None => {}
            Input::Pipe(mut stdin) => {
                let _ = tokio::io::copy(&mut rd, &mut stdin).await;
                // Its end is the process's end of input.
                let _ = stdin.shutdown().await;
            }
            Input::Tty(pty) => {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = rd.read(&mut buf).await {
                    if n == 0 || pty.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                pty.hang_up();
            }
            Input::SandboxTty(ctl, id) => {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    // The terminal exists once the sandbox started: wait for it a while.
                    let mut pty = None;
                    for _ in 0..200 {
                        pty = ctl.tty_of(id.as_str()).await.ok().flatten();
                        if pty.is_some() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    let Some(pty) = pty else { break };
                    if pty.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// Takes the connection over when the client asked to (`Upgrade: tcp`), writing `frames`
/// to it and passing what the client sends to `input`; otherwise streams `frames` as the
/// reply's body. `raw`: a terminal's stream, not multiplexed. `gone` runs when the client
/// can no longer be written to.
fn hijack<S>(
    req: Request<Body>,
    frames: S,
    input: Input,
    raw: bool,
    gone: Option<Box<dyn FnOnce() + Send>>,
) -> Response
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let (mut parts, _) = req.into_parts();
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .is_some()
        .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
        .flatten();
    let content_type = if raw {
        stream::RAW
    } else {
        stream::MULTIPLEXED
    };
    let Some(on_upgrade) = upgrade else {
        return (
            [(header::CONTENT_TYPE, content_type)],
            Body::from_stream(frames),
        )
            .into_response();
    };
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "attach: the connection was not taken over");
                return;
            }
        };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let (rd, mut wr) = tokio::io::split(io);
        tokio::spawn(input.pump(rd));
        let mut frames = std::pin::pin!(frames);
        while let Some(chunk) = frames.next().await {
            let Ok(chunk) = chunk else { break };
            if wr.write_all(&chunk).await.is_err() {
                if let Some(g) = gone {
                    g();
                }
                return;
            }
        }
        let _ = wr.flush().await;
        let _ = wr.shutdown().await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `attach`: the sandbox's output as it comes, until its current run ends, or, when it does
/// not run, until its next run ends (how `run` attaches before `start`); with `logs`, what it
/// wrote before too. Standard input is attached (`stdin=1`) to a sandbox with a terminal
/// only, whose stream is then the terminal's, unframed; a sandbox without one reads none.
pub(crate) async fn attach(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request<Body>,
) -> Res {
    let (id, path) = ctl.log_source(&id).await?;
    let first_end = if ctl.is_running(&id).await {
        None
    } else {
        Some(ctl.last_end(&id).await)
    };
    let mut file = tokio::fs::File::open(&path).await.ok();
    let logs = flag(&q, "logs");
    if !logs {
        if let Some(f) = file.as_mut() {
            let _ = f.seek(std::io::SeekFrom::End(0)).await;
        }
    }
    let wanted = q.get("stream").is_none_or(|v| truthy(v));
    let tty = ctl.inspect_sandbox(id.as_str()).await?.sandbox.config.tty;
    let input = if tty && flag(&q, "stdin") {
        Input::SandboxTty(ctl.clone(), id.clone())
    } else {
        Input::None
    };
    let frames = log_stream(ctl, id, path, file, wanted, first_end).map(move |c| {
        c.map(|c| {
            if tty {
                c
            } else {
                Bytes::from(stream::frame(stream::STDOUT, &c))
            }
        })
    });
    Ok(hijack(req, frames, input, tty, None))
}

/// `exec` (create).
pub(crate) async fn exec_create(
    State(app): State<App>,
    Path(id): Path<String>,
    RawBody(b): RawBody,
) -> Res {
    let c: ExecCreate = body(&b)?;
    exec::check(&c)?;
    // Only a running sandbox can be entered (dockerd checks at create too).
    app.ctl.exec_target(&id).await?;
    let container_id = app.ctl.sandbox_id(&id).await?.to_string();
    let exec_id: String = ferry_engine::controller::new_id();
    let mut execs = lock(&app.execs);
    exec::forget_old(&mut execs, std::time::Instant::now());
    execs.insert(
        exec_id.clone(),
        ExecRecord {
            container_id,
            config: c,
            running: false,
            exit_code: None,
            pid: 0,
            pty: None,
            touched: std::time::Instant::now(),
        },
    );
    drop(execs);
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": exec_id }),
    ))
}

fn no_such_exec(id: &str) -> ApiError {
    FerryError::not_found(format!("No such exec instance: {id}")).into()
}

/// Frames of a child's output and errors, as they come, until both end.
fn child_frames(
    stdout: Option<impl AsyncRead + Send + Unpin + 'static>,
    stderr: Option<impl AsyncRead + Send + Unpin + 'static>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    fn frames_of(
        r: Option<impl AsyncRead + Send + Unpin + 'static>,
        n: u8,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        futures::stream::unfold(r, move |r| async move {
            let mut r = r?;
            let mut buf = vec![0u8; 32 * 1024];
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(k) => Some((Ok(Bytes::from(stream::frame(n, &buf[..k]))), Some(r))),
            }
        })
    }
    futures::stream::select(
        frames_of(stdout, stream::STDOUT),
        frames_of(stderr, stream::STDERR),
    )
}

/// `exec` (start): runs the command through `ferry exec`, with the connection taken over
/// for its input and output; the exit code is recorded for `GET /exec/{id}/json`.
pub(crate) async fn exec_start(
    State(app): State<App>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Res {
    let (parts, b) = req.into_parts();
    let raw = axum::body::to_bytes(b, crate::server::MAX_BODY_BYTES)
        .await
        .map_err(|e| FerryError::invalid(format!("cannot read the request body: {e}")))?;
    let start: ExecStart = if raw.is_empty() {
        ExecStart::default()
    } else {
        body(&raw)?
    };
    let rec = lock(&app.execs)
        .get(&id)
        .cloned()
        .ok_or_else(|| no_such_exec(&id))?;
    if rec.running || rec.exit_code.is_some() {
        return Err(FerryError::conflict(format!("exec instance {id} has already run")).into());
    }
    let c = &rec.config;
    let cfg = app.ctl.config();
    // ferry's CLI, installed beside the daemon (`ferryd`); the running executable itself
    // when it is not there (a daemon built as one program with the CLI).
    let exe = std::env::current_exe()
        .ok()
        .and_then(|d| Some(d.parent()?.join("ferry")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| std::path::PathBuf::from("/proc/self/exe"));
    let piped = |on: bool| {
        if on && !start.detach {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        }
    };
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args(exec::ferry_exec_args(
        &rec.container_id,
        c,
        exec::console_size(&start.console_size),
    ))
    .env("FERRY_HOST", format!("unix://{}", cfg.socket.display()));
    // With a terminal, `ferry exec` sends its master back on a socket, and the stream is the
    // terminal's; ferry exec's own errors still come on its standard error.
    let tty_socket = if c.tty {
        let (mine, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| FerryError::internal(format!("cannot make a socket pair: {e}")))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&theirs);
        // SAFETY: dup2 in the child between fork and exec; the new descriptor is not
        // close-on-exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, exec::TTY_SOCKET_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        Some((mine, theirs))
    } else {
        cmd.stdin(piped(c.attach_stdin))
            .stdout(piped(c.attach_stdout))
            .stderr(piped(c.attach_stderr));
        None
    };
    let mut child = cmd
        .spawn()
        .map_err(|e| FerryError::internal(format!("cannot start ferry exec: {e}")))?;
    let pty = match tty_socket {
        Some((mine, theirs)) => {
            drop(theirs);
            receive_pty(mine).await
        }
        None => None,
    };
    let stdin = child.stdin.take();
    let (frames, input): (futures::stream::BoxStream<'static, _>, Input) = match &pty {
        Some(p) => (
            futures::stream::select(pty_output(p.clone()), raw_output(child.stderr.take())).boxed(),
            if c.attach_stdin {
                Input::Tty(p.clone())
            } else {
                Input::None
            },
        ),
        None if c.tty => (raw_output(child.stderr.take()).boxed(), Input::None),
        None => (
            child_frames(child.stdout.take(), child.stderr.take()).boxed(),
            stdin.map_or(Input::None, Input::Pipe),
        ),
    };
    {
        let mut m = lock(&app.execs);
        if let Some(r) = m.get_mut(&id) {
            r.running = true;
            r.pid = child.id().unwrap_or(0);
            r.pty = pty.clone();
        }
    }
    let execs = app.execs.clone();
    let exec_id = id.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let code = match child.wait().await {
            Ok(st) => st.code().unwrap_or_else(|| {
                128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)
            }),
            Err(_) => 126,
        };
        if let Some(r) = lock(&execs).get_mut(&exec_id) {
            r.running = false;
            r.pty = None;
            r.exit_code = Some(code);
            r.touched = std::time::Instant::now();
        }
        let _ = done_tx.send(());
    });
    if start.detach {
        // Nobody reads a detached exec's terminal: its output is drained, or the process
        // would block once the terminal's buffer is full.
        tokio::spawn(frames.for_each(|_| async {}));
        return Ok(StatusCode::OK.into_response());
    }
    // The stream ends once the output has, and the exit code is recorded, so a client that
    // asks for it right after reads it.
    let frames = frames.chain(futures::stream::once(async move {
        let _ = done_rx.await;
        Ok(Bytes::new())
    }));
    let gone: Option<Box<dyn FnOnce() + Send>> =
        pty.map(|p| -> Box<dyn FnOnce() + Send> { Box::new(move || p.hang_up()) });
    Ok(hijack(
        Request::from_parts(parts, Body::empty()),
        frames,
        input,
        c.tty,
        gone,
    ))
}

/// The master `ferry exec --tty` sends on `sock`; `None` when it ended without one (it could
/// not start the command: its error comes on its standard error).
async fn receive_pty(sock: std::os::unix::net::UnixStream) -> Option<Arc<Pty>> {
    sock.set_nonblocking(true).ok()?;
    let sock = tokio::net::UnixStream::from_std(sock).ok()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    let wait = async {
        loop {
            sock.readable().await.ok()?;
            match ferry_kernel::pty::recv_fd(fd, true) {
                Ok(Some(master)) => return Some(master),
                // Readable with nothing to receive: the other end closed.
                Ok(None) => {
                    let mut b = [0u8; 1];
                    match sock.try_read(&mut b) {
                        Ok(0) => return None,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        _ => continue,
                    }
                }
                Err(_) => return None,
            }
        }
    };
    let master = tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .ok()??;
    Pty::new(master).ok().map(Arc::new)
}

/// What a terminal's process writes, as it comes, until no process holds the terminal.
fn pty_output(pty: Arc<Pty>) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold(pty, |pty| async move {
        let mut buf = vec![0u8; 32 * 1024];
        match pty.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), pty))
            }
        }
    })
}

/// A child's output unframed (a terminal's stream has no frames).
fn raw_output(
    r: Option<impl AsyncRead + Send + Unpin + 'static>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold(r, |r| async move {
        let mut r = r?;
        let mut buf = vec![0u8; 32 * 1024];
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(k) => {
                buf.truncate(k);
                Some((Ok(Bytes::from(buf)), Some(r)))
            }
        }
    })
}

/// `exec` (inspect).
pub(crate) async fn exec_inspect(State(app): State<App>, Path(id): Path<String>) -> Res {
    let m = lock(&app.execs);
    let rec = m.get(&id).ok_or_else(|| no_such_exec(&id))?;
    Ok(ok_json(&rec.inspect(&id)))
}

/// How `events` names a sandbox's image.
fn image_namer(ctl: &Ctl) -> impl Fn(&ferry_types::Sandbox) -> String + Send + 'static {
    let dir = image::rootfs_dir(&ctl.config().data_root);
    move |sb| image::shown(sb.config.rootfs.as_deref().unwrap_or(""), &dir)
}

/// One look at the engine for `events`.
async fn snapshot(ctl: &Ctl) -> Result<Snapshot, FerryError> {
    let sandboxes = ctl
        .list_sandboxes(true, &ferry_engine::filters::SandboxFilter::default())
        .await?;
    let networks = ctl
        .list_networks(&ferry_engine::filters::NetworkFilter::default())
        .await?;
    Ok(Snapshot::of(&sandboxes, &networks, image_namer(ctl)))
}

fn now_pair() -> (i64, i64) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    (nanos / 1_000_000_000, nanos)
}

/// `events`: what happens from now on (until `until`, Unix seconds, when given), one JSON
/// object per line, told from the engine's change feed.
pub(crate) async fn events(
    State(ctl): State<Ctl>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    use tokio::sync::broadcast::error::RecvError;
    let f = crate::docker::filters::parse(q.get("filters").map(String::as_str).unwrap_or(""))?;
    crate::docker::events::check(&f)?;
    let until = match q.get("until").filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => Some(
            u.split('.')
                .next()
                .unwrap_or(u)
                .parse::<i64>()
                .map_err(|_| {
                    FerryError::invalid(format!("invalid until {u:?}: give Unix seconds"))
                })?,
        ),
    };
    // Listen first, then look: nothing falls between the two.
    let changes = ctl.changes();
    let first = snapshot(&ctl).await?;
    let namer = image_namer(&ctl);
    let state = (ctl, first, changes, f, namer);
    let lines = futures::stream::unfold(
        state,
        move |(ctl, mut last, mut changes, f, namer)| async move {
            loop {
                let wait = match until {
                    Some(u) => {
                        let left = u - now_pair().0;
                        if left < 0 {
                            return None;
                        }
                        std::time::Duration::from_secs(left.unsigned_abs() + 1)
                    }
                    None => std::time::Duration::from_secs(3600),
                };
                let next = match tokio::time::timeout(wait, changes.recv()).await {
                    Err(_) => continue,
                    Ok(Ok(change)) => {
                        let mut next = last.clone();
                        next.apply(&change, &namer);
                        next
                    }
                    Ok(Err(RecvError::Lagged(_))) => match snapshot(&ctl).await {
                        Ok(s) => s,
                        Err(_) => return None,
                    },
                    Ok(Err(RecvError::Closed)) => return None,
                };
                let mut out = Vec::new();
                for e in crate::docker::events::diff(&last, &next, now_pair()) {
                    if crate::docker::events::matches(&f, &e) {
                        if let Ok(mut line) = serde_json::to_vec(&e) {
                            line.push(b'\n');
                            out.extend(line);
                        }
                    }
                }
                last = next;
                if !out.is_empty() {
                    return Some((
                        Ok::<_, std::io::Error>(Bytes::from(out)),
                        (ctl, last, changes, f, namer),
                    ));
                }
            }
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(lines),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("SIGHUP").unwrap(), libc::SIGHUP);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("NOPE").is_err());
    }
}
