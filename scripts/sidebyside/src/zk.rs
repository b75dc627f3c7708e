//! The ZooKeeper side: `zookeeper-client` 0.11.2, one session per connection, K requests in
//! flight per session through a `FuturesUnordered` (the crate sends a request when the call is
//! made, so they are really pipelined on the session's one connection); `srvr` for roles and
//! epochs.

use crate::{
    key_name, kill9, merge_all, pid_of, Args, Cluster, ConnStats, Done, Keys, ServerView, Window,
};
use futures::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use zookeeper_client as zk;

/// Session timeout of every client (the baseline's).
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Parent of every znode the tool creates.
const ROOT: &str = "/sbs";

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn path_of(prefix: &str, i: u64) -> String {
    format!("{ROOT}/{prefix}/{}", key_name(i))
}

/// `srvr` of one server: its mode and epoch (zxid >> 32).
pub async fn status(id: usize, addr: &str, timeout: Duration) -> ServerView {
    match tokio::time::timeout(timeout, srvr(addr)).await {
        Ok(Ok(text)) => parse_srvr(id, &text),
        Ok(Err(e)) => ServerView::down(id, e),
        Err(_) => ServerView::down(id, "srvr timed out".into()),
    }
}

async fn srvr(addr: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.write_all(b"srvr")
        .await
        .map_err(|e| format!("srvr {addr}: {e}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .await
        .map_err(|e| format!("srvr {addr}: {e}"))?;
    Ok(text)
}

fn parse_srvr(id: usize, text: &str) -> ServerView {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    let Some(mode) = field("Mode:") else {
        // A server that is not serving (electing) answers "This ZooKeeper instance is not
        // currently serving requests".
        let first = text.lines().next().unwrap_or("no answer").to_owned();
        return ServerView {
            role: "looking".into(),
            ..ServerView::down(id, first)
        };
    };
    let zxid = field("Zxid:")
        .and_then(|z| u64::from_str_radix(z.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    ServerView {
        id,
        role: mode,
        generation: zxid >> 32,
        leader: None,
        commit: zxid & 0xffff_ffff,
        error: None,
    }
}

type Fut = Pin<Box<dyn Future<Output = (Instant, Done)> + Send>>;

/// The connected sessions of one cell.
pub struct Load {
    clients: Vec<zk::Client>,
    pipeline: usize,
}

impl Load {
    /// Opens `--connections` sessions to `target` (and, for writes, the parent znode).
    pub async fn connect(target: &str, args: &Args, keys: &Keys) -> Result<Load, String> {
        let mut clients = Vec::with_capacity(args.connections);
        for _ in 0..args.connections {
            let c = zk::Client::connector()
                .with_session_timeout(SESSION_TIMEOUT)
                .connect(target)
                .await
                .map_err(|e| format!("connect to {target}: {e}"))?;
            clients.push(c);
        }
        if let Keys::New { prefix, .. } = keys {
            let parent = format!("{ROOT}/{prefix}");
            clients[0]
                .mkdir(&parent, &persistent())
                .await
                .map_err(|e| format!("mkdir {parent}: {e}"))?;
        }
        Ok(Load {
            clients,
            pipeline: args.pipeline,
        })
    }

    /// Runs the load until the window ends, drains what is in flight, closes the sessions.
    pub async fn run(self, window: Window, keys: &Keys, value: &[u8]) -> ConnStats {
        let n = self.clients.len() as u64;
        let tasks: Vec<_> = self
            .clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let first = match keys {
                    Keys::Existing { count, .. } => i as u64 * count / n,
                    Keys::New { .. } => 0,
                };
                one_session(
                    c.clone(),
                    self.pipeline,
                    window,
                    keys.clone(),
                    value.to_vec(),
                    first,
                )
            })
            .collect();
        let all = futures::future::join_all(tasks).await;
        // The last handle of a session closes it (CloseSession); wait for that, at most 3 s.
        let mut watchers: Vec<_> = self.clients.iter().map(|c| c.state_watcher()).collect();
        drop(self.clients);
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            for w in &mut watchers {
                while !w.changed().await.is_terminated() {}
            }
        })
        .await;
        merge_all(all)
    }
}

async fn one_session(
    client: zk::Client,
    pipeline: usize,
    window: Window,
    keys: Keys,
    value: Vec<u8>,
    first: u64,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut cursor = first;
    let mut next_path = || match &keys {
        Keys::New { prefix, next } => path_of(prefix, next.fetch_add(1, Ordering::SeqCst)),
        Keys::Existing { prefix, count } => {
            let p = path_of(prefix, cursor % count);
            cursor += 1;
            p
        }
    };
    let write = matches!(keys, Keys::New { .. });
    let issue = |path: String, pause: bool| -> Fut {
        let c = client.clone();
        let data = value.clone();
        Box::pin(async move {
            if pause {
                // After an error, do not spin on a session that fails at once.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let t0 = Instant::now(); // the request is sent on this first poll
            let r = if write {
                c.create(&path, &data, &persistent()).await.map(|_| ())
            } else {
                c.get_data(&path).await.map(|_| ())
            };
            let done = match r {
                Ok(()) => Done::Ok,
                Err(zk::Error::NoNode) if !write => Done::Absent,
                Err(e) => Done::Failed(format!("{path}: {e}")),
            };
            (t0, done)
        })
    };
    let mut inflight: FuturesUnordered<Fut> = FuturesUnordered::new();
    for _ in 0..pipeline {
        inflight.push(issue(next_path(), false));
    }
    while let Some((t0, done)) = inflight.next().await {
        let failed = matches!(done, Done::Failed(_));
        stats.record(&window, t0, done);
        if Instant::now() < window.end {
            inflight.push(issue(next_path(), failed));
        }
    }
    stats
}

/// kill -9 of the leader, then the time until a create of a client connected with all three
/// servers in its connect string is acknowledged.
pub async fn failover(cluster: &Cluster, args: &Args) -> Result<(), String> {
    let before: Vec<ServerView> = crate::status_all(crate::System::Zookeeper, cluster, args).await;
    let leader = crate::leader_of(&before).ok_or("no single leader before the kill")?;
    let pid = pid_of(cluster, leader)?;
    let connect = cluster.servers.join(",");
    let client = zk::Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .connect(&connect)
        .await
        .map_err(|e| format!("connect to {connect}: {e}"))?;
    let parent = format!("{ROOT}/failover");
    client
        .mkdir(&parent, &persistent())
        .await
        .map_err(|e| format!("mkdir {parent}: {e}"))?;
    let tag = format!("r{}-{}", args.round, args.label);
    let data = vec![b'x'; args.value_bytes];
    // One acknowledged write first: the session is open and connected.
    client
        .create(&format!("{parent}/{tag}-before"), &data, &persistent())
        .await
        .map_err(|e| format!("write before the kill: {e}"))?;
    let path = format!("{parent}/{tag}-after");
    let limit = Duration::from_secs_f64(args.wait_s);
    let t0 = Instant::now();
    kill9(pid)?;
    let mut errors = 0u64;
    let mut samples: Vec<String> = Vec::new();
    let acked = loop {
        let left = limit.saturating_sub(t0.elapsed());
        if left.is_zero() {
            break false;
        }
        match tokio::time::timeout(left, client.create(&path, &data, &persistent())).await {
            // NodeExists: an earlier attempt was applied and its answer lost.
            Ok(Ok(_)) | Ok(Err(zk::Error::NodeExists)) => break true,
            Ok(Err(e)) => {
                errors += 1;
                if samples.len() < 3 {
                    samples.push(e.to_string());
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(_) => break false,
        }
    };
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let outcome = crate::FailoverOutcome {
        killed: (leader, pid),
        acked,
        ms,
        errors,
        error_samples: samples,
    };
    crate::report_failover(crate::System::Zookeeper, cluster, args, &before, outcome).await;
    // Close the session (CloseSession on the last handle's drop) rather than leave it to expire.
    let mut state = client.state_watcher();
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while !state.changed().await.is_terminated() {}
    })
    .await;
    if acked {
        Ok(())
    } else {
        Err(format!(
            "no write acknowledged within {:.0} s of the kill",
            args.wait_s
        ))
    }
}
