//! End-to-end tests of `ballot replay` and `ballot conform`: a correct trace replays clean on the
//! real Raft nodes, a model mutant's counterexample diverges (and its divergence trace opens and
//! replays again), bad input exits 2 naming the file or step, and the conformance modes pass.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use ballot_models::engine::Discovery;
use ballot_models::raft::{Action, Msg, RaftConfig, RaftModel, Role, ServerId};
use ballot_models::trace::Trace;
use stateright::Model;

/// Runs `ballot` in `dir`, so that default outputs (`target/ballot/...`) land there.
fn ballot_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballot"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run ballot")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Bad input: exit 2, stderr names every needle, never a panic.
fn assert_usage_error(dir: &Path, args: &[&str], needles: &[&str]) {
    let out = ballot_in(dir, args);
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: `{needle}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
}

/// `ballot check raft --mutant vote-twice` (two leaders in term 1), its trace written to `path`.
fn vote_twice_trace(dir: &Path, path: &Path) {
    let out = ballot_in(
        dir,
        &[
            "check",
            "raft",
            "--mutant",
            "vote-twice",
            "-q",
            "--trace-out",
            s(path),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(path.exists(), "no trace written: {stdout}");
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The step N of the `DIVERGENCE at step N` line.
fn divergence_step(stdout: &str) -> usize {
    let rest = stdout
        .split("DIVERGENCE at step ")
        .nth(1)
        .unwrap_or_else(|| panic!("no `DIVERGENCE at step` in: {stdout}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no step number after `DIVERGENCE at step` in: {stdout}"))
}

/// The first line of `stdout` that contains `needle`.
fn line_with<'a>(stdout: &'a str, needle: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in: {stdout}"))
}

/// A figure as the report prints it (`37,283`), as a number.
fn figure(s: &str) -> u64 {
    s.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("`{s}` is not a figure"))
}

/// A correct path of the default Raft model: s0 stands, wins s1's vote and leads, takes a client
/// value and replicates it to s1, which acknowledges.
fn correct_raft_trace() -> Trace {
    let model = RaftModel::new(RaftConfig::default()).unwrap();
    let (s0, s1) = (ServerId(0), ServerId(1));
    type Pick = Box<dyn Fn(&Action) -> bool>;
    let picks: Vec<Pick> = vec![
        Box::new(move |a| matches!(a, Action::Timeout { server } if *server == s0)),
        Box::new(move |a| {
            matches!(a, Action::Deliver { src, dst, msg: Msg::RequestVote { .. } }
                     if *src == s0 && *dst == s1)
        }),
        Box::new(move |a| {
            matches!(a, Action::Deliver { src, dst, msg: Msg::RequestVoteResponse { granted: true, .. } }
                     if *src == s1 && *dst == s0)
        }),
        Box::new(move |a| matches!(a, Action::ClientRequest { server, .. } if *server == s0)),
        Box::new(move |a| {
            matches!(a, Action::Deliver { src, dst, msg: Msg::AppendEntries { .. } }
                     if *src == s0 && *dst == s1)
        }),
        Box::new(move |a| {
            matches!(a, Action::Deliver { src, dst, msg: Msg::AppendEntriesResponse { .. } }
                     if *src == s1 && *dst == s0)
        }),
    ];
    let mut state = model.init_states().remove(0);
    let mut actions = Vec::new();
    for (i, pick) in picks.iter().enumerate() {
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        let action = enabled
            .into_iter()
            .find(|a| pick(a))
            .unwrap_or_else(|| panic!("step {}: no such action enabled", i + 1));
        state = model
            .next_state(&state, action.clone())
            .expect("an enabled action steps");
        actions.push(action);
        if i == 2 {
            assert_eq!(
                state.servers[0].role,
                Role::Leader,
                "s0 leads after its vote"
            );
        }
    }
    let discovery = Discovery {
        init: 0,
        actions,
        found_after: Duration::ZERO,
    };
    Trace::from_discovery(&model, None, &discovery)
}

#[test]
fn a_correct_trace_replays_clean_with_a_numbered_step_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("correct.json");
    let trace = correct_raft_trace();
    assert_eq!(trace.steps.len(), 6);
    std::fs::write(&path, trace.to_json()).unwrap();
    let div = dir.path().join("div.json");
    let out = ballot_in(dir.path(), &["replay", s(&path), "--out", s(&div)]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("PASS: all 6 steps conform"), "{stdout}");
    assert!(!stdout.contains("DIVERGENCE"), "{stdout}");
    // One numbered row per step, each `ok`, in order.
    for (n, step) in (1..=6).zip(
        ["s0 election timeout", "deliver s0→s1", "deliver s1→s0"]
            .into_iter()
            .chain(["client request", "deliver s0→s1", "deliver s1→s0"]),
    ) {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{n}  ")))
            .unwrap_or_else(|| panic!("no row {n} in: {stdout}"));
        assert!(row.contains(step), "row {n} is not `{step}`: {row}");
        assert!(row.trim_end().ends_with("ok"), "row {n}: {row}");
    }
    assert!(!div.exists(), "a clean replay writes no divergence");
    assert!(
        !dir.path()
            .join("target/ballot/raft-divergence.json")
            .exists(),
        "a clean replay writes no divergence"
    );

    // --quiet keeps the verdict only.
    let out = ballot_in(dir.path(), &["replay", s(&path), "-q"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("PASS: all 6 steps conform"), "{stdout}");
    assert!(!stdout.contains("election timeout"), "{stdout}");
}

#[test]
fn a_model_mutant_counterexample_diverges_and_its_divergence_replays() {
    let dir = tempfile::tempdir().unwrap();
    let cex = dir.path().join("vote-twice.json");
    vote_twice_trace(dir.path(), &cex);
    let len = read_json(&cex)["steps"].as_array().unwrap().len();

    let div = dir.path().join("out/div.json");
    let out = ballot_in(dir.path(), &["replay", s(&cex), "--out", s(&div)]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("PASS"), "{stdout}");
    let step = divergence_step(&stdout);
    assert!((1..=len).contains(&step), "step {step} of {len}: {stdout}");
    assert!(stdout.contains("DIVERGED"), "{stdout}");
    assert!(stdout.contains(&format!("trace: {}", s(&div))), "{stdout}");
    assert!(div.exists(), "divergence trace not written: {stdout}");

    // The divergence trace: the model's steps up to the divergence, and where it parted.
    let trace = read_json(&div);
    assert_eq!(trace["format"], "ballot-trace/1");
    assert_eq!(trace["protocol"], "raft");
    assert_eq!(trace["divergence"]["step"], step);
    assert!(trace["steps"].as_array().unwrap().len() <= step);

    // Its sequence diagram is written beside it, the divergence named in it...
    let svg = dir.path().join("out/div.svg");
    assert!(
        stdout.contains(&format!("sequence diagram: {}", s(&svg))),
        "{stdout}"
    );
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("✗ divergence ("), "{drawn}");
    let out = ballot_in(dir.path(), &["trace", "show", s(&div), "--mermaid"]);
    let (shown, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}{stderr}");
    assert!(shown.contains(": divergence ("), "{shown}");

    // It opens in the Explorer...
    let out = ballot_in(dir.path(), &["explore", "--trace", s(&div), "--no-serve"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("#/steps/"), "{stdout}");

    // ...and replays to the same divergence.
    let again = dir.path().join("again.json");
    let out = ballot_in(dir.path(), &["replay", s(&div), "--out", s(&again)]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(divergence_step(&stdout), step, "{stdout}");
    assert_eq!(read_json(&again)["divergence"]["step"], step);

    // Without --out, the divergence goes to target/ballot/raft-divergence.json.
    let out = ballot_in(dir.path(), &["replay", s(&cex), "-q"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(divergence_step(&stdout), step, "{stdout}");
    assert!(
        dir.path()
            .join("target/ballot/raft-divergence.json")
            .exists(),
        "{stdout}"
    );
}

#[test]
fn replay_of_a_missing_or_truncated_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    assert_usage_error(dir.path(), &["replay", s(&missing)], &["missing.json"]);
    let truncated = dir.path().join("truncated.json");
    std::fs::write(
        &truncated,
        "{\"format\": \"ballot-trace/1\", \"protocol\": \"ra",
    )
    .unwrap();
    assert_usage_error(dir.path(), &["replay", s(&truncated)], &["truncated.json"]);
}

#[test]
fn replay_of_a_future_format_exits_2_naming_the_file_and_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    vote_twice_trace(dir.path(), &good);
    let mut trace = read_json(&good);
    trace["format"] = serde_json::json!("ballot-trace/2");
    let future = dir.path().join("future.json");
    std::fs::write(&future, trace.to_string()).unwrap();
    assert_usage_error(
        dir.path(),
        &["replay", s(&future)],
        &["future.json", "ballot-trace/2"],
    );
}

#[test]
fn replay_of_an_fle_or_zab_trace_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A real ZAB counterexample.
    let out = ballot_in(dir.path(), &["check", "zab", "--list-mutants"]);
    let (list, _) = text(&out);
    let mutant = list
        .lines()
        .find_map(|l| {
            let name = l.split_whitespace().next()?;
            (l.starts_with("  ") && !l.starts_with("   ") && name.starts_with("zk-"))
                .then_some(name)
        })
        .unwrap_or_else(|| panic!("no zab mutant listed: {list}"));
    let zab = dir.path().join("zab-trace.json");
    let out = ballot_in(
        dir.path(),
        &[
            "check",
            "zab",
            "--mutant",
            mutant,
            "-q",
            "--trace-out",
            s(&zab),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert_eq!(read_json(&zab)["protocol"], "zab");
    assert_usage_error(
        dir.path(),
        &["replay", s(&zab)],
        &["zab-trace.json", "not built yet"],
    );

    // A raft trace relabelled fle.
    let good = dir.path().join("good.json");
    vote_twice_trace(dir.path(), &good);
    let mut trace = read_json(&good);
    trace["protocol"] = serde_json::json!("fle");
    let fle = dir.path().join("fle-trace.json");
    std::fs::write(&fle, trace.to_string()).unwrap();
    assert_usage_error(dir.path(), &["replay", s(&fle)], &["fle-trace.json", "fle"]);
}

#[test]
fn replay_of_a_tampered_step_exits_2_naming_the_file_and_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    vote_twice_trace(dir.path(), &good);
    let mut trace = read_json(&good);
    // s2 is a follower at step 2: it has no heartbeat timer.
    trace["steps"][1]["action"] = serde_json::json!({"kind": "heartbeat", "server": 2});
    let bad = dir.path().join("tampered.json");
    std::fs::write(&bad, trace.to_string()).unwrap();
    let div = dir.path().join("div.json");
    assert_usage_error(
        dir.path(),
        &["replay", s(&bad), "--out", s(&div)],
        &["tampered.json", "step 2"],
    );
    assert!(!div.exists(), "bad input writes no divergence");

    // A recorded state that is not the model's is refused too.
    let mut trace = read_json(&good);
    trace["steps"][2]["state"]["servers"][2]["term"] = serde_json::json!(2);
    let bad = dir.path().join("wrong-state.json");
    std::fs::write(&bad, trace.to_string()).unwrap();
    assert_usage_error(
        dir.path(),
        &["replay", s(&bad)],
        &["wrong-state.json", "step 3"],
    );
}

#[test]
fn conform_usage_errors_exit_2_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    assert_usage_error(
        dir.path(),
        &["conform", "fle"],
        &["conformance of fle is not built yet"],
    );
    assert_usage_error(
        dir.path(),
        &["conform", "zab"],
        &["conformance of zab is not built yet"],
    );
    assert_usage_error(
        dir.path(),
        &["conform", "raft", "--max-epoch", "2"],
        &["--max-epoch"],
    );
    assert_usage_error(
        dir.path(),
        &["conform", "raft", "--walk-depth", "0"],
        &["--walk-depth"],
    );
}

#[test]
fn conform_depth_covers_every_transition_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let div = dir.path().join("div.json");
    let out = ballot_in(
        dir.path(),
        &["conform", "raft", "--depth", "6", "-q", "--out", s(&div)],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let line = line_with(&stdout, "transitions ");
    let words: Vec<&str> = line.split_whitespace().collect();
    // `transitions X of Y covered (100.0 %)`
    assert_eq!(words[0], "transitions", "{line}");
    assert_eq!(words[2], "of", "{line}");
    let (covered, total) = (figure(words[1]), figure(words[3]));
    assert!(total > 0, "{line}");
    assert_eq!(covered, total, "{line}");
    assert!(line.contains("(100.0 %)"), "{line}");
    assert!(stdout.contains("PASS: no divergence"), "{stdout}");
    assert!(!div.exists(), "a pass writes no divergence");

    let out = ballot_in(
        dir.path(),
        &[
            "conform",
            "raft",
            "--depth",
            "6",
            "-q",
            "--format",
            "json",
            "--out",
            s(&div),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"));
    assert_eq!(report["protocol"], "raft");
    assert_eq!(report["exit_code"], 0);
    assert!(report["divergence"].is_null(), "{report}");
    let transitions = report["transitions"].as_u64().unwrap();
    assert_eq!(transitions, total, "text and JSON agree");
    assert_eq!(report["covered"].as_u64().unwrap(), transitions);
    assert!(report["steps"].as_u64().unwrap() > 0, "{report}");
    assert!(report["paths"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["steps_per_second"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

/// `paths P   steps S` of a conform run: what a seed determines (not the time).
fn paths_and_steps(stdout: &str) -> (u64, u64) {
    let line = line_with(stdout, "steps/s");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "paths", "{line}");
    assert_eq!(words[2], "steps", "{line}");
    (figure(words[1]), figure(words[3]))
}

#[test]
fn conform_simulate_passes_and_a_seed_replays_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["conform", "raft", "--simulate", "2000", "--seed", "3", "-q"];
    let run = || {
        let out = ballot_in(dir.path(), &args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        assert!(stdout.contains("PASS: no divergence"), "{stdout}");
        paths_and_steps(&stdout)
    };
    let first = run();
    assert_eq!(first.1, 2000, "--simulate 2000 takes 2000 steps");
    assert!(first.0 > 0);
    assert_eq!(run(), first, "same seed, same run");
}

#[test]
fn conform_walks_pass() {
    let dir = tempfile::tempdir().unwrap();
    let out = ballot_in(
        dir.path(),
        &["conform", "raft", "--walks", "50", "--seed", "1", "-q"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("PASS: no divergence"), "{stdout}");
    let (paths, steps) = paths_and_steps(&stdout);
    assert_eq!(paths, 50, "{stdout}");
    assert!(steps >= 50, "{stdout}");
}
