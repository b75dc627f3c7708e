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

/// Checks every configuration of `profile` exhaustively (BFS, symmetry where the model has it, `threads` workers) with
/// rule coverage on, and returns the counts with each configuration's verdict (`true`: every
/// property as expected). For tests and tools; `ballot check --coverage` is the CLI's way.
pub fn profile_coverage<S: Spec>(
    profile: Profile,
    threads: usize,
) -> (crate::coverage::Counts, Vec<(&'static str, bool)>) {
    use crate::engine::{check_with, CheckOptions, Progress};
    crate::coverage::enable(true);
    let _ = crate::coverage::take();
    let mut verdicts = Vec::new();
    for entry in S::profile(profile) {
        let spec = S::build(entry.config, None).expect("profile configurations are valid");
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
        verdicts.push((entry.name, outcome.exit_code() == 0));
    }
    let counts = crate::coverage::take();
    crate::coverage::enable(false);
    (counts, verdicts)
}

/// What one ablation came to against a profile.
#[derive(Clone, Debug)]
pub enum AblationOutcome {
    /// A property failed: the configuration and the property.
    Killed {
        configuration: &'static str,
        property: &'static str,
    },
    /// Every configuration passed.
    Survived,
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

/// Checks `spec` by BFS with `threads` workers, symmetry where the model has it, stopping at the
/// first failing property, with a panic of the model caught and reported: the outcome and the
/// unique states explored (0 after a panic). `--ablate` and the shortcut differential test
/// both judge an ablation with it.
pub fn check_fail_fast<S: Spec>(spec: &S, threads: usize) -> (FailFast, u64) {
    use crate::engine::{check_with, CheckOptions, Progress};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let options = CheckOptions {
        threads,
        symmetry: spec.symmetric(),
        fail_fast: true,
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
/// the first configuration where a property fails. The ablation is cleared afterwards.
pub fn ablate_profile<S: Spec>(
    profile: Profile,
    threads: usize,
    guard: usize,
    ablation: crate::coverage::Ablation,
) -> AblationOutcome {
    crate::coverage::set_ablation(Some((S::catalogue().family, guard, ablation)));
    let mut outcome = AblationOutcome::Survived;
    for entry in S::profile(profile) {
        let spec = S::build(entry.config, None).expect("profile configurations are valid");
        match check_fail_fast(&spec, threads).0 {
            FailFast::Crashed(message) => {
                outcome = AblationOutcome::Crashed {
                    configuration: entry.name,
                    message,
                };
                break;
            }
            FailFast::Failed(property) => {
                outcome = AblationOutcome::Killed {
                    configuration: entry.name,
                    property,
                };
                break;
            }
            FailFast::Passed { .. } => {}
        }
    }
    crate::coverage::set_ablation(None);
    outcome
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
