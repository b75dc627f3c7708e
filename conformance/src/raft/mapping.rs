//! The Raft abstraction and message mapping: the one place that knows both vocabularies
//! (`ballot_models::raft` and `ballot_core::raft`). Documented as a table in
//! docs/conformance.md § Raft mapping.
//!
//! Server ids: model server `i` (from 0) is implementation server `i + 1`, so a harness that
//! confused the two vocabularies would fail at once. Values: model value `v` (1..) is the
//! one-byte client command `[v]`; value 0 is the leader's no-op ([`Payload::Noop`]).

use ballot_core::raft::{HardState, Message, Progress, RaftConfig, RaftCore, Role as CoreRole};
use ballot_core::Term as CoreTerm;
use ballot_core::{
    Entry as CoreEntry, LogBase, LogIndex as CoreIndex, Payload, ServerId as CoreId, Snapshot,
};
use ballot_models::raft::{
    Entries, Entry, LogIndex, Msg, RaftConfig as ModelConfig, RaftModel, RaftState, Role, ServerId,
    Term, Value, MAX_LOG,
};
use ballot_node::raft_node;
use ballot_node::runtime::NodeError;
use ballot_node::storage::{MemDisk, MemStorage};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::driver::{decode_applied, encode_applied, NodeKind};

/// The implementation id of model server `s`.
pub fn core_id(s: ServerId) -> CoreId {
    CoreId(s.0 as u64 + 1)
}

/// The model id of implementation server `id`, if it has one.
pub fn model_id(id: CoreId) -> Result<ServerId, String> {
    id.0.checked_sub(1)
        .and_then(|i| u8::try_from(i).ok())
        .map(ServerId)
        .ok_or_else(|| format!("server id {id} has no model counterpart"))
}

fn small(what: &str, n: u64) -> Result<u8, String> {
    u8::try_from(n).map_err(|_| format!("{what} {n} is beyond the model's range"))
}

/// The implementation entry of a model entry.
pub fn core_entry(e: &Entry) -> CoreEntry {
    if e.value == Value::NOOP {
        CoreEntry::noop(CoreTerm(e.term.0 as u64))
    } else {
        CoreEntry::command(CoreTerm(e.term.0 as u64), vec![e.value.0])
    }
}

/// The model entry of an implementation entry.
pub fn model_entry(e: &CoreEntry) -> Result<Entry, String> {
    let value = match &e.payload {
        Payload::Noop => Value::NOOP,
        Payload::Command(bytes) => match bytes.as_slice() {
            [v] if *v != 0 => Value(*v),
            _ => return Err(format!("command {bytes:?} is not a model value")),
        },
    };
    Ok(Entry {
        term: Term(small("term", e.term.0)?),
        value,
    })
}

fn model_entries(entries: &[CoreEntry]) -> Result<Entries, String> {
    if entries.len() > MAX_LOG {
        return Err(format!(
            "{} entries exceed the model's log capacity {MAX_LOG}",
            entries.len()
        ));
    }
    entries.iter().map(model_entry).collect()
}

/// The entries a conformance snapshot holds (its state machine's image), which must be exactly
/// `1..=last_index`.
fn snapshot_entries(snapshot: &Snapshot) -> Result<Entries, String> {
    let entries = decode_applied(&snapshot.data)?;
    if entries.len() as u64 != snapshot.last_index.0 {
        return Err(format!(
            "a snapshot at index {} holds {} entries",
            snapshot.last_index,
            entries.len()
        ));
    }
    model_entries(&entries)
}

/// The whole log a server holds, in the model's representation (raft.md § Snapshots): the
/// snapshot's entries, then the log's entries after the snapshot's last index. The log starts
/// after its base, which is never past the snapshot (nothing is dropped that no snapshot holds).
fn whole_log(
    snapshot: Option<&Snapshot>,
    base: LogBase,
    log: &[CoreEntry],
) -> Result<(Vec<Entry>, LogIndex), String> {
    let mut whole: Vec<Entry> = Vec::new();
    let mut last = 0u64;
    if let Some(snapshot) = snapshot {
        whole.extend(snapshot_entries(snapshot)?.iter().copied());
        last = snapshot.last_index.0;
    }
    if base.index.0 > last {
        return Err(format!(
            "the log starts after {} but the snapshot ends at {last}",
            base.index
        ));
    }
    let skip = (last - base.index.0) as usize;
    whole.extend(model_entries(&log[skip.min(log.len())..])?.iter().copied());
    Ok((whole, LogIndex(small("snapshot index", last)?)))
}

/// The implementation message of a model message.
pub fn core_message(m: &Msg) -> Message {
    let t = |t: Term| CoreTerm(t.0 as u64);
    let i = |i: LogIndex| CoreIndex(i.0 as u64);
    match *m {
        Msg::RequestVote {
            term,
            last_log_term,
            last_log_index,
        } => Message::RequestVote {
            term: t(term),
            last_log_term: t(last_log_term),
            last_log_index: i(last_log_index),
        },
        Msg::RequestVoteResponse { term, granted } => Message::RequestVoteResponse {
            term: t(term),
            granted,
        },
        Msg::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            commit,
            round,
        } => Message::AppendEntries {
            term: t(term),
            prev_log_index: i(prev_log_index),
            prev_log_term: t(prev_log_term),
            entries: entries.iter().map(core_entry).collect(),
            commit: i(commit),
            round: round as u64,
        },
        Msg::AppendEntriesResponse {
            term,
            success,
            match_index,
            round,
        } => Message::AppendEntriesResponse {
            term: t(term),
            success,
            match_index: i(match_index),
            round: round as u64,
        },
        Msg::PreVote {
            term,
            last_log_term,
            last_log_index,
        } => Message::PreVote {
            term: t(term),
            last_log_term: t(last_log_term),
            last_log_index: i(last_log_index),
        },
        Msg::PreVoteResponse { term, granted } => Message::PreVoteResponse {
            term: t(term),
            granted,
        },
        // raft.snapshot.send: the model's prefix is the conformance state machine's image.
        Msg::InstallSnapshot {
            term,
            last_index,
            last_term,
            entries,
        } => Message::InstallSnapshot {
            term: t(term),
            snapshot: Snapshot {
                last_index: i(last_index),
                last_term: t(last_term),
                data: encode_applied(&entries.iter().map(core_entry).collect::<Vec<_>>()),
            },
        },
    }
}

/// The model message of an implementation message, or why it has none.
pub fn model_message(m: &Message) -> Result<Msg, String> {
    let t = |t: CoreTerm| small("term", t.0).map(Term);
    let i = |i: CoreIndex| small("index", i.0).map(LogIndex);
    Ok(match m {
        Message::RequestVote {
            term,
            last_log_term,
            last_log_index,
        } => Msg::RequestVote {
            term: t(*term)?,
            last_log_term: t(*last_log_term)?,
            last_log_index: i(*last_log_index)?,
        },
        Message::RequestVoteResponse { term, granted } => Msg::RequestVoteResponse {
            term: t(*term)?,
            granted: *granted,
        },
        Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            commit,
            round,
        } => Msg::AppendEntries {
            term: t(*term)?,
            prev_log_index: i(*prev_log_index)?,
            prev_log_term: t(*prev_log_term)?,
            entries: model_entries(entries)?,
            commit: i(*commit)?,
            round: small("round", *round)?,
        },
        Message::AppendEntriesResponse {
            term,
            success,
            match_index,
            round,
        } => Msg::AppendEntriesResponse {
            term: t(*term)?,
            success: *success,
            match_index: i(*match_index)?,
            round: small("round", *round)?,
        },
        Message::ReadIndex { .. } | Message::ReadIndexResponse { .. } => {
            return Err(format!(
                "{} (raft.read.forward) has no model counterpart: the model reads at leaders only",
                m.kind()
            ))
        }
        Message::PreVote {
            term,
            last_log_term,
            last_log_index,
        } => Msg::PreVote {
            term: t(*term)?,
            last_log_term: t(*last_log_term)?,
            last_log_index: i(*last_log_index)?,
        },
        Message::PreVoteResponse { term, granted } => Msg::PreVoteResponse {
            term: t(*term)?,
            granted: *granted,
        },
        // The harness never compacts, so no core sends one; mapping it is later work.
        Message::InstallSnapshot { term, snapshot } => Msg::InstallSnapshot {
            term: t(*term)?,
            last_index: i(snapshot.last_index)?,
            last_term: t(snapshot.last_term)?,
            entries: snapshot_entries(snapshot)?,
        },
    })
}

/// What the harness reads of a running Raft core (implementation vocabulary).
#[derive(Clone, Debug, PartialEq)]
pub struct CoreView {
    role: CoreRole,
    term: CoreTerm,
    voted_for: Option<CoreId>,
    log: Vec<CoreEntry>,
    commit: CoreIndex,
    votes: BTreeSet<CoreId>,
    progress: BTreeMap<CoreId, Progress>,
    leader: Option<CoreId>,
    recent: BTreeSet<CoreId>,
    read_round: u64,
    read_acks: BTreeMap<CoreId, u64>,
    pending_reads: Vec<(CoreIndex, u64)>,
    base: LogBase,
    snapshot: Option<Snapshot>,
}

/// One server's abstract state: the model's per-server state, without ghost variables. Both
/// sides are mapped into it and compared with `==`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerAbs {
    /// Whether the process is up.
    pub up: bool,
    /// Role (follower while down).
    pub role: Role,
    /// Current term (durable).
    pub term: Term,
    /// Vote in `term` (durable).
    pub voted_for: Option<ServerId>,
    /// The whole log (durable), the snapshot's prefix included (raft.md § Snapshots).
    pub log: Vec<Entry>,
    /// `--snapshots`: the snapshot's last index (durable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<LogIndex>,
    /// Commit index (0 while down).
    pub commit: LogIndex,
    /// A candidate's granted votes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub votes: Option<Vec<ServerId>>,
    /// A leader's `(next_index, match_index)` per peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<BTreeMap<ServerId, (LogIndex, LogIndex)>>,
    /// `--pre-vote`: whether a follower is in lease (the model's `heard_leader`; the node's
    /// follower with a known leader).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heard_leader: Option<bool>,
    /// `--pre-vote`: the peers a leader heard from since its last quorum check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent: Option<Vec<ServerId>>,
    /// `--reads`: a leader's confirmation round, the rounds its peers echoed (non-zero ones)
    /// and its pending reads `(read_index, round)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads: Option<ReadsAbs>,
}

/// A leader's read state (raft.read.*), without the model's ghost `required`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadsAbs {
    /// Its current round.
    pub round: u8,
    /// Per peer, the highest round echoed, where non-zero.
    pub acked: BTreeMap<ServerId, u8>,
    /// `(read_index, round)` of each pending read, oldest first.
    pub pending: Vec<(LogIndex, u8)>,
}

fn bits(mask: u8, n: usize) -> Vec<ServerId> {
    (0..n)
        .filter(|j| mask & (1 << j) != 0)
        .map(|j| ServerId(j as u8))
        .collect()
}

/// The abstract state of model server `i`.
pub fn model_server(model: &RaftModel, st: &RaftState, i: usize) -> ServerAbs {
    let s = &st.servers[i];
    let n = model.config.servers as usize;
    ServerAbs {
        up: s.up,
        role: s.role,
        term: s.term,
        voted_for: s.voted_for,
        log: s.log.iter().copied().collect(),
        snapshot: model.config.snapshots.then_some(s.snapshot),
        commit: s.commit,
        votes: (s.up && matches!(s.role, Role::Candidate | Role::PreCandidate))
            .then(|| bits(s.votes, n)),
        progress: (s.up && s.role == Role::Leader).then(|| {
            (0..n)
                .filter(|&j| j != i)
                .map(|j| (ServerId(j as u8), (s.next_index[j], s.match_index[j])))
                .collect()
        }),
        heard_leader: (model.config.pre_vote && s.up && s.role == Role::Follower)
            .then_some(s.heard_leader),
        recent: (model.config.pre_vote && s.up && s.role == Role::Leader)
            .then(|| bits(s.recent, n)),
        reads: (model.config.reads > 0 && s.up && s.role == Role::Leader).then(|| ReadsAbs {
            round: s.round,
            acked: (0..n)
                .filter(|&j| j != i && s.acked[j] > 0)
                .map(|j| (ServerId(j as u8), s.acked[j]))
                .collect(),
            pending: s.reads.iter().map(|r| (r.read_index, r.round)).collect(),
        }),
    }
}

/// The abstract state of a running implementation server (`pre_vote`: the model's switch).
/// The abstract state of a running implementation server, with the model's switches
/// (`pre_vote`, `reads`, `snapshots`) deciding which optional fields are compared.
pub fn running_server(v: &CoreView, config: &ModelConfig) -> Result<ServerAbs, String> {
    let (pre_vote, reads) = (config.pre_vote, config.reads > 0);
    let (log, snapshot) = whole_log(v.snapshot.as_ref(), v.base, &v.log)?;
    let ids = |set: &mut dyn Iterator<Item = &CoreId>| -> Result<Vec<ServerId>, String> {
        set.map(|id| model_id(*id)).collect()
    };
    let role = match v.role {
        CoreRole::Follower => Role::Follower,
        CoreRole::Candidate => Role::Candidate,
        CoreRole::Leader => Role::Leader,
        CoreRole::PreCandidate => Role::PreCandidate,
    };
    Ok(ServerAbs {
        up: true,
        role,
        term: Term(small("term", v.term.0)?),
        voted_for: v.voted_for.map(model_id).transpose()?,
        log,
        snapshot: config.snapshots.then_some(snapshot),
        commit: LogIndex(small("commit index", v.commit.0)?),
        votes: matches!(role, Role::Candidate | Role::PreCandidate)
            .then(|| ids(&mut v.votes.iter()))
            .transpose()?,
        heard_leader: (pre_vote && role == Role::Follower).then_some(v.leader.is_some()),
        recent: (pre_vote && role == Role::Leader)
            .then(|| ids(&mut v.recent.iter()))
            .transpose()?,
        reads: (reads && role == Role::Leader)
            .then(|| -> Result<ReadsAbs, String> {
                Ok(ReadsAbs {
                    round: small("read round", v.read_round)?,
                    acked: v
                        .read_acks
                        .iter()
                        .filter(|(_, &r)| r > 0)
                        .map(|(id, &r)| Ok((model_id(*id)?, small("read round", r)?)))
                        .collect::<Result<_, String>>()?,
                    pending: v
                        .pending_reads
                        .iter()
                        .map(|&(index, r)| {
                            Ok((
                                LogIndex(small("read index", index.0)?),
                                small("read round", r)?,
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                })
            })
            .transpose()?,
        progress: (role == Role::Leader)
            .then(|| {
                v.progress
                    .iter()
                    .map(|(id, p)| {
                        Ok((
                            model_id(*id)?,
                            (
                                LogIndex(small("next_index", p.next_index.0)?),
                                LogIndex(small("match_index", p.match_index.0)?),
                            ),
                        ))
                    })
                    .collect::<Result<BTreeMap<_, _>, String>>()
            })
            .transpose()?,
    })
}

/// The abstract state of a server that is down: what its disk holds.
pub fn down_server(disk: &MemDisk<HardState>, config: &ModelConfig) -> Result<ServerAbs, String> {
    let (log, snapshot) = whole_log(disk.snapshot.as_ref(), disk.base, &disk.log)?;
    Ok(ServerAbs {
        up: false,
        role: Role::Follower,
        term: Term(small("term", disk.hard_state.term.0)?),
        voted_for: disk.hard_state.voted_for.map(model_id).transpose()?,
        log,
        snapshot: config.snapshots.then_some(snapshot),
        commit: LogIndex(0),
        votes: None,
        progress: None,
        heard_leader: None,
        recent: None,
        reads: None,
    })
}

/// The durable state a model server starts from, as the implementation's disk.
pub fn initial_disk(st: &RaftState, i: usize) -> MemDisk<HardState> {
    let s = &st.servers[i];
    MemDisk {
        hard_state: HardState {
            term: CoreTerm(s.term.0 as u64),
            voted_for: s.voted_for.map(core_id),
        },
        log: s.log.iter().map(core_entry).collect(),
        syncs: 0,
        incarnation: 0,
        // Snapshots are not mapped yet.
        ..MemDisk::default()
    }
}

/// Adjusts the core's configuration (tests select implementation mutants with it).
pub type ConfigHook = Arc<dyn Fn(&mut RaftConfig) + Send + Sync>;

/// Raft nodes as the driver runs them: configured from the model's configuration.
pub struct RaftNodes {
    /// Every server's implementation id.
    pub servers: Vec<CoreId>,
    /// The model's `leader_noop`.
    pub leader_noop: bool,
    /// The model's `pre_vote` (PreVote and CheckQuorum).
    pub pre_vote: bool,
    /// The model's `pipeline` (pipelined replication with rejection hints). The flow-control
    /// window stays unbounded, as in the model.
    pub pipeline: bool,
    /// Applied to every core's configuration after the model's settings.
    pub hook: Option<ConfigHook>,
}

impl NodeKind for RaftNodes {
    type Core = RaftCore;
    type Message = Message;
    type HardState = HardState;
    type View = CoreView;

    fn recover(
        &self,
        id: CoreId,
        storage: &mut MemStorage<HardState>,
    ) -> Result<RaftCore, NodeError> {
        // The model's AppendEntries carry every entry from next_index: no per-message budget.
        let mut config = RaftConfig::new(id, self.servers.clone());
        config.leader_noop = self.leader_noop;
        config.pre_vote = self.pre_vote;
        config.pipeline = self.pipeline;
        if let Some(hook) = &self.hook {
            hook(&mut config);
        }
        raft_node::recover(storage, config)
    }

    fn view(core: &RaftCore) -> CoreView {
        CoreView {
            role: core.role(),
            term: core.term(),
            voted_for: core.voted_for(),
            log: core.log().to_vec(),
            commit: core.commit(),
            votes: core.votes().clone(),
            progress: core.progress().clone(),
            leader: core.leader(),
            recent: core.recent_active().clone(),
            read_round: core.read_round(),
            read_acks: core.read_acks().clone(),
            pending_reads: core.pending_reads().collect(),
            base: core.log_base(),
            snapshot: core.snapshot().cloned(),
        }
    }

    /// The rules of docs/protocols/raft.md § State ("written before any message that depends
    /// on it is sent"), checked at the instant of the send against the sender's disk.
    fn check_durable(
        from: CoreId,
        to: CoreId,
        msg: &Message,
        disk: &MemDisk<HardState>,
    ) -> Result<(), String> {
        let hs = &disk.hard_state;
        // A PreVote proposes the sender's term + 1, and a granted PreVoteResponse carries that
        // proposal back: neither is a term the sender holds (raft.prevote.grant).
        let held = match msg {
            Message::PreVote { term, .. } => CoreTerm(term.0.saturating_sub(1)),
            Message::PreVoteResponse { granted: true, .. } => CoreTerm(0),
            _ => msg.term(),
        };
        if held > hs.term {
            return Err(format!(
                "it carries term {} but the durable term is {}",
                msg.term(),
                hs.term
            ));
        }
        // A later durable term implies the earlier state was durable first (persists are ordered).
        let vote_durable = |term: CoreTerm, whom: CoreId| {
            hs.term > term || (hs.term == term && hs.voted_for == Some(whom))
        };
        match msg {
            Message::RequestVote { term, .. } if !vote_durable(*term, from) => Err(format!(
                "the candidate's vote for itself in term {term} is not durable"
            )),
            Message::RequestVoteResponse {
                term,
                granted: true,
            } if !vote_durable(*term, to) => Err(format!(
                "the vote for {to} in term {term} is not durable (durable vote: {:?})",
                hs.voted_for
            )),
            Message::AppendEntriesResponse {
                success: true,
                match_index,
                ..
            } if durable_last(disk) < match_index.0 => Err(format!(
                "it acknowledges index {match_index} but the durable log ends at {}",
                durable_last(disk)
            )),
            _ => Ok(()),
        }
    }
}

/// The last index a disk holds: in its log after the base, or in its snapshot.
fn durable_last(disk: &MemDisk<HardState>) -> u64 {
    let in_log = disk.base.index.0 + disk.log.len() as u64;
    in_log.max(disk.snapshot.as_ref().map_or(0, |s| s.last_index.0))
}

/// Whether `m` is what a heartbeat sends: an AppendEntries without entries, or, to a follower
/// that needs compacted entries, an InstallSnapshot (raft.snapshot.send).
pub fn is_heartbeat(m: &Msg) -> bool {
    matches!(m, Msg::AppendEntries { entries, .. } if entries.is_empty())
        || matches!(m, Msg::InstallSnapshot { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_map_both_ways() {
        let m = Msg::AppendEntries {
            term: Term(3),
            prev_log_index: LogIndex(1),
            prev_log_term: Term(1),
            entries: [
                Entry {
                    term: Term(3),
                    value: Value::NOOP,
                },
                Entry {
                    term: Term(3),
                    value: Value(2),
                },
            ]
            .into_iter()
            .collect(),
            commit: LogIndex(1),
            round: 2,
        };
        assert_eq!(model_message(&core_message(&m)), Ok(m));
        assert_eq!(model_id(core_id(ServerId(4))), Ok(ServerId(4)));
    }

    #[test]
    fn what_the_model_cannot_express_is_named() {
        let big = Message::RequestVoteResponse {
            term: CoreTerm(300),
            granted: true,
        };
        assert!(model_message(&big).unwrap_err().contains("term 300"));
        let odd = CoreEntry::command(CoreTerm(1), vec![1, 2]);
        assert!(model_entry(&odd).unwrap_err().contains("not a model value"));
        assert!(model_id(CoreId(0)).is_err());
    }
}
