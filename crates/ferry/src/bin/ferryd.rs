//! `ferryd`: the ferry daemon, which `ferry daemon` runs. A program of its own so that the CLI,
//! started for every command, does not carry the engine. Started by the name `ferry-init`
//! (from an open descriptor of this program), it is a sandbox's init instead, for a daemon
//! installed without the `ferry-init` program beside it.

#[path = "../daemon.rs"]
mod daemon;
#[path = "../host.rs"]
mod host;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "ferry daemon",
    version,
    about = "The ferry daemon: owns all networking state and serves the API"
)]
struct Args {
    /// Socket to serve the API on (unix://PATH); else $FERRY_HOST, daemon.json's hosts, else
    /// unix:///run/ferry/ferry.sock.
    #[arg(short = 'H', long = "host", env = "FERRY_HOST")]
    host: Option<String>,
    #[command(flatten)]
    daemon: daemon::DaemonArgs,
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.first().map(String::as_str) == Some(ferry_kernel::process::INIT_ARG0) {
        std::process::exit(ferry_kernel::process::init::run(&argv[1..]));
    }
    let a = Args::parse();
    let code = match daemon::run(a.daemon, a.host.as_deref()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_parse() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
