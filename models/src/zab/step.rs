//! The rules of docs/protocols/zab.md: what one server does on one input, after ZooKeeper 3.9.3's
//! `Leader`, `LearnerHandler` and `Learner` (with the fixes for ZK-4643/4646/4685/4394/4712).
//! Each function mutates the state in place and sends through the network; mutants bend exactly
//! one rule each.

use super::mutants::{Handover, NlStep, ZabMutant as Mutant};
use super::rules as r;
use super::state::{Server, ZabState};
use super::types::{
    last_zxid, members, Epoch, FollowerStage, LeaderStage, Msg, Phase, ServerId, Txn, Txns, Zxid,
    MAX_LOG,
};
use super::{busy, ZabModel};
use crate::coverage::{fire, guard, quorum};
use crate::network::NetworkKind;

/// A step the model does not take: it would leave the bounds (an epoch above `--max-epoch`, a
/// history beyond the model's capacity).
#[derive(Debug)]
pub(crate) struct OutOfBounds;

pub(crate) type Step = Result<(), OutOfBounds>;

/// Bits of `Server::nl_todo`.
pub(crate) const NL_LOG: u8 = 1;
pub(crate) const NL_EPOCH: u8 = 2;
pub(crate) const NL_ACK: u8 = 4;

fn nl_bit(step: NlStep) -> u8 {
    match step {
        NlStep::LogTxns => NL_LOG,
        NlStep::PersistEpoch => NL_EPOCH,
        NlStep::Ack => NL_ACK,
    }
}

fn push(v: &mut Txns, t: Txn) -> Step {
    if v.len() == MAX_LOG {
        return Err(OutOfBounds);
    }
    v.push(t);
    Ok(())
}

fn extend(v: &mut Txns, ts: &[Txn]) -> Step {
    for &t in ts {
        push(v, t)?;
    }
    Ok(())
}

impl ZabModel {
    pub(crate) fn is(&self, m: Mutant) -> bool {
        self.config.mutant == Some(m)
    }

    pub(crate) fn quorum(&self) -> usize {
        self.config.servers as usize / 2 + 1
    }

    /// Whether `set` is a quorum, as quorum guard `g` decides.
    fn has_quorum(&self, g: crate::coverage::Guard, set: u8) -> bool {
        quorum(g, set.count_ones() as usize, self.quorum())
    }

    /// Sends over the connection between `src` and `dst`. A crashed destination has no
    /// connection: the packet is lost.
    fn send(&self, st: &mut ZabState, src: ServerId, dst: ServerId, msg: Msg) {
        if st.servers[dst.ix()].up {
            st.network.send(NetworkKind::Ordered, src.0, dst.0, msg);
        }
    }

    /// Breaks the connection between two servers: whatever was in flight either way is lost.
    fn cut(&self, st: &mut ZabState, a: ServerId, b: ServerId) {
        st.network
            .remove_where(|f| (f.src == a.0 && f.dst == b.0) || (f.src == b.0 && f.dst == a.0));
    }

    /// The zxid a server reports as its last (in ACKEPOCH, and in its own state summary as a
    /// leader): ZooKeeper's `getLastLoggedZxid`, the last zxid of the in-memory database, which
    /// is brought up to the log whenever the server leaves a role. Mutant ZK-2845 skips that, so
    /// the database stays at the last transaction the server applied.
    pub(crate) fn reported_last(&self, s: &Server) -> Zxid {
        if s.retained {
            last_zxid(&s.delivered())
        } else {
            s.last_logged()
        }
    }

    /// The servers a leader forwards PROPOSALs and COMMITs to: those it sent NEWLEADER
    /// (`startForwarding`). The Zab paper, read literally (Issue 1), uses those that
    /// acknowledged NEWLEADER instead.
    fn forwarding(&self, l: &Server) -> u8 {
        if self.is(Mutant::ZabPaperIssue1) {
            l.synced & l.nl_first
        } else {
            l.synced
        }
    }

    // ---- election (oracle) -------------------------------------------------------------------

    /// `zab.election.lead`: a LOOKING server starts leading: `Leader.lead`, from
    /// `getEpochToPropose`.
    pub(crate) fn on_lead(&self, st: &mut ZabState, me: ServerId) -> Step {
        fire(r::ELECTION_LEAD);
        let s = &mut st.servers[me.ix()];
        s.phase = Phase::Leading(LeaderStage::Epoch);
        s.epoch = Epoch(s.accepted_epoch.0.saturating_add(1));
        s.infos = me.bit();
        self.try_fix_epoch(st, me)
    }

    /// `zab.election.follow`: a LOOKING server follows `leader`: connects and sends FOLLOWERINFO
    /// (`Learner.registerWithLeader`).
    pub(crate) fn on_follow(&self, st: &mut ZabState, me: ServerId, leader: ServerId) {
        fire(r::ELECTION_FOLLOW);
        let s = &mut st.servers[me.ix()];
        s.phase = Phase::Following(FollowerStage::Discovery);
        s.peer = leader;
        let msg = Msg::FollowerInfo {
            accepted_epoch: s.accepted_epoch,
        };
        self.send(st, me, leader, msg);
    }

    // ---- leaving a role ----------------------------------------------------------------------

    /// A server gives up its role and goes back to LOOKING without restarting (timeout, lost
    /// connection, or an exception). Its connections close, and every server on the other end
    /// notices.
    pub(crate) fn shutdown(&self, st: &mut ZabState, me: ServerId) -> Step {
        match st.servers[me.ix()].phase {
            // With FastLeaderElection: decided, but the leader never took the connection.
            Phase::Looking => self.restart_election(st, me),
            Phase::Leading(_) => {
                self.drop_followers(st, me)?;
                self.close(st, me)
            }
            Phase::Following(_) => {
                let leader = st.servers[me.ix()].peer;
                self.disconnect(st, me, leader)
            }
        }
    }

    /// A leader goes away: its followers' connections break and each follower goes LOOKING when
    /// it notices, which is at once, except for one handling NEWLEADER: that thread writes to disk
    /// and reads nothing, and notices only when its ACK cannot be sent.
    fn drop_followers(&self, st: &mut ZabState, me: ServerId) -> Step {
        for f in 0..st.servers.len() {
            let f = ServerId(f as u8);
            let s = &st.servers[f.ix()];
            if s.up && s.follows(me) {
                self.cut(st, me, f);
                if !busy(&st.servers[f.ix()]) {
                    self.close(st, f)?;
                }
            }
        }
        Ok(())
    }

    /// Whether follower `f` still has a connection to its leader (its LearnerHandler lives).
    pub(crate) fn link_alive(&self, st: &ZabState, f: ServerId) -> bool {
        let s = st.server(f);
        matches!(s.phase, Phase::Following(_)) && {
            let l = st.server(s.peer);
            l.up && l.is_leader() && l.connected & f.bit() != 0
        }
    }

    /// Follower `f` and its leader lose their connection: `f` goes LOOKING (unless it is busy
    /// handling NEWLEADER: then it notices later), the leader's LearnerHandler for `f` ends.
    fn disconnect(&self, st: &mut ZabState, f: ServerId, leader: ServerId) -> Step {
        self.cut(st, f, leader);
        self.forget_learner(st, leader, f);
        if !busy(st.server(f)) {
            self.close(st, f)?;
        }
        Ok(())
    }

    /// The leader's LearnerHandler for `f` ends: `f` is no longer synchronized or forwarded to.
    fn forget_learner(&self, st: &mut ZabState, leader: ServerId, f: ServerId) {
        let l = &mut st.servers[leader.ix()];
        if l.is_leader() {
            let keep = !f.bit();
            l.connected &= keep;
            l.ack_epoch &= keep;
            l.synced &= keep;
            l.nl_first &= keep;
            l.peer_last[f.ix()] = Zxid::ZERO;
        }
    }

    /// The server itself goes LOOKING. Its SyncThread is shut down, which flushes what it queued
    /// (`SyncRequestProcessor.shutdown`); what the synchronization had not handed over is dropped;
    /// the in-memory database is brought up to the log (`fastForwardDataBase`, the ZK-2845 fix).
    /// `zab.recovery.shutdown`.
    fn close(&self, st: &mut ZabState, me: ServerId) -> Step {
        fire(r::SHUTDOWN);
        let s = &mut st.servers[me.ix()];
        let mut t = *s;
        t.reset_volatile();
        if self.is(Mutant::Zk4712) {
            // The SyncThread keeps running with its queue; its ACKs go to a closed socket.
            t.queue = s.queue;
            t.queue_committed = s.queue.len() as u8;
        } else {
            // Capacity: queue entries came from a leader's history, which fits.
            for &q in s.queue.iter() {
                if t.log.len() < MAX_LOG {
                    t.log.push(q);
                }
            }
        }
        t.committed = s.committed.min((t.log.len() + t.queue.len()) as u8);
        t.retained = self.is(Mutant::Zk2845);
        *s = t;
        self.restart_election(st, me)
    }

    /// `zab.recovery.crash`: the process is gone with everything volatile.
    pub(crate) fn on_crash(&self, st: &mut ZabState, me: ServerId) -> Step {
        fire(r::CRASH);
        match st.servers[me.ix()].phase {
            Phase::Looking => {}
            Phase::Leading(_) => self.drop_followers(st, me)?,
            Phase::Following(_) => {
                // No shutdown: the process is gone, with its SyncThread's queue.
                let leader = st.servers[me.ix()].peer;
                self.forget_learner(st, leader, me);
            }
        }
        st.network.remove_where(|f| f.src == me.0 || f.dst == me.0);
        let s = &mut st.servers[me.ix()];
        s.reset_volatile();
        s.up = false;
        st.crashes += 1;
        self.crash_election(st, me);
        Ok(())
    }

    /// `zab.recovery.restart`: restart from disk: epochs and log come back; the database is
    /// rebuilt from the log.
    pub(crate) fn on_restart(&self, st: &mut ZabState, me: ServerId) {
        fire(r::RESTART);
        st.servers[me.ix()].up = true;
        self.restart_process_election(st, me);
    }

    /// A lost packet breaks its TCP connection (`--lossy`).
    pub(crate) fn on_drop(&self, st: &mut ZabState, src: ServerId, dst: ServerId) -> Step {
        let (a, b) = (st.server(src), st.server(dst));
        if a.follows(dst) && b.is_leader() {
            self.disconnect(st, src, dst)
        } else if b.follows(src) && a.is_leader() {
            self.disconnect(st, dst, src)
        } else {
            self.cut(st, src, dst);
            Ok(())
        }
    }

    // ---- leader ------------------------------------------------------------------------------

    /// `zab.discovery.newepoch` (`getEpochToPropose`): once a quorum (the leader included) sent
    /// FOLLOWERINFO, the epoch is one more than every acceptedEpoch seen; the leader accepts it
    /// and answers LEADERINFO.
    fn try_fix_epoch(&self, st: &mut ZabState, me: ServerId) -> Step {
        let l = &st.servers[me.ix()];
        if l.leader_stage() != Some(LeaderStage::Epoch)
            || !self.has_quorum(r::NEWEPOCH_QUORUM, l.infos)
        {
            return Ok(());
        }
        if l.epoch.0 > self.config.max_epoch {
            return Err(OutOfBounds);
        }
        fire(r::NEWEPOCH);
        let l = &mut st.servers[me.ix()];
        l.accepted_epoch = l.epoch;
        l.phase = Phase::Leading(LeaderStage::Discovery);
        l.infos = 0;
        l.epoch_acks = me.bit();
        let (epoch, to) = (l.epoch, l.connected);
        for f in members(to) {
            self.send(st, me, f, Msg::LeaderInfo { epoch });
        }
        self.try_establish(st, me);
        Ok(())
    }

    /// `zab.discovery.followerinfo`: a learner's FOLLOWERINFO counts towards the epoch while the
    /// leader is still waiting for a quorum (`getEpochToPropose`: the epoch becomes at least one
    /// more than the learner's acceptedEpoch); once the epoch is fixed, the learner is answered
    /// LEADERINFO with it, whatever its acceptedEpoch (the learner decides).
    fn on_follower_info(
        &self,
        st: &mut ZabState,
        me: ServerId,
        f: ServerId,
        accepted: Epoch,
    ) -> Step {
        fire(r::FOLLOWERINFO);
        let l = &mut st.servers[me.ix()];
        l.connected |= f.bit();
        if guard(
            r::FOLLOWERINFO_WAITING,
            l.leader_stage() == Some(LeaderStage::Epoch),
        ) {
            l.infos |= f.bit();
            let proposed = Epoch(accepted.0.saturating_add(1));
            if guard(r::FOLLOWERINFO_RAISES, proposed > l.epoch) {
                l.epoch = proposed;
            }
            self.try_fix_epoch(st, me)
        } else {
            let epoch = l.epoch;
            self.send(st, me, f, Msg::LeaderInfo { epoch });
            Ok(())
        }
    }

    /// `zab.discovery.ackepoch` (`waitForEpochAck`): while the leader waits for the quorum, an
    /// ACKEPOCH with a currentEpoch counts towards it, unless the learner is more up to date than
    /// the leader (`StateSummary.isMoreRecentThan`), in which case its LearnerHandler throws and
    /// the connection closes. One with -1 does not count. After the quorum the learner is
    /// synchronized at once.
    fn on_ack_epoch(
        &self,
        st: &mut ZabState,
        me: ServerId,
        f: ServerId,
        current: Option<Epoch>,
        last: Zxid,
    ) -> Step {
        fire(r::ACKEPOCH);
        let l = &st.servers[me.ix()];
        let Some(stage) = l.leader_stage() else {
            return Ok(());
        };
        let waiting = guard(r::ACKEPOCH_WAITING, stage == LeaderStage::Discovery);
        if waiting && guard(r::ACKEPOCH_CURRENT, current.is_some()) {
            let more_recent =
                current.is_some_and(|c| (c, last) > (l.current_epoch, self.reported_last(l)));
            if !guard(r::ACKEPOCH_NOT_MORE_RECENT, !more_recent) {
                return self.disconnect(st, f, me);
            }
            st.servers[me.ix()].epoch_acks |= f.bit();
        }
        let l = &mut st.servers[me.ix()];
        l.ack_epoch |= f.bit();
        l.peer_last[f.ix()] = last;
        if waiting {
            self.try_establish(st, me);
        } else {
            self.send_new_leader(st, me, f);
        }
        Ok(())
    }

    /// `zab.discovery.established`: a quorum acknowledged the epoch: the leader adopts it
    /// (currentEpoch, persisted) and synchronizes every learner that acknowledged.
    fn try_establish(&self, st: &mut ZabState, me: ServerId) {
        let l = &st.servers[me.ix()];
        if l.leader_stage() != Some(LeaderStage::Discovery)
            || !self.has_quorum(r::ESTABLISHED_QUORUM, l.epoch_acks)
        {
            return;
        }
        fire(r::ESTABLISHED);
        let l = &mut st.servers[me.ix()];
        l.current_epoch = l.epoch;
        l.phase = Phase::Leading(LeaderStage::Synchronization);
        l.epoch_acks = 0;
        l.nl_acks = me.bit();
        if let Some(e) = st.ghost.leaders.get_mut(l.epoch.0 as usize) {
            *e |= me.bit();
        }
        for f in members(l.ack_epoch) {
            self.send_new_leader(st, me, f);
        }
        self.try_start(st, me);
    }

    /// `syncFollower` + `startForwarding` + NEWLEADER for learner `f`, from the zxid it reported,
    /// against the leader's committed log C (before the leader is established its whole log:
    /// ZooKeeper loads it as committed): DIFF when the learner's zxid is C's last, or in C;
    /// TRUNC to C's last when the learner is past it; otherwise TRUNC to C's largest zxid below
    /// the learner's, then DIFF (ZooKeeper sends SNAP across an epoch boundary: the same history
    /// results). Then every outstanding proposal follows, uncommitted.
    ///
    /// `zab.sync.diff`, `zab.sync.trunc`, `zab.sync.trunc-diff` (which one), `zab.sync.forward`
    /// (the outstanding proposals and forwarding from now on).
    fn send_new_leader(&self, st: &mut ZabState, me: ServerId, f: ServerId) {
        let l = &mut st.servers[me.ix()];
        let z = l.peer_last[f.ix()];
        let c = if guard(
            r::SYNC_COMMITTED_LOG,
            l.leader_stage() == Some(LeaderStage::Broadcast),
        ) {
            l.committed as usize
        } else {
            l.log.len()
        }
        .min(l.log.len());
        let log = &l.log[..c];
        let last_c = last_zxid(log);
        let (from, trunc) = if guard(r::SYNC_AT_LAST, z == last_c) {
            fire(r::SYNC_DIFF);
            (c, None)
        } else if guard(r::SYNC_PAST_LAST, z > last_c && z.counter != 0) {
            fire(r::SYNC_TRUNC);
            (c, Some(last_c))
        } else {
            let found = log.iter().position(|t| t.zxid == z);
            if guard(r::SYNC_IN_LOG, found.is_some()) {
                fire(r::SYNC_DIFF);
                (found.map_or(c, |i| i + 1), None)
            } else if guard(r::SYNC_EPOCH_START, z.counter == 0) {
                // A new epoch's zxid (the empty history): DIFF from there.
                fire(r::SYNC_DIFF);
                (log.iter().take_while(|t| t.zxid < z).count(), None)
            } else {
                fire(r::SYNC_TRUNC_DIFF);
                let k = log.iter().take_while(|t| t.zxid < z).count();
                (k, Some(last_zxid(&log[..k])))
            }
        };
        fire(r::SYNC_FORWARD);
        let txns: Txns = l.log[from..].iter().copied().collect();
        let committed = c.saturating_sub(from) as u8;
        let msg = Msg::NewLeader {
            epoch: l.epoch,
            trunc,
            txns,
            committed,
        };
        l.synced |= f.bit();
        l.ack_epoch &= !f.bit();
        l.peer_last[f.ix()] = Zxid::ZERO;
        self.send(st, me, f, msg);
    }

    /// `zab.newleader.quorum`: a quorum acknowledged NEWLEADER: the leader commits its whole
    /// history and starts serving (`startZkServer`); every learner past its NEWLEADER ACK gets
    /// UPTODATE.
    fn try_start(&self, st: &mut ZabState, me: ServerId) {
        let l = &st.servers[me.ix()];
        if l.leader_stage() != Some(LeaderStage::Synchronization)
            || !self.has_quorum(r::NEWLEADER_MAJORITY, l.nl_acks)
        {
            return;
        }
        fire(r::NEWLEADER_QUORUM);
        let l = &mut st.servers[me.ix()];
        l.phase = Phase::Leading(LeaderStage::Broadcast);
        l.committed = l.log.len() as u8;
        l.nl_acks = 0;
        let epoch = l.epoch;
        for f in members(l.nl_first) {
            self.send(st, me, f, Msg::UpToDate);
        }
        self.update_election_vote(st, me, epoch);
    }

    /// An ACK at the leader: the first one from a learner it sent NEWLEADER is the reply to
    /// NEWLEADER (`zab.newleader.quorum`: counted while synchronizing, answered with UPTODATE
    /// when serving); any other is `processAck` (`zab.broadcast.ack`).
    fn on_ack(&self, st: &mut ZabState, me: ServerId, f: ServerId, zxid: Zxid) {
        let l = &mut st.servers[me.ix()];
        let Some(stage) = l.leader_stage() else {
            return;
        };
        if guard(
            r::NEWLEADER_REPLY,
            l.synced & f.bit() != 0 && l.nl_first & f.bit() == 0,
        ) {
            // The LearnerHandler reads the reply to NEWLEADER (`waitForNewLeaderAck`): an ACK of
            // anything else is logged and not counted.
            l.nl_first |= f.bit();
            let right = zxid
                == Zxid {
                    epoch: l.epoch,
                    counter: 0,
                };
            if !right {
                st.ghost.bad_ack = true;
            }
            // Synchronizing, it counts towards the quorum; serving, the learner gets UPTODATE.
            if guard(
                r::NEWLEADER_SYNCHRONIZING,
                stage == LeaderStage::Synchronization,
            ) {
                if right {
                    l.nl_acks |= f.bit();
                    self.try_start(st, me);
                }
            } else if stage == LeaderStage::Broadcast {
                self.send(st, me, f, Msg::UpToDate);
            }
            return;
        }
        // `processAck`: counter 0 is not a proposal; an ACK of a committed proposal is stale.
        // (Neither is ever false in the correct model: a learner sends one ACK with counter 0, the
        // reply to NEWLEADER, and proposals exist only while the leader serves; so these are no
        // guard: an ablation of them could not be told from the rule.)
        fire(r::ACK);
        if zxid.counter == 0 || stage != LeaderStage::Broadcast {
            return;
        }
        let from = (l.committed as usize).min(l.log.len());
        if let Some(i) = l.log[from..].iter().position(|t| t.zxid == zxid) {
            l.acks[from + i] |= f.bit();
            self.try_commit(st, me);
        }
    }

    /// `zab.broadcast.commit` (`tryToCommit`): proposals commit in zxid order, each once a quorum
    /// acknowledged it.
    fn try_commit(&self, st: &mut ZabState, me: ServerId) {
        loop {
            let l = &mut st.servers[me.ix()];
            let next = l.committed as usize;
            if next >= l.log.len() || !self.has_quorum(r::COMMIT_QUORUM, l.acks[next]) {
                return;
            }
            fire(r::COMMIT);
            l.acks[next] = 0;
            l.committed += 1;
            let zxid = l.log[next].zxid;
            for f in members(self.forwarding(l)) {
                self.send(st, me, f, Msg::Commit { zxid });
            }
        }
    }

    /// `zab.broadcast.propose`: a client request at an established leader: logged (the leader's
    /// own ACK), then proposed to every learner it forwards to.
    pub(crate) fn on_client_request(&self, st: &mut ZabState, me: ServerId) -> Step {
        fire(r::PROPOSE);
        st.proposals += 1;
        let value = st.proposals;
        let l = &mut st.servers[me.ix()];
        let counter = l
            .log
            .iter()
            .rev()
            .find(|t| t.zxid.epoch == l.epoch)
            .map_or(0, |t| t.zxid.counter);
        let txn = Txn {
            zxid: Zxid {
                epoch: l.epoch,
                counter: counter + 1,
            },
            value,
        };
        push(&mut l.log, txn)?;
        l.acks[l.log.len() - 1] = me.bit();
        let to = self.forwarding(l);
        if st.ghost.proposed.len() < st.ghost.proposed.capacity() {
            st.ghost.proposed.push((txn, me));
        }
        for f in members(to) {
            self.send(st, me, f, Msg::Proposal { txn });
        }
        self.try_commit(st, me);
        Ok(())
    }

    // ---- follower ----------------------------------------------------------------------------

    /// `zab.discovery.leaderinfo`: a new epoch is accepted (persisted) and acknowledged with the
    /// currentEpoch; the epoch already accepted is acknowledged with -1; an older one is refused
    /// (LOOKING).
    fn on_leader_info(
        &self,
        st: &mut ZabState,
        me: ServerId,
        leader: ServerId,
        epoch: Epoch,
    ) -> Step {
        fire(r::LEADERINFO);
        let s = &mut st.servers[me.ix()];
        if !guard(r::LEADERINFO_NOT_BELOW, epoch >= s.accepted_epoch) {
            return self.disconnect(st, me, leader);
        }
        let current = if guard(r::LEADERINFO_ABOVE, epoch > s.accepted_epoch) {
            s.accepted_epoch = epoch;
            Some(s.current_epoch)
        } else {
            None
        };
        s.epoch = epoch;
        s.phase = Phase::Following(FollowerStage::Synchronization);
        let msg = Msg::AckEpoch {
            current_epoch: current,
            last_zxid: self.reported_last(s),
        };
        self.send(st, me, leader, msg);
        Ok(())
    }

    /// `zab.newleader.receive`: the history and NEWLEADER: TRUNC applies to the log at once; the
    /// transactions wait in `pending`; then the NEWLEADER steps begin (logging the committed
    /// transactions only if there are any, writing currentEpoch only if it changes).
    fn on_new_leader(
        &self,
        st: &mut ZabState,
        me: ServerId,
        trunc: Option<Zxid>,
        txns: Txns,
        committed: u8,
    ) -> Step {
        fire(r::NEWLEADER_RECEIVE);
        let s = &mut st.servers[me.ix()];
        if let Some(z) = trunc {
            let keep = s.log.iter().take_while(|t| t.zxid <= z).count();
            s.log.truncate(keep);
            s.committed = s.committed.min((s.log.len() + s.queue.len()) as u8);
        }
        s.retained = false;
        s.pending = txns;
        s.pending_committed = committed;
        match Mutant::handover(self.config.mutant) {
            Handover::None | Handover::AllAtUpToDate => {}
            Handover::CommittedToSyncThread => {
                let n = s.pending_committed as usize;
                self.hand_to_sync_thread(s, n)?;
            }
            Handover::AllToSyncThread => {
                let n = s.pending.len();
                self.hand_to_sync_thread(s, n)?;
            }
        }
        let mut todo = NL_ACK;
        let log_all = self.is(Mutant::Zk4394);
        if (log_all && !s.pending.is_empty())
            || (!log_all
                && guard(r::NEWLEADER_TXNS_TO_LOG, s.pending_committed > 0)
                && Mutant::nl_order(self.config.mutant).contains(&NlStep::LogTxns))
        {
            todo |= NL_LOG;
        }
        if guard(r::NEWLEADER_EPOCH_TO_WRITE, s.current_epoch != s.epoch) {
            todo |= NL_EPOCH;
        }
        s.nl_todo = todo;
        s.phase = Phase::Following(FollowerStage::NewLeader);
        Ok(())
    }

    /// Moves the first `n` pending transactions to the SyncThread queue, keeping history order.
    fn hand_to_sync_thread(&self, s: &mut Server, n: usize) -> Step {
        let n = n.min(s.pending.len());
        let committed = (s.pending_committed as usize).min(n);
        if s.queue_committed as usize == s.queue.len() {
            s.queue_committed += committed as u8;
        }
        let moved: Txns = s.pending[..n].iter().copied().collect();
        extend(&mut s.queue, &moved)?;
        let rest: Txns = s.pending[n..].iter().copied().collect();
        s.pending = rest;
        s.pending_committed = s.pending_committed.saturating_sub(committed as u8);
        Ok(())
    }

    /// `zab.newleader.persist-order`: whether a server handling NEWLEADER may take `step` now:
    /// it is still to do, and every step before it in the rule set's order is done (3.9.3: log
    /// the committed transactions, then write currentEpoch, then ACK).
    pub(crate) fn nl_step_enabled(&self, s: &Server, step: NlStep) -> bool {
        if s.phase != Phase::Following(FollowerStage::NewLeader) || s.nl_todo & nl_bit(step) == 0 {
            return false;
        }
        let order = Mutant::nl_order(self.config.mutant);
        let Some(at) = order.iter().position(|&x| x == step) else {
            return false;
        };
        let earlier_done = order[..at].iter().all(|&e| s.nl_todo & nl_bit(e) == 0);
        match step {
            NlStep::PersistEpoch => guard(r::ORDER_TXNS_BEFORE_EPOCH, earlier_done),
            NlStep::Ack => guard(r::ORDER_PERSISTED_BEFORE_ACK, earlier_done),
            NlStep::LogTxns => earlier_done,
        }
    }

    /// One NEWLEADER step (`zab.newleader.persist-order`); the ACK is `zab.newleader.ack`.
    pub(crate) fn on_nl_step(&self, st: &mut ZabState, me: ServerId, step: NlStep) -> Step {
        fire(r::PERSIST_ORDER);
        let s = &mut st.servers[me.ix()];
        s.nl_todo &= !nl_bit(step);
        match step {
            NlStep::LogTxns => {
                let n = if self.is(Mutant::Zk4394) {
                    s.pending.len()
                } else {
                    s.pending_committed as usize
                }
                .min(s.pending.len());
                let logged: Txns = s.pending[..n].iter().copied().collect();
                extend(&mut s.log, &logged)?;
                let rest: Txns = s.pending[n..].iter().copied().collect();
                s.pending = rest;
                s.pending_committed = s.pending_committed.saturating_sub(n as u8);
            }
            NlStep::PersistEpoch => s.current_epoch = s.epoch,
            NlStep::Ack => {
                fire(r::NEWLEADER_ACK);
                let (leader, epoch) = (s.peer, s.epoch);
                s.phase = Phase::Following(FollowerStage::UpToDate);
                if self.link_alive(st, me) {
                    self.send(
                        st,
                        me,
                        leader,
                        Msg::Ack {
                            zxid: Zxid { epoch, counter: 0 },
                        },
                    );
                } else {
                    // The write fails: the connection broke while NEWLEADER was being handled.
                    self.close(st, me)?;
                }
            }
        }
        Ok(())
    }

    /// `zab.uptodate`: the follower starts serving. What is still pending goes to the SyncThread,
    /// and everything the leader committed is delivered.
    fn on_up_to_date(&self, st: &mut ZabState, me: ServerId) -> Step {
        fire(r::UPTODATE);
        let s = &mut st.servers[me.ix()];
        let n = s.pending.len();
        self.hand_to_sync_thread(s, n)?;
        s.committed = (s.log.len() as u8 + s.queue_committed).max(s.committed);
        s.queue_committed = 0;
        s.phase = Phase::Following(FollowerStage::Broadcast);
        let epoch = s.epoch;
        self.update_election_vote(st, me, epoch);
        Ok(())
    }

    /// PROPOSAL at a follower: serving, it goes to the SyncThread (`zab.broadcast.log`);
    /// synchronizing, it waits in `packetsNotLogged` (`zab.sync.pending`).
    fn on_proposal(&self, st: &mut ZabState, me: ServerId, txn: Txn) -> Step {
        let s = &mut st.servers[me.ix()];
        if guard(
            r::LOG_SERVING,
            s.follower_stage() == Some(FollowerStage::Broadcast),
        ) {
            push(&mut s.queue, txn)
        } else {
            fire(r::SYNC_PENDING);
            push(&mut s.pending, txn)
        }
    }

    /// COMMIT: while synchronizing it names the next pending proposal (`packetsCommitted`); while
    /// serving, the next undelivered transaction. Anything else is the follower's exception
    /// (ZooKeeper throws, or exits): recorded, and the follower drops out. `zab.broadcast.deliver`
    /// (serving), `zab.sync.pending` (synchronizing).
    fn on_commit(&self, st: &mut ZabState, me: ServerId, zxid: Zxid) -> Step {
        let s = &mut st.servers[me.ix()];
        let ok = if guard(
            r::DELIVER_SERVING,
            s.follower_stage() == Some(FollowerStage::Broadcast),
        ) {
            fire(r::DELIVER);
            let h = s.history();
            let ok = h.get(s.committed as usize).is_some_and(|t| t.zxid == zxid);
            if ok {
                s.committed += 1;
            }
            ok
        } else {
            fire(r::SYNC_PENDING);
            let ok = s
                .pending
                .get(s.pending_committed as usize)
                .is_some_and(|t| t.zxid == zxid);
            if ok {
                s.pending_committed += 1;
            }
            ok
        };
        if !ok {
            st.ghost.bad_commit = true;
            let leader = s.peer;
            return self.disconnect(st, me, leader);
        }
        Ok(())
    }

    /// The SyncThread writes the head of its queue to the log, then (SendAckRequestProcessor)
    /// acknowledges it to the leader, unless the leader is known to have committed it already.
    /// `zab.broadcast.log`.
    pub(crate) fn on_log_txn(&self, st: &mut ZabState, me: ServerId) -> Step {
        fire(r::LOG);
        let s = &mut st.servers[me.ix()];
        let Some(&t) = s.queue.first() else {
            return Ok(());
        };
        let rest: Txns = s.queue[1..].iter().copied().collect();
        s.queue = rest;
        push(&mut s.log, t)?;
        let position = s.log.len() - 1;
        let known_committed = if s.queue_committed > 0 {
            s.queue_committed -= 1;
            true
        } else {
            position < s.committed as usize
        };
        let after_newleader = matches!(
            s.follower_stage(),
            Some(FollowerStage::NewLeader | FollowerStage::UpToDate | FollowerStage::Broadcast)
        );
        let leader = s.peer;
        // (A shortcut: ZooKeeper ACKs every transaction it logs, and the leader ignores the ACK
        // of one it committed. With the reductions off, so does the model.)
        if after_newleader
            && (guard(r::LOG_NOT_KNOWN_COMMITTED, !known_committed) || !self.config.reductions)
            && self.link_alive(st, me)
        {
            self.send(st, me, leader, Msg::Ack { zxid: t.zxid });
        }
        Ok(())
    }

    /// A packet arrives.
    pub(crate) fn on_message(
        &self,
        st: &mut ZabState,
        src: ServerId,
        me: ServerId,
        msg: Msg,
    ) -> Step {
        match msg {
            Msg::FollowerInfo { accepted_epoch } => {
                self.on_follower_info(st, me, src, accepted_epoch)?
            }
            Msg::AckEpoch {
                current_epoch,
                last_zxid,
            } => self.on_ack_epoch(st, me, src, current_epoch, last_zxid)?,
            Msg::Ack { zxid } => self.on_ack(st, me, src, zxid),
            Msg::LeaderInfo { epoch } => self.on_leader_info(st, me, src, epoch)?,
            Msg::NewLeader {
                trunc,
                txns,
                committed,
                ..
            } => self.on_new_leader(st, me, trunc, txns, committed)?,
            Msg::UpToDate => self.on_up_to_date(st, me)?,
            Msg::Proposal { txn } => self.on_proposal(st, me, txn)?,
            Msg::Commit { zxid } => self.on_commit(st, me, zxid)?,
        }
        Ok(())
    }
}
