//! What a node keeps of its membership under its data root, so that it re-attaches after a
//! restart: `swarm/state.json` (who it is and how it reaches the cluster), its key and
//! certificate, the CA certificate, and (with a user's etcd) the files to reach that etcd.
//! The directory holds nothing else of the swarm's: etcd's data lives in `swarm/etcd/`.

use crate::{Result, SwarmError};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// This node's membership, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The node ID.
    pub node_id: String,
    /// The cluster's ID.
    pub cluster_id: String,
    /// Whether this node runs an etcd member (a manager with ferry's own etcd).
    pub manager: bool,
    /// Its advertise address.
    pub advertise_addr: String,
    /// Where its join endpoint listens when a manager.
    pub listen_addr: String,
    /// The etcd client URLs it uses.
    pub etcd_endpoints: Vec<String>,
    /// Whether the etcd is the user's own.
    pub external_etcd: bool,
}

/// The files of a membership.
#[derive(Debug, Clone)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    /// The swarm's files under `data_root`.
    pub fn new(data_root: &Path) -> Self {
        Files {
            dir: data_root.join("swarm"),
        }
    }

    /// `swarm/` itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The saved membership.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// The CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// This node's certificate.
    pub fn node_cert(&self) -> PathBuf {
        self.dir.join("node.crt")
    }
    /// This node's key (never leaves the node).
    pub fn node_key(&self) -> PathBuf {
        self.dir.join("node.key")
    }
    /// The CA of a user's etcd.
    pub fn etcd_ca(&self) -> PathBuf {
        self.dir.join("etcd-ca.crt")
    }
    /// The client certificate for a user's etcd.
    pub fn etcd_cert(&self) -> PathBuf {
        self.dir.join("etcd-client.crt")
    }
    /// Its key.
    pub fn etcd_key(&self) -> PathBuf {
        self.dir.join("etcd-client.key")
    }
    /// The data directory of this node's etcd member.
    pub fn etcd_data(&self) -> PathBuf {
        self.dir.join("etcd")
    }
    /// The etcd member's log.
    pub fn etcd_log(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }
    /// The running etcd member's PID.
    pub fn etcd_pid(&self) -> PathBuf {
        self.dir.join("etcd.pid")
    }

    /// The saved membership, if any.
    pub fn load(&self) -> Result<Option<Membership>> {
        let path = self.state();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                SwarmError::Internal(format!(
                    "{} is corrupt ({e}); remove the swarm directory to leave the swarm",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SwarmError::io(format!("cannot read {}", path.display()))(e)),
        }
    }

    /// Saves the membership, atomically: written last, so a node with a state file has every
    /// other file.
    pub fn save(&self, m: &Membership) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(m).map_err(|e| SwarmError::Internal(e.to_string()))?;
        self.write(&self.state(), &bytes, 0o600)
    }

    /// Writes a file of the membership (created with `mode`), atomically.
    pub fn write(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(SwarmError::io(format!(
            "cannot create {}",
            self.dir.display()
        )))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).map_err(
            SwarmError::io(format!("cannot protect {}", self.dir.display())),
        )?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .map_err(SwarmError::io(format!("cannot write {}", tmp.display())))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(SwarmError::io(format!("cannot protect {}", tmp.display())))?;
        std::fs::rename(&tmp, path)
            .map_err(SwarmError::io(format!("cannot write {}", path.display())))
    }

    /// Reads a file of the membership as text.
    pub fn read(&self, path: &Path) -> Result<String> {
        std::fs::read_to_string(path)
            .map_err(SwarmError::io(format!("cannot read {}", path.display())))
    }

    /// Forgets the membership: every file, etcd's data included.
    pub fn remove_all(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SwarmError::io(format!(
                "cannot remove {}",
                self.dir.display()
            ))(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_is_saved_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(dir.path());
        assert_eq!(f.load().unwrap(), None);
        let m = Membership {
            node_id: "n1".into(),
            cluster_id: "c".into(),
            manager: true,
            advertise_addr: "192.0.2.1".into(),
            listen_addr: "0.0.0.0:2377".into(),
            etcd_endpoints: vec!["https://192.0.2.1:2379".into()],
            external_etcd: false,
        };
        f.save(&m).unwrap();
        assert_eq!(f.load().unwrap(), Some(m));
        let mode = std::fs::metadata(f.state()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        f.remove_all().unwrap();
        assert_eq!(f.load().unwrap(), None);
    }
}
