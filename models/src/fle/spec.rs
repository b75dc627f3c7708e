//! FLE as a [`Spec`]: configuration, mutant catalogue and the trace view of a state. Not symmetric:
//! server ids order votes.

use serde_json::{json, Map, Value as Json};

use super::server::VoteTable;
use super::state::Node;
use super::{Action, FleConfig, FleModel, FleMutant, FleState, Notification, Sid, ZkState};
use crate::config::ConfigError;
use crate::diagram::{ActionKind, Frame, InFlight, Lifeline, MarkKind};
use crate::spec::{parse_mutant, MutantEntry, Spec};

impl Spec for FleModel {
    type St = FleState;
    type Act = super::Action;
    type Config = FleConfig;
    const PROTOCOL: &'static str = "fle";

    fn catalogue() -> &'static crate::coverage::Catalogue {
        &super::rules::CATALOGUE
    }

    fn equivalent_ablations() -> &'static [crate::coverage::Equivalent] {
        super::rules::EQUIVALENT
    }

    fn known_gaps() -> &'static [crate::coverage::Equivalent] {
        super::rules::KNOWN_GAPS
    }

    fn uncounted_guards() -> &'static [crate::coverage::Guard] {
        use super::rules::{ORDER_EPOCH, ORDER_SID, ORDER_ZXID};
        &[ORDER_EPOCH, ORDER_ZXID, ORDER_SID]
    }

    fn build(mut config: FleConfig, mutant: Option<&str>) -> Result<Self, ConfigError> {
        config.mutant = parse_mutant(
            "FLE",
            mutant,
            &FleMutant::ALL,
            FleMutant::parse,
            FleMutant::name,
        )?;
        FleModel::new(config)
    }

    fn config(&self) -> &FleConfig {
        &self.config
    }

    fn mutant_name(&self) -> Option<&'static str> {
        self.config.mutant.map(|m| m.name())
    }

    fn summary(&self) -> String {
        self.config.summary()
    }

    fn profile(profile: crate::config::Profile) -> Vec<crate::config::ProfileEntry<FleConfig>> {
        super::config::profile(profile)
    }

    fn mutants() -> Vec<MutantEntry<FleConfig>> {
        FleMutant::ALL.iter().map(|m| m.info()).collect()
    }

    fn state_view(&self, st: &FleState) -> Json {
        let servers: Vec<Json> = st
            .servers
            .iter()
            .enumerate()
            .map(|(i, node)| self.server_view(Sid(i as u8), node))
            .collect();
        let mut in_flight = Vec::new();
        for src in 0..st.servers.len() {
            for dst in 0..st.servers.len() {
                if let Some(msg) = st.chans[src][dst].in_flight() {
                    in_flight.push(json!({ "src": src, "dst": dst, "msg": msg }));
                }
            }
        }
        json!({
            "servers": servers,
            "in_flight": in_flight,
            "crashes": st.crashes,
        })
    }

    fn describe_change(&self, before: &FleState, after: &FleState) -> String {
        let changed: Vec<String> = before
            .servers
            .iter()
            .zip(after.servers.iter())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (_, b))| format!("s{i}: {}", describe(b)))
            .collect();
        let count = |st: &FleState| {
            st.chans
                .iter()
                .flatten()
                .filter(|c| c.in_flight().is_some())
                .count()
        };
        let (was, now) = (count(before), count(after));
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

    fn diagram_frame(&self, st: &FleState) -> Frame {
        let n = st.servers.len();
        let mut in_flight = Vec::new();
        for (src, row) in st.chans.iter().enumerate().take(n) {
            for (dst, chan) in row.iter().enumerate().take(n) {
                if let Some(msg) = chan.in_flight() {
                    in_flight.push(InFlight {
                        src: src as u8,
                        dst: dst as u8,
                        label: msg.to_string(),
                        copies: 1,
                    });
                }
            }
        }
        Frame {
            servers: st.servers.iter().map(lifeline).collect(),
            in_flight,
        }
    }

    fn diagram_action(&self, action: &Action) -> ActionKind {
        let mark = |server: Sid, kind: MarkKind, text: String| ActionKind::Mark {
            server: server.0,
            kind,
            text,
        };
        match *action {
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
            Action::Reconnect { a, b } => mark(a, MarkKind::Local, format!("reconnect {a}↔{b}")),
            Action::Finalize { server } => mark(server, MarkKind::Local, "finalize".into()),
            Action::NotificationTimeout { server } => {
                mark(server, MarkKind::Timeout, "notification timeout".into())
            }
            Action::ZabTimeout { server } => mark(server, MarkKind::Timeout, "ZAB gives up".into()),
            Action::Crash { server } => mark(server, MarkKind::Crash, "crash".into()),
            Action::Restart { server } => mark(server, MarkKind::Restart, "restart".into()),
        }
    }
}

/// The election state and round of a server, as a diagram's lifeline shows them.
fn lifeline(node: &Node) -> Lifeline {
    let s = &node.fle;
    let label = match (node.up, s.state, s.current) {
        (false, _, _) => "down".to_string(),
        (true, ZkState::Looking, _) => format!("LOOKING r{}", s.logicalclock.0),
        (true, state, Some(c)) => format!("{} for {}", state.name(), c.leader),
        (true, state, None) => state.name().to_string(),
    };
    Lifeline { up: node.up, label }
}

impl FleModel {
    fn server_view(&self, id: Sid, node: &Node) -> Json {
        let h = self.history(id);
        let s = &node.fle;
        let mut v = json!({
            "id": id,
            "up": node.up,
            "current_epoch": h.current_epoch,
            "last_zxid": h.last_zxid,
        });
        if !node.up {
            return v;
        }
        v["state"] = json!(s.state);
        v["logicalclock"] = json!(s.logicalclock);
        match s.state {
            ZkState::Looking => {
                v["proposal"] = json!(s.proposal);
                v["finalizing"] = json!(s.finalizing);
                v["recvset"] = table(&s.recvset);
                v["outofelection"] = table(&s.outofelection);
            }
            ZkState::Following | ZkState::Leading => v["current_vote"] = json!(s.current),
        }
        v
    }
}

fn table(t: &VoteTable) -> Json {
    let mut m = Map::new();
    for (i, n) in t.iter().enumerate() {
        if let Some(n) = n {
            m.insert(i.to_string(), json!(n));
        }
    }
    Json::Object(m)
}

fn describe(node: &Node) -> String {
    if !node.up {
        return "DOWN".to_string();
    }
    let s = &node.fle;
    match s.state {
        ZkState::Looking => {
            let votes = |t: &VoteTable| {
                t.iter()
                    .enumerate()
                    .filter_map(|(i, n)| n.map(|n: Notification| format!("s{i}:{}", n.leader)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut d = format!(
                "LOOKING r{} proposes {} recvset[{}]",
                s.logicalclock.0,
                s.proposal,
                votes(&s.recvset)
            );
            if s.outofelection.iter().any(|n| n.is_some()) {
                d.push_str(&format!(" outofelection[{}]", votes(&s.outofelection)));
            }
            if s.finalizing {
                d.push_str(" (finalize wait)");
            }
            d
        }
        _ => {
            let c = s.current.expect("decided");
            format!(
                "{} for {} (decided in r{})",
                s.state.name(),
                c.vote(),
                c.election_epoch.0
            )
        }
    }
}

/// One row per server, the notifications in flight, the fault budget, and the ghost labelled as
/// history (no padding of the fixed-capacity tables). What the Explorer shows for a state.
impl std::fmt::Debug for FleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.servers.len();
        writeln!(f, "servers:")?;
        for (i, node) in self.servers.iter().enumerate() {
            writeln!(f, "  s{i}: {}", describe(node))?;
        }
        let flights: Vec<String> = (0..n)
            .flat_map(|src| (0..n).map(move |dst| (src, dst)))
            .filter_map(|(src, dst)| {
                self.chans[src][dst]
                    .in_flight()
                    .map(|m| format!("  s{src}→s{dst} {m}"))
            })
            .collect();
        writeln!(f, "in flight ({}):", flights.len())?;
        for line in flights {
            writeln!(f, "{line}")?;
        }
        writeln!(f, "crashes {}", self.crashes)?;
        let mut ghost = self.ghost;
        // Only the first n servers exist: the rest of the table is capacity.
        for d in ghost.decided.iter_mut().skip(n) {
            *d = 0;
        }
        crate::spec::fmt_ghost(f, &ghost, &[("decided", "s")])
    }
}
