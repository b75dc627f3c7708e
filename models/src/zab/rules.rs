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

use crate::coverage::{Ablation, Equivalent};

const NEWEPOCH_WHY: &str = "The FOLLOWERINFO quorum only chooses an epoch that a quorum will \
    accept (liveness). Safety comes from the ACKEPOCH quorum: a learner counts for epoch e only \
    if it accepted e on that LEADERINFO (e above its acceptedEpoch, which never decreases), so two \
    leaders of e would need two disjoint quorums of first acceptances, and a leader is never less \
    recent than a member of its quorum (isMoreRecentThan), which holds every transaction committed \
    in an earlier epoch on a quorum. Fixing the epoch alone (with three servers, inverted and one \
    short are the same thing: the leader's own FOLLOWERINFO is one) only makes LEADERINFO be \
    refused more often.";

/// Ablations no property can tell from the real rule, with the argument. Listed by
/// `ZabModel::equivalent_ablations`.
pub static EQUIVALENT: &[Equivalent] = &[
    Equivalent {
        guard: "zab.discovery.newepoch/majority",
        ablation: Ablation::Drop,
        reason: NEWEPOCH_WHY,
    },
    Equivalent {
        guard: "zab.discovery.newepoch/majority",
        ablation: Ablation::Invert,
        reason: NEWEPOCH_WHY,
    },
    Equivalent {
        guard: "zab.discovery.newepoch/majority",
        ablation: Ablation::QuorumBelow,
        reason: NEWEPOCH_WHY,
    },
    Equivalent {
        guard: "zab.newleader.receive/committed-txns-to-log",
        ablation: Ablation::Drop,
        reason: "With no committed transaction to log, the scheduled step logs nothing: the \
            follower takes one more step while it handles NEWLEADER (reading nothing, as in the \
            real rule) and ends in the same state; no property reads which steps are left.",
    },
    Equivalent {
        guard: "zab.newleader.receive/epoch-to-write",
        ablation: Ablation::Drop,
        reason: "With currentEpoch already the new epoch, the scheduled step writes the same \
            value: one more step while the follower handles NEWLEADER, the same state after it; \
            no property reads which steps are left.",
    },
    Equivalent {
        guard: "zab.broadcast.log/not-known-committed",
        ablation: Ablation::Drop,
        reason: "The extra ACKs are of transactions the leader has committed: processAck finds no \
            outstanding proposal with that zxid and ignores them (and the reply to NEWLEADER was \
            sent before, since the SyncThread gets committed transactions only at UPTODATE), so \
            they change nothing but the packets in flight. (Only in the correct model: under \
            ZK-4646 or ZK-4712 a SyncThread can log a committed transaction before NEWLEADER is \
            acknowledged, and its ACK would be read as that reply; docs/protocols/zab.md, Model \
            shortcuts, has the counterexample.)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_equivalents_name_real_ablations() {
        let ids: std::collections::BTreeSet<_> = CATALOGUE.rules.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), CATALOGUE.rules.len());
        assert!(ids.iter().all(|id| id.starts_with("zab.")));
        for e in EQUIVALENT {
            let g = CATALOGUE
                .find_guard(e.guard)
                .unwrap_or_else(|| panic!("{} is not a guard", e.guard));
            assert!(CATALOGUE.ablations().contains(&(g, e.ablation)));
            assert!(!e.reason.is_empty());
        }
    }
}
