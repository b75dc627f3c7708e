//! `ballot fault` end to end: seeded fault-injection runs against real node processes (kill -9,
//! SIGSTOP, kill two, partitions) must produce linearizable histories, and the checker behind
//! them (`ballot fault --check-history`) must reject a recorded non-linearizable history.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ballot");

/// The seeded runs, and the seconds of load and faults in each: 3 × 20 s keeps this test under
/// two minutes on a 2-core machine (start-up, healing and checking add about a second per run).
const SEEDS: [u64; 3] = [1, 2, 3];
const SECONDS: &str = "20";
/// A run that injected fewer faults or acknowledged fewer calls than this tested little.
const MIN_FAULTS: u64 = 10;
const MIN_OK_OPS: u64 = 1000;

fn ballot(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number just before `word` in the summary line (`... 12 faults ...`).
fn figure(summary: &str, word: &str) -> u64 {
    let words: Vec<&str> = summary.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.trim_start_matches('(') == word)
        .unwrap_or_else(|| panic!("no {word:?} in {summary:?}"));
    words[at - 1]
        .trim_start_matches('(')
        .parse()
        .unwrap_or_else(|_| panic!("no figure before {word:?} in {summary:?}"))
}

#[test]
fn seeded_fault_runs_are_linearizable() {
    let mut failures = Vec::new();
    for seed in SEEDS {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("run");
        let seed_text = seed.to_string();
        let (code, out, err) = ballot(&[
            "fault",
            "--seed",
            &seed_text,
            "--duration",
            SECONDS,
            "--dir",
            data.to_str().unwrap(),
        ]);
        eprint!("{out}{err}");
        if code != 0 {
            let kept = dir.keep(); // the run's history and node logs, for the report
            failures.push(format!(
                "seed {seed}: exit {code} (data in {})\n{out}{err}",
                kept.display()
            ));
            continue;
        }
        let summary = out
            .lines()
            .find(|l| l.ends_with(": PASS"))
            .unwrap_or_else(|| panic!("seed {seed}: no PASS summary line:\n{out}"));
        assert!(
            figure(summary, "faults") >= MIN_FAULTS,
            "seed {seed}: too few faults: {summary}"
        );
        assert!(
            figure(summary, "ok,") >= MIN_OK_OPS,
            "seed {seed}: too few acknowledged calls: {summary}"
        );
        assert!(
            !data.exists(),
            "a passing run without --keep removes its data"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeded runs failed (each prints its reproduce command):\n{}",
        failures.len(),
        SEEDS.len(),
        failures.join("\n")
    );
}

/// Recorded by `ballot fault --seed 1 --duration 20` before client sessions existed: key k0's
/// calls around a leader pause. c0's put of "c0-427" was applied, read by c3, overwritten by
/// c2's "c2-440" (read back by c2), and then read again by c2 — the put applied a second time
/// by the client's retry.
const DUPLICATED_PUT: &str = r#"{"client":0,"key":"k0","call":{"put":"c0-427"},"outcome":{"ok":"put"},"invoke_ns":4318452999,"response_ns":4570361124}
{"client":3,"key":"k0","call":"get","outcome":{"ok":{"get":"c0-427"}},"invoke_ns":4370321507,"response_ns":4372824874}
{"client":3,"key":"k0","call":"get","outcome":{"ok":{"get":"c0-427"}},"invoke_ns":4380456825,"response_ns":4383072008}
{"client":2,"key":"k0","call":{"put":"c2-438"},"outcome":{"ok":"put"},"invoke_ns":4530094600,"response_ns":4535122695}
{"client":1,"key":"k0","call":{"put":"c1-440"},"outcome":{"ok":"put"},"invoke_ns":4538546739,"response_ns":4539267199}
{"client":2,"key":"k0","call":{"put":"c2-440"},"outcome":{"ok":"put"},"invoke_ns":4542914584,"response_ns":4543379795}
{"client":2,"key":"k0","call":"get","outcome":{"ok":{"get":"c2-440"}},"invoke_ns":4547158385,"response_ns":4547755030}
{"client":1,"key":"k0","call":{"put":"c1-442"},"outcome":{"ok":"put"},"invoke_ns":4557339961,"response_ns":4557934233}
{"client":2,"key":"k0","call":"get","outcome":{"ok":{"get":"c1-442"}},"invoke_ns":4557547830,"response_ns":4558145737}
{"client":3,"key":"k0","call":"get","outcome":{"ok":{"get":"c1-442"}},"invoke_ns":4560433424,"response_ns":4560914418}
{"client":3,"key":"k0","call":{"put":"c3-417"},"outcome":{"ok":"put"},"invoke_ns":4562994757,"response_ns":4563594697}
{"client":2,"key":"k0","call":"get","outcome":{"ok":{"get":"c0-427"}},"invoke_ns":4573234540,"response_ns":4574044162}
"#;

#[test]
fn check_history_rejects_a_recorded_duplicated_put() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        ballot(&["fault", "--check-history", path.to_str().unwrap()])
    };

    let (code, out, err) = check(DUPLICATED_PUT);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("k0 NOT LINEARIZABLE"), "{out}");
    assert!(out.contains("values read again: 1"), "{out}");
    let witness: Vec<&str> = out.lines().filter(|l| l.starts_with("  c")).collect();
    assert!(
        witness.len() <= 5
            && witness
                .iter()
                .any(|l| l.starts_with("  c0 put k0 = \"c0-427\""))
            && witness
                .last()
                .is_some_and(|l| l.starts_with("  c2 get k0: ok \"c0-427\"")),
        "the witness is the put, the overwrite and the reads around it:\n{out}"
    );

    // Without the last read, one application of each put explains everything.
    let lines: Vec<&str> = DUPLICATED_PUT.lines().collect();
    let (code, out, err) = check(&lines[..lines.len() - 1].join("\n"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with(": PASS\n"), "{out}");

    // A malformed history is bad input (exit 2), naming the flag and the line.
    let (code, _, err) = check(&format!("{}\n{{\"client\":1}}\n", lines[0]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--check-history") && err.contains("line 2"),
        "{err}"
    );
}
