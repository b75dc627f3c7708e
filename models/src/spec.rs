//! What every protocol model offers the CLI, the trace format and the tests, beyond
//! [`stateright::Model`]: its configuration, its mutants, symmetry, and a readable view of states.

use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::Model;
use std::fmt::{Debug, Display};
use std::hash::Hash;

use crate::config::{ConfigError, Profile, ProfileEntry};

/// A mutant as the catalogue lists it, independent of the protocol.
#[derive(Clone, Debug)]
pub struct MutantEntry<C> {
    pub name: &'static str,
    /// Reference number (e.g. `M3`, `ZK-1419`).
    pub id: &'static str,
    pub summary: &'static str,
    /// The property the checker must find violated.
    pub breaks: &'static str,
    pub precedent: &'static str,
    /// The smallest bounds that expose it (the mutant included).
    pub bounds: C,
    /// Length of the shortest counterexample at those bounds, as BFS finds it.
    pub shortest: usize,
}

/// A protocol model ballot can check, trace, explore and list.
pub trait Spec:
    Model<State = <Self as Spec>::St, Action = <Self as Spec>::Act> + Clone + Send + Sync + 'static
{
    type St: Clone + Debug + Hash + PartialEq + Send + Sync + 'static;
    type Act: Clone
        + Debug
        + Display
        + PartialEq
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;
    /// Bounds and fault model; serialised into traces (without the mutant).
    type Config: Clone + Debug + PartialEq + Serialize + DeserializeOwned;

    /// The protocol's name on the command line and in traces.
    const PROTOCOL: &'static str;

    /// Builds the model, validating every bound (errors name the flag).
    fn build(config: Self::Config, mutant: Option<&str>) -> Result<Self, ConfigError>;
    fn config(&self) -> &Self::Config;
    fn mutant_name(&self) -> Option<&'static str>;
    /// One line describing the bounds, for reports.
    fn summary(&self) -> String;
    fn mutants() -> Vec<MutantEntry<Self::Config>>;
    /// The rules and guards of the protocol's contract, for `--coverage` and `--ablate`.
    fn catalogue() -> &'static crate::coverage::Catalogue;
    /// The ablations of the catalogue that are equivalent to the real rule, each with its reason.
    fn equivalent_ablations() -> &'static [crate::coverage::Equivalent] {
        &[]
    }
    /// The ablations of the catalogue known to survive the CI profile though they are not
    /// equivalent: gaps of the properties (a behaviour changes, but no property can see it, e.g.
    /// availability or timing), each with why. `--ablate` reports them apart from the
    /// equivalent ones and fails if one is killed (the list must not go stale).
    fn known_gaps() -> &'static [crate::coverage::Equivalent] {
        &[]
    }
    /// Guards of the catalogue that are also evaluated without being counted (FLE: its
    /// properties compare votes with the vote order): their counts do not show every place an
    /// ablation changes, so `--ablate` checks their ablations at every configuration.
    fn uncounted_guards() -> &'static [crate::coverage::Guard] {
        &[]
    }
    /// Whether the model's own shortcuts change under the ablation set now (then an ablation's
    /// effect is not confined to the states where its guard is evaluated, and `--ablate` may skip
    /// no configuration). Raft: dead-response collection is off while the guard it rests on is
    /// ablated.
    fn shortcuts_follow_ablation(&self) -> bool {
        false
    }
    /// The named configurations `profile` runs, cheapest first (see [`Profile`]). A mutant
    /// checked against a profile takes each configuration with the mutant set.
    fn profile(profile: Profile) -> Vec<ProfileEntry<Self::Config>>;

    /// Whether the model is symmetric in server ids (then `representative` is meaningful).
    fn symmetric(&self) -> bool {
        false
    }
    /// The representative of a state's symmetry class.
    fn representative(&self, state: &Self::St) -> Self::St {
        state.clone()
    }

    /// A codec that compacts states in the BFS frontier (see [`crate::engine::StateCodec`]).
    fn codec(&self) -> Option<&'static dyn crate::engine::StateCodec<Self::St>> {
        None
    }

    /// The abstract state, as written into traces.
    fn state_view(&self, state: &Self::St) -> serde_json::Value;
    /// What a step changed, in one line, for the terminal.
    fn describe_change(&self, before: &Self::St, after: &Self::St) -> String;

    /// What a state shows in a sequence diagram: a role/term label per server and the messages
    /// in flight (see [`crate::diagram`]).
    fn diagram_frame(&self, state: &Self::St) -> crate::diagram::Frame;
    /// What an action is in a sequence diagram.
    fn diagram_action(&self, action: &Self::Act) -> crate::diagram::ActionKind;
}

/// A `--mutant NAME` of a protocol's catalogue, or an error naming the flag and listing what is
/// accepted; `None` when no mutant was asked for.
pub(crate) fn parse_mutant<M: Copy>(
    protocol: &str,
    name: Option<&str>,
    all: &[M],
    parse: impl Fn(&str) -> Option<M>,
    name_of: impl Fn(M) -> &'static str,
) -> Result<Option<M>, ConfigError> {
    let Some(name) = name else { return Ok(None) };
    parse(name).map(Some).ok_or_else(|| {
        let accepted: Vec<&str> = all.iter().map(|&m| name_of(m)).collect();
        ConfigError::new(
            "--mutant",
            format!(
                "unknown {protocol} mutant `{name}` (accepted: {})",
                accepted.join(", ")
            ),
        )
    })
}

/// One configuration of a profile as the correct model explored it: its rule counts and whether
/// every property came out as expected.
#[derive(Clone, Debug)]
pub struct ConfigurationCounts {
    pub name: &'static str,
    pub counts: crate::coverage::Counts,
    pub passed: bool,
}

/// Checks every configuration of `profile` exhaustively (BFS, symmetry where the model has it,
/// `threads` workers) with rule coverage on, and returns each configuration's counts and
/// verdict, calling `before` with each configuration's name as it starts. `--ablate` uses the
/// counts to skip configurations where an ablation cannot change a single step
/// ([`crate::coverage::ablation_can_change`]).
pub fn profile_counts<S: Spec>(
    profile: Profile,
    threads: usize,
    before: &dyn Fn(&'static str),
) -> Vec<ConfigurationCounts> {
    entries_counts::<S>(&S::profile(profile), threads, before)
}

/// [`profile_counts`] over any list of configurations.
pub fn entries_counts<S: Spec>(
    entries: &[ProfileEntry<S::Config>],
    threads: usize,
    before: &dyn Fn(&'static str),
) -> Vec<ConfigurationCounts> {
    use crate::engine::{check_with, CheckOptions, Progress};
    crate::coverage::enable(true);
    let _ = crate::coverage::take();
    let mut out = Vec::new();
    for entry in entries {
        before(entry.name);
        let spec = S::build(entry.config.clone(), None).expect("profile configurations are valid");
        let options = CheckOptions {
            threads,
            symmetry: spec.symmetric(),
            ..CheckOptions::default()
        };
        let rep = |s: &S::St| spec.representative(s);
        let outcome = check_with(
            &spec,
            &options,
            Some(&rep),
            spec.codec(),
            &Progress::default(),
        );
        out.push(ConfigurationCounts {
            name: entry.name,
            counts: crate::coverage::take(),
            passed: outcome.exit_code() == 0,
        });
    }
    crate::coverage::enable(false);
    out
}

/// Checks every configuration of `profile` as [`profile_counts`] does, and returns the counts
/// summed with each configuration's verdict (`true`: every property as expected). For tests and
/// tools; `ballot check --coverage` is the CLI's way.
pub fn profile_coverage<S: Spec>(
    profile: Profile,
    threads: usize,
) -> (crate::coverage::Counts, Vec<(&'static str, bool)>) {
    let mut total = crate::coverage::Counts::default();
    let mut verdicts = Vec::new();
    for c in profile_counts::<S>(profile, threads, &|_| {}) {
        total.merge(&c.counts);
        verdicts.push((c.name, c.passed));
    }
    (total, verdicts)
}

/// What one ablation came to against a profile.
#[derive(Clone, Debug)]
pub enum AblationOutcome {
    /// A property failed: the configuration and the property.
    Killed {
        configuration: &'static str,
        property: &'static str,
    },
    /// Every configuration checked passed, exhaustively. `skipped` configurations were not
    /// checked because the ablation cannot change a step there.
    Survived { checked: usize, skipped: usize },
    /// No property failed, but a search limit stopped `configuration` (the first so stopped)
    /// before it was exhaustive: the ablation is neither killed nor shown to survive.
    Undecided {
        configuration: &'static str,
        checked: usize,
        skipped: usize,
    },
    /// The ablated model panicked (an index or arithmetic assumption of the model broke before
    /// any property could).
    Crashed {
        configuration: &'static str,
        message: String,
    },
}

/// What one fail-fast check of a model came to ([`check_fail_fast`]).
#[derive(Clone, Debug, PartialEq)]
pub enum FailFast {
    /// A property failed (the first one found).
    Failed(&'static str),
    /// Every property as expected; `exhaustive` unless a limit stopped the search.
    Passed { exhaustive: bool },
    /// The model panicked (an index or arithmetic assumption broke before any property could).
    Crashed(String),
}

/// Limits on one search (`--max-states`, `--timeout`); none by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchLimits {
    pub max_states: Option<u64>,
    pub timeout: Option<std::time::Duration>,
}

/// Checks `spec` by BFS with `threads` workers, symmetry where the model has it, stopping at the
/// first failing property, with a panic of the model caught and reported: the outcome and the
/// unique states explored (0 after a panic). `--ablate` and the shortcut differential test
/// both judge an ablation with it. `limits` bound the search (a stopped search passes, not
/// exhaustively).
pub fn check_fail_fast<S: Spec>(spec: &S, threads: usize, limits: SearchLimits) -> (FailFast, u64) {
    use crate::engine::{check_with, CheckOptions, Progress};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let options = CheckOptions {
        threads,
        symmetry: spec.symmetric(),
        fail_fast: true,
        max_states: limits.max_states,
        timeout: limits.timeout,
        ..CheckOptions::default()
    };
    let rep = |s: &S::St| spec.representative(s);
    let run = catch_unwind(AssertUnwindSafe(|| {
        check_with(
            spec,
            &options,
            Some(&rep),
            spec.codec(),
            &Progress::default(),
        )
    }));
    match run {
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            (FailFast::Crashed(message), 0)
        }
        Ok(run) => {
            let outcome = match run.properties.iter().find(|p| p.verdict.is_failure()) {
                Some(p) => FailFast::Failed(p.name),
                None => FailFast::Passed {
                    exhaustive: run.stats.exhausted(),
                },
            };
            (outcome, run.stats.unique)
        }
    }
}

/// Checks `profile` against one ablation of `S`'s catalogue (guard index `guard`), stopping at
/// the first configuration where a property fails. With `relevance` (the correct model's counts
/// per configuration, from [`profile_counts`] of the same profile), a configuration where the
/// ablation cannot change a single step is skipped: there the ablated model is the correct one,
/// which passes. The ablation is cleared afterwards.
pub fn ablate_profile<S: Spec>(
    profile: Profile,
    threads: usize,
    guard: usize,
    ablation: crate::coverage::Ablation,
    relevance: Option<&[ConfigurationCounts]>,
    limits: SearchLimits,
) -> AblationOutcome {
    ablate_entries::<S>(
        &S::profile(profile),
        threads,
        guard,
        ablation,
        relevance,
        limits,
    )
}

/// [`ablate_profile`] over any list of configurations (`relevance` from [`entries_counts`] of
/// the same list).
pub fn ablate_entries<S: Spec>(
    entries: &[ProfileEntry<S::Config>],
    threads: usize,
    guard: usize,
    ablation: crate::coverage::Ablation,
    relevance: Option<&[ConfigurationCounts]>,
    limits: SearchLimits,
) -> AblationOutcome {
    let family = S::catalogue().family;
    crate::coverage::set_ablation(Some((family, guard, ablation)));
    let (mut checked, mut skipped) = (0, 0);
    let mut stopped = None;
    let mut outcome = None;
    for (i, entry) in entries.iter().enumerate() {
        let spec = S::build(entry.config.clone(), None).expect("profile configurations are valid");
        let relevant = relevance.and_then(|r| r.get(i)).is_none_or(|c| {
            debug_assert_eq!(c.name, entry.name, "relevance from another profile");
            spec.shortcuts_follow_ablation()
                || S::uncounted_guards()
                    .iter()
                    .any(|g| g.index as usize == guard)
                || crate::coverage::ablation_can_change(c.counts.decided(family, guard), ablation)
        });
        if !relevant {
            skipped += 1;
            continue;
        }
        checked += 1;
        match check_fail_fast(&spec, threads, limits).0 {
            FailFast::Crashed(message) => {
                outcome = Some(AblationOutcome::Crashed {
                    configuration: entry.name,
                    message,
                });
                break;
            }
            FailFast::Failed(property) => {
                outcome = Some(AblationOutcome::Killed {
                    configuration: entry.name,
                    property,
                });
                break;
            }
            FailFast::Passed { exhaustive } => {
                if !exhaustive && stopped.is_none() {
                    stopped = Some(entry.name);
                }
            }
        }
    }
    crate::coverage::set_ablation(None);
    outcome.unwrap_or(match stopped {
        Some(configuration) => AblationOutcome::Undecided {
            configuration,
            checked,
            skipped,
        },
        None => AblationOutcome::Survived { checked, skipped },
    })
}

/// Writes a ghost (history variables no server holds, kept for the properties) compactly, for a
/// state's `Debug`: false flags and all-zero tables are left out, trailing zeros of a table
/// dropped, and the block labelled as history so nobody reads it as server state.
///
/// `sets` names the tables that hold, per term or epoch (the prefix: `t`, `e`), a set of servers
/// as a bitmask; they are written as `{t1: s0 s2}`.
pub(crate) fn fmt_ghost(
    f: &mut std::fmt::Formatter<'_>,
    ghost: &impl Serialize,
    sets: &[(&str, &str)],
) -> std::fmt::Result {
    use serde_json::Value;
    writeln!(
        f,
        "ghost (history variables for the properties; no server holds them):"
    )?;
    let Ok(Value::Object(fields)) = serde_json::to_value(ghost) else {
        return Ok(());
    };
    let mut any = false;
    for (name, value) in fields {
        let shown = match value {
            Value::Bool(false) | Value::Null => continue,
            Value::Array(items) => {
                let zero = |v: &Value| v.as_u64() == Some(0);
                let keep = items.iter().rposition(|v| !zero(v)).map_or(0, |i| i + 1);
                if keep == 0 {
                    continue;
                }
                match sets.iter().find(|(table, _)| *table == name) {
                    Some((_, prefix)) => {
                        let entries: Vec<String> = items[..keep]
                            .iter()
                            .enumerate()
                            .filter_map(|(i, v)| v.as_u64().filter(|&b| b != 0).map(|b| (i, b)))
                            .map(|(i, bits)| {
                                let members: Vec<String> = (0..8)
                                    .filter(|j| bits & (1 << j) != 0)
                                    .map(|j| format!("s{j}"))
                                    .collect();
                                format!("{prefix}{i}: {}", members.join(" "))
                            })
                            .collect();
                        format!("{{{}}}", entries.join(", "))
                    }
                    None => Value::Array(items[..keep].to_vec()).to_string(),
                }
            }
            v => v.to_string(),
        };
        any = true;
        writeln!(f, "  {name}: {shown}")?;
    }
    if !any {
        writeln!(f, "  (nothing recorded)")?;
    }
    Ok(())
}
