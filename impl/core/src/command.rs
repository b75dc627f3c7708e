//! The protocol-generic vocabulary between a core and the runtime that executes it.
//!
//! ```text
//!  Transport ---- Message ----> +--------+ ---- Send -------------> Transport
//!  Timers ------- Timer ------> |        | ---- SetTimer/Cancel --> Timers
//!  Client ------- Request ----> |  core  | ---- Accepted/Rejected-> Client
//!  Storage ------ Persisted --> |        | ---- Persist ----------> Storage (fsync)
//!  State machine  Compact ---> |        | ---- Apply/RestoreState -> state machine
//!                               +--------+
//! ```
//!
//! Snapshots (`docs/protocols/raft.md` § Snapshots and log compaction): the core never sees
//! inside the state machine. The runtime hands it a serialized state with `Event::Compact`
//! (the state after the last applied entry); the core keeps it to send to followers whose
//! entries are gone, and asks for it to be made durable (`LogWrite::Snapshot`) before the log
//! prefix is dropped (`LogWrite::Compact`), in that order among the durable writes. A snapshot received
//! from a leader comes back out as `Command::RestoreState`.
//!
//! A core is deterministic: the same events in the same order yield the same commands.
//! Ordering rules live in the data: a core withholds a `Send` that depends on durable state
//! until the `Persisted` event for the `Persist` it depends on arrives, so a runtime may
//! execute `Send`s at once and `Persist`s in the background, in order.
//!
//! **Durable writes are ordered, and a crash keeps a prefix.** A `Persist` is a list of
//! [`DurableWrite`]s. Concatenate the lists of every `Persist` in issue order: that one sequence
//! is what the runtime makes durable, write by write, and a crash at any instant leaves exactly a
//! prefix of it on disk (each write whole or absent). A runtime may group several `Persist`s
//! into one fsync, but never reorders writes across, or within, them. So a core expresses "B is
//! never durable without A" by emitting A before B, whether they are of one kind or not:
//! ZooKeeper's ZK-4643 is a follower that wrote `currentEpoch` (its hard state) before the
//! NEWLEADER transactions (its log), and crashed between them.

use crate::types::{Entry, LogBase, LogIndex, PersistId, RequestId, ServerId, Snapshot, Term};
use serde::{Deserialize, Serialize};

/// The timers a core asks for. The durations of Raft's two are the runtime's business (it owns
/// the RNG, and draws election timeouts from it); a protocol whose timeouts are part of its
/// configuration (FLE's doubling notification timeout, ZAB's tick) names its own timers
/// `Protocol(n)` and arms them with [`Command::SetTimerFor`], giving the duration itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// Fires when no leader was heard from for a randomized election timeout.
    Election,
    /// Fires periodically on a leader to send heartbeats.
    Heartbeat,
    /// A timer the core numbers and times itself (armed with [`Command::SetTimerFor`]).
    Protocol(u8),
}

/// One write of a `Persist`: what a crash keeps whole or not at all (see the module doc: a
/// crash keeps a prefix of the sequence of every `Persist`'s writes, in issue order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DurableWrite<H> {
    /// Replace the hard state (what the core keeps besides the log: Raft's term and vote) with
    /// this one, atomically: after a crash the old one or this one is on disk, never a mix.
    HardState(H),
    /// Change the log.
    Log(LogWrite),
}

/// One change to the durable log, in the order it must be applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogWrite {
    /// Delete the entry at `from` and everything after it.
    Truncate {
        /// First index deleted.
        from: LogIndex,
    },
    /// Write `entry` at `index` (always the index just past the current end).
    Append {
        /// Where the entry goes.
        index: LogIndex,
        /// The entry.
        entry: Entry,
    },
    /// Make `snapshot` durable, replacing the previous one. Entries it covers stay in the log
    /// until a `Compact` drops them (always later in the same or a later `Persist`).
    Snapshot(Snapshot),
    /// Drop every entry at or below `base.index`: the log now starts after `base` (the index
    /// and term of its last dropped entry). Entries after it are kept. A durable snapshot
    /// covers `base.index` (an earlier `Snapshot` write) before this is issued.
    Compact {
        /// What the log starts after.
        base: LogBase,
    },
}

/// An input to a core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<M> {
    /// A message arrived from `from`.
    Message {
        /// Sender (carried by the transport's envelope, not by the message).
        from: ServerId,
        /// The message.
        msg: M,
    },
    /// A timer the core set has fired.
    Timer(Timer),
    /// A client proposes a command.
    ClientRequest {
        /// The runtime's name for this request.
        request: RequestId,
        /// Opaque command bytes.
        data: Vec<u8>,
    },
    /// Client proposals queued together (a runtime drains what waits, up to a bound): handled
    /// as that many `ClientRequest`s in order, except that a leader appends them all before it
    /// replicates, so they travel in one `AppendEntries` per follower and one `Persist`.
    ClientBatch {
        /// The requests, in arrival order.
        requests: Vec<(RequestId, Vec<u8>)>,
    },
    /// Linearizable reads that arrived together: each is answered `ReadReady` (serve it from the
    /// state machine once it has applied that index) or `ClientRejected`. They share one
    /// confirmation (Raft: raft.read.*).
    Read {
        /// The reads, in arrival order.
        requests: Vec<RequestId>,
    },
    /// The `Persist` command `id`, and every one before it, is durable (fsynced).
    Persisted {
        /// The newest persisted id.
        id: PersistId,
    },
    /// The connection `peer` opened to this server closed: its process may be gone (a kill -9
    /// closes its sockets at once). A hint, never a fact: a core may only act on it in ways it
    /// could also have acted on a timer.
    PeerLost {
        /// Whose connection closed.
        peer: ServerId,
    },
    /// The state machine after applying every entry up to `index` (the core's last `Apply`,
    /// or the last `RestoreState`) serializes to `state`: take it as the snapshot and drop the
    /// log up to `index`, keeping the last `keep` entries so that a follower briefly behind
    /// still gets `AppendEntries` (raft.snapshot.take). The one entry point of compaction: a
    /// runtime sends it at its threshold, a harness whenever its model compacts (`keep = 0`).
    Compact {
        /// The applied index the state is at.
        index: LogIndex,
        /// The serialized state machine (opaque to the core).
        state: Vec<u8>,
        /// Entries at or below `index` to keep in the log.
        keep: u64,
    },
    /// As `Compact`, for a snapshot the runtime has already made durable itself (beside the
    /// log, outside the ordered persists, so that a large state holds back no log write): the
    /// core records it and drops the log prefix, without writing the snapshot again. Ignored
    /// if a snapshot at or past its index is already held (one installed from the leader
    /// overtook it).
    SnapshotDurable {
        /// The snapshot: the state machine at `last_index`, whose entry has `last_term`.
        snapshot: Snapshot,
        /// Entries at or below its index to keep in the log.
        keep: u64,
    },
}

/// An output of a core, executed by the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<M, H> {
    /// Send `msg` to `to`. Delivery is best effort; the protocol tolerates loss.
    Send {
        /// Destination.
        to: ServerId,
        /// The message.
        msg: M,
    },
    /// Make `writes` durable in list order, after every write of the `Persist`s issued before
    /// (fsync), then feed back `Event::Persisted { id }`. A crash leaves a prefix of the
    /// concatenated writes of all `Persist`s (module doc); `Persisted { id }` means this list
    /// and every earlier one are wholly durable.
    Persist {
        /// Acknowledged by `Event::Persisted`.
        id: PersistId,
        /// The writes, in the order they must become durable (never empty).
        writes: Vec<DurableWrite<H>>,
    },
    /// (Re)arm `timer`; a timer that is already armed restarts. The runtime chooses the duration.
    SetTimer(Timer),
    /// (Re)arm `timer` to fire after `after_ms` milliseconds, a duration the core chose; a timer
    /// that is already armed restarts.
    SetTimerFor {
        /// The timer.
        timer: Timer,
        /// Its length.
        after_ms: u64,
    },
    /// Disarm `timer` if it is armed.
    CancelTimer(Timer),
    /// The entry at `index` is committed: apply it to the state machine. Indices are applied
    /// in order, each once per process lifetime (a restarted node re-applies from 1).
    Apply {
        /// Index of the committed entry.
        index: LogIndex,
        /// The entry.
        entry: Entry,
    },
    /// Replace the state machine with `snapshot.data`, the state after applying every entry
    /// up to `snapshot.last_index` (raft.snapshot.install: received from a leader). The next
    /// `Apply` is `snapshot.last_index + 1`; results of the skipped indices are never produced.
    RestoreState {
        /// The snapshot received.
        snapshot: Snapshot,
    },
    /// The leader appended the client's command at `index` in `term`. The client's answer is
    /// the state machine's result when `index` is applied, provided the entry applied there
    /// still has `term` (otherwise a later leader replaced it and the request failed).
    ClientAccepted {
        /// The request.
        request: RequestId,
        /// Where it was appended.
        index: LogIndex,
        /// The leader's term when it appended.
        term: Term,
    },
    /// The read `request` may be served from the state machine once it has applied `index`
    /// (or any later index): its state then holds every write acknowledged before the read
    /// arrived.
    ReadReady {
        /// The read.
        request: RequestId,
        /// The read index.
        index: LogIndex,
    },
    /// This server is not the leader; `leader` is who it believes leads, if anyone.
    ClientRejected {
        /// The request.
        request: RequestId,
        /// The leader this server last heard from in its current term.
        leader: Option<ServerId>,
    },
}

/// What a runtime may read about a core for logs, status and client redirects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreStatus {
    /// `"follower"`, `"candidate"` or `"leader"` (or the protocol's own names).
    pub role: &'static str,
    /// Current term (or epoch).
    pub term: Term,
    /// The leader this server believes in, itself included.
    pub leader: Option<ServerId>,
    /// Highest committed index known.
    pub commit: LogIndex,
    /// Index of the log's last entry (or of the snapshot, when the log is empty after it).
    pub last_index: LogIndex,
    /// The protocol's own name for the last logged entry where it has one (ZAB: its zxid).
    pub last_zxid: Option<u64>,
}

/// A sans-IO protocol core, as the runtime sees it: Raft's, and ZAB's (FLE then ZAB).
pub trait Core {
    /// Peer-to-peer messages (`Debug` for the runtime's event trace).
    type Message: std::fmt::Debug;
    /// What must be persisted atomically besides the log (Raft: term and vote).
    type HardState: std::fmt::Debug;
    /// Arms the initial timers after construction or restart.
    fn start(&mut self);
    /// Handles one event, queuing commands.
    fn handle(&mut self, event: Event<Self::Message>);
    /// Takes the queued commands, oldest first.
    fn take_commands(&mut self) -> Vec<Command<Self::Message, Self::HardState>>;
    /// A snapshot for status reporting.
    fn status(&self) -> CoreStatus;
}
