//! ZAB's nouns as the implementation holds them (`docs/protocols/zab.md` § Contract): zxids and
//! their halves, transactions, the durable state a server starts from, and the core's inputs,
//! outputs and ordered durable writes.

use super::wire::ZabMessage;
use crate::fle::{Epoch, Zxid};
use crate::types::{PersistId, RequestId, ServerId};

/// The largest epoch the core accepts or proposes. A zxid is `epoch << 32 | counter` carried as
/// a Java `long`; an epoch of 2^31 or more would make every zxid of its epoch negative, so the
/// epoch half stops at `i32::MAX` and an epoch past it is refused, never wrapped
/// (`zab.impl.epoch-overflow`).
pub const MAX_EPOCH: u64 = i32::MAX as u64;

/// The counter ZooKeeper refuses to give a proposal (`Leader.propose`: "zxid lower 32 bits have
/// rolled over, forcing re-election"): the leader gives up instead (`zab.impl.counter-overflow`).
pub const COUNTER_LIMIT: u64 = u32::MAX as u64;

/// The zxid `(epoch, counter)` (`ZxidUtils.makeZxid`). Both halves must be in range; the core
/// checks before it builds one.
pub fn make_zxid(epoch: Epoch, counter: u64) -> Zxid {
    assert!(
        epoch.0 <= MAX_EPOCH && counter <= COUNTER_LIMIT,
        "zxid halves in range"
    );
    Zxid((epoch.0 << 32) | counter)
}

/// The counter half of `z` (`ZxidUtils.getCounterFromZxid`).
pub fn counter_of(z: Zxid) -> u64 {
    z.0 & COUNTER_LIMIT
}

/// One logged transaction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Txn {
    /// Its zxid; zxids ascend along a log.
    pub zxid: Zxid,
    /// The opaque request bytes; the core never looks inside.
    pub data: Vec<u8>,
}

/// What survives a crash (`zab.recovery.crash`): the two epoch files and the transaction log.
/// The runtime restores it from disk and hands it to the core when ZAB starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// `acceptedEpoch` (the Zab paper's f.p).
    pub accepted_epoch: Epoch,
    /// `currentEpoch` (f.a): FLE's `peerEpoch`.
    pub current_epoch: Epoch,
    /// The log, zxids ascending.
    pub log: Vec<Txn>,
}

impl Durable {
    /// `getLastLoggedZxid()`: 0 for an empty log.
    pub fn last_zxid(&self) -> Zxid {
        self.log.last().map_or(Zxid(0), |t| t.zxid)
    }

    /// Checks `acceptedEpoch ≥ currentEpoch` (`QuorumPeer.loadDataBase`), that zxids ascend
    /// and that none has counter 0. A zxid of an epoch above currentEpoch is accepted: a crash
    /// between NEWLEADER's history and its currentEpoch leaves exactly that
    /// (`zab.newleader.persist-order`), as the model's crash between `persist_txns` and
    /// `persist_epoch` does; the history is the new leader's, and the server is not counted in
    /// that epoch until it has written currentEpoch.
    pub fn validate(&self) -> Result<(), ZabError> {
        let bad = |why: &'static str| Err(ZabError::Durable(why));
        if self.accepted_epoch < self.current_epoch {
            return bad("acceptedEpoch below currentEpoch");
        }
        if self.accepted_epoch.0 > MAX_EPOCH {
            return bad("acceptedEpoch above MAX_EPOCH");
        }
        if !self.log.windows(2).all(|w| w[0].zxid < w[1].zxid) {
            return bad("log zxids do not ascend");
        }
        if self.log.iter().any(|t| counter_of(t.zxid) == 0) {
            return bad("a logged zxid with counter 0");
        }
        Ok(())
    }

    /// Applies `w` as the runtime's disk does: the tests' and the simulation's storage.
    pub fn apply(&mut self, w: &ZabWrite) {
        match w {
            ZabWrite::AcceptedEpoch(e) => self.accepted_epoch = *e,
            ZabWrite::CurrentEpoch(e) => self.current_epoch = *e,
            ZabWrite::Truncate { after } => self.log.retain(|t| t.zxid <= *after),
            ZabWrite::Append(t) => {
                assert!(t.zxid > self.last_zxid(), "appended zxids ascend");
                self.log.push(t.clone());
            }
        }
    }
}

/// One durable write. A [`ZabOutput::Persist`] lists several, and the runtime executes them in
/// list order, each durable (fsynced) before the next starts: a crash leaves a prefix of the
/// list done (`zab.newleader.persist-order`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabWrite {
    /// Write the `acceptedEpoch` file.
    AcceptedEpoch(Epoch),
    /// Write the `currentEpoch` file.
    CurrentEpoch(Epoch),
    /// Remove every logged transaction above `after` (TRUNC).
    Truncate {
        /// The last zxid kept.
        after: Zxid,
    },
    /// Append a transaction to the log.
    Append(Txn),
}

/// A seeded implementation bug of the learner's NEWLEADER handling, for tests only: the
/// simulation must catch each (`zab.newleader.persist-order`).
#[cfg(any(test, feature = "impl-mutants"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZabMutant {
    /// ZK-4643: currentEpoch is written before the synchronized history.
    EpochBeforeHistory,
    /// ZK-3911/4646: NEWLEADER is ACKed before its writes are durable.
    AckBeforeDurable,
}

/// Static configuration. Durations are the runtime's to measure; the core only names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZabConfig {
    /// This server.
    pub id: ServerId,
    /// The voters, this server included; sorted, no duplicates (`QuorumMaj`).
    pub voters: Vec<ServerId>,
    /// Discovery plus synchronization must finish within this (`initLimit * tickTime`).
    pub sync_timeout_ms: u64,
    /// The leader's tick: a PING to every learner and a check that a quorum answered since the
    /// last tick (`tickTime / 2` in `Leader.lead`).
    pub tick_ms: u64,
    /// A follower gives up on a leader it has not heard from for this long
    /// (`syncLimit * tickTime`).
    pub leader_silence_ms: u64,
    /// Largest transaction accepted, from a client or on the wire.
    pub max_txn_bytes: usize,
    /// Most transactions a learner holds unlogged while synchronizing (`packetsNotLogged`) and
    /// most packets it holds unread while it persists NEWLEADER.
    pub max_pending: usize,
    /// A seeded bug (`impl-mutants` builds and tests only).
    #[cfg(any(test, feature = "impl-mutants"))]
    pub mutant: Option<ZabMutant>,
}

/// Default `sync_timeout_ms`: ZooKeeper's `initLimit=10 × tickTime=2000`.
pub const DEFAULT_SYNC_TIMEOUT_MS: u64 = 20_000;
/// Default `tick_ms`: half of ZooKeeper's default `tickTime`.
pub const DEFAULT_TICK_MS: u64 = 1_000;
/// Default `leader_silence_ms`: ZooKeeper's `syncLimit=5 × tickTime=2000`.
pub const DEFAULT_LEADER_SILENCE_MS: u64 = 10_000;
/// Default `max_txn_bytes`: ZooKeeper's `jute.maxbuffer` default (1 MiB less a margin).
pub const DEFAULT_MAX_TXN_BYTES: usize = 1 << 20;
/// Default `max_pending`: a synchronization that needs more transactions than this should be a
/// snapshot, which this core does not do (`zab.impl.no-snap`).
pub const DEFAULT_MAX_PENDING: usize = 100_000;

impl ZabConfig {
    /// `id` among `voters` (sorted and deduplicated here), with the default limits.
    pub fn new(id: ServerId, mut voters: Vec<ServerId>) -> Self {
        voters.sort();
        voters.dedup();
        ZabConfig {
            id,
            voters,
            sync_timeout_ms: DEFAULT_SYNC_TIMEOUT_MS,
            tick_ms: DEFAULT_TICK_MS,
            leader_silence_ms: DEFAULT_LEADER_SILENCE_MS,
            max_txn_bytes: DEFAULT_MAX_TXN_BYTES,
            max_pending: DEFAULT_MAX_PENDING,
            #[cfg(any(test, feature = "impl-mutants"))]
            mutant: None,
        }
    }

    /// Checks what the core relies on, naming the offending field.
    pub fn validate(&self) -> Result<(), ZabError> {
        let bad = |field: &'static str, why: &'static str| Err(ZabError::Config { field, why });
        if self.voters.is_empty() || !self.voters.windows(2).all(|w| w[0] < w[1]) {
            return bad("voters", "non-empty, sorted, no duplicates");
        }
        if !self.voters.contains(&self.id) {
            return bad("id", "must be one of the voters");
        }
        if self.sync_timeout_ms == 0 || self.tick_ms == 0 || self.leader_silence_ms == 0 {
            return bad("*_ms", "timeouts must be positive");
        }
        if self.max_txn_bytes > super::wire::MAX_TXN_BYTES {
            return bad("max_txn_bytes", "at most wire::MAX_TXN_BYTES");
        }
        if self.max_pending == 0 {
            return bad("max_pending", "must be positive");
        }
        Ok(())
    }

    /// Whether `n` voters are a majority.
    pub fn is_quorum(&self, n: usize) -> bool {
        2 * n > self.voters.len()
    }
}

/// The core's timers; each `SetTimer` replaces the pending one of the same kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZabTimer {
    /// Discovery and synchronization did not finish in time (`zab.recovery.shutdown`).
    Sync,
    /// The leader's tick: PING, and the quorum check.
    Tick,
    /// A follower heard nothing from its leader.
    LeaderSilence,
}

/// An input to the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabInput {
    /// A decoded message from `from` (the sender comes from the connection).
    Message {
        /// The sender.
        from: ServerId,
        /// The message.
        msg: ZabMessage,
    },
    /// The connection to `peer` broke (or `peer` disconnected us).
    Disconnected {
        /// The peer.
        peer: ServerId,
    },
    /// A `Persist` finished: this one and every earlier one are durable.
    Persisted {
        /// The persist acknowledged.
        id: PersistId,
    },
    /// A timer fired.
    Timer(ZabTimer),
    /// A linearizable read arrived: a serving leader answers [`ZabOutput::ReadConfirmed`] once
    /// a quorum (itself included) has answered a PING sent after this input, so it still led
    /// when the read arrived (`zab.impl.read-barrier`); any other server, or a leader that is not
    /// serving yet, answers [`ZabOutput::ReadRefused`]. A leader that gives up answers neither:
    /// its caller refuses what is pending.
    ReadBarrier {
        /// Chosen by the caller, echoed in the answer.
        id: u64,
    },
    /// A client request at this server; only a serving leader proposes it.
    Propose {
        /// Routes the answer back.
        request: RequestId,
        /// The transaction's bytes.
        data: Vec<u8>,
    },
}

/// Why a server goes back to LOOKING. The node turns [`ZabOutput::GiveUp`] into FLE's
/// `StartLooking` (`zab.election.fle.next-round`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GiveUpReason {
    /// Discovery or synchronization did not finish within `sync_timeout_ms`.
    SyncTimeout,
    /// A serving leader heard from less than a quorum in a tick.
    QuorumLost,
    /// A follower lost its leader: disconnected, or silent.
    LeaderLost,
    /// A LEADERINFO below acceptedEpoch (`zab.discovery.leaderinfo`), or an epoch past
    /// [`MAX_EPOCH`].
    EpochRefused(Epoch),
    /// The next proposal's counter would be [`COUNTER_LIMIT`].
    CounterOverflow,
    /// The leader broke the protocol (a COMMIT of the wrong zxid, a packet out of place);
    /// the text names what.
    Protocol(String),
}

/// Why a client request was not proposed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// This server is not a serving leader.
    NotServingLeader,
    /// Larger than `max_txn_bytes`.
    TooLarge(usize),
    /// The epoch's counter is spent (`zab.impl.counter-overflow`); the leader gives up.
    CounterOverflow,
}

/// An output of the core, to be executed in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabOutput {
    /// Send `msg` to `to`.
    Send {
        /// The recipient.
        to: ServerId,
        /// The message.
        msg: ZabMessage,
    },
    /// Close the connection to `peer` (a learner the leader will not take).
    Disconnect {
        /// The peer.
        peer: ServerId,
    },
    /// Execute `writes` in order, each durable before the next; answer with `Persisted{id}`.
    /// Persists are executed in the order they are emitted.
    Persist {
        /// Names this persist.
        id: PersistId,
        /// The writes, in order.
        writes: Vec<ZabWrite>,
    },
    /// Arm `timer` to fire after `after_ms`, replacing a pending one of the same kind.
    SetTimer {
        /// The timer.
        timer: ZabTimer,
        /// Its length.
        after_ms: u64,
    },
    /// Disarm `timer`.
    CancelTimer(ZabTimer),
    /// Apply a committed transaction to the state machine; delivered in zxid order, once.
    Deliver(Txn),
    /// A client request was proposed as `zxid` (its outcome is that zxid's `Deliver`).
    Accepted {
        /// The request.
        request: RequestId,
        /// Its zxid.
        zxid: Zxid,
    },
    /// A client request was not proposed.
    Rejected {
        /// The request.
        request: RequestId,
        /// Why.
        why: Rejection,
    },
    /// The [`ZabInput::ReadBarrier`] `id` is confirmed: reads that arrived before it may be
    /// answered from everything this leader logged when they arrived, once it is applied.
    ReadConfirmed {
        /// The barrier.
        id: u64,
    },
    /// The [`ZabInput::ReadBarrier`] `id` cannot be confirmed here: not a serving leader.
    ReadRefused {
        /// The barrier.
        id: u64,
    },
    /// The server has synchronized and serves in `epoch`: the node tells FLE
    /// (`zab.election.fle.update-vote`).
    Serving {
        /// The epoch.
        epoch: Epoch,
    },
    /// Back to LOOKING; the core takes no more input (`zab.recovery.shutdown`).
    GiveUp(GiveUpReason),
}

/// An input the caller should not have given; the core's state is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabError {
    /// A configuration field is unusable.
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        why: &'static str,
    },
    /// The durable state cannot be ZooKeeper's (`QuorumPeer.loadDataBase`'s checks).
    Durable(&'static str),
    /// A message from a server that is not a voter.
    UnknownPeer(ServerId),
    /// `Persisted` for a persist that is not outstanding.
    UnknownPersist(PersistId),
    /// The core gave up and takes no more input.
    Stopped,
}

impl std::fmt::Display for ZabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZabError::Config { field, why } => write!(f, "config {field}: {why}"),
            ZabError::Durable(why) => write!(f, "durable state: {why}"),
            ZabError::UnknownPeer(p) => write!(f, "message from {p}, not a voter"),
            ZabError::UnknownPersist(id) => write!(f, "persist {} is not outstanding", id.0),
            ZabError::Stopped => write!(f, "the core gave up"),
        }
    }
}

impl std::error::Error for ZabError {}
