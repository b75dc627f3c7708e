//! 3-node Raft clusters of real `ballot node` processes on loopback, over mutual TLS (one
//! `--insecure-plaintext` run of each command): election, replication, kill -9 of the leader, no
//! acknowledged write lost, restart and catch-up; a retried put applied once across a paused
//! leader; a pipelined connection whose answers are lost, retried in one batch and applied once;
//! sequential reads served by a follower that has no leader; the `ballot kv` and `ballot
//! cluster` commands, and their TLS flags.

mod cluster_support;

use ballot_node::client::{KvPipeline, PipelineOptions};
use ballot_node::kv::{Consistency, KvOp, KvResult};
use cluster_support::{Cluster, CLUSTER_ID};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const BIN: &str = env!("CARGO_BIN_EXE_ballot");

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn leader_kill_loses_no_acknowledged_write_and_the_node_catches_up() {
    rt().block_on(async {
        let mut cluster = Cluster::start(3, Path::new(BIN)).unwrap();
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let mut client = cluster.client();
        let mut acked = BTreeMap::new();
        for i in 0..40 {
            let (k, v) = (format!("k{i}"), format!("v{i}"));
            client.put(&k, &v).await.unwrap();
            acked.insert(k, v);
        }

        // kill -9 the leader; a new leader must accept a write within the bound.
        let killed_at = Instant::now();
        cluster.kill(leader);
        client.put("after-kill", "1").await.unwrap();
        let failover = killed_at.elapsed();
        acked.insert("after-kill".into(), "1".into());
        assert!(
            failover < Duration::from_secs(3),
            "failover took {failover:?}"
        );
        let new_leader = cluster.leader(Duration::from_secs(5)).await.unwrap();
        assert_ne!(new_leader, leader);
        eprintln!("failover (kill -9 leader -> write acknowledged): {failover:?}");

        for i in 40..60 {
            let (k, v) = (format!("k{i}"), format!("v{i}"));
            client.put(&k, &v).await.unwrap();
            acked.insert(k, v);
        }
        for (k, v) in &acked {
            assert_eq!(
                client.get(k).await.unwrap().as_ref(),
                Some(v),
                "acknowledged write {k} lost"
            );
        }

        // The killed node restarts from its disk and catches up with the leader's commit.
        cluster.spawn(leader).unwrap();
        let st = cluster
            .status(new_leader, Duration::from_secs(1))
            .await
            .unwrap();
        cluster
            .wait_commit(leader, st.commit, Duration::from_secs(10))
            .await
            .unwrap();

        // And with the restarted node serving, the data is still all there.
        cluster.kill(new_leader);
        for (k, v) in &acked {
            assert_eq!(
                client.get(k).await.unwrap().as_ref(),
                Some(v),
                "write {k} lost after second failover"
            );
        }
    });
}

/// A TCP proxy in front of one server that can lose the server's answers: once `lose_answers`
/// is called, requests still reach the server, which acts on them, but nothing comes back, as
/// if the server had stopped right after acting. `cut` closes every connection and the listener,
/// so the client's attempt ends at a moment the test chooses rather than on a timer.
struct LossyProxy {
    addr: SocketAddr,
    lose: Arc<AtomicBool>,
    cut: Option<oneshot::Sender<()>>,
}

impl LossyProxy {
    async fn start(target: SocketAddr) -> LossyProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lose = Arc::new(AtomicBool::new(false));
        let (cut, mut cut_rx) = oneshot::channel::<()>();
        let lose_in_task = lose.clone();
        tokio::spawn(async move {
            // Dropping the set when the loop ends aborts every connection's task.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut cut_rx => break,
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        connections.spawn(forward(client, target, lose_in_task.clone()));
                    }
                }
            }
        });
        LossyProxy {
            addr,
            lose,
            cut: Some(cut),
        }
    }

    fn lose_answers(&self) {
        self.lose.store(true, Ordering::SeqCst);
    }

    fn cut(&mut self) {
        let _ = self.cut.take().expect("cut once").send(());
    }
}

async fn forward(client: tokio::net::TcpStream, target: SocketAddr, lose: Arc<AtomicBool>) {
    let Ok(server) = tokio::net::TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = tokio::io::copy(&mut client_read, &mut server_write);
    let answers = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !lose.load(Ordering::SeqCst) && client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::join!(requests, answers);
}

/// The pid of node `i`, found by its data directory on its command line.
fn node_pid(cluster: &Cluster, i: usize) -> u32 {
    let dir = cluster.dir.path().join(format!("node{}", i + 1));
    let dir = dir.as_os_str().as_bytes();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|arg| arg == dir) {
            return pid;
        }
    }
    panic!("no process serves node {}", i + 1);
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}: {status}");
}

/// The user's fault probe, end to end: the leader commits client 1's `put x A` but its answer
/// is lost and the leader is paused (SIGSTOP); client 2's `put x B` is acknowledged by a new
/// leader; client 1's attempt ends and it retries A through the new leader. The retry must not
/// be applied again (readers would see A, B, A): x stays B on every server.
///
/// Deterministic: the lost answer is a proxy's doing, not a race with SIGSTOP, and client 1's
/// first attempt ends when the test cuts the proxy (its attempt timeout is far beyond the
/// test), so B always lands between the two copies of A.
#[test]
fn retried_put_is_applied_once_when_another_write_comes_between() {
    rt().block_on(async {
        let cluster = Cluster::start(3, Path::new(BIN)).unwrap();
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let others: Vec<SocketAddr> = (0..cluster.addrs.len())
            .filter(|i| *i != leader)
            .map(|i| cluster.addrs[i])
            .collect();
        let mut proxy = LossyProxy::start(cluster.addrs[leader]).await;

        // Client 1 talks to the leader through the proxy first, then to the others.
        let mut c1 = cluster.client_of(std::iter::once(proxy.addr).chain(others.clone()).collect());
        c1.attempt_timeout = Duration::from_secs(120);
        c1.timeout = Duration::from_secs(120);
        // Open client 1's session while answers still come back (a write opens it; reads go
        // outside the session).
        c1.put("opened", "1").await.unwrap();
        assert_eq!(c1.get("x").await.unwrap(), None);
        let session = c1.client_id().expect("the first call opens a session");

        proxy.lose_answers();
        let put_a = tokio::spawn(async move {
            let result = c1.put("x", "A").await;
            (c1, result)
        });
        // The leader commits and applies A (its answer is lost on the way back).
        let mut reader = cluster.client();
        let deadline = Instant::now() + Duration::from_secs(10);
        while reader.get("x").await.unwrap().as_deref() != Some("A") {
            assert!(Instant::now() < deadline, "A not applied within 10 s");
        }

        let paused = node_pid(&cluster, leader);
        signal(paused, "-STOP");
        let mut c2 = cluster.client_of(others.clone());
        c2.put("x", "B").await.unwrap();

        // Client 1's attempt ends now; it retries A through the new leader.
        proxy.cut();
        let (c1, result) = tokio::time::timeout(Duration::from_secs(30), put_a)
            .await
            .expect("client 1's retry answered within 30 s")
            .unwrap();
        result.unwrap();
        assert_eq!(c1.client_id(), Some(session), "the retry kept its session");
        let mut survivors = cluster.client_of(others.clone());
        assert_eq!(
            survivors.get("x").await.unwrap().as_deref(),
            Some("B"),
            "the retried put A was applied again after B"
        );

        // The paused leader resumes, steps down and catches up; x is still B.
        signal(paused, "-CONT");
        let new_leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let st = cluster
            .status(new_leader, Duration::from_secs(1))
            .await
            .unwrap();
        cluster
            .wait_commit(leader, st.commit, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            cluster.client().get("x").await.unwrap().as_deref(),
            Some("B")
        );
    });
}

/// One pipelined connection with 32 puts in flight whose answers are all lost: the leader
/// applies them, another client overwrites every key, then the connection is cut and the
/// pipeline sends all 32 again (same numbers) to the leader. Each retry must be a duplicate
/// answered from the session window, not applied again (the keys keep the other client's
/// values) and not refused as stale (with only the last number remembered, the retry of 1
/// after 32 applied was). Then every key reads back the same linearizably and, once each
/// server applied the log, sequentially from each server.
#[test]
fn pipelined_puts_with_lost_answers_are_retried_together_and_applied_once() {
    const PUTS: usize = 32;
    rt().block_on(async {
        let cluster = Cluster::start(3, Path::new(BIN)).unwrap();
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let mut proxy = LossyProxy::start(cluster.addrs[leader]).await;
        // The proxy first, then every server: a redirect names the leader's own address.
        let addrs: Vec<SocketAddr> = std::iter::once(proxy.addr)
            .chain(cluster.addrs.iter().copied())
            .collect();
        let options = PipelineOptions {
            // The first attempts end when the test cuts the proxy, not on a timer.
            attempt_timeout: Duration::from_secs(120),
            timeout: Duration::from_secs(120),
            ..PipelineOptions::default()
        };
        let mut pipe =
            KvPipeline::with_options(addrs, CLUSTER_ID, cluster.security.clone(), options);
        // The session opens while answers still come back.
        pipe.put("warm", "up").await.unwrap();

        proxy.lose_answers();
        let mut tickets = Vec::new();
        for i in 0..PUTS {
            let op = KvOp::Put {
                key: format!("k{i}"),
                value: format!("mine{i}"),
            };
            tickets.push(pipe.submit(op).await.unwrap());
        }
        // The leader applies all 32 (in order: the last one shows) and their answers are lost.
        let mut other = cluster.client();
        let last = format!("k{}", PUTS - 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while other.get(&last).await.unwrap().as_deref() != Some(&*format!("mine{}", PUTS - 1)) {
            assert!(
                Instant::now() < deadline,
                "the puts not applied within 10 s"
            );
        }
        for i in 0..PUTS {
            other.put(&format!("k{i}"), "theirs").await.unwrap();
        }

        proxy.cut();
        for (i, ticket) in tickets.into_iter().enumerate() {
            let answer = tokio::time::timeout(Duration::from_secs(30), ticket)
                .await
                .expect("answered within 30 s after the cut");
            assert_eq!(answer.unwrap(), KvResult::Done, "put {i}");
        }
        for i in 0..PUTS {
            let key = format!("k{i}");
            let got = pipe.get(&key, Consistency::Linearizable).await.unwrap();
            assert_eq!(
                got.as_deref(),
                Some("theirs"),
                "the retried put {key} was applied again"
            );
        }

        // Sequential reads: each server answers from its own applied state once it has the log.
        let st = cluster
            .status(leader, Duration::from_secs(1))
            .await
            .unwrap();
        for i in 0..cluster.addrs.len() {
            cluster
                .wait_commit(i, st.commit, Duration::from_secs(10))
                .await
                .unwrap();
            let mut one = KvPipeline::with_security(
                vec![cluster.addrs[i]],
                CLUSTER_ID,
                cluster.security.clone(),
            );
            let mut reads = Vec::new();
            for k in 0..PUTS {
                let key = format!("k{k}");
                reads.push(
                    one.submit_read(&key, Consistency::Sequential)
                        .await
                        .unwrap(),
                );
            }
            for read in reads {
                assert_eq!(read.await.unwrap(), KvResult::Value(Some("theirs".into())));
            }
        }
    });
}

/// A sequential read is served by the server that receives it, without the leader: with the
/// leader and the other follower stopped (SIGSTOP), a follower cannot reach a quorum, so a
/// linearizable read through it fails, while a sequential one answers at once from its
/// applied state — including through `ballot kv get --consistency sequential`.
#[test]
fn a_follower_without_a_leader_answers_sequential_reads_only() {
    rt().block_on(async {
        let cluster = Cluster::start(3, Path::new(BIN)).unwrap();
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let mut client = cluster.client();
        client.put("x", "1").await.unwrap();
        let st = cluster
            .status(leader, Duration::from_secs(1))
            .await
            .unwrap();
        let follower = (leader + 1) % 3;
        let other = (leader + 2) % 3;
        cluster
            .wait_commit(follower, st.commit, Duration::from_secs(10))
            .await
            .unwrap();

        let stopped = [node_pid(&cluster, leader), node_pid(&cluster, other)];
        for pid in stopped {
            signal(pid, "-STOP");
        }
        let mut alone = cluster.client_of(vec![cluster.addrs[follower]]);
        alone.timeout = Duration::from_millis(1500);
        let started = Instant::now();
        let sequential = alone.get_with("x", Consistency::Sequential).await;
        let took = started.elapsed();
        let linearizable = alone.get_with("x", Consistency::Linearizable).await;
        let cli = ballot(&[
            "kv",
            "--cluster",
            &cluster.addrs[follower].to_string(),
            "--cluster-id",
            CLUSTER_ID,
            "--tls-ca",
            cluster.tls.as_ref().unwrap().ca.to_str().unwrap(),
            "--timeout-ms",
            "1500",
            "get",
            "x",
            "--consistency",
            "sequential",
        ]);
        for pid in stopped {
            signal(pid, "-CONT");
        }
        assert_eq!(sequential.unwrap().as_deref(), Some("1"));
        assert!(took < Duration::from_secs(1), "a local read took {took:?}");
        assert!(
            linearizable.is_err(),
            "a linearizable read without a quorum answered {linearizable:?}"
        );
        assert_eq!(cli, (0, "1\n".into(), String::new()));
    });
}

/// raft.read.forward: a client that can reach only a follower gets linearizable reads from it
/// (its only address, so no redirect can take it to the leader), and each read sees the write
/// the leader acknowledged just before it. A follower that refused instead fails here.
#[test]
fn a_follower_serves_linearizable_reads_through_its_leaders_read_index() {
    rt().block_on(async {
        let cluster = Cluster::start(3, Path::new(BIN)).unwrap();
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let mut writer = cluster.client();
        let follower = (leader + 1) % 3;
        let mut reader = cluster.client_of(vec![cluster.addrs[follower]]);
        reader.timeout = Duration::from_secs(5);
        for round in 0..50 {
            let value = round.to_string();
            writer.put("x", &value).await.unwrap();
            let read = reader.get_with("x", Consistency::Linearizable).await;
            assert_eq!(
                read.unwrap().as_deref(),
                Some(value.as_str()),
                "read {round} at follower {follower} missed the write acknowledged before it"
            );
        }
    });
}

fn ballot(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn kv_command_puts_gets_and_deletes() {
    let cluster = Cluster::start(3, Path::new(BIN)).unwrap();
    rt().block_on(cluster.leader(Duration::from_secs(10)))
        .unwrap();
    let addrs = cluster
        .addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let ca = cluster
        .tls
        .as_ref()
        .unwrap()
        .ca
        .to_str()
        .unwrap()
        .to_owned();
    let kv = |rest: &[&str]| {
        let mut args = vec!["kv", "--cluster", &addrs, "--cluster-id", CLUSTER_ID];
        args.extend_from_slice(&["--tls-ca", &ca]);
        args.extend_from_slice(rest);
        ballot(&args)
    };
    assert_eq!(
        kv(&["put", "greeting", "hello world"]),
        (0, "OK\n".into(), String::new())
    );
    assert_eq!(kv(&["get", "greeting"]).1, "hello world\n");
    let (code, out, _) = kv(&["get", "greeting", "--consistency", "linearizable"]);
    assert_eq!((code, out.as_str()), (0, "hello world\n"));
    // The first server of --cluster answers from its applied state, which may lag: poll.
    let deadline = Instant::now() + Duration::from_secs(10);
    while kv(&["get", "greeting", "--consistency", "sequential"]).1 != "hello world\n" {
        assert!(
            Instant::now() < deadline,
            "a sequential read never saw the put"
        );
    }
    let (code, _, err) = kv(&["get", "greeting", "--consistency", "eventual"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--consistency"), "{err}");
    assert_eq!(kv(&["del", "greeting"]).1, "deleted\n");
    let (code, _, err) = kv(&["get", "greeting"]);
    assert_eq!((code, err.trim()), (1, "not found: greeting"));
    let (code, out, _) = kv(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert_eq!(out.matches(" leader term ").count(), 1, "one leader: {out}");

    // Bad input: exit 2 naming the flag, never a panic.
    let (code, _, err) = ballot(&["kv", "--cluster", "not-an-address", "get", "k"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cluster"), "{err}");
    let (code, _, err) = ballot(&[
        "node",
        "--id",
        "4",
        "--peers",
        "1=127.0.0.1:1",
        "--dir",
        "/nonexistent",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--id"), "{err}");
    let (code, _, err) = ballot(&[
        "node",
        "--id",
        "1",
        "--peers",
        "1=nowhere",
        "--dir",
        "/nonexistent",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--peers"), "{err}");

    // TLS by default: without its material a node refuses to start, naming the flags, and a
    // client without the CA refuses to run; a plaintext client of a TLS cluster is told why.
    let (code, _, err) = ballot(&[
        "node",
        "--id",
        "1",
        "--peers",
        "1=127.0.0.1:1",
        "--dir",
        "/x",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("missing --tls-cert, --tls-key, --tls-ca")
            && err.contains("--insecure-plaintext"),
        "{err}"
    );
    let (code, _, err) = ballot(&[
        "node",
        "--id",
        "1",
        "--peers",
        "1=127.0.0.1:1",
        "--dir",
        "/x",
        "--insecure-plaintext",
        "--tls-ca",
        &ca,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--insecure-plaintext: cannot be combined"),
        "{err}"
    );
    let (code, _, err) = ballot(&["kv", "--cluster", &addrs, "get", "greeting"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing --tls-ca"), "{err}");
    let (code, _, err) = ballot(&[
        "kv",
        "--cluster",
        &addrs,
        "--cluster-id",
        CLUSTER_ID,
        "--insecure-plaintext",
        "--timeout-ms",
        "300",
        "get",
        "greeting",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the other side uses TLS"), "{err}");
}

/// Kills the `ballot cluster` process and every node pid it printed, on any exit path.
struct Guard {
    pids: Vec<u32>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would show state Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// `ballot cluster` over TLS: it writes the CA and node certificates, and the `ballot kv`
/// command line it prints works as printed.
#[test]
fn cluster_command_prints_the_leader_and_stops_every_node_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let kv_line = cluster_command_until_ctrl_c(dir.path(), &[]);
    assert!(kv_line.contains(" --tls-ca "), "{kv_line}");
    for file in ["ca.pem", "node1-cert.pem", "node3-key.pem"] {
        assert!(dir.path().join(file).is_file(), "{file} not written");
    }
    assert!(
        !dir.path().join("ca-key.pem").exists(),
        "the CA's key is never written"
    );
}

#[test]
fn cluster_command_with_insecure_plaintext_runs_without_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let kv_line = cluster_command_until_ctrl_c(dir.path(), &["--insecure-plaintext"]);
    assert!(kv_line.contains(" --insecure-plaintext"), "{kv_line}");
    assert!(!dir.path().join("ca.pem").exists());
}

/// Runs `ballot cluster raft --nodes 3 --dir DIR EXTRA…` until it prints a leader, runs the
/// `ballot kv` line it printed, then Ctrl-C: the cluster stops and no node outlives it. Returns
/// the printed `ballot kv` line.
fn cluster_command_until_ctrl_c(dir: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .args(["cluster", "raft", "--nodes", "3", "--dir"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = Guard {
        pids: vec![child.id()],
    };
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut node_pids = Vec::new();
    let mut kv_line = None;
    let leader_line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("`ballot cluster` printed no leader within 20 s");
        if let Some(command) = line.strip_prefix("try: ") {
            kv_line = Some(command.to_owned());
        }
        if let Some(rest) = line.split(": pid ").nth(1) {
            let pid: u32 = rest.split_whitespace().next().unwrap().parse().unwrap();
            node_pids.push(pid);
            guard.pids.push(pid);
        }
        if line.starts_with("leader: node ") {
            break line;
        }
    };
    assert_eq!(node_pids.len(), 3, "{leader_line}");
    assert!(node_pids.iter().all(|p| alive(*p)));
    let kv_line = kv_line.expect("`ballot cluster` printed a `ballot kv` line");
    let words: Vec<&str> = kv_line.split_whitespace().collect();
    assert_eq!(words[0], "ballot", "{kv_line}");
    assert_eq!(
        ballot(&words[1..]),
        (0, "OK\n".into(), String::new()),
        "{kv_line}"
    );
    // Ctrl-C
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "`ballot cluster` did not stop within 10 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20)); // polling a child's exit, bounded above
    };
    assert!(status.success(), "{status}");
    for pid in &node_pids {
        assert!(!alive(*pid), "node pid {pid} outlived `ballot cluster`");
    }
    kv_line
}
