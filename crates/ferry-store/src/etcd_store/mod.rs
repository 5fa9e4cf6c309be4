//! The cluster store: records in etcd, shared by every host that points at the same cluster and
//! prefix. The trait's model is etcd's own, so this is a thin mapping: a table is a key prefix,
//! a revision is etcd's, a transaction's conditions are the compares of one etcd transaction,
//! and a watch is an etcd prefix watch.

mod config;
mod keys;
mod watch;

#[cfg(any(test, feature = "contract"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use config::{EtcdConfig, EtcdTls};

use crate::{Condition, Entry, Listing, Op, Record, Scope, Store, StoreError, Table, Txn};
use crate::{Expected, WatchStream};
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, KeyValue,
    PutOptions, ResponseHeader, TlsOptions, TxnOp, TxnOpResponse,
};
use keys::Layout;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long to wait for a connection to an endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle connection is probed, and how long a probe may take, so that a dead
/// member is noticed while a watch waits.
const KEEPALIVE: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(5));

/// The etcd-backed store, of [`Scope::Global`]. It holds a connection per endpoint and uses
/// one at a time: a call that finds its member unreachable moves to the next and is tried
/// there, so one dead member of a cluster costs a failed connection, not failed calls.
pub struct EtcdStore {
    /// A connection per endpoint, with its URL.
    clients: std::sync::RwLock<Vec<(String, Client)>>,
    /// How connections are made (timeouts, TLS), for endpoints added later.
    options: ConnectOptions,
    current: AtomicUsize,
    layout: Layout,
    /// The endpoints, for messages.
    shown: std::sync::RwLock<String>,
}

impl EtcdStore {
    /// Connects to the cluster. Members are dialled when first used, so an unreachable cluster
    /// shows in the first call rather than here; a bad URL or TLS file fails here.
    pub async fn connect(config: EtcdConfig) -> Result<Self, StoreError> {
        let shown = config.endpoints.join(",");
        let fail = |message: String| StoreError::Backend {
            path: format!("etcd {shown}"),
            message,
        };
        if config.endpoints.is_empty() {
            return Err(fail("no etcd endpoint given".into()));
        }
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(KEEPALIVE.0, KEEPALIVE.1);
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls_options(tls).await.map_err(fail)?);
        }
        let mut clients = Vec::new();
        for endpoint in &config.endpoints {
            clients.push((
                endpoint.clone(),
                Client::connect([endpoint], Some(options.clone()))
                    .await
                    .map_err(|e| fail(e.to_string()))?,
            ));
        }
        Ok(EtcdStore {
            clients: std::sync::RwLock::new(clients),
            options,
            current: AtomicUsize::new(0),
            layout: Layout::new(&config.prefix),
            shown: std::sync::RwLock::new(shown),
        })
    }

    /// Uses `endpoints` from now on (members added to or removed from the cluster): the
    /// connections of endpoints kept stay, new ones are made. An empty list changes nothing.
    pub async fn set_endpoints(&self, endpoints: &[String]) -> Result<(), StoreError> {
        if endpoints.is_empty() {
            return Ok(());
        }
        let old: Vec<(String, Client)> = self.read_clients().clone();
        let mut next = Vec::new();
        for e in endpoints {
            match old.iter().find(|(u, _)| u == e) {
                Some(kept) => next.push(kept.clone()),
                None => next.push((
                    e.clone(),
                    Client::connect([e], Some(self.options.clone()))
                        .await
                        .map_err(|err| self.err(err))?,
                )),
            }
        }
        *self.shown.write().unwrap_or_else(|p| p.into_inner()) = endpoints.join(",");
        *self.clients.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> Vec<String> {
        self.read_clients().iter().map(|(u, _)| u.clone()).collect()
    }

    fn read_clients(&self) -> std::sync::RwLockReadGuard<'_, Vec<(String, Client)>> {
        // Replacing the list cannot panic half-way.
        self.clients.read().unwrap_or_else(|p| p.into_inner())
    }

    fn shown(&self) -> String {
        self.shown.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The connection calls use now.
    fn client(&self) -> Client {
        let clients = self.read_clients();
        let i = self.current.load(Ordering::Relaxed) % clients.len().max(1);
        clients[i].1.clone()
    }

    /// The error of an etcd call; when the member could not be reached, later calls go to
    /// the next endpoint.
    fn etcd_err(&self, e: etcd_client::Error) -> StoreError {
        if is_unreachable(&e) && self.read_clients().len() > 1 {
            self.current.fetch_add(1, Ordering::Relaxed);
        }
        self.err(e)
    }

    /// Runs `call`, again on the next endpoint each time it fails because its member was
    /// unreachable, at most once per endpoint.
    async fn failing_over<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut tries = self.read_clients().len();
        loop {
            let before = self.current.load(Ordering::Relaxed);
            let r = call().await;
            tries = tries.saturating_sub(1);
            match r {
                Err(_) if tries > 0 && self.current.load(Ordering::Relaxed) != before => continue,
                r => return r,
            }
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            path: format!("etcd {}", self.shown()),
            message: e.to_string(),
        }
    }

    fn revision_of(&self, header: Option<&ResponseHeader>) -> Result<u64, StoreError> {
        header
            .map(|h| revision(h.revision()))
            .ok_or_else(|| self.err("a response without a header"))
    }

    fn key_of(&self, table: Table, kv: &KeyValue) -> Result<String, StoreError> {
        self.layout
            .key_of(table, kv.key())
            .map(str::to_string)
            .ok_or_else(|| StoreError::Decode {
                table: table.name(),
                key: String::from_utf8_lossy(kv.key()).into_owned(),
                message: "not a key of the table".into(),
            })
    }

    /// The etcd compare that holds exactly when `c` does.
    fn compare(&self, c: &Condition) -> Compare {
        let (table, key) = c.target();
        let key = self.layout.record(table, key);
        match c.expected() {
            Expected::At(r) => {
                Compare::mod_revision(key, CompareOp::Equal, i64::try_from(r).unwrap_or(i64::MAX))
            }
            Expected::Absent => Compare::version(key, CompareOp::Equal, 0),
            Expected::Present => Compare::version(key, CompareOp::Greater, 0),
        }
    }

    /// The conflict behind a failed transaction, from the reads of its else-branch (one per
    /// condition, in order): the first condition that does not hold.
    fn conflict(&self, conditions: &[Condition], reads: Vec<TxnOpResponse>) -> StoreError {
        if reads.len() != conditions.len() {
            return self.err("a failed transaction returned the wrong number of reads");
        }
        for (c, read) in conditions.iter().zip(reads) {
            let TxnOpResponse::Get(got) = read else {
                return self.err("a failed transaction returned something other than its reads");
            };
            let actual = got.kvs().first().map(|kv| revision(kv.mod_revision()));
            if let Err(e) = c.check(actual) {
                return e;
            }
        }
        self.err("etcd refused a transaction whose conditions all hold")
    }
}

/// A revision as the trait counts them (etcd's are positive `i64`s).
fn revision(r: i64) -> u64 {
    u64::try_from(r).unwrap_or(0)
}

/// Whether etcd refused a read or watch because `revision` was compacted away.
fn is_compacted(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.message().contains("required revision has been compacted"))
}

/// Whether a call failed because its member could not be reached (or could not serve it),
/// so that another member may.
fn is_unreachable(e: &etcd_client::Error) -> bool {
    match e {
        // tonic's code, compared by name: this crate does not depend on tonic.
        etcd_client::Error::GRpcStatus(s) => format!("{:?}", s.code()) == "Unavailable",
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::LeaseKeepAliveError(m) => m != "lease not found",
        _ => false,
    }
}

/// Whether etcd refused a read or compaction because the revision is not there yet.
fn is_future(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.message().contains("required revision is a future revision"))
}

/// Whether etcd refused something because a lease it named is gone.
fn is_lease_missing(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.message().contains("requested lease not found"))
}

async fn tls_options(tls: &EtcdTls) -> Result<TlsOptions, String> {
    async fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
        tokio::fs::read(path)
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
    let mut options = TlsOptions::new();
    if let Some(ca) = &tls.ca {
        options = options.ca_certificate(Certificate::from_pem(read(ca).await?));
    }
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            options = options.identity(Identity::from_pem(read(cert).await?, read(key).await?));
        }
        (None, None) => {}
        _ => return Err("a client certificate needs its key, and a key its certificate".into()),
    }
    if let Some(domain) = &tls.domain {
        options = options.domain_name(domain.clone());
    }
    Ok(options)
}

impl EtcdStore {
    async fn list_once(&self, table: Table) -> Result<Listing, StoreError> {
        let resp = self
            .client()
            .kv_client()
            .get(
                self.layout.table_prefix(table),
                Some(GetOptions::new().with_prefix()),
            )
            .await
            .map_err(|e| self.etcd_err(e))?;
        let entries = resp
            .kvs()
            .iter()
            .map(|kv| {
                Ok(Entry {
                    key: self.key_of(table, kv)?,
                    value: kv.value().to_vec(),
                    mod_revision: revision(kv.mod_revision()),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Listing {
            revision: self.revision_of(resp.header())?,
            entries,
        })
    }

    async fn get_once(&self, table: Table, key: &str) -> Result<Option<Record>, StoreError> {
        let resp = self
            .client()
            .kv_client()
            .get(self.layout.record(table, key), None)
            .await
            .map_err(|e| self.etcd_err(e))?;
        Ok(resp.kvs().first().map(|kv| Record {
            value: kv.value().to_vec(),
            mod_revision: revision(kv.mod_revision()),
        }))
    }

    async fn apply_once(&self, txn: Txn) -> Result<u64, StoreError> {
        let compares: Vec<_> = txn.conditions.iter().map(|c| self.compare(c)).collect();
        // etcd does not say which lease is missing; the first is reported.
        let leased = txn.ops.iter().find_map(|op| match op {
            Op::PutLeased { lease, .. } => Some(*lease),
            _ => None,
        });
        let ops: Vec<_> = keys::last_per_record(txn.ops)
            .into_iter()
            .map(|op| match op {
                Op::Put { table, key, value } => {
                    TxnOp::put(self.layout.record(table, &key), value, None)
                }
                Op::PutLeased {
                    table,
                    key,
                    value,
                    lease,
                } => TxnOp::put(
                    self.layout.record(table, &key),
                    value,
                    Some(PutOptions::new().with_lease(lease)),
                ),
                Op::Delete { table, key } => TxnOp::delete(self.layout.record(table, &key), None),
            })
            .collect();
        // When a compare fails, the same transaction reads the records, so that the conflict
        // reports what the compare saw.
        let reads: Vec<_> = txn
            .conditions
            .iter()
            .map(|c| {
                let (table, key) = c.target();
                TxnOp::get(
                    self.layout.record(table, key),
                    Some(GetOptions::new().with_keys_only()),
                )
            })
            .collect();
        let etcd_txn = etcd_client::Txn::new()
            .when(compares)
            .and_then(ops)
            .or_else(reads);
        let resp = self
            .client()
            .kv_client()
            .txn(etcd_txn)
            .await
            .map_err(|e| match leased {
                Some(lease) if is_lease_missing(&e) => StoreError::LeaseNotFound { lease },
                _ => self.etcd_err(e),
            })?;
        if resp.succeeded() {
            self.revision_of(resp.header())
        } else {
            Err(self.conflict(&txn.conditions, resp.op_responses()))
        }
    }

    async fn grant_lease_once(&self, ttl: Duration) -> Result<i64, StoreError> {
        // etcd counts whole seconds; rounding up never ends a session early.
        let secs = ttl.as_millis().div_ceil(1000).max(1);
        let resp = self
            .client()
            .lease_client()
            .grant(i64::try_from(secs).unwrap_or(i64::MAX), None)
            .await
            .map_err(|e| self.etcd_err(e))?;
        Ok(resp.id())
    }

    async fn keep_alive_once(&self, lease: i64) -> Result<Option<Duration>, StoreError> {
        let (mut keeper, mut answers) = match self.client().lease_client().keep_alive(lease).await {
            Ok(pair) => pair,
            // The client reads the first answer itself, and calls a TTL of 0 this error.
            Err(etcd_client::Error::LeaseKeepAliveError(m)) if m == "lease not found" => {
                return Ok(None)
            }
            Err(e) => return Err(self.etcd_err(e)),
        };
        keeper.keep_alive().await.map_err(|e| self.etcd_err(e))?;
        match answers.message().await.map_err(|e| self.etcd_err(e))? {
            // etcd answers a renewal of an unknown lease with a TTL of 0 or less.
            Some(a) if a.ttl() > 0 => Ok(Some(Duration::from_secs(revision(a.ttl())))),
            Some(_) => Ok(None),
            None => Err(self.err("the lease keep-alive stream ended without an answer")),
        }
    }

    async fn revoke_lease_once(&self, lease: i64) -> Result<(), StoreError> {
        match self.client().lease_client().revoke(lease).await {
            Ok(_) => Ok(()),
            Err(e) if is_lease_missing(&e) => Ok(()),
            Err(e) => Err(self.etcd_err(e)),
        }
    }
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn list(&self, table: Table) -> Result<Listing, StoreError> {
        self.failing_over(|| self.list_once(table)).await
    }

    async fn get(&self, table: Table, key: &str) -> Result<Option<Record>, StoreError> {
        self.failing_over(|| self.get_once(table, key)).await
    }

    async fn apply(&self, txn: Txn) -> Result<u64, StoreError> {
        self.failing_over(|| self.apply_once(txn.clone())).await
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<i64, StoreError> {
        self.failing_over(|| self.grant_lease_once(ttl)).await
    }

    async fn keep_alive(&self, lease: i64) -> Result<Option<Duration>, StoreError> {
        self.failing_over(|| self.keep_alive_once(lease)).await
    }

    async fn revoke_lease(&self, lease: i64) -> Result<(), StoreError> {
        self.failing_over(|| self.revoke_lease_once(lease)).await
    }

    async fn watch(&self, table: Table, from_revision: u64) -> Result<WatchStream, StoreError> {
        watch::open(self, table, from_revision).await
    }

    async fn compact(&self, revision: u64) -> Result<(), StoreError> {
        let mut kv = self.client().kv_client();
        let mut target = i64::try_from(revision).unwrap_or(i64::MAX);
        if target <= 0 {
            return Ok(());
        }
        loop {
            match kv.compact(target, None).await {
                Ok(_) => return Ok(()),
                // Compacted already: the history below `revision` is gone either way.
                Err(e) if is_compacted(&e) => return Ok(()),
                // Beyond the newest revision: forget all the history the store has.
                Err(e) if is_future(&e) => {
                    let resp = kv
                        .get(
                            self.layout.root(),
                            Some(GetOptions::new().with_count_only()),
                        )
                        .await
                        .map_err(|e| self.etcd_err(e))?;
                    let current = resp.header().map(|h| h.revision()).unwrap_or(0);
                    if current >= target || current <= 0 {
                        return Err(self.err(e));
                    }
                    target = current;
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    fn scope(&self) -> Scope {
        Scope::Global
    }

    fn describe(&self) -> String {
        format!("etcd {} under {}", self.shown(), self.layout.root())
    }
}
