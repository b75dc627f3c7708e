//! `ballot replay` and `ballot conform`: model paths replayed on the real node runtime, and the
//! runtime's own schedules validated against the model (docs/conformance.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use ballot_conformance::raft::{self as raft_conformance};
use ballot_conformance::{divergence_trace, run_bounded, Divergence, Failure, Progress, Summary};
use ballot_models::raft::{Action, RaftModel};
use ballot_models::spec::Spec;
use ballot_models::trace::Trace;

use crate::bounds::Bounds;
use crate::report::count;
use crate::{protocols, Protocol, UsageError};

/// A run that shows no progress (no step, no enumeration) for this long has a node that does
/// not settle.
const DEFAULT_STALL_SECS: u64 = 30;

#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct ReplayArgs {
    /// A trace written by `ballot check`, `ballot conform` or a test (format ballot-trace/1).
    #[arg(value_name = "FILE")]
    trace: PathBuf,
    /// Where to write the divergence, if any [default: target/ballot/PROTOCOL-divergence.json].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print only the verdict, not the step table.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct ConformArgs {
    /// Protocol whose implementation to hold to its model (raft; fle and zab: not yet).
    #[arg(value_name = "PROTOCOL", value_enum)]
    protocol: Protocol,
    #[command(flatten)]
    bounds: Bounds,

    /// Replay paths that together take every model transition (a distinct pair of state and
    /// action) reachable within N steps. The default mode, at depth 10.
    #[arg(long, value_name = "N", help_heading = "What to replay",
          conflicts_with_all = ["walks", "simulate"])]
    depth: Option<u32>,
    /// Replay N seeded random walks of the model (for depths enumeration cannot reach).
    #[arg(
        long,
        value_name = "N",
        help_heading = "What to replay",
        conflicts_with = "simulate"
    )]
    walks: Option<u64>,
    /// Let the implementation choose: N steps, each uniform among what the nodes offer within
    /// the model's bounds (a message in flight, an armed timer, a crash or restart, a client
    /// request), each validated against the model.
    #[arg(long, value_name = "N", help_heading = "What to replay")]
    simulate: Option<u64>,
    /// Seed of --walks and --simulate; the same seed replays the same run.
    #[arg(long, default_value_t = 0, help_heading = "What to replay")]
    seed: u64,
    /// Longest random walk (--walks), or longest simulated run before a fresh cluster
    /// (--simulate).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 60,
        help_heading = "What to replay"
    )]
    walk_depth: usize,

    /// Where to write the divergence, if any [default: target/ballot/PROTOCOL-divergence.json].
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    out: Option<PathBuf>,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text", help_heading = "Output")]
    format: Format,
    /// No progress line on stderr.
    #[arg(long, short, help_heading = "Output")]
    quiet: bool,
    /// A run that makes no progress (no step replayed, no transition enumerated) for this many
    /// seconds is reported as a node that does not settle (exit 1).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_STALL_SECS, help_heading = "Output")]
    stall: u64,
}

fn default_out(protocol: &str) -> PathBuf {
    PathBuf::from(format!("target/ballot/{protocol}-divergence.json"))
}

fn only_raft(protocol: &str, what: &str) -> Result<()> {
    if protocol == "raft" {
        return Ok(());
    }
    Err(UsageError(format!(
        "{what}: conformance of {protocol} is not built yet (the FLE/ZAB node does not exist); \
         supported: raft"
    ))
    .into())
}

/// `ballot replay FILE`.
pub fn replay(args: ReplayArgs) -> Result<u8> {
    let file = args.trace.display().to_string();
    let trace = Trace::read(&args.trace).map_err(|e| {
        let text = e.to_string();
        if text.contains(&file) {
            UsageError(text)
        } else {
            UsageError(format!("{file}: {text}"))
        }
    })?;
    only_raft(&trace.protocol, &file)?;
    let (model, actions) = trace
        .replay::<RaftModel>()
        .map_err(|e| UsageError(format!("{file}: {e}")))?;
    if let Some(d) = &trace.divergence {
        eprintln!(
            "{file}: recorded divergence at step {}: {}",
            d["step"],
            d["class"].as_str().unwrap_or("?")
        );
    }
    println!(
        "== replay {file} on real raft nodes ({}, {} steps)",
        model.summary(),
        actions.len()
    );
    let quiet = args.quiet;
    let start = Instant::now();
    let result = raft_conformance::replay(&model, &actions, None, |i, a| {
        if !quiet {
            println!("   {i:>4}  {:<70}  ok", a.to_string());
        }
    });
    let secs = start.elapsed().as_secs_f64();
    match result {
        Ok(steps) => {
            println!(
                "   PASS: all {steps} steps conform ({:.1} ms)",
                secs * 1000.0
            );
            Ok(0)
        }
        Err(divergence) => {
            if !quiet {
                println!(
                    "   {:>4}  {:<70}  DIVERGED",
                    divergence.step, divergence.action
                );
            }
            let path = args.out.unwrap_or_else(|| default_out(&trace.protocol));
            let taken = &actions[..divergence.step.min(actions.len())];
            write_divergence(&model, taken, &divergence, &path)?;
            print_divergence(&divergence, &path);
            Ok(1)
        }
    }
}

/// `ballot conform PROTOCOL`.
pub fn conform(args: ConformArgs) -> Result<u8> {
    let protocol = args.protocol.name();
    only_raft(protocol, "ballot conform")?;
    args.bounds.only_for(protocol)?;
    if args.walk_depth == 0 {
        return Err(UsageError("--walk-depth: must be at least 1".into()).into());
    }
    let model: RaftModel = protocols::build_raft(&args.bounds)?;
    let (mode, label) = match (args.walks, args.simulate) {
        (Some(n), _) => (
            Mode::Walks(n),
            format!(
                "{} random walks of ≤ {} steps, seed {}",
                count(n),
                args.walk_depth,
                args.seed
            ),
        ),
        (_, Some(n)) => (
            Mode::Simulate(n),
            format!(
                "{} implementation-chosen steps in runs of ≤ {}, seed {}",
                count(n),
                args.walk_depth,
                args.seed
            ),
        ),
        _ => {
            let d = args.depth.unwrap_or(10);
            (Mode::Depth(d), format!("every transition within depth {d}"))
        }
    };
    if args.format == Format::Text {
        println!("== conform raft ({})", model.summary());
        println!("   {label}, on the real node runtime");
    }
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let work = {
        let (model, progress) = (model.clone(), progress.clone());
        let (seed, walk_depth) = (args.seed, args.walk_depth);
        move || match mode {
            Mode::Depth(d) => raft_conformance::conform_depth(&model, d, None, &progress),
            Mode::Walks(n) => {
                raft_conformance::conform_walks(&model, n, seed, walk_depth, None, &progress)
            }
            Mode::Simulate(n) => {
                raft_conformance::simulate(&model, n, seed, walk_depth, None, &progress)
            }
        }
    };
    let quiet = args.quiet;
    let tick = |p: &Progress| {
        if !quiet {
            let (steps, paths, covered, total) = p.read();
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            let cov = if total > 0 && matches!(mode, Mode::Depth(_)) {
                format!("  {covered}/{total} transitions")
            } else {
                String::new()
            };
            eprint!(
                "\r   {} steps  {} paths{cov}  {:.0} steps/s  {:.0} s   ",
                count(steps),
                count(paths),
                steps as f64 / secs,
                secs
            );
        }
    };
    let outcome = run_bounded(
        progress.clone(),
        Duration::from_secs(args.stall.max(1)),
        Duration::from_millis(500),
        tick,
        work,
    );
    if !quiet {
        eprint!("\r{:100}\r", "");
    }
    let secs = start.elapsed().as_secs_f64();
    let out = args.out.clone().unwrap_or_else(|| default_out(protocol));
    let (steps, paths, _, _) = progress.read();
    let (summary, diverged) = match outcome {
        Err(stalled) => {
            println!(
                "   FAIL: node did not settle: no progress for {} s after {} steps (a node that \
                 never yields)",
                args.stall, stalled.steps
            );
            return Ok(1);
        }
        Ok(Ok(summary)) => (summary, None),
        Ok(Err(Failure::Usage(message))) => return Err(UsageError(message).into()),
        Ok(Err(Failure::Diverged {
            divergence,
            actions,
            more_stopped,
        })) => {
            write_divergence(&model, &actions, &divergence, &out)?;
            if more_stopped > 0 {
                println!(
                    "   a node stopped on {} more path(s); the run went on past each",
                    count(more_stopped)
                );
            }
            (
                Summary {
                    steps,
                    paths,
                    ..Summary::default()
                },
                Some(divergence),
            )
        }
    };
    let rate = summary.steps as f64 / secs.max(1e-9);
    let complete = !matches!(mode, Mode::Depth(_)) || summary.covered == summary.transitions;
    let code = if diverged.is_some() || !complete {
        1
    } else {
        0
    };
    match args.format {
        Format::Text => {
            if let Mode::Depth(_) = mode {
                if diverged.is_none() {
                    println!(
                        "   transitions {} of {} covered ({:.1} %)",
                        count(summary.covered),
                        count(summary.transitions),
                        100.0 * summary.covered as f64 / summary.transitions.max(1) as f64
                    );
                }
            } else if summary.covered > 0 {
                println!(
                    "   distinct transitions replayed {}",
                    count(summary.covered)
                );
            }
            println!(
                "   paths {}   steps {}   time {:.2} s   steps/s {} (target 10,000)",
                count(summary.paths),
                count(summary.steps),
                secs,
                count(rate as u64)
            );
            match &diverged {
                Some(d) => print_divergence(d, &out),
                None if complete => println!("   PASS: no divergence"),
                None => println!("   FAIL: not every transition was replayed"),
            }
        }
        Format::Json => {
            let json = serde_json::json!({
                "protocol": protocol,
                "config": model.config(),
                "mode": label,
                "paths": summary.paths,
                "steps": summary.steps,
                "transitions": summary.transitions,
                "covered": summary.covered,
                "seconds": secs,
                "steps_per_second": rate,
                "divergence": diverged,
                "divergence_trace": diverged.as_ref().map(|_| out.display().to_string()),
                "exit_code": code,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&json).expect("serialises")
            );
        }
    }
    Ok(code)
}

#[derive(Clone, Copy)]
enum Mode {
    Depth(u32),
    Walks(u64),
    Simulate(u64),
}

fn write_divergence(
    model: &RaftModel,
    actions: &[Action],
    divergence: &Divergence,
    path: &Path,
) -> Result<()> {
    let trace = divergence_trace(model, actions, divergence);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: cannot create its directory", path.display()))?;
    }
    std::fs::write(path, trace.to_json())
        .with_context(|| format!("--out {}: cannot write", path.display()))?;
    // The model's steps up to the divergence, as a sequence diagram beside the trace.
    // A diagram that cannot be drawn must not hide the divergence itself: say so and go on.
    let svg = crate::diagrams::svg_beside(path);
    match crate::diagrams::of_trace(&trace, path) {
        Ok(diagram) => std::fs::write(&svg, diagram.to_svg())
            .with_context(|| format!("{}: cannot write", svg.display())),
        Err(e) => {
            eprintln!("note: no sequence diagram for the divergence: {e:#}");
            Ok(())
        }
    }
}

fn print_divergence(d: &Divergence, path: &Path) {
    println!(
        "   DIVERGENCE at step {} ({}): {}",
        d.step,
        d.action,
        d.class.name()
    );
    for line in &d.details {
        println!("     - {line}");
    }
    println!("   trace: {}", path.display());
    let svg = crate::diagrams::svg_beside(path);
    if svg.exists() {
        println!("   sequence diagram: {}", svg.display());
    }
    println!("   replay it: ballot replay {}", path.display());
    println!("   open it:   ballot explore --trace {}", path.display());
}
