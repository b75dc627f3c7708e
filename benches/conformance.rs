//! Replay rate of conformance: model steps per second through the real node runtime (three
//! `runtime::run` loops over controlled transport, timers and storage), for the 10,000 steps/s
//! target of docs/conformance.md. One iteration replays a fixed set of seeded random walks.

use ballot_conformance::coverage::random_walk;
use ballot_conformance::raft::replay;
use ballot_conformance::rng::SplitMix;
use ballot_models::raft::{RaftConfig, RaftModel};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn replay_rate(c: &mut Criterion) {
    let model = RaftModel::new(RaftConfig::default()).expect("CI bounds are valid");
    let mut rng = SplitMix::new(1);
    let walks: Vec<_> = (0..100)
        .map(|_| random_walk(&model, &mut rng, 40))
        .collect();
    let steps: usize = walks.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("conformance");
    group.throughput(Throughput::Elements(steps as u64));
    group.bench_function(
        "replay 100 walks at the CI bounds (elements = model steps)",
        |b| {
            b.iter(|| {
                for w in &walks {
                    replay(&model, w, None, |_, _| ())
                        .expect("the correct implementation conforms");
                }
            })
        },
    );
    group.finish();
}

criterion_group!(benches, replay_rate);
criterion_main!(benches);
