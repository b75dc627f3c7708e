//! The ballot side: the client wire protocol of `ballot_node::codec`, spoken directly over
//! plaintext TCP (`ballot node --insecure-plaintext`). A connection says
//! `Hello(Client)`, then sends `Request { id, op }` frames and reads `Response { id, outcome }`
//! frames, matched by id, so K requests may be outstanding on it whether the server answers
//! them one at a time or out of order.
//!
//! Sessions: one per connection (as ZooKeeper's), opened with `KvOp::Register`; every put is
//! `KvOp::Windowed { session: {client, seq}, first_outstanding, op }` with numbers 1, 2, 3…,
//! `first_outstanding` the lowest number still unanswered, so K puts of one session may be in
//! flight at once (the session's window keeps their results; see `ballot_node::kv`), as
//! `ballot_node::client::KvPipeline` sends them. Reads are `Frame::Read { id, key, consistency }`,
//! outside the session (a read changes nothing, so a retry needs no deduplication):
//! `linearizable` goes through the Raft log, `sequential` is answered from the server's applied
//! state (as ZooKeeper's `get_data`).

use crate::{
    key_name, kill9, merge_all, pid_of, Args, Cluster, ConnStats, Done, Keys, ServerView, Window,
};
use ballot_core::raft::Message;
use ballot_node::client::KvClient;
use ballot_node::codec::{encode_into, read_frame, Caller, Frame, Hello};
use ballot_node::kv::{ClientId, Consistency, KvOp, KvOutcome, KvResult, Session};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A response not received this long after the last one means the connection is stuck: its
/// outstanding requests are counted as errors and the connection is opened again.
const STALL: Duration = Duration::from_secs(5);

/// Status request to one server.
pub async fn status(id: usize, addr: &str, cluster_id: &str, timeout: Duration) -> ServerView {
    let down = |error: String| ServerView::down(id, error);
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(e) => return down(format!("{addr}: not an address: {e}")),
    };
    match ballot_node::client::status(addr, cluster_id, timeout).await {
        Ok(st) => ServerView {
            id,
            // ZAB's roles in Raft's words, so one `leader_of`/`whole` serves both.
            role: match st.role.as_str() {
                "leading" => "leader".into(),
                "following" => "follower".into(),
                _ => st.role,
            },
            generation: st.term,
            leader: st.leader.map(|l| l.0),
            commit: st.commit,
            error: None,
        },
        Err(e) => down(e.to_string()),
    }
}

fn key_of(prefix: &str, i: u64) -> String {
    format!("{prefix}/{}", key_name(i))
}

struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    body: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str, cluster_id: &str) -> Result<Conn, String> {
        let stream = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect {addr}: timed out"))?
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let mut conn = Conn {
            reader: BufReader::new(read),
            writer: write,
            body: Vec::new(),
            out: Vec::new(),
        };
        conn.queue(&Frame::Hello(Hello::new(cluster_id, Caller::Client)))?;
        conn.flush().await?;
        Ok(conn)
    }

    /// Appends a frame to the output buffer.
    fn queue(&mut self, frame: &Frame<Message>) -> Result<(), String> {
        encode_into(frame, &mut self.out).map_err(|e| format!("encode: {e}"))
    }

    /// Writes the output buffer in one write.
    async fn flush(&mut self) -> Result<(), String> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.writer.write_all(&self.out).await;
        self.out.clear();
        r.map_err(|e| format!("write: {e}"))
    }

    /// The next response, within [`STALL`].
    async fn response(&mut self) -> Result<(u64, KvOutcome), String> {
        let frame = tokio::time::timeout(
            STALL,
            read_frame::<Message, _>(&mut self.reader, &mut self.body),
        )
        .await
        .map_err(|_| format!("no response within {STALL:?}"))?
        .map_err(|e| format!("read: {e}"))?;
        match frame {
            Frame::Response { id, outcome } => Ok((id, outcome)),
            Frame::Goodbye { reason } => Err(format!("server closed the connection: {reason}")),
            other => Err(format!("unexpected frame {other:?}")),
        }
    }
}

/// The connected connections of one cell: each with its session.
pub struct Load {
    conns: Vec<(Conn, ClientId)>,
    pipeline: usize,
    consistency: Consistency,
    target: String,
    cluster_id: String,
}

impl Load {
    /// Opens `--connections` connections to `target`, and a session on each. A server that
    /// answers `NotLeader` naming another (leadership moved between finding the leader and
    /// this cell) is followed, a few times at most: the cell then runs against the new leader,
    /// and the election shows in the cell's term count.
    pub async fn connect(target: &str, args: &Args) -> Result<Load, String> {
        let mut target = target.to_owned();
        let mut moves = 0;
        let conns = 'attempt: loop {
            let mut conns = Vec::with_capacity(args.connections);
            for _ in 0..args.connections {
                let mut conn = Conn::open(&target, &args.cluster_id).await?;
                conn.queue(&Frame::Request {
                    id: 1,
                    op: KvOp::Register,
                })?;
                conn.flush().await?;
                let (_, outcome) = conn
                    .response()
                    .await
                    .map_err(|e| format!("register: {e}"))?;
                match outcome {
                    KvOutcome::Ok(KvResult::Registered { client }) => conns.push((conn, client)),
                    KvOutcome::NotLeader { addr: Some(a), .. } if a != target && moves < 5 => {
                        eprintln!(
                            "register at {target}: not the leader any more, following it to {a}"
                        );
                        (target, moves) = (a, moves + 1);
                        continue 'attempt;
                    }
                    other => return Err(format!("register at {target}: answered {other:?}")),
                }
            }
            break conns;
        };
        Ok(Load {
            conns,
            pipeline: args.pipeline,
            consistency: args.consistency.into(),
            target,
            cluster_id: args.cluster_id.clone(),
        })
    }

    /// Runs the load until the window ends and drains what is in flight.
    pub async fn run(self, window: Window, keys: &Keys, value: &[u8]) -> ConnStats {
        let n = self.conns.len() as u64;
        let value = String::from_utf8_lossy(value).into_owned();
        let tasks: Vec<_> = self
            .conns
            .into_iter()
            .enumerate()
            .map(|(i, (conn, client))| {
                let first = match keys {
                    Keys::Existing { count, .. } => i as u64 * count / n,
                    Keys::New { .. } => 0,
                };
                let job = Job {
                    target: self.target.clone(),
                    cluster_id: self.cluster_id.clone(),
                    window,
                    keys: keys.clone(),
                    value: value.clone(),
                    cursor: first,
                    pipeline: self.pipeline,
                    consistency: self.consistency,
                    client,
                    next_seq: 1,
                    outstanding: BTreeSet::new(),
                    // The registration used id 1.
                    next_id: 1,
                };
                job.run(conn)
            })
            .collect();
        merge_all(futures::future::join_all(tasks).await)
    }
}

struct Job {
    target: String,
    cluster_id: String,
    window: Window,
    keys: Keys,
    value: String,
    cursor: u64,
    pipeline: usize,
    consistency: Consistency,
    client: ClientId,
    /// The session's next request number.
    next_seq: u64,
    /// Numbers sent and not answered.
    outstanding: BTreeSet<u64>,
    next_id: u64,
}

impl Job {
    /// Queues the next request: a put in the session (a new key), or a read of a key written
    /// before (`Frame::Read`, outside the session, at the cell's consistency). Returns its id
    /// and, for a put, its number in the session.
    fn issue(&mut self, conn: &mut Conn) -> Result<(u64, Option<u64>), String> {
        self.next_id += 1;
        let id = self.next_id;
        match &self.keys {
            Keys::New { prefix, next } => {
                let key = key_of(prefix, next.fetch_add(1, Ordering::SeqCst));
                let seq = self.next_seq;
                // A request that fails still spends its number, as in KvClient.
                self.next_seq += 1;
                self.outstanding.insert(seq);
                let first_outstanding = self.outstanding.first().copied().unwrap_or(seq);
                let op = KvOp::Windowed {
                    session: Session {
                        client: self.client,
                        seq,
                    },
                    first_outstanding,
                    op: Box::new(KvOp::Put {
                        key,
                        value: self.value.clone(),
                    }),
                };
                conn.queue(&Frame::Request { id, op })?;
                Ok((id, Some(seq)))
            }
            Keys::Existing { prefix, count } => {
                let key = key_of(prefix, self.cursor % count);
                self.cursor += 1;
                conn.queue(&Frame::Read {
                    id,
                    key,
                    consistency: self.consistency,
                })?;
                Ok((id, None))
            }
        }
    }

    async fn run(mut self, conn: Conn) -> ConnStats {
        let mut stats = ConnStats::default();
        let write = matches!(self.keys, Keys::New { .. });
        let mut conn = Some(conn);
        let mut reconnect_after = Duration::ZERO;
        // id → (number in the session for a put, issued at)
        let mut pending: HashMap<u64, (Option<u64>, Instant)> = HashMap::new();
        loop {
            let Some(c) = conn.as_mut() else {
                // The connection failed or the leader moved: open one (the session stays valid)
                // until the end.
                if Instant::now() >= self.window.end {
                    break;
                }
                tokio::time::sleep(reconnect_after).await;
                let t0 = Instant::now();
                match Conn::open(&self.target, &self.cluster_id).await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        stats.record(&self.window, t0, Done::Failed(e));
                        reconnect_after = Duration::from_millis(50);
                    }
                }
                continue;
            };
            // Keep `pipeline` requests outstanding while the window is open.
            while pending.len() < self.pipeline && Instant::now() < self.window.end {
                match self.issue(c) {
                    Ok((id, seq)) => {
                        pending.insert(id, (seq, Instant::now()));
                    }
                    Err(e) => {
                        stats.record(&self.window, Instant::now(), Done::Failed(e));
                        break;
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            let outcome = match c.flush().await {
                Ok(()) => c.response().await,
                Err(e) => Err(e),
            };
            let lost = match outcome {
                Ok((id, outcome)) => {
                    let Some((seq, t0)) = pending.remove(&id) else {
                        stats.record(
                            &self.window,
                            Instant::now(),
                            Done::Failed(format!("a response to unknown request {id}")),
                        );
                        continue;
                    };
                    if let Some(seq) = seq {
                        self.outstanding.remove(&seq);
                    }
                    // After an election the old leader answers NotLeader naming the new one:
                    // follow it, as KvClient does.
                    let moved = match &outcome {
                        KvOutcome::NotLeader { addr: Some(a), .. } if *a != self.target => {
                            Some(a.clone())
                        }
                        _ => None,
                    };
                    let done = judge(outcome, write);
                    let failed = matches!(done, Done::Failed(_));
                    stats.record(&self.window, t0, done);
                    match moved {
                        Some(addr) => {
                            stats.redirects += 1;
                            self.target = addr;
                            reconnect_after = Duration::ZERO;
                            Some("given up: the leader moved".to_string())
                        }
                        None => {
                            if failed {
                                // Do not spin on a server that refuses at once (no leader yet).
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            None
                        }
                    }
                }
                Err(e) => {
                    reconnect_after = Duration::from_millis(50);
                    Some(e)
                }
            };
            if let Some(e) = lost {
                // Their fate is unknown; they are not retried, so their numbers are spent.
                for (_, (seq, t0)) in pending.drain() {
                    if let Some(seq) = seq {
                        self.outstanding.remove(&seq);
                    }
                    stats.record(&self.window, t0, Done::Failed(e.clone()));
                }
                conn = None;
            }
        }
        stats
    }
}

/// How a put or get ended.
fn judge(outcome: KvOutcome, write: bool) -> Done {
    match outcome {
        KvOutcome::Ok(KvResult::Done) if write => Done::Ok,
        KvOutcome::Ok(KvResult::Value(Some(_))) if !write => Done::Ok,
        KvOutcome::Ok(KvResult::Value(None)) if !write => Done::Absent,
        other => Done::Failed(format!("{other:?}")),
    }
}

/// kill -9 of the leader, then the time until a put of a `KvClient` (every server in its
/// address list, already connected to the leader with an open session) is acknowledged.
pub async fn failover(system: crate::System, cluster: &Cluster, args: &Args) -> Result<(), String> {
    let before = crate::status_all(system, cluster, args).await;
    let leader = crate::leader_of(&before).ok_or("no single leader before the kill")?;
    let pid = pid_of(cluster, leader)?;
    let addrs = cluster
        .servers
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .map_err(|e| format!("--servers: {s}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut client = KvClient::new(addrs, &args.cluster_id);
    client.timeout = Duration::from_secs_f64(args.wait_s);
    let tag = format!("failover/r{}-{}", args.round, args.label);
    let value = "x".repeat(args.value_bytes);
    // One acknowledged write first: the session is open and the client talks to the leader.
    client
        .put(&format!("{tag}-before"), &value)
        .await
        .map_err(|e| format!("write before the kill: {e}"))?;
    let t0 = Instant::now();
    kill9(pid)?;
    let result = client.put(&format!("{tag}-after"), &value).await;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let outcome = crate::FailoverOutcome {
        killed: (leader, pid),
        acked: result.is_ok(),
        ms,
        errors: u64::from(result.is_err()),
        error_samples: result
            .as_ref()
            .err()
            .map(|e| vec![e.to_string()])
            .unwrap_or_default(),
    };
    crate::report_failover(system, cluster, args, &before, outcome).await;
    result.map_err(|e| format!("no write acknowledged after the kill: {e}"))
}
