//! The replicated key-value state machine: operations, results, and their application.
//!
//! Every operation, reads included, goes through the log: a `get` is answered with the value
//! at the point where its entry is applied, after every write committed before it. That is
//! the "log round trip" way to linearizable reads (Raft thesis §6.4 names the alternative,
//! ReadIndex, which saves the log write but needs a heartbeat round). Since a leader only
//! learns an entry is committed through a quorum, a deposed leader cannot answer a stale read.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest value accepted, in bytes (well below the 512 KiB frame limit).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: String,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: String,
    },
}

impl KvOp {
    /// Checks the size limits; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let key = match self {
            KvOp::Put { key, value } => {
                if value.len() > MAX_VALUE_BYTES {
                    return Err(format!(
                        "value: {} bytes > max {MAX_VALUE_BYTES}",
                        value.len()
                    ));
                }
                key
            }
            KvOp::Get { key } | KvOp::Delete { key } => key,
        };
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("key: {} bytes > max {MAX_KEY_BYTES}", key.len()));
        }
        Ok(())
    }
}

/// What applying an operation produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResult {
    /// A put was applied.
    Done,
    /// A get's answer.
    Value(Option<String>),
    /// A delete's answer: whether the key existed.
    Deleted(bool),
    /// A leader's no-op (never returned to a client).
    Noop,
}

/// The answer a client gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOutcome {
    /// Committed and applied.
    Ok(KvResult),
    /// This node does not lead; try `leader` at `addr` if known.
    NotLeader {
        /// Who this node believes leads.
        leader: Option<u64>,
        /// That server's address.
        addr: Option<String>,
    },
    /// The request is malformed (too large); retrying will not help.
    Invalid {
        /// Which field, and why.
        reason: String,
    },
    /// The request failed (lost leadership before commit, node overloaded or shutting down);
    /// it may or may not have been applied, and may be retried.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The state machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    map: BTreeMap<String, String>,
}

impl KvStore {
    /// Applies one committed operation.
    pub fn apply(&mut self, op: KvOp) -> KvResult {
        match op {
            KvOp::Put { key, value } => {
                self.map.insert(key, value);
                KvResult::Done
            }
            KvOp::Get { key } => KvResult::Value(self.map.get(&key).cloned()),
            KvOp::Delete { key } => KvResult::Deleted(self.map.remove(&key).is_some()),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;

    #[test]
    fn put_get_delete() {
        let mut kv = KvStore::default();
        let key = || "k".to_string();
        assert_eq!(kv.apply(KvOp::Get { key: key() }), KvResult::Value(None));
        assert_eq!(
            kv.apply(KvOp::Put {
                key: key(),
                value: "v".into()
            }),
            KvResult::Done
        );
        assert_eq!(
            kv.apply(KvOp::Get { key: key() }),
            KvResult::Value(Some("v".into()))
        );
        assert_eq!(
            kv.apply(KvOp::Delete { key: key() }),
            KvResult::Deleted(true)
        );
        assert_eq!(
            kv.apply(KvOp::Delete { key: key() }),
            KvResult::Deleted(false)
        );
    }

    #[test]
    fn oversized_key_is_refused_naming_the_field() {
        let op = KvOp::Get {
            key: "x".repeat(MAX_KEY_BYTES + 1),
        };
        assert!(op.validate().unwrap_err().starts_with("key:"));
    }
}
