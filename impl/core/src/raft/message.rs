//! Raft's four messages, with exactly the fields of `docs/protocols/raft.md` § Messages.
//!
//! The sender and receiver travel in the envelope (`Event::Message::from`, `Command::Send::to`).

use crate::types::{Entry, LogIndex, Term};
use serde::{Deserialize, Serialize};

/// A Raft message between servers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    /// A candidate asks for a vote.
    RequestVote {
        /// The candidate's term.
        term: Term,
        /// Term of the candidate's last log entry (0 for an empty log).
        last_log_term: Term,
        /// Length of the candidate's log.
        last_log_index: LogIndex,
    },
    /// The answer to `RequestVote`.
    RequestVoteResponse {
        /// The voter's current term.
        term: Term,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// A leader replicates entries (or none: a heartbeat) and its commit index.
    AppendEntries {
        /// The leader's term.
        term: Term,
        /// Index just before `entries`.
        prev_log_index: LogIndex,
        /// Term of the entry at `prev_log_index` (0 for index 0).
        prev_log_term: Term,
        /// Every entry from the follower's `next_index` to the end of the leader's log
        /// (bounded by the core's per-message budget), or none in a heartbeat.
        entries: Vec<Entry>,
        /// `min(leader commit, prev_log_index + len(entries))`.
        commit: LogIndex,
    },
    /// The answer to `AppendEntries`.
    AppendEntriesResponse {
        /// The follower's current term.
        term: Term,
        /// Whether the log check passed.
        success: bool,
        /// On success `prev_log_index + len(entries)`, else 0.
        match_index: LogIndex,
    },
}

impl Message {
    /// The term every Raft message carries.
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote { term, .. }
            | Message::RequestVoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesResponse { term, .. } => *term,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::RequestVote { .. } => "RequestVote",
            Message::RequestVoteResponse { .. } => "RequestVoteResponse",
            Message::AppendEntries { .. } => "AppendEntries",
            Message::AppendEntriesResponse { .. } => "AppendEntriesResponse",
        }
    }
}
