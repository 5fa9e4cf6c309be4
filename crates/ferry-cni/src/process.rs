//! The process: the environment and stdin read, the call run, its result or error printed.

use crate::config::NetConf;
use crate::env::CniEnv;
use crate::error::{CniError, IO_FAILURE};
use std::io::{Read, Write};
use std::process::ExitCode;

/// Runs the plugin as a CNI runtime execs it; the exit code says whether the call succeeded.
pub fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let (version, outcome) = match std::io::stdin().read_to_end(&mut stdin) {
        Err(e) => (
            String::new(),
            Err(CniError::new(
                IO_FAILURE,
                "cannot read stdin",
                e.to_string(),
            )),
        ),
        Ok(_) => call(&stdin),
    };
    let (text, code) = match outcome {
        Ok(Some(v)) => (v.to_string(), ExitCode::SUCCESS),
        Ok(None) => (String::new(), ExitCode::SUCCESS),
        Err(e) => (e.to_json(&version), ExitCode::FAILURE),
    };
    let mut out = std::io::stdout().lock();
    if !text.is_empty() && writeln!(out, "{text}").is_err() {
        return ExitCode::FAILURE;
    }
    code
}

/// Decodes the call and runs it; returns the request's version for the error object.
fn call(stdin: &[u8]) -> (String, Result<Option<serde_json::Value>, CniError>) {
    let vars = std::env::vars().collect();
    let env = match CniEnv::from_vars(&vars) {
        Ok(e) => e,
        Err(e) => return (version_hint(stdin), Err(e)),
    };
    let conf = if stdin.iter().all(u8::is_ascii_whitespace) {
        Ok(NetConf::default())
    } else {
        NetConf::parse(stdin)
    };
    let conf = match conf {
        Ok(c) => c,
        Err(e) => return (version_hint(stdin), Err(e)),
    };
    let version = conf.cni_version.clone();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return (
                version,
                Err(CniError::new(IO_FAILURE, "cannot start", e.to_string())),
            )
        }
    };
    let out = rt.block_on(crate::plugin::run(&env, &conf));
    (version, out)
}

/// The `cniVersion` of a request that did not decode, when it has one.
fn version_hint(stdin: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(stdin)
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().map(String::from))
        .unwrap_or_default()
}
