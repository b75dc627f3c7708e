//! Linearizability of key-value histories: does one total order of the operations, consistent
//! with real time, explain every answer the clients got? The search is Wing & Gong's, with
//! Lowe's memoisation of visited (linearized set, state) pairs, split per key as Porcupine does.
//!
//! A history is a list of [`Operation`]s — `put`, `get`, `delete` on string keys — each with the
//! monotonic times at which its client invoked it and got an answer, and an [`Outcome`]: `ok`
//! with the answer, `failed` (definitely not applied), or `unknown` (the client gave up: the
//! operation may take effect at any point after its invocation, even after the history ends, or
//! never).
//!
//! Keys are independent registers, so a history is linearizable iff each key's sub-history is
//! (Herlihy & Wing's locality; Porcupine calls it P-compositionality). Each key is searched on
//! its own, within a named bound on the states explored; a search that hits the bound is
//! [`Verdict::Undecided`], never a pass.

use ballot_node::rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// Default bound on the (linearized set, state) pairs one key's search may visit. The memo holds
/// 32 bytes per pair plus the hash table's slack, so this also caps its memory (under 150 MB).
pub const MAX_STATES_PER_KEY: u64 = 2_000_000;
/// Bound of each trial search while shrinking a witness: a trial that hits it keeps the
/// operations it tried to drop, so a bound too small only makes the witness larger.
const SHRINK_STATES_PER_TRIAL: u64 = 100_000;
/// Bounds on all shrinking trials of one key together, so a failure report stays quick (about a
/// second): states visited, and trials (each also costs a copy of its candidate).
const SHRINK_STATES_TOTAL: u64 = 5_000_000;
const SHRINK_TRIALS: usize = 2_000;
/// The first window of operations tried as a witness (see [`shrink`]).
const WINDOW_MIN: usize = 16;

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Call {
    /// Set the key to this value.
    Put(String),
    /// Read the key.
    Get,
    /// Remove the key.
    Delete,
}

/// What a successful call answered; its variant must match the [`Call`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Return {
    /// The put was applied.
    Put,
    /// The value read (`None`: the key was absent).
    Get(Option<String>),
    /// Whether the key existed before the delete.
    Delete(bool),
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Applied exactly once, with this answer.
    Ok(Return),
    /// Definitely not applied.
    Failed,
    /// No answer (the client gave up): took effect once, at some time after the invocation
    /// (possibly after the history ends), or never.
    Unknown,
}

/// One client call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The calling client (for reports only: the checker orders operations by time alone).
    pub client: u64,
    /// The key.
    pub key: String,
    /// What was asked.
    pub call: Call,
    /// How it ended.
    pub outcome: Outcome,
    /// When the client sent it (monotonic, ns).
    pub invoke_ns: u64,
    /// When the client got the answer or gave up (monotonic, ns; ≥ `invoke_ns`).
    pub response_ns: u64,
}

impl Operation {
    /// Checks that the times are ordered and an answer matches its call; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.response_ns < self.invoke_ns {
            return Err(format!(
                "response_ns {} is before invoke_ns {}",
                self.response_ns, self.invoke_ns
            ));
        }
        match (&self.call, &self.outcome) {
            (_, Outcome::Failed | Outcome::Unknown)
            | (Call::Put(_), Outcome::Ok(Return::Put))
            | (Call::Get, Outcome::Ok(Return::Get(_)))
            | (Call::Delete, Outcome::Ok(Return::Delete(_))) => Ok(()),
            (call, Outcome::Ok(ret)) => Err(format!("outcome {ret:?} does not answer {call:?}")),
        }
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match &self.call {
            Call::Put(v) => write!(f, "c{} put {key} = {v:?}: ", self.client)?,
            Call::Get => write!(f, "c{} get {key}: ", self.client)?,
            Call::Delete => write!(f, "c{} delete {key}: ", self.client)?,
        }
        match &self.outcome {
            Outcome::Ok(Return::Put) => f.write_str("ok")?,
            Outcome::Ok(Return::Get(Some(v))) => write!(f, "ok {v:?}")?,
            Outcome::Ok(Return::Get(None)) => f.write_str("ok absent")?,
            Outcome::Ok(Return::Delete(true)) => f.write_str("ok existed")?,
            Outcome::Ok(Return::Delete(false)) => f.write_str("ok absent")?,
            Outcome::Failed => f.write_str("failed")?,
            Outcome::Unknown => f.write_str("unknown")?,
        }
        write!(
            f,
            "  [{:.3} ms, {:.3} ms]",
            ms(self.invoke_ns),
            ms(self.response_ns)
        )
    }
}

/// Why one key's history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// Most operations the search ever linearized before getting stuck.
    pub deepest: usize,
    /// Operations of the key the search had to place.
    pub of: usize,
    /// At that deepest point, the operation whose answer no remaining order could explain.
    pub stuck: Operation,
    /// A small sub-history of the key that is itself not linearizable (shrunk from the
    /// operations invoked before `stuck` answered), in invocation order.
    pub ops: Vec<Operation>,
}

/// One key's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some real-time-respecting order explains every answer.
    Linearizable,
    /// None does.
    NotLinearizable(Witness),
    /// The search hit its bound: not a pass.
    Undecided {
        /// The bound.
        max_states: u64,
    },
}

/// The verdict on one key's sub-history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyReport {
    /// The key.
    pub key: String,
    /// Operations the search had to place (failed calls and unanswered reads left out: neither
    /// can have changed the register).
    pub ops: usize,
    /// (Linearized set, state) pairs visited.
    pub states: u64,
    /// The verdict.
    pub verdict: Verdict,
}

/// Verdicts for every key of a history, in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// One per key.
    pub keys: Vec<KeyReport>,
}

impl Report {
    /// Every key is linearizable.
    pub fn linearizable(&self) -> bool {
        self.keys.iter().all(|k| k.verdict == Verdict::Linearizable)
    }

    /// Some key is not linearizable.
    pub fn violated(&self) -> bool {
        self.keys
            .iter()
            .any(|k| matches!(k.verdict, Verdict::NotLinearizable(_)))
    }
}

/// Checks a history, key by key, each within `max_states_per_key`. An `Err` names the first
/// malformed operation (by its index in `history`).
pub fn check(history: &[Operation], max_states_per_key: u64) -> Result<Report, String> {
    let mut by_key: BTreeMap<&str, Vec<Operation>> = BTreeMap::new();
    for (i, op) in history.iter().enumerate() {
        op.validate()
            .map_err(|e| format!("operation {i} ({}): {e}", op.key))?;
        by_key.entry(&op.key).or_default().push(op.clone());
    }
    let keys = by_key
        .into_iter()
        .map(|(key, ops)| check_key(key, ops, max_states_per_key))
        .collect();
    Ok(Report { keys })
}

fn check_key(key: &str, ops: Vec<Operation>, max_states: u64) -> KeyReport {
    let ops = relevant(ops);
    let (result, states) = search(&ops, max_states);
    let verdict = match result {
        Search::Linearizable => Verdict::Linearizable,
        Search::Undecided => Verdict::Undecided { max_states },
        Search::NotLinearizable { deepest, stuck } => {
            let stuck = ops[stuck].clone();
            Verdict::NotLinearizable(Witness {
                deepest,
                of: ops.len(),
                ops: shrink(&ops, &stuck),
                stuck,
            })
        }
    };
    KeyReport {
        key: key.to_owned(),
        ops: ops.len(),
        states,
        verdict,
    }
}

/// The operations of one key that can matter to a linearization.
///
/// Left out: failed calls and unanswered reads (neither changed the register), and unanswered
/// puts whose value no read returned while no delete answered "existed" — placing such a put
/// anywhere can only add a state no read saw, so leaving it unplaced (allowed for an unknown
/// operation) is always at least as good. Without this, every unanswered put would stay a
/// candidate at every later point of the search.
fn relevant(ops: Vec<Operation>) -> Vec<Operation> {
    let read: BTreeSet<&str> = ops
        .iter()
        .filter_map(|op| match &op.outcome {
            Outcome::Ok(Return::Get(Some(v))) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    let existed_seen = ops
        .iter()
        .any(|op| op.outcome == Outcome::Ok(Return::Delete(true)));
    let keep: Vec<bool> = ops
        .iter()
        .map(|op| match (&op.call, &op.outcome) {
            (_, Outcome::Failed) | (Call::Get, Outcome::Unknown) => false,
            (Call::Put(v), Outcome::Unknown) => existed_seen || read.contains(v.as_str()),
            _ => true,
        })
        .collect();
    ops.into_iter()
        .zip(keep)
        .filter_map(|(op, keep)| keep.then_some(op))
        .collect()
}

/// The register's state: 0 is "absent", otherwise a value's number (see [`effects`]).
type State = u32;
const ABSENT: State = 0;

/// What an operation does to the register, with values numbered.
#[derive(Clone, Copy, Debug)]
enum Effect {
    Write(State),
    Read(State),
    /// Removes the value; `Some(existed)` when the answer is known.
    Delete(Option<bool>),
}

/// The new state if `effect` may happen in `state` with the answer that was observed.
fn step(state: State, effect: Effect) -> Option<State> {
    match effect {
        Effect::Write(v) => Some(v),
        Effect::Read(v) => (state == v).then_some(state),
        Effect::Delete(existed) => existed
            .is_none_or(|e| e == (state != ABSENT))
            .then_some(ABSENT),
    }
}

fn effects<'a>(ops: &'a [Operation]) -> Vec<Effect> {
    let mut numbers: HashMap<&'a str, State> = HashMap::new();
    let mut number = |v: &'a str| {
        let next = State::try_from(numbers.len() + 1).expect("fewer than 2^32 values per key");
        *numbers.entry(v).or_insert(next)
    };
    ops.iter()
        .map(|op| match (&op.call, &op.outcome) {
            (Call::Put(v), _) => Effect::Write(number(v)),
            (Call::Get, Outcome::Ok(Return::Get(v))) => {
                Effect::Read(v.as_deref().map_or(ABSENT, &mut number))
            }
            (Call::Delete, Outcome::Ok(Return::Delete(existed))) => Effect::Delete(Some(*existed)),
            (Call::Delete, _) => Effect::Delete(None),
            (call, outcome) => unreachable!("{call:?} {outcome:?} is filtered out by relevant()"),
        })
        .collect()
}

enum Search {
    Linearizable,
    /// `stuck` indexes the operation whose response blocked the search at its deepest.
    NotLinearizable {
        deepest: usize,
        stuck: usize,
    },
    Undecided,
}

const NIL: usize = usize::MAX;
/// The response time of an operation with no answer: after everything, so it may be placed
/// anywhere after its invocation, or (equivalently, since nothing observes it) never.
const NEVER: u64 = u64::MAX;

/// The calls and responses of one key's operations in time order, as a doubly linked list that
/// the search unlinks operations from as it linearizes them and relinks when it backtracks
/// (Lowe's "dancing links" form of Wing & Gong's algorithm).
struct Events {
    /// `(op, is_call, time)` in list order.
    events: Vec<(usize, bool, u64)>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// Per operation: positions of its call and its response.
    call_at: Vec<usize>,
    response_at: Vec<usize>,
}

impl Events {
    fn new(ops: &[Operation]) -> Events {
        let mut events: Vec<(usize, bool, u64)> = Vec::with_capacity(2 * ops.len());
        for (i, op) in ops.iter().enumerate() {
            let response = match op.outcome {
                Outcome::Unknown => NEVER,
                _ => op.response_ns,
            };
            events.push((i, true, op.invoke_ns));
            events.push((i, false, response));
        }
        // A call at the same instant as a response counts as concurrent with it: calls first.
        events.sort_by_key(|&(op, is_call, time)| (time, !is_call, op));
        let n = events.len();
        let head = n;
        let mut next: Vec<usize> = (1..=n).map(|p| if p == n { NIL } else { p }).collect();
        next.push(if n == 0 { NIL } else { 0 });
        let mut prev: Vec<usize> = (0..n).map(|p| if p == 0 { head } else { p - 1 }).collect();
        prev.push(NIL);
        let mut call_at = vec![NIL; ops.len()];
        let mut response_at = vec![NIL; ops.len()];
        for (p, &(op, is_call, _)) in events.iter().enumerate() {
            if is_call {
                call_at[op] = p;
            } else {
                response_at[op] = p;
            }
        }
        Events {
            events,
            next,
            prev,
            call_at,
            response_at,
        }
    }

    fn head(&self) -> usize {
        self.events.len()
    }

    fn first(&self) -> usize {
        self.next[self.head()]
    }

    fn unlink(&mut self, p: usize) {
        let (before, after) = (self.prev[p], self.next[p]);
        self.next[before] = after;
        if after != NIL {
            self.prev[after] = before;
        }
    }

    /// Relinks `p` where it was; valid only in the reverse order of the unlinks.
    fn relink(&mut self, p: usize) {
        let (before, after) = (self.prev[p], self.next[p]);
        self.next[before] = p;
        if after != NIL {
            self.prev[after] = p;
        }
    }

    fn lift(&mut self, op: usize) {
        self.unlink(self.call_at[op]);
        self.unlink(self.response_at[op]);
    }

    fn unlift(&mut self, op: usize) {
        self.relink(self.response_at[op]);
        self.relink(self.call_at[op]);
    }
}

/// Random 128-bit labels per operation: the XOR of the labels of the linearized operations
/// fingerprints the set (Zobrist hashing), updated in O(1) per step. The memo stores
/// fingerprints, not sets (as ballot's model-checking engine does). A clash could only prune a
/// branch never visited — at worst a false alarm, never a false pass — and with 128-bit labels
/// its probability among 10^8 visited pairs is below 10^-22.
fn labels(n: usize) -> Vec<u128> {
    let mut rng = SeededRng::new(0x6c69_6e65_6172_697a);
    (0..n)
        .map(|_| (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
        .collect()
}

/// Wing & Gong's search: repeatedly take the first pending call in time order that the
/// register allows and that leads to an unvisited (set, state) pair; when the first event left
/// is a response, the operation it answers was not placed in time, so undo the last choice.
fn search(ops: &[Operation], max_states: u64) -> (Search, u64) {
    let effects = effects(ops);
    let labels = labels(ops.len());
    let mut events = Events::new(ops);
    let mut visited: HashSet<(u128, State)> = HashSet::new();
    let mut placed: Vec<(usize, State)> = Vec::new();
    let (mut state, mut set) = (ABSENT, 0u128);
    let mut deepest: Option<(usize, usize)> = None;
    let mut at = events.first();
    loop {
        if at == NIL {
            return (Search::Linearizable, visited.len() as u64);
        }
        let (op, is_call, time) = events.events[at];
        if !is_call {
            if time == NEVER {
                // Every operation with an answer is placed; the unanswered rest may never be.
                return (Search::Linearizable, visited.len() as u64);
            }
            if deepest.is_none_or(|(depth, _)| placed.len() > depth) {
                deepest = Some((placed.len(), op));
            }
            let Some((undo, before)) = placed.pop() else {
                let (deepest, stuck) = deepest.expect("recorded just above");
                return (
                    Search::NotLinearizable { deepest, stuck },
                    visited.len() as u64,
                );
            };
            events.unlift(undo);
            state = before;
            set ^= labels[undo];
            at = events.next[events.call_at[undo]];
            continue;
        }
        if let Some(after) = step(state, effects[op]) {
            if visited.insert((set ^ labels[op], after)) {
                if visited.len() as u64 > max_states {
                    return (Search::Undecided, visited.len() as u64);
                }
                placed.push((op, state));
                events.lift(op);
                state = after;
                set ^= labels[op];
                at = events.first();
                continue;
            }
        }
        at = events.next[at];
    }
}

/// Shrinks a non-linearizable key history to a small one that still fails: first the shortest
/// window of operations invoked before `stuck` answered (the last 16, 32, 64, ...) that fails,
/// then delta debugging (drop chunks of halving size while the rest still fails).
///
/// Only removals that cannot create a violation are tried, so a failing sub-history proves the
/// whole one fails: dropping reads, and — on a key without deletes — dropping a put together
/// with every read of its value (take a linearization of the whole history and delete both from
/// it: every remaining read still follows its own put). Deletes break that argument (a dropped
/// put could have been what a delete found), so on a key with deletes only reads are dropped.
fn shrink(ops: &[Operation], stuck: &Operation) -> Vec<Operation> {
    let mut trials = Trials {
        states_left: SHRINK_STATES_TOTAL,
        trials_left: SHRINK_TRIALS,
    };
    let reads_only = ops.iter().any(|op| op.call == Call::Delete);
    let mut current = if reads_only {
        ops.to_vec()
    } else {
        window(ops, stuck, &mut trials)
    };
    let mut chunk = current.len().div_ceil(2).max(1);
    loop {
        let mut at = 0;
        while at < current.len() && !trials.exhausted() {
            let candidate = without(&current, at, chunk, reads_only);
            if candidate.len() < current.len() && trials.fails(&candidate) {
                current = candidate;
            } else {
                at += chunk;
            }
        }
        if chunk == 1 || trials.exhausted() {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    current.sort_by_key(|op| (op.invoke_ns, op.response_ns));
    current
}

/// Trial searches while shrinking, within one budget.
struct Trials {
    states_left: u64,
    trials_left: usize,
}

impl Trials {
    fn exhausted(&self) -> bool {
        self.states_left == 0 || self.trials_left == 0
    }

    /// Whether `candidate` is shown not linearizable (a trial out of budget shows nothing).
    fn fails(&mut self, candidate: &[Operation]) -> bool {
        if self.exhausted() {
            return false;
        }
        self.trials_left -= 1;
        let (result, states) = search(candidate, SHRINK_STATES_PER_TRIAL.min(self.states_left));
        self.states_left = self.states_left.saturating_sub(states);
        matches!(result, Search::NotLinearizable { .. })
    }
}

/// The first failing window: the last `WINDOW_MIN`, then twice as many, ... operations invoked
/// before `stuck` answered, each with the puts of the values its reads returned. All of `ops`
/// if none fails.
fn window(ops: &[Operation], stuck: &Operation, trials: &mut Trials) -> Vec<Operation> {
    let mut before: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].invoke_ns <= stuck.response_ns)
        .collect();
    before.sort_by_key(|&i| (ops[i].invoke_ns, ops[i].response_ns));
    let mut size = WINDOW_MIN;
    loop {
        let from = before.len().saturating_sub(size);
        let candidate = with_puts_read(ops, &before[from..]);
        if trials.fails(&candidate) {
            return candidate;
        }
        if from == 0 || trials.exhausted() {
            return ops.to_vec();
        }
        size *= 2;
    }
}

/// `ops[chosen]` and every put of a value that one of them read, in `ops` order.
fn with_puts_read(ops: &[Operation], chosen: &[usize]) -> Vec<Operation> {
    let read: BTreeSet<&str> = chosen
        .iter()
        .filter_map(|&i| match &ops[i].outcome {
            Outcome::Ok(Return::Get(Some(v))) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    let mut keep: BTreeSet<usize> = chosen.iter().copied().collect();
    keep.extend(
        (0..ops.len())
            .filter(|&i| matches!(&ops[i].call, Call::Put(v) if read.contains(v.as_str()))),
    );
    keep.into_iter().map(|i| ops[i].clone()).collect()
}

/// `ops` less `[at, at + len)` — only its reads if `reads_only` — and less the reads of values
/// whose every put went with them.
fn without(ops: &[Operation], at: usize, len: usize, reads_only: bool) -> Vec<Operation> {
    let end = (at + len).min(ops.len());
    let dropped =
        |i: usize, op: &Operation| (at..end).contains(&i) && !(reads_only && op.call != Call::Get);
    let written = |keep: &dyn Fn(usize, &Operation) -> bool| -> BTreeSet<&str> {
        ops.iter()
            .enumerate()
            .filter(|&(i, op)| keep(i, op))
            .filter_map(|(_, op)| match &op.call {
                Call::Put(v) => Some(v.as_str()),
                _ => None,
            })
            .collect()
    };
    let before = written(&|_, _| true);
    let after = written(&|i, op| !dropped(i, op));
    ops.iter()
        .enumerate()
        .filter(|&(i, op)| !dropped(i, op))
        .filter(|(_, op)| match &op.outcome {
            Outcome::Ok(Return::Get(Some(v))) => {
                after.contains(v.as_str()) || !before.contains(v.as_str())
            }
            _ => true,
        })
        .map(|(_, op)| op.clone())
        .collect()
}

/// A value read, then another value read strictly later, then the first value read again
/// strictly later still. With unique values per put, one application of the put cannot explain
/// it: the put was applied twice (a retried request), or the last read was stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repeat {
    /// The first read of the value.
    pub first: Operation,
    /// A read of another value, after `first` answered.
    pub between: Operation,
    /// A read of the value again, invoked after `between` answered.
    pub again: Operation,
}

/// Every value that was read again after another value (one [`Repeat`] per value, in key and
/// time order). Meaningful when each put writes a value no other put writes.
pub fn repeated_values(history: &[Operation]) -> Vec<Repeat> {
    let mut reads: BTreeMap<&str, Vec<(&Operation, &str)>> = BTreeMap::new();
    for op in history {
        if let Outcome::Ok(Return::Get(Some(v))) = &op.outcome {
            reads.entry(&op.key).or_default().push((op, v));
        }
    }
    let mut repeats = Vec::new();
    for reads in reads.values_mut() {
        reads.sort_by_key(|(op, _)| (op.invoke_ns, op.response_ns));
        // Per value: the read that answered first and the read invoked last.
        let mut span: BTreeMap<&str, (&Operation, &Operation)> = BTreeMap::new();
        for &(op, v) in reads.iter() {
            let (first, last) = span.entry(v).or_insert((op, op));
            if op.response_ns < first.response_ns {
                *first = op;
            }
            if op.invoke_ns > last.invoke_ns {
                *last = op;
            }
        }
        let mut found: Vec<Repeat> = span
            .iter()
            .filter(|(_, (first, last))| first.response_ns < last.invoke_ns)
            .filter_map(|(&v, &(first, last))| {
                let from = reads.partition_point(|(op, _)| op.invoke_ns <= first.response_ns);
                reads[from..]
                    .iter()
                    .take_while(|(op, _)| op.invoke_ns < last.invoke_ns)
                    .find(|(op, other)| *other != v && op.response_ns < last.invoke_ns)
                    .map(|(between, _)| Repeat {
                        first: first.clone(),
                        between: (*between).clone(),
                        again: last.clone(),
                    })
            })
            .collect();
        found.sort_by_key(|r| r.first.invoke_ns);
        repeats.extend(found);
    }
    repeats
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An operation on key `k` by client `c`, from `t0` to `t1` (ms).
    fn op(c: u64, key: &str, call: Call, outcome: Outcome, t0: u64, t1: u64) -> Operation {
        Operation {
            client: c,
            key: key.into(),
            call,
            outcome,
            invoke_ns: t0 * 1_000_000,
            response_ns: t1 * 1_000_000,
        }
    }

    fn put(c: u64, key: &str, v: &str, t0: u64, t1: u64) -> Operation {
        op(
            c,
            key,
            Call::Put(v.into()),
            Outcome::Ok(Return::Put),
            t0,
            t1,
        )
    }

    fn get(c: u64, key: &str, v: Option<&str>, t0: u64, t1: u64) -> Operation {
        let ret = Return::Get(v.map(String::from));
        op(c, key, Call::Get, Outcome::Ok(ret), t0, t1)
    }

    fn del(c: u64, key: &str, existed: bool, t0: u64, t1: u64) -> Operation {
        let ret = Return::Delete(existed);
        op(c, key, Call::Delete, Outcome::Ok(ret), t0, t1)
    }

    fn unknown_put(c: u64, key: &str, v: &str, t0: u64, t1: u64) -> Operation {
        op(c, key, Call::Put(v.into()), Outcome::Unknown, t0, t1)
    }

    fn verdict(history: &[Operation]) -> Verdict {
        let report = check(history, MAX_STATES_PER_KEY).unwrap();
        assert_eq!(report.keys.len(), 1, "one key expected: {report:?}");
        report.keys[0].verdict.clone()
    }

    fn witness(history: &[Operation]) -> Witness {
        match verdict(history) {
            Verdict::NotLinearizable(w) => w,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // put a ‖ put b, then reads see b, and b again; a read overlapping both sees a.
        let history = [
            put(1, "k", "a", 0, 10),
            put(2, "k", "b", 1, 9),
            get(3, "k", Some("a"), 2, 12),
            get(3, "k", Some("b"), 13, 14),
            get(1, "k", Some("b"), 15, 16),
            get(2, "k", None, 0, 1),
            del(1, "k", true, 20, 21),
            get(2, "k", None, 22, 23),
            del(2, "k", false, 24, 25),
        ];
        assert_eq!(verdict(&history), Verdict::Linearizable);
    }

    #[test]
    fn empty_history_is_linearizable() {
        assert!(check(&[], 10).unwrap().linearizable());
    }

    #[test]
    fn read_of_a_value_overwritten_before_it_began_is_not_linearizable() {
        // put a acked, put b acked after it, then a read (invoked after b's ack) returns a.
        let history = [
            put(1, "k", "a", 0, 1),
            put(2, "k", "b", 2, 3),
            get(3, "k", Some("a"), 4, 5),
        ];
        let w = witness(&history);
        assert_eq!(w.stuck, history[2]);
        assert_eq!(w.ops, history.to_vec(), "all three are needed");
    }

    #[test]
    fn a_b_a_is_a_repeated_application_and_not_linearizable() {
        // The duplicate-put pattern: a's put is retried and applied again after b.
        let history = [
            put(1, "k", "a", 0, 30),
            get(3, "k", Some("a"), 5, 6),
            put(2, "k", "b", 7, 8),
            get(3, "k", Some("b"), 9, 10),
            get(3, "k", Some("a"), 11, 12),
            get(4, "k", Some("a"), 31, 32),
        ];
        // Shrunk to: a read, b's put after it, a read after that (or the same through b's read).
        let w = witness(&history);
        assert_eq!(w.ops.len(), 4, "{:#?}", w.ops);
        assert!(w.ops.contains(&history[0]) && w.ops.contains(&history[2]));
        assert!(matches!(verdict(&w.ops), Verdict::NotLinearizable(_)));
        let repeats = repeated_values(&history);
        assert_eq!(repeats.len(), 1, "{repeats:?}");
        assert_eq!(
            (&repeats[0].first, &repeats[0].between, &repeats[0].again),
            (&history[1], &history[3], &history[5])
        );
        // a, then b: no value seen twice around another.
        assert!(repeated_values(&history[..4]).is_empty());
    }

    #[test]
    fn a_lost_acknowledged_write_is_not_linearizable() {
        let history = [
            put(1, "k", "a", 0, 1),
            put(1, "k", "b", 2, 3),
            get(2, "k", Some("a"), 10, 11),
        ];
        assert!(matches!(verdict(&history), Verdict::NotLinearizable(_)));
        let history = [put(1, "k", "a", 0, 1), get(2, "k", None, 10, 11)];
        assert!(matches!(verdict(&history), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn an_unknown_put_may_take_effect_late_or_never() {
        // The client gave up at 5; the value shows up at 20 (applied late), then is overwritten.
        let late = [
            unknown_put(1, "k", "a", 0, 5),
            get(2, "k", None, 10, 11),
            get(2, "k", Some("a"), 20, 21),
            put(3, "k", "b", 22, 23),
            get(2, "k", Some("b"), 24, 25),
        ];
        assert_eq!(verdict(&late), Verdict::Linearizable);
        // Never applied: also fine.
        let never = [unknown_put(1, "k", "a", 0, 5), get(2, "k", None, 10, 11)];
        assert_eq!(verdict(&never), Verdict::Linearizable);
        // But it cannot take effect before it was invoked.
        let early = [get(2, "k", Some("a"), 0, 1), unknown_put(1, "k", "a", 2, 5)];
        assert!(matches!(verdict(&early), Verdict::NotLinearizable(_)));
        // Nor twice.
        let twice = [
            unknown_put(1, "k", "a", 0, 5),
            get(2, "k", Some("a"), 10, 11),
            put(3, "k", "b", 12, 13),
            get(2, "k", Some("a"), 14, 15),
        ];
        assert!(matches!(verdict(&twice), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn unknown_delete_and_failed_operations() {
        let history = [
            put(1, "k", "a", 0, 1),
            op(2, "k", Call::Delete, Outcome::Unknown, 2, 3),
            get(3, "k", None, 4, 5),
            // Definitely not applied: must not explain a read.
            op(1, "k", Call::Put("z".into()), Outcome::Failed, 6, 7),
            op(1, "k", Call::Get, Outcome::Unknown, 6, 7),
        ];
        assert_eq!(verdict(&history), Verdict::Linearizable);
        let mut bad = history.to_vec();
        bad.push(get(3, "k", Some("z"), 8, 9));
        assert!(matches!(verdict(&bad), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn unread_unknown_puts_are_dropped_unless_a_delete_needs_them() {
        let ops = vec![
            unknown_put(1, "k", "a", 0, 5),
            unknown_put(1, "k", "b", 0, 5),
            get(2, "k", Some("b"), 6, 7),
        ];
        assert_eq!(relevant(ops.clone()).len(), 2);
        let mut with_delete = ops;
        with_delete.push(del(2, "k", true, 8, 9));
        assert_eq!(relevant(with_delete).len(), 4);
        // And the delete's "existed" really can depend on an unknown put nobody read.
        let history = [unknown_put(1, "k", "a", 0, 5), del(2, "k", true, 6, 7)];
        assert_eq!(verdict(&history), Verdict::Linearizable);
    }

    #[test]
    fn keys_are_checked_separately() {
        // Interleaved in time, each key fine on its own; one bad read on y only.
        let mut history = vec![
            put(1, "x", "x1", 0, 2),
            put(2, "y", "y1", 1, 3),
            get(1, "x", Some("x1"), 4, 5),
            get(2, "y", Some("y1"), 4, 5),
            put(1, "x", "x2", 6, 7),
            get(2, "y", Some("y1"), 8, 9),
            get(1, "x", Some("x2"), 8, 9),
        ];
        let report = check(&history, MAX_STATES_PER_KEY).unwrap();
        assert!(report.linearizable());
        assert_eq!(report.keys.len(), 2);
        history.push(get(3, "y", None, 10, 11));
        let report = check(&history, MAX_STATES_PER_KEY).unwrap();
        assert!(report.violated());
        assert_eq!(report.keys[0].verdict, Verdict::Linearizable);
        let Verdict::NotLinearizable(w) = &report.keys[1].verdict else {
            panic!("y must fail: {report:?}");
        };
        assert!(w.ops.iter().all(|op| op.key == "y"));
        assert_eq!(w.stuck, history[7]);
    }

    #[test]
    fn the_bound_makes_a_search_undecided_not_a_pass() {
        // Many concurrent puts and a read that fits none of them: the search must try orders.
        let mut history: Vec<Operation> = (0..12)
            .map(|i| put(i, "k", &format!("v{i}"), 0, 100))
            .collect();
        history.push(get(99, "k", Some("nope"), 101, 102));
        let report = check(&history, 50).unwrap();
        assert_eq!(
            report.keys[0].verdict,
            Verdict::Undecided { max_states: 50 }
        );
        assert!(!report.linearizable() && !report.violated());
        assert!(check(&history, MAX_STATES_PER_KEY).unwrap().violated());
    }

    #[test]
    fn malformed_operations_are_errors_naming_the_operation() {
        let mut bad = put(1, "k", "a", 5, 1);
        let err = check(&[put(1, "k", "a", 0, 1), bad.clone()], 10).unwrap_err();
        assert!(err.starts_with("operation 1 (k): response_ns"), "{err}");
        bad.response_ns = bad.invoke_ns;
        bad.outcome = Outcome::Ok(Return::Delete(true));
        let err = check(&[bad], 10).unwrap_err();
        assert!(err.contains("does not answer"), "{err}");
    }

    #[test]
    fn a_long_sequential_history_is_checked_in_linear_work() {
        let history: Vec<Operation> = (0..20_000)
            .map(|i| {
                if i % 2 == 0 {
                    put(i % 4, "k", &format!("v{i}"), 10 * i, 10 * i + 5)
                } else {
                    get(i % 4, "k", Some(&format!("v{}", i - 1)), 10 * i, 10 * i + 5)
                }
            })
            .collect();
        let report = check(&history, MAX_STATES_PER_KEY).unwrap();
        assert!(report.linearizable());
        assert_eq!(report.keys[0].states, 20_000);
    }

    #[test]
    fn a_violation_deep_in_a_long_history_shrinks_to_the_operations_involved() {
        let mut history: Vec<Operation> = (0..5_000)
            .map(|i| {
                let v = format!("v{}", i - i % 2);
                if i % 2 == 0 {
                    put(i % 4, "k", &v, 10 * i, 10 * i + 5)
                } else {
                    get(i % 4, "k", Some(&v), 10 * i, 10 * i + 5)
                }
            })
            .collect();
        let stale = get(9, "k", Some("v0"), 50_000, 50_001);
        history.push(stale.clone());
        let w = witness(&history);
        assert_eq!((w.deepest, w.of, &w.stuck), (5_000, 5_001, &stale));
        assert_eq!(w.ops.len(), 3, "{:#?}", w.ops);
        assert_eq!((&w.ops[0], &w.ops[2]), (&history[0], &stale));
        assert!(matches!(w.ops[1].call, Call::Put(_)));
    }

    #[test]
    fn on_a_key_with_deletes_only_reads_are_shrunk_away() {
        let history = [
            put(1, "k", "a", 0, 1),
            get(2, "k", Some("a"), 2, 3),
            del(1, "k", true, 4, 5),
            get(2, "k", Some("a"), 6, 7),
        ];
        let w = witness(&history);
        assert_eq!(
            w.ops,
            vec![history[0].clone(), history[2].clone(), history[3].clone()]
        );
    }

    #[test]
    fn history_round_trips_through_json() {
        let history = [
            put(1, "k", "a", 0, 1),
            get(2, "k", None, 0, 1),
            unknown_put(1, "k", "b", 2, 3),
            del(2, "k", true, 4, 5),
        ];
        for op in &history {
            let line = serde_json::to_string(op).unwrap();
            assert_eq!(&serde_json::from_str::<Operation>(&line).unwrap(), op);
        }
        assert_eq!(
            serde_json::to_string(&history[1]).unwrap(),
            r#"{"client":2,"key":"k","call":"get","outcome":{"ok":{"get":null}},"invoke_ns":0,"response_ns":1000000}"#
        );
    }
}
