//! Random event sequences against a 3-server Raft cluster of `RaftCore`s: the cores' own
//! messages delivered out of order, duplicated or lost, interleaved with forged messages from
//! random senders (random fields, huge terms and indices included), timers, persist
//! acknowledgements, client requests, compactions (`Event::Compact` at the applied index,
//! keeping 0-3 entries; forged `InstallSnapshot`s too) and restarts from what was durable. Forged messages go
//! through `Message::validate` first, as the node's transport does; what passes must never make
//! a core panic.
//!
//! Besides "no panic", the run checks the positive space: every message a core sends passes
//! `validate` (so the transport never refuses a correct server), the durable log is written
//! contiguously, compacted only up to a durable snapshot, entries are applied in order (a
//! restored snapshot carries the index it was taken at), and terms never come near overflow.
//!
//! Reproduce a failure with the seed it prints:
//! `BALLOT_FUZZ_SEED=0x... cargo test --release -p ballot-core --test fuzz_messages`.

use ballot_core::raft::{DurableLog, HardState, Message, RaftConfig, RaftCore};
use ballot_core::{
    Command, Core, DurableWrite, Entry, Event, LogBase, LogIndex, LogWrite, PersistId, RequestId,
    ServerId, Snapshot, Term, Timer,
};
use std::collections::VecDeque;

/// Events per run (each a delivery, forgery, timer, acknowledgement, request or restart).
const EVENTS: u64 = 1_000_000;
/// Events per fresh cluster: once a forged term near `MAX_TERM` is adopted, elections stop
/// (their terms would exceed it), so the run starts over often enough to stay interesting.
const SEGMENT_EVENTS: u64 = 25_000;
/// Messages in flight at most; beyond it a random one is lost.
const NETWORK_CAPACITY: usize = 256;
/// Client requests are refused by the harness above this log length, so that one run's cost
/// stays linear in its events.
const MAX_LOG: usize = 2_000;
const DEFAULT_SEED: u64 = 0xF022_EDBA_1107;

/// SplitMix64: a small seeded generator, so a run needs no dependency and reproduces exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A value within 2 of `around` most of the time, else one a forger would try: small, past
    /// `max` (just past, random, `u64::MAX`), or (rarely, as it takes the cluster to the limit
    /// for the rest of its segment) `max` itself.
    fn near(&mut self, around: u64, max: u64) -> u64 {
        match self.below(1000) {
            0..=29 => self.below(8),
            30..=49 => max + 1 + self.below(u64::MAX - max),
            50..=69 => max + 1,
            70..=89 => u64::MAX,
            90 if self.chance(5) => max - self.below(2),
            _ => around.saturating_add(self.below(5)).saturating_sub(2),
        }
    }
}

/// What one server has made durable.
#[derive(Clone, Debug, Default)]
struct Disk {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    /// The log holds the entries after this.
    base: LogBase,
    log: Vec<Entry>,
}

/// The state a snapshot at `index` carries here: the index itself, so a restore can be checked.
fn state_at(index: LogIndex) -> Vec<u8> {
    index.0.to_le_bytes().to_vec()
}

/// A `Persist` not yet acknowledged.
struct PendingPersist {
    id: PersistId,
    writes: Vec<DurableWrite<HardState>>,
}

struct Server {
    core: RaftCore,
    config: RaftConfig,
    disk: Disk,
    pending: VecDeque<PendingPersist>,
    applied: u64,
}

struct Cluster {
    servers: Vec<Server>,
    /// Messages in flight: (from, to, message).
    network: Vec<(ServerId, ServerId, Message)>,
    next_request: u64,
    /// `RestoreState` commands executed (installed or restarted-from snapshots).
    restores: u64,
    forged_refused: u64,
    forged_delivered: u64,
}

fn id(i: usize) -> ServerId {
    ServerId(i as u64 + 1)
}

impl Cluster {
    fn new(pre_vote: bool) -> Self {
        let ids = vec![id(0), id(1), id(2)];
        let servers = ids
            .iter()
            .map(|&me| {
                let mut config = RaftConfig::new(me, ids.clone());
                config.pre_vote = pre_vote;
                config.max_append_entries = 16;
                let mut core = RaftCore::restore(config.clone(), HardState::default(), Vec::new());
                core.start();
                Server {
                    core,
                    config,
                    disk: Disk::default(),
                    pending: VecDeque::new(),
                    applied: 0,
                }
            })
            .collect();
        let mut cluster = Cluster {
            servers,
            network: Vec::new(),
            next_request: 0,
            restores: 0,
            forged_refused: 0,
            forged_delivered: 0,
        };
        for i in 0..3 {
            cluster.execute(i);
        }
        cluster
    }

    fn handle(&mut self, i: usize, event: Event<Message>) {
        self.servers[i].core.handle(event);
        self.execute(i);
    }

    /// Runs server `i`'s commands: sends into the network, persists into its pending queue.
    fn execute(&mut self, i: usize) {
        let me = id(i);
        let server = &mut self.servers[i];
        for command in server.core.take_commands() {
            match command {
                Command::Send { to, msg } => {
                    // Only a forged (if valid) term can have taken a server to MAX_TERM, from
                    // where its next election's term is refused.
                    assert!(
                        msg.validate().is_ok() || server.core.term() >= Message::MAX_TERM,
                        "server {me} sent a message its peers refuse: {msg:?}: {}",
                        msg.validate().unwrap_err()
                    );
                    self.network.push((me, to, msg));
                }
                Command::Persist { id, writes } => {
                    assert!(!writes.is_empty(), "server {me} persists nothing");
                    server.pending.push_back(PendingPersist { id, writes })
                }
                Command::Apply { index, .. } => {
                    assert_eq!(index.0, server.applied + 1, "server {me} applies in order");
                    server.applied = index.0;
                }
                Command::SetTimer(_)
                | Command::SetTimerFor { .. }
                | Command::CancelTimer(_)
                | Command::ClientAccepted { .. }
                | Command::ClientRejected { .. }
                | Command::ReadReady { .. } => {}
                Command::RestoreState { snapshot } => {
                    assert_eq!(
                        snapshot.data,
                        state_at(snapshot.last_index),
                        "server {me} restores the state taken at its index"
                    );
                    assert!(
                        snapshot.last_index.0 >= server.applied,
                        "server {me} goes back"
                    );
                    server.applied = snapshot.last_index.0;
                    self.restores += 1;
                }
            }
        }
        assert!(
            server.core.term().0 <= Message::MAX_TERM.0 + EVENTS,
            "server {me}'s term {} grew past anything an event can explain",
            server.core.term()
        );
        while self.network.len() > NETWORK_CAPACITY {
            let lost = self.network.len() / 2;
            self.network.swap_remove(lost);
        }
    }

    /// Makes server `i`'s oldest (or, with `all`, every) pending persist durable and tells it.
    fn acknowledge(&mut self, i: usize, all: bool) {
        let server = &mut self.servers[i];
        let mut newest = None;
        while let Some(p) = server.pending.pop_front() {
            for write in p.writes {
                let disk = &mut server.disk;
                let write = match write {
                    DurableWrite::HardState(hard_state) => {
                        disk.hard_state = hard_state;
                        continue;
                    }
                    DurableWrite::Log(write) => write,
                };
                let first = disk.base.index.0 + 1;
                let end = first + disk.log.len() as u64;
                match write {
                    LogWrite::Truncate { from } => {
                        assert!(from.0 >= first && from.0 <= end, "{from}");
                        disk.log.truncate((from.0 - first) as usize);
                    }
                    LogWrite::Append { index, entry } => {
                        assert_eq!(index.0, end, "appends are contiguous");
                        disk.log.push(entry);
                    }
                    LogWrite::Snapshot(snapshot) => disk.snapshot = Some(snapshot),
                    LogWrite::Compact { base } => {
                        let covered = disk.snapshot.as_ref().map_or(0, |s| s.last_index.0);
                        assert!(
                            base.index.0 <= covered,
                            "compaction past the durable snapshot"
                        );
                        assert!(base.index >= disk.base.index, "compaction goes forward");
                        let dropped = (base.index.0 + 1 - first).min(disk.log.len() as u64);
                        disk.log.drain(..dropped as usize);
                        disk.base = base;
                    }
                }
            }
            newest = Some(p.id);
            if !all {
                break;
            }
        }
        if let Some(id) = newest {
            self.handle(i, Event::Persisted { id });
        }
    }

    /// Server `i` crashes and restarts from its disk; what was not durable is gone.
    fn restart(&mut self, i: usize) {
        let server = &mut self.servers[i];
        server.pending.clear();
        server.applied = 0;
        // What a storage's recovery does: a log that ends before the snapshot, or disagrees with
        // it there, starts after it.
        let disk = &server.disk;
        let (base, log) = match &disk.snapshot {
            Some(s) => {
                let last = disk.base.index.0 + disk.log.len() as u64;
                let at = s.last_index.0 - disk.base.index.0;
                let agrees = s.last_index.0 <= last
                    && s.last_term
                        == if at == 0 {
                            disk.base.term
                        } else {
                            disk.log[at as usize - 1].term
                        };
                if agrees {
                    (disk.base, disk.log.clone())
                } else {
                    (s.base(), Vec::new())
                }
            }
            None => (disk.base, disk.log.clone()),
        };
        server.core = RaftCore::restore_compacted(
            server.config.clone(),
            disk.hard_state,
            DurableLog {
                snapshot: disk.snapshot.clone(),
                base,
                entries: log,
            },
        );
        server.core.start();
        self.execute(i);
    }

    fn deliver(&mut self, rng: &mut Rng) {
        if self.network.is_empty() {
            return;
        }
        let k = rng.below(self.network.len() as u64) as usize;
        let (from, to, msg) = if rng.chance(5) {
            self.network[k].clone() // duplicated
        } else {
            self.network.swap_remove(k)
        };
        // The transport validates every peer message, a correct server's too.
        if msg.validate().is_ok() {
            self.handle((to.0 - 1) as usize, Event::Message { from, msg });
        }
    }

    /// A message with random fields from a random sender (a peer, the target itself, or a
    /// stranger), delivered only if `validate` accepts it.
    fn forge(&mut self, rng: &mut Rng) {
        let target = rng.below(3) as usize;
        let from = match rng.below(10) {
            0 => ServerId(4),
            1 => id(target),
            _ => id(rng.below(3) as usize),
        };
        let msg = forged_message(rng, &self.servers[target].core);
        if msg.validate().is_err() {
            self.forged_refused += 1;
            return;
        }
        self.forged_delivered += 1;
        self.handle(target, Event::Message { from, msg });
    }

    fn step(&mut self, rng: &mut Rng) {
        let i = rng.below(3) as usize;
        match rng.below(100) {
            0..=34 => self.deliver(rng),
            35..=59 => self.forge(rng),
            60..=67 => self.handle(i, Event::Timer(Timer::Election)),
            68..=74 => self.handle(i, Event::Timer(Timer::Heartbeat)),
            75..=93 => self.acknowledge(i, rng.chance(30)),
            94..=95 => {
                let index = self.servers[i].core.applied();
                let keep = rng.below(4);
                let state = state_at(index);
                self.handle(i, Event::Compact { index, state, keep });
            }
            96..=98 => {
                if self.servers[i].core.log().len() < MAX_LOG {
                    self.next_request += 1;
                    let request = RequestId(self.next_request);
                    let data = self.next_request.to_le_bytes().to_vec();
                    self.handle(i, Event::ClientRequest { request, data });
                }
            }
            _ => {
                if rng.chance(20) {
                    self.restart(i);
                } else {
                    self.deliver(rng);
                }
            }
        }
    }
}

/// Entry terms for a forged `AppendEntries`: non-decreasing from `from` most of the time (what
/// passes validation), arbitrary otherwise.
fn forged_entries(rng: &mut Rng, from: u64, term: u64) -> Vec<Entry> {
    let count = match rng.below(1000) {
        0 => Message::MAX_ENTRIES as u64 + 1,
        1..=9 => 16 + rng.below(64),
        _ => rng.below(4),
    };
    let mut t = from;
    (0..count)
        .map(|k| {
            if rng.chance(90) {
                if rng.chance(30) && t < term {
                    t += 1 + rng.below(term - t);
                }
            } else {
                t = rng.near(t, Message::MAX_TERM.0);
            }
            let payload = vec![k as u8; rng.below(3) as usize];
            if payload.is_empty() {
                Entry::noop(Term(t))
            } else {
                Entry::command(Term(t), payload)
            }
        })
        .collect()
}

fn forged_message(rng: &mut Rng, target: &RaftCore) -> Message {
    let current = target.term().0;
    let base = target.log_base();
    let last = base.index.0 + target.log().len() as u64;
    let term = Term(rng.near(current, Message::MAX_TERM.0));
    let term_at = |index: u64| match index {
        0 => 0,
        i if i < base.index.0 => 1,
        i if i == base.index.0 => base.term.0,
        i if i <= last => target.log()[(i - base.index.0) as usize - 1].term.0,
        _ => current,
    };
    match rng.below(9) {
        6 => {
            let last_index = rng.near(last, Message::MAX_INDEX.0);
            let last_term = if rng.chance(70) {
                term_at(last_index).min(term.0)
            } else {
                rng.near(current, Message::MAX_TERM.0)
            };
            Message::InstallSnapshot {
                term,
                snapshot: Snapshot {
                    last_index: LogIndex(last_index),
                    last_term: Term(last_term),
                    data: state_at(LogIndex(last_index)),
                },
            }
        }
        0 | 1 => {
            let last_log_index = rng.near(last, Message::MAX_INDEX.0);
            let last_log_term = if rng.chance(70) {
                Term(term_at(last_log_index).max(if last_log_index > 0 { 1 } else { 0 }))
            } else {
                Term(rng.near(current, Message::MAX_TERM.0))
            };
            let (last_log_index, last_log_term) = (LogIndex(last_log_index), last_log_term);
            if rng.chance(50) {
                Message::RequestVote {
                    term,
                    last_log_term,
                    last_log_index,
                }
            } else {
                Message::PreVote {
                    term,
                    last_log_term,
                    last_log_index,
                }
            }
        }
        2 => {
            if rng.chance(50) {
                Message::RequestVoteResponse {
                    term,
                    granted: rng.chance(50),
                }
            } else {
                Message::PreVoteResponse {
                    term,
                    granted: rng.chance(50),
                }
            }
        }
        3 | 4 => {
            let prev_log_index = rng.near(last, Message::MAX_INDEX.0);
            let prev_log_term = if rng.chance(80) {
                term_at(prev_log_index)
            } else {
                rng.near(current, Message::MAX_TERM.0)
            };
            let entries = forged_entries(rng, prev_log_term, term.0);
            let end = prev_log_index.saturating_add(entries.len() as u64);
            let commit = if rng.chance(80) {
                rng.below(end.saturating_add(1).max(1))
            } else {
                rng.near(end, Message::MAX_INDEX.0)
            };
            Message::AppendEntries {
                term,
                prev_log_index: LogIndex(prev_log_index),
                prev_log_term: Term(prev_log_term),
                entries,
                commit: LogIndex(commit),
                round: rng.below(4),
            }
        }
        5 => Message::ReadIndex {
            term,
            ctx: rng.below(4),
        },
        7 => Message::ReadIndexResponse {
            term,
            ctx: rng.below(4),
            read_index: rng
                .chance(50)
                .then(|| LogIndex(rng.near(last, Message::MAX_INDEX.0))),
        },
        _ => Message::AppendEntriesResponse {
            term,
            success: rng.chance(60),
            match_index: LogIndex(rng.near(last, Message::MAX_INDEX.0)),
            round: rng.below(4),
        },
    }
}

/// Prints the seed, configuration and event of a failing run.
struct ReproduceOnPanic {
    seed: u64,
    pre_vote: bool,
    event: u64,
}

impl Drop for ReproduceOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "fuzz_messages failed at event {} (pre_vote {}); reproduce: \
                 BALLOT_FUZZ_SEED={:#x} cargo test --release -p ballot-core --test fuzz_messages",
                self.event, self.pre_vote, self.seed
            );
        }
    }
}

fn seed() -> u64 {
    std::env::var("BALLOT_FUZZ_SEED")
        .ok()
        .map(|s| {
            u64::from_str_radix(s.trim_start_matches("0x"), 16)
                .unwrap_or_else(|_| panic!("BALLOT_FUZZ_SEED={s:?} is not a hex number"))
        })
        .unwrap_or(DEFAULT_SEED)
}

/// What a run did, to show it was not vacuous.
#[derive(Debug, Default)]
struct Totals {
    forged_delivered: u64,
    forged_refused: u64,
    /// Sum over segments of the highest commit index reached.
    committed: u64,
    /// Segments in which a forged term took a server to `MAX_TERM`.
    at_max_term: u64,
    /// Snapshots restored (installed from a leader or a forger, or restarted from).
    restores: u64,
    /// Servers whose log was compacted (a base above 0) at the end of a segment.
    compacted: u64,
}

/// 10^6 events in all, in fresh clusters of [`SEGMENT_EVENTS`]: alternately plain Raft and
/// PreVote with CheckQuorum (`ballot node`'s default).
#[test]
fn validated_random_messages_never_make_a_core_panic() {
    let seed = seed();
    let mut rng = Rng(seed);
    let mut guard = ReproduceOnPanic {
        seed,
        pre_vote: false,
        event: 0,
    };
    let mut totals = Totals::default();
    for segment in 0..EVENTS / SEGMENT_EVENTS {
        guard.pre_vote = segment % 2 == 1;
        let mut cluster = Cluster::new(guard.pre_vote);
        for _ in 0..SEGMENT_EVENTS {
            cluster.step(&mut rng);
            guard.event += 1;
        }
        totals.forged_delivered += cluster.forged_delivered;
        totals.forged_refused += cluster.forged_refused;
        totals.restores += cluster.restores;
        totals.compacted += cluster
            .servers
            .iter()
            .filter(|s| s.core.log_base().index.0 > 0)
            .count() as u64;
        totals.committed += cluster
            .servers
            .iter()
            .map(|s| s.core.commit().0)
            .max()
            .unwrap_or(0);
        if cluster
            .servers
            .iter()
            .any(|s| s.core.term() >= Message::MAX_TERM)
        {
            totals.at_max_term += 1;
        }
    }
    eprintln!("fuzz_messages (seed {seed:#x}): {totals:?}");
    // Not vacuous: many forgeries of both kinds, and clusters that commit.
    assert!(totals.forged_delivered > 100_000, "{totals:?}");
    assert!(totals.forged_refused > 10_000, "{totals:?}");
    assert!(totals.committed > 1_000, "{totals:?}");
    assert!(totals.restores > 100 && totals.compacted > 10, "{totals:?}");
}
