//! The Raft model under ballot's engine: the default (CI) bounds and every mutant's bounds pass
//! with pinned state counts, every mutant is killed with a pinned shortest counterexample, and the
//! engine agrees with Stateright's own DFS checker.

mod common;

use ballot_models::engine::{check_with, CheckOptions, Outcome, Progress, Strategy, Verdict};
use ballot_models::raft::{Action, Msg, RaftConfig, RaftModel, RaftMutant};
use ballot_models::spec::Spec;
use ballot_models::trace::{Trace, TraceError};
use stateright::{Checker, Model};

fn run(
    model: &RaftModel,
    symmetry: bool,
    threads: usize,
    stop_on: Option<&str>,
) -> Outcome<Action> {
    let representative = |s: &_| model.representative(s);
    let options = CheckOptions {
        strategy: Strategy::Bfs,
        threads,
        symmetry,
        stop_when_found: stop_on.map(|p| vec![p.to_string()]).unwrap_or_default(),
        ..CheckOptions::default()
    };
    check_with(
        model,
        &options,
        Some(&representative),
        model.codec(),
        &Progress::new(),
    )
}

fn correct(config: &RaftConfig) -> RaftModel {
    RaftModel::new(RaftConfig {
        mutant: None,
        ..config.clone()
    })
    .unwrap()
}

/// Unique symmetry classes of the correct model at each mutant's bounds (pinned: a change means
/// the model changed).
const AT_MUTANT_BOUNDS: [(RaftMutant, u64); 18] = [
    (RaftMutant::CommitPreviousTerm, 91_940),
    (RaftMutant::VoteIgnoresLog, 151_599),
    (RaftMutant::VoteTwice, 4_441),
    (RaftMutant::VolatileVote, 20_469),
    (RaftMutant::VolatileTerm, 20_469),
    (RaftMutant::TruncateOnAppend, 118_463),
    (RaftMutant::LeaderKeepsRole, 151_599),
    (RaftMutant::CommitPastMatch, 30_146),
    (RaftMutant::AckLogLength, 30_146),
    (RaftMutant::CountStaleVotes, 756_719),
    (RaftMutant::CountDuplicateVotes, 102),
    (RaftMutant::PreVoteLeads, 12_782),
    (RaftMutant::PipelineCountsSent, 1_302),
    (RaftMutant::HintAsMatch, 42_738),
    (RaftMutant::ReadWithoutConfirm, 1_104_304),
    (RaftMutant::ReadBeforeTermCommit, 1_104_304),
    (RaftMutant::CompactUncommitted, 94_236),
    (RaftMutant::InstallDropsTail, 467_379),
];

#[test]
fn the_default_bounds_pass_with_a_pinned_state_count() {
    let model = RaftModel::new(RaftConfig::default()).unwrap();
    let out = run(&model, true, 2, None);
    common::assert_passes("default bounds", &out);
    assert_eq!(
        out.stats.unique, 4_342_645,
        "symmetry classes at the default bounds"
    );
}

/// PreVote and CheckQuorum with one term of elections (one client value, one crash): every
/// property still holds. (At `--max-term 2` the space passes 10 M classes; see raft.md.)
#[test]
fn pre_vote_with_one_term_passes_with_a_pinned_state_count() {
    let model = RaftModel::new(RaftConfig {
        pre_vote: true,
        max_term: 1,
        ..RaftConfig::default()
    })
    .unwrap();
    let out = run(&model, true, 2, None);
    common::assert_passes("--pre-vote --max-term 1", &out);
    assert_eq!(
        out.stats.unique, 656_870,
        "symmetry classes with --pre-vote"
    );
}

/// Pipelined replication at the default bounds: every property holds. Fewer classes than
/// without it (2.9 M against 4.3 M): entries in flight are not sent again with every request.
#[test]
fn pipeline_at_the_default_bounds_passes_with_a_pinned_state_count() {
    let model = RaftModel::new(RaftConfig {
        pipeline: true,
        ..RaftConfig::default()
    })
    .unwrap();
    let out = run(&model, true, 2, None);
    common::assert_passes("--pipeline", &out);
    assert_eq!(
        out.stats.unique, 2_872_935,
        "symmetry classes with --pipeline"
    );
}

/// Snapshots at the default bounds without the crash, alone and with pipelining: every property
/// holds and an InstallSnapshot is sent (`snapshot_sent`), so compaction and installation are
/// both explored. (With the crash: 17.6 M classes, 7.0 M with `--pipeline`, too slow for the
/// suite; restarts from a snapshot are checked at SN1's bounds, which have one.)
#[test]
fn snapshots_without_crashes_pass_with_pinned_state_counts() {
    for (pipeline, pinned) in [(false, 3_381_914), (true, 1_131_634)] {
        let model = RaftModel::new(RaftConfig {
            snapshots: true,
            pipeline,
            crashes: 0,
            ..RaftConfig::default()
        })
        .unwrap();
        let what = format!("--snapshots --crashes 0 --pipeline {pipeline}");
        let out = run(&model, true, 2, None);
        common::assert_passes(&what, &out);
        assert!(out.property("snapshot_sent").is_some(), "{what}");
        assert_eq!(out.stats.unique, pinned, "{what}: symmetry classes");
    }
}

/// With two servers no snapshot is ever needed (every server holds every committed entry), so
/// the `snapshot_sent` witness is left out rather than reported missing: the check passes.
#[test]
fn snapshots_with_two_servers_pass_without_the_witness() {
    let model = RaftModel::new(RaftConfig {
        servers: 2,
        max_candidates: 2,
        snapshots: true,
        ..RaftConfig::default()
    })
    .unwrap();
    let out = run(&model, true, 2, None);
    common::assert_passes("--servers 2 --snapshots", &out);
    assert!(out.property("snapshot_sent").is_none());
    assert_eq!(out.stats.unique, 2_466, "symmetry classes");
}

/// The path on which SN2 (`install-drops-tail`) loses a committed entry, taken by the correct
/// model: every step is enabled, the InstallSnapshot it delivers is installed under Figure 13
/// step 6 (the receiver's snapshot and commit index move to `last_index`, the entries after it
/// stay), and no property breaks anywhere on the path.
#[test]
fn an_install_snapshot_keeps_the_entries_after_a_matching_snapshot() {
    let info = RaftMutant::InstallDropsTail.info();
    let buggy = RaftModel::new(info.bounds.clone()).unwrap();
    let out = run(&buggy, true, 2, Some(info.breaks));
    let path = out
        .property(info.breaks)
        .and_then(|p| p.discovery.clone())
        .expect("SN2 is killed");
    let model = correct(&info.bounds);
    let properties = model.properties();
    let mut state = model.init_states().remove(0);
    let mut installed = false;
    for action in &path.actions {
        let next = model
            .next_state(&state, action.clone())
            .unwrap_or_else(|| panic!("`{action}` is not enabled in the correct model"));
        if let Action::Deliver {
            dst,
            msg: Msg::InstallSnapshot { last_index, .. },
            ..
        } = action
        {
            let (before, after) = (state.server(*dst), next.server(*dst));
            assert!(before.commit < *last_index && before.last_index() > *last_index);
            assert_eq!((after.snapshot, after.commit), (*last_index, *last_index));
            assert_eq!(after.log, before.log, "the tail after the snapshot is kept");
            installed = true;
        }
        for p in properties.iter().filter(|p| p.name != "snapshot_sent") {
            if matches!(p.expectation, stateright::Expectation::Always) {
                assert!((p.condition)(&model, &next), "{} after `{action}`", p.name);
            }
        }
        state = next;
    }
    assert!(installed, "the path delivers an InstallSnapshot");
}

#[test]
fn the_correct_model_passes_at_every_mutants_bounds() {
    for (mutant, pinned) in AT_MUTANT_BOUNDS {
        let info = mutant.info();
        let model = correct(&info.bounds);
        let out = run(&model, true, 2, None);
        common::assert_passes(info.name, &out);
        assert_eq!(out.stats.unique, pinned, "{}: unique states", info.name);
    }
}

#[test]
fn every_mutant_violates_its_expected_property_with_a_shortest_counterexample() {
    for mutant in RaftMutant::ALL {
        let info = mutant.info();
        let model = RaftModel::new(info.bounds.clone()).unwrap();
        for threads in [1, 2] {
            let out = run(&model, true, threads, Some(info.breaks));
            common::assert_shortest_counterexample(
                &model,
                &out,
                &format!("{} ({threads} threads)", info.name),
                info.breaks,
                info.shortest,
            );
        }
    }
}

/// Small bounds, symmetry off: both engines must see exactly the same states and verdicts. Correct
/// models at mutants' bounds (two network kinds, a crash, five servers with duplication, PreVote,
/// pipelining, snapshots) and mutants explored in full.
fn differential_configs() -> Vec<RaftConfig> {
    let mut v: Vec<RaftConfig> = [
        RaftMutant::VoteTwice,
        RaftMutant::VolatileVote,
        RaftMutant::CommitPastMatch,
        RaftMutant::CountDuplicateVotes,
        RaftMutant::PreVoteLeads,
    ]
    .iter()
    .map(|m| correct(&m.info().bounds).config)
    .collect();
    v.push(RaftMutant::VoteTwice.info().bounds);
    v.push(RaftMutant::CommitPastMatch.info().bounds);
    v.push(RaftMutant::PreVoteLeads.info().bounds);
    v.push(correct(&RaftMutant::HintAsMatch.info().bounds).config);
    v.push(RaftMutant::PipelineCountsSent.info().bounds);
    // ReadIndex with one term: reads, rounds and their echoes in every message.
    v.push(RaftConfig {
        reads: 2,
        leader_noop: true,
        max_term: 1,
        max_log: 0,
        values: 0,
        crashes: 0,
        ..RaftConfig::default()
    });
    v.push(correct(&RaftMutant::CompactUncommitted.info().bounds).config);
    v.push(RaftMutant::CompactUncommitted.info().bounds);
    v
}

#[test]
fn ballot_and_stateright_dfs_agree_on_states_and_verdicts() {
    for config in differential_configs() {
        let model = RaftModel::new(config.clone()).unwrap();
        let reference = model.clone().checker().spawn_dfs().join();
        for (strategy, threads) in [(Strategy::Bfs, 1), (Strategy::Bfs, 2), (Strategy::Dfs, 2)] {
            let out = check_with(
                &model,
                &CheckOptions {
                    strategy,
                    threads,
                    ..CheckOptions::default()
                },
                None,
                model.codec(),
                &Progress::new(),
            );
            assert!(out.stats.exhausted());
            assert_eq!(
                out.stats.unique as usize,
                reference.unique_state_count(),
                "{} {strategy:?}/{threads}: unique states",
                config.summary()
            );
            for p in &out.properties {
                let theirs = reference.discovery(p.name).is_some();
                let ours = matches!(p.verdict, Verdict::Violated | Verdict::Found);
                assert_eq!(ours, theirs, "{}: {}", config.summary(), p.name);
            }
        }
    }
}

#[test]
fn symmetry_keeps_every_verdict_and_shrinks_the_space() {
    for config in differential_configs() {
        let model = RaftModel::new(config.clone()).unwrap();
        let with = run(&model, true, 2, None);
        let without = run(&model, false, 2, None);
        assert!(with.stats.unique <= without.stats.unique);
        for (a, b) in with.properties.iter().zip(&without.properties) {
            assert_eq!(a.verdict, b.verdict, "{}: {}", config.summary(), a.name);
            if let (Some(x), Some(y)) = (&a.discovery, &b.discovery) {
                assert_eq!(x.actions.len(), y.actions.len(), "shortest either way");
            }
        }
    }
}

#[test]
fn bad_bounds_are_errors_that_name_the_flag() {
    let cases: [(RaftConfig, &str); 6] = [
        (
            RaftConfig {
                servers: 0,
                ..RaftConfig::default()
            },
            "--servers",
        ),
        (
            RaftConfig {
                servers: 9,
                ..RaftConfig::default()
            },
            "--servers",
        ),
        (
            RaftConfig {
                max_term: 0,
                ..RaftConfig::default()
            },
            "--max-term",
        ),
        (
            RaftConfig {
                max_candidates: 4,
                ..RaftConfig::default()
            },
            "--max-candidates",
        ),
        (
            RaftConfig {
                max_log: 8,
                leader_noop: true,
                ..RaftConfig::default()
            },
            "--max-log",
        ),
        (
            RaftConfig {
                init: ["2/1v1", "1/2v1", "2/"]
                    .iter()
                    .map(|s| ballot_models::raft::InitServer::parse(s).unwrap())
                    .collect(),
                ..RaftConfig::default()
            },
            "--init",
        ),
    ];
    for (config, flag) in cases {
        let err = RaftModel::new(config).unwrap_err();
        assert_eq!(err.flag, flag, "{err}");
    }
    assert!(RaftModel::build(RaftConfig::default(), Some("no-such-bug")).is_err());
}

#[test]
fn traces_that_do_not_fit_the_model_are_rejected_at_the_step_that_breaks() {
    let info = RaftMutant::VoteTwice.info();
    let model = RaftModel::new(info.bounds.clone()).unwrap();
    let out = run(&model, false, 1, Some(info.breaks));
    let d = out
        .property(info.breaks)
        .unwrap()
        .discovery
        .clone()
        .unwrap();
    let good = Trace::from_discovery(&model, Some(info.breaks), &d);

    let mut v2 = good.clone();
    v2.format = "ballot-trace/2".into();
    assert!(matches!(
        Trace::parse(&v2.to_json()),
        Err(TraceError::Format(_))
    ));
    assert!(matches!(
        Trace::parse("{\"format\": "),
        Err(TraceError::Json { .. })
    ));

    // Step 2 delivers a message that does not exist.
    let mut bad = good.clone();
    bad.steps[1].action = serde_json::json!({"kind": "restart", "server": 1});
    match bad.replay::<RaftModel>() {
        Err(TraceError::Step { step: 2, .. }) => {}
        other => panic!("expected a step-2 error, got {other:?}"),
    }
    // Step 3's recorded state is not what the model computes.
    let mut bad = good.clone();
    bad.steps[2].state["servers"][0]["term"] = serde_json::json!(7);
    match bad.replay::<RaftModel>() {
        Err(TraceError::Step { step: 3, message }) => {
            assert!(message.contains("servers.0.term"), "{message}")
        }
        other => panic!("expected a step-3 error, got {other:?}"),
    }
    // A config out of range is a config error.
    let mut bad = good;
    bad.config["max_term"] = serde_json::json!(0);
    assert!(matches!(
        bad.replay::<RaftModel>(),
        Err(TraceError::Config(_))
    ));
}
