//! A hostile network and operator against one in-process node: forged peer messages, a flood of
//! connections, random bytes through the frame decoder, a second process on the data directory.
//! Each test is the fault probe's finding that it pins (see `docs/implementation.md` § Limits).
//! The node runs `--insecure-plaintext`, which is what a peer (or a stranger past TLS) reaches:
//! these limits hold behind TLS too; `tls.rs` tests what TLS adds.

use ballot_core::raft::Message;
use ballot_core::{Entry, LogIndex, ServerId, Term};
use ballot_node::client::status;
use ballot_node::codec::{
    decode, encode_into, read_frame, Caller, Frame, FrameError, Hello, NodeStatus,
};
use ballot_node::kv::{ClientId, Consistency, KvOp, KvOutcome, KvResult, Session};
use ballot_node::raft_node::{start, RaftNodeConfig, RunningNode};
use ballot_node::runtime::{NodeError, SnapshotPolicy, Timing};
use ballot_node::server::ServerLimits;
use ballot_node::storage::StorageError;
use ballot_node::tls::NodeSecurity;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const CLUSTER: &str = "hostile";

/// Node 1 of a three-server configuration whose other two never run, with an election timeout
/// of an hour: it stays a follower in term 0 unless a message moves it, so every change of term
/// in these tests is one a message caused.
fn quiet_node(dir: &Path, limits: ServerLimits) -> RaftNodeConfig {
    let listeners: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let peers: BTreeMap<ServerId, SocketAddr> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (ServerId(i as u64 + 1), l.local_addr().unwrap()))
        .collect();
    RaftNodeConfig {
        id: ServerId(1),
        cluster_id: CLUSTER.into(),
        listen: peers[&ServerId(1)],
        peers,
        dir: dir.to_owned(),
        timing: Timing {
            election_timeout_ms_min: 3_600_000,
            election_timeout_ms_max: 3_600_001,
            heartbeat_ms: 1_000,
        },
        seed: 1,
        leader_noop: true,
        // Plain Raft's rule, which the tests read: a RequestVote's newer term is adopted.
        pre_vote: false,
        limits,
        recover_missing_hard_state: false,
        security: NodeSecurity::InsecurePlaintext,
        snapshots: SnapshotPolicy::default(),
    }
}

fn frames(frames: &[Frame<Message>]) -> Vec<u8> {
    let mut buf = Vec::new();
    for f in frames {
        encode_into(f, &mut buf).unwrap();
    }
    buf
}

fn peer_hello(id: u64) -> Frame<Message> {
    Frame::Hello(Hello::new(CLUSTER, Caller::Peer(ServerId(id))))
}

fn request_vote(term: u64) -> Frame<Message> {
    Frame::Peer(Message::RequestVote {
        term: Term(term),
        last_log_term: Term(0),
        last_log_index: LogIndex(0),
    })
}

/// Writes `bytes` on a fresh connection and returns what the server wrote before closing it.
async fn closed_after(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

async fn node_status(node: &RunningNode) -> NodeStatus {
    status(node.local_addr, CLUSTER, Duration::from_secs(2))
        .await
        .expect("the node answers status requests")
}

async fn stop(node: RunningNode) {
    node.shutdown();
    node.wait().await.unwrap();
}

/// The fault probe: one `RequestVote` with term 2^64-1 from a connection claiming to be peer 2
/// was persisted, and the next election's `term + 1` overflowed. It is refused before the node
/// loop, the connection is closed with the reason, the term is unchanged, and the node keeps
/// serving peers and clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_request_vote_with_term_u64_max_is_refused_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(quiet_node(dir.path(), ServerLimits::default()))
        .await
        .unwrap();
    let addr = node.local_addr;
    assert_eq!(node_status(&node).await.term, 0);

    let said = closed_after(addr, &frames(&[peer_hello(2), request_vote(u64::MAX)])).await;
    assert!(
        said.contains("invalid message: RequestVote.term = 18446744073709551615: above MAX_TERM"),
        "{said:?}"
    );
    // What a message does, it does before the next status: the refused one did nothing.
    assert_eq!(node_status(&node).await.term, 0);
    assert_eq!(node.status.get().term, 0);

    // A well-formed message from the same claimed peer still moves the node: it keeps serving.
    let mut peer = TcpStream::connect(addr).await.unwrap();
    peer.write_all(&frames(&[peer_hello(2), request_vote(7)]))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while node_status(&node).await.term != 7 {
        assert!(
            Instant::now() < deadline,
            "the valid RequestVote was not handled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(peer);
    stop(node).await;

    // And term 7, not 2^64-1, is what was persisted.
    let node = start(quiet_node(dir.path(), ServerLimits::default()))
        .await
        .unwrap();
    assert_eq!(node_status(&node).await.term, 7);
    stop(node).await;
}

/// A connection claiming to be this server, or a server not in the configuration, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_hello_must_name_another_configured_server() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(quiet_node(dir.path(), ServerLimits::default()))
        .await
        .unwrap();
    let own = closed_after(node.local_addr, &frames(&[peer_hello(1), request_vote(3)])).await;
    assert!(own.contains("server id 1 is this server's own"), "{own:?}");
    let unknown = closed_after(node.local_addr, &frames(&[peer_hello(4), request_vote(3)])).await;
    assert!(unknown.contains("unknown server id 4"), "{unknown:?}");
    assert_eq!(node_status(&node).await.term, 0);
    stop(node).await;
}

/// Connections beyond the cap are closed at accept with a reason; a freed slot is usable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_at_accept() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServerLimits {
        max_connections: 3,
        ..ServerLimits::default()
    };
    let node = start(quiet_node(dir.path(), limits)).await.unwrap();
    // Three connections that say nothing hold every slot (until the hello timeout, 5 s).
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(node.local_addr).await.unwrap());
    }
    let started = Instant::now();
    let said = closed_after(node.local_addr, &[]).await;
    assert!(said.contains("too many connections (limit 3)"), "{said:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed at accept"
    );

    held.pop();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match status(node.local_addr, CLUSTER, Duration::from_secs(1)).await {
            Ok(st) => break assert_eq!(st.id, ServerId(1)),
            Err(e) => assert!(Instant::now() < deadline, "no slot freed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(held);
    stop(node).await;
}

/// Two processes on one data directory ran side by side; the second now fails to start, naming
/// the directory, until the first has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_one_data_directory_fails_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(quiet_node(dir.path(), ServerLimits::default()))
        .await
        .unwrap();
    let err = start(quiet_node(dir.path(), ServerLimits::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Storage(StorageError::Locked { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    stop(first).await;
    let again = start(quiet_node(dir.path(), ServerLimits::default()))
        .await
        .unwrap();
    stop(again).await;
}

/// SplitMix64: a small seeded generator, so the fuzz run below needs no dependency and
/// reproduces from its seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Prints the seed and case of a failing fuzz run, so it can be reproduced.
struct ReproduceOnPanic {
    seed: u64,
    case: u64,
}

impl Drop for ReproduceOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "frame fuzz failed at case {}; reproduce: BALLOT_FUZZ_SEED={:#x} cargo test \
                 --release -p ballot-node --test hostile random_byte_strings",
                self.case, self.seed
            );
        }
    }
}

/// Well-formed frames of every kind, for the fuzzer to mutate.
fn corpus() -> Vec<Vec<u8>> {
    let samples: Vec<Frame<Message>> = vec![
        Frame::Hello(Hello::new(CLUSTER, Caller::Client)),
        peer_hello(2),
        request_vote(3),
        Frame::Peer(Message::AppendEntries {
            term: Term(4),
            prev_log_index: LogIndex(2),
            prev_log_term: Term(3),
            entries: vec![
                Entry::noop(Term(4)),
                Entry::command(Term(4), b"xyz".to_vec()),
            ],
            commit: LogIndex(3),
            round: 7,
        }),
        Frame::Peer(Message::AppendEntriesResponse {
            term: Term(4),
            success: true,
            match_index: LogIndex(4),
            round: 7,
        }),
        Frame::Peer(Message::RequestVoteResponse {
            term: Term(4),
            granted: true,
        }),
        Frame::Request {
            id: 9,
            op: KvOp::Get { key: "k".into() },
        },
        Frame::Response {
            id: 9,
            outcome: KvOutcome::Ok(KvResult::Value(Some("v".into()))),
        },
        Frame::Request {
            id: 10,
            op: KvOp::Windowed {
                session: Session {
                    client: ClientId(3),
                    seq: 7,
                },
                first_outstanding: 5,
                op: Box::new(KvOp::Delete { key: "k".into() }),
            },
        },
        Frame::StatusRequest,
        Frame::Goodbye {
            reason: "bye".into(),
        },
        Frame::Read {
            id: 11,
            key: "k".into(),
            consistency: Consistency::Sequential,
        },
    ];
    samples
        .iter()
        .map(|f| frames(std::slice::from_ref(f)))
        .collect()
}

/// One random byte string: pure noise, a consistent length prefix over noise, or a real frame
/// with a few bytes changed, inserted or cut (with its prefix fixed up half the time), so that
/// most cases get past the length check into the decoder.
fn random_bytes(rng: &mut SplitMix64, corpus: &[Vec<u8>]) -> Vec<u8> {
    match rng.below(3) {
        0 => (0..rng.below(48)).map(|_| rng.next() as u8).collect(),
        1 => {
            let len = rng.below(40) as usize;
            let mut bytes = (len as u32).to_be_bytes().to_vec();
            bytes.extend((0..len).map(|_| rng.next() as u8));
            bytes
        }
        _ => {
            let mut bytes = corpus[rng.below(corpus.len() as u64) as usize].clone();
            for _ in 0..1 + rng.below(3) {
                let at = 4 + rng.below(bytes.len() as u64 - 3) as usize;
                match rng.below(4) {
                    0 if at < bytes.len() => bytes[at] = rng.next() as u8,
                    1 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
                    2 => bytes.insert(at.min(bytes.len()), rng.next() as u8),
                    _ => bytes.truncate(at),
                }
            }
            if rng.below(2) == 0 {
                let len = (bytes.len() - 4) as u32;
                bytes[..4].copy_from_slice(&len.to_be_bytes());
            }
            bytes
        }
    }
}

/// 10^6 random byte strings through the frame reader and decoder: never a panic, every failure
/// an error value with a message, and every frame that decodes re-encodes to itself.
#[test]
fn random_byte_strings_through_the_frame_decoder_are_values_never_panics() {
    let seed = std::env::var("BALLOT_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0xBA11_07F0);
    let mut guard = ReproduceOnPanic { seed, case: 0 };
    let mut rng = SplitMix64(seed);
    let corpus = corpus();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (mut decoded, mut refused) = (0u64, 0u64);
    rt.block_on(async {
        let mut body = Vec::new();
        for case in 0..1_000_000 {
            guard.case = case;
            let bytes = random_bytes(&mut rng, &corpus);
            let mut reader = &bytes[..];
            loop {
                match read_frame::<Message, _>(&mut reader, &mut body).await {
                    Ok(frame) => {
                        decoded += 1;
                        if let Frame::Peer(msg) = &frame {
                            let _ = msg.validate().map_err(|e| e.to_string());
                        }
                        let again = frames(std::slice::from_ref(&frame));
                        assert_eq!(decode::<Message>(&again[4..]).unwrap(), frame);
                    }
                    Err(FrameError::Closed) => break, // the string ended between frames
                    Err(e) => {
                        refused += 1;
                        assert!(!e.to_string().is_empty());
                        break;
                    }
                }
            }
        }
    });
    // Not vacuous: both outcomes occur often (the default seed decodes about 69 k frames).
    assert!(
        decoded > 50_000 && refused > 500_000,
        "{decoded} decoded, {refused} refused"
    );
}
