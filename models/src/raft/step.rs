//! The rules of docs/protocols/raft.md: what one server does on one input. Each function mutates
//! the state in place and sends through the network; mutants bend exactly one rule each.

use super::mutants::RaftMutant as Mutant;
use super::rules::*;
use super::state::{PendingRead, RaftState};
use super::types::{Entries, Entry, LogIndex, Msg, Role, ServerId, Term, Value, MAX_SERVERS};
use super::RaftModel;
use crate::coverage::{fire, guard, quorum};

impl RaftModel {
    fn is(&self, m: Mutant) -> bool {
        self.config.mutant == Some(m)
    }

    pub(crate) fn majority(&self) -> usize {
        self.config.servers as usize / 2 + 1
    }

    fn peers(&self, me: ServerId) -> impl Iterator<Item = ServerId> {
        (0..self.config.servers)
            .map(ServerId)
            .filter(move |&j| j != me)
    }

    /// Sends unless the destination is down: its connections are broken, the message is lost.
    fn send(&self, st: &mut RaftState, src: ServerId, dst: ServerId, msg: Msg) -> bool {
        if !st.servers[dst.ix()].up {
            return false;
        }
        st.network.send(self.config.network, src.0, dst.0, msg)
    }

    /// raft.election.timeout, raft.prevote.timeout, raft.checkquorum.step-down —
    /// docs/protocols/raft.md. Without `--pre-vote`, a follower or candidate starts an election.
    /// With it, a leader checks its quorum and anyone else asks for pre-votes first.
    pub(crate) fn on_timeout(&self, st: &mut RaftState, me: ServerId) {
        if !self.config.pre_vote {
            return self.start_election(st, me);
        }
        if st.servers[me.ix()].role == Role::Leader {
            return self.check_quorum(st, me);
        }
        fire(PREVOTE_TIMEOUT);
        let s = &mut st.servers[me.ix()];
        let next_term = Term(s.term.0 + 1);
        s.role = Role::PreCandidate;
        s.clear_candidate_and_leader_state();
        s.votes = me.bit();
        let msg = Msg::PreVote {
            term: next_term,
            last_log_term: s.last_term(),
            last_log_index: s.last_index(),
        };
        // The bound on candidates per term counts a server once it campaigns for the term.
        if self.tracks_candidates() {
            st.ghost.candidates[next_term.0 as usize] |= me.bit();
        }
        for j in self.peers(me) {
            self.send(st, me, j, msg);
        }
        if quorum(PREVOTE_SELF_MAJORITY, 1, self.majority()) {
            self.start_election(st, me);
        }
    }

    /// raft.election.timeout — docs/protocols/raft.md. The real election: `term += 1`,
    /// candidate, vote for itself, RequestVote to every peer.
    fn start_election(&self, st: &mut RaftState, me: ServerId) {
        fire(ELECTION_TIMEOUT);
        let s = &mut st.servers[me.ix()];
        debug_assert!(s.up && s.role != Role::Leader);
        s.term = Term(s.term.0 + 1);
        if self.tracks_candidates() {
            st.ghost.candidates[s.term.0 as usize] |= me.bit();
        }
        let s = &mut st.servers[me.ix()];
        s.role = Role::Candidate;
        s.clear_candidate_and_leader_state();
        s.voted_for = Some(me);
        s.votes = if self.is(Mutant::CountDuplicateVotes) {
            1
        } else {
            me.bit()
        };
        let msg = Msg::RequestVote {
            term: s.term,
            last_log_term: s.last_term(),
            last_log_index: s.last_index(),
        };
        for j in self.peers(me) {
            self.send(st, me, j, msg);
        }
        // Its own vote is already a majority in a one-server cluster (raft.md § Election
        // timeout): it leads at once. Conformance found the model waiting for votes that no
        // peer could send.
        if quorum(ELECTION_SELF_MAJORITY, 1, self.majority()) {
            self.become_leader(st, me);
        }
    }

    /// raft.checkquorum.step-down — docs/protocols/raft.md: a leader that has not heard from a
    /// majority (itself included) since its last check becomes a follower of the same term.
    fn check_quorum(&self, st: &mut RaftState, me: ServerId) {
        fire(CHECKQUORUM_STEP_DOWN);
        let majority = self.majority();
        let s = &mut st.servers[me.ix()];
        if quorum(
            CHECKQUORUM_MAJORITY,
            1 + s.recent.count_ones() as usize,
            majority,
        ) {
            s.recent = 0;
        } else {
            s.role = Role::Follower;
            s.clear_candidate_and_leader_state();
        }
    }

    /// In lease (raft.md § PreVote and CheckQuorum): a follower that hears from its leader, or a
    /// leader. Never without `--pre-vote`.
    fn in_lease(&self, st: &RaftState, me: ServerId) -> bool {
        let s = &st.servers[me.ix()];
        self.config.pre_vote
            && ((s.role == Role::Follower && s.heard_leader) || s.role == Role::Leader)
    }

    /// Heartbeat timer at a leader: an empty AppendEntries to every follower for which it would
    /// make a difference now, that is, whose delivery this instant would change the follower or
    /// draw a response that is not already in flight. A heartbeat that would change nothing only
    /// multiplies states (real leaders send it anyway; the model leaves it out). Returns whether
    /// anything was sent.
    pub(crate) fn on_heartbeat(&self, st: &mut RaftState, me: ServerId) -> bool {
        let mut sent = false;
        for j in self.peers(me) {
            if !st.servers[j.ix()].up {
                continue;
            }
            let msg = self.message_to(st, me, j, false);
            if !self.config.reductions {
                // With the reductions off, the heartbeat goes to every follower that is up.
                sent |= self.send(st, me, j, msg);
                continue;
            }
            let mut probe = st.clone();
            let before = probe.network.flights().len();
            self.on_message(&mut probe, me, j, msg);
            if probe.servers[j.ix()] != st.servers[j.ix()]
                || probe.network.flights().len() != before
            {
                sent |= self.send(st, me, j, msg);
            }
        }
        sent
    }

    /// raft.client.request — docs/protocols/raft.md: a client request at a leader: append,
    /// then replicate to every idle follower.
    pub(crate) fn on_client_request(&self, st: &mut RaftState, me: ServerId, value: Value) {
        fire(CLIENT_REQUEST);
        let s = &mut st.servers[me.ix()];
        debug_assert_eq!(s.role, Role::Leader);
        let term = s.term;
        s.log.push(Entry { term, value });
        st.proposed |= 1 << value.0;
        // A no-op unless the leader alone is a majority (one server): then the entry commits.
        self.advance_commit(st, me);
        self.replicate(st, me);
    }

    /// AppendEntries with the entries each follower may lack, to every follower.
    fn replicate(&self, st: &mut RaftState, me: ServerId) {
        for j in self.peers(me) {
            self.send_append(st, me, j, true);
        }
        if self.is(Mutant::PipelineCountsSent) {
            self.advance_commit(st, me); // after every send, so that all carry the same commit
        }
    }

    /// Sends AppendEntries (or InstallSnapshot) from leader `me` to `to`: see
    /// [`Self::message_to`]. With `--pipeline`, entries sent are taken as on their way:
    /// `next_index[to]` moves past them at once (raft.pipeline.send), and past a snapshot sent
    /// (raft.snapshot.send), whether or not the message arrives. raft.pipeline.send —
    /// docs/protocols/raft.md.
    fn send_append(
        &self,
        st: &mut RaftState,
        me: ServerId,
        to: ServerId,
        with_entries: bool,
    ) -> bool {
        let msg = self.message_to(st, me, to, with_entries);
        if let Msg::InstallSnapshot { last_index, .. } = msg {
            if self.config.pipeline {
                st.servers[me.ix()].next_index[to.ix()] = LogIndex(last_index.0 + 1);
            }
        }
        if let Msg::AppendEntries {
            prev_log_index,
            ref entries,
            ..
        } = msg
        {
            if self.config.pipeline && guard(PIPELINE_ENTRIES, !entries.is_empty()) {
                fire(PIPELINE_SEND);
                let last_sent = LogIndex(prev_log_index.0 + entries.len() as u8);
                let s = &mut st.servers[me.ix()];
                s.next_index[to.ix()] = LogIndex(last_sent.0 + 1);
                if self.is(Mutant::PipelineCountsSent) {
                    // Entries on their way counted as replicated: the leader commits what no
                    // follower may ever receive.
                    s.match_index[to.ix()] = s.match_index[to.ix()].max(last_sent);
                }
            }
        }
        self.send(st, me, to, msg)
    }

    /// What leader `me` sends `to` to bring it up to date: AppendEntries, or, with
    /// `--snapshots`, InstallSnapshot where `next_index[to]` is at or below the leader's
    /// snapshot, so that the entries it would carry (or the term of its `prev_log_index`) are
    /// compacted away. A heartbeat becomes an InstallSnapshot too. raft.snapshot.send —
    /// docs/protocols/raft.md.
    fn message_to(&self, st: &RaftState, me: ServerId, to: ServerId, with_entries: bool) -> Msg {
        let s = &st.servers[me.ix()];
        if self.config.snapshots && guard(SNAPSHOT_COMPACTED, s.next_index[to.ix()] <= s.snapshot) {
            fire(SNAPSHOT_SEND);
            let last_index = s.snapshot;
            // (`unwrap_or`: a snapshot is always within the log; only an ablation could say
            // otherwise, and it must not crash the model.)
            let prefix = s.log.get(..last_index.0 as usize).unwrap_or(&[]);
            return Msg::InstallSnapshot {
                term: s.term,
                last_index: LogIndex(prefix.len() as u8),
                last_term: s.term_at(last_index).unwrap_or(Term(0)),
                entries: prefix.iter().copied().collect(),
            };
        }
        self.append_entries(st, me, to, with_entries)
    }

    /// raft.append.send — docs/protocols/raft.md. AppendEntries from leader `me` to `to` after
    /// `next_index[to] - 1`: with every entry from there (`with_entries`), or none (a heartbeat).
    fn append_entries(
        &self,
        st: &RaftState,
        me: ServerId,
        to: ServerId,
        with_entries: bool,
    ) -> Msg {
        fire(APPEND_SEND);
        let s = &st.servers[me.ix()];
        // `next_index` is within the leader's log and at least 1; the saturations and
        // `unwrap_or`s only keep an ablated model (a non-leader sending) from crashing.
        let prev = LogIndex(s.next_index[to.ix()].0.saturating_sub(1)).min(s.last_index());
        let entries: Entries = if with_entries {
            s.log[prev.0 as usize..].iter().copied().collect()
        } else {
            Entries::new()
        };
        let last_sent = LogIndex(prev.0 + entries.len() as u8);
        let commit = if self.is(Mutant::CommitPastMatch)
            || guard(APPEND_COMMIT_BOUND, s.commit <= last_sent)
        {
            s.commit
        } else {
            last_sent
        };
        Msg::AppendEntries {
            term: s.term,
            prev_log_index: prev,
            prev_log_term: s.term_at(prev).unwrap_or(Term(0)),
            entries,
            commit,
            round: s.round,
        }
    }

    /// raft.read.start — docs/protocols/raft.md: a leader that has committed an entry of its
    /// term starts a read at its commit index: a new round, and a heartbeat carrying it to every
    /// peer. A leader that is a majority alone serves at once.
    pub(crate) fn on_read(&self, st: &mut RaftState, me: ServerId) {
        fire(READ_START);
        let majority = self.majority();
        let required = LogIndex(st.ghost.committed.len() as u8);
        st.reads += 1;
        let s = &mut st.servers[me.ix()];
        debug_assert_eq!(s.role, Role::Leader);
        let read = PendingRead {
            read_index: s.commit,
            round: s.round + 1,
            required,
        };
        if quorum(READ_SELF_MAJORITY, 1, majority) || self.is(Mutant::ReadWithoutConfirm) {
            // MUTANT(read-without-confirm): served at once, with no proof that no newer leader
            // exists.
            return Self::serve(st, read);
        }
        s.round += 1;
        s.reads.push(read);
        for j in self.peers(me) {
            self.send_append(st, me, j, false);
        }
    }

    /// raft.read.start — docs/protocols/raft.md: whether `me` may start a read: a leader whose
    /// commit index holds an entry of its term, or any leader under mutant RI2.
    pub(crate) fn may_read(&self, st: &RaftState, me: ServerId) -> bool {
        let s = &st.servers[me.ix()];
        s.up && s.role == Role::Leader
            && st.reads < self.config.reads
            && (self.is(Mutant::ReadBeforeTermCommit)
                || guard(READ_TERM_COMMITTED, s.term_at(s.commit) == Some(s.term)))
    }

    /// raft.read.serve — docs/protocols/raft.md: the state at `read_index` is returned (the
    /// model's commit is its apply).
    fn serve(st: &mut RaftState, read: PendingRead) {
        fire(READ_SERVE);
        st.ghost.read_served = true;
        if read.read_index < read.required {
            st.ghost.stale_read = true;
        }
    }

    /// raft.read.confirm — docs/protocols/raft.md: `j` echoed `round`; every pending read whose
    /// round a majority (the leader included) has now echoed is served. Acknowledgements matter only while a read is
    /// pending (a new read's round is above every echo so far), so they are forgotten when none
    /// is: equal situations stay equal states.
    fn confirm_reads(&self, st: &mut RaftState, me: ServerId, j: usize, round: u8) {
        fire(READ_CONFIRM);
        let majority = self.majority();
        let s = &mut st.servers[me.ix()];
        fire(READ_ROUND);
        if guard(READ_ECHO_MAX, round > s.acked[j]) {
            s.acked[j] = round;
        }
        let acked = s.acked;
        let n = self.config.servers as usize;
        let confirmed = |r: u8| {
            let echoed = 1 + (0..n).filter(|&k| k != me.ix() && acked[k] >= r).count();
            quorum(READ_MAJORITY, echoed, majority)
        };
        let (served, kept): (Vec<PendingRead>, Vec<PendingRead>) =
            s.reads.iter().partition(|r| confirmed(r.round));
        if served.is_empty() {
            return;
        }
        s.reads = kept.into_iter().collect();
        if s.reads.is_empty() {
            s.acked = [0; MAX_SERVERS];
        }
        for read in served {
            Self::serve(st, read);
        }
    }

    /// A message from `src` arrives at `me`. raft.term.adopt — docs/protocols/raft.md: a newer
    /// term is adopted first (term, follower, `voted_for` cleared), then the message handled.
    pub(crate) fn on_message(&self, st: &mut RaftState, src: ServerId, me: ServerId, msg: Msg) {
        // A PreVote's term is a proposal, a granted PreVoteResponse carries that proposal back,
        // and a RequestVote at a server in lease is ignored: none of them is a newer term the
        // receiver must adopt (raft.prevote.grant, raft.prevote.count, raft.lease.ignore-vote).
        let newer = msg.term() > st.servers[me.ix()].term;
        let adopt = match msg {
            Msg::PreVote { .. } | Msg::PreVoteResponse { granted: true, .. } => false,
            // (Only a newer term is a question for the lease; the guard is asked only then.)
            Msg::RequestVote { .. } => {
                !(newer && self.config.pre_vote) || {
                    fire(LEASE_IGNORE_VOTE);
                    guard(LEASE_NOT_IN_LEASE, !self.in_lease(st, me))
                }
            }
            _ => true,
        };
        let s = &mut st.servers[me.ix()];
        if adopt && guard(TERM_NEWER, newer) {
            fire(TERM_ADOPT);
            s.term = msg.term();
            s.voted_for = None;
            s.heard_leader = false;
            if !(self.is(Mutant::LeaderKeepsRole) && s.role == Role::Leader) {
                s.role = Role::Follower;
                s.clear_candidate_and_leader_state();
            }
        }
        match msg {
            Msg::PreVote {
                term,
                last_log_term,
                last_log_index,
            } => self.on_pre_vote(st, src, me, term, last_log_term, last_log_index),
            Msg::PreVoteResponse { term, granted } => {
                self.on_pre_vote_response(st, src, me, term, granted)
            }
            Msg::RequestVote {
                term,
                last_log_term,
                last_log_index,
            } => self.on_request_vote(st, src, me, term, last_log_term, last_log_index),
            Msg::RequestVoteResponse { term, granted } => {
                self.on_vote_response(st, src, me, term, granted)
            }
            Msg::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                commit,
                round,
            } => self.on_append_entries(
                st,
                src,
                me,
                term,
                prev_log_index,
                prev_log_term,
                entries,
                commit,
                round,
            ),
            Msg::AppendEntriesResponse {
                term,
                success,
                match_index,
                round,
            } => self.on_append_response(st, src, me, term, success, match_index, round),
            Msg::InstallSnapshot {
                term,
                last_index,
                last_term,
                entries,
            } => self.on_install_snapshot(st, src, me, term, last_index, last_term, entries),
        }
    }

    /// raft.prevote.grant — docs/protocols/raft.md.
    fn on_pre_vote(
        &self,
        st: &mut RaftState,
        src: ServerId,
        me: ServerId,
        term: Term,
        last_log_term: Term,
        last_log_index: LogIndex,
    ) {
        fire(PREVOTE_GRANT);
        if !guard(PREVOTE_NOT_IN_LEASE, !self.in_lease(st, me)) {
            return;
        }
        let s = &st.servers[me.ix()];
        let newer = guard(PREVOTE_NEWER, term > s.term);
        let log_ok = s.up_to_date_guarded(
            last_log_term,
            last_log_index,
            PREVOTE_LOG_TERM,
            PREVOTE_LOG_INDEX,
        );
        let reply = if newer && log_ok {
            Msg::PreVoteResponse {
                term,
                granted: true,
            }
        } else {
            Msg::PreVoteResponse {
                term: s.term,
                granted: false,
            }
        };
        self.send(st, me, src, reply);
    }

    /// raft.prevote.count — docs/protocols/raft.md (a refusal of a newer term was adopted in
    /// `on_message`).
    fn on_pre_vote_response(
        &self,
        st: &mut RaftState,
        src: ServerId,
        me: ServerId,
        term: Term,
        granted: bool,
    ) {
        fire(PREVOTE_COUNT);
        let majority = self.majority();
        let s = &mut st.servers[me.ix()];
        let counted = granted && s.role == Role::PreCandidate && term.0 == s.term.0 + 1;
        if !guard(PREVOTE_COUNTED, counted) {
            return;
        }
        s.votes |= src.bit();
        if !quorum(PREVOTE_MAJORITY, s.votes.count_ones() as usize, majority) {
            return;
        }
        if self.is(Mutant::PreVoteLeads) {
            // The pre-vote taken for the election itself: leader of the next term without a
            // single real vote.
            s.term = term;
            s.voted_for = Some(me);
            s.role = Role::Candidate;
            return self.become_leader(st, me);
        }
        self.start_election(st, me);
    }

    /// raft.vote.grant — docs/protocols/raft.md (and raft.lease.ignore-vote).
    fn on_request_vote(
        &self,
        st: &mut RaftState,
        src: ServerId,
        me: ServerId,
        term: Term,
        last_log_term: Term,
        last_log_index: LogIndex,
    ) {
        if term > st.servers[me.ix()].term && self.in_lease(st, me) {
            return; // raft.lease.ignore-vote: a stray candidate cannot depose a live leader
        }
        fire(VOTE_GRANT);
        let s = &mut st.servers[me.ix()];
        let current = guard(VOTE_CURRENT_TERM, term == s.term);
        let log_ok = self.is(Mutant::VoteIgnoresLog)
            || s.up_to_date_guarded(last_log_term, last_log_index, VOTE_LOG_TERM, VOTE_LOG_INDEX);
        let free =
            self.is(Mutant::VoteTwice) || guard(VOTE_FREE, s.voted_for.is_none_or(|v| v == src));
        let granted = current && log_ok && free;
        if granted {
            s.voted_for = Some(src);
        } else if current && self.config.reductions {
            // A denial in the candidate's own term can change nothing at the candidate (it counts
            // grants only), so it is not sent (a reduction: with the reductions off it is). A
            // denial to an older term is: it carries the newer term that makes a stale candidate
            // step down.
            return;
        }
        let reply = Msg::RequestVoteResponse {
            term: s.term,
            granted,
        };
        self.send(st, me, src, reply);
    }

    /// raft.vote.count — docs/protocols/raft.md.
    fn on_vote_response(
        &self,
        st: &mut RaftState,
        src: ServerId,
        me: ServerId,
        term: Term,
        granted: bool,
    ) {
        fire(VOTE_COUNT);
        let majority = self.majority();
        let s = &mut st.servers[me.ix()];
        // (A response of an older term is a dead message, collected before it can arrive, and
        // one of a newer term made the receiver a follower: `current` is a guard of no rule the
        // model can reach otherwise.)
        let current = term == s.term || (self.is(Mutant::CountStaleVotes) && term < s.term);
        if !guard(VOTE_CANDIDATE, s.role == Role::Candidate) || !current || !granted {
            return;
        }
        let votes = if self.is(Mutant::CountDuplicateVotes) {
            s.votes += 1;
            s.votes as usize
        } else {
            s.votes |= src.bit();
            s.votes.count_ones() as usize
        };
        if quorum(VOTE_MAJORITY, votes, majority) {
            self.become_leader(st, me);
        }
    }

    /// raft.vote.count — docs/protocols/raft.md: a majority of grants makes the candidate leader:
    /// `next_index[j] = length + 1`, `match_index[j] = 0`, the no-op if configured, then
    /// AppendEntries with entries to every peer.
    fn become_leader(&self, st: &mut RaftState, me: ServerId) {
        let s = &mut st.servers[me.ix()];
        s.role = Role::Leader;
        s.clear_candidate_and_leader_state();
        let next = LogIndex(s.last_index().0 + 1);
        let n = self.config.servers as usize;
        s.next_index[..n].fill(next);
        if self.config.leader_noop {
            let term = s.term;
            s.log.push(Entry {
                term,
                value: Value::NOOP,
            });
        }
        self.advance_commit(st, me);
        self.replicate(st, me);
    }

    /// The term rules of a message only a leader sends (AppendEntries, InstallSnapshot), after
    /// any newer term was adopted: a stale one is refused with the receiver's term, which makes
    /// the old leader step down; a candidate or pre-candidate of the same term has lost and
    /// becomes follower; the follower is in lease (`--pre-vote`). Returns whether the receiver
    /// goes on to handle the message. raft.append.receive — docs/protocols/raft.md.
    fn heed_leader(&self, st: &mut RaftState, src: ServerId, me: ServerId, term: Term) -> bool {
        fire(APPEND_RECEIVE);
        let s = &mut st.servers[me.ix()];
        if !guard(APPEND_CURRENT_TERM, term >= s.term) {
            let reject = Msg::AppendEntriesResponse {
                term: s.term,
                success: false,
                match_index: LogIndex(0),
                round: 0, // raft.read.round: proves nothing to anyone
            };
            self.send(st, me, src, reject);
            return false;
        }
        match s.role {
            // Two leaders in one term: only reachable when election safety is already broken.
            Role::Leader => return false,
            Role::Candidate | Role::PreCandidate => {
                s.role = Role::Follower;
                s.clear_candidate_and_leader_state();
            }
            Role::Follower => {}
        }
        s.heard_leader = self.config.pre_vote;
        true
    }

    /// raft.append.receive, raft.append.log-check, raft.snapshot.log-check,
    /// raft.append.entries, raft.append.commit — docs/protocols/raft.md.
    #[allow(clippy::too_many_arguments)] // the message's fields, unpacked
    fn on_append_entries(
        &self,
        st: &mut RaftState,
        src: ServerId,
        me: ServerId,
        term: Term,
        prev: LogIndex,
        prev_term: Term,
        entries: Entries,
        commit: LogIndex,
        round: u8,
    ) {
        if !self.heed_leader(st, src, me, term) {
            return;
        }
        let s = &mut st.servers[me.ix()];
        // raft.read.round: a reply in the leader's term echoes its round.
        let reject = Msg::AppendEntriesResponse {
            term: s.term,
            success: false,
            match_index: LogIndex(0),
            round,
        };
        // Below the snapshot the log check passes: the snapshot's prefix is committed, and
        // committed entries are in every later leader's log (raft.md § Snapshots). (Always
        // false without `--snapshots`: the snapshot is 0.)
        fire(APPEND_LOG_CHECK);
        let below_snapshot = guard(SNAPSHOT_BELOW, prev < s.snapshot);
        if below_snapshot {
            fire(SNAPSHOT_LOG_CHECK);
        }
        if !below_snapshot && !guard(APPEND_PREV_MATCH, s.term_at(prev) == Some(prev_term)) {
            let reject = if self.config.pipeline {
                fire(PIPELINE_HINT);
                Msg::AppendEntriesResponse {
                    term: s.term,
                    success: false,
                    match_index: s.rejection_hint(prev, prev_term),
                    round,
                }
            } else {
                reject
            };
            self.send(st, me, src, reject);
            return;
        }
        if self.is(Mutant::TruncateOnAppend) {
            s.log.truncate(prev.max(s.snapshot).0 as usize);
        }
        fire(APPEND_ENTRIES);
        for (k, e) in entries.iter().enumerate() {
            let at = prev.0 as usize + k; // 0-based position of this entry
            if at < s.snapshot.0 as usize {
                continue; // compacted: in the snapshot, committed, never compared
            }
            match s.log.get(at) {
                Some(mine) if !guard(APPEND_CONFLICT, mine.term != e.term) => {}
                Some(_) => {
                    s.log.truncate(at);
                    s.log.push(*e);
                }
                None => s.log.push(*e),
            }
        }
        // raft.append.commit. A follower cannot commit past its own log (only reachable under
        // mutant M8's messages).
        fire(APPEND_COMMIT);
        let offered = commit.min(s.last_index());
        if guard(APPEND_COMMIT_ADVANCE, offered > s.commit) {
            s.commit = offered;
        }
        let match_index = if self.is(Mutant::AckLogLength) {
            s.last_index()
        } else {
            LogIndex(prev.0 + entries.len() as u8)
        };
        let reply = Msg::AppendEntriesResponse {
            term: s.term,
            success: true,
            match_index,
            round,
        };
        self.send(st, me, src, reply);
    }

    /// raft.snapshot.install — docs/protocols/raft.md: InstallSnapshot at the receiver, after the term rules of any
    /// message. A snapshot at or below the commit index changes nothing; otherwise it replaces
    /// the state machine (the log's prefix up to `last_index`) and the commit index, and the
    /// entries after it are kept if the log holds `last_index` with `last_term` (Figure 13 step
    /// 6), else discarded with the rest (step 7). Either way the reply is a success up to
    /// `last_index`, which the leader handles as any other.
    #[allow(clippy::too_many_arguments)] // the message's fields, unpacked
    fn on_install_snapshot(
        &self,
        st: &mut RaftState,
        src: ServerId,
        me: ServerId,
        term: Term,
        last_index: LogIndex,
        last_term: Term,
        entries: Entries,
    ) {
        assert_eq!(
            entries.len(),
            last_index.0 as usize,
            "a snapshot holds its whole prefix"
        );
        if !self.heed_leader(st, src, me, term) {
            return;
        }
        fire(SNAPSHOT_INSTALL);
        let s = &mut st.servers[me.ix()];
        if guard(INSTALL_BEYOND_COMMIT, last_index > s.commit) {
            let tail_kept = guard(INSTALL_KEEP_TAIL, s.term_at(last_index) == Some(last_term))
                && !self.is(Mutant::InstallDropsTail);
            let tail: Entries = if tail_kept {
                // (Empty past the end: only an ablated guard keeps a tail the log does not have.)
                s.log
                    .get(last_index.0 as usize..)
                    .unwrap_or(&[])
                    .iter()
                    .copied()
                    .collect()
            } else {
                Entries::new()
            };
            s.log = entries;
            for e in tail.iter() {
                s.log.push(*e);
            }
            s.snapshot = last_index;
            s.commit = last_index;
        }
        // raft.read.round: an InstallSnapshot carries no round, so its answer confirms none.
        let reply = Msg::AppendEntriesResponse {
            term: s.term,
            success: true,
            match_index: last_index,
            round: 0,
        };
        self.send(st, me, src, reply);
    }

    /// raft.append.response, raft.checkquorum.recent, raft.pipeline.reject —
    /// docs/protocols/raft.md (and raft.read.confirm through `confirm_reads`).
    #[allow(clippy::too_many_arguments)] // the message's fields, unpacked
    fn on_append_response(
        &self,
        st: &mut RaftState,
        src: ServerId,
        me: ServerId,
        term: Term,
        success: bool,
        match_index: LogIndex,
        round: u8,
    ) {
        fire(APPEND_RESPONSE);
        let s = &mut st.servers[me.ix()];
        // (`term != s.term` as for RequestVoteResponse: a dead or newer-term response, never
        // seen here by a leader.)
        if !guard(RESPONSE_LEADER, s.role == Role::Leader) || term != s.term {
            return;
        }
        if !s.reads.is_empty() {
            self.confirm_reads(st, me, src.ix(), round);
        }
        let s = &mut st.servers[me.ix()];
        if self.config.pre_vote {
            fire(CHECKQUORUM_RECENT);
            if guard(CHECKQUORUM_NEW_PEER, s.recent & src.bit() == 0) {
                s.recent |= src.bit();
            }
        }
        let j = src.ix();
        if success {
            // A follower never has more of this leader's log than the leader (only mutant M9's
            // acknowledgements claim otherwise).
            let match_index = match_index.min(s.last_index());
            if guard(RESPONSE_MATCH_MAX, match_index >= s.match_index[j]) {
                s.match_index[j] = match_index;
            }
            let next = LogIndex(match_index.0 + 1);
            if guard(RESPONSE_NEXT_MAX, next >= s.next_index[j]) {
                s.next_index[j] = next;
            }
            let behind = guard(RESPONSE_BEHIND, s.next_index[j] <= s.last_index());
            self.advance_commit(st, me);
            if behind {
                self.send_append(st, me, src, true);
                if self.is(Mutant::PipelineCountsSent) {
                    self.advance_commit(st, me);
                }
            }
        } else if self.config.pipeline {
            // raft.pipeline.reject: back to just after the hint, never below what is known
            // replicated, and never forward.
            fire(PIPELINE_REJECT);
            let hint = LogIndex(match_index.0.saturating_add(1));
            let back = LogIndex(s.next_index[j].0.saturating_sub(1).max(1)).min(hint);
            let floor = LogIndex(s.match_index[j].0 + 1);
            s.next_index[j] = if guard(PIPELINE_ABOVE_MATCH, back >= floor) {
                back
            } else {
                floor
            };
            if self.is(Mutant::HintAsMatch) {
                // The hint taken as proof that the follower's log matches up to it.
                s.match_index[j] = s.match_index[j].max(match_index.min(s.last_index()));
                self.advance_commit(st, me);
            }
            self.send_append(st, me, src, true);
            if self.is(Mutant::PipelineCountsSent) {
                self.advance_commit(st, me);
            }
        } else {
            s.next_index[j] = LogIndex(s.next_index[j].0.saturating_sub(1).max(1));
            self.send_append(st, me, src, true);
        }
    }

    /// raft.commit.advance — docs/protocols/raft.md: the largest N replicated on a majority
    /// whose entry is of the current term (Figure 2, and Figure 8 for why the term matters).
    fn advance_commit(&self, st: &mut RaftState, me: ServerId) {
        fire(COMMIT_ADVANCE);
        let majority = self.majority();
        let s = &mut st.servers[me.ix()];
        for n in (s.commit.0 + 1..=s.last_index().0).rev() {
            let replicas = 1
                + (0..self.config.servers as usize)
                    .filter(|&j| j != me.ix() && s.match_index[j].0 >= n)
                    .count();
            if !quorum(COMMIT_MAJORITY, replicas, majority) {
                continue;
            }
            let current_term = s.log[n as usize - 1].term == s.term;
            if guard(COMMIT_CURRENT_TERM, current_term) || self.is(Mutant::CommitPreviousTerm) {
                s.commit = LogIndex(n);
                return;
            }
        }
    }

    /// raft.snapshot.take — docs/protocols/raft.md: the log up to the commit index becomes the
    /// snapshot (under mutant SN1, the whole log, committed or not).
    pub(crate) fn on_compact(&self, st: &mut RaftState, me: ServerId) {
        fire(SNAPSHOT_TAKE);
        let s = &mut st.servers[me.ix()];
        let upto = if self.is(Mutant::CompactUncommitted) {
            s.last_index()
        } else {
            s.commit
        };
        // Enabled only when it moves the snapshot forward (`may_compact`); an ablated
        // enabledness makes it a no-op, never a step back.
        s.snapshot = s.snapshot.max(upto);
    }

    pub(crate) fn on_crash(&self, st: &mut RaftState, me: ServerId) {
        let s = &mut st.servers[me.ix()];
        s.up = false;
        s.lose_volatile_state();
        st.network.drop_to(me.0);
        st.crashes += 1;
    }

    /// Restart from disk: term, vote, snapshot and log come back (unless a mutant forgot to
    /// persist them). A snapshot holds only committed entries, so the commit index starts at its
    /// last index (0 without one, as in raft.tla).
    pub(crate) fn on_restart(&self, st: &mut RaftState, me: ServerId) {
        let s = &mut st.servers[me.ix()];
        s.up = true;
        s.commit = s.snapshot;
        if self.is(Mutant::VolatileVote) {
            s.voted_for = None;
        }
        if self.is(Mutant::VolatileTerm) {
            s.term = Term(0);
        }
    }
}
