//! In-process nodes over mutual TLS: a cluster elects and replicates; a peer's id is the one its
//! certificate names, whatever its hello claims; no certificate, another CA's certificate or
//! plaintext cannot act as a peer; a dialer refuses an acceptor that is not the peer it dialed;
//! TLS handshakes hold connection slots. Each test has a positive control beside its refusal,
//! so a check that stopped refusing would fail it.

use ballot_core::raft::Message;
use ballot_core::{LogIndex, ServerId, Term};
use ballot_node::client::{status, status_with, KvClient};
use ballot_node::codec::{encode_into, read_frame, Caller, Frame, FrameError, Hello};
use ballot_node::raft_node::{start, RaftNodeConfig, RunningNode};
use ballot_node::runtime::{SnapshotPolicy, Timing};
use ballot_node::server::ServerLimits;
use ballot_node::tls::{
    write_cluster_tls, CertAuthority, ClientSecurity, ClientTls, ClusterTlsFiles, NodeSecurity,
    NodeTls, ReadHalf, TlsFiles, WriteHalf,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const CLUSTER: &str = "tls";

fn free_addrs(n: usize) -> BTreeMap<ServerId, SocketAddr> {
    // Hold all listeners at once so the ports differ, then release them for the nodes.
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (ServerId(i as u64 + 1), l.local_addr().unwrap()))
        .collect()
}

/// A CA and certificates for servers 1..=n in `dir`.
fn pki(dir: &Path, n: u64) -> ClusterTlsFiles {
    write_cluster_tls(dir, (1..=n).map(ServerId)).unwrap()
}

fn node_tls(files: &ClusterTlsFiles, id: u64) -> NodeSecurity {
    NodeSecurity::Tls(NodeTls::load(ServerId(id), &files.nodes[&ServerId(id)]).unwrap())
}

/// A client trusting `ca`, showing `identity` if given.
fn client_tls(ca: &Path, identity: Option<&TlsFiles>) -> ClientSecurity {
    let identity = identity.map(|f| (f.cert.as_path(), f.key.as_path()));
    ClientSecurity::Tls(ClientTls::load(ca, identity).unwrap())
}

fn config(
    id: u64,
    peers: &BTreeMap<ServerId, SocketAddr>,
    dir: &Path,
    security: NodeSecurity,
) -> RaftNodeConfig {
    RaftNodeConfig {
        id: ServerId(id),
        cluster_id: CLUSTER.into(),
        peers: peers.clone(),
        listen: peers[&ServerId(id)],
        dir: dir.join(format!("n{id}")),
        timing: Timing::default(),
        seed: id,
        leader_noop: true,
        pre_vote: true,
        limits: ServerLimits::default(),
        recover_missing_hard_state: false,
        security,
        snapshots: SnapshotPolicy::default(),
    }
}

/// Node 1 of {1, 2, 3} with an election timeout of an hour and plain Raft's vote rule: its term
/// moves only when a message it accepted moves it.
fn quiet(dir: &Path, security: NodeSecurity, limits: ServerLimits) -> RaftNodeConfig {
    let peers = free_addrs(3);
    RaftNodeConfig {
        timing: Timing {
            election_timeout_ms_min: 3_600_000,
            election_timeout_ms_max: 3_600_001,
            heartbeat_ms: 1_000,
        },
        pre_vote: false,
        limits,
        ..config(1, &peers, dir, security)
    }
}

fn frames(frames: &[Frame<Message>]) -> Vec<u8> {
    let mut buf = Vec::new();
    for f in frames {
        encode_into(f, &mut buf).unwrap();
    }
    buf
}

/// A peer hello claiming `id`, then a `RequestVote` for term 7.
fn hello_and_vote(id: u64) -> Vec<u8> {
    frames(&[
        Frame::Hello(Hello::new(CLUSTER, Caller::Peer(ServerId(id)))),
        Frame::Peer(Message::RequestVote {
            term: Term(7),
            last_log_term: Term(0),
            last_log_index: LogIndex(0),
        }),
    ])
}

/// A connection to `addr` secured with `security`, with `bytes` written on it.
async fn open_and_send(
    addr: SocketAddr,
    security: &ClientSecurity,
    bytes: &[u8],
) -> (ReadHalf, WriteHalf) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = security.secure(stream).await.unwrap();
    write.write_all(bytes).await.unwrap();
    write.flush().await.unwrap();
    (read, write)
}

/// The first frame the server sends, or why none came, within 5 s.
async fn answer(read: &mut ReadHalf) -> Result<Frame<Message>, FrameError> {
    tokio::time::timeout(
        Duration::from_secs(5),
        read_frame::<Message, _>(read, &mut Vec::new()),
    )
    .await
    .expect("the server answers or closes within 5 s")
}

async fn goodbye(read: &mut ReadHalf) -> String {
    match answer(read).await {
        Ok(Frame::Goodbye { reason }) => reason,
        other => panic!("expected a goodbye, got {other:?}"),
    }
}

async fn wait_for_term(node: &RunningNode, term: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.status.get().term != term {
        assert!(
            Instant::now() < deadline,
            "term {} is not {term} within 5 s",
            node.status.get().term
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn stop(node: RunningNode) {
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_mutual_tls_elect_and_replicate() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(dir.path(), 3);
    let peers = free_addrs(3);
    let mut nodes = Vec::new();
    for id in 1..=3 {
        let config = config(id, &peers, dir.path(), node_tls(&files, id));
        nodes.push(start(config).await.unwrap());
    }
    let addrs: Vec<SocketAddr> = peers.values().copied().collect();
    let security = client_tls(&files.ca, None);
    let mut client = KvClient::with_security(addrs.clone(), CLUSTER, security.clone());
    for i in 0..20 {
        client
            .put(&format!("k{i}"), &format!("v{i}"))
            .await
            .unwrap();
    }
    assert_eq!(client.get("k7").await.unwrap().as_deref(), Some("v7"));
    assert!(client.delete("k7").await.unwrap());
    assert_eq!(client.get("k7").await.unwrap(), None);

    let leaders: Vec<_> = nodes
        .iter()
        .map(|n| n.status.get())
        .filter(|s| s.role == "leader")
        .collect();
    let [leader] = leaders.as_slice() else {
        panic!("one leader expected: {leaders:?}");
    };
    let st = status_with(
        peers[&leader.id],
        CLUSTER,
        &security,
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while nodes.iter().any(|n| n.status.get().commit < st.commit) {
        assert!(Instant::now() < deadline, "followers did not catch up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in nodes {
        stop(n).await;
    }
}

/// The forgery TLS exists to stop: a connection presenting server 2's certificate says hello
/// as server 3. Refused with both ids named, and its message never reaches the node; the same
/// certificate saying hello as 2 is peer 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_server_2_with_a_hello_claiming_3_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(dir.path(), 3);
    let node = start(quiet(
        dir.path(),
        node_tls(&files, 1),
        ServerLimits::default(),
    ))
    .await
    .unwrap();
    let as_two = client_tls(&files.ca, Some(&files.nodes[&ServerId(2)]));

    let (mut read, _write) = open_and_send(node.local_addr, &as_two, &hello_and_vote(3)).await;
    assert_eq!(
        goodbye(&mut read).await,
        "hello claims server 3, the connection has a certificate of server 2"
    );
    assert_eq!(
        node.status.get().term,
        0,
        "the forged vote request moved the node"
    );

    let (_read, _write) = open_and_send(node.local_addr, &as_two, &hello_and_vote(2)).await;
    wait_for_term(&node, 7).await;
    stop(node).await;
}

/// TLS without a client certificate is a client: it gets its status, but a peer hello on it
/// is refused before its message reaches the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_a_client_certificate_cannot_act_as_a_peer() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(dir.path(), 3);
    let node = start(quiet(
        dir.path(),
        node_tls(&files, 1),
        ServerLimits::default(),
    ))
    .await
    .unwrap();
    let anonymous = client_tls(&files.ca, None);

    let (mut read, _write) = open_and_send(node.local_addr, &anonymous, &hello_and_vote(2)).await;
    assert_eq!(
        goodbye(&mut read).await,
        "hello claims server 2, the connection has no client certificate"
    );
    assert_eq!(node.status.get().term, 0);

    let st = status_with(node.local_addr, CLUSTER, &anonymous, Duration::from_secs(2))
        .await
        .expect("a client needs no certificate");
    assert_eq!(st.id, ServerId(1));
    stop(node).await;
}

/// Certificates of another CA: a client certificate for server 2 is refused in the handshake
/// (no frame of it is read), and a node holding one is not believed by clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_signed_by_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(dir.path(), 3);
    let node = start(quiet(
        dir.path(),
        node_tls(&files, 1),
        ServerLimits::default(),
    ))
    .await
    .unwrap();

    let rogue_dir = tempfile::tempdir().unwrap();
    let rogue = CertAuthority::new("rogue").unwrap();
    let rogue_two = TlsFiles {
        cert: rogue_dir.path().join("node2-cert.pem"),
        key: rogue_dir.path().join("node2-key.pem"),
        ca: rogue_dir.path().join("ca.pem"),
    };
    rogue
        .issue_server(ServerId(2))
        .unwrap()
        .write(&rogue_two.cert, &rogue_two.key)
        .unwrap();
    std::fs::write(&rogue_two.ca, rogue.cert_pem()).unwrap();

    // TLS 1.3: the client's side of the handshake ends before the server has checked its
    // certificate, so the refusal arrives as an alert on the first read.
    let forger = client_tls(&files.ca, Some(&rogue_two));
    let (mut read, _write) = open_and_send(node.local_addr, &forger, &hello_and_vote(2)).await;
    let refused = answer(&mut read).await.unwrap_err().to_string();
    assert!(refused.contains("UnknownCA"), "{refused}");
    assert_eq!(node.status.get().term, 0);

    // A node whose certificate the cluster's CA did not sign cannot answer a client.
    let other_dir = tempfile::tempdir().unwrap();
    let other = pki(other_dir.path(), 1);
    let impostor = start(quiet(
        other_dir.path(),
        node_tls(&other, 1),
        ServerLimits::default(),
    ))
    .await
    .unwrap();
    let client = client_tls(&files.ca, None);
    let err = status_with(
        impostor.local_addr,
        CLUSTER,
        &client,
        Duration::from_secs(2),
    )
    .await
    .unwrap_err()
    .to_string();
    // Both CAs are named alike, so webpki finds the issuer by name and fails its signature.
    assert!(err.contains("invalid peer certificate"), "{err}");
    // The positive control: the same client believes the real node.
    status_with(node.local_addr, CLUSTER, &client, Duration::from_secs(2))
        .await
        .unwrap();
    stop(impostor).await;
    stop(node).await;
}

/// Plaintext to a TLS node: the hello and the vote request are never read as frames, and a
/// plaintext client is told the node speaks TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_a_tls_node_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(dir.path(), 3);
    let node = start(quiet(
        dir.path(),
        node_tls(&files, 1),
        ServerLimits::default(),
    ))
    .await
    .unwrap();
    let (mut read, _write) = open_and_send(
        node.local_addr,
        &ClientSecurity::InsecurePlaintext,
        &hello_and_vote(2),
    )
    .await;
    let refused = answer(&mut read).await.unwrap_err().to_string();
    assert!(refused.contains("the other side uses TLS"), "{refused}");
    assert_eq!(node.status.get().term, 0);

    let err = status(node.local_addr, CLUSTER, Duration::from_secs(2))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the other side uses TLS"), "{err}");
    stop(node).await;
}

/// The dialer's half of mutual authentication: node 1 dials "server 2" and finds a server
/// whose certificate (from the cluster's own CA) names server 3. It aborts every handshake, so
/// the impostor never completes one, while node 1 keeps trying (it campaigns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialer_refuses_an_acceptor_that_is_not_the_peer_it_dialed() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(dir.path(), 3);
    let mut peers = free_addrs(3);
    let impostor = TcpListener::bind("127.0.0.1:0").await.unwrap();
    peers.insert(ServerId(2), impostor.local_addr().unwrap());
    let as_three = &files.nodes[&ServerId(3)];
    let certs = rustls::pki_types::pem::PemObject::pem_file_iter(&as_three.cert)
        .unwrap()
        .collect::<Result<Vec<rustls::pki_types::CertificateDer<'static>>, _>>()
        .unwrap();
    let key: rustls::pki_types::PrivateKeyDer<'static> =
        rustls::pki_types::pem::PemObject::from_pem_file(&as_three.key).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let attempts = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let (a, c) = (attempts.clone(), completed.clone());
    let impostor_task = tokio::spawn(async move {
        loop {
            let (stream, _) = impostor.accept().await.unwrap();
            a.fetch_add(1, Ordering::SeqCst);
            if acceptor.accept(stream).await.is_ok() {
                c.fetch_add(1, Ordering::SeqCst);
            }
        }
    });

    let node = start(config(1, &peers, dir.path(), node_tls(&files, 1)))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while attempts.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "node 1 never dialed server 2");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        completed.load(Ordering::SeqCst),
        0,
        "a handshake with the impostor completed"
    );
    impostor_task.abort();
    stop(node).await;
}

/// Connections in their TLS handshake hold connection slots: with a cap of 3, three silent
/// connections make the fourth be closed at accept (over TLS without a word); a freed slot
/// serves a client again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_in_the_tls_handshake_count_against_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(dir.path(), 3);
    let limits = ServerLimits {
        max_connections: 3,
        ..ServerLimits::default()
    };
    let node = start(quiet(dir.path(), node_tls(&files, 1), limits))
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(node.local_addr).await.unwrap());
    }
    let started = Instant::now();
    let mut fourth = TcpStream::connect(node.local_addr).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), fourth.read_to_end(&mut got))
        .await
        .expect("the fourth connection is closed at accept")
        .ok();
    assert!(got.is_empty(), "{got:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    held.pop();
    let client = client_tls(&files.ca, None);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match status_with(node.local_addr, CLUSTER, &client, Duration::from_secs(1)).await {
            Ok(st) => break assert_eq!(st.id, ServerId(1)),
            Err(e) => assert!(Instant::now() < deadline, "no slot freed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(held);
    stop(node).await;
}
