//! The bounds of a Raft model run, and the mutant it carries.

use serde::{Deserialize, Serialize};

use super::mutants::RaftMutant;
use super::types::{MAX_LOG, MAX_SERVERS};
use crate::config::{in_range, ConfigError};
use crate::network::NetworkKind;

/// Highest term the model can reach (the size of the ghost election record).
pub const MAX_TERM: u8 = 7;
/// Client values are bits of a `u8`.
pub const MAX_VALUES: u8 = 7;
/// Crash bound, to keep runs finite in practice.
pub const MAX_CRASHES: u8 = 9;

/// Everything needed to rebuild a Raft model: bounds, fault model and mutant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftConfig {
    /// Number of servers (`--servers`).
    pub servers: u8,
    /// Servers time out only while their term is below this (`--max-term`).
    pub max_term: u8,
    /// A leader accepts a client request only while its log holds fewer client entries than this
    /// (`--max-log`; leaders' no-op entries are not counted).
    pub max_log: u8,
    /// Distinct client values `1..=values`, each proposed at most once (`--values`).
    pub values: u8,
    /// Crashes over the whole run (`--crashes`).
    pub crashes: u8,
    /// Message semantics (`--network`).
    pub network: NetworkKind,
    /// Whether messages can be lost (`--lossy`).
    pub lossy: bool,
    /// Whether a new leader appends a no-op entry of its term (`--leader-noop`).
    pub leader_noop: bool,
    /// The seeded bug, if any (`--mutant`). Traces carry it beside the config, not inside.
    #[serde(skip)]
    pub mutant: Option<RaftMutant>,
}

impl Default for RaftConfig {
    /// The bounds `ballot check raft` uses: exhaustive in well under two minutes on 2 cores.
    fn default() -> Self {
        RaftConfig {
            servers: 3,
            max_term: 3,
            max_log: 2,
            values: 1,
            crashes: 1,
            network: NetworkKind::Unordered,
            lossy: false,
            leader_noop: true,
            mutant: None,
        }
    }
}

impl RaftConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("--servers", self.servers, 1, MAX_SERVERS as u8)?;
        in_range("--max-term", self.max_term, 1, MAX_TERM)?;
        in_range("--max-log", self.max_log, 0, MAX_LOG as u8)?;
        in_range("--values", self.values, 0, MAX_VALUES)?;
        in_range("--crashes", self.crashes, 0, MAX_CRASHES)?;
        let noops = if self.leader_noop { self.max_term } else { 0 };
        if self.max_log as usize + noops as usize > MAX_LOG {
            return Err(ConfigError::new(
                "--max-log",
                format!(
                    "{} client entries plus up to {noops} leader no-op entries exceed the \
                     model's log capacity of {MAX_LOG} (lower --max-log or --max-term, or \
                     turn --leader-noop off)",
                    self.max_log
                ),
            ));
        }
        Ok(())
    }

    /// A one-line summary of the bounds, for reports.
    pub fn summary(&self) -> String {
        format!(
            "servers={} max_term={} max_log={} values={} crashes={} network={} lossy={} leader_noop={}{}",
            self.servers,
            self.max_term,
            self.max_log,
            self.values,
            self.crashes,
            self.network,
            self.lossy,
            self.leader_noop,
            self.mutant
                .map(|m| format!(" mutant={}", m.name()))
                .unwrap_or_default()
        )
    }
}
