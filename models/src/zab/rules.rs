//! The rules of docs/protocols/zab.md as coverage points (see [`crate::coverage`]): one constant
//! per rule id and per guard. The model functions that implement a rule cite its id and call
//! `coverage::fire` / `coverage::guard` with these constants.
//!
//! A guard is `true` when its rule may go ahead with its main effect (count a FOLLOWERINFO
//! towards the epoch, accept an epoch, count an ACKEPOCH, DIFF, take a NEWLEADER step, count an
//! ACK, commit, deliver). FastLeaderElection's own rules are FLE's catalogue; the rules here
//! under `zab.election.fle.*` are only where ZAB and its election meet.

crate::rules! {
    family: Zab;
    ELECTION_LEAD = "zab.election.lead" {}
    ELECTION_FOLLOW = "zab.election.follow" {}
    ELECTION_FLE_DECIDE = "zab.election.fle.decide" {}
    ELECTION_FLE_NEXT_ROUND = "zab.election.fle.next-round" {}
    ELECTION_FLE_UPDATE_VOTE = "zab.election.fle.update-vote" {}
    FOLLOWERINFO = "zab.discovery.followerinfo" {
        FOLLOWERINFO_WAITING = "epoch-not-fixed",
        FOLLOWERINFO_RAISES = "raises-epoch",
    }
    NEWEPOCH = "zab.discovery.newepoch" { NEWEPOCH_QUORUM = quorum "majority" }
    LEADERINFO = "zab.discovery.leaderinfo" {
        LEADERINFO_NOT_BELOW = "not-below-accepted",
        LEADERINFO_ABOVE = "above-accepted",
    }
    ACKEPOCH = "zab.discovery.ackepoch" {
        ACKEPOCH_WAITING = "waiting-for-acks",
        ACKEPOCH_CURRENT = "current-epoch-given",
        ACKEPOCH_NOT_MORE_RECENT = "not-more-recent",
    }
    ESTABLISHED = "zab.discovery.established" { ESTABLISHED_QUORUM = quorum "majority" }
    SYNC_DIFF = "zab.sync.diff" {
        SYNC_COMMITTED_LOG = "committed-log",
        SYNC_AT_LAST = "peer-at-last",
        SYNC_IN_LOG = "peer-in-log",
        SYNC_EPOCH_START = "peer-at-epoch-start",
    }
    SYNC_TRUNC = "zab.sync.trunc" { SYNC_PAST_LAST = "peer-past-last" }
    SYNC_TRUNC_DIFF = "zab.sync.trunc-diff" {}
    SYNC_FORWARD = "zab.sync.forward" {}
    SYNC_PENDING = "zab.sync.pending" {}
    NEWLEADER_RECEIVE = "zab.newleader.receive" {
        NEWLEADER_TXNS_TO_LOG = "committed-txns-to-log",
        NEWLEADER_EPOCH_TO_WRITE = "epoch-to-write",
    }
    PERSIST_ORDER = "zab.newleader.persist-order" {
        ORDER_TXNS_BEFORE_EPOCH = "txns-before-epoch",
        ORDER_PERSISTED_BEFORE_ACK = "persisted-before-ack",
    }
    NEWLEADER_ACK = "zab.newleader.ack" {}
    NEWLEADER_QUORUM = "zab.newleader.quorum" {
        NEWLEADER_REPLY = "reply-to-newleader",
        NEWLEADER_SYNCHRONIZING = "synchronizing",
        NEWLEADER_MAJORITY = quorum "majority",
    }
    UPTODATE = "zab.uptodate" {}
    PROPOSE = "zab.broadcast.propose" {}
    LOG = "zab.broadcast.log" {
        LOG_SERVING = "serving",
        LOG_NOT_KNOWN_COMMITTED = "not-known-committed",
    }
    ACK = "zab.broadcast.ack" {}
    COMMIT = "zab.broadcast.commit" { COMMIT_QUORUM = quorum "majority" }
    DELIVER = "zab.broadcast.deliver" { DELIVER_SERVING = "serving" }
    SHUTDOWN = "zab.recovery.shutdown" {}
    CRASH = "zab.recovery.crash" {}
    RESTART = "zab.recovery.restart" {}
}

/// Ablations no property can tell from the real rule, with the argument (see `ZabModel`'s
/// `equivalent_ablations`).
pub static EQUIVALENT: &[crate::coverage::Equivalent] = &[];
