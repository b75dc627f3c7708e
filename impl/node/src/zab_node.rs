//! A ZooKeeper-style server process: FLE then ZAB ([`ZabPeer`]) over the same TCP transport,
//! file storage, tokio timers, KV state machine and client sessions as a Raft node; only the
//! core and its hard state differ (the runtime is protocol-generic).
//!
//! On disk (`docs/implementation.md` § ZAB nodes): `hardstate` holds acceptedEpoch and
//! currentEpoch together ([`ZabHardState`]), and the `log` holds the transactions at indexes
//! 1..n, each entry's term its zxid's epoch and its payload the zxid then the data
//! ([`ballot_core::zab::encode_txn`]).

use crate::raft_node::{launch, Launch, RunningNode};
use crate::runtime::{NodeError, SnapshotPolicy, Timing};
use crate::server::{self, ServerLimits};
use crate::storage::{FileStorage, RecoverableHardState, Storage};
use crate::tls::NodeSecurity;
use ballot_core::fle::{Epoch, FleConfig};
use ballot_core::zab::{PeerMessage, ZabConfig, ZabHardState, ZabPeer};
use ballot_core::{ServerId, Term};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// ZAB's timeouts for a node on loopback (ZooKeeper's defaults, `tickTime` 2 s, are for WANs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZabTiming {
    /// Discovery and synchronization must finish within this (`initLimit * tickTime`).
    pub sync_timeout_ms: u64,
    /// The leader's PING and quorum check period.
    pub tick_ms: u64,
    /// A follower gives up on a leader silent this long (`syncLimit * tickTime`).
    pub leader_silence_ms: u64,
}

impl Default for ZabTiming {
    /// A quorum check every 100 ms, a silent leader given up after a second, a synchronization
    /// allowed 3 s: a killed leader is noticed at once anyway (its connections close), so these
    /// only bound how long a hung one keeps its followers, and ride out a loaded machine's stalls.
    fn default() -> Self {
        ZabTiming {
            sync_timeout_ms: 3_000,
            tick_ms: 100,
            leader_silence_ms: 1_000,
        }
    }
}

/// How to run one ZAB server.
#[derive(Clone, Debug)]
pub struct ZabNodeConfig {
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
    /// ZAB's timeouts.
    pub timing: ZabTiming,
    /// Seed of the runtime's RNG (the jitter of lost-peer hints).
    pub seed: u64,
    /// What connections may cost.
    pub limits: ServerLimits,
    /// Mutual TLS with peers and TLS for clients, or plaintext.
    pub security: NodeSecurity,
}

impl RecoverableHardState for ZabHardState {
    /// acceptedEpoch: no logged transaction's epoch is above it (a NEWLEADER history is
    /// written after its epoch was accepted).
    fn term(&self) -> Term {
        Term(self.accepted_epoch.0)
    }

    fn from_log_term(term: Term) -> Self {
        // The epoch of the last transaction was accepted; whether it became current is lost,
        // and taking the lower is what a crash before currentEpoch's write leaves.
        ZabHardState {
            accepted_epoch: Epoch(term.0),
            current_epoch: Epoch(0),
        }
    }
}

impl server::PeerMessage for PeerMessage {
    fn validate(&self) -> Result<(), String> {
        // ZAB packets were bounds-checked by their decoder; FLE's notifications are checked by
        // the election core, which refuses values out of the wire's range.
        Ok(())
    }
}

/// The recovery path of a ZAB node: the epochs and the transaction log from `storage`, LOOKING.
pub fn recover<S: Storage<ZabHardState>>(
    storage: &mut S,
    fle: FleConfig,
    zab: ZabConfig,
) -> Result<ZabPeer, NodeError> {
    let recovered = storage.recover()?;
    tracing::info!(
        node = %zab.id, accepted_epoch = recovered.hard_state.accepted_epoch.0,
        current_epoch = recovered.hard_state.current_epoch.0, log = recovered.log.len(),
        torn_tail_bytes = recovered.torn_tail_bytes, "recovered"
    );
    ZabPeer::restore(fle, zab, recovered.hard_state, &recovered.log).map_err(|e| {
        NodeError::Io(std::io::Error::other(format!(
            "starting ZAB from the recovered state: {e}"
        )))
    })
}

/// Recovers from `config.dir`, binds `config.listen`, and starts serving.
pub async fn start(config: ZabNodeConfig) -> Result<RunningNode, NodeError> {
    let mut storage = FileStorage::<ZabHardState>::new(&config.dir);
    let voters: Vec<ServerId> = config.peers.keys().copied().collect();
    let fle = FleConfig::new(config.id, voters.clone());
    let mut zab = ZabConfig::new(config.id, voters);
    zab.sync_timeout_ms = config.timing.sync_timeout_ms;
    zab.tick_ms = config.timing.tick_ms;
    zab.leader_silence_ms = config.timing.leader_silence_ms;
    tracing::info!(node = %config.id, dir = %config.dir.display(), "recovering");
    let core = recover(&mut storage, fle, zab)?;
    launch(
        Launch {
            id: config.id,
            cluster_id: config.cluster_id,
            peers: config.peers,
            listen: config.listen,
            security: config.security,
            limits: config.limits,
            timing: Timing::default(),
            seed: config.seed,
            // ZAB takes no snapshots (`zab.impl.no-snap`).
            snapshots: SnapshotPolicy::NEVER,
            role: "looking",
        },
        core,
        storage,
    )
    .await
}
