//! Errors for bad bounds and mutant names, shared by every protocol's configuration.

use thiserror::Error;

/// A configuration value out of range, named by the command-line flag that sets it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    /// The flag (e.g. `--max-term`) or trace field that holds the bad value.
    pub flag: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(flag: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            flag,
            message: message.into(),
        }
    }
}

/// `true`, for `#[serde(default = ..)]` of a switch that is on unless a trace says otherwise.
pub(crate) fn yes() -> bool {
    true
}

/// Whether a switch is on (its default): then it is left out of traces, which stay as before.
pub(crate) fn is_true(b: &bool) -> bool {
    *b
}

/// Checks `lo <= value <= hi` for an integer bound.
pub fn in_range(flag: &'static str, value: u8, lo: u8, hi: u8) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(
            flag,
            format!("{value} is out of range (accepted: {lo} to {hi})"),
        ))
    }
}

/// Which set of named configurations `ballot check` runs when no bound flag is given: each
/// protocol lists, per profile, small configurations aimed at the rules of its contract (an
/// election run with more servers and no log, a log-repair run with distinct values from an
/// empty start, crash/restart and network variants, one per protocol option).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Each protocol's default bounds alone (seconds): for a pre-commit hook; not every rule
    /// is exercised.
    Quick,
    /// The default: small configurations from an empty start, each aimed at other rules,
    /// within 10 minutes on two cores for all three protocols (about 90 s today). The mutant
    /// matrix (.ci/mutants.py) checks every catalogued bug against it and lists the few it does
    /// not catch yet, with why.
    Ci,
    /// CI plus deeper bounds, for a nightly run (tens of minutes).
    Deep,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Quick, Profile::Ci, Profile::Deep];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Quick => "quick",
            Profile::Ci => "ci",
            Profile::Deep => "deep",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown profile `{s}` (accepted: quick, ci, deep)"))
    }
}

/// One configuration of a profile: a stable name (`election`, `log-repair`, …; reports and
/// JUnit use it), what it is there to exercise, and the bounds.
#[derive(Clone, Debug)]
pub struct ProfileEntry<C> {
    pub name: &'static str,
    pub purpose: &'static str,
    pub config: C,
}
