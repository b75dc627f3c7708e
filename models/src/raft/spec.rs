//! Raft as a [`Spec`]: configuration, mutant catalogue, symmetry and the trace view of a state.

use serde_json::{json, Value as Json};

use super::state::Server;
use super::types::fmt_entries;
use super::{Action, RaftConfig, RaftModel, RaftMutant, RaftState, Role, ServerId};
use crate::config::ConfigError;
use crate::diagram::{ActionKind, Frame, InFlight, Lifeline, MarkKind};
use crate::spec::{parse_mutant, MutantEntry, Spec};

impl Spec for RaftModel {
    type St = RaftState;
    type Act = super::Action;
    type Config = RaftConfig;
    const PROTOCOL: &'static str = "raft";

    fn catalogue() -> &'static crate::coverage::Catalogue {
        &super::rules::CATALOGUE
    }

    fn equivalent_ablations() -> &'static [crate::coverage::Equivalent] {
        super::rules::EQUIVALENT
    }

    fn known_gaps() -> &'static [crate::coverage::Equivalent] {
        super::rules::KNOWN_GAPS
    }

    fn shortcuts_follow_ablation(&self) -> bool {
        self.config.reductions && !self.collects_dead_messages()
    }

    fn build(mut config: RaftConfig, mutant: Option<&str>) -> Result<Self, ConfigError> {
        config.mutant = parse_mutant(
            "Raft",
            mutant,
            &RaftMutant::ALL,
            RaftMutant::parse,
            RaftMutant::name,
        )?;
        RaftModel::new(config)
    }

    fn config(&self) -> &RaftConfig {
        &self.config
    }

    fn mutant_name(&self) -> Option<&'static str> {
        self.config.mutant.map(|m| m.name())
    }

    fn summary(&self) -> String {
        self.config.summary()
    }

    fn profile(profile: crate::config::Profile) -> Vec<crate::config::ProfileEntry<RaftConfig>> {
        super::config::profile(profile)
    }

    fn mutants() -> Vec<MutantEntry<RaftConfig>> {
        RaftMutant::ALL.iter().map(|m| m.info()).collect()
    }

    fn symmetric(&self) -> bool {
        true
    }

    fn representative(&self, state: &RaftState) -> RaftState {
        RaftModel::representative(self, state)
    }

    fn codec(&self) -> Option<&'static dyn crate::engine::StateCodec<RaftState>> {
        Some(&super::codec::RaftCodec)
    }

    fn state_view(&self, st: &RaftState) -> Json {
        let n = st.servers.len();
        let servers: Vec<Json> = st
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut v = json!({
                    "id": i,
                    "up": s.up,
                    "role": s.role,
                    "term": s.term,
                    "voted_for": s.voted_for,
                    "log": s.log,
                    "commit": s.commit,
                });
                if s.role == Role::Candidate {
                    v["votes"] = if self.config.mutant == Some(RaftMutant::CountDuplicateVotes) {
                        json!(s.votes)
                    } else {
                        json!((0..n)
                            .filter(|j| s.votes & (1 << j) != 0)
                            .collect::<Vec<_>>())
                    };
                }
                if s.role == Role::Leader {
                    v["next_index"] = json!(&s.next_index[..n]);
                    v["match_index"] = json!(&s.match_index[..n]);
                }
                if s.role == Role::Leader && self.config.reads > 0 {
                    v["round"] = json!(s.round);
                    v["acked"] = json!(&s.acked[..n]);
                    v["reads"] = json!(s
                        .reads
                        .iter()
                        .map(|r| json!({
                            "read_index": r.read_index,
                            "round": r.round,
                            "ghost_required": r.required,
                        }))
                        .collect::<Vec<_>>());
                }
                if s.role == Role::PreCandidate {
                    v["pre_votes"] = json!((0..n)
                        .filter(|j| s.votes & (1 << j) != 0)
                        .collect::<Vec<_>>());
                }
                if self.config.snapshots {
                    v["snapshot"] = json!(s.snapshot);
                }
                if self.config.pre_vote {
                    v["heard_leader"] = json!(s.heard_leader);
                    if s.role == Role::Leader {
                        v["recent"] = json!((0..n)
                            .filter(|j| s.recent & (1 << j) != 0)
                            .collect::<Vec<_>>());
                    }
                }
                v
            })
            .collect();
        json!({
            "servers": servers,
            "in_flight": st.network,
            "crashes": st.crashes,
        })
    }

    fn describe_change(&self, before: &RaftState, after: &RaftState) -> String {
        let changed: Vec<String> = before
            .servers
            .iter()
            .zip(&after.servers)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (_, b))| format!("s{i}: {}", describe_server(b)))
            .collect();
        let (was, now) = (
            before.network.flights().len(),
            after.network.flights().len(),
        );
        let mut out = if changed.is_empty() {
            String::from("(servers unchanged)")
        } else {
            changed.join("; ")
        };
        out.push_str(&format!("  [{now} in flight"));
        if now != was {
            out.push_str(&format!(", {:+}", now as i64 - was as i64));
        }
        out.push(']');
        out
    }

    fn diagram_frame(&self, st: &RaftState) -> Frame {
        Frame {
            servers: st.servers.iter().map(lifeline).collect(),
            in_flight: InFlight::of_network(&st.network),
        }
    }

    fn diagram_action(&self, action: &Action) -> ActionKind {
        let mark = |server: ServerId, kind: MarkKind, text: &str| ActionKind::Mark {
            server: server.0,
            kind,
            text: text.to_string(),
        };
        match *action {
            Action::Timeout { server } => mark(server, MarkKind::Timeout, "election timeout"),
            Action::Heartbeat { server } => mark(server, MarkKind::Timeout, "heartbeat"),
            Action::ClientRequest { server, value } => {
                mark(server, MarkKind::Local, &format!("client v{}", value.0))
            }
            Action::Compact { server } => mark(server, MarkKind::Local, "compact"),
            Action::Read { server } => mark(server, MarkKind::Local, "read"),
            Action::Crash { server } => mark(server, MarkKind::Crash, "crash"),
            Action::Restart { server } => mark(server, MarkKind::Restart, "restart"),
            Action::Deliver { src, dst, msg } => ActionKind::Deliver {
                src: src.0,
                dst: dst.0,
                label: msg.to_string(),
            },
            Action::Drop { src, dst, msg } => ActionKind::Drop {
                src: src.0,
                dst: dst.0,
                label: msg.to_string(),
            },
            Action::Duplicate { src, dst, msg } => ActionKind::Duplicate {
                src: src.0,
                dst: dst.0,
                label: msg.to_string(),
            },
        }
    }
}

/// The role and term of a server, as a diagram's lifeline shows them.
pub(crate) fn lifeline(s: &Server) -> Lifeline {
    let role = match s.role {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "LEADER",
        Role::PreCandidate => "pre-candidate",
    };
    Lifeline {
        up: s.up,
        label: if s.up {
            format!("{role} t{}", s.term.0)
        } else {
            format!("down t{}", s.term.0)
        },
    }
}

pub(crate) fn describe_server(s: &Server) -> String {
    let snapshot = if s.snapshot.0 > 0 {
        format!(" snapshot {}", s.snapshot.0)
    } else {
        String::new()
    };
    if !s.up {
        return format!(
            "DOWN t{} vote {} log {}{snapshot}",
            s.term.0,
            s.voted_for.map_or("-".to_string(), |v| v.to_string()),
            fmt_entries(&s.log)
        );
    }
    let role = match s.role {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "LEADER",
        Role::PreCandidate => "pre-candidate",
    };
    format!(
        "{role} t{} vote {} log {}{snapshot} commit {}",
        s.term.0,
        s.voted_for.map_or("-".to_string(), |v| v.to_string()),
        fmt_entries(&s.log),
        s.commit.0
    )
}

/// One row per server (no capacity padding: per-peer tables have one entry per server), the
/// messages in flight, the fault budget, and the ghost labelled as history. What the Explorer
/// shows for a state.
impl std::fmt::Debug for RaftState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.servers.len();
        let set = |bits: u8| {
            let members: Vec<String> = (0..n)
                .filter(|j| bits & (1 << j) != 0)
                .map(|j| format!("s{j}"))
                .collect();
            format!("{{{}}}", members.join(" "))
        };
        let list = |xs: &[super::LogIndex]| {
            xs.iter()
                .map(|x| x.0.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        writeln!(f, "servers:")?;
        for (i, s) in self.servers.iter().enumerate() {
            write!(f, "  s{i}: {}", describe_server(s))?;
            if s.up {
                match s.role {
                    Role::Candidate => write!(f, " votes {}", set(s.votes))?,
                    Role::PreCandidate => write!(f, " pre-votes {}", set(s.votes))?,
                    Role::Leader => write!(
                        f,
                        " next [{}] match [{}]",
                        list(&s.next_index[..n]),
                        list(&s.match_index[..n])
                    )?,
                    Role::Follower => {}
                }
                if s.heard_leader {
                    write!(f, " heard-leader")?;
                }
                if s.recent != 0 {
                    write!(f, " recent {}", set(s.recent))?;
                }
                if s.round != 0 || !s.reads.is_empty() {
                    let acked: Vec<String> = s.acked[..n].iter().map(|a| a.to_string()).collect();
                    let reads: Vec<String> = s
                        .reads
                        .iter()
                        .map(|r| {
                            format!(
                                "at {} round {} (ghost required {})",
                                r.read_index.0, r.round, r.required.0
                            )
                        })
                        .collect();
                    write!(
                        f,
                        " round {} acked [{}] reads [{}]",
                        s.round,
                        acked.join(" "),
                        reads.join(", ")
                    )?;
                }
            }
            writeln!(f)?;
        }
        writeln!(f, "in flight ({}):", self.network.flights().len())?;
        for m in self.network.flights() {
            let copies = if m.copies > 1 {
                format!(" ×{}", m.copies)
            } else {
                String::new()
            };
            writeln!(f, "  s{}→s{} {}{copies}", m.src, m.dst, m.msg)?;
        }
        let proposed: Vec<String> = (0..8)
            .filter(|v| self.proposed & (1 << v) != 0)
            .map(|v| format!("v{v}"))
            .collect();
        writeln!(
            f,
            "crashes {}, values proposed {{{}}}, reads started {}",
            self.crashes,
            proposed.join(" "),
            self.reads
        )?;
        crate::spec::fmt_ghost(f, &self.ghost, &[("leaders", "t"), ("candidates", "t")])
    }
}
