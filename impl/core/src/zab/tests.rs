//! Exact-output tests of the ZAB core, one group per rule of `docs/protocols/zab.md`, the wire
//! format's round trip and totality, forged inputs, and a seeded simulation with crashes.

use super::*;
use crate::fle::{Epoch, Zxid};
use crate::types::{PersistId, RequestId, ServerId};
use proptest::prelude::*;

mod sim;

const S1: ServerId = ServerId(1);
const S2: ServerId = ServerId(2);
const S3: ServerId = ServerId(3);
const THREE: [ServerId; 3] = [S1, S2, S3];

fn z(e: u64, c: u64) -> Zxid {
    make_zxid(Epoch(e), c)
}

fn txn(e: u64, c: u64) -> Txn {
    Txn {
        zxid: z(e, c),
        data: vec![e as u8, c as u8],
    }
}

fn durable(accepted: u64, current: u64, log: &[(u64, u64)]) -> Durable {
    Durable {
        accepted_epoch: Epoch(accepted),
        current_epoch: Epoch(current),
        log: log.iter().map(|&(e, c)| txn(e, c)).collect(),
    }
}

fn config(me: ServerId) -> ZabConfig {
    ZabConfig::new(me, THREE.to_vec())
}

fn start(me: ServerId, d: Durable, role: ZabRole) -> (ZabCore, Vec<ZabOutput>) {
    let mut c = ZabCore::start(config(me), d, role, Zxid(0)).unwrap();
    let out = c.take_outputs();
    (c, out)
}

fn step(c: &mut ZabCore, input: ZabInput) -> Vec<ZabOutput> {
    c.handle(input).unwrap();
    c.take_outputs()
}

fn from(peer: ServerId, msg: ZabMessage) -> ZabInput {
    ZabInput::Message { from: peer, msg }
}

fn send(to: ServerId, msg: ZabMessage) -> ZabOutput {
    ZabOutput::Send { to, msg }
}

fn persisted(id: u64) -> ZabInput {
    ZabInput::Persisted { id: PersistId(id) }
}

fn persist(id: u64, writes: Vec<ZabWrite>) -> ZabOutput {
    ZabOutput::Persist {
        id: PersistId(id),
        writes,
    }
}

fn set(timer: ZabTimer, after_ms: u64) -> ZabOutput {
    ZabOutput::SetTimer { timer, after_ms }
}

fn proposal(t: &Txn) -> ZabMessage {
    ZabMessage::Proposal {
        zxid: t.zxid,
        data: t.data.clone(),
    }
}

fn ack(e: u64, c: u64) -> ZabMessage {
    ZabMessage::Ack { zxid: z(e, c) }
}

fn commit(e: u64, c: u64) -> ZabMessage {
    ZabMessage::Commit { zxid: z(e, c) }
}

fn leaderinfo(e: u64) -> ZabMessage {
    ZabMessage::LeaderInfo { epoch: Epoch(e) }
}

fn ackepoch(current: Option<u64>, last: Zxid) -> ZabMessage {
    ZabMessage::AckEpoch {
        current_epoch: current.map(Epoch),
        last_zxid: last,
    }
}

fn give_up_protocol(out: &[ZabOutput]) -> bool {
    matches!(out, [ZabOutput::GiveUp(GiveUpReason::Protocol(_))])
}

#[test]
fn every_rule_of_the_contract_is_cited_by_the_core() {
    let contract = include_str!("../../../../docs/protocols/zab.md");
    let code = [
        include_str!("core.rs"),
        include_str!("follower.rs"),
        include_str!("leader.rs"),
        include_str!("types.rs"),
        include_str!("wire.rs"),
    ]
    .concat();
    // The election's and the runtime's: the node composes FLE and ZAB and executes crashes.
    let not_the_cores = [
        "zab.election.lead",
        "zab.election.follow",
        "zab.election.fle.decide",
        "zab.election.fle.next-round",
        "zab.election.fle.update-vote",
    ];
    let ids: Vec<&str> = contract
        .split("**`")
        .skip(1)
        .filter_map(|rest| rest.split('`').next())
        .filter(|id| id.starts_with("zab."))
        .collect();
    assert!(ids.len() >= 25, "the rule list was found: {ids:?}");
    assert!(ids.contains(&"zab.impl.counter-overflow"), "{ids:?}");
    for id in ids {
        if !not_the_cores.contains(&id) {
            let cited = code.contains(&format!("`{id}`"));
            assert!(cited, "{id} is not cited in impl/core/src/zab");
        }
    }
}

// ---- configuration and durable state ----

#[test]
fn a_durable_state_zookeeper_would_refuse_is_refused() {
    let bad = [
        (durable(1, 2, &[]), "acceptedEpoch below currentEpoch"),
        (durable(1, 1, &[(1, 2), (1, 1)]), "log zxids do not ascend"),
    ];
    for (d, why) in bad {
        let err = ZabCore::start(config(S1), d, ZabRole::Leading, Zxid(0)).unwrap_err();
        assert_eq!(err, ZabError::Durable(why));
    }
    let err = ZabCore::start(
        config(S1),
        durable(0, 0, &[]),
        ZabRole::Following(S1),
        Zxid(0),
    );
    assert!(matches!(
        err,
        Err(ZabError::Config {
            field: "leader",
            ..
        })
    ));
}

#[test]
fn a_message_from_a_stranger_is_an_error_and_changes_nothing() {
    let (mut c, _) = start(S1, durable(0, 0, &[]), ZabRole::Following(S3));
    let err = c.handle(from(ServerId(9), leaderinfo(1))).unwrap_err();
    assert_eq!(err, ZabError::UnknownPeer(ServerId(9)));
    assert_eq!(
        c.handle(persisted(1)),
        Err(ZabError::UnknownPersist(PersistId(1)))
    );
    assert!(c.take_outputs().is_empty());
}

// ---- zab.discovery.followerinfo / zab.discovery.leaderinfo (learner) ----

#[test]
fn a_follower_starts_with_followerinfo_and_the_sync_timeout() {
    let (_, out) = start(S1, durable(4, 3, &[(3, 1)]), ZabRole::Following(S3));
    let fi = ZabMessage::FollowerInfo {
        accepted_epoch: Epoch(4),
    };
    assert_eq!(
        out,
        vec![send(S3, fi), set(ZabTimer::Sync, DEFAULT_SYNC_TIMEOUT_MS)]
    );
}

#[test]
fn ackepoch_is_withheld_until_the_new_accepted_epoch_is_durable() {
    let (mut c, _) = start(S1, durable(1, 1, &[(1, 1)]), ZabRole::Following(S3));
    let out = step(&mut c, from(S3, leaderinfo(2)));
    assert_eq!(
        out,
        vec![persist(1, vec![ZabWrite::AcceptedEpoch(Epoch(2))])]
    );
    let out = step(&mut c, persisted(1));
    assert_eq!(out, vec![send(S3, ackepoch(Some(1), z(1, 1)))]);
}

#[test]
fn the_epoch_already_accepted_is_acked_with_minus_one_at_once() {
    let (mut c, _) = start(S1, durable(2, 1, &[(1, 1)]), ZabRole::Following(S3));
    let out = step(&mut c, from(S3, leaderinfo(2)));
    assert_eq!(out, vec![send(S3, ackepoch(None, z(1, 1)))]);
}

#[test]
fn an_epoch_below_accepted_is_refused_and_the_core_stops() {
    let (mut c, _) = start(S1, durable(3, 1, &[]), ZabRole::Following(S3));
    let out = step(&mut c, from(S3, leaderinfo(2)));
    assert_eq!(
        out,
        vec![ZabOutput::GiveUp(GiveUpReason::EpochRefused(Epoch(2)))]
    );
    assert!(c.stopped());
    assert_eq!(c.handle(from(S3, leaderinfo(4))), Err(ZabError::Stopped));
}

#[test]
fn an_epoch_past_max_epoch_is_refused_not_wrapped() {
    let (mut c, _) = start(S1, durable(MAX_EPOCH, 1, &[]), ZabRole::Following(S3));
    let out = step(&mut c, from(S3, leaderinfo(MAX_EPOCH + 1)));
    let e = Epoch(MAX_EPOCH + 1);
    assert_eq!(out, vec![ZabOutput::GiveUp(GiveUpReason::EpochRefused(e))]);
}

// ---- zab.discovery.* (leader) ----

/// A leader S3 that fixed `epoch` with S1's FOLLOWERINFO and has it durable; outputs taken.
fn leader_with_epoch_accepted(d: Durable, s1_accepted: u64) -> ZabCore {
    let (mut l, out) = start(S3, d, ZabRole::Leading);
    assert_eq!(out, vec![set(ZabTimer::Sync, DEFAULT_SYNC_TIMEOUT_MS)]);
    let fi = ZabMessage::FollowerInfo {
        accepted_epoch: Epoch(s1_accepted),
    };
    let out = step(&mut l, from(S1, fi));
    let [ZabOutput::Persist { id, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    let id = *id;
    l.handle(ZabInput::Persisted { id }).unwrap();
    l.take_outputs();
    l
}

#[test]
fn a_quorum_of_followerinfo_fixes_max_accepted_plus_one_and_leaderinfo_waits_for_it() {
    let (mut l, _) = start(S3, durable(2, 2, &[(2, 1)]), ZabRole::Leading);
    let fi = |e| ZabMessage::FollowerInfo {
        accepted_epoch: Epoch(e),
    };
    // S1 accepted 4 earlier: the quorum {S3, S1} fixes 5.
    let out = step(&mut l, from(S1, fi(4)));
    assert_eq!(
        out,
        vec![persist(1, vec![ZabWrite::AcceptedEpoch(Epoch(5))])]
    );
    // S2 connects while the epoch is being written: answered once it is durable.
    assert_eq!(step(&mut l, from(S2, fi(1))), vec![]);
    let out = step(&mut l, persisted(1));
    assert_eq!(out, vec![send(S1, leaderinfo(5)), send(S2, leaderinfo(5))]);
}

#[test]
fn a_leader_refuses_an_epoch_past_max_epoch() {
    let (mut l, _) = start(S3, durable(1, 1, &[]), ZabRole::Leading);
    let fi = ZabMessage::FollowerInfo {
        accepted_epoch: Epoch(MAX_EPOCH),
    };
    let out = step(&mut l, from(S1, fi));
    let e = Epoch(MAX_EPOCH + 1);
    assert_eq!(out, vec![ZabOutput::GiveUp(GiveUpReason::EpochRefused(e))]);
}

#[test]
fn a_quorum_of_ackepoch_writes_current_epoch_before_any_synchronization() {
    let mut l = leader_with_epoch_accepted(durable(1, 1, &[(1, 1)]), 1);
    let out = step(&mut l, from(S1, ackepoch(Some(1), z(1, 1))));
    assert_eq!(
        out,
        vec![persist(2, vec![ZabWrite::CurrentEpoch(Epoch(2))])]
    );
    let out = step(&mut l, persisted(2));
    let nl = ZabMessage::NewLeader { epoch: Epoch(2) };
    assert_eq!(
        out,
        vec![send(S1, ZabMessage::Diff { zxid: z(1, 1) }), send(S1, nl)]
    );
}

#[test]
fn an_ackepoch_more_recent_than_the_leader_closes_that_connection_uncounted() {
    let mut l = leader_with_epoch_accepted(durable(1, 1, &[(1, 1)]), 1);
    let out = step(&mut l, from(S1, ackepoch(Some(1), z(1, 2))));
    assert_eq!(out, vec![ZabOutput::Disconnect { peer: S1 }]);
    // No quorum was reached: nothing is written, and S1's later ACKEPOCH is not read.
    assert_eq!(step(&mut l, from(S1, ackepoch(Some(1), z(1, 1)))), vec![]);
}

#[test]
fn an_ackepoch_with_minus_one_is_not_counted_but_synchronized_after_the_quorum() {
    let mut l = leader_with_epoch_accepted(durable(1, 1, &[(1, 1)]), 1);
    // S2 connects after the epoch is fixed: LEADERINFO at once.
    let fi = ZabMessage::FollowerInfo {
        accepted_epoch: Epoch(2),
    };
    assert_eq!(step(&mut l, from(S2, fi)), vec![send(S2, leaderinfo(2))]);
    assert_eq!(step(&mut l, from(S1, ackepoch(None, z(1, 1)))), vec![]);
    let out = step(&mut l, from(S2, ackepoch(Some(1), Zxid(0))));
    assert_eq!(
        out,
        vec![persist(2, vec![ZabWrite::CurrentEpoch(Epoch(2))])]
    );
    let out = step(&mut l, persisted(2));
    let nl = ZabMessage::NewLeader { epoch: Epoch(2) };
    let t = txn(1, 1);
    assert_eq!(
        out,
        vec![
            send(S1, ZabMessage::Diff { zxid: z(1, 1) }),
            send(S1, nl.clone()),
            send(S2, ZabMessage::Diff { zxid: z(1, 1) }),
            send(S2, proposal(&t)),
            send(S2, commit(1, 1)),
            send(S2, nl),
        ]
    );
}

// ---- zab.sync.diff / zab.sync.trunc / zab.sync.trunc-diff (leader) ----

/// What a leader with durable state `d` sends S1, whose ACKEPOCH carries currentEpoch
/// `peer_current` and last zxid `peer_last`.
fn sync_of_peer(d: Durable, peer_current: u64, peer_last: Zxid) -> Vec<ZabOutput> {
    let accepted = d.accepted_epoch.0;
    let mut l = leader_with_epoch_accepted(d, accepted);
    let out = step(&mut l, from(S1, ackepoch(Some(peer_current), peer_last)));
    assert!(matches!(out[..], [ZabOutput::Persist { .. }]), "{out:?}");
    step(&mut l, persisted(2))
}

/// As [`sync_of_peer`], S1 in the leader's currentEpoch.
fn sync_of(d: Durable, peer_last: Zxid) -> Vec<ZabOutput> {
    let current = d.current_epoch.0;
    sync_of_peer(d, current, peer_last)
}

#[test]
fn diff_when_the_learner_holds_a_prefix_of_the_leaders_log() {
    let d = || durable(1, 1, &[(1, 1), (1, 2), (1, 3)]);
    let nl = send(S1, ZabMessage::NewLeader { epoch: Epoch(2) });
    let diff = send(S1, ZabMessage::Diff { zxid: z(1, 3) });
    // Same last zxid: an empty DIFF.
    assert_eq!(sync_of(d(), z(1, 3)), vec![diff.clone(), nl.clone()]);
    // Inside the log: the rest as PROPOSAL/COMMIT pairs.
    let want = vec![
        diff.clone(),
        send(S1, proposal(&txn(1, 2))),
        send(S1, commit(1, 2)),
        send(S1, proposal(&txn(1, 3))),
        send(S1, commit(1, 3)),
        nl.clone(),
    ];
    assert_eq!(sync_of(d(), z(1, 1)), want);
    // An empty log (counter 0): everything.
    let mut want_all = vec![diff, send(S1, proposal(&txn(1, 1))), send(S1, commit(1, 1))];
    want_all.extend_from_slice(&want[1..]);
    assert_eq!(sync_of(d(), Zxid(0)), want_all);
}

#[test]
fn trunc_when_the_learner_is_past_the_leaders_log() {
    // S1 logged 1.3 under epoch 1; the leader of epoch 2 committed only up to 1.2.
    let d = durable(2, 2, &[(1, 1), (1, 2)]);
    let out = sync_of_peer(d, 1, z(1, 3));
    let want = vec![
        send(S1, ZabMessage::Trunc { zxid: z(1, 2) }),
        send(S1, ZabMessage::NewLeader { epoch: Epoch(3) }),
    ];
    assert_eq!(out, want);
}

#[test]
fn trunc_then_diff_when_the_learner_holds_an_old_epochs_tail_the_leader_lacks() {
    // The leader of epoch 2 never had 1.2; S1 logged it under epoch 1.
    let d = durable(2, 2, &[(1, 1), (2, 1)]);
    let out = sync_of_peer(d, 1, z(1, 2));
    let want = vec![
        send(S1, ZabMessage::Trunc { zxid: z(1, 1) }),
        send(S1, ZabMessage::Diff { zxid: z(2, 1) }),
        send(S1, proposal(&txn(2, 1))),
        send(S1, commit(2, 1)),
        send(S1, ZabMessage::NewLeader { epoch: Epoch(3) }),
    ];
    assert_eq!(out, want);
}

// ---- zab.newleader.* (learner) ----

/// S1 with log [1.1, 1.2], acceptedEpoch 2, currentEpoch 1, past LEADERINFO(3) (acceptedEpoch
/// persist 1 acknowledged) and ACKEPOCH.
fn learner_in_sync() -> ZabCore {
    let (mut c, _) = start(S1, durable(2, 1, &[(1, 1), (1, 2)]), ZabRole::Following(S3));
    step(&mut c, from(S3, leaderinfo(3)));
    let out = step(&mut c, persisted(1));
    assert_eq!(out, vec![send(S3, ackepoch(Some(1), z(1, 2)))]);
    c
}

#[test]
fn newleader_writes_trunc_then_history_then_current_epoch_and_acks_only_when_durable() {
    let mut c = learner_in_sync();
    for m in [
        ZabMessage::Trunc { zxid: z(1, 1) },
        ZabMessage::Diff { zxid: z(2, 1) },
        proposal(&txn(2, 1)),
        commit(2, 1),
        proposal(&txn(2, 2)), // outstanding at the leader: no COMMIT
    ] {
        assert_eq!(step(&mut c, from(S3, m)), vec![]);
    }
    let out = step(&mut c, from(S3, ZabMessage::NewLeader { epoch: Epoch(3) }));
    let writes = vec![
        ZabWrite::Truncate { after: z(1, 1) },
        ZabWrite::Append(txn(2, 1)),
        ZabWrite::Append(txn(2, 2)),
        ZabWrite::CurrentEpoch(Epoch(3)),
    ];
    assert_eq!(out, vec![persist(2, writes)]);
    // No packet is read, no timeout seen, until the ACK is sent.
    assert_eq!(step(&mut c, from(S3, ZabMessage::UpToDate)), vec![]);
    let out = step(&mut c, ZabInput::Timer(ZabTimer::Sync));
    assert_eq!(out, vec![set(ZabTimer::Sync, DEFAULT_SYNC_TIMEOUT_MS)]);
    // Durable: the ACK of NEWLEADER, then the held UPTODATE is read.
    let out = step(&mut c, persisted(2));
    assert_eq!(
        out,
        vec![
            send(S3, ack(3, 0)),
            ZabOutput::CancelTimer(ZabTimer::Sync),
            set(ZabTimer::LeaderSilence, DEFAULT_LEADER_SILENCE_MS),
            ZabOutput::Serving { epoch: Epoch(3) },
            ZabOutput::Deliver(txn(1, 1)),
            ZabOutput::Deliver(txn(2, 1)),
            send(S3, ack(2, 2)),
        ]
    );
    assert!(c.serving());
}

#[test]
fn newleader_with_nothing_to_write_is_acked_at_once() {
    let (mut c, _) = start(S1, durable(2, 2, &[(2, 1)]), ZabRole::Following(S3));
    assert_eq!(
        step(&mut c, from(S3, leaderinfo(2))),
        vec![send(S3, ackepoch(None, z(2, 1)))]
    );
    step(&mut c, from(S3, ZabMessage::Diff { zxid: z(2, 1) }));
    let out = step(&mut c, from(S3, ZabMessage::NewLeader { epoch: Epoch(2) }));
    assert_eq!(out, vec![send(S3, ack(2, 0))]);
}

#[test]
fn a_connection_lost_while_persisting_newleader_is_noticed_instead_of_the_ack() {
    let mut c = learner_in_sync();
    step(&mut c, from(S3, ZabMessage::Diff { zxid: z(1, 2) }));
    let out = step(&mut c, from(S3, ZabMessage::NewLeader { epoch: Epoch(3) }));
    assert_eq!(
        out,
        vec![persist(2, vec![ZabWrite::CurrentEpoch(Epoch(3))])]
    );
    assert_eq!(step(&mut c, ZabInput::Disconnected { peer: S3 }), vec![]);
    let out = step(&mut c, persisted(2));
    assert_eq!(out, vec![ZabOutput::GiveUp(GiveUpReason::LeaderLost)]);
}

#[test]
fn newleader_of_another_epoch_than_leaderinfo_is_a_protocol_error() {
    let mut c = learner_in_sync();
    step(&mut c, from(S3, ZabMessage::Diff { zxid: z(1, 2) }));
    let out = step(&mut c, from(S3, ZabMessage::NewLeader { epoch: Epoch(4) }));
    assert!(give_up_protocol(&out), "{out:?}");
}

#[test]
fn a_sync_commit_must_name_the_next_pending_proposal() {
    let mut c = learner_in_sync();
    step(&mut c, from(S3, ZabMessage::Diff { zxid: z(2, 2) }));
    step(&mut c, from(S3, proposal(&txn(2, 1))));
    step(&mut c, from(S3, proposal(&txn(2, 2))));
    let out = step(&mut c, from(S3, commit(2, 2)));
    assert!(give_up_protocol(&out), "{out:?}");
}

#[test]
fn trunc_below_what_was_delivered_is_refused() {
    let d = durable(2, 1, &[(1, 1), (1, 2)]);
    let mut c = ZabCore::start(config(S1), d, ZabRole::Following(S3), z(1, 2)).unwrap();
    step(&mut c, from(S3, leaderinfo(2)));
    let out = step(&mut c, from(S3, ZabMessage::Trunc { zxid: z(1, 1) }));
    assert!(give_up_protocol(&out), "{out:?}");
}

// ---- zab.newleader.quorum / zab.uptodate (leader) ----

/// A serving leader S3 of epoch 2 with log [1.1] and S1 synchronized; outputs taken.
fn serving_leader() -> ZabCore {
    let mut l = leader_with_epoch_accepted(durable(1, 1, &[(1, 1)]), 1);
    step(&mut l, from(S1, ackepoch(Some(1), z(1, 1))));
    step(&mut l, persisted(2));
    l
}

#[test]
fn a_quorum_of_newleader_acks_commits_the_history_and_sends_uptodate() {
    let mut l = serving_leader();
    assert!(!l.serving());
    let out = step(&mut l, from(S1, ack(2, 0)));
    assert_eq!(
        out,
        vec![
            ZabOutput::CancelTimer(ZabTimer::Sync),
            set(ZabTimer::Tick, DEFAULT_TICK_MS),
            ZabOutput::Serving { epoch: Epoch(2) },
            send(S1, ZabMessage::UpToDate),
            ZabOutput::Deliver(txn(1, 1)),
        ]
    );
    assert!(l.serving());
}

#[test]
fn a_first_ack_with_another_zxid_is_not_counted_as_the_newleader_ack() {
    let mut l = serving_leader();
    assert_eq!(step(&mut l, from(S1, ack(2, 1))), vec![]);
    assert!(!l.serving());
}

#[test]
fn a_late_learner_is_synchronized_at_once_and_answered_uptodate() {
    let mut l = serving_leader();
    step(&mut l, from(S1, ack(2, 0)));
    let fi = ZabMessage::FollowerInfo {
        accepted_epoch: Epoch(1),
    };
    assert_eq!(step(&mut l, from(S2, fi)), vec![send(S2, leaderinfo(2))]);
    let out = step(&mut l, from(S2, ackepoch(Some(1), z(1, 1))));
    let nl = ZabMessage::NewLeader { epoch: Epoch(2) };
    assert_eq!(
        out,
        vec![send(S2, ZabMessage::Diff { zxid: z(1, 1) }), send(S2, nl)]
    );
    assert_eq!(
        step(&mut l, from(S2, ack(2, 0))),
        vec![send(S2, ZabMessage::UpToDate)]
    );
}

// ---- zab.broadcast.* ----

/// A serving leader with S1 and S2 up to date; outputs taken.
fn broadcasting_leader() -> ZabCore {
    let mut l = serving_leader();
    step(&mut l, from(S1, ack(2, 0)));
    let fi = ZabMessage::FollowerInfo {
        accepted_epoch: Epoch(2),
    };
    step(&mut l, from(S2, fi));
    step(&mut l, from(S2, ackepoch(None, z(1, 1))));
    step(&mut l, from(S2, ack(2, 0)));
    l
}

fn propose(l: &mut ZabCore, request: u64, data: &[u8]) -> Vec<ZabOutput> {
    let input = ZabInput::Propose {
        request: RequestId(request),
        data: data.to_vec(),
    };
    step(l, input)
}

#[test]
fn a_proposal_is_logged_and_sent_and_commits_on_a_quorum_including_the_leaders_own_log() {
    let mut l = broadcasting_leader();
    let t = Txn {
        zxid: z(2, 1),
        data: b"x".to_vec(),
    };
    let out = propose(&mut l, 7, b"x");
    assert_eq!(
        out,
        vec![
            persist(3, vec![ZabWrite::Append(t.clone())]),
            ZabOutput::Accepted {
                request: RequestId(7),
                zxid: z(2, 1)
            },
            send(S1, proposal(&t)),
            send(S2, proposal(&t)),
        ]
    );
    // S1's ACK alone is no quorum: the leader's own is not durable yet.
    assert_eq!(step(&mut l, from(S1, ack(2, 1))), vec![]);
    let out = step(&mut l, persisted(3));
    assert_eq!(
        out,
        vec![
            send(S1, commit(2, 1)),
            send(S2, commit(2, 1)),
            ZabOutput::Deliver(t)
        ]
    );
    // A stale ACK of a committed proposal changes nothing.
    assert_eq!(step(&mut l, from(S2, ack(2, 1))), vec![]);
}

#[test]
fn proposals_commit_in_zxid_order() {
    let mut l = broadcasting_leader();
    propose(&mut l, 1, b"a");
    propose(&mut l, 2, b"b");
    assert_eq!(step(&mut l, persisted(4)), vec![]); // its own ACK of both
    assert_eq!(step(&mut l, from(S2, ack(2, 2))), vec![]); // 2.2 waits for 2.1
    let out = step(&mut l, from(S1, ack(2, 1)));
    let a = Txn {
        zxid: z(2, 1),
        data: b"a".to_vec(),
    };
    let b = Txn {
        zxid: z(2, 2),
        data: b"b".to_vec(),
    };
    assert_eq!(
        out,
        vec![
            send(S1, commit(2, 1)),
            send(S2, commit(2, 1)),
            ZabOutput::Deliver(a),
            send(S1, commit(2, 2)),
            send(S2, commit(2, 2)),
            ZabOutput::Deliver(b),
        ]
    );
}

#[test]
fn a_learner_synchronized_while_a_proposal_is_outstanding_gets_it_uncommitted_then_its_commit() {
    // zab.sync.forward: without it a learner would see a COMMIT of a proposal it never got
    // (the Zab paper's issue 1).
    let mut l = serving_leader();
    step(&mut l, from(S1, ack(2, 0)));
    let t = Txn {
        zxid: z(2, 1),
        data: b"x".to_vec(),
    };
    let out = propose(&mut l, 1, b"x");
    assert_eq!(out[2..], [send(S1, proposal(&t))]);
    let fi = ZabMessage::FollowerInfo {
        accepted_epoch: Epoch(1),
    };
    step(&mut l, from(S2, fi));
    let out = step(&mut l, from(S2, ackepoch(Some(1), z(1, 1))));
    let want = vec![
        send(S2, ZabMessage::Diff { zxid: z(1, 1) }),
        send(S2, proposal(&t)),
        send(S2, ZabMessage::NewLeader { epoch: Epoch(2) }),
    ];
    assert_eq!(out, want);
    step(&mut l, persisted(3));
    let out = step(&mut l, from(S1, ack(2, 1)));
    let want = vec![
        send(S1, commit(2, 1)),
        send(S2, commit(2, 1)),
        ZabOutput::Deliver(t),
    ];
    assert_eq!(out, want);
}

#[test]
fn the_counter_0xffffffff_is_refused_and_the_leader_gives_up() {
    let mut l = broadcasting_leader();
    l.skip_counter_to(COUNTER_LIMIT - 1);
    let out = propose(&mut l, 1, b"last");
    assert_eq!(
        out[1..3],
        [
            ZabOutput::Accepted {
                request: RequestId(1),
                zxid: z(2, COUNTER_LIMIT - 1)
            },
            send(
                S1,
                proposal(&Txn {
                    zxid: z(2, COUNTER_LIMIT - 1),
                    data: b"last".to_vec()
                })
            ),
        ]
    );
    let out = propose(&mut l, 2, b"one too many");
    assert_eq!(
        out,
        vec![
            ZabOutput::Rejected {
                request: RequestId(2),
                why: Rejection::CounterOverflow
            },
            ZabOutput::GiveUp(GiveUpReason::CounterOverflow),
        ]
    );
}

#[test]
fn a_request_is_rejected_unless_the_leader_serves_or_if_too_large() {
    let mut l = serving_leader();
    let out = propose(&mut l, 1, b"early");
    let why = Rejection::NotServingLeader;
    assert_eq!(
        out,
        vec![ZabOutput::Rejected {
            request: RequestId(1),
            why
        }]
    );
    step(&mut l, from(S1, ack(2, 0)));
    let big = vec![0; DEFAULT_MAX_TXN_BYTES + 1];
    let out = propose(&mut l, 2, &big);
    let why = Rejection::TooLarge(big.len());
    assert_eq!(
        out,
        vec![ZabOutput::Rejected {
            request: RequestId(2),
            why
        }]
    );
}

/// S1 serving under S3 in epoch 2 with log [1.1]; outputs taken.
fn serving_follower() -> ZabCore {
    let (mut c, _) = start(S1, durable(2, 2, &[(1, 1)]), ZabRole::Following(S3));
    step(&mut c, from(S3, leaderinfo(2)));
    step(&mut c, from(S3, ZabMessage::Diff { zxid: z(1, 1) }));
    step(&mut c, from(S3, ZabMessage::NewLeader { epoch: Epoch(2) }));
    step(&mut c, from(S3, ZabMessage::UpToDate));
    assert!(c.serving());
    c
}

#[test]
fn a_follower_acks_a_proposal_only_once_it_is_logged_and_delivers_commits_in_order() {
    let mut c = serving_follower();
    let (a, b) = (txn(2, 1), txn(2, 2));
    assert_eq!(
        step(&mut c, from(S3, proposal(&a))),
        vec![persist(1, vec![ZabWrite::Append(a.clone())])]
    );
    assert_eq!(
        step(&mut c, from(S3, proposal(&b))),
        vec![persist(2, vec![ZabWrite::Append(b.clone())])]
    );
    // The leader committed 2.1 on others' ACKs: delivery needs no local durability.
    assert_eq!(
        step(&mut c, from(S3, commit(2, 1))),
        vec![ZabOutput::Deliver(a)]
    );
    // One Persisted acknowledges every earlier persist too.
    assert_eq!(
        step(&mut c, persisted(2)),
        vec![send(S3, ack(2, 1)), send(S3, ack(2, 2))]
    );
    assert_eq!(
        step(&mut c, from(S3, commit(2, 2))),
        vec![ZabOutput::Deliver(b)]
    );
}

#[test]
fn a_commit_out_of_order_is_the_followers_exception() {
    let mut c = serving_follower();
    step(&mut c, from(S3, proposal(&txn(2, 1))));
    step(&mut c, from(S3, proposal(&txn(2, 2))));
    let out = step(&mut c, from(S3, commit(2, 2)));
    assert!(give_up_protocol(&out), "{out:?}");
}

#[test]
fn a_proposal_that_does_not_ascend_is_the_followers_exception() {
    let mut c = serving_follower();
    let out = step(&mut c, from(S3, proposal(&txn(1, 1))));
    assert!(give_up_protocol(&out), "{out:?}");
}

// ---- zab.recovery.shutdown ----

#[test]
fn a_leader_that_hears_from_no_quorum_in_a_tick_gives_up() {
    let mut l = broadcasting_leader();
    // The NEWLEADER ACKs count as heard for the first tick.
    let out = step(&mut l, ZabInput::Timer(ZabTimer::Tick));
    assert_eq!(
        out,
        vec![
            send(S1, ping(2, 1)),
            send(S2, ping(2, 1)),
            set(ZabTimer::Tick, DEFAULT_TICK_MS)
        ]
    );
    step(&mut l, from(S2, ping(2, 1)));
    let out = step(&mut l, ZabInput::Timer(ZabTimer::Tick));
    assert_eq!(out[2], set(ZabTimer::Tick, DEFAULT_TICK_MS));
    // Nobody answered; S2 is gone.
    step(&mut l, ZabInput::Disconnected { peer: S2 });
    let out = step(&mut l, ZabInput::Timer(ZabTimer::Tick));
    assert_eq!(out, vec![ZabOutput::GiveUp(GiveUpReason::QuorumLost)]);
}

/// A PING of `epoch`'s round `n`.
fn ping(epoch: u64, n: u64) -> ZabMessage {
    ZabMessage::Ping {
        round: (epoch << 32) | n,
    }
}

// ---- zab.impl.read-barrier ----

#[test]
fn a_read_is_confirmed_only_by_a_quorum_echoing_a_round_sent_after_it() {
    let mut l = broadcasting_leader();
    // Round 1 (a tick) is echoed by S1 before the read arrives: that proves nothing about later.
    step(&mut l, ZabInput::Timer(ZabTimer::Tick));
    assert!(step(&mut l, from(S1, ping(2, 1))).is_empty());
    let out = step(&mut l, ZabInput::ReadBarrier { id: 5 });
    assert_eq!(out, vec![send(S1, ping(2, 2)), send(S2, ping(2, 2))]);
    // A late echo of round 1, a round never sent, and rounds of other epochs confirm nothing.
    for stale in [ping(2, 1), ping(2, 3), ping(2, 99), ping(1, 2), ping(3, 2)] {
        assert!(
            step(&mut l, from(S2, stale.clone())).is_empty(),
            "{stale:?}"
        );
    }
    // S2's echo of round 2 makes a quorum with the leader.
    assert_eq!(
        step(&mut l, from(S2, ping(2, 2))),
        vec![ZabOutput::ReadConfirmed { id: 5 }]
    );
    // Confirmed once: a second echo adds nothing.
    assert!(step(&mut l, from(S1, ping(2, 2))).is_empty());
}

#[test]
fn one_echo_confirms_every_earlier_barrier_in_order() {
    let mut l = broadcasting_leader();
    step(&mut l, ZabInput::ReadBarrier { id: 1 });
    step(&mut l, ZabInput::ReadBarrier { id: 2 });
    step(&mut l, ZabInput::ReadBarrier { id: 3 });
    assert_eq!(
        step(&mut l, from(S1, ping(2, 2))),
        vec![
            ZabOutput::ReadConfirmed { id: 1 },
            ZabOutput::ReadConfirmed { id: 2 }
        ]
    );
    assert_eq!(
        step(&mut l, from(S2, ping(2, 3))),
        vec![ZabOutput::ReadConfirmed { id: 3 }]
    );
}

#[test]
fn an_echo_from_a_learner_that_left_confirms_nothing() {
    let mut l = broadcasting_leader();
    step(&mut l, ZabInput::ReadBarrier { id: 1 });
    step(&mut l, ZabInput::Disconnected { peer: S1 });
    assert!(step(&mut l, from(S1, ping(2, 1))).is_empty());
}

#[test]
fn a_read_barrier_is_refused_by_a_follower_and_by_a_leader_not_yet_serving() {
    let mut c = serving_follower();
    assert_eq!(
        step(&mut c, ZabInput::ReadBarrier { id: 4 }),
        vec![ZabOutput::ReadRefused { id: 4 }]
    );
    let (mut l, _) = start(S3, durable(1, 1, &[]), ZabRole::Leading);
    assert_eq!(
        step(&mut l, ZabInput::ReadBarrier { id: 4 }),
        vec![ZabOutput::ReadRefused { id: 4 }]
    );
}

#[test]
fn a_leader_not_established_within_the_sync_timeout_gives_up() {
    let (mut l, _) = start(S3, durable(1, 1, &[]), ZabRole::Leading);
    let out = step(&mut l, ZabInput::Timer(ZabTimer::Sync));
    assert_eq!(out, vec![ZabOutput::GiveUp(GiveUpReason::SyncTimeout)]);
}

#[test]
fn a_follower_gives_up_on_a_silent_or_disconnected_leader() {
    let mut c = serving_follower();
    let silence = ZabInput::Timer(ZabTimer::LeaderSilence);
    assert_eq!(
        step(&mut c, silence.clone()),
        vec![set(ZabTimer::LeaderSilence, DEFAULT_LEADER_SILENCE_MS)]
    );
    assert_eq!(
        step(&mut c, from(S3, ping(2, 7))),
        vec![send(S3, ping(2, 7))]
    );
    assert_eq!(step(&mut c, silence.clone()).len(), 1);
    assert_eq!(
        step(&mut c, silence),
        vec![ZabOutput::GiveUp(GiveUpReason::LeaderLost)]
    );
    let mut c = serving_follower();
    let out = step(&mut c, ZabInput::Disconnected { peer: S3 });
    assert_eq!(out, vec![ZabOutput::GiveUp(GiveUpReason::LeaderLost)]);
}

// ---- zab.recovery.crash / zab.recovery.restart ----

/// Hands every `Send` of `out` to `to` as a message from `sender`; the outputs it caused.
fn carry(out: Vec<ZabOutput>, sender: ServerId, to: &mut ZabCore) -> Vec<ZabOutput> {
    let mut caused = Vec::new();
    for o in out {
        let ZabOutput::Send { msg, .. } = o else {
            panic!("not a send: {o:?}")
        };
        caused.extend(step(to, from(sender, msg)));
    }
    caused
}

#[test]
fn a_follower_restarted_between_newleaders_writes_resynchronizes_from_its_durable_prefix() {
    // S1: [1.1, 1.2] from epoch 1, accepted 2 but never synchronized; S3 leads with [1.1, 2.1].
    let mut disk = durable(2, 1, &[(1, 1), (1, 2)]);
    let mut l = leader_with_epoch_accepted(durable(2, 2, &[(1, 1), (2, 1)]), 2);
    let (mut f, _) = start(S1, disk.clone(), ZabRole::Following(S3));
    // (The leader counted S1's FOLLOWERINFO above and sent LEADERINFO(3).)
    let out = step(&mut f, from(S3, leaderinfo(3)));
    assert_eq!(
        out,
        vec![persist(1, vec![ZabWrite::AcceptedEpoch(Epoch(3))])]
    );
    disk.apply(&ZabWrite::AcceptedEpoch(Epoch(3)));
    let out = carry(step(&mut f, persisted(1)), S1, &mut l);
    assert_eq!(
        out,
        vec![persist(2, vec![ZabWrite::CurrentEpoch(Epoch(3))])]
    );
    let out = carry(step(&mut l, persisted(2)), S3, &mut f);
    let writes = vec![
        ZabWrite::Truncate { after: z(1, 1) },
        ZabWrite::Append(txn(2, 1)),
        ZabWrite::CurrentEpoch(Epoch(3)),
    ];
    assert_eq!(out, vec![persist(2, writes.clone())]);
    // The crash comes after the TRUNC only: the durable prefix.
    disk.apply(&writes[0]);
    assert_eq!(disk, durable(3, 1, &[(1, 1)]));
    drop(f);
    assert_eq!(step(&mut l, ZabInput::Disconnected { peer: S1 }), vec![]);
    // Restarted from disk.
    let (mut f, out) = start(S1, disk.clone(), ZabRole::Following(S3));
    let out = carry(out[..1].to_vec(), S1, &mut l);
    assert_eq!(out, vec![send(S1, leaderinfo(3))]);
    // Epoch 3 is already accepted: −1, with the durable last zxid 1.1.
    let out = carry(out, S3, &mut f);
    assert_eq!(out, vec![send(S3, ackepoch(None, z(1, 1)))]);
    let out = carry(out, S1, &mut l);
    let want = vec![
        send(S1, ZabMessage::Diff { zxid: z(2, 1) }),
        send(S1, proposal(&txn(2, 1))),
        send(S1, commit(2, 1)),
        send(S1, ZabMessage::NewLeader { epoch: Epoch(3) }),
    ];
    assert_eq!(out, want);
    let out = carry(out, S3, &mut f);
    let writes = vec![
        ZabWrite::Append(txn(2, 1)),
        ZabWrite::CurrentEpoch(Epoch(3)),
    ];
    assert_eq!(out, vec![persist(1, writes.clone())]);
    writes.iter().for_each(|w| disk.apply(w));
    assert_eq!(disk, durable(3, 3, &[(1, 1), (2, 1)]));
    let out = carry(step(&mut f, persisted(1)), S1, &mut l);
    assert!(l.serving());
    let ups: Vec<ZabOutput> = out
        .into_iter()
        .filter(|o| matches!(o, ZabOutput::Send { .. }))
        .collect();
    let out = carry(ups, S3, &mut f);
    let delivered: Vec<ZabOutput> = out
        .into_iter()
        .filter(|o| matches!(o, ZabOutput::Deliver(_)))
        .collect();
    let want = vec![ZabOutput::Deliver(txn(1, 1)), ZabOutput::Deliver(txn(2, 1))];
    assert_eq!(delivered, want);
}

// ---- the wire format ----

fn any_long() -> impl Strategy<Value = u64> {
    prop_oneof![0..16u64, Just(i64::MAX as u64), 0..=i64::MAX as u64]
}

fn any_message() -> impl Strategy<Value = ZabMessage> {
    let zx = || any_long().prop_map(Zxid);
    let ep = || any_long().prop_map(Epoch);
    prop_oneof![
        ep().prop_map(|accepted_epoch| ZabMessage::FollowerInfo { accepted_epoch }),
        ep().prop_map(|epoch| ZabMessage::LeaderInfo { epoch }),
        (proptest::option::of(ep()), zx()).prop_map(|(current_epoch, last_zxid)| {
            ZabMessage::AckEpoch {
                current_epoch,
                last_zxid,
            }
        }),
        zx().prop_map(|zxid| ZabMessage::Diff { zxid }),
        zx().prop_map(|zxid| ZabMessage::Trunc { zxid }),
        ep().prop_map(|epoch| ZabMessage::NewLeader { epoch }),
        Just(ZabMessage::UpToDate),
        (zx(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(zxid, data)| ZabMessage::Proposal { zxid, data }),
        zx().prop_map(|zxid| ZabMessage::Ack { zxid }),
        zx().prop_map(|zxid| ZabMessage::Commit { zxid }),
        (0..=i64::MAX as u64).prop_map(|round| ZabMessage::Ping { round }),
    ]
}

proptest! {
    #[test]
    fn encode_then_decode_is_the_identity(m in any_message()) {
        let bytes = encode(&m).unwrap();
        prop_assert_eq!(decode(&bytes, 64).unwrap(), m);
    }

    /// Any bytes give a message or an error, never a panic, and an accepted message re-encodes
    /// to the same bytes (the format has one spelling per message).
    #[test]
    fn decode_is_total_and_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        if let Ok(m) = decode(&bytes, 16) {
            prop_assert_eq!(encode(&m).unwrap(), bytes);
        }
    }

    /// Forged packets, persist acknowledgements, timers and disconnections in any order, to
    /// either role: never a panic, and the history stays within its bounds.
    #[test]
    fn forged_inputs_never_panic_and_memory_stays_bounded(
        leading in any::<bool>(),
        inputs in proptest::collection::vec((0..5u8, 1..4u64, any_message(), 0..4u64), 0..60),
    ) {
        let mut cfg = config(S1);
        cfg.max_pending = 8;
        cfg.max_txn_bytes = 32;
        let role = if leading { ZabRole::Leading } else { ZabRole::Following(S3) };
        let d = durable(1, 1, &[(1, 1)]);
        let mut c = ZabCore::start(cfg, d, role, Zxid(0)).unwrap();
        let mut proposed = 0usize;
        for (kind, peer, msg, n) in inputs {
            let input = match kind {
                0 | 1 => from(ServerId(peer), msg),
                2 => persisted(n),
                3 => ZabInput::Timer([ZabTimer::Sync, ZabTimer::Tick, ZabTimer::LeaderSilence][n as usize % 3]),
                _ => {
                    proposed += 1;
                    ZabInput::Propose { request: RequestId(n), data: vec![0; n as usize] }
                }
            };
            let _ = c.handle(input);
            c.take_outputs();
            prop_assert!(c.history().len() <= 1 + 8 + 60 + proposed);
        }
    }
}

#[test]
fn a_proposal_claiming_more_than_the_cap_is_refused_before_it_is_read() {
    let mut bytes = encode(&ZabMessage::Proposal {
        zxid: z(1, 1),
        data: vec![],
    })
    .unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
    let err = decode(&bytes, 1024).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooLarge {
            len: u32::MAX,
            max: 1024
        }
    );
}

#[test]
fn decoding_names_what_is_wrong() {
    assert_eq!(decode(&[], 8), Err(DecodeError::Empty));
    assert_eq!(decode(&[99], 8), Err(DecodeError::UnknownType(99)));
    assert_eq!(
        decode(&[3, 0, 0], 8),
        Err(DecodeError::Truncated {
            field: "zxid",
            len: 3
        })
    );
    let mut neg = vec![18];
    neg.extend_from_slice(&(-2i64).to_be_bytes());
    neg.extend_from_slice(&0i64.to_be_bytes());
    assert_eq!(
        decode(&neg, 8),
        Err(DecodeError::OutOfRange {
            field: "currentEpoch",
            value: -2
        })
    );
    assert_eq!(
        decode(&[12, 0], 8),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
    assert_eq!(
        decode(&[5, 0], 8),
        Err(DecodeError::Truncated {
            field: "round",
            len: 2
        })
    );
    let over = ZabMessage::Ack {
        zxid: Zxid(u64::MAX),
    };
    assert_eq!(
        encode(&over),
        Err(EncodeError::OutOfRange {
            field: "zxid",
            value: u64::MAX
        })
    );
}
