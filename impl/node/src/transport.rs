//! The `Transport` trait and its TCP implementation's outbound side: one writer task per peer
//! with a bounded queue, reconnecting with exponential backoff.
//!
//! Connections are one-way: a server dials each peer and only writes on that connection; what
//! peers send arrives on connections they dialed (accepted by [`crate::server`]). So a restart
//! on either side needs no coordination, and a dead connection costs one backoff.
//!
//! Under TLS ([`NodeSecurity::Tls`]) the dialer checks that the acceptor's certificate names the
//! peer it dialed and shows its own, from which the acceptor takes this server's id.

use crate::codec::{encode_into, encode_peer, Caller, Frame, Hello};
use crate::mailbox::{mailbox, Receiver, SendError, Sender};
use crate::tls::{NodeSecurity, ReadHalf, WriteHalf};
use ballot_core::ServerId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Messages queued per peer before new ones are dropped (the protocol retransmits).
pub const PEER_QUEUE_CAPACITY: usize = 4096;
/// Messages queued from all peers towards the node loop.
pub const INBOUND_QUEUE_CAPACITY: usize = 16 * 1024;
/// First reconnect delay; doubles up to [`RECONNECT_BACKOFF_MAX`].
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(1);
/// Longest reconnect delay: bounds how long a restarted peer waits to hear from us.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(50);
/// A writer stops adding frames to one write past this many bytes: half a frame's limit, so a
/// batch stays one bounded buffer however long the queue.
pub const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// Messages kept queued while a peer is unreachable; older ones are dropped (heartbeats
/// supersede each other, and the protocol resends fresh state once connected).
pub const QUEUE_KEPT_WHILE_DISCONNECTED: usize = 64;

/// How the runtime talks to peers. A controlled implementation (tests, conformance) can hold,
/// drop, reorder or duplicate messages.
pub trait Transport<M>: Send + 'static {
    /// Queues `msg` for `to`; best effort, never blocks.
    fn send(&mut self, to: ServerId, msg: M);
    /// The next message from a peer; `None` once the transport is shut down.
    /// Must be cancel-safe (the runtime polls it in `select!`).
    fn recv(&mut self) -> impl Future<Output = Option<(ServerId, M)>> + Send;
}

/// The TCP transport: outbound queues per peer, and the inbound queue the acceptor fills.
#[derive(Debug)]
pub struct TcpTransport<M> {
    outbound: BTreeMap<ServerId, Sender<M>>,
    inbound: Receiver<(ServerId, M)>,
    dropped: u64,
}

impl<M: Serialize + Send + 'static> TcpTransport<M> {
    /// Starts a writer task per peer, dialing with `security`; `inbound` is the receiving end
    /// the acceptor feeds.
    pub fn start(
        id: ServerId,
        cluster_id: &str,
        peers: &BTreeMap<ServerId, SocketAddr>,
        security: &NodeSecurity,
        inbound: Receiver<(ServerId, M)>,
    ) -> Self {
        let mut outbound = BTreeMap::new();
        for (&peer, &addr) in peers.iter().filter(|(p, _)| **p != id) {
            let (tx, rx) = mailbox(PEER_QUEUE_CAPACITY);
            let hello = Hello::new(cluster_id, Caller::Peer(id));
            let dial = Dial {
                id,
                peer,
                addr,
                security: security.clone(),
            };
            tokio::spawn(peer_writer(dial, hello, rx));
            outbound.insert(peer, tx);
        }
        TcpTransport {
            outbound,
            inbound,
            dropped: 0,
        }
    }
}

impl<M> Drop for TcpTransport<M> {
    fn drop(&mut self) {
        // Writer tasks exit once their queue is closed and drained.
        for tx in self.outbound.values() {
            tx.close();
        }
    }
}

impl<M: Serialize + Send + 'static> Transport<M> for TcpTransport<M> {
    fn send(&mut self, to: ServerId, msg: M) {
        let Some(tx) = self.outbound.get(&to) else {
            tracing::warn!(to = %to, "send to unknown server dropped");
            return;
        };
        match tx.send(msg) {
            Ok(()) => {}
            Err(SendError::Full(_)) => {
                self.dropped += 1;
                tracing::debug!(to = %to, dropped = self.dropped, "peer queue full, message dropped");
            }
            Err(SendError::Closed(_)) => {}
        }
    }

    async fn recv(&mut self) -> Option<(ServerId, M)> {
        self.inbound.recv().await
    }
}

/// Where and how one peer writer dials.
struct Dial {
    id: ServerId,
    peer: ServerId,
    addr: SocketAddr,
    security: NodeSecurity,
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS handshake: {0}")]
    Handshake(String),
}

impl Dial {
    /// A connection to the peer, secured.
    async fn connect(&self) -> Result<(ReadHalf, WriteHalf), DialError> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(DialError::Connect)?;
        let _ = stream.set_nodelay(true);
        self.security
            .dial(self.peer, stream)
            .await
            .map_err(|e| DialError::Handshake(e.to_string()))
    }
}

/// Dials the peer, says hello, and writes queued messages in batches until the queue closes.
async fn peer_writer<M: Serialize>(dial: Dial, hello: Hello, mut queue: Receiver<M>) {
    let Dial { id, peer, addr, .. } = dial;
    let mut backoff = RECONNECT_BACKOFF_MIN;
    // A failed handshake (a misconfiguration or an impostor) is logged at `warn` once per
    // distinct error until a connection succeeds, then at `debug`: retried every backoff, it
    // would flood the log. A refused TCP connect is routine (the peer is down): `debug`.
    let mut warned: Option<String> = None;
    let mut buf = Vec::new();
    // A message taken from the queue but not yet written survives a reconnect.
    let mut carry: Option<M> = None;
    'connect: loop {
        if queue.is_empty() && carry.is_none() {
            // Dial only when there is something to say; an idle peer costs nothing.
            match queue.recv().await {
                Some(msg) => carry = Some(msg),
                None => return,
            }
        }
        let (mut reader, mut stream) = match dial.connect().await {
            Ok(halves) => halves,
            Err(error) => {
                match error {
                    DialError::Handshake(error) if warned.as_ref() != Some(&error) => {
                        tracing::warn!(node = %id, peer = %peer, %addr, %error, "TLS handshake with peer failed");
                        warned = Some(error);
                    }
                    error => {
                        tracing::debug!(node = %id, peer = %peer, %addr, %error, ?backoff, "cannot connect to peer")
                    }
                }
                if queue_closed_during(&mut queue, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
                continue 'connect;
            }
        };
        buf.clear();
        encode_into(&Frame::<M>::Hello(hello.clone()), &mut buf).expect("hello encodes");
        if let Err(e) = write_flushed(&mut stream, &buf).await {
            tracing::debug!(node = %id, peer = %peer, error = %e, "hello failed");
            continue 'connect;
        }
        warned = None;
        tracing::debug!(node = %id, peer = %peer, %addr, "connected");
        backoff = RECONNECT_BACKOFF_MIN;
        loop {
            let first = match carry.take() {
                Some(msg) => msg,
                None => {
                    // The peer only reads this connection (at most a goodbye reason comes back
                    // before it closes), so end-of-stream or an error while idle means the peer
                    // is gone: its kernel closed the socket when the process died. Drop the
                    // connection now. Otherwise the next message (a RequestVote, which nothing
                    // retransmits before the next election timeout) would be written into the
                    // dead socket and lost, and an election would need another round.
                    let mut probe = [0u8; 256];
                    tokio::select! {
                        msg = queue.recv() => match msg {
                            Some(msg) => msg,
                            None => return,
                        },
                        read = reader.read(&mut probe) => {
                            if matches!(read, Ok(0) | Err(_)) {
                                tracing::debug!(node = %id, peer = %peer, "peer closed the connection");
                                continue 'connect;
                            }
                            continue;
                        }
                    }
                }
            };
            buf.clear();
            let mut batch = Some(first);
            while let Some(msg) = batch.take().or_else(|| queue.try_recv()) {
                // A message above a frame (a snapshot) goes as consecutive chunks in this batch.
                if let Err(e) = encode_peer(&msg, &mut buf) {
                    tracing::error!(node = %id, peer = %peer, error = %e, "message not sent");
                }
                if buf.len() > WRITE_BATCH_BYTES {
                    break;
                }
            }
            if let Err(e) = write_flushed(&mut stream, &buf).await {
                // The batch is lost with the connection; Raft retransmits on the next heartbeat.
                tracing::debug!(node = %id, peer = %peer, error = %e, "write failed, reconnecting");
                continue 'connect;
            }
        }
    }
}

/// Writes `bytes` and flushes: a TLS stream may hold written bytes until flushed.
async fn write_flushed(stream: &mut WriteHalf, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Sleeps for `delay` while dropping messages that pile up (they would be stale); true if
/// the queue closed meanwhile.
async fn queue_closed_during<M>(queue: &mut Receiver<M>, delay: Duration) -> bool {
    tokio::time::sleep(delay).await;
    while queue.len() > QUEUE_KEPT_WHILE_DISCONNECTED {
        if queue.try_recv().is_none() {
            break;
        }
    }
    queue.is_closed()
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;
    use crate::codec::read_frame;
    use tokio::net::TcpListener;

    /// Reads the hello and the first peer message of a fresh connection.
    async fn first_message(listener: &TcpListener) -> u32 {
        let (mut conn, _) = tokio::time::timeout(Duration::from_secs(2), listener.accept())
            .await
            .expect("the writer connects")
            .unwrap();
        let mut body = Vec::new();
        assert!(matches!(
            read_frame::<u32, _>(&mut conn, &mut body).await.unwrap(),
            Frame::Hello(_)
        ));
        match read_frame::<u32, _>(&mut conn, &mut body).await.unwrap() {
            Frame::Peer(m) => m,
            _ => panic!("expected a peer message"),
        }
    }

    /// A peer process dies and restarts on its address while the connection to it is idle: the
    /// first message after that must reach the new process, not vanish into the dead socket
    /// (this cost a lost RequestVote and an extra election round per failover).
    #[tokio::test]
    async fn the_first_message_after_a_peer_restart_reaches_the_new_process() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = BTreeMap::from([
            (ServerId(1), "127.0.0.1:9".parse().unwrap()),
            (ServerId(2), addr),
        ]);
        let (_inbound_tx, inbound_rx) = mailbox(8);
        let mut transport = TcpTransport::<u32>::start(
            ServerId(1),
            "c",
            &peers,
            &NodeSecurity::InsecurePlaintext,
            inbound_rx,
        );
        transport.send(ServerId(2), 7);
        assert_eq!(first_message(&listener).await, 7);

        // The peer dies (its kernel closes the accepted socket and the listener) and restarts.
        drop(listener);
        let listener = TcpListener::bind(addr).await.unwrap();
        // The connection is idle meanwhile; the writer notices the close by itself.
        tokio::time::sleep(Duration::from_millis(100)).await;
        transport.send(ServerId(2), 8);
        assert_eq!(first_message(&listener).await, 8);
    }
}
