//! `sidebyside`: the load tool of `scripts/side_by_side.sh`. One binary drives the same load
//! against a 3-server ZooKeeper 3.8 ensemble (`zookeeper-client` 0.11.2, as in
//! `shared/reference/zookeeper-baseline.md`) and 3-node ballot KV clusters, Raft (`--system
//! ballot`) or FLE + ZAB (`--system ballot-zab`): one client wire protocol, spoken directly
//! through `ballot_node::codec`. It prints one JSON line per run.
//!
//! Operations (`--op`):
//! - `write` / `read`: one cell. `--connections N` connections (ZooKeeper: N sessions), each with
//!   `--pipeline K` requests outstanding, to the leader (found with `srvr` / a status request);
//!   `--warmup-s` of load that is not counted, then `--seconds` measured. A write creates a new
//!   key (ZooKeeper: a persistent znode) with a `--value-bytes` value; a read gets a key of
//!   `--keys-from PREFIX:COUNT`, written by an earlier write cell. The line carries ops/s,
//!   latency percentiles, errors, the CPU of the client and of every server (`--pids`, procfs
//!   utime+stime over the measured window), each server's RSS after the cell, and the Raft term
//!   / ZooKeeper epoch of every server before and after the cell (elections during the cell).
//! - `status`: every server's role and term/epoch.
//! - `wait-whole`: waits (at most `--wait-s`) until all servers answer, one leads and the others
//!   follow it in the same term/epoch (ballot: with the leader's commit index).
//! - `failover`: kill -9 of the leader (its pid from `--pids`), then the time until a write of an
//!   already-connected client (all servers in its address list) is acknowledged.
//! - `report`: the markdown tables of a results file, written between the markers of `--docs`.

mod ballot;
mod report;
mod stats;
mod zk;

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;

/// Which system a run talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// Apache ZooKeeper (client ports of a 3-server ensemble).
    Zookeeper,
    /// ballot's Raft KV (`ballot node --protocol raft --insecure-plaintext`).
    Ballot,
    /// ballot's FLE + ZAB KV (`ballot node --protocol zab --insecure-plaintext`): the same
    /// client protocol, sessions and KV as the Raft one.
    BallotZab,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Zookeeper => "zookeeper",
            System::Ballot => "ballot",
            System::BallotZab => "ballot-zab",
        }
    }
}

/// How ballot serves a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReadConsistency {
    /// Through the Raft log, by the leader.
    Linearizable,
    /// From the receiving server's applied state (as ZooKeeper's `get_data`).
    Sequential,
}

impl From<ReadConsistency> for ballot_node::kv::Consistency {
    fn from(c: ReadConsistency) -> Self {
        match c {
            ReadConsistency::Linearizable => ballot_node::kv::Consistency::Linearizable,
            ReadConsistency::Sequential => ballot_node::kv::Consistency::Sequential,
        }
    }
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// A write cell: new keys with `--value-bytes` values.
    Write,
    /// A read cell: keys of `--keys-from`.
    Read,
    /// Print every server's role and term/epoch.
    Status,
    /// Wait until the cluster is whole: one leader, the others following it.
    WaitWhole,
    /// kill -9 the leader and time until a client's write is acknowledged.
    Failover,
    /// Write the markdown tables of `--results` into `--docs`.
    Report,
}

/// The command line.
#[derive(Parser, Debug, Clone)]
#[command(
    version,
    about = "Side-by-side load tool: ZooKeeper 3.8 and ballot's Raft and ZAB KV"
)]
pub struct Args {
    /// The system under load (not needed for `--op report`).
    #[arg(long, value_enum)]
    pub system: Option<System>,
    /// What to do.
    #[arg(long, value_enum)]
    pub op: Op,
    /// Every server's client address, in server-id order: `127.0.0.1:21811,127.0.0.1:21812,...`.
    #[arg(long)]
    pub servers: Option<String>,
    /// The server a cell loads (default: the leader, found by a status request).
    #[arg(long)]
    pub target: Option<String>,
    /// Separate connections (ZooKeeper: separate sessions).
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Requests outstanding on each connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Seconds of load before the measured window (not counted).
    #[arg(long, default_value_t = 2.0)]
    pub warmup_s: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Bytes of every written value.
    #[arg(long, default_value_t = 100)]
    pub value_bytes: usize,
    /// The servers' process ids, in server-id order (CPU and RSS; `failover` kills the leader's).
    #[arg(long)]
    pub pids: Option<String>,
    /// Key prefix of a write cell (ZooKeeper: znodes `/sbs/PREFIX/nNNNNNNNNNN`).
    #[arg(long, default_value = "sbs")]
    pub prefix: String,
    /// Keys a read cell reads: `PREFIX:COUNT`, keys 0..COUNT of an earlier write cell.
    #[arg(long)]
    pub keys_from: Option<String>,
    /// ballot reads: `linearizable` (answered once a read barrier in the log commits) or
    /// `sequential` (from the server's state). ZooKeeper's `get_data` is always the latter.
    #[arg(long, value_enum, default_value = "linearizable")]
    pub consistency: ReadConsistency,
    /// Round number, copied into the JSON line.
    #[arg(long, default_value_t = 0)]
    pub round: u32,
    /// Free text copied into the JSON line.
    #[arg(long, default_value = "")]
    pub label: String,
    /// ballot's cluster id.
    #[arg(long, default_value = "ballot")]
    pub cluster_id: String,
    /// `wait-whole`: give up after this many seconds; `failover`: the longest wait for the write.
    #[arg(long, default_value_t = 60.0)]
    pub wait_s: f64,
    /// `report`: the results file (JSON lines of the other operations).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// `report`: the markdown file to write between its side-by-side markers.
    #[arg(long)]
    pub docs: Option<PathBuf>,
    /// `report`: `key=value` facts printed above the tables (machine, date, command, …).
    #[arg(long = "note")]
    pub notes: Vec<String>,
}

/// Parsed addresses and pids, in server-id order (id = position + 1).
#[derive(Clone, Debug)]
pub struct Cluster {
    /// `host:port` of each server's client port.
    pub servers: Vec<String>,
    /// Process ids, if given (same order).
    pub pids: Vec<i32>,
}

/// One server's view of itself: role and generation (Raft term, ZooKeeper epoch).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ServerView {
    /// Server id (1-based position in `--servers`).
    pub id: usize,
    /// `leader`, `follower`, `candidate`, `looking`, … or `down`.
    pub role: String,
    /// Raft term, or ZooKeeper epoch (zxid >> 32).
    pub generation: u64,
    /// ballot: whom it follows; ZooKeeper: none reported.
    pub leader: Option<u64>,
    /// ballot: commit index; ZooKeeper: the zxid's counter.
    pub commit: u64,
    /// Why it is `down`.
    pub error: Option<String>,
}

impl ServerView {
    /// Server `id` did not answer its status request, for `error`.
    pub fn down(id: usize, error: String) -> Self {
        ServerView {
            id,
            role: "down".into(),
            generation: 0,
            leader: None,
            commit: 0,
            error: Some(error),
        }
    }
}

/// Status of every server.
pub async fn status_all(system: System, cluster: &Cluster, args: &Args) -> Vec<ServerView> {
    let timeout = Duration::from_millis(500);
    let mut out = Vec::new();
    for (i, addr) in cluster.servers.iter().enumerate() {
        let view = match system {
            System::Zookeeper => zk::status(i + 1, addr, timeout).await,
            System::Ballot | System::BallotZab => {
                ballot::status(i + 1, addr, &args.cluster_id, timeout).await
            }
        };
        out.push(view);
    }
    out
}

/// What one failover measured, for [`report_failover`].
pub struct FailoverOutcome {
    /// The server killed, and its process.
    pub killed: (usize, i32),
    /// Whether a write was acknowledged after the kill.
    pub acked: bool,
    /// From the kill to the acknowledgement (or to giving up), in ms.
    pub ms: f64,
    /// Failed attempts.
    pub errors: u64,
    /// A few of their messages.
    pub error_samples: Vec<String>,
}

/// Prints one failover's JSON line: the same fields for both systems, with the elections it
/// took (the generation before the kill against the one after).
pub async fn report_failover(
    system: System,
    cluster: &Cluster,
    args: &Args,
    before: &[ServerView],
    outcome: FailoverOutcome,
) {
    let after = status_all(system, cluster, args).await;
    let gen_before = before.iter().map(|v| v.generation).max().unwrap_or(0);
    let gen_after = after.iter().map(|v| v.generation).max().unwrap_or(0);
    let line = serde_json::json!({
        "kind": "failover",
        "system": system.name(),
        "round": args.round,
        "label": args.label,
        "killed_id": outcome.killed.0,
        "killed_pid": outcome.killed.1,
        "acked": outcome.acked,
        "failover_ms": stats::round3(outcome.ms),
        "errors": outcome.errors,
        "error_samples": outcome.error_samples,
        "generation_before": gen_before,
        "generation_after": gen_after,
        "elections": gen_after.saturating_sub(gen_before),
        "leader_after": leader_of(&after),
    });
    println!("{line}");
}

/// The id of the one server that says it leads, if exactly one does.
pub fn leader_of(views: &[ServerView]) -> Option<usize> {
    let leaders: Vec<usize> = views
        .iter()
        .filter(|v| v.role == "leader")
        .map(|v| v.id)
        .collect();
    match leaders.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Whether the cluster is whole: every server answers, exactly one leads, every other follows
/// it (ballot: in its term, naming it, with its commit index reached).
pub fn whole(system: System, views: &[ServerView]) -> bool {
    let Some(leader) = leader_of(views) else {
        return false;
    };
    let lead = &views[leader - 1];
    views.iter().all(|v| {
        v.error.is_none()
            && (v.id == leader
                || (v.role == "follower"
                    && match system {
                        // A ZooKeeper follower answers `srvr` as one only once it has synced with
                        // the leader; its zxid is the last txn it applied, which keeps the old
                        // epoch until the new leader's first txn.
                        System::Zookeeper => true,
                        // Raft: in the leader's term, knowing it, with its commit index
                        // reached; ZAB: in the leader's epoch, following it, having applied
                        // what the leader applied.
                        System::Ballot | System::BallotZab => {
                            v.generation == lead.generation
                                && v.leader == Some(leader as u64)
                                && v.commit >= lead.commit
                        }
                    }))
    })
}

fn parse_cluster(args: &Args) -> Result<Cluster, String> {
    let servers: Vec<String> = args
        .servers
        .as_deref()
        .ok_or("--servers: required for this --op")?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if servers.is_empty() {
        return Err("--servers: no address given".into());
    }
    let pids = match &args.pids {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i32>()
                    .map_err(|e| format!("--pids: {s:?} is not a process id: {e}"))
            })
            .collect::<Result<_, _>>()?,
    };
    if !pids.is_empty() && pids.len() != servers.len() {
        return Err(format!(
            "--pids: {} pids for {} servers (give one per server, in server-id order)",
            pids.len(),
            servers.len()
        ));
    }
    Ok(Cluster { servers, pids })
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.op == Op::Report {
        return match report::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let Some(system) = args.system else {
        eprintln!("error: --system: required for --op {:?}", args.op);
        return ExitCode::from(2);
    };
    let cluster = match parse_cluster(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The same single-threaded runtime for both systems, as in the baseline: the client's CPU is
    // at most one core, and the two clients cost alike.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match args.op {
            Op::Status => {
                let views = status_all(system, &cluster, &args).await;
                let line = serde_json::json!({
                    "kind": "status",
                    "system": system.name(),
                    "leader_id": leader_of(&views),
                    "whole": whole(system, &views),
                    "servers": views,
                });
                println!("{line}");
                Ok(())
            }
            Op::WaitWhole => wait_whole(system, &cluster, &args).await,
            Op::Write | Op::Read => cell(system, &cluster, &args).await,
            Op::Failover => match system {
                System::Zookeeper => zk::failover(&cluster, &args).await,
                System::Ballot | System::BallotZab => {
                    ballot::failover(system, &cluster, &args).await
                }
            },
            Op::Report => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {} {:?}: {e}", system.name(), args.op);
            ExitCode::from(1)
        }
    }
}

async fn wait_whole(system: System, cluster: &Cluster, args: &Args) -> Result<(), String> {
    let start = Instant::now();
    let limit = Duration::from_secs_f64(args.wait_s);
    loop {
        let views = status_all(system, cluster, args).await;
        if whole(system, &views) {
            let line = serde_json::json!({
                "kind": "whole",
                "system": system.name(),
                "leader_id": leader_of(&views),
                "waited_ms": start.elapsed().as_secs_f64() * 1e3,
                "servers": views,
            });
            println!("{line}");
            return Ok(());
        }
        if start.elapsed() >= limit {
            return Err(format!(
                "the cluster is not whole after {:.0} s: {}",
                args.wait_s,
                serde_json::to_string(&views).unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The measured window of a cell, shared by its connections.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Load starts (warm-up).
    pub start: Instant,
    /// Measurement starts.
    pub measure: Instant,
    /// Measurement ends; no request is issued after it.
    pub end: Instant,
}

/// How one request ended.
#[derive(Debug)]
pub enum Done {
    /// Answered with success.
    Ok,
    /// A read answered "no such key" (the write cell before failed to write it): a read all
    /// the same, counted with its latency, and also counted apart.
    Absent,
    /// Failed (an error answer, a lost connection, a timeout).
    Failed(String),
}

/// What one connection saw.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Latencies (ns) of answered requests completed inside the window.
    pub lat_ns: Vec<u64>,
    /// Reads of absent keys completed inside the window (also in `lat_ns`).
    pub absent: u64,
    /// Failed requests completed inside the window.
    pub errors: u64,
    /// Requests completed in the warm-up or after the window (drained).
    pub outside_ops: u64,
    /// Failed requests completed in the warm-up or after the window.
    pub outside_errors: u64,
    /// Times a connection followed the leader to another server.
    pub redirects: u64,
    /// The first few error messages.
    pub samples: Vec<String>,
}

impl ConnStats {
    /// Records one completed request.
    pub fn record(&mut self, w: &Window, issued: Instant, done: Done) {
        let now = Instant::now();
        let inside = now >= w.measure && now <= w.end;
        match done {
            Done::Ok | Done::Absent if inside => {
                self.lat_ns.push((now - issued).as_nanos() as u64);
                if matches!(done, Done::Absent) {
                    self.absent += 1;
                }
            }
            Done::Ok | Done::Absent => self.outside_ops += 1,
            Done::Failed(e) => {
                if inside {
                    self.errors += 1;
                } else {
                    self.outside_errors += 1;
                }
                if self.samples.len() < 3 {
                    self.samples.push(e);
                }
            }
        }
    }

    fn merge(&mut self, other: ConnStats) {
        self.lat_ns.extend(other.lat_ns);
        self.absent += other.absent;
        self.errors += other.errors;
        self.outside_ops += other.outside_ops;
        self.outside_errors += other.outside_errors;
        self.redirects += other.redirects;
        for s in other.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
    }
}

/// The keys of a cell: a shared counter for writes (a new key per request), or a range of
/// keys written before for reads.
#[derive(Clone, Debug)]
pub enum Keys {
    /// Writes: keys `prefix`/n<i> for i taken from a counter.
    New {
        /// Key prefix.
        prefix: String,
        /// Next index.
        next: std::sync::Arc<std::sync::atomic::AtomicU64>,
    },
    /// Reads: keys `prefix`/n<i>, i in 0..count.
    Existing {
        /// Key prefix.
        prefix: String,
        /// How many were written.
        count: u64,
    },
}

impl Keys {
    fn prefix(&self) -> &str {
        match self {
            Keys::New { prefix, .. } | Keys::Existing { prefix, .. } => prefix,
        }
    }
}

/// A key's name below its prefix.
pub fn key_name(i: u64) -> String {
    format!("n{i:010}")
}

async fn cell(system: System, cluster: &Cluster, args: &Args) -> Result<(), String> {
    if args.connections == 0 || args.pipeline == 0 {
        return Err("--connections and --pipeline must be at least 1".into());
    }
    if !(args.seconds > 0.0 && args.warmup_s >= 0.0) {
        return Err("--seconds must be > 0 and --warmup-s >= 0".into());
    }
    let keys = match args.op {
        Op::Write => Keys::New {
            prefix: args.prefix.clone(),
            next: Default::default(),
        },
        _ => {
            let text = args
                .keys_from
                .as_deref()
                .ok_or("--keys-from PREFIX:COUNT: required for --op read")?;
            let (prefix, count) = text
                .rsplit_once(':')
                .ok_or_else(|| format!("--keys-from: {text:?} is not PREFIX:COUNT"))?;
            let count: u64 = count
                .parse()
                .map_err(|e| format!("--keys-from: count {count:?}: {e}"))?;
            if count == 0 {
                return Err("--keys-from: no keys to read (COUNT is 0)".into());
            }
            Keys::Existing {
                prefix: prefix.to_owned(),
                count,
            }
        }
    };
    let before = status_all(system, cluster, args).await;
    let leader = leader_of(&before);
    let target_id = match &args.target {
        Some(t) => cluster
            .servers
            .iter()
            .position(|s| s == t)
            .map(|i| i + 1)
            .ok_or_else(|| format!("--target {t} is not one of --servers"))?,
        None => leader.ok_or_else(|| {
            format!(
                "no single leader: {}",
                serde_json::to_string(&before).unwrap_or_default()
            )
        })?,
    };
    let target = cluster.servers[target_id - 1].clone();
    let value = vec![b'x'; args.value_bytes];
    // Connect every connection (and open its sessions) before the clock starts.
    let load = match system {
        System::Zookeeper => zk::Load::connect(&target, args, &keys).await?.into(),
        System::Ballot | System::BallotZab => ballot::Load::connect(&target, args).await?.into(),
    };
    let start = Instant::now();
    let measure = start + Duration::from_secs_f64(args.warmup_s);
    let window = Window {
        start,
        measure,
        end: measure + Duration::from_secs_f64(args.seconds),
    };
    // CPU of every server and of this client at both ends of the measured window.
    let pids = cluster.pids.clone();
    let monitor = tokio::spawn(async move {
        tokio::time::sleep_until(window.measure).await;
        let t0 = Instant::now();
        let cpu0: Vec<f64> = pids
            .iter()
            .map(|p| stats::cpu_secs(&p.to_string()))
            .collect();
        let me0 = stats::cpu_secs("self");
        tokio::time::sleep_until(window.end).await;
        let wall = t0.elapsed().as_secs_f64();
        let cpu: Vec<f64> = pids
            .iter()
            .zip(&cpu0)
            .map(|(p, c0)| (stats::cpu_secs(&p.to_string()) - c0) / wall * 100.0)
            .collect();
        let me = (stats::cpu_secs("self") - me0) / wall * 100.0;
        (cpu, me, wall)
    });
    let total = match load {
        AnyLoad::Zk(l) => l.run(window, &keys, &value).await,
        AnyLoad::Ballot(l) => l.run(window, &keys, &value).await,
    };
    let (server_cpu, client_cpu, wall) = monitor
        .await
        .map_err(|e| format!("CPU monitor task: {e}"))?;
    let after = status_all(system, cluster, args).await;
    let rss: Vec<f64> = cluster.pids.iter().map(|p| stats::rss_mib(*p)).collect();
    let mut lat = total.lat_ns;
    lat.sort_unstable();
    let ops = lat.len() as u64;
    let gen_before: Vec<u64> = before.iter().map(|v| v.generation).collect();
    let gen_after: Vec<u64> = after.iter().map(|v| v.generation).collect();
    let max_before = gen_before.iter().copied().max().unwrap_or(0);
    let max_after = gen_after.iter().copied().max().unwrap_or(0);
    let servers: Vec<serde_json::Value> = (0..cluster.servers.len())
        .map(|i| {
            serde_json::json!({
                "id": i + 1,
                "pid": cluster.pids.get(i),
                "role": before[i].role,
                "cpu_pct": server_cpu.get(i).map(|c| stats::round1(*c)),
                "rss_mib": rss.get(i).map(|r| stats::round1(*r)),
            })
        })
        .collect();
    let role_cpu = |want_leader: bool| -> f64 {
        (0..server_cpu.len())
            .filter(|&i| (Some(i + 1) == leader) == want_leader)
            .map(|i| server_cpu[i])
            .sum()
    };
    let keys_written = match &keys {
        Keys::New { next, .. } => Some(next.load(std::sync::atomic::Ordering::SeqCst)),
        Keys::Existing { .. } => None,
    };
    let line = serde_json::json!({
        "kind": "cell",
        "system": system.name(),
        "op": match args.op { Op::Write => "write", _ => "read" },
        "consistency": match (args.op, system) {
            (Op::Write, _) => None,
            (_, System::Zookeeper) => Some("sequential"),
            (_, System::Ballot | System::BallotZab) => Some(match args.consistency {
                ReadConsistency::Linearizable => "linearizable",
                ReadConsistency::Sequential => "sequential",
            }),
        },
        "connections": args.connections,
        "pipeline": args.pipeline,
        "round": args.round,
        "label": args.label,
        "target_id": target_id,
        "leader_id": leader,
        "value_bytes": args.value_bytes,
        "warmup_s": args.warmup_s,
        "seconds": args.seconds,
        "cpu_window_s": stats::round3(wall),
        "ops": ops,
        "ops_per_s": stats::round1(ops as f64 / args.seconds),
        "errors": total.errors,
        "outside_ops": total.outside_ops,
        "outside_errors": total.outside_errors,
        "absent": total.absent,
        "redirects": total.redirects,
        "error_samples": total.samples,
        "mean_ms": stats::round3(if lat.is_empty() { 0.0 } else { lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1e6 }),
        "p50_ms": stats::round3(stats::pct(&lat, 50.0)),
        "p90_ms": stats::round3(stats::pct(&lat, 90.0)),
        "p99_ms": stats::round3(stats::pct(&lat, 99.0)),
        "p999_ms": stats::round3(stats::pct(&lat, 99.9)),
        "max_ms": stats::round3(stats::pct(&lat, 100.0)),
        "client_cpu_pct": stats::round1(client_cpu),
        "servers": servers,
        "leader_cpu_pct": stats::round1(role_cpu(true)),
        "followers_cpu_pct": stats::round1(role_cpu(false)),
        "servers_cpu_pct": stats::round1(server_cpu.iter().sum()),
        "generation": match system {
            System::Zookeeper => "zk epoch (zxid >> 32)",
            System::Ballot => "raft term",
            System::BallotZab => "zab currentEpoch",
        },
        "generations_before": gen_before,
        "generations_after": gen_after,
        "elections": max_after.saturating_sub(max_before),
        "leader_after": leader_of(&after),
        "keys_prefix": keys.prefix(),
        "keys_written": keys_written,
    });
    println!("{line}");
    Ok(())
}

/// A cell's connected load of either system.
pub enum AnyLoad {
    /// ZooKeeper sessions.
    Zk(zk::Load),
    /// ballot connections.
    Ballot(ballot::Load),
}

impl From<zk::Load> for AnyLoad {
    fn from(l: zk::Load) -> Self {
        AnyLoad::Zk(l)
    }
}

impl From<ballot::Load> for AnyLoad {
    fn from(l: ballot::Load) -> Self {
        AnyLoad::Ballot(l)
    }
}

/// Merges the stats of every connection.
pub fn merge_all(all: Vec<ConnStats>) -> ConnStats {
    let mut total = ConnStats::default();
    for s in all {
        total.merge(s);
    }
    total
}

/// The pid of server `id` (1-based), or an error naming `--pids`.
pub fn pid_of(cluster: &Cluster, id: usize) -> Result<i32, String> {
    cluster
        .pids
        .get(id - 1)
        .copied()
        .ok_or_else(|| format!("--pids: no pid for server {id}"))
}

/// kill -9 of `pid`.
pub fn kill9(pid: i32) -> Result<(), String> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "kill -9 {pid}: {}",
            std::io::Error::last_os_error()
        ))
    }
}
