//! What every protocol's test suite asserts of a seeded bug's counterexample.

use ballot_models::engine::{Outcome, Verdict};
use ballot_models::spec::Spec;
use ballot_models::trace::Trace;
use stateright::Expectation;

/// The search was exhaustive, every `always`/`eventually` property holds and every `sometimes`
/// witness was found.
pub fn assert_passes<A>(what: &str, out: &Outcome<A>) {
    assert!(out.stats.exhausted(), "{what}: search not exhausted");
    for p in &out.properties {
        let want = match p.expectation {
            Expectation::Sometimes => Verdict::Found,
            _ => Verdict::Holds,
        };
        assert_eq!(p.verdict, want, "{what}: {}", p.name);
    }
}

/// `out` found `breaks` violated by a path of exactly `shortest` steps (BFS: the shortest); the
/// path is a real path of `model` whose last state breaks the property (for an `eventually`
/// property: is not a goal state); and it survives the trace format. Returns the model rebuilt
/// from the trace, for checks of what the trace records.
pub fn assert_shortest_counterexample<S: Spec>(
    model: &S,
    out: &Outcome<S::Act>,
    what: &str,
    breaks: &str,
    shortest: usize,
) -> S {
    let p = out
        .property(breaks)
        .unwrap_or_else(|| panic!("{what}: the model has no property {breaks}"));
    assert_eq!(p.verdict, Verdict::Violated, "{what}: {breaks}");
    let d = p
        .discovery
        .as_ref()
        .expect("a violation comes with its path");
    assert_eq!(
        d.actions.len(),
        shortest,
        "{what}: BFS counterexample length"
    );
    let mut state = model.init_states()[d.init].clone();
    for a in &d.actions {
        state = model
            .next_state(&state, a.clone())
            .unwrap_or_else(|| panic!("{what}: {a:?} is not enabled"));
    }
    let prop = model
        .properties()
        .into_iter()
        .find(|q| q.name == breaks)
        .expect("the property exists");
    assert!(
        !(prop.condition)(model, &state),
        "{what}: the last state violates {breaks}"
    );
    let trace = Trace::from_discovery(model, Some(breaks), d);
    let back = Trace::parse(&trace.to_json()).expect("a written trace parses");
    let (rebuilt, actions) = back.replay::<S>().expect("a written trace replays");
    assert_eq!(actions, d.actions, "{what}: trace round trip");
    rebuilt
}
