//! The model shortcuts hide no verdict (issue 11, item 5): every switchable state-space
//! reduction of the three models (docs/protocols/raft.md § Model bounds, zab.md and fle.md,
//! "Model shortcuts") is turned off (`reductions: false`), and at small bounds every catalogued
//! mutant and every ablation of each protocol's catalogue (each guard × drop, invert and, for
//! quorum guards, quorum-1) must be killed with the reductions off exactly where it is killed
//! with them on. Which property fails may differ; killed or not may not. The correct model must
//! pass both ways; its state count must change with the switch (the switch does something) and,
//! where every reduction only removes steps (Raft, FLE), never go down without the reductions.
//!
//! Each ablation is checked at the configurations where the correct model (reductions on or
//! off) evaluates its guard, in order, until both models are killed; a survivor is checked
//! exhaustively at all of them both ways. Mutants are checked at their catalogue bounds.
//!
//! Ablation is process-wide, so every test of this file takes [`LOCK`] for its whole run: a
//! mutant checked while another test ablates a guard would be checked against the wrong model.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use ballot_models::coverage::{self, Ablation};

use ballot_models::fle::{FleConfig, FleModel, InitServer as FleInit};
use ballot_models::network::NetworkKind;
use ballot_models::raft::{RaftConfig, RaftModel};
use ballot_models::spec::{check_fail_fast, FailFast, Spec};
use ballot_models::zab::{Election, ZabConfig, ZabModel};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one check came to: only killed-or-not is compared between the two models. (The fields
/// are read through `Debug`, in the report of a difference.)
#[allow(dead_code)]
#[derive(Clone, Debug)]
enum Verdict {
    Killed(&'static str),
    Survived,
    /// The model panicked (an ablation broke an assumption before a property could): a kill.
    Crashed(String),
}

impl Verdict {
    fn killed(&self) -> bool {
        !matches!(self, Verdict::Survived)
    }
}

/// One BFS of `config` (with `mutant`) to its first violation or to the end, two threads,
/// symmetry where the model has it: the verdict and the states explored.
fn check<S: Spec>(config: &S::Config, mutant: Option<&str>) -> (Verdict, u64) {
    let spec = S::build(config.clone(), mutant).expect("the test's configurations are valid");
    let (outcome, unique) = check_fail_fast(&spec, 2, Default::default());
    let verdict = match outcome {
        FailFast::Crashed(message) => Verdict::Crashed(message),
        FailFast::Failed(property) => Verdict::Killed(property),
        FailFast::Passed { exhaustive } => {
            assert!(
                exhaustive,
                "{}: a run that kills nothing must be exhaustive",
                spec.summary()
            );
            Verdict::Survived
        }
    };
    (verdict, unique)
}

/// What one configuration came to with the reductions on and off.
struct Pair {
    on: (Verdict, u64),
    off: (Verdict, u64),
}

/// Checks `config` with the reductions on (if `on`) and off (if `off`); a run left out counts
/// as killed (its model was killed at an earlier configuration).
fn pair<S: Spec>(
    config: &S::Config,
    mutant: Option<&str>,
    set: fn(&mut S::Config, bool),
    on: bool,
    off: bool,
) -> Pair {
    let run = |reductions: bool, wanted: bool| {
        if !wanted {
            return (Verdict::Killed("(not run: already killed)"), 0);
        }
        let mut c = config.clone();
        set(&mut c, reductions);
        check::<S>(&c, mutant)
    };
    Pair {
        on: run(true, on),
        off: run(false, off),
    }
}

/// How a protocol is swept.
struct Sweep<S: Spec> {
    /// Catalogued mutants, each at its bounds.
    mutants: Vec<(&'static str, S::Config)>,
    /// Small configurations every ablation is checked at (those where its guard is evaluated).
    configs: Vec<(&'static str, S::Config)>,
    set: fn(&mut S::Config, bool),
    /// Whether every reduction only removes states, so that the unreduced space is a superset
    /// (ZAB's ACK shortcut replaces states instead: see its test).
    monotone: bool,
    /// An ablation is skipped at a configuration whose correct runs never evaluate its guard
    /// (or, for a drop, never find it false), except for these guards: sound only where every
    /// evaluation of a guard is counted (FLE's properties evaluate the vote order uncounted).
    always_checked: Vec<usize>,
    /// Guards that are themselves a shortcut, with why their ablations are not compared.
    not_compared: &'static [(&'static str, &'static str)],
}

/// Every mutant, the correct model at every configuration, then every ablation: the list of
/// verdict differences (killed against not killed), in words. Asserts, for each pair of
/// exhaustive runs of the same model, that the unreduced one has at least as many states (when
/// `monotone`), and that the switch changes the state count somewhere.
fn sweep<S: Spec>(sweep: Sweep<S>) -> Vec<String> {
    let started = Instant::now();
    let p = S::PROTOCOL;
    let mut diffs = Vec::new();
    let compare = |what: String, r: &Pair, diffs: &mut Vec<String>| {
        if r.on.0.killed() != r.off.0.killed() {
            diffs.push(format!(
                "{what}: reductions on {:?}, off {:?}",
                r.on.0, r.off.0
            ));
        }
    };
    for (name, config) in &sweep.mutants {
        let r = pair::<S>(config, Some(name), sweep.set, true, true);
        assert!(r.on.0.killed(), "{p} mutant {name} survives its own bounds");
        compare(format!("{p} mutant {name}"), &r, &mut diffs);
    }
    let t_mutants = started.elapsed();

    // The correct model, with coverage: how each configuration evaluates each guard (with the
    // reductions on and off together), so that an ablation is checked only where it can change
    // the model.
    let catalogue = S::catalogue();
    let mut decided: Vec<Vec<[u64; 2]>> = Vec::new();
    let mut grew = false;
    for (name, config) in &sweep.configs {
        coverage::enable(true);
        let _ = coverage::take();
        let r = pair::<S>(config, None, sweep.set, true, true);
        let counts = coverage::take();
        coverage::enable(false);
        assert!(
            !r.on.0.killed() && !r.off.0.killed(),
            "{p} correct model at {name}: on {:?}, off {:?}",
            r.on.0,
            r.off.0
        );
        if sweep.monotone {
            assert!(
                r.off.1 >= r.on.1,
                "{p} {name}: reductions off explore fewer states ({}) than on ({})",
                r.off.1,
                r.on.1
            );
        }
        grew |= r.off.1 != r.on.1;
        eprintln!("{p} {name}: {} states reduced, {} not", r.on.1, r.off.1);
        decided.push(
            (0..catalogue.guards.len())
                .map(|g| counts.decided(catalogue.family, g))
                .collect(),
        );
    }
    assert!(
        grew,
        "{p}: the reductions change no configuration's state count"
    );

    let (mut compared, mut killed, mut survived) = (0, 0, 0);
    let mut spent = vec![std::time::Duration::ZERO; sweep.configs.len()];
    for (guard, ablation) in catalogue.ablations() {
        let id = catalogue.guard_id(guard);
        if let Some((_, why)) = sweep.not_compared.iter().find(|(g, _)| *g == id) {
            eprintln!("{id} {ablation:?}: not compared ({why})");
            continue;
        }
        coverage::set_ablation(Some((catalogue.family, guard, ablation)));
        let (mut on_killed, mut off_killed) = (None, None);
        for (k, (name, config)) in sweep.configs.iter().enumerate() {
            // Never evaluated: the ablated model is the model. Never false: dropping the guard
            // (always true) changes nothing either.
            let [t, f] = decided[k][guard];
            let idle = t + f == 0 || (f == 0 && ablation == Ablation::Drop);
            if idle && !sweep.always_checked.contains(&guard) {
                continue;
            }
            let t = Instant::now();
            let r = pair::<S>(
                config,
                None,
                sweep.set,
                on_killed.is_none(),
                off_killed.is_none(),
            );
            spent[k] += t.elapsed();
            if matches!(r.on.0, Verdict::Crashed(_)) || matches!(r.off.0, Verdict::Crashed(_)) {
                eprintln!(
                    "CRASH {id} {ablation:?} at {name}: on {:?} off {:?}",
                    r.on.0, r.off.0
                );
            }
            if on_killed.is_none() && r.on.0.killed() {
                on_killed = Some(format!("{name}: {:?}", r.on.0));
            }
            if off_killed.is_none() && r.off.0.killed() {
                off_killed = Some(format!("{name}: {:?}", r.off.0));
            }
            if sweep.monotone && !r.on.0.killed() && !r.off.0.killed() {
                assert!(
                    r.off.1 >= r.on.1,
                    "{id} {ablation:?} at {name}: reductions off explore fewer states ({}) than on ({})",
                    r.off.1,
                    r.on.1
                );
            }
            if on_killed.is_some() && off_killed.is_some() {
                break;
            }
        }
        coverage::set_ablation(None);
        compared += 1;
        match (&on_killed, &off_killed) {
            (Some(_), Some(_)) => killed += 1,
            (None, None) => survived += 1,
            _ => diffs.push(format!(
                "ablation {id} {ablation:?}: reductions on {}, off {}",
                on_killed.as_deref().unwrap_or("survived"),
                off_killed.as_deref().unwrap_or("survived")
            )),
        }
    }
    eprintln!(
        "{p}: {} mutants in {t_mutants:?}; {compared} ablations compared ({killed} killed both \
         ways, {survived} survived both ways) in {:?}",
        sweep.mutants.len(),
        started.elapsed()
    );
    for (k, (name, _)) in sweep.configs.iter().enumerate() {
        eprintln!("{p} {name}: {:?} in ablations", spent[k]);
    }
    diffs
}

fn raft_set(c: &mut RaftConfig, on: bool) {
    c.reductions = on;
}
fn zab_set(c: &mut ZabConfig, on: bool) {
    c.reductions = on;
}
fn fle_set(c: &mut FleConfig, on: bool) {
    c.reductions = on;
}

fn mutants<S: Spec>() -> Vec<(&'static str, S::Config)> {
    S::mutants()
        .into_iter()
        .map(|m| (m.name, m.bounds))
        .collect()
}

#[test]
fn raft_shortcuts_hide_no_verdict() {
    let _g = lock();
    let diffs = sweep::<RaftModel>(Sweep {
        mutants: mutants::<RaftModel>(),
        configs: raft_configs(),
        set: raft_set,
        monotone: true,
        always_checked: Vec::new(),
        not_compared: &[],
    });
    assert!(diffs.is_empty(), "verdicts differ:\n{}", diffs.join("\n"));
}

#[test]
fn zab_shortcuts_hide_no_verdict() {
    let _g = lock();
    let diffs = sweep::<ZabModel>(Sweep {
        mutants: mutants::<ZabModel>(),
        configs: zab_configs(),
        set: zab_set,
        // An ACK the SyncThread sends with the reductions off is not an extra state: states
        // with it in flight take the place of states without it, so the count may go down.
        monotone: false,
        always_checked: Vec::new(),
        not_compared: &[(
            "zab.broadcast.log/not-known-committed",
            "the guard is the ACK shortcut itself: with the reductions off it is bypassed",
        )],
    });
    assert!(diffs.is_empty(), "verdicts differ:\n{}", diffs.join("\n"));
}

#[test]
fn fle_shortcuts_hide_no_verdict() {
    let _g = lock();
    // ZK-1805 breaks `all_decide`, which needs the whole graph, at its own bounds (the default,
    // the smallest that expose it): 6.6 M states with the reductions, many more without; it is
    // left out here (docs/protocols/fle.md).
    let mutants = mutants::<FleModel>()
        .into_iter()
        .filter(|(name, _)| *name != "zk-1805")
        .collect();
    let diffs = sweep::<FleModel>(Sweep {
        mutants,
        configs: fle_configs(),
        set: fle_set,
        monotone: true,
        always_checked: FleModel::uncounted_guards()
            .iter()
            .map(|g| g.index as usize)
            .collect(),
        not_compared: &[],
    });
    assert!(diffs.is_empty(), "verdicts differ:\n{}", diffs.join("\n"));
}

fn raft_configs() -> Vec<(&'static str, RaftConfig)> {
    // One term, one value, no crash, three servers, one candidate per term, TCP-like channels:
    // each configuration adds one dimension to that.
    let base = RaftConfig {
        servers: 3,
        max_term: 1,
        max_log: 1,
        values: 1,
        max_candidates: 1,
        crashes: 0,
        network: NetworkKind::Ordered,
        ..RaftConfig::default()
    };
    vec![
        (
            "two-terms",
            RaftConfig {
                max_term: 2,
                max_log: 0,
                values: 0,
                ..base.clone()
            },
        ),
        (
            "dup",
            RaftConfig {
                max_log: 0,
                values: 0,
                network: NetworkKind::UnorderedDup,
                ..base.clone()
            },
        ),
        (
            "crash",
            RaftConfig {
                crashes: 1,
                ..base.clone()
            },
        ),
        (
            "lossy",
            RaftConfig {
                lossy: true,
                ..base.clone()
            },
        ),
        (
            "pre-vote",
            RaftConfig {
                pre_vote: true,
                max_log: 0,
                values: 0,
                ..base.clone()
            },
        ),
        (
            "pipeline",
            RaftConfig {
                pipeline: true,
                max_candidates: 3,
                ..base.clone()
            },
        ),
        (
            "reads",
            RaftConfig {
                reads: 1,
                leader_noop: true,
                max_log: 0,
                values: 0,
                ..base.clone()
            },
        ),
        (
            "snapshots",
            RaftConfig {
                snapshots: true,
                ..base.clone()
            },
        ),
        (
            "single-server",
            RaftConfig {
                servers: 1,
                max_term: 2,
                leader_noop: true,
                pre_vote: true,
                reads: 1,
                crashes: 1,
                ..base.clone()
            },
        ),
        // (Log replication over an unordered network with three servers: 55 k states without
        // the reductions, and ten times the time of every other configuration together.)
        (
            "unordered-two-servers",
            RaftConfig {
                servers: 2,
                max_term: 2,
                network: NetworkKind::Unordered,
                ..base.clone()
            },
        ),
    ]
}

fn zab_configs() -> Vec<(&'static str, ZabConfig)> {
    let base = ZabConfig {
        servers: 3,
        max_epoch: 2,
        max_txns: 1,
        crashes: 0,
        ..ZabConfig::default()
    };
    vec![
        ("oracle", base.clone()),
        (
            "oracle-crash",
            ZabConfig {
                crashes: 1,
                ..base.clone()
            },
        ),
        (
            "oracle-lossy",
            ZabConfig {
                lossy: true,
                max_epoch: 1,
                ..base.clone()
            },
        ),
        (
            "oracle-two-txns",
            ZabConfig {
                max_epoch: 1,
                max_txns: 2,
                ..base.clone()
            },
        ),
        (
            "fle-two-servers",
            ZabConfig {
                servers: 2,
                election: Election::Fle,
                max_epoch: 1,
                ..base.clone()
            },
        ),
        (
            "fle-two-servers-crash",
            ZabConfig {
                servers: 2,
                election: Election::Fle,
                max_epoch: 2,
                crashes: 1,
                ..base.clone()
            },
        ),
    ]
}

fn fle_configs() -> Vec<(&'static str, FleConfig)> {
    let base = FleConfig::default();
    let two = vec![FleInit::new(2, 1, 1), FleInit::new(1, 1, 1)];
    vec![
        (
            "two-servers-two-rounds",
            FleConfig {
                servers: 2,
                init: vec![FleInit::new(1, 1, 1), FleInit::new(1, 1, 0)],
                ..base.clone()
            },
        ),
        (
            "two-servers-crash-dup",
            FleConfig {
                servers: 2,
                max_round: 2,
                crashes: 1,
                network: NetworkKind::UnorderedDup,
                init: vec![FleInit::default(); 2],
                ..base.clone()
            },
        ),
        (
            "two-servers-lossy",
            FleConfig {
                servers: 2,
                lossy: true,
                init: two,
                ..base.clone()
            },
        ),
        (
            "one-round",
            FleConfig {
                max_round: 1,
                ..base.clone()
            },
        ),
    ]
}

/// `--ablate` skips a configuration where the correct model never evaluates an ablated guard
/// the way the ablation changes (`coverage::ablation_can_change`): the verdicts must be those of
/// checking every configuration, for every ablation of each catalogue, at this file's small
/// configurations.
#[test]
fn ablate_skips_only_configurations_it_cannot_change() {
    use ballot_models::config::ProfileEntry;
    use ballot_models::spec::{ablate_entries, entries_counts, AblationOutcome};
    let _g = lock();
    fn same<S: Spec>(configs: Vec<(&'static str, S::Config)>) -> usize {
        let entries: Vec<ProfileEntry<S::Config>> = configs
            .into_iter()
            .map(|(name, config)| ProfileEntry {
                name,
                purpose: "",
                config,
            })
            .collect();
        let relevance = entries_counts::<S>(&entries, 2, &|_| {});
        let catalogue = S::catalogue();
        let mut skipped_somewhere = 0;
        for (guard, ablation) in catalogue.ablations() {
            let id = catalogue.guard_id(guard);
            let killed = |o: &AblationOutcome| match o {
                AblationOutcome::Killed { .. } | AblationOutcome::Crashed { .. } => true,
                AblationOutcome::Survived { .. } => false,
                AblationOutcome::Undecided { .. } => panic!("no limit was set: {o:?}"),
            };
            let all = ablate_entries::<S>(&entries, 2, guard, ablation, None, Default::default());
            let some = ablate_entries::<S>(
                &entries,
                2,
                guard,
                ablation,
                Some(&relevance),
                Default::default(),
            );
            if let AblationOutcome::Survived { skipped, .. } = some {
                skipped_somewhere += skipped;
            }
            assert_eq!(
                killed(&all),
                killed(&some),
                "{} {id} {ablation:?}: every configuration {all:?}, relevant ones {some:?}",
                S::PROTOCOL
            );
        }
        skipped_somewhere
    }
    let skipped = same::<RaftModel>(raft_configs())
        + same::<ZabModel>(zab_configs())
        + same::<FleModel>(fle_configs());
    assert!(
        skipped > 0,
        "no ablation was skipped anywhere: the test shows nothing"
    );
}
