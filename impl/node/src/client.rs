//! The KV client: finds the leader (following `NotLeader` redirects), retries across servers
//! until a deadline, and reports the outcome.
//!
//! Each client opens a session (Raft thesis §6.3, see [`crate::kv`]) on its first call and
//! numbers its requests; every attempt of one call carries the same number, so a request whose
//! first attempt timed out after it was committed is not applied a second time by the retry.
//!
//! Connections are TLS ([`ClientSecurity::Tls`]: the server must hold a certificate of the
//! cluster's CA) unless the client is made for a plaintext cluster.

use crate::codec::{read_frame, write_frame, Caller, Frame, FrameError, Hello, NodeStatus};
use crate::kv::{ClientId, KvOp, KvOutcome, KvResult, Refusal, Session};
use crate::tls::{ClientSecurity, ReadHalf, WriteHalf};
use ballot_core::raft::Message;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest sleep between two rounds of attempts while no server names a leader: an election
/// with the default timing takes 12–50 ms, so a poll every few milliseconds finds the new leader
/// soon after it is elected, at the cost of a few loopback round trips per poll.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_millis(8);
/// One attempt at one server is given up after this long, and the call moves on to the next
/// server. Short, because a paused (SIGSTOPped) leader would otherwise stall every client for the
/// whole attempt; safe, because a retry carries the same session sequence number and is never
/// applied twice. Long enough for an fsynced commit on a loaded machine.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);

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
    /// The session was evicted while an earlier attempt of this request might have been
    /// applied: the request may or may not have taken effect. The next call opens a new session.
    #[error("session expired; the request may or may not have been applied")]
    SessionExpired,
    /// The servers refused the request without applying it.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// A server answered with a result of another operation.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// This client's session and the number its next request takes.
#[derive(Clone, Copy, Debug)]
struct OpenSession {
    client: ClientId,
    next_seq: u64,
}

struct Connection {
    index: usize,
    reader: BufReader<ReadHalf>,
    writer: WriteHalf,
}

/// A client of a ballot KV cluster.
pub struct KvClient {
    addrs: Vec<SocketAddr>,
    cluster_id: String,
    security: ClientSecurity,
    current: usize,
    conn: Option<Connection>,
    next_id: u64,
    session: Option<OpenSession>,
    /// Whether the current attempt's request may have reached a server (then, unanswered, its
    /// fate is unknown).
    sent: bool,
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
            .field("session", &self.session)
            .finish()
    }
}

async fn connect(
    addr: SocketAddr,
    cluster_id: &str,
    security: &ClientSecurity,
    timeout: Duration,
) -> Result<(BufReader<ReadHalf>, WriteHalf), String> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = security
        .secure(stream)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    write_frame(
        &mut write,
        &Frame::<Message>::Hello(Hello::new(cluster_id, Caller::Client)),
    )
    .await
    .map_err(|e| format!("hello: {e}"))?;
    Ok((BufReader::new(read), write))
}

/// Asks one server of a plaintext (`--insecure-plaintext`) cluster for its status; see
/// [`status_with`].
pub async fn status(
    addr: SocketAddr,
    cluster_id: &str,
    timeout: Duration,
) -> Result<NodeStatus, ClientError> {
    status_with(
        addr,
        cluster_id,
        &ClientSecurity::InsecurePlaintext,
        timeout,
    )
    .await
}

/// Asks one server for its status, connecting with `security`.
pub async fn status_with(
    addr: SocketAddr,
    cluster_id: &str,
    security: &ClientSecurity,
    timeout: Duration,
) -> Result<NodeStatus, ClientError> {
    let server = |reason: String| ClientError::Server { addr, reason };
    let fut = async {
        let (mut reader, mut writer) = connect(addr, cluster_id, security, timeout)
            .await
            .map_err(server)?;
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
    /// A client of the servers at `addrs` in a plaintext (`--insecure-plaintext`) cluster
    /// `cluster_id`; see [`KvClient::with_security`].
    pub fn new(addrs: Vec<SocketAddr>, cluster_id: &str) -> Self {
        Self::with_security(addrs, cluster_id, ClientSecurity::InsecurePlaintext)
    }

    /// A client of the servers at `addrs` in cluster `cluster_id`, connecting with `security`.
    pub fn with_security(
        addrs: Vec<SocketAddr>,
        cluster_id: &str,
        security: ClientSecurity,
    ) -> Self {
        assert!(
            !addrs.is_empty(),
            "a client needs at least one server address"
        );
        KvClient {
            addrs,
            cluster_id: cluster_id.to_owned(),
            security,
            current: 0,
            conn: None,
            next_id: 0,
            session: None,
            sent: false,
            body: Vec::new(),
            timeout: Duration::from_secs(10),
            attempt_timeout: ATTEMPT_TIMEOUT,
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
            other => Err(ClientError::Unexpected(format!("get answered {other:?}"))),
        }
    }

    /// `del key`; whether the key existed.
    pub async fn delete(&mut self, key: &str) -> Result<bool, ClientError> {
        match self.call(KvOp::Delete { key: key.into() }).await? {
            KvResult::Deleted(existed) => Ok(existed),
            other => Err(ClientError::Unexpected(format!("del answered {other:?}"))),
        }
    }

    /// The index (into the address list) of the server the client talks to now.
    pub fn current(&self) -> usize {
        self.current
    }

    /// This client's session id, once its first call opened one.
    pub fn client_id(&self) -> Option<ClientId> {
        self.session.map(|s| s.client)
    }

    fn rotate(&mut self) {
        self.conn = None;
        self.current = (self.current + 1) % self.addrs.len();
    }

    /// Runs a put, get or delete (`op`) in this client's session, retrying until `self.timeout`.
    ///
    /// The request takes the session's next number, whatever the outcome: every attempt of this
    /// call reuses it, and no later call does, so a later call is never answered with this
    /// request's remembered result. A session the servers no longer know is replaced by a new
    /// one and the request sent again only if no earlier attempt can have been applied;
    /// otherwise the call fails with [`ClientError::SessionExpired`].
    pub async fn call(&mut self, op: KvOp) -> Result<KvResult, ClientError> {
        op.validate().map_err(ClientError::Invalid)?;
        if !op.is_data_op() {
            return Err(ClientError::Invalid(
                "op: the client opens and numbers its session itself".into(),
            ));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let session = self.next_request(deadline).await?;
            let request = KvOp::Session {
                session,
                op: Box::new(op.clone()),
            };
            let (result, maybe_applied_before) = self.exchange(&request, deadline).await?;
            match result {
                KvResult::Refused(Refusal::SessionExpired) => {
                    tracing::debug!(client = %session.client, "session expired");
                    self.session = None;
                    if maybe_applied_before {
                        return Err(ClientError::SessionExpired);
                    }
                    // No copy of the request can have been appended: send it in a new session.
                }
                KvResult::Refused(refusal) => return Err(ClientError::Refused(refusal)),
                result => return Ok(result),
            }
        }
    }

    /// The session and number of the next request, opening a session first if there is none.
    async fn next_request(&mut self, deadline: Instant) -> Result<Session, ClientError> {
        let open = match self.session {
            Some(open) => open,
            // A retried registration may open a second session; the spare one is never named
            // again and is the first to be evicted.
            None => match self.exchange(&KvOp::Register, deadline).await?.0 {
                KvResult::Registered { client } => OpenSession {
                    client,
                    next_seq: 1,
                },
                other => {
                    return Err(ClientError::Unexpected(format!(
                        "register answered {other:?}"
                    )))
                }
            },
        };
        self.session = Some(OpenSession {
            next_seq: open.next_seq + 1,
            ..open
        });
        Ok(Session {
            client: open.client,
            seq: open.next_seq,
        })
    }

    /// Sends `op` to the leader until it is answered, retrying across servers until `deadline`.
    /// Also says whether an attempt before the answered one may have been appended to the log
    /// (it timed out, failed or lost its connection after the request was written).
    ///
    /// Failures move on to the next server at once; the client sleeps only after a whole round
    /// of servers has failed with no leader named (an election is running, or servers are down),
    /// with a backoff that doubles up to [`RETRY_BACKOFF_MAX`]. So a leader elected during a
    /// failover is found within one short sleep, not after a walk through growing delays.
    async fn exchange(
        &mut self,
        op: &KvOp,
        deadline: Instant,
    ) -> Result<(KvResult, bool), ClientError> {
        let mut backoff = Duration::from_millis(1);
        let mut failed_in_round = 0usize;
        let mut last = String::from("no attempt");
        let mut maybe_applied = false;
        loop {
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout {
                    timeout: self.timeout,
                    last,
                });
            }
            self.sent = false;
            let attempt = tokio::time::timeout(self.attempt_timeout, self.attempt(op)).await;
            let outcome = match attempt {
                Err(_) => Err("attempt timed out".to_string()),
                Ok(result) => result,
            };
            match outcome {
                Ok(KvOutcome::Ok(result)) => return Ok((result, maybe_applied)),
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
                    // Some failures come after the entry was appended (leadership lost, apply
                    // timeout): the entry may still commit.
                    maybe_applied = true;
                    last = format!("{}: {reason}", self.addrs[self.current]);
                    self.rotate();
                }
                Err(reason) => {
                    // Unanswered after the request was written: its fate is unknown.
                    maybe_applied |= self.sent;
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
                &self.security,
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
        self.sent = true;
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
