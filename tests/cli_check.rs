//! End-to-end tests of `ballot check` and `ballot explore`: exit codes, what the terminal shows,
//! trace files, the Explorer URL of a counterexample, and one-line errors for bad input.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ballot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballot"))
        .args(args)
        .output()
        .expect("run ballot")
}

/// `ballot check raft --mutant m3` (two leaders in one term, 6 steps), its trace written to `path`.
fn m3_trace(path: &std::path::Path) -> Output {
    ballot(&[
        "check",
        "raft",
        "--mutant",
        "m3",
        "-q",
        "--trace-out",
        path.to_str().unwrap(),
    ])
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Bad input: exit 2, one line on stderr naming `needle`, never a panic.
fn assert_usage_error(args: &[&str], needle: &str) {
    let out = ballot(args);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: `{needle}` not in: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
}

#[test]
fn bad_flags_and_values_exit_2_naming_the_flag() {
    assert_usage_error(&["check", "raft", "--servers", "0"], "--servers");
    assert_usage_error(&["check", "raft", "--servers", "9"], "--servers");
    assert_usage_error(&["check", "raft", "--max-term", "0"], "--max-term");
    assert_usage_error(&["check", "paxos"], "paxos");
    assert_usage_error(&["check", "raft", "--mutant", "no-such-bug"], "no-such-bug");
    assert_usage_error(
        &["check", "raft", "--network", "carrier-pigeon"],
        "carrier-pigeon",
    );
    assert_usage_error(&["check", "raft", "--init", "2/1x1,,"], "--init");
    assert_usage_error(&["check", "--max-term", "2"], "--max-term");
    assert_usage_error(&["check", "raft", "--threads", "0"], "--threads");
    assert_usage_error(&["check", "raft", "--timeout", "-1"], "--timeout");
    assert_usage_error(&["check", "zab", "--snapshots"], "--snapshots");
    assert_usage_error(&["check", "raft", "--profile", "nightly"], "nightly");
    assert_usage_error(
        &["check", "raft", "--profile", "ci", "--max-term", "2"],
        "--profile ci runs its own configurations and --max-term",
    );
}

/// `--snapshots` is a Raft option whose witness shows InstallSnapshot explored; its mutants
/// are listed.
#[test]
fn snapshots_are_checked_with_their_witness_and_their_mutants_are_listed() {
    let out = ballot(&[
        "check",
        "raft",
        "--snapshots",
        "--max-term",
        "1",
        "-q",
        "--format",
        "json",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let witness = report["runs"][0]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "snapshot_sent")
        .cloned()
        .expect("the snapshot_sent witness is reported");
    assert_eq!(witness["verdict"], "found");
    let (listing, _) = text(&ballot(&["check", "raft", "--list-mutants"]));
    for name in ["compact-uncommitted", "install-drops-tail"] {
        assert!(listing.contains(name), "{name} not in: {listing}");
    }
}

#[test]
fn bad_traces_exit_2_naming_the_file_or_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    assert_usage_error(
        &[
            "explore",
            "--trace",
            missing.to_str().unwrap(),
            "--no-serve",
        ],
        "missing.json",
    );
    let truncated = dir.path().join("truncated.json");
    std::fs::write(
        &truncated,
        "{\"format\": \"ballot-trace/1\", \"protocol\": \"ra",
    )
    .unwrap();
    assert_usage_error(
        &[
            "explore",
            "--trace",
            truncated.to_str().unwrap(),
            "--no-serve",
        ],
        "truncated.json",
    );
    let future = dir.path().join("future.json");
    std::fs::write(&future, "{\"format\": \"ballot-trace/9\"}").unwrap();
    assert_usage_error(
        &["explore", "--trace", future.to_str().unwrap(), "--no-serve"],
        "ballot-trace/9",
    );
    // A real counterexample with one step tampered with.
    let good = dir.path().join("good.json");
    let out = m3_trace(&good);
    assert_eq!(out.status.code(), Some(1));
    let mut trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    trace["steps"][3]["action"] = serde_json::json!({"kind": "timeout", "server": 2});
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, trace.to_string()).unwrap();
    assert_usage_error(
        &["explore", "--trace", bad.to_str().unwrap(), "--no-serve"],
        "step 4",
    );
}

#[test]
fn a_mutant_exits_1_prints_a_numbered_counterexample_and_writes_its_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m3.json");
    let out = m3_trace(&path);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("election_safety          always     VIOLATED (6 steps)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  1. s0 election timeout") || stdout.contains("  1. s"),
        "{stdout}"
    );
    assert!(stdout.contains("  6. deliver"), "{stdout}");
    assert!(stdout.contains("FAIL: election_safety"), "{stdout}");
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(trace["format"], "ballot-trace/1");
    assert_eq!(trace["protocol"], "raft");
    assert_eq!(trace["mutant"], "vote-twice");
    assert_eq!(trace["property"], "election_safety");
    assert_eq!(trace["steps"].as_array().unwrap().len(), 6);
}

#[test]
fn a_timeout_is_incomplete_never_a_pass() {
    // Three terms with the no-op on is far beyond a one-second search.
    let out = ballot(&[
        "check",
        "raft",
        "--max-term",
        "3",
        "--leader-noop",
        "--timeout",
        "1",
        "-q",
    ]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("INCOMPLETE: timeout"), "{stdout}");
    assert!(stdout.contains("unknown"), "{stdout}");
}

#[test]
fn json_and_junit_reports() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = ballot(&[
        "check",
        "raft",
        "--mutant",
        "m4",
        "-q",
        "--all-properties",
        "--format",
        "json",
        "--junit",
        junit.to_str().unwrap(),
        "--trace-out",
        dir.path().join("t.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exit_code"], 1);
    let run = &report["runs"][0];
    assert_eq!(run["mutant"], "volatile-vote");
    assert_eq!(run["expected_violation"], "election_safety");
    let es = run["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "election_safety")
        .unwrap();
    assert_eq!(es["verdict"], "violated");
    assert_eq!(es["length"], 8);
    assert!(run["stats"]["unique_states"].as_u64().unwrap() > 0);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testcase classname=\"ballot.raft\" name=\"election_safety\"><failure"),
        "{xml}"
    );
}

/// Without bound flags `ballot check` runs the CI profile: every configuration reported on its
/// own (text, JSON, JUnit). A mutant checked against the profile runs configuration after
/// configuration until one catches it: ZK-4643 survives ZAB's default bounds and is caught by
/// the three-epoch configuration from an empty start.
#[test]
fn the_ci_profile_runs_each_configuration_and_catches_a_bug_without_its_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = ballot(&[
        "check",
        "zab",
        "-q",
        "--format",
        "json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = report["runs"].as_array().unwrap();
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["configuration"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "three-epochs", "two-txns", "fle-two-servers"]
    );
    assert!(runs
        .iter()
        .all(|r| r["profile"] == "ci" && r["exit_code"] == 0));
    assert_eq!(runs[1]["config"]["max_epoch"], 3);
    assert!(
        runs[1]["config"].get("init").is_none(),
        "no hand-picked start"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"ballot.zab.three-epochs\""),
        "{xml}"
    );

    let out = ballot(&[
        "check",
        "zab",
        "--mutant",
        "zk-4643",
        "--profile",
        "ci",
        "-q",
        "--trace-out",
        dir.path().join("t.json").to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let default = stdout.find("== zab/default (profile ci)").expect(&stdout);
    let caught = stdout
        .find("== zab/three-epochs (profile ci)")
        .expect(&stdout);
    assert!(default < caught, "{stdout}");
    // In a profile the first failing property catches the bug and ends the search (here
    // committed_on_majority, on the way to the catalogue's commit_completeness).
    assert!(
        !stdout[default..caught].contains("VIOLATED") && stdout[caught..].contains("VIOLATED"),
        "{stdout}"
    );
    assert!(
        stdout[caught..].contains("search: stopped at first violation"),
        "{stdout}"
    );
    assert!(dir.path().join("t.json").exists());
}

#[test]
fn coverage_counts_every_rule_and_a_gap_fails_when_required() {
    // The CI profile reaches every rule and decides every guard both ways.
    let out = ballot(&[
        "check",
        "zab",
        "-q",
        "--coverage",
        "--require-coverage",
        "--format",
        "json",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cov = &report["coverage"][0];
    assert_eq!(cov["protocol"], "zab");
    assert_eq!(cov["gaps"].as_array().unwrap().len(), 0);
    let rules = cov["rules"].as_array().unwrap();
    assert!(rules.len() >= 20, "{cov}");
    assert!(rules.iter().all(|r| r["fired"].as_u64().unwrap() > 0));
    let trunc = rules
        .iter()
        .find(|r| r["id"] == "zab.sync.trunc")
        .expect("the contract's TRUNC rule is in the catalogue");
    let g = &trunc["guards"][0];
    assert!(g["true"].as_u64().unwrap() > 0 && g["false"].as_u64().unwrap() > 0);

    // The default bounds alone never truncate a follower's log: a gap, named, and exit 1.
    let out = ballot(&[
        "check",
        "zab",
        "-q",
        "--profile",
        "quick",
        "--coverage",
        "--require-coverage",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("== zab rule coverage: "), "{stdout}");
    assert!(
        stdout.contains("coverage: ") && stdout.contains(" gaps"),
        "{stdout}"
    );
    assert!(
        stdout.contains("zab.sync.trunc-diff never fired"),
        "{stdout}"
    );
    // Without --require-coverage the same gaps are shown but the run passes.
    let out = ballot(&["check", "zab", "-q", "--profile", "quick", "--coverage"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).0);
}

#[test]
fn one_ablation_is_checked_like_a_mutant_and_bad_ids_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = ballot(&[
        "check",
        "zab",
        "--profile",
        "quick",
        "-q",
        "--format",
        "json",
        "--ablation",
        "zab.discovery.leaderinfo/not-below-accepted:drop",
        "--trace-out",
        dir.path().join("t.json").to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &report["runs"][0];
    assert_eq!(
        run["ablation"],
        "zab.discovery.leaderinfo/not-below-accepted:drop"
    );
    assert!(run["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["verdict"] == "violated"));
    // The ablation is gone afterwards: the same profile passes.
    let out = ballot(&["check", "zab", "--profile", "quick", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).0);

    assert_usage_error(
        &["check", "zab", "--ablation", "zab.nope/x:drop"],
        "zab.nope/x",
    );
    assert_usage_error(
        &[
            "check",
            "zab",
            "--ablation",
            "zab.sync.trunc/peer-past-last:sideways",
        ],
        "sideways",
    );
    assert_usage_error(
        &[
            "check",
            "zab",
            "--ablation",
            "zab.sync.trunc/peer-past-last:quorum-1",
        ],
        "quorum guards only",
    );
    assert_usage_error(
        &["check", "--ablation", "zab.sync.trunc/peer-past-last:drop"],
        "one protocol",
    );
    assert_usage_error(
        &["check", "zab", "--ablate", "--max-epoch", "2"],
        "--max-epoch",
    );
    assert_usage_error(
        &["check", "zab", "--ablate", "--mutant", "zk-4643"],
        "--mutant",
    );
    assert_usage_error(
        &[
            "check",
            "zab",
            "--ablate",
            "--ablate-only",
            "zab.no-such-rule",
        ],
        "zab.no-such-rule",
    );
    assert_usage_error(&["check", "zab", "--ablate-only", "zab.sync"], "--ablate");
}

/// `--ablate` with `--ablate-only`: the ablations of those guards only, each checked at the
/// configurations where it can change a step (the others are counted as skipped), in JSON.
#[test]
fn ablate_scores_the_chosen_guards_and_skips_configurations_they_cannot_change() {
    let out = ballot(&[
        "check",
        "zab",
        "--ablate",
        "--ablate-only",
        "zab.sync.trunc,zab.broadcast",
        "--format",
        "json",
        "-q",
    ]);
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let zab = &report["protocols"][0];
    assert_eq!(zab["only"], "zab.sync.trunc,zab.broadcast");
    let rows = zab["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let guard = row["guard"].as_str().unwrap();
        assert!(
            guard.starts_with("zab.sync.trunc") || guard.starts_with("zab.broadcast"),
            "{guard}"
        );
        assert!(
            matches!(row["class"].as_str(), Some("killed" | "equivalent")),
            "{row}"
        );
    }
    assert_eq!(
        zab["killed"].as_u64().unwrap() + zab["equivalent"].as_u64().unwrap(),
        rows.len() as u64
    );
}

/// Kills the child when dropped, even if the test fails.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let code = body
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body)
}

#[test]
fn explore_prints_a_url_whose_page_shows_the_counterexample() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m3.json");
    let out = m3_trace(&path);
    assert_eq!(out.status.code(), Some(1));
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let child = Command::new(env!("CARGO_BIN_EXE_ballot"))
        .args([
            "explore",
            "--trace",
            path.to_str().unwrap(),
            "--addr",
            &addr,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let mut lines = BufReader::new(guard.0.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("explore printed its URL").unwrap();
        if let Some(u) = line.strip_prefix("Counterexample: ") {
            break u.to_string();
        }
    };
    let steps = url
        .split("#/steps/")
        .nth(1)
        .unwrap_or_else(|| panic!("no #/steps/ in {url}"));
    assert_eq!(steps.split('/').count(), 7, "init plus 6 actions: {url}");
    // The Explorer serves the state at the end of that path (404 if the path were invalid).
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "explorer did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, body) = http_get(&addr, &format!("/.states/{steps}"));
    assert_eq!(code, 200, "{body}");
    // The state is the compact per-server view: both leaders of term 1 on their own rows.
    assert!(
        body.contains("s0: LEADER t1") && body.contains("s1: LEADER t1"),
        "the last state has the second leader: {body}"
    );
    assert!(
        !body.contains("next_index"),
        "no raw Debug dump of the state: {body}"
    );
    // Each next step carries the sequence diagram of its path: one arrow per delivered message
    // (the 6 steps deliver 4, a next step that delivers one more 5).
    let delivered: Vec<usize> = body
        .split("data-delivered=\\\"")
        .skip(1)
        .map(|rest| rest.split('\\').next().unwrap().parse().unwrap())
        .collect();
    assert!(delivered.iter().all(|&d| d == 4 || d == 5), "{delivered:?}");
    assert_eq!(
        body.matches("<g class=\\\"msg\\\"").count(),
        delivered.iter().sum::<usize>(),
        "{body}"
    );
    assert!(body.contains("data-delivered=\\\"4\\\""), "{body}");
    let (code, _) = http_get(&addr, "/");
    assert_eq!(code, 200);
}

#[test]
fn check_writes_a_diagram_beside_the_trace_and_trace_show_renders_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m3.json");
    let svg_path = dir.path().join("m3.svg");
    let out = m3_trace(&path);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "sequence diagram written to {}",
            svg_path.display()
        )),
        "{stdout}"
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    // Six steps, four of them deliveries: four arrows, and the violation at step 6.
    assert_eq!(svg.matches("<g class=\"msg\"").count(), 4, "{svg}");
    assert!(svg.contains("✗ election_safety violated"), "{svg}");
    assert!(!svg.contains("<script"), "self-contained: {svg}");

    let trace = path.to_str().unwrap();
    let out = ballot(&["trace", "show", trace]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("   6. deliver s2→s"), "{stdout}");
    assert!(
        stdout.contains("✗ step 6: election_safety violated"),
        "{stdout}"
    );
    assert!(stdout.contains("6 steps, 4 messages delivered"), "{stdout}");

    let out = ballot(&["trace", "show", trace, "--mermaid"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.starts_with("sequenceDiagram\n"), "{stdout}");
    assert_eq!(stdout.matches("->>").count(), 4, "{stdout}");

    let again = dir.path().join("again.svg");
    let out = ballot(&["trace", "show", trace, "--svg", again.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), svg);

    // A conformance divergence is named at its step.
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    value["property"] = serde_json::Value::Null;
    value["divergence"] = serde_json::json!({
        "step": 3, "action": "deliver s0→s2", "class": "unexpected-action",
        "details": [], "expected": {}, "actual": {}
    });
    let diverged = dir.path().join("divergence.json");
    std::fs::write(&diverged, value.to_string()).unwrap();
    let out = ballot(&["trace", "show", diverged.to_str().unwrap(), "--mermaid"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("✗ step 3: divergence (unexpected action)"),
        "{stdout}"
    );
}

#[test]
fn trace_show_rejects_bad_files_and_flags_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    assert_usage_error(
        &["trace", "show", missing.to_str().unwrap()],
        "missing.json",
    );
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    assert_usage_error(
        &["trace", "show", garbage.to_str().unwrap(), "--mermaid"],
        "garbage.json",
    );
    // A trace whose recorded state the model does not reach names the step.
    let path = dir.path().join("m3.json");
    assert_eq!(m3_trace(&path).status.code(), Some(1));
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    value["steps"][2]["state"]["crashes"] = serde_json::json!(7);
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, value.to_string()).unwrap();
    assert_usage_error(
        &[
            "trace",
            "show",
            tampered.to_str().unwrap(),
            "--svg",
            "x.svg",
        ],
        "step 3",
    );
    value["protocol"] = serde_json::json!("paxos");
    std::fs::write(&tampered, value.to_string()).unwrap();
    assert_usage_error(&["trace", "show", tampered.to_str().unwrap()], "paxos");
    let out = ballot(&[
        "trace",
        "show",
        path.to_str().unwrap(),
        "--svg",
        "x.svg",
        "--mermaid",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = ballot(&["trace", "show", "--help"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("--mermaid") && stdout.contains("--svg <OUT>"),
        "{stdout}"
    );
}

#[test]
fn html_report_is_one_self_contained_page_with_each_counterexample() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("m3.json");
    let html = dir.path().join("report").join("r.html");
    let out = ballot(&[
        "check",
        "raft",
        "--mutant",
        "m3",
        "-q",
        "--trace-out",
        trace.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<table class=\"properties\">"), "{page}");
    assert_eq!(page.matches("<section class=\"counterexample\"").count(), 1);
    assert_eq!(page.matches("<g class=\"msg\"").count(), 4, "{page}");
    // The step table: a header and one row per step.
    let steps = page.split("<table class=\"steps\">").nth(1).unwrap();
    let steps = steps.split("</table>").next().unwrap();
    assert_eq!(steps.matches("<tr>").count(), 7, "{steps}");
    assert!(page.contains("Rule coverage"), "{page}");
    assert!(
        !page.contains("<script") && !page.contains("src=\"http"),
        "{page}"
    );
}
