//! Seeded historic bugs (reference raft_conformance_loom.md §2). Each is one changed rule inside
//! the model, switched on at run time; none is a copy of the model.

use serde::{Deserialize, Serialize};

use super::config::RaftConfig;
use crate::network::NetworkKind;
use crate::spec::MutantEntry;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RaftMutant {
    /// M1: the leader commits by counting replicas without `log[N].term == currentTerm`.
    CommitPreviousTerm,
    /// M2: a voter grants without the up-to-date log check (`logOk := TRUE`).
    VoteIgnoresLog,
    /// M3: a voter ignores `votedFor` and grants every candidate of its term.
    VoteTwice,
    /// M4: `votedFor` is not persisted: a restart forgets the vote.
    VolatileVote,
    /// M5: `currentTerm` is not persisted: a restart goes back to term 0.
    VolatileTerm,
    /// M6: a follower truncates its log after `prev` on every AppendEntries, not only on conflict.
    TruncateOnAppend,
    /// M7: a leader that sees a higher term adopts it but stays leader.
    LeaderKeepsRole,
    /// M8: AppendEntries carries the leader's full commit index, not `min(commit, last entry)`.
    CommitPastMatch,
    /// M9: a follower acknowledges with its log length instead of `prev + len(entries)`.
    AckLogLength,
    /// M10: a candidate counts vote grants from earlier terms.
    CountStaleVotes,
    /// M11: votes are counted with a counter, not a set, so a duplicated grant counts twice.
    CountDuplicateVotes,
}

impl RaftMutant {
    pub const ALL: [RaftMutant; 11] = [
        RaftMutant::CommitPreviousTerm,
        RaftMutant::VoteIgnoresLog,
        RaftMutant::VoteTwice,
        RaftMutant::VolatileVote,
        RaftMutant::VolatileTerm,
        RaftMutant::TruncateOnAppend,
        RaftMutant::LeaderKeepsRole,
        RaftMutant::CommitPastMatch,
        RaftMutant::AckLogLength,
        RaftMutant::CountStaleVotes,
        RaftMutant::CountDuplicateVotes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RaftMutant::CommitPreviousTerm => "commit-previous-term",
            RaftMutant::VoteIgnoresLog => "vote-ignores-log",
            RaftMutant::VoteTwice => "vote-twice",
            RaftMutant::VolatileVote => "volatile-vote",
            RaftMutant::VolatileTerm => "volatile-term",
            RaftMutant::TruncateOnAppend => "truncate-on-append",
            RaftMutant::LeaderKeepsRole => "leader-keeps-role",
            RaftMutant::CommitPastMatch => "commit-past-match",
            RaftMutant::AckLogLength => "ack-log-length",
            RaftMutant::CountStaleVotes => "count-stale-votes",
            RaftMutant::CountDuplicateVotes => "count-duplicate-votes",
        }
    }

    /// Accepts the name or the reference number (`m1`..`m11`).
    pub fn parse(s: &str) -> Option<RaftMutant> {
        let s = s.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s || m.info().id.eq_ignore_ascii_case(&s))
    }

    pub fn info(self) -> MutantEntry<RaftConfig> {
        let base = RaftConfig {
            mutant: Some(self),
            ..RaftConfig::default()
        };
        let (id, summary, breaks, precedent, bounds, shortest) = match self {
            RaftMutant::CommitPreviousTerm => (
                "M1",
                "commit by counting replicas of an entry from an earlier term (Figure 8)",
                "state_machine_safety",
                "Raft paper Fig. 8; PySyncObj #169 (SandTable)",
                RaftConfig {
                    max_term: 4,
                    max_log: 1,
                    values: 1,
                    crashes: 0,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::VoteIgnoresLog => (
                "M2",
                "grant votes without the up-to-date log check",
                "leader_completeness",
                "raft-rs test_voter",
                RaftConfig {
                    max_term: 2,
                    max_log: 1,
                    values: 1,
                    crashes: 0,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::VoteTwice => (
                "M3",
                "grant a vote to every candidate of the term, ignoring votedFor",
                "election_safety",
                "raft-rs test_follower_vote; DaosRaft",
                RaftConfig {
                    max_term: 1,
                    max_log: 0,
                    values: 0,
                    crashes: 0,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::VolatileVote => (
                "M4",
                "votedFor not persisted: a restarted voter votes again in the same term",
                "election_safety",
                "akka-raft raft-56 (DEMi)",
                RaftConfig {
                    max_term: 1,
                    max_log: 0,
                    values: 0,
                    crashes: 1,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::VolatileTerm => (
                "M5",
                "currentTerm not persisted: a restarted voter forgets its term and votes again",
                "election_safety",
                "WRaft (SandTable)",
                RaftConfig {
                    max_term: 1,
                    max_log: 0,
                    values: 0,
                    crashes: 1,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::TruncateOnAppend => (
                "M6",
                "a follower truncates after prev on every AppendEntries, so a delayed one erases entries",
                "committed_on_majority",
                "akka-raft raft-66; RaftOS #26 (SandTable)",
                RaftConfig {
                    max_term: 1,
                    max_log: 2,
                    values: 2,
                    crashes: 0,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::LeaderKeepsRole => (
                "M7",
                "a leader adopts a higher term but stays leader",
                "election_safety",
                "raft-rs test_leader_update_term_from_message",
                RaftConfig {
                    max_term: 2,
                    max_log: 0,
                    values: 0,
                    crashes: 0,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::CommitPastMatch => (
                "M8",
                "AppendEntries carries the full commit index, so a follower commits a stale entry",
                "state_machine_safety",
                "Raft paper Fig. 2, AppendEntries rule 5",
                RaftConfig {
                    max_term: 3,
                    max_log: 1,
                    values: 2,
                    crashes: 0,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::AckLogLength => (
                "M9",
                "a follower acknowledges its whole log length, not what the message proved",
                "committed_on_majority",
                "SandTable's nextIndex/matchIndex bug class",
                RaftConfig {
                    max_term: 3,
                    max_log: 1,
                    values: 2,
                    crashes: 0,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::CountStaleVotes => (
                "M10",
                "a candidate counts vote grants sent for an earlier term",
                "election_safety",
                "raft.tla DropStaleResponse",
                RaftConfig {
                    max_term: 2,
                    max_log: 0,
                    values: 0,
                    crashes: 0,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
            RaftMutant::CountDuplicateVotes => (
                "M11",
                "votes counted with a counter, so a duplicated grant counts twice",
                "election_safety",
                "akka-raft raft-45 (DEMi)",
                RaftConfig {
                    servers: 5,
                    max_term: 1,
                    max_log: 0,
                    values: 0,
                    crashes: 0,
                    network: NetworkKind::UnorderedDup,
                    leader_noop: false,
                    ..base
                },
                0,
            ),
        };
        MutantEntry {
            name: self.name(),
            id,
            summary,
            breaks,
            precedent,
            bounds,
            shortest,
        }
    }
}
