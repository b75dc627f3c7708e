//! Real `ballot node` processes on loopback for the cluster tests and benches: start, kill -9,
//! restart, find the leader. Every child is killed when the `Cluster` drops, even on panic.
#![allow(dead_code)] // each test binary uses a different subset

use anyhow::{bail, Context};
use ballot_node::client::{status, KvClient};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLUSTER_ID: &str = "ballot-test";

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub addrs: Vec<SocketAddr>,
    children: Vec<Option<Child>>,
    peers: String,
    bin: PathBuf,
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
    /// Starts `n` nodes of the `ballot` binary at `bin`.
    pub fn start(n: usize, bin: &Path) -> anyhow::Result<Cluster> {
        let addrs = free_addrs(n);
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            dir: tempfile::tempdir()?,
            addrs,
            children: (0..n).map(|_| None).collect(),
            peers,
            bin: bin.to_owned(),
        };
        for i in 0..n {
            cluster.spawn(i)?;
        }
        Ok(cluster)
    }

    /// Starts (or restarts) node `i` (0-based; server id `i + 1`) from its directory.
    pub fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        assert!(self.children[i].is_none(), "node {} is running", i + 1);
        let id = (i + 1).to_string();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("node{id}.log")))?;
        let child = Command::new(&self.bin)
            .args([
                "node",
                "--protocol",
                "raft",
                "--id",
                &id,
                "--peers",
                &self.peers,
                "--cluster-id",
                CLUSTER_ID,
            ])
            .arg("--dir")
            .arg(self.dir.path().join(format!("node{id}")))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        self.children[i] = Some(child);
        Ok(())
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

    pub fn client(&self) -> KvClient {
        KvClient::new(self.addrs.clone(), CLUSTER_ID)
    }

    /// Polls until one running node says it leads in the highest term seen; its index.
    pub async fn leader(&self, within: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            let mut best: Option<(u64, usize)> = None;
            for (i, addr) in self.addrs.iter().enumerate() {
                if self.children[i].is_none() {
                    continue;
                }
                if let Ok(st) = status(*addr, CLUSTER_ID, Duration::from_millis(200)).await {
                    if st.role == "leader" && best.is_none_or(|(t, _)| st.term > t) {
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

    /// Polls until node `i` has applied at least `commit`.
    pub async fn wait_commit(&self, i: usize, commit: u64, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(st) = status(self.addrs[i], CLUSTER_ID, Duration::from_millis(200)).await {
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
