//! A 3-node Raft cluster of real `ballot node` processes on loopback, fsync on: commit latency
//! (p50/p99 of sequential puts), writes/s with concurrent clients, and failover time (kill -9
//! the leader until a new leader acknowledges a write; median of 20 runs) — each measured over
//! mutual TLS (the default) and then over `--insecure-plaintext`, so the cost of TLS is the
//! difference between the two lines.
//!
//! `cargo bench --bench raft_cluster` measures; `cargo bench -- --test` runs each part briefly.

#[path = "../tests/cluster_support/mod.rs"]
mod cluster_support;

use cluster_support::Cluster;
use criterion::Criterion;
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ballot");

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(if quick { 10 } else { 200 });
    for tls in [true, false] {
        let cluster = if tls {
            Cluster::start(3, Path::new(BIN))
        } else {
            Cluster::start_plaintext(3, Path::new(BIN))
        };
        let label = if tls { "tls" } else { "plaintext" };
        measure(
            label,
            cluster.expect("cluster starts"),
            &rt,
            &mut criterion,
            quick,
        );
    }
    criterion.final_summary();
}

/// Every figure of one cluster, printed as `raft_cluster/LABEL/...`.
fn measure(
    label: &str,
    mut cluster: Cluster,
    rt: &tokio::runtime::Runtime,
    criterion: &mut Criterion,
    quick: bool,
) {
    rt.block_on(cluster.leader(Duration::from_secs(10)))
        .expect("leader");

    // Commit latency: one client, sequential puts (each one log round trip + fsyncs).
    let n = if quick { 20 } else { 1000 };
    let mut latencies = rt.block_on(async {
        let mut client = cluster.client();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let start = Instant::now();
            client.put(&format!("lat{i}"), "x").await.expect("put");
            out.push(start.elapsed());
        }
        out
    });
    latencies.sort();
    println!(
        "raft_cluster/{label}/commit_latency: n={n} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );

    // Throughput: concurrent clients, one connection each; group commit batches their fsyncs.
    let clients = 16;
    let per_client = if quick { 10 } else { 400 };
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let mut client = cluster.client();
                tokio::spawn(async move {
                    for i in 0..per_client {
                        client.put(&format!("w{c}-{i}"), "y").await.expect("put");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        start.elapsed()
    });
    let total = clients * per_client;
    println!(
        "raft_cluster/{label}/writes_per_sec: {clients} clients x {per_client} puts = {total} in {:.3} s -> {:.0} writes/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );

    // Criterion's own view of one put (mean and spread).
    let mut client = cluster.client();
    let mut i = 0u64;
    criterion.bench_function(&format!("raft_cluster/{label}/put"), |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(client.put(&format!("c{i}"), "z")).expect("put");
        })
    });

    // Failover: kill -9 the leader, time until a new leader acknowledges a write.
    let runs = if quick { 2 } else { 20 };
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
        "raft_cluster/{label}/failover: runs={runs} median={:.1} ms min={:.1} ms max={:.1} ms (default timing: election timeout 12-24 ms, heartbeat 3 ms, PreVote) all_ms=[{}]",
        ms(percentile(&failovers, 0.5)),
        ms(failovers[0]),
        ms(*failovers.last().unwrap()),
        raw.join(", ")
    );
}
