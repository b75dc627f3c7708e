//! Counterexamples people can look at: `ballot trace show` (a trace file as a step table, an SVG
//! sequence diagram or Mermaid text) and `ballot check --html` (one self-contained page with the
//! property table, rule coverage and every counterexample's diagram and steps). The diagrams
//! themselves come from `ballot_models::diagram`, the renderer the Explorer uses too.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use ballot_models::diagram::{self, xml, Diagram};
use ballot_models::engine::{Discovery, Verdict};
use ballot_models::fle::FleModel;
use ballot_models::raft::RaftModel;
use ballot_models::spec::Spec;
use ballot_models::trace::Trace;
use ballot_models::zab::ZabModel;

use crate::report::{count, RunReport};
use crate::{Protocol, UsageError};

#[derive(Args)]
pub struct TraceArgs {
    #[command(subcommand)]
    command: TraceCommand,
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Render a trace file (a counterexample from `ballot check`, a conformance divergence, any
    /// `ballot-trace/1` file): by default a step table on stdout; --svg writes a sequence
    /// diagram, --mermaid prints one as Mermaid text. The trace is replayed on its model first,
    /// so a file that does not match the model is rejected, naming the step.
    Show(ShowArgs),
}

#[derive(Args)]
#[command(after_help = concat!(
    "Examples:\n",
    "  ballot trace show target/ballot/raft-m3-election_safety.json\n",
    "  ballot trace show T.json --svg T.svg    servers as lifelines, messages as arrows\n",
    "  ballot trace show T.json --mermaid      paste into any Mermaid renderer",
))]
struct ShowArgs {
    /// The trace file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write the sequence diagram as a self-contained SVG to OUT.
    #[arg(long, value_name = "OUT", conflicts_with = "mermaid")]
    svg: Option<PathBuf>,
    /// Print the sequence diagram as Mermaid `sequenceDiagram` text.
    #[arg(long)]
    mermaid: bool,
}

pub fn run(args: TraceArgs) -> Result<u8> {
    match args.command {
        TraceCommand::Show(show) => run_show(show),
    }
}

fn run_show(args: ShowArgs) -> Result<u8> {
    let trace = Trace::read(&args.file).map_err(|e| UsageError(e.to_string()))?;
    let diagram = of_trace(&trace, &args.file)?;
    if let Some(out) = &args.svg {
        std::fs::write(out, diagram.to_svg())
            .with_context(|| format!("--svg {}: cannot write", out.display()))?;
        println!(
            "{}: {} steps, {} messages delivered; diagram written to {}",
            args.file.display(),
            diagram.steps.len(),
            diagram.delivered(),
            out.display()
        );
    } else if args.mermaid {
        print!("{}", diagram.to_mermaid());
    } else {
        println!("{}", diagram.title);
        for (k, step) in diagram.steps.iter().enumerate() {
            println!("{:>4}. {step}", k + 1);
        }
        if let Some(v) = &diagram.violation {
            println!("   ✗ step {}: {}", v.step, v.text);
        }
        println!(
            "{} steps, {} messages delivered (--svg OUT or --mermaid for the diagram)",
            diagram.steps.len(),
            diagram.delivered()
        );
    }
    Ok(0)
}

/// The diagram of a trace file, replayed on the model its `protocol` names.
pub fn of_trace(trace: &Trace, path: &Path) -> Result<Diagram> {
    let diagram = match trace.protocol.as_str() {
        "raft" => trace.diagram::<RaftModel>(),
        "fle" => trace.diagram::<FleModel>(),
        "zab" => trace.diagram::<ZabModel>(),
        other => {
            return Err(UsageError(format!(
                "{}: protocol `{other}` is not supported (accepted: {})",
                path.display(),
                Protocol::all()
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into())
        }
    };
    diagram.map_err(|e| UsageError(format!("{}: {e}", path.display())).into())
}

/// The diagram of a counterexample `ballot check` found to `property`.
pub fn of_discovery<S: Spec>(spec: &S, property: &str, d: &Discovery<S::Act>) -> Diagram {
    let mut title = S::PROTOCOL.to_string();
    if let Some(m) = spec.mutant_name() {
        title.push_str(&format!(" (mutant {m})"));
    }
    title.push_str(&format!(": {property} — {}", spec.summary()));
    let init = spec.init_states()[d.init].clone();
    diagram::of_path(spec, title, &init, &d.actions, Some(property))
}

/// Where the SVG of a trace written to `trace` goes: beside it, `.svg` for `.json`.
pub fn svg_beside(trace: &Path) -> PathBuf {
    if trace.extension().is_some_and(|e| e == "svg") {
        let mut name = trace.as_os_str().to_owned();
        name.push(".diagram.svg");
        PathBuf::from(name)
    } else {
        trace.with_extension("svg")
    }
}

const HTML_STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:110em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;\
text-align:left;vertical-align:top}th{background:#eee}.violated,.missing,.gap{color:#b00;\
font-weight:bold}.holds,.found{color:#070}code,pre,.steps td{font-family:monospace;font-size:12px}\
.diagram{overflow-x:auto;border:1px solid #ddd;margin:.5em 0}section{margin-bottom:2.5em}";

/// Writes `runs` (and `coverage`, the `--coverage` tables as JSON) as one self-contained HTML
/// page: no scripts, no external resources.
pub fn write_html(path: &Path, runs: &[RunReport], coverage: &[serde_json::Value]) -> Result<()> {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        o,
        "<title>ballot check report</title><style>{HTML_STYLE}</style></head><body>"
    );
    let _ = write!(
        o,
        "<h1>ballot check</h1><p>exit code {}</p>",
        crate::report::exit_code(runs)
    );
    o.push_str("<h2>Properties</h2>");
    for (r, run) in runs.iter().enumerate() {
        let _ = write!(
            o,
            "<h3>{}{}</h3><p>{}{}</p><table class=\"properties\"><tr><th>property</th><th>kind</th><th>verdict</th><th>steps</th></tr>",
            run.protocol,
            run.configuration.map(|c| format!("/{c}")).unwrap_or_default(),
            xml(&run.summary),
            match (run.mutant, run.expected) {
                (Some(m), Some(e)) => format!(" — mutant <code>{}</code> is expected to violate <code>{}</code>", xml(m), xml(e)),
                _ => String::new(),
            }
        );
        for p in &run.properties {
            let verdict = p.verdict.name();
            let link = if p.diagram.is_some() {
                format!("<a href=\"#cx-{r}-{}\">{verdict}</a>", xml(p.name))
            } else {
                xml(verdict)
            };
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"{}\">{link}</td><td>{}</td></tr>",
                xml(p.name),
                p.kind,
                verdict_class(p.verdict),
                p.length.map(|n| n.to_string()).unwrap_or_default()
            );
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>Runs</h2><table><tr><th>run</th><th>mutant</th><th>states</th><th>unique</th><th>max depth</th><th>time</th><th>search</th></tr>");
    for run in runs {
        let s = &run.stats;
        let _ = write!(
            o,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2} s</td><td>{}</td></tr>",
            run.protocol,
            run.configuration.map(|c| format!("/{c}")).unwrap_or_default(),
            xml(run.mutant.unwrap_or("")),
            count(s.generated),
            count(s.unique),
            s.max_depth,
            s.elapsed.as_secs_f64(),
            xml(s.stop.describe())
        );
    }
    o.push_str("</table><h2>Rule coverage</h2>");
    if coverage.is_empty() {
        o.push_str("<p>Not measured in this run (add <code>--coverage</code>).</p>");
    }
    for c in coverage {
        html_coverage(&mut o, c);
    }
    o.push_str("<h2>Counterexamples</h2>");
    let mut any = false;
    for (r, run) in runs.iter().enumerate() {
        for p in &run.properties {
            let Some(diagram) = &p.diagram else { continue };
            any = true;
            let _ = write!(
                o,
                "<section class=\"counterexample\" id=\"cx-{r}-{}\"><h3>{} violated ({} steps)</h3><p>{}</p>",
                xml(p.name),
                xml(p.name),
                p.steps.len(),
                xml(&diagram.title)
            );
            if let Some(t) = &p.trace_path {
                let _ = write!(
                    o,
                    "<p>Trace: <code>{}</code> — open it with <code>ballot explore --trace {}</code></p>",
                    xml(&t.display().to_string()),
                    xml(&t.display().to_string())
                );
            }
            let _ = write!(o, "<div class=\"diagram\">{}</div>", diagram.to_svg());
            o.push_str(
                "<table class=\"steps\"><tr><th>#</th><th>action</th><th>what changed</th></tr>",
            );
            for line in &p.steps {
                // Lines are "  k. action\n       change" (check::render_steps).
                let (head, change) = line.split_once('\n').unwrap_or((line, ""));
                let (k, action) = head.trim().split_once(". ").unwrap_or(("", head));
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    xml(k),
                    xml(action),
                    xml(change.trim())
                );
            }
            o.push_str("</table></section>");
        }
    }
    if !any {
        o.push_str("<p>None: no property was violated.</p>");
    }
    o.push_str("</body></html>\n");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--html {}: cannot create its directory", path.display()))?;
    }
    std::fs::write(path, o).with_context(|| format!("--html {}: cannot write", path.display()))
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Violated => "violated",
        Verdict::Missing => "missing",
        Verdict::Holds => "holds",
        Verdict::Found => "found",
        _ => "unknown",
    }
}

fn html_coverage(o: &mut String, c: &serde_json::Value) {
    let protocol = c["protocol"].as_str().unwrap_or("?");
    let _ = write!(
        o,
        "<h3>{}</h3><table class=\"coverage\"><tr><th>rule</th><th>fired</th><th>guards (true / false)</th></tr>",
        xml(protocol)
    );
    for rule in c["rules"].as_array().into_iter().flatten() {
        let fired = rule["fired"].as_u64().unwrap_or(0);
        let guards: Vec<String> = rule["guards"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                let (t, f) = (
                    g["true"].as_u64().unwrap_or(0),
                    g["false"].as_u64().unwrap_or(0),
                );
                let class = if t == 0 || f == 0 {
                    " class=\"gap\""
                } else {
                    ""
                };
                format!(
                    "<span{class}><code>{}</code> {t} / {f}</span>",
                    xml(g["id"].as_str().unwrap_or("?"))
                )
            })
            .collect();
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td{}>{}</td><td>{}</td></tr>",
            xml(rule["id"].as_str().unwrap_or("?")),
            if fired == 0 { " class=\"gap\"" } else { "" },
            count(fired),
            guards.join("<br>")
        );
    }
    o.push_str("</table>");
}
