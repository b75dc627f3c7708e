//! The bounds of a ZAB model run, the election it uses, its initial histories, and the mutant it
//! carries.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::mutants::ZabMutant;
use super::types::{Epoch, Txn, Zxid, MAX_LOG, MAX_SERVERS};
use crate::config::{in_range, ConfigError, Profile, ProfileEntry};
use crate::network::NetworkKind;

/// Highest epoch the model can reach (the size of the ghost record of leaders per epoch).
pub const MAX_EPOCH: u8 = 6;
/// Client transactions over a run (the size of the ghost record of proposals).
pub const MAX_TXNS: u8 = 4;
/// Crash bound, to keep runs finite in practice.
pub const MAX_CRASHES: u8 = 9;
/// Highest election round (`--max-elections`) under `--election fle`.
pub const MAX_ELECTIONS: u8 = 7;

/// How servers come to lead and follow (`--election`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Election {
    /// Any LOOKING server may start leading, and any LOOKING server may follow any leader, at
    /// any time: ZAB must be safe whatever the election decides (Zab.tla's leader oracle, made
    /// adversarial). Symmetric in server ids.
    #[default]
    Oracle,
    /// FastLeaderElection, as ZooKeeper runs it, decides. Not symmetric: votes are ordered by sid.
    Fle,
}

impl Election {
    pub fn name(self) -> &'static str {
        match self {
            Election::Oracle => "oracle",
            Election::Fle => "fle",
        }
    }
}

impl fmt::Display for Election {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Election {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "oracle" => Ok(Election::Oracle),
            "fle" => Ok(Election::Fle),
            _ => Err(format!(
                "unknown election kind `{s}` (accepted: oracle, fle)"
            )),
        }
    }
}

/// Everything needed to rebuild a ZAB model: bounds, election, fault model and mutant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZabConfig {
    /// Number of servers (`--servers`).
    pub servers: u8,
    /// A leader may establish epochs up to this one (`--max-epoch`): a quorum of FOLLOWERINFO
    /// that would fix a higher epoch is not acted on.
    pub max_epoch: u8,
    /// Client transactions over the whole run (`--max-txns`), as Zab.tla's MaxTransactionNum.
    pub max_txns: u8,
    /// Crashes over the whole run (`--crashes`).
    pub crashes: u8,
    /// Message semantics (`--network`); ZAB runs over TCP, so only `ordered` is accepted.
    pub network: NetworkKind,
    /// Whether a connection can break (`--lossy`): a `drop` loses a packet and, as TCP would,
    /// everything else in flight between the two servers, and both ends give up the connection.
    pub lossy: bool,
    /// How leaders are chosen (`--election`).
    pub election: Election,
    /// Under `--election fle`: no server's election round (FLE's `logicalclock`, 1 in a process's
    /// first election) goes past this (`--max-elections`); a step that would start a later round
    /// is not taken. Unused by the oracle.
    #[serde(default = "default_max_elections")]
    pub max_elections: u8,
    /// The persistent state each server starts from (`--init`); empty: every server starts
    /// fresh (epochs 0, empty log). Deep scenarios start from a reachable state partway through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init: Vec<InitServer>,
    /// The model's switchable shortcuts (docs/protocols/zab.md, "Model shortcuts"): a
    /// SyncThread does not ACK a transaction the leader is known to have committed, and under
    /// `--election fle` the FLE model's reductions. On by default; off (`--no-reductions`), the
    /// model takes the steps they remove (models/tests/shortcuts.rs checks that no verdict
    /// changes). The other shortcuts are structure, covered by their argument only.
    #[serde(
        default = "crate::config::yes",
        skip_serializing_if = "crate::config::is_true"
    )]
    pub reductions: bool,
    /// The seeded bug, if any (`--mutant`). Traces carry it beside the config, not inside.
    #[serde(skip)]
    pub mutant: Option<ZabMutant>,
}

impl Default for ZabConfig {
    /// The bounds `ballot check zab` uses (the CI bounds): three servers, two epochs, so
    /// leadership changes hands once, one client transaction and one crash, the oracle election,
    /// TCP-like channels. Under `--election fle`, one election round per process
    /// (`max_elections: 1`): the second round makes the composed space too large to exhaust in
    /// ten minutes on two cores (docs/protocols/zab.md, "Bounds").
    fn default() -> Self {
        ZabConfig {
            servers: 3,
            max_epoch: 2,
            max_txns: 1,
            crashes: 1,
            network: NetworkKind::Ordered,
            lossy: false,
            election: Election::Oracle,
            max_elections: default_max_elections(),
            init: Vec::new(),
            reductions: true,
            mutant: None,
        }
    }
}

fn default_max_elections() -> u8 {
    1
}

/// A server's persistent state at the start of a run: ZooKeeper's `acceptedEpoch` and
/// `currentEpoch` files and its transaction log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitServer {
    pub accepted_epoch: Epoch,
    pub current_epoch: Epoch,
    #[serde(default)]
    pub log: Vec<Zxid>,
}

impl InitServer {
    /// Parses `ACCEPTED/CURRENT/LOG`: the two epochs, then the log as `+`-separated zxids
    /// `EPOCH.COUNTER`. E.g. `2/2/1.1+1.2`, or `1/1/` for epochs 1 and an empty log.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() != 3 {
            return Err(format!(
                "`{s}`: expected ACCEPTED/CURRENT/LOG, e.g. 2/2/1.1+1.2"
            ));
        }
        let num = |what: &str, t: &str| {
            t.trim()
                .parse::<u8>()
                .map_err(|_| format!("{what} `{t}` is not a number"))
        };
        let log = if parts[2].trim().is_empty() {
            Vec::new()
        } else {
            parts[2]
                .split('+')
                .map(|z| z.parse::<Zxid>())
                .collect::<Result<_, _>>()?
        };
        Ok(InitServer {
            accepted_epoch: Epoch(num("acceptedEpoch", parts[0])?),
            current_epoch: Epoch(num("currentEpoch", parts[1])?),
            log,
        })
    }

    /// The log as transactions of the initial history (value 0).
    pub fn txns(&self) -> impl Iterator<Item = Txn> + '_ {
        self.log.iter().map(|&zxid| Txn { zxid, value: 0 })
    }
}

impl fmt::Display for InitServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log: Vec<String> = self.log.iter().map(|z| z.to_string()).collect();
        write!(
            f,
            "{}/{}/{}",
            self.accepted_epoch.0,
            self.current_epoch.0,
            log.join("+")
        )
    }
}

impl ZabConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("--servers", self.servers, 1, MAX_SERVERS as u8)?;
        in_range("--max-epoch", self.max_epoch, 1, MAX_EPOCH)?;
        in_range("--max-txns", self.max_txns, 0, MAX_TXNS)?;
        in_range("--crashes", self.crashes, 0, MAX_CRASHES)?;
        in_range("--max-elections", self.max_elections, 1, MAX_ELECTIONS)?;
        if self.network != NetworkKind::Ordered {
            return Err(ConfigError::new(
                "--network",
                format!(
                    "`{}` is not accepted for zab: ZAB runs over TCP, one FIFO connection per \
                     learner and leader, and its safety depends on that order (accepted: ordered)",
                    self.network
                ),
            ));
        }
        let init_len = self.init.iter().map(|i| i.log.len()).max().unwrap_or(0);
        if init_len + self.max_txns as usize > MAX_LOG {
            return Err(ConfigError::new(
                "--max-txns",
                format!(
                    "{init_len} initial transactions and {} client transactions exceed the \
                     model's history capacity of {MAX_LOG}",
                    self.max_txns
                ),
            ));
        }
        self.validate_init()
    }

    /// An initial state must be one ZAB can reach with every server just restarted:
    /// - `acceptedEpoch >= currentEpoch`, and no zxid has an epoch above `currentEpoch`
    ///   (ZooKeeper refuses to start otherwise: `QuorumPeer.loadDataBase`);
    /// - zxids ascend in each log, and within an epoch counters run 1, 2, … without a gap
    ///   (a leader proposes them in order and followers receive them over FIFO channels);
    /// - two logs that hold the same zxid agree on everything up to it (a history reaches a
    ///   server only as a prefix of its epoch leader's history);
    /// - epochs are within `--max-epoch`.
    fn validate_init(&self) -> Result<(), ConfigError> {
        if self.init.is_empty() {
            return Ok(());
        }
        let bad = |i: usize, why: String| ConfigError::new("--init", format!("server {i}: {why}"));
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
            if s.accepted_epoch.0 > self.max_epoch {
                return Err(bad(
                    i,
                    format!(
                        "acceptedEpoch {} is above --max-epoch {}",
                        s.accepted_epoch.0, self.max_epoch
                    ),
                ));
            }
            if s.current_epoch > s.accepted_epoch {
                return Err(bad(
                    i,
                    format!(
                        "currentEpoch {} exceeds acceptedEpoch {}: a server accepts an epoch \
                         before it adopts it",
                        s.current_epoch.0, s.accepted_epoch.0
                    ),
                ));
            }
            let mut prev = Zxid::ZERO;
            for (k, z) in s.log.iter().enumerate() {
                if z.epoch > s.current_epoch || z.epoch.0 == 0 || z.counter == 0 {
                    return Err(bad(
                        i,
                        format!(
                            "zxid {z} (entry {}) must have an epoch from 1 to the server's \
                             currentEpoch {} and a counter from 1",
                            k + 1,
                            s.current_epoch.0
                        ),
                    ));
                }
                let next_ok = if z.epoch == prev.epoch {
                    z.counter == prev.counter + 1
                } else {
                    z.epoch > prev.epoch && z.counter == 1
                };
                if !next_ok {
                    return Err(bad(
                        i,
                        format!(
                            "zxid {z} (entry {}) does not follow {prev}: zxids ascend, and \
                             within an epoch counters run 1, 2, … without a gap",
                            k + 1
                        ),
                    ));
                }
                prev = *z;
            }
        }
        for (i, a) in self.init.iter().enumerate() {
            for (j, b) in self.init.iter().enumerate().skip(i + 1) {
                for (k, z) in a.log.iter().enumerate() {
                    if let Some(m) = b.log.iter().position(|y| y == z) {
                        if m != k || a.log[..k] != b.log[..k] {
                            return Err(ConfigError::new(
                                "--init",
                                format!(
                                    "servers {i} and {j} both hold zxid {z} but disagree on \
                                     the history before it: no run of ZAB reaches them"
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A one-line summary of the bounds, for reports.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "servers={} max_epoch={} max_txns={} crashes={} election={} network={} lossy={}",
            self.servers,
            self.max_epoch,
            self.max_txns,
            self.crashes,
            self.election,
            self.network,
            self.lossy
        );
        if self.election == Election::Fle {
            s.push_str(&format!(" max_elections={}", self.max_elections));
        }
        if !self.reductions {
            s.push_str(" reductions=false");
        }
        if let Some(m) = self.mutant {
            s.push_str(&format!(" mutant={}", m.name()));
        }
        if !self.init.is_empty() {
            let init: Vec<String> = self.init.iter().map(|s| s.to_string()).collect();
            s.push_str(&format!(" init={}", init.join(",")));
        }
        s
    }
}

/// The configurations of `profile`, cheapest first: the default bounds (one epoch change, one
/// transaction, one crash), and three epochs from an empty start, where a crash inside
/// synchronization can leave a server with a newer epoch and a shorter log (ZK-4643's shape).
pub fn profile(profile: Profile) -> Vec<ProfileEntry<ZabConfig>> {
    let base = ZabConfig::default();
    let entry = |name, purpose, config| ProfileEntry {
        name,
        purpose,
        config,
    };
    let mut v = vec![entry(
        "default",
        "three servers, two epochs, one transaction, one crash, oracle election",
        base.clone(),
    )];
    if profile == Profile::Quick {
        return v;
    }
    v.push(entry(
        "three-epochs",
        "three epochs, one transaction, one crash: a crash between synchronization's durable \
         writes leaves a server with a newer epoch and a shorter log, from an empty start",
        ZabConfig {
            max_epoch: 3,
            ..base.clone()
        },
    ));
    v.push(entry(
        "two-txns",
        "two transactions, no crash: a learner whose last zxid lies inside the leader's log (DIFF \
         from there) or is a transaction the leader never had (TRUNC, then DIFF)",
        ZabConfig {
            max_txns: 2,
            crashes: 0,
            ..base.clone()
        },
    ));
    v.push(entry(
        "fle-two-servers",
        "two servers, two epochs, one transaction, one crash, FastLeaderElection with two rounds \
         per process: where ZAB and its election meet (a decision starts a role, a role given up \
         starts the next round, updateElectionVote), in a fraction of a second",
        ZabConfig {
            servers: 2,
            election: Election::Fle,
            max_elections: 2,
            ..base.clone()
        },
    ));
    if profile == Profile::Deep {
        v.push(entry(
            "fle",
            "the default bounds with FastLeaderElection composed in (about a minute, 1.6 GiB)",
            ZabConfig {
                election: Election::Fle,
                ..base
            },
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_init(init: &str) -> ZabConfig {
        ZabConfig {
            init: init
                .split(',')
                .map(|s| InitServer::parse(s).unwrap())
                .collect(),
            ..ZabConfig::default()
        }
    }

    #[test]
    fn init_syntax_round_trips() {
        let s = InitServer::parse("2/1/1.1+1.2").unwrap();
        assert_eq!(s.accepted_epoch, Epoch(2));
        assert_eq!(s.current_epoch, Epoch(1));
        assert_eq!(s.log, vec![Zxid::new(1, 1), Zxid::new(1, 2)]);
        assert_eq!(s.to_string(), "2/1/1.1+1.2");
        assert_eq!(InitServer::parse("0/0/").unwrap().log, vec![]);
        assert!(InitServer::parse("1/1").is_err());
        assert!(InitServer::parse("1/1/1").is_err());
    }

    #[test]
    fn unreachable_initial_histories_are_rejected_naming_the_rule() {
        assert!(with_init("1/1/1.1,1/1/1.1+1.2,1/1/").validate().is_ok());
        let e = with_init("1/1/2.1,1/1/,1/1/").validate().unwrap_err();
        assert_eq!(e.flag, "--init");
        assert!(e.message.contains("currentEpoch"), "{e}");
        let e = with_init("1/2/,1/1/,1/1/").validate().unwrap_err();
        assert!(e.message.contains("exceeds acceptedEpoch"), "{e}");
        let e = with_init("1/1/1.2,1/1/,1/1/").validate().unwrap_err();
        assert!(e.message.contains("without a gap"), "{e}");
        let e = with_init("2/2/1.1+2.1,2/2/2.1,0/0/")
            .validate()
            .unwrap_err();
        assert!(e.message.contains("disagree"), "{e}");
        let e = with_init("1/1/,1/1/").validate().unwrap_err();
        assert!(e.message.contains("--servers"), "{e}");
    }
}
