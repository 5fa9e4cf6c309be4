//! etcd's own view of its size, from its status API.

use etcd_client::Client;

/// etcd's database size.
#[derive(Debug, Clone, Copy)]
pub struct EtcdSize {
    /// The backend file's size, in bytes.
    pub db_size: i64,
    /// The part of it in use (the rest is free pages left by deletes and compaction).
    pub db_in_use: i64,
}

/// Asks the member at `endpoint`.
pub async fn etcd_size(endpoint: &str) -> anyhow::Result<EtcdSize> {
    let mut client = Client::connect([endpoint], None).await?;
    let status = client.status().await?;
    Ok(EtcdSize {
        db_size: status.db_size(),
        db_in_use: status.raft_used_db_size(),
    })
}
