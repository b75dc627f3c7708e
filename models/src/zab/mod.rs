//! The ZAB model: ZooKeeper Atomic Broadcast as ZooKeeper 3.9.3 implements it — discovery
//! (FOLLOWERINFO → LEADERINFO → ACKEPOCH), synchronization (DIFF/TRUNC and NEWLEADER → ACK →
//! UPTODATE), broadcast (PROPOSAL → ACK → COMMIT) — with crashes and restarts, connections that
//! break, an adversarial leader oracle, and eight seeded historic bugs.
//!
//! Semantics, and where they differ from ZooKeeper 3.8 and from the Zab paper, are in
//! docs/protocols/zab.md. Every action is one input of a real server (`Action`), and a follower's
//! NEWLEADER handling is split into its persisting steps (log the transactions, write
//! currentEpoch, send the ACK), so that the orderings behind ZK-4643/4646 are reachable.

mod config;
mod election;
mod mutants;
pub mod properties;
pub mod rules;
mod spec;
mod state;
mod step;
mod types;

pub use config::{
    Election, InitServer, ZabConfig, MAX_CRASHES, MAX_ELECTIONS, MAX_EPOCH, MAX_TXNS,
};
pub use election::ElectionState;
pub use mutants::ZabMutant;
pub use state::{Ghost, Server, ZabState};
pub use types::{
    Epoch, FollowerStage, LeaderStage, Msg, Phase, ServerId, Txn, Txns, Zxid, MAX_LOG, MAX_SERVERS,
};

use serde::{Deserialize, Serialize};
use stateright::{Model, Property};
use std::fmt;

use crate::config::ConfigError;
use crate::network::NetworkKind;
use mutants::NlStep;

/// One step of the system: one input to one server, or one fault.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Oracle election: a LOOKING server starts leading.
    Lead {
        server: ServerId,
    },
    /// Oracle election: a LOOKING server follows a leader (connects, sends FOLLOWERINFO).
    Follow {
        server: ServerId,
        leader: ServerId,
    },
    /// A leader or follower gives up its role and goes back to LOOKING (a tick without a quorum,
    /// a read timeout), closing its connections.
    Timeout {
        server: ServerId,
    },
    /// A client submits a request to a serving leader.
    ClientRequest {
        server: ServerId,
    },
    /// NEWLEADER step: the follower logs the committed transactions it received.
    PersistTxns {
        server: ServerId,
    },
    /// NEWLEADER step: the follower writes the new currentEpoch.
    PersistEpoch {
        server: ServerId,
    },
    /// NEWLEADER step: the follower sends the ACK of NEWLEADER.
    AckNewleader {
        server: ServerId,
    },
    /// The follower's SyncThread writes the head of its queue and acknowledges it.
    LogTxn {
        server: ServerId,
    },
    Deliver {
        src: ServerId,
        dst: ServerId,
        msg: Msg,
    },
    /// A packet is lost, and with it the TCP connection (`--lossy`).
    Drop {
        src: ServerId,
        dst: ServerId,
        msg: Msg,
    },
    Crash {
        server: ServerId,
    },
    Restart {
        server: ServerId,
    },
    /// FastLeaderElection: a notification arrives (`src == dst`: loopback).
    DeliverVote {
        src: ServerId,
        dst: ServerId,
        msg: crate::fle::Notification,
    },
    /// FastLeaderElection: a notification is lost (`--lossy`).
    DropVote {
        src: ServerId,
        dst: ServerId,
        msg: crate::fle::Notification,
    },
    /// FastLeaderElection: the finalize wait elapses with no better vote; the server decides.
    Finalize {
        server: ServerId,
    },
    /// FastLeaderElection: a LOOKING server's poll times out; it sends its vote again.
    NotificationTimeout {
        server: ServerId,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Lead { server } => write!(f, "{server} starts leading"),
            Action::Follow { server, leader } => write!(f, "{server} follows {leader}"),
            Action::Timeout { server } => write!(f, "{server} times out (LOOKING)"),
            Action::ClientRequest { server } => write!(f, "client request at {server}"),
            Action::PersistTxns { server } => write!(f, "{server} logs the NEWLEADER txns"),
            Action::PersistEpoch { server } => write!(f, "{server} writes currentEpoch"),
            Action::AckNewleader { server } => write!(f, "{server} ACKs NEWLEADER"),
            Action::LogTxn { server } => write!(f, "{server} SyncThread logs a txn"),
            Action::Deliver { src, dst, msg } => write!(f, "deliver {src}→{dst} {msg}"),
            Action::Drop { src, dst, msg } => write!(f, "drop {src}→{dst} {msg} (connection lost)"),
            Action::Crash { server } => write!(f, "{server} crashes"),
            Action::Restart { server } => write!(f, "{server} restarts"),
            Action::DeliverVote { src, dst, msg } if src == dst => {
                write!(f, "{dst} loopback vote {msg}")
            }
            Action::DeliverVote { src, dst, msg } => write!(f, "deliver vote {src}→{dst} {msg}"),
            Action::DropVote { src, dst, msg } => write!(f, "drop vote {src}→{dst} {msg}"),
            Action::Finalize { server } => write!(f, "{server} finalize wait elapses"),
            Action::NotificationTimeout { server } => write!(f, "{server} notification timeout"),
        }
    }
}

/// The ZAB model for one configuration.
#[derive(Clone, Debug)]
pub struct ZabModel {
    pub config: ZabConfig,
    /// The election rules under `--election fle`.
    fle: crate::fle::Fle,
}

impl ZabModel {
    pub fn new(config: ZabConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let fle = crate::fle::Fle::new(config.servers);
        Ok(ZabModel { config, fle })
    }

    /// The symmetry-class representative of `st` (servers renamed into a canonical order). Under
    /// FastLeaderElection, which orders servers by id, every state is its own class.
    pub fn representative(&self, st: &ZabState) -> ZabState {
        if st.election.is_some() {
            return st.clone();
        }
        st.representative(NetworkKind::Ordered)
    }

    /// Updates the ghost history after a step: everything any server delivered joins the
    /// committed history, and a disagreement is remembered.
    fn record_history(&self, new: &mut ZabState) {
        let ghost = &mut new.ghost;
        for s in new.servers.iter().filter(|s| s.up) {
            for (k, t) in s.delivered().iter().enumerate() {
                match ghost.committed.get(k) {
                    Some(c) if c == t => {}
                    Some(_) => ghost.conflict = true,
                    None => {
                        if ghost.committed.len() < MAX_LOG {
                            ghost.committed.push(*t);
                        }
                    }
                }
            }
        }
    }

    fn enabled(&self, st: &ZabState, action: &Action) -> bool {
        let get = |s: ServerId| st.servers.get(s.ix());
        let up = |s: ServerId| get(s).is_some_and(|s| s.up);
        let cfg = &self.config;
        match *action {
            Action::Lead { server } => up(server) && self.may_lead(st.server(server)),
            Action::Follow { server, leader } => {
                up(server) && up(leader) && self.may_follow(st, server, leader)
            }
            Action::Timeout { server } => up(server) && self.may_time_out(st, server),
            Action::ClientRequest { server } => up(server) && self.may_propose(st, server),
            Action::PersistTxns { server } => {
                up(server) && self.nl_step_enabled(st.server(server), NlStep::LogTxns)
            }
            Action::PersistEpoch { server } => {
                up(server) && self.nl_step_enabled(st.server(server), NlStep::PersistEpoch)
            }
            Action::AckNewleader { server } => {
                up(server) && self.nl_step_enabled(st.server(server), NlStep::Ack)
            }
            Action::LogTxn { server } => up(server) && !st.server(server).queue.is_empty(),
            Action::Deliver { dst, .. } => up(dst) && !busy(st.server(dst)),
            Action::Drop { .. } => cfg.lossy,
            Action::Crash { server } => up(server) && st.crashes < cfg.crashes,
            Action::Restart { server } => get(server).is_some_and(|s| !s.up),
            Action::DeliverVote { src, dst, msg } | Action::DropVote { src, dst, msg } => {
                let in_flight = st.election.as_ref().is_some_and(|e| {
                    src.ix() < st.servers.len()
                        && dst.ix() < st.servers.len()
                        && e.chans[src.ix()][dst.ix()].in_flight() == Some(msg)
                });
                in_flight
                    && match action {
                        Action::DropVote { .. } => cfg.lossy,
                        _ => up(dst),
                    }
            }
            Action::Finalize { server } => {
                up(server) && st.election.is_some() && {
                    let f = self.fle_server(st, server);
                    f.state == crate::fle::ZkState::Looking && f.finalizing
                }
            }
            Action::NotificationTimeout { server } => {
                up(server) && st.election.is_some() && {
                    let f = self.fle_server(st, server);
                    f.state == crate::fle::ZkState::Looking && !f.finalizing
                }
            }
        }
    }

    /// A server gives up its role by itself (not while it handles NEWLEADER: that thread reads
    /// nothing, so no read times out); under FLE, also a server that decided to follow a leader
    /// that does not lead.
    fn may_time_out(&self, st: &ZabState, server: ServerId) -> bool {
        let s = st.server(server);
        (s.phase != Phase::Looking && !busy(s)) || self.fle_waiting(st, server)
    }

    /// A LOOKING server may start leading unless no epoch it could propose is within bounds.
    fn may_lead(&self, s: &Server) -> bool {
        self.config.election == Election::Oracle
            && s.phase == Phase::Looking
            && s.accepted_epoch.0 < self.config.max_epoch
    }

    /// A LOOKING server may follow a leader (`zab.election.oracle`). Oracle: any server that is
    /// leading, in any stage: the follower's own checks decide what comes of it (a LEADERINFO
    /// below its acceptedEpoch sends it back to LOOKING, `zab.discovery.leaderinfo`). FLE: the
    /// leader it decided for, once that one leads.
    fn may_follow(&self, st: &ZabState, me: ServerId, leader: ServerId) -> bool {
        let (s, l) = (st.server(me), st.server(leader));
        s.phase == Phase::Looking
            && me != leader
            && match self.config.election {
                Election::Oracle => l.is_leader(),
                Election::Fle => self.fle_may_follow(st, me, leader),
            }
    }

    fn may_propose(&self, st: &ZabState, server: ServerId) -> bool {
        let l = st.server(server);
        l.phase == Phase::Leading(LeaderStage::Broadcast)
            && st.proposals < self.config.max_txns
            && l.log.len() < MAX_LOG
    }
}

/// A follower handling NEWLEADER reads no packet (and sees no read timeout) until it is done.
pub(crate) fn busy(s: &Server) -> bool {
    s.phase == Phase::Following(FollowerStage::NewLeader)
}

impl Model for ZabModel {
    type State = ZabState;
    type Action = Action;

    fn init_states(&self) -> Vec<ZabState> {
        let mut st = ZabState::new(self.config.servers as usize);
        for (s, init) in st.servers.iter_mut().zip(&self.config.init) {
            s.accepted_epoch = init.accepted_epoch;
            s.current_epoch = init.current_epoch;
            s.log = init.txns().collect();
        }
        // The prefix a majority holds is as good as committed (see `Ghost::committed`).
        let majority = self.quorum();
        let longest = st.servers.iter().map(|s| s.log.len()).max().unwrap_or(0);
        for k in 0..longest {
            let mut counts: Vec<(Txn, usize)> = Vec::new();
            for s in st.servers.iter() {
                if let Some(t) = s.log.get(k) {
                    if s.log[..k] == st.ghost.committed[..] {
                        match counts.iter_mut().find(|(c, _)| c == t) {
                            Some((_, n)) => *n += 1,
                            None => counts.push((*t, 1)),
                        }
                    }
                }
            }
            match counts.into_iter().find(|&(_, n)| n >= majority) {
                Some((t, _)) => st.ghost.committed.push(t),
                None => break,
            }
        }
        self.init_election(&mut st);
        vec![st]
    }

    fn actions(&self, st: &ZabState, actions: &mut Vec<Action>) {
        let cfg = &self.config;
        for (i, s) in st.servers.iter().enumerate() {
            let server = ServerId(i as u8);
            if !s.up {
                actions.push(Action::Restart { server });
                continue;
            }
            match s.phase {
                Phase::Looking => {
                    if self.may_lead(s) {
                        actions.push(Action::Lead { server });
                    }
                    for j in 0..st.servers.len() {
                        let leader = ServerId(j as u8);
                        if j != i && st.servers[j].up && self.may_follow(st, server, leader) {
                            actions.push(Action::Follow { server, leader });
                        }
                    }
                }
                Phase::Leading(_) | Phase::Following(_) => {}
            }
            if self.may_time_out(st, server) {
                actions.push(Action::Timeout { server });
            }
            if self.may_propose(st, server) {
                actions.push(Action::ClientRequest { server });
            }
            if busy(s) {
                if self.nl_step_enabled(s, NlStep::LogTxns) {
                    actions.push(Action::PersistTxns { server });
                }
                if self.nl_step_enabled(s, NlStep::PersistEpoch) {
                    actions.push(Action::PersistEpoch { server });
                }
                if self.nl_step_enabled(s, NlStep::Ack) {
                    actions.push(Action::AckNewleader { server });
                }
            }
            if !s.queue.is_empty() {
                actions.push(Action::LogTxn { server });
            }
            if st.crashes < cfg.crashes {
                actions.push(Action::Crash { server });
            }
        }
        if st.election.is_some() {
            self.election_actions(st, actions);
        }
        for i in st.network.deliverable(NetworkKind::Ordered) {
            let f = &st.network.flights()[i];
            let (src, dst) = (ServerId(f.src), ServerId(f.dst));
            let d = &st.servers[dst.ix()];
            if d.up && !busy(d) {
                actions.push(Action::Deliver {
                    src,
                    dst,
                    msg: f.msg,
                });
            }
            if cfg.lossy {
                actions.push(Action::Drop {
                    src,
                    dst,
                    msg: f.msg,
                });
            }
        }
    }

    fn next_state(&self, last: &ZabState, action: Action) -> Option<ZabState> {
        if !self.enabled(last, &action) {
            return None;
        }
        let mut st = last.clone();
        let kind = NetworkKind::Ordered;
        let done = match action {
            Action::Lead { server } => self.on_lead(&mut st, server),
            Action::Follow { server, leader } => {
                self.on_follow(&mut st, server, leader);
                Ok(())
            }
            Action::Timeout { server } => self.shutdown(&mut st, server),
            Action::ClientRequest { server } => self.on_client_request(&mut st, server),
            Action::PersistTxns { server } => self.on_nl_step(&mut st, server, NlStep::LogTxns),
            Action::PersistEpoch { server } => {
                self.on_nl_step(&mut st, server, NlStep::PersistEpoch)
            }
            Action::AckNewleader { server } => self.on_nl_step(&mut st, server, NlStep::Ack),
            Action::LogTxn { server } => self.on_log_txn(&mut st, server),
            Action::Deliver { src, dst, msg } => {
                let i = st.network.find(kind, src.0, dst.0, &msg)?;
                let msg = st.network.take(i);
                self.on_message(&mut st, src, dst, msg)
            }
            Action::Drop { src, dst, msg } => {
                let i = st.network.find(kind, src.0, dst.0, &msg)?;
                st.network.take(i);
                self.on_drop(&mut st, src, dst)
            }
            Action::Crash { server } => self.on_crash(&mut st, server),
            Action::Restart { server } => {
                self.on_restart(&mut st, server);
                Ok(())
            }
            Action::DeliverVote { src, dst, msg } => {
                let e = st.election.as_deref_mut().expect("enabled");
                e.chans[src.ix()][dst.ix()].pending = false;
                // A delivery that changes nothing is skipped (the FLE model's rule): the message
                // may as well stay in flight, where it can still be delivered when it matters.
                match self.deliver_vote(&mut st, src, dst, msg) {
                    Ok(false) if self.config.reductions => return None,
                    done => done.map(|_| ()),
                }
            }
            Action::DropVote { src, dst, .. } => {
                let e = st.election.as_deref_mut().expect("enabled");
                e.chans[src.ix()][dst.ix()].pending = false;
                Ok(())
            }
            Action::Finalize { server } => self.on_finalize(&mut st, server),
            Action::NotificationTimeout { server } => {
                if !self.on_notification_timeout(&mut st, server) {
                    return None;
                }
                Ok(())
            }
        };
        done.ok()?;
        self.finish_election(&mut st);
        debug_assert!(
            self.election_consistent(&st),
            "{action:?} split ZAB from its election"
        );
        self.record_history(&mut st);
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
        properties::all()
    }
}
