//! Throughput of the sans-IO Raft core (no I/O, no tokio): events handled per second while a
//! 3-server cluster, driven synchronously, commits client commands.

use ballot_core::raft::{HardState, Message, RaftConfig, RaftCore};
use ballot_core::{Command, Core, Event, RequestId, ServerId, Timer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::collections::VecDeque;

struct Harness {
    cores: Vec<RaftCore>,
    queue: VecDeque<(usize, Event<Message>)>,
    events: u64,
}

impl Harness {
    fn new() -> Self {
        let ids = vec![ServerId(1), ServerId(2), ServerId(3)];
        let cores = ids
            .iter()
            .map(|&id| {
                RaftCore::restore(
                    RaftConfig::new(id, ids.clone()),
                    HardState::default(),
                    Vec::new(),
                )
            })
            .collect();
        let mut h = Harness {
            cores,
            queue: VecDeque::new(),
            events: 0,
        };
        h.push(0, Event::Timer(Timer::Election));
        h.run();
        assert_eq!(h.cores[0].role().name(), "leader");
        h
    }

    fn push(&mut self, at: usize, event: Event<Message>) {
        self.queue.push_back((at, event));
    }

    /// Delivers every message and acknowledges every persist at once, until quiescent.
    fn run(&mut self) {
        while let Some((at, event)) = self.queue.pop_front() {
            self.events += 1;
            self.cores[at].handle(event);
            let from = self.cores[at].config().id;
            for command in self.cores[at].take_commands() {
                match command {
                    Command::Send { to, msg } => self
                        .queue
                        .push_back(((to.0 - 1) as usize, Event::Message { from, msg })),
                    Command::Persist { id, .. } => {
                        self.queue.push_back((at, Event::Persisted { id }))
                    }
                    _ => {}
                }
            }
        }
    }
}

fn bench_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("raft_core");
    // Events one committed command costs: request, 2 AppendEntries, 3 persists, 2 responses.
    let mut probe = Harness::new();
    let before = probe.events;
    probe.push(
        0,
        Event::ClientRequest {
            request: RequestId(0),
            data: vec![0; 16],
        },
    );
    probe.run();
    let per_command = probe.events - before;
    group.throughput(Throughput::Elements(per_command));
    let mut h = Harness::new();
    let mut next = 1u64;
    group.bench_function("commit_one_command_3_servers", |b| {
        b.iter(|| {
            next += 1;
            h.push(
                0,
                Event::ClientRequest {
                    request: RequestId(next),
                    data: vec![0; 16],
                },
            );
            h.run();
        })
    });
    group.finish();
}

criterion_group!(benches, bench_core);
criterion_main!(benches);
