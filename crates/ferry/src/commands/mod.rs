//! The CLI's commands, each a thin client of the daemon's API.

pub mod compose;
pub mod exec;
mod exec_tty;
pub mod network;
pub mod node;
pub mod sandbox;
pub mod security;
pub mod service;
pub mod stack;
pub mod swarm;

use ferry_client::Client;
use std::collections::BTreeMap;

/// `--label KEY[=VALUE]` flags as a map (a bare key gets an empty value, as in docker).
pub fn parse_labels(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !l.is_empty() => Ok((l.clone(), String::new())),
            _ => anyhow::bail!("invalid label {l:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// `ferry info`.
pub async fn info(c: &Client) -> anyhow::Result<i32> {
    let i = c.info().await?;
    println!("Server Version: {}", i.server_version);
    println!("Sandboxes: {}", i.containers);
    println!(" Running: {}", i.containers_running);
    println!(" Stopped: {}", i.containers_stopped);
    println!("Networks: {}", i.networks);
    println!("Network Drivers: {}", i.network_drivers.join(" "));
    println!("Data Root: {}", i.docker_root_dir);
    println!("Exec Root: {}", i.exec_root);
    println!("Socket: {}", i.socket);
    println!("Store: {}", i.store);
    println!("Default Bridge: {}", i.bip);
    let pools: Vec<String> = i
        .default_address_pools
        .iter()
        .map(|p| format!("{} (/{})", p.base, p.size))
        .collect();
    println!("Default Address Pools: {}", pools.join(", "));
    println!("MTU: {}", i.mtu);
    println!(
        "DNS: {}",
        if i.dns.is_empty() {
            "host's".into()
        } else {
            i.dns.join(" ")
        }
    );
    println!(
        "ICC: {}  IP Masquerade: {}  IP Forward: {}",
        i.icc, i.ip_masq, i.ip_forward
    );
    println!(
        "Firewall: {}",
        if i.firewall == "none" {
            "none (ferry touches no rules: no isolation, masquerading or published ports)"
        } else {
            i.firewall.as_str()
        }
    );
    let s = &i.swarm;
    println!("Swarm: {}", s.local_node_state);
    if s.local_node_state != "inactive" {
        println!(" NodeID: {}", s.node_id);
        println!(" Node Address: {}", s.node_addr);
        println!(" Is Manager: {}", s.control_available);
        if !s.error.is_empty() {
            println!(" Error: {}", s.error);
        }
        if s.nodes > 0 {
            println!(" Nodes: {}", s.nodes);
            println!(" Managers: {}", s.managers);
        }
        if !s.remote_managers.is_empty() {
            let addrs: Vec<&str> = s.remote_managers.iter().map(|m| m.addr.as_str()).collect();
            println!(" Manager Addresses: {}", addrs.join(" "));
        }
        println!(" Etcd Endpoints: {}", s.etcd_endpoints.join(" "));
    }
    println!("Kernel Version: {}", i.kernel_version);
    Ok(0)
}

/// `ferry version`.
pub async fn version(c: &Client) -> anyhow::Result<i32> {
    println!(
        "Client:\n Version:     {}\n API version: {}",
        env!("CARGO_PKG_VERSION"),
        ferry_api::API_VERSION
    );
    let v = c.version().await?;
    println!(
        "Server:\n Version:     {}\n API version: {} (minimum {})\n OS/Arch:     {}/{}\n Kernel:      {}",
        v.version, v.api_version, v.min_api_version, v.os, v.arch, v.kernel_version
    );
    Ok(0)
}
