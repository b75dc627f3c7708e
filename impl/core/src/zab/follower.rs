//! The learner's side: `Learner.registerWithLeader`, `Learner.syncWithLeader` and
//! `Follower.followLeader` (`docs/protocols/zab.md`, rules `zab.discovery.leaderinfo`,
//! `zab.sync.pending`, `zab.newleader.*`, `zab.uptodate`, `zab.broadcast.log`,
//! `zab.broadcast.deliver`).

use super::core::{Ctx, Then};
use super::types::{
    counter_of, make_zxid, GiveUpReason, Txn, ZabOutput, ZabTimer, ZabWrite, MAX_EPOCH,
};
use super::wire::ZabMessage;
use crate::fle::{Epoch, Zxid};
use crate::types::ServerId;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// FOLLOWERINFO sent; waiting for LEADERINFO.
    Discovery,
    /// The new acceptedEpoch is being written; ACKEPOCH waits for it.
    AcceptingEpoch,
    /// ACKEPOCH sent; DIFF/TRUNC, PROPOSAL/COMMIT pairs, then NEWLEADER.
    Sync,
    /// NEWLEADER's writes are under way; no packet is read until the ACK is sent.
    PersistingNewLeader,
    /// NEWLEADER ACKed; waiting for UPTODATE.
    AwaitUpToDate,
    /// Serving.
    Broadcast,
}

#[derive(Debug)]
pub(super) struct Follower {
    leader: ServerId,
    phase: Phase,
    /// The leader's epoch, once LEADERINFO is accepted.
    epoch: Epoch,
    /// DIFF or TRUNC received: the synchronization has begun.
    sync_started: bool,
    diff_seen: bool,
    /// A TRUNC received, written to disk at NEWLEADER.
    trunc: Option<Zxid>,
    /// How many transactions at the end of the history are not yet requested to disk
    /// (`packetsNotLogged`).
    unlogged: usize,
    /// The last zxid the leader told us is committed.
    committed: Zxid,
    /// Transactions logged at NEWLEADER that the leader has not committed: ACKed at UPTODATE.
    ack_at_uptodate: Vec<Zxid>,
    /// Packets that arrived while NEWLEADER was being persisted, read after its ACK.
    held: VecDeque<ZabMessage>,
    /// The connection broke while NEWLEADER was being persisted.
    lost: bool,
    /// A packet arrived from the leader since the last `LeaderSilence` timer.
    heard: bool,
}

fn name(m: &ZabMessage) -> &'static str {
    match m {
        ZabMessage::FollowerInfo { .. } => "FOLLOWERINFO",
        ZabMessage::LeaderInfo { .. } => "LEADERINFO",
        ZabMessage::AckEpoch { .. } => "ACKEPOCH",
        ZabMessage::Diff { .. } => "DIFF",
        ZabMessage::Trunc { .. } => "TRUNC",
        ZabMessage::NewLeader { .. } => "NEWLEADER",
        ZabMessage::UpToDate => "UPTODATE",
        ZabMessage::Proposal { .. } => "PROPOSAL",
        ZabMessage::Ack { .. } => "ACK",
        ZabMessage::Commit { .. } => "COMMIT",
        ZabMessage::Ping { .. } => "PING",
    }
}

fn protocol(why: String) -> GiveUpReason {
    GiveUpReason::Protocol(why)
}

impl Follower {
    /// FOLLOWERINFO(acceptedEpoch) to the leader (`zab.discovery.followerinfo`, the learner's
    /// half); discovery and synchronization must finish within the sync timeout.
    pub(super) fn start(cx: &mut Ctx, leader: ServerId) -> Self {
        cx.send(
            leader,
            ZabMessage::FollowerInfo {
                accepted_epoch: cx.accepted_epoch,
            },
        );
        cx.set_timer(ZabTimer::Sync);
        Follower {
            leader,
            phase: Phase::Discovery,
            epoch: Epoch(0),
            sync_started: false,
            diff_seen: false,
            trunc: None,
            unlogged: 0,
            committed: Zxid(0),
            ack_at_uptodate: Vec::new(),
            held: VecDeque::new(),
            lost: false,
            heard: true,
        }
    }

    pub(super) fn serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub(super) fn on_message(&mut self, cx: &mut Ctx, from: ServerId, msg: ZabMessage) {
        if from != self.leader {
            return; // Only the leader's connection is open to a learner.
        }
        self.heard = true;
        if self.phase == Phase::PersistingNewLeader {
            // `zab.newleader.persist-order`: the thread is writing and reads no packet.
            if self.held.len() >= cx.config.max_pending {
                cx.give_up(protocol(
                    "too many packets while persisting NEWLEADER".into(),
                ));
            } else {
                self.held.push_back(msg);
            }
            return;
        }
        self.read(cx, msg);
    }

    fn read(&mut self, cx: &mut Ctx, msg: ZabMessage) {
        match (self.phase, msg) {
            // `zab.impl.read-barrier`: the round is echoed.
            (_, ZabMessage::Ping { round }) => cx.send(self.leader, ZabMessage::Ping { round }),
            (Phase::Discovery, ZabMessage::LeaderInfo { epoch }) => self.on_leaderinfo(cx, epoch),
            (Phase::Sync, ZabMessage::Diff { zxid }) if !self.diff_seen && self.unlogged == 0 => {
                self.on_diff(cx, zxid)
            }
            (Phase::Sync, ZabMessage::Trunc { zxid }) if !self.sync_started => {
                self.on_trunc(cx, zxid)
            }
            (Phase::Sync, ZabMessage::Proposal { zxid, data }) if self.sync_started => {
                self.on_sync_proposal(cx, Txn { zxid, data })
            }
            (Phase::Sync, ZabMessage::NewLeader { epoch }) if self.sync_started => {
                self.on_newleader(cx, epoch)
            }
            (
                Phase::Sync | Phase::AwaitUpToDate | Phase::Broadcast,
                ZabMessage::Commit { zxid },
            ) if self.sync_started => self.on_commit(cx, zxid),
            (Phase::AwaitUpToDate | Phase::Broadcast, ZabMessage::Proposal { zxid, data }) => {
                self.on_proposal(cx, Txn { zxid, data })
            }
            (Phase::AwaitUpToDate, ZabMessage::UpToDate) => self.on_uptodate(cx),
            (phase, other) => cx.give_up(protocol(format!("{} during {phase:?}", name(&other)))),
        }
    }

    /// `zab.discovery.leaderinfo`: a new epoch is accepted (written) and ACKEPOCH carries the
    /// currentEpoch once the write is durable; the epoch already accepted is ACKed with −1 at
    /// once; a lower one, or one past [`MAX_EPOCH`] (`zab.impl.epoch-overflow`), is refused.
    fn on_leaderinfo(&mut self, cx: &mut Ctx, epoch: Epoch) {
        if epoch.0 > MAX_EPOCH || epoch < cx.accepted_epoch {
            cx.give_up(GiveUpReason::EpochRefused(epoch));
            return;
        }
        self.epoch = epoch;
        if epoch > cx.accepted_epoch {
            let current = cx.current_epoch;
            cx.accepted_epoch = epoch;
            self.phase = Phase::AcceptingEpoch;
            cx.persist(
                vec![ZabWrite::AcceptedEpoch(epoch)],
                Then::AckEpoch(current),
            );
        } else {
            self.ack_epoch(cx, None);
        }
    }

    fn ack_epoch(&mut self, cx: &mut Ctx, current_epoch: Option<Epoch>) {
        let last_zxid = cx.last_zxid();
        cx.send(
            self.leader,
            ZabMessage::AckEpoch {
                current_epoch,
                last_zxid,
            },
        );
        self.phase = Phase::Sync;
    }

    /// `zab.sync.diff`: what the learner holds is the leader's, hence committed; what it lacks
    /// follows as PROPOSAL/COMMIT pairs.
    fn on_diff(&mut self, cx: &mut Ctx, _leader_committed: Zxid) {
        self.sync_started = true;
        self.diff_seen = true;
        self.committed = cx.last_zxid();
    }

    /// `zab.sync.trunc`: the history above `zxid` goes (in memory now, on disk at NEWLEADER,
    /// `zab.newleader.receive`); what remains is the leader's. Truncating a delivered
    /// transaction would undo a commit: the leader is wrong and is left.
    fn on_trunc(&mut self, cx: &mut Ctx, zxid: Zxid) {
        if zxid < cx.delivered {
            cx.give_up(protocol(format!(
                "TRUNC to {zxid} below delivered {}",
                cx.delivered
            )));
            return;
        }
        self.sync_started = true;
        cx.log.retain(|t| t.zxid <= zxid);
        self.trunc = Some(zxid);
        self.committed = cx.last_zxid();
    }

    /// Checks that `t` may extend the history: zxids ascend, counter 0 is NEWLEADER's, nothing
    /// of an epoch past the leader's, and the size is within bounds.
    fn acceptable(&self, cx: &Ctx, t: &Txn) -> Result<(), String> {
        if t.zxid <= cx.last_zxid() || counter_of(t.zxid) == 0 || t.zxid.epoch() > self.epoch {
            return Err(format!("PROPOSAL {} after {}", t.zxid, cx.last_zxid()));
        }
        if t.data.len() > cx.config.max_txn_bytes {
            return Err(format!("PROPOSAL of {} bytes", t.data.len()));
        }
        Ok(())
    }

    /// `zab.sync.pending`: a PROPOSAL during synchronization waits in `packetsNotLogged`.
    fn on_sync_proposal(&mut self, cx: &mut Ctx, t: Txn) {
        if let Err(why) = self.acceptable(cx, &t) {
            cx.give_up(protocol(why));
        } else if self.unlogged >= cx.config.max_pending {
            cx.give_up(protocol(
                "more pending transactions than max_pending".into(),
            ));
        } else {
            cx.log.push(t);
            self.unlogged += 1;
        }
    }

    /// `zab.sync.pending`, `zab.broadcast.deliver`: a COMMIT must name the next transaction the
    /// learner holds and the leader had not committed; a serving learner delivers it.
    fn on_commit(&mut self, cx: &mut Ctx, zxid: Zxid) {
        let next = cx
            .log
            .iter()
            .find(|t| t.zxid > self.committed)
            .map(|t| t.zxid);
        if next != Some(zxid) {
            cx.give_up(protocol(format!("COMMIT {zxid}, next is {next:?}")));
            return;
        }
        self.committed = zxid;
        if self.phase == Phase::Broadcast {
            cx.deliver_upto(zxid);
        }
    }

    /// `zab.newleader.receive`, `zab.newleader.persist-order`: one persist whose writes are, in
    /// order, the TRUNC, the synchronized transactions, and then currentEpoch; the ACK waits for
    /// all of them (ZK-4643: the epoch before the history; ZK-3911/4646: the ACK before it).
    /// Steps with nothing to write are left out; with nothing at all, the ACK goes at once.
    fn on_newleader(&mut self, cx: &mut Ctx, epoch: Epoch) {
        if epoch != self.epoch {
            cx.give_up(protocol(format!(
                "NEWLEADER {epoch}, LEADERINFO was {}",
                self.epoch
            )));
            return;
        }
        let mut writes = Vec::new();
        if let Some(after) = self.trunc.take() {
            writes.push(ZabWrite::Truncate { after });
        }
        let first = cx.log.len() - self.unlogged;
        for t in &cx.log[first..] {
            writes.push(ZabWrite::Append(t.clone()));
            if t.zxid > self.committed {
                self.ack_at_uptodate.push(t.zxid);
            }
        }
        self.unlogged = 0;
        if cx.current_epoch != epoch {
            cx.current_epoch = epoch;
            writes.push(ZabWrite::CurrentEpoch(epoch));
            #[cfg(any(test, feature = "impl-mutants"))]
            if cx.config.mutant == Some(super::ZabMutant::EpochBeforeHistory) {
                writes.rotate_right(1);
            }
        }
        #[cfg(any(test, feature = "impl-mutants"))]
        if cx.config.mutant == Some(super::ZabMutant::AckBeforeDurable) && !writes.is_empty() {
            cx.persist(writes, Then::Nothing);
            self.ack_newleader(cx);
            return;
        }
        if writes.is_empty() {
            self.ack_newleader(cx);
        } else {
            self.phase = Phase::PersistingNewLeader;
            cx.persist(writes, Then::AckNewLeader);
        }
    }

    /// `zab.newleader.ack`: ACK with `(newEpoch, 0)` once durable, unless the connection broke
    /// meanwhile; then the packets held meanwhile are read.
    fn ack_newleader(&mut self, cx: &mut Ctx) {
        if self.lost {
            cx.give_up(GiveUpReason::LeaderLost);
            return;
        }
        cx.send(
            self.leader,
            ZabMessage::Ack {
                zxid: make_zxid(self.epoch, 0),
            },
        );
        self.phase = Phase::AwaitUpToDate;
        while let Some(m) = self.held.pop_front() {
            if cx.stopped() {
                return;
            }
            self.read(cx, m);
        }
    }

    /// `zab.uptodate`: deliver what the leader committed, ACK what was logged at NEWLEADER
    /// and is still outstanding, and serve; from now on the leader's silence is watched.
    fn on_uptodate(&mut self, cx: &mut Ctx) {
        self.phase = Phase::Broadcast;
        cx.push(ZabOutput::CancelTimer(ZabTimer::Sync));
        cx.set_timer(ZabTimer::LeaderSilence);
        cx.push(ZabOutput::Serving { epoch: self.epoch });
        cx.deliver_upto(self.committed);
        for zxid in std::mem::take(&mut self.ack_at_uptodate) {
            if zxid > self.committed {
                cx.send(self.leader, ZabMessage::Ack { zxid });
            }
        }
    }

    /// `zab.broadcast.log`: log the PROPOSAL; its ACK waits for the write.
    fn on_proposal(&mut self, cx: &mut Ctx, t: Txn) {
        if let Err(why) = self.acceptable(cx, &t) {
            cx.give_up(protocol(why));
            return;
        }
        let zxid = t.zxid;
        cx.log.push(t.clone());
        cx.persist(vec![ZabWrite::Append(t)], Then::AckProposal(zxid));
    }

    pub(super) fn on_durable(&mut self, cx: &mut Ctx, then: Then) {
        match then {
            Then::AckEpoch(current) => self.ack_epoch(cx, Some(current)),
            Then::AckNewLeader => self.ack_newleader(cx),
            Then::AckProposal(zxid) => cx.send(self.leader, ZabMessage::Ack { zxid }),
            #[cfg(any(test, feature = "impl-mutants"))]
            Then::Nothing => {}
            other => unreachable!("a leader's persist at a follower: {other:?}"),
        }
    }

    /// `zab.recovery.shutdown`: synchronization too slow, or the leader silent for a whole
    /// `leader_silence_ms` (`zab.impl.liveness`). A learner persisting NEWLEADER reads no socket and sees no timeout.
    pub(super) fn on_timer(&mut self, cx: &mut Ctx, timer: ZabTimer) {
        match (timer, self.phase) {
            (_, Phase::PersistingNewLeader) => cx.set_timer(timer),
            (ZabTimer::Sync, Phase::Broadcast) | (ZabTimer::Tick, _) => {}
            (ZabTimer::Sync, _) => cx.give_up(GiveUpReason::SyncTimeout),
            (ZabTimer::LeaderSilence, _) if !self.heard => cx.give_up(GiveUpReason::LeaderLost),
            (ZabTimer::LeaderSilence, _) => {
                self.heard = false;
                cx.set_timer(timer);
            }
        }
    }

    /// `zab.newleader.ack`: a learner persisting NEWLEADER notices the broken connection when
    /// its ACK cannot be written; otherwise at once (`zab.recovery.shutdown`).
    pub(super) fn on_disconnected(&mut self, cx: &mut Ctx, peer: ServerId) {
        if peer != self.leader {
            return;
        }
        if self.phase == Phase::PersistingNewLeader {
            self.lost = true;
        } else {
            cx.give_up(GiveUpReason::LeaderLost);
        }
    }
}
