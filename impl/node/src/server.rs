//! The acceptor: checks each connection's handshake, then hands peer messages to the node's
//! inbound queue or serves a client session. A bad connection (garbage, oversized frame,
//! unknown server, wrong cluster or version) is closed with a logged reason; the listener and
//! every other connection carry on.

use crate::apply_log::{Applied, ApplyLog};
use crate::codec::{
    read_frame, write_frame, Caller, Frame, FrameError, NodeStatus, MAGIC, WIRE_VERSION,
};
use crate::kv::{KvOutcome, KvResult};
use crate::mailbox::{mailbox, SendError, Sender};
use crate::sync::{Arc, Mutex};
use ballot_core::{LogIndex, ServerId, Term};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How long a new connection may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client session waits for its accepted request to be applied.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A client's command on its way to the node loop.
#[derive(Debug)]
pub struct Proposal {
    /// Encoded operation (the log entry's payload).
    pub data: Vec<u8>,
    /// Where the node loop answers.
    pub reply: Sender<ProposalReply>,
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
    /// Where client proposals go.
    pub proposals: Sender<Proposal>,
    /// Results of applied entries.
    pub applied: Arc<ApplyLog<KvResult>>,
    /// Status for `StatusRequest`.
    pub status: Arc<StatusCell>,
}

/// Accepts connections until the listener fails.
pub async fn serve<M>(listener: TcpListener, ctx: Arc<ServerContext<M>>)
where
    M: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    if let Err(reason) = handle(stream, remote, &ctx).await {
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

async fn handle<M>(
    stream: TcpStream,
    remote: SocketAddr,
    ctx: &ServerContext<M>,
) -> Result<(), Reason>
where
    M: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut body = Vec::new();
    let first = tokio::time::timeout(HELLO_TIMEOUT, read_frame::<M, _>(&mut reader, &mut body))
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
            if peer == ctx.id || !ctx.addresses.contains_key(&peer) {
                return Err(goodbye(&mut write, format!("unknown server id {peer}")).await);
            }
            tracing::debug!(node = %ctx.id, peer = %peer, %remote, "peer connected");
            peer_session(peer, &mut reader, &mut body, ctx).await
        }
        Caller::Client => client_session(&mut reader, &mut write, &mut body, ctx).await,
    }
}

/// Tells the other side why, best effort, and returns the reason for the log.
async fn goodbye(write: &mut tokio::net::tcp::OwnedWriteHalf, reason: Reason) -> Reason {
    let frame = Frame::<()>::Goodbye {
        reason: reason.clone(),
    };
    let _ = tokio::time::timeout(Duration::from_millis(100), write_frame(write, &frame)).await;
    let _ = write.shutdown().await;
    reason
}

async fn peer_session<M, R>(
    peer: ServerId,
    reader: &mut R,
    body: &mut Vec<u8>,
    ctx: &ServerContext<M>,
) -> Result<(), Reason>
where
    M: DeserializeOwned,
    R: tokio::io::AsyncReadExt + Unpin,
{
    loop {
        match read_frame::<M, _>(reader, body).await {
            Ok(Frame::Peer(msg)) => match ctx.inbound.send((peer, msg)) {
                Ok(()) => {}
                Err(SendError::Full(_)) => {
                    tracing::debug!(node = %ctx.id, peer = %peer, "inbound queue full, message dropped")
                }
                Err(SendError::Closed(_)) => return Ok(()),
            },
            Ok(_) => return Err(format!("peer {peer} sent a non-peer frame")),
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(format!("peer {peer}: {e}")),
        }
    }
}

async fn client_session<M, R>(
    reader: &mut R,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    body: &mut Vec<u8>,
    ctx: &ServerContext<M>,
) -> Result<(), Reason>
where
    M: Serialize + DeserializeOwned,
    R: tokio::io::AsyncReadExt + Unpin,
{
    loop {
        let frame = match read_frame::<M, _>(reader, body).await {
            Ok(frame) => frame,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(goodbye(write, format!("client: {e}")).await),
        };
        let reply: Frame<M> = match frame {
            Frame::Request { id, op } => {
                let outcome = match op.validate() {
                    Err(reason) => KvOutcome::Invalid { reason },
                    Ok(()) => {
                        let data = postcard::to_allocvec(&op).expect("ops encode");
                        propose(ctx, data).await
                    }
                };
                Frame::Response { id, outcome }
            }
            Frame::StatusRequest => Frame::Status(ctx.status.get()),
            _ => return Err(goodbye(write, "client sent a non-client frame".into()).await),
        };
        write_frame(write, &reply)
            .await
            .map_err(|e| format!("client: {e}"))?;
    }
}

async fn propose<M>(ctx: &ServerContext<M>, data: Vec<u8>) -> KvOutcome {
    let (reply, mut answer) = mailbox(1);
    if ctx.proposals.send(Proposal { data, reply }).is_err() {
        return KvOutcome::Failed {
            reason: "node overloaded or shutting down".into(),
        };
    }
    match answer.recv().await {
        None => KvOutcome::Failed {
            reason: "node shutting down".into(),
        },
        Some(ProposalReply::Rejected { leader }) => KvOutcome::NotLeader {
            leader: leader.map(|l| l.0),
            addr: leader
                .and_then(|l| ctx.addresses.get(&l))
                .map(|a| a.to_string()),
        },
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
