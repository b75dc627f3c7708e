//! `ballot check --coverage`, `--ablate` and `--ablation`: the rule coverage table of a run, the
//! mutation score of the properties against every guard ablation, and one ablation checked like
//! a mutant. The mechanism is `ballot_models::coverage`; this module renders it.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};

use ballot_models::config::Profile;
use ballot_models::coverage::{self, Ablation, Catalogue, Counts};
use ballot_models::spec::AblationOutcome;

use crate::report::{count, Format};
use crate::{protocols, Protocol, UsageError};

/// The coverage of one protocol's runs.
pub struct CoverageReport {
    pub protocol: Protocol,
    pub catalogue: &'static Catalogue,
    pub counts: Counts,
    /// Rules that never fired and guards never seen both ways.
    pub gaps: Vec<String>,
}

impl CoverageReport {
    pub fn new(protocol: Protocol, counts: Counts) -> Self {
        let catalogue = protocols::catalogue(protocol);
        let gaps = counts.gaps(catalogue);
        CoverageReport {
            protocol,
            catalogue,
            counts,
            gaps,
        }
    }

    pub fn print_text(&self) {
        let cat = self.catalogue;
        println!(
            "== {} rule coverage: {} rules, {} guards, {}",
            self.protocol.name(),
            cat.rules.len(),
            cat.guards.len(),
            if self.gaps.is_empty() {
                "every rule fired and every guard decided both ways".to_string()
            } else {
                format!("{} gaps", self.gaps.len())
            }
        );
        println!(
            "   {:>14}  {:<52} {:>14} {:>14}",
            "fired", "rule / guard", "true", "false"
        );
        for (r, rule) in cat.rules.iter().enumerate() {
            let fired = self.counts.fired(cat.family, r);
            let mark = if fired == 0 { "  ← never fired" } else { "" };
            println!("   {:>14}  {:<52}{mark}", count(fired), rule.id);
            for (g, def) in cat.guards.iter().enumerate().filter(|(_, d)| d.rule == r) {
                let [t, f] = self.counts.decided(cat.family, g);
                let mark = match (t, f) {
                    (0, 0) => "  ← never evaluated",
                    (0, _) => "  ← never true",
                    (_, 0) => "  ← never false",
                    _ => "",
                };
                let name = format!(
                    "  /{}{}",
                    def.name,
                    if def.quorum { " (quorum)" } else { "" }
                );
                println!(
                    "   {:>14}  {:<52} {:>14} {:>14}{mark}",
                    "",
                    name,
                    count(t),
                    count(f)
                );
            }
        }
        println!();
    }

    pub fn to_json(&self) -> Value {
        let cat = self.catalogue;
        json!({
            "protocol": self.protocol.name(),
            "rules": cat.rules.iter().enumerate().map(|(r, rule)| json!({
                "id": rule.id,
                "fired": self.counts.fired(cat.family, r),
                "guards": cat.guards.iter().enumerate().filter(|(_, d)| d.rule == r).map(|(g, d)| {
                    let [t, f] = self.counts.decided(cat.family, g);
                    json!({ "id": cat.guard_id(g), "quorum": d.quorum, "true": t, "false": f })
                }).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "gaps": self.gaps,
        })
    }
}

/// Parses `--ablation GUARD:KIND` against `protocol`'s catalogue and sets it for the process.
pub fn set_ablation(protocol: Protocol, spec: &str) -> Result<String> {
    let cat = protocols::catalogue(protocol);
    let (id, kind) = spec.rsplit_once(':').ok_or_else(|| {
        UsageError(format!(
            "--ablation `{spec}`: expected GUARD:KIND, e.g. `{}:drop`",
            if cat.guards.is_empty() {
                "raft.vote.grant/up-to-date".to_string()
            } else {
                cat.guard_id(0)
            }
        ))
    })?;
    let ablation = Ablation::parse(kind).ok_or_else(|| {
        UsageError(format!(
            "--ablation `{spec}`: unknown kind `{kind}` (accepted: drop, invert, quorum-1)"
        ))
    })?;
    let guard = cat.find_guard(id).ok_or_else(|| {
        UsageError(format!(
            "--ablation `{spec}`: {} has no guard `{id}` (`ballot check {} --coverage` lists them)",
            protocol.name(),
            protocol.name()
        ))
    })?;
    if ablation == Ablation::QuorumBelow && !cat.guards[guard].quorum {
        return Err(UsageError(format!(
            "--ablation `{spec}`: quorum-1 applies to quorum guards only, and `{id}` is not one"
        ))
        .into());
    }
    coverage::set_ablation(Some((cat.family, guard, ablation)));
    Ok(format!("{id}:{}", ablation.name()))
}

/// One row of the ablation table.
struct AblationRow {
    guard: String,
    ablation: Ablation,
    outcome: AblationOutcome,
    elapsed: Duration,
    /// The reason it is listed as equivalent, if it is.
    equivalent: Option<&'static str>,
}

impl AblationRow {
    /// `killed`, `equivalent`, `survived` (a gap in the properties), `crashed`, or
    /// `listed-but-killed` (an equivalence claim the checker refutes).
    fn class(&self) -> &'static str {
        match (&self.outcome, self.equivalent) {
            (AblationOutcome::Killed { .. }, None) => "killed",
            (AblationOutcome::Killed { .. }, Some(_)) => "listed-but-killed",
            (AblationOutcome::Survived, Some(_)) => "equivalent",
            (AblationOutcome::Survived, None) => "survived",
            (AblationOutcome::Crashed { .. }, _) => "crashed",
        }
    }
}

/// `ballot check --ablate`: every ablation of every protocol's catalogue against `profile`.
/// Exit 1 if an ablation survives without a listed reason, crashes the model, or is listed as
/// equivalent yet killed.
pub fn ablate(
    protocols_: &[Protocol],
    profile: Profile,
    threads: usize,
    format: Format,
    quiet: bool,
) -> Result<u8> {
    let mut all = Vec::new();
    let mut code = 0;
    for &p in protocols_ {
        let cat = protocols::catalogue(p);
        let equivalent = protocols::equivalent_ablations(p);
        let ablations = cat.ablations();
        let mut rows = Vec::new();
        for (k, &(g, a)) in ablations.iter().enumerate() {
            let id = cat.guard_id(g);
            let start = Instant::now();
            let outcome = protocols::ablate(p, profile, threads, g, a);
            let row = AblationRow {
                equivalent: equivalent
                    .iter()
                    .find(|e| e.guard == id && e.ablation == a)
                    .map(|e| e.reason),
                guard: id,
                ablation: a,
                outcome,
                elapsed: start.elapsed(),
            };
            if !quiet {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "ablate {}/{} [{}/{}] {}:{} → {} ({:.1} s)",
                    p.name(),
                    profile.name(),
                    k + 1,
                    ablations.len(),
                    row.guard,
                    a.name(),
                    row.class(),
                    row.elapsed.as_secs_f64()
                );
            }
            rows.push(row);
        }
        if rows
            .iter()
            .any(|r| matches!(r.class(), "survived" | "crashed" | "listed-but-killed"))
        {
            code = 1;
        }
        all.push((p, rows));
    }
    for e in protocols_.iter().flat_map(|&p| {
        protocols::equivalent_ablations(p)
            .iter()
            .filter(move |e| protocols::catalogue(p).find_guard(e.guard).is_none())
    }) {
        eprintln!(
            "error: an equivalent ablation names `{}`, which is no guard of its catalogue",
            e.guard
        );
        code = 1;
    }
    match format {
        Format::Text => print_ablations(&all, profile),
        Format::Json => {
            let protocols_json: Vec<Value> = all
                .iter()
                .map(|(p, rows)| {
                    let (killed, eq, total) = score(rows);
                    json!({
                        "protocol": p.name(),
                        "profile": profile.name(),
                        "killed": killed,
                        "equivalent": eq,
                        "ablations": total,
                        "rows": rows.iter().map(|r| {
                            let (configuration, property, message) = match &r.outcome {
                                AblationOutcome::Killed { configuration, property } => (Some(*configuration), Some(*property), None),
                                AblationOutcome::Crashed { configuration, message } => (Some(*configuration), None, Some(message.clone())),
                                AblationOutcome::Survived => (None, None, None),
                            };
                            json!({
                                "guard": r.guard,
                                "ablation": r.ablation.name(),
                                "class": r.class(),
                                "configuration": configuration,
                                "property": property,
                                "panic": message,
                                "reason": r.equivalent,
                                "elapsed_s": r.elapsed.as_secs_f64(),
                            })
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({ "exit_code": code, "protocols": protocols_json })
                )
                .expect("reports serialise")
            );
        }
    }
    Ok(code)
}

/// (killed, equivalent, total).
fn score(rows: &[AblationRow]) -> (usize, usize, usize) {
    let killed = rows.iter().filter(|r| r.class() == "killed").count();
    let eq = rows.iter().filter(|r| r.class() == "equivalent").count();
    (killed, eq, rows.len())
}

fn print_ablations(all: &[(Protocol, Vec<AblationRow>)], profile: Profile) {
    for (p, rows) in all {
        let (killed, eq, total) = score(rows);
        let denominator = total - eq;
        println!(
            "== {} ablations against profile {}: {killed} of {denominator} non-equivalent killed \
             (mutation score {:.0} %), {eq} equivalent",
            p.name(),
            profile.name(),
            if denominator == 0 {
                100.0
            } else {
                100.0 * killed as f64 / denominator as f64
            }
        );
        for r in rows {
            let what = match (&r.outcome, r.equivalent) {
                (AblationOutcome::Killed { configuration, property }, None) => {
                    format!("killed by {property} in {configuration}")
                }
                (AblationOutcome::Killed { configuration, property }, Some(_)) => format!(
                    "LISTED AS EQUIVALENT, yet {property} fails in {configuration}: remove it from the list"
                ),
                (AblationOutcome::Survived, Some(reason)) => format!("equivalent: {reason}"),
                (AblationOutcome::Survived, None) => {
                    "SURVIVED: no property tells it apart, and no reason is listed".to_string()
                }
                (AblationOutcome::Crashed { configuration, message }, _) => {
                    format!("CRASHED the model in {configuration}: {message}")
                }
            };
            println!(
                "   {:<56} {:<9} {:>7.1} s  {what}",
                r.guard,
                r.ablation.name(),
                r.elapsed.as_secs_f64()
            );
        }
        println!();
    }
}
