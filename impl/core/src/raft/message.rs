//! Raft's messages, with exactly the fields of `docs/protocols/raft.md` § Messages: Figure 2's
//! four, the two of PreVote (§ PreVote and CheckQuorum), and Figure 13's `InstallSnapshot`
//! (§ Snapshots and log compaction), sent whole: a transport splits it if it exceeds a frame.
//!
//! The sender and receiver travel in the envelope (`Event::Message::from`, `Command::Send::to`).

use crate::types::{Entry, LogIndex, Snapshot, Term};
use serde::{Deserialize, Serialize};
use std::fmt;

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
        /// The leader's current read-confirmation round (raft.read.round).
        round: u64,
    },
    /// The answer to `AppendEntries`.
    AppendEntriesResponse {
        /// The follower's current term.
        term: Term,
        /// Whether the log check passed.
        success: bool,
        /// On success `prev_log_index + len(entries)`, else 0.
        match_index: LogIndex,
        /// The `round` of the `AppendEntries` answered; 0 when answering a smaller term.
        round: u64,
    },
    /// With PreVote: could the sender win an election in `term`? Binds no one.
    PreVote {
        /// The term the sender would stand in: its current term + 1.
        term: Term,
        /// Term of the sender's last log entry (0 for an empty log).
        last_log_term: Term,
        /// Length of the sender's log.
        last_log_index: LogIndex,
    },
    /// The answer to `PreVote`.
    PreVoteResponse {
        /// A grant carries the PreVote's term; a refusal carries the voter's current term.
        term: Term,
        /// Whether the pre-vote was granted.
        granted: bool,
    },
    /// raft.read.forward: a follower asks its leader for a read index for reads it received.
    ReadIndex {
        /// The follower's current term.
        term: Term,
        /// The follower's name for this request, echoed in the response.
        ctx: u64,
    },
    /// The answer to `ReadIndex`, once the leader has confirmed a round started for it.
    ReadIndexResponse {
        /// The leader's current term.
        term: Term,
        /// The request's `ctx`.
        ctx: u64,
        /// The read index, or `None`: the receiver is not the leader of that term.
        read_index: Option<LogIndex>,
    },
    /// A leader sends its snapshot to a follower whose next entries it no longer holds
    /// (raft.snapshot.send). Answered with an `AppendEntriesResponse` (raft.snapshot.install).
    InstallSnapshot {
        /// The leader's term.
        term: Term,
        /// The snapshot: `last_index`, `last_term` and the state machine's encoding.
        snapshot: Snapshot,
    },
}

impl Message {
    /// The term every Raft message carries.
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote { term, .. }
            | Message::RequestVoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesResponse { term, .. }
            | Message::PreVote { term, .. }
            | Message::PreVoteResponse { term, .. }
            | Message::ReadIndex { term, .. }
            | Message::ReadIndexResponse { term, .. }
            | Message::InstallSnapshot { term, .. } => *term,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::RequestVote { .. } => "RequestVote",
            Message::RequestVoteResponse { .. } => "RequestVoteResponse",
            Message::AppendEntries { .. } => "AppendEntries",
            Message::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            Message::PreVote { .. } => "PreVote",
            Message::PreVoteResponse { .. } => "PreVoteResponse",
            Message::ReadIndex { .. } => "ReadIndex",
            Message::ReadIndexResponse { .. } => "ReadIndexResponse",
            Message::InstallSnapshot { .. } => "InstallSnapshot",
        }
    }
}

/// Limits of [`Message::validate`]: what a correct peer can send, far from where arithmetic on
/// the values could overflow.
impl Message {
    /// Largest term a message may carry (2^62): real terms grow by one per election, and a core
    /// computes `term + 1`, which must never overflow whatever a peer announced.
    pub const MAX_TERM: Term = Term(1 << 62);
    /// Largest log index a message may name (2^62): the receiver adds the entry count and 1 to
    /// indices, which must never overflow.
    pub const MAX_INDEX: LogIndex = LogIndex(1 << 62);
    /// Most entries one `AppendEntries` may carry (65,536): bounds the work one message causes;
    /// a node's 256 KiB append budget (at least 17 bytes an entry) fits about 15,000.
    pub const MAX_ENTRIES: usize = 1 << 16;

    /// Checks what can be checked without the receiver's state: every term within
    /// [`Message::MAX_TERM`], every index within [`Message::MAX_INDEX`] (`prev_log_index +
    /// entries.len()` included), at most [`Message::MAX_ENTRIES`] entries, and the relations
    /// every correct sender keeps: the empty prefix (index 0) has term 0, terms in a log never
    /// decrease and never exceed the sender's term, and `commit <= prev_log_index +
    /// len(entries)`. A transport refuses a message that fails: it did not come from a correct
    /// server.
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        let check = Check { kind: self.kind() };
        match self {
            Message::RequestVote {
                term,
                last_log_term,
                last_log_index,
            }
            | Message::PreVote {
                term,
                last_log_term,
                last_log_index,
            } => {
                check.term("term", *term)?;
                check.term("last_log_term", *last_log_term)?;
                check.index("last_log_index", last_log_index.0)?;
                check.empty_prefix("last_log_term", *last_log_index, *last_log_term)?;
                check.not_above("last_log_term", last_log_term.0, "term", term.0)
            }
            Message::RequestVoteResponse { term, .. } | Message::PreVoteResponse { term, .. } => {
                check.term("term", *term)
            }
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                commit,
                ..
            } => {
                check.term("term", *term)?;
                check.term("prev_log_term", *prev_log_term)?;
                check.index("prev_log_index", prev_log_index.0)?;
                check.index("commit", commit.0)?;
                if entries.len() > Message::MAX_ENTRIES {
                    return Err(check.fail(
                        "entries.len()",
                        entries.len() as u64,
                        format!("above MAX_ENTRIES {}", Message::MAX_ENTRIES),
                    ));
                }
                // Both operands are at most 2^62, so the sum cannot overflow.
                let last = prev_log_index.0 + entries.len() as u64;
                check.index("prev_log_index + entries.len()", last)?;
                check.not_above("commit", commit.0, "prev_log_index + entries.len()", last)?;
                check.empty_prefix("prev_log_term", *prev_log_index, *prev_log_term)?;
                let mut previous = ("prev_log_term".to_string(), prev_log_term.0);
                for (k, entry) in entries.iter().enumerate() {
                    let field = format!("entries[{k}].term");
                    check.not_above(&previous.0, previous.1, &field, entry.term.0)?;
                    previous = (field, entry.term.0);
                }
                check.not_above(&previous.0, previous.1, "term", term.0)
            }
            Message::AppendEntriesResponse {
                term, match_index, ..
            } => {
                check.term("term", *term)?;
                check.index("match_index", match_index.0)
            }
            Message::ReadIndex { term, .. } => check.term("term", *term),
            Message::ReadIndexResponse {
                term, read_index, ..
            } => {
                check.term("term", *term)?;
                check.index("read_index", read_index.map_or(0, |i| i.0))
            }
            Message::InstallSnapshot { term, snapshot } => {
                check.term("term", *term)?;
                check.term("last_term", snapshot.last_term)?;
                check.index("last_index", snapshot.last_index.0)?;
                check.empty_prefix("last_term", snapshot.last_index, snapshot.last_term)?;
                check.not_above("last_term", snapshot.last_term.0, "term", term.0)
            }
        }
    }
}

/// Why [`Message::validate`] refused a message: which field, its value, and the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMessage {
    /// The message's kind (`RequestVote`, ...).
    pub kind: &'static str,
    /// The offending field (`term`, `entries[3].term`, `prev_log_index + entries.len()`, ...).
    pub field: String,
    /// Its value.
    pub value: u64,
    /// The rule it breaks.
    pub rule: String,
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} = {}: {}",
            self.kind, self.field, self.value, self.rule
        )
    }
}

impl std::error::Error for InvalidMessage {}

/// The rules of [`Message::validate`], for one message kind.
struct Check {
    kind: &'static str,
}

impl Check {
    fn fail(&self, field: &str, value: u64, rule: String) -> InvalidMessage {
        InvalidMessage {
            kind: self.kind,
            field: field.to_owned(),
            value,
            rule,
        }
    }

    fn term(&self, field: &str, term: Term) -> Result<(), InvalidMessage> {
        if term > Message::MAX_TERM {
            return Err(self.fail(
                field,
                term.0,
                format!("above MAX_TERM {}", Message::MAX_TERM),
            ));
        }
        Ok(())
    }

    fn index(&self, field: &str, index: u64) -> Result<(), InvalidMessage> {
        if index > Message::MAX_INDEX.0 {
            return Err(self.fail(
                field,
                index,
                format!("above MAX_INDEX {}", Message::MAX_INDEX),
            ));
        }
        Ok(())
    }

    /// `field <= bound_field`: a relation every correct sender keeps.
    fn not_above(
        &self,
        field: &str,
        value: u64,
        bound_field: &str,
        bound: u64,
    ) -> Result<(), InvalidMessage> {
        if value > bound {
            return Err(self.fail(field, value, format!("above {bound_field} {bound}")));
        }
        Ok(())
    }

    /// The empty prefix of a log (index 0) has term 0.
    fn empty_prefix(&self, field: &str, index: LogIndex, term: Term) -> Result<(), InvalidMessage> {
        if index.0 == 0 && term.0 != 0 {
            return Err(self.fail(field, term.0, "not 0 at index 0 (the empty prefix)".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    fn append_entries(term: u64, prev: (u64, u64), entry_terms: &[u64], commit: u64) -> Message {
        Message::AppendEntries {
            term: Term(term),
            prev_log_index: LogIndex(prev.0),
            prev_log_term: Term(prev.1),
            entries: entry_terms.iter().map(|&t| Entry::noop(Term(t))).collect(),
            commit: LogIndex(commit),
            round: 0,
        }
    }

    fn refusal(msg: &Message) -> String {
        msg.validate().expect_err("must be refused").to_string()
    }

    #[test]
    fn what_correct_servers_send_is_accepted() {
        let ok = [
            Message::RequestVote {
                term: Term(1),
                last_log_term: Term(0),
                last_log_index: LogIndex(0),
            },
            Message::PreVote {
                term: Message::MAX_TERM,
                last_log_term: Message::MAX_TERM,
                last_log_index: Message::MAX_INDEX,
            },
            Message::RequestVoteResponse {
                term: Message::MAX_TERM,
                granted: true,
            },
            append_entries(3, (0, 0), &[], 0),
            append_entries(5, (4, 2), &[2, 3, 3, 5], 8),
            append_entries(
                7,
                (Message::MAX_INDEX.0 - 2, 7),
                &[7, 7],
                Message::MAX_INDEX.0,
            ),
            Message::AppendEntriesResponse {
                term: Term(9),
                success: true,
                match_index: Message::MAX_INDEX,
                round: 0,
            },
            Message::InstallSnapshot {
                term: Term(4),
                snapshot: Snapshot {
                    last_index: LogIndex(7),
                    last_term: Term(4),
                    data: vec![1, 2, 3],
                },
            },
        ];
        for msg in ok {
            assert_eq!(msg.validate(), Ok(()), "{msg:?}");
        }
    }

    /// The fault probe's message: persisting this term made the next election overflow.
    #[test]
    fn a_term_near_overflow_is_refused_naming_field_and_value() {
        let msg = Message::RequestVote {
            term: Term(u64::MAX),
            last_log_term: Term(0),
            last_log_index: LogIndex(0),
        };
        assert_eq!(
            refusal(&msg),
            "RequestVote.term = 18446744073709551615: above MAX_TERM 4611686018427387904"
        );
    }

    #[test]
    fn every_bound_and_relation_is_checked() {
        let big = Message::MAX_INDEX.0 + 1;
        let cases = [
            (
                Message::RequestVote {
                    term: Term(3),
                    last_log_term: Term(2),
                    last_log_index: LogIndex(big),
                },
                "RequestVote.last_log_index = 4611686018427387905: above MAX_INDEX",
            ),
            (
                Message::RequestVote {
                    term: Term(3),
                    last_log_term: Term(4),
                    last_log_index: LogIndex(1),
                },
                "RequestVote.last_log_term = 4: above term 3",
            ),
            (
                Message::PreVote {
                    term: Term(3),
                    last_log_term: Term(1),
                    last_log_index: LogIndex(0),
                },
                "PreVote.last_log_term = 1: not 0 at index 0",
            ),
            (
                Message::PreVoteResponse {
                    term: Term(u64::MAX),
                    granted: false,
                },
                "PreVoteResponse.term = 18446744073709551615: above MAX_TERM",
            ),
            (
                append_entries(2, (big, 1), &[], 0),
                "AppendEntries.prev_log_index = 4611686018427387905: above MAX_INDEX",
            ),
            (
                append_entries(2, (Message::MAX_INDEX.0, 1), &[2], 0),
                "AppendEntries.prev_log_index + entries.len() = 4611686018427387905: above MAX_INDEX",
            ),
            (
                append_entries(2, (1, 1), &[2], big),
                "AppendEntries.commit = 4611686018427387905: above MAX_INDEX",
            ),
            (
                append_entries(2, (1, 1), &[2], 3),
                "AppendEntries.commit = 3: above prev_log_index + entries.len() 2",
            ),
            (
                append_entries(2, (0, 1), &[], 0),
                "AppendEntries.prev_log_term = 1: not 0 at index 0",
            ),
            (
                append_entries(4, (1, 3), &[2], 0),
                "AppendEntries.prev_log_term = 3: above entries[0].term 2",
            ),
            (
                append_entries(4, (1, 1), &[2, 3, 2], 0),
                "AppendEntries.entries[1].term = 3: above entries[2].term 2",
            ),
            (
                append_entries(4, (1, 1), &[2, 5], 0),
                "AppendEntries.entries[1].term = 5: above term 4",
            ),
            (
                append_entries(u64::MAX, (1, 1), &[], 0),
                "AppendEntries.term = 18446744073709551615: above MAX_TERM",
            ),
            (
                Message::AppendEntriesResponse {
                    term: Term(1),
                    success: true,
                    match_index: LogIndex(u64::MAX),
                    round: 0,
                },
                "AppendEntriesResponse.match_index = 18446744073709551615: above MAX_INDEX",
            ),
            (
                Message::InstallSnapshot {
                    term: Term(2),
                    snapshot: Snapshot {
                        last_index: LogIndex(5),
                        last_term: Term(3),
                        data: Vec::new(),
                    },
                },
                "InstallSnapshot.last_term = 3: above term 2",
            ),
            (
                Message::InstallSnapshot {
                    term: Term(2),
                    snapshot: Snapshot {
                        last_index: LogIndex(big),
                        last_term: Term(1),
                        data: Vec::new(),
                    },
                },
                "InstallSnapshot.last_index = 4611686018427387905: above MAX_INDEX",
            ),
        ];
        for (msg, expected) in cases {
            let text = refusal(&msg);
            assert!(
                text.starts_with(expected),
                "{text:?} does not start with {expected:?}"
            );
        }
        let too_many = vec![1; Message::MAX_ENTRIES + 1];
        assert!(refusal(&append_entries(1, (0, 0), &too_many, 0))
            .starts_with("AppendEntries.entries.len() = 65537: above MAX_ENTRIES 65536"));
    }
}
