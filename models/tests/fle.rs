//! The FastLeaderElection model under ballot's engine: the default (CI) bounds and every mutant's
//! bounds pass with pinned state counts, liveness (`all_decide`, AG EF) included; every mutant is
//! killed with a pinned shortest counterexample; bad bounds and inconsistent histories are errors
//! naming the flag; traces round-trip and bad ones are rejected at the step that breaks; the
//! engine agrees with Stateright's own DFS checker on small bounds.
//!
//! The default-bounds run (6.6 M states) is the long pole, so it runs once and every assertion
//! about those bounds is made on it; zk-1805's bounds are the default bounds.

mod common;

use ballot_models::engine::{check_with, CheckOptions, Outcome, Progress, Strategy, Verdict};
use ballot_models::fle::{Action, FleConfig, FleModel, FleMutant, InitServer};
use ballot_models::network::NetworkKind;
use ballot_models::spec::Spec;
use ballot_models::trace::{Trace, TraceError};
use stateright::{Checker, Expectation, Model};

fn run(model: &FleModel, threads: usize, stop_on: Option<&str>) -> Outcome<Action> {
    let options = CheckOptions {
        strategy: Strategy::Bfs,
        threads,
        stop_when_found: stop_on.map(|p| vec![p.to_string()]).unwrap_or_default(),
        ..CheckOptions::default()
    };
    check_with(model, &options, None, model.codec(), &Progress::new())
}

fn correct(config: &FleConfig) -> FleModel {
    FleModel::new(FleConfig {
        mutant: None,
        ..config.clone()
    })
    .unwrap()
}

/// The properties the model checks at its bounds, by name, in report order.
fn property_names(model: &FleModel) -> Vec<&'static str> {
    model.properties().iter().map(|p| p.name).collect()
}

#[test]
fn the_default_bounds_pass_with_pinned_counts_and_liveness() {
    let model = FleModel::new(FleConfig::default()).unwrap();
    assert_eq!(
        property_names(&model),
        [
            "vote_order_total",
            "no_vote_circle",
            "decision_backed_by_quorum",
            "leader_most_up_to_date",
            "rounds_move_forward",
            "votes_of_the_round",
            "decided_in_vote_round",
            "leader_decided",
            "all_decide",
        ],
        "all_decide is checked without faults"
    );
    let out = run(&model, 2, None);
    common::assert_passes("default bounds", &out);
    assert_eq!(
        out.stats.unique, 6_590_923,
        "unique states at the default bounds"
    );
    assert_eq!(out.stats.generated, 31_530_320, "states generated (edges)");
    assert_eq!(out.stats.max_depth, 41, "BFS depth");
    let witness = out.property("leader_decided").unwrap();
    assert_eq!(witness.discovery.as_ref().unwrap().actions.len(), 6);
    // zk-1805 is defined on these bounds, so this run is also the correct model at its bounds.
    let zk1805 = correct(&FleMutant::Zk1805.info().bounds);
    assert_eq!(zk1805.config, FleConfig::default());
}

/// Unique states of the correct model at each mutant's bounds, where they differ from the
/// defaults (zk-1805's are the defaults, pinned above).
const AT_MUTANT_BOUNDS: [(FleMutant, u64); 1] = [(FleMutant::Zk1419, 73)];

#[test]
fn the_correct_model_passes_at_every_mutants_bounds() {
    for (mutant, pinned) in AT_MUTANT_BOUNDS {
        let info = mutant.info();
        let model = correct(&info.bounds);
        assert!(property_names(&model).contains(&"all_decide"));
        let out = run(&model, 2, None);
        common::assert_passes(info.name, &out);
        assert_eq!(out.stats.unique, pinned, "{}: unique states", info.name);
    }
    for mutant in FleMutant::ALL {
        assert!(
            mutant == FleMutant::Zk1805 || AT_MUTANT_BOUNDS.iter().any(|&(m, _)| m == mutant),
            "{mutant:?}: the correct model is not checked at its bounds"
        );
    }
}

/// Runs `mutant` at its bounds and checks its expected violation: the pinned BFS length, a real
/// path of the model, a last state that breaks the property (for `all_decide`: that is not a goal
/// state, from which no goal is reachable), and a trace that round-trips.
fn assert_killed(mutant: FleMutant, threads: usize) {
    let info = mutant.info();
    let model = FleModel::new(info.bounds.clone()).unwrap();
    let out = run(&model, threads, Some(info.breaks));
    let rebuilt = common::assert_shortest_counterexample(
        &model,
        &out,
        &format!("{} ({threads} threads)", info.name),
        info.breaks,
        info.shortest,
    );
    assert_eq!(rebuilt.config.mutant, Some(mutant), "{}: mutant", info.name);
}

#[test]
fn zk_1419_breaks_the_vote_order_and_moves_a_vote_down_at_once() {
    for threads in [1, 2] {
        assert_killed(FleMutant::Zk1419, threads);
    }
    // The comparator itself is broken in the initial state: the two proposals are not ordered.
    let model = FleModel::new(FleMutant::Zk1419.info().bounds).unwrap();
    let out = run(&model, 1, Some("vote_order_total"));
    let p = out.property("vote_order_total").unwrap();
    assert_eq!(p.verdict, Verdict::Violated);
    assert_eq!(p.discovery.as_ref().unwrap().actions.len(), 0);
}

#[test]
fn zk_1805_leaves_a_server_that_can_never_decide() {
    // A liveness violation needs the whole graph, so this is a full run at the default bounds.
    assert_killed(FleMutant::Zk1805, 2);
}

#[test]
fn bad_bounds_and_inconsistent_histories_are_errors_that_name_the_flag() {
    let init = |v: &[&str]| -> Vec<InitServer> {
        v.iter().map(|s| InitServer::parse(s).unwrap()).collect()
    };
    let d = FleConfig::default;
    let cases: Vec<(FleConfig, &str, &str)> = vec![
        (FleConfig { servers: 0, ..d() }, "--servers", "out of range"),
        (
            FleConfig {
                servers: 9,
                init: Vec::new(),
                ..d()
            },
            "--servers",
            "out of range",
        ),
        (
            FleConfig {
                max_round: 0,
                ..d()
            },
            "--max-round",
            "out of range",
        ),
        (
            FleConfig {
                max_round: 8,
                ..d()
            },
            "--max-round",
            "out of range",
        ),
        (
            FleConfig { crashes: 10, ..d() },
            "--crashes",
            "out of range",
        ),
        (
            FleConfig {
                network: NetworkKind::Unordered,
                ..d()
            },
            "--network",
            "does not apply to FLE",
        ),
        (
            FleConfig {
                init: init(&["1:1.1", "1:1.1"]),
                ..d()
            },
            "--init",
            "2 servers given",
        ),
        // QuorumPeer.loadDataBase refuses a last zxid newer than currentEpoch.
        (
            FleConfig {
                init: init(&["1:1.1", "1:2.1", "1:1.0"]),
                ..d()
            },
            "--init",
            "server 1: zxid 2.1 has epoch 2, above currentEpoch 1",
        ),
        // No leader ever had epoch 0, so nothing is logged in it.
        (
            FleConfig {
                init: init(&["1:1.1", "0:0.3", "1:1.0"]),
                ..d()
            },
            "--init",
            "server 1: zxid 0.3 is a transaction of epoch 0",
        ),
    ];
    for (config, flag, says) in cases {
        let summary = format!("{config:?}");
        let err = FleModel::new(config).unwrap_err();
        assert_eq!(err.flag, flag, "{summary}: {err}");
        assert!(err.message.contains(says), "{summary}: {err}");
    }
    assert!(InitServer::parse("1").is_err());
    assert!(InitServer::parse("x:1.1").is_err());
    let err = FleModel::build(FleConfig::default(), Some("no-such-bug")).unwrap_err();
    assert_eq!(err.flag, "--mutant");
    // Every accepted spelling of a mutant names it.
    for s in ["zk-1419", "ZK-1419", "ZOOKEEPER-1419", "1419"] {
        assert_eq!(FleMutant::parse(s), Some(FleMutant::Zk1419), "{s}");
    }
}

/// Three servers, one round: big enough for the witness and for crashes, small enough to run in
/// well under a second.
fn small() -> FleConfig {
    FleConfig {
        max_round: 1,
        ..FleConfig::default()
    }
}

#[test]
fn traces_that_do_not_fit_the_model_are_rejected_at_the_step_that_breaks() {
    let model = FleModel::new(small()).unwrap();
    let out = run(&model, 1, Some("leader_decided"));
    let d = out
        .property("leader_decided")
        .unwrap()
        .discovery
        .clone()
        .unwrap();
    assert!(d.actions.len() >= 4);
    let good = Trace::from_discovery(&model, None, &d);
    let (_, actions) = Trace::parse(&good.to_json())
        .unwrap()
        .replay::<FleModel>()
        .unwrap();
    assert_eq!(actions, d.actions, "a witness trace round-trips");

    let mut v2 = good.clone();
    v2.format = "ballot-trace/2".into();
    assert!(matches!(
        Trace::parse(&v2.to_json()),
        Err(TraceError::Format(_))
    ));
    // Step 2 restarts a server that is up (there are no crashes in these bounds).
    let mut bad = good.clone();
    bad.steps[1].action = serde_json::json!({"kind": "restart", "server": 1});
    match bad.replay::<FleModel>() {
        Err(TraceError::Step { step: 2, .. }) => {}
        other => panic!("expected a step-2 error, got {other:?}"),
    }
    // Step 3's recorded state is not what the model computes.
    let mut bad = good.clone();
    bad.steps[2].state["servers"][0]["logicalclock"] = serde_json::json!(5);
    match bad.replay::<FleModel>() {
        Err(TraceError::Step { step: 3, message }) => {
            assert!(message.contains("servers.0.logicalclock"), "{message}")
        }
        other => panic!("expected a step-3 error, got {other:?}"),
    }
    // An inconsistent history in the trace's config is a config error.
    let mut bad = good;
    bad.config["init"][1] = serde_json::json!({"current_epoch": 1, "last_zxid": 0x2_0000_0001u64});
    assert!(matches!(
        bad.replay::<FleModel>(),
        Err(TraceError::Config(_))
    ));
}

/// Small bounds: both engines must see exactly the same states, and agree on every safety
/// verdict and witness. (Stateright's `eventually` is not AG EF, so it is not compared.)
fn differential_configs() -> Vec<FleConfig> {
    vec![
        correct(&FleMutant::Zk1419.info().bounds).config,
        FleMutant::Zk1419.info().bounds,
        small(),
        FleConfig {
            crashes: 1,
            servers: 2,
            init: Vec::new(),
            ..small()
        },
        FleConfig {
            lossy: true,
            network: NetworkKind::UnorderedDup,
            servers: 2,
            init: vec![InitServer::new(2, 1, 1), InitServer::new(1, 1, 0)],
            ..small()
        },
    ]
}

#[test]
fn ballot_and_stateright_dfs_agree_on_states_and_verdicts() {
    for config in differential_configs() {
        let model = FleModel::new(config.clone()).unwrap();
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
                if p.expectation == Expectation::Eventually {
                    continue;
                }
                let theirs = reference.discovery(p.name).is_some();
                let ours = matches!(p.verdict, Verdict::Violated | Verdict::Found);
                assert_eq!(ours, theirs, "{}: {}", config.summary(), p.name);
            }
        }
    }
}
