//! nftables rulesets applied as text: through libnftables in-process when it can be loaded
//! (see `libnftables.rs`), else through the `nft` binary (`nft -f -`). Either way one script is
//! one netfilter transaction: the whole script takes effect, or none of it does.
//!
//! Both act in the network namespace of the calling thread (a libnftables context opens its
//! socket there; a child process inherits the calling thread's namespace, not the main
//! thread's). So every function here works in the caller thread's namespace; use [`apply_in`]
//! for another namespace.

use crate::error::{KernelError, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Where `nft` is looked for after PATH (daemons often run with a PATH that lacks the sbin
/// directories).
const FALLBACKS: [&str; 2] = ["/usr/sbin/nft", "/sbin/nft"];

/// The resolved `nft` binary, looked up once per process.
static NFT: OnceLock<Option<PathBuf>> = OnceLock::new();

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn find_binary() -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("nft"));
    let found = from_path
        .chain(FALLBACKS.iter().map(PathBuf::from))
        .find(|p| is_executable(p));
    match &found {
        Some(p) => tracing::debug!(path = %p.display(), "found nft"),
        None => tracing::warn!("nft not found in PATH, /usr/sbin or /sbin"),
    }
    found
}

fn binary() -> Result<&'static Path> {
    NFT.get_or_init(find_binary)
        .as_deref()
        .ok_or_else(|| KernelError::ToolMissing {
            tool: "nft".into(),
            searched: format!("PATH, {}", FALLBACKS.join(", ")),
            hint: "install the `nftables` package, or set \"firewall\": \"none\" in daemon.json"
                .into(),
        })
}

/// Whether nftables can be driven: libnftables loads, or the `nft` binary is installed.
pub fn available() -> bool {
    crate::libnftables::loadable() || binary().is_ok()
}

/// What one `nft` run produced.
struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `nft ARGS`, feeding `stdin` when given. `LC_ALL=C` keeps the messages in English, so
/// callers can recognise them.
fn run(args: &[&str], stdin: Option<&str>) -> Result<Output> {
    let bin = binary()?;
    let shown = format!("run {} {}", bin.display(), args.join(" "));
    let mut child = Command::new(bin)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KernelError::io(&shown, e))?;
    let out = std::thread::scope(|s| {
        // The script is written from a second thread so a large script cannot deadlock against
        // nft filling its output pipes before it has read all of its input.
        let writer = child.stdin.take().map(|mut pipe| {
            let text = stdin.unwrap_or_default();
            s.spawn(move || pipe.write_all(text.as_bytes()))
        });
        let out = child.wait_with_output();
        let written = match writer.map(|w| w.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("stdin writer thread panicked")),
            None => Ok(()),
        };
        (out, written)
    });
    let (out, written) = out;
    let out = out.map_err(|e| KernelError::io(&shown, e))?;
    // A write error (EPIPE) only matters if nft then claims success; when it fails, its own
    // message explains the failure better than the broken pipe does.
    if out.status.success() {
        written.map_err(|e| KernelError::io(format!("{shown}: write the script"), e))?;
    }
    Ok(Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// The 1-based script line of the first error nft names (`/dev/stdin:3:1-5: Error: ...`, or
/// `/proc/self/fd/7:3:1-5: Error: ...` in-process).
fn error_line_number(stderr: &str) -> Option<usize> {
    stderr.lines().find_map(|l| {
        let (file, rest) = l.split_once(':')?;
        if !file.starts_with('/') || !l.contains("Error") {
            return None;
        }
        let (num, _) = rest.split_once(':')?;
        num.parse().ok()
    })
}

/// The error for a failed run: nft's message plus the script line it points at.
fn failure(op: &str, out: &Output, script: Option<&str>) -> KernelError {
    let line = match (script, error_line_number(&out.stderr)) {
        (Some(script), Some(n)) => script
            .lines()
            .nth(n.saturating_sub(1))
            .map(|text| (n, text.to_string())),
        _ => None,
    };
    let message = if out.stderr.is_empty() {
        "exited with an error and printed nothing".to_string()
    } else {
        out.stderr.clone()
    };
    KernelError::Nft {
        op: op.to_string(),
        message,
        line,
    }
}

fn run_script(op: &str, args: &[&str], script: &str) -> Result<()> {
    match crate::libnftables::run(script, args.contains(&"-c")) {
        crate::libnftables::Run::Applied => return Ok(()),
        crate::libnftables::Run::Failed(stderr) => {
            let out = Output {
                success: false,
                stdout: String::new(),
                stderr,
            };
            return Err(failure(op, &out, Some(script)));
        }
        crate::libnftables::Run::Unavailable => {}
    }
    let out = run(args, Some(script))?;
    if out.success {
        Ok(())
    } else {
        Err(failure(op, &out, Some(script)))
    }
}

/// Applies `script` (nft syntax) in one atomic transaction, in the calling thread's network
/// namespace. On failure nothing changed, and the error carries nft's message and the
/// offending script line.
pub fn apply(script: &str) -> Result<()> {
    tracing::debug!(bytes = script.len(), "applying nftables script");
    run_script("apply nftables ruleset", &["-f", "-"], script)
}

/// Checks `script` without applying it (`nft -c`). The kernel still validates it, so this
/// needs CAP_NET_ADMIN in the calling thread's namespace and sees its tables.
pub fn check(script: &str) -> Result<()> {
    run_script("check nftables ruleset", &["-c", "-f", "-"], script)
}

/// Applies `script` inside the network namespace at `netns` (from a helper thread that joined
/// it, so the caller's thread never changes namespace).
pub fn apply_in(netns: &Path, script: &str) -> Result<()> {
    let script = script.to_string();
    crate::netns::run_in(netns, move || apply(&script))
}

/// The text of `table FAMILY NAME` as `nft list table` prints it, or `None` when the table
/// does not exist, in the calling thread's namespace.
pub fn list_table(family: &str, name: &str) -> Result<Option<String>> {
    let out = run(&["list", "table", family, name], None)?;
    if out.success {
        return Ok(Some(out.stdout));
    }
    // nft reports a missing table as ENOENT; anything else is a real failure.
    if out.stderr.contains("No such file or directory") {
        return Ok(None);
    }
    Err(failure(&format!("list table {family} {name}"), &out, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_number_of_first_error() {
        let err = "/dev/stdin:3:3-7: Error: syntax error, unexpected string\n  bogus\n  ^^^^^\n\
                   /dev/stdin:9:1-1: Error: second";
        assert_eq!(error_line_number(err), Some(3));
        assert_eq!(error_line_number("Error: No such file or directory"), None);
        assert_eq!(error_line_number("/dev/stdin:x:1: Error"), None);
    }

    #[test]
    fn failure_names_the_script_line() {
        let out = Output {
            success: false,
            stdout: String::new(),
            stderr: "/dev/stdin:2:1-5: Error: syntax error".into(),
        };
        let e = failure("apply", &out, Some("table ip t {\nbogus\n}\n"));
        let msg = e.to_string();
        assert!(msg.contains("syntax error"), "{msg}");
        assert!(msg.contains("script line 2: bogus"), "{msg}");
        // A line number past the end of the script gives no line rather than a wrong one.
        let out = Output {
            stderr: "/dev/stdin:20:1-5: Error: x".into(),
            ..out
        };
        assert!(matches!(
            failure("apply", &out, Some("a\n")),
            KernelError::Nft { line: None, .. }
        ));
    }

    #[test]
    fn applies_sets_and_maps_in_a_fresh_netns() {
        crate::testns::in_fresh_netns(|| {
            assert!(available(), "this test needs nft (package nftables)");
            let table = "table inet ferrytest {\n\
                         \tset addrs { type ipv4_addr; }\n\
                         \tmap ports { type inet_service : ipv4_addr; }\n\
                         }\n";
            check(table).expect("check");
            assert_eq!(list_table("inet", "ferrytest").expect("list"), None);
            apply(table).expect("apply table");
            apply(
                "add element inet ferrytest addrs { 10.0.0.1, 10.0.0.2 }\n\
                 add element inet ferrytest ports { 8080 : 10.0.0.1 }\n",
            )
            .expect("add elements");
            let listed = list_table("inet", "ferrytest")
                .expect("list")
                .expect("exists");
            assert!(listed.contains("10.0.0.2"), "{listed}");
            assert!(listed.contains("8080 : 10.0.0.1"), "{listed}");

            apply("delete element inet ferrytest addrs { 10.0.0.2 }\n").expect("delete");
            let listed = list_table("inet", "ferrytest")
                .expect("list")
                .expect("exists");
            assert!(!listed.contains("10.0.0.2"), "{listed}");

            // A failing script changes nothing: the first line would be valid on its own.
            let bad = "add element inet ferrytest addrs { 10.0.0.3 }\n\
                       add element inet ferrytest ports { bogus garbage }\n";
            let err = apply(bad).expect_err("syntax error");
            let msg = err.to_string();
            assert!(msg.contains("Error:"), "{msg}");
            match &err {
                KernelError::Nft {
                    line: Some((n, text)),
                    ..
                } => {
                    assert_eq!(*n, 2);
                    assert!(text.contains("bogus garbage"), "{text}");
                }
                other => panic!("unexpected error {other:?}"),
            }
            let listed = list_table("inet", "ferrytest")
                .expect("list")
                .expect("exists");
            assert!(!listed.contains("10.0.0.3"), "not atomic: {listed}");

            apply("delete table inet ferrytest\n").expect("delete table");
            assert_eq!(list_table("inet", "ferrytest").expect("list"), None);
        });
    }
}
