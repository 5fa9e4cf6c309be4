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

/// `res`, with the errors whose errno is in `fine` taken as success (a rule already there, a
/// route already gone).
fn tolerating(
    res: std::result::Result<(), rtnetlink::Error>,
    op: String,
    fine: &[i32],
) -> Result<()> {
    match res {
        Ok(()) => Ok(()),
        Err(e) => {
            let err = nl_err(op, e);
            if err.raw_errno().is_some_and(|n| fine.contains(&n)) {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

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
        tolerating(
            self.handle.route().del(msg).execute().await,
            format!("delete route {dst}"),
            &[ESRCH, ENOENT],
        )
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
        self.replace_table_default_via(table, gw, index).await
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
        tolerating(
            self.mark_rule(mark, mask, table, priority).execute().await,
            format!("rule fwmark {mark:#x}/{mask:#x} lookup {table}"),
            &[EEXIST],
        )
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
        tolerating(
            self.handle.rule().del(msg).execute().await,
            format!("delete rule fwmark {mark:#x}"),
            &[ENOENT, ESRCH],
        )
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
        tolerating(
            req.execute().await,
            format!("rule from {src} lookup {table}"),
            &[EEXIST],
        )
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
