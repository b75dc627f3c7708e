//! Sequence diagrams of real counterexamples: Mermaid text pinned by snapshot files, the SVG's
//! arrow count held to the trace's deliveries, the file route (trace → diagram) equal to the
//! direct one, and the compact `Debug` of states (one row per server, no capacity padding, ghost
//! labelled). Snapshots are rewritten with `BALLOT_UPDATE_SNAPSHOTS=1`.

use ballot_models::diagram::{self, ActionKind, Diagram};
use ballot_models::engine::{check_with, CheckOptions, Progress};
use ballot_models::fle::FleModel;
use ballot_models::raft::RaftModel;
use ballot_models::spec::Spec;
use ballot_models::trace::Trace;
use ballot_models::zab::ZabModel;
use stateright::Model;

/// The mutant's model, its shortest counterexample (one thread: deterministic), and the
/// property it breaks.
fn counterexample<S: Spec>(mutant: &str) -> (S, Vec<S::Act>, &'static str) {
    let entry = S::mutants()
        .into_iter()
        .find(|m| m.name == mutant)
        .expect("mutant in catalogue");
    let spec = S::build(entry.bounds, Some(mutant)).expect("mutant bounds are valid");
    let options = CheckOptions {
        threads: 1,
        symmetry: spec.symmetric(),
        stop_when_found: vec![entry.breaks.to_string()],
        ..CheckOptions::default()
    };
    let rep = |s: &S::St| spec.representative(s);
    let outcome = check_with(
        &spec,
        &options,
        Some(&rep),
        spec.codec(),
        &Progress::default(),
    );
    let d = outcome
        .property(entry.breaks)
        .and_then(|p| p.discovery.as_ref())
        .expect("the mutant is caught");
    assert_eq!(d.actions.len(), entry.shortest, "{mutant}: shortest path");
    (spec, d.actions.clone(), entry.breaks)
}

/// Checks the diagram of `mutant`'s counterexample every way it is produced, and returns it.
fn checked<S: Spec>(mutant: &str) -> Diagram {
    let (spec, actions, property) = counterexample::<S>(mutant);
    let init = spec.init_states()[0].clone();
    let direct = diagram::of_path(&spec, "t".into(), &init, &actions, Some(property));
    let trace = Trace::from_path(&spec, Some(property), 0, &actions);
    let from_file = Trace::parse(&trace.to_json())
        .expect("trace parses")
        .diagram::<S>()
        .expect("trace replays");
    assert_eq!(from_file.messages, direct.messages, "{mutant}: file route");
    assert_eq!(from_file.marks, direct.marks, "{mutant}: file route");

    let deliveries = actions
        .iter()
        .filter(|a| matches!(spec.diagram_action(a), ActionKind::Deliver { .. }))
        .count();
    assert_eq!(
        from_file.delivered(),
        deliveries,
        "{mutant}: one arrow per delivery"
    );
    let svg = from_file.to_svg();
    assert_eq!(svg.matches("<g class=\"msg\"").count(), deliveries);
    assert_eq!(svg.matches("<g class=\"msg dup\"").count(), 0);
    assert!(svg.contains(&format!("data-delivered=\"{deliveries}\"")));
    assert!(svg.contains(&format!("✗ {property} violated")), "{mutant}");
    assert!(!svg.contains("<script") && !svg.contains("href=\"http"));
    let v = from_file.violation.as_ref().expect("violation named");
    assert!(v.step >= 1 && v.step <= actions.len());
    from_file
}

fn snapshot(name: &str, text: &str) {
    let path = format!("{}/tests/snapshots/{name}.mmd", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("BALLOT_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, text).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (BALLOT_UPDATE_SNAPSHOTS=1 writes it)"));
    assert_eq!(
        text, want,
        "{path} differs (BALLOT_UPDATE_SNAPSHOTS=1 rewrites it)"
    );
}

#[test]
fn raft_vote_twice_mermaid() {
    let d = checked::<RaftModel>("vote-twice");
    // Two leaders of term 1: each election is annotated, and the violation sits at the second.
    let leaders = d.marks.iter().filter(|m| m.text == "LEADER t1").count();
    assert_eq!(leaders, 2);
    assert_eq!(d.violation.as_ref().map(|v| v.step), Some(d.steps.len()));
    snapshot("raft-vote-twice", &d.to_mermaid());
}

#[test]
fn zab_zk_3911_mermaid() {
    let d = checked::<ZabModel>("zk-3911");
    snapshot("zab-zk-3911", &d.to_mermaid());
    // s0 gives up leading (a timeout) before a second leader of a later epoch is established.
    assert!(d
        .marks
        .iter()
        .any(|m| m.kind == diagram::MarkKind::Timeout && m.server == 0));
    snapshot("zab-zk-3911", &d.to_mermaid());
}

#[test]
fn fle_zk_1419_mermaid() {
    let d = checked::<FleModel>("zk-1419");
    snapshot("fle-zk-1419", &d.to_mermaid());
}

#[test]
fn raft_state_debug_is_one_row_per_server_without_padding() {
    let (spec, actions, _) = counterexample::<RaftModel>("vote-twice");
    let mut st = spec.init_states()[0].clone();
    for a in actions {
        st = spec.next_state(&st, a).expect("path replays");
    }
    let text = format!("{st:#?}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  s") && l.contains(": "))
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    // Both leaders show one next/match entry per server (the table's capacity is 5).
    for row in rows.iter().filter(|r| r.contains("LEADER")) {
        let next = row.split("next [").nth(1).and_then(|r| r.split(']').next());
        assert_eq!(next.map(|n| n.split(' ').count()), Some(3), "{row}");
    }
    assert_eq!(rows.iter().filter(|r| r.contains("LEADER")).count(), 2);
    assert!(text.contains("ghost (history variables"), "{text}");
    // Per-term sets of servers read as sets, not bitmasks.
    assert!(text.contains("  leaders: {t1: s0 s1}"), "{text}");
    assert!(!text.contains("next_index"), "{text}");
}
