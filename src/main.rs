//! The `ballot` command line: parses flags, calls the libraries, formats output. Exit codes, for
//! every command: 0 all checked properties hold (search complete), 1 a property was violated,
//! 2 bad usage or bad input, 3 incomplete (timeout or bound hit before the search finished).

mod bounds;
mod check;
mod conform;
mod coverage;
mod diagrams;
mod explore;
mod fault;
mod linearizability;
mod node;
mod protocols;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// A bad flag, file or field: exit code 2. The message names the offending input.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Parser)]
#[command(
    name = "ballot",
    version,
    about = "Verification suite for FastLeaderElection, ZAB and Raft",
    long_about = "Verification suite for ZooKeeper's FastLeaderElection, ZooKeeper Atomic Broadcast \
                  and Raft: exhaustive model checking within stated bounds, seeded historic bugs, \
                  counterexample traces that open in the Stateright Explorer.\n\n\
                  Exit codes: 0 every property holds and the search was complete (conformance: \
                  no divergence); 1 a property was violated, a witness is missing, or the \
                  implementation diverged from the model; 2 bad usage or bad input; 3 incomplete \
                  (timeout or state limit before the search finished)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check protocol models exhaustively within bounds and report every property.
    Check(check::CheckArgs),
    /// Serve the Stateright Explorer for a model, optionally opened at a trace's last state; it
    /// draws the sequence diagram of whatever path is open.
    Explore(explore::ExploreArgs),
    /// Look at a trace file: its steps, or its sequence diagram as SVG or Mermaid text.
    Trace(diagrams::TraceArgs),
    /// Replay one trace on real nodes of the implementation, step by step; exit 1 at the first
    /// step where the implementation and the model differ (the divergence is written as a trace).
    Replay(conform::ReplayArgs),
    /// Hold the implementation to its model: replay every model transition within a depth, or
    /// seeded random walks, on real nodes; or let the nodes choose and validate each step.
    Conform(conform::ConformArgs),
    /// Run one server of the real implementation (until Ctrl-C).
    Node(node::NodeArgs),
    /// Start N node processes on loopback, print who leads; Ctrl-C stops them all.
    Cluster(node::ClusterArgs),
    /// Put, get or delete a key in a running cluster.
    Kv(node::KvArgs),
    /// Inject faults (kill -9, SIGSTOP, partitions) into a real 3-node cluster under client
    /// load, then check the recorded history for linearizability.
    Fault(fault::FaultArgs),
}

/// The protocols ballot models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    Raft,
    Fle,
    Zab,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Raft => "raft",
            Protocol::Fle => "fle",
            Protocol::Zab => "zab",
        }
    }

    pub fn all() -> Vec<Protocol> {
        Protocol::value_variants().to_vec()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Explore(args) => explore::run(args),
        Command::Trace(args) => diagrams::run(args),
        Command::Replay(args) => conform::replay(args),
        Command::Conform(args) => conform::conform(args),
        Command::Node(args) => return node::finish(node::run_node(args)),
        Command::Cluster(args) => return node::finish(node::run_cluster(args)),
        Command::Kv(args) => return node::finish(node::run_kv(args)),
        Command::Fault(args) => return node::finish(fault::run(args)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
