//! In-process 3-node clusters on loopback: election, replication through the KV client, and
//! the acceptor closing bad connections while it keeps serving.

mod common;

use ballot_core::raft::Message;
use ballot_core::ServerId;
use ballot_node::client::{status, KvClient, KvPipeline};
use ballot_node::codec::{encode_into, Caller, Frame, Hello, MAX_FRAME_BYTES};
use ballot_node::kv::{Consistency, KvOp, KvResult};
use ballot_node::raft_node::{start, RunningNode};
use ballot_node::runtime::SnapshotPolicy;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const CLUSTER: &str = "it";

async fn start_cluster(dir: &std::path::Path, seed: u64) -> (Vec<RunningNode>, Vec<SocketAddr>) {
    let configs = common::cluster_configs(dir, seed, CLUSTER, SnapshotPolicy::default());
    let addrs = configs.iter().map(|c| c.listen).collect();
    let mut nodes = Vec::new();
    for config in configs {
        nodes.push(start(config).await.expect("node starts"));
    }
    (nodes, addrs)
}

async fn wait_for_leader(nodes: &[RunningNode]) -> ServerId {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leaders: Vec<_> = nodes
            .iter()
            .map(|n| n.status.get())
            .filter(|s| s.role == "leader")
            .collect();
        if let [one] = leaders.as_slice() {
            return one.id;
        }
        assert!(Instant::now() < deadline, "no single leader within 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_and_replicate() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 7).await;
    tracing::info!("--- a leader is elected");
    let leader = wait_for_leader(&nodes).await;
    tracing::info!("--- writes through any server reach the leader and are readable");
    let mut client = KvClient::new(addrs.clone(), CLUSTER);
    for i in 0..20 {
        client
            .put(&format!("k{i}"), &format!("v{i}"))
            .await
            .unwrap();
    }
    assert_eq!(client.get("k7").await.unwrap().as_deref(), Some("v7"));
    assert!(client.delete("k7").await.unwrap());
    assert_eq!(client.get("k7").await.unwrap(), None);
    let st = status(
        addrs[(leader.0 - 1) as usize],
        CLUSTER,
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(st.role, "leader");
    tracing::info!("--- every follower's log catches up");
    let deadline = Instant::now() + Duration::from_secs(5);
    while nodes.iter().any(|n| n.status.get().commit < st.commit) {
        assert!(Instant::now() < deadline, "followers did not catch up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in &nodes {
        n.shutdown();
    }
    for n in nodes {
        n.wait().await.unwrap();
    }
}

/// One pipelined connection with 100 puts in flight while the leader stops: every ticket
/// resolves to its own put's result (those in flight at the stop are sent again to the new
/// leader with their numbers, and with the session window a retry of one after a later one
/// applied is a duplicate, not stale), and every value reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_keeps_its_requests_across_a_leader_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 23).await;
    let leader = wait_for_leader(&nodes).await;
    let mut pipe = KvPipeline::new(addrs.clone(), CLUSTER);
    let mut tickets = Vec::new();
    for i in 0..100 {
        let op = KvOp::Put {
            key: format!("k{i}"),
            value: format!("v{i}"),
        };
        tickets.push(pipe.submit(op).await.unwrap());
        if i == 50 {
            nodes[(leader.0 - 1) as usize].shutdown();
        }
    }
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(ticket.await.unwrap(), KvResult::Done, "put {i}");
    }
    // The stopped node's status still says leader: the survivors elect another.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !nodes
        .iter()
        .any(|n| n.status.get().id != leader && n.status.get().role == "leader")
    {
        assert!(Instant::now() < deadline, "no new leader within 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut reads = Vec::new();
    for i in 0..100 {
        reads.push(
            pipe.submit_read(&format!("k{i}"), Consistency::Linearizable)
                .await
                .unwrap(),
        );
    }
    for (i, read) in reads.into_iter().enumerate() {
        assert_eq!(read.await.unwrap(), KvResult::Value(Some(format!("v{i}"))));
    }
    assert!(pipe.delete("k0").await.unwrap());
    assert_eq!(
        pipe.get("k0", Consistency::Linearizable).await.unwrap(),
        None
    );
    for n in &nodes {
        n.shutdown();
    }
}

async fn expect_closed(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
        .await
        .expect("server closes the connection")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

fn frame(f: &Frame<Message>) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_into(f, &mut buf).unwrap();
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connections_are_closed_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, addrs) = start_cluster(dir.path(), 11).await;
    wait_for_leader(&nodes).await;
    let target = addrs[0];
    let garbage = expect_closed(target, &[0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef]).await;
    assert!(garbage.contains("garbage"), "{garbage:?}");
    let oversized = expect_closed(target, &((MAX_FRAME_BYTES as u32 + 1).to_be_bytes())).await;
    assert!(oversized.contains("oversized"), "{oversized:?}");
    let unknown = expect_closed(
        target,
        &frame(&Frame::Hello(Hello::new(
            CLUSTER,
            Caller::Peer(ServerId(42)),
        ))),
    )
    .await;
    assert!(unknown.contains("unknown server id 42"), "{unknown:?}");
    let wrong = expect_closed(
        target,
        &frame(&Frame::Hello(Hello::new("other", Caller::Client))),
    )
    .await;
    assert!(wrong.contains("wrong cluster id"), "{wrong:?}");
    tracing::info!("--- the node still serves clients and peers");
    let mut client = KvClient::new(vec![target], CLUSTER);
    client.timeout = Duration::from_secs(5);
    let st = status(target, CLUSTER, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(st.term >= 1);
    let mut all = KvClient::new(addrs.clone(), CLUSTER);
    all.put("after", "bad-connections").await.unwrap();
    assert_eq!(
        all.get("after").await.unwrap().as_deref(),
        Some("bad-connections")
    );
    for n in &nodes {
        n.shutdown();
    }
}
