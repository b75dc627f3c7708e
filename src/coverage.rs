//! `ballot check --coverage`, `--ablate` and `--ablation`: the rule coverage table of a run, the
//! mutation score of the properties against every guard ablation, and one ablation checked like
//! a mutant. The mechanism is `ballot_models::coverage`; this module renders it.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};

use ballot_models::config::Profile;
use ballot_models::coverage::{self, Ablation, Catalogue, Counts};
use ballot_models::spec::{AblationOutcome, SearchLimits};

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
    /// The reason it is listed as a known gap of the properties, if it is.
    gap: Option<&'static str>,
}

impl AblationRow {
    /// `killed`, `equivalent`, `gap` (a listed survivor the properties cannot see), `survived`
    /// (an unlisted one), `undecided` (a search limit stopped a configuration), `crashed`, or
    /// `listed-but-killed` (an equivalence or gap claim the checker refutes).
    fn class(&self) -> &'static str {
        match (&self.outcome, self.equivalent, self.gap) {
            (AblationOutcome::Killed { .. }, None, None) => "killed",
            (AblationOutcome::Killed { .. }, _, _) => "listed-but-killed",
            (AblationOutcome::Survived { .. }, Some(_), _) => "equivalent",
            (AblationOutcome::Survived { .. }, None, Some(_)) => "gap",
            (AblationOutcome::Survived { .. }, None, None) => "survived",
            (AblationOutcome::Undecided { .. }, _, _) => "undecided",
            (AblationOutcome::Crashed { .. }, _, _) => "crashed",
        }
    }

    /// (configurations checked, skipped because the ablation cannot change a step there).
    fn configurations(&self) -> (Option<usize>, Option<usize>) {
        match self.outcome {
            AblationOutcome::Survived { checked, skipped }
            | AblationOutcome::Undecided {
                checked, skipped, ..
            } => (Some(checked), Some(skipped)),
            _ => (None, None),
        }
    }
}

/// `ballot check --ablate`: every ablation of every protocol's catalogue against `profile`.
/// First the correct model's coverage per configuration (which configurations each guard can
/// change at all), then each ablation on the configurations where it can. Exit 1 if an ablation
/// survives without a listed reason, is undecided, crashes the model, or is listed (equivalent
/// or gap) yet killed.
pub fn ablate(
    protocols_: &[Protocol],
    profile: Profile,
    threads: usize,
    only: Option<&str>,
    limits: SearchLimits,
    format: Format,
    quiet: bool,
) -> Result<u8> {
    let mut all = Vec::new();
    let mut code = 0;
    let say = |line: String| {
        if !quiet {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    };
    for &p in protocols_ {
        let cat = protocols::catalogue(p);
        let equivalent = protocols::equivalent_ablations(p);
        let gaps = protocols::known_gaps(p);
        let ablations: Vec<_> = cat
            .ablations()
            .into_iter()
            .filter(|&(g, _)| {
                only.is_none_or(|o| {
                    o.split(',')
                        .any(|prefix| cat.guard_id(g).starts_with(prefix))
                })
            })
            .collect();
        if ablations.is_empty() {
            return Err(UsageError(format!(
                "--ablate-only `{}`: no guard of {} starts with it (`ballot check {} --coverage` \
                 lists them)",
                only.unwrap_or_default(),
                p.name(),
                p.name()
            ))
            .into());
        }
        let start = Instant::now();
        let relevance = protocols::profile_counts(p, profile, threads, &|name| {
            say(format!(
                "ablate {}/{}: the correct model's coverage of {name} ({:.1} s)",
                p.name(),
                profile.name(),
                start.elapsed().as_secs_f64()
            ))
        });
        if let Some(c) = relevance.iter().find(|c| !c.passed) {
            return Err(anyhow::anyhow!(
                "{}/{}: the correct model fails in configuration {}; ablations can only be \
                 scored against a passing profile (`ballot check {} --profile {}`)",
                p.name(),
                profile.name(),
                c.name,
                p.name(),
                profile.name()
            ));
        }
        let mut rows = Vec::new();
        for (k, &(g, a)) in ablations.iter().enumerate() {
            let id = cat.guard_id(g);
            let start = Instant::now();
            let outcome = protocols::ablate(p, profile, threads, g, a, Some(&relevance), limits);
            let listed = |list: &'static [coverage::Equivalent]| {
                list.iter()
                    .find(|e| e.guard == id && e.ablation == a)
                    .map(|e| e.reason)
            };
            let row = AblationRow {
                equivalent: listed(equivalent),
                gap: listed(gaps),
                guard: id,
                ablation: a,
                outcome,
                elapsed: start.elapsed(),
            };
            let (checked, skipped) = row.configurations();
            let configurations = match (checked, skipped) {
                (Some(c), Some(s)) => format!(", {c} configurations checked, {s} skipped"),
                _ => String::new(),
            };
            say(format!(
                "ablate {}/{} [{}/{}] {}:{} → {} ({:.1} s{configurations})",
                p.name(),
                profile.name(),
                k + 1,
                ablations.len(),
                row.guard,
                a.name(),
                row.class(),
                row.elapsed.as_secs_f64()
            ));
            rows.push(row);
        }
        if rows.iter().any(|r| {
            matches!(
                r.class(),
                "survived" | "undecided" | "crashed" | "listed-but-killed"
            )
        }) {
            code = 1;
        }
        all.push((p, rows));
    }
    for (list, what) in [
        (
            protocols::equivalent_ablations as fn(Protocol) -> _,
            "an equivalent ablation",
        ),
        (protocols::known_gaps, "a known gap"),
    ] {
        for &p in protocols_ {
            for e in list(p) {
                if protocols::catalogue(p).find_guard(e.guard).is_none() {
                    eprintln!(
                        "error: {what} names `{}`, which is no guard of its catalogue",
                        e.guard
                    );
                    code = 1;
                }
            }
        }
    }
    match format {
        Format::Text => print_ablations(&all, profile, only),
        Format::Json => {
            let protocols_json: Vec<Value> = all
                .iter()
                .map(|(p, rows)| {
                    let (killed, eq, gaps, total) = score(rows);
                    json!({
                        "protocol": p.name(),
                        "profile": profile.name(),
                        "only": only,
                        "killed": killed,
                        "equivalent": eq,
                        "known_gaps": gaps,
                        "ablations": total,
                        "rows": rows.iter().map(|r| {
                            let (configuration, property, message) = match &r.outcome {
                                AblationOutcome::Killed { configuration, property } => (Some(*configuration), Some(*property), None),
                                AblationOutcome::Crashed { configuration, message } => (Some(*configuration), None, Some(message.clone())),
                                AblationOutcome::Undecided { configuration, .. } => (Some(*configuration), None, None),
                                AblationOutcome::Survived { .. } => (None, None, None),
                            };
                            let (checked, skipped) = r.configurations();
                            json!({
                                "guard": r.guard,
                                "ablation": r.ablation.name(),
                                "class": r.class(),
                                "configuration": configuration,
                                "property": property,
                                "panic": message,
                                "reason": r.equivalent.or(r.gap),
                                "configurations_checked": checked,
                                "configurations_skipped": skipped,
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

/// (killed, equivalent, known gaps, total).
fn score(rows: &[AblationRow]) -> (usize, usize, usize, usize) {
    let n = |class| rows.iter().filter(|r| r.class() == class).count();
    (n("killed"), n("equivalent"), n("gap"), rows.len())
}

fn print_ablations(all: &[(Protocol, Vec<AblationRow>)], profile: Profile, only: Option<&str>) {
    for (p, rows) in all {
        let (killed, eq, gaps, total) = score(rows);
        let denominator = total - eq;
        println!(
            "== {} ablations{} against profile {}: {killed} of {denominator} non-equivalent \
             killed (mutation score {:.0} %), {eq} equivalent, {gaps} known gaps of the properties",
            p.name(),
            only.map(|o| format!(" of the guards starting with {}", o.replace(',', ", ")))
                .unwrap_or_default(),
            profile.name(),
            if denominator == 0 {
                100.0
            } else {
                100.0 * killed as f64 / denominator as f64
            }
        );
        for r in rows {
            let what = match (&r.outcome, r.equivalent, r.gap) {
                (AblationOutcome::Killed { configuration, property }, None, None) => {
                    format!("killed by {property} in {configuration}")
                }
                (AblationOutcome::Killed { configuration, property }, _, _) => format!(
                    "LISTED AS {}, yet {property} fails in {configuration}: remove it from the list",
                    if r.equivalent.is_some() { "EQUIVALENT" } else { "A KNOWN GAP" }
                ),
                (AblationOutcome::Survived { .. }, Some(reason), _) => {
                    format!("equivalent: {reason}")
                }
                (AblationOutcome::Survived { .. }, None, Some(reason)) => {
                    format!("survives, a known gap: {reason}")
                }
                (AblationOutcome::Survived { .. }, None, None) => {
                    "SURVIVED: no property tells it apart, and no reason is listed".to_string()
                }
                (AblationOutcome::Undecided { configuration, .. }, _, _) => format!(
                    "UNDECIDED: a search limit stopped {configuration} before it was exhaustive"
                ),
                (AblationOutcome::Crashed { configuration, message }, _, _) => {
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
