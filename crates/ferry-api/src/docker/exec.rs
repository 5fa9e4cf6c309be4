//! Docker's exec instances: `POST /containers/{id}/exec` records what to run, `POST
//! /exec/{id}/start` runs it (through `ferry exec`, the daemon's own executable, which enters
//! the sandbox confined as its processes are), `GET /exec/{id}/json` reports it. The records
//! live only in the front end's memory, as dockerd's do: they mean nothing after a restart.

use ferry_types::nullable::or_default;
use ferry_types::FerryError;
use serde::{Deserialize, Serialize};

/// The parts of Docker's ExecConfig ferry reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreate {
    /// `-i`.
    #[serde(deserialize_with = "or_default")]
    pub attach_stdin: bool,
    /// Output wanted.
    #[serde(deserialize_with = "or_default")]
    pub attach_stdout: bool,
    /// Errors wanted.
    #[serde(deserialize_with = "or_default")]
    pub attach_stderr: bool,
    /// `-t`.
    #[serde(deserialize_with = "or_default")]
    pub tty: bool,
    /// `-e`.
    #[serde(deserialize_with = "or_default")]
    pub env: Vec<String>,
    /// `-w`.
    #[serde(deserialize_with = "or_default")]
    pub working_dir: String,
    /// `-u`.
    #[serde(deserialize_with = "or_default")]
    pub user: String,
    /// The command.
    #[serde(deserialize_with = "or_default")]
    pub cmd: Vec<String>,
}

/// `POST /exec/{id}/start`'s body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStart {
    /// Run without a connection attached (`exec -d`).
    #[serde(deserialize_with = "or_default")]
    pub detach: bool,
    /// The client's terminal size, `[rows, columns]`, for the exec's terminal from the start.
    #[serde(deserialize_with = "or_default")]
    pub console_size: Vec<u16>,
}

/// A `[rows, columns]` console size, when it is one and not zero.
pub fn console_size(v: &[u16]) -> Option<(u16, u16)> {
    match v {
        [r, c] if (*r, *c) != (0, 0) => Some((*r, *c)),
        _ => None,
    }
}

/// An exec instance.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    /// The sandbox's full ID.
    pub container_id: String,
    /// What to run.
    pub config: ExecCreate,
    /// Whether it runs.
    pub running: bool,
    /// Its exit code, once it ended.
    pub exit_code: Option<i32>,
    /// Its PID (of `ferry exec`), while it runs.
    pub pid: u32,
    /// Its terminal's master, with `-t`, while it runs.
    pub pty: Option<std::sync::Arc<ferry_kernel::pty::Pty>>,
    /// When it was made, or ended.
    pub touched: std::time::Instant,
}

/// How long the record of an exec not running is kept: for its client to start it, or to
/// read its exit code.
pub const KEEP_ENDED: std::time::Duration = std::time::Duration::from_secs(600);

/// Forgets the records of execs not running that were made or ended longer than
/// [`KEEP_ENDED`] ago, so that a client that execs forever does not grow the map forever.
pub fn forget_old(
    records: &mut std::collections::HashMap<String, ExecRecord>,
    now: std::time::Instant,
) {
    records.retain(|_, r| r.running || now.duration_since(r.touched) < KEEP_ENDED);
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    /// The exec's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Whether it runs.
    pub running: bool,
    /// Its exit code (`null` until it ends).
    pub exit_code: Option<i32>,
    /// The sandbox's ID.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// Standard input attached.
    pub open_stdin: bool,
    /// Output attached.
    pub open_stdout: bool,
    /// Errors attached.
    pub open_stderr: bool,
    /// Its PID, 0 when not running.
    pub pid: u32,
    /// What runs.
    pub process_config: ProcessConfig,
}

/// The process part of [`ExecInspect`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessConfig {
    /// The program.
    pub entrypoint: String,
    /// Its arguments.
    pub arguments: Vec<String>,
    /// `-t`.
    pub tty: bool,
    /// `-u`.
    pub user: String,
}

impl ExecRecord {
    /// Its inspect view.
    pub fn inspect(&self, id: &str) -> ExecInspect {
        let c = &self.config;
        ExecInspect {
            id: id.to_string(),
            running: self.running,
            exit_code: self.exit_code,
            container_id: self.container_id.clone(),
            open_stdin: c.attach_stdin,
            open_stdout: c.attach_stdout,
            open_stderr: c.attach_stderr,
            pid: if self.running { self.pid } else { 0 },
            process_config: ProcessConfig {
                entrypoint: c.cmd.first().cloned().unwrap_or_default(),
                arguments: c.cmd.iter().skip(1).cloned().collect(),
                tty: c.tty,
                user: c.user.clone(),
            },
        }
    }
}

/// Checks an exec request before it is recorded.
pub fn check(c: &ExecCreate) -> Result<(), FerryError> {
    if c.cmd.is_empty() {
        return Err(FerryError::invalid("no exec command specified"));
    }
    Ok(())
}

/// The descriptor on which `ferry exec --tty` gets the socket to send its terminal on.
pub const TTY_SOCKET_FD: i32 = 3;

/// The arguments of `ferry exec` that run `c` in sandbox `id`. With a terminal, its master
/// comes back on descriptor [`TTY_SOCKET_FD`]; the daemon relays it (input included).
pub fn ferry_exec_args(id: &str, c: &ExecCreate, size: Option<(u16, u16)>) -> Vec<String> {
    let mut a = vec!["exec".to_string()];
    if c.tty {
        a.push("--tty".into());
        a.push(format!("--tty-socket={TTY_SOCKET_FD}"));
        if let Some((rows, cols)) = size {
            a.push(format!("--tty-size={rows}x{cols}"));
        }
    } else if c.attach_stdin {
        a.push("--interactive".into());
    }
    for e in &c.env {
        a.push(format!("--env={e}"));
    }
    if !c.working_dir.is_empty() {
        a.push(format!("--workdir={}", c.working_dir));
    }
    if !c.user.is_empty() {
        a.push(format!("--user={}", c.user));
    }
    a.push(id.to_string());
    a.push("--".into());
    a.extend(c.cmd.iter().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_ferry_exec_arguments() {
        let c: ExecCreate = serde_json::from_value(serde_json::json!({
            "AttachStdin": true, "AttachStdout": true, "Tty": false, "Env": ["A=1"],
            "WorkingDir": "/tmp", "User": null, "Cmd": ["sh", "-c", "echo $A"],
            "Privileged": false, "DetachKeys": ""
        }))
        .unwrap();
        check(&c).unwrap();
        assert_eq!(
            ferry_exec_args("abc", &c, None),
            vec![
                "exec",
                "--interactive",
                "--env=A=1",
                "--workdir=/tmp",
                "abc",
                "--",
                "sh",
                "-c",
                "echo $A"
            ]
        );
        let r = ExecRecord {
            container_id: "abc".into(),
            config: c,
            running: false,
            exit_code: Some(3),
            pid: 9,
            pty: None,
            touched: std::time::Instant::now(),
        };
        let v = serde_json::to_value(r.inspect("e1")).unwrap();
        assert_eq!(v["ExitCode"], 3);
        assert_eq!(v["Pid"], 0);
        assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
    }

    #[test]
    fn old_ended_records_are_forgotten() {
        let now = std::time::Instant::now();
        let rec = |running| ExecRecord {
            container_id: "c".into(),
            config: ExecCreate::default(),
            running,
            exit_code: None,
            pid: 0,
            pty: None,
            touched: now,
        };
        let mut m = std::collections::HashMap::from([
            ("running".to_string(), rec(true)),
            ("ended".to_string(), rec(false)),
        ]);
        forget_old(&mut m, now + KEEP_ENDED);
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["running"]);
    }

    #[test]
    fn refuses_no_command_and_hands_a_terminal_back() {
        assert!(check(&ExecCreate::default()).is_err());
        let c = ExecCreate {
            cmd: vec!["sh".into()],
            tty: true,
            attach_stdin: true,
            ..ExecCreate::default()
        };
        check(&c).unwrap();
        let start: ExecStart =
            serde_json::from_value(serde_json::json!({"Tty": true, "ConsoleSize": [24, 80]}))
                .unwrap();
        assert_eq!(
            ferry_exec_args("abc", &c, console_size(&start.console_size)),
            vec![
                "exec",
                "--tty",
                "--tty-socket=3",
                "--tty-size=24x80",
                "abc",
                "--",
                "sh"
            ]
        );
        assert_eq!(console_size(&[0, 0]), None);
        assert_eq!(console_size(&[]), None);
    }
}
