//! `ballot node`, `ballot cluster` and `ballot kv`: run the real implementation as processes on
//! loopback and talk to it. Exit codes: 0 ok, 1 failure, 2 bad usage or input (an `Err` from
//! these functions is a usage error; the message names the flag or field).
//!
//! Connections are TLS by default (`docs/implementation.md` § Transport): a node needs
//! `--tls-cert/--tls-key/--tls-ca` or an explicit `--insecure-plaintext`; `ballot cluster` writes
//! a throw-away CA and per-node certificates into its directory; `ballot kv` needs `--tls-ca`.

use anyhow::{anyhow, bail, Context};
use ballot_core::ServerId;
use ballot_node::client::{status_with, ClientError, KvClient};
use ballot_node::kv::Consistency;
use ballot_node::raft_node::{start, RaftNodeConfig, RunningNode};
use ballot_node::runtime::{SnapshotPolicy, Timing};
use ballot_node::server::{self, ServerLimits};
use ballot_node::tls::{self, ClientSecurity, ClientTls, NodeSecurity, NodeTls, TlsFiles};
use ballot_node::zab_node::{self, ZabNodeConfig, ZabTiming};
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

/// Protocols the real implementation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NodeProtocol {
    /// Raft (docs/protocols/raft.md).
    Raft,
    /// ZooKeeper's FastLeaderElection then ZAB (docs/protocols/fle.md, docs/protocols/zab.md):
    /// servers are looking, leading or following; terms are epochs.
    Zab,
}

impl NodeProtocol {
    /// The name `--protocol` takes.
    fn flag(self) -> &'static str {
        match self {
            NodeProtocol::Raft => "raft",
            NodeProtocol::Zab => "zab",
        }
    }

    /// The role of a server that leads.
    fn leader_role(self) -> &'static str {
        match self {
            NodeProtocol::Raft => "leader",
            NodeProtocol::Zab => "leading",
        }
    }
}

/// `ballot node`: run one server until Ctrl-C.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// Protocol to run.
    #[arg(long, value_enum, default_value = "raft")]
    pub protocol: NodeProtocol,
    /// This server's id (must appear in --peers).
    #[arg(long)]
    pub id: u64,
    /// Every server of the cluster, this one included: `1=127.0.0.1:7001,2=127.0.0.1:7002,...`.
    #[arg(long)]
    pub peers: String,
    /// Data directory (log and hard state); created if missing.
    #[arg(long)]
    pub dir: PathBuf,
    /// Address to listen on for peers and clients (default: this server's entry in --peers).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Cluster id; connections naming another are refused.
    #[arg(long, default_value = "ballot")]
    pub cluster_id: String,
    /// ZAB: the leader's tick in ms (a PING to every follower, and a quorum check: a leader that
    /// heard from less than a quorum in a tick goes back to LOOKING).
    #[arg(long, value_name = "MS", default_value_t = ZabTiming::default().tick_ms)]
    pub zab_tick_ms: u64,
    /// ZAB: discovery and synchronization with a new leader must finish within this many ms
    /// (ZooKeeper's initLimit x tickTime), or the server goes back to LOOKING.
    #[arg(long, value_name = "MS", default_value_t = ZabTiming::default().sync_timeout_ms)]
    pub zab_sync_timeout_ms: u64,
    /// ZAB: a follower that hears nothing from its leader for this many ms goes back to LOOKING
    /// (ZooKeeper's syncLimit x tickTime). A killed leader is noticed at once (its connections
    /// close); this bounds how long a hung one keeps its followers.
    #[arg(long, value_name = "MS", default_value_t = ZabTiming::default().leader_silence_ms)]
    pub zab_leader_silence_ms: u64,
    /// Raft: smallest election timeout in ms; timeouts are uniform in [min, max).
    #[arg(long, default_value_t = Timing::default().election_timeout_ms_min)]
    pub election_timeout_ms_min: u64,
    /// Raft: largest election timeout in ms (exclusive).
    #[arg(long, default_value_t = Timing::default().election_timeout_ms_max)]
    pub election_timeout_ms_max: u64,
    /// Raft: leader heartbeat period in ms.
    #[arg(long, default_value_t = Timing::default().heartbeat_ms)]
    pub heartbeat_ms: u64,
    /// Seed of the election-timeout RNG (default: the server id).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Raft: do not append a no-op entry on election.
    #[arg(long)]
    pub no_leader_noop: bool,
    /// Raft: PreVote and CheckQuorum: a server that cannot win does not raise its term, and a leader
    /// that loses its majority steps down (docs/protocols/raft.md).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub pre_vote: bool,
    /// Most open inbound connections, peers and clients together; more are closed at accept.
    #[arg(long, default_value_t = server::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Close a client connection that sends no request for this many ms (it reconnects when it
    /// next has one).
    #[arg(long, default_value_t = server::CLIENT_IDLE_TIMEOUT.as_millis() as u64)]
    pub client_idle_timeout_ms: u64,
    /// Close a connection whose frame is not complete this many ms after its first byte (a
    /// slow or stuck sender).
    #[arg(long, default_value_t = server::FRAME_TIMEOUT.as_millis() as u64)]
    pub frame_timeout_ms: u64,
    /// Most requests one client connection may have unanswered (pipelining); at the bound the
    /// server stops reading that connection until an answer is written.
    #[arg(long, default_value_t = server::MAX_REQUESTS_IN_FLIGHT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_requests_in_flight: usize,
    /// Start even though the hard-state file (term and vote) is missing or corrupt beside a
    /// non-empty log: take the highest term in the log as the term, with no vote, and write it.
    /// The lost vote may have been in that term, so this node may vote twice in it: use only
    /// when the file is really lost.
    #[arg(long)]
    pub recover_missing_hard_state: bool,
    /// Raft: take a snapshot of the state machine (written to DIR/snapshot, fsynced) and drop the
    /// log before it once this many entries were applied since the last one; 0: never (the
    /// log, memory and restart time then grow with every write).
    #[arg(long, value_name = "N", default_value_t = SnapshotPolicy::default().every)]
    pub snapshot_every: u64,
    /// Raft: entries before a snapshot's index kept in the log, so that a follower briefly behind
    /// catches up with AppendEntries instead of the whole snapshot.
    #[arg(long, value_name = "K", default_value_t = SnapshotPolicy::default().keep)]
    pub snapshot_keep: u64,
    /// This server's certificate (PEM). It must carry the DNS name `node-<id>.ballot` and chain
    /// to --tls-ca; peers take this server's id from it.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The cluster's CA certificate (PEM): peers' certificates, and clients' if they show one,
    /// must chain to it.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Run without TLS: anyone who reaches the port can pose as any peer or server. Tests and
    /// debugging only.
    #[arg(long)]
    pub insecure_plaintext: bool,
}

/// `ballot cluster`: start N node processes on loopback, print who leads, stop them on Ctrl-C.
/// `ballot cluster zab` runs FLE then ZAB; the leader line gives its epoch. A node killed by a
/// signal (kill -9) is reported and the others go on while a majority runs.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Protocol to run.
    #[arg(value_enum)]
    pub protocol: NodeProtocol,
    /// Number of servers.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Data directory; server N uses DIR/nodeN and logs to DIR/nodeN.log.
    #[arg(long, default_value = "ballot-cluster")]
    pub dir: PathBuf,
    /// First port (servers use consecutive ports); default: free ports chosen by the OS.
    #[arg(long)]
    pub base_port: Option<u16>,
    /// Cluster id.
    #[arg(long, default_value = "ballot")]
    pub cluster_id: String,
    /// Raft: PreVote and CheckQuorum on every node (see `ballot node --pre-vote`).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub pre_vote: bool,
    /// Raft: every node's `--snapshot-every` (0: never compact).
    #[arg(long, value_name = "N", default_value_t = SnapshotPolicy::default().every)]
    pub snapshot_every: u64,
    /// Raft: every node's `--snapshot-keep`.
    #[arg(long, value_name = "K", default_value_t = SnapshotPolicy::default().keep)]
    pub snapshot_keep: u64,
    /// Run the nodes without TLS (no certificates are written). Tests and debugging only.
    #[arg(long)]
    pub insecure_plaintext: bool,
}

/// `ballot kv`: one operation against a cluster.
#[derive(Args, Debug, Clone)]
pub struct KvArgs {
    /// Server addresses, comma-separated: `127.0.0.1:7001,127.0.0.1:7002`.
    #[arg(long)]
    pub cluster: String,
    /// Cluster id.
    #[arg(long, default_value = "ballot")]
    pub cluster_id: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// The cluster's CA certificate (PEM); servers must hold a certificate it signed.
    /// `ballot cluster` writes DIR/ca.pem and prints the command line to use.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate to show (PEM, with --tls-key); optional: servers do not require one.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Talk to a cluster started with --insecure-plaintext.
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// The operation.
    #[command(subcommand)]
    pub op: KvCommand,
}

/// `ballot kv get --consistency`: how a read is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReadConsistency {
    /// Through the log: sees every write acknowledged before the read began.
    Linearizable,
    /// From one server's applied state, at once: may be behind the leader.
    Sequential,
}

impl From<ReadConsistency> for Consistency {
    fn from(level: ReadConsistency) -> Self {
        match level {
            ReadConsistency::Linearizable => Consistency::Linearizable,
            ReadConsistency::Sequential => Consistency::Sequential,
        }
    }
}

/// A KV operation.
#[derive(Subcommand, Debug, Clone)]
pub enum KvCommand {
    /// Set KEY to VALUE.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Print KEY's value (exit 1 if absent).
    Get {
        /// The key.
        key: String,
        /// How the read is served. `linearizable`: through the leader's log; it sees every
        /// write acknowledged before it started, whichever server took it. `sequential`: the
        /// first reachable server of --cluster answers from its own applied state at once, with
        /// no log and no quorum, even without a leader; NOT linearizable: that server may be
        /// behind, so a write acknowledged elsewhere may not show yet (see
        /// docs/implementation.md § Read consistency).
        #[arg(long, value_enum, default_value_t = ReadConsistency::Linearizable)]
        consistency: ReadConsistency,
    },
    /// Delete KEY.
    Del {
        /// The key.
        key: String,
    },
    /// Print each server's role, term and commit index (ZAB: state, epoch and last zxid).
    Status,
}

/// Parses `1=127.0.0.1:7001,2=...`; errors name `--peers` and the bad item.
pub fn parse_peers(text: &str) -> anyhow::Result<BTreeMap<ServerId, SocketAddr>> {
    let mut peers = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--peers: {item:?} is not ID=HOST:PORT"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| anyhow!("--peers: bad server id {id:?} in {item:?}"))?;
        let addr: SocketAddr = addr
            .trim()
            .parse()
            .map_err(|_| anyhow!("--peers: bad address {addr:?} in {item:?}"))?;
        if peers.insert(ServerId(id), addr).is_some() {
            bail!("--peers: server id {id} appears twice");
        }
    }
    if peers.is_empty() {
        bail!("--peers: no servers given");
    }
    Ok(peers)
}

fn parse_addrs(text: &str) -> anyhow::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|a| {
            a.parse()
                .map_err(|_| anyhow!("--cluster: bad address {a:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    if addrs.is_empty() {
        bail!("--cluster: no addresses given");
    }
    Ok(addrs)
}

fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// The names of the flags among `flags` that were not given.
fn missing<'a>(flags: &[(&'a str, bool)]) -> Vec<&'a str> {
    flags
        .iter()
        .filter(|(_, given)| !given)
        .map(|(name, _)| *name)
        .collect()
}

/// A node's TLS from its flags: all three files, or `--insecure-plaintext` and none.
fn node_security(args: &NodeArgs, id: ServerId) -> anyhow::Result<NodeSecurity> {
    let flags = [
        ("--tls-cert", args.tls_cert.is_some()),
        ("--tls-key", args.tls_key.is_some()),
        ("--tls-ca", args.tls_ca.is_some()),
    ];
    if args.insecure_plaintext {
        if flags.iter().any(|(_, given)| *given) {
            bail!(
                "--insecure-plaintext: cannot be combined with --tls-cert, --tls-key or --tls-ca"
            );
        }
        return Ok(NodeSecurity::InsecurePlaintext);
    }
    let (Some(cert), Some(key), Some(ca)) = (&args.tls_cert, &args.tls_key, &args.tls_ca) else {
        bail!(
            "missing {}: a node needs --tls-cert FILE --tls-key FILE --tls-ca FILE (`ballot \
             cluster` writes them), or --insecure-plaintext to run without authentication",
            missing(&flags).join(", ")
        );
    };
    let files = TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
        ca: ca.clone(),
    };
    let tls = NodeTls::load(id, &files).context("--tls-cert/--tls-key/--tls-ca")?;
    Ok(NodeSecurity::Tls(tls))
}

/// A client's TLS from its flags: `--tls-ca` (and optionally a certificate), or
/// `--insecure-plaintext` and none.
fn client_security(args: &KvArgs) -> anyhow::Result<ClientSecurity> {
    let given = [&args.tls_ca, &args.tls_cert, &args.tls_key];
    if args.insecure_plaintext {
        if given.iter().any(|f| f.is_some()) {
            bail!(
                "--insecure-plaintext: cannot be combined with --tls-ca, --tls-cert or --tls-key"
            );
        }
        return Ok(ClientSecurity::InsecurePlaintext);
    }
    let Some(ca) = &args.tls_ca else {
        bail!(
            "missing --tls-ca: give the cluster's CA certificate (`ballot cluster` prints the \
             command line), or --insecure-plaintext for a plaintext cluster"
        );
    };
    let identity = match (&args.tls_cert, &args.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        (Some(_), None) => bail!("--tls-key: needed with --tls-cert"),
        (None, Some(_)) => bail!("--tls-cert: needed with --tls-key"),
    };
    let tls = ClientTls::load(ca, identity).context("--tls-ca/--tls-cert/--tls-key")?;
    Ok(ClientSecurity::Tls(tls))
}

/// Runs one server until Ctrl-C (exit 0) or a fatal error (exit 1).
pub fn run_node(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let peers = parse_peers(&args.peers)?;
    let id = ServerId(args.id);
    let Some(&own) = peers.get(&id) else {
        bail!("--id: server {id} is not in --peers");
    };
    if args.election_timeout_ms_min == 0
        || args.election_timeout_ms_max <= args.election_timeout_ms_min
    {
        bail!("--election-timeout-ms-max: must exceed --election-timeout-ms-min (> 0)");
    }
    if args.heartbeat_ms == 0 || args.heartbeat_ms >= args.election_timeout_ms_min {
        bail!("--heartbeat-ms: must be > 0 and below --election-timeout-ms-min");
    }
    // Each peer dials in once, and a status request or client needs one more.
    if args.max_connections < peers.len() {
        bail!(
            "--max-connections: must be at least the number of servers ({}), got {}",
            peers.len(),
            args.max_connections
        );
    }
    if args.client_idle_timeout_ms == 0 {
        bail!("--client-idle-timeout-ms: must be > 0");
    }
    if args.frame_timeout_ms == 0 {
        bail!("--frame-timeout-ms: must be > 0");
    }
    if args.zab_tick_ms == 0 || args.zab_tick_ms >= args.zab_leader_silence_ms {
        bail!("--zab-tick-ms: must be > 0 and below --zab-leader-silence-ms");
    }
    if args.zab_sync_timeout_ms == 0 {
        bail!("--zab-sync-timeout-ms: must be > 0");
    }
    let security = node_security(&args, id)?;
    init_logging();
    match &security {
        NodeSecurity::Tls(_) => {
            tracing::info!(node = %id, "TLS: peers authenticated by their certificates")
        }
        NodeSecurity::InsecurePlaintext => tracing::warn!(
            node = %id,
            "--insecure-plaintext: no TLS; anyone who reaches this port can pose as a peer"
        ),
    }
    let limits = ServerLimits {
        max_connections: args.max_connections,
        client_idle_timeout: Duration::from_millis(args.client_idle_timeout_ms),
        frame_timeout: Duration::from_millis(args.frame_timeout_ms),
        max_requests_in_flight: args.max_requests_in_flight,
    };
    if args.protocol == NodeProtocol::Zab {
        let config = ZabNodeConfig {
            id,
            cluster_id: args.cluster_id,
            peers,
            listen: args.listen.unwrap_or(own),
            dir: args.dir,
            timing: ZabTiming {
                sync_timeout_ms: args.zab_sync_timeout_ms,
                tick_ms: args.zab_tick_ms,
                leader_silence_ms: args.zab_leader_silence_ms,
            },
            seed: args.seed.unwrap_or(args.id),
            limits,
            security,
        };
        let timing = config.timing;
        return serve(id, "zab", format!("{timing:?}"), zab_node::start(config));
    }
    let config = RaftNodeConfig {
        id,
        cluster_id: args.cluster_id,
        peers,
        listen: args.listen.unwrap_or(own),
        dir: args.dir,
        timing: Timing {
            election_timeout_ms_min: args.election_timeout_ms_min,
            election_timeout_ms_max: args.election_timeout_ms_max,
            heartbeat_ms: args.heartbeat_ms,
        },
        seed: args.seed.unwrap_or(args.id),
        leader_noop: !args.no_leader_noop,
        pre_vote: args.pre_vote,
        limits,
        recover_missing_hard_state: args.recover_missing_hard_state,
        security,
        snapshots: SnapshotPolicy {
            every: args.snapshot_every,
            keep: args.snapshot_keep,
        },
    };
    let timing = format!("{:?}, seed {}", config.timing, config.seed);
    serve(id, "raft", timing, start(config))
}

/// Runs a node until Ctrl-C or until it stops on its own.
fn serve(
    id: ServerId,
    protocol: &str,
    timing: String,
    start: impl std::future::Future<Output = Result<RunningNode, ballot_node::runtime::NodeError>>,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let code = rt.block_on(async move {
        let node = match start.await {
            Ok(node) => node,
            Err(e) => {
                eprintln!("error: node {id}: {e}");
                return ExitCode::from(1);
            }
        };
        tracing::info!(node = %id, protocol, addr = %node.local_addr, %timing, "serving");
        let status = node.status.clone();
        let mut wait = Box::pin(node_wait(node));
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                tracing::info!(node = %id, term = status.get().term, "Ctrl-C: stopping");
                ExitCode::SUCCESS
            }
            result = &mut wait => match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: node {id}: {e}");
                    ExitCode::from(1)
                }
            },
        }
    });
    Ok(code)
}

async fn node_wait(node: RunningNode) -> Result<(), ballot_node::runtime::NodeError> {
    node.wait().await
}

/// Kills every child on drop, so no node outlives `ballot cluster` even on an error path.
struct Children(Vec<(u64, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
        }
        for (_, child) in &mut self.0 {
            let _ = child.wait();
        }
    }
}

fn free_ports(n: u64) -> anyhow::Result<Vec<u16>> {
    // Hold every listener until all ports are chosen so they differ.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("choosing free ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Starts `--nodes` node processes, prints the leader (and every change), stops them on Ctrl-C.
pub fn run_cluster(args: ClusterArgs) -> anyhow::Result<ExitCode> {
    if args.nodes == 0 || args.nodes > 15 {
        bail!("--nodes: must be between 1 and 15, got {}", args.nodes);
    }
    let ports = match args.base_port {
        Some(base) => (0..args.nodes)
            .map(|i| {
                base.checked_add(i as u16)
                    .ok_or_else(|| anyhow!("--base-port: {base} + {i} overflows"))
            })
            .collect::<anyhow::Result<Vec<u16>>>()?,
        None => free_ports(args.nodes)?,
    };
    let addrs: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let peers = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("--dir: cannot create {}", args.dir.display()))?;
    // Absolute, so the printed `ballot kv` line works from any directory.
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("--dir: cannot resolve {}", args.dir.display()))?;
    let ids = (1..=args.nodes).map(ServerId);
    let (tls, security) = if args.insecure_plaintext {
        (None, ClientSecurity::InsecurePlaintext)
    } else {
        // A fresh CA per start: its key is never written, so only these nodes hold its
        // certificates.
        let files = tls::write_cluster_tls(&dir, ids)
            .with_context(|| format!("--dir: writing certificates in {}", dir.display()))?;
        let client = ClientTls::load(&files.ca, None).context("loading the CA just written")?;
        (Some(files), ClientSecurity::Tls(client))
    };
    let exe = std::env::current_exe().context("locating the ballot executable")?;
    let mut children = Children(Vec::new());
    for (i, addr) in addrs.iter().enumerate() {
        let id = i as u64 + 1;
        let mut security_args: Vec<&std::ffi::OsStr> = Vec::new();
        match &tls {
            Some(files) => {
                let node = &files.nodes[&ServerId(id)];
                for (flag, path) in [
                    ("--tls-cert", &node.cert),
                    ("--tls-key", &node.key),
                    ("--tls-ca", &node.ca),
                ] {
                    security_args.extend([flag.as_ref(), path.as_os_str()]);
                }
            }
            None => security_args.push("--insecure-plaintext".as_ref()),
        }
        let log_path = args.dir.join(format!("node{id}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let raft_args = [
            "--pre-vote".to_string(),
            args.pre_vote.to_string(),
            "--snapshot-every".to_string(),
            args.snapshot_every.to_string(),
            "--snapshot-keep".to_string(),
            args.snapshot_keep.to_string(),
        ];
        let protocol_args: &[String] = match args.protocol {
            NodeProtocol::Raft => &raft_args,
            NodeProtocol::Zab => &[],
        };
        let child = Command::new(&exe)
            .args([
                "node",
                "--protocol",
                args.protocol.flag(),
                "--id",
                &id.to_string(),
                "--peers",
                &peers,
            ])
            .arg("--dir")
            .arg(args.dir.join(format!("node{id}")))
            .args([
                "--listen",
                &addr.to_string(),
                "--cluster-id",
                &args.cluster_id,
            ])
            .args(protocol_args)
            .args(&security_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {id}"))?;
        println!(
            "node {id}: pid {} listening on {addr}, log {}",
            child.id(),
            log_path.display()
        );
        children.0.push((id, child));
    }
    let cluster = addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut kv = format!("ballot kv --cluster {cluster}");
    if args.cluster_id != "ballot" {
        kv += &format!(" --cluster-id {}", shell_quote(&args.cluster_id));
    }
    match &tls {
        Some(files) => kv += &format!(" --tls-ca {}", shell_quote_path(&files.ca)),
        None => kv += " --insecure-plaintext",
    }
    println!("try: {kv} put greeting hello");
    let _ = std::io::stdout().flush();
    let rt = runtime()?;
    let cluster_id = args.cluster_id.clone();
    let (leader_role, term_name) = match args.protocol {
        NodeProtocol::Raft => (args.protocol.leader_role(), "term"),
        NodeProtocol::Zab => (args.protocol.leader_role(), "epoch"),
    };
    let code = rt.block_on(async move {
        let mut shown: Option<(ServerId, u64)> = None;
        let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
        loop {
            tokio::select! {
                _ = &mut ctrl_c => {
                    println!("Ctrl-C: stopping {} nodes", children.0.len());
                    drop(children);
                    return ExitCode::SUCCESS;
                }
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            // A node killed by a signal (a kill -9 to try failover) is reported and the rest go
            // on while a majority runs; a node that exits on its own stops the cluster.
            let total = children.0.len();
            let mut killed = Vec::new();
            for (i, (id, child)) in children.0.iter_mut().enumerate() {
                if let Ok(Some(exit)) = child.try_wait() {
                    if exit.signal().is_none() {
                        eprintln!("node {id} exited ({exit}); see its log");
                        return ExitCode::from(1);
                    }
                    killed.push(i);
                }
            }
            for i in killed.into_iter().rev() {
                let (id, _) = children.0.remove(i);
                let left = children.0.len();
                println!("node {id} was killed; {left} of {total} nodes run");
                let _ = std::io::stdout().flush();
                if 2 * left <= total {
                    eprintln!("a minority of the nodes is left: stopping");
                    return ExitCode::from(1);
                }
            }
            let mut leader = None;
            for addr in &addrs {
                let st = status_with(*addr, &cluster_id, &security, Duration::from_millis(200));
                if let Ok(st) = st.await {
                    if st.role == leader_role && leader.is_none_or(|(_, term)| st.term > term) {
                        leader = Some((st.id, st.term));
                    }
                }
            }
            if let Some((id, term)) = leader {
                if shown != leader {
                    println!(
                        "leader: node {id} at {} ({term_name} {term})",
                        addrs[(id.0 - 1) as usize]
                    );
                    let _ = std::io::stdout().flush();
                    shown = leader;
                }
            }
        }
    });
    Ok(code)
}

/// `text` as one shell word: as is when it is plain, else single-quoted.
fn shell_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:,=@+".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn shell_quote_path(path: &Path) -> String {
    shell_quote(&path.to_string_lossy())
}

/// One KV operation: prints the result; exit 0 ok, 1 failure (or `get` of an absent key).
pub fn run_kv(args: KvArgs) -> anyhow::Result<ExitCode> {
    let addrs = parse_addrs(&args.cluster)?;
    let security = client_security(&args)?;
    let rt = runtime()?;
    let timeout = Duration::from_millis(args.timeout_ms);
    rt.block_on(async move {
        if let KvCommand::Status = args.op {
            let mut failed = false;
            for addr in &addrs {
                let limit = timeout.min(Duration::from_secs(2));
                match status_with(*addr, &args.cluster_id, &security, limit).await {
                    Ok(st) => match st.last_zxid {
                        // ZAB: the epoch, and the last logged zxid as (epoch, counter).
                        Some(zxid) => println!(
                            "{addr} node {} {} epoch {} zxid {zxid:#x} ({}, {}) applied {} log {} \
                             leader {}",
                            st.id,
                            st.role,
                            st.term,
                            zxid >> 32,
                            zxid & 0xffff_ffff,
                            st.commit,
                            st.last_index,
                            st.leader.map_or("-".to_string(), |l| l.to_string())
                        ),
                        None => println!(
                            "{addr} node {} {} term {} commit {} log {} leader {}",
                            st.id,
                            st.role,
                            st.term,
                            st.commit,
                            st.last_index,
                            st.leader.map_or("-".to_string(), |l| l.to_string())
                        ),
                    },
                    Err(e) => {
                        println!("{addr} unreachable: {e}");
                        failed = true;
                    }
                }
            }
            return Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        let mut client = KvClient::with_security(addrs, &args.cluster_id, security);
        client.timeout = timeout;
        let result = match &args.op {
            KvCommand::Put { key, value } => client.put(key, value).await.map(|()| {
                println!("OK");
                ExitCode::SUCCESS
            }),
            KvCommand::Get { key, consistency } => {
                let value = client.get_with(key, (*consistency).into()).await;
                value.map(|value| match value {
                    Some(value) => {
                        println!("{value}");
                        ExitCode::SUCCESS
                    }
                    None => {
                        eprintln!("not found: {key}");
                        ExitCode::from(1)
                    }
                })
            }
            KvCommand::Del { key } => client.delete(key).await.map(|existed| {
                println!("{}", if existed { "deleted" } else { "not found" });
                ExitCode::SUCCESS
            }),
            KvCommand::Status => unreachable!("handled above"),
        };
        match result {
            Ok(code) => Ok(code),
            Err(ClientError::Invalid(reason)) => Err(anyhow!("{reason}")),
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// Maps a `run_*` result to the exit code: an `Err` is bad usage or input (exit 2).
pub fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
