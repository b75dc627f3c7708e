//! The leader's side: `Leader.lead` and one `LearnerHandler` per learner
//! (`docs/protocols/zab.md`, rules `zab.discovery.*`, `zab.sync.*`, `zab.newleader.quorum`,
//! `zab.uptodate`, `zab.broadcast.*`).

use super::core::{Ctx, Then};
use super::types::{
    counter_of, make_zxid, GiveUpReason, Rejection, Txn, ZabOutput, ZabTimer, ZabWrite,
    COUNTER_LIMIT, MAX_EPOCH,
};
use super::wire::ZabMessage;
use crate::fle::{Epoch, Zxid};
use crate::types::{RequestId, ServerId};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting FOLLOWERINFO (`getEpochToPropose`).
    Discovery,
    /// The new epoch is being accepted (written).
    AcceptingEpoch,
    /// LEADERINFO sent; collecting ACKEPOCH (`waitForEpochAck`).
    EpochAcks,
    /// currentEpoch is being written.
    Establishing,
    /// Synchronizing; collecting NEWLEADER ACKs (`waitForNewLeaderAck`).
    Sync,
    /// Serving (`startZkServer` done).
    Broadcast,
}

/// Where one learner's `LearnerHandler` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// FOLLOWERINFO received; LEADERINFO not sent yet (the epoch is not durable).
    Connected,
    /// LEADERINFO sent.
    InfoSent,
    /// ACKEPOCH received, with the learner's last zxid; synchronized once the leader is.
    EpochAcked(Zxid),
    /// Synchronization and NEWLEADER sent; it is forwarded every PROPOSAL and COMMIT.
    AwaitNewLeaderAck,
    /// Its first ACK after NEWLEADER read.
    Synced,
    /// UPTODATE sent.
    UpToDate,
}

impl Stage {
    /// `zab.sync.forward`: forwarded to from the moment its synchronization is queued.
    fn forwarded(self) -> bool {
        matches!(
            self,
            Stage::AwaitNewLeaderAck | Stage::Synced | Stage::UpToDate
        )
    }
}

#[derive(Debug)]
pub(super) struct Leader {
    phase: Phase,
    /// The epoch to propose: at least every counted acceptedEpoch + 1.
    epoch: Epoch,
    learners: BTreeMap<ServerId, Stage>,
    /// FOLLOWERINFO counted (itself included).
    infos: BTreeSet<ServerId>,
    /// ACKEPOCH counted (itself included).
    epoch_acks: BTreeSet<ServerId>,
    /// NEWLEADER ACKs counted (itself included).
    newleader_acks: BTreeSet<ServerId>,
    /// The last committed zxid.
    committed: Zxid,
    /// The next proposal's counter.
    pub(super) next_counter: u64,
    /// Outstanding proposals and who has logged them.
    outstanding: BTreeMap<Zxid, BTreeSet<ServerId>>,
    /// Learners heard from since the last tick.
    heard: BTreeSet<ServerId>,
    /// PING rounds sent in this epoch (`zab.impl.read-barrier`); see [`Leader::round`].
    pings: u32,
    /// The highest round each synchronized learner echoed.
    echoed: BTreeMap<ServerId, u64>,
    /// Read barriers not yet confirmed, in arrival order: (id, the round sent after it arrived).
    barriers: Vec<(u64, u64)>,
}

impl Leader {
    /// `zab.discovery.followerinfo`: the leader's own FOLLOWERINFO is the first counted.
    pub(super) fn start(cx: &mut Ctx) -> Self {
        let mut l = Leader {
            phase: Phase::Discovery,
            epoch: Epoch(cx.accepted_epoch.0.saturating_add(1)),
            learners: BTreeMap::new(),
            infos: BTreeSet::from([cx.me()]),
            epoch_acks: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            committed: Zxid(0),
            next_counter: 1,
            outstanding: BTreeMap::new(),
            heard: BTreeSet::new(),
            pings: 0,
            echoed: BTreeMap::new(),
            barriers: Vec::new(),
        };
        cx.set_timer(ZabTimer::Sync);
        l.try_fix_epoch(cx);
        l
    }

    pub(super) fn serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub(super) fn on_message(&mut self, cx: &mut Ctx, from: ServerId, msg: ZabMessage) {
        match msg {
            ZabMessage::FollowerInfo { accepted_epoch } => {
                self.on_followerinfo(cx, from, accepted_epoch)
            }
            ZabMessage::AckEpoch {
                current_epoch,
                last_zxid,
            } => self.on_ackepoch(cx, from, current_epoch, last_zxid),
            ZabMessage::Ack { zxid } => self.on_ack(cx, from, zxid),
            ZabMessage::Ping { round } => {
                if self.learners.contains_key(&from) {
                    self.heard.insert(from);
                    // Only a round of this epoch that was sent counts (a stale or forged one
                    // confirms nothing).
                    if self.is_synced(from) && round >> 32 == self.epoch.0 && round <= self.round()
                    {
                        let e = self.echoed.entry(from).or_insert(0);
                        *e = (*e).max(round);
                        self.confirm_reads(cx);
                    }
                }
            }
            // A learner sending a leader's packet: its handler fails and closes the connection.
            _ => self.drop_learner(cx, from),
        }
    }

    fn drop_learner(&mut self, cx: &mut Ctx, peer: ServerId) {
        self.learners.remove(&peer);
        self.heard.remove(&peer);
        self.echoed.remove(&peer);
        cx.push(ZabOutput::Disconnect { peer });
    }

    /// `zab.discovery.followerinfo`: while the epoch is open the learner counts and raises it;
    /// once it is fixed and accepted, the learner gets LEADERINFO at once.
    fn on_followerinfo(&mut self, cx: &mut Ctx, from: ServerId, accepted: Epoch) {
        if self
            .learners
            .get(&from)
            .is_some_and(|s| *s != Stage::Connected)
        {
            return; // A repeated FOLLOWERINFO on a live connection changes nothing.
        }
        match self.phase {
            Phase::Discovery => {
                self.learners.insert(from, Stage::Connected);
                self.infos.insert(from);
                self.epoch = self.epoch.max(Epoch(accepted.0.saturating_add(1)));
                self.try_fix_epoch(cx);
            }
            Phase::AcceptingEpoch => {
                self.learners.insert(from, Stage::Connected);
            }
            _ => {
                self.learners.insert(from, Stage::InfoSent);
                cx.send(from, ZabMessage::LeaderInfo { epoch: self.epoch });
            }
        }
    }

    /// `zab.discovery.newepoch`: a quorum of FOLLOWERINFO fixes `max(acceptedEpoch) + 1`, which
    /// the leader accepts (written) before any LEADERINFO; an epoch past [`MAX_EPOCH`] is
    /// refused (`zab.impl.epoch-overflow`).
    fn try_fix_epoch(&mut self, cx: &mut Ctx) {
        if self.phase != Phase::Discovery || !cx.config.is_quorum(self.infos.len()) {
            return;
        }
        if self.epoch.0 > MAX_EPOCH {
            cx.give_up(GiveUpReason::EpochRefused(self.epoch));
            return;
        }
        self.phase = Phase::AcceptingEpoch;
        cx.accepted_epoch = self.epoch;
        cx.persist(
            vec![ZabWrite::AcceptedEpoch(self.epoch)],
            Then::EpochAccepted,
        );
    }

    /// `zab.discovery.newepoch`: the epoch is durable; LEADERINFO to every connected learner,
    /// and the leader's own ACKEPOCH counts.
    fn on_epoch_accepted(&mut self, cx: &mut Ctx) {
        self.phase = Phase::EpochAcks;
        for (&p, stage) in self.learners.iter_mut() {
            if *stage == Stage::Connected {
                *stage = Stage::InfoSent;
                cx.send(p, ZabMessage::LeaderInfo { epoch: self.epoch });
            }
        }
        self.epoch_acks.insert(cx.me());
        self.try_establish(cx);
    }

    /// `zab.discovery.ackepoch`: while the quorum is open, an ACKEPOCH with a currentEpoch
    /// counts unless its `(currentEpoch, lastZxid)` is more recent than the leader's (that
    /// connection is closed); −1 does not count. Afterwards the learner is synchronized at once.
    fn on_ackepoch(&mut self, cx: &mut Ctx, from: ServerId, current: Option<Epoch>, last: Zxid) {
        if self.learners.get(&from) != Some(&Stage::InfoSent) {
            return;
        }
        match self.phase {
            Phase::EpochAcks => {
                if let Some(ce) = current {
                    if (ce, last) > (cx.current_epoch, cx.last_zxid()) {
                        self.drop_learner(cx, from);
                        return;
                    }
                    self.epoch_acks.insert(from);
                }
                self.learners.insert(from, Stage::EpochAcked(last));
                self.try_establish(cx);
            }
            Phase::Establishing => {
                self.learners.insert(from, Stage::EpochAcked(last));
            }
            Phase::Sync | Phase::Broadcast => self.sync_learner(cx, from, last),
            Phase::Discovery | Phase::AcceptingEpoch => unreachable!("no LEADERINFO sent yet"),
        }
    }

    /// `zab.discovery.established`: a quorum of ACKEPOCH; currentEpoch is written before any
    /// learner is synchronized.
    fn try_establish(&mut self, cx: &mut Ctx) {
        if self.phase != Phase::EpochAcks || !cx.config.is_quorum(self.epoch_acks.len()) {
            return;
        }
        self.phase = Phase::Establishing;
        cx.current_epoch = self.epoch;
        cx.persist(vec![ZabWrite::CurrentEpoch(self.epoch)], Then::EpochCurrent);
    }

    /// `zab.discovery.established`: SYNCHRONIZATION; every learner that acknowledged the epoch
    /// is synchronized, and the leader's own history counts as its NEWLEADER ACK.
    fn on_established(&mut self, cx: &mut Ctx) {
        self.phase = Phase::Sync;
        self.newleader_acks.insert(cx.me());
        let waiting: Vec<(ServerId, Zxid)> = self
            .learners
            .iter()
            .filter_map(|(&p, s)| match s {
                Stage::EpochAcked(z) => Some((p, *z)),
                _ => None,
            })
            .collect();
        for (p, last) in waiting {
            self.sync_learner(cx, p, last);
        }
        self.try_serve(cx);
    }

    /// `syncFollower` against the committed log C (before the leader serves, its whole log):
    /// `zab.sync.diff`, `zab.sync.trunc` or `zab.sync.trunc-diff`; then `zab.sync.forward`: the
    /// outstanding proposals, uncommitted, and NEWLEADER. SNAP is not supported
    /// (`zab.impl.no-snap`): the log reaches back to the empty history.
    fn sync_learner(&mut self, cx: &mut Ctx, p: ServerId, peer_last: Zxid) {
        let c_len = if self.phase == Phase::Broadcast {
            cx.log.partition_point(|t| t.zxid <= self.committed)
        } else {
            cx.log.len()
        };
        let c = &cx.log[..c_len];
        let c_last = c.last().map_or(Zxid(0), |t| t.zxid);
        let holds = |z: Zxid| z == Zxid(0) || c.binary_search_by_key(&z, |t| t.zxid).is_ok();
        let mut msgs = Vec::new();
        let from = if peer_last == c_last {
            msgs.push(ZabMessage::Diff { zxid: c_last });
            c_len
        } else if peer_last > c_last && counter_of(peer_last) != 0 {
            msgs.push(ZabMessage::Trunc { zxid: c_last });
            c_len
        } else if holds(peer_last) || counter_of(peer_last) == 0 {
            msgs.push(ZabMessage::Diff { zxid: c_last });
            c.partition_point(|t| t.zxid <= peer_last)
        } else {
            let below = c.partition_point(|t| t.zxid < peer_last);
            let keep = if below == 0 {
                Zxid(0)
            } else {
                c[below - 1].zxid
            };
            msgs.push(ZabMessage::Trunc { zxid: keep });
            msgs.push(ZabMessage::Diff { zxid: c_last });
            below
        };
        for t in &c[from..] {
            msgs.push(ZabMessage::Proposal {
                zxid: t.zxid,
                data: t.data.clone(),
            });
            msgs.push(ZabMessage::Commit { zxid: t.zxid });
        }
        for t in &cx.log[c_len..] {
            msgs.push(ZabMessage::Proposal {
                zxid: t.zxid,
                data: t.data.clone(),
            });
        }
        msgs.push(ZabMessage::NewLeader { epoch: self.epoch });
        for m in msgs {
            cx.send(p, m);
        }
        self.learners.insert(p, Stage::AwaitNewLeaderAck);
    }

    /// The first ACK after NEWLEADER is its reply (`zab.newleader.quorum`); later ones
    /// acknowledge proposals (`zab.broadcast.ack`).
    fn on_ack(&mut self, cx: &mut Ctx, from: ServerId, zxid: Zxid) {
        match self.learners.get(&from) {
            Some(Stage::AwaitNewLeaderAck) => self.on_newleader_ack(cx, from, zxid),
            Some(Stage::Synced | Stage::UpToDate) => self.on_proposal_ack(cx, from, zxid),
            _ => {}
        }
    }

    /// `zab.newleader.quorum`: counted only with NEWLEADER's zxid; at the quorum the leader
    /// serves; a leader already serving answers with UPTODATE (`zab.uptodate`).
    fn on_newleader_ack(&mut self, cx: &mut Ctx, from: ServerId, zxid: Zxid) {
        self.learners.insert(from, Stage::Synced);
        self.heard.insert(from);
        if zxid != make_zxid(self.epoch, 0) {
            return;
        }
        match self.phase {
            Phase::Sync => {
                self.newleader_acks.insert(from);
                self.try_serve(cx);
            }
            Phase::Broadcast => {
                self.learners.insert(from, Stage::UpToDate);
                cx.send(from, ZabMessage::UpToDate);
            }
            _ => unreachable!("NEWLEADER is sent only once established"),
        }
    }

    /// `zab.newleader.quorum`, `zab.uptodate`: a quorum acknowledged NEWLEADER: the whole
    /// history is committed and delivered, the leader serves, and every learner past its
    /// NEWLEADER ACK gets UPTODATE.
    fn try_serve(&mut self, cx: &mut Ctx) {
        if self.phase != Phase::Sync || !cx.config.is_quorum(self.newleader_acks.len()) {
            return;
        }
        self.phase = Phase::Broadcast;
        self.committed = cx.last_zxid();
        cx.push(ZabOutput::CancelTimer(ZabTimer::Sync));
        cx.set_timer(ZabTimer::Tick);
        cx.push(ZabOutput::Serving { epoch: self.epoch });
        for (&p, stage) in self.learners.iter_mut() {
            if *stage == Stage::Synced {
                *stage = Stage::UpToDate;
                cx.send(p, ZabMessage::UpToDate);
            }
        }
        cx.deliver_upto(self.committed);
    }

    /// `zab.broadcast.ack`: ignored at counter 0 or before serving, stale once committed;
    /// otherwise it counts for its proposal.
    fn on_proposal_ack(&mut self, cx: &mut Ctx, from: ServerId, zxid: Zxid) {
        self.heard.insert(from);
        if self.phase != Phase::Broadcast || counter_of(zxid) == 0 || zxid <= self.committed {
            return;
        }
        if let Some(acks) = self.outstanding.get_mut(&zxid) {
            acks.insert(from);
            self.try_commit(cx);
        }
    }

    /// `zab.broadcast.commit`: in zxid order, each proposal commits once a quorum logged it;
    /// COMMIT to every forwarded learner, then delivery.
    fn try_commit(&mut self, cx: &mut Ctx) {
        while let Some(entry) = self.outstanding.first_entry() {
            if !cx.config.is_quorum(entry.get().len()) {
                return;
            }
            let zxid = *entry.key();
            entry.remove();
            self.committed = zxid;
            let to: Vec<ServerId> = self.forwarded().collect();
            for p in to {
                cx.send(p, ZabMessage::Commit { zxid });
            }
            cx.deliver_upto(zxid);
        }
    }

    fn forwarded(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.learners
            .iter()
            .filter(|(_, s)| s.forwarded())
            .map(|(&p, _)| p)
    }

    /// `zab.broadcast.propose`: the next zxid of the epoch, logged (the leader's own ACK once
    /// durable) and sent to every forwarded learner. The counter 0xffffffff is refused and the
    /// leader gives up, forcing a new epoch (`zab.impl.counter-overflow`).
    pub(super) fn propose(&mut self, cx: &mut Ctx, request: RequestId, data: Vec<u8>) {
        let reject = |cx: &mut Ctx, why| cx.push(ZabOutput::Rejected { request, why });
        if self.phase != Phase::Broadcast {
            return reject(cx, Rejection::NotServingLeader);
        }
        if data.len() > cx.config.max_txn_bytes {
            return reject(cx, Rejection::TooLarge(data.len()));
        }
        if self.next_counter >= COUNTER_LIMIT {
            reject(cx, Rejection::CounterOverflow);
            cx.give_up(GiveUpReason::CounterOverflow);
            return;
        }
        let zxid = make_zxid(self.epoch, self.next_counter);
        self.next_counter += 1;
        let txn = Txn { zxid, data };
        cx.log.push(txn.clone());
        self.outstanding.insert(zxid, BTreeSet::new());
        cx.persist(vec![ZabWrite::Append(txn.clone())], Then::OwnLogged(zxid));
        cx.push(ZabOutput::Accepted { request, zxid });
        let to: Vec<ServerId> = self.forwarded().collect();
        for p in to {
            cx.send(
                p,
                ZabMessage::Proposal {
                    zxid,
                    data: txn.data.clone(),
                },
            );
        }
    }

    pub(super) fn on_durable(&mut self, cx: &mut Ctx, then: Then) {
        match then {
            Then::EpochAccepted => self.on_epoch_accepted(cx),
            Then::EpochCurrent => self.on_established(cx),
            Then::OwnLogged(zxid) => {
                if let Some(acks) = self.outstanding.get_mut(&zxid) {
                    acks.insert(cx.me());
                    self.try_commit(cx);
                }
            }
            other => unreachable!("a follower's persist at the leader: {other:?}"),
        }
    }

    /// `zab.recovery.shutdown`: discovery and synchronization must finish within the sync
    /// timeout; a serving leader must have heard from a quorum of synchronized learners
    /// (itself included) every tick, and pings them for the next (`zab.impl.liveness`).
    pub(super) fn on_timer(&mut self, cx: &mut Ctx, timer: ZabTimer) {
        match (timer, self.phase) {
            (ZabTimer::Sync, Phase::Broadcast) | (ZabTimer::LeaderSilence, _) => {}
            (ZabTimer::Sync, _) => cx.give_up(GiveUpReason::SyncTimeout),
            (ZabTimer::Tick, Phase::Broadcast) => {
                let synced: Vec<ServerId> = self
                    .learners
                    .iter()
                    .filter(|(_, s)| matches!(s, Stage::Synced | Stage::UpToDate))
                    .map(|(&p, _)| p)
                    .collect();
                let alive = 1 + synced.iter().filter(|p| self.heard.contains(p)).count();
                if !cx.config.is_quorum(alive) {
                    cx.give_up(GiveUpReason::QuorumLost);
                    return;
                }
                self.heard.clear();
                if self.ping_synced(cx).is_none() {
                    return;
                }
                cx.set_timer(ZabTimer::Tick);
            }
            (ZabTimer::Tick, _) => {}
        }
    }

    /// The current PING round: the epoch in the high 32 bits (so no round of an earlier
    /// leader's epoch can be mistaken for one of this), the rounds sent in the low.
    fn round(&self) -> u64 {
        (self.epoch.0 << 32) | u64::from(self.pings)
    }

    fn is_synced(&self, peer: ServerId) -> bool {
        matches!(
            self.learners.get(&peer),
            Some(Stage::Synced | Stage::UpToDate)
        )
    }

    /// Sends a new PING round to every synchronized learner and returns it; `None` when the
    /// epoch's rounds are spent (2^32 − 1 of them), and the leader gives up for a new epoch, as
    /// for the proposal counter (`zab.impl.counter-overflow`).
    fn ping_synced(&mut self, cx: &mut Ctx) -> Option<u64> {
        let Some(next) = self.pings.checked_add(1).filter(|n| *n < u32::MAX) else {
            cx.give_up(GiveUpReason::CounterOverflow);
            return None;
        };
        self.pings = next;
        let round = self.round();
        let synced: Vec<ServerId> = self
            .learners
            .keys()
            .copied()
            .filter(|p| self.is_synced(*p))
            .collect();
        for p in synced {
            cx.send(p, ZabMessage::Ping { round });
        }
        Some(round)
    }

    /// `zab.impl.read-barrier`: a read that arrived now is confirmed once a quorum, this leader
    /// included, echoed a PING round sent after it. A learner that echoes it still followed
    /// this leader in this epoch after the read arrived, so no quorum had moved to a later
    /// leader by then, and every write committed before the read arrived is in this leader's
    /// log.
    pub(super) fn read_barrier(&mut self, cx: &mut Ctx, id: u64) {
        if self.phase != Phase::Broadcast {
            cx.push(ZabOutput::ReadRefused { id });
            return;
        }
        let Some(round) = self.ping_synced(cx) else {
            return;
        };
        self.barriers.push((id, round));
        self.confirm_reads(cx);
    }

    /// Confirms the barriers a quorum has echoed, in arrival order (a later barrier's round is
    /// higher, so an echo that confirms it confirms every earlier one).
    fn confirm_reads(&mut self, cx: &mut Ctx) {
        let mut confirmed = 0;
        for &(id, round) in &self.barriers {
            let echoes = self.echoed.values().filter(|e| **e >= round).count();
            if !cx.config.is_quorum(1 + echoes) {
                break;
            }
            cx.push(ZabOutput::ReadConfirmed { id });
            confirmed += 1;
        }
        self.barriers.drain(..confirmed);
    }

    /// The learner's handler ends; what it acknowledged stays counted.
    pub(super) fn on_disconnected(&mut self, _cx: &mut Ctx, peer: ServerId) {
        self.learners.remove(&peer);
        self.heard.remove(&peer);
        self.echoed.remove(&peer);
    }
}
