//! The Raft model: leader election and log replication at message granularity, with crashes and
//! restarts, three network semantics, optional PreVote, pipelining and snapshots, and seeded bugs.
//!
//! Semantics are specified in docs/protocols/raft.md, the contract shared with the implementation.
//! Every action is one input of a real node (`Action`), so a counterexample replays on the
//! implementation event by event.

mod codec;
mod config;
mod mutants;
pub mod properties;
pub mod rules;
mod spec;
mod state;
mod step;
mod types;

pub use config::{InitServer, RaftConfig, MAX_CRASHES, MAX_TERM, MAX_VALUES};
pub use mutants::RaftMutant;
pub use state::{Ghost, RaftState, Server};
pub use types::{Entries, Entry, LogIndex, Msg, Role, ServerId, Term, Value, MAX_LOG, MAX_SERVERS};

use arrayvec::ArrayVec;
use serde::{Deserialize, Serialize};
use stateright::{Model, Property};
use std::fmt;

use crate::config::ConfigError;
use crate::network::NetworkKind;

/// One step of the system: one input to one server, or one fault.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// The election timer of a follower or candidate fires.
    Timeout {
        server: ServerId,
    },
    /// The heartbeat timer of a leader fires.
    Heartbeat {
        server: ServerId,
    },
    /// A client asks a leader to replicate `value`.
    ClientRequest {
        server: ServerId,
        value: Value,
    },
    Deliver {
        src: ServerId,
        dst: ServerId,
        msg: Msg,
    },
    Drop {
        src: ServerId,
        dst: ServerId,
        msg: Msg,
    },
    Duplicate {
        src: ServerId,
        dst: ServerId,
        msg: Msg,
    },
    /// With `--snapshots`: a server compacts its log up to its commit index
    /// (raft.snapshot.take).
    Compact {
        server: ServerId,
    },
    Crash {
        server: ServerId,
    },
    Restart {
        server: ServerId,
    },
    /// `--reads`: a client's linearizable read arrives at a leader (raft.read.start).
    Read {
        server: ServerId,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Timeout { server } => write!(f, "{server} election timeout"),
            Action::Heartbeat { server } => write!(f, "{server} heartbeat"),
            Action::ClientRequest { server, value } => {
                write!(f, "client request v{} at {server}", value.0)
            }
            Action::Deliver { src, dst, msg } => write!(f, "deliver {src}→{dst} {msg}"),
            Action::Drop { src, dst, msg } => write!(f, "drop {src}→{dst} {msg}"),
            Action::Duplicate { src, dst, msg } => write!(f, "duplicate {src}→{dst} {msg}"),
            Action::Compact { server } => write!(f, "{server} compacts its log"),
            Action::Crash { server } => write!(f, "{server} crashes"),
            Action::Restart { server } => write!(f, "{server} restarts"),
            Action::Read { server } => write!(f, "read at {server}"),
        }
    }
}

/// The Raft model for one configuration.
#[derive(Clone, Debug)]
pub struct RaftModel {
    pub config: RaftConfig,
}

impl RaftModel {
    pub fn new(config: RaftConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(RaftModel { config })
    }

    fn kind(&self) -> NetworkKind {
        self.config.network
    }

    /// The symmetry-class representative of `st` (servers renamed into a canonical order).
    pub fn representative(&self, st: &RaftState) -> RaftState {
        st.representative(
            self.kind(),
            self.config.mutant == Some(RaftMutant::CountDuplicateVotes),
        )
    }

    /// Whether the ghost records who stood in each term (`Ghost::candidates`): only where
    /// `--max-candidates` bounds them, since elsewhere the record would only split states.
    pub(crate) fn tracks_candidates(&self) -> bool {
        self.config.max_candidates < self.config.servers
    }

    /// Updates the ghost history after a step from `old` to `new`.
    fn record_history(&self, old: &RaftState, new: &mut RaftState) {
        let ghost = &mut new.ghost;
        for (i, (a, b)) in old.servers.iter().zip(&new.servers).enumerate() {
            if b.up && b.role == Role::Leader {
                ghost.leaders[b.term.0 as usize] |= 1 << i;
                if a.up && a.role == Role::Leader && a.term == b.term && !b.log.starts_with(&a.log)
                {
                    ghost.append_only_broken = true;
                }
            }
            if a.up && b.up {
                // raft.append.commit, raft.snapshot.install: a commit index only moves forward
                // while the server stays up (a crash forgets it).
                if b.commit < a.commit {
                    ghost.commit_decreased = true;
                }
                // raft.vote.count: a leader of term t was a candidate of t a step before (with
                // one server, its own vote at the timeout is already a majority).
                let was_leader = a.role == Role::Leader && a.term == b.term;
                let from_candidate = a.role == Role::Candidate && a.term == b.term;
                let own_vote_wins = self.majority() == 1 && a.term < b.term;
                if b.role == Role::Leader && !(was_leader || from_candidate || own_vote_wins) {
                    ghost.leader_not_candidate = true;
                }
                // raft.prevote.count: with PreVote, a server stands in a new term only once a
                // majority granted its pre-vote for that term (this step adds at most one grant;
                // with one server its own pre-vote at the timeout is the majority).
                let stood = matches!(b.role, Role::Candidate | Role::Leader) && b.term > a.term;
                if self.config.pre_vote && stood {
                    let prevoted = a.role == Role::PreCandidate
                        && b.term.0 == a.term.0 + 1
                        && a.votes.count_ones() as usize + 1 >= self.majority();
                    if !prevoted && self.majority() > 1 {
                        ghost.election_without_prevote = true;
                    }
                }
                // raft.append.response, raft.pipeline.reject: a leader's knowledge of what a
                // follower holds only grows within its term; pipelined, it never sends below it.
                if b.role == Role::Leader {
                    let peers = (0..b.next_index.len().min(self.config.servers as usize))
                        .filter(|&j| j != i);
                    for j in peers {
                        if (was_leader && b.match_index[j] < a.match_index[j])
                            || (self.config.pipeline && b.next_index[j] <= b.match_index[j])
                        {
                            ghost.progress_regressed = true;
                        }
                    }
                }
            }
            // An entry a server had applied must never change under it.
            let kept = a.committed().len().min(b.committed().len());
            if a.committed()[..kept] != b.committed()[..kept] {
                ghost.commit_conflict = true;
            }
            for k in a.committed().len()..b.committed().len() {
                let e = b.log[k];
                match ghost.committed.get_mut(k) {
                    Some((c, t)) if *c == e => *t = (*t).min(b.term),
                    Some(_) => ghost.commit_conflict = true,
                    None => {
                        assert_eq!(ghost.committed.len(), k, "commits are prefixes");
                        ghost.committed.push((e, b.term));
                    }
                }
            }
        }
    }

    /// Removes responses that can never have an effect: a response is ignored by a receiver whose
    /// term is higher, and terms never decrease. A dead message in flight would only multiply
    /// states that differ in nothing that matters. Mutants M5 (terms decrease) and M10 (stale
    /// grants are counted) break the premise, so they keep every message.
    fn collect_dead_messages(&self, st: &mut RaftState) {
        if !self.collects_dead_messages() {
            return;
        }
        let terms: ArrayVec<Term, MAX_SERVERS> = st.servers.iter().map(|s| s.term).collect();
        st.network
            .remove_where(|f| Self::is_dead_response(&f.msg, terms[f.dst as usize]));
    }

    /// Whether `msg`, a response, can have no effect on a receiver of term `receiver`, now or
    /// ever (terms never decrease): a vote or append response of an earlier term, or a
    /// PreVoteResponse whose term is not above the receiver's (raft.prevote.count).
    pub fn is_dead_response(msg: &Msg, receiver: Term) -> bool {
        match msg {
            Msg::RequestVoteResponse { term, .. } | Msg::AppendEntriesResponse { term, .. } => {
                *term < receiver
            }
            Msg::PreVoteResponse { term, .. } => *term <= receiver,
            Msg::RequestVote { .. }
            | Msg::AppendEntries { .. }
            | Msg::PreVote { .. }
            | Msg::InstallSnapshot { .. } => false,
        }
    }

    /// Whether this model removes dead responses (a response whose term is below its receiver's
    /// term) after every step: always, except under the mutants that break the premise. A
    /// conformance harness mirrors it. Never with the reductions off.
    pub fn collects_dead_messages(&self) -> bool {
        // The premise for PreVoteResponses is raft.prevote.count's guard (only a grant of
        // exactly `term + 1` counts): with it ablated, a stale grant can count, as under M10.
        self.config.reductions
            && !crate::coverage::is_ablated(rules::PREVOTE_COUNTED)
            && !matches!(
                self.config.mutant,
                Some(RaftMutant::VolatileTerm | RaftMutant::CountStaleVotes)
            )
    }

    /// Whether delivering flight `i` twice in a row differs from delivering it once. Raft's
    /// handlers are idempotent (a repeated message changes nothing and its repeated reply is
    /// absorbed), so most duplicates only multiply states; duplication is explored where it can
    /// matter, which is exactly where a handler is not idempotent (mutant M11's vote counter).
    /// A copy delivered much later, after the receiver moved on, is not explored: that is a
    /// stated bound of `unordered-dup`.
    fn second_copy_matters(&self, st: &RaftState, i: usize) -> bool {
        let f = st.network.flights()[i];
        let (src, dst) = (ServerId(f.src), ServerId(f.dst));
        if !st.servers[dst.ix()].up {
            return false;
        }
        let mut once = st.clone();
        once.network.take(i);
        self.on_message(&mut once, src, dst, f.msg);
        let mut twice = once.clone();
        self.on_message(&mut twice, src, dst, f.msg);
        twice != once
    }

    /// Whether anything can ever be committed: a leader must append an entry of its own term,
    /// a no-op or a client value not proposed yet.
    pub fn can_commit(&self) -> bool {
        let cfg = &self.config;
        let proposed = self.init_states()[0].proposed;
        cfg.leader_noop || (cfg.max_log > 0 && (1..=cfg.values).any(|v| proposed & (1 << v) == 0))
    }

    /// Whether a server in `term` may time out into the next term: below `--max-term`, and the
    /// next term has fewer candidates than `--max-candidates`.
    fn may_stand(&self, st: &RaftState, me: ServerId, term: Term) -> bool {
        let others = st.ghost.candidates[term.0 as usize + 1] & !me.bit();
        term.0 < self.config.max_term && (others.count_ones() as u8) < self.config.max_candidates
    }

    /// Whether `me`'s election timer may fire: to stand (or pre-campaign) within the bounds,
    /// or, with `--pre-vote`, a leader's quorum check.
    fn may_time_out(&self, st: &RaftState, me: ServerId) -> bool {
        let s = &st.servers[me.ix()];
        match s.role {
            Role::Leader => self.config.pre_vote,
            _ => self.may_stand(st, me, s.term),
        }
    }

    /// raft.client.request — docs/protocols/raft.md: only a leader takes client requests.
    fn may_propose(&self, s: &Server) -> bool {
        crate::coverage::guard(rules::CLIENT_LEADER, s.role == Role::Leader)
    }

    /// raft.snapshot.take — docs/protocols/raft.md: whether `me` may compact its log: it has
    /// committed entries that its snapshot does not hold yet. Under mutant SN1, any entry past
    /// its snapshot.
    fn may_compact(&self, s: &Server) -> bool {
        let upto = if self.config.mutant == Some(RaftMutant::CompactUncommitted) {
            s.last_index()
        } else {
            s.commit
        };
        self.config.snapshots
            && crate::coverage::guard(rules::SNAPSHOT_NEW_COMMIT, upto > s.snapshot)
    }

    fn enabled(&self, st: &RaftState, action: &Action) -> bool {
        let up = |s: ServerId| st.servers.get(s.ix()).is_some_and(|s| s.up);
        let cfg = &self.config;
        match action {
            Action::Timeout { server } => up(*server) && self.may_time_out(st, *server),
            Action::Heartbeat { server } => up(*server) && st.server(*server).role == Role::Leader,
            Action::ClientRequest { server, value } => {
                up(*server)
                    && self.may_propose(st.server(*server))
                    && (1..=cfg.values).contains(&value.0)
                    && st.proposed & (1 << value.0) == 0
                    && st.server(*server).client_entries() < cfg.max_log as usize
            }
            Action::Deliver { dst, .. } => up(*dst),
            Action::Drop { .. } => cfg.lossy,
            Action::Duplicate { .. } => cfg.network == NetworkKind::UnorderedDup,
            Action::Compact { server } => up(*server) && self.may_compact(st.server(*server)),
            Action::Crash { server } => up(*server) && st.crashes < cfg.crashes,
            Action::Restart { server } => st.servers.get(server.ix()).is_some_and(|s| !s.up),
            Action::Read { server } => {
                st.servers.get(server.ix()).is_some() && self.may_read(st, *server)
            }
        }
    }
}

impl Model for RaftModel {
    type State = RaftState;
    type Action = Action;

    fn init_states(&self) -> Vec<RaftState> {
        let mut st = RaftState::new(self.config.servers as usize);
        for (s, init) in st.servers.iter_mut().zip(&self.config.init) {
            s.term = init.term;
            s.voted_for = init.voted_for;
            s.log = init.log.iter().copied().collect();
            for e in &init.log {
                st.proposed |= 1 << e.value.0;
            }
        }
        st.proposed &= !1; // bit 0 is the no-op, never proposed
        vec![st]
    }

    fn actions(&self, st: &RaftState, actions: &mut Vec<Action>) {
        let cfg = &self.config;
        for (i, s) in st.servers.iter().enumerate() {
            let server = ServerId(i as u8);
            if !s.up {
                actions.push(Action::Restart { server });
                continue;
            }
            if self.may_time_out(st, server) {
                actions.push(Action::Timeout { server });
            }
            if s.role == Role::Leader {
                actions.push(Action::Heartbeat { server });
                if self.may_read(st, server) {
                    actions.push(Action::Read { server });
                }
            }
            if self.may_propose(s) && s.client_entries() < cfg.max_log as usize {
                for v in 1..=cfg.values {
                    if st.proposed & (1 << v) == 0 {
                        actions.push(Action::ClientRequest {
                            server,
                            value: Value(v),
                        });
                    }
                }
            }
            if self.may_compact(s) {
                actions.push(Action::Compact { server });
            }
            if st.crashes < cfg.crashes {
                actions.push(Action::Crash { server });
            }
        }
        for i in st.network.deliverable(cfg.network) {
            let f = &st.network.flights()[i];
            let (src, dst) = (ServerId(f.src), ServerId(f.dst));
            if st.servers[dst.ix()].up {
                actions.push(Action::Deliver {
                    src,
                    dst,
                    msg: f.msg,
                });
            }
            if cfg.lossy {
                actions.push(Action::Drop {
                    src,
                    dst,
                    msg: f.msg,
                });
            }
            if cfg.network == NetworkKind::UnorderedDup && f.copies == 1 {
                actions.push(Action::Duplicate {
                    src,
                    dst,
                    msg: f.msg,
                });
            }
        }
    }

    fn next_state(&self, last: &RaftState, action: Action) -> Option<RaftState> {
        if !self.enabled(last, &action) {
            return None;
        }
        let mut st = last.clone();
        let kind = self.kind();
        match action {
            Action::Timeout { server } => self.on_timeout(&mut st, server),
            Action::Heartbeat { server } => {
                if !self.on_heartbeat(&mut st, server) {
                    return None; // every message is already in flight: nothing changes
                }
            }
            Action::ClientRequest { server, value } => {
                self.on_client_request(&mut st, server, value)
            }
            Action::Deliver { src, dst, msg } => {
                let i = st.network.find(kind, src.0, dst.0, &msg)?;
                let msg = st.network.take(i);
                let in_flight = st.network.flights().len();
                self.on_message(&mut st, src, dst, msg);
                // A delivery that changes nothing but the network is skipped on unordered
                // networks: the message may as well stay in flight, where it can still be
                // delivered later, when it might matter. Sound for safety properties, and it
                // divides state spaces full of stale messages. (On an ordered network the message
                // must be consumed: it blocks its channel.)
                if kind != NetworkKind::Ordered
                    && self.config.reductions
                    && st.servers[dst.ix()] == last.servers[dst.ix()]
                    && st.network.flights().len() == in_flight
                {
                    return None;
                }
            }
            Action::Drop { src, dst, msg } => {
                let i = st.network.find(kind, src.0, dst.0, &msg)?;
                st.network.take(i);
            }
            Action::Duplicate { src, dst, msg } => {
                let i = st.network.find(kind, src.0, dst.0, &msg)?;
                // (With the reductions off, every message may be duplicated once.)
                if st.network.flights()[i].copies != 1
                    || (self.config.reductions && !self.second_copy_matters(&st, i))
                {
                    return None;
                }
                st.network.duplicate(i);
            }
            Action::Compact { server } => self.on_compact(&mut st, server),
            Action::Crash { server } => self.on_crash(&mut st, server),
            Action::Restart { server } => self.on_restart(&mut st, server),
            Action::Read { server } => self.on_read(&mut st, server),
        }
        self.collect_dead_messages(&mut st);
        self.record_history(last, &mut st);
        Some(st)
    }

    /// The Explorer draws the sequence diagram of the path the user is on.
    fn as_svg(&self, path: stateright::Path<Self::State, Self::Action>) -> Option<String> {
        crate::diagram::explorer_svg(self, path)
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all(self)
    }
}
