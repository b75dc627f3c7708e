//! The rules of docs/protocols/fle.md as coverage points (see [`crate::coverage`]): one constant
//! per rule id and per guard. The model functions that implement a rule cite its id and call
//! `coverage::fire` / `coverage::guard` with these constants.
//!
//! Polarity: a guard is true when the rule goes ahead with its main effect (the new vote wins,
//! the notification is handled, a reply is sent, the server decides). The vote-order guards are
//! true when the new vote succeeds the current one at that level of `(peerEpoch, zxid, sid)`.

crate::rules! {
    family: Fle;
    /// `totalOrderPredicate` (l.723): the first field that differs decides.
    VOTE_ORDER = "fle.vote.order" {
        ORDER_EPOCH = "epoch",
        ORDER_ZXID = "zxid",
        ORDER_SID = "sid",
    }
    /// `Vote.equals` as quorum counting uses it: every field if either vote is LOOKING; between
    /// two out-of-election votes `id` and `peerEpoch` (only `id` when exactly one has a version).
    VOTE_EQUALS = "fle.vote.equals" {
        EQUALS_LOOKING = "looking-all-fields",
        EQUALS_ID = "out-of-election-id",
        EQUALS_ID_EPOCH = "out-of-election-id-epoch",
    }
    /// The poll times out outside the finalize wait: the same notification again.
    NOTIFICATION_TIMEOUT = "fle.notification.timeout" {
        TIMEOUT_NOT_WAITING = "not-in-finalize-wait",
    }
    /// WorkerReceiver: a decided server answers a LOOKING peer with its current vote.
    REPLY_LOOKING_PEER = "fle.reply.looking-peer" {
        REPLY_PEER_IS_LOOKING = "peer-looking",
    }
    /// WorkerReceiver: a LOOKING server answers a LOOKING peer of an older round at once.
    REPLY_LOWER_ROUND = "fle.reply.lower-round" {
        LOWER_PEER_IS_LOOKING = "peer-looking",
        LOWER_ROUND_OLDER = "older-round",
    }
    /// The finalize wait: a vote that is not better is dropped; a better one ends the wait.
    FINALIZE_WAIT = "fle.decide.finalize-wait" {
        WAIT_BETTER = "better-vote",
    }
    /// A LOOKING notification of a newer round: clear recvset, adopt the better of it and the
    /// server's own vote, re-broadcast.
    NEWER_ROUND = "fle.notification.newer-round" {
        NEWER_IS_NEWER = "newer-round",
        NEWER_BETTER_THAN_OWN = "better-than-own",
    }
    /// A LOOKING notification of an older round is ignored by `lookForLeader`.
    OLDER_ROUND = "fle.notification.older-round" {
        OLDER_SAME_ROUND = "same-round",
    }
    /// A LOOKING notification of the same round: a better vote is adopted and re-broadcast.
    SAME_ROUND = "fle.notification.same-round" {
        SAME_BETTER = "better-vote",
    }
    /// `termPredicate`: a quorum of recvset agrees with the proposal: the finalize wait begins.
    DECIDE_QUORUM = "fle.decide.quorum" {
        DECIDE_HAS_QUORUM = quorum "quorum",
    }
    /// The finalize wait elapses with no better vote: decide for the proposal.
    DECIDE_FINALIZE = "fle.decide.finalize" {
        FINALIZE_IN_WAIT = "in-finalize-wait",
    }
    /// `setPeerState` and `leaveInstance`: LEADING if the end vote is for this server.
    DECIDE_LEAVE = "fle.decide.leave" {
        LEAVE_OWN_VOTE = "own-vote-leads",
    }
    /// `receivedFollowingNotification`, recvset branch: a FOLLOWING/LEADING vote of this round,
    /// a quorum and `checkLeader`.
    DECIDED_SAME_ROUND = "fle.decided.same-round" {
        DSR_ROUND = "same-round",
        DSR_QUORUM = quorum "quorum",
        DSR_LEADER_LEADING = "check-leader-leading",
    }
    /// `receivedFollowingNotification`, outofelection branch: FOLLOWING/LEADING votes of any
    /// round, a quorum and `checkLeader`; `logicalclock := n.electionEpoch`.
    OUTOFELECTION_JOIN = "fle.outofelection.join" {
        OOE_QUORUM = quorum "quorum",
        OOE_LEADER_LEADING = "check-leader-leading",
        OOE_OWN_ROUND = "check-leader-own-round",
    }
    /// QuorumCnxManager: a reconnect re-sends `lastMessageSent` on both sides, where it is not
    /// still in flight.
    NET_RECONNECT = "fle.net.reconnect" {
        RECONNECT_RESEND = "last-not-in-flight",
    }
    /// QuorumCnxManager: a restarted server's peers re-send what is queued or their last message.
    NET_RESTART = "fle.net.restart" {
        RESTART_RESEND = "peer-has-last",
    }
    /// ZAB abstracted: a decided server whose ZAB phase cannot succeed goes back to LOOKING.
    ZAB_GIVE_UP = "fle.zab.give-up" {
        GIVE_UP_STUCK = "zab-stuck",
    }
    /// `lookForLeader` starts: `logicalclock + 1`, vote for self, notify every voter (self
    /// included). No condition; last, because `rules!` accepts a rule without guards only there.
    ROUND_START = "fle.round.start" {}
}

use crate::coverage::{Ablation, Equivalent};

/// The ablations of this catalogue that no property can tell from the real rule, each with the
/// argument why (see docs/protocols/fle.md, "Rule ids and coverage").
///
/// The three below rest on one fact (LAST-MESSAGE): while a server is LOOKING, its
/// `lastMessageSent` on every connection is its current notification `(LOOKING, proposal,
/// logicalclock)`, because it broadcasts to every voter whenever its round or proposal changes
/// (`fle.round.start`, `fle.notification.newer-round`, `fle.notification.same-round`) and the only
/// other message it sends, the reply to an older round (`fle.reply.lower-round`), is that same
/// notification. Each ablation only adds sends, by a LOOKING server, of its current notification
/// to a peer: duplicates of its `lastMessageSent` on that connection, which ZooKeeper re-sends
/// whenever the connection is re-made (QuorumCnxManager's SendWorker; `fle.net.reconnect`), at
/// any moment. Every added behaviour is one ZooKeeper has and every behaviour of the real rule is
/// kept, so no property true of ZooKeeper's FLE can fail on the ablated model only.
pub static EQUIVALENT: &[Equivalent] = &[
    Equivalent {
        guard: "fle.notification.timeout/not-in-finalize-wait",
        ablation: Ablation::Drop,
        reason: "the poll timeout also fires in the finalize wait: it re-sends the server's \
                 unchanged notification (proposal and round are fixed during the wait) where \
                 that changes something, a duplicate of lastMessageSent (LAST-MESSAGE); the \
                 wait itself and its decision are untouched",
    },
    Equivalent {
        guard: "fle.reply.lower-round/peer-looking",
        ablation: Ablation::Drop,
        reason: "a LOOKING server also answers a FOLLOWING/LEADING notification of an older \
                 round with its notification as it was before handling it: a duplicate of \
                 lastMessageSent to that peer (LAST-MESSAGE), which a decided peer answers as \
                 after any reconnect; the handling of the notification is unchanged",
    },
    Equivalent {
        guard: "fle.reply.lower-round/older-round",
        ablation: Ablation::Drop,
        reason: "a LOOKING server also answers LOOKING notifications of its own or a newer \
                 round: where the notification makes it re-broadcast (a newer round, a better \
                 vote) the broadcast replaces the reply, exactly as before; otherwise the reply \
                 is its unchanged notification to the sender, a duplicate of lastMessageSent \
                 (LAST-MESSAGE); the replies to older rounds are kept",
    },
    Equivalent {
        guard: "fle.net.restart/peer-has-last",
        ablation: Ablation::Drop,
        reason: "a peer with no last message to the restarted server also marks its connection \
                 pending; a connection's message in flight is `last` filtered by `pending`, a \
                 send overwrites both, and a reconnect re-sends only a `last` that exists, so a \
                 pending flag without a message is never read: the same behaviours, on states \
                 that differ only in that flag",
    },
    Equivalent {
        guard: "fle.net.reconnect/last-not-in-flight",
        ablation: Ablation::Drop,
        reason: "a reconnect also 're-sends' a last message that is still in flight: it sets \
                 `pending`, which is already set, so the only added steps lead back to the same \
                 state (self-loops), which no safety property and no AG EF property can see",
    },
    Equivalent {
        guard: "fle.zab.give-up/zab-stuck",
        ablation: Ablation::Drop,
        reason: "any decided server may give up, not only one whose ZAB phase cannot succeed: \
                 `zab-stuck` is the model's bound on when ZAB fails, not a rule of FLE; \
                 ZooKeeper's leader and followers can leave ZAB in any state (a missed ping, a \
                 closed socket, an exception all return to LOOKING in the next round), so every \
                 added behaviour is one ZooKeeper has and every real one is kept",
    },
];

/// Survivors of the CI profile that are not equivalent: behaviours the properties do not see
/// yet (docs/protocols/fle.md, "real gaps"). `ballot check fle --ablate` reports them as known
/// gaps and fails if one is killed.
pub static KNOWN_GAPS: &[Equivalent] = &[
    Equivalent {
        guard: "fle.reply.lower-round/peer-looking",
        ablation: Ablation::Invert,
        reason: LOWER_ROUND_REPLY,
    },
    Equivalent {
        guard: "fle.reply.lower-round/older-round",
        ablation: Ablation::Invert,
        reason: LOWER_ROUND_REPLY,
    },
    Equivalent {
        guard: "fle.net.restart/peer-has-last",
        ablation: Ablation::Invert,
        reason: NO_RESEND,
    },
    Equivalent {
        guard: "fle.net.reconnect/last-not-in-flight",
        ablation: Ablation::Invert,
        reason: NO_RESEND,
    },
    Equivalent {
        guard: "fle.reply.looking-peer/peer-looking",
        ablation: Ablation::Drop,
        reason: "a decided server also answers FOLLOWING/LEADING peers: the answer replaces the \
                 sender's older message on that connection and the receiver ignores it while \
                 decided, so no property sees it (and it is not shown to be a ZooKeeper \
                 behaviour)",
    },
    Equivalent {
        guard: "fle.decide.finalize-wait/better-vote",
        ablation: Ablation::Drop,
        reason: FINALIZE_WAIT_GAP,
    },
    Equivalent {
        guard: "fle.decide.finalize-wait/better-vote",
        ablation: Ablation::Invert,
        reason: FINALIZE_WAIT_GAP,
    },
    Equivalent {
        guard: "fle.outofelection.join/check-leader-leading",
        ablation: Ablation::Drop,
        reason: "joining without the leader's own LEADING vote: with at most four servers a \
                 quorum of out-of-election votes for another server includes that server's own \
                 vote, which is LEADING; only five servers can tell (16 M states for one round \
                 without faults, beyond the CI budget)",
    },
    Equivalent {
        guard: "fle.outofelection.join/check-leader-own-round",
        ablation: Ablation::Drop,
        reason: OWN_ROUND,
    },
    Equivalent {
        guard: "fle.outofelection.join/check-leader-own-round",
        ablation: Ablation::Invert,
        reason: OWN_ROUND,
    },
];

const LOWER_ROUND_REPLY: &str =
    "no reply to a LOOKING peer of an older round: without loss the newer round's broadcast \
     always reaches that peer and a restart re-sends it; the reply matters under message loss, \
     where all_decide (liveness) is not checked";
const NO_RESEND: &str = "peers do not re-send their last message on a restart or reconnect: \
     that only removes duplicates and re-sends; liveness is not checked with crashes, and no \
     safety property may depend on duplicates";
const FINALIZE_WAIT_GAP: &str =
    "without time the finalize wait's length is a free choice, so the decision it guards is \
     already nondeterministic; FLE's safety does not rest on the wait (ZooKeeper can decide \
     before a better vote arrives), and only a timing property could see it";
const OWN_ROUND: &str = "a server leads on out-of-election votes for itself from another round: \
     the followers do follow it, so no property of the election fails; a property of ZAB's \
     epochs would be needed";
