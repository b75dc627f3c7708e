//! Conformance of ballot's implementation to its models: the only crate that knows both
//! vocabularies (`ballot-models` and `ballot-core`/`ballot-node`).
//!
//! - **Model → implementation.** A path of the model (a checker trace, every transition within
//!   a depth, or a seeded random walk) is replayed on real nodes: the production node loop
//!   ([`ballot_node::runtime::run`]) of every server, over a controlled transport, timers and
//!   storage ([`driver`]). The harness delivers exactly the messages, fires exactly the timers
//!   and crashes exactly the nodes the path names, and after every step compares every server's
//!   abstract state and the messages in flight with the model's.
//! - **Implementation → model.** [`raft::simulate`] lets the implementation choose: any message
//!   it has in flight, any timer it has armed, a crash or restart within the bounds, a client
//!   request; the model must have an action that matches and leads to the same abstract state.
//!
//! The first disagreement is a [`Divergence`], written as a `ballot-trace/1` file that
//! `ballot replay` and `ballot explore --trace` open. Design: docs/conformance.md.

pub mod coverage;
pub mod divergence;
pub mod driver;
pub mod raft;
pub mod rng;

pub use divergence::{Class, Divergence};

use ballot_models::spec::Spec;
use ballot_models::trace::Trace;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a conformance run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Paths (or simulated runs) replayed.
    pub paths: u64,
    /// Steps replayed on the implementation.
    pub steps: u64,
    /// Transitions reachable within the depth (0 for walks and simulations).
    pub transitions: u64,
    /// Distinct transitions replayed.
    pub covered: u64,
}

/// Why a conformance run stopped early.
#[derive(Debug)]
pub enum Failure<A> {
    /// The implementation diverged; `actions` are the model's steps up to the divergence.
    Diverged {
        /// Where and how (boxed: a failure travels in `Result`s).
        divergence: Box<Divergence>,
        /// The model actions taken, the divergent one included when it was a model action.
        actions: Vec<A>,
        /// Further paths on which a node stopped (a panic): the run went on past each of them.
        more_stopped: u64,
    },
    /// The request cannot be run (e.g. a depth too large to enumerate); names the flag.
    Usage(String),
}

/// Counters a run updates as it goes, for a progress line and a stall watchdog.
#[derive(Debug, Default)]
pub struct Progress {
    /// Moves with every step and while paths are being enumerated: what the stall watchdog
    /// watches.
    alive: AtomicU64,
    steps: AtomicU64,
    paths: AtomicU64,
    covered: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// A step was replayed.
    pub fn step(&self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.alive();
    }
    /// Work other than a step made progress (enumerating the model's transitions).
    pub fn alive(&self) {
        self.alive.fetch_add(1, Ordering::Relaxed);
    }
    /// A path was finished.
    pub fn path(&self) {
        self.paths.fetch_add(1, Ordering::Relaxed);
    }
    /// Transitions covered so far.
    pub fn covered(&self, n: u64) {
        self.covered.store(n, Ordering::Relaxed);
    }
    /// What the run aims at (transitions, or simulated steps).
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Ordering::Relaxed);
    }
    /// `(steps, paths, covered, total)`.
    pub fn read(&self) -> (u64, u64, u64, u64) {
        (
            self.steps.load(Ordering::Relaxed),
            self.paths.load(Ordering::Relaxed),
            self.covered.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// A run that made no progress for the stall limit: a node that spins without ever yielding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled {
    /// Steps completed before the stall.
    pub steps: u64,
}

/// Runs `work` on its own thread and waits for it, calling `tick` about every `every`; if
/// `progress` shows no sign of life (no step, no enumeration) for `stall`, gives up with
/// [`Stalled`] (the thread is abandoned: a node that never yields cannot be stopped from
/// outside, only outlived).
pub fn run_bounded<T: Send + 'static>(
    progress: Arc<Progress>,
    stall: Duration,
    every: Duration,
    mut tick: impl FnMut(&Progress),
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stalled> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("conformance".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .expect("a thread starts");
    let alive = || progress.alive.load(Ordering::Relaxed);
    let mut last = (alive(), std::time::Instant::now());
    loop {
        match rx.recv_timeout(every) {
            Ok(result) => return Ok(result),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the conformance thread panicked (see its message above)")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                tick(&progress);
                let now = alive();
                if now != last.0 {
                    last = (now, std::time::Instant::now());
                } else if last.1.elapsed() >= stall {
                    return Err(Stalled {
                        steps: progress.read().0,
                    });
                }
            }
        }
    }
}

/// The trace of a divergence: the model's steps up to it, with the divergence attached.
pub fn divergence_trace<S: Spec>(spec: &S, actions: &[S::Act], divergence: &Divergence) -> Trace {
    let mut trace = Trace::from_path(spec, None, 0, actions);
    trace.divergence = Some(serde_json::to_value(divergence).expect("divergences serialise"));
    trace
}
