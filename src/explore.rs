//! `ballot explore`: serves Stateright's Explorer on a model; with `--trace`, first prints the URL
//! that opens the Explorer at the trace's last state.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use stateright::Path;

use ballot_models::spec::Spec;
use ballot_models::trace::Trace;

use crate::bounds::Bounds;
use crate::{protocols, Protocol, UsageError};

#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct ExploreArgs {
    /// Protocol to explore; optional with --trace, which names its protocol.
    #[arg(value_name = "PROTOCOL", value_enum)]
    protocol: Option<Protocol>,
    #[command(flatten)]
    bounds: Bounds,
    /// Explore a seeded bug's model (see `ballot check --list-mutants`).
    #[arg(long, value_name = "NAME", help_heading = "Seeded bugs")]
    mutant: Option<String>,
    /// A trace written by `ballot check`: its model is served, and the URL of its last state printed.
    #[arg(long, value_name = "FILE", help_heading = "Explorer")]
    trace: Option<PathBuf>,
    /// Address to serve on (loopback by default).
    #[arg(
        long,
        default_value = "127.0.0.1:3000",
        value_name = "ADDR",
        help_heading = "Explorer"
    )]
    addr: SocketAddr,
    /// Check the trace and print the URLs, then exit instead of serving (for scripts).
    #[arg(long, help_heading = "Explorer")]
    no_serve: bool,
}

pub fn run(args: ExploreArgs) -> Result<u8> {
    if !args.no_serve {
        // tiny_http panics when it cannot bind; find out first, with an error naming the address.
        TcpListener::bind(args.addr)
            .map_err(|e| UsageError(format!("--addr {}: cannot listen: {e}", args.addr)))?;
    }
    match &args.trace {
        Some(path) => {
            let trace = Trace::read(path)?;
            if let Some(p) = args.protocol {
                if p.name() != trace.protocol {
                    return Err(UsageError(format!(
                        "{}: the trace is of protocol `{}`, not {}",
                        path.display(),
                        trace.protocol,
                        p.name()
                    ))
                    .into());
                }
            }
            if args.mutant.is_some() {
                return Err(UsageError("--mutant: a trace names its own mutant".into()).into());
            }
            if let Some(flag) = args.bounds.first_given() {
                return Err(UsageError(format!(
                    "{flag}: a trace carries its own bounds; drop the flag or the --trace"
                ))
                .into());
            }
            protocols::explore_trace(&trace, path, args.addr, !args.no_serve)
        }
        None => {
            let protocol = args.protocol.ok_or_else(|| {
                UsageError("name a protocol (`ballot explore raft`) or give --trace FILE".into())
            })?;
            args.bounds.only_for(protocol.name())?;
            protocols::explore(
                protocol,
                &args.bounds,
                args.mutant.as_deref(),
                args.addr,
                !args.no_serve,
            )
        }
    }
}

pub fn serve_trace<S: Spec>(
    trace: &Trace,
    path: &std::path::Path,
    addr: SocketAddr,
    serving: bool,
) -> Result<u8> {
    let (spec, actions) = trace
        .replay::<S>()
        .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let init = spec.init_states()[0].clone();
    let encoded = Path::from_actions(&spec, init, &actions)
        .expect("a replayed trace is a path of its model")
        .encode(&spec);
    serve(spec, addr, Some(encoded), serving)
}

pub fn serve<S: Spec>(
    spec: S,
    addr: SocketAddr,
    path: Option<String>,
    serving: bool,
) -> Result<u8> {
    println!("Explorer: http://{addr}/");
    if let Some(p) = path {
        println!("Counterexample: http://{addr}/#/steps/{p}");
    }
    if !serving {
        return Ok(0);
    }
    println!("(serving until interrupted)");
    use std::io::Write;
    std::io::stdout().flush()?;
    spec.checker().serve(addr);
    Ok(0)
}
