//! `ferry swarm`: init, join, leave and the join tokens.

use clap::{Args, Subcommand};
use ferry_client::Client;
use ferry_types::swarm::{ExternalEtcd, SwarmInitRequest, SwarmJoinRequest};

/// `ferry swarm` subcommands.
#[derive(Subcommand)]
pub enum SwarmCmd {
    /// Make this node the first manager of a new swarm.
    Init(InitArgs),
    /// Join a swarm as a worker or a manager (the token says which).
    Join(JoinArgs),
    /// Leave the swarm.
    Leave {
        /// Leave even as the last manager (the swarm then ends).
        #[arg(short, long)]
        force: bool,
    },
    /// Print (or rotate) the command that joins a worker or a manager.
    JoinToken {
        /// Only the token.
        #[arg(short, long)]
        quiet: bool,
        /// Replace the token; the old one admits no one from then on.
        #[arg(long)]
        rotate: bool,
        /// worker or manager.
        #[arg(value_parser = ["worker", "manager"])]
        role: String,
    },
}

/// `swarm init` flags.
#[derive(Args)]
pub struct InitArgs {
    /// The address other nodes reach this one at.
    #[arg(long = "advertise-addr", default_value = "")]
    advertise_addr: String,
    /// Where the join endpoint listens (ADDR:PORT).
    #[arg(long = "listen-addr", default_value = "0.0.0.0:2377")]
    listen_addr: String,
    /// The UDP port of the overlay data path.
    #[arg(long = "data-path-port", default_value_t = 4789)]
    data_path_port: u16,
    /// Where overlay subnets come from (CIDR; repeatable).
    #[arg(long = "default-addr-pool")]
    default_addr_pool: Vec<String>,
    /// Prefix length of subnets taken from the pools.
    #[arg(long = "default-addr-pool-mask-length", default_value_t = 24)]
    mask_length: u8,
    /// Seconds a node may go without renewing its session before it is Down.
    #[arg(long = "lease-ttl", default_value_t = 10)]
    lease_ttl: u64,
    /// Use this etcd cluster (client URLs, comma-separated) instead of running a member.
    #[arg(long = "external-etcd", value_delimiter = ',')]
    external_etcd: Vec<String>,
    /// The external etcd's CA certificate.
    #[arg(long = "etcd-cacert")]
    etcd_cacert: Option<String>,
    /// A client certificate for the external etcd.
    #[arg(long = "etcd-cert")]
    etcd_cert: Option<String>,
    /// Its key.
    #[arg(long = "etcd-key")]
    etcd_key: Option<String>,
}

/// `swarm join` flags.
#[derive(Args)]
pub struct JoinArgs {
    /// The join token (SWMTKN-1-…).
    #[arg(long)]
    token: String,
    /// The address other nodes reach this one at.
    #[arg(long = "advertise-addr", default_value = "")]
    advertise_addr: String,
    /// Where the join endpoint listens if this node is a manager (ADDR:PORT).
    #[arg(long = "listen-addr", default_value = "0.0.0.0:2377")]
    listen_addr: String,
    /// A manager's address, ADDR:PORT.
    manager: String,
}

fn absolute(p: Option<String>) -> Option<String> {
    // The daemon reads the files, from its own working directory.
    p.map(|p| {
        std::path::absolute(&p)
            .map(|a| a.display().to_string())
            .unwrap_or(p)
    })
}

/// Runs a `ferry swarm` command.
pub async fn run(c: &Client, cmd: SwarmCmd) -> anyhow::Result<i32> {
    match cmd {
        SwarmCmd::Init(a) => {
            let external_etcd = (!a.external_etcd.is_empty()).then(|| ExternalEtcd {
                endpoints: a.external_etcd.clone(),
                ca_file: absolute(a.etcd_cacert.clone()),
                cert_file: absolute(a.etcd_cert.clone()),
                key_file: absolute(a.etcd_key.clone()),
            });
            let id = c
                .swarm_init(&SwarmInitRequest {
                    listen_addr: a.listen_addr,
                    advertise_addr: a.advertise_addr,
                    data_path_port: a.data_path_port,
                    default_addr_pool: a.default_addr_pool,
                    subnet_size: a.mask_length,
                    lease_ttl: a.lease_ttl,
                    external_etcd,
                })
                .await?;
            let s = c.swarm_inspect().await?;
            println!("Swarm initialized: current node ({id}) is now a manager.\n");
            println!("To add a worker to this swarm, run the following command:\n");
            println!(
                "    ferry swarm join --token {} {}\n",
                s.join_tokens.worker, s.listen_addr
            );
            println!("To add a manager to this swarm, run the following command:\n");
            println!(
                "    ferry swarm join --token {} {}\n",
                s.join_tokens.manager, s.listen_addr
            );
            Ok(0)
        }
        SwarmCmd::Join(a) => {
            let req = SwarmJoinRequest {
                listen_addr: a.listen_addr,
                advertise_addr: a.advertise_addr,
                remote_addrs: vec![a.manager],
                join_token: a.token.clone(),
            };
            c.swarm_join(&req).await?;
            let manager = c
                .info()
                .await
                .map(|i| i.swarm.control_available)
                .unwrap_or(false);
            if manager {
                println!("This node joined a swarm as a manager.");
            } else {
                println!("This node joined a swarm as a worker.");
            }
            Ok(0)
        }
        SwarmCmd::Leave { force } => {
            c.swarm_leave(force).await?;
            println!("Node left the swarm.");
            Ok(0)
        }
        SwarmCmd::JoinToken {
            quiet,
            rotate,
            role,
        } => {
            let manager = role == "manager";
            if rotate {
                c.swarm_rotate_tokens(!manager, manager).await?;
                if !quiet {
                    println!("Successfully rotated {role} join token.\n");
                }
            }
            let s = c.swarm_inspect().await?;
            let token = if manager {
                s.join_tokens.manager
            } else {
                s.join_tokens.worker
            };
            if quiet {
                println!("{token}");
            } else {
                println!("To add a {role} to this swarm, run the following command:\n");
                println!("    ferry swarm join --token {token} {}\n", s.listen_addr);
            }
            Ok(0)
        }
    }
}
