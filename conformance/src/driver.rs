//! The driver: the production node loop ([`ballot_node::runtime::run`]) for every server of a
//! run, over controlled implementations of its three traits, on one single-threaded tokio
//! runtime whose clock is paused.
//!
//! ```text
//!   harness ── deliver ──► inbox ──► HarnessTransport::recv ─┐
//!   harness ── fire ─────► HarnessTimers::fired ─────────────┼─► runtime::run (production code)
//!   harness ── propose ──► proposal mailbox ─────────────────┘        │
//!   harness ◄── sent ───── HarnessTransport::send ◄────────────────────┤ Send
//!   harness ◄── view ───── ViewCell (runtime::Observer) ◄──────────────┤ after every event
//!               MemStorage (in memory, fenced on crash) ◄──────────────┘ Persist (inline)
//! ```
//!
//! **Quiescence is detected, never guessed.** The runtime's clock is paused, and tokio advances a
//! paused clock only when no task can run and no blocking work is outstanding. The nodes use no
//! tokio timer (their timers are [`HarnessTimers`]), so the driver's own `sleep` completes exactly
//! when every node has handled everything it was given and executed every command that followed,
//! persists included ([`MemStorage`] does not block, so the runtime persists on the node's task).
//!
//! **Deterministic.** One thread, no real time, no I/O, no randomness that reaches a protocol
//! decision: the same inputs give the same outputs on every run.
//!
//! **Bounded.** A step in which the nodes send more than [`MAX_SENDS_PER_STEP`] messages is
//! reported as not settling; a node loop that ends (a panic, a storage error) is reported with
//! its reason. The wall-clock bound on a node that spins without ever yielding is the caller's
//! (see [`crate::run_bounded`]).

use ballot_core::{Core, Entry, LogIndex, ServerId, Timer};
use ballot_node::apply_log::ApplyLog;
use ballot_node::codec::NodeStatus;
use ballot_node::mailbox::{mailbox, Receiver, Sender};
use ballot_node::runtime::{
    self, LoopInputs, NodeError, Observer, Shared, SnapshotPolicy, StateMachine, Timing,
};
use ballot_node::server::{Proposal, ProposalOp, ProposalReply, StatusCell};
use ballot_node::storage::{MemDisk, MemStorage};
use ballot_node::timers::Timers;
use ballot_node::transport::Transport;
use std::collections::{BTreeSet, VecDeque};
use std::future::{poll_fn, Future};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

/// More sends than this in one step is a node that does not settle.
pub const MAX_SENDS_PER_STEP: usize = 10_000;
/// Capacity of each controlled mailbox (inbox, proposals): far above what one step delivers.
const MAILBOX_CAPACITY: usize = 1024;

/// What a protocol must tell the driver to run its nodes.
pub trait NodeKind: Send + Sync + 'static {
    /// The sans-IO core the production runtime drives.
    type Core: Core<Message = Self::Message, HardState = Self::HardState> + Send + 'static;
    /// Peer messages.
    type Message: Clone + std::fmt::Debug + Send + 'static;
    /// Persistent state besides the log.
    type HardState: Clone + std::fmt::Debug + Default + Send + 'static;
    /// What the harness reads of a core (in the implementation's vocabulary).
    type View: Clone + std::fmt::Debug + PartialEq + Send + 'static;

    /// Rebuilds server `id` from its storage through the production recovery path.
    fn recover(
        &self,
        id: ServerId,
        storage: &mut MemStorage<Self::HardState>,
    ) -> Result<Self::Core, NodeError>;
    /// Reads the harness's view of a core.
    fn view(core: &Self::Core) -> Self::View;
    /// Whether `msg`, sent by `from` to `to` now, reveals only state that `disk` (the sender's
    /// durable state at that instant) already holds; `Err` says what is not durable yet.
    fn check_durable(
        from: ServerId,
        to: ServerId,
        msg: &Self::Message,
        disk: &MemDisk<Self::HardState>,
    ) -> Result<(), String>;
}

/// One message a node sent during a step, in send order.
#[derive(Clone, Debug)]
pub struct Sent<M> {
    /// Sender.
    pub from: ServerId,
    /// Destination.
    pub to: ServerId,
    /// The message.
    pub msg: M,
    /// Set when the message left before the state it reveals was durable.
    pub not_durable: Option<String>,
}

/// Why a step could not be completed by the nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unsettled {
    /// A node loop ended: it panicked or stopped with an error.
    NodeStopped {
        /// Which node.
        node: ServerId,
        /// The panic message or the error.
        reason: String,
    },
    /// The nodes kept sending past [`MAX_SENDS_PER_STEP`].
    TooManySends,
}

impl std::fmt::Display for Unsettled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsettled::NodeStopped { node, reason } => write!(f, "node {node} stopped: {reason}"),
            Unsettled::TooManySends => write!(
                f,
                "the nodes did not settle: more than {MAX_SENDS_PER_STEP} messages in one step"
            ),
        }
    }
}

/// Sends of every node, in order, since the last settle.
struct Outbox<M> {
    sent: Vec<Sent<M>>,
    overflow: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking node task is reported on its own; its poisoned lock still holds valid data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The controlled transport: sends go to the harness's outbox (checked for durability at that
/// instant); receives come from the inbox the harness fills.
struct HarnessTransport<K: NodeKind> {
    id: ServerId,
    inbox: Receiver<(ServerId, K::Message)>,
    outbox: Arc<Mutex<Outbox<K::Message>>>,
    storage: MemStorage<K::HardState>,
}

impl<K: NodeKind> Transport<K::Message> for HarnessTransport<K> {
    fn send(&mut self, to: ServerId, msg: K::Message) {
        let not_durable = self
            .storage
            .read(|disk| K::check_durable(self.id, to, &msg, disk))
            .err();
        let mut out = lock(&self.outbox);
        if out.sent.len() >= MAX_SENDS_PER_STEP {
            out.overflow = true;
            return;
        }
        out.sent.push(Sent {
            from: self.id,
            to,
            msg,
            not_durable,
        });
    }

    fn recv(&mut self) -> impl Future<Output = Option<(ServerId, K::Message)>> + Send {
        self.inbox.recv()
    }
}

/// Which timers a node has armed, and which the harness fired.
#[derive(Debug, Default)]
struct TimerState {
    armed: BTreeSet<Timer>,
    fire: VecDeque<Timer>,
    waker: Option<Waker>,
}

/// The controlled timers: durations are ignored; a timer fires only when the harness fires it.
struct HarnessTimers {
    state: Arc<Mutex<TimerState>>,
}

impl Timers for HarnessTimers {
    fn set(&mut self, timer: Timer, _after: Duration) {
        lock(&self.state).armed.insert(timer);
    }

    fn cancel(&mut self, timer: Timer) {
        let mut st = lock(&self.state);
        st.armed.remove(&timer);
        st.fire.retain(|t| *t != timer);
    }

    async fn fired(&mut self) -> Timer {
        poll_fn(|cx| {
            let mut st = lock(&self.state);
            match st.fire.pop_front() {
                Some(timer) => {
                    st.armed.remove(&timer);
                    Poll::Ready(timer)
                }
                None => {
                    st.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// The state machine of a conformance run: the sequence of entries applied, which is exactly
/// the model's image of a state machine (a snapshot's `entries`). Its snapshot encoding is
/// [`encode_applied`], so a snapshot's data maps to the model's message field by field, and a
/// snapshot that restored the wrong state shows up as a wrong log prefix.
#[derive(Default)]
struct AppliedEntries(Vec<Entry>);

impl StateMachine for AppliedEntries {
    type Result = ();
    fn apply(&mut self, index: LogIndex, entry: &Entry) {
        // Applied in order from the snapshot on: anything else is a runtime bug, and the
        // compared log prefix would show it; keep the record honest rather than panic here.
        if index.0 == self.0.len() as u64 + 1 {
            self.0.push(entry.clone());
        }
    }
    fn snapshot(&self) -> Vec<u8> {
        encode_applied(&self.0)
    }
    fn restore(&mut self, index: LogIndex, data: &[u8]) -> Result<(), String> {
        let entries = decode_applied(data)?;
        if entries.len() as u64 != index.0 {
            return Err(format!(
                "a snapshot at index {index} holds {} entries",
                entries.len()
            ));
        }
        self.0 = entries;
        Ok(())
    }
}

/// The snapshot encoding of a conformance state machine: its applied entries, in order.
pub fn encode_applied(entries: &[Entry]) -> Vec<u8> {
    serde_json::to_vec(entries).expect("entries encode")
}

/// The entries of a conformance snapshot, or why the data is not one.
pub fn decode_applied(data: &[u8]) -> Result<Vec<Entry>, String> {
    serde_json::from_slice(data).map_err(|e| format!("not a conformance snapshot: {e}"))
}

/// The latest view of a core, written by the runtime's observer hook.
struct ViewCell<K: NodeKind>(Arc<Mutex<Option<K::View>>>);

impl<K: NodeKind> Observer<K::Core> for ViewCell<K> {
    fn observe(&mut self, core: &K::Core) {
        *lock(&self.0) = Some(K::view(core));
    }
}

/// One running incarnation of a node.
struct Incarnation<K: NodeKind> {
    inbox: Sender<(ServerId, K::Message)>,
    proposals: Sender<Proposal>,
    compact: Sender<u64>,
    timers: Arc<Mutex<TimerState>>,
    view: Arc<Mutex<Option<K::View>>>,
    task: tokio::task::JoinHandle<Result<(), NodeError>>,
}

/// One server slot: its disk, and its process while it is up.
struct Slot<K: NodeKind> {
    id: ServerId,
    storage: MemStorage<K::HardState>,
    running: Option<Incarnation<K>>,
}

/// A cluster of real node loops under the harness's control.
pub struct Cluster<K: NodeKind> {
    kind: Arc<K>,
    rt: tokio::runtime::Runtime,
    outbox: Arc<Mutex<Outbox<K::Message>>>,
    slots: Vec<Slot<K>>,
}

/// The answer of a proposal, once the node handled it.
pub struct ProposalTicket(Receiver<ProposalReply>);

impl ProposalTicket {
    /// The node's answer, if it has given one.
    pub fn answer(&mut self) -> Option<ProposalReply> {
        self.0.try_recv()
    }
}

impl<K: NodeKind> Cluster<K> {
    /// Starts one node per `(id, disk)`, each recovered from its disk, and settles.
    pub fn start(
        kind: K,
        disks: Vec<(ServerId, MemDisk<K::HardState>)>,
    ) -> Result<Self, Unsettled> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime builds");
        let mut cluster = Cluster {
            kind: Arc::new(kind),
            rt,
            outbox: Arc::new(Mutex::new(Outbox {
                sent: Vec::new(),
                overflow: false,
            })),
            slots: disks
                .into_iter()
                .map(|(id, disk)| Slot {
                    id,
                    storage: MemStorage::with_disk(disk),
                    running: None,
                })
                .collect(),
        };
        for i in 0..cluster.slots.len() {
            cluster.launch(i)?;
        }
        cluster.settle()?;
        Ok(cluster)
    }

    /// The ids of the nodes, in slot order.
    pub fn ids(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.slots.iter().map(|s| s.id)
    }

    fn slot(&self, id: ServerId) -> &Slot<K> {
        self.slots
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no node {id} in this cluster"))
    }

    fn running(&self, id: ServerId) -> &Incarnation<K> {
        self.slot(id)
            .running
            .as_ref()
            .unwrap_or_else(|| panic!("node {id} is down"))
    }

    /// Starts slot `i`'s process from its disk, through the production recovery path.
    fn launch(&mut self, i: usize) -> Result<(), Unsettled> {
        let id = self.slots[i].id;
        let mut storage = self.slots[i].storage.clone();
        let core = self
            .kind
            .recover(id, &mut storage)
            .map_err(|e| Unsettled::NodeStopped {
                node: id,
                reason: format!("recovery failed: {e}"),
            })?;
        let (inbox_tx, inbox_rx) = mailbox(MAILBOX_CAPACITY);
        let (proposals_tx, proposals_rx) = mailbox(MAILBOX_CAPACITY);
        // Never sent on: a crash aborts the task, as kill -9 does; nothing shuts down cleanly.
        let (_shutdown_tx, shutdown_rx) = mailbox(1);
        let timers = Arc::new(Mutex::new(TimerState::default()));
        let view = Arc::new(Mutex::new(None));
        let transport = HarnessTransport::<K> {
            id,
            inbox: inbox_rx,
            outbox: self.outbox.clone(),
            storage: storage.clone(),
        };
        let shared = Shared {
            applied: Arc::new(ApplyLog::new(1)),
            status: Arc::new(StatusCell::new(NodeStatus {
                id,
                role: String::new(),
                term: 0,
                leader: None,
                commit: 0,
                last_index: 0,
                last_zxid: None,
            })),
        };
        // No TCP, so no connection ever closes: the harness never sends `Event::PeerLost`
        // (the model's `timeout` is what it stands for).
        let (_peer_lost_tx, peer_lost_rx) = mailbox(1);
        // Compaction happens only when the harness asks (the model's `compact`); the policy
        // never takes a snapshot on its own.
        let (compact_tx, compact_rx) = mailbox(1);
        let inputs = LoopInputs {
            proposals: proposals_rx,
            peer_lost: peer_lost_rx,
            shutdown: shutdown_rx,
            compact: compact_rx,
            snapshots: SnapshotPolicy::NEVER,
        };
        let node = runtime::run(
            id,
            core,
            transport,
            storage,
            HarnessTimers {
                state: timers.clone(),
            },
            AppliedEntries::default(),
            Timing::default(),
            0,
            shared,
            inputs,
            ViewCell::<K>(view.clone()),
        );
        let task = self.rt.spawn(node);
        self.slots[i].running = Some(Incarnation {
            inbox: inbox_tx,
            proposals: proposals_tx,
            compact: compact_tx,
            timers,
            view,
            task,
        });
        Ok(())
    }

    /// Runs every node until none can make progress; returns what they sent, in order.
    pub fn settle(&mut self) -> Result<Vec<Sent<K::Message>>, Unsettled> {
        // Completes only once the paused clock may advance: every task idle, nothing blocking.
        self.rt
            .block_on(async { tokio::time::sleep(Duration::from_millis(1)).await });
        for slot in &mut self.slots {
            let stopped = slot.running.as_ref().is_some_and(|r| r.task.is_finished());
            if stopped {
                let incarnation = slot.running.take().expect("checked above");
                let reason = match self.rt.block_on(incarnation.task) {
                    Ok(Ok(())) => "the node loop returned".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) if e.is_panic() => {
                        let payload = e.into_panic();
                        let text = payload
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "(no message)".to_string());
                        format!("panicked: {text}")
                    }
                    Err(e) => e.to_string(),
                };
                return Err(Unsettled::NodeStopped {
                    node: slot.id,
                    reason,
                });
            }
        }
        let mut out = lock(&self.outbox);
        if out.overflow {
            return Err(Unsettled::TooManySends);
        }
        Ok(std::mem::take(&mut out.sent))
    }

    /// Whether node `id` is up.
    pub fn is_up(&self, id: ServerId) -> bool {
        self.slot(id).running.is_some()
    }

    /// Hands `msg` from `from` to node `id` (which must be up).
    pub fn deliver(&mut self, from: ServerId, id: ServerId, msg: K::Message) {
        self.running(id)
            .inbox
            .send((from, msg))
            .unwrap_or_else(|_| panic!("the inbox of {id} is open and below capacity"));
    }

    /// Whether node `id` has `timer` armed.
    pub fn is_armed(&self, id: ServerId, timer: Timer) -> bool {
        lock(&self.running(id).timers).armed.contains(&timer)
    }

    /// Fires `timer` at node `id`; `false` (and nothing fires) if it is not armed.
    pub fn fire(&mut self, id: ServerId, timer: Timer) -> bool {
        let mut st = lock(&self.running(id).timers);
        if !st.armed.contains(&timer) {
            return false;
        }
        st.fire.push_back(timer);
        if let Some(w) = st.waker.take() {
            w.wake();
        }
        true
    }

    /// A client proposes `data` at node `id`.
    pub fn propose(&mut self, id: ServerId, data: Vec<u8>) -> ProposalTicket {
        self.hand(id, ProposalOp::Write(data))
    }

    /// A client's linearizable read arrives at node `id`.
    pub fn read(&mut self, id: ServerId) -> ProposalTicket {
        self.hand(id, ProposalOp::Read)
    }

    fn hand(&mut self, id: ServerId, op: ProposalOp) -> ProposalTicket {
        let (reply, answer) = mailbox(1);
        self.running(id)
            .proposals
            .send(Proposal { op, reply })
            .unwrap_or_else(|_| panic!("the proposal queue of {id} is open and below capacity"));
        ProposalTicket(answer)
    }

    /// Node `id` takes a snapshot at its applied index and compacts its whole log behind it
    /// (the model's `compact`: raft.snapshot.take with nothing kept).
    pub fn compact(&mut self, id: ServerId) {
        self.running(id)
            .compact
            .send(0)
            .unwrap_or_else(|_| panic!("the compaction queue of {id} is open and empty"));
    }

    /// The latest view of node `id`'s core (`None` before it handled anything, or when down).
    pub fn view(&self, id: ServerId) -> Option<K::View> {
        self.slot(id)
            .running
            .as_ref()
            .and_then(|r| lock(&r.view).clone())
    }

    /// What node `id` has made durable.
    pub fn disk(&self, id: ServerId) -> MemDisk<K::HardState> {
        self.slot(id).storage.snapshot()
    }

    /// Kills node `id` as kill -9 does: its task is dropped, its disk handles are fenced, and
    /// whatever it had not persisted is gone.
    pub fn crash(&mut self, id: ServerId) {
        let i = self
            .slots
            .iter()
            .position(|s| s.id == id)
            .expect("known id");
        let slot = &mut self.slots[i];
        if let Some(incarnation) = slot.running.take() {
            incarnation.task.abort();
        }
        slot.storage = slot.storage.crash();
    }

    /// Restarts node `id` from its disk.
    pub fn restart(&mut self, id: ServerId) -> Result<(), Unsettled> {
        let i = self
            .slots
            .iter()
            .position(|s| s.id == id)
            .expect("known id");
        assert!(
            self.slots[i].running.is_none(),
            "restart of a node that is up"
        );
        self.launch(i)
    }
}

impl<K: NodeKind> Drop for Cluster<K> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let Some(r) = slot.running.take() {
                r.task.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::{Command, CoreStatus, Event, Term};

    /// A core that arms its election timer, answers a message by echoing it, and panics when
    /// the timer fires.
    #[derive(Default)]
    struct Boom {
        commands: Vec<Command<u8, ()>>,
    }

    impl Core for Boom {
        type Message = u8;
        type HardState = ();
        fn start(&mut self) {
            self.commands.push(Command::SetTimer(Timer::Election));
        }
        fn handle(&mut self, event: Event<u8>) {
            match event {
                Event::Message { from, msg } => self.commands.push(Command::Send { to: from, msg }),
                Event::Timer(_) => panic!("boom at the timer"),
                _ => {}
            }
        }
        fn take_commands(&mut self) -> Vec<Command<u8, ()>> {
            std::mem::take(&mut self.commands)
        }
        fn status(&self) -> CoreStatus {
            CoreStatus {
                role: "boom",
                term: Term(0),
                leader: None,
                commit: LogIndex(0),
                last_index: LogIndex(0),
                last_zxid: None,
            }
        }
    }

    struct BoomNodes;

    impl NodeKind for BoomNodes {
        type Core = Boom;
        type Message = u8;
        type HardState = ();
        type View = ();
        fn recover(&self, _: ServerId, _: &mut MemStorage<()>) -> Result<Boom, NodeError> {
            Ok(Boom::default())
        }
        fn view(_: &Boom) {}
        fn check_durable(_: ServerId, _: ServerId, _: &u8, _: &MemDisk<()>) -> Result<(), String> {
            Ok(())
        }
    }

    fn cluster() -> Cluster<BoomNodes> {
        let disks = vec![
            (ServerId(1), MemDisk::default()),
            (ServerId(2), MemDisk::default()),
        ];
        Cluster::start(BoomNodes, disks).expect("starts")
    }

    #[test]
    fn settle_returns_exactly_what_the_step_caused() {
        let mut c = cluster();
        assert!(c.is_armed(ServerId(1), Timer::Election));
        c.deliver(ServerId(2), ServerId(1), 7);
        let sent = c.settle().expect("settles");
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].from, sent[0].to, sent[0].msg),
            (ServerId(1), ServerId(2), 7)
        );
        assert!(
            c.settle().expect("settles").is_empty(),
            "nothing more happens"
        );
    }

    #[test]
    fn a_panicking_node_is_reported_with_its_message() {
        let mut c = cluster();
        assert!(c.fire(ServerId(2), Timer::Election));
        match c.settle() {
            Err(Unsettled::NodeStopped { node, reason }) => {
                assert_eq!(node, ServerId(2));
                assert!(reason.contains("boom at the timer"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!c.is_up(ServerId(2)));
        assert!(
            !c.fire(ServerId(1), Timer::Heartbeat),
            "an unarmed timer does not fire"
        );
    }

    #[test]
    fn a_crashed_node_restarts_through_recovery() {
        let mut c = cluster();
        c.crash(ServerId(1));
        assert!(!c.is_up(ServerId(1)));
        c.restart(ServerId(1)).expect("restarts");
        c.settle().expect("settles");
        assert!(
            c.is_armed(ServerId(1), Timer::Election),
            "start() ran again"
        );
    }
}
