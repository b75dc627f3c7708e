//! The KV client: finds the leader (following `NotLeader` redirects), retries across servers
//! until a deadline, and reports the outcome.

use crate::codec::{read_frame, write_frame, Caller, Frame, FrameError, Hello, NodeStatus};
use crate::kv::{KvOp, KvOutcome, KvResult};
use ballot_core::raft::Message;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest sleep between two rounds of attempts while no server names a leader: an election
/// with the default timing takes 12–50 ms, so a poll every few milliseconds finds the new leader
/// soon after it is elected, at the cost of a few loopback round trips per poll.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_millis(8);

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No server answered successfully before the deadline.
    #[error("no answer within {timeout:?}; last error: {last}")]
    Timeout {
        /// The deadline.
        timeout: Duration,
        /// What went wrong last.
        last: String,
    },
    /// The request is malformed; the reason names the field.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A single-server call failed.
    #[error("{addr}: {reason}")]
    Server {
        /// The server.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
}

struct Connection {
    index: usize,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// A client of a ballot KV cluster.
pub struct KvClient {
    addrs: Vec<SocketAddr>,
    cluster_id: String,
    current: usize,
    conn: Option<Connection>,
    next_id: u64,
    body: Vec<u8>,
    /// Give up a call after this long.
    pub timeout: Duration,
    /// Give up one attempt at one server after this long.
    pub attempt_timeout: Duration,
}

impl std::fmt::Debug for KvClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvClient")
            .field("addrs", &self.addrs)
            .field("current", &self.current)
            .finish()
    }
}

async fn connect(
    addr: SocketAddr,
    cluster_id: &str,
    timeout: Duration,
) -> Result<(BufReader<OwnedReadHalf>, OwnedWriteHalf), String> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    write_frame(
        &mut write,
        &Frame::<Message>::Hello(Hello::new(cluster_id, Caller::Client)),
    )
    .await
    .map_err(|e| format!("hello: {e}"))?;
    Ok((BufReader::new(read), write))
}

/// Asks one server for its status.
pub async fn status(
    addr: SocketAddr,
    cluster_id: &str,
    timeout: Duration,
) -> Result<NodeStatus, ClientError> {
    let server = |reason: String| ClientError::Server { addr, reason };
    let fut = async {
        let (mut reader, mut writer) = connect(addr, cluster_id, timeout).await.map_err(server)?;
        write_frame(&mut writer, &Frame::<Message>::StatusRequest)
            .await
            .map_err(|e| server(e.to_string()))?;
        match read_frame::<Message, _>(&mut reader, &mut Vec::new()).await {
            Ok(Frame::Status(status)) => Ok(status),
            Ok(Frame::Goodbye { reason }) => Err(server(reason)),
            Ok(other) => Err(server(format!("unexpected frame {other:?}"))),
            Err(e) => Err(server(e.to_string())),
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| Err(server("status timed out".into())))
}

impl KvClient {
    /// A client of the servers at `addrs` in cluster `cluster_id`.
    pub fn new(addrs: Vec<SocketAddr>, cluster_id: &str) -> Self {
        assert!(
            !addrs.is_empty(),
            "a client needs at least one server address"
        );
        KvClient {
            addrs,
            cluster_id: cluster_id.to_owned(),
            current: 0,
            conn: None,
            next_id: 0,
            body: Vec::new(),
            timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(2),
        }
    }

    /// `put key value`.
    pub async fn put(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        self.call(KvOp::Put {
            key: key.into(),
            value: value.into(),
        })
        .await
        .map(|_| ())
    }

    /// `get key`.
    pub async fn get(&mut self, key: &str) -> Result<Option<String>, ClientError> {
        match self.call(KvOp::Get { key: key.into() }).await? {
            KvResult::Value(v) => Ok(v),
            other => Err(ClientError::Invalid(format!("get answered {other:?}"))),
        }
    }

    /// `del key`; whether the key existed.
    pub async fn delete(&mut self, key: &str) -> Result<bool, ClientError> {
        match self.call(KvOp::Delete { key: key.into() }).await? {
            KvResult::Deleted(existed) => Ok(existed),
            other => Err(ClientError::Invalid(format!("del answered {other:?}"))),
        }
    }

    /// The index (into the address list) of the server the client talks to now.
    pub fn current(&self) -> usize {
        self.current
    }

    fn rotate(&mut self) {
        self.conn = None;
        self.current = (self.current + 1) % self.addrs.len();
    }

    /// Runs `op` against the leader, retrying across servers until `self.timeout`.
    ///
    /// Failures move on to the next server at once; the client sleeps only after a whole round
    /// of servers has failed with no leader named (an election is running, or servers are down),
    /// with a backoff that doubles up to [`RETRY_BACKOFF_MAX`]. So a leader elected during a
    /// failover is found within one short sleep, not after a walk through growing delays.
    pub async fn call(&mut self, op: KvOp) -> Result<KvResult, ClientError> {
        op.validate().map_err(ClientError::Invalid)?;
        let deadline = Instant::now() + self.timeout;
        let mut backoff = Duration::from_millis(1);
        let mut failed_in_round = 0usize;
        let mut last = String::from("no attempt");
        loop {
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout {
                    timeout: self.timeout,
                    last,
                });
            }
            let attempt = tokio::time::timeout(self.attempt_timeout, self.attempt(&op)).await;
            let outcome = match attempt {
                Err(_) => Err("attempt timed out".to_string()),
                Ok(result) => result,
            };
            match outcome {
                Ok(KvOutcome::Ok(result)) => return Ok(result),
                Ok(KvOutcome::Invalid { reason }) => return Err(ClientError::Invalid(reason)),
                Ok(KvOutcome::NotLeader { addr, .. }) => {
                    let known = addr
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                        .and_then(|a| self.addrs.iter().position(|x| *x == a));
                    last = format!("{} is not the leader", self.addrs[self.current]);
                    match known {
                        Some(i) if i != self.current => {
                            self.conn = None;
                            self.current = i;
                            continue; // a fresh redirect: no need to wait
                        }
                        _ => self.rotate(),
                    }
                }
                Ok(KvOutcome::Failed { reason }) => {
                    last = format!("{}: {reason}", self.addrs[self.current]);
                    self.rotate();
                }
                Err(reason) => {
                    last = format!("{}: {reason}", self.addrs[self.current]);
                    self.rotate();
                }
            }
            failed_in_round += 1;
            if failed_in_round < self.addrs.len() {
                continue;
            }
            // No server knew a leader: poll, don't spin.
            failed_in_round = 0;
            tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())))
                .await;
            backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
        }
    }

    async fn attempt(&mut self, op: &KvOp) -> Result<KvOutcome, String> {
        if self.conn.as_ref().is_none_or(|c| c.index != self.current) {
            let (reader, writer) = connect(
                self.addrs[self.current],
                &self.cluster_id,
                self.attempt_timeout,
            )
            .await?;
            self.conn = Some(Connection {
                index: self.current,
                reader,
                writer,
            });
        }
        self.next_id += 1;
        let id = self.next_id;
        let conn = self.conn.as_mut().expect("connected above");
        let request = Frame::<Message>::Request { id, op: op.clone() };
        if let Err(e) = write_frame(&mut conn.writer, &request).await {
            self.conn = None;
            return Err(e.to_string());
        }
        match read_frame::<Message, _>(&mut conn.reader, &mut self.body).await {
            Ok(Frame::Response { id: got, outcome }) if got == id => Ok(outcome),
            Ok(Frame::Goodbye { reason }) => {
                self.conn = None;
                Err(format!("server closed the connection: {reason}"))
            }
            Ok(other) => {
                self.conn = None;
                Err(format!("unexpected frame {other:?}"))
            }
            Err(FrameError::Closed) => {
                self.conn = None;
                Err("connection closed".into())
            }
            Err(e) => {
                self.conn = None;
                Err(e.to_string())
            }
        }
    }
}
