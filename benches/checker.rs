//! The checking engines side by side on one Raft model: ballot's BFS (1 and 2 threads) and DFS
//! against Stateright 0.31's own BFS and DFS checkers, all exhausting the same state space (no
//! symmetry reduction, so every engine counts the same states). Throughput is in unique states.
//!
//! The bound is small enough for criterion to repeat it; the full-size comparison at the default
//! bounds, with peak memory, is `scripts/compare-engines.sh` (docs/benchmarks.md).

use ballot_models::engine::{check_with, CheckOptions, Progress, Strategy};
use ballot_models::raft::{RaftConfig, RaftModel};
use ballot_models::spec::Spec;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stateright::{Checker, Model};

/// Raft, 3 servers, one term of elections, one client value, one crash: every engine agrees on
/// this space's unique state count (asserted below).
fn model() -> RaftModel {
    RaftModel::new(RaftConfig {
        max_term: 1,
        ..RaftConfig::default()
    })
    .expect("valid bounds")
}

fn ballot(model: &RaftModel, strategy: Strategy, threads: usize) -> u64 {
    let options = CheckOptions {
        strategy,
        threads,
        ..CheckOptions::default()
    };
    let out = check_with(model, &options, None, model.codec(), &Progress::new());
    assert!(out.stats.exhausted());
    out.stats.unique
}

fn engines(c: &mut Criterion) {
    let model = model();
    let unique = ballot(&model, Strategy::Bfs, 1);
    let reference = model.clone().checker().spawn_dfs().join();
    assert_eq!(unique as usize, reference.unique_state_count());

    let mut g = c.benchmark_group("checker/raft-max-term-1");
    g.sample_size(10);
    g.throughput(Throughput::Elements(unique));
    for threads in [1, 2] {
        g.bench_with_input(
            BenchmarkId::new("ballot-bfs", threads),
            &threads,
            |b, &t| b.iter(|| assert_eq!(ballot(&model, Strategy::Bfs, t), unique)),
        );
    }
    g.bench_function(BenchmarkId::new("ballot-dfs", 1), |b| {
        b.iter(|| assert_eq!(ballot(&model, Strategy::Dfs, 1), unique))
    });
    for threads in [1, 2] {
        g.bench_with_input(
            BenchmarkId::new("stateright-bfs", threads),
            &threads,
            |b, &t| {
                b.iter(|| {
                    let r = model.clone().checker().threads(t).spawn_bfs().join();
                    assert_eq!(r.unique_state_count() as u64, unique);
                })
            },
        );
    }
    g.bench_function(BenchmarkId::new("stateright-dfs", 1), |b| {
        b.iter(|| {
            let r = model.clone().checker().spawn_dfs().join();
            assert_eq!(r.unique_state_count() as u64, unique);
        })
    });
    g.finish();
}

criterion_group!(benches, engines);
criterion_main!(benches);
