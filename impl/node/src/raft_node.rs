//! A Raft server process: the Raft core, TCP transport, file storage, tokio timers and the KV
//! state machine, assembled.

use crate::apply_log::ApplyLog;
use crate::codec::NodeStatus;
use crate::kv::{KvOp, KvResult, SharedStore};
use crate::mailbox::{mailbox, Sender};
use crate::runtime::{
    self, LoopInputs, NodeError, Shared, SnapshotPolicy, StateMachine, Timing,
    PROPOSAL_QUEUE_CAPACITY,
};
use crate::server::{self, ServerContext, ServerLimits, StatusCell};
use crate::storage::{FileStorage, Storage};
use crate::sync::Arc;
use crate::timers::TokioTimers;
use crate::tls::NodeSecurity;
use crate::transport::{TcpTransport, INBOUND_QUEUE_CAPACITY};
use ballot_core::raft::{DurableLog, HardState, Message, RaftConfig, RaftCore};
use ballot_core::{Core, Entry, LogIndex, Payload, ServerId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;

/// Read-confirmation rounds unconfirmed at once (raft.read.start): reads that arrive while two
/// rounds are out share the next one, so under load a heartbeat round serves a whole batch.
pub const MAX_READ_ROUNDS: usize = 2;

/// Unacknowledged `AppendEntries` with entries per follower (flow control of the pipelined
/// replication, raft.md § Pipelined replication): with the 256 KiB append budget this bounds what
/// a leader has in flight to one follower at 16 MiB, and on loopback 64 messages are far more
/// than one round trip needs, so the window only closes on a follower that stopped answering.
pub const MAX_INFLIGHT: usize = 64;

/// Largest `AppendEntries` payload: half the frame limit, leaving room for framing.
pub const MAX_APPEND_BYTES: usize = 256 * 1024;
/// Peer-connection closures queued for the node loop: a few per peer at most; more are dropped
/// (one is enough to act on).
pub const PEER_LOST_QUEUE_CAPACITY: usize = 64;
/// Applied results kept for client sessions that have not read theirs yet.
pub const APPLY_LOG_RETAIN: usize = 64 * 1024;

/// How to run one Raft server.
#[derive(Clone, Debug)]
pub struct RaftNodeConfig {
    /// This server.
    pub id: ServerId,
    /// Handshakes must name it.
    pub cluster_id: String,
    /// Every server (this one included) and its address.
    pub peers: BTreeMap<ServerId, SocketAddr>,
    /// Where to listen (usually `peers[id]`).
    pub listen: SocketAddr,
    /// Data directory.
    pub dir: PathBuf,
    /// Timeouts.
    pub timing: Timing,
    /// Seed of the runtime's RNG (election timeouts).
    pub seed: u64,
    /// Append a no-op on election.
    pub leader_noop: bool,
    /// PreVote and CheckQuorum (`docs/protocols/raft.md` § PreVote and CheckQuorum).
    pub pre_vote: bool,
    /// What connections may cost (`--max-connections`, `--client-idle-timeout-ms`,
    /// `--frame-timeout-ms`).
    pub limits: ServerLimits,
    /// Start although `hardstate` is missing beside a non-empty log, taking the highest term in
    /// the log with no vote (`--recover-missing-hard-state`; see
    /// [`FileStorage::allow_missing_hard_state`]).
    pub recover_missing_hard_state: bool,
    /// Mutual TLS with peers and TLS for clients (`--tls-cert/--tls-key/--tls-ca`), or
    /// plaintext (`--insecure-plaintext`).
    pub security: NodeSecurity,
    /// When to take snapshots (`--snapshot-every`, `--snapshot-keep`).
    pub snapshots: SnapshotPolicy,
}

/// The KV store as a state machine over log entries; client sessions live in the store, so a
/// retried request is deduplicated identically on every replica (see [`crate::kv`]).
///
/// A handle: the node loop applies through it, and client connections read the same store
/// ([`KvStateMachine::store`]) to serve sequential reads without the log.
#[derive(Clone, Debug, Default)]
pub struct KvStateMachine {
    store: Arc<SharedStore>,
}

impl KvStateMachine {
    /// A state machine applying to `store`.
    pub fn new(store: Arc<SharedStore>) -> Self {
        KvStateMachine { store }
    }

    /// The store it applies to, for readers.
    pub fn store(&self) -> &Arc<SharedStore> {
        &self.store
    }
}

impl StateMachine for KvStateMachine {
    type Result = KvResult;

    fn apply(&mut self, index: LogIndex, entry: &Entry) -> KvResult {
        // Entries that change nothing still move the store's applied index: a snapshot taken
        // at a no-op must say it is at the no-op's index.
        match &entry.payload {
            Payload::Noop => {
                self.store.skip(index);
                KvResult::Noop
            }
            Payload::Command(bytes) => match postcard::from_bytes::<KvOp>(bytes) {
                Ok(op) => self.store.apply(index, op),
                Err(e) => {
                    // Only validated ops enter the log; an undecodable one came from a newer
                    // build. Every replica skips it identically, so state stays consistent.
                    tracing::error!(index = %index, error = %e, "undecodable KV op skipped");
                    self.store.skip(index);
                    KvResult::Noop
                }
            },
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        self.store.encode_snapshot()
    }

    fn snapshot_later(&self) -> Box<dyn FnOnce() -> Vec<u8> + Send> {
        // An O(1) copy (the map shares its structure); the encoding happens off the loop.
        let store = self.store.snapshot();
        Box::new(move || store.encode_snapshot())
    }

    fn restore(&mut self, index: LogIndex, data: &[u8]) -> Result<(), String> {
        self.store.restore(index, data)
    }
}

/// A running node: stop it with [`RunningNode::shutdown`] or await [`RunningNode::wait`].
#[derive(Debug)]
pub struct RunningNode {
    /// Published status.
    pub status: Arc<StatusCell>,
    /// The bound address.
    pub local_addr: SocketAddr,
    shutdown: Sender<()>,
    task: tokio::task::JoinHandle<Result<(), NodeError>>,
}

impl RunningNode {
    /// Asks the node to stop.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(());
    }

    /// Waits for the node loop to end.
    pub async fn wait(self) -> Result<(), NodeError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(NodeError::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

/// The recovery path of every Raft node: reads `storage` and rebuilds the core from what is
/// durable (a follower whose commit is its snapshot's index, 0 without one; the core's `start`
/// restores the state machine from the snapshot). `ballot node` and the conformance harness
/// both restart through here.
pub fn recover<S: Storage<HardState>>(
    storage: &mut S,
    config: RaftConfig,
) -> Result<RaftCore, NodeError> {
    let recovered = storage.recover()?;
    tracing::info!(
        node = %config.id, term = %recovered.hard_state.term,
        snapshot = ?recovered.snapshot.as_ref().map(|s| (s.last_index, s.data.len())),
        base = %recovered.base.index, log = recovered.log.len(),
        torn_tail_bytes = recovered.torn_tail_bytes, "recovered"
    );
    Ok(RaftCore::restore_compacted(
        config,
        recovered.hard_state,
        DurableLog {
            snapshot: recovered.snapshot,
            base: recovered.base,
            entries: recovered.log,
        },
    ))
}

/// Recovers from `config.dir`, binds `config.listen`, and starts serving.
pub async fn start(config: RaftNodeConfig) -> Result<RunningNode, NodeError> {
    let mut storage = FileStorage::<HardState>::new(&config.dir)
        .allow_missing_hard_state(config.recover_missing_hard_state);
    let mut raft = RaftConfig::new(config.id, config.peers.keys().copied().collect());
    raft.leader_noop = config.leader_noop;
    raft.pre_vote = config.pre_vote;
    raft.max_append_bytes = MAX_APPEND_BYTES;
    raft.pipeline = true;
    raft.max_inflight = MAX_INFLIGHT;
    raft.max_read_rounds = MAX_READ_ROUNDS;
    // What receivers accept (`Message::validate`), so this leader never sends more.
    raft.max_append_entries = Message::MAX_ENTRIES;
    tracing::info!(node = %config.id, dir = %config.dir.display(), "recovering");
    let core = recover(&mut storage, raft)?;

    launch(
        Launch {
            id: config.id,
            cluster_id: config.cluster_id,
            peers: config.peers,
            listen: config.listen,
            security: config.security,
            limits: config.limits,
            timing: config.timing,
            seed: config.seed,
            snapshots: config.snapshots,
            role: "follower",
        },
        core,
        storage,
    )
    .await
}

/// What every node needs besides its core and storage.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    pub(crate) id: ServerId,
    pub(crate) cluster_id: String,
    pub(crate) peers: BTreeMap<ServerId, SocketAddr>,
    pub(crate) listen: SocketAddr,
    pub(crate) security: NodeSecurity,
    pub(crate) limits: ServerLimits,
    pub(crate) timing: Timing,
    pub(crate) seed: u64,
    pub(crate) snapshots: SnapshotPolicy,
    /// The role published before the core's first status.
    pub(crate) role: &'static str,
}

/// Binds `config.listen` and runs `core` over the TCP transport, `storage`, tokio timers and
/// the KV state machine, serving peers and clients: the assembly every protocol shares.
pub(crate) async fn launch<C, S>(
    config: Launch,
    core: C,
    storage: S,
) -> Result<RunningNode, NodeError>
where
    C: Core + Send + 'static,
    C::Message: server::PeerMessage + Serialize + DeserializeOwned + Send + Sync + 'static,
    C::HardState: Send + 'static,
    S: Storage<C::HardState>,
{
    let listener = TcpListener::bind(config.listen).await?;
    let local_addr = listener.local_addr()?;
    let (inbound_tx, inbound_rx) = mailbox::<(ServerId, C::Message)>(INBOUND_QUEUE_CAPACITY);
    let transport = TcpTransport::start(
        config.id,
        &config.cluster_id,
        &config.peers,
        &config.security,
        inbound_rx,
    );
    let (proposals_tx, proposals_rx) = mailbox(PROPOSAL_QUEUE_CAPACITY);
    let (shutdown_tx, shutdown_rx) = mailbox(1);
    let applied = Arc::new(ApplyLog::new(APPLY_LOG_RETAIN));
    let status = Arc::new(StatusCell::new(NodeStatus {
        id: config.id,
        role: config.role.into(),
        term: 0,
        leader: None,
        commit: 0,
        last_index: 0,
        last_zxid: None,
    }));
    // Filled by the acceptor when a peer's inbound connection closes (`Event::PeerLost`).
    let (peer_lost_tx, peer_lost_rx) = mailbox(PEER_LOST_QUEUE_CAPACITY);
    let state_machine = KvStateMachine::default();
    let ctx = Arc::new(ServerContext {
        id: config.id,
        cluster_id: config.cluster_id.clone(),
        addresses: config.peers.clone(),
        inbound: inbound_tx,
        peer_lost: peer_lost_tx,
        proposals: proposals_tx,
        applied: applied.clone(),
        store: state_machine.store().clone(),
        status: status.clone(),
        limits: config.limits,
        security: config.security.clone(),
    });
    let acceptor = tokio::spawn(server::serve::<C::Message>(listener, ctx));
    let shared = Shared {
        applied,
        status: status.clone(),
    };
    // Nothing asks for compaction from outside in a node: the policy decides.
    let (_compact_tx, compact_rx) = mailbox(1);
    let inputs = LoopInputs {
        proposals: proposals_rx,
        peer_lost: peer_lost_rx,
        shutdown: shutdown_rx,
        compact: compact_rx,
        snapshots: config.snapshots,
    };
    let id = config.id;
    let task = tokio::spawn(async move {
        // The transport is dropped when the loop returns, which closes its outbound queues.
        let result = runtime::run(
            id,
            core,
            transport,
            storage,
            TokioTimers::default(),
            state_machine,
            config.timing,
            config.seed,
            shared,
            inputs,
            (),
        )
        .await;
        acceptor.abort();
        result
    });
    Ok(RunningNode {
        status,
        local_addr,
        shutdown: shutdown_tx,
        task,
    })
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;
    use crate::kv::KvOp;
    use ballot_core::Term;

    /// A snapshot taken right after a leader's no-op is at the no-op's index: restoring it
    /// there succeeds (the store's applied index moves on no-ops too).
    #[test]
    fn a_snapshot_taken_at_a_noop_restores_at_its_index() {
        let mut sm = KvStateMachine::default();
        let put = KvOp::Put {
            key: "k".into(),
            value: "v".into(),
        };
        let put = Entry::command(Term(1), postcard::to_allocvec(&put).unwrap());
        sm.apply(LogIndex(1), &Entry::noop(Term(1)));
        sm.apply(LogIndex(2), &put);
        sm.apply(LogIndex(3), &Entry::noop(Term(2)));
        let data = sm.snapshot();
        let mut restored = KvStateMachine::default();
        restored.restore(LogIndex(3), &data).unwrap();
        assert_eq!(restored.store().get("k"), (Some("v".into()), LogIndex(3)));
        // Entries after it apply from index 4.
        assert_eq!(
            restored.apply(LogIndex(4), &Entry::noop(Term(2))),
            KvResult::Noop
        );
    }
}
