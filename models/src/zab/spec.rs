//! ZAB as a [`Spec`]: configuration, mutant catalogue, symmetry and the trace view of a state.

use serde_json::{json, Value as Json};

use super::state::Server;
use super::types::{fmt_txns, members, FollowerStage, LeaderStage, Phase};
use super::{Action, Election, ServerId, ZabConfig, ZabModel, ZabMutant, ZabState};
use crate::config::ConfigError;
use crate::diagram::{ActionKind, Frame, InFlight, Lifeline, MarkKind};
use crate::spec::{parse_mutant, MutantEntry, Spec};

impl Spec for ZabModel {
    type St = ZabState;
    type Act = super::Action;
    type Config = ZabConfig;
    const PROTOCOL: &'static str = "zab";

    fn catalogue() -> &'static crate::coverage::Catalogue {
        &super::rules::CATALOGUE
    }

    /// The survivors of `--ablate` that no property could tell apart, each with its argument
    /// (`rules::EQUIVALENT`).
    fn equivalent_ablations() -> &'static [crate::coverage::Equivalent] {
        super::rules::EQUIVALENT
    }

    fn build(mut config: ZabConfig, mutant: Option<&str>) -> Result<Self, ConfigError> {
        config.mutant = parse_mutant(
            "ZAB",
            mutant,
            &ZabMutant::ALL,
            ZabMutant::parse,
            ZabMutant::name,
        )?;
        ZabModel::new(config)
    }

    fn config(&self) -> &ZabConfig {
        &self.config
    }

    fn mutant_name(&self) -> Option<&'static str> {
        self.config.mutant.map(|m| m.name())
    }

    fn summary(&self) -> String {
        self.config.summary()
    }

    fn profile(profile: crate::config::Profile) -> Vec<crate::config::ProfileEntry<ZabConfig>> {
        super::config::profile(profile)
    }

    fn mutants() -> Vec<MutantEntry<ZabConfig>> {
        ZabMutant::ALL.iter().map(|m| m.info()).collect()
    }

    /// Symmetric under the oracle election only: FastLeaderElection orders votes by sid.
    fn symmetric(&self) -> bool {
        self.config.election == Election::Oracle
    }

    fn representative(&self, state: &ZabState) -> ZabState {
        ZabModel::representative(self, state)
    }

    fn state_view(&self, st: &ZabState) -> Json {
        let servers: Vec<Json> = st
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| server_view(i, s))
            .collect();
        json!({
            "servers": servers,
            "in_flight": st.network,
            "crashes": st.crashes,
            "proposals": st.proposals,
        })
    }

    fn describe_change(&self, before: &ZabState, after: &ZabState) -> String {
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

    fn diagram_frame(&self, st: &ZabState) -> Frame {
        let n = st.servers.len();
        let mut in_flight: Vec<InFlight> = InFlight::of_network(&st.network);
        if let Some(e) = &st.election {
            for (src, row) in e.chans.iter().enumerate().take(n) {
                for (dst, chan) in row.iter().enumerate().take(n) {
                    if let Some(msg) = chan.in_flight() {
                        in_flight.push(InFlight {
                            src: src as u8,
                            dst: dst as u8,
                            label: format!("vote {msg}"),
                            copies: 1,
                        });
                    }
                }
            }
        }
        Frame {
            servers: st.servers.iter().map(lifeline).collect(),
            in_flight,
        }
    }

    fn diagram_action(&self, action: &Action) -> ActionKind {
        let mark = |server: ServerId, kind: MarkKind, text: &str| ActionKind::Mark {
            server: server.0,
            kind,
            text: text.to_string(),
        };
        match *action {
            Action::Lead { server } => mark(server, MarkKind::Local, "starts leading"),
            Action::Follow { server, leader } => {
                mark(server, MarkKind::Local, &format!("follows {leader}"))
            }
            Action::Timeout { server } => mark(server, MarkKind::Timeout, "timeout"),
            Action::ClientRequest { server } => mark(server, MarkKind::Local, "client request"),
            Action::PersistTxns { server } => mark(server, MarkKind::Local, "logs NEWLEADER txns"),
            Action::PersistEpoch { server } => mark(server, MarkKind::Local, "writes currentEpoch"),
            Action::AckNewleader { server } => mark(server, MarkKind::Local, "ACK NEWLEADER"),
            Action::LogTxn { server } => mark(server, MarkKind::Local, "SyncThread logs"),
            Action::Crash { server } => mark(server, MarkKind::Crash, "crash"),
            Action::Restart { server } => mark(server, MarkKind::Restart, "restart"),
            Action::Finalize { server } => mark(server, MarkKind::Local, "finalize"),
            Action::NotificationTimeout { server } => {
                mark(server, MarkKind::Timeout, "notification timeout")
            }
            Action::Deliver { src, dst, ref msg } => ActionKind::Deliver {
                src: src.0,
                dst: dst.0,
                label: msg.to_string(),
            },
            Action::Drop { src, dst, ref msg } => ActionKind::Drop {
                src: src.0,
                dst: dst.0,
                label: msg.to_string(),
            },
            Action::DeliverVote { src, dst, msg } => ActionKind::Deliver {
                src: src.0,
                dst: dst.0,
                label: format!("vote {msg}"),
            },
            Action::DropVote { src, dst, msg } => ActionKind::Drop {
                src: src.0,
                dst: dst.0,
                label: format!("vote {msg}"),
            },
        }
    }
}

/// The phase and epoch of a server, as a diagram's lifeline shows them.
fn lifeline(s: &Server) -> Lifeline {
    let label = if !s.up {
        format!("down e{}", s.current_epoch.0)
    } else {
        match s.phase {
            Phase::Looking => format!("LOOKING e{}", s.current_epoch.0),
            Phase::Leading(stage) => format!("LEADING e{} {stage:?}", s.epoch.0),
            Phase::Following(stage) => format!("following s{} e{} {stage:?}", s.peer.0, s.epoch.0),
        }
    };
    Lifeline { up: s.up, label }
}

fn role(s: &Server) -> (&'static str, Option<&'static str>) {
    match s.phase {
        Phase::Looking => ("looking", None),
        Phase::Leading(stage) => (
            "leading",
            Some(match stage {
                LeaderStage::Epoch | LeaderStage::Discovery => "discovery",
                LeaderStage::Synchronization => "synchronization",
                LeaderStage::Broadcast => "broadcast",
            }),
        ),
        Phase::Following(stage) => (
            "following",
            Some(match stage {
                FollowerStage::Discovery => "discovery",
                FollowerStage::Synchronization
                | FollowerStage::NewLeader
                | FollowerStage::UpToDate => "synchronization",
                FollowerStage::Broadcast => "broadcast",
            }),
        ),
    }
}

fn server_view(i: usize, s: &Server) -> Json {
    let set = |m: u8| members(m).map(|x| x.0).collect::<Vec<_>>();
    let (state, zab_state) = role(s);
    let mut v = json!({
        "id": i,
        "up": s.up,
        "state": state,
        "accepted_epoch": s.accepted_epoch,
        "current_epoch": s.current_epoch,
        "log": s.log,
        "committed": s.committed,
    });
    if let Some(z) = zab_state {
        v["zab_state"] = json!(z);
        v["epoch"] = json!(s.epoch);
    }
    if !s.queue.is_empty() {
        v["sync_thread"] = json!(s.queue);
    }
    match s.phase {
        Phase::Following(stage) => {
            v["leader"] = json!(s.peer);
            v["step"] = json!(stage);
            if !s.pending.is_empty() {
                v["pending"] = json!(s.pending);
                v["pending_committed"] = json!(s.pending_committed);
            }
        }
        Phase::Leading(stage) => {
            v["step"] = json!(stage);
            v["learners"] = json!(set(s.connected));
            v["forwarding"] = json!(set(s.synced));
            match stage {
                LeaderStage::Epoch => v["followerinfo_from"] = json!(set(s.infos)),
                LeaderStage::Discovery => v["ackepoch_from"] = json!(set(s.epoch_acks)),
                LeaderStage::Synchronization => v["newleader_acks"] = json!(set(s.nl_acks)),
                LeaderStage::Broadcast => {
                    let acks: Vec<Vec<u8>> = s.acks[s.committed as usize..s.log.len()]
                        .iter()
                        .map(|&m| set(m))
                        .collect();
                    if !acks.is_empty() {
                        v["outstanding_acks"] = json!(acks);
                    }
                }
            }
        }
        Phase::Looking => {}
    }
    v
}

fn describe_server(s: &Server) -> String {
    let epochs = format!("acc {} cur {}", s.accepted_epoch.0, s.current_epoch.0);
    if !s.up {
        return format!("DOWN {epochs} log {}", fmt_txns(&s.log));
    }
    let role = match s.phase {
        Phase::Looking => "LOOKING".to_string(),
        Phase::Leading(stage) => format!("LEADING e{} {stage:?}", s.epoch.0),
        Phase::Following(stage) => format!("following s{} {stage:?}", s.peer.0),
    };
    let mut out = format!(
        "{role} {epochs} log {} committed {}",
        fmt_txns(&s.log),
        s.committed
    );
    if !s.queue.is_empty() {
        out.push_str(&format!(" syncthread {}", fmt_txns(&s.queue)));
    }
    if !s.pending.is_empty() {
        out.push_str(&format!(" pending {}", fmt_txns(&s.pending)));
    }
    out
}

/// One row per server, the packets (and election notifications) in flight, the fault budget,
/// and the ghost labelled as history. What the Explorer shows for a state.
impl std::fmt::Debug for ZabState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.servers.len();
        writeln!(f, "servers:")?;
        for (i, s) in self.servers.iter().enumerate() {
            write!(f, "  s{i}: {}", describe_server(s))?;
            if let Some(e) = &self.election {
                let v = &e.servers[i];
                write!(f, " | election {} r{}", v.state.name(), v.logicalclock.0)?;
            }
            writeln!(f)?;
        }
        let mut flights: Vec<String> = self
            .network
            .flights()
            .iter()
            .map(|m| {
                let copies = if m.copies > 1 {
                    format!(" ×{}", m.copies)
                } else {
                    String::new()
                };
                format!("  s{}→s{} {}{copies}", m.src, m.dst, m.msg)
            })
            .collect();
        if let Some(e) = &self.election {
            for (src, row) in e.chans.iter().enumerate().take(n) {
                for (dst, chan) in row.iter().enumerate().take(n) {
                    if let Some(m) = chan.in_flight() {
                        flights.push(format!("  s{src}→s{dst} vote {m}"));
                    }
                }
            }
        }
        writeln!(f, "in flight ({}):", flights.len())?;
        for line in flights {
            writeln!(f, "{line}")?;
        }
        writeln!(
            f,
            "crashes {}, client proposals {}",
            self.crashes, self.proposals
        )?;
        crate::spec::fmt_ghost(f, &self.ghost, &[("leaders", "e")])
    }
}
