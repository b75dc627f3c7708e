//! Raft's nouns: server ids, terms, log indices, entries, roles and messages.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

/// Largest cluster the model supports.
pub const MAX_SERVERS: usize = 5;
/// Longest log the model supports (client entries plus leaders' no-op entries).
pub const MAX_LOG: usize = 8;

macro_rules! small_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u8);
    };
}

small_id!(
    /// A server, numbered from 0.
    ServerId
);
small_id!(
    /// A Raft term. Servers start in term 0; the first election is term 1.
    Term
);
small_id!(
    /// A position in the log, from 1; 0 is the empty prefix.
    LogIndex
);
small_id!(
    /// A client value. 0 is the no-op entry a new leader appends.
    Value
);

impl ServerId {
    pub fn ix(self) -> usize {
        self.0 as usize
    }
    pub fn bit(self) -> u8 {
        1 << self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

impl Value {
    pub const NOOP: Value = Value(0);
}

/// One log entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub value: Value,
}

impl Entry {
    fn packed(self) -> u16 {
        u16::from_be_bytes([self.term.0, self.value.0])
    }
}

// Hashing is the checker's inner loop: one write per entry, not one per field.
impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u16(self.packed());
    }

    fn hash_slice<H: Hasher>(data: &[Self], state: &mut H) {
        let mut word = 0u64;
        for chunk in data.chunks(4) {
            for e in chunk {
                word = (word << 16) | e.packed() as u64;
            }
            state.write_u64(word);
            word = 0;
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value == Value::NOOP {
            write!(f, "{}:noop", self.term.0)
        } else {
            write!(f, "{}:v{}", self.term.0, self.value.0)
        }
    }
}

/// A log, or a run of entries in a message. Fixed capacity: no heap allocation per state.
pub type Entries = crate::copyvec::CopyVec<Entry, MAX_LOG>;

pub(crate) fn fmt_entries(entries: &Entries) -> String {
    let inner: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    format!("[{}]", inner.join(" "))
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Follower,
    Candidate,
    Leader,
    /// With `--pre-vote`: asking whether it could win before raising its term (last, so that
    /// the order of the other roles, which symmetry reduction sorts by, is unchanged).
    PreCandidate,
}

fn is_zero(round: &u8) -> bool {
    *round == 0
}

fn fmt_round(round: u8) -> String {
    if round == 0 {
        String::new()
    } else {
        format!(", round {round}")
    }
}

/// Raft's four messages (Figure 2). Sender and receiver travel on the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Msg {
    RequestVote {
        term: Term,
        last_log_term: Term,
        last_log_index: LogIndex,
    },
    RequestVoteResponse {
        term: Term,
        granted: bool,
    },
    AppendEntries {
        term: Term,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Entries,
        commit: LogIndex,
        /// `--reads`: the leader's current confirmation round (raft.read.round); 0 otherwise.
        #[serde(default, skip_serializing_if = "is_zero")]
        round: u8,
    },
    AppendEntriesResponse {
        term: Term,
        success: bool,
        match_index: LogIndex,
        /// The `round` of the AppendEntries answered (raft.read.round); 0 for a smaller term.
        #[serde(default, skip_serializing_if = "is_zero")]
        round: u8,
    },
    /// With `--pre-vote`: could the sender win an election in `term` (its term + 1)?
    PreVote {
        term: Term,
        last_log_term: Term,
        last_log_index: LogIndex,
    },
    /// A grant carries the PreVote's `term`; a refusal carries the refuser's own term.
    PreVoteResponse {
        term: Term,
        granted: bool,
    },
    /// With `--snapshots` (raft.snapshot.send): the leader's snapshot, sent where the entries an
    /// AppendEntries needs are compacted away. `entries` is the prefix `1..=last_index` the
    /// snapshot holds: the model's image of the state machine (raft.md's `state`), so that the
    /// receiver's log keeps holding every entry the properties read. Last, so that the order of
    /// the other messages, which network queues and symmetry sort by, is unchanged.
    InstallSnapshot {
        term: Term,
        last_index: LogIndex,
        last_term: Term,
        entries: Entries,
    },
}

impl Msg {
    pub fn term(&self) -> Term {
        match *self {
            Msg::RequestVote { term, .. }
            | Msg::RequestVoteResponse { term, .. }
            | Msg::AppendEntries { term, .. }
            | Msg::AppendEntriesResponse { term, .. }
            | Msg::PreVote { term, .. }
            | Msg::PreVoteResponse { term, .. }
            | Msg::InstallSnapshot { term, .. } => term,
        }
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::RequestVote {
                term,
                last_log_term,
                last_log_index,
            } => write!(
                f,
                "RequestVote(t{}, last {}@{})",
                term.0, last_log_term.0, last_log_index.0
            ),
            Msg::RequestVoteResponse { term, granted } => write!(
                f,
                "RequestVoteResponse(t{}, {})",
                term.0,
                if *granted { "granted" } else { "denied" }
            ),
            Msg::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                commit,
                round,
            } => write!(
                f,
                "AppendEntries(t{}, prev {}@{}, {}, commit {}{})",
                term.0,
                prev_log_term.0,
                prev_log_index.0,
                fmt_entries(entries),
                commit.0,
                fmt_round(*round)
            ),
            Msg::AppendEntriesResponse {
                term,
                success,
                match_index,
                round,
            } => write!(
                f,
                "AppendEntriesResponse(t{}, {}, match {}{})",
                term.0,
                if *success { "ok" } else { "reject" },
                match_index.0,
                fmt_round(*round)
            ),
            Msg::PreVote {
                term,
                last_log_term,
                last_log_index,
            } => write!(
                f,
                "PreVote(t{}, last {}@{})",
                term.0, last_log_term.0, last_log_index.0
            ),
            Msg::PreVoteResponse { term, granted } => write!(
                f,
                "PreVoteResponse(t{}, {})",
                term.0,
                if *granted { "granted" } else { "denied" }
            ),
            Msg::InstallSnapshot {
                term,
                last_index,
                last_term,
                entries,
            } => write!(
                f,
                "InstallSnapshot(t{}, last {}@{}, {})",
                term.0,
                last_term.0,
                last_index.0,
                fmt_entries(entries)
            ),
        }
    }
}
