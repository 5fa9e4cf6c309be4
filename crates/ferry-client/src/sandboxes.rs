//! Sandboxes: `/containers/...`, Docker's paths for them.

use crate::uri::Uri;
use crate::{Client, Filters, LogStream, Result, Waiter};
use ferry_types::api::{CreateResponse, ExecTarget, SandboxCreateRequest};
use ferry_types::docker::{ContainerInspect, ContainerSummary};
use hyper::Method;
use std::time::Duration;

/// `/containers/NAME`.
fn sandbox(name: &str) -> Uri {
    Uri::route("/containers").name(name)
}

/// A stop's `t`: the seconds a stop waits before it kills.
fn with_timeout(uri: Uri, timeout: Option<Duration>) -> Uri {
    match timeout {
        Some(t) => uri.query("t", &t.as_secs().to_string()),
        None => uri,
    }
}

/// When a wait ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// When the sandbox is not running (at once if it is not).
    #[default]
    NotRunning,
    /// When the next run ends: a wait opened before `start`.
    NextExit,
    /// When the sandbox is removed (ferry ends the wait at the next exit).
    Removed,
}

impl WaitCondition {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitCondition::NotRunning => "not-running",
            WaitCondition::NextExit => "next-exit",
            WaitCondition::Removed => "removed",
        }
    }
}

/// What [`Client::sandbox_logs`] streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogsOptions {
    /// Keep streaming new output until the process ends; otherwise stop at the end of the log.
    pub follow: bool,
    /// With `follow`, stream until the next run ends (a stream opened before `start`), not
    /// until the process is not running.
    pub next_exit: bool,
}

impl Client {
    /// `GET /containers/json`: the running sandboxes, or all with `all`, that match
    /// `filters`.
    pub async fn sandbox_list(
        &self,
        all: bool,
        filters: &Filters,
    ) -> Result<Vec<ContainerSummary>> {
        let mut uri = Uri::route("/containers/json").flag("all", all);
        if !filters.is_empty() {
            uri = uri.query("filters", &filters.to_json());
        }
        self.get(uri).await
    }

    /// `POST /containers/create`: records a sandbox without starting it; returns its ID and
    /// any warning.
    pub async fn sandbox_create(&self, req: &SandboxCreateRequest) -> Result<CreateResponse> {
        self.post(Uri::route("/containers/create"), req).await
    }

    /// `POST /containers/run` (ferry's own): records a sandbox and starts it in one request;
    /// returns its ID and any warning once it runs.
    pub async fn sandbox_run(&self, req: &SandboxCreateRequest) -> Result<CreateResponse> {
        self.post(Uri::route("/containers/run"), req).await
    }

    /// `GET /containers/NAME/json`: a sandbox in Docker's JSON.
    pub async fn sandbox_inspect(&self, name: &str) -> Result<ContainerInspect> {
        self.get(sandbox(name).then("json")).await
    }

    /// [`Client::sandbox_inspect`] as the daemon sent it, fields this client does not know
    /// included: for printing, as `docker inspect` does.
    pub async fn sandbox_inspect_raw(&self, name: &str) -> Result<serde_json::Value> {
        self.get(sandbox(name).then("json")).await
    }

    /// `POST /containers/NAME/start`: starts a sandbox.
    pub async fn sandbox_start(&self, name: &str) -> Result<()> {
        self.post_unit::<()>(sandbox(name).then("start"), None)
            .await
    }

    /// `POST /containers/NAME/stop`: stops a sandbox, killing it after `timeout` (whole
    /// seconds; the daemon's default, 10 s, when `None`).
    pub async fn sandbox_stop(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        self.post_unit::<()>(with_timeout(sandbox(name).then("stop"), timeout), None)
            .await
    }

    /// `POST /containers/NAME/restart`: stops (as [`Client::sandbox_stop`]) and starts a
    /// sandbox.
    pub async fn sandbox_restart(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        self.post_unit::<()>(with_timeout(sandbox(name).then("restart"), timeout), None)
            .await
    }

    /// `DELETE /containers/NAME`: removes a stopped sandbox, or a running one with `force`.
    pub async fn sandbox_remove(&self, name: &str, force: bool) -> Result<()> {
        self.delete(sandbox(name).flag("force", force)).await
    }

    /// `POST /containers/NAME/wait`: registers a wait and returns once the daemon has it;
    /// [`Waiter::exit`] then gives the exit status.
    pub async fn sandbox_wait(&self, name: &str, condition: WaitCondition) -> Result<Waiter> {
        let uri = sandbox(name)
            .then("wait")
            .query("condition", condition.as_str());
        let reply = self.send(Method::POST, &uri, None).await?;
        Ok(Waiter::new(reply.body, uri))
    }

    /// `GET /containers/NAME/logs`: the sandbox's output, streamed.
    pub async fn sandbox_logs(&self, name: &str, options: LogsOptions) -> Result<LogStream> {
        let mut uri = sandbox(name).then("logs").flag("follow", options.follow);
        if options.next_exit {
            uri = uri.query("condition", WaitCondition::NextExit.as_str());
        }
        let reply = self.send(Method::GET, &uri, None).await?;
        Ok(LogStream::new(reply.body))
    }

    /// `GET /containers/NAME/exec-target`: what `ferry exec` needs to enter a running
    /// sandbox (its PID and confinement).
    pub async fn sandbox_exec_target(&self, name: &str) -> Result<ExecTarget> {
        self.get(sandbox(name).then("exec-target")).await
    }
}
