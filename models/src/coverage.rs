//! Rule coverage and rule ablation.
//!
//! Every rule of a protocol contract (`docs/protocols/{raft,zab,fle}.md`) has a stable id such as
//! `raft.append.log-check`, and the model function that implements it cites that id in its doc
//! comment. Inside the model, a rule announces that it applied with [`fire`], and every condition
//! that decides whether (or how) its effect happens goes through [`guard`] or [`quorum`]:
//!
//! ```ignore
//! coverage::fire(points::APPEND_RECEIVE);
//! if !coverage::guard(points::APPEND_LOG_CHECK, log_ok) {
//!     return reject();
//! }
//! ```
//!
//! **Polarity.** A guard's value is `true` when the rule may go ahead with its main effect
//! (grant, accept, commit, elect); write refusals as `if !guard(..) { refuse }`. That is what lets
//! one ablation, [`Ablation::Drop`] (the guard always allows), mean "the check is gone" for every
//! guard.
//!
//! **Coverage** ([`enable`]): each thread counts rule firings and guard outcomes in thread-local
//! arrays; the engine [`flush`]es them into one total when a worker finishes, and [`take`] reads
//! and resets it. With coverage off a point costs one relaxed atomic load.
//!
//! **Ablation** ([`set_ablation`]): one guard of the whole process is replaced by
//! [`Ablation::Drop`] (always allows), [`Ablation::Invert`] (the negation) or
//! [`Ablation::QuorumBelow`] (a quorum one smaller). `ballot check --ablate` checks the CI
//! profile against each in turn: a mutation score for the model's properties.
//!
//! Each protocol declares its rules and guards once, with [`rules!`]; the catalogue is what the
//! coverage table and the ablation list enumerate, so a rule of the contract that the model never
//! reaches shows up as a row of zeros.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

/// Protocols with a catalogue: the first index of every point (FLE's points keep their identity
/// inside ZAB's composed election).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Fle = 0,
    Zab = 1,
    Raft = 2,
    /// For unit tests of this module, so that they never ablate a real model's guard.
    #[doc(hidden)]
    Test = 3,
}

const FAMILIES: usize = 4;
/// The most rules, and the most guards, one protocol may declare.
pub const MAX_POINTS: usize = 128;

/// A rule of a protocol contract, as the model code names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub index: u16,
}

/// A guard of a rule, as the model code names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    pub family: Family,
    pub index: u16,
}

/// A rule in a protocol's catalogue.
#[derive(Clone, Copy, Debug)]
pub struct RuleDef {
    /// The stable id the contract states it under, e.g. `raft.append.log-check`.
    pub id: &'static str,
}

/// A guard in a protocol's catalogue.
#[derive(Clone, Copy, Debug)]
pub struct GuardDef {
    /// Index of its rule in the catalogue's rules.
    pub rule: usize,
    /// The guard's name within its rule (its full id is `rule/name`).
    pub name: &'static str,
    /// Whether the guard compares a count with a quorum ([`quorum`]): then it also has the
    /// [`Ablation::QuorumBelow`] ablation.
    pub quorum: bool,
}

/// One protocol's rules and guards.
#[derive(Clone, Copy, Debug)]
pub struct Catalogue {
    pub family: Family,
    pub rules: &'static [RuleDef],
    pub guards: &'static [GuardDef],
}

impl Catalogue {
    /// `rule/guard`, the id a guard is reported and ablated under.
    pub fn guard_id(&self, index: usize) -> String {
        let g = &self.guards[index];
        format!("{}/{}", self.rules[g.rule].id, g.name)
    }

    /// The guard with id `rule/guard`.
    pub fn find_guard(&self, id: &str) -> Option<usize> {
        (0..self.guards.len()).find(|&i| self.guard_id(i) == id)
    }

    /// Every ablation of this catalogue, in catalogue order.
    pub fn ablations(&self) -> Vec<(usize, Ablation)> {
        let mut out = Vec::new();
        for (i, g) in self.guards.iter().enumerate() {
            out.push((i, Ablation::Drop));
            out.push((i, Ablation::Invert));
            if g.quorum {
                out.push((i, Ablation::QuorumBelow));
            }
        }
        out
    }
}

/// Declares a protocol's catalogue: a `Rule` constant per rule, a `Guard` constant per guard, and
/// a `pub static CATALOGUE`.
///
/// ```ignore
/// rules! {
///     family: Raft;
///     APPEND = "raft.append.receive" {
///         APPEND_TERM = "current-term",
///         APPEND_LOG_CHECK = "log-check",
///     }
///     VOTE_COUNT = "raft.vote.count" { VOTE_MAJORITY = quorum "majority" }
/// }
/// ```
#[macro_export]
macro_rules! rules {
    (
        family: $family:ident;
        $( $(#[$rmeta:meta])* $rule:ident = $rid:literal {
            $( $(#[$gmeta:meta])* $guard:ident = $($q:ident)? $gname:literal ),* $(,)?
        } )*
    ) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
        enum __RuleIndex { $( $rule, )* __END }
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
        enum __GuardIndex { $( $( $guard, )* )* __END }
        const _: () = assert!(
            __RuleIndex::__END as usize <= $crate::coverage::MAX_POINTS
                && __GuardIndex::__END as usize <= $crate::coverage::MAX_POINTS,
            "too many rules or guards for one catalogue"
        );
        $(
            $(#[$rmeta])*
            #[doc = concat!("Rule `", $rid, "`.")]
            pub const $rule: $crate::coverage::Rule = $crate::coverage::Rule {
                family: $crate::coverage::Family::$family,
                index: __RuleIndex::$rule as u16,
            };
            $(
                $(#[$gmeta])*
                #[doc = concat!("Guard `", $rid, "/", $gname, "`.")]
                pub const $guard: $crate::coverage::Guard = $crate::coverage::Guard {
                    family: $crate::coverage::Family::$family,
                    index: __GuardIndex::$guard as u16,
                };
            )*
        )*
        /// This protocol's rules and guards (see [`crate::coverage`]).
        pub static CATALOGUE: $crate::coverage::Catalogue = $crate::coverage::Catalogue {
            family: $crate::coverage::Family::$family,
            rules: &[ $( $crate::coverage::RuleDef { id: $rid } ),* ],
            guards: &[ $( $( $crate::coverage::GuardDef {
                rule: __RuleIndex::$rule as usize,
                name: $gname,
                quorum: $crate::rules!(@quorum $($q)?),
            } , )* )* ],
        };
    };
    (@quorum quorum) => { true };
    (@quorum) => { false };
}

/// An ablation that no property can distinguish from the real rule, with the argument why.
#[derive(Clone, Copy, Debug)]
pub struct Equivalent {
    /// The guard's id, `rule/guard`.
    pub guard: &'static str,
    pub ablation: Ablation,
    /// Why the ablated model has exactly the behaviours (or a subset of the behaviours, none of
    /// them a bug) of the real one, within every bound.
    pub reason: &'static str,
}

/// How an ablated guard decides instead of its real condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ablation {
    /// The check is gone: the guard always allows.
    Drop,
    /// The guard allows exactly when it should refuse.
    Invert,
    /// A quorum guard accepts one vote (or acknowledgement) fewer than a quorum.
    QuorumBelow,
}

impl Ablation {
    pub fn name(self) -> &'static str {
        match self {
            Ablation::Drop => "drop",
            Ablation::Invert => "invert",
            Ablation::QuorumBelow => "quorum-1",
        }
    }

    pub fn parse(s: &str) -> Option<Ablation> {
        [Ablation::Drop, Ablation::Invert, Ablation::QuorumBelow]
            .into_iter()
            .find(|a| a.name() == s)
    }

    fn code(self) -> u32 {
        match self {
            Ablation::Drop => 1,
            Ablation::Invert => 2,
            Ablation::QuorumBelow => 3,
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
/// 0: no ablation; otherwise `family << 24 | index << 8 | ablation code`.
static ABLATION: AtomicU32 = AtomicU32::new(0);

/// Counts of one family, or of all: rule firings and guard outcomes.
#[derive(Clone, Debug)]
pub struct Counts {
    fired: Vec<u64>,
    /// `[true, false]` per guard.
    decided: Vec<[u64; 2]>,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            fired: vec![0; FAMILIES * MAX_POINTS],
            decided: vec![[0; 2]; FAMILIES * MAX_POINTS],
        }
    }
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        for (a, b) in self.fired.iter_mut().zip(&other.fired) {
            *a += b;
        }
        for (a, b) in self.decided.iter_mut().zip(&other.decided) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }

    fn is_zero(&self) -> bool {
        self.fired.iter().all(|&n| n == 0) && self.decided.iter().all(|d| d == &[0, 0])
    }

    /// How often `rule` fired.
    pub fn fired(&self, family: Family, rule: usize) -> u64 {
        self.fired[family as usize * MAX_POINTS + rule]
    }

    /// How often `guard` was seen `[true, false]`.
    pub fn decided(&self, family: Family, guard: usize) -> [u64; 2] {
        self.decided[family as usize * MAX_POINTS + guard]
    }

    /// The rules of `catalogue` that never fired and the guards that were never seen both true and
    /// false, as ids.
    pub fn gaps(&self, catalogue: &Catalogue) -> Vec<String> {
        let mut out = Vec::new();
        if catalogue.rules.is_empty() {
            out.push("the catalogue declares no rules".to_string());
        }
        for (i, r) in catalogue.rules.iter().enumerate() {
            if self.fired(catalogue.family, i) == 0 {
                out.push(format!("{} never fired", r.id));
            }
        }
        for i in 0..catalogue.guards.len() {
            let [t, f] = self.decided(catalogue.family, i);
            if t == 0 || f == 0 {
                let never = if t == 0 && f == 0 {
                    "never evaluated"
                } else if t == 0 {
                    "never true"
                } else {
                    "never false"
                };
                out.push(format!("{} {never}", catalogue.guard_id(i)));
            }
        }
        out
    }

    /// Adds `other`'s counts into these.
    pub fn merge(&mut self, other: &Counts) {
        self.add(other);
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Counts>> = const { RefCell::new(None) };
}

static TOTAL: Mutex<Option<Counts>> = Mutex::new(None);

/// Turns counting on or off for the whole process.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether counting is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Ablates one guard of the whole process (`None`: none). Every model evaluation after this call
/// sees the ablated guard.
pub fn set_ablation(ablation: Option<(Family, usize, Ablation)>) {
    let code = match ablation {
        None => 0,
        Some((family, index, a)) => {
            assert!(index < MAX_POINTS, "guard index {index} out of range");
            ((family as u32) << 24) | ((index as u32) << 8) | a.code()
        }
    };
    ABLATION.store(code, Ordering::SeqCst);
}

/// Whether ablating a guard with `a` can change any step of a configuration whose correct
/// model saw the guard `[true, false]` as `decided`. A model differs from its ablation only
/// where the guard is evaluated with a result the ablation changes: a drop (always allow) and
/// quorum-1 (a count one below the majority allows) only where the guard was false, an inversion
/// wherever it was evaluated. By induction over the steps from the initial states, the ablated
/// model then explores exactly the correct model's graph. (A model re-evaluating a guard without
/// counting it, as FLE's `unrecorded`, does so only in states where the counted evaluation ran.)
pub fn ablation_can_change(decided: [u64; 2], a: Ablation) -> bool {
    let [t, f] = decided;
    match a {
        Ablation::Drop | Ablation::QuorumBelow => f > 0,
        Ablation::Invert => t > 0 || f > 0,
    }
}

/// Whether `g` is the guard ablated now (in any way).
pub fn is_ablated(g: Guard) -> bool {
    ablation().is_some_and(|(family, index, _)| family == g.family && index == g.index as usize)
}

/// The current ablation, if any.
pub fn ablation() -> Option<(Family, usize, Ablation)> {
    let code = ABLATION.load(Ordering::Relaxed);
    if code == 0 {
        return None;
    }
    let family = match code >> 24 {
        0 => Family::Fle,
        1 => Family::Zab,
        2 => Family::Raft,
        _ => Family::Test,
    };
    let a = match code & 0xff {
        1 => Ablation::Drop,
        2 => Ablation::Invert,
        _ => Ablation::QuorumBelow,
    };
    Some((family, ((code >> 8) & 0xffff) as usize, a))
}

#[inline]
fn ablated(g: Guard) -> Option<Ablation> {
    let code = ABLATION.load(Ordering::Relaxed);
    if code == 0 {
        return None;
    }
    slow_ablated(g, code)
}

#[cold]
fn slow_ablated(g: Guard, code: u32) -> Option<Ablation> {
    let want = ((g.family as u32) << 24) | ((g.index as u32) << 8);
    if code & !0xff != want {
        return None;
    }
    match code & 0xff {
        1 => Some(Ablation::Drop),
        2 => Some(Ablation::Invert),
        _ => Some(Ablation::QuorumBelow),
    }
}

fn with_local(f: impl FnOnce(&mut Counts)) {
    LOCAL.with(|l| f(l.borrow_mut().get_or_insert_with(Counts::default)));
}

/// Records that `rule` applied.
#[inline]
pub fn fire(rule: Rule) {
    if ENABLED.load(Ordering::Relaxed) {
        with_local(|c| c.fired[rule.family as usize * MAX_POINTS + rule.index as usize] += 1);
    }
}

#[inline]
fn record(g: Guard, value: bool) {
    if ENABLED.load(Ordering::Relaxed) {
        with_local(|c| {
            c.decided[g.family as usize * MAX_POINTS + g.index as usize][usize::from(!value)] += 1
        });
    }
}

/// Evaluates a guard: `ok` is true when the rule may go ahead (see the module's polarity rule).
/// Counts the real outcome; returns the ablated one if this guard is ablated.
#[inline]
pub fn guard(g: Guard, ok: bool) -> bool {
    record(g, ok);
    match ablated(g) {
        None | Some(Ablation::QuorumBelow) => ok,
        Some(Ablation::Drop) => true,
        Some(Ablation::Invert) => !ok,
    }
}

/// A quorum guard: whether `count` reaches `quorum`. Its ablations also include a quorum one
/// smaller.
#[inline]
pub fn quorum(g: Guard, count: usize, quorum: usize) -> bool {
    let ok = count >= quorum;
    record(g, ok);
    match ablated(g) {
        None => ok,
        Some(Ablation::Drop) => true,
        Some(Ablation::Invert) => !ok,
        Some(Ablation::QuorumBelow) => count + 1 >= quorum,
    }
}

/// Moves this thread's counts into the process total. Engine workers call it when they finish.
pub fn flush() {
    let local = LOCAL.with(|l| l.borrow_mut().take());
    if let Some(local) = local {
        if local.is_zero() {
            return;
        }
        let mut total = TOTAL.lock().unwrap_or_else(|e| e.into_inner());
        total.get_or_insert_with(Counts::default).add(&local);
    }
}

/// Calls [`flush`] when dropped: the first line of every engine worker, so that counts reach the
/// total however the worker ends.
pub struct FlushOnDrop;

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        flush();
    }
}

/// The process total (this thread's counts included), reset to zero.
pub fn take() -> Counts {
    flush();
    TOTAL
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    mod points {
        crate::rules! {
            family: Test;
            A = "test.a" { A_OK = "ok", A_MAJ = quorum "majority" }
            B = "test.b" {}
        }
    }

    // One test, because ablation and counting are process-wide.
    #[test]
    fn counts_ablates_and_finds_gaps() {
        let cat = &points::CATALOGUE;
        assert_eq!(cat.guard_id(1), "test.a/majority");
        assert_eq!(cat.find_guard("test.a/ok"), Some(0));
        assert_eq!(cat.ablations().len(), 5);
        enable(true);
        let _ = take();
        fire(points::A);
        assert!(guard(points::A_OK, true));
        assert!(!quorum(points::A_MAJ, 1, 2));
        std::thread::spawn(|| {
            assert!(quorum(points::A_MAJ, 2, 2));
            flush();
        })
        .join()
        .unwrap();
        set_ablation(Some((Family::Test, 1, Ablation::QuorumBelow)));
        assert!(quorum(points::A_MAJ, 1, 2));
        assert!(!guard(points::A_OK, false));
        set_ablation(Some((Family::Test, 0, Ablation::Invert)));
        assert!(!guard(points::A_OK, true));
        assert_eq!(ablation(), Some((Family::Test, 0, Ablation::Invert)));
        set_ablation(None);
        let counts = take();
        enable(false);
        assert_eq!(counts.fired(Family::Test, 0), 1);
        assert_eq!(counts.decided(Family::Test, 0), [2, 1]);
        assert_eq!(counts.decided(Family::Test, 1), [1, 2]);
        let gaps = counts.gaps(cat);
        assert_eq!(gaps, vec!["test.b never fired".to_string()]);
    }
}
