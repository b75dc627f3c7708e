//! ZAB's safety properties and witnesses, as state predicates over each server's delivered
//! prefix and the ghost record kept by `ZabModel::record_history` (Zab.tla's verification
//! variables `epochLeader` and `proposalMsgsLog`, plus a record of everything ever committed).
//!
//! A server's *delivered* transactions are the first `committed` of its in-memory history: what
//! it applied while serving. Zab.tla states its properties over the same `history[i]` /
//! `lastCommitted[i]` pairs; ballot adds what a crash would hide (the ghost committed history).

use arrayvec::ArrayVec;
use stateright::Property;

use super::state::{Server, ZabState};
use super::types::{FollowerStage, LeaderStage, Phase, Txn, MAX_LOG};
use super::ZabModel;

/// The properties, in the order reports list them.
pub(crate) fn all() -> Vec<Property<ZabModel>> {
    vec![
        Property::always("one_leader_per_epoch", one_leader_per_epoch),
        Property::always("committed_on_majority", committed_on_majority),
        Property::always("prefix_consistency", prefix_consistency),
        Property::always("integrity", integrity),
        Property::always("total_order", total_order),
        Property::always("agreement", agreement),
        Property::always("local_primary_order", local_primary_order),
        Property::always("global_primary_order", global_primary_order),
        Property::always("primary_integrity", primary_integrity),
        Property::always("commit_completeness", commit_completeness),
        Property::always("history_consistency", history_consistency),
        Property::always("commit_consistent", commit_consistent),
        Property::always("ack_consistent", ack_consistent),
        Property::sometimes("epoch_established", epoch_established),
        Property::sometimes("txn_committed", txn_committed),
        Property::sometimes("all_serving", all_serving),
        Property::sometimes("proposal_committed", proposal_committed),
        Property::sometimes("late_learner_synced", late_learner_synced),
    ]
}

type Delivered = ArrayVec<Txn, { 3 * MAX_LOG }>;

fn delivered(st: &ZabState) -> ArrayVec<Delivered, { super::types::MAX_SERVERS }> {
    st.servers
        .iter()
        .map(|s| {
            if s.up {
                s.delivered()
            } else {
                Delivered::new()
            }
        })
        .collect()
}

fn position(d: &[Txn], t: &Txn) -> Option<usize> {
    d.iter().position(|x| x == t)
}

/// Leadership (Zab.tla `Leadership2`; reference §0): at most one server is ever established
/// leader (reaches SYNCHRONIZATION or BROADCAST) in a given epoch. Counted over the ghost record,
/// so a leader that crashed or stepped down still counts. FLE alone does not give this; ZAB's
/// discovery does.
pub fn one_leader_per_epoch(_: &ZabModel, st: &ZabState) -> bool {
    st.ghost.leaders.iter().all(|l| l.count_ones() <= 1)
}

/// Majority safety (ballot's mission; Disalg `CommittedLogDurability` strengthened): every
/// committed transaction is stored, at its position, in the persistent logs of a majority of
/// servers (crashed ones included), so no quorum can lose it.
pub fn committed_on_majority(m: &ZabModel, st: &ZabState) -> bool {
    let majority = m.quorum();
    st.ghost.committed.iter().enumerate().all(|(k, t)| {
        st.servers
            .iter()
            .filter(|s| s.log.get(k) == Some(t))
            .count()
            >= majority
    })
}

/// Prefix consistency (Zab.tla `PrefixConsistency`; the Zab paper's agreement on prefixes): the
/// delivered prefixes of any two servers agree where both are defined; and no server ever
/// delivered, at a position, something other than what was committed there (ghost record, so a
/// conflict with a server that has since crashed is still caught).
pub fn prefix_consistency(_: &ZabModel, st: &ZabState) -> bool {
    if st.ghost.conflict {
        return false;
    }
    let d = delivered(st);
    d.iter().enumerate().all(|(i, a)| {
        d[i + 1..].iter().all(|b| {
            let n = a.len().min(b.len());
            a[..n] == b[..n]
        })
    })
}

/// Integrity (Zab paper §3; Zab.tla `Integrity`): if a process delivers a transaction, some
/// primary broadcast it (or it belongs to the initial history).
pub fn integrity(m: &ZabModel, st: &ZabState) -> bool {
    delivered(st).iter().flatten().all(|t| {
        if t.value == 0 {
            m.config.init.iter().any(|s| s.log.contains(&t.zxid))
        } else {
            st.ghost.proposed.iter().any(|(p, _)| p == t)
        }
    })
}

/// Total order (Zab paper §3; Zab.tla `TotalOrder`): if some process delivers a before b, any
/// process that delivers b must also deliver a, and deliver a before b.
pub fn total_order(_: &ZabModel, st: &ZabState) -> bool {
    let d = delivered(st);
    d.iter().all(|di| {
        d.iter().all(|dj| {
            dj.iter().enumerate().all(|(jb, b)| match position(di, b) {
                None => true,
                Some(ib) => di[..ib]
                    .iter()
                    .all(|a| position(dj, a).is_some_and(|ja| ja < jb)),
            })
        })
    })
}

/// Agreement (Zab paper §3; Zab.tla `Agreement`): if process p delivers a and q delivers b, then p
/// delivers b or q delivers a. Equivalently, of any two delivered sets one contains the other.
pub fn agreement(_: &ZabModel, st: &ZabState) -> bool {
    let d = delivered(st);
    let within = |x: &Delivered, y: &Delivered| x.iter().all(|t| y.contains(t));
    d.iter()
        .enumerate()
        .all(|(i, a)| d[i + 1..].iter().all(|b| within(a, b) || within(b, a)))
}

/// Local primary order (Zab paper §3; Zab.tla `LocalPrimaryOrder`): if a primary broadcasts a
/// before b, a process that delivers b must deliver a before b.
pub fn local_primary_order(_: &ZabModel, st: &ZabState) -> bool {
    let proposed = &st.ghost.proposed;
    delivered(st).iter().all(|d| {
        proposed.iter().enumerate().all(|(k, (b, by))| {
            let Some(ib) = position(d, b) else {
                return true;
            };
            proposed[..k]
                .iter()
                .filter(|(a, ay)| ay == by && a.zxid.epoch == b.zxid.epoch)
                .all(|(a, _)| position(d, a).is_some_and(|ia| ia < ib))
        })
    })
}

/// Global primary order (Zab paper §3; Zab.tla `GlobalPrimaryOrder`): if a process delivers a
/// transaction of epoch e and one of a later epoch e', it delivers the first before the second.
pub fn global_primary_order(_: &ZabModel, st: &ZabState) -> bool {
    delivered(st)
        .iter()
        .all(|d| d.windows(2).all(|w| w[0].zxid.epoch <= w[1].zxid.epoch))
}

/// Primary integrity (Zab paper §3; Zab.tla `PrimaryIntegrity`): if the primary of epoch e
/// broadcasts and a process delivers b of an earlier epoch, the primary delivered b first. As in
/// Zab.tla, checked for a serving leader and the followers serving under it.
pub fn primary_integrity(_: &ZabModel, st: &ZabState) -> bool {
    st.servers.iter().enumerate().all(|(i, l)| {
        if !l.up || l.phase != Phase::Leading(LeaderStage::Broadcast) {
            return true;
        }
        let dl = l.delivered();
        st.servers.iter().all(|f| {
            !(f.up && f.phase == Phase::Following(FollowerStage::Broadcast) && f.peer.ix() == i)
                || f.delivered()
                    .iter()
                    .all(|b| b.zxid.epoch >= l.epoch || dl.contains(b))
        })
    })
}

/// Commit completeness (AlphaCanisMajoris zk_utils `aaInv.commitCompleteness`; Disalg
/// `LeaderLogCompleteness`): a serving leader's log holds, at its position, every transaction
/// committed before its epoch. (Transactions of its own epoch are its own proposals; a stale
/// leader is not asked to know what later epochs committed.)
pub fn commit_completeness(_: &ZabModel, st: &ZabState) -> bool {
    st.servers.iter().all(|l| {
        !l.up
            || l.phase != Phase::Leading(LeaderStage::Broadcast)
            || st
                .ghost
                .committed
                .iter()
                .enumerate()
                .all(|(k, t)| t.zxid.epoch >= l.epoch || l.log.get(k) == Some(t))
    })
}

/// History consistency (zk_utils `aaInv.historyConsistency`; Disalg `MonotonicRead`): the whole
/// history of a serving follower, delivered or not, is a prefix of its serving leader's.
pub fn history_consistency(_: &ZabModel, st: &ZabState) -> bool {
    st.servers.iter().all(|f: &Server| {
        if !f.up || f.phase != Phase::Following(FollowerStage::Broadcast) {
            return true;
        }
        let l = st.server(f.peer);
        if !l.up || l.phase != Phase::Leading(LeaderStage::Broadcast) || l.epoch != f.epoch {
            return true;
        }
        let h = f.history();
        h.len() <= l.log.len() && h[..] == l.log[..h.len()]
    })
}

/// Commit consistency (zk_utils `daInv.commitConsistent`; the Zab paper's Issue 1): every COMMIT
/// a follower receives names the next transaction it holds and has not committed. Checked when the
/// COMMIT is handled; the ghost remembers a failure.
pub fn commit_consistent(_: &ZabModel, st: &ZabState) -> bool {
    !st.ghost.bad_commit
}

/// ACK consistency (zk_utils `daInv.ackConsistent`; ZK-4685): the first ACK a leader receives
/// from a learner after sending it NEWLEADER acknowledges NEWLEADER.
pub fn ack_consistent(_: &ZabModel, st: &ZabState) -> bool {
    !st.ghost.bad_ack
}

/// Witness: some leader completes synchronization with a quorum and serves (the paper's
/// established epoch).
pub fn epoch_established(_: &ZabModel, st: &ZabState) -> bool {
    st.servers
        .iter()
        .any(|s| s.up && s.phase == Phase::Leading(LeaderStage::Broadcast))
}

/// Witness: a client transaction is committed. With `--max-txns 0` there is none, and a
/// transaction of the initial history delivered by a new leader stands in.
pub fn txn_committed(m: &ZabModel, st: &ZabState) -> bool {
    if m.config.max_txns == 0 {
        return st.servers.iter().any(|s| s.up && s.committed > 0);
    }
    st.ghost.committed.iter().any(|t| t.value != 0)
}

/// Witness: every server serves in one established epoch, its leader's. With three servers a
/// leader is established by a quorum of two, so the third is the Zab paper's late joiner (phase
/// 3: it is sent NEWEPOCH and NEWLEADER, acknowledges, is committed the history and joins Q);
/// ZooKeeper synchronizes a learner whose ACKEPOCH arrives after `waitForEpochAck` has its
/// quorum at once (`LearnerHandler`: `syncFollower` after `waitForEpochAck` returns).
pub fn all_serving(_: &ZabModel, st: &ZabState) -> bool {
    let Some(l) = st
        .servers
        .iter()
        .position(|s| s.up && s.phase == Phase::Leading(LeaderStage::Broadcast))
    else {
        return false;
    };
    let epoch = st.servers[l].epoch;
    st.servers.iter().enumerate().all(|(i, s)| {
        i == l
            || (s.up
                && s.phase == Phase::Following(FollowerStage::Broadcast)
                && s.peer.ix() == l
                && s.epoch == epoch)
    })
}

/// Witness: a serving leader commits a proposal of its own epoch, which takes a quorum of ACKs
/// (the Zab paper's phase 3: PROPOSE, ACK, COMMIT); a leader's history is committed at once only
/// up to its establishment, when it holds nothing of its own epoch. Vacuous with `--max-txns 0`.
pub fn proposal_committed(m: &ZabModel, st: &ZabState) -> bool {
    m.config.max_txns == 0
        || st.servers.iter().any(|l| {
            l.up && l.phase == Phase::Leading(LeaderStage::Broadcast)
                && l.log
                    .get(..l.committed as usize)
                    .is_some_and(|c| c.iter().any(|t| t.zxid.epoch == l.epoch))
        })
}

/// Witness: a learner handling NEWLEADER holds a transaction of the new epoch, so it is being
/// synchronized after its leader started proposing: the Zab paper's late joiner (phase 3), which
/// ZooKeeper synchronizes at once when its ACKEPOCH arrives after `waitForEpochAck` had its quorum.
/// (A NEWLEADER sent when the leader is established precedes every proposal of the epoch, and a
/// learner reads nothing while it handles NEWLEADER.) Vacuous with `--max-txns 0`, and with
/// fewer than three servers, where every learner is needed for the quorum and a late joiner
/// exists only after a crash and a rejoin.
pub fn late_learner_synced(m: &ZabModel, st: &ZabState) -> bool {
    m.config.max_txns == 0
        || m.config.servers < 3
        || st.servers.iter().any(|s| {
            s.up && s.phase == Phase::Following(FollowerStage::NewLeader)
                && s.log
                    .iter()
                    .chain(s.pending.iter())
                    .any(|t| t.zxid.epoch == s.epoch)
        })
}
