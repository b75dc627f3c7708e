//! The bounds of a Raft model run, and the mutant it carries.

use serde::{Deserialize, Serialize};

use super::mutants::RaftMutant;
use super::state::MAX_PENDING_READS;
use super::types::{Entry, Term, Value, MAX_LOG, MAX_SERVERS};
use crate::config::{in_range, ConfigError, Profile, ProfileEntry};
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
    /// At most this many servers stand as candidate in any one term (`--max-candidates`; equal
    /// to `servers`, no bound). One candidate per term rules out split votes but keeps every
    /// change of leader, which is what deep scenarios such as Figure 8 need.
    pub max_candidates: u8,
    /// Crashes over the whole run (`--crashes`).
    pub crashes: u8,
    /// Message semantics (`--network`).
    pub network: NetworkKind,
    /// Whether messages can be lost (`--lossy`).
    pub lossy: bool,
    /// Whether a new leader appends a no-op entry of its term (`--leader-noop`).
    pub leader_noop: bool,
    /// PreVote and CheckQuorum (`--pre-vote`; docs/protocols/raft.md § PreVote and CheckQuorum).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pre_vote: bool,
    /// Pipelined replication (`--pipeline`; docs/protocols/raft.md § Pipelined replication):
    /// a leader advances `next_index` when it sends entries, and a follower's rejection carries
    /// a hint that lets the leader skip back past a whole conflicting term.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pipeline: bool,
    /// Linearizable reads through ReadIndex (`--reads`; docs/protocols/raft.md § Linearizable
    /// reads): at most this many reads over the run; 0 turns reads off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reads: u8,
    /// Snapshots and log compaction (`--snapshots`; docs/protocols/raft.md § Snapshots): a
    /// server may compact its log up to its commit index (action `compact`), and a leader sends
    /// InstallSnapshot where the entries a follower needs are compacted away.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snapshots: bool,
    /// The persistent state each server starts from (`--init`); empty: every server starts
    /// fresh (term 0, no vote, empty log). Deep scenarios (Figure 8 needs four terms) start from
    /// a reachable state partway through, so that BFS reaches them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init: Vec<InitServer>,
    /// The model's state-space reductions (docs/protocols/raft.md § Model bounds): dead
    /// responses collected, heartbeats only where useful, no-op deliveries skipped on unordered
    /// networks, duplicates only where a second copy matters, no denial in the candidate's own
    /// term. On by default; off (`--no-reductions`), the model takes every step they remove, so
    /// that a differential check (models/tests/shortcuts.rs) can show they hide no verdict.
    /// Absorbed sends are not switchable: without them heartbeats make every space infinite.
    #[serde(
        default = "crate::config::yes",
        skip_serializing_if = "crate::config::is_true"
    )]
    pub reductions: bool,
    /// The seeded bug, if any (`--mutant`). Traces carry it beside the config, not inside.
    #[serde(skip)]
    pub mutant: Option<RaftMutant>,
}

impl Default for RaftConfig {
    /// The bounds `ballot check raft` uses (the CI bounds): two terms, so leadership changes
    /// hands; one client value; one crash and restart; TCP-like channels. Exhaustive in about
    /// 30 s on 2 cores with symmetry. The no-op entry is off as in raft.tla: on, it multiplies
    /// this space about sixty-fold (`--leader-noop` turns it on).
    fn default() -> Self {
        RaftConfig {
            servers: 3,
            max_term: 2,
            max_log: 1,
            values: 1,
            max_candidates: 3,
            crashes: 1,
            network: NetworkKind::Ordered,
            lossy: false,
            leader_noop: false,
            pre_vote: false,
            pipeline: false,
            reads: 0,
            snapshots: false,
            init: Vec::new(),
            reductions: true,
            mutant: None,
        }
    }
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// A server's persistent state at the start of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitServer {
    pub term: Term,
    #[serde(default)]
    pub voted_for: Option<super::types::ServerId>,
    #[serde(default)]
    pub log: Vec<Entry>,
}

impl InitServer {
    /// Parses `TERM/LOG[/VOTE]`: LOG is `+`-separated entries `<term>v<value>` (value 0 is a
    /// no-op), VOTE a server number. E.g. `2/1v1+2v2/0`, or `1/` for term 1 and an empty log.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.split('/');
        let num = |what: &str, t: &str| {
            t.trim()
                .parse::<u8>()
                .map_err(|_| format!("{what} `{t}` is not a number"))
        };
        let term = Term(num("term", parts.next().unwrap_or(""))?);
        let log = match parts.next() {
            None => return Err(format!("`{s}`: expected TERM/LOG[/VOTE]")),
            Some(l) if l.trim().is_empty() => Vec::new(),
            Some(l) => l
                .split('+')
                .map(|e| {
                    let (t, v) = e
                        .split_once('v')
                        .ok_or_else(|| format!("entry `{e}`: expected <term>v<value>"))?;
                    Ok(Entry {
                        term: Term(num("entry term", t)?),
                        value: Value(num("entry value", v)?),
                    })
                })
                .collect::<Result<_, String>>()?,
        };
        let voted_for = match parts.next() {
            None => None,
            Some(v) => Some(super::types::ServerId(num("vote", v)?)),
        };
        if parts.next().is_some() {
            return Err(format!("`{s}`: expected TERM/LOG[/VOTE]"));
        }
        Ok(InitServer {
            term,
            voted_for,
            log,
        })
    }
}

impl RaftConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("--servers", self.servers, 1, MAX_SERVERS as u8)?;
        in_range("--max-term", self.max_term, 1, MAX_TERM)?;
        in_range("--max-log", self.max_log, 0, MAX_LOG as u8)?;
        in_range("--values", self.values, 0, MAX_VALUES)?;
        in_range("--crashes", self.crashes, 0, MAX_CRASHES)?;
        in_range("--max-candidates", self.max_candidates, 1, self.servers)?;
        in_range("--reads", self.reads, 0, MAX_PENDING_READS as u8)?;
        let noops = if self.leader_noop { self.max_term } else { 0 };
        let init_len = self.init.iter().map(|i| i.log.len()).max().unwrap_or(0);
        if init_len + self.max_log as usize + noops as usize > MAX_LOG {
            return Err(ConfigError::new(
                "--max-log",
                format!(
                    "{init_len} initial entries, {} client entries and up to {noops} leader \
                     no-op entries exceed the model's log capacity of {MAX_LOG} (lower \
                     --max-log or --max-term, or turn --leader-noop off)",
                    self.max_log
                ),
            ));
        }
        self.validate_init()
    }

    /// An initial state must be one Raft can reach: each log's terms ascend and none exceeds the
    /// server's term; values are in range, each appended by one leader only; votes name servers.
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
        let mut seen: Vec<(Term, Value)> = Vec::new();
        for (i, s) in self.init.iter().enumerate() {
            if s.term.0 > self.max_term {
                return Err(bad(
                    i,
                    format!("term {} is above --max-term {}", s.term.0, self.max_term),
                ));
            }
            if let Some(v) = s.voted_for {
                if v.0 >= self.servers || s.term.0 == 0 {
                    return Err(bad(
                        i,
                        format!("vote for server {} is impossible here", v.0),
                    ));
                }
            }
            let mut last = Term(0);
            for (k, e) in s.log.iter().enumerate() {
                if e.term < last || e.term.0 == 0 || e.term > s.term {
                    return Err(bad(
                        i,
                        format!("entry {} has term {}: terms must ascend from 1 and not pass the server's term {}", k + 1, e.term.0, s.term.0),
                    ));
                }
                if e.value.0 > self.values || (e.value == Value::NOOP && !self.leader_noop) {
                    return Err(bad(i, format!("entry {} has value {}, outside --values {} (0, the no-op, needs --leader-noop)", k + 1, e.value.0, self.values)));
                }
                last = e.term;
                // One leader per term appends each client value once: the same value under two
                // terms, or two values in one slot of one term across servers, cannot happen.
                if e.value != Value::NOOP {
                    if let Some(t) = seen.iter().find(|(_, v)| *v == e.value).map(|(t, _)| *t) {
                        if t != e.term {
                            return Err(bad(
                                i,
                                format!(
                                    "value {} appears under terms {} and {}",
                                    e.value.0, t.0, e.term.0
                                ),
                            ));
                        }
                    } else {
                        seen.push((e.term, e.value));
                    }
                }
            }
        }
        // Log Matching holds in every reachable state.
        for (i, a) in self.init.iter().enumerate() {
            for b in &self.init[i + 1..] {
                let n = a.log.len().min(b.log.len());
                if let Some(k) = (0..n).rev().find(|&k| a.log[k].term == b.log[k].term) {
                    if a.log[..=k] != b.log[..=k] {
                        return Err(ConfigError::new(
                            "--init",
                            "logs violate Log Matching: no run of Raft reaches them",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A one-line summary of the bounds, for reports.
    pub fn summary(&self) -> String {
        format!(
            "servers={} max_term={} max_log={} values={} max_candidates={} crashes={} network={} lossy={} leader_noop={}{}{}{}{}{}{}",
            self.servers,
            self.max_term,
            self.max_log,
            self.values,
            self.max_candidates,
            self.crashes,
            self.network,
            self.lossy,
            self.leader_noop,
            if self.pre_vote { " pre_vote=true" } else { "" },
            if self.pipeline { " pipeline=true" } else { "" },
            if self.reads > 0 { format!(" reads={}", self.reads) } else { String::new() },
            if self.snapshots { " snapshots=true" } else { "" },
            if self.reductions { "" } else { " reductions=false" },
            self.mutant
                .map(|m| format!(" mutant={}", m.name()))
                .unwrap_or_default()
        ) + &if self.init.is_empty() {
            String::new()
        } else {
            format!(
                " init={}",
                self.init
                    .iter()
                    .map(|s| {
                        let log: Vec<String> =
                            s.log.iter().map(|e| format!("{}v{}", e.term.0, e.value.0)).collect();
                        let vote = s.voted_for.map(|v| format!("/{}", v.0)).unwrap_or_default();
                        format!("{}/{}{vote}", s.term.0, log.join("+"))
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
    }
}

/// The configurations of `profile`, cheapest first, all from an empty start (no `init`): the
/// default bounds (crash and restart, several candidates per term), an election run with five
/// servers (where one grant is no majority), a log-repair run with two values over three
/// terms (divergent logs, the prevLogTerm check, suffix truncation), and one run per option
/// (PreVote, pipelining, ReadIndex, snapshots). Each is exhaustive in about a minute or less
/// on two cores (docs/protocols/raft.md § Profiles lists them with what each exercises and the
/// catalogued bugs that still need their own bounds).
pub fn profile(profile: Profile) -> Vec<ProfileEntry<RaftConfig>> {
    let base = RaftConfig::default();
    let entry = |name, purpose, config| ProfileEntry {
        name,
        purpose,
        config,
    };
    let default = entry(
        "default",
        "three servers, two terms, one value, any number of candidates, one crash and restart",
        base.clone(),
    );
    if profile == Profile::Quick {
        return vec![default];
    }
    let mut v = Vec::new();
    let log_repair = RaftConfig {
        max_term: 3,
        max_log: 1,
        values: 2,
        max_candidates: 1,
        crashes: 0,
        ..base.clone()
    };
    v.extend([
        entry(
            "single-server",
            "one server with PreVote, no-ops and a read: its own (pre-)vote, its own \
             acknowledgement and its own read confirmation are a majority",
            RaftConfig {
                servers: 1,
                max_candidates: 1,
                leader_noop: true,
                pre_vote: true,
                reads: 1,
                ..base.clone()
            },
        ),
        entry(
            "election",
            "five servers and no log: one grant is no majority; votes duplicated and reordered",
            RaftConfig {
                servers: 5,
                max_term: 1,
                max_log: 0,
                values: 0,
                max_candidates: 2,
                crashes: 0,
                network: NetworkKind::UnorderedDup,
                ..base.clone()
            },
        ),
        entry(
            "pre-vote",
            "PreVote and CheckQuorum: one term, one value, one crash and restart",
            RaftConfig {
                max_term: 1,
                pre_vote: true,
                ..base.clone()
            },
        ),
        entry(
            "lease",
            "PreVote over two terms, no log: a candidate of a newer term reaches servers in lease",
            RaftConfig {
                max_term: 2,
                max_log: 0,
                values: 0,
                max_candidates: 1,
                crashes: 0,
                pre_vote: true,
                ..base.clone()
            },
        ),
        entry(
            "pre-vote-five",
            "PreVote with five servers, one term, no log: one pre-vote grant is no majority",
            RaftConfig {
                servers: 5,
                max_term: 1,
                max_log: 0,
                values: 0,
                max_candidates: 1,
                crashes: 0,
                pre_vote: true,
                ..base.clone()
            },
        ),
        entry(
            "pipeline-reorder",
            "pipelining on an unordered network, one term, one value: a rejection overtaken by \
             the success after it (the floor of raft.pipeline.reject)",
            RaftConfig {
                max_term: 1,
                max_log: 1,
                values: 1,
                max_candidates: 1,
                crashes: 0,
                network: NetworkKind::Unordered,
                pipeline: true,
                ..base.clone()
            },
        ),
        entry(
            "two-servers",
            "two servers, two terms, no-ops and one value: a voter whose last term equals the \
             candidate's holds more entries of it (the up-to-date check's index half)",
            RaftConfig {
                servers: 2,
                max_term: 2,
                max_log: 1,
                values: 1,
                max_candidates: 1,
                crashes: 0,
                leader_noop: true,
                ..base.clone()
            },
        ),
        entry(
            "two-servers-pre-vote",
            "the same with PreVote and CheckQuorum: a leader that stepped down refuses a \
             pre-candidate on the index half",
            RaftConfig {
                servers: 2,
                max_term: 2,
                max_log: 1,
                values: 1,
                max_candidates: 1,
                crashes: 0,
                leader_noop: true,
                pre_vote: true,
                ..base.clone()
            },
        ),
        entry(
            "two-servers-reorder",
            "two servers, one term, a no-op and one value on a reordering network: an \
             AppendEntries overtaken by a longer one meets a log that already holds its entries \
             (raft.append.entries truncates only at a conflict)",
            RaftConfig {
                servers: 2,
                max_term: 1,
                max_log: 1,
                values: 1,
                max_candidates: 1,
                crashes: 0,
                network: NetworkKind::Unordered,
                leader_noop: true,
                ..base.clone()
            },
        ),
        entry(
            "reads",
            "ReadIndex: two leaders in turn with their no-ops, and one read",
            RaftConfig {
                max_term: 2,
                max_log: 0,
                values: 0,
                max_candidates: 1,
                crashes: 0,
                leader_noop: true,
                reads: 1,
                ..base.clone()
            },
        ),
        entry(
            "pipeline",
            "pipelined replication and rejection hints: two values over two terms, a crash",
            RaftConfig {
                max_term: 2,
                max_log: 1,
                values: 2,
                max_candidates: 1,
                crashes: 1,
                pipeline: true,
                ..base.clone()
            },
        ),
        entry(
            "snapshots",
            "compaction and InstallSnapshot: two values over two terms",
            RaftConfig {
                max_term: 2,
                max_log: 1,
                values: 2,
                max_candidates: 1,
                crashes: 0,
                snapshots: true,
                ..base.clone()
            },
        ),
        entry(
            "snapshot-tail",
            "one term, a no-op and one value on a lossy network, with snapshots: a follower \
             missed an AppendEntries, holds a tail past the leader's snapshot point, and meets \
             InstallSnapshot (raft.snapshot.install keeps a matching tail)",
            RaftConfig {
                max_term: 1,
                max_log: 1,
                values: 1,
                max_candidates: 1,
                crashes: 0,
                lossy: true,
                leader_noop: true,
                snapshots: true,
                ..base.clone()
            },
        ),
        default,
        entry(
            "lossy",
            "two values over two terms on a lossy network: a lost AppendEntries leaves a stale \
             entry under a heartbeat that carries a commit index (raft.append.send's bound)",
            RaftConfig {
                max_term: 2,
                max_log: 1,
                values: 2,
                max_candidates: 1,
                crashes: 0,
                lossy: true,
                ..base.clone()
            },
        ),
        entry(
            "log-repair",
            "two values over three terms, one candidate per term: divergent logs, the \
             prevLogTerm check, suffix truncation",
            log_repair.clone(),
        ),
        entry(
            "noop-and-value",
            "three servers, two terms, a no-op and a value: two entries of one term, so a voter \
             whose last term equals the candidate's decides by length (the up-to-date check's \
             index half, where a committed entry is at stake)",
            RaftConfig {
                max_term: 2,
                max_log: 1,
                values: 1,
                max_candidates: 1,
                crashes: 0,
                leader_noop: true,
                ..base.clone()
            },
        ),
        entry(
            "pipeline-noop",
            "pipelining with no-ops, two terms, one value and a crash: a follower is down while \
             the next term's leader pipelines its no-op and value past it, and on restart \
             refuses a heartbeat with a hint, which says where to probe and not what matches \
             (PL2; 44 M classes, the profile's largest)",
            RaftConfig {
                max_term: 2,
                max_log: 1,
                values: 1,
                max_candidates: 1,
                crashes: 1,
                leader_noop: true,
                pipeline: true,
                ..base.clone()
            },
        ),
    ]);
    if profile == Profile::Deep {
        v.push(entry(
            "hint-repair",
            "three terms with no-ops and pipelining: a follower that led a term alone meets a \
             leader of older entries, and the rejection hint skips back over the newer term \
             (raft.pipeline.hint's search; over 18 M classes)",
            RaftConfig {
                max_term: 3,
                max_log: 1,
                values: 1,
                max_candidates: 1,
                crashes: 0,
                leader_noop: true,
                pipeline: true,
                ..base.clone()
            },
        ));
        v.push(entry(
            "figure-8",
            "two values over four terms: Figure 8's shape from an empty start (tens of minutes)",
            RaftConfig {
                max_term: 4,
                ..log_repair
            },
        ));
    }
    v
}
