//! `RaftCore`: the Raft state machine of one server, rule by rule as in `docs/protocols/raft.md`.
//!
//! Durability contract: every change to `term`, `voted_for` or the log is emitted as one
//! `Persist` per handled event. Messages that reveal such state (votes, append responses,
//! RequestVotes) are withheld until `Persisted` acknowledges every `Persist` issued before them.
//! A leader's `AppendEntries` leave at once (the paper's §10.2.1 parallel write); the leader
//! counts itself towards a commit quorum only with the length of its *durable* log.
//!
//! With `RaftConfig::pre_vote`, the rules of § PreVote and CheckQuorum apply on top: a server
//! asks for pre-votes before it raises its term, a server that hears from a leader ignores
//! stray candidates, and a leader that has not heard from a majority for an election timeout
//! steps down. Each function implementing one of those rules cites its id (`raft.prevote.grant`).
//!
//! Snapshots (§ Snapshots and log compaction): the log holds the entries after `base`; the
//! entries up to `base.index` are in the latest snapshot (whose own index may be higher when
//! the last entries before it are kept). The runtime hands the core the serialized state machine
//! with `Event::Compact` (raft.snapshot.take); a leader sends the snapshot to a follower whose
//! next entries are gone (raft.snapshot.send); a follower installs one
//! (raft.snapshot.install) and the runtime restores its state machine (`Command::RestoreState`).
//!
//! With the `impl-mutants` feature, `RaftConfig::mutant` switches on one seeded bug
//! (`ImplMutant`); each is one changed rule, marked `// MUTANT(name)` where it branches.

mod read;

use super::message::Message;
use super::mutants::ImplMutant;
use crate::command::{Command, Core, CoreStatus, DurableWrite, Event, LogWrite, Timer};
use crate::types::{Entry, LogBase, LogIndex, PersistId, RequestId, ServerId, Snapshot, Term};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The persistent state besides the log, written atomically.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// Current term.
    pub term: Term,
    /// Whom this server voted for in `term`.
    pub voted_for: Option<ServerId>,
}

/// A server's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// With PreVote: asks whether it could win an election before raising its term.
    PreCandidate,
    /// Asks for votes in its term.
    Candidate,
    /// Replicates its log.
    Leader,
}

impl Role {
    /// Lower-case name, as in traces.
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre_candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// Static configuration of a core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// This server.
    pub id: ServerId,
    /// Every server of the cluster, this one included; sorted, no duplicates.
    pub servers: Vec<ServerId>,
    /// Append a no-op entry on election (`--leader-noop`, on by default).
    pub leader_noop: bool,
    /// At most this many entries per `AppendEntries` (unbounded in the model).
    pub max_append_entries: usize,
    /// At most about this many payload bytes per `AppendEntries`; one entry is always sent.
    pub max_append_bytes: usize,
    /// PreVote and CheckQuorum (`--pre-vote`; off in the model's default, on in `ballot node`).
    pub pre_vote: bool,
    /// Pipelined replication (§ Pipelined replication of raft.md; the model's `--pipeline`, on
    /// in `ballot node`): `next_index` advances as entries are sent, and a rejection carries a
    /// hint that skips back past a conflicting term.
    pub pipeline: bool,
    /// With `pipeline`: at most this many `AppendEntries` with entries unacknowledged per
    /// follower (flow control; unbounded in the model). A full window holds new entries back
    /// until an acknowledgement frees a slot; a heartbeat still goes.
    pub max_inflight: usize,
    /// At most this many read-confirmation rounds unconfirmed at once (raft.read.start); reads
    /// that arrive beyond it wait and share the next round. Unbounded in the model (each read
    /// starts its round at once); `ballot node` uses 2, so that under load one round carries
    /// every read that arrived while the previous one was out.
    pub max_read_rounds: usize,
    /// The seeded bug this core runs with, if any: conformance test builds only.
    #[cfg(feature = "impl-mutants")]
    pub mutant: Option<ImplMutant>,
}

impl RaftConfig {
    /// The model's semantics: no-op on election, unbounded `AppendEntries`, no PreVote.
    ///
    /// # Panics
    /// If `id` is not in `servers` (a caller's invariant; the CLI validates user input).
    pub fn new(id: ServerId, mut servers: Vec<ServerId>) -> Self {
        servers.sort();
        servers.dedup();
        assert!(servers.contains(&id), "server {id} is not in {servers:?}");
        RaftConfig {
            id,
            servers,
            leader_noop: true,
            max_append_entries: usize::MAX,
            max_append_bytes: usize::MAX,
            pre_vote: false,
            pipeline: false,
            max_inflight: usize::MAX,
            max_read_rounds: usize::MAX,
            #[cfg(feature = "impl-mutants")]
            mutant: None,
        }
    }
}

/// A leader's view of one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Next index to send.
    pub next_index: LogIndex,
    /// Highest index known replicated there.
    pub match_index: LogIndex,
}

/// What a server recovers from disk besides its hard state: its latest snapshot, where its log
/// starts, and the entries after that.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableLog {
    /// The latest durable snapshot (none before the first compaction).
    pub snapshot: Option<Snapshot>,
    /// What the log starts after: at most the snapshot's index, 0 without a snapshot.
    pub base: LogBase,
    /// The entries after `base.index`.
    pub entries: Vec<Entry>,
}

/// A `Persist` not yet acknowledged, with the sends that wait for it.
#[derive(Clone, Debug)]
struct Pending {
    id: PersistId,
    /// Index of the last log entry once this persist is durable.
    last_index_after: u64,
    sends: Vec<(ServerId, Message)>,
}

/// The Raft core of one server.
#[derive(Clone, Debug)]
pub struct RaftCore {
    config: RaftConfig,
    term: Term,
    voted_for: Option<ServerId>,
    /// Entry at index `i` is `log[i - base.index - 1]`.
    log: Vec<Entry>,
    /// What the log starts after (the last compacted entry).
    base: LogBase,
    /// The latest snapshot, taken or installed; it covers at least up to `base.index`.
    snapshot: Option<Snapshot>,
    role: Role,
    commit: LogIndex,
    applied: LogIndex,
    votes: BTreeSet<ServerId>,
    /// A follower's leader is the page's `heard_leader`: it is cleared on every timeout.
    leader: Option<ServerId>,
    progress: BTreeMap<ServerId, Progress>,
    /// With pipelining, per follower: the last index of each unacknowledged `AppendEntries`
    /// with entries, oldest first (at most `max_inflight`).
    inflight: BTreeMap<ServerId, VecDeque<LogIndex>>,
    /// The page's `recent`: peers heard from since the leader's last quorum check.
    recent_active: BTreeSet<ServerId>,
    /// raft.read.*: confirmation rounds and the reads waiting on them.
    reads: read::Reads,
    /// Last log index covered by acknowledged persists.
    durable_last: u64,
    next_persist: u64,
    pending: VecDeque<Pending>,
    // Per-event scratch: what this event changed, flushed by `finish`.
    hard_state_dirty: bool,
    log_writes: Vec<LogWrite>,
    deferred: Vec<(ServerId, Message)>,
    commands: Vec<Command<Message, HardState>>,
}

impl RaftCore {
    /// A server started or restarted from its durable state with no snapshot: follower,
    /// commit 0 (raft.tla).
    pub fn restore(config: RaftConfig, hard_state: HardState, log: Vec<Entry>) -> Self {
        Self::restore_compacted(
            config,
            hard_state,
            DurableLog {
                snapshot: None,
                base: LogBase::default(),
                entries: log,
            },
        )
    }

    /// A server restarted from its durable state: follower, and commit and applied index at
    /// the snapshot's last index (a snapshot holds only committed entries), 0 without one. The
    /// runtime restores its state machine from `durable.snapshot` before the next `Apply`.
    ///
    /// # Panics
    /// If the snapshot does not cover `base`, or the log holds an entry at the snapshot's index
    /// of another term (a storage's recovery reconciles both before).
    pub fn restore_compacted(
        config: RaftConfig,
        hard_state: HardState,
        durable: DurableLog,
    ) -> Self {
        let DurableLog {
            snapshot,
            base,
            entries,
        } = durable;
        let last = base.index.0 + entries.len() as u64;
        let commit = match &snapshot {
            Some(s) => {
                assert!(s.last_index >= base.index, "log base {base:?} past {s:?}");
                if s.last_index.0 <= last {
                    let at = s.last_index.0 - base.index.0;
                    let term = if at == 0 {
                        base.term
                    } else {
                        entries[at as usize - 1].term
                    };
                    assert_eq!(term, s.last_term, "the log disagrees with {s:?}");
                } else {
                    assert!(entries.is_empty(), "a log with a gap before {s:?}");
                }
                s.last_index
            }
            None => {
                assert_eq!(
                    base,
                    LogBase::default(),
                    "a compacted log without a snapshot"
                );
                LogIndex(0)
            }
        };
        // A log that ends before its snapshot starts after it.
        let base = match &snapshot {
            Some(s) if s.last_index.0 > last => s.base(),
            _ => base,
        };
        let durable_last = base.index.0 + entries.len() as u64;
        RaftCore {
            config,
            term: hard_state.term,
            voted_for: hard_state.voted_for,
            log: entries,
            base,
            snapshot,
            role: Role::Follower,
            commit,
            applied: commit,
            votes: BTreeSet::new(),
            leader: None,
            progress: BTreeMap::new(),
            inflight: BTreeMap::new(),
            recent_active: BTreeSet::new(),
            reads: read::Reads::default(),
            durable_last,
            next_persist: 1,
            pending: VecDeque::new(),
            hard_state_dirty: false,
            log_writes: Vec::new(),
            deferred: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }
    /// Current term.
    pub fn term(&self) -> Term {
        self.term
    }
    /// Vote in the current term.
    pub fn voted_for(&self) -> Option<ServerId> {
        self.voted_for
    }
    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The log after [`RaftCore::log_base`]: index `i` is element `i - log_base().index - 1`
    /// (element `i - 1` until the first compaction).
    pub fn log(&self) -> &[Entry] {
        &self.log
    }
    /// What the log starts after: the last compacted index and its term (0, 0 before any).
    pub fn log_base(&self) -> LogBase {
        self.base
    }
    /// The latest snapshot taken or installed.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }
    /// Index of the last entry handed to the state machine (`Apply` or `RestoreState`).
    pub fn applied(&self) -> LogIndex {
        self.applied
    }
    /// Commit index.
    pub fn commit(&self) -> LogIndex {
        self.commit
    }
    /// Servers that granted this candidate a vote in its term, or this pre-candidate a pre-vote
    /// for the next (empty unless pre-candidate, candidate or leader).
    pub fn votes(&self) -> &BTreeSet<ServerId> {
        &self.votes
    }
    /// With PreVote, a leader's peers that answered an `AppendEntries` of its term since its last
    /// quorum check (empty otherwise).
    pub fn recent_active(&self) -> &BTreeSet<ServerId> {
        &self.recent_active
    }
    /// The leader's per-peer progress (empty unless leader).
    pub fn progress(&self) -> &BTreeMap<ServerId, Progress> {
        &self.progress
    }
    /// The leader this server believes in. A follower's is cleared on every election timeout,
    /// so `role() == Follower && leader().is_some()` is the page's `heard_leader`.
    pub fn leader(&self) -> Option<ServerId> {
        self.leader
    }
    /// The persistent state as it will be once pending persists complete.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for,
        }
    }
    /// Whether some `Persist` is not yet acknowledged.
    pub fn has_pending_persist(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the seeded bug `m` is switched on. Without the `impl-mutants` feature this is
    /// constant `false`, so every mutant branch folds away and call sites need no `cfg`.
    #[cfg(feature = "impl-mutants")]
    #[inline]
    fn mutated(&self, m: ImplMutant) -> bool {
        self.config.mutant == Some(m)
    }

    #[cfg(not(feature = "impl-mutants"))]
    #[inline]
    fn mutated(&self, _: ImplMutant) -> bool {
        false
    }

    fn last_index(&self) -> LogIndex {
        LogIndex(self.base.index.0 + self.log.len() as u64)
    }

    /// Position in `log` of the entry at `index` (which must be after `base`).
    fn position(&self, index: LogIndex) -> usize {
        assert!(
            index > self.base.index && index <= self.last_index(),
            "index {index} outside the log ({}, {}]",
            self.base.index,
            self.last_index()
        );
        (index.0 - self.base.index.0 - 1) as usize
    }

    /// The term of the entry at `index`, which must be in the log or be its base (the empty
    /// prefix, index 0, has term 0).
    fn term_at(&self, index: LogIndex) -> Term {
        if index == self.base.index {
            self.base.term
        } else {
            self.log[self.position(index)].term
        }
    }

    fn last_term(&self) -> Term {
        self.term_at(self.last_index())
    }

    /// The term this server would stand in next.
    fn next_term(&self) -> Term {
        Term(self.term.0 + 1)
    }

    /// §5.4.1's election restriction: a log ending in `(last_log_term, last_log_index)` is at
    /// least as up to date as this server's.
    fn log_up_to_date(&self, last_log_term: Term, last_log_index: LogIndex) -> bool {
        last_log_term > self.last_term()
            || (last_log_term == self.last_term() && last_log_index >= self.last_index())
    }

    /// In lease (§ PreVote and CheckQuorum): a follower that heard from a leader of its term since
    /// its election timer last fired, or a leader. Never without PreVote.
    fn in_lease(&self) -> bool {
        self.config.pre_vote
            && match self.role {
                Role::Leader => true,
                Role::Follower => self.leader.is_some(),
                Role::PreCandidate | Role::Candidate => false,
            }
    }

    fn is_majority(&self, count: usize) -> bool {
        count * 2 > self.config.servers.len()
    }

    fn peers(&self) -> impl Iterator<Item = ServerId> + '_ {
        let me = self.config.id;
        self.config
            .servers
            .iter()
            .copied()
            .filter(move |s| *s != me)
    }

    fn emit(&mut self, command: Command<Message, HardState>) {
        self.commands.push(command);
    }

    /// A message that depends on state changed by this or an earlier unacknowledged persist.
    fn send_durable(&mut self, to: ServerId, msg: Message) {
        if self.mutated(ImplMutant::ReplyBeforePersist) {
            // MUTANT(reply-before-persist): the message leaves at once, so a crash before the
            // persist completes can take back the term, vote or entries it revealed.
            self.emit(Command::Send { to, msg });
            return;
        }
        self.deferred.push((to, msg));
    }

    fn append(&mut self, entry: Entry) -> LogIndex {
        self.log.push(entry.clone());
        let index = self.last_index();
        self.log_writes.push(LogWrite::Append { index, entry });
        index
    }

    fn set_term(&mut self, term: Term) {
        assert!(term > self.term, "terms only grow: {} -> {term}", self.term);
        self.term = term;
        self.voted_for = None;
        self.hard_state_dirty = true;
    }

    /// Enters `role`, forgetting what belonged to the previous one (votes, a leader's progress
    /// and its quorum check): on every change of role or term.
    fn set_role(&mut self, role: Role) {
        self.role = role;
        self.votes.clear();
        self.progress.clear();
        self.inflight.clear();
        self.recent_active.clear();
        self.end_reads();
    }

    /// "Any message whose term is greater than the receiver's": adopt it, become follower.
    fn step_down(&mut self, term: Term) {
        self.set_term(term);
        self.become_follower();
    }

    /// Follower of the current term with no leader known; a leader stops its heartbeats and
    /// arms its election timer (which, with PreVote, was already running for its quorum check).
    fn become_follower(&mut self) {
        if self.role == Role::Leader {
            self.emit(Command::CancelTimer(Timer::Heartbeat));
            self.emit(Command::SetTimer(Timer::Election));
        }
        self.set_role(Role::Follower);
        self.leader = None;
    }

    fn become_leader(&mut self) {
        assert_eq!(self.role, Role::Candidate);
        assert!(self.is_majority(self.votes.len()));
        assert!(
            self.recent_active.is_empty(),
            "only a leader hears AppendEntries responses"
        );
        self.role = Role::Leader;
        self.leader = Some(self.config.id);
        let next_index = LogIndex(self.last_index().0 + 1);
        self.progress = self
            .peers()
            .map(|j| {
                (
                    j,
                    Progress {
                        next_index,
                        match_index: LogIndex(0),
                    },
                )
            })
            .collect();
        if self.config.pre_vote {
            // raft.checkquorum.step-down: the election timer keeps running, as the period of
            // the leader's quorum checks.
            self.emit(Command::SetTimer(Timer::Election));
        } else {
            self.emit(Command::CancelTimer(Timer::Election));
        }
        self.emit(Command::SetTimer(Timer::Heartbeat));
        if self.config.leader_noop {
            self.append(Entry::noop(self.term));
        }
        self.broadcast_append();
    }

    /// `AppendEntries` with entries to every peer (on becoming leader, on a client request).
    fn broadcast_append(&mut self) {
        let peers: Vec<ServerId> = self.peers().collect();
        for j in peers {
            self.send_append(j);
        }
        if self.mutated(ImplMutant::PipelineCountsSent) {
            self.advance_commit(); // after every send, so that all carry the same commit
        }
    }

    /// `AppendEntries` with entries to peer `j`: every entry from `next_index[j]` to the end
    /// (within the per-message budget).
    ///
    /// With pipelining (raft.pipeline.send), `next_index[j]` moves past the entries as they
    /// leave, and while entries remain past the budget further messages follow, up to
    /// `max_inflight` unacknowledged ones; a full window sends nothing (an acknowledgement
    /// resumes). The first message always goes when the window has room, even without entries
    /// (after a rejection it is the probe).
    fn send_append(&mut self, j: ServerId) {
        if !self.config.pipeline {
            if self.needs_snapshot(j) {
                return self.send_snapshot(j);
            }
            let msg = self.append_entries(j, true);
            self.emit(Command::Send { to: j, msg });
            return;
        }
        let mut first = true;
        loop {
            let window = self.inflight.get(&j).map_or(0, VecDeque::len);
            let behind = self.progress[&j].next_index <= self.last_index();
            if window >= self.config.max_inflight || !(first || behind) {
                return;
            }
            first = false;
            if self.needs_snapshot(j) {
                // One message: the entries after the snapshot follow its acknowledgement (the
                // success handler sends what the follower still lacks), as in the model.
                return self.send_snapshot(j);
            }
            let msg = self.append_entries(j, true);
            if let Message::AppendEntries {
                prev_log_index,
                entries,
                ..
            } = &msg
            {
                if !entries.is_empty() {
                    let last_sent = LogIndex(prev_log_index.0 + entries.len() as u64);
                    let counts_sent = self.mutated(ImplMutant::PipelineCountsSent);
                    let progress = self.progress.get_mut(&j).expect("a peer's progress");
                    progress.next_index = LogIndex(last_sent.0 + 1);
                    if counts_sent {
                        // MUTANT(pipeline-counts-sent): entries on their way count as replicated,
                        // so the leader commits what no follower may ever receive.
                        progress.match_index = progress.match_index.max(last_sent);
                    }
                    self.inflight.entry(j).or_default().push_back(last_sent);
                }
            }
            self.emit(Command::Send { to: j, msg });
        }
    }

    /// A heartbeat to peer `j`: `AppendEntries` after `next_index[j] - 1` with no entries (or
    /// the snapshot, when that index is compacted: raft.snapshot.send).
    fn send_heartbeat(&mut self, j: ServerId) {
        if self.needs_snapshot(j) {
            return self.send_snapshot(j);
        }
        let msg = self.append_entries(j, false);
        self.emit(Command::Send { to: j, msg });
    }

    /// Whether the entries peer `j` needs next are compacted away: `next_index[j] <= base`.
    /// The page says `<= snapshot.last_index`; the two are one with the model's `keep = 0`,
    /// and with entries kept below the snapshot's index a follower briefly behind still gets
    /// them as `AppendEntries`.
    fn needs_snapshot(&self, j: ServerId) -> bool {
        self.progress[&j].next_index <= self.base.index
    }

    /// raft.snapshot.send: `InstallSnapshot {term, last_index, last_term, state}` to peer `j`,
    /// whose next entries are compacted away. With pipelining `next_index[j]` moves past the
    /// snapshot at once (raft.pipeline.send), and it takes a slot of the window as an
    /// `AppendEntries` ending at its index would.
    fn send_snapshot(&mut self, j: ServerId) {
        let snapshot = self
            .snapshot
            .clone()
            .expect("a log compacted past a follower's next index has a snapshot");
        assert!(snapshot.last_index >= self.base.index);
        if self.config.pipeline {
            let last = snapshot.last_index;
            let progress = self.progress.get_mut(&j).expect("a peer's progress");
            progress.next_index = LogIndex(last.0 + 1);
            self.inflight.entry(j).or_default().push_back(last);
        }
        let msg = Message::InstallSnapshot {
            term: self.term,
            snapshot,
        };
        self.emit(Command::Send { to: j, msg });
    }

    /// `AppendEntries` to peer `j` with `prev_log_index = next_index[j] - 1`, its term, and
    /// `commit = min(commit, prev_log_index + len(entries))`; with the entries from
    /// `next_index[j]` (within the budget), or none (a heartbeat).
    fn append_entries(&self, j: ServerId, with_entries: bool) -> Message {
        let next = self.progress[&j].next_index;
        assert!(
            next > self.base.index && next.0 <= self.last_index().0 + 1,
            "next_index {next} out of range (the log holds ({}, {}])",
            self.base.index,
            self.last_index()
        );
        let prev_log_index = LogIndex(next.0 - 1);
        let prev_log_term = self.term_at(prev_log_index);
        let mut entries = Vec::new();
        if with_entries {
            let mut bytes = 0usize;
            let from = (prev_log_index.0 - self.base.index.0) as usize;
            for entry in &self.log[from..] {
                let size = entry.payload.size_bytes() + 16;
                if !entries.is_empty()
                    && (entries.len() >= self.config.max_append_entries
                        || bytes + size > self.config.max_append_bytes)
                {
                    break;
                }
                bytes += size;
                entries.push(entry.clone());
            }
        }
        let last_sent = LogIndex(prev_log_index.0 + entries.len() as u64);
        let commit = if self.mutated(ImplMutant::CommitPastMatch) {
            // MUTANT(commit-past-match): the whole commit index, so a follower whose log past
            // `last_sent` is a stale tail commits entries this leader never gave it.
            self.commit
        } else {
            self.commit.min(last_sent)
        };
        Message::AppendEntries {
            term: self.term,
            prev_log_index,
            prev_log_term,
            entries,
            commit,
            round: self.read_round(),
        }
    }

    /// Figure 2's commit rule with Figure 8's term check; the leader counts its durable log.
    fn advance_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut matched: Vec<u64> = self.progress.values().map(|p| p.match_index.0).collect();
        matched.push(self.durable_last.min(self.last_index().0));
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let quorum = self.config.servers.len() / 2; // position of the majority's smallest
        let n = LogIndex(matched[quorum]);
        // MUTANT(commit-previous-term): without the term check, an entry of an earlier term
        // commits by counting replicas, and a later leader may still overwrite it (Figure 8).
        // Checked after `n > commit`: at or below commit the entry may be compacted away.
        let current_term = |core: &Self| {
            core.term_at(n) == core.term || core.mutated(ImplMutant::CommitPreviousTerm)
        };
        if n > self.commit && current_term(self) {
            self.commit = n;
            self.apply_committed();
            self.start_waiting_reads(); // raft.read.start: an entry of this term is committed
        }
    }

    fn apply_committed(&mut self) {
        while self.applied < self.commit {
            self.applied = LogIndex(self.applied.0 + 1);
            let entry = self.log[self.position(self.applied)].clone();
            self.emit(Command::Apply {
                index: self.applied,
                entry,
            });
        }
    }

    /// A message from `from`: dropped whole if `ignores` says so; else a newer term is adopted
    /// first (where `adopts_term` says so), then the message's own rule applies.
    fn on_message(&mut self, from: ServerId, msg: Message) {
        if from == self.config.id || self.config.servers.binary_search(&from).is_err() {
            return; // the transport admits only configured peers; never trust it blindly
        }
        if self.ignores(&msg) {
            return;
        }
        if msg.term() > self.term && self.adopts_term(&msg) {
            self.step_down(msg.term());
        }
        match msg {
            Message::RequestVote {
                term,
                last_log_term,
                last_log_index,
            } => self.on_request_vote(from, term, last_log_term, last_log_index),
            Message::RequestVoteResponse { term, granted } => {
                self.on_request_vote_response(from, term, granted)
            }
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                commit,
                round,
            } => self.on_append_entries(
                from,
                term,
                prev_log_index,
                prev_log_term,
                entries,
                commit,
                round,
            ),
            Message::AppendEntriesResponse {
                term,
                success,
                match_index,
                round,
            } => self.on_append_entries_response(from, term, success, match_index, round),
            Message::ReadIndex { term, ctx } => self.on_read_index(from, term, ctx),
            Message::ReadIndexResponse {
                term,
                ctx,
                read_index,
            } => self.on_read_index_response(from, term, ctx, read_index),
            Message::PreVote {
                term,
                last_log_term,
                last_log_index,
            } => self.on_pre_vote(from, term, last_log_term, last_log_index),
            Message::PreVoteResponse { term, granted } => {
                self.on_pre_vote_response(from, term, granted)
            }
            Message::InstallSnapshot { term, snapshot } => {
                self.on_install_snapshot(from, term, snapshot)
            }
        }
    }

    /// Messages dropped whole, before any term is adopted: no change, no reply.
    /// - raft.lease.ignore-vote: a RequestVote of a newer term at a server in lease, so a stray
    ///   candidate cannot depose a leader that still reaches its followers.
    /// - An `AppendEntries` of this term or newer that would truncate a committed entry
    ///   (`truncates_committed`). Under the keep-conflicting-suffix mutant it goes through, as
    ///   that mutant's point is to overwrite committed entries.
    /// - An `AppendEntries` of this term or newer whose entry at the log's base has another
    ///   term than the base (`contradicts_base`): the compacted prefix is committed, so no
    ///   leader's log differs there.
    fn ignores(&self, msg: &Message) -> bool {
        match msg {
            Message::RequestVote { term, .. } => *term > self.term && self.in_lease(),
            Message::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                ..
            } => {
                // MUTANT(keep-conflicting-suffix): such a message goes through (see
                // `replace_keeping_suffix`).
                *term >= self.term
                    && (self.contradicts_base(*prev_log_index, entries)
                        || !self.mutated(ImplMutant::KeepConflictingSuffix)
                            && self.truncates_committed(*prev_log_index, *prev_log_term, entries))
            }
            _ => false,
        }
    }

    /// Whether "any message whose term is greater than the receiver's" applies: to every message
    /// but a PreVote (its term is a proposal: raft.prevote.grant) and a granted PreVoteResponse
    /// (it carries that proposal back: raft.prevote.count). A refused one is a newer term.
    fn adopts_term(&self, msg: &Message) -> bool {
        match msg {
            Message::PreVote { .. } => false,
            Message::PreVoteResponse { granted, .. } => !granted,
            _ => true,
        }
    }

    /// Election timeout: without PreVote a follower or candidate starts an election and a
    /// leader has no election timer; with it, a leader checks its quorum and anyone else asks
    /// for pre-votes first.
    /// raft.prevote.leader-lost: with PreVote, a follower whose leader's connection closed
    /// handles it as its election timeout, so a crashed leader is replaced without waiting for
    /// the timer (the model's `timeout` covers it: a timer may fire at any time). The lease
    /// makes a spurious close harmless: the other followers still hear the leader and refuse the
    /// pre-vote. Without PreVote the hint is ignored: an early election there could depose a
    /// live leader.
    fn on_peer_lost(&mut self, peer: ServerId) {
        if self.config.pre_vote && self.role == Role::Follower && self.leader == Some(peer) {
            self.on_election_timeout();
        }
    }

    fn on_election_timeout(&mut self) {
        match (self.role, self.config.pre_vote) {
            (Role::Leader, false) => {}
            (Role::Leader, true) => self.check_quorum(),
            (_, false) => self.start_election(),
            (_, true) => self.start_pre_vote(),
        }
    }

    /// raft.prevote.timeout: pre-candidate with its own pre-vote, no leader; term and vote
    /// unchanged, nothing persisted. The PreVotes leave at once: they bind no one, so nothing
    /// needs to be durable first. A server that is a majority alone has no one to ask.
    fn start_pre_vote(&mut self) {
        assert!(self.config.pre_vote && self.role != Role::Leader);
        self.set_role(Role::PreCandidate);
        self.leader = None;
        self.votes = BTreeSet::from([self.config.id]);
        if self.is_majority(self.votes.len()) {
            return self.start_election();
        }
        self.emit(Command::SetTimer(Timer::Election));
        let request = Message::PreVote {
            term: self.next_term(),
            last_log_term: self.last_term(),
            last_log_index: self.last_index(),
        };
        let peers: Vec<ServerId> = self.peers().collect();
        for j in peers {
            self.emit(Command::Send {
                to: j,
                msg: request.clone(),
            });
        }
    }

    /// raft.checkquorum.step-down: a leader that has not heard from a majority (itself
    /// included) since its last check becomes a follower of the same term; otherwise it starts
    /// the next period.
    fn check_quorum(&mut self) {
        assert!(self.config.pre_vote && self.role == Role::Leader);
        if self.is_majority(1 + self.recent_active.len()) {
            self.recent_active.clear();
            self.emit(Command::SetTimer(Timer::Election));
        } else {
            self.become_follower();
        }
    }

    /// The real election (Figure 2's election timeout; with PreVote, reached from a majority of
    /// pre-votes, raft.prevote.count): `term += 1`, candidate, vote for itself (persisted), then
    /// RequestVote to every peer once the vote is durable.
    fn start_election(&mut self) {
        assert_ne!(self.role, Role::Leader);
        let term = self.next_term();
        self.set_term(term);
        self.set_role(Role::Candidate);
        self.voted_for = Some(self.config.id);
        self.leader = None;
        self.votes = BTreeSet::from([self.config.id]);
        self.emit(Command::SetTimer(Timer::Election));
        let request = Message::RequestVote {
            term,
            last_log_term: self.last_term(),
            last_log_index: self.last_index(),
        };
        let peers: Vec<ServerId> = self.peers().collect();
        for j in peers {
            self.send_durable(j, request.clone());
        }
        if self.is_majority(self.votes.len()) {
            self.become_leader();
        }
    }

    fn on_heartbeat(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        self.emit(Command::SetTimer(Timer::Heartbeat));
        let peers: Vec<ServerId> = self.peers().collect();
        for j in peers {
            self.send_heartbeat(j);
        }
    }

    fn on_request_vote(
        &mut self,
        from: ServerId,
        term: Term,
        last_log_term: Term,
        last_log_index: LogIndex,
    ) {
        // MUTANT(vote-ignores-log): every candidate's log counts as up to date, so one missing
        // committed entries can win.
        let log_ok = self.mutated(ImplMutant::VoteIgnoresLog)
            || self.log_up_to_date(last_log_term, last_log_index);
        let granted = term == self.term && self.voted_for.is_none_or(|v| v == from) && log_ok;
        if granted {
            if self.voted_for != Some(from) {
                self.voted_for = Some(from);
                // MUTANT(vote-not-persisted): the grant does not dirty the hard state, so no
                // persist holds the reply back (see also `persisted_hard_state`).
                if !self.mutated(ImplMutant::VoteNotPersisted) {
                    self.hard_state_dirty = true;
                }
            }
            self.emit(Command::SetTimer(Timer::Election));
        } else if term == self.term {
            // A refusal in the candidate's own term is not sent: a candidate counts grants only,
            // so it could do nothing with it. A request with a smaller term is answered, because
            // the newer term makes the stale candidate step down.
            return;
        }
        let reply = Message::RequestVoteResponse {
            term: self.term,
            granted,
        };
        self.send_durable(from, reply);
    }

    fn on_request_vote_response(&mut self, from: ServerId, term: Term, granted: bool) {
        // MUTANT(count-stale-votes): a grant from an earlier term counts too, though that voter
        // may since have voted for another candidate of this term.
        let current =
            term == self.term || (self.mutated(ImplMutant::CountStaleVotes) && term < self.term);
        if self.role != Role::Candidate || !current {
            return; // raft.tla's DropStaleResponse
        }
        if granted {
            self.votes.insert(from);
            if self.is_majority(self.votes.len()) {
                self.become_leader();
            }
        }
    }

    /// raft.prevote.grant: ignored in lease; a newer term and an up-to-date log (the log check
    /// of RequestVote) are granted in that term, **without** adopting it or touching
    /// `voted_for` (a PreVote's term is a proposal, not a fact; `adopts_term` leaves it alone);
    /// anything else is refused in this server's own term, so that only a genuinely newer term
    /// makes the pre-candidate step down (as in etcd). The answer leaves at once: a pre-vote
    /// binds no one, so nothing it reveals needs to be durable. Answered whatever this server's
    /// own `pre_vote`: it changes nothing here, and keeps a cluster that is switching PreVote on
    /// able to elect.
    fn on_pre_vote(
        &mut self,
        from: ServerId,
        term: Term,
        last_log_term: Term,
        last_log_index: LogIndex,
    ) {
        if self.in_lease() {
            return;
        }
        let reply = if term > self.term && self.log_up_to_date(last_log_term, last_log_index) {
            Message::PreVoteResponse {
                term,
                granted: true,
            }
        } else {
            Message::PreVoteResponse {
                term: self.term,
                granted: false,
            }
        };
        if term > self.term && self.mutated(ImplMutant::PreVoteAdoptsTerm) {
            // MUTANT(pre-vote-adopts-term): the proposed term is adopted (and persisted) as a
            // RequestVote's would be, so every pre-vote raises terms: the very disruption PreVote
            // exists to prevent. The answer is the correct one.
            self.step_down(term);
        }
        self.emit(Command::Send {
            to: from,
            msg: reply,
        });
    }

    /// raft.prevote.count: a grant for the next term counts at a pre-candidate, and a majority
    /// starts the real election. A refusal of a newer term was adopted in `on_message` (this
    /// server is a follower now); every other response is ignored.
    fn on_pre_vote_response(&mut self, from: ServerId, term: Term, granted: bool) {
        if !granted || self.role != Role::PreCandidate || term != self.next_term() {
            return;
        }
        self.votes.insert(from);
        if self.is_majority(self.votes.len()) {
            self.start_election();
        }
    }

    /// Figure 2's log check: the log holds an entry at `prev_log_index` of `prev_log_term`.
    /// Below the base it passes (raft.md § Snapshots): the compacted prefix is committed, and
    /// committed entries match every leader's log (Leader Completeness).
    fn log_matches(&self, prev_log_index: LogIndex, prev_log_term: Term) -> bool {
        prev_log_index.0 == 0
            || prev_log_index < self.base.index
            || (prev_log_index <= self.last_index()
                && self.term_at(prev_log_index) == prev_log_term)
    }

    /// raft.pipeline.hint: after failing the log check at `(prev, prev_term)`, the largest index
    /// below `prev` within this log whose entry's term is at most `prev_term` (0 if none). Every
    /// entry above it is missing or of a term the leader cannot hold there (its terms up to
    /// `prev` are at most `prev_term`), and staying below `prev` makes every rejection move the
    /// leader back.
    fn rejection_hint(&self, prev: LogIndex, prev_term: Term) -> LogIndex {
        let top = prev.0.saturating_sub(1).min(self.last_index().0);
        if top <= self.base.index.0 {
            // The compacted prefix is committed, so it matches the leader's log.
            return LogIndex(top);
        }
        // Terms in a log never decrease: binary search for the last entry of term <= prev_term.
        let within = &self.log[..(top - self.base.index.0) as usize];
        LogIndex(self.base.index.0 + within.partition_point(|e| e.term <= prev_term) as u64)
    }

    /// Whether an `AppendEntries` after `prev_log_index`, below the base, carries an entry at the
    /// base of another term. Entries at or below the base are skipped unread (they are in the
    /// snapshot), so without this check a forged message could append entries after the base
    /// whose terms are below the base's, and the log's terms would decrease.
    fn contradicts_base(&self, prev_log_index: LogIndex, entries: &[Entry]) -> bool {
        let base = self.base;
        if prev_log_index >= base.index {
            return false; // the log check covers it
        }
        let at = (base.index.0 - prev_log_index.0) as usize; // 1-based position of the base
        entries.get(at - 1).is_some_and(|e| e.term != base.term)
    }

    /// Whether an `AppendEntries` would delete an entry at or below the commit index. A
    /// legitimate leader never sends one (Leader Completeness: it holds every committed entry),
    /// so such a message is forged or corrupt: it is ignored whole rather than allowed to undo
    /// a commit or crash the server.
    fn truncates_committed(
        &self,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: &[Entry],
    ) -> bool {
        if !self.log_matches(prev_log_index, prev_log_term) {
            return false; // refused by the log check; nothing is truncated
        }
        let conflict = entries.iter().enumerate().find_map(|(k, entry)| {
            let index = LogIndex(prev_log_index.0 + 1 + k as u64);
            let held = index > self.base.index && index <= self.last_index();
            (held && self.term_at(index) != entry.term).then_some(index)
        });
        conflict.is_some_and(|index| index <= self.commit)
    }

    /// The term rules of a message only a leader sends (AppendEntries, InstallSnapshot), after
    /// any newer term was adopted: one of a smaller term is refused with this server's term
    /// (which makes the stale leader step down; round 0, raft.read.round: it proves nothing);
    /// a leader of the same term ignores it (only possible if election safety is broken); a
    /// candidate or pre-candidate of the same term has lost and becomes follower. The sender is
    /// this term's leader (with PreVote, `heard_leader`: in lease until the next timeout).
    /// Returns whether the message's own rule applies.
    fn heed_leader(&mut self, from: ServerId, term: Term) -> bool {
        if term < self.term {
            let reply = Message::AppendEntriesResponse {
                term: self.term,
                success: false,
                match_index: LogIndex(0),
                round: 0,
            };
            self.send_durable(from, reply);
            return false;
        }
        match self.role {
            Role::Leader => return false,
            Role::PreCandidate | Role::Candidate => self.set_role(Role::Follower),
            Role::Follower => {}
        }
        self.leader = Some(from);
        self.emit(Command::SetTimer(Timer::Election));
        true
    }

    #[allow(clippy::too_many_arguments)] // the message's fields, unpacked
    fn on_append_entries(
        &mut self,
        from: ServerId,
        term: Term,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Vec<Entry>,
        commit: LogIndex,
        round: u64,
    ) {
        if !self.heed_leader(from, term) {
            return;
        }
        if !self.log_matches(prev_log_index, prev_log_term) {
            let hint = if self.config.pipeline {
                self.rejection_hint(prev_log_index, prev_log_term)
            } else {
                LogIndex(0)
            };
            // raft.read.round: a reply in the leader's term echoes its round, even a refusal.
            let reply = Message::AppendEntriesResponse {
                term: self.term,
                success: false,
                match_index: hint,
                round,
            };
            return self.send_durable(from, reply);
        }
        let count = entries.len() as u64;
        for (k, entry) in entries.into_iter().enumerate() {
            let index = LogIndex(prev_log_index.0 + 1 + k as u64);
            if index <= self.base.index {
                continue; // in the snapshot: committed, so the same entry (Leader Completeness)
            }
            if index <= self.last_index() {
                if self.term_at(index) == entry.term {
                    continue; // a stale, shorter AppendEntries never truncates
                }
                if self.mutated(ImplMutant::KeepConflictingSuffix) {
                    self.replace_keeping_suffix(index, entry);
                    continue;
                }
                // `ignores` dropped any message that truncates a committed entry
                // (`truncates_committed`), so this holds whatever a peer sends.
                assert!(index > self.commit, "truncating committed index {index}");
                self.log.truncate(self.position(index));
                self.log_writes.push(LogWrite::Truncate { from: index });
            }
            self.append(entry);
        }
        let last_new = LogIndex(prev_log_index.0 + count);
        // The page's `max(commit, min(message.commit, length))`. A leader sends
        // `commit <= prev + len(entries)`, so this never commits past what the message proves
        // shared; the `min` with the log length keeps `commit` within the log whatever arrives.
        self.commit = self.commit.max(commit.min(self.last_index()));
        self.apply_committed();
        let match_index = if self.mutated(ImplMutant::AckLogLength) {
            // MUTANT(ack-log-length): the whole log, including a stale tail this message did not
            // prove shared, so the leader counts entries the follower does not hold.
            self.last_index()
        } else {
            last_new
        };
        let reply = Message::AppendEntriesResponse {
            term: self.term,
            success: true,
            match_index,
            round,
        };
        self.send_durable(from, reply);
    }

    /// raft.snapshot.install: after the term rules (a smaller term is answered as a stale
    /// `AppendEntries` is; a candidate of the same term becomes follower and the sender is this
    /// term's leader), a snapshot at or below `commit` changes nothing. Otherwise, if the log
    /// holds an entry at `last_index` of `last_term`, the entries after it are kept (Figure 13
    /// step 6), else the whole log is discarded (step 7); the snapshot replaces the state
    /// machine and `commit = last_index`. Either way the answer is
    /// `AppendEntriesResponse {success: true, match_index: last_index}`, sent once what it
    /// reveals is durable.
    fn on_install_snapshot(&mut self, from: ServerId, term: Term, snapshot: Snapshot) {
        if !self.heed_leader(from, term) {
            return;
        }
        let last_index = snapshot.last_index;
        if last_index > self.commit {
            self.install_snapshot(snapshot);
        }
        // raft.read.round: an InstallSnapshot carries no round, so its answer confirms none.
        let reply = Message::AppendEntriesResponse {
            term: self.term,
            success: true,
            match_index: last_index,
            round: 0,
        };
        self.send_durable(from, reply);
    }

    /// Figure 13 steps 6-8 for a snapshot past `commit`. The snapshot is written first: the log
    /// writes after it drop entries (committed ones among them) that only the snapshot then
    /// holds.
    fn install_snapshot(&mut self, snapshot: Snapshot) {
        let last_index = snapshot.last_index;
        assert!(last_index > self.commit && self.commit >= self.base.index);
        let held = last_index <= self.last_index();
        let keeps_tail = if self.mutated(ImplMutant::InstallDropsTail) {
            // MUTANT(install-drops-tail): Figure 13 step 6 skipped: entries this server
            // acknowledged after the snapshot are gone, and a commit may lose its majority.
            false
        } else if self.mutated(ImplMutant::InstallKeepsStaleTail) {
            // MUTANT(install-keeps-stale-tail): step 7 skipped: a tail of another leader's term
            // survives behind the snapshot, and Log Matching breaks.
            held
        } else {
            held && self.term_at(last_index) == snapshot.last_term
        };
        self.log_writes.push(LogWrite::Snapshot(snapshot.clone()));
        if keeps_tail {
            let dropped = self.position(last_index) + 1;
            self.log.drain(..dropped);
        } else if !self.log.is_empty() {
            self.log_writes.push(LogWrite::Truncate {
                from: LogIndex(self.base.index.0 + 1),
            });
            self.log.clear();
        }
        self.base = snapshot.base();
        self.log_writes.push(LogWrite::Compact { base: self.base });
        self.commit = last_index;
        self.applied = last_index;
        self.emit(Command::RestoreState {
            snapshot: snapshot.clone(),
        });
        self.snapshot = Some(snapshot);
    }

    /// raft.snapshot.take: the state machine at the applied index `index` becomes the snapshot
    /// `(index, term at index, state)`, and the log up to `index - keep` is dropped. Never past
    /// commit (the page's SN1): `index` is the applied index, which never passes `commit`. A
    /// request at or below the current snapshot changes nothing.
    fn on_compact(&mut self, index: LogIndex, state: Vec<u8>, keep: u64) {
        assert!(
            index <= self.applied && self.applied <= self.commit,
            "compaction at {index} past applied {} (commit {})",
            self.applied,
            self.commit
        );
        if index <= self.snapshot.as_ref().map_or(LogIndex(0), |s| s.last_index) {
            return;
        }
        let snapshot = Snapshot {
            last_index: index,
            last_term: self.term_at(index),
            data: state,
        };
        self.log_writes.push(LogWrite::Snapshot(snapshot.clone()));
        self.compact_behind(snapshot, keep);
    }

    /// `Event::SnapshotDurable`: raft.snapshot.take for a snapshot the runtime already wrote;
    /// only the log is compacted. One at or below the snapshot held is stale (an installed one
    /// overtook it while it was written) and changes nothing.
    fn on_snapshot_durable(&mut self, snapshot: Snapshot, keep: u64) {
        let index = snapshot.last_index;
        if index <= self.snapshot.as_ref().map_or(LogIndex(0), |s| s.last_index) {
            return;
        }
        assert!(
            index <= self.applied && self.applied <= self.commit,
            "snapshot at {index} past applied {} (commit {})",
            self.applied,
            self.commit
        );
        assert_eq!(
            snapshot.last_term,
            self.term_at(index),
            "the runtime's snapshot at {index} has another term than the log"
        );
        self.compact_behind(snapshot, keep);
    }

    /// Holds `snapshot` (durable, or made so by a write already queued) as the latest, and
    /// drops the log up to `keep` entries before its index.
    fn compact_behind(&mut self, snapshot: Snapshot, keep: u64) {
        let index = snapshot.last_index;
        self.snapshot = Some(snapshot);
        let through = LogIndex(index.0.saturating_sub(keep).max(self.base.index.0));
        if through > self.base.index {
            let base = LogBase {
                index: through,
                term: self.term_at(through),
            };
            let dropped = self.position(through) + 1;
            self.log.drain(..dropped);
            self.base = base;
            self.log_writes.push(LogWrite::Compact { base });
        }
    }

    /// MUTANT(keep-conflicting-suffix): the conflicting entry at `index` is replaced and every
    /// entry after it kept (Figure 2 deletes them). The durable log is made the same: truncate at
    /// `index`, then append the new entry and re-append the kept ones. No assertion on `commit`:
    /// the mutant may overwrite a committed entry, which is what a harness must catch.
    fn replace_keeping_suffix(&mut self, index: LogIndex, entry: Entry) {
        let at = self.position(index);
        self.log[at] = entry;
        self.log_writes.push(LogWrite::Truncate { from: index });
        for (k, kept) in self.log[at..].iter().enumerate() {
            self.log_writes.push(LogWrite::Append {
                index: LogIndex(index.0 + k as u64),
                entry: kept.clone(),
            });
        }
    }

    fn on_append_entries_response(
        &mut self,
        from: ServerId,
        term: Term,
        success: bool,
        match_index: LogIndex,
        round: u64,
    ) {
        if self.role != Role::Leader || term != self.term {
            return;
        }
        if self.config.pre_vote {
            self.recent_active.insert(from); // raft.checkquorum.recent
        }
        self.confirm_reads(from, round);
        let last = self.last_index();
        let hint_as_match = self.mutated(ImplMutant::HintAsMatch);
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        if success {
            // A follower never holds more of this leader's log than the leader: clamp a
            // (malformed) acknowledgement past the end, so `next_index <= length + 1` holds.
            let match_index = match_index.min(last);
            progress.match_index = progress.match_index.max(match_index);
            progress.next_index = progress.next_index.max(LogIndex(match_index.0 + 1));
            let behind = progress.next_index <= last;
            if let Some(window) = self.inflight.get_mut(&from) {
                // Every message ending at or below the acknowledged index has arrived.
                while window.front().is_some_and(|&end| end <= match_index) {
                    window.pop_front();
                }
            }
            self.advance_commit();
            if behind {
                self.send_append(from);
                if self.mutated(ImplMutant::PipelineCountsSent) {
                    self.advance_commit();
                }
            }
        } else if self.config.pipeline {
            // raft.pipeline.reject: back to just after the hint, never below what is known
            // replicated and never forward. What was in flight is suspect: the window restarts.
            let hint = LogIndex(match_index.0.min(last.0).saturating_add(1));
            let back = LogIndex(progress.next_index.0.saturating_sub(1).max(1)).min(hint);
            progress.next_index = back.max(LogIndex(progress.match_index.0 + 1));
            if hint_as_match {
                // MUTANT(hint-as-match): the hint taken as proof that the follower's log matches
                // up to it, so the leader counts entries the follower does not hold.
                progress.match_index = progress.match_index.max(match_index.min(last));
                self.advance_commit();
            }
            self.inflight.remove(&from);
            self.send_append(from);
            if self.mutated(ImplMutant::PipelineCountsSent) {
                self.advance_commit();
            }
        } else {
            progress.next_index = LogIndex(progress.next_index.0.saturating_sub(1).max(1));
            self.send_append(from);
        }
    }

    fn on_client_request(&mut self, request: RequestId, data: Vec<u8>) {
        self.on_client_batch(vec![(request, data)]);
    }

    /// Client requests queued together: each appended (or rejected) in order, then one
    /// replication to every peer. One request is exactly `on_client_request`.
    fn on_client_batch(&mut self, requests: Vec<(RequestId, Vec<u8>)>) {
        if self.role != Role::Leader {
            for (request, _) in requests {
                let leader = self.leader;
                self.emit(Command::ClientRejected { request, leader });
            }
            return;
        }
        let term = self.term;
        for (request, data) in requests {
            let index = self.append(Entry::command(term, data));
            self.emit(Command::ClientAccepted {
                request,
                index,
                term,
            });
        }
        self.broadcast_append();
    }

    fn on_persisted(&mut self, id: PersistId) {
        while let Some(front) = self.pending.front() {
            if front.id > id {
                break;
            }
            let done = self.pending.pop_front().expect("front exists");
            self.durable_last = done.last_index_after;
            for (to, msg) in done.sends {
                self.emit(Command::Send { to, msg });
            }
        }
        self.advance_commit();
    }

    /// The hard state this event writes: `hard_state()`, except under a mutant.
    fn persisted_hard_state(&self) -> HardState {
        let mut hard_state = self.hard_state();
        if self.mutated(ImplMutant::VoteNotPersisted)
            && hard_state.voted_for != Some(self.config.id)
        {
            // MUTANT(vote-not-persisted): a vote for another server is left out of what is
            // written, even when this event writes a newly adopted term, so a restart forgets it.
            hard_state.voted_for = None;
        }
        hard_state
    }

    /// Emits this event's `Persist` (if anything changed) and releases or parks its sends.
    fn finish(&mut self) {
        let deferred = std::mem::take(&mut self.deferred);
        if self.hard_state_dirty || !self.log_writes.is_empty() {
            let id = PersistId(self.next_persist);
            self.next_persist += 1;
            // The hard state goes first (a crash keeps a prefix of the writes, in this order).
            // A term this event adopted must be durable before any entry of that term (a
            // follower adopts a leader's term and appends its entries in one event): a log
            // whose last entry has a term above the durable one is what a lost hard-state file
            // looks like, and recovery refuses it. The prefix this order allows, a newer term
            // or vote beside the older log, is a state Raft already has (a server may adopt a
            // term and crash before it appends).
            let hard_state = self
                .hard_state_dirty
                .then(|| DurableWrite::HardState(self.persisted_hard_state()));
            let log = std::mem::take(&mut self.log_writes);
            self.hard_state_dirty = false;
            let writes = hard_state
                .into_iter()
                .chain(log.into_iter().map(DurableWrite::Log))
                .collect();
            self.emit(Command::Persist { id, writes });
            self.pending.push_back(Pending {
                id,
                last_index_after: self.last_index().0,
                sends: deferred,
            });
        } else if let Some(last) = self.pending.back_mut() {
            last.sends.extend(deferred);
        } else {
            for (to, msg) in deferred {
                self.emit(Command::Send { to, msg });
            }
        }
    }
}

impl Core for RaftCore {
    type Message = Message;
    type HardState = HardState;

    /// Arms the election timer; a server restarted from a snapshot first has its state
    /// machine restored from it (the next `Apply` is the snapshot's index + 1).
    fn start(&mut self) {
        if let Some(snapshot) = self.snapshot.clone() {
            self.emit(Command::RestoreState { snapshot });
        }
        self.emit(Command::SetTimer(Timer::Election));
    }

    fn handle(&mut self, event: Event<Message>) {
        match event {
            Event::Message { from, msg } => self.on_message(from, msg),
            Event::Timer(Timer::Election) => self.on_election_timeout(),
            Event::PeerLost { peer } => self.on_peer_lost(peer),
            Event::Timer(Timer::Heartbeat) => self.on_heartbeat(),
            // Raft arms no timer of its own numbering.
            Event::Timer(Timer::Protocol(_)) => {}
            Event::ClientRequest { request, data } => self.on_client_request(request, data),
            Event::ClientBatch { requests } => self.on_client_batch(requests),
            Event::Read { requests } => self.on_read(requests),
            Event::Persisted { id } => self.on_persisted(id),
            Event::Compact { index, state, keep } => self.on_compact(index, state, keep),
            Event::SnapshotDurable { snapshot, keep } => self.on_snapshot_durable(snapshot, keep),
        }
        self.finish();
    }

    fn take_commands(&mut self) -> Vec<Command<Message, HardState>> {
        std::mem::take(&mut self.commands)
    }

    fn status(&self) -> CoreStatus {
        CoreStatus {
            role: self.role.name(),
            term: self.term,
            leader: self.leader,
            commit: self.commit,
            last_index: self.last_index(),
            last_zxid: None,
        }
    }
}
