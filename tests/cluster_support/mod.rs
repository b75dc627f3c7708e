//! Real `ballot node` processes on loopback for the cluster tests and benches: start, kill -9,
//! restart, find the leader. Every child is killed when the `Cluster` drops, even on panic.
//! A cluster runs over mutual TLS with certificates written as `ballot cluster` writes them,
//! unless started with [`Cluster::start_plaintext`].
#![allow(dead_code)] // each test binary uses a different subset

use anyhow::{bail, Context};
use ballot_core::ServerId;
use ballot_node::client::{status_with, ClientError, KvClient};
use ballot_node::codec::NodeStatus;
use ballot_node::tls::{write_cluster_tls, ClientSecurity, ClientTls, ClusterTlsFiles};
use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLUSTER_ID: &str = "ballot-test";

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub addrs: Vec<SocketAddr>,
    /// How clients of this cluster connect.
    pub security: ClientSecurity,
    /// The certificates, when the cluster runs TLS.
    pub tls: Option<ClusterTlsFiles>,
    children: Vec<Option<Child>>,
    peers: String,
    bin: PathBuf,
    /// Extra `ballot node` flags for every (re)start (e.g. timing).
    pub node_args: Vec<String>,
    /// `ballot node --protocol`: `raft` or `zab`.
    pub protocol: &'static str,
}

fn free_addrs(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr"))
        .collect()
}

impl Cluster {
    /// Starts `n` nodes of the `ballot` binary at `bin`, over mutual TLS.
    pub fn start(n: usize, bin: &Path) -> anyhow::Result<Cluster> {
        Self::start_with(n, bin, true, Vec::new())
    }

    /// Starts `n` TLS nodes with extra `ballot node` flags (kept for restarts).
    pub fn start_with_args(
        n: usize,
        bin: &Path,
        node_args: Vec<String>,
    ) -> anyhow::Result<Cluster> {
        Self::start_with(n, bin, true, node_args)
    }

    /// Prepares `n` ZAB nodes over mutual TLS without starting any: start each with
    /// [`Cluster::spawn`] (a test that builds unequal histories starts only some).
    pub fn zab(n: usize, bin: &Path) -> anyhow::Result<Cluster> {
        Self::prepare(n, bin, true, Vec::new(), "zab")
    }

    /// Starts `n` nodes with `--insecure-plaintext`.
    pub fn start_plaintext(n: usize, bin: &Path) -> anyhow::Result<Cluster> {
        Self::start_with(n, bin, false, Vec::new())
    }

    fn start_with(
        n: usize,
        bin: &Path,
        tls: bool,
        node_args: Vec<String>,
    ) -> anyhow::Result<Cluster> {
        let mut cluster = Self::prepare(n, bin, tls, node_args, "raft")?;
        for i in 0..n {
            cluster.spawn(i)?;
        }
        Ok(cluster)
    }

    fn prepare(
        n: usize,
        bin: &Path,
        tls: bool,
        node_args: Vec<String>,
        protocol: &'static str,
    ) -> anyhow::Result<Cluster> {
        let dir = tempfile::tempdir()?;
        let (tls, security) = if tls {
            let files = write_cluster_tls(dir.path(), (1..=n as u64).map(ServerId))?;
            let client = ClientTls::load(&files.ca, None)?;
            (Some(files), ClientSecurity::Tls(client))
        } else {
            (None, ClientSecurity::InsecurePlaintext)
        };
        let addrs = free_addrs(n);
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        Ok(Cluster {
            dir,
            addrs,
            security,
            tls,
            children: (0..n).map(|_| None).collect(),
            peers,
            bin: bin.to_owned(),
            node_args,
            protocol,
        })
    }

    /// Starts (or restarts) node `i` (0-based; server id `i + 1`) from its directory.
    pub fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        assert!(self.children[i].is_none(), "node {} is running", i + 1);
        let id = (i + 1).to_string();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("node{id}.log")))?;
        let security: Vec<OsString> = match &self.tls {
            Some(files) => {
                let node = &files.nodes[&ServerId(i as u64 + 1)];
                vec![
                    "--tls-cert".into(),
                    node.cert.clone().into(),
                    "--tls-key".into(),
                    node.key.clone().into(),
                    "--tls-ca".into(),
                    node.ca.clone().into(),
                ]
            }
            None => vec!["--insecure-plaintext".into()],
        };
        let child = Command::new(&self.bin)
            .args([
                "node",
                "--protocol",
                self.protocol,
                "--id",
                &id,
                "--peers",
                &self.peers,
                "--cluster-id",
                CLUSTER_ID,
            ])
            .arg("--dir")
            .arg(self.dir.path().join(format!("node{id}")))
            .args(&security)
            .args(&self.node_args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// The process id of node `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.children[i].as_ref().map(|c| c.id())
    }

    /// Whether node `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.children[i].is_some()
    }

    /// kill -9 node `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The log of node `i`, for failure messages.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node{}.log", i + 1)))
            .unwrap_or_default()
    }

    /// A client of every node.
    pub fn client(&self) -> KvClient {
        self.client_of(self.addrs.clone())
    }

    /// A client of the servers at `addrs` (nodes of this cluster, or proxies in front of them).
    pub fn client_of(&self, addrs: Vec<SocketAddr>) -> KvClient {
        KvClient::with_security(addrs, CLUSTER_ID, self.security.clone())
    }

    /// Node `i`'s status.
    pub async fn status(&self, i: usize, within: Duration) -> Result<NodeStatus, ClientError> {
        status_with(self.addrs[i], CLUSTER_ID, &self.security, within).await
    }

    /// Polls until one running node says it leads (Raft's `leader`, ZAB's `leading`) in the
    /// highest term (epoch) seen; its index.
    pub async fn leader(&self, within: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            let mut best: Option<(u64, usize)> = None;
            for i in 0..self.addrs.len() {
                if self.children[i].is_none() {
                    continue;
                }
                if let Ok(st) = self.status(i, Duration::from_millis(200)).await {
                    if (st.role == "leader" || st.role == "leading")
                        && best.is_none_or(|(t, _)| st.term > t)
                    {
                        best = Some((st.term, i));
                    }
                }
            }
            if let Some((_, i)) = best {
                return Ok(i);
            }
            if Instant::now() > deadline {
                bail!(
                    "no leader within {within:?}; logs:\n{}",
                    (0..self.addrs.len())
                        .map(|i| self.log(i))
                        .collect::<String>()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// One failover: kill -9 the leader and time until a new leader acknowledges `key` through
    /// `client`; then restart the old leader and wait (bounded) until it caught up, so runs can
    /// follow each other.
    pub async fn failover_once(&mut self, client: &mut KvClient, key: &str) -> Duration {
        let leader = self.leader(Duration::from_secs(10)).await.expect("leader");
        let start = Instant::now();
        self.kill(leader);
        client.put(key, "w").await.expect("write after failover");
        let elapsed = start.elapsed();
        self.spawn(leader).expect("restart");
        let new_leader = self.leader(Duration::from_secs(10)).await.expect("leader");
        let st = self
            .status(new_leader, Duration::from_secs(1))
            .await
            .expect("status");
        self.wait_commit(leader, st.commit, Duration::from_secs(10))
            .await
            .expect("catch up");
        elapsed
    }

    /// Polls until node `i` has applied at least `commit`.
    pub async fn wait_commit(&self, i: usize, commit: u64, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(st) = self.status(i, Duration::from_millis(200)).await {
                if st.commit >= commit {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "node {} did not reach commit {commit} within {within:?}",
                    i + 1
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}
