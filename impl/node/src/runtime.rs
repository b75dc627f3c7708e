//! The node loop: feeds a core its events and executes its commands over the three traits
//! (`Transport`, `Storage`, `Timers`). It is protocol-generic: any [`Core`] whose log holds
//! [`Entry`]s runs here: Raft's, and ZAB's (`ballot_core::zab::ZabPeer`, FLE then ZAB).
//!
//! ```text
//!  transport.recv ─┐                       ┌─► transport.send          (Send)
//!  timers.fired ───┤                       ├─► storage worker ──────┐  (Persist, group commit)
//!  proposals ──────┼─► core.handle(event) ─┼─► timers.set/cancel    │  (SetTimer, CancelTimer)
//!  persisted ◄─────┘   core.take_commands  ├─► state machine + ApplyLog (Apply)
//!      ▲                                   └─► proposal replies    (ClientAccepted/Rejected)
//!      └──────────────────────────────────────────────────────────┘
//! ```
//!
//! Snapshots: at [`SnapshotPolicy`]'s threshold, with a storage that has a
//! [`crate::storage::SnapshotWriter`], the loop takes a cheap copy of the state machine, a blocking
//! task encodes and writes it beside the log, and the core then gets `Event::SnapshotDurable`
//! and persists only the compaction; otherwise (memory storage, or a harness asking through
//! [`LoopInputs::compact`]) it hands the serialized state to the core as `Event::Compact`, whose
//! `Persist` writes the snapshot and drops the log prefix, in order with every other persist. `Command::RestoreState` (a snapshot received from a leader,
//! or the one a node restarted from) replaces the state machine.
//!
//! Durations live here, not in the core: election timeouts are drawn from the runtime's seeded
//! RNG, so a run is reproducible from its seed.

use crate::apply_log::ApplyLog;
use crate::codec::NodeStatus;
use crate::mailbox::{mailbox, Receiver, Sender};
use crate::rng::SeededRng;
use crate::server::{Proposal, ProposalOp, ProposalReply, StatusCell};
use crate::storage::{Storage, StorageError};
use crate::sync::Arc;
use crate::timers::Timers;
use crate::transport::Transport;
use ballot_core::{
    Command, Core, DurableWrite, Entry, Event, LogIndex, PersistId, RequestId, ServerId, Snapshot,
    Term, Timer,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// Timing of a node. Defaults are tuned for loopback failover (see `docs/implementation.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Smallest election timeout.
    pub election_timeout_ms_min: u64,
    /// Election timeouts are uniform in `[min, max)`.
    pub election_timeout_ms_max: u64,
    /// Heartbeat period of a leader.
    pub heartbeat_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        // Elections are for leaders that stopped answering, not for slow ones. A killed leader
        // closes its connections, and its followers start a pre-vote at once
        // (raft.prevote.leader-lost), so failover does not wait for this timeout; it only
        // bounds how long a hung (paused, partitioned) leader keeps its followers. 12-24 ms
        // was measured to re-elect 100+ times in 12 s when three nodes and 32 clients saturate
        // both cores of this machine (docs/benchmarks.md); 100-200 ms rides out such stalls, and
        // a heartbeat every 20 ms keeps followers 5-10 heartbeats inside the shortest timeout.
        Timing {
            election_timeout_ms_min: 100,
            election_timeout_ms_max: 200,
            heartbeat_ms: 20,
        }
    }
}

/// Applies committed entries; the results go to waiting clients.
pub trait StateMachine: Send + 'static {
    /// The result clients get.
    type Result: Clone + Send + Sync + 'static;
    /// Applies the entry committed at `index`.
    fn apply(&mut self, index: LogIndex, entry: &Entry) -> Self::Result;
    /// The state after the last applied entry, serialized: a snapshot's data.
    fn snapshot(&self) -> Vec<u8>;
    /// The same data, produced later: what the loop calls on its own thread must be cheap (a
    /// copy of the state that shares its structure), and the encoding runs on a blocking thread
    /// while the loop goes on. By default, `snapshot` now.
    fn snapshot_later(&self) -> Box<dyn FnOnce() -> Vec<u8> + Send> {
        let data = self.snapshot();
        Box::new(move || data)
    }
    /// Replaces the state with `data`, a snapshot of the state after applying every entry up
    /// to `index`. An error names what is wrong with the data (it came from a peer or a file).
    fn restore(&mut self, index: LogIndex, data: &[u8]) -> Result<(), String>;
}

/// When the node loop compacts its log (`ballot node --snapshot-every N --snapshot-keep K`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Take a snapshot once this many entries were applied since the last one (0: never), and
    /// the log applied since then is at least as large as that snapshot (so the cost of writing
    /// snapshots stays within the cost of writing the log, however large the state grows); each
    /// node stretches both by a random factor in [1, 2) drawn after every snapshot, so that the
    /// servers do not all snapshot at the same index.
    pub every: u64,
    /// Entries at or below the snapshot's index kept in the log, so that a follower briefly
    /// behind still gets `AppendEntries` rather than the whole state.
    pub keep: u64,
}

impl SnapshotPolicy {
    /// No snapshots at the loop's own initiative (the conformance harness compacts on request).
    pub const NEVER: SnapshotPolicy = SnapshotPolicy { every: 0, keep: 0 };
}

impl Default for SnapshotPolicy {
    /// Every 10,000 applied entries, keeping 1,000 (`docs/protocols/raft.md` § Snapshots): with
    /// 100-byte commands the log stays under about 1.5 MB and a snapshot is written at most
    /// once per 10,000 writes.
    fn default() -> Self {
        SnapshotPolicy {
            every: 10_000,
            keep: 1_000,
        }
    }
}

/// Why a node stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Storage failed: the node cannot promise durability, so it stops.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The storage worker vanished.
    #[error("storage worker stopped")]
    StorageWorkerGone,
    /// The transport closed.
    #[error("transport closed")]
    TransportClosed,
    /// Binding or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A snapshot could not be restored into the state machine: the node cannot serve a state
    /// it does not have.
    #[error("restoring the snapshot at index {index}: {reason}")]
    Snapshot {
        /// The snapshot's last index.
        index: LogIndex,
        /// What the state machine found wrong.
        reason: String,
    },
}

/// Handles shared between the node loop and the rest of the process.
#[derive(Debug)]
pub struct Shared<R> {
    /// Applied results, for client sessions.
    pub applied: Arc<ApplyLog<R>>,
    /// Status, for status requests and `ballot cluster`.
    pub status: Arc<StatusCell>,
}

/// The node loop's inputs that are not the three traits.
#[derive(Debug)]
pub struct LoopInputs {
    /// Client proposals.
    pub proposals: Receiver<Proposal>,
    /// Peers whose inbound connection closed (`Event::PeerLost`).
    pub peer_lost: Receiver<ServerId>,
    /// Closing it (or sending) stops the loop.
    pub shutdown: Receiver<()>,
    /// Compaction on request: each value received compacts up to the applied index now,
    /// keeping that many entries (a harness's `compact`, with 0).
    pub compact: Receiver<u64>,
    /// Compaction at the loop's own initiative.
    pub snapshots: SnapshotPolicy,
}

/// What the loop knows of its state machine's position, from the commands it executed.
#[derive(Clone, Copy, Debug, Default)]
struct Position {
    /// Index of the last entry applied (or of the snapshot restored last).
    applied: LogIndex,
    /// Term of the entry at `applied`.
    applied_term: Term,
    /// Index of the last snapshot taken or restored.
    snapshot: LogIndex,
    /// Payload bytes applied since that snapshot.
    bytes_since_snapshot: u64,
    /// Size of the last snapshot written (0 before any).
    snapshot_bytes: u64,
}

/// Sees the core after every event, once that event's commands were executed: how a
/// conformance harness reads the implementation's state without a second copy of the loop.
/// Production nodes pass `()`, which does nothing.
pub trait Observer<C>: Send + 'static {
    /// Called with the core after each handled event (and once after `start`).
    fn observe(&mut self, core: &C);
}

impl<C> Observer<C> for () {
    fn observe(&mut self, _core: &C) {}
}

/// Capacity of the queues between the node loop and its storage worker. The loop issues at most
/// one `Persist` per handled event and the events it handles are themselves bounded by the
/// inbound, proposal and timer queues, so this is never reached in practice; a full queue stops
/// the node (it cannot promise durability) rather than growing without bound.
pub const PERSIST_QUEUE_CAPACITY: usize = 1 << 20;

/// A closed peer connection (`Event::PeerLost`) reaches the core after a delay drawn uniformly
/// from `[0, PEER_LOST_JITTER_MS)` ms. When a leader dies, every follower's connection from it
/// closes at the same instant; handed over at once, both followers of a 3-server cluster would
/// start pre-votes together, grant each other, stand together and split the vote, and the
/// cluster then waits a whole election timeout (6 of 20 failovers took 108-164 ms that way).
/// With the jitter they start apart: the first asks a follower still in lease, which ignores
/// it; the second, once its own hint arrives, asks the first, which has left its lease and
/// grants. One election, no split: a crash costs a few milliseconds more at the median and an
/// election timeout less at the tail.
pub const PEER_LOST_JITTER_MS: u64 = 10;

/// Completes at the earliest deadline in `lost` (which must not be empty).
async fn sleep_until_first(lost: &[(tokio::time::Instant, ServerId)]) {
    let first = lost.iter().map(|(at, _)| *at).min().expect("not empty");
    tokio::time::sleep_until(first).await;
}

/// Capacity of the proposal queue: a bound on client requests waiting for the node loop.
pub const PROPOSAL_QUEUE_CAPACITY: usize = 4096;

/// Most client proposals handed to the core as one `Event::ClientBatch`: what waits in the queue
/// when the loop comes round is appended, replicated and fsynced together. The bound keeps one
/// event's work (and the latency it adds to the timers and messages behind it) small.
pub const MAX_PROPOSAL_BATCH: usize = 256;

/// Runs `core` until shutdown or a fatal error. Storage runs on a worker task that batches
/// queued persists into one fsync (group commit) and acknowledges them in order. `observer`
/// sees the core after every event (`()` in production).
#[allow(clippy::too_many_arguments)]
pub async fn run<C, T, S, Tm, SM, O>(
    id: ServerId,
    mut core: C,
    mut transport: T,
    storage: S,
    mut timers: Tm,
    mut state_machine: SM,
    timing: Timing,
    seed: u64,
    shared: Shared<SM::Result>,
    mut inputs: LoopInputs,
    mut observer: O,
) -> Result<(), NodeError>
where
    C: Core + Send,
    C::Message: Send + 'static,
    C::HardState: Send + 'static,
    T: Transport<C::Message>,
    S: Storage<C::HardState>,
    Tm: Timers,
    SM: StateMachine,
    O: Observer<C>,
{
    let mut rng = SeededRng::new(seed);
    let (persist_tx, persist_rx) =
        mailbox::<(PersistId, Vec<DurableWrite<C::HardState>>)>(PERSIST_QUEUE_CAPACITY);
    let (done_tx, mut done_rx) = mailbox::<Result<PersistId, StorageError>>(PERSIST_QUEUE_CAPACITY);
    // A snapshot the loop takes itself is written beside the log by a blocking task, not in the
    // ordered persists, where a large state would hold back every log write behind it and the
    // acknowledgements waiting on them (measured: 30 MB states at 25,000 writes/s cost the
    // leader its quorum check, and an election, every few seconds).
    let snapshot_writer = storage.snapshot_writer();
    let (snapshot_done_tx, mut snapshot_done_rx) = mailbox::<Result<Snapshot, StorageError>>(1);
    let mut snapshot_in_flight = false;
    let worker = tokio::spawn(storage_worker(storage, persist_rx, done_tx));
    // Each proposal's reply, and for a read the log length when it reached the core: a read
    // is served at least there, so it sees every write handed over before it.
    let mut pending: BTreeMap<RequestId, (Sender<ProposalReply>, LogIndex)> = BTreeMap::new();
    let mut next_request = 0u64;
    // Closed peer connections waiting out their jitter before the core hears of them.
    let mut lost: Vec<(tokio::time::Instant, ServerId)> = Vec::new();
    let mut position = Position::default();
    // How far past the threshold this node's next snapshot waits, in thousandths of it: drawn
    // anew after each snapshot from the node's own seed, so the servers of a cluster, which
    // apply the same log, do not all snapshot (and compact) at the same index and stall their
    // acknowledgements together (ZooKeeper randomizes snapCount for the same reason).
    let mut spread = rng.range(0, 1000);
    let mut last_seen = ("", ballot_core::Term(0), None);
    core.start();
    let result = loop {
        let commands = core.take_commands();
        if !commands.is_empty() {
            tracing::trace!(node = %id, ?commands, "commands");
        }
        if let Err(e) = execute(
            commands,
            &mut transport,
            &persist_tx,
            &mut timers,
            &mut state_machine,
            &shared.applied,
            &mut pending,
            &mut rng,
            timing,
            &mut position,
        ) {
            break Err(e);
        }
        observer.observe(&core);
        let status = core.status();
        let seen = (status.role, status.term, status.leader);
        if seen != last_seen {
            // Rare (an election, a step-down), and what an operator reading the log after a
            // benchmark or an incident wants first: when the leadership moved, and to whom.
            tracing::info!(
                node = %id, role = status.role, term = status.term.0, leader = ?status.leader,
                "role or term changed"
            );
            last_seen = seen;
        }
        shared.status.set(NodeStatus {
            id,
            role: status.role.to_string(),
            term: status.term.0,
            leader: status.leader,
            commit: status.commit.0,
            last_index: status.last_index.0,
            last_zxid: status.last_zxid,
        });
        // Every `every` entries, and not before the log written since the last snapshot is as
        // large as that snapshot: writing snapshots then costs at most what writing the log
        // does, however large the state grows (a state that grows with every write, as in the
        // side-by-side benchmark's, would otherwise be encoded and written whole every
        // `every` writes).
        let stretch = |x: u64| x.saturating_add(x / 1000 * spread);
        let due = inputs.snapshots.every > 0
            && position.applied.0 >= position.snapshot.0 + stretch(inputs.snapshots.every)
            && position.bytes_since_snapshot >= stretch(position.snapshot_bytes);
        if due && !snapshot_in_flight {
            position.snapshot = position.applied;
            position.bytes_since_snapshot = 0;
            spread = rng.range(0, 1000);
            tracing::debug!(node = %id, index = %position.applied, "taking a snapshot");
            if let Some(writer) = &snapshot_writer {
                let encode = state_machine.snapshot_later();
                let (last_index, last_term) = (position.applied, position.applied_term);
                let (writer, done) = (writer.clone(), snapshot_done_tx.clone());
                snapshot_in_flight = true;
                tokio::task::spawn_blocking(move || {
                    let snapshot = Snapshot {
                        last_index,
                        last_term,
                        data: encode(),
                    };
                    let _ = done.send(writer.write(&snapshot).map(|_| snapshot));
                });
            } else {
                core.handle(Event::Compact {
                    index: position.applied,
                    state: state_machine.snapshot(),
                    keep: inputs.snapshots.keep,
                });
                continue;
            }
        }
        let event = tokio::select! {
            biased;
            _ = inputs.shutdown.recv() => break Ok(()),
            done = done_rx.recv() => match done {
                Some(Ok(id)) => Event::Persisted { id },
                Some(Err(e)) => break Err(NodeError::Storage(e)),
                None => break Err(NodeError::StorageWorkerGone),
            },
            msg = transport.recv() => match msg {
                Some((from, msg)) => Event::Message { from, msg },
                None => break Err(NodeError::TransportClosed),
            },
            timer = timers.fired() => Event::Timer(timer),
            Some(written) = snapshot_done_rx.recv() => {
                snapshot_in_flight = false;
                match written {
                    Ok(snapshot) => {
                        position.snapshot_bytes = snapshot.data.len() as u64;
                        Event::SnapshotDurable {
                            snapshot,
                            keep: inputs.snapshots.keep,
                        }
                    }
                    Err(e) => break Err(NodeError::Storage(e)),
                }
            }
            Some(keep) = inputs.compact.recv() => {
                position.snapshot = position.applied;
                Event::Compact {
                    index: position.applied,
                    state: state_machine.snapshot(),
                    keep,
                }
            }
            Some(peer) = inputs.peer_lost.recv() => {
                // Handed to the core after a random delay (see PEER_LOST_JITTER_MS).
                let jitter = rng.range(0, PEER_LOST_JITTER_MS);
                let at = tokio::time::Instant::now() + Duration::from_millis(jitter);
                lost.push((at, peer));
                continue;
            }
            () = sleep_until_first(&lost), if !lost.is_empty() => {
                let first = (0..lost.len()).min_by_key(|&i| lost[i].0).expect("not empty");
                let (_, peer) = lost.swap_remove(first);
                Event::PeerLost { peer }
            }
            proposal = inputs.proposals.recv() => match proposal {
                Some(first) => {
                    // Everything already waiting goes in with it (up to a bound): one append,
                    // one AppendEntries per follower, one fsync for the writes, one
                    // confirmation round for the reads.
                    let mut requests = Vec::new();
                    let mut reads = Vec::new();
                    let mut next = Some(first);
                    let mut taken = 0;
                    while let Some(Proposal { op, reply }) = next {
                        next_request += 1;
                        taken += 1;
                        let request = RequestId(next_request);
                        pending.insert(request, (reply, LogIndex(0)));
                        match op {
                            ProposalOp::Write(data) => requests.push((request, data)),
                            ProposalOp::Read => reads.push(request),
                        }
                        next = if taken < MAX_PROPOSAL_BATCH {
                            inputs.proposals.try_recv()
                        } else {
                            None
                        };
                    }
                    // Writes first: a read that arrived after a write is served at or past it.
                    let writes = match requests.len() {
                        0 => None,
                        1 => {
                            let (request, data) = requests.pop().expect("one request");
                            Some(Event::ClientRequest { request, data })
                        }
                        _ => Some(Event::ClientBatch { requests }),
                    };
                    if reads.is_empty() {
                        writes.expect("a proposal was taken")
                    } else {
                        if let Some(writes) = writes {
                            tracing::trace!(node = %id, event = ?writes, "event");
                            core.handle(writes);
                        }
                        let floor = core.status().last_index;
                        for request in &reads {
                            if let Some(entry) = pending.get_mut(request) {
                                entry.1 = floor;
                            }
                        }
                        Event::Read { requests: reads }
                    }
                }
                None => break Ok(()),
            },
        };
        tracing::trace!(node = %id, ?event, "event");
        core.handle(event);
    };
    // Let queued persists finish: a reply already sent may depend on them.
    persist_tx.close();
    let _ = worker.await;
    for leftover in inputs.proposals.close() {
        let _ = leftover.reply.close();
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn execute<M, H, T, Tm, SM>(
    commands: Vec<Command<M, H>>,
    transport: &mut T,
    persist_tx: &Sender<(PersistId, Vec<DurableWrite<H>>)>,
    timers: &mut Tm,
    state_machine: &mut SM,
    applied: &ApplyLog<SM::Result>,
    pending: &mut BTreeMap<RequestId, (Sender<ProposalReply>, LogIndex)>,
    rng: &mut SeededRng,
    timing: Timing,
    position: &mut Position,
) -> Result<(), NodeError>
where
    T: Transport<M>,
    Tm: Timers,
    SM: StateMachine,
{
    for command in commands {
        match command {
            Command::Send { to, msg } => transport.send(to, msg),
            Command::Persist { id, writes } => {
                if persist_tx.send((id, writes)).is_err() {
                    return Err(NodeError::StorageWorkerGone);
                }
            }
            Command::SetTimer(timer) => {
                let ms = match timer {
                    Timer::Election => rng.range(
                        timing.election_timeout_ms_min,
                        timing.election_timeout_ms_max,
                    ),
                    Timer::Heartbeat => timing.heartbeat_ms,
                    // A protocol's own timer comes with its duration (`SetTimerFor`); armed
                    // without one, it gets the shortest period the runtime knows.
                    Timer::Protocol(_) => timing.heartbeat_ms,
                };
                timers.set(timer, Duration::from_millis(ms));
            }
            Command::SetTimerFor { timer, after_ms } => {
                timers.set(timer, Duration::from_millis(after_ms));
            }
            Command::CancelTimer(timer) => timers.cancel(timer),
            Command::Apply { index, entry } => {
                let result = state_machine.apply(index, &entry);
                applied.publish(index, entry.term, result);
                position.applied = index;
                position.applied_term = entry.term;
                position.bytes_since_snapshot += entry.payload.size_bytes() as u64;
            }
            Command::RestoreState { snapshot } => {
                let index = snapshot.last_index;
                state_machine
                    .restore(index, &snapshot.data)
                    .map_err(|reason| NodeError::Snapshot { index, reason })?;
                applied.skip_to(index);
                *position = Position {
                    applied: index,
                    applied_term: snapshot.last_term,
                    snapshot: index,
                    bytes_since_snapshot: 0,
                    snapshot_bytes: snapshot.data.len() as u64,
                };
                tracing::info!(index = %index, bytes = snapshot.data.len(), "state restored from a snapshot");
            }
            Command::ClientAccepted {
                request,
                index,
                term,
            } => {
                if let Some((reply, _)) = pending.remove(&request) {
                    let _ = reply.send(ProposalReply::Accepted { index, term });
                }
            }
            Command::ClientRejected { request, leader } => {
                if let Some((reply, _)) = pending.remove(&request) {
                    let _ = reply.send(ProposalReply::Rejected { leader });
                }
            }
            Command::ReadReady { request, index } => {
                if let Some((reply, floor)) = pending.remove(&request) {
                    let index = index.max(floor);
                    let _ = reply.send(ProposalReply::ReadReady { index });
                }
            }
        }
    }
    Ok(())
}

/// A persist that takes this long is logged: it holds back every reply that depends on it.
const SLOW_PERSIST: Duration = Duration::from_millis(50);

/// Persists in order: takes every queued `Persist`, concatenates their write lists in issue
/// order (group commit: never a reordering, so a crash still keeps a prefix of the writes),
/// hands them to the storage as one call, and acknowledges the newest id.
async fn storage_worker<H, S>(
    mut storage: S,
    mut queue: Receiver<(PersistId, Vec<DurableWrite<H>>)>,
    done: Sender<Result<PersistId, StorageError>>,
) where
    H: Send + 'static,
    S: Storage<H>,
{
    loop {
        let Some(first) = queue.recv().await else {
            return;
        };
        let (mut last, mut batch) = first;
        let mut persists = 1;
        while let Some((id, writes)) = queue.try_recv() {
            assert!(
                id > last,
                "persists are queued in issue order: {id:?} after {last:?}"
            );
            last = id;
            batch.extend(writes);
            persists += 1;
        }
        let result = if storage.blocks() {
            let joined = tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let result = storage.persist(&batch);
                let took = started.elapsed();
                if took >= SLOW_PERSIST {
                    // Every reply that reveals this batch waits for it, a follower's heartbeat
                    // answers included: long enough, and its leader's CheckQuorum hears nothing.
                    tracing::warn!(
                        took_ms = took.as_millis() as u64,
                        persists,
                        writes = batch.len(),
                        "slow persist (fsync): replies waiting on it are held back"
                    );
                }
                (storage, result)
            })
            .await;
            let (back, result) = match joined {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::error!(error = %e, "storage worker panicked");
                    return;
                }
            };
            storage = back;
            result
        } else {
            storage.persist(&batch)
        };
        let failed = result.is_err();
        let _ = done.send(result.map(|()| last));
        if failed {
            return;
        }
    }
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;
    use crate::storage::Recovered;
    use crate::sync::Mutex;
    use ballot_core::{LogWrite, Term};

    /// Records each `persist` call's writes (in memory, so the worker calls it inline).
    struct Recording(Arc<Mutex<Vec<Vec<DurableWrite<u64>>>>>);

    impl Storage<u64> for Recording {
        fn recover(&mut self) -> Result<Recovered<u64>, StorageError> {
            unreachable!("the worker never recovers")
        }

        fn persist(&mut self, writes: &[DurableWrite<u64>]) -> Result<(), StorageError> {
            self.0.lock().push(writes.to_vec());
            Ok(())
        }

        fn blocks(&self) -> bool {
            false
        }
    }

    fn append(index: u64) -> DurableWrite<u64> {
        DurableWrite::Log(LogWrite::Append {
            index: LogIndex(index),
            entry: Entry::command(Term(1), vec![index as u8]),
        })
    }

    /// Persists queued together reach the storage as one call whose writes are theirs
    /// concatenated in issue order (a hard state queued after appends stays after them), and
    /// the newest id is acknowledged.
    #[tokio::test]
    async fn a_group_commit_concatenates_queued_persists_in_issue_order() {
        let persists = vec![
            (PersistId(1), vec![append(1), append(2)]),
            (PersistId(2), vec![DurableWrite::HardState(7)]),
            (PersistId(3), vec![append(3), DurableWrite::HardState(8)]),
        ];
        let (tx, rx) = mailbox(16);
        let (done_tx, mut done_rx) = mailbox(16);
        // All three are queued before the worker first runs (one thread: it runs when this
        // task waits), so it takes them as one group commit.
        for persist in persists.clone() {
            tx.send(persist).unwrap();
        }
        let calls = Arc::new(Mutex::new(Vec::new()));
        let worker = tokio::spawn(storage_worker(Recording(calls.clone()), rx, done_tx));
        assert_eq!(done_rx.recv().await.map(|r| r.unwrap()), Some(PersistId(3)));
        assert!(tx.close().is_empty(), "the worker took every persist");
        worker.await.unwrap();
        let expected: Vec<DurableWrite<u64>> = persists
            .into_iter()
            .flat_map(|(_, writes)| writes)
            .collect();
        assert_eq!(*calls.lock(), vec![expected]);
        assert!(
            done_rx.try_recv().is_none(),
            "one acknowledgement per group"
        );
    }
}
