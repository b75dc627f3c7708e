//! ZooKeeper's FastLeaderElection (3.8) at message granularity: notifications with their six wire
//! fields, the vote order, rounds (`logicalclock`), recvset and outofelection, the finalize wait,
//! replies from decided servers, QuorumCnxManager's per-pair connections (a send queue of one,
//! the last message re-sent on reconnect), loopback, crashes and restarts, and ZAB abstracted to
//! "succeeds or gives up".
//!
//! Semantics, and every difference from ZooKeeper's source, are in docs/protocols/fle.md.
//!
//! # Embedding
//!
//! The election of one server is a `Copy` value, [`FleServer`], driven by the pure functions of
//! [`Fle`] (the ensemble size and mutant). None of them touches a network, a clock or another
//! server: the caller owns delivery, and owns everything ZAB owns, which it passes in as a
//! [`History`] (`currentEpoch` and last logged zxid, read at the moment of the call).
//!
//! ```text
//!  ZAB state LOOKING ──► fle.start_election(&mut s, me, history) ─────────────► Send (to all, self incl.)
//!  notification n from j ► fle.on_notification(&mut s, me, history, j, n) ──► Output { send?, decision? }
//!  finalize wait elapses ► fle.finalize(&mut s, me)  [only if s.finalizing] ► Decision
//!  poll timed out ──────► fle.notification_timeout(&s) [LOOKING, !finalizing] ► Send (to all)
//!  ZAB synced, epoch e ─► fle.update_election_vote(&mut s, e)   (a decided server re-advertises e)
//!  process restart ─────► s = FleServer::fresh(); then start_election (logicalclock restarts at 1)
//! ```
//!
//! - A [`Send`] is one [`Notification`] to a set of servers ([`Servers`], a bitmask); a server's
//!   own id in the set is the loopback, which must be delivered back to it like any message.
//! - A [`Decision`] sets `s.state` to FOLLOWING or LEADING and `s.current` to the end vote; ZAB
//!   then runs discovery with `decision.vote.leader`. It carries the [`DecisionPath`] and the
//!   quorum that was counted, so ZAB can record ghost history. While decided, `s` keeps answering
//!   LOOKING peers through `on_notification` (the receiver thread keeps running).
//! - ZAB giving up (no quorum of followers, leader unreachable) is `start_election` again: it sets
//!   LOOKING and the next round. ZAB must not change `s.state` otherwise.
//! - The history passed in is read, never stored: pass the values ZAB holds at that moment
//!   (ZOOKEEPER-4643 is about which of them is persisted first).
//! - Delivery is the caller's: this module's model ([`FleModel`]) keeps one slot per ordered pair
//!   (the send queue of capacity one) plus the last message sent, re-sent on reconnect
//!   ([`Chan`]); a composed model may reuse that or its own network.

mod config;
mod mutants;
pub mod properties;
pub mod rules;
mod server;
mod spec;
mod state;
mod types;

pub use config::{FleConfig, InitServer, MAX_CRASHES, MAX_ROUND};
pub use mutants::FleMutant;
pub use server::{Decision, DecisionPath, Fle, FleServer, History, Output, Send, VoteTable};
pub use state::{Chan, FleState, Ghost, Node};
pub use types::{
    Epoch, Notification, Round, Servers, Sid, Vote, ZkState, Zxid, CURRENT_VERSION, MAX_SERVERS,
};

use serde::{Deserialize, Serialize};
use stateright::{Model, Property};
use std::fmt;

use crate::config::ConfigError;
use crate::copyvec::CopyVec;
use crate::coverage::guard;
use crate::network::NetworkKind;
use server::unrecorded;

/// One step of the system: one input to one server, or one fault.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// The notification in flight from `src` to `dst` arrives (`src == dst`: loopback).
    Deliver {
        src: Sid,
        dst: Sid,
        msg: Notification,
    },
    /// The notification in flight from `src` to `dst` is lost (`--lossy`).
    Drop {
        src: Sid,
        dst: Sid,
        msg: Notification,
    },
    /// The connection between `a` and `b` breaks and is re-established; each side sends its last
    /// message again (`--network unordered-dup`).
    Reconnect {
        a: Sid,
        b: Sid,
    },
    /// The finalize wait of a LOOKING server elapses with no better vote: it decides.
    Finalize {
        server: Sid,
    },
    /// A LOOKING server's poll times out: it sends its notification again.
    NotificationTimeout {
        server: Sid,
    },
    /// A decided server's ZAB phase cannot succeed (a leader without a quorum of followers, a
    /// follower whose leader is not leading): it goes back to LOOKING in the next round.
    ZabTimeout {
        server: Sid,
    },
    Crash {
        server: Sid,
    },
    Restart {
        server: Sid,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Deliver { src, dst, msg } if src == dst => {
                write!(f, "{dst} loopback {msg}")
            }
            Action::Deliver { src, dst, msg } => write!(f, "deliver {src}→{dst} {msg}"),
            Action::Drop { src, dst, msg } => write!(f, "drop {src}→{dst} {msg}"),
            Action::Reconnect { a, b } => write!(f, "{a}↔{b} reconnect"),
            Action::Finalize { server } => write!(f, "{server} finalize wait elapses"),
            Action::NotificationTimeout { server } => write!(f, "{server} notification timeout"),
            Action::ZabTimeout { server } => write!(f, "{server} ZAB gives up"),
            Action::Crash { server } => write!(f, "{server} crashes"),
            Action::Restart { server } => write!(f, "{server} restarts"),
        }
    }
}

/// The FLE model for one configuration.
#[derive(Clone, Debug)]
pub struct FleModel {
    pub config: FleConfig,
    fle: Fle,
}

impl FleModel {
    pub fn new(config: FleConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let fle = Fle {
            servers: config.servers,
            mutant: config.mutant,
        };
        Ok(FleModel { config, fle })
    }

    /// The election rules this model runs.
    pub fn fle(&self) -> Fle {
        self.fle
    }

    fn n(&self) -> usize {
        self.config.servers as usize
    }

    fn sids(&self) -> impl Iterator<Item = Sid> {
        (0..self.config.servers).map(Sid)
    }

    pub fn history(&self, s: Sid) -> History {
        self.config.history(s.ix())
    }

    /// Puts `send` on the connections from `from`. A message to a server that is down waits in
    /// the queue (it is sent when the connection is made). Returns whether anything changed.
    fn send(&self, st: &mut FleState, from: Sid, send: Send) -> bool {
        let mut changed = false;
        for dst in send.to.iter() {
            let new = Chan {
                last: Some(send.msg),
                pending: st.servers[dst.ix()].up,
            };
            let c = &mut st.chans[from.ix()][dst.ix()];
            if *c != new {
                *c = new;
                changed = true;
            }
        }
        changed
    }

    /// Delivers `msg` from `src` to `dst` (already taken off the connection). Returns whether
    /// anything but that changed.
    fn deliver(&self, st: &mut FleState, src: Sid, dst: Sid, msg: Notification) -> bool {
        let before = st.servers[dst.ix()];
        let out = self.fle.on_notification(
            &mut st.servers[dst.ix()].fle,
            dst,
            self.history(dst),
            src,
            msg,
        );
        let mut changed = st.servers[dst.ix()] != before;
        let after = &st.servers[dst.ix()].fle;
        if before.fle.state == ZkState::Looking
            && after.state == ZkState::Looking
            && after.proposal != before.fle.proposal
            && after.proposal != self.history(dst).self_vote(dst)
            && !(msg.state == ZkState::Looking
                && msg.election_epoch == after.logicalclock
                && msg.vote() == after.proposal)
        {
            st.ghost.foreign_vote = true;
        }
        if let Some(send) = out.send {
            changed |= self.send(st, dst, send);
        }
        if let Some(d) = out.decision {
            self.record_decision(st, dst, d);
        }
        changed
    }

    /// Whether delivering `msg` from `src` to `dst` now would change anything.
    fn would_matter(&self, st: &FleState, src: Sid, dst: Sid, msg: Notification) -> bool {
        let mut probe = st.clone();
        self.deliver(&mut probe, src, dst, msg)
    }

    /// Leaving the election clears the receive queue (`leaveInstance`), where the loopback waits;
    /// the ghost checks the decision against what servers really voted.
    fn record_decision(&self, st: &mut FleState, me: Sid, d: Decision) {
        st.chans[me.ix()][me.ix()] = Chan::default();
        let leader = d.vote.leader;
        // Checked independently of the election's own counting: the quorum has a majority of
        // the ensemble; a FOLLOWING/LEADING vote counted comes from a server that did decide for
        // the leader; and a server other than the leader follows it on such votes only if the
        // leader did decide to lead (`checkLeader`). (A LOOKING vote counted is one its sender
        // sent: the network carries nothing else.)
        let g = &st.ghost;
        let decided = |q: Sid| g.decided[q.ix()] & leader.bit() != 0;
        let backed = d.quorum.len() > self.config.servers as usize / 2
            && d.quorum.iter().all(|q| d.looking.contains(q) || decided(q))
            && (d.path == DecisionPath::Looking || leader == me || decided(leader));
        let g = &mut st.ghost;
        if !backed {
            g.unbacked_decision = true;
        }
        // The servers that voted for the leader while LOOKING chose it over their own vote; a
        // FOLLOWING vote in the quorum may come from a more up-to-date server (ZAB's discovery
        // then turns the leader down: `waitForEpochAck`).
        if d.path == DecisionPath::Looking {
            let lead = self.history(leader).key();
            if d.looking.iter().any(|q| self.history(q).key() > lead) {
                g.leader_behind = true;
            }
        }
        g.decided[me.ix()] |= leader.bit();
    }

    /// Whether the leader `l` has a quorum of live servers following it (itself included): ZAB's
    /// discovery and synchronisation can complete.
    pub fn established(&self, st: &FleState, l: Sid) -> bool {
        let node = st.node(l);
        node.up
            && node.fle.state == ZkState::Leading
            && self
                .sids()
                .filter(|&q| {
                    let x = st.node(q);
                    q == l
                        || (x.up
                            && x.fle.state == ZkState::Following
                            && x.fle.current.is_some_and(|c| c.leader == l))
                })
                .count()
                >= self.fle.quorum()
    }

    /// Whether a decided server's ZAB phase cannot succeed, so that it will give up: a leader
    /// without a quorum of followers, or a follower whose leader is down or not leading.
    pub fn zab_stuck(&self, st: &FleState, s: Sid) -> bool {
        let node = st.node(s);
        match node.fle.state {
            ZkState::Looking => false,
            ZkState::Leading => !self.established(st, s),
            ZkState::Following => {
                let l = node.fle.current.expect("decided").leader;
                let leader = st.node(l);
                !(leader.up && leader.fle.state == ZkState::Leading)
            }
        }
    }

    /// Whether a message delivered to `dst` can still be sent again: by a restart of `dst`
    /// (QuorumCnxManager re-sends `lastMessageSent` on a new connection) or a reconnect.
    fn may_resend(&self, st: &FleState, dst: usize) -> bool {
        !st.servers[dst].up
            || st.crashes < self.config.crashes
            || self.config.network == NetworkKind::UnorderedDup
    }

    /// Ghost updates and canonical form after every step.
    fn finish(&self, last: &FleState, st: &mut FleState) {
        let n = self.n();
        for i in 0..n {
            let (a, b) = (&last.servers[i], &st.servers[i]);
            if a.up && b.up && b.fle.state == ZkState::Looking {
                // Rounds only move forward while LOOKING (`logicalclock` is only ever raised to
                // a newer round), and a new election starts after the round decided in
                // (`logicalclock.incrementAndGet()`).
                let (ra, rb) = (a.fle.logicalclock, b.fle.logicalclock);
                if rb < ra || (a.fle.state.decided() && rb == ra) {
                    st.ghost.round_went_back = true;
                }
            }
            if b.up && b.fle.state == ZkState::Looking {
                // No vote circle: within one election round, a proposal only moves up.
                if a.up
                    && a.fle.state == ZkState::Looking
                    && a.fle.logicalclock == b.fle.logicalclock
                    && a.fle.proposal != b.fle.proposal
                    && !b.fle.proposal.beats(a.fle.proposal)
                {
                    st.ghost.vote_circle = true;
                }
            }
        }
        for dst in 0..n {
            // (With the reductions off, a delivered message is never forgotten.)
            let keep = !self.config.reductions || self.may_resend(st, dst);
            let up = st.servers[dst].up;
            for row in st.chans[..n].iter_mut() {
                let c = &mut row[dst];
                c.pending &= up;
                if !c.pending && !keep {
                    c.last = None;
                }
            }
        }
    }

    fn on_crash(&self, st: &mut FleState, s: Sid) {
        let n = self.n();
        st.servers[s.ix()] = Node::default();
        // Its queues and `lastMessageSent` die with the process; messages to it on the wire are
        // lost, and peers keep their last message for the new connection.
        st.chans[s.ix()] = [Chan::default(); MAX_SERVERS];
        for row in st.chans[..n].iter_mut() {
            row[s.ix()].pending = false;
        }
        st.crashes += 1;
    }

    /// A restart (rule `fle.net.restart`): the connections to it are made again.
    fn on_restart(&self, st: &mut FleState, s: Sid) {
        crate::coverage::fire(rules::NET_RESTART);
        let n = self.n();
        st.servers[s.ix()] = Node {
            up: true,
            fle: FleServer::fresh(),
        };
        // The connections are made again; every peer sends what is queued or, if nothing is, its
        // last message (QuorumCnxManager.SendWorker).
        for row in st.chans[..n].iter_mut() {
            let c = &mut row[s.ix()];
            c.pending = guard(rules::RESTART_RESEND, c.last.is_some());
        }
        let send = self
            .fle
            .start_election(&mut st.servers[s.ix()].fle, s, self.history(s));
        self.send(st, s, send);
    }
}

impl Model for FleModel {
    type State = FleState;
    type Action = Action;

    fn init_states(&self) -> Vec<FleState> {
        let mut st = FleState {
            servers: CopyVec::new(),
            chans: [[Chan::default(); MAX_SERVERS]; MAX_SERVERS],
            crashes: 0,
            ghost: Ghost::default(),
        };
        for _ in 0..self.n() {
            st.servers.push(Node {
                up: true,
                fle: FleServer::fresh(),
            });
        }
        // Every server has just started `lookForLeader` and sent its first notifications.
        for s in self.sids() {
            let send = self
                .fle
                .start_election(&mut st.servers[s.ix()].fle, s, self.history(s));
            self.send(&mut st, s, send);
        }
        let before = st.clone();
        self.finish(&before, &mut st);
        vec![st]
    }

    fn actions(&self, st: &FleState, actions: &mut Vec<Action>) {
        let cfg = &self.config;
        for server in self.sids() {
            let node = st.node(server);
            if !node.up {
                actions.push(Action::Restart { server });
                continue;
            }
            match node.fle.state {
                ZkState::Looking => {
                    // The poll times out: in the finalize wait it decides (`fle.decide.finalize`),
                    // otherwise it re-sends (`fle.notification.timeout`).
                    let waiting = node.fle.finalizing;
                    if guard(rules::FINALIZE_IN_WAIT, waiting) {
                        actions.push(Action::Finalize { server });
                    }
                    if guard(rules::TIMEOUT_NOT_WAITING, !waiting) {
                        actions.push(Action::NotificationTimeout { server });
                    }
                }
                _ => {
                    if node.fle.logicalclock.0 < cfg.max_round
                        && guard(rules::GIVE_UP_STUCK, self.zab_stuck(st, server))
                    {
                        actions.push(Action::ZabTimeout { server });
                    }
                }
            }
            if st.crashes < cfg.crashes {
                actions.push(Action::Crash { server });
            }
        }
        for src in self.sids() {
            for dst in self.sids() {
                let c = st.chan(src, dst);
                if let Some(msg) = c.in_flight() {
                    if st.node(dst).up {
                        actions.push(Action::Deliver { src, dst, msg });
                    }
                    if cfg.lossy {
                        actions.push(Action::Drop { src, dst, msg });
                    }
                }
            }
        }
        if cfg.network == NetworkKind::UnorderedDup {
            for a in self.sids() {
                for b in self.sids().filter(|&b| b > a) {
                    if st.node(a).up && st.node(b).up {
                        actions.push(Action::Reconnect { a, b });
                    }
                }
            }
        }
    }

    fn next_state(&self, last: &FleState, action: Action) -> Option<FleState> {
        let mut st = last.clone();
        let cfg = &self.config;
        let up = |s: Sid| s.ix() < self.n() && last.node(s).up;
        match action {
            Action::Deliver { src, dst, msg } => {
                if !up(dst) || last.chan(src, dst).in_flight() != Some(msg) {
                    return None;
                }
                st.chans[src.ix()][dst.ix()].pending = false;
                // A delivery that changes nothing is skipped: the message may as well stay in
                // flight, where it can still be delivered when it matters (a newer message
                // replaces it anyway). This includes what the finalize wait drops: keeping it is
                // the larger behaviour.
                if !self.deliver(&mut st, src, dst, msg) && cfg.reductions {
                    return None;
                }
            }
            Action::Drop { src, dst, msg } => {
                if !cfg.lossy || last.chan(src, dst).in_flight() != Some(msg) {
                    return None;
                }
                // Losing a message whose delivery would change nothing is not observable.
                // (With the reductions off: any message in flight.)
                if cfg.reductions && (!up(dst) || !self.would_matter(last, src, dst, msg)) {
                    return None;
                }
                st.chans[src.ix()][dst.ix()].pending = false;
            }
            Action::Reconnect { a, b } => {
                if cfg.network != NetworkKind::UnorderedDup || !up(a) || !up(b) || a == b {
                    return None;
                }
                let mut matters = false;
                crate::coverage::fire(rules::NET_RECONNECT);
                for (src, dst) in [(a, b), (b, a)] {
                    let c = *last.chan(src, dst);
                    let resend = c.last.is_some() && !c.pending;
                    if let (Some(msg), true) = (c.last, guard(rules::RECONNECT_RESEND, resend)) {
                        // (With the reductions off, any re-send is a step.)
                        matters |= !cfg.reductions || self.would_matter(last, src, dst, msg);
                        st.chans[src.ix()][dst.ix()].pending = true;
                    }
                }
                if !matters {
                    return None;
                }
            }
            Action::Finalize { server } => {
                let waiting = last.node(server).fle.finalizing;
                if !up(server)
                    || last.node(server).fle.state != ZkState::Looking
                    || !unrecorded(rules::FINALIZE_IN_WAIT, waiting)
                {
                    return None;
                }
                let d = self.fle.finalize(&mut st.servers[server.ix()].fle, server);
                self.record_decision(&mut st, server, d);
            }
            Action::NotificationTimeout { server } => {
                let node = last.node(server);
                if !up(server)
                    || node.fle.state != ZkState::Looking
                    || !unrecorded(rules::TIMEOUT_NOT_WAITING, !node.fle.finalizing)
                {
                    return None;
                }
                // Sent again only where it would make a difference now; the timeout can fire
                // again later, when it would elsewhere. (With the reductions off: to every peer
                // that is up and does not have it in flight already.)
                let send = self.fle.notification_timeout(&node.fle);
                let mut sent = false;
                for dst in send.to.iter() {
                    if up(dst)
                        && last.chan(server, dst).in_flight() != Some(send.msg)
                        && (!cfg.reductions || self.would_matter(last, server, dst, send.msg))
                    {
                        st.chans[server.ix()][dst.ix()] = Chan {
                            last: Some(send.msg),
                            pending: true,
                        };
                        sent = true;
                    }
                }
                if !sent {
                    return None;
                }
            }
            Action::ZabTimeout { server } => {
                let node = last.node(server);
                if !up(server)
                    || !node.fle.state.decided()
                    || node.fle.logicalclock.0 >= cfg.max_round
                    || !unrecorded(rules::GIVE_UP_STUCK, self.zab_stuck(last, server))
                {
                    return None;
                }
                // Rule `fle.zab.give-up`: back to LOOKING, in the next round.
                crate::coverage::fire(rules::ZAB_GIVE_UP);
                let send = self.fle.start_election(
                    &mut st.servers[server.ix()].fle,
                    server,
                    self.history(server),
                );
                self.send(&mut st, server, send);
            }
            Action::Crash { server } => {
                if !up(server) || last.crashes >= cfg.crashes {
                    return None;
                }
                self.on_crash(&mut st, server);
            }
            Action::Restart { server } => {
                if server.ix() >= self.n() || last.node(server).up {
                    return None;
                }
                self.on_restart(&mut st, server);
            }
        }
        self.finish(last, &mut st);
        Some(st)
    }

    /// The Explorer draws the sequence diagram of the path the user is on.
    fn as_svg(&self, path: stateright::Path<Self::State, Self::Action>) -> Option<String> {
        crate::diagram::explorer_svg(self, path)
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all(&self.config)
    }
}
