//! The `Transport` trait and its TCP implementation's outbound side: one writer task per peer
//! with a bounded queue, reconnecting with exponential backoff.
//!
//! Connections are one-way: a server dials each peer and only writes on that connection; what
//! peers send arrives on connections they dialed (accepted by [`crate::server`]). So a restart
//! on either side needs no coordination, and a dead connection costs one backoff.

use crate::codec::{encode_into, Caller, Frame, Hello};
use crate::mailbox::{mailbox, Receiver, SendError, Sender};
use ballot_core::ServerId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Messages queued per peer before new ones are dropped (the protocol retransmits).
pub const PEER_QUEUE_CAPACITY: usize = 4096;
/// Messages queued from all peers towards the node loop.
pub const INBOUND_QUEUE_CAPACITY: usize = 16 * 1024;
/// First reconnect delay; doubles up to [`RECONNECT_BACKOFF_MAX`].
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(1);
/// Longest reconnect delay: bounds how long a restarted peer waits to hear from us.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(50);

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
    /// Starts a writer task per peer; `inbound` is the receiving end the acceptor feeds.
    pub fn start(
        id: ServerId,
        cluster_id: &str,
        peers: &BTreeMap<ServerId, SocketAddr>,
        inbound: Receiver<(ServerId, M)>,
    ) -> Self {
        let mut outbound = BTreeMap::new();
        for (&peer, &addr) in peers.iter().filter(|(p, _)| **p != id) {
            let (tx, rx) = mailbox(PEER_QUEUE_CAPACITY);
            let hello = Hello::new(cluster_id, Caller::Peer(id));
            tokio::spawn(peer_writer(id, peer, addr, hello, rx));
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

/// Dials `addr`, says hello, and writes queued messages in batches until the queue closes.
async fn peer_writer<M: Serialize>(
    id: ServerId,
    peer: ServerId,
    addr: SocketAddr,
    hello: Hello,
    mut queue: Receiver<M>,
) {
    let mut backoff = RECONNECT_BACKOFF_MIN;
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
        let mut stream = match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(node = %id, peer = %peer, %addr, error = %e, ?backoff, "connect failed");
                if queue_closed_during(&mut queue, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
                continue 'connect;
            }
        };
        let _ = stream.set_nodelay(true);
        buf.clear();
        encode_into(&Frame::<M>::Hello(hello.clone()), &mut buf).expect("hello encodes");
        if let Err(e) = stream.write_all(&buf).await {
            tracing::debug!(node = %id, peer = %peer, error = %e, "hello failed");
            continue 'connect;
        }
        tracing::debug!(node = %id, peer = %peer, %addr, "connected");
        backoff = RECONNECT_BACKOFF_MIN;
        loop {
            let first = match carry.take() {
                Some(msg) => msg,
                None => match queue.recv().await {
                    Some(msg) => msg,
                    None => return,
                },
            };
            buf.clear();
            let mut batch = Some(first);
            while let Some(msg) = batch.take().or_else(|| queue.try_recv()) {
                let frame = Frame::Peer(msg);
                if let Err(e) = encode_into(&frame, &mut buf) {
                    tracing::error!(node = %id, peer = %peer, error = %e, "message not sent");
                }
                if buf.len() > 256 * 1024 {
                    break;
                }
            }
            if let Err(e) = stream.write_all(&buf).await {
                // The batch is lost with the connection; Raft retransmits on the next heartbeat.
                tracing::debug!(node = %id, peer = %peer, error = %e, "write failed, reconnecting");
                continue 'connect;
            }
        }
    }
}

/// Sleeps for `delay` while dropping messages that pile up (they would be stale); true if
/// the queue closed meanwhile.
async fn queue_closed_during<M>(queue: &mut Receiver<M>, delay: Duration) -> bool {
    tokio::time::sleep(delay).await;
    // Keep the newest few: heartbeats supersede each other, and the retry sends fresh state.
    while queue.len() > 64 {
        if queue.try_recv().is_none() {
            break;
        }
    }
    queue.is_closed()
}
