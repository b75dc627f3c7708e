//! ballot's checking engine: exhaustive BFS and DFS, and random walks, over any
//! [`stateright::Model`].
//!
//! ```text
//!   Model ──init_states/actions/next_state──► search (bfs | dfs | sim, N threads)
//!                                               │  fingerprint(representative(state))
//!                                               ▼
//!                                  Visited: fp → parent fp   (16 B per state)
//!                                               │  on a discovery: follow parents,
//!                                               ▼  replay the model to recover actions
//!                                  Outcome { per-property verdict + path, stats }
//! ```
//!
//! Why not Stateright's own checkers (reference/stateright.md §7): in 0.31 BFS no longer returns
//! the shortest counterexample, `timeout` is ignored with one thread, BFS ignores symmetry,
//! simulation records wrong paths, and a visitor costs 5–9×. This engine keeps Stateright's
//! `Model` and `Property` vocabulary, so every model still runs in Stateright's checkers and
//! Explorer, and the test suite uses Stateright's DFS as a differential reference.
//!
//! Semantics of the three expectations here:
//! - `always`: checked on every reachable state; a violation's path is a shortest one under BFS.
//! - `sometimes`: a witness is a reachable state satisfying the condition (shortest under BFS).
//! - `eventually`: checked as AG EF — from every reachable state a state satisfying the condition
//!   stays reachable — on the explored graph once the search is exhaustive. This is sound on
//!   cycles (Stateright's `eventually` is not), but it is not liveness under fairness: it cannot
//!   see a fair cycle that avoids the goal forever while the goal stays reachable.

mod liveness;
mod progress;
mod search;
mod visited;

pub use progress::Progress;
pub use visited::{Fp, FpSet, MAX_THREADS};

use std::hash::Hash;
use std::time::Duration;

use stateright::{Expectation, Model};

/// How the state space is explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Breadth first, level by level: every discovery comes with a shortest path.
    Bfs,
    /// Depth first with work sharing between threads: a small frontier, paths not shortest.
    Dfs,
    /// Seeded random walks: never exhaustive, finds deep bugs in spaces too large to exhaust.
    Sim,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Bfs => "bfs",
            Strategy::Dfs => "dfs",
            Strategy::Sim => "sim",
        }
    }
}

/// Everything a run can be asked to do.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub strategy: Strategy,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Stop (and report the run as incomplete) after this long. Honoured with any thread count.
    pub timeout: Option<Duration>,
    /// Stop (incomplete) once this many unique states have been found.
    pub max_states: Option<u64>,
    /// Fold states into their symmetry class representative, when the model declares one.
    pub symmetry: bool,
    /// Stop at the first violated `always` property instead of looking for the others.
    pub fail_fast: bool,
    /// Stop once every property named here has its discovery (for a mutant: its expected
    /// violation). Under BFS each is still a shortest path. Empty: decide every property.
    pub stop_when_found: Vec<String>,
    /// Seed of the random walks (`Sim` only; BFS and DFS are deterministic with one thread).
    pub seed: u64,
    /// Number of random walks (`Sim` only).
    pub walks: u64,
    /// Maximum length of one random walk (`Sim` only).
    pub walk_depth: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            strategy: Strategy::Bfs,
            threads: 1,
            timeout: None,
            max_states: None,
            symmetry: false,
            fail_fast: false,
            stop_when_found: Vec::new(),
            seed: 0,
            walks: 10_000,
            walk_depth: 200,
        }
    }
}

/// What the run concluded about one property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `always`/`eventually`: no violation in an exhaustive search.
    Holds,
    /// `always`/`eventually`: a counterexample was found.
    Violated,
    /// `sometimes`: a witness was found.
    Found,
    /// `sometimes`: an exhaustive search found no witness (the model may be vacuous).
    Missing,
    /// The search stopped before it could decide.
    Unknown,
}

impl Verdict {
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Violated | Verdict::Missing)
    }
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "VIOLATED",
            Verdict::Found => "found",
            Verdict::Missing => "MISSING",
            Verdict::Unknown => "unknown",
        }
    }
}

/// A path from an initial state: the index of the initial state and the actions taken.
#[derive(Clone, Debug)]
pub struct Discovery<A> {
    pub init: usize,
    pub actions: Vec<A>,
    /// Time from the start of the run to the discovery.
    pub found_after: Duration,
}

#[derive(Clone, Debug)]
pub struct PropertyOutcome<A> {
    pub name: &'static str,
    pub expectation: Expectation,
    pub verdict: Verdict,
    /// The counterexample (always, eventually) or the witness (sometimes).
    pub discovery: Option<Discovery<A>>,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Every reachable state was visited.
    Exhausted,
    /// Every property already had its discovery; nothing left to decide.
    AllDiscovered,
    /// `fail_fast` and a violation was found.
    FailFast,
    /// Every property in `stop_when_found` was discovered.
    TargetFound,
    Timeout,
    StateLimit,
    /// `Sim`: the requested number of walks is done.
    WalksDone,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Exhausted => "exhausted",
            StopReason::AllDiscovered => "all properties decided",
            StopReason::FailFast => "stopped at first violation",
            StopReason::TargetFound => "stopped once the expected violation was found",
            StopReason::Timeout => "timeout",
            StopReason::StateLimit => "state limit",
            StopReason::WalksDone => "walks done (not exhaustive)",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Stats {
    /// States generated, revisits included.
    pub generated: u64,
    /// Distinct states (symmetry classes, with symmetry on).
    pub unique: u64,
    /// Longest path explored, in actions from an initial state.
    pub max_depth: u32,
    pub elapsed: Duration,
    pub stop: StopReason,
    /// Bytes of the visited set and the parent records at the end of the run.
    pub visited_bytes: u64,
}

impl Stats {
    pub fn exhausted(&self) -> bool {
        self.stop == StopReason::Exhausted
    }
    pub fn unique_per_sec(&self) -> f64 {
        self.unique as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Clone, Debug)]
pub struct Outcome<A> {
    pub properties: Vec<PropertyOutcome<A>>,
    pub stats: Stats,
}

impl<A> Outcome<A> {
    pub fn property(&self, name: &str) -> Option<&PropertyOutcome<A>> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// Exit code per design.md: 1 if anything failed, else 3 if anything is undecided, else 0.
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

/// The fingerprint of a state: 64 bits, never 0.
///
/// Fixed seeds, so a run is reproducible; different seeds from Stateright's, so the differential
/// tests do not share a hash function's collisions with the reference. A collision silently merges
/// two states (probability ≈ n²/2⁶⁵: about 3e-4 at 1e8 states).
pub fn fingerprint<T: Hash>(value: &T) -> Fp {
    static HASHER: ahash::RandomState = ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    );
    match HASHER.hash_one(value) {
        0 => 1,
        fp => fp,
    }
}

/// Turns states into compact bytes and back, so that a BFS frontier holds a few dozen bytes per
/// state instead of a few hundred. Optional: without one, the frontier holds states as they are.
pub trait StateCodec<S>: Sync {
    fn encode(&self, state: &S, out: &mut Vec<u8>);
    fn decode(&self, bytes: &[u8]) -> S;
}

/// A [`StateCodec`] for any serde state: postcard's varint encoding.
pub struct Postcard;

impl<S: serde::Serialize + serde::de::DeserializeOwned> StateCodec<S> for Postcard {
    fn encode(&self, state: &S, out: &mut Vec<u8>) {
        let bytes = postcard::to_allocvec(state).expect("states serialise");
        out.extend_from_slice(&bytes);
    }
    fn decode(&self, bytes: &[u8]) -> S {
        postcard::from_bytes(bytes).expect("a state decodes from its own encoding")
    }
}

/// A symmetry reduction: maps a state to the representative of its class.
pub type Representative<'a, S> = &'a (dyn Fn(&S) -> S + Sync);

/// Checks `model` under `options`. `symmetry` is used only if `options.symmetry` is set.
/// `progress` is updated while the search runs, for a reporter on another thread.
pub fn check<M>(
    model: &M,
    options: &CheckOptions,
    symmetry: Option<Representative<'_, M::State>>,
    progress: &Progress,
) -> Outcome<M::Action>
where
    M: Model + Sync,
    M::State: Clone + Hash + Send + Sync,
    M::Action: Clone + Send + Sync,
{
    check_with(model, options, symmetry, None, progress)
}

/// [`check`], with a codec that compacts the BFS frontier.
pub fn check_with<M>(
    model: &M,
    options: &CheckOptions,
    symmetry: Option<Representative<'_, M::State>>,
    codec: Option<&dyn StateCodec<M::State>>,
    progress: &Progress,
) -> Outcome<M::Action>
where
    M: Model + Sync,
    M::State: Clone + Hash + Send + Sync,
    M::Action: Clone + Send + Sync,
{
    assert!(options.threads >= 1, "at least one thread");
    let symmetry = if options.symmetry { symmetry } else { None };
    search::run(model, options, symmetry, codec, progress)
}
