//! The KV client: finds the leader (following `NotLeader` redirects), retries across servers
//! until a deadline, and reports the outcome.
//!
//! Each client opens a session (Raft thesis §6.3, see [`crate::kv`]) on its first call and
//! numbers its requests; every attempt of one call carries the same number, so a request whose
//! first attempt timed out after it was committed is not applied a second time by the retry.
//!
//! Connections are TLS ([`ClientSecurity::Tls`]: the server must hold a certificate of the
//! cluster's CA) unless the client is made for a plaintext cluster.

use crate::codec::{
    encode_into, read_frame, write_frame, Caller, Frame, FrameError, Hello, NodeStatus,
};
use crate::kv::{ClientId, Consistency, KvOp, KvOutcome, KvResult, Refusal, Session};
use crate::mailbox::{mailbox, Receiver, Sender};
use crate::tls::{ClientSecurity, ReadHalf, WriteHalf};
use ballot_core::raft::Message;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
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
    /// The pipeline stopped (its runtime is shutting down) before the request was answered:
    /// it may or may not have been applied.
    #[error("the pipeline stopped before answering")]
    Stopped,
}

/// What one attempt sends: an operation (in the session, or the registration), or a read
/// outside the session.
#[derive(Clone, Copy, Debug)]
enum Outgoing<'a> {
    Op(&'a KvOp),
    Read(&'a str, Consistency),
}

impl Outgoing<'_> {
    fn frame(self, id: u64) -> Frame<Message> {
        match self {
            Outgoing::Op(op) => Frame::Request { id, op: op.clone() },
            Outgoing::Read(key, consistency) => Frame::Read {
                id,
                key: key.to_owned(),
                consistency,
            },
        }
    }
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
        self.get_with(key, Consistency::Linearizable).await
    }

    /// `get key` at `consistency`, outside the session (a read changes nothing, so a retry needs
    /// no deduplication). Linearizable: ReadIndex (raft.read.*): the server answers once its
    /// leader has confirmed its leadership after the read arrived and the server has applied the
    /// leader's commit index of that moment (a follower asks its leader for it; one that knows
    /// no leader redirects).
    /// Sequential asks the server the client talks to now, and on failure the next, which
    /// answers from its applied state without the log: not linearizable (see
    /// [`Consistency::Sequential`]). Consecutive sequential reads of one client see a state that
    /// never goes back only while they reach the same server.
    pub async fn get_with(
        &mut self,
        key: &str,
        consistency: Consistency,
    ) -> Result<Option<String>, ClientError> {
        KvOp::Get { key: key.into() }
            .validate()
            .map_err(ClientError::Invalid)?;
        let deadline = Instant::now() + self.timeout;
        let read = Outgoing::Read(key, consistency);
        match self.exchange(read, deadline).await?.0 {
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
            // One call at a time: every earlier number was answered or given up.
            let request = KvOp::Windowed {
                session,
                first_outstanding: session.seq,
                op: Box::new(op.clone()),
            };
            let outgoing = Outgoing::Op(&request);
            let (result, maybe_applied_before) = self.exchange(outgoing, deadline).await?;
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
            None => match self
                .exchange(Outgoing::Op(&KvOp::Register), deadline)
                .await?
                .0
            {
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
        op: Outgoing<'_>,
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

    async fn attempt(&mut self, op: Outgoing<'_>) -> Result<KvOutcome, String> {
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
        let request = op.frame(id);
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

/// Requests a [`KvPipeline`] keeps in flight by default. Well inside the session window
/// ([`crate::kv::MAX_SESSION_WINDOW`]) and a server connection's bound
/// ([`crate::server::MAX_REQUESTS_IN_FLIGHT`]); enough to keep a leader's group commit busy
/// from one connection.
pub const PIPELINE_DEPTH: usize = 256;

/// How a [`KvPipeline`] behaves; `Default` gives the same timeouts as [`KvClient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipelineOptions {
    /// Give up a request this long after it was submitted.
    pub timeout: Duration,
    /// A request unanswered this long after it was sent gives the connection up: every request
    /// in flight is sent again to the next server.
    pub attempt_timeout: Duration,
    /// Requests in flight at most (1 to [`crate::kv::MAX_SESSION_WINDOW`]); `submit` waits for
    /// room beyond it.
    pub depth: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            timeout: Duration::from_secs(10),
            attempt_timeout: ATTEMPT_TIMEOUT,
            depth: PIPELINE_DEPTH,
        }
    }
}

/// A client of a ballot KV cluster that keeps many requests in flight on one connection.
///
/// [`KvPipeline::submit`] sends a request at once (after waiting for room, at most
/// [`PipelineOptions::depth`] in flight) and returns a [`Ticket`], a future of that request's
/// own result; requests are sent in submission order, and answers are matched by id in
/// whatever order they come. The semantics are [`KvClient::call`]'s, per request: writes go in
/// the client's session, numbered in submission order, and every attempt of one request
/// carries its number, so a retry is never applied twice; each also carries the lowest number
/// still unanswered, so the servers keep the results of all requests in flight (the session
/// window, [`crate::kv`]). `NotLeader` redirects the connection to the named leader, and a
/// failed connection (or an attempt unanswered for [`PipelineOptions::attempt_timeout`])
/// moves it to the next server; either way every request in flight is sent again there, in
/// order, with the same numbers. Reads ([`KvPipeline::submit_read`], or `submit` of a get) go
/// outside the session: they change nothing, so a retried read needs no deduplication.
///
/// A background task owns the connection; it is started by the first `submit` (so the
/// pipeline must be used inside a tokio runtime) and ends once the pipeline is dropped and
/// its requests are answered.
pub struct KvPipeline {
    addrs: Vec<SocketAddr>,
    cluster_id: String,
    security: ClientSecurity,
    options: PipelineOptions,
    /// Requests to the driver, and at the end `Close`.
    inbox: Sender<Submission>,
    /// Filled by `new` until the driver starts.
    driver_inbox: Option<Receiver<Submission>>,
    /// One per request that may be submitted now; the driver gives one back per request done.
    credits: Receiver<()>,
    credits_back: Sender<()>,
}

impl std::fmt::Debug for KvPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvPipeline")
            .field("addrs", &self.addrs)
            .field("options", &self.options)
            .finish()
    }
}

/// One submitted request's result: await it.
#[derive(Debug)]
pub struct Ticket {
    answer: Receiver<Result<KvResult, ClientError>>,
}

impl std::future::Future for Ticket {
    type Output = Result<KvResult, ClientError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.answer
            .poll_recv(cx)
            .map(|answer| answer.unwrap_or(Err(ClientError::Stopped)))
    }
}

impl KvPipeline {
    /// A pipeline to the servers at `addrs` of a plaintext (`--insecure-plaintext`) cluster.
    pub fn new(addrs: Vec<SocketAddr>, cluster_id: &str) -> Self {
        Self::with_options(
            addrs,
            cluster_id,
            ClientSecurity::InsecurePlaintext,
            PipelineOptions::default(),
        )
    }

    /// A pipeline to the servers at `addrs` of cluster `cluster_id`, connecting with `security`.
    pub fn with_security(
        addrs: Vec<SocketAddr>,
        cluster_id: &str,
        security: ClientSecurity,
    ) -> Self {
        Self::with_options(addrs, cluster_id, security, PipelineOptions::default())
    }

    /// [`KvPipeline::with_security`] with `options`.
    ///
    /// # Panics
    /// If `addrs` is empty or `options.depth` is not in 1..=[`crate::kv::MAX_SESSION_WINDOW`].
    pub fn with_options(
        addrs: Vec<SocketAddr>,
        cluster_id: &str,
        security: ClientSecurity,
        options: PipelineOptions,
    ) -> Self {
        assert!(
            !addrs.is_empty(),
            "a pipeline needs at least one server address"
        );
        assert!(
            (1..=crate::kv::MAX_SESSION_WINDOW as usize).contains(&options.depth),
            "depth {} outside 1..={}",
            options.depth,
            crate::kv::MAX_SESSION_WINDOW
        );
        let (inbox, driver_inbox) = mailbox(options.depth + 1);
        let (credits_back, credits) = mailbox(options.depth);
        for _ in 0..options.depth {
            credits_back.send(()).expect("the credits fit");
        }
        KvPipeline {
            addrs,
            cluster_id: cluster_id.to_owned(),
            security,
            options,
            inbox,
            driver_inbox: Some(driver_inbox),
            credits,
            credits_back,
        }
    }

    /// Sends `op` (a put, get or delete) once there is room, and returns its ticket. A get is
    /// a linearizable read ([`KvPipeline::submit_read`]).
    pub async fn submit(&mut self, op: KvOp) -> Result<Ticket, ClientError> {
        op.validate().map_err(ClientError::Invalid)?;
        let work = match op {
            KvOp::Get { key } => Work::Read {
                key,
                consistency: Consistency::Linearizable,
            },
            op if op.is_data_op() => Work::Write { op, seq: None },
            _ => {
                return Err(ClientError::Invalid(
                    "op: the pipeline opens and numbers its session itself".into(),
                ))
            }
        };
        self.send(work).await
    }

    /// Sends a read of `key` at `consistency` once there is room, and returns its ticket.
    /// Sequential reads are answered by the server the pipeline is connected to (see
    /// [`Consistency::Sequential`]): after this pipeline's earlier requests that reached the
    /// same server, but possibly behind the leader.
    pub async fn submit_read(
        &mut self,
        key: &str,
        consistency: Consistency,
    ) -> Result<Ticket, ClientError> {
        KvOp::Get { key: key.into() }
            .validate()
            .map_err(ClientError::Invalid)?;
        let work = Work::Read {
            key: key.into(),
            consistency,
        };
        self.send(work).await
    }

    /// `put key value`, waiting for its answer.
    pub async fn put(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        let op = KvOp::Put {
            key: key.into(),
            value: value.into(),
        };
        match self.submit(op).await?.await? {
            KvResult::Done => Ok(()),
            other => Err(ClientError::Unexpected(format!("put answered {other:?}"))),
        }
    }

    /// `get key` at `consistency`, waiting for its answer.
    pub async fn get(
        &mut self,
        key: &str,
        consistency: Consistency,
    ) -> Result<Option<String>, ClientError> {
        match self.submit_read(key, consistency).await?.await? {
            KvResult::Value(v) => Ok(v),
            other => Err(ClientError::Unexpected(format!("get answered {other:?}"))),
        }
    }

    /// `del key`, waiting for its answer; whether the key existed.
    pub async fn delete(&mut self, key: &str) -> Result<bool, ClientError> {
        match self.submit(KvOp::Delete { key: key.into() }).await?.await? {
            KvResult::Deleted(existed) => Ok(existed),
            other => Err(ClientError::Unexpected(format!("del answered {other:?}"))),
        }
    }

    async fn send(&mut self, work: Work) -> Result<Ticket, ClientError> {
        self.start_driver();
        if self.credits.recv().await.is_none() {
            return Err(ClientError::Stopped);
        }
        let (answer_tx, answer) = mailbox(1);
        let submission = Submission::Request {
            work,
            promise: Promise(Some(answer_tx)),
            submitted: Instant::now(),
        };
        // Never full: at most `depth` requests hold credits, and one place is kept for `Close`.
        if self.inbox.send(submission).is_err() {
            return Err(ClientError::Stopped);
        }
        Ok(Ticket { answer })
    }

    fn start_driver(&mut self) {
        let Some(inbox) = self.driver_inbox.take() else {
            return;
        };
        let driver = Driver {
            addrs: self.addrs.clone(),
            cluster_id: self.cluster_id.clone(),
            security: self.security.clone(),
            options: self.options,
            inbox,
            credits: self.credits_back.clone(),
            conn: None,
            current: 0,
            next_wire_id: 0,
            session: None,
            next_seq: 1,
            requests: BTreeMap::new(),
            next_key: 0,
            numbered: BTreeMap::new(),
            waiting: VecDeque::new(),
            attempts: BTreeMap::new(),
            registering: None,
            failed_in_round: 0,
            backoff: RETRY_BACKOFF_MIN,
            not_before: Instant::now(),
            last_error: String::from("no attempt"),
            closing: false,
        };
        tokio::spawn(driver.run());
    }
}

impl Drop for KvPipeline {
    fn drop(&mut self) {
        // The driver answers what was submitted, then ends. A place is kept for this.
        let _ = self.inbox.send(Submission::Close);
    }
}

/// Shortest sleep between two rounds of attempts that found no leader ([`RETRY_BACKOFF_MAX`]
/// is the longest).
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(1);

/// What a [`KvPipeline`] hands its driver.
enum Submission {
    Request {
        work: Work,
        promise: Promise,
        submitted: Instant,
    },
    /// The pipeline was dropped: answer what is in flight, then end.
    Close,
}

/// The sender of one ticket's answer; a promise dropped unkept closes the ticket's mailbox, so
/// the ticket resolves to [`ClientError::Stopped`] rather than waiting for ever.
struct Promise(Option<Sender<Result<KvResult, ClientError>>>);

impl Promise {
    fn keep(mut self, answer: Result<KvResult, ClientError>) {
        let sender = self.0.take().expect("a promise is kept once");
        // A ticket dropped by its owner no longer wants the answer.
        let _ = sender.send(answer);
    }
}

impl Drop for Promise {
    fn drop(&mut self) {
        if let Some(sender) = self.0.take() {
            sender.close();
        }
    }
}

/// A request the driver holds until it is answered or given up.
enum Work {
    /// A put or delete in the session; `seq` once numbered.
    Write { op: KvOp, seq: Option<u64> },
    /// A read, outside the session.
    Read {
        key: String,
        consistency: Consistency,
    },
    /// The session's registration (the driver's own: no ticket).
    Register,
}

struct Request {
    work: Work,
    /// Its ticket's sender; `None` for the registration.
    promise: Option<Promise>,
    deadline: Instant,
    /// The attempt on the current connection: its wire id and when it was written.
    sent: Option<(u64, Instant)>,
    /// Whether an earlier attempt may have been appended to the log (written and not answered,
    /// or answered `Failed`): then a session expiry cannot be healed by sending it again.
    maybe_applied: bool,
}

/// What reading one frame gives back: the reader and its buffer, to read the next one.
type FrameRead = (
    BufReader<ReadHalf>,
    Vec<u8>,
    Result<Frame<Message>, FrameError>,
);
/// The read of the next frame, owned, so that waiting for something else never cancels it
/// halfway through a frame.
type ReadNext = std::pin::Pin<Box<dyn std::future::Future<Output = FrameRead> + Send>>;

fn read_next(mut reader: BufReader<ReadHalf>, mut body: Vec<u8>) -> ReadNext {
    Box::pin(async move {
        let frame = read_frame::<Message, _>(&mut reader, &mut body).await;
        (reader, body, frame)
    })
}

struct PipeConn {
    writer: WriteHalf,
    read: ReadNext,
}

enum Event {
    Submission(Option<Submission>),
    Read(FrameRead),
    Tick,
}

/// The task behind a [`KvPipeline`]: owns the connection, the session and every request in
/// flight.
struct Driver {
    addrs: Vec<SocketAddr>,
    cluster_id: String,
    security: ClientSecurity,
    options: PipelineOptions,
    inbox: Receiver<Submission>,
    credits: Sender<()>,
    conn: Option<PipeConn>,
    /// Index into `addrs` of the server the connection goes to.
    current: usize,
    next_wire_id: u64,
    session: Option<ClientId>,
    next_seq: u64,
    /// Every request not yet answered or given up, by submission order.
    requests: BTreeMap<u64, Request>,
    next_key: u64,
    /// Numbered writes: seq → request. The first is the session's `first_outstanding`.
    numbered: BTreeMap<u64, u64>,
    /// Writes waiting for a number (no session yet, or the window is full), in order.
    waiting: VecDeque<u64>,
    /// Wire id → request, for the attempts on the current connection.
    attempts: BTreeMap<u64, u64>,
    /// The registration in flight, if any.
    registering: Option<u64>,
    failed_in_round: usize,
    backoff: Duration,
    /// No connection attempt before this (after a round of servers all failed).
    not_before: Instant,
    last_error: String,
    /// The pipeline was dropped: end once every request is done.
    closing: bool,
}

impl Driver {
    async fn run(mut self) {
        loop {
            let now = Instant::now();
            self.expire(now);
            if self.closing && self.requests.is_empty() {
                return;
            }
            self.number_waiting(now);
            if self.has_unsent() {
                if self.conn.is_none() && now >= self.not_before {
                    self.connect().await;
                    continue;
                }
                if self.conn.is_some() {
                    self.send_unsent(now).await;
                    continue;
                }
            }
            let wake = self.next_wake();
            match self.next_event(wake).await {
                Event::Submission(submission) => {
                    self.take(submission);
                    // What else was submitted meanwhile goes out in the same batch.
                    while let Some(submission) = self.inbox.try_recv() {
                        self.take(Some(submission));
                    }
                }
                Event::Read((reader, body, frame)) => self.on_frame(reader, body, frame),
                Event::Tick => {}
            }
        }
    }

    fn take(&mut self, submission: Option<Submission>) {
        match submission {
            Some(Submission::Request {
                work,
                promise,
                submitted,
            }) => self.accept(work, promise, submitted),
            Some(Submission::Close) | None => self.closing = true,
        }
    }

    async fn next_event(&mut self, wake: Option<Instant>) -> Event {
        let Driver {
            conn,
            inbox,
            closing,
            ..
        } = self;
        let read = async {
            match conn {
                Some(conn) => conn.read.as_mut().await,
                None => std::future::pending().await,
            }
        };
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            frame = read => Event::Read(frame),
            submission = inbox.recv(), if !*closing => Event::Submission(submission),
            () = sleep => Event::Tick,
        }
    }

    fn accept(&mut self, work: Work, promise: Promise, submitted: Instant) {
        let key = self.add(work, Some(promise), submitted + self.options.timeout);
        if matches!(self.requests[&key].work, Work::Write { .. }) {
            self.waiting.push_back(key);
        }
    }

    fn add(&mut self, work: Work, promise: Option<Promise>, deadline: Instant) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        let request = Request {
            work,
            promise,
            deadline,
            sent: None,
            maybe_applied: false,
        };
        self.requests.insert(key, request);
        key
    }

    /// Gives up requests past their deadline, and the connection if an attempt on it has gone
    /// unanswered for the attempt timeout.
    fn expire(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in expired {
            let timeout = ClientError::Timeout {
                timeout: self.options.timeout,
                last: self.last_error.clone(),
            };
            self.finish(key, Err(timeout));
        }
        let stalled = self.requests.values().any(|r| {
            r.sent
                .is_some_and(|(_, at)| at + self.options.attempt_timeout <= now)
        });
        if stalled {
            self.connection_failed("attempt timed out".into());
        }
    }

    /// Numbers waiting writes in order while the session's window has room; opens a session
    /// first if there is none.
    fn number_waiting(&mut self, now: Instant) {
        let Some(client) = self.session else {
            if !self.waiting.is_empty() && self.registering.is_none() {
                let deadline = now + self.options.timeout;
                self.registering = Some(self.add(Work::Register, None, deadline));
            }
            return;
        };
        while let Some(&key) = self.waiting.front() {
            let first_outstanding = self.first_outstanding();
            if self.next_seq - first_outstanding >= crate::kv::MAX_SESSION_WINDOW {
                break;
            }
            self.waiting.pop_front();
            let seq = self.next_seq;
            self.next_seq += 1;
            self.numbered.insert(seq, key);
            let request = self
                .requests
                .get_mut(&key)
                .expect("a waiting request exists");
            let Work::Write { seq: number, .. } = &mut request.work else {
                unreachable!("only writes wait for a number")
            };
            assert!(number.is_none(), "numbered twice in session {client}");
            *number = Some(seq);
        }
    }

    /// The lowest number not yet answered (Raft thesis §6.3): every request below it is done.
    fn first_outstanding(&self) -> u64 {
        self.numbered
            .first_key_value()
            .map_or(self.next_seq, |(seq, _)| *seq)
    }

    /// Whether the request goes out with the next batch: not on the wire, and numbered if it
    /// is a write.
    fn sendable(request: &Request) -> bool {
        request.sent.is_none() && !matches!(request.work, Work::Write { seq: None, .. })
    }

    fn has_unsent(&self) -> bool {
        self.requests.values().any(Self::sendable)
    }

    async fn connect(&mut self) {
        let addr = self.addrs[self.current];
        let timeout = self.options.attempt_timeout;
        match connect(addr, &self.cluster_id, &self.security, timeout).await {
            Ok((reader, writer)) => {
                self.conn = Some(PipeConn {
                    writer,
                    read: read_next(reader, Vec::new()),
                })
            }
            Err(reason) => self.server_failed(reason),
        }
    }

    /// Writes every request not sent on this connection, in submission order (so numbered
    /// writes go in number order), as one batch.
    async fn send_unsent(&mut self, now: Instant) {
        let first_outstanding = self.first_outstanding();
        let mut batch = Vec::new();
        for (&key, request) in &mut self.requests {
            if !Self::sendable(request) {
                continue;
            }
            let id = self.next_wire_id;
            self.next_wire_id += 1;
            let frame = match &request.work {
                Work::Write { op, seq } => {
                    let client = self.session.expect("numbered writes have a session");
                    let seq = seq.expect("sendable writes are numbered");
                    Frame::<Message>::Request {
                        id,
                        op: KvOp::Windowed {
                            session: Session { client, seq },
                            first_outstanding,
                            op: Box::new(op.clone()),
                        },
                    }
                }
                Work::Read { key, consistency } => Frame::Read {
                    id,
                    key: key.clone(),
                    consistency: *consistency,
                },
                Work::Register => Frame::Request {
                    id,
                    op: KvOp::Register,
                },
            };
            encode_into(&frame, &mut batch).expect("validated requests fit a frame");
            request.sent = Some((id, now));
            self.attempts.insert(id, key);
        }
        let conn = self.conn.as_mut().expect("connected");
        let write = async {
            conn.writer.write_all(&batch).await?;
            conn.writer.flush().await
        };
        match tokio::time::timeout(self.options.attempt_timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.connection_failed(format!("write: {e}")),
            Err(_) => self.connection_failed("write timed out".into()),
        }
    }

    /// When the driver must look again without an event: a deadline, an attempt's timeout, or
    /// the end of a backoff while requests wait for a connection.
    fn next_wake(&self) -> Option<Instant> {
        let attempt = self.options.attempt_timeout;
        let mut wake = self
            .requests
            .values()
            .flat_map(|r| [Some(r.deadline), r.sent.map(|(_, at)| at + attempt)])
            .flatten()
            .min();
        if self.conn.is_none() && self.has_unsent() {
            wake = Some(wake.map_or(self.not_before, |w| w.min(self.not_before)));
        }
        wake
    }

    fn on_frame(
        &mut self,
        reader: BufReader<ReadHalf>,
        body: Vec<u8>,
        frame: Result<Frame<Message>, FrameError>,
    ) {
        match frame {
            Ok(Frame::Response { id, outcome }) => {
                let conn = self.conn.as_mut().expect("read from the connection");
                conn.read = read_next(reader, body);
                self.on_answer(id, outcome);
            }
            Ok(Frame::Goodbye { reason }) => {
                self.connection_failed(format!("server closed the connection: {reason}"))
            }
            Ok(other) => self.connection_failed(format!("unexpected frame {other:?}")),
            Err(FrameError::Closed) => self.connection_failed("connection closed".into()),
            Err(e) => self.connection_failed(e.to_string()),
        }
    }

    fn on_answer(&mut self, wire_id: u64, outcome: KvOutcome) {
        // An attempt already given up (its request was sent again or finished) is ignored.
        let Some(key) = self.attempts.remove(&wire_id) else {
            return;
        };
        let request = self
            .requests
            .get_mut(&key)
            .expect("attempts name live requests");
        request.sent = None;
        match outcome {
            KvOutcome::Ok(result) => {
                self.succeeded();
                self.on_result(key, result);
            }
            KvOutcome::Invalid { reason } => {
                self.succeeded();
                self.finish(key, Err(ClientError::Invalid(reason)));
            }
            KvOutcome::NotLeader { addr, .. } => self.redirect(addr),
            KvOutcome::Failed { reason } => {
                // Some failures come after the entry was appended: it may still commit.
                request.maybe_applied |= !matches!(request.work, Work::Read { .. });
                // Lost leadership, overloaded, or shutting down: as `KvClient`, on to the next
                // server (a follower redirects back to a leader that is still one).
                self.server_failed(reason);
            }
        }
    }

    fn on_result(&mut self, key: u64, result: KvResult) {
        match (&self.requests[&key].work, result) {
            (Work::Register, KvResult::Registered { client }) => {
                self.session = Some(client);
                self.next_seq = 1;
                self.finish(key, Ok(KvResult::Registered { client }));
            }
            (Work::Register, other) => {
                self.last_error = format!("register answered {other:?}");
                self.finish(key, Ok(other));
            }
            (Work::Write { .. }, KvResult::Refused(Refusal::SessionExpired)) => {
                self.session_expired()
            }
            (Work::Write { .. }, KvResult::Refused(refusal)) => {
                self.finish(key, Err(ClientError::Refused(refusal)))
            }
            (_, result) => self.finish(key, Ok(result)),
        }
    }

    /// The servers no longer know the session: writes that cannot have been applied are
    /// numbered again in a new session; the others fail, since they may or may not have been.
    fn session_expired(&mut self) {
        tracing::debug!(session = ?self.session, "session expired");
        self.session = None;
        let mut again: Vec<u64> = Vec::new();
        for (_, key) in std::mem::take(&mut self.numbered) {
            let request = self
                .requests
                .get_mut(&key)
                .expect("numbered requests exist");
            if let Work::Write { seq, .. } = &mut request.work {
                *seq = None;
            }
            // An attempt in flight in the old session may have been appended before the
            // session was evicted.
            let in_flight = request.sent.take();
            let lost = request.maybe_applied || in_flight.is_some();
            if let Some((wire_id, _)) = in_flight {
                self.attempts.remove(&wire_id);
            }
            if lost {
                self.finish(key, Err(ClientError::SessionExpired));
            } else {
                again.push(key);
            }
        }
        again.extend(self.waiting.drain(..));
        again.sort_unstable();
        self.waiting = again.into();
    }

    /// Answered `NotLeader`: to the named leader at once, or on to the next server.
    fn redirect(&mut self, addr: Option<String>) {
        let target = addr
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .and_then(|a| self.addrs.iter().position(|x| *x == a));
        match target {
            Some(leader) if leader != self.current => {
                self.drop_connection();
                self.current = leader;
            }
            _ => {
                let reason = "not the leader, and names no other".to_string();
                self.server_failed(reason);
            }
        }
    }

    /// Closes the connection; every request on it will be sent again on the next one.
    fn drop_connection(&mut self) {
        self.conn = None;
        self.attempts.clear();
        for request in self.requests.values_mut() {
            if request.sent.take().is_some() && !matches!(request.work, Work::Read { .. }) {
                // Written and unanswered: its fate is unknown.
                request.maybe_applied = true;
            }
        }
    }

    /// The connection broke. With requests on it, the server is given up (the next one is
    /// tried); an idle connection (a server's idle goodbye) is just reopened when needed.
    fn connection_failed(&mut self, reason: String) {
        if self.attempts.is_empty() {
            self.drop_connection();
            self.last_error = format!("{}: {reason}", self.addrs[self.current]);
            return;
        }
        self.server_failed(reason);
    }

    /// Moves on to the next server; after a whole round of failures, waits a little (doubling
    /// up to [`RETRY_BACKOFF_MAX`]) before the next round, as [`KvClient`] does.
    fn server_failed(&mut self, reason: String) {
        self.drop_connection();
        self.last_error = format!("{}: {reason}", self.addrs[self.current]);
        self.current = (self.current + 1) % self.addrs.len();
        self.failed_in_round += 1;
        if self.failed_in_round >= self.addrs.len() {
            self.failed_in_round = 0;
            self.not_before = Instant::now() + self.backoff;
            self.backoff = (self.backoff * 2).min(RETRY_BACKOFF_MAX);
        }
    }

    fn succeeded(&mut self) {
        self.failed_in_round = 0;
        self.backoff = RETRY_BACKOFF_MIN;
    }

    /// Ends `key` with `answer`: its ticket resolves, its credit goes back, and if it was the
    /// lowest number in flight, the window's start moves up.
    fn finish(&mut self, key: u64, answer: Result<KvResult, ClientError>) {
        let request = self.requests.remove(&key).expect("finished once");
        if let Some((wire_id, _)) = request.sent {
            self.attempts.remove(&wire_id);
        }
        match request.work {
            Work::Write { seq: Some(seq), .. } => {
                assert_eq!(self.numbered.remove(&seq), Some(key));
            }
            Work::Write { seq: None, .. } => self.waiting.retain(|k| *k != key),
            Work::Register => {
                if self.registering == Some(key) {
                    self.registering = None;
                }
            }
            Work::Read { .. } => {}
        }
        if let Some(promise) = request.promise {
            promise.keep(answer);
            // Never full: each credit out belongs to one request.
            let _ = self.credits.send(());
        }
    }
}
