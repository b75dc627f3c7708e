//! What the in-process cluster tests share: the configurations of a 3-node loopback cluster.

use ballot_core::ServerId;
use ballot_node::raft_node::RaftNodeConfig;
use ballot_node::runtime::{SnapshotPolicy, Timing};
use ballot_node::server::ServerLimits;
use ballot_node::tls::NodeSecurity;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

/// `n` distinct free loopback addresses.
pub fn free_addrs(n: usize) -> Vec<SocketAddr> {
    // Hold all listeners at once so the ports differ, then release them for the nodes.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners.iter().map(|l| l.local_addr().unwrap()).collect()
}

/// One configuration per node of a 3-node plaintext cluster on free loopback ports: ids 1..=3,
/// data in `dir/n<id>`, seeds `seed + id`, PreVote and the no-op on, default timing and limits.
pub fn cluster_configs(
    dir: &Path,
    seed: u64,
    cluster: &str,
    snapshots: SnapshotPolicy,
) -> Vec<RaftNodeConfig> {
    let peers: BTreeMap<ServerId, SocketAddr> = free_addrs(3)
        .into_iter()
        .enumerate()
        .map(|(i, a)| (ServerId(i as u64 + 1), a))
        .collect();
    peers
        .iter()
        .map(|(&id, &addr)| RaftNodeConfig {
            id,
            cluster_id: cluster.into(),
            peers: peers.clone(),
            listen: addr,
            dir: dir.join(format!("n{id}")),
            timing: Timing::default(),
            seed: seed + id.0,
            leader_noop: true,
            pre_vote: true,
            limits: ServerLimits::default(),
            recover_missing_hard_state: false,
            security: NodeSecurity::InsecurePlaintext,
            snapshots,
        })
        .collect()
}
