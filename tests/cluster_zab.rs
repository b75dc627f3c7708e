//! 3-node ZAB clusters (FLE, then ZAB) of real `ballot node --protocol zab` processes on
//! loopback, over mutual TLS: election and KV service; kill -9 of the leader, a new leader in a
//! higher epoch, no acknowledged write lost; a restarted server resynchronized from the leader;
//! an election between unequal histories that the most up-to-date server wins; the `ballot
//! kv status` line of a ZAB server; `ballot cluster zab` itself through a kill -9 of its leader.
//! Every wait is bounded.

mod cluster_support;

use ballot_node::codec::NodeStatus;
use cluster_support::{Cluster, CLUSTER_ID};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ballot");

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Polls node `i` until `ok` holds of its status, or fails after `within` with every log.
async fn wait_for(
    cluster: &Cluster,
    i: usize,
    within: Duration,
    what: &str,
    ok: impl Fn(&NodeStatus) -> bool,
) -> NodeStatus {
    let deadline = Instant::now() + within;
    let mut last = None;
    loop {
        if let Ok(st) = cluster.status(i, Duration::from_millis(200)).await {
            if ok(&st) {
                return st;
            }
            last = Some(st);
        }
        if Instant::now() > deadline {
            let logs: String = (0..cluster.addrs.len()).map(|i| cluster.log(i)).collect();
            panic!(
                "node {}: {what} not within {within:?}; last status {last:?}; logs:\n{logs}",
                i + 1
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn put_all(
    cluster: &Cluster,
    acked: &mut BTreeMap<String, String>,
    range: std::ops::Range<u32>,
) {
    let mut client = cluster.client();
    for i in range {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        client.put(&k, &v).await.unwrap();
        acked.insert(k, v);
    }
}

async fn check_all(cluster: &Cluster, acked: &BTreeMap<String, String>) {
    let mut client = cluster.client();
    for (k, v) in acked {
        assert_eq!(
            client.get(k).await.unwrap().as_ref(),
            Some(v),
            "acknowledged write {k} lost"
        );
    }
}

/// Election, service, kill -9 of the leader (a new leader in a higher epoch, every
/// acknowledged write still there), and the killed server restarted and resynchronized: its
/// log ends at the leader's last zxid and it has applied what the leader applied; then the same
/// for a follower killed and restarted while writes went on.
#[test]
fn zab_cluster_survives_a_leader_kill_and_resyncs_restarted_servers() {
    rt().block_on(async {
        let mut cluster = Cluster::zab(3, Path::new(BIN)).unwrap();
        for i in 0..3 {
            cluster.spawn(i).unwrap();
        }
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let mut acked = BTreeMap::new();
        put_all(&cluster, &mut acked, 0..30).await;
        let before = wait_for(&cluster, leader, Duration::from_secs(5), "leading", |st| {
            st.role == "leading"
        })
        .await;
        check_all(&cluster, &acked).await;

        let killed_at = Instant::now();
        cluster.kill(leader);
        let mut client = cluster.client();
        client.put("after-kill", "1").await.unwrap();
        acked.insert("after-kill".into(), "1".into());
        let failover = killed_at.elapsed();
        eprintln!("ZAB failover (kill -9 leader -> write acknowledged): {failover:?}");
        let new_leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        assert_ne!(new_leader, leader);
        let after = cluster
            .status(new_leader, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(
            after.term > before.term,
            "the new leader's epoch {} is above the old one's {}",
            after.term,
            before.term
        );
        let zxid = after.last_zxid.expect("a ZAB status has a zxid");
        assert_eq!(
            zxid >> 32,
            after.term,
            "the new epoch's zxids are of that epoch"
        );
        put_all(&cluster, &mut acked, 30..45).await;
        check_all(&cluster, &acked).await;

        // The old leader restarts from its disk, LOOKING, joins the new epoch as a follower and
        // is synchronized (DIFF, or TRUNC of what it logged alone) up to the leader.
        cluster.spawn(leader).unwrap();
        let target = cluster
            .status(new_leader, Duration::from_secs(1))
            .await
            .unwrap();
        let st = wait_for(&cluster, leader, Duration::from_secs(10), "resync", |st| {
            st.role == "following" && st.last_zxid == target.last_zxid && st.commit >= target.commit
        })
        .await;
        assert_eq!(
            st.leader,
            Some(ballot_core::ServerId(new_leader as u64 + 1))
        );

        // A follower killed, writes it misses, a restart: it is synchronized (DIFF) too.
        let follower = (0..3).find(|&i| i != leader && i != new_leader).unwrap();
        cluster.kill(follower);
        put_all(&cluster, &mut acked, 45..60).await;
        cluster.spawn(follower).unwrap();
        let target = cluster
            .status(new_leader, Duration::from_secs(1))
            .await
            .unwrap();
        wait_for(
            &cluster,
            follower,
            Duration::from_secs(10),
            "resync",
            |st| {
                st.role == "following"
                    && st.last_zxid == target.last_zxid
                    && st.commit >= target.commit
            },
        )
        .await;

        // With the restarted server as one of the two left, nothing is lost.
        cluster.kill(new_leader);
        check_all(&cluster, &acked).await;
    });
}

/// Unequal histories: server 3 (the highest id, which FLE prefers between equals) misses an
/// epoch; when every server restarts, FLE elects one of the most up-to-date (servers 1 and 2,
/// never 3), and server 3 is resynchronized.
#[test]
fn zab_election_from_unequal_histories_elects_the_most_up_to_date_server() {
    rt().block_on(async {
        let mut cluster = Cluster::zab(3, Path::new(BIN)).unwrap();
        for i in 0..3 {
            cluster.spawn(i).unwrap();
        }
        let mut acked = BTreeMap::new();
        cluster.leader(Duration::from_secs(10)).await.unwrap();
        put_all(&cluster, &mut acked, 0..5).await;
        cluster.kill(2);
        put_all(&cluster, &mut acked, 5..20).await;
        let ahead = wait_for(&cluster, 1, Duration::from_secs(5), "applied", |st| {
            st.commit > 0
        })
        .await;
        cluster.kill(0);
        cluster.kill(1);
        // Server 3 first: with the next one it is a quorum, and it must vote for that one.
        for i in [2, 1, 0] {
            cluster.spawn(i).unwrap();
        }
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        assert_ne!(leader, 2, "server 3 is behind and must not lead");
        let st = wait_for(&cluster, leader, Duration::from_secs(10), "leading", |st| {
            st.role == "leading" && st.term > ahead.term
        })
        .await;
        check_all(&cluster, &acked).await;
        let st = cluster
            .status(leader, Duration::from_secs(1))
            .await
            .unwrap_or(st);
        wait_for(&cluster, 2, Duration::from_secs(10), "resync", |s| {
            s.role == "following" && s.last_zxid >= st.last_zxid
        })
        .await;
    });
}

/// `ballot kv … status` against a ZAB cluster shows each server's state, epoch and last zxid.
#[test]
fn kv_status_shows_state_epoch_and_zxid() {
    rt().block_on(async {
        let mut cluster = Cluster::zab(3, Path::new(BIN)).unwrap();
        for i in 0..3 {
            cluster.spawn(i).unwrap();
        }
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        cluster.client().put("a", "1").await.unwrap();
        for i in 0..3 {
            wait_for(&cluster, i, Duration::from_secs(5), "applied", |st| {
                st.commit > 0
            })
            .await;
        }
        let addrs: Vec<String> = cluster.addrs.iter().map(|a| a.to_string()).collect();
        let ca = &cluster.tls.as_ref().unwrap().ca;
        let out = Command::new(BIN)
            .args([
                "kv",
                "--cluster",
                &addrs.join(","),
                "--cluster-id",
                CLUSTER_ID,
            ])
            .arg("--tls-ca")
            .arg(ca)
            .arg("status")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{stdout}");
        for (i, line) in lines.iter().enumerate() {
            let role = if i == leader { "leading" } else { "following" };
            assert!(
                line.contains(&format!("node {} {role} epoch 1 zxid 0x1000000", i + 1)),
                "{line}"
            );
            assert!(line.contains("(1, "), "{line}");
        }
    });
}

/// Kills the `ballot cluster` process and every node pid it printed, on any exit path.
struct Guard(Vec<u32>);

impl Drop for Guard {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `ballot ARGS`; its exit code and stdout.
fn ballot(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The "done when": `ballot cluster zab --nodes 3` elects a leader and serves `ballot
/// kv` (with the line it prints); after kill -9 of its leader it goes on, prints a new leader in
/// epoch 2, and every acknowledged write is still there; Ctrl-C stops it.
#[test]
fn cluster_command_survives_kill_9_of_its_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["cluster", "zab", "--nodes", "3", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = Guard(vec![child.id()]);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first line that starts with `prefix` and ends with `suffix`, and the lines before it.
    let next_leader = |prefix: &str, suffix: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {prefix:?} line within 20 s: {seen:?}"));
            if line.starts_with(prefix) && line.ends_with(suffix) {
                seen.push(line);
                return seen;
            }
            seen.push(line);
        }
    };
    let lines = next_leader("leader: node ", "(epoch 1)");
    let mut pids = BTreeMap::new();
    let mut kv_line = None;
    for line in &lines {
        if let Some(command) = line.strip_prefix("try: ") {
            kv_line = Some(command.to_owned());
        }
        if let Some((node, rest)) = line.split_once(": pid ") {
            let pid: u32 = rest.split_whitespace().next().unwrap().parse().unwrap();
            pids.insert(node.to_owned(), pid);
            guard.0.push(pid);
        }
    }
    let leader_line = lines.last().unwrap();
    let leader = leader_line
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let leader = leader.trim_start_matches("leader: ").to_owned();
    let kv_line = kv_line.expect("a `ballot kv` line");
    let words: Vec<&str> = kv_line.split_whitespace().collect();
    let kv = &words[1..words.len() - 3]; // without `put greeting hello`
    for i in 0..5 {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        let args: Vec<&str> = kv.iter().copied().chain(["put", &k, &v]).collect();
        assert_eq!(ballot(&args), (0, "OK\n".into()));
    }

    let pid = pids[&leader];
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    // A new leader is LEADING in its old epoch until a quorum has made the new one current;
    // `ballot cluster` prints it again then.
    let lines = next_leader("leader: node ", "(epoch 2)");
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("{leader} was killed; 2 of 3 nodes run")),
        "{lines:?}"
    );
    let args: Vec<&str> = kv.iter().copied().chain(["put", "after", "kill"]).collect();
    assert_eq!(ballot(&args), (0, "OK\n".into()));
    for (k, v) in (0..5)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .chain([("after".to_string(), "kill".to_string())])
    {
        let args: Vec<&str> = kv.iter().copied().chain(["get", &k]).collect();
        assert_eq!(
            ballot(&args),
            (0, format!("{v}\n")),
            "acknowledged write {k}"
        );
    }
    let args: Vec<&str> = kv.iter().copied().chain(["status"]).collect();
    let (code, status) = ballot(&args);
    assert_eq!(code, 1, "one server is down: {status}");
    assert!(
        status.contains(" leading epoch 2 zxid 0x2000000"),
        "{status}"
    );

    // Ctrl-C stops it.
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no stop within 10 s of Ctrl-C");
        std::thread::sleep(Duration::from_millis(20)); // polling a child's exit, bounded above
    };
    assert!(status.success(), "{status}");
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}: {status}");
}

/// `zab.impl.read-barrier`, end to end: a paused leader must not answer a linearizable read
/// from its own state once the others have moved on. While it is stopped (SIGSTOP), the other
/// two elect a new leader in a higher epoch and acknowledge `x = 2`; a read of `x` sent to the
/// old leader alone while it is stopped reaches it as it resumes, beside its overdue timers.
/// Without the barrier it answers `x = 1`, which `x = 2`'s acknowledgement has made stale.
#[test]
fn a_resumed_old_leader_never_answers_a_stale_linearizable_read() {
    rt().block_on(async {
        let mut cluster = Cluster::zab(3, Path::new(BIN)).unwrap();
        for i in 0..3 {
            cluster.spawn(i).unwrap();
        }
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let mut client = cluster.client();
        client.put("x", "1").await.unwrap();
        assert_eq!(client.get("x").await.unwrap().as_deref(), Some("1"));
        let pid = cluster.pid(leader).expect("the leader runs");
        signal(pid, "-STOP");
        let others: Vec<std::net::SocketAddr> = (0..3)
            .filter(|i| *i != leader)
            .map(|i| cluster.addrs[i])
            .collect();
        let mut survivors = cluster.client_of(others);
        survivors.put("x", "2").await.unwrap();

        let mut old = cluster.client_of(vec![cluster.addrs[leader]]);
        old.timeout = Duration::from_secs(3);
        old.attempt_timeout = Duration::from_secs(3);
        let read = tokio::spawn(async move { old.get("x").await });
        tokio::time::sleep(Duration::from_millis(200)).await; // the request waits in the socket
        signal(pid, "-CONT");
        let answer = read.await.unwrap();
        assert_ne!(
            answer.as_ref().ok().and_then(|v| v.as_deref()),
            Some("1"),
            "the resumed old leader answered a stale read: {answer:?}"
        );
        eprintln!("the resumed old leader's answer to the read: {answer:?}");
    });
}
