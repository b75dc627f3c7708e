//! FastLeaderElection's properties (reference zookeeper.md §7) and its witness, as state
//! predicates. Properties about a step (a vote that moved down, a decision) read the ghost record
//! `FleModel::finish` and `FleModel::record_decision` keep.
//!
//! FLE alone does not guarantee one leader per round (zookeeperInternals.md l.164–168; two servers
//! can both finish in LEADING): that is ZAB's job, and it is checked on the ZAB model.

use stateright::Property;

use super::config::FleConfig;
use super::state::FleState;
use super::types::{Vote, ZkState};
use super::FleModel;

/// The properties, in the order reports list them. `all_decide` is only meaningful without faults
/// (no crashes, no loss), so it is only checked then.
pub(crate) fn all(config: &FleConfig) -> Vec<Property<FleModel>> {
    let mut v = vec![
        Property::always("vote_order_total", vote_order_total),
        Property::always("no_vote_circle", no_vote_circle),
        Property::always("decision_backed_by_quorum", decision_backed_by_quorum),
        Property::always("leader_most_up_to_date", leader_most_up_to_date),
        Property::always("rounds_move_forward", rounds_move_forward),
        Property::always("votes_of_the_round", votes_of_the_round),
        Property::always("decided_in_vote_round", decided_in_vote_round),
        Property::sometimes("leader_decided", leader_decided),
    ];
    if config.crashes == 0 && !config.lossy {
        v.push(Property::eventually("all_decide", all_decide));
    }
    v
}

/// The vote order the model runs (`totalOrderPredicate`, FastLeaderElection.java l.723) is a
/// strict total order on the votes servers propose: irreflexive, asymmetric, total on distinct
/// votes, transitive. Reference §7: "TOP is a strict total order, so NoVoteCircle holds". It is
/// a property of the comparator, so a broken comparator (ZOOKEEPER-1419) fails it in the initial
/// state if two servers' own votes expose it; `no_vote_circle` is what the protocol then does.
pub fn vote_order_total(m: &FleModel, st: &FleState) -> bool {
    let fle = m.fle();
    let mut votes: arrayvec::ArrayVec<Vote, { super::MAX_SERVERS }> = arrayvec::ArrayVec::new();
    for node in st.servers.iter() {
        if node.up && node.fle.state == ZkState::Looking && !votes.contains(&node.fle.proposal) {
            votes.push(node.fle.proposal);
        }
    }
    let gt = |a: Vote, b: Vote| fle.total_order_unrecorded(a, b);
    votes.iter().all(|&a| {
        !gt(a, a)
            && votes.iter().all(|&b| {
                a == b
                    || (gt(a, b) != gt(b, a)
                        && votes.iter().all(|&c| !(gt(a, b) && gt(b, c)) || gt(a, c)))
            })
    })
}

/// No vote circle (SandTable's `NoVoteCircle` for ZOOKEEPER-1419, reference §4): within one round
/// a LOOKING server's proposal only moves up in the vote order, so it never returns to a vote it
/// abandoned. Checked on every step, against the correct order `(peerEpoch, zxid, sid)`.
pub fn no_vote_circle(_: &FleModel, st: &FleState) -> bool {
    !st.ghost.vote_circle
}

/// A decision is backed by a quorum (reference §7; FastLeaderElection.java `hasAllQuorums` and
/// `checkLeader`, l.793): a LOOKING-path decision for L in round r needs a quorum of servers that
/// really proposed L in round r; a decision on FOLLOWING/LEADING votes needs a quorum that
/// proposed L in that round or decided for L, and, unless the decider is L, L must have decided
/// to lead. Checked against the ghost record of what servers did, not against the decider's view.
pub fn decision_backed_by_quorum(_: &FleModel, st: &FleState) -> bool {
    !st.ghost.unbacked_decision
}

/// The leader is the most up to date (reference §7; what ZAB's recovery relies on, Zab paper
/// §IV, "the leader has the highest zxid of a quorum"): when a server decides for L on the
/// LOOKING path, L's `(currentEpoch, last zxid)` is at least that of every server in the quorum
/// that voted for it.
pub fn leader_most_up_to_date(_: &FleModel, st: &FleState) -> bool {
    !st.ghost.leader_behind
}

/// Rounds move forward (FastLeaderElection.java l.913, l.1004): while a live server stays
/// LOOKING its `logicalclock` never decreases (it is only raised to a newer notification's
/// round), and when a decided server goes back to LOOKING its new election's round is above the
/// one it decided in. (A decision on out-of-election votes may set `logicalclock` to an older
/// round, l.1171, so a decided server's round is not constrained; a restart starts from 0.)
pub fn rounds_move_forward(_: &FleModel, st: &FleState) -> bool {
    !st.ghost.round_went_back
}

/// Votes of the round (FastLeaderElection.java l.1004–1040): a LOOKING server's proposal only
/// changes to its own vote or to the vote of a LOOKING notification of the round it is then in
/// (a notification of an older round is discarded, one of a newer round moves it to that round
/// first). So by induction every proposal of round r names a server that itself took part in
/// round r: a vote never outlives its round, e.g. a crashed server's vote from an older round
/// cannot be carried into a new one. Checked at each delivery.
pub fn votes_of_the_round(_: &FleModel, st: &FleState) -> bool {
    !st.ghost.foreign_vote
}

/// A decided server's round is its end vote's round (FastLeaderElection.java l.1058, l.1153,
/// l.1171): the LOOKING path ends with `(proposal, logicalclock)`, the recvset branch only counts
/// a FOLLOWING/LEADING vote of the current round, and the outofelection branch sets
/// `logicalclock := n.electionEpoch` before it decides. So the round a decided server answers
/// LOOKING peers with is the round it is in.
pub fn decided_in_vote_round(_: &FleModel, st: &FleState) -> bool {
    st.servers.iter().all(|node| {
        !node.up
            || !node.fle.state.decided()
            || node
                .fle
                .current
                .is_some_and(|c| c.election_epoch == node.fle.logicalclock)
    })
}

/// Witness: a server leads and a quorum of live servers (itself included) follows it, so ZAB can
/// establish its epoch.
pub fn leader_decided(m: &FleModel, st: &FleState) -> bool {
    (0..st.servers.len()).any(|i| m.established(st, super::Sid(i as u8)))
}

/// Termination without faults (reference §7, "every server eventually decides"), checked by
/// ballot's engine as AG EF: from every reachable state, a state where every server has decided
/// is reachable. The bound is part of the goal: a state where a decided server's ZAB phase cannot
/// succeed but its round is already `--max-round`, so it may not start another election, counts
/// as reached; the model cannot say what happens after it. See docs/protocols/fle.md for what AG
/// EF does not cover compared with liveness under fairness.
pub fn all_decide(m: &FleModel, st: &FleState) -> bool {
    let all = st
        .servers
        .iter()
        .all(|node| node.up && node.fle.state.decided());
    all || (0..st.servers.len()).any(|i| {
        let s = super::Sid(i as u8);
        let node = st.node(s);
        node.up
            && node.fle.state.decided()
            && node.fle.logicalclock.0 >= m.config.max_round
            && m.zab_stuck(st, s)
    })
}
