//! Unit tests: one or more per rule of `docs/protocols/fle.md`, each asserting the exact outputs
//! of the core; the wire format (fixed bytes, errors, a decoder fuzz and a round trip); and a
//! seeded simulation of 3 and 5 cores exchanging notifications in random orders.

use super::*;
use crate::types::ServerId;
use proptest::prelude::*;

const S1: ServerId = ServerId(1);
const S2: ServerId = ServerId(2);
const S3: ServerId = ServerId(3);
const S4: ServerId = ServerId(4);
const S5: ServerId = ServerId(5);
const OUTSIDER: ServerId = ServerId(9);

const FIN: u64 = DEFAULT_FINALIZE_WAIT_MS;
const POLL: u64 = DEFAULT_MIN_NOTIFICATION_INTERVAL_MS;

fn hist(epoch: u64, zxid: u64) -> History {
    History {
        current_epoch: Epoch(epoch),
        last_zxid: Zxid(zxid),
    }
}

fn prop(leader: ServerId, h: History) -> Proposal {
    Proposal::own(leader, h)
}

/// A current-version notification of `state` for `p` in `round`.
fn note(state: PeerState, p: Proposal, round: u64) -> Notification {
    Notification::new(state, p, Round(round))
}

fn looking(p: Proposal, round: u64) -> Notification {
    note(PeerState::Looking, p, round)
}

fn core_of(id: ServerId, voters: &[ServerId]) -> FleCore {
    FleCore::new(FleConfig::new(id, voters.to_vec())).expect("valid config")
}

fn step(c: &mut FleCore, input: FleInput) -> Vec<FleOutput> {
    c.handle(input).expect("accepted");
    c.take_outputs()
}

fn deliver(c: &mut FleCore, from: ServerId, msg: Notification) -> Vec<FleOutput> {
    step(c, FleInput::Notification { from, msg })
}

fn fire(c: &mut FleCore, t: FleTimer) -> Vec<FleOutput> {
    step(c, FleInput::Timer(t))
}

fn send(to: ServerId, msg: &Notification) -> FleOutput {
    FleOutput::Send {
        to,
        msg: msg.clone(),
    }
}

/// `msg` to every voter, loopback included, in the voters' order.
fn broadcast(voters: &[ServerId], msg: &Notification) -> Vec<FleOutput> {
    voters.iter().map(|&to| send(to, msg)).collect()
}

fn poll(after_ms: u64) -> FleOutput {
    FleOutput::SetTimer {
        timer: FleTimer::Notification,
        after_ms,
    }
}

fn finalize_wait() -> FleOutput {
    FleOutput::SetTimer {
        timer: FleTimer::Finalize,
        after_ms: FIN,
    }
}

fn decided(state: PeerState, p: Proposal, round: u64, path: DecisionPath) -> FleOutput {
    FleOutput::Decided(Decision {
        state,
        vote: Vote {
            state,
            ..note(state, p, round).vote(true)
        },
        path,
    })
}

const THREE: [ServerId; 3] = [S1, S2, S3];
const FIVE: [ServerId; 5] = [S1, S2, S3, S4, S5];

/// Histories where S3 is the best (epoch), S2 next (zxid), S1 last.
fn h(id: ServerId) -> History {
    match id.0 {
        1 => hist(1, 0x1_0000_0001),
        2 => hist(1, 0x1_0000_0002),
        3 => hist(2, 0x1_0000_0002),
        n => hist(1, n),
    }
}

/// A core of the three-voter ensemble that has started round 1 (outputs taken).
fn started(id: ServerId) -> FleCore {
    let mut c = core_of(id, &THREE);
    step(&mut c, FleInput::StartLooking(h(id)));
    c
}

// ---- the contract ----

/// Every rule of `docs/protocols/fle.md` that the election owns is cited by the code implementing
/// it (the rest are the transport's and ZAB's: re-sends on reconnect and restart, giving up).
#[test]
fn every_rule_of_the_contract_is_cited_by_the_core() {
    let contract = include_str!("../../../../docs/protocols/fle.md");
    let code = [
        include_str!("core.rs"),
        include_str!("types.rs"),
        include_str!("wire.rs"),
    ]
    .concat();
    let not_the_elections = ["fle.net.reconnect", "fle.net.restart", "fle.zab.give-up"];
    let ids: Vec<&str> = contract
        .split("**`")
        .skip(1)
        .filter_map(|rest| rest.split('`').next())
        .filter(|id| id.starts_with("fle."))
        .collect();
    assert!(ids.len() >= 20, "the rule table was found: {ids:?}");
    for id in ids {
        if !not_the_elections.contains(&id) {
            let cited = code.contains(&format!("`{id}`"));
            assert!(cited, "{id} is not cited in impl/core/src/fle");
        }
    }
}

// ---- fle.round.start ----

#[test]
fn start_looking_opens_round_one_with_a_self_vote_to_every_voter_and_arms_the_poll() {
    let mut c = core_of(S1, &THREE);
    assert_eq!(c.phase(), Phase::Idle);
    let out = step(&mut c, FleInput::StartLooking(h(S1)));
    let mine = looking(prop(S1, h(S1)), 1);
    let mut want = broadcast(&THREE, &mine);
    want.push(poll(POLL));
    assert_eq!(out, want);
    assert_eq!((c.phase(), c.logicalclock()), (Phase::Looking, Round(1)));
    assert!(c.recvset().is_empty() && c.outofelection().is_empty());
}

#[test]
fn a_new_election_after_a_decision_is_the_next_round_with_fresh_tallies() {
    let mut c = started(S3);
    deliver(&mut c, S3, looking(prop(S3, h(S3)), 1));
    deliver(&mut c, S1, looking(prop(S3, h(S3)), 1));
    fire(&mut c, FleTimer::Finalize);
    assert_eq!(c.phase(), Phase::Decided(PeerState::Leading));
    // ZAB gave up; it hands the (possibly newer) history back.
    let newer = hist(3, 0x3_0000_0000);
    let out = step(&mut c, FleInput::StartLooking(newer));
    let mut want = broadcast(&THREE, &looking(prop(S3, newer), 2));
    want.push(poll(POLL));
    assert_eq!(out, want);
    assert_eq!((c.logicalclock(), c.current_vote()), (Round(2), None));
    assert!(c.recvset().is_empty());
}

#[test]
fn a_round_past_the_wire_range_is_refused_not_wrapped() {
    let mut c = started(S1);
    // A peer at the last round the wire can carry: adopted (fle.notification.newer-round).
    deliver(&mut c, S2, looking(prop(S2, h(S2)), WIRE_MAX));
    assert_eq!(c.logicalclock(), Round(WIRE_MAX));
    let err = c.handle(FleInput::StartLooking(h(S1))).unwrap_err();
    assert_eq!(err, FleError::RoundExhausted(Round(WIRE_MAX)));
    assert_eq!(c.take_outputs(), vec![]);
    assert_eq!(c.logicalclock(), Round(WIRE_MAX), "unchanged");
    assert!(err.to_string().contains("logicalclock"));
}

#[test]
fn a_history_the_wire_cannot_carry_is_refused() {
    let mut c = core_of(S1, &THREE);
    let err = c
        .handle(FleInput::StartLooking(hist(WIRE_MAX + 1, 0)))
        .unwrap_err();
    assert_eq!(
        err,
        FleError::OutOfRange {
            field: "current_epoch",
            value: WIRE_MAX + 1
        }
    );
    let err = c
        .handle(FleInput::StartLooking(hist(0, u64::MAX)))
        .unwrap_err();
    assert!(matches!(
        err,
        FleError::OutOfRange {
            field: "last_zxid",
            ..
        }
    ));
    assert_eq!((c.phase(), c.take_outputs()), (Phase::Idle, vec![]));
}

// ---- fle.vote.order, fle.vote.equals ----

#[test]
fn vote_order_is_peer_epoch_then_zxid_then_sid() {
    let p = |sid, e, z| prop(ServerId(sid), hist(e, z));
    // The epoch decides before a larger zxid and sid.
    assert!(p(1, 2, 5).beats(p(3, 1, 9)) && !p(3, 1, 9).beats(p(1, 2, 5)));
    // Equal epochs: the zxid decides before the sid.
    assert!(p(1, 1, 6).beats(p(3, 1, 5)) && !p(3, 1, 5).beats(p(1, 1, 6)));
    // Equal epoch and zxid: the higher sid wins.
    assert!(p(3, 1, 5).beats(p(1, 1, 5)) && !p(1, 1, 5).beats(p(3, 1, 5)));
    // ZOOKEEPER-1419's case: same zxid, the higher epoch wins whatever the sid.
    assert!(p(1, 2, 0x1_0000_0001).beats(p(2, 1, 0x1_0000_0001)));
    // Irreflexive.
    assert!(!p(2, 1, 5).beats(p(2, 1, 5)));
}

#[test]
fn out_of_election_votes_compare_on_leader_and_peer_epoch_only() {
    let v = |state, round, zxid, version| Vote {
        state,
        version,
        leader: S2,
        zxid: Zxid(zxid),
        election_epoch: Round(round),
        peer_epoch: Epoch(1),
    };
    let f = PeerState::Following;
    let l = PeerState::Leading;
    // Different rounds and zxids, both decided: equal (ZOOKEEPER-1805).
    assert!(v(f, 1, 1, 2).counts_as(&v(l, 3, 4, 2)));
    // A different peerEpoch counts unless exactly one side has a version (ZOOKEEPER-1732).
    let other_epoch = Vote {
        peer_epoch: Epoch(2),
        ..v(l, 3, 4, 2)
    };
    assert!(!v(f, 1, 1, 2).counts_as(&other_epoch));
    assert!(v(f, 1, 1, 0).counts_as(&other_epoch));
    // A LOOKING vote on either side: every field.
    assert!(!v(PeerState::Looking, 1, 1, 0).counts_as(&v(f, 3, 1, 2)));
    assert!(v(PeerState::Looking, 3, 1, 0).counts_as(&v(f, 3, 1, 2)));
}

// ---- fle.notification.newer-round, older-round, same-round; fle.reply.lower-round ----

#[test]
fn a_newer_round_is_joined_with_the_better_of_its_vote_and_the_own_vote() {
    let mut c = started(S2);
    deliver(&mut c, S2, looking(prop(S2, h(S2)), 1));
    assert_eq!(c.recvset().len(), 1);
    // S1 in round 4 votes for S3, better than S2's own vote: adopt it, forget round 1's votes.
    let theirs = looking(prop(S3, h(S3)), 4);
    let out = deliver(&mut c, S1, theirs.clone());
    let mut want = broadcast(&THREE, &theirs);
    want.push(poll(POLL));
    assert_eq!(out, want);
    assert_eq!(
        (c.logicalclock(), c.proposal()),
        (Round(4), prop(S3, h(S3)))
    );
    assert_eq!(
        c.recvset().keys().copied().collect::<Vec<_>>(),
        vec![S1],
        "round 1's votes are gone; the sender's is kept"
    );
    // Round 5 with a vote worse than S2's own: S2 votes for itself again, not for the S3 it
    // proposed in round 4.
    let worse = looking(prop(S1, h(S1)), 5);
    let out = deliver(&mut c, S1, worse);
    let mut want = broadcast(&THREE, &looking(prop(S2, h(S2)), 5));
    want.push(poll(POLL));
    assert_eq!(out, want);
    assert_eq!(c.proposal(), prop(S2, h(S2)));
}

#[test]
fn a_better_vote_of_the_same_round_is_adopted_and_sent_again() {
    let mut c = started(S1);
    let better = looking(prop(S2, h(S2)), 1);
    let out = deliver(&mut c, S2, better.clone());
    let mut want = broadcast(&THREE, &better);
    want.push(poll(POLL));
    assert_eq!(out, want);
    assert_eq!(c.proposal(), prop(S2, h(S2)));
    assert_eq!(c.recvset()[&S2], better.vote(false));
}

#[test]
fn a_worse_vote_of_the_same_round_is_only_recorded() {
    let mut c = started(S2);
    let worse = looking(prop(S1, h(S1)), 1);
    assert_eq!(deliver(&mut c, S1, worse.clone()), vec![poll(POLL)]);
    assert_eq!(c.proposal(), prop(S2, h(S2)));
    assert_eq!(c.recvset()[&S1], worse.vote(false));
}

#[test]
fn a_looking_peer_of_an_older_round_is_answered_and_its_vote_discarded() {
    let mut c = started(S1);
    deliver(&mut c, S2, looking(prop(S2, h(S2)), 3)); // now round 3, proposing S2
    let recvset = c.recvset().clone();
    let stale = looking(prop(S3, h(S3)), 2);
    let out = deliver(&mut c, S3, stale);
    // The receiver's answer (fle.reply.lower-round), then the next poll: the better vote of
    // the older round is not adopted (fle.notification.older-round).
    let answer = looking(prop(S2, h(S2)), 3);
    assert_eq!(out, vec![send(S3, &answer), poll(POLL)]);
    assert_eq!(c.proposal(), prop(S2, h(S2)));
    assert_eq!(c.recvset(), &recvset);
}

#[test]
fn a_decided_peer_of_an_older_round_is_not_answered_by_a_looking_server() {
    let mut c = started(S1);
    deliver(&mut c, S2, looking(prop(S2, h(S2)), 3));
    let old = note(PeerState::Following, prop(S3, h(S3)), 2);
    let out = deliver(&mut c, S2, old);
    assert_eq!(
        out,
        vec![poll(POLL)],
        "no reply; only outofelection records it"
    );
    assert_eq!(c.outofelection().len(), 1);
}

// ---- fle.decide.quorum, fle.decide.finalize-wait, fle.decide.finalize, fle.decide.leave ----

#[test]
fn a_quorum_starts_the_finalize_wait_and_its_expiry_decides_to_lead() {
    let mut c = started(S3);
    let mine = looking(prop(S3, h(S3)), 1);
    // The loopback alone is no quorum of three.
    assert_eq!(deliver(&mut c, S3, mine.clone()), vec![poll(POLL)]);
    // S1 votes for S3: two of three agree with (proposal, round 1).
    let out = deliver(&mut c, S1, looking(prop(S3, h(S3)), 1));
    assert_eq!(out, vec![finalize_wait()]);
    assert_eq!(c.phase(), Phase::Finalizing);
    let out = fire(&mut c, FleTimer::Finalize);
    assert_eq!(
        out,
        vec![decided(
            PeerState::Leading,
            prop(S3, h(S3)),
            1,
            DecisionPath::Looking
        )]
    );
    assert_eq!(c.phase(), Phase::Decided(PeerState::Leading));
    assert!(c.recvset().is_empty(), "leaveInstance drops the tallies");
}

#[test]
fn a_quorum_for_another_server_decides_to_follow_it() {
    let mut c = started(S1);
    let best = looking(prop(S3, h(S3)), 1);
    deliver(&mut c, S3, best.clone());
    assert_eq!(deliver(&mut c, S1, best), vec![finalize_wait()]);
    let out = fire(&mut c, FleTimer::Finalize);
    assert_eq!(
        out,
        vec![decided(
            PeerState::Following,
            prop(S3, h(S3)),
            1,
            DecisionPath::Looking
        )]
    );
}

/// S2, proposing itself, with its own vote and S1's: in the finalize wait.
fn s2_finalizing() -> FleCore {
    let mut c = started(S2);
    deliver(&mut c, S2, looking(prop(S2, h(S2)), 1));
    assert_eq!(
        deliver(&mut c, S1, looking(prop(S2, h(S2)), 1)),
        vec![finalize_wait()]
    );
    c
}

#[test]
fn a_vote_that_is_not_better_is_dropped_in_the_finalize_wait() {
    let mut c = s2_finalizing();
    let recvset = c.recvset().clone();
    // Worse (S1's own vote, in a later round even) and equal votes: no output at all, and the
    // wait's timer keeps running.
    assert_eq!(deliver(&mut c, S1, looking(prop(S1, h(S1)), 7)), vec![]);
    assert_eq!(deliver(&mut c, S3, looking(prop(S2, h(S2)), 1)), vec![]);
    assert_eq!((c.phase(), c.recvset()), (Phase::Finalizing, &recvset));
    assert_eq!(c.logicalclock(), Round(1));
}

#[test]
fn a_better_vote_in_the_finalize_wait_resumes_the_election() {
    let mut c = s2_finalizing();
    let better = looking(prop(S3, h(S3)), 1);
    let out = deliver(&mut c, S3, better.clone());
    // Adopted and sent (fle.notification.same-round); only S3 agrees now: polling again.
    let mut want = broadcast(&THREE, &better);
    want.push(poll(POLL));
    assert_eq!(out, want);
    assert_eq!((c.phase(), c.proposal()), (Phase::Looking, prop(S3, h(S3))));
    // The wait's timer was replaced; a late expiry of it is ignored.
    assert_eq!(fire(&mut c, FleTimer::Finalize), vec![]);
    assert_eq!(c.phase(), Phase::Looking);
    // A second vote for S3 makes a quorum again: a new finalize wait, then the decision.
    assert_eq!(deliver(&mut c, S1, better), vec![finalize_wait()]);
    assert_eq!(
        fire(&mut c, FleTimer::Finalize),
        vec![decided(
            PeerState::Following,
            prop(S3, h(S3)),
            1,
            DecisionPath::Looking
        )]
    );
}

#[test]
fn an_older_rounds_better_vote_ends_the_finalize_wait_and_is_then_discarded() {
    // S2 in round 2, in the finalize wait on its own vote.
    let mut c = started(S2);
    deliver(&mut c, S1, looking(prop(S2, h(S2)), 2));
    assert_eq!(
        deliver(&mut c, S2, looking(prop(S2, h(S2)), 2)),
        vec![finalize_wait()]
    );
    // S3 is still in round 1, with a better vote. The receiver answers it (fle.reply.lower-round);
    // the wait compares votes only, so the better vote ends it; lookForLeader then discards it
    // as older (fle.notification.older-round) and polls again. The quorum is checked again only
    // at the next notification of the round.
    let out = deliver(&mut c, S3, looking(prop(S3, h(S3)), 1));
    assert_eq!(
        out,
        vec![send(S3, &looking(prop(S2, h(S2)), 2)), poll(POLL)]
    );
    assert_eq!((c.phase(), c.proposal()), (Phase::Looking, prop(S2, h(S2))));
    assert_eq!(
        deliver(&mut c, S1, looking(prop(S2, h(S2)), 2)),
        vec![finalize_wait()]
    );
}

// ---- fle.reply.looking-peer ----

/// S1 and S3 decided in round 1 for S3: S3 LEADING, S1 FOLLOWING.
fn decided_pair() -> (FleCore, FleCore) {
    let best = looking(prop(S3, h(S3)), 1);
    let mut s3 = started(S3);
    deliver(&mut s3, S3, best.clone());
    deliver(&mut s3, S1, best.clone());
    fire(&mut s3, FleTimer::Finalize);
    let mut s1 = started(S1);
    deliver(&mut s1, S3, best.clone());
    deliver(&mut s1, S1, best);
    fire(&mut s1, FleTimer::Finalize);
    assert_eq!(s3.phase(), Phase::Decided(PeerState::Leading));
    assert_eq!(s1.phase(), Phase::Decided(PeerState::Following));
    (s1, s3)
}

#[test]
fn a_decided_server_answers_looking_peers_with_its_end_vote_and_ignores_decided_ones() {
    let (mut s1, mut s3) = decided_pair();
    // A LOOKING peer in any round, here a later one, gets the vote of the round decided in.
    let asking = looking(prop(S2, h(S2)), 5);
    assert_eq!(
        deliver(&mut s3, S2, asking.clone()),
        vec![send(S2, &note(PeerState::Leading, prop(S3, h(S3)), 1))]
    );
    assert_eq!(
        deliver(&mut s1, S2, asking),
        vec![send(S2, &note(PeerState::Following, prop(S3, h(S3)), 1))]
    );
    // FOLLOWING/LEADING to a decided server: dropped, and the state is unchanged.
    let following = note(PeerState::Following, prop(S3, h(S3)), 1);
    assert_eq!(deliver(&mut s3, S1, following), vec![]);
    assert_eq!(s3.phase(), Phase::Decided(PeerState::Leading));
}

// ---- fle.vote.update-epoch ----

#[test]
fn update_election_vote_changes_only_the_advertised_peer_epoch() {
    let (_, mut s3) = decided_pair();
    step(
        &mut s3,
        FleInput::UpdateElectionVote {
            peer_epoch: Epoch(3),
        },
    );
    let want = Notification {
        peer_epoch: Epoch(3),
        ..note(PeerState::Leading, prop(S3, h(S3)), 1)
    };
    assert_eq!(
        deliver(&mut s3, S2, looking(prop(S2, h(S2)), 2)),
        vec![send(S2, &want)]
    );
    let mut looking_core = started(S1);
    let err = looking_core
        .handle(FleInput::UpdateElectionVote {
            peer_epoch: Epoch(3),
        })
        .unwrap_err();
    assert_eq!(err, FleError::NotDecided);
}

// ---- fle.decided.same-round, fle.outofelection.join ----

#[test]
fn following_and_leading_votes_of_the_round_decide_through_recvset() {
    let (mut s1, mut s3) = decided_pair();
    // S2 joins late in round 1: its LOOKING vote is answered by both.
    let mut s2 = started(S2);
    let ask = looking(prop(S2, h(S2)), 1);
    let from_s1 = deliver(&mut s1, S2, ask.clone());
    let from_s3 = deliver(&mut s3, S2, ask);
    let FleOutput::Send { msg: m1, .. } = &from_s1[0] else {
        panic!("{from_s1:?}")
    };
    let FleOutput::Send { msg: m3, .. } = &from_s3[0] else {
        panic!("{from_s3:?}")
    };
    // One FOLLOWING vote: no quorum for S3 (S2's own LOOKING vote is for itself).
    assert_eq!(deliver(&mut s2, S1, m1.clone()), vec![poll(POLL)]);
    // The leader's LEADING vote of round 1: a quorum, and checkLeader holds.
    let out = deliver(&mut s2, S3, m3.clone());
    assert_eq!(
        out,
        vec![
            FleOutput::CancelTimer(FleTimer::Notification),
            decided(
                PeerState::Following,
                prop(S3, h(S3)),
                1,
                DecisionPath::SameRound
            )
        ]
    );
}

#[test]
fn a_quorum_of_the_round_needs_the_leaders_own_leading_vote() {
    // Five voters, S1 LOOKING in round 1: three FOLLOWING votes for S5 of round 1 are a quorum
    // in recvset, but S5 has not said it leads (checkLeader), so nothing is decided.
    let p5 = prop(S5, h(S5));
    let mut s1 = core_of(S1, &FIVE);
    step(&mut s1, FleInput::StartLooking(h(S1)));
    for from in [S2, S3, S4] {
        assert_eq!(
            deliver(&mut s1, from, note(PeerState::Following, p5, 1)),
            vec![poll(POLL)]
        );
    }
    assert_eq!((s1.phase(), s1.recvset().len()), (Phase::Looking, 3));
    // S5's LEADING vote of the round: the recvset branch decides.
    let out = deliver(&mut s1, S5, note(PeerState::Leading, p5, 1));
    assert_eq!(
        out,
        vec![
            FleOutput::CancelTimer(FleTimer::Notification),
            decided(PeerState::Following, p5, 1, DecisionPath::SameRound)
        ]
    );
}

#[test]
fn a_server_joining_an_established_ensemble_follows_its_replies_from_other_rounds() {
    // ZOOKEEPER-1805's shape: the leader S2 decided in round 5, its follower S1 in round 4;
    // S3 is fresh (round 1). Their votes differ in round and zxid but count together.
    let leader_vote = Proposal {
        leader: S2,
        zxid: Zxid(0x1_0000_0002),
        peer_epoch: Epoch(2),
    };
    let mut s3 = started(S3);
    let from_s1 = note(
        PeerState::Following,
        Proposal {
            zxid: Zxid(0x1_0000_0001),
            ..leader_vote
        },
        4,
    );
    // One FOLLOWING vote for S2, and S2's own LEADING vote not yet seen: no decision.
    assert_eq!(deliver(&mut s3, S1, from_s1), vec![poll(POLL)]);
    assert_eq!(s3.outofelection().len(), 1);
    let from_s2 = note(PeerState::Leading, leader_vote, 5);
    let out = deliver(&mut s3, S2, from_s2);
    assert_eq!(
        out,
        vec![
            FleOutput::CancelTimer(FleTimer::Notification),
            decided(
                PeerState::Following,
                leader_vote,
                5,
                DecisionPath::OutOfElection
            )
        ]
    );
    assert_eq!(s3.logicalclock(), Round(5), "the leader's round is taken");
}

#[test]
fn joining_needs_the_leaders_own_leading_vote() {
    // Five voters: three FOLLOWING votes for S5 are a quorum, but S5 never said it leads.
    let p5 = prop(S5, h(S5));
    let mut s1 = core_of(S1, &FIVE);
    step(&mut s1, FleInput::StartLooking(h(S1)));
    for from in [S2, S3, S4] {
        assert_eq!(
            deliver(&mut s1, from, note(PeerState::Following, p5, 3)),
            vec![poll(POLL)]
        );
    }
    assert_eq!(s1.outofelection().len(), 3);
    assert_eq!(s1.phase(), Phase::Looking);
    let out = deliver(&mut s1, S5, note(PeerState::Leading, p5, 3));
    assert_eq!(
        out,
        vec![
            FleOutput::CancelTimer(FleTimer::Notification),
            decided(PeerState::Following, p5, 3, DecisionPath::OutOfElection)
        ]
    );
}

#[test]
fn a_server_does_not_lead_on_out_of_election_votes_of_another_round() {
    // S1 and S2 follow S3 from round 4; S3 itself is LOOKING in round 1 (it restarted): it must
    // not take the old round's votes as a mandate (checkLeader: own round only).
    let mut s3 = started(S3);
    let old = note(PeerState::Following, prop(S3, h(S3)), 4);
    deliver(&mut s3, S1, old.clone());
    assert_eq!(deliver(&mut s3, S2, old), vec![poll(POLL)]);
    assert_eq!(s3.phase(), Phase::Looking);
}

// ---- fle.reply.non-voter, fle.notification.valid-voter ----

#[test]
fn a_non_voter_gets_the_current_vote_and_nothing_else_happens() {
    let mut c = started(S1);
    deliver(&mut c, S2, looking(prop(S2, h(S2)), 2));
    let recvset = c.recvset().clone();
    let out = deliver(&mut c, OUTSIDER, looking(prop(OUTSIDER, hist(9, 9)), 1));
    assert_eq!(out, vec![send(OUTSIDER, &looking(prop(S2, h(S2)), 2))]);
    assert_eq!(c.recvset(), &recvset, "its vote is not counted");
    // Once decided, the end vote, state and logicalclock.
    let (mut s1, _) = decided_pair();
    let out = deliver(&mut s1, OUTSIDER, looking(prop(OUTSIDER, hist(9, 9)), 1));
    assert_eq!(
        out,
        vec![send(
            OUTSIDER,
            &note(PeerState::Following, prop(S3, h(S3)), 1)
        )]
    );
}

#[test]
fn votes_for_non_voters_and_notifications_of_observers_are_ignored() {
    let mut c = started(S1);
    let for_outsider = looking(prop(OUTSIDER, hist(9, 9)), 1);
    assert_eq!(deliver(&mut c, S2, for_outsider), vec![poll(POLL)]);
    assert_eq!((c.proposal(), c.recvset().len()), (prop(S1, h(S1)), 0));
    let observer = note(PeerState::Observing, prop(S3, h(S3)), 1);
    assert_eq!(deliver(&mut c, S3, observer), vec![poll(POLL)]);
    assert!(c.recvset().is_empty() && c.outofelection().is_empty());
}

// ---- fle.notification.timeout ----

#[test]
fn the_notification_timeout_resends_and_doubles_up_to_its_cap() {
    let mut c = started(S1);
    let mine = looking(prop(S1, h(S1)), 1);
    for after in [200, 400, 800, 1600, 2000, 2000] {
        let mut want = broadcast(&THREE, &mine);
        want.push(poll(after));
        assert_eq!(fire(&mut c, FleTimer::Notification), want);
    }
    // A notification re-arms the poll with the current (backed-off) timeout, as ZooKeeper's
    // poll keeps `notTimeout`.
    assert_eq!(
        deliver(&mut c, S1, mine),
        vec![poll(DEFAULT_MAX_NOTIFICATION_INTERVAL_MS)]
    );
    // A new election starts again from the minimum.
    let out = step(&mut c, FleInput::StartLooking(h(S1)));
    assert_eq!(out.last(), Some(&poll(POLL)));
}

#[test]
fn timers_that_are_not_armed_are_ignored() {
    let mut c = core_of(S1, &THREE);
    assert_eq!(fire(&mut c, FleTimer::Notification), vec![], "idle");
    let mut c = started(S1);
    assert_eq!(fire(&mut c, FleTimer::Finalize), vec![], "polling");
    let (mut s1, _) = decided_pair();
    assert_eq!(fire(&mut s1, FleTimer::Notification), vec![], "decided");
    assert_eq!(fire(&mut s1, FleTimer::Finalize), vec![], "decided");
}

// ---- inputs refused or ignored ----

#[test]
fn an_idle_core_ignores_notifications() {
    let mut c = core_of(S1, &THREE);
    assert_eq!(deliver(&mut c, S2, looking(prop(S2, h(S2)), 1)), vec![]);
    assert_eq!((c.phase(), c.logicalclock()), (Phase::Idle, Round(0)));
}

#[test]
fn a_notification_the_wire_cannot_carry_is_refused() {
    let mut c = started(S1);
    let huge = looking(prop(S2, h(S2)), WIRE_MAX + 1);
    let err = c
        .handle(FleInput::Notification {
            from: S2,
            msg: huge,
        })
        .unwrap_err();
    assert_eq!(
        err,
        FleError::OutOfRange {
            field: "electionEpoch",
            value: WIRE_MAX + 1
        }
    );
    assert_eq!((c.take_outputs(), c.logicalclock()), (vec![], Round(1)));
}

#[test]
fn config_errors_name_the_field() {
    let field = |cfg: FleConfig| match FleCore::new(cfg) {
        Err(FleError::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(FleConfig::new(S4, THREE.to_vec())), "id");
    assert_eq!(field(FleConfig::new(S1, vec![])), "voters");
    let zero_wait = FleConfig {
        finalize_wait_ms: 0,
        ..FleConfig::new(S1, THREE.to_vec())
    };
    assert_eq!(field(zero_wait), "finalize_wait_ms");
    let inverted = FleConfig {
        min_notification_interval_ms: 5_000,
        ..FleConfig::new(S1, THREE.to_vec())
    };
    assert_eq!(field(inverted), "min_notification_interval_ms");
    let unsorted = FleConfig {
        voters: vec![S2, S1],
        ..FleConfig::new(S1, THREE.to_vec())
    };
    assert_eq!(field(unsorted), "voters");
}

// ---- wire format ----

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn the_notification_captured_from_zookeeper_3_8_decodes_and_encodes_byte_for_byte() {
    // fle.md § Messages: a LOOKING vote for sid 9, round 1, as sent to a live 3.8.0.
    let bytes = hex(
        "00000000 0000000000000009 0000000000000000 0000000000000001 0000000000000000 \
         00000002 00000000",
    );
    let n = Notification {
        state: PeerState::Looking,
        leader: ServerId(9),
        zxid: Zxid(0),
        election_epoch: Round(1),
        peer_epoch: Epoch(0),
        version: 2,
        config: vec![],
    };
    assert_eq!(bytes.len(), HEADER_BYTES);
    assert_eq!(decode(&bytes), Ok(n.clone()));
    assert_eq!(encode(&n), Ok(bytes));
}

#[test]
fn a_reply_with_its_configuration_decodes() {
    let cfg = b"server.1=127.0.0.1:28881:38881:participant\nversion=0".to_vec();
    let n = Notification {
        state: PeerState::Following,
        leader: ServerId(2),
        zxid: Zxid(0x1_0000_0006),
        election_epoch: Round(2),
        peer_epoch: Epoch(2),
        version: 2,
        config: cfg.clone(),
    };
    let bytes = encode(&n).expect("encodable");
    assert_eq!(bytes.len(), HEADER_BYTES + cfg.len());
    assert_eq!(&bytes[40..44], &(cfg.len() as i32).to_be_bytes());
    assert_eq!(decode(&bytes), Ok(n));
}

#[test]
fn the_legacy_forms_decode_as_zookeeper_reads_them() {
    let full = encode(&looking(
        Proposal {
            leader: S2,
            zxid: Zxid(0x5_0000_0007),
            peer_epoch: Epoch(6),
        },
        3,
    ))
    .expect("encodable");
    // 28 bytes: no peerEpoch (the zxid's epoch), no version.
    let n = decode(&full[..28]).expect("28-byte form");
    assert_eq!((n.peer_epoch, n.version, n.config.len()), (Epoch(5), 0, 0));
    // 40 bytes: peerEpoch, and a version field ZooKeeper ignores (its own 40-byte form says 1).
    let n = decode(&full[..40]).expect("40-byte form");
    assert_eq!((n.peer_epoch, n.version), (Epoch(6), 0));
    let mut v1 = full[..40].to_vec();
    v1[36..40].copy_from_slice(&1i32.to_be_bytes());
    assert_eq!(decode(&v1).map(|n| n.version), Ok(0));
    // Any other length reads the version: 36 bytes ends inside it.
    assert_eq!(
        decode(&full[..36]),
        Err(DecodeError::Truncated {
            field: "version",
            len: 36
        })
    );
    // Version 1 in a longer payload: no configuration follows, so the rest is trailing.
    let mut v1_long = v1.clone();
    v1_long.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        decode(&v1_long),
        Err(DecodeError::TrailingBytes { extra: 4 })
    );
}

#[test]
fn decode_errors_name_what_is_wrong() {
    let good = encode(&looking(prop(S2, h(S2)), 3)).expect("encodable");
    let with = |at: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (
            vec![],
            DecodeError::Truncated {
                field: "state",
                len: 0,
            },
        ),
        (
            good[..27].to_vec(),
            DecodeError::Truncated {
                field: "electionEpoch",
                len: 27,
            },
        ),
        (
            good[..30].to_vec(),
            DecodeError::Truncated {
                field: "peerEpoch",
                len: 30,
            },
        ),
        (
            good[..38].to_vec(),
            DecodeError::Truncated {
                field: "version",
                len: 38,
            },
        ),
        (
            good[..42].to_vec(),
            DecodeError::Truncated {
                field: "cfgLen",
                len: 42,
            },
        ),
        (with(0, &7i32.to_be_bytes()), DecodeError::UnknownState(7)),
        (
            with(4, &(-1i64).to_be_bytes()),
            DecodeError::Negative {
                field: "leader",
                value: -1,
            },
        ),
        (
            with(12, &i64::MIN.to_be_bytes()),
            DecodeError::Negative {
                field: "zxid",
                value: i64::MIN,
            },
        ),
        (
            with(36, &(-2i32).to_be_bytes()),
            DecodeError::NegativeVersion(-2),
        ),
        (
            with(40, &(-1i32).to_be_bytes()),
            DecodeError::ConfigLength(-1),
        ),
        (
            with(40, &(MAX_CONFIG_BYTES as i32 + 1).to_be_bytes()),
            DecodeError::ConfigLength(MAX_CONFIG_BYTES as i32 + 1),
        ),
        (
            with(40, &5i32.to_be_bytes()),
            DecodeError::Truncated {
                field: "config",
                len: 44,
            },
        ),
        (
            [good.clone(), vec![0, 0]].concat(),
            DecodeError::TrailingBytes { extra: 2 },
        ),
    ];
    for (bytes, want) in cases {
        let got = decode(&bytes);
        assert_eq!(got, Err(want.clone()), "{bytes:02x?}");
        assert!(!want.to_string().is_empty());
    }
    assert_eq!(
        DecodeError::ConfigLength(-1).to_string(),
        format!("cfgLen = -1: not in 0..={MAX_CONFIG_BYTES}")
    );
}

#[test]
fn encode_refuses_what_the_wire_cannot_carry() {
    let n = looking(prop(S2, h(S2)), WIRE_MAX + 1);
    assert_eq!(
        encode(&n),
        Err(EncodeError::OutOfRange {
            field: "electionEpoch",
            value: WIRE_MAX + 1
        })
    );
    let legacy_with_config = Notification {
        version: 1,
        config: vec![1],
        ..looking(prop(S2, h(S2)), 1)
    };
    assert!(matches!(
        encode(&legacy_with_config),
        Err(EncodeError::Config { len: 1, version: 1 })
    ));
    let too_long = Notification {
        config: vec![0; MAX_CONFIG_BYTES + 1],
        ..looking(prop(S2, h(S2)), 1)
    };
    assert!(matches!(encode(&too_long), Err(EncodeError::Config { .. })));
}

fn any_state() -> impl Strategy<Value = PeerState> {
    (0i32..4).prop_map(|s| PeerState::from_wire(s).expect("ordinal"))
}

prop_compose! {
    fn any_notification()(
        state in any_state(),
        leader in 0..=WIRE_MAX,
        zxid in 0..=WIRE_MAX,
        round in 0..=WIRE_MAX,
        epoch in 0..=WIRE_MAX,
        // Version 1 is written in the 40-byte form, whose version ZooKeeper ignores.
        version in prop_oneof![Just(0u32), 2u32..=i32::MAX as u32],
        config in proptest::collection::vec(any::<u8>(), 0..64),
    ) -> Notification {
        Notification {
            state,
            leader: ServerId(leader),
            zxid: Zxid(zxid),
            election_epoch: Round(round),
            peer_epoch: Epoch(epoch),
            version,
            config: if version > 1 { config } else { Vec::new() },
        }
    }
}

proptest! {
    /// Any bytes: a notification or an error, never a panic, and whatever decodes re-encodes
    /// to the same bytes when it is in the current form.
    #[test]
    fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        if let Ok(n) = decode(&bytes) {
            prop_assert!(n.config.len() <= MAX_CONFIG_BYTES);
            if bytes.len() >= HEADER_BYTES && n.version > 1 {
                prop_assert_eq!(encode(&n), Ok(bytes));
            }
        }
    }

    /// Mostly-valid payloads (a real header with fields overwritten by arbitrary bytes) reach
    /// the deeper checks that random bytes rarely pass.
    #[test]
    fn decode_is_total_near_valid_payloads(
        n in any_notification(),
        at in 0usize..64,
        junk in proptest::collection::vec(any::<u8>(), 0..8),
        cut in 0usize..128,
    ) {
        let mut bytes = encode(&n).expect("encodable");
        for (i, b) in junk.iter().enumerate() {
            if let Some(slot) = bytes.get_mut(at + i) {
                *slot = *b;
            }
        }
        bytes.truncate(cut.max(1) * bytes.len() / 128);
        let _ = decode(&bytes);
    }

    #[test]
    fn encode_then_decode_is_the_identity(n in any_notification()) {
        let bytes = encode(&n).expect("encodable");
        prop_assert_eq!(decode(&bytes), Ok(n));
    }
}

// ---- simulation: several cores, seeded random orders ----

/// A small deterministic PRNG (splitmix64): the simulation's only source of choice.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Cores over per-pair FIFO links (TCP), each core's one timer as "armed or not", and ZAB
/// abstracted as the model abstracts it (fle.md § Actions, `fle.zab.give-up`): a decided server
/// whose ensemble cannot form (a follower whose leader does not lead it, a leader without a
/// quorum of followers) may return to LOOKING. A finalize wait expires only when nothing is in
/// flight: the wait is longer than a message's delay, the premise under which FastLeaderElection
/// elects the best server of a round.
struct Sim {
    ids: Vec<ServerId>,
    cores: Vec<FleCore>,
    links: std::collections::BTreeMap<(usize, usize), std::collections::VecDeque<Notification>>,
    armed: Vec<Option<FleTimer>>,
    decisions: Vec<Option<Decision>>,
    histories: Vec<History>,
    /// Whether the process runs. Messages to a server that is not up wait on their link until
    /// it is (ZooKeeper queues them per peer and sends them when the connection is made).
    up: Vec<bool>,
    /// How often a stuck server returned to LOOKING.
    give_ups: usize,
    rng: Rng,
    trace: bool,
}

impl Sim {
    fn new(histories: Vec<History>, rng: Rng) -> Self {
        let ids: Vec<ServerId> = (1..=histories.len() as u64).map(ServerId).collect();
        Sim {
            cores: ids.iter().map(|&id| core_of(id, &ids)).collect(),
            links: Default::default(),
            armed: vec![None; ids.len()],
            decisions: vec![None; ids.len()],
            up: vec![false; ids.len()],
            histories,
            ids,
            give_ups: 0,
            rng,
            trace: std::env::var_os("FLE_SIM_TRACE").is_some(),
        }
    }

    fn index(&self, id: ServerId) -> usize {
        self.ids.iter().position(|&i| i == id).expect("a voter")
    }

    fn input(&mut self, i: usize, input: FleInput) {
        if self.trace {
            eprintln!("{} <- {input:?}", self.ids[i]);
        }
        self.cores[i].handle(input).expect("accepted");
        for out in self.cores[i].take_outputs() {
            match out {
                FleOutput::Send { to, msg } => {
                    // Every message crosses the wire format, as in a node.
                    let bytes = encode(&msg).expect("the core sends encodable notifications");
                    let msg = decode(&bytes).expect("what encode writes decodes");
                    let j = self.index(to);
                    self.links.entry((i, j)).or_default().push_back(msg);
                }
                FleOutput::SetTimer { timer, .. } => self.armed[i] = Some(timer),
                FleOutput::CancelTimer(t) => {
                    assert_eq!(self.armed[i].take(), Some(t), "cancels what is armed");
                }
                FleOutput::Decided(d) => {
                    assert!(self.decisions[i].is_none(), "one decision per election");
                    assert_eq!(self.armed[i], None, "no timer survives a decision");
                    self.decisions[i] = Some(d);
                }
            }
        }
    }

    fn start_looking(&mut self, i: usize) {
        self.decisions[i] = None;
        let h = self.histories[i];
        self.input(i, FleInput::StartLooking(h));
    }

    fn busy_links(&self) -> Vec<(usize, usize)> {
        let busy = self
            .links
            .iter()
            .filter(|(&(_, j), q)| self.up[j] && !q.is_empty());
        busy.map(|(&k, _)| k).collect()
    }

    fn deliver_one(&mut self, busy: &[(usize, usize)]) {
        let (i, j) = busy[self.rng.below(busy.len())];
        let msg = self.links.get_mut(&(i, j)).and_then(|q| q.pop_front());
        let msg = msg.expect("a busy link");
        let from = self.ids[i];
        self.input(j, FleInput::Notification { from, msg });
    }

    fn fire_one(&mut self, among: &[usize]) {
        let i = among[self.rng.below(among.len())];
        let t = self.armed[i].take().expect("armed");
        self.input(i, FleInput::Timer(t));
    }

    fn armed_as(&self, t: FleTimer) -> Vec<usize> {
        (0..self.ids.len())
            .filter(|&i| self.armed[i] == Some(t))
            .collect()
    }

    /// The leader `i` decided for, if it decided.
    fn leader_of(&self, i: usize) -> Option<ServerId> {
        self.decisions[i].map(|d| d.vote.leader)
    }

    /// Decided servers whose ensemble cannot form: ZAB would give up on them.
    fn stuck(&self) -> Vec<usize> {
        let quorum = self.ids.len() / 2 + 1;
        (0..self.ids.len())
            .filter(|&i| {
                let Some(leader) = self.leader_of(i) else {
                    return false;
                };
                let l = self.index(leader);
                let followers = (0..self.ids.len())
                    .filter(|&j| self.leader_of(j) == Some(leader))
                    .count();
                let leads = self.decisions[l].is_some_and(|d| d.state == PeerState::Leading);
                !leads || self.leader_of(l) != Some(leader) || followers < quorum
            })
            .collect()
    }

    /// Starts the servers `start` at random moments, each running 1 to `elections` elections
    /// back to back (each later one a round higher, the earlier rounds' notifications still in
    /// flight), and runs until every server that is up has decided and none is stuck.
    fn run(&mut self, start: &[usize], elections: usize) {
        let mut unstarted = start.to_vec();
        for _ in 0..100_000 {
            let undecided = (0..self.ids.len()).any(|i| self.up[i] && self.decisions[i].is_none());
            let stuck = self.stuck();
            if unstarted.is_empty() && !undecided && stuck.is_empty() {
                return;
            }
            let busy = self.busy_links();
            if !unstarted.is_empty() && (busy.is_empty() || self.rng.below(4) == 0) {
                let i = unstarted.swap_remove(self.rng.below(unstarted.len()));
                self.up[i] = true;
                for _ in 0..=self.rng.below(elections) {
                    self.start_looking(i);
                }
            } else if !busy.is_empty() {
                // Now and then a notification timeout while messages are in flight.
                let polling = self.armed_as(FleTimer::Notification);
                if !polling.is_empty() && self.rng.below(20) == 0 {
                    self.fire_one(&polling);
                } else {
                    self.deliver_one(&busy);
                }
            } else if !self.armed_as(FleTimer::Finalize).is_empty() {
                self.fire_one(&self.armed_as(FleTimer::Finalize));
            } else {
                let polling = self.armed_as(FleTimer::Notification);
                assert!(
                    !polling.is_empty() || !stuck.is_empty(),
                    "quiet, undecided, and no timer armed"
                );
                if stuck.is_empty() || (!polling.is_empty() && self.rng.below(2) == 0) {
                    self.fire_one(&polling);
                } else {
                    self.give_ups += 1;
                    let i = stuck[self.rng.below(stuck.len())];
                    self.start_looking(i);
                }
            }
        }
        panic!("no stable decision within 100,000 steps");
    }
}

/// Histories drawn from a small range so that epochs, zxids and sids each decide some runs.
fn random_histories(rng: &mut Rng, n: usize) -> Vec<History> {
    (0..n)
        .map(|_| {
            let epoch = 1 + rng.below(2) as u64;
            hist(epoch, epoch << 32 | rng.below(3) as u64)
        })
        .collect()
}

/// Runs `n` servers with seed `seed`, each starting up to `elections` elections, then `check`;
/// returns how often a server gave up. A failure prints the line that reproduces it.
fn simulate(n: usize, seed: u64, elections: usize, check: impl Fn(&Sim)) -> usize {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut rng = Rng(seed);
        let histories = random_histories(&mut rng, n);
        let mut sim = Sim::new(histories, rng);
        let all: Vec<usize> = (0..n).collect();
        sim.run(&all, elections);
        check(&sim);
        sim.give_ups
    }));
    match result {
        Ok(give_ups) => give_ups,
        Err(e) => {
            eprintln!(
                "reproduce: simulate(n = {n}, seed = {seed}, elections = {elections}); \
             FLE_SIM_TRACE=1 prints every input"
            );
            std::panic::resume_unwind(e)
        }
    }
}

/// Every server decided for the best proposal, leading if it is its own, in one go (no server
/// had to give up).
fn all_follow_the_best(sim: &Sim) {
    let best = (0..sim.ids.len())
        .map(|i| Proposal::own(sim.ids[i], sim.histories[i]))
        .max_by_key(|p| p.key())
        .expect("servers");
    assert_eq!(sim.give_ups, 0);
    for (i, d) in sim.decisions.iter().enumerate() {
        let d = d.expect("decided");
        assert_eq!(d.vote.proposal(), best, "server {}", sim.ids[i]);
        let leads = sim.ids[i] == best.leader;
        assert_eq!(
            d.state == PeerState::Leading,
            leads,
            "server {}",
            sim.ids[i]
        );
    }
}

#[test]
fn simulated_three_servers_in_one_round_elect_the_best() {
    for seed in 0..300 {
        simulate(3, seed, 1, all_follow_the_best);
    }
}

#[test]
fn simulated_five_servers_in_one_round_elect_the_best() {
    for seed in 1_000..1_200 {
        simulate(5, seed, 1, all_follow_the_best);
    }
}

/// Servers that start in different rounds end in one ensemble, but not always in one go: a
/// server in its finalize wait drops a newer round's notification whose vote is not better
/// (`fle.decide.finalize-wait`, as ZooKeeper does), so it can decide alone in its older round,
/// and a server whose round moved on cannot lead on out-of-election votes of an older round
/// (`checkLeader`); ZAB then gives up on them and they join. FLE does not promise one leader.
#[test]
fn simulated_servers_in_different_rounds_end_in_one_ensemble() {
    let mut give_ups = 0;
    for (n, seeds) in [(3, 0..300), (5, 0..200)] {
        for seed in seeds {
            give_ups += simulate(n, seed, 3, |sim| {
                let leader = sim.leader_of(0).expect("decided");
                for i in 0..n {
                    assert_eq!(sim.leader_of(i), Some(leader), "server {}", sim.ids[i]);
                }
                let l = sim.index(leader);
                assert_eq!(sim.decisions[l].map(|d| d.state), Some(PeerState::Leading));
            });
        }
    }
    assert!(give_ups > 0, "the runs include servers that had to give up");
}

#[test]
fn simulated_late_server_follows_the_established_leader_even_when_it_is_better() {
    for seed in 0..100 {
        // S3 is the best, but S1 and S2 decide (for S2) before it starts.
        let mut sim = Sim::new(vec![h(S1), h(S2), h(S3)], Rng(seed));
        sim.run(&[0, 1], 1);
        for i in 0..2 {
            let d = sim.decisions[i].expect("decided");
            assert_eq!(d.vote.leader, S2, "seed {seed}");
        }
        sim.run(&[2], 1);
        let d = sim.decisions[2].expect("decided");
        assert_eq!(
            (d.state, d.vote.leader),
            (PeerState::Following, S2),
            "seed {seed}"
        );
        assert_ne!(d.path, DecisionPath::Looking, "seed {seed}");
    }
}
