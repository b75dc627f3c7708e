//! Seeded implementation bugs ("implementation mutants") of `RaftCore`, for conformance tests.
//!
//! Each mutant is one changed rule of the core, marked `// MUTANT(name)` at its branch in
//! `core.rs`. The names are always compiled (a harness can list and parse them); the switch, the
//! `RaftConfig::mutant` field, exists only with the `impl-mutants` feature, so a release binary
//! cannot run a seeded bug. A conformance harness enables one mutant and must then observe a
//! difference from the model; a mutant it does not catch is a blind spot of the harness.

/// One seeded bug of the Raft core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImplMutant {
    /// A voter grants without the up-to-date log check.
    VoteIgnoresLog,
    /// A leader commits an earlier term's entry by counting replicas (Figure 8).
    CommitPreviousTerm,
    /// A granted vote is not written to disk, and its reply does not wait for it.
    VoteNotPersisted,
    /// Replies and RequestVotes leave before the `Persist` they depend on is acknowledged.
    ReplyBeforePersist,
    /// A follower replaces a conflicting entry but keeps the entries after it.
    KeepConflictingSuffix,
    /// `AppendEntries` carry the leader's whole commit index.
    CommitPastMatch,
    /// A candidate counts vote grants sent for an earlier term.
    CountStaleVotes,
    /// A follower acknowledges its whole log length.
    AckLogLength,
    /// A server answering a PreVote adopts its term, as if it were a RequestVote.
    PreVoteAdoptsTerm,
    /// With pipelining: a leader counts entries it has sent as replicated on that follower.
    PipelineCountsSent,
    /// With pipelining: a leader takes a rejection's hint as proof of a matching prefix.
    HintAsMatch,
    /// A leader serves a read at once, without a round confirming it is still leader
    /// (raft.read.confirm).
    ReadWithoutConfirm,
    /// An installed snapshot discards the log after it even where the entry at its last index
    /// matches (Figure 13 step 6 skipped; raft.snapshot.install).
    InstallDropsTail,
    /// An installed snapshot keeps the log after its last index even where the entry there has
    /// another term (Figure 13 step 7 skipped; raft.snapshot.install).
    InstallKeepsStaleTail,
}

impl ImplMutant {
    /// Every mutant, in declaration order.
    pub const ALL: [ImplMutant; 14] = [
        ImplMutant::VoteIgnoresLog,
        ImplMutant::CommitPreviousTerm,
        ImplMutant::VoteNotPersisted,
        ImplMutant::ReplyBeforePersist,
        ImplMutant::KeepConflictingSuffix,
        ImplMutant::CommitPastMatch,
        ImplMutant::CountStaleVotes,
        ImplMutant::AckLogLength,
        ImplMutant::PreVoteAdoptsTerm,
        ImplMutant::PipelineCountsSent,
        ImplMutant::HintAsMatch,
        ImplMutant::ReadWithoutConfirm,
        ImplMutant::InstallDropsTail,
        ImplMutant::InstallKeepsStaleTail,
    ];

    /// Kebab-case name, as on a command line and in `// MUTANT(name)` comments.
    pub fn name(self) -> &'static str {
        match self {
            ImplMutant::VoteIgnoresLog => "vote-ignores-log",
            ImplMutant::CommitPreviousTerm => "commit-previous-term",
            ImplMutant::VoteNotPersisted => "vote-not-persisted",
            ImplMutant::ReplyBeforePersist => "reply-before-persist",
            ImplMutant::KeepConflictingSuffix => "keep-conflicting-suffix",
            ImplMutant::CommitPastMatch => "commit-past-match",
            ImplMutant::CountStaleVotes => "count-stale-votes",
            ImplMutant::AckLogLength => "ack-log-length",
            ImplMutant::PreVoteAdoptsTerm => "pre-vote-adopts-term",
            ImplMutant::PipelineCountsSent => "pipeline-counts-sent",
            ImplMutant::HintAsMatch => "hint-as-match",
            ImplMutant::ReadWithoutConfirm => "read-without-confirm",
            ImplMutant::InstallDropsTail => "install-drops-tail",
            ImplMutant::InstallKeepsStaleTail => "install-keeps-stale-tail",
        }
    }

    /// The mutant named `s` (exactly as `name` spells it), if any.
    pub fn parse(s: &str) -> Option<ImplMutant> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// One line: what the bug does.
    pub fn summary(self) -> &'static str {
        match self {
            ImplMutant::VoteIgnoresLog => {
                "a voter grants a vote without checking that the candidate's log is up to date"
            }
            ImplMutant::CommitPreviousTerm => {
                "a leader commits an entry of an earlier term by counting replicas (Figure 8)"
            }
            ImplMutant::VoteNotPersisted => {
                "a granted vote is not persisted, so a restarted voter votes again in the same term"
            }
            ImplMutant::ReplyBeforePersist => {
                "messages leave before the term, vote or log entries they reveal are durable"
            }
            ImplMutant::KeepConflictingSuffix => {
                "a follower replaces a conflicting entry but keeps the stale entries after it"
            }
            ImplMutant::CommitPastMatch => {
                "AppendEntries carry the leader's full commit index, not min(commit, last entry sent)"
            }
            ImplMutant::CountStaleVotes => {
                "a candidate counts vote grants sent for an earlier term"
            }
            ImplMutant::AckLogLength => {
                "a follower acknowledges its whole log length, not prev_log_index + len(entries)"
            }
            ImplMutant::PreVoteAdoptsTerm => {
                "a server answering a PreVote adopts its term as if it were a RequestVote, so pre-votes raise terms"
            }
            ImplMutant::PipelineCountsSent => {
                "a pipelining leader counts entries it has sent as replicated, before any acknowledgement"
            }
            ImplMutant::HintAsMatch => {
                "a leader takes a rejection's hint as proof that the follower's log matches up to it"
            }
            ImplMutant::ReadWithoutConfirm => {
                "a leader serves a read at once, without a heartbeat round confirming it still leads"
            }
            ImplMutant::InstallDropsTail => {
                "an installed snapshot discards the entries after it even where its last entry matches"
            }
            ImplMutant::InstallKeepsStaleTail => {
                "an installed snapshot keeps the entries after it even where its last entry conflicts"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ImplMutant;
    use std::collections::BTreeSet;

    #[test]
    fn every_mutant_parses_from_its_unique_name() {
        for m in ImplMutant::ALL {
            assert_eq!(ImplMutant::parse(m.name()), Some(m));
            assert!(!m.summary().is_empty());
        }
        let names: BTreeSet<&str> = ImplMutant::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), ImplMutant::ALL.len());
        let all: BTreeSet<ImplMutant> = ImplMutant::ALL.into_iter().collect();
        assert_eq!(all.len(), ImplMutant::ALL.len());
        assert_eq!(ImplMutant::parse("no-such-mutant"), None);
    }
}
