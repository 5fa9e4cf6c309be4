//! A node's copy of one table of the cluster's store, kept by a watch: it turns a listing or
//! an event into the changes a node applies, each with the record it replaces or removes (a
//! delete event, from a lease's expiry too, carries only the key), and after a lost watch
//! (a compaction, a reconnect) the listing is diffed against the copy, so nothing is missed.

use ferry_store::{Entry, Event};
use std::collections::BTreeMap;

/// One change to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A record was written.
    Put {
        /// Its key.
        key: String,
        /// The new record.
        value: Vec<u8>,
        /// The record it replaced.
        old: Option<Vec<u8>>,
    },
    /// A record is gone.
    Delete {
        /// Its key.
        key: String,
        /// The record that was removed.
        old: Vec<u8>,
    },
}

/// The copy of a table.
#[derive(Debug, Default)]
pub struct Mirror {
    records: BTreeMap<String, Vec<u8>>,
}

impl Mirror {
    /// Takes a full listing: the changes that bring the copy to it.
    pub fn relist(&mut self, entries: Vec<Entry>) -> Vec<Change> {
        let mut fresh: BTreeMap<String, Vec<u8>> =
            entries.into_iter().map(|e| (e.key, e.value)).collect();
        let mut out = Vec::new();
        for (key, old) in std::mem::take(&mut self.records) {
            match fresh.remove(&key) {
                Some(value) if value == old => {
                    self.records.insert(key, value);
                }
                Some(value) => {
                    self.records.insert(key.clone(), value.clone());
                    out.push(Change::Put {
                        key,
                        value,
                        old: Some(old),
                    });
                }
                None => out.push(Change::Delete { key, old }),
            }
        }
        for (key, value) in fresh {
            self.records.insert(key.clone(), value.clone());
            out.push(Change::Put {
                key,
                value,
                old: None,
            });
        }
        out
    }

    /// Takes one event: the change, unless it changes nothing.
    pub fn event(&mut self, ev: Event) -> Option<Change> {
        match ev {
            Event::Put { key, value, .. } => {
                let old = self.records.insert(key.clone(), value.clone());
                if old.as_ref() == Some(&value) {
                    return None;
                }
                Some(Change::Put { key, value, old })
            }
            Event::Delete { key, .. } => {
                let old = self.records.remove(&key)?;
                Some(Change::Delete { key, old })
            }
        }
    }

    /// The records whose key starts with `prefix`.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.records
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Every record.
    pub fn records(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.records.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Forgets everything: the changes that remove it all.
    pub fn clear(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.records)
            .into_iter()
            .map(|(key, old)| Change::Delete { key, old })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str, v: &str) -> Entry {
        Entry {
            key: k.into(),
            value: v.as_bytes().to_vec(),
            mod_revision: 1,
        }
    }

    #[test]
    fn a_relist_yields_only_the_differences() {
        let mut m = Mirror::default();
        let first = m.relist(vec![entry("a", "1"), entry("b", "2")]);
        assert_eq!(first.len(), 2);
        let second = m.relist(vec![entry("b", "3"), entry("c", "4")]);
        assert_eq!(
            second,
            vec![
                Change::Delete {
                    key: "a".into(),
                    old: b"1".to_vec()
                },
                Change::Put {
                    key: "b".into(),
                    value: b"3".to_vec(),
                    old: Some(b"2".to_vec())
                },
                Change::Put {
                    key: "c".into(),
                    value: b"4".to_vec(),
                    old: None
                },
            ]
        );
        assert!(m.relist(vec![entry("b", "3"), entry("c", "4")]).is_empty());
    }

    #[test]
    fn events_carry_what_they_replace_and_deletes_what_they_remove() {
        let mut m = Mirror::default();
        let put = |k: &str, v: &str| Event::Put {
            key: k.into(),
            value: v.as_bytes().to_vec(),
            revision: 2,
        };
        assert!(matches!(
            m.event(put("n/x", "1")),
            Some(Change::Put { old: None, .. })
        ));
        assert_eq!(m.event(put("n/x", "1")), None);
        assert!(matches!(
            m.event(put("n/x", "2")),
            Some(Change::Put { old: Some(_), .. })
        ));
        m.event(put("o/y", "3"));
        assert_eq!(m.with_prefix("n/").count(), 1);
        assert_eq!(
            m.event(Event::Delete {
                key: "n/x".into(),
                revision: 3
            }),
            Some(Change::Delete {
                key: "n/x".into(),
                old: b"2".to_vec()
            })
        );
        assert_eq!(
            m.event(Event::Delete {
                key: "n/x".into(),
                revision: 4
            }),
            None
        );
        assert_eq!(m.clear().len(), 1);
    }
}
