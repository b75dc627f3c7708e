//! Seeded historic bugs (reference raft_conformance_loom.md §2). Each is one changed rule inside
//! the model, switched on at run time; none is a copy of the model.

use serde::{Deserialize, Serialize};

use super::config::{InitServer, RaftConfig};
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
    /// PV1 (`--pre-vote`): a pre-candidate that wins the pre-vote leads the next term at once.
    PreVoteLeads,
    /// PL1 (`--pipeline`): a leader counts entries it has sent as replicated.
    PipelineCountsSent,
    /// PL2 (`--pipeline`): a leader takes a rejection's hint as proof of a matching prefix.
    HintAsMatch,
    /// RI1 (`--reads`): a leader serves a read without a round confirming it is still leader.
    ReadWithoutConfirm,
    /// RI2 (`--reads`): a leader serves reads before it has committed an entry of its term.
    ReadBeforeTermCommit,
    /// SN1 (`--snapshots`): a server compacts its whole log, past its commit index.
    CompactUncommitted,
    /// SN2 (`--snapshots`): InstallSnapshot discards the receiver's entries after the
    /// snapshot even where its entry at `last_index` matches (Figure 13 step 6 skipped).
    InstallDropsTail,
}

impl RaftMutant {
    pub const ALL: [RaftMutant; 18] = [
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
        RaftMutant::PreVoteLeads,
        RaftMutant::PipelineCountsSent,
        RaftMutant::HintAsMatch,
        RaftMutant::ReadWithoutConfirm,
        RaftMutant::ReadBeforeTermCommit,
        RaftMutant::CompactUncommitted,
        RaftMutant::InstallDropsTail,
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
            RaftMutant::PreVoteLeads => "pre-vote-leads",
            RaftMutant::PipelineCountsSent => "pipeline-counts-sent",
            RaftMutant::HintAsMatch => "hint-as-match",
            RaftMutant::ReadWithoutConfirm => "read-without-confirm",
            RaftMutant::ReadBeforeTermCommit => "read-before-term-commit",
            RaftMutant::CompactUncommitted => "compact-uncommitted",
            RaftMutant::InstallDropsTail => "install-drops-tail",
        }
    }

    /// Accepts the name or the catalogue id (`m1`..`m11`, `pv1`, `pl1`, `sn1`, ...).
    pub fn parse(s: &str) -> Option<RaftMutant> {
        let s = s.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s || m.info().id.eq_ignore_ascii_case(&s))
    }

    pub fn info(self) -> MutantEntry<RaftConfig> {
        use NetworkKind::{Ordered, Unordered, UnorderedDup};
        // The smallest bounds that expose each bug, from the CI defaults (3 servers, ordered
        // network, no no-op entry). Deep scenarios start from a reachable initial history
        // (`init`, documented with each) so that BFS reaches them in seconds.
        #[allow(clippy::too_many_arguments)]
        fn bounds(
            servers: u8,
            max_term: u8,
            max_log: u8,
            values: u8,
            max_candidates: u8,
            crashes: u8,
            network: NetworkKind,
            init: &str,
        ) -> RaftConfig {
            RaftConfig {
                servers,
                max_term,
                max_log,
                values,
                max_candidates,
                crashes,
                network,
                lossy: false,
                leader_noop: false,
                pre_vote: false,
                pipeline: false,
                reads: 0,
                snapshots: false,
                init: if init.is_empty() {
                    Vec::new()
                } else {
                    init.split(',')
                        .map(|s| InitServer::parse(s).expect("catalogue histories parse"))
                        .collect()
                },
                reductions: true,
                mutant: None,
            }
        }
        let (id, summary, breaks, precedent, bounds, shortest) = match self {
            // Figure 8 from (b): s0 led term 1 and appended v1; s2 led term 2 (s1's vote) and
            // appended v2; nothing was replicated. s0 now wins term 3, copies v1 to s1 and,
            // counting replicas, commits it; s2 wins term 4 with s1's vote (2 > 1) and holds v2.
            RaftMutant::CommitPreviousTerm => (
                "M1",
                "commit by counting replicas of an entry from an earlier term (Figure 8)",
                "leader_completeness",
                "Raft paper Fig. 8; PySyncObj #169 (SandTable)",
                bounds(3, 4, 1, 2, 1, 0, Ordered, "2/1v1,2/,2/2v2"),
                11,
            ),
            RaftMutant::VoteIgnoresLog => (
                "M2",
                "grant votes without the up-to-date log check",
                "leader_completeness",
                "raft-rs test_voter, test_leader_election_overwrite_newer_logs",
                bounds(3, 2, 1, 1, 1, 0, Ordered, ""),
                12,
            ),
            RaftMutant::VoteTwice => (
                "M3",
                "grant a vote to every candidate of the term, ignoring votedFor",
                "election_safety",
                "raft-rs test_follower_vote; DaosRaft",
                bounds(3, 1, 1, 1, 3, 0, Ordered, ""),
                6,
            ),
            RaftMutant::VolatileVote => (
                "M4",
                "votedFor not persisted: a restarted voter votes again in the same term",
                "election_safety",
                "akka-raft raft-56 (DEMi)",
                bounds(3, 1, 1, 1, 3, 1, Ordered, ""),
                8,
            ),
            RaftMutant::VolatileTerm => (
                "M5",
                "currentTerm not persisted: a restarted voter forgets its term and votes again",
                "election_safety",
                "WRaft (SandTable)",
                bounds(3, 1, 1, 1, 3, 1, Ordered, ""),
                8,
            ),
            RaftMutant::TruncateOnAppend => (
                "M6",
                "a follower truncates after prev on every AppendEntries, so a later one erases entries",
                "committed_on_majority",
                "akka-raft raft-66; RaftOS #26 (SandTable)",
                bounds(3, 1, 2, 2, 1, 0, Ordered, ""),
                10,
            ),
            RaftMutant::LeaderKeepsRole => (
                "M7",
                "a leader adopts a higher term but stays leader",
                "election_safety",
                "raft-rs test_leader_update_term_from_message",
                bounds(3, 2, 1, 1, 1, 0, Ordered, ""),
                7,
            ),
            // s2 led term 1, appended v1 and v2, and replicated only v1; v2 is a stale tail.
            RaftMutant::CommitPastMatch => (
                "M8",
                "heartbeats carry the full commit index, so a follower commits its stale tail",
                "state_machine_safety",
                "Raft paper Fig. 2, AppendEntries rule 5; etcd heartbeat commit = min(match, commit)",
                bounds(3, 2, 2, 3, 3, 0, Unordered, "1/1v1,1/1v1,1/1v1+1v2"),
                8,
            ),
            RaftMutant::AckLogLength => (
                "M9",
                "a follower acknowledges its whole log length, not what the message proved",
                "committed_on_majority",
                "SandTable's nextIndex/matchIndex bug class",
                bounds(3, 2, 2, 3, 3, 0, Unordered, "1/1v1,1/1v1,1/1v1+1v2"),
                6,
            ),
            RaftMutant::CountStaleVotes => (
                "M10",
                "a candidate counts vote grants sent for an earlier term",
                "election_safety",
                "raft.tla DropStaleResponse",
                bounds(3, 2, 1, 1, 3, 0, Ordered, ""),
                7,
            ),
            RaftMutant::CountDuplicateVotes => (
                "M11",
                "votes counted with a counter, not a set, so a duplicated grant counts twice",
                "election_safety",
                "akka-raft raft-45 (DEMi)",
                bounds(5, 1, 0, 0, 2, 0, UnorderedDup, ""),
                10,
            ),
            // With --pre-vote: s0 wins its pre-vote and leads term 1 at once; s2's pre-vote and
            // then its real election for term 1 succeed at s1, which never voted in term 1.
            RaftMutant::PreVoteLeads => (
                "PV1",
                "a pre-candidate that wins the pre-vote leads the next term without real votes",
                "election_safety",
                "Raft thesis §9.6 (PreVote must not change terms or votes)",
                RaftConfig {
                    pre_vote: true,
                    ..bounds(3, 1, 0, 0, 3, 0, Ordered, "")
                },
                6,
            ),
            // With --pipeline: s0 leads term 1 and appends v1; sending it to its peers counts
            // them as replicas, so v1 commits on the leader alone.
            RaftMutant::PipelineCountsSent => (
                "PL1",
                "a pipelining leader counts entries it has sent as replicated",
                "committed_on_majority",
                "etcd Progress: Match moves only on MsgAppResp, Next optimistically (raft/tracker)",
                RaftConfig {
                    pipeline: true,
                    ..bounds(3, 1, 1, 1, 3, 0, Ordered, "")
                },
                4,
            ),
            // With --pipeline: s0 appended v1 in term 1 and crashes; s1 wins term 2 and appends
            // its no-op and v2, advancing next_index[s0] past both though s0 is down. s0
            // restarts, refuses s1's heartbeat (prev 2) with hint 1, and s1 takes that as s0
            // holding its no-op at index 1: committed on s1 and s0, held by s1 alone.
            RaftMutant::HintAsMatch => (
                "PL2",
                "a leader takes a rejection's hint as proof that the follower's log matches",
                "committed_on_majority",
                "Raft paper §5.3 (the hint only says where to probe next); etcd findConflictByTerm",
                RaftConfig {
                    pipeline: true,
                    leader_noop: true,
                    ..bounds(3, 2, 1, 2, 1, 1, Ordered, "1/1v1,1/,1/")
                },
                9,
            ),
            // With --reads: s0 leads term 1 and commits its no-op with s1; s1 wins term 2 with
            // s2's vote and commits its own no-op with s2. s0 has heard nothing of term 2 and
            // serves a read at index 1, missing index 2.
            RaftMutant::ReadWithoutConfirm => (
                "RI1",
                "a leader serves a read at once, without confirming it is still leader",
                "read_linearizable",
                "Raft thesis §6.4 step 3; etcd ReadOnlySafe vs. a lease without CheckQuorum",
                RaftConfig {
                    leader_noop: true,
                    reads: 1,
                    ..bounds(3, 2, 0, 0, 1, 0, Ordered, "")
                },
                13,
            ),
            // With --reads: s0 leads term 1 and commits its no-op with s1, which has not yet
            // heard the commit; s1 wins term 2 and, before committing anything of its term,
            // serves a read at its commit index 0.
            RaftMutant::ReadBeforeTermCommit => (
                "RI2",
                "a new leader serves reads before committing an entry of its term",
                "read_linearizable",
                "Raft thesis §6.4 step 1 (the no-op); etcd committedEntryInCurrentTerm",
                RaftConfig {
                    leader_noop: true,
                    reads: 1,
                    ..bounds(3, 2, 0, 0, 1, 0, Ordered, "")
                },
                13,
            ),
            // With --snapshots: s0 leads term 1, appends v1 and compacts it into its snapshot
            // before anyone acknowledged it; it crashes and restarts, and its commit index
            // starts at the snapshot: v1 is committed on s0 alone.
            RaftMutant::CompactUncommitted => (
                "SN1",
                "a server compacts its log past its commit index, so a snapshot holds uncommitted entries",
                "committed_on_majority",
                "Raft paper §7 (each server snapshots only its committed entries)",
                RaftConfig {
                    snapshots: true,
                    ..bounds(3, 1, 1, 1, 3, 1, Ordered, "")
                },
                7,
            ),
            // With --snapshots, from three logs holding an uncommitted 1v1: s0 wins term 2,
            // appends its no-op and v2; s1 acknowledges the no-op, s0 commits and compacts to 2;
            // s2 takes [1v1 noop v2] (commit 0), then the InstallSnapshot a heartbeat sent for
            // index 2 throws v2 away; its earlier acknowledgement of 3 commits v2 on s0 alone.
            RaftMutant::InstallDropsTail => (
                "SN2",
                "InstallSnapshot discards the entries after a matching snapshot (Figure 13 step 6 skipped)",
                "committed_on_majority",
                "Raft paper Fig. 13, InstallSnapshot receiver step 6 (retain the entries following the snapshot)",
                RaftConfig {
                    snapshots: true,
                    leader_noop: true,
                    ..bounds(3, 2, 2, 2, 1, 0, Ordered, "1/1v1,1/1v1,1/1v1")
                },
                15,
            ),
        };
        MutantEntry {
            name: self.name(),
            id,
            summary,
            breaks,
            precedent,
            bounds: RaftConfig {
                mutant: Some(self),
                ..bounds
            },
            shortest,
        }
    }
}
