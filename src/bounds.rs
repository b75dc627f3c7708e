//! Command-line bounds, turned into each protocol's configuration. A flag that does not apply to
//! the chosen protocol is an error naming it, never silently ignored.

use anyhow::Result;
use clap::Args;

use ballot_models::fle::{FleConfig, InitServer as FleInitServer};
use ballot_models::network::NetworkKind;
use ballot_models::raft::{InitServer, RaftConfig};
use ballot_models::zab::{Election, InitServer as ZabInitServer, ZabConfig};

use crate::UsageError;

/// Bounds shared by the protocols.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Bounds (default: the CI profile; with --mutant, its own bounds)")]
pub struct CommonBounds {
    /// Number of servers (1 to 5).
    #[arg(long, value_name = "N")]
    pub servers: Option<u8>,
    /// Crashes over the whole run; a crashed server restarts from its persistent state.
    #[arg(long, value_name = "N")]
    pub crashes: Option<u8>,
    /// Message semantics: ordered (FIFO per pair, like TCP), unordered (any order, each copy
    /// once), unordered-dup (unordered, plus duplication).
    #[arg(long, value_name = "KIND", value_parser = parse_network)]
    pub network: Option<NetworkKind>,
    /// Messages may be lost.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub lossy: Option<bool>,
    /// Each server's persistent state at the start, comma-separated, one per server. Raft:
    /// `TERM/LOG[/VOTE]`, LOG `+`-separated `<term>v<value>` entries, e.g. `2/1v1,2/,2/2v2`
    /// (Figure 8's start). FLE: `EPOCH:ZXID` (currentEpoch, last logged zxid as
    /// `epoch.counter` or `0x…`), e.g. `2:1.1,1:1.1,1:1.0`. ZAB: `ACCEPTED/CURRENT/LOG`
    /// (acceptedEpoch, currentEpoch, LOG `+`-separated zxids `epoch.counter`), e.g.
    /// `1/1/1.1,2/2/1.1+1.2,1/1/1.1+1.2`.
    #[arg(long, value_name = "SERVERS")]
    pub init: Option<String>,
    /// Turn the model's state-space reductions off (the shortcuts each protocol doc lists under
    /// "Model bounds"/"Model shortcuts": dead messages collected, deliveries, heartbeats,
    /// re-sends and duplicates that change nothing skipped, ZAB's ACK of a known commit left
    /// out): the model takes every step they remove. Much larger spaces; for checking that the
    /// shortcuts hide no verdict.
    #[arg(long)]
    pub no_reductions: bool,
}

/// Bounds of the Raft model.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Raft bounds")]
pub struct RaftBounds {
    /// Raft: servers time out only while their term is below this (1 to 7).
    #[arg(long, value_name = "N")]
    pub max_term: Option<u8>,
    /// Raft: a leader accepts client requests only while its log holds fewer client entries than
    /// this (no-op entries do not count).
    #[arg(long, value_name = "N")]
    pub max_log: Option<u8>,
    /// Raft: distinct client values, each proposed at most once (0 to 7).
    #[arg(long, value_name = "N")]
    pub values: Option<u8>,
    /// Raft: at most this many servers stand as candidate in one term [default: all servers].
    #[arg(long, value_name = "N")]
    pub max_candidates: Option<u8>,
    /// Raft: a new leader appends a no-op entry of its term (as raft-rs, etcd and openraft do).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub leader_noop: Option<bool>,
    /// Raft: PreVote and CheckQuorum (Raft thesis §9.6): a server asks whether it could win
    /// before raising its term, a follower that hears from its leader refuses, and a leader that
    /// lost its majority steps down.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub pre_vote: Option<bool>,
    /// Raft: pipelined replication: a leader advances next_index as it sends entries (not on
    /// the reply), and a rejection carries a hint that skips back past a conflicting term.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub pipeline: Option<bool>,
    /// Raft: linearizable reads through ReadIndex (Raft thesis §6.4): at most N reads over the
    /// run, each served once a majority has answered a heartbeat sent after it arrived, and
    /// checked against everything committed before it started (property read_linearizable).
    /// 0 turns reads off [default: 0; at most 3].
    #[arg(long, value_name = "N")]
    pub reads: Option<u8>,
    /// Raft: snapshots and log compaction (Raft §7): a server may compact its log up to its
    /// commit index (action `compact`), and a leader sends InstallSnapshot to a follower that
    /// needs compacted entries.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub snapshots: Option<bool>,
}

/// Bounds of the FLE model.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "FLE bounds")]
pub struct FleBounds {
    /// FLE: a decided server whose ZAB phase cannot succeed starts another election only while
    /// its round (logicalclock) is below this (1 to 7; 1: a single election).
    #[arg(long, value_name = "N")]
    pub max_round: Option<u8>,
}

/// Bounds of the ZAB model.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "ZAB bounds")]
pub struct ZabBounds {
    /// ZAB: leaders establish epochs up to this one (1 to 6).
    #[arg(long, value_name = "N")]
    pub max_epoch: Option<u8>,
    /// ZAB: client transactions over the whole run (0 to 4).
    #[arg(long, value_name = "N")]
    pub max_txns: Option<u8>,
    /// ZAB: who leads: oracle (any LOOKING server may lead or follow any leader; symmetric) or
    /// fle (FastLeaderElection decides).
    #[arg(long, value_name = "KIND", value_parser = parse_election)]
    pub election: Option<Election>,
    /// ZAB with --election fle: no server's election round (FLE's logicalclock; 1 is a process's
    /// first election) goes past this; steps that would start a later round are not explored
    /// (1 to 7).
    #[arg(long, value_name = "N")]
    pub max_elections: Option<u8>,
}

/// Every bound flag, for every protocol.
#[derive(Args, Clone, Debug, Default)]
pub struct Bounds {
    #[command(flatten)]
    pub common: CommonBounds,
    #[command(flatten)]
    pub raft: RaftBounds,
    #[command(flatten)]
    pub fle: FleBounds,
    #[command(flatten)]
    pub zab: ZabBounds,
}

fn parse_network(s: &str) -> Result<NetworkKind, String> {
    s.parse()
}

fn parse_election(s: &str) -> Result<Election, String> {
    s.parse()
}

impl Bounds {
    /// The flags given, with the protocol they belong to ("" for shared flags), for "does not
    /// apply" errors. Each protocol's bounds list their own flags here.
    fn given(&self) -> Vec<(&'static str, &'static str)> {
        let mut v = Vec::new();
        let mut note = |set: bool, flag: &'static str, protocol: &'static str| {
            if set {
                v.push((flag, protocol));
            }
        };
        // Shared.
        note(self.common.servers.is_some(), "--servers", "");
        note(self.common.crashes.is_some(), "--crashes", "");
        note(self.common.network.is_some(), "--network", "");
        note(self.common.lossy.is_some(), "--lossy", "");
        note(self.common.init.is_some(), "--init", "");
        note(self.common.no_reductions, "--no-reductions", "");
        // Raft.
        note(self.raft.max_term.is_some(), "--max-term", "raft");
        note(self.raft.max_log.is_some(), "--max-log", "raft");
        note(self.raft.values.is_some(), "--values", "raft");
        note(self.raft.leader_noop.is_some(), "--leader-noop", "raft");
        note(self.raft.pre_vote.is_some(), "--pre-vote", "raft");
        note(self.raft.pipeline.is_some(), "--pipeline", "raft");
        note(self.raft.reads.is_some(), "--reads", "raft");
        note(self.raft.snapshots.is_some(), "--snapshots", "raft");
        note(
            self.raft.max_candidates.is_some(),
            "--max-candidates",
            "raft",
        );
        // FLE.
        note(self.fle.max_round.is_some(), "--max-round", "fle");
        // ZAB.
        note(self.zab.max_epoch.is_some(), "--max-epoch", "zab");
        note(self.zab.max_txns.is_some(), "--max-txns", "zab");
        note(self.zab.election.is_some(), "--election", "zab");
        note(self.zab.max_elections.is_some(), "--max-elections", "zab");
        v
    }

    /// The first bound flag given, if any.
    pub fn first_given(&self) -> Option<&'static str> {
        self.given().first().map(|(flag, _)| *flag)
    }

    /// Rejects flags that belong to another protocol.
    pub fn only_for(&self, protocol: &str) -> Result<()> {
        for (flag, owner) in self.given() {
            if protocol == "all" {
                return Err(UsageError(format!(
                    "{flag} sets a bound of one protocol: name the protocol (e.g. `ballot check raft {flag} …`)"
                ))
                .into());
            }
            if !owner.is_empty() && owner != protocol {
                return Err(UsageError(format!(
                    "{flag} is a {owner} bound and does not apply to {protocol}"
                ))
                .into());
            }
        }
        Ok(())
    }

    /// Raft's configuration: the flags given, over `base` (defaults, or a mutant's bounds).
    pub fn raft(&self, base: RaftConfig) -> Result<RaftConfig> {
        let (c, r) = (&self.common, &self.raft);
        let init = match &c.init {
            None => base.init,
            Some(s) if s.trim().is_empty() => Vec::new(),
            Some(s) => s
                .split(',')
                .enumerate()
                .map(|(i, part)| {
                    InitServer::parse(part)
                        .map_err(|e| UsageError(format!("--init: server {i}: {e}")))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(RaftConfig {
            servers: c.servers.unwrap_or(base.servers),
            crashes: c.crashes.unwrap_or(base.crashes),
            network: c.network.unwrap_or(base.network),
            lossy: c.lossy.unwrap_or(base.lossy),
            max_term: r.max_term.unwrap_or(base.max_term),
            max_log: r.max_log.unwrap_or(base.max_log),
            values: r.values.unwrap_or(base.values),
            max_candidates: r.max_candidates.unwrap_or(match c.servers {
                // More servers than the base: keep "no bound" meaning no bound.
                Some(n) if base.max_candidates >= base.servers => n,
                _ => base.max_candidates,
            }),
            leader_noop: r.leader_noop.unwrap_or(base.leader_noop),
            pre_vote: r.pre_vote.unwrap_or(base.pre_vote),
            pipeline: r.pipeline.unwrap_or(base.pipeline),
            reads: r.reads.unwrap_or(base.reads),
            snapshots: r.snapshots.unwrap_or(base.snapshots),
            init,
            reductions: base.reductions && !c.no_reductions,
            mutant: base.mutant,
        })
    }

    /// FLE's configuration: the flags given, over `base` (defaults, or a mutant's bounds).
    pub fn fle(&self, base: FleConfig) -> Result<FleConfig> {
        let c = &self.common;
        let init = match &c.init {
            None => base.init,
            Some(s) if s.trim().is_empty() => Vec::new(),
            Some(s) => s
                .split(',')
                .enumerate()
                .map(|(i, part)| {
                    FleInitServer::parse(part)
                        .map_err(|e| UsageError(format!("--init: server {i}: {e}")))
                })
                .collect::<Result<_, _>>()?,
        };
        // Another ensemble size without --init: the base's histories, cut or padded with the
        // last one, so that the defaults stay unequal.
        let init = match (c.servers, init.last().copied()) {
            (Some(n), Some(pad)) if c.init.is_none() => {
                let mut v: Vec<FleInitServer> = init.into_iter().take(n as usize).collect();
                v.resize(n as usize, pad);
                v
            }
            _ => init,
        };
        Ok(FleConfig {
            servers: c.servers.unwrap_or(base.servers),
            crashes: c.crashes.unwrap_or(base.crashes),
            network: c.network.unwrap_or(base.network),
            lossy: c.lossy.unwrap_or(base.lossy),
            max_round: self.fle.max_round.unwrap_or(base.max_round),
            init,
            reductions: base.reductions && !c.no_reductions,
            mutant: base.mutant,
        })
    }

    /// ZAB's configuration: the flags given, over `base` (defaults, or a mutant's bounds).
    pub fn zab(&self, base: ZabConfig) -> Result<ZabConfig> {
        let (c, z) = (&self.common, &self.zab);
        let init = match &c.init {
            None => base.init,
            Some(s) if s.trim().is_empty() => Vec::new(),
            Some(s) => s
                .split(',')
                .enumerate()
                .map(|(i, part)| {
                    ZabInitServer::parse(part)
                        .map_err(|e| UsageError(format!("--init: server {i}: {e}")))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(ZabConfig {
            servers: c.servers.unwrap_or(base.servers),
            crashes: c.crashes.unwrap_or(base.crashes),
            network: c.network.unwrap_or(base.network),
            lossy: c.lossy.unwrap_or(base.lossy),
            max_epoch: z.max_epoch.unwrap_or(base.max_epoch),
            max_txns: z.max_txns.unwrap_or(base.max_txns),
            election: z.election.unwrap_or(base.election),
            max_elections: z.max_elections.unwrap_or(base.max_elections),
            init,
            reductions: base.reductions && !c.no_reductions,
            mutant: base.mutant,
        })
    }
}
