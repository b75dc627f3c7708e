//! The bounds of an FLE model run, the servers' initial histories, and the mutant it carries.

use serde::{Deserialize, Serialize};

use super::mutants::FleMutant;
use super::server::History;
use super::types::{Epoch, Zxid, MAX_SERVERS};
use crate::config::{in_range, ConfigError, Profile, ProfileEntry};
use crate::network::NetworkKind;

/// Highest election round (`logicalclock`) the model reaches: the ghost record of votes keeps one
/// byte per round.
pub const MAX_ROUND: u8 = 7;
/// Crash bound, to keep runs finite in practice.
pub const MAX_CRASHES: u8 = 9;

/// Everything needed to rebuild an FLE model: bounds, fault model, initial histories and mutant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleConfig {
    /// Number of voters (`--servers`).
    pub servers: u8,
    /// A decided server whose ZAB phase cannot succeed goes back to LOOKING, into the next round,
    /// only while its round is below this (`--max-round`). 1: a single election.
    pub max_round: u8,
    /// Crashes over the whole run (`--crashes`); a crashed server restarts with its history.
    pub crashes: u8,
    /// `ordered`: QuorumCnxManager's connections; `unordered-dup`: plus reconnects that re-send
    /// the last message (`--network`). `unordered` does not apply to FLE.
    pub network: NetworkKind,
    /// Whether a message in flight can be lost (`--lossy`).
    pub lossy: bool,
    /// Each server's persistent history (`--init`); empty: every server is fresh (epoch 0,
    /// zxid 0). The election never changes it (ZAB does), so unequal histories are given here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init: Vec<InitServer>,
    /// The model's state-space reductions (docs/protocols/fle.md, "Model shortcuts"):
    /// deliveries and losses that change nothing are not steps, poll timeouts and reconnects
    /// re-send only where that changes something, and a delivered message is forgotten once
    /// nothing could send it again. On by default; off (`--no-reductions`), the model takes
    /// every step they remove (models/tests/shortcuts.rs checks that no verdict changes). The
    /// merged receiver thread and the one-slot connection are structure, not switchable.
    #[serde(
        default = "crate::config::yes",
        skip_serializing_if = "crate::config::is_true"
    )]
    pub reductions: bool,
    /// The seeded bug, if any (`--mutant`). Traces carry it beside the config, not inside.
    #[serde(skip)]
    pub mutant: Option<FleMutant>,
}

impl Default for FleConfig {
    /// The bounds `ballot check fle` uses (the CI bounds): three servers with unequal histories
    /// in which the lowest sid is the most up to date and two servers tie on zxid with different
    /// epochs (what ZOOKEEPER-1419 needs); two rounds, so a server whose ZAB phase fails starts a
    /// second election; no crashes, no loss, so `all_decide` is checked.
    fn default() -> Self {
        FleConfig {
            servers: 3,
            max_round: 2,
            crashes: 0,
            network: NetworkKind::Ordered,
            lossy: false,
            init: vec![
                InitServer::new(2, 1, 1),
                InitServer::new(1, 1, 1),
                InitServer::new(1, 1, 0),
            ],
            reductions: true,
            mutant: None,
        }
    }
}

/// A server's persistent history at the start: `currentEpoch` and the last logged zxid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitServer {
    pub current_epoch: Epoch,
    pub last_zxid: Zxid,
}

impl InitServer {
    pub const fn new(current_epoch: u8, zxid_epoch: u8, zxid_counter: u8) -> Self {
        InitServer {
            current_epoch: Epoch(current_epoch),
            last_zxid: Zxid::new(zxid_epoch, zxid_counter),
        }
    }

    /// Parses `EPOCH:ZXID`, ZXID as `E.C` (epoch.counter) or `0x…` (the 64-bit value), e.g.
    /// `2:1.3` for currentEpoch 2 and last zxid 0x100000003.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (e, z) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: expected EPOCH:ZXID (e.g. 2:1.3)"))?;
        let current_epoch = e
            .trim()
            .parse::<u8>()
            .map_err(|_| format!("`{s}`: epoch `{e}` is not a number from 0 to 255"))?;
        Ok(InitServer {
            current_epoch: Epoch(current_epoch),
            last_zxid: Zxid::parse(z)?,
        })
    }

    pub fn history(self) -> History {
        History {
            current_epoch: self.current_epoch,
            last_zxid: self.last_zxid,
        }
    }
}

impl std::fmt::Display for InitServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.current_epoch.0, self.last_zxid)
    }
}

impl FleConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("--servers", self.servers, 1, MAX_SERVERS as u8)?;
        in_range("--max-round", self.max_round, 1, MAX_ROUND)?;
        in_range("--crashes", self.crashes, 0, MAX_CRASHES)?;
        if self.network == NetworkKind::Unordered {
            return Err(ConfigError::new(
                "--network",
                "unordered does not apply to FLE: notifications travel on QuorumCnxManager's \
                 per-pair TCP connections, whose send queue keeps only the latest message \
                 (accepted: ordered, unordered-dup)",
            ));
        }
        self.validate_init()
    }

    /// An initial history must be one ZooKeeper starts from: `QuorumPeer.loadDataBase` refuses a
    /// last zxid whose epoch exceeds `currentEpoch`.
    fn validate_init(&self) -> Result<(), ConfigError> {
        if self.init.is_empty() {
            return Ok(());
        }
        if self.init.len() != self.servers as usize {
            return Err(ConfigError::new(
                "--init",
                format!(
                    "{} servers given, --servers is {}",
                    self.init.len(),
                    self.servers
                ),
            ));
        }
        for (i, s) in self.init.iter().enumerate() {
            // The first leader's epoch is 1 (`getEpochToPropose`: lastAcceptedEpoch + 1 from 0),
            // so nothing is ever logged in epoch 0.
            if s.last_zxid.epoch.0 == 0 && s.last_zxid != Zxid::default() {
                return Err(ConfigError::new(
                    "--init",
                    format!(
                        "server {i}: zxid {} is a transaction of epoch 0, which no leader ever \
                         had (the first leader's epoch is 1)",
                        s.last_zxid
                    ),
                ));
            }
            if s.last_zxid.epoch > s.current_epoch {
                return Err(ConfigError::new(
                    "--init",
                    format!(
                        "server {i}: zxid {} has epoch {}, above currentEpoch {} (ZooKeeper \
                         refuses to start: the current epoch is older than the last zxid)",
                        s.last_zxid, s.last_zxid.epoch.0, s.current_epoch.0
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Server `i`'s persistent history.
    pub fn history(&self, i: usize) -> History {
        self.init.get(i).map(|s| s.history()).unwrap_or_default()
    }

    /// A one-line summary of the bounds, for reports.
    pub fn summary(&self) -> String {
        let init: Vec<String> = (0..self.servers as usize)
            .map(|i| {
                let h = self.history(i);
                format!("{}:{}", h.current_epoch.0, h.last_zxid)
            })
            .collect();
        format!(
            "servers={} max_round={} crashes={} network={} lossy={} init={}{}{}",
            self.servers,
            self.max_round,
            self.crashes,
            self.network,
            self.lossy,
            init.join(","),
            if self.reductions {
                ""
            } else {
                " reductions=false"
            },
            self.mutant
                .map(|m| format!(" mutant={}", m.name()))
                .unwrap_or_default()
        )
    }
}

/// The configurations of `profile`. FLE's input is the servers' histories, which the election
/// never changes, so its configuration names them: the default's unequal histories (the lowest
/// sid most up to date, two servers tied on zxid with different epochs) over two rounds, which
/// decide the epoch and zxid halves of the vote order and `all_decide`. Every profile runs it.
///
/// CI adds `fresh-crash`: a fresh ensemble (every history `0:0.0`, so only the sid decides the
/// vote order: `fle.vote.order/sid` true), one crash and restart (`fle.net.restart`: the peers
/// re-send their last message to the new process) and reconnects (`fle.net.reconnect`), in one
/// round (1.2 M states, about 7 s on two cores).
pub fn profile(profile: Profile) -> Vec<ProfileEntry<FleConfig>> {
    let mut v = vec![ProfileEntry {
        name: "default",
        purpose: "three servers with unequal histories, two rounds, no faults (all_decide is \
                  checked)",
        config: FleConfig::default(),
    }];
    if profile != Profile::Quick {
        v.push(ProfileEntry {
            name: "fresh-crash",
            purpose: "three fresh servers (equal histories: the sid decides), one round, one \
                      crash and restart, reconnects that re-send the last message",
            config: fresh_crash(),
        });
    }
    v
}

/// The `fresh-crash` configuration of the CI profile.
fn fresh_crash() -> FleConfig {
    FleConfig {
        servers: 3,
        max_round: 1,
        crashes: 1,
        network: NetworkKind::UnorderedDup,
        lossy: false,
        init: vec![InitServer::default(); 3],
        reductions: true,
        mutant: None,
    }
}
