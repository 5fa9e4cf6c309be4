//! `ferry`: the CLI of the ferry container networking engine. `ferry daemon` runs the daemon,
//! the `ferryd` program installed beside this one: the CLI is started for every command, and
//! without the engine in it, it starts faster.

mod commands;
mod docker_plugin;
mod host;
mod output;

use clap::{Parser, Subcommand};
use commands::network::NetworkCmd;
use commands::sandbox::{LogsArgs, PsArgs, RmArgs, RunArgs, StopArgs};
use host::socket_path;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Container networking engine: isolated, named, reachable sandboxes"
)]
struct Cli {
    /// Daemon socket to talk to (unix://PATH); else $FERRY_HOST, else unix:///run/ferry/ferry.sock.
    #[arg(short = 'H', long = "host", global = true, env = "FERRY_HOST")]
    host: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the ferry daemon (`ferryd`; `ferry daemon --help` lists its flags).
    #[command(disable_help_flag = true)]
    Daemon {
        /// The daemon's flags.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Serve ferry as a Docker network and IPAM plugin (`docker network create -d ferry`).
    DockerPlugin(docker_plugin::DockerPluginArgs),
    /// Show the daemon's settings.
    Info,
    /// Show the client's and the daemon's versions.
    Version,
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage services: replicated sandboxes behind a VIP or DNS round robin.
    #[command(subcommand)]
    Service(commands::service::ServiceCmd),
    /// Compose files run as swarm services: deploy, ls, services, ps, rm.
    #[command(subcommand)]
    Stack(commands::stack::StackCmd),
    /// Swarm mode: init, join, leave, join tokens.
    #[command(subcommand)]
    Swarm(commands::swarm::SwarmCmd),
    /// The swarm's nodes.
    #[command(subcommand)]
    Node(commands::node::NodeCmd),
    /// Run a compose project: its networks, sandboxes and replicated services.
    Compose(commands::compose::ComposeArgs),
    /// Run a command in a new sandbox.
    Run(Box<RunArgs>),
    /// Create a sandbox without starting it (same flags as run).
    Create(Box<RunArgs>),
    /// List a sandbox's published ports, or the host bindings of one port.
    Port {
        /// The sandbox.
        name: String,
        /// A sandbox port, PORT[/PROTO].
        port: Option<String>,
    },
    /// Run a command inside a running sandbox.
    Exec(commands::exec::ExecArgs),
    /// List sandboxes.
    Ps(PsArgs),
    /// Print a sandbox's output.
    Logs(LogsArgs),
    /// Stop sandboxes.
    Stop(StopArgs),
    /// Start stopped sandboxes.
    Start {
        /// Sandboxes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Restart sandboxes.
    Restart(StopArgs),
    /// Remove sandboxes.
    Rm(RmArgs),
    /// Show sandboxes in detail (JSON).
    Inspect {
        /// Sandboxes.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Cmd::Daemon { args } = &cli.cmd {
        return run_daemon(args, cli.host.as_deref());
    }
    if let Cmd::DockerPlugin(args) = cli.cmd {
        return docker_plugin::run(args, socket_path(cli.host.as_deref())?);
    }
    // Output piped into `head` and the like: end quietly when the reader goes, as Unix tools
    // do (Rust ignores SIGPIPE, and a write to a closed pipe would be an error or a panic).
    // SAFETY: a signal disposition reset while this process runs one thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let socket = socket_path(cli.host.as_deref())?;
    let client = ferry_client::Client::new(socket);
    if let Cmd::Exec(args) = &cli.cmd {
        // exec forks into the sandbox's namespaces: keep this process single-threaded.
        return commands::exec::run(&client, args);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Info => commands::info(&client).await,
            Cmd::Version => commands::version(&client).await,
            Cmd::Network(c) => commands::network::run(&client, c).await,
            Cmd::Service(c) => commands::service::run(&client, c).await,
            Cmd::Stack(c) => commands::stack::run(&client, c).await,
            Cmd::Swarm(c) => commands::swarm::run(&client, c).await,
            Cmd::Node(c) => commands::node::run(&client, c).await,
            Cmd::Compose(a) => commands::compose::run(&client, a).await,
            Cmd::Run(a) => commands::sandbox::run(&client, *a).await,
            Cmd::Ps(a) => commands::sandbox::ps(&client, a).await,
            Cmd::Create(a) => commands::sandbox::create(&client, *a).await,
            Cmd::Port { name, port } => {
                commands::sandbox::port(&client, &name, port.as_deref()).await
            }
            Cmd::Logs(a) => commands::sandbox::logs(&client, a).await,
            Cmd::Stop(a) => commands::sandbox::stop(&client, a, false).await,
            Cmd::Restart(a) => commands::sandbox::stop(&client, a, true).await,
            Cmd::Start { names } => commands::sandbox::start(&client, names).await,
            Cmd::Rm(a) => commands::sandbox::rm(&client, a).await,
            Cmd::Inspect { names } => commands::sandbox::inspect(&client, names).await,
            Cmd::Daemon { .. } | Cmd::Exec(_) | Cmd::DockerPlugin(_) => {
                unreachable!("handled above")
            }
        }
    })
}

/// `ferry daemon ARGS`: becomes `ferryd ARGS` (same process: a caller that started `ferry
/// daemon` holds the daemon's PID), found beside this program.
fn run_daemon(args: &[String], host: Option<&str>) -> anyhow::Result<i32> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let ferryd = exe
        .parent()
        .map(|d| d.join(DAEMON_PROGRAM))
        .unwrap_or_else(|| PathBuf::from(DAEMON_PROGRAM));
    let mut cmd = std::process::Command::new(&ferryd);
    if let Some(h) = host {
        cmd.args(["-H", h]);
    }
    let err = cmd.args(args).exec();
    anyhow::bail!(
        "cannot run the daemon {}: {err} (ferryd is installed beside ferry)",
        ferryd.display()
    )
}

/// The daemon's program, installed beside the CLI.
const DAEMON_PROGRAM: &str = "ferryd";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
