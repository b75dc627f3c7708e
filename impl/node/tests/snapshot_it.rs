//! Snapshots end to end, on in-process 3-node clusters over loopback with a small snapshot
//! threshold: a restart from a snapshot and a log tail serves the same data; a follower that
//! was down while the leader compacted past its log catches up through InstallSnapshot; a
//! corrupt snapshot file stops the node with an error naming the file.

mod common;

use ballot_core::{LogBase, LogIndex};
use ballot_node::client::KvClient;
use ballot_node::codec::MAX_FRAME_BYTES;
use ballot_node::kv::Consistency;
use ballot_node::raft_node::{start, RaftNodeConfig, RunningNode};
use ballot_node::runtime::SnapshotPolicy;
use ballot_node::storage::{decode_snapshot, replay_log};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

const CLUSTER: &str = "snap";
/// Small enough that a few dozen writes compact several times.
const POLICY: SnapshotPolicy = SnapshotPolicy { every: 20, keep: 5 };

struct Cluster {
    configs: Vec<RaftNodeConfig>,
    nodes: Vec<Option<RunningNode>>,
    addrs: Vec<SocketAddr>,
}

impl Cluster {
    fn new(dir: &Path, seed: u64) -> Self {
        let configs = common::cluster_configs(dir, seed, CLUSTER, POLICY);
        let addrs = configs.iter().map(|c| c.listen).collect();
        Cluster {
            configs,
            nodes: vec![None, None, None],
            addrs,
        }
    }

    async fn start(&mut self, i: usize) {
        assert!(self.nodes[i].is_none());
        self.nodes[i] = Some(start(self.configs[i].clone()).await.expect("node starts"));
    }

    async fn stop(&mut self, i: usize) {
        let node = self.nodes[i].take().expect("running");
        node.shutdown();
        node.wait().await.unwrap();
    }

    fn dir(&self, i: usize) -> PathBuf {
        self.configs[i].dir.clone()
    }

    async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let leaders: Vec<usize> = (0..3)
                .filter(|&i| {
                    self.nodes[i]
                        .as_ref()
                        .is_some_and(|n| n.status.get().role == "leader")
                })
                .collect();
            if let [one] = leaders.as_slice() {
                return *one;
            }
            assert!(Instant::now() < deadline, "no single leader within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn commit(&self, i: usize) -> u64 {
        self.nodes[i].as_ref().expect("running").status.get().commit
    }

    /// Waits until node `i` has committed at least `index`.
    async fn caught_up(&self, i: usize, index: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.commit(i) < index {
            assert!(
                Instant::now() < deadline,
                "node {} stuck at commit {} below {index}",
                i + 1,
                self.commit(i)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn stop_all(&mut self) {
        for i in 0..3 {
            if self.nodes[i].is_some() {
                self.stop(i).await;
            }
        }
    }
}

/// Writes `count` puts over 10 keys, values padded to at least `bytes`; returns the final value
/// of each key.
async fn write(
    client: &mut KvClient,
    round: &str,
    count: usize,
    bytes: usize,
) -> BTreeMap<String, String> {
    let mut expected = BTreeMap::new();
    for i in 0..count {
        let (key, value) = (format!("k{}", i % 10), format!("{round}-{i:0bytes$}"));
        client.put(&key, &value).await.unwrap();
        expected.insert(key, value);
    }
    expected
}

/// The snapshot and log base in a stopped node's directory.
fn on_disk(dir: &Path) -> (LogIndex, LogBase) {
    let snapshot = decode_snapshot(
        &dir.join("snapshot"),
        &std::fs::read(dir.join("snapshot")).unwrap(),
    )
    .unwrap();
    let log = replay_log(&dir.join("log"), &std::fs::read(dir.join("log")).unwrap()).unwrap();
    (snapshot.last_index, log.base)
}

/// Every key reads back with its value from server `i` alone, sequentially (its own state).
async fn reads_back_from(addr: SocketAddr, expected: &BTreeMap<String, String>) {
    let mut client = KvClient::new(vec![addr], CLUSTER);
    for (key, value) in expected {
        let got = client.get_with(key, Consistency::Sequential).await.unwrap();
        assert_eq!(got.as_deref(), Some(value.as_str()), "{key} at {addr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_restarted_from_snapshots_and_log_tails_serves_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path(), 41);
    for i in 0..3 {
        cluster.start(i).await;
    }
    cluster.leader().await;
    let mut client = KvClient::new(cluster.addrs.clone(), CLUSTER);
    let expected = write(&mut client, "a", 67, 0).await;
    let leader = cluster.leader().await;
    let commit = cluster.commit(leader);
    for i in 0..3 {
        cluster.caught_up(i, commit).await;
    }
    cluster.stop_all().await;
    for i in 0..3 {
        let (snapshot, base) = on_disk(&cluster.dir(i));
        // Compacted at least three times, keeping 5 entries below the snapshot.
        assert!(snapshot.0 >= 60, "node {}: snapshot at {snapshot}", i + 1);
        assert_eq!(base.index.0, snapshot.0 - POLICY.keep, "node {}", i + 1);
    }
    for i in 0..3 {
        cluster.start(i).await;
    }
    let mut client = KvClient::new(cluster.addrs.clone(), CLUSTER);
    for (key, value) in &expected {
        assert_eq!(
            client.get(key).await.unwrap().as_deref(),
            Some(value.as_str())
        );
    }
    // Each server's own state, once it applied what the new leader committed (a sequential
    // read may be behind before that).
    let leader = cluster.leader().await;
    let commit = cluster.commit(leader);
    for i in 0..3 {
        cluster.caught_up(i, commit).await;
        reads_back_from(cluster.addrs[i], &expected).await;
    }
    // And it writes on.
    client.put("k0", "after").await.unwrap();
    assert_eq!(client.get("k0").await.unwrap().as_deref(), Some("after"));
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_down_while_the_leader_compacted_catches_up_through_install_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path(), 5);
    for i in 0..3 {
        cluster.start(i).await;
    }
    let leader = cluster.leader().await;
    let mut client = KvClient::new(cluster.addrs.clone(), CLUSTER);
    write(&mut client, "a", 5, 0).await;
    let behind = (leader + 1) % 3;
    cluster.caught_up(behind, cluster.commit(leader)).await;
    cluster.stop(behind).await;
    let stopped_at = on_disk_last(&cluster.dir(behind));
    // 60 KB values: the snapshot (10 of them) is above a frame, so it travels in chunks.
    let expected = write(&mut client, "b", 80, 60_000).await;
    // The leader's log now starts past everything the stopped follower holds: only a snapshot
    // can bring it up to date.
    let leader = cluster.leader().await;
    let commit = cluster.commit(leader);
    let leader_base = {
        // Read while the leader runs: the log file is only ever replaced whole (rename).
        let log = std::fs::read(cluster.dir(leader).join("log")).unwrap();
        replay_log(Path::new("log"), &log).unwrap().base
    };
    assert!(
        leader_base.index.0 > stopped_at,
        "leader's log starts after {}, the follower stopped at {stopped_at}",
        leader_base.index
    );
    cluster.start(behind).await;
    cluster.caught_up(behind, commit).await;
    reads_back_from(cluster.addrs[behind], &expected).await;
    cluster.stop_all().await;
    // The follower's own disk now holds the leader's snapshot (or a later one of its own).
    let (snapshot, _) = on_disk(&cluster.dir(behind));
    assert!(snapshot.0 >= leader_base.index.0, "{snapshot}");
    let size = std::fs::metadata(cluster.dir(behind).join("snapshot"))
        .unwrap()
        .len();
    assert!(
        size > MAX_FRAME_BYTES as u64,
        "a {size}-byte snapshot fits a frame"
    );
}

/// The last log index in a stopped node's directory.
fn on_disk_last(dir: &Path) -> u64 {
    let log = replay_log(&dir.join("log"), &std::fs::read(dir.join("log")).unwrap()).unwrap();
    log.base.index.0 + log.log.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_snapshot_file_stops_the_node_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path(), 9);
    for i in 0..3 {
        cluster.start(i).await;
    }
    cluster.leader().await;
    let mut client = KvClient::new(cluster.addrs.clone(), CLUSTER);
    write(&mut client, "a", 30, 0).await;
    cluster.stop_all().await;
    let path = cluster.dir(0).join("snapshot");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let err = start(cluster.configs[0].clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "{}: corrupt at byte offset 0: snapshot checksum mismatch",
            path.display()
        )),
        "{err}"
    );
}
