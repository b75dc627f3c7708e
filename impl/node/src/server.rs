//! The acceptor: secures each connection (TLS, [`crate::tls`]), checks its hello, then hands
//! peer messages to the node's inbound queue or serves a client session. A peer's id is the one
//! its certificate names; a hello claiming another is refused. A bad connection (a failed TLS
//! handshake, garbage, oversized frame, unknown server, a claim the certificate does not back,
//! wrong cluster or version, a peer message that fails validation, a slow sender, an idle
//! client) is closed with a logged reason; the listener and every other connection carry on.
//!
//! What a stranger can make this server spend is bounded: at most
//! [`ServerLimits::max_connections`] connections (more are closed at accept; the TLS handshake
//! holds a slot too), each with a read buffer and a frame body that grows only as bytes arrive
//! ([`crate::codec`]); a TLS handshake within [`TLS_HANDSHAKE_TIMEOUT`], then a hello within
//! [`HELLO_TIMEOUT`]; every frame complete within [`ServerLimits::frame_timeout`] of its first
//! byte, and every answer taken by the client within that time too; a client session closed
//! after [`ServerLimits::client_idle_timeout`] without a request.
//! Every queue a session feeds is bounded (`INBOUND_QUEUE_CAPACITY`, `PROPOSAL_QUEUE_CAPACITY`).

use crate::apply_log::{Applied, ApplyLog};
use crate::codec::{
    encode_into, read_frame_within, write_frame, Caller, Frame, FrameError, NodeStatus, PeerChunks,
    ReadDeadlines, MAGIC, WIRE_VERSION,
};
use crate::kv::{Consistency, KvOp, KvOutcome, KvResult, SharedStore};
use crate::mailbox::{mailbox, Receiver, SendError, Sender};
use crate::sync::{Arc, AtomicU64, Mutex, Ordering};
use crate::tls::{Credentials, NodeSecurity, TLS_HANDSHAKE_TIMEOUT};
use ballot_core::{LogIndex, ServerId, Term};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// How long a new connection may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client request waits for the node loop's reply to its proposal, and then as long
/// again for its accepted entry to be applied; after either it is answered `Failed`.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on open inbound connections (peers and clients together): each costs a task and
/// about 12 KiB until it sends more, so 1024 bound a flood to ~12 MiB while leaving room for
/// hundreds of clients (flag `--max-connections`).
pub const MAX_CONNECTIONS: usize = 1024;
/// Default idle timeout of a client session: a client that sends no request for this long is
/// disconnected, so forgotten connections do not hold slots forever; the KV client reconnects
/// on its next call (flag `--client-idle-timeout-ms`). Peer sessions have none: a peer with
/// nothing to say is legitimately silent.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default bound on one frame: once its first byte arrived, the whole frame (at most 512 KiB)
/// must follow within this long, or a trickling sender could hold a slot and a buffer forever
/// (flag `--frame-timeout-ms`).
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Default bound on the requests one client connection may have read and not yet answered.
/// When reached, the session stops reading its socket until an answer is written, so a
/// pipelining client is slowed by TCP instead of buffered without bound; what one connection
/// holds (waiting tasks, queued proposals, deferred reads) is bounded by it. Equal to
/// [`crate::kv::MAX_SESSION_WINDOW`], the most requests one session can usefully have open.
pub const MAX_REQUESTS_IN_FLIGHT: usize = crate::kv::MAX_SESSION_WINDOW as usize;

/// What a stranger may make this server spend; see the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Open inbound connections at most; the excess is closed at accept.
    pub max_connections: usize,
    /// A client session without a request for this long is closed.
    pub client_idle_timeout: Duration,
    /// A frame must be complete this long after its first byte.
    pub frame_timeout: Duration,
    /// Requests one client connection may have unanswered; at the bound the connection is not
    /// read until an answer is written.
    pub max_requests_in_flight: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: MAX_CONNECTIONS,
            client_idle_timeout: CLIENT_IDLE_TIMEOUT,
            frame_timeout: FRAME_TIMEOUT,
            max_requests_in_flight: MAX_REQUESTS_IN_FLIGHT,
        }
    }
}

/// A protocol's peer message as the acceptor sees it: every message a peer session decodes is
/// checked before it reaches the node loop, and one that fails closes the connection.
pub trait PeerMessage {
    /// Checks what can be checked without the node's state (bounds on terms and indices, the
    /// relations every correct sender keeps); `Err` names the field and its value.
    fn validate(&self) -> Result<(), String>;
}

impl PeerMessage for ballot_core::raft::Message {
    fn validate(&self) -> Result<(), String> {
        ballot_core::raft::Message::validate(self).map_err(|e| e.to_string())
    }
}

/// A client's command on its way to the node loop.
#[derive(Debug)]
pub struct Proposal {
    /// What is asked.
    pub op: ProposalOp,
    /// Where the node loop answers.
    pub reply: Sender<ProposalReply>,
}

/// What a proposal asks of the node loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalOp {
    /// Append this encoded operation (the log entry's payload).
    Write(Vec<u8>),
    /// A linearizable read: answered `ReadReady` with the index to serve it at (raft.read.*).
    Read,
}

impl Proposal {
    /// The encoded operation of a write (`None` for a read).
    pub fn data(&self) -> Option<&[u8]> {
        match &self.op {
            ProposalOp::Write(data) => Some(data),
            ProposalOp::Read => None,
        }
    }
}

/// The node loop's answer to a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalReply {
    /// Appended at `index` in `term`.
    Accepted {
        /// Log index.
        index: LogIndex,
        /// Leader term.
        term: Term,
    },
    /// Not the leader.
    Rejected {
        /// Who leads, if known.
        leader: Option<ServerId>,
    },
    /// The read may be served once this index is applied.
    ReadReady {
        /// The read index (at least every index the node loop had appended when the read
        /// reached it, so a connection's earlier writes are included).
        index: LogIndex,
    },
}

/// The node's self-description, published by the node loop after every event.
#[derive(Debug)]
pub struct StatusCell(Mutex<NodeStatus>);

impl StatusCell {
    /// A cell holding `status`.
    pub fn new(status: NodeStatus) -> Self {
        StatusCell(Mutex::new(status))
    }
    /// Replaces the status.
    pub fn set(&self, status: NodeStatus) {
        *self.0.lock() = status;
    }
    /// A copy of the status.
    pub fn get(&self) -> NodeStatus {
        self.0.lock().clone()
    }
}

/// Everything a connection handler needs.
#[derive(Debug)]
pub struct ServerContext<M> {
    /// This server.
    pub id: ServerId,
    /// Handshakes must name it.
    pub cluster_id: String,
    /// Every server and its client-facing address (for redirects).
    pub addresses: BTreeMap<ServerId, SocketAddr>,
    /// Where peer messages go.
    pub inbound: Sender<(ServerId, M)>,
    /// Where the end of a peer's connection is reported (`Event::PeerLost`).
    pub peer_lost: Sender<ServerId>,
    /// Where client proposals go.
    pub proposals: Sender<Proposal>,
    /// Results of applied entries.
    pub applied: Arc<ApplyLog<KvResult>>,
    /// The applied state, for sequential reads.
    pub store: Arc<SharedStore>,
    /// Status for `StatusRequest`.
    pub status: Arc<StatusCell>,
    /// Bounds on what connections may cost.
    pub limits: ServerLimits,
    /// TLS (who a peer is comes from its certificate), or plaintext.
    pub security: NodeSecurity,
}

/// Open connections, against [`ServerLimits::max_connections`].
#[derive(Debug)]
struct ConnectionSlots {
    open: Arc<AtomicU64>,
    max: u64,
}

/// One open connection's place; freed when the connection's task ends.
#[derive(Debug)]
struct Slot(Arc<AtomicU64>);

impl ConnectionSlots {
    fn try_take(&self) -> Option<Slot> {
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        if before >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self.open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let before = self.0.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "a connection slot freed twice");
    }
}

/// Accepts connections until the listener fails.
pub async fn serve<M>(listener: TcpListener, ctx: Arc<ServerContext<M>>)
where
    M: PeerMessage + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let slots = ConnectionSlots {
        open: Arc::new(AtomicU64::new(0)),
        max: ctx.limits.max_connections as u64,
    };
    let full = format!(
        "too many connections (limit {})",
        ctx.limits.max_connections
    );
    let mut full_frame = Vec::new();
    encode_into(
        &Frame::<()>::Goodbye {
            reason: full.clone(),
        },
        &mut full_frame,
    )
    .expect("a goodbye encodes");
    let mut refused = 0u64;
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let Some(slot) = slots.try_take() else {
                    // Closed at once, with a reason if the socket takes it without waiting: no
                    // task, no buffer. Logged at 1, 2, 4, 8... refusals so a flood cannot flood
                    // the log. Over TLS the reason would need a handshake first: just closed.
                    if ctx.security.is_plaintext() {
                        let _ = stream.try_write(&full_frame);
                    }
                    refused += 1;
                    if refused.is_power_of_two() {
                        tracing::warn!(node = %ctx.id, %remote, refused, reason = %full, "connection refused");
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(reason) = serve_connection(stream, remote, &ctx).await {
                        tracing::warn!(node = %ctx.id, %remote, %reason, "connection closed");
                    }
                });
            }
            Err(e) => {
                // EMFILE and friends: back off rather than spin; the listener stays.
                tracing::warn!(node = %ctx.id, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Why a connection was closed, for the log line.
type Reason = String;

/// One accepted connection: its TLS handshake within [`TLS_HANDSHAKE_TIMEOUT`] (the caller
/// holds its connection slot meanwhile), then [`handle`]. Generic over the stream so tests can
/// drive it through in-memory pipes on a paused clock.
async fn serve_connection<M, S>(
    stream: S,
    remote: SocketAddr,
    ctx: &Arc<ServerContext<M>>,
) -> Result<(), Reason>
where
    M: PeerMessage + Serialize + DeserializeOwned + Send + Sync + 'static,
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let servers = ctx.addresses.keys().copied();
    let handshake = ctx.security.accept(stream, servers);
    let (read, write, credentials) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| format!("no TLS handshake within {TLS_HANDSHAKE_TIMEOUT:?}"))??;
    handle(read, write, remote, &credentials, ctx).await
}

/// One connection, from its hello to its end; `credentials` are what its transport proved.
/// Generic over the stream halves so that tests can drive it through in-memory pipes on a
/// paused clock.
async fn handle<M, R, W>(
    read: R,
    mut write: W,
    remote: SocketAddr,
    credentials: &Credentials,
    ctx: &Arc<ServerContext<M>>,
) -> Result<(), Reason>
where
    M: PeerMessage + Serialize + DeserializeOwned + Send + Sync + 'static,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(read);
    let mut body = Vec::new();
    // The whole hello, however it trickles in, within HELLO_TIMEOUT.
    let hello = read_frame_within::<M, _>(&mut reader, &mut body, ReadDeadlines::default());
    let first = tokio::time::timeout(HELLO_TIMEOUT, hello)
        .await
        .map_err(|_| "no hello within the timeout".to_string())?;
    let hello = match first {
        Ok(Frame::Hello(hello)) => hello,
        Ok(_) => return Err(goodbye(&mut write, "first frame is not a hello".into()).await),
        Err(e) => return Err(goodbye(&mut write, format!("handshake: {e}")).await),
    };
    if hello.magic != MAGIC {
        return Err(goodbye(&mut write, format!("bad magic {:?}", hello.magic)).await);
    }
    if hello.version != WIRE_VERSION {
        let reason = format!(
            "wire version {} (this server speaks {WIRE_VERSION})",
            hello.version
        );
        return Err(goodbye(&mut write, reason).await);
    }
    if hello.cluster_id != ctx.cluster_id {
        let reason = format!(
            "wrong cluster id {:?} (this is {:?})",
            hello.cluster_id, ctx.cluster_id
        );
        return Err(goodbye(&mut write, reason).await);
    }
    match hello.caller {
        Caller::Peer(peer) => {
            if peer == ctx.id {
                let reason = format!("server id {peer} is this server's own");
                return Err(goodbye(&mut write, reason).await);
            }
            if !ctx.addresses.contains_key(&peer) {
                return Err(goodbye(&mut write, format!("unknown server id {peer}")).await);
            }
            // Who a peer is comes from its certificate; the hello only has to agree.
            if let Err(reason) = credentials.admit_peer(peer) {
                tracing::warn!(
                    node = %ctx.id, %remote, hello_id = %peer, certificate = %credentials,
                    "peer hello refused: the certificate does not name that server"
                );
                return Err(goodbye(&mut write, reason).await);
            }
            tracing::debug!(node = %ctx.id, peer = %peer, %remote, "peer connected");
            let result = peer_session(peer, &mut reader, &mut body, ctx).await;
            // The peer's process may be gone (kill -9 closes its sockets at once): a hint the
            // core may act on (raft.prevote.leader-lost). A full queue already holds enough.
            let _ = ctx.peer_lost.send(peer);
            match result {
                Ok(()) => Ok(()),
                Err(reason) => Err(goodbye(&mut write, reason).await),
            }
        }
        Caller::Client => client_session(&mut reader, &mut write, &mut body, ctx).await,
    }
}

/// Tells the other side why, best effort, and returns the reason for the log.
async fn goodbye<W: AsyncWrite + Unpin>(write: &mut W, reason: Reason) -> Reason {
    let frame = Frame::<()>::Goodbye {
        reason: reason.clone(),
    };
    let _ = tokio::time::timeout(Duration::from_millis(100), write_frame(write, &frame)).await;
    let _ = write.shutdown().await;
    reason
}

/// Hands `peer`'s messages to the node loop, each validated first; the first invalid one closes
/// the connection (a correct server never sends it, so the sender is broken or forged).
async fn peer_session<M, R>(
    peer: ServerId,
    reader: &mut R,
    body: &mut Vec<u8>,
    ctx: &ServerContext<M>,
) -> Result<(), Reason>
where
    M: PeerMessage + DeserializeOwned,
    R: AsyncReadExt + Unpin,
{
    // Asserted here too, so the node loop's trust in the claimed id never rests on the caller.
    assert!(
        peer != ctx.id && ctx.addresses.contains_key(&peer),
        "peer session for unconfigured server {peer}"
    );
    let deadlines = ReadDeadlines {
        idle: None,
        frame: Some(ctx.limits.frame_timeout),
    };
    let mut chunks = PeerChunks::default();
    loop {
        let msg = match read_frame_within::<M, _>(reader, body, deadlines).await {
            Ok(Frame::Peer(_)) if chunks.is_partial() => {
                return Err(format!(
                    "peer {peer} interleaved a message with a chunked one"
                ));
            }
            Ok(Frame::Peer(msg)) => Some(msg),
            Ok(Frame::PeerChunk { more, bytes }) => chunks
                .push(more, &bytes)
                .map_err(|reason| format!("peer {peer}: {reason}"))?,
            Ok(_) => return Err(format!("peer {peer} sent a non-peer frame")),
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(format!("peer {peer}: {e}")),
        };
        match msg {
            None => {} // more chunks follow
            Some(msg) => {
                if let Err(reason) = msg.validate() {
                    tracing::warn!(node = %ctx.id, peer = %peer, %reason, "invalid peer message refused");
                    return Err(format!("peer {peer}: invalid message: {reason}"));
                }
                match ctx.inbound.send((peer, msg)) {
                    Ok(()) => {}
                    Err(SendError::Full(_)) => {
                        tracing::debug!(node = %ctx.id, peer = %peer, "inbound queue full, message dropped")
                    }
                    Err(SendError::Closed(_)) => return Ok(()),
                }
            }
        }
    }
}

/// A client connection: requests are read as they come, up to
/// [`ServerLimits::max_requests_in_flight`] unanswered at once (then the socket is not read
/// until an answer is written: backpressure, not buffering), each handed to the node loop in
/// arrival order (so the proposal queue, and the log, keep the connection's order), and each
/// answer written as soon as it is ready, in whatever order they complete; the client matches
/// them by id. A sequential read is answered from the local store once every earlier request of
/// the connection is answered (FIFO order per connection, as in a ZooKeeper session).
///
/// Two halves share the connection's task: [`read_requests`] and [`write_answers`]. The reader
/// takes a credit for each request it reads and the writer gives it back when the answer is
/// written, so the credits bound what is outstanding.
async fn client_session<M, R, W>(
    reader: &mut R,
    write: &mut W,
    body: &mut Vec<u8>,
    ctx: &Arc<ServerContext<M>>,
) -> Result<(), Reason>
where
    M: Serialize + DeserializeOwned + Send + Sync + 'static,
    R: AsyncReadExt + Unpin,
    W: AsyncWrite + Unpin,
{
    let limit = ctx.limits.max_requests_in_flight;
    assert!(limit > 0, "a client session needs room for one request");
    let (credits_tx, mut credits) = mailbox::<()>(limit);
    for _ in 0..limit {
        credits_tx.send(()).expect("the credits fit");
    }
    // One item per credit, and the reader's last word.
    let (to_writer, mut inbox) = mailbox::<ToWriter>(limit + 1);
    let activity = Mutex::new(Instant::now());
    let reading = read_requests(reader, body, ctx, &to_writer, &mut credits, &activity);
    let writing = write_answers(write, ctx, &mut inbox, &credits_tx, &activity);
    tokio::pin!(reading, writing);
    tokio::select! {
        biased;
        read = &mut reading => {
            // The reader told the writer how to end (drain, or say goodbye).
            let written = writing.await;
            read.and(written)
        }
        written = &mut writing => match written {
            // The writer gives up (an answer not taken, a broken socket): so does the session.
            Err(reason) => Err(reason),
            // It ended as the reader told it: the reader has returned already.
            Ok(()) => reading.await,
        },
    }
}

/// What the reader half of a client session hands the writer half, in arrival order.
enum ToWriter {
    /// An answer ready at once (a status, an invalid request, an overloaded node).
    Answer(Frame<()>),
    /// A request handed to the node loop, answered when `outcome` completes. `arrival` numbers
    /// the connection's requests in the order they were read.
    Submitted {
        arrival: u64,
        id: u64,
        outcome: PendingOutcome,
    },
    /// A sequential read, answered from the local store once every request that arrived
    /// before it is answered.
    LocalRead { arrival: u64, id: u64, key: String },
    /// The reader stopped: `None` when the client's stream ended (write what is outstanding,
    /// then close), or the reason to say goodbye with (close without the rest).
    End(Option<Reason>),
}

/// An outcome being decided elsewhere (the node loop, the apply log).
type PendingOutcome = std::pin::Pin<Box<dyn std::future::Future<Output = KvOutcome> + Send>>;

/// The reader half of a client session: reads, validates and dispatches requests until the
/// stream ends, the client is idle, or it misbehaves; then tells the writer how to end.
async fn read_requests<M, R>(
    reader: &mut R,
    body: &mut Vec<u8>,
    ctx: &Arc<ServerContext<M>>,
    to_writer: &Sender<ToWriter>,
    credits: &mut Receiver<()>,
    activity: &Mutex<Instant>,
) -> Result<(), Reason>
where
    M: Serialize + DeserializeOwned + Send + Sync + 'static,
    R: AsyncReadExt + Unpin,
{
    let mut arrival = 0u64;
    let end = |how: Option<Reason>| {
        // Room for it is reserved (capacity = credits + 1); a closed inbox means the writer
        // has already ended, which is how the session ends anyway.
        let _ = to_writer.send(ToWriter::End(how));
    };
    loop {
        // Backpressure: with every credit out, the socket is not read until an answer is
        // written and its credit comes back.
        if credits.recv().await.is_none() {
            return Ok(());
        }
        let frame = match next_request::<M, R>(reader, body, ctx, credits, activity).await {
            Ok(frame) => frame,
            Err(FrameError::Closed) => {
                end(None);
                return Ok(());
            }
            Err(e @ FrameError::Idle { .. }) => {
                // Routine, not a fault: the client reconnects when it next has a request.
                let reason = format!("client: {e}");
                tracing::debug!(node = %ctx.id, %reason, "client session closed");
                end(Some(reason));
                return Ok(());
            }
            Err(e) => {
                let reason = format!("client: {e}");
                end(Some(reason.clone()));
                return Err(reason);
            }
        };
        *activity.lock() = Instant::now();
        arrival += 1;
        let item = match frame {
            Frame::Request { id, op } => match op.validate() {
                Err(reason) => answer(id, KvOutcome::Invalid { reason }),
                Ok(()) if op.is_read() => {
                    serve_read(ctx, arrival, id, op, Consistency::Linearizable)
                }
                Ok(()) => submit(ctx, arrival, id, &op),
            },
            Frame::Read {
                id,
                key,
                consistency,
            } => {
                let op = KvOp::Get { key };
                match op.validate() {
                    Err(reason) => answer(id, KvOutcome::Invalid { reason }),
                    Ok(()) => serve_read(ctx, arrival, id, op, consistency),
                }
            }
            Frame::StatusRequest => ToWriter::Answer(Frame::Status(ctx.status.get())),
            _ => {
                let reason = "client sent a non-client frame".to_string();
                end(Some(reason.clone()));
                return Err(reason);
            }
        };
        if to_writer.send(item).is_err() {
            return Ok(()); // the writer ended: so does the session
        }
    }
}

/// The next frame of a client session. The session is idle, and closed, only when no frame
/// began within [`ServerLimits::client_idle_timeout`] of its last activity (a request read or
/// an answer written) *and* no request is outstanding: a client waiting for answers is not idle.
async fn next_request<M, R>(
    reader: &mut R,
    body: &mut Vec<u8>,
    ctx: &ServerContext<M>,
    credits: &Receiver<()>,
    activity: &Mutex<Instant>,
) -> Result<Frame<M>, FrameError>
where
    M: DeserializeOwned,
    R: AsyncReadExt + Unpin,
{
    let idle = ctx.limits.client_idle_timeout;
    // The reader holds one credit for the frame it is reading; the writer holds the rest of
    // those out, one per unanswered request.
    let outstanding = || ctx.limits.max_requests_in_flight - 1 - credits.len();
    loop {
        let quiet_until = *activity.lock() + idle;
        let wait = if outstanding() > 0 {
            idle
        } else {
            quiet_until.saturating_duration_since(Instant::now())
        };
        let deadlines = ReadDeadlines {
            idle: Some(wait),
            frame: Some(ctx.limits.frame_timeout),
        };
        match read_frame_within::<M, _>(reader, body, deadlines).await {
            // Waiting for the first byte is cancel-safe: nothing is lost by looking again.
            Err(FrameError::Idle { .. })
                if outstanding() > 0 || Instant::now() < *activity.lock() + idle => {}
            Err(FrameError::Idle { .. }) => return Err(FrameError::Idle { after: idle }),
            other => return other,
        }
    }
}

/// An answer ready now.
fn answer(id: u64, outcome: KvOutcome) -> ToWriter {
    ToWriter::Answer(Frame::Response { id, outcome })
}

/// How this server serves a read (a get, bare or in a session) — the one place that decides.
/// Linearizable: a bare get through ReadIndex (raft.read.*), a get in a session through the log
/// (its number must be applied in the session). Sequential: from this server's applied state,
/// leader or not, after the connection's earlier requests; see `docs/implementation.md` § Read
/// consistency.
fn serve_read<M>(
    ctx: &Arc<ServerContext<M>>,
    arrival: u64,
    id: u64,
    read: KvOp,
    consistency: Consistency,
) -> ToWriter
where
    M: Send + Sync + 'static,
{
    assert!(read.is_read(), "serve_read serves gets only");
    match consistency {
        // A bare get waits for a read index; a get inside a session takes its own log entry,
        // so that its number is applied in the session.
        Consistency::Linearizable => match read {
            KvOp::Get { key } => index_read(ctx, arrival, id, key),
            read => submit(ctx, arrival, id, &read),
        },
        Consistency::Sequential => ToWriter::LocalRead {
            arrival,
            id,
            key: read_key(read),
        },
    }
}

/// A linearizable read through ReadIndex: the node loop answers with a read index once this
/// server (or its leader, for a follower) has confirmed its leadership after the read arrived;
/// the read is answered from the local store once that index is applied.
fn index_read<M>(ctx: &Arc<ServerContext<M>>, arrival: u64, id: u64, key: String) -> ToWriter
where
    M: Send + Sync + 'static,
{
    let (reply, mut answer_rx) = mailbox(1);
    let proposal = Proposal {
        op: ProposalOp::Read,
        reply,
    };
    if ctx.proposals.send(proposal).is_err() {
        return answer(
            id,
            KvOutcome::Failed {
                reason: "node overloaded or shutting down".into(),
            },
        );
    }
    let ctx = ctx.clone();
    ToWriter::Submitted {
        arrival,
        id,
        outcome: Box::pin(async move {
            let index = match tokio::time::timeout(APPLY_TIMEOUT, answer_rx.recv()).await {
                Ok(Some(ProposalReply::ReadReady { index })) => index,
                Ok(Some(ProposalReply::Rejected { leader })) => {
                    return not_leader(&ctx, leader);
                }
                Ok(Some(ProposalReply::Accepted { .. })) => {
                    unreachable!("a read is never appended")
                }
                Ok(None) => {
                    return KvOutcome::Failed {
                        reason: "node shutting down".into(),
                    }
                }
                Err(_) => {
                    return KvOutcome::Failed {
                        reason: format!("no read index within {APPLY_TIMEOUT:?}"),
                    }
                }
            };
            if index.0 > 0
                && tokio::time::timeout(APPLY_TIMEOUT, ctx.applied.wait(index))
                    .await
                    .is_err()
            {
                return KvOutcome::Failed {
                    reason: format!("read index {index} not applied within {APPLY_TIMEOUT:?}"),
                };
            }
            KvOutcome::Ok(KvResult::Value(ctx.store.get(&key).0))
        }),
    }
}

/// The redirect a client gets from a server that does not lead.
fn not_leader<M>(ctx: &ServerContext<M>, leader: Option<ServerId>) -> KvOutcome {
    KvOutcome::NotLeader {
        leader: leader.map(|l| l.0),
        addr: leader
            .and_then(|l| ctx.addresses.get(&l))
            .map(|a| a.to_string()),
    }
}

/// The key of a get, bare or in a session.
fn read_key(read: KvOp) -> String {
    match read {
        KvOp::Get { key } => key,
        KvOp::Session { op, .. } | KvOp::Windowed { op, .. } => read_key(*op),
        other => unreachable!("not a read: {other:?}"),
    }
}

/// Hands `op` to the node loop now (so proposals keep the connection's order) and returns what
/// waits for its outcome.
fn submit<M>(ctx: &Arc<ServerContext<M>>, arrival: u64, id: u64, op: &KvOp) -> ToWriter
where
    M: Send + Sync + 'static,
{
    let answer_rx = match hand_over(ctx, op) {
        Ok(answer_rx) => answer_rx,
        Err(refused) => return answer(id, refused),
    };
    let ctx = ctx.clone();
    ToWriter::Submitted {
        arrival,
        id,
        outcome: Box::pin(async move { outcome(&ctx, answer_rx).await }),
    }
}

/// Hands `op` to the node loop's proposal queue now; the receiver gets the loop's reply (see
/// [`outcome`]). Refused at once when the queue is full or closed.
fn hand_over<M>(ctx: &ServerContext<M>, op: &KvOp) -> Result<Receiver<ProposalReply>, KvOutcome> {
    let data = postcard::to_allocvec(op).expect("ops encode");
    let (reply, answer_rx) = mailbox(1);
    let proposal = Proposal {
        op: ProposalOp::Write(data),
        reply,
    };
    if ctx.proposals.send(proposal).is_err() {
        return Err(KvOutcome::Failed {
            reason: "node overloaded or shutting down".into(),
        });
    }
    Ok(answer_rx)
}

/// The writer half of a client session: writes answers as they become ready, each within
/// [`ServerLimits::frame_timeout`] (a client that stops reading cannot park the session), and
/// gives each request's credit back once its answer is written.
async fn write_answers<M, W>(
    write: &mut W,
    ctx: &ServerContext<M>,
    inbox: &mut Receiver<ToWriter>,
    credits: &Sender<()>,
    activity: &Mutex<Instant>,
) -> Result<(), Reason>
where
    W: AsyncWrite + Unpin,
{
    match answer_until_done(write, ctx, inbox, credits, activity).await {
        Ok(()) | Err(Stop::ClientLeft) => Ok(()),
        Err(Stop::Fault(reason)) => Err(reason),
    }
}

/// Why a session's writer stopped early.
enum Stop {
    /// A write failed after the client's stream ended: the client left, routinely.
    ClientLeft,
    /// The client or the connection misbehaved.
    Fault(Reason),
}

impl From<Reason> for Stop {
    fn from(reason: Reason) -> Self {
        Stop::Fault(reason)
    }
}

async fn answer_until_done<M, W>(
    write: &mut W,
    ctx: &ServerContext<M>,
    inbox: &mut Receiver<ToWriter>,
    credits: &Sender<()>,
    activity: &Mutex<Instant>,
) -> Result<(), Stop>
where
    W: AsyncWrite + Unpin,
{
    // Each task holds one credit, so there are at most `max_requests_in_flight` of them.
    let mut tasks: tokio::task::JoinSet<(u64, u64, KvOutcome)> = tokio::task::JoinSet::new();
    // Arrival numbers of the requests in `tasks`.
    let mut unfinished: BTreeSet<u64> = BTreeSet::new();
    // Sequential reads waiting for earlier requests, in arrival order.
    let mut deferred: VecDeque<(u64, u64, String)> = VecDeque::new();
    let mut draining = false;
    let mut out = AnswerWriter {
        write,
        ctx,
        credits,
        activity,
        draining: false,
    };
    loop {
        assert_eq!(unfinished.len(), tasks.len());
        if draining && tasks.is_empty() {
            assert!(deferred.is_empty(), "a read waits for nothing");
            return Ok(());
        }
        let item = tokio::select! {
            item = inbox.recv(), if !draining => item,
            done = tasks.join_next(), if !tasks.is_empty() => {
                let (arrival, id, outcome) = done
                    .expect("tasks is not empty")
                    .map_err(|e| Stop::Fault(format!("client: a request's task failed: {e}")))?;
                assert!(unfinished.remove(&arrival), "request {arrival} finished twice");
                out.write(&Frame::Response { id, outcome }).await?;
                // Reads that waited only for requests now answered.
                while let Some((read_arrival, _, _)) = deferred.front() {
                    if unfinished.first().is_some_and(|first| first < read_arrival) {
                        break;
                    }
                    let (_, id, key) = deferred.pop_front().expect("front exists");
                    out.write(&local_read(ctx, id, &key)).await?;
                }
                continue;
            }
        };
        match item {
            Some(ToWriter::Answer(frame)) => out.write(&frame).await?,
            Some(ToWriter::Submitted {
                arrival,
                id,
                outcome,
            }) => {
                assert!(unfinished.insert(arrival), "arrival {arrival} reused");
                tasks.spawn(async move { (arrival, id, outcome.await) });
            }
            Some(ToWriter::LocalRead { arrival, id, key }) => {
                if unfinished.first().is_some_and(|first| *first < arrival) {
                    deferred.push_back((arrival, id, key));
                } else {
                    out.write(&local_read(ctx, id, &key)).await?;
                }
            }
            // The client's stream ended: answer what is outstanding, then close.
            Some(ToWriter::End(None)) | None => {
                draining = true;
                out.draining = true;
            }
            Some(ToWriter::End(Some(reason))) => {
                goodbye(out.write, reason).await;
                return Ok(());
            }
        }
    }
}

/// Writes a session's answers, giving back a credit for each.
struct AnswerWriter<'a, M, W> {
    write: &'a mut W,
    ctx: &'a ServerContext<M>,
    credits: &'a Sender<()>,
    activity: &'a Mutex<Instant>,
    /// The client's stream ended: a failed write is a client that left, not a fault.
    draining: bool,
}

impl<M, W: AsyncWrite + Unpin> AnswerWriter<'_, M, W> {
    async fn write(&mut self, frame: &Frame<()>) -> Result<(), Stop> {
        // A client that stops reading its answers would otherwise hold this session forever.
        let timeout = self.ctx.limits.frame_timeout;
        let written = tokio::time::timeout(timeout, write_frame(self.write, frame))
            .await
            .map_err(|_| format!("client: answer not taken within {timeout:?}"))
            .and_then(|written| written.map_err(|e| format!("client: {e}")));
        match written {
            Ok(()) => {}
            Err(reason) if self.draining => {
                tracing::debug!(node = %self.ctx.id, %reason, "client left before its answers");
                return Err(Stop::ClientLeft);
            }
            Err(reason) => return Err(Stop::Fault(reason)),
        }
        *self.activity.lock() = Instant::now();
        // Never full: every credit out was taken by the reader for one request.
        self.credits.send(()).expect("a credit comes back once");
        Ok(())
    }
}

/// A sequential read's answer, from this server's applied state now.
fn local_read<M>(ctx: &ServerContext<M>, id: u64, key: &str) -> Frame<()> {
    let (value, _applied) = ctx.store.get(key);
    Frame::Response {
        id,
        outcome: KvOutcome::Ok(KvResult::Value(value)),
    }
}

/// The outcome of a proposal handed to the node loop: its reply (within [`APPLY_TIMEOUT`]), then,
/// if it was appended, its result once applied (within [`APPLY_TIMEOUT`] more).
async fn outcome<M>(ctx: &ServerContext<M>, mut answer: Receiver<ProposalReply>) -> KvOutcome {
    let reply = match tokio::time::timeout(APPLY_TIMEOUT, answer.recv()).await {
        Err(_) => {
            return KvOutcome::Failed {
                reason: format!("no answer from the node loop within {APPLY_TIMEOUT:?}"),
            }
        }
        Ok(reply) => reply,
    };
    match reply {
        None => KvOutcome::Failed {
            reason: "node shutting down".into(),
        },
        Some(ProposalReply::Rejected { leader }) => not_leader(ctx, leader),
        Some(ProposalReply::ReadReady { .. }) => unreachable!("a write is never a read"),
        Some(ProposalReply::Accepted { index, term }) => {
            match tokio::time::timeout(APPLY_TIMEOUT, ctx.applied.wait(index)).await {
                Err(_) => KvOutcome::Failed {
                    reason: format!("not applied within {APPLY_TIMEOUT:?} (index {index})"),
                },
                Ok(Applied::Expired) => KvOutcome::Failed {
                    reason: format!("result of index {index} expired"),
                },
                Ok(Applied::Result {
                    term: applied_term,
                    result,
                }) if applied_term == term => KvOutcome::Ok(result),
                Ok(Applied::Result { .. }) => KvOutcome::Failed {
                    reason: format!("leadership changed: index {index} holds another entry"),
                },
            }
        }
    }
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;
    use crate::codec::{encode_into, read_frame, Hello};
    use crate::mailbox::Receiver;
    use ballot_core::raft::Message;
    use tokio::io::DuplexStream;
    use tokio::task::JoinHandle;
    use tokio::time::Instant;

    const CLUSTER: &str = "t";

    /// A server context, and the node loop's ends of its queues.
    type Context = (
        Arc<ServerContext<Message>>,
        Receiver<(ServerId, Message)>,
        Receiver<Proposal>,
    );

    /// A server context for node 1 of {1, 2}.
    fn context(limits: ServerLimits) -> Context {
        let (inbound, inbound_rx) = mailbox(16);
        let (proposals, proposals_rx) = mailbox(crate::runtime::PROPOSAL_QUEUE_CAPACITY);
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (peer_lost, _) = mailbox(16);
        let ctx = ServerContext {
            id: ServerId(1),
            cluster_id: CLUSTER.into(),
            addresses: BTreeMap::from([(ServerId(1), addr), (ServerId(2), addr)]),
            inbound,
            peer_lost,
            proposals,
            applied: Arc::new(ApplyLog::new(4096)),
            store: Arc::new(SharedStore::default()),
            status: Arc::new(StatusCell::new(NodeStatus {
                id: ServerId(1),
                role: "follower".into(),
                term: 0,
                leader: None,
                commit: 0,
                last_index: 0,
                last_zxid: None,
            })),
            limits,
            security: NodeSecurity::InsecurePlaintext,
        };
        (Arc::new(ctx), inbound_rx, proposals_rx)
    }

    /// Serves one connection over an in-memory pipe and says hello as `caller`; returns the
    /// caller's end and the connection's task.
    async fn connect(
        ctx: &Arc<ServerContext<Message>>,
        caller: Caller,
    ) -> (DuplexStream, JoinHandle<Result<(), Reason>>) {
        connect_through(ctx, caller, 64 * 1024).await
    }

    /// [`connect`] for a connection whose transport proved `credentials`.
    async fn connect_as(
        ctx: &Arc<ServerContext<Message>>,
        caller: Caller,
        credentials: Credentials,
    ) -> (DuplexStream, JoinHandle<Result<(), Reason>>) {
        let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
        let (read, write) = tokio::io::split(theirs);
        let ctx = ctx.clone();
        let remote = "127.0.0.1:1".parse().unwrap();
        let task =
            tokio::spawn(async move { handle(read, write, remote, &credentials, &ctx).await });
        send(&mut ours, &Frame::Hello(Hello::new(CLUSTER, caller))).await;
        (ours, task)
    }

    /// [`connect`] through a pipe holding at most `pipe_bytes` each way.
    async fn connect_through(
        ctx: &Arc<ServerContext<Message>>,
        caller: Caller,
        pipe_bytes: usize,
    ) -> (DuplexStream, JoinHandle<Result<(), Reason>>) {
        let (mut ours, theirs) = tokio::io::duplex(pipe_bytes);
        let (read, write) = tokio::io::split(theirs);
        let ctx = ctx.clone();
        let remote = "127.0.0.1:1".parse().unwrap();
        let task = tokio::spawn(async move {
            handle(read, write, remote, &Credentials::Unauthenticated, &ctx).await
        });
        send(&mut ours, &Frame::Hello(Hello::new(CLUSTER, caller))).await;
        (ours, task)
    }

    async fn send(stream: &mut DuplexStream, frame: &Frame<Message>) {
        let mut bytes = Vec::new();
        encode_into(frame, &mut bytes).unwrap();
        stream.write_all(&bytes).await.unwrap();
    }

    /// The goodbye reason the server sent, and that it then closed the connection.
    async fn goodbye_reason(stream: &mut DuplexStream) -> String {
        let mut body = Vec::new();
        let reason = match read_frame::<Message, _>(stream, &mut body).await {
            Ok(Frame::Goodbye { reason }) => reason,
            other => panic!("expected a goodbye, got {other:?}"),
        };
        assert!(matches!(
            read_frame::<Message, _>(stream, &mut body).await,
            Err(FrameError::Closed)
        ));
        reason
    }

    fn request_vote(term: u64) -> Frame<Message> {
        Frame::Peer(Message::RequestVote {
            term: Term(term),
            last_log_term: Term(0),
            last_log_index: LogIndex(0),
        })
    }

    /// Plays the node loop's intake: the next `n` proposals, in the order they were queued
    /// (bounded: a session that stops handing them over fails the test, not hangs it).
    async fn take(proposals: &mut Receiver<Proposal>, n: usize) -> Vec<Proposal> {
        let mut taken = Vec::new();
        while taken.len() < n {
            let next = tokio::time::timeout(Duration::from_secs(30), proposals.recv()).await;
            let Ok(Some(proposal)) = next else {
                panic!(
                    "only {} of {n} proposals reached the node loop",
                    taken.len()
                );
            };
            taken.push(proposal);
        }
        taken
    }

    /// Plays the node loop's commit: appends each proposal (term 1) from `first` on, applies it
    /// to the store and publishes its result, in order.
    /// Plays the node loop for `proposals`: writes are appended from index `first` on and
    /// applied; a read gets the index of the last write before it as its read index.
    fn commit(ctx: &ServerContext<Message>, proposals: Vec<Proposal>, first: u64) {
        let mut next = first;
        for proposal in proposals {
            let term = Term(1);
            let Some(data) = proposal.data() else {
                let index = LogIndex(next - 1);
                proposal
                    .reply
                    .send(ProposalReply::ReadReady { index })
                    .unwrap();
                continue;
            };
            let index = LogIndex(next);
            next += 1;
            let op: KvOp = postcard::from_bytes(data).unwrap();
            proposal
                .reply
                .send(ProposalReply::Accepted { index, term })
                .unwrap();
            let result = ctx.store.apply(index, op);
            ctx.applied.publish(index, term, result);
        }
    }

    fn put_request(id: u64, key: &str, value: &str) -> Frame<Message> {
        Frame::Request {
            id,
            op: KvOp::Put {
                key: key.into(),
                value: value.into(),
            },
        }
    }

    fn sequential_read(id: u64, key: &str) -> Frame<Message> {
        Frame::Read {
            id,
            key: key.into(),
            consistency: Consistency::Sequential,
        }
    }

    async fn next_frame(client: &mut DuplexStream) -> Frame<Message> {
        let mut body = Vec::new();
        let read = read_frame::<Message, _>(client, &mut body);
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("an answer within 30 s")
            .expect("a frame")
    }

    fn linearizable_read(id: u64, key: &str) -> Frame<Message> {
        Frame::Read {
            id,
            key: key.into(),
            consistency: Consistency::Linearizable,
        }
    }

    /// A linearizable read reaches the node loop as a read (never a log entry), is answered
    /// only once the read index the loop returns is applied, from the state then; a read the
    /// loop refuses (not the leader) gets the redirect.
    #[tokio::test(start_paused = true)]
    async fn a_linearizable_read_waits_for_its_read_index_to_be_applied() {
        let (ctx, _inbound, mut proposals) = context(ServerLimits::default());
        let (mut a, _ta) = connect(&ctx, Caller::Client).await;
        let (mut b, _tb) = connect(&ctx, Caller::Client).await;
        send(&mut a, &linearizable_read(1, "k")).await;
        let read = take(&mut proposals, 1).await.remove(0);
        assert_eq!(read.op, ProposalOp::Read);
        read.reply
            .send(ProposalReply::ReadReady { index: LogIndex(1) })
            .unwrap();
        let wait = Duration::from_millis(100);
        assert!(
            tokio::time::timeout(wait, next_frame(&mut a))
                .await
                .is_err(),
            "answered before its read index was applied"
        );
        let put = KvOp::Put {
            key: "k".into(),
            value: "v".into(),
        };
        let done = ctx.store.apply(LogIndex(1), put);
        ctx.applied.publish(LogIndex(1), Term(1), done);
        assert_eq!(
            next_frame(&mut a).await,
            Frame::Response {
                id: 1,
                outcome: KvOutcome::Ok(KvResult::Value(Some("v".into())))
            }
        );
        send(&mut b, &linearizable_read(2, "k")).await;
        let refused = take(&mut proposals, 1).await.remove(0);
        refused
            .reply
            .send(ProposalReply::Rejected {
                leader: Some(ServerId(2)),
            })
            .unwrap();
        assert!(matches!(
            next_frame(&mut b).await,
            Frame::Response {
                id: 2,
                outcome: KvOutcome::NotLeader {
                    leader: Some(2),
                    ..
                }
            }
        ));
    }

    /// One connection carries 100 requests that the client sends without reading an answer:
    /// all 100 reach the node loop before any is answered (a session that waited for each
    /// answer before reading the next request would hand over one), in arrival order, and 100
    /// answers come back with the requests' ids.
    #[tokio::test(start_paused = true)]
    async fn a_pipelined_client_gets_an_answer_for_each_of_100_requests() {
        let (ctx, _inbound, mut proposals) = context(ServerLimits::default());
        let (mut client, task) = connect(&ctx, Caller::Client).await;
        for id in 1..=100 {
            let request = if id % 10 == 0 {
                Frame::Request {
                    id,
                    op: KvOp::Get {
                        key: format!("k{}", id - 1),
                    },
                }
            } else {
                put_request(id, &format!("k{id}"), &format!("v{id}"))
            };
            send(&mut client, &request).await;
        }
        // All 100 reach the node loop before anything is answered, in arrival order: the
        // gets as reads (no log entry), the puts as writes.
        let queued = take(&mut proposals, 100).await;
        for (k, proposal) in queued.iter().enumerate() {
            let id = k as u64 + 1;
            if id.is_multiple_of(10) {
                assert_eq!(proposal.op, ProposalOp::Read, "request {id}");
            } else {
                let op: KvOp = postcard::from_bytes(proposal.data().unwrap()).unwrap();
                assert_eq!(
                    op,
                    KvOp::Put {
                        key: format!("k{id}"),
                        value: format!("v{id}"),
                    },
                    "proposals keep the arrival order"
                );
            }
        }
        commit(&ctx, queued, 1);
        let mut answered = BTreeMap::new();
        for _ in 0..100 {
            match next_frame(&mut client).await {
                Frame::Response { id, outcome } => {
                    assert!(
                        answered.insert(id, outcome).is_none(),
                        "id {id} answered twice"
                    )
                }
                other => panic!("expected a response, got {other:?}"),
            }
        }
        assert_eq!(
            answered.keys().copied().collect::<Vec<_>>(),
            (1..=100).collect::<Vec<_>>()
        );
        assert_eq!(answered[&1], KvOutcome::Ok(KvResult::Done));
        assert_eq!(
            answered[&10],
            KvOutcome::Ok(KvResult::Value(Some("v9".into()))),
            "a get sees every write before it"
        );
        drop(client);
        assert_eq!(task.await.unwrap(), Ok(()));
    }

    /// Answers leave as they are ready, not in request order: a status request sent after a
    /// put the node loop holds is answered first.
    #[tokio::test(start_paused = true)]
    async fn answers_leave_in_the_order_they_are_ready() {
        let (ctx, _inbound, mut proposals) = context(ServerLimits::default());
        let (mut client, _task) = connect(&ctx, Caller::Client).await;
        send(&mut client, &put_request(1, "k", "v")).await;
        send(&mut client, &Frame::StatusRequest).await;
        assert!(matches!(next_frame(&mut client).await, Frame::Status(_)));
        let held = take(&mut proposals, 1).await;
        commit(&ctx, held, 1);
        assert_eq!(
            next_frame(&mut client).await,
            Frame::Response {
                id: 1,
                outcome: KvOutcome::Ok(KvResult::Done)
            }
        );
    }

    /// At its bound of requests in flight a connection stops reading: the node loop gets
    /// exactly that many, and the next one only once an answer is written.
    #[tokio::test(start_paused = true)]
    async fn a_connection_stops_reading_at_its_bound_of_requests_in_flight() {
        let limits = ServerLimits {
            max_requests_in_flight: 8,
            ..ServerLimits::default()
        };
        let (ctx, _inbound, mut proposals) = context(limits);
        let (mut client, _task) = connect(&ctx, Caller::Client).await;
        for id in 1..=20 {
            send(&mut client, &put_request(id, &format!("k{id}"), "v")).await;
        }
        let held = take(&mut proposals, 8).await;
        // Everything else is idle: time passes, and nothing more is read.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(proposals.is_empty(), "read past the bound");
        let mut held = held.into_iter();
        commit(&ctx, vec![held.next().unwrap()], 1);
        assert_eq!(
            next_frame(&mut client).await,
            Frame::Response {
                id: 1,
                outcome: KvOutcome::Ok(KvResult::Done)
            }
        );
        let ninth = take(&mut proposals, 1).await;
        let op: KvOp = postcard::from_bytes(ninth[0].data().unwrap()).unwrap();
        assert_eq!(
            op,
            KvOp::Put {
                key: "k9".into(),
                value: "v".into()
            }
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(proposals.is_empty(), "one answer frees one place");
    }

    /// A sequential read is answered from the local store without the node loop — at once when
    /// nothing of the connection is outstanding, and after the connection's earlier requests
    /// otherwise (so a client sees its own writes in order, as in a ZooKeeper session).
    #[tokio::test(start_paused = true)]
    async fn a_sequential_read_is_local_and_waits_for_the_connections_earlier_requests() {
        let (ctx, _inbound, mut proposals) = context(ServerLimits::default());
        let first = KvOp::Put {
            key: "x".into(),
            value: "0".into(),
        };
        ctx.applied
            .publish(LogIndex(1), Term(1), ctx.store.apply(LogIndex(1), first));
        let (mut client, _task) = connect(&ctx, Caller::Client).await;
        send(&mut client, &sequential_read(1, "x")).await;
        assert_eq!(
            next_frame(&mut client).await,
            Frame::Response {
                id: 1,
                outcome: KvOutcome::Ok(KvResult::Value(Some("0".into())))
            }
        );
        assert!(proposals.is_empty(), "no proposal for a sequential read");

        send(&mut client, &put_request(2, "x", "1")).await;
        send(&mut client, &sequential_read(3, "x")).await;
        send(&mut client, &Frame::StatusRequest).await;
        assert!(matches!(next_frame(&mut client).await, Frame::Status(_)));
        let held = take(&mut proposals, 1).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(proposals.is_empty(), "no proposal for a sequential read");
        commit(&ctx, held, 2);
        assert_eq!(
            next_frame(&mut client).await,
            Frame::Response {
                id: 2,
                outcome: KvOutcome::Ok(KvResult::Done)
            }
        );
        assert_eq!(
            next_frame(&mut client).await,
            Frame::Response {
                id: 3,
                outcome: KvOutcome::Ok(KvResult::Value(Some("1".into())))
            },
            "the read after the put sees it"
        );
    }

    /// A client waiting for an answer is not idle: the session outlives the idle timeout while
    /// a request is outstanding, and is closed one idle timeout after its last answer.
    #[tokio::test(start_paused = true)]
    async fn a_session_with_requests_outstanding_is_not_idle() {
        let limits = ServerLimits {
            client_idle_timeout: Duration::from_secs(1),
            ..ServerLimits::default()
        };
        let (ctx, _inbound, mut proposals) = context(limits);
        let start = Instant::now();
        let (mut client, task) = connect(&ctx, Caller::Client).await;
        send(&mut client, &put_request(1, "k", "v")).await;
        let held = take(&mut proposals, 1).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !task.is_finished(),
            "closed as idle with a request outstanding"
        );
        commit(&ctx, held, 1);
        assert!(matches!(
            next_frame(&mut client).await,
            Frame::Response { id: 1, .. }
        ));
        let reason = goodbye_reason(&mut client).await;
        assert!(
            reason.starts_with("client: idle: no frame within 1s"),
            "{reason}"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        assert_eq!(task.await.unwrap(), Ok(()));
    }

    /// A client that closes its side with requests outstanding still gets their answers.
    #[tokio::test(start_paused = true)]
    async fn answers_outstanding_when_the_client_stops_sending_are_still_written() {
        let (ctx, _inbound, mut proposals) = context(ServerLimits::default());
        let (client, task) = connect(&ctx, Caller::Client).await;
        let (mut read, mut write) = tokio::io::split(client);
        let mut bytes = Vec::new();
        encode_into(&put_request(1, "k", "v"), &mut bytes).unwrap();
        write.write_all(&bytes).await.unwrap();
        write.shutdown().await.unwrap();
        let held = take(&mut proposals, 1).await;
        commit(&ctx, held, 1);
        let answer = read_frame::<Message, _>(&mut read, &mut Vec::new()).await;
        assert!(
            matches!(answer, Ok(Frame::Response { id: 1, .. })),
            "{answer:?}"
        );
        assert_eq!(task.await.unwrap(), Ok(()));
    }

    /// The fault probe's forged message: refused before the node loop sees it, the connection
    /// closed with the reason; what came before it was delivered, nothing after it is.
    #[tokio::test]
    async fn an_invalid_peer_message_closes_the_connection_before_reaching_the_node_loop() {
        let (ctx, mut inbound, _proposals) = context(ServerLimits::default());
        let (mut peer, task) = connect(&ctx, Caller::Peer(ServerId(2))).await;
        send(&mut peer, &request_vote(4)).await;
        send(&mut peer, &request_vote(u64::MAX)).await;
        send(&mut peer, &request_vote(5)).await;
        let reason = goodbye_reason(&mut peer).await;
        assert_eq!(
            reason,
            "peer 2: invalid message: RequestVote.term = 18446744073709551615: above MAX_TERM \
             4611686018427387904"
        );
        assert_eq!(task.await.unwrap(), Err(reason));
        let (from, msg) = inbound.try_recv().expect("the valid message before it");
        assert_eq!((from, msg.term()), (ServerId(2), Term(4)));
        assert!(
            inbound.try_recv().is_none(),
            "nothing after the invalid one"
        );
    }

    #[tokio::test]
    async fn a_hello_claiming_this_servers_own_id_is_refused() {
        let (ctx, _inbound, _proposals) = context(ServerLimits::default());
        let (mut peer, task) = connect(&ctx, Caller::Peer(ServerId(1))).await;
        assert_eq!(
            goodbye_reason(&mut peer).await,
            "server id 1 is this server's own"
        );
        assert!(task.await.unwrap().is_err());
        let (mut stranger, _task) = connect(&ctx, Caller::Peer(ServerId(3))).await;
        assert_eq!(goodbye_reason(&mut stranger).await, "unknown server id 3");
    }

    /// A client that sends nothing for the idle timeout is disconnected with a reason; a
    /// request restarts the clock. Paused clock: the 60 s pass instantly.
    #[tokio::test(start_paused = true)]
    async fn a_client_session_idle_for_the_timeout_is_closed() {
        let (ctx, _inbound, _proposals) = context(ServerLimits::default());
        let start = Instant::now();
        let (mut client, task) = connect(&ctx, Caller::Client).await;
        tokio::time::sleep(CLIENT_IDLE_TIMEOUT - Duration::from_secs(1)).await;
        send(&mut client, &Frame::StatusRequest).await;
        let status = read_frame::<Message, _>(&mut client, &mut Vec::new()).await;
        assert!(matches!(status, Ok(Frame::Status(_))), "{status:?}");
        let reason = goodbye_reason(&mut client).await;
        assert!(
            reason.starts_with("client: idle: no frame within 60s"),
            "{reason}"
        );
        assert_eq!(
            start.elapsed(),
            2 * CLIENT_IDLE_TIMEOUT - Duration::from_secs(1)
        );
        assert_eq!(task.await.unwrap(), Ok(()), "routine, not a fault");
    }

    /// A client (or peer) whose frame trickles in one byte a second is cut off at the frame
    /// timeout after the frame's first byte.
    #[tokio::test(start_paused = true)]
    async fn a_slow_sender_is_cut_off_at_the_frame_timeout() {
        let limits = ServerLimits::default();
        let (ctx, _inbound, _proposals) = context(limits);
        for caller in [Caller::Client, Caller::Peer(ServerId(2))] {
            let (client, task) = connect(&ctx, caller.clone()).await;
            let (mut read, mut write) = tokio::io::split(client);
            let start = Instant::now();
            let trickle = tokio::spawn(async move {
                // A frame announcing 100 bytes, sent one byte a second.
                for byte in [0u8, 0, 0, 100].into_iter().chain([0; 100]) {
                    if write.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
            let mut body = Vec::new();
            let goodbye = read_frame::<Message, _>(&mut read, &mut body).await;
            let Ok(Frame::Goodbye { reason }) = goodbye else {
                panic!("{caller:?}: expected a goodbye, got {goodbye:?}");
            };
            assert!(reason.contains("slow sender"), "{caller:?}: {reason}");
            assert_eq!(start.elapsed(), limits.frame_timeout, "{caller:?}");
            assert!(task.await.unwrap().is_err(), "{caller:?}");
            trickle.abort();
        }
    }

    /// A client that sends requests and never reads the answers is cut off once an answer has
    /// waited the frame timeout to be taken.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_read_its_answers_is_cut_off() {
        let limits = ServerLimits::default();
        let (ctx, _inbound, _proposals) = context(limits);
        let (client, task) = connect_through(&ctx, Caller::Client, 64).await;
        let (_unread, mut write) = tokio::io::split(client);
        let start = Instant::now();
        let requests = tokio::spawn(async move {
            while write.write_all(&[0, 0, 0, 1, 4]).await.is_ok() {} // StatusRequest
        });
        let result = task.await.unwrap();
        assert!(
            result
                .as_ref()
                .is_err_and(|r| r.contains("answer not taken within 10s")),
            "{result:?}"
        );
        assert_eq!(start.elapsed(), limits.frame_timeout);
        requests.await.unwrap();
    }

    /// A connection whose certificate does not name the server its hello claims (or that has
    /// none) is refused before anything of it reaches the node loop; a client hello on it is
    /// served.
    #[tokio::test]
    async fn a_peer_hello_needs_a_certificate_naming_that_server() {
        let (ctx, mut inbound, _proposals) = context(ServerLimits::default());
        for credentials in [
            Credentials::NoCertificate,
            Credentials::NoServer,
            Credentials::SeveralServers(vec![ServerId(1), ServerId(2)]),
        ] {
            let (mut peer, task) =
                connect_as(&ctx, Caller::Peer(ServerId(2)), credentials.clone()).await;
            send(&mut peer, &request_vote(4)).await;
            let reason = goodbye_reason(&mut peer).await;
            assert_eq!(
                reason,
                format!("hello claims server 2, the connection has {credentials}")
            );
            assert_eq!(task.await.unwrap(), Err(reason));
        }
        assert!(inbound.try_recv().is_none(), "no forged message delivered");

        let (mut client, _task) =
            connect_as(&ctx, Caller::Client, Credentials::NoCertificate).await;
        send(&mut client, &Frame::StatusRequest).await;
        let status = read_frame::<Message, _>(&mut client, &mut Vec::new()).await;
        assert!(matches!(status, Ok(Frame::Status(_))), "{status:?}");

        let (mut peer, _task) = connect_as(
            &ctx,
            Caller::Peer(ServerId(2)),
            Credentials::Server(ServerId(2)),
        )
        .await;
        send(&mut peer, &request_vote(4)).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let (from, msg) = loop {
            if let Some(delivered) = inbound.try_recv() {
                break delivered;
            }
            assert!(
                Instant::now() < deadline,
                "the certified peer's message not delivered"
            );
            tokio::task::yield_now().await;
        };
        assert_eq!((from, msg.term()), (ServerId(2), Term(4)));
    }

    /// A TLS connection that never completes its handshake is closed at the handshake deadline
    /// (paused clock: the 5 s pass instantly), holding nothing longer.
    #[tokio::test(start_paused = true)]
    async fn a_connection_silent_in_the_tls_handshake_is_closed_at_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let files = crate::tls::write_cluster_tls(dir.path(), [ServerId(1), ServerId(2)]).unwrap();
        let tls = crate::tls::NodeTls::load(ServerId(1), &files.nodes[&ServerId(1)]).unwrap();
        let (ctx, _inbound, _proposals) = context(ServerLimits::default());
        let ctx = Arc::new(ServerContext {
            security: NodeSecurity::Tls(tls),
            ..Arc::into_inner(ctx).unwrap()
        });
        let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
        let start = Instant::now();
        let task = tokio::spawn(async move {
            serve_connection(theirs, "127.0.0.1:1".parse().unwrap(), &ctx).await
        });
        assert_eq!(
            task.await.unwrap(),
            Err(format!("no TLS handshake within {TLS_HANDSHAKE_TIMEOUT:?}"))
        );
        assert_eq!(start.elapsed(), TLS_HANDSHAKE_TIMEOUT);
        let mut rest = Vec::new();
        ours.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "nothing sent to a silent stranger");
    }

    #[test]
    fn connection_slots_refuse_the_excess_and_free_on_drop() {
        let slots = ConnectionSlots {
            open: Arc::new(AtomicU64::new(0)),
            max: 2,
        };
        let a = slots.try_take().expect("first");
        let _b = slots.try_take().expect("second");
        assert!(slots.try_take().is_none(), "third refused");
        assert_eq!(slots.open.load(Ordering::Acquire), 2);
        drop(a);
        assert!(slots.try_take().is_some(), "a freed slot is taken again");
    }
}
