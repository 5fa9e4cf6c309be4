//! Links made on a parent interface: macvlan and ipvlan endpoints (each with a MAC or an
//! address of its own on the parent's segment), 802.1q VLAN sub-interfaces, and the probe that
//! tells whether the kernel can make a kind at all.

use super::{nl_err, Netlink};
use crate::error::{KernelError, Result};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVlan, IpVlanFlags, IpVlanMode, LinkMessage,
    MacVlanMode,
};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// How macvlan endpoints on one parent reach each other (`macvlan_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacvlanMode {
    /// Endpoints on the same parent talk directly, inside the kernel (Docker's default).
    Bridge,
    /// Endpoints never talk to each other.
    Private,
    /// Traffic between endpoints goes out to the switch and back (a hairpin switch).
    Vepa,
    /// One endpoint takes the parent over.
    Passthru,
}

/// ipvlan's layer (`ipvlan_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpvlanMode {
    /// Switching on the parent's L2 segment, one MAC for all endpoints (Docker's default).
    L2,
    /// Routing by the parent; no broadcast or multicast.
    L3,
    /// L3 with the host's netfilter on the way.
    L3s,
}

/// How ipvlan endpoints on one parent reach each other (`ipvlan_flag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpvlanFlag {
    /// Directly (the default).
    Bridge,
    /// Never.
    Private,
    /// Through the switch.
    Vepa,
}

/// The kind of link made on a parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubLinkKind {
    /// A macvlan link.
    Macvlan(MacvlanMode),
    /// An ipvlan link.
    Ipvlan(IpvlanMode, IpvlanFlag),
}

impl SubLinkKind {
    /// The kernel's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            SubLinkKind::Macvlan(_) => "macvlan",
            SubLinkKind::Ipvlan(..) => "ipvlan",
        }
    }
}

/// A link to make on a parent interface.
#[derive(Debug, Clone)]
pub struct SubLinkSpec<'a> {
    /// Its name (in the namespace it ends up in).
    pub name: &'a str,
    /// The parent's index, in the namespace of the connection that makes it.
    pub parent_index: u32,
    /// macvlan or ipvlan, with its mode.
    pub kind: SubLinkKind,
    /// Its MAC (macvlan only: ipvlan links share the parent's).
    pub mac: Option<[u8; 6]>,
    /// Its MTU (the parent's when unset).
    pub mtu: Option<u32>,
    /// The namespace it is made in directly (the connection's own when unset).
    pub netns: Option<&'a Path>,
}

/// The request that makes `spec`, with the target namespace as an open file descriptor.
pub fn sublink_message(spec: &SubLinkSpec<'_>, netns_fd: Option<RawFd>) -> LinkMessage {
    let data = match spec.kind {
        SubLinkKind::Macvlan(mode) => InfoData::MacVlan(vec![InfoMacVlan::Mode(match mode {
            MacvlanMode::Bridge => MacVlanMode::Bridge,
            MacvlanMode::Private => MacVlanMode::Private,
            MacvlanMode::Vepa => MacVlanMode::Vepa,
            MacvlanMode::Passthru => MacVlanMode::Passthrough,
        })]),
        SubLinkKind::Ipvlan(mode, flag) => InfoData::IpVlan(vec![
            InfoIpVlan::Mode(match mode {
                IpvlanMode::L2 => IpVlanMode::L2,
                IpvlanMode::L3 => IpVlanMode::L3,
                IpvlanMode::L3s => IpVlanMode::L3S,
            }),
            InfoIpVlan::Flags(match flag {
                IpvlanFlag::Bridge => IpVlanFlags::empty(),
                IpvlanFlag::Private => IpVlanFlags::Private,
                IpvlanFlag::Vepa => IpVlanFlags::Vepa,
            }),
        ]),
    };
    let kind = match spec.kind {
        SubLinkKind::Macvlan(_) => InfoKind::MacVlan,
        SubLinkKind::Ipvlan(..) => InfoKind::IpVlan,
    };
    let mut b = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(kind)
        .name(spec.name.to_string())
        .link(spec.parent_index)
        .set_info_data(data);
    if let Some(mac) = spec.mac {
        b = b.address(mac.to_vec());
    }
    if let Some(mtu) = spec.mtu {
        b = b.mtu(mtu);
    }
    if let Some(fd) = netns_fd {
        b = b.setns_by_fd(fd);
    }
    b.build()
}

/// The kernel module and config option (without `CONFIG_`) behind a link kind, for messages
/// that say what a kernel lacks.
pub fn module_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "macvlan" => ("macvlan", "MACVLAN"),
        "ipvlan" => ("ipvlan", "IPVLAN"),
        "vlan" => ("8021q", "VLAN_8021Q"),
        "dummy" => ("dummy", "DUMMY"),
        _ => ("unknown", "UNKNOWN"),
    }
}

/// A failed creation as [`KernelError::LinkKindUnsupported`] when the kernel does not know
/// the kind (`EOPNOTSUPP`, "Unknown device type").
fn creation_err(op: String, kind: &str, e: rtnetlink::Error) -> KernelError {
    let err = nl_err(op.clone(), e);
    if err.raw_errno() == Some(libc::EOPNOTSUPP) {
        let (module, config) = module_of(kind);
        return KernelError::LinkKindUnsupported {
            op,
            kind: kind.into(),
            module: module.into(),
            config: config.into(),
        };
    }
    err
}

impl Netlink {
    /// Makes a macvlan or ipvlan link on a parent, directly inside `spec.netns` when given.
    /// Fails with [`KernelError::LinkKindUnsupported`] when the kernel lacks the kind.
    pub async fn create_sublink(&self, spec: &SubLinkSpec<'_>) -> Result<()> {
        let ns = match spec.netns {
            Some(p) => Some(
                std::fs::File::open(p)
                    .map_err(|e| KernelError::io(format!("open netns {}", p.display()), e))?,
            ),
            None => None,
        };
        let msg = sublink_message(spec, ns.as_ref().map(|f| f.as_raw_fd()));
        let kind = spec.kind.name();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| creation_err(format!("create {kind} {}", spec.name), kind, e))
    }

    /// Makes an 802.1q VLAN sub-interface `name` of the parent with the given ID, up.
    pub async fn create_vlan(&self, name: &str, parent_index: u32, vlan_id: u16) -> Result<()> {
        let msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Vlan)
            .name(name.to_string())
            .link(parent_index)
            .set_info_data(InfoData::Vlan(vec![InfoVlan::Id(vlan_id)]))
            .up()
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| creation_err(format!("create VLAN {name}"), "vlan", e))
    }

    /// Makes a veth pair with both ends in this namespace, both up: a parent for links that
    /// need one when there is no real interface to put them on (the other end stays unused).
    pub async fn create_veth_pair(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<()> {
        let mut b = LinkVeth::new(name, peer).up();
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| nl_err(format!("create veth pair {name}"), e))?;
        self.set_up_by_name(peer).await.map(|_| ())
    }
}

/// True when the kernel can make links of `kind` (`macvlan`, `ipvlan`, `vlan`): tries one on
/// a throwaway veth inside a private network namespace, so nothing of the host's is touched.
/// Creating the link loads the module when it is loadable, as any real use would.
pub fn link_kind_supported(kind: &str) -> Result<bool> {
    let kind = kind.to_string();
    let joined =
        std::thread::spawn(move || -> Result<bool> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| KernelError::io("unshare a probe network namespace", e.into()))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| KernelError::io("start a probe runtime", e))?;
            rt.block_on(async {
                let nl = Netlink::connect()?;
                nl.create_veth_pair("probe0", "probe1", None).await?;
                let parent = nl.link("probe0").await?.map(|l| l.index).ok_or_else(|| {
                    KernelError::Netlink {
                        op: "probe link kinds".into(),
                        message: "probe veth vanished".into(),
                        errno: None,
                    }
                })?;
                let made = match kind.as_str() {
                    "vlan" => nl.create_vlan("probe0.7", parent, 7).await,
                    "macvlan" | "ipvlan" => {
                        let k = if kind == "macvlan" {
                            SubLinkKind::Macvlan(MacvlanMode::Bridge)
                        } else {
                            SubLinkKind::Ipvlan(IpvlanMode::L2, IpvlanFlag::Bridge)
                        };
                        nl.create_sublink(&SubLinkSpec {
                            name: "probe2",
                            parent_index: parent,
                            kind: k,
                            mac: None,
                            mtu: None,
                            netns: None,
                        })
                        .await
                    }
                    other => {
                        return Err(KernelError::Netlink {
                            op: "probe link kinds".into(),
                            message: format!("no probe for link kind {other}"),
                            errno: None,
                        })
                    }
                };
                match made {
                    Ok(()) => Ok(true),
                    Err(KernelError::LinkKindUnsupported { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            // The namespace, and all it holds, goes with this thread.
        })
        .join();
    match joined {
        Ok(r) => r,
        Err(_) => Err(KernelError::Netlink {
            op: "probe link kinds".into(),
            message: "the probe thread panicked".into(),
            errno: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::{LinkAttribute, LinkInfo};

    fn info(msg: &LinkMessage) -> (Option<InfoKind>, Option<InfoData>) {
        let mut kind = None;
        let mut data = None;
        for a in &msg.attributes {
            if let LinkAttribute::LinkInfo(infos) = a {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => kind = Some(k.clone()),
                        LinkInfo::Data(d) => data = Some(d.clone()),
                        _ => {}
                    }
                }
            }
        }
        (kind, data)
    }

    fn spec(kind: SubLinkKind) -> SubLinkSpec<'static> {
        SubLinkSpec {
            name: "eth0",
            parent_index: 7,
            kind,
            mac: Some([2, 0, 0, 0, 0, 9]),
            mtu: Some(1400),
            netns: None,
        }
    }

    #[test]
    fn ipvlan_request_carries_mode_flag_and_parent() {
        let m = sublink_message(
            &spec(SubLinkKind::Ipvlan(IpvlanMode::L3, IpvlanFlag::Private)),
            Some(42),
        );
        let (kind, data) = info(&m);
        assert_eq!(kind, Some(InfoKind::IpVlan));
        assert_eq!(
            data,
            Some(InfoData::IpVlan(vec![
                InfoIpVlan::Mode(IpVlanMode::L3),
                InfoIpVlan::Flags(IpVlanFlags::Private)
            ]))
        );
        assert!(m.attributes.contains(&LinkAttribute::Link(7)));
        assert!(m.attributes.contains(&LinkAttribute::Mtu(1400)));
        assert!(m.attributes.contains(&LinkAttribute::NetNsFd(42)));
        assert!(m
            .attributes
            .contains(&LinkAttribute::IfName("eth0".to_string())));
    }

    #[test]
    fn ipvlan_bridge_flag_is_no_flag() {
        let m = sublink_message(
            &spec(SubLinkKind::Ipvlan(IpvlanMode::L2, IpvlanFlag::Bridge)),
            None,
        );
        let (_, data) = info(&m);
        assert_eq!(
            data,
            Some(InfoData::IpVlan(vec![
                InfoIpVlan::Mode(IpVlanMode::L2),
                InfoIpVlan::Flags(IpVlanFlags::empty())
            ]))
        );
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::NetNsFd(_))));
    }

    #[test]
    fn macvlan_request_carries_mode_and_mac() {
        for (mode, want) in [
            (MacvlanMode::Bridge, MacVlanMode::Bridge),
            (MacvlanMode::Private, MacVlanMode::Private),
            (MacvlanMode::Vepa, MacVlanMode::Vepa),
            (MacvlanMode::Passthru, MacVlanMode::Passthrough),
        ] {
            let m = sublink_message(&spec(SubLinkKind::Macvlan(mode)), None);
            let (kind, data) = info(&m);
            assert_eq!(kind, Some(InfoKind::MacVlan));
            assert_eq!(data, Some(InfoData::MacVlan(vec![InfoMacVlan::Mode(want)])));
            assert!(m
                .attributes
                .contains(&LinkAttribute::Address(vec![2, 0, 0, 0, 0, 9])));
        }
    }
}
