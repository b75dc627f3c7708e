//! The rules of docs/protocols/raft.md as coverage points (see [`crate::coverage`]): one constant
//! per rule id and per guard. The model functions that implement a rule cite its id and call
//! `coverage::fire` / `coverage::guard` with these constants.
//!
//! Rules marked "implementation only" in the contract (raft.prevote.leader-lost,
//! raft.read.forward, raft.read.lease, flow control, batching) have no model counterpart and no
//! entry here.

crate::rules! {
    family: Raft;
    TERM_ADOPT = "raft.term.adopt" {
        /// The message's term is greater than the receiver's.
        TERM_NEWER = "newer",
    }
    ELECTION_TIMEOUT = "raft.election.timeout" {
        /// The candidate's own vote is a majority (one server): it leads at once.
        ELECTION_SELF_MAJORITY = quorum "self-majority",
    }
    VOTE_GRANT = "raft.vote.grant" {
        /// The request is of the receiver's current term (after any adoption).
        VOTE_CURRENT_TERM = "current-term",
        /// `voted_for` is none or the candidate.
        VOTE_FREE = "voted-for",
        /// The up-to-date check's term half: the candidate's last log term is at least mine.
        VOTE_LOG_TERM = "log-term",
        /// The up-to-date check's index half: a greater last term, or the same and a log at least
        /// as long.
        VOTE_LOG_INDEX = "log-index",
    }
    VOTE_COUNT = "raft.vote.count" {
        /// The receiver is (still) a candidate.
        VOTE_CANDIDATE = "candidate",
        /// The grants are a majority: the candidate becomes leader.
        VOTE_MAJORITY = quorum "majority",
    }
    APPEND_SEND = "raft.append.send" {
        /// The leader's commit index is within what the message proves shared (else it is
        /// clamped to `prev_log_index + len(entries)`).
        APPEND_COMMIT_BOUND = "commit-bound",
    }
    APPEND_RECEIVE = "raft.append.receive" {
        /// The message's term is not below the receiver's (else a stale rejection).
        APPEND_CURRENT_TERM = "current-term",
    }
    APPEND_LOG_CHECK = "raft.append.log-check" {
        /// The log holds `prev_log_index` with `prev_log_term`.
        APPEND_PREV_MATCH = "prev-match",
    }
    APPEND_ENTRIES = "raft.append.entries" {
        /// An entry already in the log has a different term: truncate there and append.
        APPEND_CONFLICT = "conflict",
    }
    APPEND_COMMIT = "raft.append.commit" {
        /// `min(message.commit, length)` is above the follower's commit index: it advances.
        APPEND_COMMIT_ADVANCE = "advance",
    }
    APPEND_RESPONSE = "raft.append.response" {
        /// The receiver is (still) the leader of the response's term.
        RESPONSE_LEADER = "leader",
        /// A success's `match_index` is not below `match_index[j]`: it is taken (the max).
        RESPONSE_MATCH_MAX = "match-max",
        /// A success's `match_index + 1` is not below `next_index[j]`: it is taken (the max).
        RESPONSE_NEXT_MAX = "next-max",
        /// After a success the follower is still behind: AppendEntries with entries follows.
        RESPONSE_BEHIND = "behind",
    }
    COMMIT_ADVANCE = "raft.commit.advance" {
        /// Index N is on a majority (the leader counting itself).
        COMMIT_MAJORITY = quorum "majority",
        /// The entry at N is of the leader's current term (Figure 8).
        COMMIT_CURRENT_TERM = "current-term",
    }
    CLIENT_REQUEST = "raft.client.request" {
        /// The server is a leader (the action's enabledness).
        CLIENT_LEADER = "leader",
    }
    PREVOTE_TIMEOUT = "raft.prevote.timeout" {
        /// The pre-candidate's own vote is a majority (one server): the real election at once.
        PREVOTE_SELF_MAJORITY = quorum "self-majority",
    }
    PREVOTE_GRANT = "raft.prevote.grant" {
        /// The receiver is not in lease (else the PreVote is ignored).
        PREVOTE_NOT_IN_LEASE = "not-in-lease",
        /// The proposed term is above the receiver's.
        PREVOTE_NEWER = "newer-term",
        /// The up-to-date check's term half.
        PREVOTE_LOG_TERM = "log-term",
        /// The up-to-date check's index half.
        PREVOTE_LOG_INDEX = "log-index",
    }
    PREVOTE_COUNT = "raft.prevote.count" {
        /// A grant of exactly `term + 1` at a pre-candidate.
        PREVOTE_COUNTED = "counted",
        /// The pre-votes are a majority: the real election starts.
        PREVOTE_MAJORITY = quorum "majority",
    }
    LEASE_IGNORE_VOTE = "raft.lease.ignore-vote" {
        /// A RequestVote of a newer term reaches a server not in lease (else it is ignored).
        LEASE_NOT_IN_LEASE = "not-in-lease",
    }
    CHECKQUORUM_STEP_DOWN = "raft.checkquorum.step-down" {
        /// The leader and the peers it heard from are a majority: it stays leader.
        CHECKQUORUM_MAJORITY = quorum "majority",
    }
    CHECKQUORUM_RECENT = "raft.checkquorum.recent" {
        /// The responding peer is not in `recent` yet: it is added.
        CHECKQUORUM_NEW_PEER = "new-peer",
    }
    PIPELINE_SEND = "raft.pipeline.send" {
        /// The AppendEntries carries entries: `next_index[j]` moves past them at once.
        PIPELINE_ENTRIES = "entries",
    }
    PIPELINE_HINT = "raft.pipeline.hint" {
        /// The entry at a candidate index `i < prev_log_index` has a term at most
        /// `prev_log_term`: the largest such `i` is the hint.
        PIPELINE_HINT_TERM = "term-at-most",
    }
    PIPELINE_REJECT = "raft.pipeline.reject" {
        /// Back to just after the hint stays above `match_index[j]` (else `match_index[j] + 1`).
        PIPELINE_ABOVE_MATCH = "above-match",
    }
    READ_START = "raft.read.start" {
        /// The commit index holds an entry of the leader's term (the read's enabledness).
        READ_TERM_COMMITTED = "term-committed",
        /// The leader alone is a majority (one server): the read is served at once.
        READ_SELF_MAJORITY = quorum "self-majority",
    }
    READ_ROUND = "raft.read.round" {
        /// An echoed round is above the highest the leader recorded for that peer: it is taken
        /// (`acked[j] = max(acked[j], round)`).
        READ_ECHO_MAX = "echo-max",
    }
    READ_CONFIRM = "raft.read.confirm" {
        /// A majority (the leader included) echoed the read's round.
        READ_MAJORITY = quorum "majority",
    }
    SNAPSHOT_TAKE = "raft.snapshot.take" {
        /// The commit index is past the snapshot (the action's enabledness).
        SNAPSHOT_NEW_COMMIT = "new-commit",
    }
    SNAPSHOT_SEND = "raft.snapshot.send" {
        /// `next_index[j]` is at or below the snapshot: the entries are gone, InstallSnapshot.
        SNAPSHOT_COMPACTED = "compacted",
    }
    SNAPSHOT_INSTALL = "raft.snapshot.install" {
        /// The snapshot is past the receiver's commit index (else nothing changes).
        INSTALL_BEYOND_COMMIT = "beyond-commit",
        /// The log holds `last_index` with `last_term`: the entries after it are kept (step 6).
        INSTALL_KEEP_TAIL = "keep-tail",
    }
    SNAPSHOT_LOG_CHECK = "raft.snapshot.log-check" {
        /// `prev_log_index` is below the snapshot: the log check passes.
        SNAPSHOT_BELOW = "below-snapshot",
    }
    // Last: `rules!` accepts one rule without guards, at the end (an empty guard list elsewhere
    // leaves two commas in a row in `CATALOGUE.guards`).
    READ_SERVE = "raft.read.serve" {}
}

/// Ablations of this catalogue that no property can tell from the real rule, with the argument.
/// Only ablations whose model is the real one step for step are listed: a survivor that changes
/// behaviour, however harmlessly, is a gap of the properties, not an equivalence.
/// Why an ablation that only changes `next_index` is invisible to every property: it changes
/// where the leader probes next, nothing else (`match_index` and the commit rule are untouched).
const NEXT_INDEX_ONLY: &str =
    "the ablated rule only chooses a different next_index for the peer, within \
     [1, last_index + 1]; Raft's safety holds for any such choice (Figure 2 and raft.tla let a \
     leader send from any index: the follower's prevLogTerm check accepts only a matching \
     prefix and its reply, not next_index, moves match_index), so every behaviour of the \
     ablated model is a Raft behaviour with other AppendEntries sent; the cost is re-sent or \
     extra probes (performance), which no safety property and no witness can observe";

pub static EQUIVALENT: &[crate::coverage::Equivalent] = &[
    crate::coverage::Equivalent {
        guard: "raft.snapshot.take/new-commit",
        ablation: crate::coverage::Ablation::Drop,
        reason: "where the guard is false (commit <= snapshot) the compaction it enables sets \
                 snapshot = max(snapshot, commit) = snapshot: the step leads back to the same \
                 state, so the reachable states and transitions between distinct states are \
                 the real ones",
    },
    crate::coverage::Equivalent {
        guard: "raft.checkquorum.recent/new-peer",
        ablation: crate::coverage::Ablation::Drop,
        reason: "where the guard is false the peer's bit is already in `recent`; setting it \
                 again changes nothing",
    },
    crate::coverage::Equivalent {
        guard: "raft.pipeline.send/entries",
        ablation: crate::coverage::Ablation::Drop,
        reason: "where the guard is false the AppendEntries is empty, so the pipelined \
                 next_index = prev_log_index + 0 + 1 is next_index itself (prev_log_index is \
                 next_index - 1): the assignment changes nothing",
    },
    crate::coverage::Equivalent {
        guard: "raft.append.response/next-max",
        ablation: crate::coverage::Ablation::Drop,
        reason: NEXT_INDEX_ONLY,
    },
    crate::coverage::Equivalent {
        guard: "raft.append.response/next-max",
        ablation: crate::coverage::Ablation::Invert,
        reason: NEXT_INDEX_ONLY,
    },
    crate::coverage::Equivalent {
        guard: "raft.pipeline.reject/above-match",
        ablation: crate::coverage::Ablation::Drop,
        reason: NEXT_INDEX_ONLY,
    },
    crate::coverage::Equivalent {
        guard: "raft.pipeline.reject/above-match",
        ablation: crate::coverage::Ablation::Invert,
        reason: NEXT_INDEX_ONLY,
    },
    crate::coverage::Equivalent {
        guard: "raft.pipeline.send/entries",
        ablation: crate::coverage::Ablation::Invert,
        reason: NEXT_INDEX_ONLY,
    },
    crate::coverage::Equivalent {
        guard: "raft.pipeline.hint/term-at-most",
        ablation: crate::coverage::Ablation::Drop,
        reason: NEXT_INDEX_ONLY,
    },
    crate::coverage::Equivalent {
        guard: "raft.pipeline.hint/term-at-most",
        ablation: crate::coverage::Ablation::Invert,
        reason: NEXT_INDEX_ONLY,
    },
];

/// Survivors of the CI profile that are not equivalent: behaviours the properties do not see
/// yet (docs/protocols/raft.md, "Survivors"), each with why. `ballot check raft --ablate`
/// reports them as known gaps and fails if one is killed.
pub static KNOWN_GAPS: &[crate::coverage::Equivalent] = &[
    gap("raft.prevote.grant/not-in-lease", Drop, PREVOTE_DISRUPTION),
    gap("raft.prevote.grant/newer-term", Drop, PREVOTE_DISRUPTION),
    gap("raft.prevote.grant/log-term", Drop, PREVOTE_DISRUPTION),
    gap("raft.prevote.grant/log-index", Drop, PREVOTE_DISRUPTION),
    gap("raft.lease.ignore-vote/not-in-lease", Drop, AVAILABILITY),
    gap("raft.checkquorum.step-down/majority", Drop, AVAILABILITY),
    gap("raft.checkquorum.step-down/majority", Invert, AVAILABILITY),
    gap(
        "raft.checkquorum.step-down/majority",
        QuorumBelow,
        AVAILABILITY,
    ),
    gap("raft.checkquorum.recent/new-peer", Invert, AVAILABILITY),
    gap(
        "raft.append.response/behind",
        Drop,
        "whether AppendEntries follows a success at once: a heartbeat or the next response \
         repairs the follower later, so only a timing (liveness) property could tell",
    ),
    gap(
        "raft.append.response/behind",
        Invert,
        "whether AppendEntries follows a success at once: a heartbeat or the next response \
         repairs the follower later, so only a timing (liveness) property could tell",
    ),
    gap(
        "raft.read.round/echo-max",
        Drop,
        "a response echoing an older round is taken as the newest: it reorders only on \
         unordered networks, and read_linearizable holds because any echoed round proves the \
         leadership that round asked about",
    ),
    gap(
        "raft.snapshot.install/beyond-commit",
        Drop,
        "an install at or below the follower's commit index: below it, it would lower the \
         commit index, which commit_never_decreases sees, but no configuration of the profile \
         reaches an InstallSnapshot below a follower's commit index (at it, the install \
         rewrites the same committed prefix)",
    ),
    gap(
        "raft.snapshot.install/keep-tail",
        Drop,
        "keeping a tail past a snapshot point whose term does not match needs a follower with \
         entries beyond a conflicting one at that point: three entries with a conflict inside, \
         which the snapshot configurations (two entries at most) never hold",
    ),
];

const fn gap(
    guard: &'static str,
    ablation: crate::coverage::Ablation,
    reason: &'static str,
) -> crate::coverage::Equivalent {
    crate::coverage::Equivalent {
        guard,
        ablation,
        reason,
    }
}

use crate::coverage::Ablation::{Drop, Invert, QuorumBelow};

const PREVOTE_DISRUPTION: &str =
    "a pre-vote granted too freely lets a server that cannot win raise the term (disruption): \
     the real vote still decides, so safety holds; a disruption property needs the voters' \
     state when they granted, which the model does not keep";
const AVAILABILITY: &str = "availability, not safety: a leader that steps down too late or too \
     early, or a server in lease that adopts a RequestVote's term; a witness would need timing";
