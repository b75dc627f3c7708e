//! `ballot fault`: fault injection against the real Raft cluster. Three `ballot node` processes on
//! loopback (mutual TLS with throw-away certificates, as `ballot cluster` runs them), concurrent
//! clients recording every call (invocation and response times, outcome), and a seeded nemesis
//! that kills, pauses and partitions nodes. At the end everything is healed,
//! every key is read, and the history is checked for linearizability
//! ([`crate::linearizability`]) and for values read again after another value (a put applied
//! twice, or a stale read).
//!
//! The seed fixes the fault schedule (when, which kind, how long) and the clients' choices; the
//! operating system's timing is not reproducible, so a rerun replays the same faults, not the
//! same interleaving. Exit codes: 0 linearizable; 1 a violation, a repeated value, or a cluster
//! that did not recover; 2 bad flags or a bad history file; 3 the checker hit its bound
//! (undecided: not a pass).

use crate::linearizability::{
    self, Call, Operation, Outcome, Report, Return, Verdict, MAX_STATES_PER_KEY,
};
use anyhow::{anyhow, bail, Context};
use ballot_core::ServerId;
use ballot_node::client::{status_with, ClientError, KvClient};
use ballot_node::rng::SeededRng;
use ballot_node::tls::{write_cluster_tls, ClientSecurity, ClientTls, ClusterTlsFiles};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// Cluster id of the suite's nodes: a stray client of another cluster is refused.
const CLUSTER_ID: &str = "ballot-fault";
/// Servers in the cluster: a majority survives any one fault, and `kill-two` takes it away.
const NODES: usize = 3;
/// Bound on the first election (process start-up included, on a loaded 2-core machine).
const FIRST_LEADER_BOUND: Duration = Duration::from_secs(20);
/// Bound on finding the leader before a leader-directed fault; past it the fault is skipped.
const LEADER_LOOKUP: Duration = Duration::from_secs(1);
/// One status request; a paused node never answers, so this must stay short.
const STATUS_TIMEOUT: Duration = Duration::from_millis(150);
/// A client gives a call up (outcome unknown) after this long: longer than most faults, so most
/// calls outlive them and answer, but shorter than the longest `kill-two`, so some calls end
/// unknown and may take effect after their client gave up.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long client `i` waits for one attempt at one server: `ATTEMPT_TIMEOUTS_MS[i % 4]`. They
/// differ so that while some clients still wait on a stopped leader, others have moved to the
/// new one and keep reading; and a short one re-sends a request that may already be in the log
/// (what client sessions must make harmless) even without a fault.
const ATTEMPT_TIMEOUTS_MS: [u64; 4] = [250, 80, 30, 10];
/// Bound on the cluster serving every key after everything is healed.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);
/// Clients pause up to this long between calls, so histories stay checkable (~10^4 per key).
const THINK_MS_MAX: u64 = 4;
/// Share of puts among client calls (the rest are gets).
const PUT_PERCENT: u64 = 50;
/// Quiet time between two faults, ms (uniform in the range).
const GAP_MS: (u64, u64) = (200, 600);
/// How long a killed node stays down, ms.
const DOWN_MS: (u64, u64) = (100, 800);
/// How long a paused leader stays stopped, ms (past the election timeout, so a new leader
/// is elected while the old one still thinks it leads).
const PAUSE_MS: (u64, u64) = (200, 1500);
/// How long both nodes of `kill-two` stay down, ms.
const TWO_DOWN_MS: (u64, u64) = (200, 1200);
/// How long a node stays cut off from its peers, ms.
const PARTITION_MS: (u64, u64) = (200, 1500);
/// Longest run accepted by `--duration`, seconds.
const DURATION_MAX_S: f64 = 3600.0;
/// Witness operations printed per key.
const WITNESS_SHOWN: usize = 30;

/// `ballot fault`: a seeded fault-injection run against a 3-node Raft cluster, checked for
/// linearizability.
#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Faults (--nemesis, comma-separated, or all, or none):\n  \
    kill-leader     kill -9 the leader, restart it after 100-800 ms\n  \
    kill-follower   kill -9 a follower, restart it after 100-800 ms\n  \
    pause-leader    SIGSTOP the leader for 200-1500 ms, then SIGCONT\n  \
    kill-two        kill -9 two nodes (no majority), restart both after 200-1200 ms\n  \
    partition       cut one node (the leader half the time) off from its peers for\n                  \
    200-1500 ms (a TCP proxy per peer link drops everything); clients still reach it\n\n\
    Exit codes: 0 linearizable; 1 not linearizable, a value read again after another, or the\n\
    cluster did not recover; 2 bad flags or history file; 3 undecided (checker bound hit)."
)]
pub struct FaultArgs {
    /// Seed of the fault schedule and of the clients' choices [default: from the clock; printed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds of client load and faults.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub clients: u64,
    /// Keys the clients use (k0, k1, ...).
    #[arg(long, default_value_t = 3)]
    pub keys: u64,
    /// Faults to inject (see below).
    #[arg(long, default_value = "all")]
    pub nemesis: String,
    /// Data directory (node data and logs, certificates, history.jsonl, faults.log); must hold
    /// no cluster
    /// [default: a fresh directory under the system's temporary directory].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the data directory after a passing run (a failing run always keeps it).
    #[arg(long)]
    pub keep: bool,
    /// Check a recorded history (JSON lines, as in DIR/history.jsonl) instead of running.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["seed", "duration", "clients", "keys", "nemesis", "dir", "keep", "pre_vote", "snapshot_every", "snapshot_keep"]
    )]
    pub check_history: Option<PathBuf>,
    /// Bound on the checker's search, in (linearized set, state) pairs per key.
    #[arg(long, default_value_t = MAX_STATES_PER_KEY)]
    pub max_states: u64,
    /// PreVote and CheckQuorum on every node (see `ballot node --pre-vote`).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub pre_vote: bool,
    /// Every node's `--snapshot-every`: far below a node's default (10,000), so that a run's
    /// faults meet compactions, and a node killed or cut off falls behind a snapshot and
    /// catches up through InstallSnapshot (0: never compact).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub snapshot_every: u64,
    /// Every node's `--snapshot-keep`.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub snapshot_keep: u64,
}

/// The kinds of fault the nemesis injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillLeader,
    KillFollower,
    PauseLeader,
    KillTwo,
    Partition,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::PauseLeader,
        Fault::KillTwo,
        Fault::Partition,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::KillLeader => "kill-leader",
            Fault::KillFollower => "kill-follower",
            Fault::PauseLeader => "pause-leader",
            Fault::KillTwo => "kill-two",
            Fault::Partition => "partition",
        }
    }
}

fn parse_nemesis(text: &str) -> anyhow::Result<Vec<Fault>> {
    match text.trim() {
        "all" => return Ok(Fault::ALL.to_vec()),
        "none" => return Ok(Vec::new()),
        _ => {}
    }
    let mut faults = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let fault = Fault::ALL
            .into_iter()
            .find(|f| f.name() == item)
            .ok_or_else(|| {
                let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                anyhow!(
                    "--nemesis: unknown fault {item:?} (known: {}, all, none)",
                    known.join(", ")
                )
            })?;
        if !faults.contains(&fault) {
            faults.push(fault);
        }
    }
    if faults.is_empty() {
        bail!("--nemesis: no fault named (use `none` for a run without faults)");
    }
    Ok(faults)
}

/// A validated run.
struct Plan {
    seed: u64,
    duration: Duration,
    clients: u64,
    keys: Arc<Vec<String>>,
    faults: Vec<Fault>,
    dir: PathBuf,
    keep: bool,
    max_states: u64,
    pre_vote: bool,
    snapshot_every: u64,
    snapshot_keep: u64,
}

impl Plan {
    fn new(args: &FaultArgs) -> anyhow::Result<Plan> {
        if !(args.duration > 0.0 && args.duration <= DURATION_MAX_S) {
            bail!(
                "--duration: must be in (0, {DURATION_MAX_S}] seconds, got {}",
                args.duration
            );
        }
        if !(1..=256).contains(&args.clients) {
            bail!("--clients: must be between 1 and 256, got {}", args.clients);
        }
        if !(1..=10_000).contains(&args.keys) {
            bail!("--keys: must be between 1 and 10000, got {}", args.keys);
        }
        if args.max_states == 0 {
            bail!("--max-states: must be at least 1");
        }
        let seed = args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                % 1_000_000
        });
        let dir = args.dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("ballot-fault-{seed}-{}", std::process::id()))
        });
        Ok(Plan {
            seed,
            duration: Duration::from_secs_f64(args.duration),
            clients: args.clients,
            keys: Arc::new((0..args.keys).map(|k| format!("k{k}")).collect()),
            faults: parse_nemesis(&args.nemesis)?,
            dir,
            keep: args.keep,
            max_states: args.max_states,
            pre_vote: args.pre_vote,
            snapshot_every: args.snapshot_every,
            snapshot_keep: args.snapshot_keep,
        })
    }

    fn nemesis_names(&self) -> String {
        if self.faults.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.faults.iter().map(|f| f.name()).collect();
        names.join(",")
    }

    /// The command line that replays this run's fault schedule and client choices.
    fn reproduce(&self) -> String {
        let mut line = format!(
            "ballot fault --seed {} --duration {} --clients {} --keys {} --nemesis {}",
            self.seed,
            self.duration.as_secs_f64(),
            self.clients,
            self.keys.len(),
            self.nemesis_names()
        );
        if !self.pre_vote {
            line += " --pre-vote false";
        }
        line += &format!(
            " --snapshot-every {} --snapshot-keep {}",
            self.snapshot_every, self.snapshot_keep
        );
        if self.max_states != MAX_STATES_PER_KEY {
            line += &format!(" --max-states {}", self.max_states);
        }
        line
    }
}

/// Runs `ballot fault`. An `Err` is bad usage (exit 2); everything else is an exit code.
pub fn run(args: FaultArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.check_history {
        return check_file(path, args.max_states);
    }
    let plan = Plan::new(&args)?;
    let created = prepare_dir(&plan.dir)?;
    let exe = std::env::current_exe().context("locating the ballot executable")?;
    println!(
        "fault: seed {}, {} s, {} clients on {} keys, nemesis {}, pre-vote {}, snapshot every {} keeping {}; data in {}",
        plan.seed,
        plan.duration.as_secs_f64(),
        plan.clients,
        plan.keys.len(),
        plan.nemesis_names(),
        plan.pre_vote,
        plan.snapshot_every,
        plan.snapshot_keep,
        plan.dir.display()
    );
    let _ = std::io::stdout().flush();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let started = std::time::Instant::now();
    let outcome = rt.block_on(async {
        tokio::select! {
            result = suite(&plan, &exe) => Some(result),
            () = interrupted() => None,
        }
    });
    // Dropping the runtime ends the proxies and any client still running; the nodes are gone
    // already (the suite's guard dropped with it).
    drop(rt);
    let Some(outcome) = outcome else {
        eprintln!(
            "interrupted: every node stopped; data kept in {}",
            plan.dir.display()
        );
        return Ok(ExitCode::from(1));
    };
    let run = match outcome {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e:#}");
            println!("reproduce: {}", plan.reproduce());
            println!("data kept in {}", plan.dir.display());
            return Ok(ExitCode::from(1));
        }
    };
    let code = judge(&plan, run, started.elapsed()).unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        1
    });
    if code == 0 && !plan.keep {
        remove_data(&plan.dir, created);
    }
    Ok(ExitCode::from(code))
}

/// Creates the data directory; refuses one that holds a cluster. Whether it was created.
fn prepare_dir(dir: &Path) -> anyhow::Result<bool> {
    let created = !dir.exists();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--dir: cannot create {}", dir.display()))?;
    if (1..=NODES).any(|id| dir.join(format!("node{id}")).exists()) {
        bail!(
            "--dir: {} already holds a cluster's data; give a fresh directory",
            dir.display()
        );
    }
    Ok(created)
}

fn remove_data(dir: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    for id in 1..=NODES {
        let _ = std::fs::remove_dir_all(dir.join(format!("node{id}")));
        for file in [
            format!("node{id}.log"),
            format!("node{id}-cert.pem"),
            format!("node{id}-key.pem"),
        ] {
            let _ = std::fs::remove_file(dir.join(file));
        }
    }
    let _ = std::fs::remove_file(dir.join("ca.pem"));
    let _ = std::fs::remove_file(dir.join("history.jsonl"));
    let _ = std::fs::remove_file(dir.join("faults.log"));
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// What one run produced.
struct Run {
    history: Vec<Operation>,
    faults: Vec<Injected>,
    skipped: u64,
    /// Ways the cluster misbehaved besides the history (a node exiting on its own, no recovery).
    problems: Vec<String>,
}

/// One injected fault.
struct Injected {
    at: Duration,
    fault: Fault,
    /// Server ids.
    nodes: Vec<usize>,
    held: Duration,
}

async fn suite(plan: &Plan, exe: &Path) -> anyhow::Result<Run> {
    let origin = Instant::now();
    let (mut nodes, links) = start_cluster(plan, exe).await?;
    let stop_at = Instant::now() + plan.duration;
    let clients: Vec<_> = (0..plan.clients)
        .map(|id| {
            let load = Load {
                id,
                seed: plan.seed,
                keys: plan.keys.clone(),
                addrs: nodes.listen.clone(),
                security: nodes.security.clone(),
                origin,
                stop_at,
            };
            tokio::spawn(load.run())
        })
        .collect();
    let mut nemesis = Nemesis::new(plan, origin, stop_at);
    let mut problems = Vec::new();
    if let Err(problem) = nemesis.run(&mut nodes, links.as_ref()).await {
        problems.push(problem);
    }
    if let Some(links) = &links {
        links.heal();
    }
    nodes.heal()?;
    let mut history = Vec::new();
    let joined_by = Instant::now().max(stop_at) + CLIENT_TIMEOUT + Duration::from_secs(1);
    for (id, client) in clients.into_iter().enumerate() {
        match tokio::time::timeout_at(joined_by, client).await {
            Ok(Ok(ops)) => history.extend(ops),
            Ok(Err(e)) => problems.push(format!("client c{id} failed: {e}")),
            Err(_) => problems.push(format!("client c{id} did not stop in time")),
        }
    }
    let (reads, unread) = final_reads(plan, &nodes, origin).await;
    history.extend(reads);
    if !unread.is_empty() {
        problems.push(format!(
            "the healed cluster did not serve {} within {RECOVERY_BOUND:?}",
            unread.join(", ")
        ));
    }
    if let Some((id, exit)) = nodes.exited() {
        let problem = format!("node {id} exited on its own ({exit}); see its log");
        if !problems.contains(&problem) {
            problems.push(problem);
        }
    }
    Ok(Run {
        history,
        faults: nemesis.injected,
        skipped: nemesis.skipped,
        problems,
    })
}

/// Starts the nodes (behind partition proxies when partitions are on) and waits for a leader.
async fn start_cluster(plan: &Plan, exe: &Path) -> anyhow::Result<(Nodes, Option<Links>)> {
    let listen = node_addrs(NODES, plan.seed)?;
    let (links, peers) = if plan.faults.contains(&Fault::Partition) {
        let (links, peers) = Links::start(&listen).await?;
        (Some(links), peers)
    } else {
        (None, vec![peer_list(&listen); NODES])
    };
    // Mutual TLS, as `ballot cluster` runs it: a throw-away CA and a certificate per node.
    let ids = (1..=NODES as u64).map(ServerId);
    let tls = write_cluster_tls(&plan.dir, ids)
        .with_context(|| format!("writing certificates in {}", plan.dir.display()))?;
    let client_tls = ClientTls::load(&tls.ca, None).context("loading the CA just written")?;
    let mut nodes = Nodes {
        exe: exe.to_owned(),
        dir: plan.dir.clone(),
        procs: listen.iter().map(|_| None).collect(),
        paused: vec![false; listen.len()],
        listen,
        peers,
        tls,
        security: ClientSecurity::Tls(client_tls),
        pre_vote: plan.pre_vote,
        snapshot_every: plan.snapshot_every,
        snapshot_keep: plan.snapshot_keep,
        seed: plan.seed,
        starts: 0,
    };
    for i in 0..NODES {
        nodes.spawn(i)?;
    }
    if nodes.find_leader(FIRST_LEADER_BOUND).await.is_none() {
        bail!(
            "no leader within {FIRST_LEADER_BOUND:?} of start; see {}/node*.log",
            plan.dir.display()
        );
    }
    Ok((nodes, links))
}

/// Reads every key once the cluster serves again (bounded); the reads join the history, as a
/// client numbered after the others. The keys that could not be read.
async fn final_reads(plan: &Plan, nodes: &Nodes, origin: Instant) -> (Vec<Operation>, Vec<String>) {
    let deadline = Instant::now() + RECOVERY_BOUND;
    let mut client = kv_client(&nodes.listen, &nodes.security, ATTEMPT_TIMEOUTS_MS[0]);
    let mut reads = Vec::new();
    let mut unread: Vec<String> = plan.keys.to_vec();
    while let Some(key) = unread.first().cloned() {
        if Instant::now() >= deadline {
            break;
        }
        let read = record(&mut client, plan.clients, &key, Call::Get, origin).await;
        if matches!(read.outcome, Outcome::Ok(_)) {
            unread.remove(0);
        }
        reads.push(read);
    }
    (reads, unread)
}

fn kv_client(addrs: &[SocketAddr], security: &ClientSecurity, attempt_timeout_ms: u64) -> KvClient {
    let mut client = KvClient::with_security(addrs.to_vec(), CLUSTER_ID, security.clone());
    client.timeout = CLIENT_TIMEOUT;
    client.attempt_timeout = Duration::from_millis(attempt_timeout_ms);
    client
}

/// Makes one call and records it. Only a request the client refused to send is `failed`; any
/// other error is `unknown` (the request may still be applied, at any later time) — weaker than
/// `failed` where a server refused it, but never wrong.
async fn record(
    client: &mut KvClient,
    id: u64,
    key: &str,
    call: Call,
    origin: Instant,
) -> Operation {
    let invoke = origin.elapsed();
    let result = match &call {
        Call::Put(value) => client.put(key, value).await.map(|()| Return::Put),
        Call::Get => client.get(key).await.map(Return::Get),
        Call::Delete => client.delete(key).await.map(Return::Delete),
    };
    let response = origin.elapsed();
    let outcome = match result {
        Ok(ret) => Outcome::Ok(ret),
        Err(ClientError::Invalid(_)) => Outcome::Failed,
        Err(_) => Outcome::Unknown,
    };
    Operation {
        client: id,
        key: key.to_owned(),
        call,
        outcome,
        invoke_ns: invoke.as_nanos() as u64,
        response_ns: response.as_nanos() as u64,
    }
}

/// One client's load: random puts of unique values (`c{id}-{n}`) and gets until `stop_at`.
struct Load {
    id: u64,
    seed: u64,
    keys: Arc<Vec<String>>,
    addrs: Vec<SocketAddr>,
    security: ClientSecurity,
    origin: Instant,
    stop_at: Instant,
}

impl Load {
    async fn run(self) -> Vec<Operation> {
        let mut rng = SeededRng::new(self.seed ^ (self.id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let attempt_ms = ATTEMPT_TIMEOUTS_MS[self.id as usize % ATTEMPT_TIMEOUTS_MS.len()];
        let mut client = kv_client(&self.addrs, &self.security, attempt_ms);
        let mut ops = Vec::new();
        let mut written = 0u64;
        while Instant::now() < self.stop_at {
            let key = &self.keys[rng.range(0, self.keys.len() as u64) as usize];
            let call = if rng.range(0, 100) < PUT_PERCENT {
                written += 1;
                Call::Put(format!("c{}-{written}", self.id))
            } else {
                Call::Get
            };
            ops.push(record(&mut client, self.id, key, call, self.origin).await);
            tokio::time::sleep(Duration::from_millis(rng.range(0, THINK_MS_MAX + 1))).await;
        }
        ops
    }
}

/// The seeded fault schedule. Every round draws the same five numbers (gap, kind, hold, two
/// picks), so the gaps, kinds and holds depend on the seed alone; which node a leader-directed
/// fault hits depends on who leads, and when it starts on how long leader lookups take.
struct Nemesis {
    rng: SeededRng,
    faults: Vec<Fault>,
    origin: Instant,
    stop_at: Instant,
    injected: Vec<Injected>,
    skipped: u64,
}

impl Nemesis {
    fn new(plan: &Plan, origin: Instant, stop_at: Instant) -> Nemesis {
        Nemesis {
            rng: SeededRng::new(plan.seed),
            faults: plan.faults.clone(),
            origin,
            stop_at,
            injected: Vec::new(),
            skipped: 0,
        }
    }

    /// Injects faults until `stop_at`, healing each before the next; `Err` if a node exited on
    /// its own.
    async fn run(&mut self, nodes: &mut Nodes, links: Option<&Links>) -> Result<(), String> {
        loop {
            let gap = Duration::from_millis(self.rng.range(GAP_MS.0, GAP_MS.1));
            let kind = self.rng.range(0, self.faults.len() as u64) as usize;
            let hold_permille = self.rng.range(0, 1000);
            let picks = (
                self.rng.range(0, NODES as u64),
                self.rng.range(1, NODES as u64),
            );
            tokio::time::sleep_until((Instant::now() + gap).min(self.stop_at)).await;
            if Instant::now() >= self.stop_at {
                return Ok(());
            }
            if let Some((id, exit)) = nodes.exited() {
                return Err(format!("node {id} exited on its own ({exit}); see its log"));
            }
            let Some(&fault) = self.faults.get(kind) else {
                continue; // --nemesis none
            };
            let at = self.origin.elapsed();
            match self
                .inject(fault, hold_permille, picks, nodes, links)
                .await
                .map_err(|e| format!("{} failed: {e:#}", fault.name()))?
            {
                Some((ids, held)) => self.injected.push(Injected {
                    at,
                    fault,
                    nodes: ids,
                    held,
                }),
                None => self.skipped += 1,
            }
        }
    }

    /// Injects one fault and heals it; the server ids hit and how long, or `None` if skipped
    /// (no leader found).
    async fn inject(
        &mut self,
        fault: Fault,
        hold_permille: u64,
        (first, offset): (u64, u64),
        nodes: &mut Nodes,
        links: Option<&Links>,
    ) -> anyhow::Result<Option<(Vec<usize>, Duration)>> {
        let hold = |(low, high): (u64, u64)| {
            Duration::from_millis(low + (high - low) * hold_permille / 1000)
        };
        let (first, second) = (first as usize, (first + offset) as usize % NODES);
        let hit = match fault {
            Fault::KillLeader | Fault::PauseLeader => {
                let Some(leader) = nodes.find_leader(LEADER_LOOKUP).await else {
                    return Ok(None);
                };
                vec![leader]
            }
            Fault::KillFollower => {
                let leader = nodes.find_leader(LEADER_LOOKUP).await;
                let followers: Vec<usize> = (0..NODES).filter(|&i| Some(i) != leader).collect();
                vec![followers[first % followers.len()]]
            }
            Fault::KillTwo => vec![first, second],
            Fault::Partition => {
                let leader = nodes.find_leader(LEADER_LOOKUP).await;
                vec![if offset == 1 {
                    leader.unwrap_or(first)
                } else {
                    first
                }]
            }
        };
        let held = match fault {
            Fault::KillLeader | Fault::KillFollower => hold(DOWN_MS),
            Fault::KillTwo => hold(TWO_DOWN_MS),
            Fault::PauseLeader => hold(PAUSE_MS),
            Fault::Partition => hold(PARTITION_MS),
        };
        match fault {
            Fault::KillLeader | Fault::KillFollower | Fault::KillTwo => {
                hit.iter().for_each(|&i| nodes.kill(i));
                tokio::time::sleep(held).await;
                for &i in &hit {
                    nodes.spawn(i)?;
                }
            }
            Fault::PauseLeader => {
                nodes.pause(hit[0])?;
                tokio::time::sleep(held).await;
                nodes.resume(hit[0])?;
            }
            Fault::Partition => {
                let links = links.expect("partitions start the proxies");
                links.isolate(hit[0], true);
                tokio::time::sleep(held).await;
                links.isolate(hit[0], false);
            }
        }
        Ok(Some((hit.iter().map(|i| i + 1).collect(), held)))
    }
}

/// Lowest port the nodes listen on; ports are drawn from here up to the kernel's ephemeral range.
const NODE_PORT_MIN: u16 = 10_000;
/// Ports tried before giving up on finding free ones.
const NODE_PORT_TRIES: usize = 1000;

/// Listen addresses for the nodes, below the kernel's ephemeral port range: a killed node's port
/// must still be free when it restarts, and an ephemeral one could meanwhile become the local
/// port of some client's connection.
fn node_addrs(n: usize, seed: u64) -> anyhow::Result<Vec<SocketAddr>> {
    let ephemeral_min = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let mut rng = SeededRng::new(seed ^ u64::from(std::process::id()));
    // Hold every listener until all ports are chosen so they differ.
    let mut held = Vec::new();
    for _ in 0..NODE_PORT_TRIES {
        if held.len() == n || ephemeral_min <= NODE_PORT_MIN {
            break;
        }
        let port = rng.range(u64::from(NODE_PORT_MIN), u64::from(ephemeral_min)) as u16;
        if let Ok(listener) = StdListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    while held.len() < n {
        // No room below the ephemeral range: take ephemeral ports after all.
        held.push(StdListener::bind("127.0.0.1:0").context("choosing free ports")?);
    }
    held.iter()
        .map(|l| l.local_addr().context("choosing free ports"))
        .collect()
}

fn peer_list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect::<Vec<_>>()
        .join(",")
}

/// The node processes. Dropping this kills (SIGKILL works on a stopped process too) and reaps
/// every one, on every exit path: error, panic, Ctrl-C.
struct Nodes {
    exe: PathBuf,
    dir: PathBuf,
    listen: Vec<SocketAddr>,
    /// Each node's `--peers` (its peers through the partition proxies, when they run).
    peers: Vec<String>,
    /// Each node's certificate and key, and the CA.
    tls: ClusterTlsFiles,
    /// How clients connect (TLS, trusting the CA).
    security: ClientSecurity,
    pre_vote: bool,
    snapshot_every: u64,
    snapshot_keep: u64,
    seed: u64,
    procs: Vec<Option<Child>>,
    paused: Vec<bool>,
    starts: u64,
}

impl Nodes {
    /// Starts (or restarts) node `i` (server id `i + 1`) from its directory.
    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        assert!(self.procs[i].is_none(), "node {} is running", i + 1);
        let id = i + 1;
        let tls = &self.tls.nodes[&ServerId(id as u64)];
        let log_path = self.dir.join(format!("node{id}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        // Each incarnation draws its own election timeouts, all from the run's seed.
        self.starts += 1;
        let seed = self.seed.wrapping_mul(1000).wrapping_add(self.starts);
        let child = Command::new(&self.exe)
            .args(["node", "--protocol", "raft", "--id", &id.to_string()])
            .args(["--peers", &self.peers[i], "--cluster-id", CLUSTER_ID])
            .args(["--listen", &self.listen[i].to_string()])
            .args(["--seed", &seed.to_string()])
            .args(["--pre-vote", &self.pre_vote.to_string()])
            .args(["--snapshot-every", &self.snapshot_every.to_string()])
            .args(["--snapshot-keep", &self.snapshot_keep.to_string()])
            .arg("--dir")
            .arg(self.dir.join(format!("node{id}")))
            .arg("--tls-cert")
            .arg(&tls.cert)
            .arg("--tls-key")
            .arg(&tls.key)
            .arg("--tls-ca")
            .arg(&tls.ca)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {id}"))?;
        self.procs[i] = Some(child);
        Ok(())
    }

    /// kill -9 node `i` and reap it.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.procs[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused[i] = false;
    }

    fn signal(&self, i: usize, signal: &str) -> anyhow::Result<()> {
        let child = self.procs[i]
            .as_ref()
            .ok_or_else(|| anyhow!("node {} is not running", i + 1))?;
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill {signal} node {} failed: {status}", i + 1);
        }
        Ok(())
    }

    fn pause(&mut self, i: usize) -> anyhow::Result<()> {
        self.signal(i, "-STOP")?;
        self.paused[i] = true;
        Ok(())
    }

    fn resume(&mut self, i: usize) -> anyhow::Result<()> {
        self.signal(i, "-CONT")?;
        self.paused[i] = false;
        Ok(())
    }

    /// Resumes every paused node and restarts every killed one.
    fn heal(&mut self) -> anyhow::Result<()> {
        for i in 0..self.procs.len() {
            if self.paused[i] {
                self.resume(i)?;
            }
            if self.procs[i].is_none() {
                self.spawn(i)?;
            }
        }
        Ok(())
    }

    /// A node that exited although nobody killed it: server id and exit status.
    fn exited(&mut self) -> Option<(usize, ExitStatus)> {
        self.procs.iter_mut().enumerate().find_map(|(i, child)| {
            let exit = child.as_mut()?.try_wait().ok()??;
            Some((i + 1, exit))
        })
    }

    /// Polls the running, unpaused nodes until one says it leads (highest term wins); its index.
    async fn find_leader(&self, within: Duration) -> Option<usize> {
        let deadline = Instant::now() + within;
        loop {
            let mut best: Option<(u64, usize)> = None;
            for (i, addr) in self.listen.iter().enumerate() {
                if self.procs[i].is_none() || self.paused[i] {
                    continue;
                }
                let st = status_with(*addr, CLUSTER_ID, &self.security, STATUS_TIMEOUT);
                if let Ok(st) = st.await {
                    if st.role == "leader" && best.is_none_or(|(term, _)| st.term > term) {
                        best = Some((st.term, i));
                    }
                }
            }
            if let Some((_, i)) = best {
                return Some(i);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}

/// Peer links through TCP proxies, one per ordered pair of nodes (a peer connection carries one
/// direction), so the nemesis can cut a node off from its peers while clients still reach it.
/// The proxies relay bytes, so TLS runs end to end through them.
struct Links {
    cut: BTreeMap<(usize, usize), watch::Sender<bool>>,
}

impl Links {
    /// Starts the proxies; also returns each node's `--peers`, naming its peers' proxies.
    async fn start(listen: &[SocketAddr]) -> anyhow::Result<(Links, Vec<String>)> {
        let mut cut = BTreeMap::new();
        let mut peers = Vec::new();
        for from in 0..listen.len() {
            let mut to_addrs = listen.to_vec();
            for (to, addr) in to_addrs.iter_mut().enumerate() {
                if to == from {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .context("starting a partition proxy")?;
                *addr = listener.local_addr()?;
                let (tx, rx) = watch::channel(false);
                tokio::spawn(proxy(listener, listen[to], rx));
                cut.insert((from, to), tx);
            }
            peers.push(peer_list(&to_addrs));
        }
        Ok((Links { cut }, peers))
    }

    /// Cuts (or restores) every link to and from node `node`.
    fn isolate(&self, node: usize, cut: bool) {
        for (&(from, to), link) in &self.cut {
            if from == node || to == node {
                link.send_replace(cut);
            }
        }
    }

    fn heal(&self) {
        for link in self.cut.values() {
            link.send_replace(false);
        }
    }
}

/// Accepts connections for one directed peer link and relays them to `upstream`.
async fn proxy(listener: TcpListener, upstream: SocketAddr, cut: watch::Receiver<bool>) {
    loop {
        match listener.accept().await {
            Ok((inbound, _)) => {
                let _ = inbound.set_nodelay(true);
                tokio::spawn(relay(inbound, upstream, cut.clone()));
            }
            // Out of descriptors, say: back off rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Relays one connection while the link is up. When the link is cut the connection closes;
/// one accepted while it is cut has everything read and dropped (the sender sees no error, as
/// in a real partition) and closes when the link heals, so the sender reconnects — a relayed
/// stream never resumes mid-frame.
async fn relay(inbound: TcpStream, upstream: SocketAddr, mut cut: watch::Receiver<bool>) {
    if *cut.borrow_and_update() {
        let (mut read, _write) = inbound.into_split();
        let mut sink = tokio::io::sink();
        tokio::select! {
            _ = tokio::io::copy(&mut read, &mut sink) => {}
            _ = cut.wait_for(|cut| !*cut) => {}
        }
        return;
    }
    let Ok(outbound) = TcpStream::connect(upstream).await else {
        return; // the node is down: the sender retries
    };
    let _ = outbound.set_nodelay(true);
    let (mut in_read, mut in_write) = inbound.into_split();
    let (mut out_read, mut out_write) = outbound.into_split();
    tokio::select! {
        _ = tokio::io::copy(&mut in_read, &mut out_write) => {}
        _ = tokio::io::copy(&mut out_read, &mut in_write) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}

/// Writes the history and the fault log, checks the history, prints the summary; the exit code.
fn judge(plan: &Plan, run: Run, elapsed: Duration) -> anyhow::Result<u8> {
    let history_path = plan.dir.join("history.jsonl");
    write_history(&history_path, &run.history)?;
    write_faults(&plan.dir.join("faults.log"), &run)?;
    let report = linearizability::check(&run.history, plan.max_states)
        .map_err(|e| anyhow!("internal: the recorded history is malformed: {e}"))?;
    let repeats = linearizability::repeated_values(&run.history);
    let code = exit_code(&report, repeats.len(), &run.problems);
    println!(
        "fault: {}; {}; {}; {:.1} s: {}",
        history_figures(&run.history),
        fault_figures(&run),
        verdict_figures(&report, repeats.len()),
        elapsed.as_secs_f64(),
        verdict_word(code)
    );
    print_details(&report, &repeats, &run.problems);
    if code != 0 {
        println!("reproduce: {}", plan.reproduce());
        println!(
            "history: {} (check again: ballot fault --check-history {})",
            history_path.display(),
            history_path.display()
        );
    }
    Ok(code)
}

fn exit_code(report: &Report, repeats: usize, problems: &[String]) -> u8 {
    if report.violated() || repeats > 0 || !problems.is_empty() {
        1
    } else if !report.linearizable() {
        3
    } else {
        0
    }
}

fn verdict_word(code: u8) -> &'static str {
    match code {
        0 => "PASS",
        3 => "UNDECIDED",
        _ => "FAIL",
    }
}

fn history_figures(history: &[Operation]) -> String {
    let count = |f: fn(&Outcome) -> bool| history.iter().filter(|op| f(&op.outcome)).count();
    format!(
        "{} ops ({} ok, {} failed, {} unknown)",
        history.len(),
        count(|o| matches!(o, Outcome::Ok(_))),
        count(|o| *o == Outcome::Failed),
        count(|o| *o == Outcome::Unknown)
    )
}

fn fault_figures(run: &Run) -> String {
    let mut by_kind: BTreeMap<Fault, usize> = BTreeMap::new();
    for injected in &run.faults {
        *by_kind.entry(injected.fault).or_default() += 1;
    }
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(fault, n)| format!("{} {n}", fault.name()))
        .collect();
    format!(
        "{} faults ({}), {} skipped (no leader)",
        run.faults.len(),
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(", ")
        },
        run.skipped
    )
}

fn verdict_figures(report: &Report, repeats: usize) -> String {
    let keys: Vec<String> = report
        .keys
        .iter()
        .map(|k| {
            let verdict = match &k.verdict {
                Verdict::Linearizable => "linearizable",
                Verdict::NotLinearizable(_) => "NOT LINEARIZABLE",
                Verdict::Undecided { .. } => "undecided",
            };
            format!("{} {verdict} ({} ops, {} states)", k.key, k.ops, k.states)
        })
        .collect();
    format!("values read again: {repeats}; {}", keys.join(", "))
}

fn print_details(report: &Report, repeats: &[linearizability::Repeat], problems: &[String]) {
    for problem in problems {
        println!("problem: {problem}");
    }
    for key in &report.keys {
        match &key.verdict {
            Verdict::Linearizable => {}
            Verdict::Undecided { max_states } => println!(
                "{}: undecided: the search visited {max_states} states (--max-states) without \
                 an answer",
                key.key
            ),
            Verdict::NotLinearizable(w) => {
                println!(
                    "{}: not linearizable: at best {} of {} operations were placed before \
                     `{}` could not be; a non-linearizable sub-history of {} operations:",
                    key.key,
                    w.deepest,
                    w.of,
                    w.stuck,
                    w.ops.len()
                );
                for op in w.ops.iter().take(WITNESS_SHOWN) {
                    println!("  {op}");
                }
                if w.ops.len() > WITNESS_SHOWN {
                    println!("  ... and {} more", w.ops.len() - WITNESS_SHOWN);
                }
            }
        }
    }
    for repeat in repeats {
        println!(
            "value read again: `{}`, then `{}`, then `{}`",
            repeat.first, repeat.between, repeat.again
        );
    }
}

fn write_history(path: &Path, history: &[Operation]) -> anyhow::Result<()> {
    let mut text = String::new();
    for op in history {
        text += &serde_json::to_string(op).context("encoding the history")?;
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn write_faults(path: &Path, run: &Run) -> anyhow::Result<()> {
    let mut text = String::new();
    for f in &run.faults {
        let ids: Vec<String> = f.nodes.iter().map(|id| id.to_string()).collect();
        text += &format!(
            "{:.3} s {} node {} for {} ms\n",
            f.at.as_secs_f64(),
            f.fault.name(),
            ids.join(","),
            f.held.as_millis()
        );
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `--check-history FILE`: checks a recorded history; exit 0, 1 or 3 as for a run.
fn check_file(path: &Path, max_states: u64) -> anyhow::Result<ExitCode> {
    if max_states == 0 {
        bail!("--max-states: must be at least 1");
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--check-history: cannot read {}", path.display()))?;
    let mut history = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let op: Operation = serde_json::from_str(line)
            .map_err(|e| anyhow!("--check-history: {} line {}: {e}", path.display(), n + 1))?;
        op.validate()
            .map_err(|e| anyhow!("--check-history: {} line {}: {e}", path.display(), n + 1))?;
        history.push(op);
    }
    let report = linearizability::check(&history, max_states)
        .map_err(|e| anyhow!("--check-history: {}: {e}", path.display()))?;
    let repeats = linearizability::repeated_values(&history);
    let code = exit_code(&report, repeats.len(), &[]);
    println!(
        "history {}: {}; {}: {}",
        path.display(),
        history_figures(&history),
        verdict_figures(&report, repeats.len()),
        verdict_word(code)
    );
    print_details(&report, &repeats, &[]);
    Ok(ExitCode::from(code))
}
