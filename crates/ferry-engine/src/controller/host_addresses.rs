//! The host's own addresses on overlays: the routing mesh's on `ingress`, and a load
//! balancer's on an overlay that carries VIPs. Each is claimed in the cluster, so that no
//! endpoint of any node takes it, and the one the node's store saved is claimed first, so a
//! restart keeps its address.

use super::Controller;
use ferry_cluster::{ClaimError, Claims};
use ferry_types::{FerryError, Network};
use ipnet::IpNet;

/// How many addresses the node tries before it gives up claiming one (the others were taken
/// by other nodes at the same moment).
const TRIES: usize = 16;

impl Controller {
    /// Claims an address of `net` for the host under `owner`, held for good (`lease` none) or
    /// on the node's session: `saved` when nobody else holds it, otherwise a free one. A
    /// saved address another owner took meanwhile is taken off the host first: the host
    /// must not answer for it.
    pub(crate) async fn claim_host_address(
        &self,
        claims: &Claims<'_>,
        net: &Network,
        owner: &str,
        lease: Option<i64>,
        saved: Option<IpNet>,
    ) -> Result<IpNet, FerryError> {
        let store_err = |e: ClaimError| FerryError::unavailable(e.to_string());
        if let Some(s) = saved {
            let kept = match lease {
                Some(l) => claims.renew_address(&net.id, s.addr(), owner, l).await,
                None => claims.claim_address(&net.id, s.addr(), owner, None).await,
            };
            match kept {
                Ok(()) => {
                    self.lock().await.mark_taken(&net.id, s.addr());
                    return Ok(s);
                }
                Err(ClaimError::Taken { .. }) => {
                    if let Some(pa) = self.driver(net)?.peer_aware() {
                        pa.leave_host(net, s).await?;
                    }
                }
                Err(e) => return Err(store_err(e)),
            }
        }
        for _ in 0..TRIES {
            let addr = {
                let mut st = self.lock().await;
                Self::allocate_vip(&mut st, &net.id)?
            };
            match claims
                .claim_address(&net.id, addr.addr(), owner, lease)
                .await
            {
                Ok(()) => return Ok(addr),
                // Someone else's: it stays allocated here.
                Err(ClaimError::Taken { .. }) => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(FerryError::conflict(format!(
            "no free address on network {} for this host after {TRIES} tries",
            net.name
        )))
    }
}
