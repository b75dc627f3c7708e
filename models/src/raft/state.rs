//! The global state of the Raft model: servers, network, fault budget, and ghost history.

use arrayvec::ArrayVec;

use crate::copyvec::CopyVec;
use serde::{Deserialize, Serialize};

use super::config::MAX_TERM;
use super::types::{
    Entries, Entry, LogIndex, Msg, Role, ServerId, Term, Value, MAX_LOG, MAX_SERVERS,
};
use crate::network::{Network, NetworkKind};
use crate::permute::permute_groups;

/// One server. The first four fields are persistent; the rest are lost on a crash.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Server {
    pub term: Term,
    pub voted_for: Option<ServerId>,
    /// The whole log, the compacted prefix included: with `--snapshots`, the entries up to
    /// `snapshot` stand for the snapshot's image of the state machine.
    pub log: Entries,
    /// `--snapshots`: the snapshot's last index (raft.md's `snapshot.last_index`; its term is
    /// the log's term there). Entries at or below it are compacted: the server no longer holds
    /// them as entries, so as a leader it cannot send them (raft.snapshot.send), and on restart
    /// its commit index starts here. Always 0 without `--snapshots`.
    pub snapshot: LogIndex,
    pub up: bool,
    pub role: Role,
    pub commit: LogIndex,
    /// Candidate: the set (bitmask) of servers that granted a vote in this term. Under mutant M11,
    /// a counter of grants instead.
    pub votes: u8,
    /// Leader only (zero otherwise, so that equal situations are equal states).
    pub next_index: [LogIndex; MAX_SERVERS],
    pub match_index: [LogIndex; MAX_SERVERS],
    /// `--pre-vote`, follower: it accepted an AppendEntries of its term since its election timer
    /// last fired (it is in lease). Always false without `--pre-vote`.
    pub heard_leader: bool,
    /// `--pre-vote`, leader: the peers (bitmask) it heard from in its term since its last quorum
    /// check. Always 0 without `--pre-vote`.
    pub recent: u8,
    /// `--reads`, leader: its confirmation round in this term (raft.read.start); 0 otherwise.
    pub round: u8,
    /// `--reads`, leader: per peer, the highest round it echoed in this term (raft.read.confirm).
    pub acked: [u8; MAX_SERVERS],
    /// `--reads`, leader: reads started and not yet served, oldest first.
    pub reads: CopyVec<PendingRead, MAX_PENDING_READS>,
}

/// At most this many reads pending at one leader (`--reads` is bounded by it).
pub const MAX_PENDING_READS: usize = 3;

/// A read a leader has started (raft.read.start) and not yet served.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct PendingRead {
    /// The leader's commit index when the read started: the state it will serve.
    pub read_index: LogIndex,
    /// The round whose acknowledgements by a majority confirm it.
    pub round: u8,
    /// Ghost: the highest index any server had committed when the read started. The read is
    /// linearizable only if `read_index` reaches it (`read_linearizable`).
    pub required: LogIndex,
}

impl Server {
    pub(crate) fn new() -> Self {
        Server {
            term: Term(0),
            voted_for: None,
            log: Entries::new(),
            snapshot: LogIndex(0),
            up: true,
            role: Role::Follower,
            commit: LogIndex(0),
            votes: 0,
            next_index: [LogIndex(0); MAX_SERVERS],
            match_index: [LogIndex(0); MAX_SERVERS],
            heard_leader: false,
            recent: 0,
            round: 0,
            acked: [0; MAX_SERVERS],
            reads: CopyVec::new(),
        }
    }

    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.log.len() as u8)
    }

    pub fn last_term(&self) -> Term {
        self.log.last().map_or(Term(0), |e| e.term)
    }

    /// Whether a log ending at `(last_log_term, last_log_index)` is at least as up to date as
    /// this server's (the vote's and the pre-vote's log check, §5.4.1).
    pub fn log_up_to_date(&self, last_log_term: Term, last_log_index: LogIndex) -> bool {
        last_log_term > self.last_term()
            || (last_log_term == self.last_term() && last_log_index >= self.last_index())
    }

    /// [`Self::log_up_to_date`] as two guards of the rule asking (raft.vote.grant,
    /// raft.prevote.grant — docs/protocols/raft.md): the term half (the candidate's last term is
    /// at least mine) and, only where that holds, the index half (a greater last term, or the
    /// same and a log at least as long). Their conjunction is exactly `log_up_to_date`.
    pub(crate) fn up_to_date_guarded(
        &self,
        last_log_term: Term,
        last_log_index: LogIndex,
        term_half: crate::coverage::Guard,
        index_half: crate::coverage::Guard,
    ) -> bool {
        use crate::coverage::guard;
        guard(term_half, last_log_term >= self.last_term())
            && guard(
                index_half,
                last_log_term > self.last_term() || last_log_index >= self.last_index(),
            )
    }

    /// The term of the entry at `index`; 0 for the empty prefix. `None` past the end.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        match index.0 {
            0 => Some(Term(0)),
            i => self.log.get(i as usize - 1).map(|e| e.term),
        }
    }

    /// raft.pipeline.hint: after failing the log check at `(prev, prev_term)`, the largest
    /// index `i < prev` within this log whose entry's term is at most `prev_term` (0 if none).
    /// Every entry above it either is missing or has a term the leader's log cannot hold there
    /// (the leader's terms up to `prev` are at most `prev_term`), so the leader loses nothing by
    /// skipping back to it, and `i < prev` makes every rejection move the leader back.
    pub fn rejection_hint(&self, prev: LogIndex, prev_term: Term) -> LogIndex {
        let top = prev.0.saturating_sub(1).min(self.last_index().0);
        (1..=top)
            .rev()
            .find(|&i| {
                let at_most = self.log[i as usize - 1].term <= prev_term;
                crate::coverage::guard(super::rules::PIPELINE_HINT_TERM, at_most)
            })
            .map_or(LogIndex(0), LogIndex)
    }

    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        (index.0 >= 1)
            .then(|| self.log.get(index.0 as usize - 1))
            .flatten()
    }

    /// Entries that came from clients (not leaders' no-ops): what `--max-log` bounds.
    pub fn client_entries(&self) -> usize {
        self.log.iter().filter(|e| e.value != Value::NOOP).count()
    }

    /// The committed prefix of the log. (Under mutant M6 a follower can truncate below its commit
    /// index; what is left of the prefix is what it still has.)
    pub fn committed(&self) -> &[Entry] {
        &self.log[..(self.commit.0 as usize).min(self.log.len())]
    }

    /// Forgets everything volatile, as a crash does.
    pub(crate) fn lose_volatile_state(&mut self) {
        self.role = Role::Follower;
        self.commit = LogIndex(0);
        self.clear_candidate_and_leader_state();
    }

    /// Forgets what belongs to one role (votes, a leader's progress and quorum check, lease):
    /// on every change of role or term.
    pub(crate) fn clear_candidate_and_leader_state(&mut self) {
        self.votes = 0;
        self.next_index = [LogIndex(0); MAX_SERVERS];
        self.match_index = [LogIndex(0); MAX_SERVERS];
        self.recent = 0;
        self.heard_leader = false;
        self.round = 0;
        self.acked = [0; MAX_SERVERS];
        self.reads = CopyVec::new();
    }
}

/// History the properties need but no server keeps (raft.tla's history variables, compacted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ghost {
    /// Per term, the set (bitmask) of servers that have been leader in it.
    pub leaders: [u8; MAX_TERM as usize + 1],
    /// Per term, the set of servers that stood as candidate in it (kept only when
    /// `--max-candidates` bounds it).
    pub candidates: [u8; MAX_TERM as usize + 1],
    /// Per log index (from 1), the entry some server committed there, and the lowest term of a
    /// server that committed it.
    pub committed: CopyVec<(Entry, Term), MAX_LOG>,
    /// A leader's log lost or changed an entry while it stayed leader of the same term.
    pub append_only_broken: bool,
    /// Two servers committed different entries at one index.
    pub commit_conflict: bool,
    /// `--reads`: some read was served below what had been committed when it started.
    pub stale_read: bool,
    /// `--reads`: some read was served (the `read_served` witness).
    pub read_served: bool,
    /// A server that stayed up saw its commit index go down (`commit_never_decreases`).
    pub commit_decreased: bool,
    /// A server became leader other than as a candidate of the same term
    /// (`leaders_were_candidates`).
    pub leader_not_candidate: bool,
    /// A leader's `match_index` went down within its term, or (`--pipeline`) its `next_index`
    /// fell to or below `match_index` (`leader_progress_sound`).
    pub progress_regressed: bool,
    /// `--pre-vote`: a server started an election without a majority of pre-votes
    /// (`elections_follow_prevote`).
    pub election_without_prevote: bool,
}

/// The state of the whole system. Its `Debug` is the compact per-server view (raft/spec.rs).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RaftState {
    pub servers: CopyVec<Server, MAX_SERVERS>,
    #[serde(rename = "in_flight")]
    pub network: Network<Msg>,
    /// Crashes so far.
    pub crashes: u8,
    /// Client values already proposed (bitmask), so each is proposed at most once.
    pub proposed: u8,
    /// Reads started so far (`--reads` bounds them).
    pub reads: u8,
    pub ghost: Ghost,
}

impl RaftState {
    pub(crate) fn new(servers: usize) -> Self {
        RaftState {
            servers: (0..servers).map(|_| Server::new()).collect(),
            network: Network::default(),
            crashes: 0,
            proposed: 0,
            reads: 0,
            ghost: Ghost::default(),
        }
    }

    pub fn server(&self, id: ServerId) -> &Server {
        &self.servers[id.ix()]
    }

    /// The canonical representative of this state's symmetry class. Server ids carry no meaning
    /// in Raft (no rule compares them), so a state with servers renamed behaves identically.
    ///
    /// Servers are ordered by their id-free fields; servers that tie are ordered every possible
    /// way, and the renaming with the smallest fingerprint wins. Every state of a class yields the
    /// same set of candidates, hence the same representative, which lets a discovered path be
    /// replayed from concrete states by matching representatives' fingerprints.
    /// `votes_are_counts` is set under mutant M11, where `votes` is a counter, not a set.
    pub(crate) fn representative(&self, kind: NetworkKind, votes_are_counts: bool) -> Self {
        let n = self.servers.len();
        let key = |i: usize| {
            let x = &self.servers[i];
            (
                x.up,
                x.role,
                x.term,
                &x.log,
                x.snapshot,
                x.commit,
                x.voted_for.is_some(),
                x.votes.count_ones(),
                x.heard_leader,
                x.recent.count_ones(),
                x.round,
                &x.reads,
            )
        };
        let mut order: ArrayVec<usize, MAX_SERVERS> = (0..n).collect();
        order.sort_by(|&a, &b| key(a).cmp(&key(b)));
        let ties = |order: &[usize], same: &dyn Fn(usize, usize) -> bool| {
            let mut groups: ArrayVec<(usize, usize), MAX_SERVERS> = ArrayVec::new();
            let mut start = 0;
            for i in 1..=n {
                if i == n || !same(order[i], order[start]) {
                    if i - start > 1 {
                        groups.push((start, i));
                    }
                    start = i;
                }
            }
            groups
        };
        let mut groups = ties(&order, &|a, b| key(a) == key(b));
        if groups.is_empty() {
            return self.renamed(&order, kind, votes_are_counts);
        }
        // Servers that look alike on their own are told apart by the messages they have in flight
        // (an id-free summary: a commutative sum of the messages' hashes, in and out), so that
        // few orderings remain to try; with five idle followers there would be 120.
        let mut sig = [0u64; MAX_SERVERS];
        for f in self.network.flights() {
            let h = crate::engine::fingerprint(&(f.msg, f.copies));
            sig[f.src as usize] = sig[f.src as usize].wrapping_add(h.rotate_left(17));
            sig[f.dst as usize] = sig[f.dst as usize].wrapping_add(h);
        }
        for (v, s) in self.servers.iter().enumerate() {
            if s.voted_for.is_some_and(|w| w.ix() == v) {
                sig[v] ^= 1;
            }
        }
        order.sort_by(|&a, &b| key(a).cmp(&key(b)).then(sig[a].cmp(&sig[b])));
        groups = ties(&order, &|a, b| key(a) == key(b) && sig[a] == sig[b]);
        if groups.is_empty() {
            return self.renamed(&order, kind, votes_are_counts);
        }
        let mut best: Option<(u64, Self)> = None;
        permute_groups(&mut order, &groups, &mut |order| {
            let candidate = self.renamed(order, kind, votes_are_counts);
            let fp = crate::engine::fingerprint(&candidate);
            if best.as_ref().is_none_or(|(b, _)| fp < *b) {
                best = Some((fp, candidate));
            }
        });
        best.expect("at least one ordering").1
    }

    /// This state with server `order[k]` renamed to `k`.
    fn renamed(&self, order: &[usize], kind: NetworkKind, votes_are_counts: bool) -> Self {
        let n = self.servers.len();
        if order.iter().enumerate().all(|(new, &old)| new == old) {
            return self.clone();
        }
        let mut rename = [0u8; MAX_SERVERS];
        for (new, &old) in order.iter().enumerate() {
            rename[old] = new as u8;
        }
        let map_bits = |bits: u8| -> u8 {
            (0..n)
                .filter(|&i| bits & (1 << i) != 0)
                .fold(0, |acc, i| acc | (1 << rename[i]))
        };
        let mut servers = CopyVec::new();
        for &old in order {
            let s = &self.servers[old];
            let mut t = *s;
            t.voted_for = s.voted_for.map(|v| ServerId(rename[v.ix()]));
            if !votes_are_counts {
                t.votes = map_bits(s.votes);
            }
            t.recent = map_bits(s.recent);
            for (j, &r) in rename.iter().enumerate().take(n) {
                t.next_index[r as usize] = s.next_index[j];
                t.match_index[r as usize] = s.match_index[j];
                t.acked[r as usize] = s.acked[j];
            }
            servers.push(t);
        }
        let mut network = self.network.clone();
        network.rename(kind, |s| rename[s as usize]);
        let mut ghost = self.ghost.clone();
        for l in ghost.leaders.iter_mut().chain(ghost.candidates.iter_mut()) {
            *l = map_bits(*l);
        }
        RaftState {
            servers,
            network,
            crashes: self.crashes,
            proposed: self.proposed,
            reads: self.reads,
            ghost,
        }
    }
}
