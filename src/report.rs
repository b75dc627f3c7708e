//! The output layer: the result table, figures and counterexamples on the terminal, the JSON
//! report, JUnit XML, and the mutant catalogue.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use serde_json::json;

use ballot_models::engine::{StopReason, Verdict};
use ballot_models::spec::Spec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub struct PropertyRow {
    pub name: &'static str,
    pub kind: &'static str,
    pub verdict: Verdict,
    /// Length of the counterexample or witness path, in actions.
    pub length: Option<usize>,
    pub found_after: Option<Duration>,
    /// Counterexample lines (violations only).
    pub steps: Vec<String>,
    pub trace_path: Option<PathBuf>,
    /// The counterexample as a sequence diagram (violations only), and where its SVG was written.
    pub diagram: Option<ballot_models::diagram::Diagram>,
    pub svg_path: Option<PathBuf>,
}

pub struct Stats {
    pub generated: u64,
    pub unique: u64,
    pub max_depth: u64,
    pub elapsed: Duration,
    pub stop: StopReason,
    pub peak_rss: Option<u64>,
    pub visited_bytes: Option<u64>,
}

pub struct RunReport {
    pub protocol: &'static str,
    pub summary: String,
    pub config: serde_json::Value,
    pub mutant: Option<&'static str>,
    /// The property the mutant is expected to break.
    pub expected: Option<&'static str>,
    pub engine: &'static str,
    pub strategy: &'static str,
    pub threads: usize,
    pub symmetry: bool,
    /// The profile this run belongs to (`ci`, …), when it is one of a profile's configurations.
    pub profile: Option<&'static str>,
    /// The configuration's name within its profile (`election`, `log-repair`, …).
    pub configuration: Option<&'static str>,
    /// What the configuration is there to exercise.
    pub purpose: Option<&'static str>,
    /// The guard ablated in this run (`--ablation`), as `GUARD:KIND`.
    pub ablation: Option<String>,
    pub properties: Vec<PropertyRow>,
    pub stats: Stats,
}

impl RunReport {
    pub fn exit_code(&self) -> u8 {
        if self.properties.iter().any(|p| p.verdict.is_failure()) {
            1
        } else if self
            .properties
            .iter()
            .any(|p| p.verdict == Verdict::Unknown)
        {
            3
        } else {
            0
        }
    }
}

/// 1 if any run failed, else 3 if any is incomplete, else 0.
pub fn exit_code(runs: &[RunReport]) -> u8 {
    let codes: Vec<u8> = runs.iter().map(RunReport::exit_code).collect();
    if codes.contains(&1) {
        1
    } else if codes.contains(&3) {
        3
    } else {
        0
    }
}

/// Peak resident memory of this process (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// 1234567 → "1,234,567".
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn outcome_word(code: u8, run: &RunReport) -> String {
    match code {
        0 => "PASS: every property holds and every witness was found (exhaustive)".to_string(),
        1 => {
            let failed: Vec<&str> = run
                .properties
                .iter()
                .filter(|p| p.verdict.is_failure())
                .map(|p| p.name)
                .collect();
            format!("FAIL: {}", failed.join(", "))
        }
        _ => format!(
            "INCOMPLETE: {} before the search finished; nothing violated so far",
            run.stats.stop.describe()
        ),
    }
}

pub fn print_text(runs: &[RunReport]) {
    for run in runs {
        let s = &run.stats;
        match (run.profile, run.configuration) {
            (Some(profile), Some(configuration)) => {
                println!(
                    "== {}/{configuration} (profile {profile}): {}",
                    run.protocol, run.summary
                );
                if let Some(purpose) = run.purpose {
                    println!("   {purpose}");
                }
            }
            _ => println!("== {} ({})", run.protocol, run.summary),
        }
        println!(
            "   engine {}, strategy {}, {} thread{}, symmetry {}",
            run.engine,
            run.strategy,
            run.threads,
            if run.threads == 1 { "" } else { "s" },
            if run.symmetry { "on" } else { "off" }
        );
        if let (Some(m), Some(e)) = (run.mutant, run.expected) {
            println!("   mutant {m}: expected to violate {e}");
        }
        println!();
        println!("   {:<24} {:<10} verdict", "property", "kind");
        for p in &run.properties {
            let detail = match (p.verdict, p.length) {
                (Verdict::Violated, Some(n)) => format!(" ({n} steps)"),
                (Verdict::Found, Some(n)) => format!(" (depth {n})"),
                _ => String::new(),
            };
            println!(
                "   {:<24} {:<10} {}{detail}",
                p.name,
                p.kind,
                p.verdict.name()
            );
        }
        println!();
        let rate = s.unique as f64 / s.elapsed.as_secs_f64().max(1e-9);
        println!(
            "   states {}   unique {}   max depth {}   time {:.2} s   unique/s {}   peak memory {}{}",
            count(s.generated),
            count(s.unique),
            s.max_depth,
            s.elapsed.as_secs_f64(),
            count(rate as u64),
            s.peak_rss.map_or("n/a".to_string(), mib),
            s.visited_bytes
                .map(|b| format!(" (visited set {})", mib(b)))
                .unwrap_or_default()
        );
        println!("   search: {}", s.stop.describe());
        for p in run.properties.iter().filter(|p| !p.steps.is_empty()) {
            println!();
            println!(
                "   counterexample to {} ({} steps, found after {:.2} s):",
                p.name,
                p.steps.len(),
                p.found_after.map_or(0.0, |d| d.as_secs_f64())
            );
            for line in &p.steps {
                println!("   {line}");
            }
            if let Some(path) = &p.trace_path {
                println!("   trace written to {}", path.display());
                if let Some(svg) = &p.svg_path {
                    println!("   sequence diagram written to {}", svg.display());
                }
                println!("   open it: ballot explore --trace {}", path.display());
            }
        }
        println!();
        println!("   {}", outcome_word(run.exit_code(), run));
        println!();
    }
}

pub fn print_json(runs: &[RunReport], code: u8, coverage: Option<Vec<serde_json::Value>>) {
    let runs: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            let s = &r.stats;
            json!({
                "protocol": r.protocol,
                "profile": r.profile,
                "configuration": r.configuration,
                "purpose": r.purpose,
                "ablation": r.ablation,
                "config": r.config,
                "mutant": r.mutant,
                "expected_violation": r.expected,
                "engine": r.engine,
                "strategy": r.strategy,
                "threads": r.threads,
                "symmetry": r.symmetry,
                "exit_code": r.exit_code(),
                "properties": r.properties.iter().map(|p| json!({
                    "name": p.name,
                    "kind": p.kind,
                    "verdict": p.verdict.name().to_ascii_lowercase(),
                    "length": p.length,
                    "found_after_s": p.found_after.map(|d| d.as_secs_f64()),
                    "trace": p.trace_path.as_ref().map(|p| p.display().to_string()),
                    "diagram": p.svg_path.as_ref().map(|p| p.display().to_string()),
                })).collect::<Vec<_>>(),
                "stats": {
                    "states": s.generated,
                    "unique_states": s.unique,
                    "max_depth": s.max_depth,
                    "elapsed_s": s.elapsed.as_secs_f64(),
                    "unique_states_per_s": s.unique as f64 / s.elapsed.as_secs_f64().max(1e-9),
                    "peak_rss_bytes": s.peak_rss,
                    "visited_bytes": s.visited_bytes,
                    "stop": s.stop.describe(),
                },
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&match coverage {
            None => json!({ "exit_code": code, "runs": runs }),
            Some(c) => json!({ "exit_code": code, "runs": runs, "coverage": c }),
        })
        .expect("reports serialise")
    );
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn write_junit(path: &Path, runs: &[RunReport]) -> std::io::Result<()> {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for r in runs {
        let failures = r
            .properties
            .iter()
            .filter(|p| p.verdict.is_failure())
            .count();
        let skipped = r
            .properties
            .iter()
            .filter(|p| p.verdict == Verdict::Unknown)
            .count();
        let suite = match r.configuration {
            Some(c) => format!("{}.{c}", r.protocol),
            None => r.protocol.to_string(),
        };
        xml.push_str(&format!(
            "  <testsuite name=\"ballot.{suite}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
            r.properties.len(),
            r.stats.elapsed.as_secs_f64()
        ));
        xml.push_str(&format!(
            "    <properties><property name=\"bounds\" value=\"{}\"/></properties>\n",
            xml_escape(&r.summary)
        ));
        for p in &r.properties {
            xml.push_str(&format!(
                "    <testcase classname=\"ballot.{suite}\" name=\"{}\">",
                p.name
            ));
            match p.verdict {
                Verdict::Violated => xml.push_str(&format!(
                    "<failure message=\"{} violated ({} steps){}\">{}</failure>",
                    p.name,
                    p.length.unwrap_or(0),
                    p.trace_path
                        .as_ref()
                        .map(|t| format!(", trace {}", xml_escape(&t.display().to_string())))
                        .unwrap_or_default(),
                    xml_escape(&p.steps.join("\n"))
                )),
                Verdict::Missing => xml.push_str(&format!(
                    "<failure message=\"witness {} not found in an exhaustive search\"/>",
                    p.name
                )),
                Verdict::Unknown => xml.push_str(&format!(
                    "<skipped message=\"undecided: {}\"/>",
                    r.stats.stop.describe()
                )),
                Verdict::Holds | Verdict::Found => {}
            }
            xml.push_str("</testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    std::fs::write(path, xml)
}

/// The mutant catalogue of one protocol: text, or (JSON) one object per mutant for scripts.
pub fn list_mutants<S: Spec>(format: Format) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    if format == Format::Text {
        println!(
            "{} mutants (ballot check {} --mutant NAME):",
            S::PROTOCOL,
            S::PROTOCOL
        );
    }
    for m in S::mutants() {
        let bounds = S::build(m.bounds.clone(), Some(m.name))
            .map(|s| s.summary())
            .unwrap_or_else(|e| format!("(invalid: {e})"));
        match format {
            Format::Text => {
                println!();
                println!("  {:<24} {}  {}", m.name, m.id, m.summary);
                println!("  {:<24} breaks: {}", "", m.breaks);
                println!("  {:<24} shortest counterexample: {} steps", "", m.shortest);
                println!("  {:<24} bounds: {bounds}", "");
                println!("  {:<24} seen in: {}", "", m.precedent);
            }
            Format::Json => rows.push(json!({
                "protocol": S::PROTOCOL,
                "name": m.name,
                "id": m.id,
                "summary": m.summary,
                "breaks": m.breaks,
                "shortest": m.shortest,
                "bounds": serde_json::to_value(&m.bounds).expect("configs serialise"),
                "precedent": m.precedent,
            })),
        }
    }
    rows
}
