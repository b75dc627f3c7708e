//! One lockstep run: the Raft model and a cluster of real Raft nodes, advanced by the same
//! steps and compared after every one (docs/conformance.md § The step).

use ballot_core::raft::Message;
use ballot_core::Timer;
use ballot_models::network::{Network, NetworkKind};
use ballot_models::raft::{Action, Msg, RaftModel, RaftState, ServerId};
use ballot_node::server::ProposalReply;
use serde_json::{json, Value as Json};
use stateright::Model;

use super::mapping::{
    core_id, core_message, down_server, initial_disk, is_heartbeat, model_id, model_message,
    model_server, running_server, ConfigHook, RaftNodes, ServerAbs,
};
use crate::divergence::{Class, Divergence};
use crate::driver::{Cluster, Sent, Unsettled};

/// An implementation event the model has no action for, which must change nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stutter {
    /// A leader's heartbeat timer fires where the model would send no heartbeat (every one
    /// would change nothing): the implementation's heartbeats are dropped (docs/protocols/raft.md
    /// § Useful heartbeats) and nothing else may change.
    Heartbeat(ServerId),
    /// A client request at a server that is not leader: it must be refused and change nothing.
    RefusedRequest(ServerId, u8),
}

impl std::fmt::Display for Stutter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stutter::Heartbeat(s) => write!(f, "{s} heartbeat (changes nothing)"),
            Stutter::RefusedRequest(s, v) => write!(f, "client request v{v} at {s} (not leader)"),
        }
    }
}

/// A model and an implementation cluster in lockstep.
pub struct RaftRun<'m> {
    model: &'m RaftModel,
    state: RaftState,
    cluster: Cluster<RaftNodes>,
    /// The implementation's messages in flight, in the model's vocabulary and under the model's
    /// network rules (absorbed sends, loss to a down server, dead responses collected).
    net: Network<Msg>,
    step: usize,
}

fn kind(model: &RaftModel) -> NetworkKind {
    model.config.network
}

impl<'m> RaftRun<'m> {
    /// Starts every server of the model's initial state as a real node and compares them.
    pub fn start(model: &'m RaftModel, hook: Option<ConfigHook>) -> Result<Self, Divergence> {
        let state = model.init_states().remove(0);
        let n = state.servers.len();
        let nodes = RaftNodes {
            servers: (0..n as u8).map(|i| core_id(ServerId(i))).collect(),
            leader_noop: model.config.leader_noop,
            pre_vote: model.config.pre_vote,
            pipeline: model.config.pipeline,
            hook,
        };
        let disks = (0..n)
            .map(|i| (core_id(ServerId(i as u8)), initial_disk(&state, i)))
            .collect();
        let fail = |class, details: Vec<String>| Divergence {
            step: 0,
            action: "start".into(),
            class,
            details,
            expected: Box::new(Json::Null),
            actual: Box::new(Json::Null),
        };
        let cluster = Cluster::start(nodes, disks)
            .map_err(|u| fail(Class::NodeStopped, vec![u.to_string()]))?;
        let run = RaftRun {
            model,
            state,
            cluster,
            net: Network::default(),
            step: 0,
        };
        let diffs = run.state_differences(&run.state);
        if !diffs.is_empty() {
            return Err(run.divergence("start", Class::IncorrectState, diffs, &run.state));
        }
        Ok(run)
    }

    /// The model's current state.
    pub fn state(&self) -> &RaftState {
        &self.state
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Takes model action `action` (which must be enabled) on both sides and compares.
    pub fn step(&mut self, action: &Action) -> Result<(), Divergence> {
        let next = self
            .model
            .next_state(&self.state, action.clone())
            .unwrap_or_else(|| panic!("step {}: `{action}` is not enabled", self.step + 1));
        self.step += 1;
        let label = action.to_string();
        let mut ticket = None;
        let mut heartbeat_of = None;
        match *action {
            Action::Timeout { server } => self.fire(server, Timer::Election, &label, &next)?,
            Action::Heartbeat { server } => {
                self.fire(server, Timer::Heartbeat, &label, &next)?;
                heartbeat_of = Some(server);
            }
            Action::ClientRequest { server, value } => {
                ticket = Some(self.cluster.propose(core_id(server), vec![value.0]));
            }
            Action::Read { server } => {
                // The answer (ReadReady) is held to the model through the leader's read state:
                // pending reads and rounds are compared after every step.
                let _ = self.cluster.read(core_id(server));
            }
            Action::Deliver { src, dst, msg } => {
                let msg = self.take(src, dst, &msg, &label, &next)?;
                self.cluster
                    .deliver(core_id(src), core_id(dst), core_message(&msg));
            }
            Action::Drop { src, dst, msg } => {
                self.take(src, dst, &msg, &label, &next)?;
            }
            Action::Duplicate { src, dst, msg } => {
                let i = self.find(src, dst, &msg, &label, &next)?;
                self.net.duplicate(i);
            }
            Action::Crash { server } => {
                self.cluster.crash(core_id(server));
                self.net.drop_to(server.0);
            }
            Action::Compact { server } => self.cluster.compact(core_id(server)),
            Action::Restart { server } => {
                if let Err(u) = self.cluster.restart(core_id(server)) {
                    return Err(self.stopped(&label, u, &next));
                }
            }
        }
        let sent = self.settle(&label, &next)?;
        if let Some(mut ticket) = ticket {
            match ticket.answer() {
                Some(ProposalReply::Accepted { .. }) => {}
                other => {
                    let why = format!("the leader did not accept the client request: {other:?}");
                    return Err(self.divergence(&label, Class::MissingAction, vec![why], &next));
                }
            }
        }
        self.absorb(sent, heartbeat_of, &label, &next)?;
        self.compare(&label, next)
    }

    /// An implementation event with no model action: the model stays where it is, and so must
    /// the implementation's abstract state and messages.
    pub fn stutter(&mut self, event: Stutter) -> Result<(), Divergence> {
        self.step += 1;
        let label = event.to_string();
        let same = self.state.clone();
        let mut ticket = None;
        let mut heartbeat_of = None;
        match event {
            Stutter::Heartbeat(server) => {
                self.fire(server, Timer::Heartbeat, &label, &same)?;
                heartbeat_of = Some(server);
            }
            Stutter::RefusedRequest(server, value) => {
                ticket = Some(self.cluster.propose(core_id(server), vec![value]));
            }
        }
        let sent = self.settle(&label, &same)?;
        if let Some(mut ticket) = ticket {
            if !matches!(ticket.answer(), Some(ProposalReply::Rejected { .. })) {
                let why = "a server that is not leader did not refuse a client request".into();
                return Err(self.divergence(&label, Class::UnexpectedAction, vec![why], &same));
            }
        }
        self.absorb(sent, heartbeat_of, &label, &same)?;
        self.compare(&label, same)
    }

    /// Whether the implementation has `timer` armed at model server `s` (which must be up).
    pub fn is_armed(&self, s: ServerId, timer: Timer) -> bool {
        self.cluster.is_armed(core_id(s), timer)
    }

    /// Whether model server `s` is up in the implementation.
    pub fn is_up(&self, s: ServerId) -> bool {
        self.cluster.is_up(core_id(s))
    }

    /// The implementation's messages in flight (model vocabulary).
    pub fn in_flight(&self) -> &Network<Msg> {
        &self.net
    }

    /// A divergence found outside a step (e.g. a timer the model would fire is not armed).
    pub fn fail(&self, label: &str, class: Class, why: String) -> Divergence {
        self.divergence(label, class, vec![why], &self.state)
    }

    fn fire(
        &mut self,
        s: ServerId,
        timer: Timer,
        label: &str,
        next: &RaftState,
    ) -> Result<(), Divergence> {
        if self.cluster.fire(core_id(s), timer) {
            return Ok(());
        }
        let why = format!("the implementation has no {timer:?} timer armed at {s}");
        Err(self.divergence(label, Class::MissingAction, vec![why], next))
    }

    fn find(
        &self,
        src: ServerId,
        dst: ServerId,
        msg: &Msg,
        label: &str,
        next: &RaftState,
    ) -> Result<usize, Divergence> {
        self.net
            .find(kind(self.model), src.0, dst.0, msg)
            .ok_or_else(|| {
                let why = format!("the implementation has no {msg} from {src} to {dst} to take");
                self.divergence(label, Class::MissingAction, vec![why], next)
            })
    }

    fn take(
        &mut self,
        src: ServerId,
        dst: ServerId,
        msg: &Msg,
        label: &str,
        next: &RaftState,
    ) -> Result<Msg, Divergence> {
        let i = self.find(src, dst, msg, label, next)?;
        Ok(self.net.take(i))
    }

    fn settle(&mut self, label: &str, next: &RaftState) -> Result<Vec<Sent<Message>>, Divergence> {
        self.cluster
            .settle()
            .map_err(|u| self.stopped(label, u, next))
    }

    fn stopped(&self, label: &str, u: Unsettled, next: &RaftState) -> Divergence {
        self.divergence(label, Class::NodeStopped, vec![u.to_string()], next)
    }

    /// Puts the implementation's sends into its network under the model's rules.
    fn absorb(
        &mut self,
        sent: Vec<Sent<Message>>,
        heartbeat_of: Option<ServerId>,
        label: &str,
        next: &RaftState,
    ) -> Result<(), Divergence> {
        for s in sent {
            let mapped = model_id(s.from)
                .and_then(|f| model_id(s.to).map(|t| (f, t)))
                .and_then(|(f, t)| model_message(&s.msg).map(|m| (f, t, m)));
            let (src, dst, msg) = match mapped {
                Ok(x) => x,
                Err(e) => {
                    let why = format!("{} sent {:?} to {}: {e}", s.from, s.msg, s.to);
                    return Err(self.divergence(label, Class::UnexpectedAction, vec![why], next));
                }
            };
            if let Some(why) = s.not_durable {
                let why = format!("{src} sent {msg} to {dst} before it was durable: {why}");
                return Err(self.divergence(label, Class::UnexpectedAction, vec![why], next));
            }
            if !self.cluster.is_up(s.to) {
                continue; // the model's rule: a message to a server that is down is lost
            }
            let useless_heartbeat = heartbeat_of == Some(src)
                && is_heartbeat(&msg)
                && !next
                    .network
                    .flights()
                    .iter()
                    .any(|f| (f.src, f.dst, f.msg) == (src.0, dst.0, msg));
            if useless_heartbeat {
                continue; // the model's bound: only heartbeats that change something are sent
            }
            self.net.send(kind(self.model), src.0, dst.0, msg);
        }
        Ok(())
    }

    /// Delivers the dead responses the model collected to their receivers (which must not
    /// change), then compares every server and the messages in flight.
    fn compare(&mut self, label: &str, next: RaftState) -> Result<(), Divergence> {
        let mut details = self.state_differences(&next);
        if details.is_empty() && self.model.collects_dead_messages() {
            self.collect_dead(label, &next)?;
        }
        let (extra, missing) = network_differences(&self.net, &next.network);
        let class = if !extra.is_empty() {
            Class::UnexpectedAction
        } else if !missing.is_empty() {
            Class::MissingAction
        } else {
            Class::IncorrectState
        };
        let mut all = extra;
        all.extend(missing);
        all.append(&mut details);
        if !all.is_empty() {
            return Err(self.divergence(label, class, all, &next));
        }
        self.state = next;
        Ok(())
    }

    /// The model removes a response whose term is below its receiver's (it can have no effect,
    /// and terms never decrease). The harness does not just drop it: it hands it to the
    /// receiver, which must not change and must send nothing.
    fn collect_dead(&mut self, label: &str, next: &RaftState) -> Result<(), Divergence> {
        let dead: Vec<(ServerId, ServerId, Msg, u8)> = self
            .net
            .flights()
            .iter()
            .filter(|f| RaftModel::is_dead_response(&f.msg, next.servers[f.dst as usize].term))
            .map(|f| (ServerId(f.src), ServerId(f.dst), f.msg, f.copies))
            .collect();
        for &(src, dst, msg, copies) in &dead {
            self.net
                .remove_where(|f| (f.src, f.dst, f.msg) == (src.0, dst.0, msg));
            if !self.cluster.is_up(core_id(dst)) {
                continue;
            }
            let before = self.abstract_server(dst.ix());
            for _ in 0..copies {
                self.cluster
                    .deliver(core_id(src), core_id(dst), core_message(&msg));
            }
            let sent = self.settle(label, next)?;
            let after = self.abstract_server(dst.ix());
            if before != after || !sent.is_empty() {
                let json = |s: &Result<ServerAbs, String>| match s {
                    Ok(s) => serde_json::to_value(s).expect("serialises"),
                    Err(e) => json!({ "error": e }),
                };
                let why = format!(
                    "a response of an earlier term, {msg} from {src}, changed {dst} ({}) and \
                     made it send {} message(s)",
                    field_differences(&json(&before), &json(&after)),
                    sent.len()
                );
                return Err(self.divergence(label, Class::IncorrectState, vec![why], next));
            }
        }
        Ok(())
    }

    fn abstract_server(&self, i: usize) -> Result<ServerAbs, String> {
        let id = core_id(ServerId(i as u8));
        if self.cluster.is_up(id) {
            match self.cluster.view(id) {
                Some(v) => running_server(&v, &self.model.config),
                None => Err("the node has not reported its state".into()),
            }
        } else {
            down_server(&self.cluster.disk(id), &self.model.config)
        }
    }

    fn state_differences(&self, next: &RaftState) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..next.servers.len() {
            let expected = model_server(self.model, next, i);
            match self.abstract_server(i) {
                Ok(actual) if actual == expected => {}
                Ok(actual) => out.push(format!(
                    "s{i}: {}",
                    field_differences(
                        &serde_json::to_value(&expected).expect("serialises"),
                        &serde_json::to_value(&actual).expect("serialises")
                    )
                )),
                Err(e) => out.push(format!("s{i}: not expressible in the model: {e}")),
            }
        }
        out
    }

    fn divergence(
        &self,
        label: &str,
        class: Class,
        details: Vec<String>,
        next: &RaftState,
    ) -> Divergence {
        let n = next.servers.len();
        let expected = json!({
            "servers": (0..n).map(|i| model_server(self.model, next, i)).collect::<Vec<_>>(),
            "in_flight": next.network,
        });
        let actual = json!({
            "servers": (0..n).map(|i| match self.abstract_server(i) {
                Ok(s) => serde_json::to_value(s).expect("serialises"),
                Err(e) => json!({ "error": e }),
            }).collect::<Vec<_>>(),
            "in_flight": self.net,
        });
        Divergence {
            step: self.step,
            action: label.to_string(),
            class,
            details,
            expected: Box::new(expected),
            actual: Box::new(actual),
        }
    }
}

/// `field: expected X, actual Y` for each differing field of two server views.
fn field_differences(expected: &Json, actual: &Json) -> String {
    let (Json::Object(e), Json::Object(a)) = (expected, actual) else {
        return format!("expected {expected}, actual {actual}");
    };
    let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| e.get(*k) != a.get(*k))
        .map(|k| {
            let show = |v: Option<&Json>| v.map_or("(none)".to_string(), |v| v.to_string());
            format!(
                "{k}: expected {}, actual {}",
                show(e.get(k)),
                show(a.get(k))
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Messages the implementation has in flight that the model has not (sent unexpectedly), and
/// the reverse (not sent), channel by channel; an ordered channel must also agree on order.
fn network_differences(
    actual: &Network<Msg>,
    expected: &Network<Msg>,
) -> (Vec<String>, Vec<String>) {
    let mut extra = Vec::new();
    let mut missing = Vec::new();
    let count = |net: &Network<Msg>, f: &ballot_models::network::Flight<Msg>| {
        net.flights()
            .iter()
            .filter(|g| (g.src, g.dst, g.msg) == (f.src, f.dst, f.msg))
            .map(|g| g.copies as usize)
            .sum::<usize>()
    };
    for f in actual.flights() {
        let (a, e) = (count(actual, f), count(expected, f));
        if a > e {
            extra.push(format!(
                "s{} sent {} to s{} that the model did not ({a} in flight, model {e})",
                f.src, f.msg, f.dst
            ));
        }
    }
    for f in expected.flights() {
        let (a, e) = (count(actual, f), count(expected, f));
        if e > a {
            missing.push(format!(
                "the model sent {} from s{} to s{}, the implementation did not",
                f.msg, f.src, f.dst
            ));
        }
    }
    if extra.is_empty() && missing.is_empty() && actual != expected {
        extra.push("the implementation's messages are in flight in another order".into());
    }
    extra.dedup();
    missing.dedup();
    (extra, missing)
}
