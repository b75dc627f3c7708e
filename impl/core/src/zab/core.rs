//! `ZabCore`: one server's ZAB from the moment FLE decided until it gives the role up, rule by
//! rule as in `docs/protocols/zab.md`. The role's logic is in `follower.rs` and `leader.rs`; this
//! file holds what both share: the in-memory history, the outputs, and the ordered persists whose
//! acknowledgements release the sends that wait for durability.

use super::follower::Follower;
use super::leader::Leader;
use super::types::{
    Durable, GiveUpReason, Rejection, Txn, ZabConfig, ZabError, ZabInput, ZabOutput, ZabTimer,
    ZabWrite,
};
use super::wire::ZabMessage;
use crate::fle::{Epoch, Zxid};
use crate::types::{PersistId, ServerId};
use std::collections::VecDeque;

/// What FLE decided for this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZabRole {
    /// This server leads (`Leader.lead`).
    Leading,
    /// This server follows `leader` (`Follower.followLeader`).
    Following(ServerId),
}

/// What a persist's acknowledgement releases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Then {
    /// Follower: acceptedEpoch is durable; ACKEPOCH with this currentEpoch.
    AckEpoch(Epoch),
    /// Follower: the NEWLEADER history and currentEpoch are durable; ACK NEWLEADER.
    AckNewLeader,
    /// Follower: a PROPOSAL is logged; ACK it.
    AckProposal(Zxid),
    /// Leader: the new epoch is accepted; LEADERINFO may go out.
    EpochAccepted,
    /// Leader: currentEpoch is the new epoch; synchronize.
    EpochCurrent,
    /// Leader: its own proposal is logged, its own ACK.
    OwnLogged(Zxid),
    /// Nothing waits (a seeded bug ACKed already).
    #[cfg(any(test, feature = "impl-mutants"))]
    Nothing,
}

/// What both roles share.
#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) config: ZabConfig,
    /// acceptedEpoch as last written or requested.
    pub(super) accepted_epoch: Epoch,
    /// currentEpoch as last written or requested.
    pub(super) current_epoch: Epoch,
    /// The in-memory history: the log, plus a learner's transactions not yet requested to disk.
    pub(super) log: Vec<Txn>,
    /// The last zxid handed to the state machine.
    pub(super) delivered: Zxid,
    out: Vec<ZabOutput>,
    next_persist: u64,
    persists: VecDeque<(PersistId, Then)>,
    stopped: bool,
}

impl Ctx {
    pub(super) fn me(&self) -> ServerId {
        self.config.id
    }

    pub(super) fn last_zxid(&self) -> Zxid {
        self.log.last().map_or(Zxid(0), |t| t.zxid)
    }

    pub(super) fn send(&mut self, to: ServerId, msg: ZabMessage) {
        assert_ne!(to, self.config.id, "no message to itself");
        self.out.push(ZabOutput::Send { to, msg });
    }

    pub(super) fn push(&mut self, o: ZabOutput) {
        self.out.push(o);
    }

    pub(super) fn set_timer(&mut self, timer: ZabTimer) {
        let after_ms = match timer {
            ZabTimer::Sync => self.config.sync_timeout_ms,
            ZabTimer::Tick => self.config.tick_ms,
            ZabTimer::LeaderSilence => self.config.leader_silence_ms,
        };
        self.out.push(ZabOutput::SetTimer { timer, after_ms });
    }

    /// Asks for `writes`, in order, and remembers what their durability releases.
    pub(super) fn persist(&mut self, writes: Vec<ZabWrite>, then: Then) {
        assert!(!writes.is_empty(), "a persist writes something");
        self.next_persist += 1;
        let id = PersistId(self.next_persist);
        self.persists.push_back((id, then));
        self.out.push(ZabOutput::Persist { id, writes });
    }

    /// Back to LOOKING (`zab.recovery.shutdown`): the core takes no more input.
    pub(super) fn give_up(&mut self, why: GiveUpReason) {
        if !self.stopped {
            self.stopped = true;
            self.out.push(ZabOutput::GiveUp(why));
        }
    }

    pub(super) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Delivers, in zxid order, every transaction of the history up to `upto` not yet delivered.
    pub(super) fn deliver_upto(&mut self, upto: Zxid) {
        let from = self.log.partition_point(|t| t.zxid <= self.delivered);
        let to = self.log.partition_point(|t| t.zxid <= upto);
        for t in &self.log[from..to.max(from)] {
            self.delivered = t.zxid;
            self.out.push(ZabOutput::Deliver(t.clone()));
        }
    }
}

#[derive(Debug)]
enum Role {
    Leader(Leader),
    Follower(Follower),
}

/// One server's ZAB, entered when FLE decided.
///
/// Drive it with [`ZabCore::handle`] and execute [`ZabCore::take_outputs`] in order. The runtime
/// executes `Persist`s in the order they are emitted, each write durable before the next, and
/// answers with `Persisted`; after [`ZabOutput::GiveUp`] it still finishes the persists emitted
/// (`zab.recovery.shutdown`: the SyncThread flushes its queue) before FLE reads the history.
#[derive(Debug)]
pub struct ZabCore {
    cx: Ctx,
    role: Role,
}

impl ZabCore {
    /// Starts `role` from the durable state; `delivered` is the last zxid the state machine has
    /// already applied (0 after a crash, when it is rebuilt by delivery). A crash keeps only
    /// [`Durable`] (`zab.recovery.crash`); a restarted server runs FLE and then starts here
    /// from what its disk holds (`zab.recovery.restart`).
    pub fn start(
        config: ZabConfig,
        durable: Durable,
        role: ZabRole,
        delivered: Zxid,
    ) -> Result<Self, ZabError> {
        config.validate()?;
        durable.validate()?;
        if delivered > durable.last_zxid() {
            return Err(ZabError::Durable("delivered above the last logged zxid"));
        }
        let mut cx = Ctx {
            config,
            accepted_epoch: durable.accepted_epoch,
            current_epoch: durable.current_epoch,
            log: durable.log,
            delivered,
            out: Vec::new(),
            next_persist: 0,
            persists: VecDeque::new(),
            stopped: false,
        };
        let role = match role {
            ZabRole::Leading => Role::Leader(Leader::start(&mut cx)),
            ZabRole::Following(leader) => {
                if leader == cx.me() || !cx.config.voters.contains(&leader) {
                    return Err(ZabError::Config {
                        field: "leader",
                        why: "another voter",
                    });
                }
                Role::Follower(Follower::start(&mut cx, leader))
            }
        };
        Ok(ZabCore { cx, role })
    }

    /// Handles one input. An error leaves the core as it was.
    pub fn handle(&mut self, input: ZabInput) -> Result<(), ZabError> {
        if self.cx.stopped {
            return Err(ZabError::Stopped);
        }
        match input {
            ZabInput::Message { from, msg } => {
                if from == self.cx.me() || !self.cx.config.voters.contains(&from) {
                    return Err(ZabError::UnknownPeer(from));
                }
                match &mut self.role {
                    Role::Leader(l) => l.on_message(&mut self.cx, from, msg),
                    Role::Follower(f) => f.on_message(&mut self.cx, from, msg),
                }
            }
            ZabInput::Persisted { id } => {
                let Some(n) = self.cx.persists.iter().position(|(p, _)| *p == id) else {
                    return Err(ZabError::UnknownPersist(id));
                };
                for (_, then) in self.cx.persists.drain(..=n).collect::<Vec<_>>() {
                    if self.cx.stopped {
                        break;
                    }
                    match &mut self.role {
                        Role::Leader(l) => l.on_durable(&mut self.cx, then),
                        Role::Follower(f) => f.on_durable(&mut self.cx, then),
                    }
                }
            }
            ZabInput::Timer(t) => match &mut self.role {
                Role::Leader(l) => l.on_timer(&mut self.cx, t),
                Role::Follower(f) => f.on_timer(&mut self.cx, t),
            },
            ZabInput::Disconnected { peer } => match &mut self.role {
                Role::Leader(l) => l.on_disconnected(&mut self.cx, peer),
                Role::Follower(f) => f.on_disconnected(&mut self.cx, peer),
            },
            ZabInput::ReadBarrier { id } => match &mut self.role {
                Role::Leader(l) => l.read_barrier(&mut self.cx, id),
                Role::Follower(_) => self.cx.push(ZabOutput::ReadRefused { id }),
            },
            ZabInput::Propose { request, data } => match &mut self.role {
                Role::Leader(l) => l.propose(&mut self.cx, request, data),
                Role::Follower(_) => self.cx.push(ZabOutput::Rejected {
                    request,
                    why: Rejection::NotServingLeader,
                }),
            },
        }
        Ok(())
    }

    /// The outputs since the last call, in the order they must be executed.
    pub fn take_outputs(&mut self) -> Vec<ZabOutput> {
        std::mem::take(&mut self.cx.out)
    }

    /// Whether the core gave up.
    pub fn stopped(&self) -> bool {
        self.cx.stopped()
    }

    /// The in-memory history (the log as requested, plus a learner's unlogged transactions).
    pub fn history(&self) -> &[Txn] {
        &self.cx.log
    }

    /// The last zxid delivered.
    pub fn delivered(&self) -> Zxid {
        self.cx.delivered
    }

    /// Moves a leader's next proposal counter to `counter`, as if that many had been proposed.
    #[cfg(test)]
    pub(super) fn skip_counter_to(&mut self, counter: u64) {
        let Role::Leader(l) = &mut self.role else {
            panic!("not a leader")
        };
        l.next_counter = counter;
    }

    /// Whether the server serves (a leader past its NEWLEADER quorum, a learner past UPTODATE).
    pub fn serving(&self) -> bool {
        match &self.role {
            Role::Leader(l) => l.serving(),
            Role::Follower(f) => f.serving(),
        }
    }
}
