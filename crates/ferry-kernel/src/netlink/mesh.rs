//! The routing mesh's kernel pieces outside nftables: a host route that sends a remote
//! replica's traffic through the node that runs it (so that node's conntrack sees the
//! connection), and the policy that sends a mesh connection's replies back to the node the
//! connection entered by: a rule that looks marked packets up in a table of their own, whose
//! default route leaves through the host's mesh link towards a placeholder gateway (the
//! destination MAC is then set per connection by nftables).

use super::{nl_err, Netlink, EEXIST, ESRCH};
use crate::error::Result;
use netlink_packet_route::neighbour::NeighbourState;
use netlink_packet_route::rule::{RuleAction, RuleAttribute};
use rtnetlink::{RouteMessageBuilder, RuleAddRequest};
use std::net::{IpAddr, Ipv4Addr};

/// ENOENT: what deleting an absent rule or route may answer.
const ENOENT: i32 = 2;

impl Netlink {
    /// `ip route replace DST/32 via GW dev INDEX`.
    pub async fn replace_host_route_via(
        &self,
        dst: Ipv4Addr,
        gw: Ipv4Addr,
        index: u32,
    ) -> Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, 32)
            .gateway(gw)
            .output_interface(index)
            .build();
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(format!("route {dst} via {gw}"), e))
    }

    /// `ip route del DST/32` (absent is fine).
    pub async fn delete_host_route(&self, dst: Ipv4Addr) -> Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, 32)
            .build();
        match self.handle.route().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err(format!("delete route {dst}"), e);
                match err.raw_errno() {
                    Some(ESRCH) | Some(ENOENT) => Ok(()),
                    _ => Err(err),
                }
            }
        }
    }

    /// `ip route replace default via GW dev INDEX onlink table TABLE`, with `GW`'s neighbour
    /// fixed at `mac` on the link.
    pub async fn replace_table_default_onlink(
        &self,
        table: u32,
        gw: Ipv4Addr,
        mac: [u8; 6],
        index: u32,
    ) -> Result<()> {
        self.handle
            .neighbours()
            .add(index, IpAddr::V4(gw))
            .link_layer_address(&mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(format!("neighbour {gw}"), e))?;
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gw)
            .output_interface(index)
            .table_id(table)
            .onlink()
            .build();
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(format!("default route of table {table}"), e))
    }

    /// The rule `fwmark MARK/MASK lookup TABLE priority PRIO`.
    fn mark_rule(
        &self,
        mark: u32,
        mask: u32,
        table: u32,
        priority: u32,
    ) -> RuleAddRequest<Ipv4Addr> {
        let mut req = self
            .handle
            .rule()
            .add()
            .v4()
            .table_id(table)
            .priority(priority)
            .action(RuleAction::ToTable)
            .fw_mark(mark);
        req.message_mut()
            .attributes
            .push(RuleAttribute::FwMask(mask));
        req
    }

    /// `ip rule add fwmark MARK/MASK lookup TABLE priority PRIO` (present is fine).
    pub async fn add_mark_rule(
        &self,
        mark: u32,
        mask: u32,
        table: u32,
        priority: u32,
    ) -> Result<()> {
        let req = self.mark_rule(mark, mask, table, priority);
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err(format!("rule fwmark {mark:#x}/{mask:#x} lookup {table}"), e);
                if err.raw_errno() == Some(EEXIST) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes the rule [`Self::add_mark_rule`] made (absent is fine).
    pub async fn delete_mark_rule(
        &self,
        mark: u32,
        mask: u32,
        table: u32,
        priority: u32,
    ) -> Result<()> {
        let msg = self
            .mark_rule(mark, mask, table, priority)
            .message_mut()
            .clone();
        match self.handle.rule().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err(format!("delete rule fwmark {mark:#x}"), e);
                match err.raw_errno() {
                    Some(ENOENT) | Some(ESRCH) => Ok(()),
                    _ => Err(err),
                }
            }
        }
    }

    /// `ip rule add from SRC lookup TABLE priority PRIO` (present is fine).
    pub async fn add_source_rule(&self, src: Ipv4Addr, table: u32, priority: u32) -> Result<()> {
        let req = self
            .handle
            .rule()
            .add()
            .v4()
            .source_prefix(src, 32)
            .table_id(table)
            .priority(priority)
            .action(RuleAction::ToTable);
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err(format!("rule from {src} lookup {table}"), e);
                if err.raw_errno() == Some(EEXIST) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// `ip route replace default via GW dev INDEX onlink table TABLE`.
    pub async fn replace_table_default_via(
        &self,
        table: u32,
        gw: Ipv4Addr,
        index: u32,
    ) -> Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gw)
            .output_interface(index)
            .table_id(table)
            .onlink()
            .build();
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(format!("default route of table {table} via {gw}"), e))
    }
}
