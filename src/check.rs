//! `ballot check`: builds each model from the flags, runs an engine with a progress line on
//! stderr, then reports verdicts, figures and counterexamples, and writes trace files.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use stateright::{Checker, Expectation};

use ballot_models::config::Profile;
use ballot_models::engine::{
    self, CheckOptions, Discovery, Progress, StopReason, Strategy, Verdict,
};
use ballot_models::spec::Spec;
use ballot_models::trace::Trace;

use crate::bounds::Bounds;
use crate::report::{self, Format, PropertyRow, RunReport, Stats};
use crate::{protocols, Protocol, UsageError};

const CHECK_EXAMPLES: &str = concat!(
    "Examples:\n",
    "  ballot check                       every protocol, every configuration of its CI profile\n",
    "  ballot check raft --profile quick  Raft at its default bounds alone (seconds)\n",
    "  ballot check raft --mutant m1 --profile ci\n",
    "                                     is the seeded bug caught without its tailored bounds?\n",
    "  ballot check raft --max-term 4     Raft with a deeper bound\n",
    "  ballot check raft --mutant m3      a seeded bug: exits 1 and writes its counterexample\n",
    "  ballot check raft --list-mutants   the seeded bugs, their bounds and expected violations\n",
    "  ballot check --coverage --require-coverage\n",
    "                                     per rule of each contract: how often it fired, and\n",
    "                                     each guard's true/false counts; exit 1 on a gap\n",
    "  ballot check raft --ablate         the properties' mutation score: every guard dropped,\n",
    "                                     inverted, and quorums one smaller\n",
    "  ballot check raft --ablation raft.vote.grant/log-term:drop\n",
    "                                     one ablation, checked and reported like a mutant",
);

#[derive(Args)]
// `--timeout -1` is a bad value for --timeout, not an unknown argument.
#[command(allow_negative_numbers = true)]
#[command(after_help = CHECK_EXAMPLES)]
pub struct CheckArgs {
    /// Protocol to check: raft, fle, zab, or all.
    #[arg(value_name = "PROTOCOL", default_value = "all", value_parser = parse_protocols)]
    protocol: ProtocolChoice,

    #[command(flatten)]
    pub bounds: Bounds,

    /// Run a named set of configurations per protocol: quick (the default bounds alone), ci
    /// (small configurations from an empty start, each aimed at other rules; the
    /// default when neither a bound flag nor --mutant is given) or deep (ci plus deeper bounds,
    /// for a nightly run). Each configuration is reported on its own. With --mutant, each
    /// configuration carries the bug and the run stops at the first that catches it. Bound
    /// flags check one configuration instead and cannot be combined with --profile.
    #[arg(long, value_name = "NAME", value_parser = parse_profile,
          help_heading = "Bounds (default: the CI profile; with --mutant, its own bounds)")]
    pub profile: Option<Profile>,

    /// Check a seeded bug (name or reference number, see --list-mutants). Its smallest exposing
    /// bounds become the defaults; bound flags still override them.
    #[arg(long, value_name = "NAME", help_heading = "Seeded bugs")]
    pub mutant: Option<String>,
    /// List the seeded bugs of the protocol(s) (with `--format json`, for scripts) and exit.
    #[arg(long, help_heading = "Seeded bugs")]
    list_mutants: bool,

    /// Search strategy: bfs (shortest counterexamples), dfs (small memory), sim (seeded random
    /// walks; never exhaustive, so a clean run exits 3).
    #[arg(long, value_enum, default_value = "bfs", help_heading = "Search")]
    strategy: StrategyArg,
    /// Worker threads [default: the number of CPUs].
    #[arg(long, value_name = "N", help_heading = "Search")]
    threads: Option<usize>,
    /// Seed of the random walks (sim).
    #[arg(long, default_value_t = 0, help_heading = "Search")]
    seed: u64,
    /// Number of random walks (sim).
    #[arg(
        long,
        default_value_t = 10_000,
        value_name = "N",
        help_heading = "Search"
    )]
    walks: u64,
    /// Maximum length of a random walk (sim).
    #[arg(long, default_value_t = 200, value_name = "N", help_heading = "Search")]
    walk_depth: usize,
    /// Stop after this many seconds; the run is then incomplete (exit 3 unless a violation was
    /// found). With --ablate: per configuration of each ablation.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, help_heading = "Search")]
    timeout: Option<Duration>,
    /// Stop after this many unique states (incomplete). With --ablate: per configuration of
    /// each ablation.
    #[arg(long, value_name = "N", help_heading = "Search")]
    max_states: Option<u64>,
    /// Reduce by symmetry of server ids, in every strategy, for models that are symmetric (Raft;
    /// not FLE, where server ids order votes). Counts are then symmetry classes.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set, help_heading = "Search")]
    symmetry: bool,
    /// Stop at the first violation instead of deciding every property.
    #[arg(long, help_heading = "Search")]
    fail_fast: bool,
    /// With --mutant: keep checking after the expected violation is found, to decide every
    /// property (by default the run stops there).
    #[arg(long, help_heading = "Search")]
    all_properties: bool,
    /// Checking engine: ballot's own, or Stateright's built-in checkers (for comparison: no
    /// shortest counterexamples, no symmetry under bfs, timeout ignored with one thread).
    #[arg(long, value_enum, default_value = "ballot", help_heading = "Search")]
    engine: EngineArg,

    /// Where to write the first counterexample [default: target/ballot/PROTOCOL-PROPERTY.json,
    /// one file per violated property].
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    trace_out: Option<PathBuf>,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text", help_heading = "Output")]
    format: Format,
    /// Also write a JUnit XML report (one test case per property) to FILE.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    junit: Option<PathBuf>,
    /// Also write one self-contained HTML page to FILE: the property table, rule coverage (with
    /// --coverage), and each counterexample with its sequence diagram and step table.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    html: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long, short, help_heading = "Output")]
    quiet: bool,

    /// Count, per rule of the protocol's contract (docs/protocols/*.md, by id), how often it
    /// fired and, per guard, how often it was seen true and false; print the table after the
    /// verdicts (JSON: a `coverage` field). Engine ballot only.
    #[arg(long, help_heading = "Rule coverage and ablation")]
    coverage: bool,
    /// With --coverage: exit 1 if a rule never fired or a guard was never seen both true and
    /// false (what CI asserts of the CI profile).
    #[arg(
        long,
        requires = "coverage",
        help_heading = "Rule coverage and ablation"
    )]
    require_coverage: bool,
    /// The properties' mutation score: check the profile (--profile, default ci) once per
    /// ablation of every guard (drop: the check is gone; invert; quorum-1: a quorum one
    /// smaller), stopping each at the first failing property. A first pass counts, per
    /// configuration, where the correct model evaluates each guard; an ablation is checked
    /// only on the configurations where it can change a step. --max-states and --timeout limit
    /// each configuration (a stopped one leaves the ablation undecided). Exits 1 if an ablation
    /// survives without a written reason (equivalent, or a known gap of the properties), is
    /// undecided, or crashes the model.
    #[arg(long, conflicts_with_all = ["mutant", "coverage", "ablation"], help_heading = "Rule coverage and ablation")]
    ablate: bool,
    /// Check with one guard ablated, like a mutant: GUARD:KIND, e.g.
    /// `raft.vote.grant/log-term:drop` (kinds: drop, invert, quorum-1; --coverage lists
    /// the guard ids). One protocol only.
    #[arg(
        long,
        value_name = "GUARD:KIND",
        help_heading = "Rule coverage and ablation"
    )]
    ablation: Option<String>,
    /// With --ablate: only the guards whose id starts with one of these comma-separated
    /// prefixes (e.g. `raft.prevote,raft.lease` or `raft.append.response/behind`), to score the
    /// rules being worked on.
    #[arg(
        long,
        value_name = "PREFIXES",
        requires = "ablate",
        help_heading = "Rule coverage and ablation"
    )]
    ablate_only: Option<String>,
}

#[derive(Clone, Debug)]
struct ProtocolChoice(Vec<Protocol>, &'static str);

fn parse_protocols(s: &str) -> Result<ProtocolChoice, String> {
    if s == "all" {
        // Smallest peak memory first: "peak memory" is the process's high-water mark, so in this
        // order each run's figure is its own.
        let order = vec![Protocol::Zab, Protocol::Raft, Protocol::Fle];
        debug_assert_eq!(order.len(), Protocol::all().len());
        return Ok(ProtocolChoice(order, "all"));
    }
    Protocol::all()
        .into_iter()
        .find(|p| p.name() == s)
        .map(|p| ProtocolChoice(vec![p], p.name()))
        .ok_or_else(|| {
            let names: Vec<&str> = Protocol::all().iter().map(|p| p.name()).collect();
            format!(
                "unknown protocol `{s}` (accepted: {}, all)",
                names.join(", ")
            )
        })
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("`{s}` must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StrategyArg {
    Bfs,
    Dfs,
    Sim,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    Ballot,
    Stateright,
}

pub fn run(args: CheckArgs) -> Result<u8> {
    let protocols = args.protocol.0.clone();
    args.bounds.only_for(args.protocol.1)?;
    if args.list_mutants {
        let mut rows = Vec::new();
        for p in &protocols {
            rows.extend(protocols::list_mutants(*p, args.format));
        }
        if args.format == Format::Json {
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).expect("catalogue serialises")
            );
        }
        return Ok(0);
    }
    if args.mutant.is_some() && protocols.len() != 1 {
        return Err(UsageError(
            "--mutant names a bug of one protocol: name the protocol (e.g. `ballot check raft --mutant m3`)"
                .into(),
        )
        .into());
    }
    if args.threads == Some(0) {
        return Err(UsageError("--threads: must be at least 1".into()).into());
    }
    if args.engine == EngineArg::Stateright && args.strategy == StrategyArg::Sim {
        return Err(UsageError(
            "--engine stateright supports --strategy bfs and dfs only (its simulation checker records wrong paths in 0.31)".into(),
        )
        .into());
    }
    if let (Some(profile), Some(flag)) = (args.profile, args.bounds.first_given()) {
        return Err(UsageError(format!(
            "--profile {} runs its own configurations and {flag} sets the bounds of one: give one or the other",
            profile.name()
        ))
        .into());
    }
    if args.engine == EngineArg::Stateright && (args.coverage || args.ablate) {
        return Err(UsageError(
            "--coverage and --ablate count inside ballot's engine: drop --engine stateright".into(),
        )
        .into());
    }
    if args.ablate {
        if let Some(flag) = args.bounds.first_given() {
            return Err(UsageError(format!(
                "--ablate checks every configuration of a profile, and {flag} sets the bounds of one: give --profile instead"
            ))
            .into());
        }
        let opts = options(&args);
        return crate::coverage::ablate(
            &protocols,
            args.profile.unwrap_or(Profile::Ci),
            opts.threads,
            args.ablate_only.as_deref(),
            ballot_models::spec::SearchLimits {
                max_states: opts.max_states,
                timeout: opts.timeout,
            },
            args.format,
            args.quiet,
        );
    }
    let ablation = match &args.ablation {
        None => None,
        Some(spec) => match protocols.as_slice() {
            [p] => Some(crate::coverage::set_ablation(*p, spec)?),
            _ => {
                return Err(UsageError(
                    "--ablation names a guard of one protocol: name the protocol (e.g. `ballot check raft --ablation …`)".into(),
                )
                .into())
            }
        },
    };
    let mut runs = Vec::new();
    let mut coverage = Vec::new();
    for p in protocols {
        if args.coverage {
            ballot_models::coverage::enable(true);
            let _ = ballot_models::coverage::take();
        }
        let result = protocols::check(p, &args);
        if args.coverage {
            let counts = ballot_models::coverage::take();
            ballot_models::coverage::enable(false);
            coverage.push(crate::coverage::CoverageReport::new(p, counts));
        }
        runs.extend(result?);
    }
    ballot_models::coverage::set_ablation(None);
    if let Some(label) = &ablation {
        for run in &mut runs {
            run.summary = format!("{}, ablation {label}", run.summary);
            run.ablation = Some(label.clone());
        }
    }
    let mut code = report::exit_code(&runs);
    let gaps: usize = coverage.iter().map(|c| c.gaps.len()).sum();
    if args.require_coverage && gaps > 0 {
        code = 1;
    }
    match args.format {
        Format::Text => {
            report::print_text(&runs);
            for c in &coverage {
                c.print_text();
            }
            if args.coverage {
                if gaps == 0 {
                    println!("coverage: every rule fired and every guard decided both ways");
                } else {
                    println!("coverage: {gaps} gaps");
                    for c in &coverage {
                        for g in &c.gaps {
                            println!("   {g}");
                        }
                    }
                }
            }
        }
        Format::Json => report::print_json(
            &runs,
            code,
            args.coverage
                .then(|| coverage.iter().map(|c| c.to_json()).collect::<Vec<_>>()),
        ),
    }
    if let Some(path) = &args.html {
        let tables: Vec<serde_json::Value> = coverage.iter().map(|c| c.to_json()).collect();
        crate::diagrams::write_html(path, &runs, &tables)?;
    }
    if let Some(path) = &args.junit {
        report::write_junit(path, &runs)
            .with_context(|| format!("--junit {}: cannot write", path.display()))?;
    }
    Ok(code)
}

impl CheckArgs {
    /// The profile this invocation runs: the one named, or `ci` when neither a bound flag nor
    /// a mutant (whose own bounds are then the default) is given; `None`: one configuration.
    pub fn profile_to_run(&self) -> Option<Profile> {
        match (self.profile, &self.mutant, self.bounds.first_given()) {
            (Some(p), _, _) => Some(p),
            (None, None, None) => Some(Profile::Ci),
            _ => None,
        }
    }
}

/// Checks every configuration of `profile` (with the mutant, if one is named), in order; with a
/// mutant, stops after the first configuration in which a property fails (unless
/// --all-properties).
pub fn check_profile<S: Spec>(profile: Profile, args: &CheckArgs) -> Result<Vec<RunReport>> {
    let entries = S::profile(profile);
    let mut runs = Vec::new();
    for (k, entry) in entries.iter().enumerate() {
        let spec = S::build(entry.config.clone(), args.mutant.as_deref())?;
        let label = format!(
            "{}/{} ({}/{})",
            S::PROTOCOL,
            entry.name,
            k + 1,
            entries.len()
        );
        let mut run = check_one(&spec, args, &label, Some(entry.name))?;
        run.profile = Some(profile.name());
        run.configuration = Some(entry.name);
        run.purpose = Some(entry.purpose);
        // Caught: any property failed, not only the one the catalogue expects at the bug's
        // own bounds (a stronger property may see it first).
        let caught = args.mutant.is_some() && run.exit_code() == 1;
        runs.push(run);
        if caught && !args.all_properties {
            break;
        }
    }
    Ok(runs)
}

fn options(args: &CheckArgs) -> CheckOptions {
    CheckOptions {
        strategy: match args.strategy {
            StrategyArg::Bfs => Strategy::Bfs,
            StrategyArg::Dfs => Strategy::Dfs,
            StrategyArg::Sim => Strategy::Sim,
        },
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        timeout: args.timeout,
        max_states: args.max_states,
        symmetry: args.symmetry,
        fail_fast: args.fail_fast,
        stop_when_found: Vec::new(),
        seed: args.seed,
        walks: args.walks,
        walk_depth: args.walk_depth,
    }
}

/// Sets the flag that stops [`progress_reporter`] when dropped: also when the search panics,
/// so that a panic ends the process instead of leaving the reporter ticking forever inside
/// `thread::scope` (found when a model bug made path reconstruction panic).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Prints a progress line on stderr every second until `done`: rewritten in place on a terminal,
/// one line every 10 s otherwise (CI logs).
fn progress_reporter(
    protocol: &str,
    done: &AtomicBool,
    read: impl Fn() -> (u64, u64, u64, &'static str),
    quiet: bool,
) {
    if quiet {
        return;
    }
    let tty = std::io::stderr().is_terminal();
    let every = if tty { 10 } else { 100 }; // ticks of 100 ms
    let start = std::time::Instant::now();
    let mut tick = 0u64;
    let mut last_unique = 0u64;
    let mut last_time = 0.0f64;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        tick += 1;
        if !tick.is_multiple_of(every) || done.load(Ordering::Relaxed) {
            continue;
        }
        let (generated, unique, depth, stage) = read();
        let t = start.elapsed().as_secs_f64();
        let rate = (unique - last_unique.min(unique)) as f64 / (t - last_time).max(1e-9);
        (last_unique, last_time) = (unique, t);
        let line = if stage.is_empty() {
            format!(
                "[{protocol}] {} states, {} unique, {}/s, depth {depth}, {t:.0}s",
                report::count(generated),
                report::count(unique),
                report::count(rate as u64)
            )
        } else {
            format!(
                "[{protocol}] search done ({} unique, {} edges); {stage}, {t:.0}s",
                report::count(unique),
                report::count(generated)
            )
        };
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r\x1b[K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
    if tty {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
}

pub fn check_spec<S: Spec>(spec: &S, args: &CheckArgs) -> Result<RunReport> {
    check_one(spec, args, S::PROTOCOL, None)
}

/// Checks one model; `label` names it on the progress line, `configuration` (a profile entry's
/// name) goes into its trace files' names so that the configurations of a profile do not
/// overwrite each other's.
fn check_one<S: Spec>(
    spec: &S,
    args: &CheckArgs,
    label: &str,
    configuration: Option<&str>,
) -> Result<RunReport> {
    let mut opts = options(args);
    if !args.all_properties {
        if let Some(expected) = spec
            .mutant_name()
            .and_then(|n| S::mutants().into_iter().find(|m| m.name == n))
        {
            opts.stop_when_found = vec![expected.breaks.to_string()];
            // In a profile any failing property catches the bug, so the first one ends the
            // search (a stronger property may fail before the catalogued one).
            opts.fail_fast |= configuration.is_some();
        }
    }
    let (rows, stats) = match args.engine {
        EngineArg::Ballot => run_ballot(spec, &opts, args.quiet, label),
        EngineArg::Stateright => run_stateright(spec, &opts, args.quiet, label),
    };
    let mut properties = Vec::new();
    let mut first_trace = true;
    for (name, expectation, verdict, discovery) in rows {
        let mut row = PropertyRow {
            name,
            kind: match expectation {
                Expectation::Always => "always",
                Expectation::Sometimes => "sometimes",
                Expectation::Eventually => "eventually",
            },
            verdict,
            length: discovery.as_ref().map(|d| d.actions.len()),
            found_after: discovery.as_ref().map(|d| d.found_after),
            steps: Vec::new(),
            trace_path: None,
            diagram: None,
            svg_path: None,
        };
        if let (Some(d), Verdict::Violated) = (&discovery, verdict) {
            row.steps = render_steps(spec, d);
            let path = match (&args.trace_out, first_trace) {
                (Some(p), true) => p.clone(),
                _ => PathBuf::from(match configuration {
                    Some(c) => format!("target/ballot/{}-{c}-{name}.json", S::PROTOCOL),
                    None => format!("target/ballot/{}-{name}.json", S::PROTOCOL),
                }),
            };
            first_trace = false;
            let trace = Trace::from_discovery(spec, Some(name), d);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&path, trace.to_json())
                .with_context(|| format!("--trace-out {}: cannot write", path.display()))?;
            let diagram = crate::diagrams::of_discovery(spec, name, d);
            let svg_path = crate::diagrams::svg_beside(&path);
            std::fs::write(&svg_path, diagram.to_svg())
                .with_context(|| format!("{}: cannot write", svg_path.display()))?;
            row.trace_path = Some(path);
            row.svg_path = Some(svg_path);
            row.diagram = Some(diagram);
        }
        properties.push(row);
    }
    Ok(RunReport {
        protocol: S::PROTOCOL,
        summary: spec.summary(),
        config: serde_json::to_value(spec.config())?,
        mutant: spec.mutant_name(),
        expected: spec
            .mutant_name()
            .and_then(|n| S::mutants().into_iter().find(|m| m.name == n))
            .map(|m| m.breaks),
        engine: match args.engine {
            EngineArg::Ballot => "ballot",
            EngineArg::Stateright => "stateright",
        },
        strategy: opts.strategy.name(),
        threads: opts.threads,
        symmetry: opts.symmetry && spec.symmetric() && args.engine == EngineArg::Ballot,
        profile: None,
        configuration: None,
        purpose: None,
        ablation: None,
        properties,
        stats,
    })
}

type Row<A> = (&'static str, Expectation, Verdict, Option<Discovery<A>>);

fn run_ballot<S: Spec>(
    spec: &S,
    opts: &CheckOptions,
    quiet: bool,
    label: &str,
) -> (Vec<Row<S::Act>>, Stats) {
    let progress = Progress::new();
    let done = AtomicBool::new(false);
    let representative = |s: &S::St| spec.representative(s);
    let symmetry: Option<engine::Representative<'_, S::St>> =
        spec.symmetric().then_some(&representative);
    let outcome = std::thread::scope(|scope| {
        scope.spawn(|| {
            progress_reporter(
                label,
                &done,
                || {
                    let s = progress.snapshot();
                    (s.generated, s.unique, s.depth, s.stage)
                },
                quiet,
            )
        });
        let _stop = StopOnDrop(&done);
        engine::check_with(spec, opts, symmetry, spec.codec(), &progress)
    });
    let rows = outcome
        .properties
        .into_iter()
        .map(|p| (p.name, p.expectation, p.verdict, p.discovery))
        .collect();
    let s = outcome.stats;
    (
        rows,
        Stats {
            generated: s.generated,
            unique: s.unique,
            max_depth: s.max_depth as u64,
            elapsed: s.elapsed,
            stop: s.stop,
            peak_rss: report::peak_rss_bytes(),
            visited_bytes: Some(s.visited_bytes),
        },
    )
}

/// Runs Stateright's own checker on the same model, for side-by-side figures.
fn run_stateright<S: Spec>(
    spec: &S,
    opts: &CheckOptions,
    quiet: bool,
    label: &str,
) -> (Vec<Row<S::Act>>, Stats) {
    let start = std::time::Instant::now();
    let mut builder = spec.clone().checker().threads(opts.threads);
    if let Some(t) = opts.timeout {
        builder = builder.timeout(t);
    }
    if let Some(n) = opts.max_states {
        builder = builder.target_state_count(n as usize);
    }
    match opts.strategy {
        Strategy::Dfs => drive_stateright(spec, builder.spawn_dfs(), start, opts, quiet, label),
        _ => drive_stateright(spec, builder.spawn_bfs(), start, opts, quiet, label),
    }
}

fn drive_stateright<S: Spec, C: Checker<S> + Sync>(
    spec: &S,
    checker: C,
    start: std::time::Instant,
    opts: &CheckOptions,
    quiet: bool,
    label: &str,
) -> (Vec<Row<S::Act>>, Stats) {
    let done = AtomicBool::new(false);
    let elapsed = std::thread::scope(|scope| {
        let c = &checker;
        scope.spawn(|| {
            progress_reporter(
                label,
                &done,
                || {
                    (
                        c.state_count() as u64,
                        c.unique_state_count() as u64,
                        c.max_depth() as u64,
                        "",
                    )
                },
                quiet,
            )
        });
        let _stop = StopOnDrop(&done);
        while !checker.is_done() {
            std::thread::sleep(Duration::from_millis(5));
        }
        start.elapsed()
    });
    let timed_out = opts.timeout.is_some_and(|t| elapsed >= t);
    let limited = opts
        .max_states
        .is_some_and(|n| checker.unique_state_count() as u64 >= n);
    let discoveries = checker.discoveries();
    let complete = !timed_out && !limited;
    let rows = spec
        .properties()
        .into_iter()
        .map(|p| {
            let d = discoveries.get(p.name).map(|path| Discovery {
                init: 0,
                actions: path.clone().into_actions(),
                found_after: elapsed,
            });
            let verdict = match (&p.expectation, d.is_some(), complete) {
                (Expectation::Sometimes, true, _) => Verdict::Found,
                (Expectation::Sometimes, false, true) => Verdict::Missing,
                (_, true, _) => Verdict::Violated,
                (_, false, true) => Verdict::Holds,
                (_, false, false) => Verdict::Unknown,
            };
            (p.name, p.expectation, verdict, d)
        })
        .collect();
    (
        rows,
        Stats {
            generated: checker.state_count() as u64,
            unique: checker.unique_state_count() as u64,
            max_depth: checker.max_depth() as u64,
            elapsed,
            stop: if timed_out {
                StopReason::Timeout
            } else if limited {
                StopReason::StateLimit
            } else {
                StopReason::Exhausted
            },
            peak_rss: report::peak_rss_bytes(),
            visited_bytes: None,
        },
    )
}

/// The counterexample as numbered lines: each action with what it changed.
fn render_steps<S: Spec>(spec: &S, d: &Discovery<S::Act>) -> Vec<String> {
    let mut state = spec.init_states()[d.init].clone();
    d.actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let next = spec
                .next_state(&state, a.clone())
                .expect("a discovered path replays on its model");
            let line = format!(
                "{:>3}. {a}\n       {}",
                i + 1,
                spec.describe_change(&state, &next)
            );
            state = next;
            line
        })
        .collect()
}
