//! ballot's engine on small models whose answers are known by hand: shortest counterexamples,
//! honoured timeouts, symmetry, AG EF, and agreement with Stateright's DFS checker.

use std::time::{Duration, Instant};

use ballot_models::engine::{check, CheckOptions, Progress, StopReason, Strategy, Verdict};
use stateright::{Checker, Model, Property};

/// A walker on a 10×10 grid, starting at (0,0). The target (3,0) is 3 steps away, but the action
/// order makes a DFS wander first.
#[derive(Clone)]
struct Grid;

impl Model for Grid {
    type State = (u8, u8);
    type Action = (i8, i8);
    fn init_states(&self) -> Vec<(u8, u8)> {
        vec![(0, 0)]
    }
    fn actions(&self, _: &(u8, u8), actions: &mut Vec<(i8, i8)>) {
        actions.extend([(0, 1), (1, 0), (0, -1), (-1, 0)]);
    }
    fn next_state(&self, s: &(u8, u8), a: (i8, i8)) -> Option<(u8, u8)> {
        let x = s.0 as i8 + a.0;
        let y = s.1 as i8 + a.1;
        ((0..10).contains(&x) && (0..10).contains(&y)).then_some((x as u8, y as u8))
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("never_at_target", |_, s| *s != (3, 0)),
            Property::sometimes("reaches_far_corner", |_, s| *s == (9, 9)),
        ]
    }
}

fn opts(strategy: Strategy, threads: usize) -> CheckOptions {
    CheckOptions {
        strategy,
        threads,
        ..CheckOptions::default()
    }
}

#[test]
fn bfs_returns_a_shortest_counterexample_with_any_thread_count() {
    for threads in [1, 2, 4] {
        let out = check(&Grid, &opts(Strategy::Bfs, threads), None, &Progress::new());
        let p = out.property("never_at_target").unwrap();
        assert_eq!(p.verdict, Verdict::Violated);
        let d = p.discovery.as_ref().unwrap();
        assert_eq!(d.actions.len(), 3, "threads={threads}: {:?}", d.actions);
        // The path really ends at the target.
        let mut s = (0, 0);
        for a in &d.actions {
            s = Grid.next_state(&s, *a).unwrap();
        }
        assert_eq!(s, (3, 0));
        let w = out.property("reaches_far_corner").unwrap();
        assert_eq!(w.verdict, Verdict::Found);
        assert_eq!(w.discovery.as_ref().unwrap().actions.len(), 18);
    }
}

#[test]
fn dfs_and_bfs_agree_with_stateright_on_the_grid() {
    let sr = Grid.checker().spawn_dfs().join();
    for strategy in [Strategy::Bfs, Strategy::Dfs] {
        for threads in [1, 2] {
            let out = check(&Grid, &opts(strategy, threads), None, &Progress::new());
            assert_eq!(
                out.property("never_at_target").unwrap().verdict,
                Verdict::Violated
            );
            // Both stop early once every property is decided; counts are compared on Raft.
            assert!(out.stats.unique as usize <= 100);
        }
    }
    assert!(sr.discovery("never_at_target").is_some());
}

/// A counter that never ends: only a timeout or a state limit stops it.
#[derive(Clone)]
struct Endless;

impl Model for Endless {
    type State = u64;
    type Action = u64;
    fn init_states(&self) -> Vec<u64> {
        vec![0]
    }
    fn actions(&self, _: &u64, actions: &mut Vec<u64>) {
        actions.extend([1, 2]);
    }
    fn next_state(&self, s: &u64, a: u64) -> Option<u64> {
        Some(s.wrapping_mul(3).wrapping_add(a))
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::always("fine", |_, _| true)]
    }
}

#[test]
fn a_timeout_is_honoured_with_one_thread_and_reported_as_incomplete() {
    for strategy in [Strategy::Bfs, Strategy::Dfs, Strategy::Sim] {
        let started = Instant::now();
        let out = check(
            &Endless,
            &CheckOptions {
                timeout: Some(Duration::from_millis(300)),
                walks: u64::MAX,
                ..opts(strategy, 1)
            },
            None,
            &Progress::new(),
        );
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{strategy:?} took {took:?}");
        assert_eq!(out.stats.stop, StopReason::Timeout, "{strategy:?}");
        assert_eq!(out.property("fine").unwrap().verdict, Verdict::Unknown);
        assert_eq!(out.exit_code(), 3);
    }
}

#[test]
fn a_state_limit_stops_the_search_as_incomplete() {
    let out = check(
        &Endless,
        &CheckOptions {
            max_states: Some(10_000),
            ..opts(Strategy::Bfs, 2)
        },
        None,
        &Progress::new(),
    );
    assert_eq!(out.stats.stop, StopReason::StateLimit);
    assert_eq!(out.exit_code(), 3);
}

/// Three identical switches; symmetric under any renaming.
#[derive(Clone)]
struct Switches;

impl Model for Switches {
    type State = [bool; 3];
    type Action = usize;
    fn init_states(&self) -> Vec<[bool; 3]> {
        vec![[false; 3]]
    }
    fn actions(&self, _: &[bool; 3], actions: &mut Vec<usize>) {
        actions.extend(0..3);
    }
    fn next_state(&self, s: &[bool; 3], i: usize) -> Option<[bool; 3]> {
        let mut t = *s;
        t[i] = !t[i];
        Some(t)
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("not_all_on", |_, s: &[bool; 3]| !s.iter().all(|&b| b)),
            Property::sometimes("one_on", |_, s: &[bool; 3]| {
                s.iter().filter(|&&b| b).count() == 1
            }),
        ]
    }
}

#[test]
fn symmetry_applies_in_every_strategy_and_paths_stay_concrete() {
    let rep = |s: &[bool; 3]| {
        let mut t = *s;
        t.sort();
        t
    };
    for strategy in [Strategy::Bfs, Strategy::Dfs] {
        for threads in [1, 2] {
            let with = check(
                &Switches,
                &CheckOptions {
                    symmetry: true,
                    ..opts(strategy, threads)
                },
                Some(&rep),
                &Progress::new(),
            );
            let without = check(
                &Switches,
                &opts(strategy, threads),
                Some(&rep),
                &Progress::new(),
            );
            // Without the flag the representative is ignored.
            let p = with.property("not_all_on").unwrap();
            assert_eq!(p.verdict, Verdict::Violated);
            let d = p.discovery.as_ref().unwrap();
            let mut s = [false; 3];
            for &i in &d.actions {
                s = Switches.next_state(&s, i).unwrap();
            }
            assert_eq!(s, [true; 3], "the path is a real path of the model");
            if strategy == Strategy::Bfs {
                assert_eq!(d.actions.len(), 3);
            }
            assert!(
                with.stats.unique <= 4,
                "{strategy:?}: {}",
                with.stats.unique
            );
            assert!(without.stats.unique > with.stats.unique || without.stats.unique == 8);
        }
    }
}

/// 0 → 1 → 2 → 1 … and 0 → 3 (goal). From 1 and 2 the goal is unreachable: `eventually` must
/// fail even though no path ends (Stateright's `eventually` misses this: it only looks at
/// terminal states).
#[derive(Clone)]
struct Trap(bool);

impl Model for Trap {
    type State = u8;
    type Action = u8;
    fn init_states(&self) -> Vec<u8> {
        vec![0]
    }
    fn actions(&self, s: &u8, actions: &mut Vec<u8>) {
        match s {
            0 => actions.extend([1, 3]),
            1 => actions.push(2),
            2 => {
                actions.push(1);
                if self.0 {
                    actions.push(3); // the escape: now the goal stays reachable
                }
            }
            _ => actions.push(3),
        }
    }
    fn next_state(&self, _: &u8, a: u8) -> Option<u8> {
        Some(a)
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually("reaches_goal", |_, s| *s == 3)]
    }
}

#[test]
fn eventually_is_checked_as_ag_ef_on_cycles() {
    for strategy in [Strategy::Bfs, Strategy::Dfs] {
        let out = check(&Trap(false), &opts(strategy, 1), None, &Progress::new());
        let p = out.property("reaches_goal").unwrap();
        assert_eq!(p.verdict, Verdict::Violated, "{strategy:?}");
        assert_eq!(p.discovery.as_ref().unwrap().actions, vec![1]);
        let out = check(&Trap(true), &opts(strategy, 2), None, &Progress::new());
        assert_eq!(
            out.property("reaches_goal").unwrap().verdict,
            Verdict::Holds,
            "{strategy:?}"
        );
    }
    // Random walks cannot decide AG EF.
    let out = check(
        &Trap(false),
        &opts(Strategy::Sim, 1),
        None,
        &Progress::new(),
    );
    assert_eq!(
        out.property("reaches_goal").unwrap().verdict,
        Verdict::Unknown
    );
}

#[test]
fn random_walks_are_reproducible_from_the_seed() {
    let run = |seed| {
        let out = check(
            &Grid,
            &CheckOptions {
                seed,
                walks: 50,
                walk_depth: 30,
                ..opts(Strategy::Sim, 1)
            },
            None,
            &Progress::new(),
        );
        out.property("never_at_target")
            .unwrap()
            .discovery
            .as_ref()
            .map(|d| d.actions.clone())
    };
    assert_eq!(run(7), run(7));
    assert!(run(7).is_some(), "50 walks of 30 steps find (3,0)");
}
