//! The Raft node's stability targets, in one run (docs/implementation.md § Stability): a 3-node
//! cluster of real `ballot node` processes (mutual TLS, fsync on, default timing) is watched
//! while idle, a lone survivor's term is watched, the leader is killed 20 times, and the leader
//! is paused (SIGSTOP) while a client keeps writing.
//!
//! `scripts/raft_stability.sh` runs it beside a release build of the project and a model check,
//! the load under which the old timing re-elected dozens of times a minute.
//! `cargo bench --bench raft_stability` measures; `cargo bench -- --test` runs each part briefly.

#[path = "../tests/cluster_support/mod.rs"]
mod cluster_support;

use cluster_support::Cluster;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ballot");

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Highest term any running node reports, and the number of distinct (term, leader) pairs seen.
async fn watch_terms(cluster: &Cluster, for_how_long: Duration) -> (u64, u64, usize) {
    let mut first_term = None;
    let mut last_term = 0;
    let mut leaders = std::collections::BTreeSet::new();
    let end = Instant::now() + for_how_long;
    while Instant::now() < end {
        for i in 0..cluster.addrs.len() {
            if !cluster.is_running(i) {
                continue;
            }
            if let Ok(st) = cluster.status(i, Duration::from_millis(500)).await {
                first_term.get_or_insert(st.term);
                last_term = last_term.max(st.term);
                if st.role == "leader" {
                    leaders.insert((st.term, i));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (first_term.unwrap_or(0), last_term, leaders.len())
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let idle = Duration::from_secs(if quick { 2 } else { 60 });
    let lone = Duration::from_secs(if quick { 1 } else { 20 });
    let runs = if quick { 2 } else { 20 };

    // 1. An idle cluster keeps one leader.
    let mut cluster = Cluster::start(3, Path::new(BIN)).expect("cluster starts");
    rt.block_on(async {
        cluster.leader(Duration::from_secs(10)).await.expect("leader");
        let (first, last, leaders) = watch_terms(&cluster, idle).await;
        println!(
            "raft_stability/idle: {:.0} s, term {first} -> {last} ({} term changes), {leaders} leader(s)",
            idle.as_secs_f64(),
            last - first
        );
    });

    // 2. Failover: kill -9 the leader, time until a new leader acknowledges a write.
    let mut failovers = Vec::with_capacity(runs);
    rt.block_on(async {
        let mut client = cluster.client();
        client.put("warm", "up").await.expect("put");
        for run in 0..runs {
            let took = cluster
                .failover_once(&mut client, &format!("failover{run}"))
                .await;
            failovers.push(took);
        }
    });
    let raw: Vec<String> = failovers.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    failovers.sort();
    println!(
        "raft_stability/failover: runs={runs} median={:.1} ms min={:.1} ms max={:.1} ms all_ms=[{}]",
        ms(percentile(&failovers, 0.5)),
        ms(failovers[0]),
        ms(*failovers.last().unwrap()),
        raw.join(", ")
    );

    // 3. A paused leader: one client writes throughout a SIGSTOP of the leader.
    let pause = Duration::from_millis(if quick { 500 } else { 2000 });
    let latencies = rt.block_on(async {
        let leader = cluster
            .leader(Duration::from_secs(10))
            .await
            .expect("leader");
        let pid = cluster.pid(leader).expect("running");
        let mut client = cluster.client();
        let mut latencies = Vec::new();
        let stop_at = Instant::now() + Duration::from_millis(200);
        let resume_at = stop_at + pause;
        let end = resume_at + Duration::from_millis(500);
        let (mut stopped, mut resumed) = (false, false);
        let mut i = 0;
        while Instant::now() < end {
            if !stopped && Instant::now() >= stop_at {
                signal(pid, "-STOP");
                stopped = true;
            }
            let start = Instant::now();
            client
                .put(&format!("pause{i}"), "p")
                .await
                .expect("put while paused");
            latencies.push(start.elapsed());
            i += 1;
            if stopped && !resumed && Instant::now() >= resume_at {
                signal(pid, "-CONT");
                resumed = true;
            }
        }
        if !resumed {
            signal(pid, "-CONT");
        }
        latencies
    });
    let mut sorted = latencies.clone();
    sorted.sort();
    println!(
        "raft_stability/paused_leader: pause {:.0} ms, {} puts, p50={:.2} ms p99={:.1} ms max={:.1} ms",
        ms(pause),
        sorted.len(),
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99)),
        ms(*sorted.last().unwrap())
    );

    // 4. A lone survivor does not raise its term.
    rt.block_on(async {
        let leader = cluster
            .leader(Duration::from_secs(10))
            .await
            .expect("leader");
        let survivor = (leader + 1) % 3;
        for i in 0..3 {
            if i != survivor {
                cluster.kill(i);
            }
        }
        let (first, last, _) = watch_terms(&cluster, lone).await;
        println!(
            "raft_stability/lone_node: {:.0} s, term {first} -> {last} ({} term changes)",
            lone.as_secs_f64(),
            last - first
        );
    });
}
