//! Protocol nouns shared by every core: server ids, terms, log indices, entries.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A server of the cluster. Ids are chosen by the operator (`--id N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerId(pub u64);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Raft term. Terms start at 0 (no leader); the first election is term 1.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Term(pub u64);

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A log position. Indices start at 1; index 0 is the empty prefix (term 0).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogIndex(pub u64);

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Names a client request inside one node, so the runtime can route the answer back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// Names one `Persist` command; `Event::Persisted` acknowledges it and every earlier one.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct PersistId(pub u64);

/// What a log entry carries: the leader's no-op (the model's value 0) or an opaque command.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Payload {
    /// Appended by a new leader so that it can commit entries of earlier terms (Figure 8).
    Noop,
    /// An application command; the core never looks inside.
    Command(Vec<u8>),
}

impl Payload {
    /// Bytes this payload adds to a message, for the per-message size budget.
    pub fn size_bytes(&self) -> usize {
        match self {
            Payload::Noop => 1,
            Payload::Command(bytes) => 1 + bytes.len(),
        }
    }
}

/// One log entry: the term in which a leader created it, and its payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// Term of the leader that appended it.
    pub term: Term,
    /// What it carries.
    pub payload: Payload,
}

impl Entry {
    /// An entry with a command payload.
    pub fn command(term: Term, bytes: Vec<u8>) -> Self {
        Entry {
            term,
            payload: Payload::Command(bytes),
        }
    }

    /// The no-op entry of a new leader.
    pub fn noop(term: Term) -> Self {
        Entry {
            term,
            payload: Payload::Noop,
        }
    }
}

/// Where a log starts: the index and term of the entry just before its first one (both 0 for a
/// log from the beginning). After compaction, the entries up to `index` are in a snapshot, and
/// `term` is still known for the log check at `index`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogBase {
    /// Last index no longer in the log.
    pub index: LogIndex,
    /// Its term.
    pub term: Term,
}

/// A snapshot (Raft §7, Figure 13): the state machine after applying every entry up to
/// `last_index`, whose term is `last_term`; `data` is the state machine's own encoding, opaque
/// to the core.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// Last index it covers.
    pub last_index: LogIndex,
    /// Term of that entry.
    pub last_term: Term,
    /// The serialized state machine.
    pub data: Vec<u8>,
}

impl Snapshot {
    /// Where a log that holds nothing before this snapshot's end starts.
    pub fn base(&self) -> LogBase {
        LogBase {
            index: self.last_index,
            term: self.last_term,
        }
    }
}

impl fmt::Debug for Snapshot {
    /// Sizes, not contents: a snapshot's data can be megabytes, and commands are traced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("last_index", &self.last_index)
            .field("last_term", &self.last_term)
            .field("data_bytes", &self.data.len())
            .finish()
    }
}
