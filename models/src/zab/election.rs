//! FastLeaderElection composed into ZAB (`--election fle`), through the FLE model's embedding API
//! (`crate::fle`, "# Embedding"): each server's election is an [`FleServer`] driven by the pure
//! functions of [`Fle`]; this module owns delivery, which follows the FLE model's
//! QuorumCnxManager semantics (one slot per ordered pair: a send queue of one, the last message
//! re-sent when a restarted server's connections are made again; loopback for a server's own
//! notifications).
//!
//! How the two meet, as in `QuorumPeer.run`:
//! - a LOOKING server runs the election; deciding LEADING starts `Leader.lead` at once; deciding
//!   FOLLOWING makes it connect to the leader (`follow`) once that one leads;
//! - whenever ZAB gives up (timeout, lost connection, refused epoch) the server starts the next
//!   election round; a restarted process starts at round 1;
//! - after synchronization, `updateElectionVote` makes a decided server advertise the new epoch;
//! - the election reads `currentEpoch` and the last zxid from ZAB's state at the moment of the
//!   call (ZK-4643 is about which of them reaches disk first).
//!
//! The model explores runs in which no server's election round exceeds `--max-elections`: a step
//! that would start a later round is not taken.

use serde::Serialize;

use super::rules;
use super::state::ZabState;
use super::step::{OutOfBounds, Step};
use super::types::{Phase, ServerId, MAX_SERVERS};
use super::ZabModel;
use crate::coverage::fire;
use crate::fle::{self, Chan, Decision, FleServer, History, Notification, Send, Sid, ZkState};

/// The election half of the composed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ElectionState {
    /// Each server's FastLeaderElection instance.
    pub servers: [FleServer; MAX_SERVERS],
    /// `chans[src][dst]`, the election connection from `src` to `dst` (`src == dst`: loopback).
    pub chans: [[Chan; MAX_SERVERS]; MAX_SERVERS],
}

fn sid(s: ServerId) -> Sid {
    Sid(s.0)
}

impl ZabModel {
    fn election_on(&self) -> bool {
        self.config.election == super::Election::Fle
    }

    fn election<'a>(&self, st: &'a ZabState) -> &'a ElectionState {
        st.election
            .as_deref()
            .expect("the FLE election has its state")
    }

    fn election_mut<'a>(&self, st: &'a mut ZabState) -> &'a mut ElectionState {
        st.election
            .as_deref_mut()
            .expect("the FLE election has its state")
    }

    /// The server's election state (FLE mode).
    pub(crate) fn fle_server(&self, st: &ZabState, s: ServerId) -> FleServer {
        self.election(st).servers[s.ix()]
    }

    /// What the election reads from ZAB: `getCurrentEpoch` and `getLastLoggedZxid` (the in-memory
    /// database's last zxid: see `reported_last`).
    fn fle_history(&self, st: &ZabState, me: ServerId) -> History {
        let s = st.server(me);
        let z = self.reported_last(s);
        History {
            current_epoch: fle::Epoch(s.current_epoch.0),
            last_zxid: fle::Zxid::new(z.epoch.0, z.counter),
        }
    }

    /// The initial election state: every process has just started `lookForLeader`.
    pub(crate) fn init_election(&self, st: &mut ZabState) {
        if !self.election_on() {
            return;
        }
        st.election = Some(Box::default());
        for i in 0..st.servers.len() {
            self.restart_process_election(st, ServerId(i as u8));
        }
        self.finish_election(st);
    }

    /// Puts `send` on the election connections from `from`. A message to a server that is down
    /// waits in the queue (it is sent when the connection is made).
    fn fle_send(&self, st: &mut ZabState, from: ServerId, send: Send) -> bool {
        let up: [bool; MAX_SERVERS] =
            std::array::from_fn(|i| st.servers.get(i).is_some_and(|s| s.up));
        let e = self.election_mut(st);
        let mut changed = false;
        for dst in send.to.iter() {
            let new = Chan {
                last: Some(send.msg),
                pending: up[dst.ix()],
            };
            let c = &mut e.chans[from.ix()][dst.ix()];
            if *c != new {
                *c = new;
                changed = true;
            }
        }
        changed
    }

    /// `zab.election.fle.next-round`: ZAB gave up: the next election round (`lookForLeader`
    /// again), unless it is past the bound.
    pub(crate) fn restart_election(&self, st: &mut ZabState, me: ServerId) -> Step {
        if !self.election_on() {
            return Ok(());
        }
        if self.fle_server(st, me).logicalclock.0 >= self.config.max_elections {
            return Err(OutOfBounds);
        }
        fire(rules::ELECTION_FLE_NEXT_ROUND);
        let h = self.fle_history(st, me);
        let send = self
            .fle
            .start_election(&mut self.election_mut(st).servers[me.ix()], sid(me), h);
        self.fle_send(st, me, send);
        Ok(())
    }

    /// A crash: the election instance, its queues and `lastMessageSent` die with the process;
    /// messages to it on the wire are lost; peers keep their last message for the new connection.
    pub(crate) fn crash_election(&self, st: &mut ZabState, me: ServerId) {
        if !self.election_on() {
            return;
        }
        let e = self.election_mut(st);
        e.servers[me.ix()] = FleServer::fresh();
        e.chans[me.ix()] = [Chan::default(); MAX_SERVERS];
        for row in e.chans.iter_mut() {
            row[me.ix()].pending = false;
        }
    }

    /// A process starts: connections are made again (every peer sends what is queued or, if
    /// nothing is, its last message), and the first election round begins.
    pub(crate) fn restart_process_election(&self, st: &mut ZabState, me: ServerId) {
        if !self.election_on() {
            return;
        }
        let e = self.election_mut(st);
        e.servers[me.ix()] = FleServer::fresh();
        for row in e.chans.iter_mut() {
            let c = &mut row[me.ix()];
            c.pending = c.last.is_some();
        }
        let h = self.fle_history(st, me);
        let send = self
            .fle
            .start_election(&mut self.election_mut(st).servers[me.ix()], sid(me), h);
        self.fle_send(st, me, send);
    }

    /// `zab.election.fle.update-vote` (`updateElectionVote(newEpoch)`): a synchronized server
    /// advertises the new epoch.
    pub(crate) fn update_election_vote(
        &self,
        st: &mut ZabState,
        me: ServerId,
        epoch: super::Epoch,
    ) {
        if !self.election_on() {
            return;
        }
        let s = &mut self.election_mut(st).servers[me.ix()];
        if s.state.decided() {
            fire(rules::ELECTION_FLE_UPDATE_VOTE);
            self.fle.update_election_vote(s, fle::Epoch(epoch.0));
        }
    }

    /// `zab.election.fle.decide`: the election decided: leaving the instance clears its receive
    /// queue (where the loopback waits); LEADING starts `Leader.lead` at once.
    fn on_decision(&self, st: &mut ZabState, me: ServerId, d: Decision) -> Step {
        fire(rules::ELECTION_FLE_DECIDE);
        self.election_mut(st).chans[me.ix()][me.ix()] = Chan::default();
        if d.vote.state == ZkState::Leading {
            self.on_lead(st, me)?;
        }
        Ok(())
    }

    /// Delivers notification `msg` from `src` to `dst` (taken off the connection). Returns whether
    /// anything but that changed.
    pub(crate) fn deliver_vote(
        &self,
        st: &mut ZabState,
        src: ServerId,
        dst: ServerId,
        msg: Notification,
    ) -> Result<bool, OutOfBounds> {
        let h = self.fle_history(st, dst);
        let before = self.fle_server(st, dst);
        let out = self.fle.on_notification(
            &mut self.election_mut(st).servers[dst.ix()],
            sid(dst),
            h,
            sid(src),
            msg,
        );
        let mut changed = self.fle_server(st, dst) != before;
        if let Some(send) = out.send {
            changed |= self.fle_send(st, dst, send);
        }
        if let Some(d) = out.decision {
            self.on_decision(st, dst, d)?;
        }
        Ok(changed)
    }

    /// Whether delivering `msg` from `src` to `dst` now would change anything.
    fn vote_would_matter(
        &self,
        st: &ZabState,
        src: ServerId,
        dst: ServerId,
        msg: Notification,
    ) -> bool {
        let mut probe = st.clone();
        self.deliver_vote(&mut probe, src, dst, msg).unwrap_or(true)
    }

    /// The finalize wait of a LOOKING server elapses with no better vote: it decides.
    pub(crate) fn on_finalize(&self, st: &mut ZabState, me: ServerId) -> Step {
        let d = self
            .fle
            .finalize(&mut self.election_mut(st).servers[me.ix()], sid(me));
        self.on_decision(st, me, d)
    }

    /// A LOOKING server's poll times out: it sends its notification again, only where that would
    /// make a difference now (the timeout can fire again later). Returns whether anything was sent.
    pub(crate) fn on_notification_timeout(&self, st: &mut ZabState, me: ServerId) -> bool {
        let send = self.fle.notification_timeout(&self.fle_server(st, me));
        let last = st.clone();
        let mut sent = false;
        for dst in send.to.iter() {
            let d = ServerId(dst.0);
            if last.server(d).up
                && self.election(&last).chans[me.ix()][d.ix()].in_flight() != Some(send.msg)
                && (!self.config.reductions || self.vote_would_matter(&last, me, d, send.msg))
            {
                self.election_mut(st).chans[me.ix()][d.ix()] = Chan {
                    last: Some(send.msg),
                    pending: true,
                };
                sent = true;
            }
        }
        sent
    }

    /// After every step: connections into a server that is down hold nothing in flight, and a
    /// delivered message is forgotten once nothing (no restart left) could send it again.
    pub(crate) fn finish_election(&self, st: &mut ZabState) {
        if !self.election_on() {
            return;
        }
        let n = st.servers.len();
        let up: [bool; MAX_SERVERS] =
            std::array::from_fn(|i| st.servers.get(i).is_some_and(|s| s.up));
        // (With the reductions off, a delivered message is never forgotten.)
        let may_resend = st.crashes < self.config.crashes || !self.config.reductions;
        let e = self.election_mut(st);
        for (dst, &up_dst) in up.iter().enumerate().take(n) {
            let keep = !up_dst || may_resend;
            for row in e.chans[..n].iter_mut() {
                let c = &mut row[dst];
                c.pending &= up_dst;
                if !c.pending && !keep {
                    c.last = None;
                }
            }
        }
    }

    /// Whether a LOOKING (in ZAB's sense) server decided to follow `leader`, which now leads: it
    /// can connect.
    pub(crate) fn fle_may_follow(&self, st: &ZabState, me: ServerId, leader: ServerId) -> bool {
        let e = self.fle_server(st, me);
        e.state == ZkState::Following
            && e.current.is_some_and(|c| c.leader.0 == leader.0)
            && st.server(leader).is_leader()
    }

    /// Whether a server decided but its ZAB role has not begun (a follower whose leader does not
    /// lead yet): it may give up.
    pub(crate) fn fle_waiting(&self, st: &ZabState, me: ServerId) -> bool {
        self.election_on()
            && st.server(me).phase == Phase::Looking
            && self.fle_server(st, me).state.decided()
    }

    /// The election inputs enabled in `st`: notifications to deliver (or lose), finalize waits,
    /// poll timeouts.
    pub(crate) fn election_actions(&self, st: &ZabState, actions: &mut Vec<super::Action>) {
        let e = self.election(st);
        let n = st.servers.len();
        for i in 0..n {
            let server = ServerId(i as u8);
            if !st.servers[i].up {
                continue;
            }
            let f = &e.servers[i];
            if f.state == ZkState::Looking {
                if f.finalizing {
                    actions.push(super::Action::Finalize { server });
                } else {
                    actions.push(super::Action::NotificationTimeout { server });
                }
            }
        }
        for src in 0..n {
            for dst in 0..n {
                if let Some(msg) = e.chans[src][dst].in_flight() {
                    let (src, dst) = (ServerId(src as u8), ServerId(dst as u8));
                    if st.server(dst).up {
                        actions.push(super::Action::DeliverVote { src, dst, msg });
                    }
                    if self.config.lossy {
                        actions.push(super::Action::DropVote { src, dst, msg });
                    }
                }
            }
        }
    }

    /// Whether each server's ZAB role matches what its election decided (a link between the
    /// halves that no step may break).
    pub(crate) fn election_consistent(&self, st: &ZabState) -> bool {
        if !self.election_on() {
            return true;
        }
        st.servers.iter().enumerate().all(|(i, s)| {
            let f = self.election(st).servers[i];
            !s.up
                || match s.phase {
                    Phase::Looking => true,
                    Phase::Leading(_) => f.state == ZkState::Leading,
                    Phase::Following(_) => f.state == ZkState::Following,
                }
        })
    }
}
