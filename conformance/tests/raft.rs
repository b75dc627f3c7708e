//! Raft conformance: the correct implementation conforms on every CI configuration, every
//! implementation mutant is caught, and every model mutant's counterexample diverges on the
//! correct implementation at or before its violating step.

use std::sync::Arc;

use ballot_conformance::raft::{conform_depth, conform_walks, replay, simulate, ConfigHook};
use ballot_conformance::{Divergence, Failure, Progress, Summary};
use ballot_core::raft::ImplMutant;
use ballot_models::engine::{check_with, CheckOptions, Progress as CheckProgress, Verdict};
use ballot_models::network::NetworkKind;
use ballot_models::raft::{Action, InitServer, RaftConfig, RaftModel, RaftMutant};
use ballot_models::spec::Spec;
use stateright::Model;

fn model(f: impl FnOnce(&mut RaftConfig)) -> RaftModel {
    let mut c = RaftConfig::default();
    f(&mut c);
    RaftModel::new(c).expect("a valid configuration")
}

/// The log-repair configuration CI replays besides the CI bounds: Figure 8's start (three
/// different logs), two more client values, four terms, one candidate per term.
fn log_repair() -> RaftModel {
    model(|c| {
        c.max_term = 4;
        c.values = 3;
        c.max_log = 2;
        c.max_candidates = 1;
        c.crashes = 0;
        c.init = "2/1v1,2/,2/2v2"
            .split(',')
            .map(|s| InitServer::parse(s).expect("parses"))
            .collect();
    })
}

/// PreVote and CheckQuorum at the CI bounds.
fn pre_vote() -> RaftModel {
    model(|c| c.pre_vote = true)
}

/// Pipelined replication with rejection hints at the CI bounds.
fn pipeline() -> RaftModel {
    model(|c| c.pipeline = true)
}

/// The log-repair configuration with pipelined replication: where rejection hints matter.
fn pipelined_log_repair() -> RaftModel {
    model(|c| {
        *c = log_repair().config;
        c.pipeline = true;
    })
}

/// ReadIndex (raft.read.*): two terms with no-ops and one read, where a deposed leader that
/// served a read at once would miss its successor's commit (RI1's bounds).
fn reads() -> RaftModel {
    model(|c| {
        *c = RaftMutant::ReadWithoutConfirm.info().bounds;
        c.mutant = None;
        c.reads = 2;
    })
}

/// Snapshots (raft.snapshot.*): SN2's start (three logs holding an uncommitted 1v1), two terms
/// with no-ops and two client values, where a compaction leaves a follower behind the snapshot
/// and an InstallSnapshot meets a log with a matching entry and a tail.
fn snapshots() -> RaftModel {
    model(|c| {
        *c = RaftMutant::InstallDropsTail.info().bounds;
        c.mutant = None;
    })
}

/// Snapshots over a stale tail: s2 holds three entries of a term no leader committed; the
/// leader of term 3 commits its no-op with s1, compacts, and can only reach s2 by a snapshot
/// whose last entry s2 holds with another term, so Figure 13 step 7 (discard the whole log)
/// decides what s2 keeps.
fn snapshot_over_stale_tail() -> RaftModel {
    model(|c| {
        c.snapshots = true;
        c.leader_noop = true;
        c.max_term = 3;
        c.max_log = 1;
        c.values = 4;
        c.max_candidates = 1;
        c.crashes = 0;
        c.init = "2/1v1,2/,2/2v2+2v3+2v4"
            .split(',')
            .map(|s| InitServer::parse(s).expect("parses"))
            .collect();
    })
}

fn passes(what: &str, r: Result<Summary, Failure<Action>>) -> Summary {
    match r {
        Ok(s) => s,
        Err(Failure::Diverged {
            divergence,
            actions,
            ..
        }) => panic!(
            "{what}: {divergence}\nactions: {actions:?}\nexpected: {}\nactual: {}",
            divergence.expected, divergence.actual
        ),
        Err(Failure::Usage(u)) => panic!("{what}: {u}"),
    }
}

#[test]
fn correct_implementation_covers_every_transition_within_depth_9_at_the_ci_bounds() {
    let s = passes(
        "depth 9",
        conform_depth(&model(|_| ()), 9, None, &Progress::default()),
    );
    // Pinned: an unintended change to the model or the enumeration is noticed.
    assert_eq!(s.transitions, 181_803);
    assert_eq!(s.covered, s.transitions);
}

#[test]
fn log_repair_configuration_truncates_conflicting_suffixes_and_conforms() {
    let m = log_repair();
    // The configuration does what it is for: some walk makes a follower delete a conflicting
    // suffix (its log after a step is not an extension of its log before).
    let mut rng = ballot_conformance::rng::SplitMix::new(1);
    let mut truncations = 0;
    for _ in 0..200 {
        let path = ballot_conformance::coverage::random_walk(&m, &mut rng, 60);
        let mut st = m.init_states().remove(0);
        for a in path {
            let next = m.next_state(&st, a).expect("a walk of the model");
            truncations += st
                .servers
                .iter()
                .zip(&next.servers)
                .filter(|(a, b)| !b.log.starts_with(&a.log))
                .count();
            st = next;
        }
    }
    assert!(truncations > 0, "no walk repaired a log");
    passes(
        "log repair walks",
        conform_walks(&m, 2_000, 1, 60, None, &Progress::default()),
    );
    passes(
        "log repair depth 8",
        conform_depth(&m, 8, None, &Progress::default()),
    );
}

#[test]
fn pre_vote_and_check_quorum_conform() {
    let s = passes(
        "--pre-vote depth 9",
        conform_depth(&pre_vote(), 9, None, &Progress::default()),
    );
    assert_eq!(s.covered, s.transitions);
    passes(
        "--pre-vote simulate",
        simulate(&pre_vote(), 50_000, 11, 60, None, &Progress::default()),
    );
    passes(
        "--pre-vote log repair walks",
        conform_walks(
            &model(|c| {
                *c = log_repair().config;
                c.pre_vote = true;
            }),
            1_000,
            2,
            60,
            None,
            &Progress::default(),
        ),
    );
}

/// Snapshots (raft.snapshot.*): every transition within depth 15 from SN2's start, with and
/// without pipelining, walks deeper, and the implementation's own schedules. SN2's
/// counterexample (15 steps, an InstallSnapshot delivered to a log with a matching tail) is a
/// path of that depth, so its transitions are among those covered.
#[test]
fn snapshots_conform() {
    let s = passes(
        "--snapshots depth 15",
        conform_depth(&snapshots(), 15, None, &Progress::default()),
    );
    assert_eq!(s.covered, s.transitions);
    let mut pipelined = snapshots();
    pipelined.config.pipeline = true;
    passes(
        "--snapshots --pipeline depth 14",
        conform_depth(&pipelined, 14, None, &Progress::default()),
    );
    let s = passes(
        "--snapshots over a stale tail depth 16",
        conform_depth(&snapshot_over_stale_tail(), 16, None, &Progress::default()),
    );
    assert_eq!(s.covered, s.transitions);
    passes(
        "--snapshots walks",
        conform_walks(&snapshots(), 2_000, 6, 60, None, &Progress::default()),
    );
    passes(
        "--snapshots --pipeline simulate",
        simulate(&pipelined, 50_000, 13, 60, None, &Progress::default()),
    );
}

/// ReadIndex (raft.read.*): every transition within depth 12 where reads matter (two leaders
/// in turn, no-ops, reads), walks and a simulation deeper.
#[test]
fn reads_conform() {
    let s = passes(
        "--reads depth 12",
        conform_depth(&reads(), 12, None, &Progress::default()),
    );
    assert_eq!(s.covered, s.transitions);
    passes(
        "--reads walks",
        conform_walks(&reads(), 2_000, 5, 60, None, &Progress::default()),
    );
    passes(
        "--reads simulate",
        simulate(&reads(), 20_000, 11, 60, None, &Progress::default()),
    );
}

/// Pipelining (raft.pipeline.*): every transition within depth 9 at the CI bounds, and log
/// repair through rejection hints, where a walk must see the leader skip back by a hint.
#[test]
fn pipelined_replication_conforms() {
    let s = passes(
        "--pipeline depth 9",
        conform_depth(&pipeline(), 9, None, &Progress::default()),
    );
    assert_eq!(s.covered, s.transitions);
    let m = pipelined_log_repair();
    passes(
        "--pipeline log repair walks",
        conform_walks(&m, 2_000, 4, 60, None, &Progress::default()),
    );
    passes(
        "--pipeline log repair depth 8",
        conform_depth(&m, 8, None, &Progress::default()),
    );
    passes(
        "--pipeline simulate log repair",
        simulate(&m, 20_000, 9, 60, None, &Progress::default()),
    );
    // The configuration exercises the hint: some walk delivers a rejection carrying a hint
    // above 0 (a follower that shares a prefix with the leader but not its prev entry).
    let mut rng = ballot_conformance::rng::SplitMix::new(4);
    let hinted = (0..500).any(|_| {
        ballot_conformance::coverage::random_walk(&m, &mut rng, 60)
            .iter()
            .any(|a| {
                matches!(
                    a,
                    Action::Deliver {
                        msg: ballot_models::raft::Msg::AppendEntriesResponse {
                            success: false,
                            match_index,
                            ..
                        },
                        ..
                    } if match_index.0 > 0
                )
            })
    });
    assert!(hinted, "no walk delivered a rejection with a hint");
}

#[test]
fn simulation_validates_implementation_chosen_steps() {
    let s = passes(
        "simulate CI bounds",
        simulate(&model(|_| ()), 100_000, 7, 60, None, &Progress::default()),
    );
    assert_eq!(s.steps, 100_000);
    passes(
        "simulate log repair",
        simulate(&log_repair(), 20_000, 7, 60, None, &Progress::default()),
    );
}

#[test]
fn other_network_kinds_cluster_sizes_and_the_noop_conform() {
    use NetworkKind::*;
    let configs = [
        ("leader no-op", model(|c| c.leader_noop = true)),
        (
            "unordered, lossy, two values",
            model(|c| {
                c.network = Unordered;
                c.lossy = true;
                c.values = 2;
                c.max_log = 2;
            }),
        ),
        (
            "five servers, duplication",
            model(|c| {
                c.network = UnorderedDup;
                c.servers = 5;
                c.max_candidates = 5;
                c.max_term = 1;
                c.values = 0;
                c.max_log = 0;
            }),
        ),
        (
            "two servers",
            model(|c| {
                c.servers = 2;
                c.max_candidates = 2;
            }),
        ),
        (
            "one server",
            model(|c| {
                c.servers = 1;
                c.max_candidates = 1;
            }),
        ),
    ];
    for (what, m) in &configs {
        passes(
            what,
            conform_walks(m, 1_000, 3, 60, None, &Progress::default()),
        );
        passes(what, simulate(m, 10_000, 3, 60, None, &Progress::default()));
    }
}

fn mutant_hook(m: ImplMutant) -> ConfigHook {
    Arc::new(move |c: &mut ballot_core::raft::RaftConfig| c.mutant = Some(m))
}

/// The CI conformance plan against one implementation: stops at the first divergence.
/// Named runs of one implementation.
type Plan<'a> = [(
    &'static str,
    Box<dyn Fn() -> Result<Summary, Failure<Action>> + 'a>,
); 14];

fn ci_plan(hook: &ConfigHook) -> Option<(&'static str, Box<Divergence>)> {
    let p = Progress::default();
    let runs: Plan = [
        (
            "depth 10 at the CI bounds",
            Box::new(|| conform_depth(&model(|_| ()), 10, Some(hook.clone()), &p)),
        ),
        (
            "log repair walks",
            Box::new(|| conform_walks(&log_repair(), 2_000, 1, 60, Some(hook.clone()), &p)),
        ),
        (
            "simulate at the CI bounds",
            Box::new(|| simulate(&model(|_| ()), 100_000, 7, 60, Some(hook.clone()), &p)),
        ),
        (
            "simulate log repair",
            Box::new(|| simulate(&log_repair(), 20_000, 7, 60, Some(hook.clone()), &p)),
        ),
        (
            "depth 9 with --pre-vote",
            Box::new(|| conform_depth(&pre_vote(), 9, Some(hook.clone()), &p)),
        ),
        (
            "simulate with --pre-vote",
            Box::new(|| simulate(&pre_vote(), 50_000, 7, 60, Some(hook.clone()), &p)),
        ),
        (
            "depth 9 with --pipeline",
            Box::new(|| conform_depth(&pipeline(), 9, Some(hook.clone()), &p)),
        ),
        (
            "pipelined log repair walks",
            Box::new(|| {
                conform_walks(
                    &pipelined_log_repair(),
                    2_000,
                    4,
                    60,
                    Some(hook.clone()),
                    &p,
                )
            }),
        ),
        (
            "depth 15 with --snapshots",
            Box::new(|| conform_depth(&snapshots(), 15, Some(hook.clone()), &p)),
        ),
        (
            "depth 16 over a stale tail",
            Box::new(|| conform_depth(&snapshot_over_stale_tail(), 16, Some(hook.clone()), &p)),
        ),
        (
            "simulate with --snapshots --pipeline",
            Box::new(|| {
                let mut m = snapshots();
                m.config.pipeline = true;
                simulate(&m, 50_000, 13, 60, Some(hook.clone()), &p)
            }),
        ),
        (
            "walks with --reads",
            Box::new(|| conform_walks(&reads(), 2_000, 5, 60, Some(hook.clone()), &p)),
        ),
        (
            "simulate with --reads",
            Box::new(|| simulate(&reads(), 20_000, 11, 60, Some(hook.clone()), &p)),
        ),
        (
            "simulate pipelined repair",
            Box::new(|| {
                simulate(
                    &pipelined_log_repair(),
                    20_000,
                    9,
                    60,
                    Some(hook.clone()),
                    &p,
                )
            }),
        ),
    ];
    for (name, run) in runs {
        if let Err(Failure::Diverged { divergence, .. }) = run() {
            return Some((name, divergence));
        }
    }
    None
}

#[test]
fn every_implementation_mutant_is_caught_and_the_step_named() {
    let mut survivors = Vec::new();
    println!("implementation mutant     | caught by                  | step | class");
    for m in ImplMutant::ALL {
        match ci_plan(&mutant_hook(m)) {
            Some((by, d)) => {
                assert!(d.step >= 1, "{}: a divergence names its step", m.name());
                println!(
                    "{:<25} | {by:<26} | {:>4} | {}: {}",
                    m.name(),
                    d.step,
                    d.class.name(),
                    d.details[0]
                );
            }
            None => survivors.push(m.name()),
        }
    }
    assert!(survivors.is_empty(), "mutants survived: {survivors:?}");
}

#[test]
fn a_divergence_is_deterministic() {
    let hook = mutant_hook(ImplMutant::CommitPreviousTerm);
    let run = || match conform_walks(
        &model(|_| ()),
        3_000,
        5,
        40,
        Some(hook.clone()),
        &Progress::default(),
    ) {
        Err(Failure::Diverged {
            divergence,
            actions,
            ..
        }) => (divergence.to_string(), actions),
        _ => panic!("commit-previous-term survived the walks"),
    };
    assert_eq!(run(), run());
}

#[test]
fn every_model_mutant_counterexample_diverges_on_the_correct_implementation() {
    for m in RaftMutant::ALL {
        let info = m.info();
        let spec = RaftModel::build(info.bounds.clone(), Some(info.name)).expect("builds");
        let options = CheckOptions {
            stop_when_found: vec![info.breaks.to_string()],
            ..CheckOptions::default()
        };
        let out = check_with(&spec, &options, None, spec.codec(), &CheckProgress::new());
        let p = out.property(info.breaks).expect("the property exists");
        assert_eq!(p.verdict, Verdict::Violated, "{}", info.name);
        let path = &p.discovery.as_ref().expect("a path").actions;
        match replay(&spec, path, None, |_, _| ()) {
            Ok(_) => panic!(
                "{}: the correct implementation followed the bug's counterexample to its end",
                info.name
            ),
            Err(d) => {
                assert!(
                    d.step <= path.len(),
                    "{}: diverged at {} after the violation at {}",
                    info.name,
                    d.step,
                    path.len()
                );
                println!(
                    "{:<22} violation at step {:>2}, divergence at step {:>2} ({}): {}",
                    info.name,
                    path.len(),
                    d.step,
                    d.class.name(),
                    d.details[0]
                );
            }
        }
    }
}
