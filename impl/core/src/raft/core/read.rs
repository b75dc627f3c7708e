//! Linearizable reads without the log: ReadIndex (Raft thesis §6.4), rule by rule as in
//! `docs/protocols/raft.md` § Linearizable reads (raft.read.*).
//!
//! A leader answers a batch of reads with a read index (its commit index) once a majority has
//! answered an `AppendEntries` sent after the batch arrived; the runtime serves each read from
//! the state machine once it has applied that index. A follower forwards its reads to its
//! leader (`ReadIndex`) and serves them at the index the leader returns.

use super::{Message, RaftCore, Role};
use crate::command::Command;
use crate::raft::mutants::ImplMutant;
use crate::types::{LogIndex, RequestId, ServerId};
use std::collections::{BTreeMap, VecDeque};

/// Reads a leader holds (pending and waiting together) or a follower has forwarded, at most;
/// more are refused. Local reads are bounded by the runtime's queues; this bounds what peers'
/// `ReadIndex` requests can make a leader keep.
pub const MAX_READS_HELD: usize = 1 << 16;

/// Who asked for a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// Clients of this server.
    Local(Vec<RequestId>),
    /// A follower's `ReadIndex` request.
    Remote { from: ServerId, ctx: u64 },
}

/// A read whose round is not yet confirmed.
#[derive(Clone, Debug)]
pub(super) struct PendingRead {
    read_index: LogIndex,
    round: u64,
    origin: Origin,
}

/// The read state of one server. Everything is volatile.
#[derive(Clone, Debug, Default)]
pub(super) struct Reads {
    /// Leader: the confirmation round of this term (raft.read.start).
    round: u64,
    /// Leader: per peer, the highest round echoed in this term, kept only while a read is
    /// pending (a new read's round is above every echo so far).
    acked: BTreeMap<ServerId, u64>,
    /// Leader: reads with a round, oldest first.
    pending: VecDeque<PendingRead>,
    /// Leader: reads that wait for a round (no entry of this term committed yet, or the bound
    /// on rounds in flight reached).
    waiting: Vec<Origin>,
    /// Follower: reads forwarded to the leader, by `ctx`.
    forwarded: BTreeMap<u64, Vec<RequestId>>,
    next_ctx: u64,
}

impl Reads {
    fn held(&self) -> usize {
        self.pending.len() + self.waiting.len() + self.forwarded.len()
    }
}

impl RaftCore {
    /// The leader's confirmation round in its term (0 otherwise).
    pub fn read_round(&self) -> u64 {
        self.reads.round
    }

    /// Per peer, the highest round it echoed while a read was pending (empty otherwise).
    pub fn read_acks(&self) -> &BTreeMap<ServerId, u64> {
        &self.reads.acked
    }

    /// The leader's reads awaiting confirmation, oldest first: `(read_index, round, reads)`.
    pub fn pending_reads(&self) -> impl Iterator<Item = (LogIndex, u64)> + '_ {
        self.reads.pending.iter().map(|r| (r.read_index, r.round))
    }

    /// `Event::Read`: a leader starts (or queues) them, a follower that knows its leader
    /// forwards them, anyone else refuses them.
    pub(super) fn on_read(&mut self, requests: Vec<RequestId>) {
        if requests.is_empty() {
            return;
        }
        if self.reads.held() >= MAX_READS_HELD {
            return self.refuse_local(requests);
        }
        match (self.role, self.leader) {
            (Role::Leader, _) => self.start_read(Origin::Local(requests)),
            (Role::Follower, Some(leader)) => {
                // raft.read.forward
                let ctx = self.reads.next_ctx;
                self.reads.next_ctx += 1;
                self.reads.forwarded.insert(ctx, requests);
                let msg = Message::ReadIndex {
                    term: self.term,
                    ctx,
                };
                self.emit(Command::Send { to: leader, msg });
            }
            _ => self.refuse_local(requests),
        }
    }

    fn refuse_local(&mut self, requests: Vec<RequestId>) {
        let leader = self.leader.filter(|&l| l != self.config.id);
        for request in requests {
            self.emit(Command::ClientRejected { request, leader });
        }
    }

    fn refuse(&mut self, origin: Origin) {
        match origin {
            Origin::Local(requests) => self.refuse_local(requests),
            Origin::Remote { from, ctx } => {
                let msg = Message::ReadIndexResponse {
                    term: self.term,
                    ctx,
                    read_index: None,
                };
                self.emit(Command::Send { to: from, msg });
            }
        }
    }

    /// raft.read.start: whether this leader has committed an entry of its term.
    fn committed_in_term(&self) -> bool {
        self.role == Role::Leader && self.term_at(self.commit) == self.term
    }

    /// raft.read.start: a read at a leader that has committed an entry of its term starts a
    /// round at its commit index and sends a heartbeat carrying it to every peer; otherwise (or
    /// with `max_read_rounds` rounds unconfirmed) it waits. A leader that is a majority alone
    /// serves at once.
    fn start_read(&mut self, origin: Origin) {
        let rounds_in_flight = self.reads.pending.back().map_or(0, |newest| {
            let oldest = self.reads.pending.front().expect("not empty").round;
            (newest.round - oldest + 1) as usize
        });
        if !self.committed_in_term() || rounds_in_flight >= self.config.max_read_rounds {
            self.reads.waiting.push(origin);
            return;
        }
        let read_index = self.commit;
        if self.is_majority(1) || self.mutated(ImplMutant::ReadWithoutConfirm) {
            // MUTANT(read-without-confirm): served at once, with no proof that no newer
            // leader exists.
            return self.serve(read_index, origin);
        }
        self.reads.round += 1;
        let round = self.reads.round;
        self.reads.pending.push_back(PendingRead {
            read_index,
            round,
            origin,
        });
        let peers: Vec<ServerId> = self.peers().collect();
        for j in peers {
            self.send_heartbeat(j);
        }
    }

    /// Starts one round for every waiting read, if they may start now: after a commit in this
    /// term, or after a round was confirmed.
    pub(super) fn start_waiting_reads(&mut self) {
        if self.reads.waiting.is_empty() || !self.committed_in_term() {
            return;
        }
        let waiting = std::mem::take(&mut self.reads.waiting);
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for origin in waiting {
            match origin {
                Origin::Local(requests) => local.extend(requests),
                remote_read => remote.push(remote_read),
            }
        }
        // One round for the lot: start the first, and the rest join it.
        let before = self.reads.pending.len();
        let mut origins = remote;
        if !local.is_empty() {
            origins.insert(0, Origin::Local(local));
        }
        let mut origins = origins.into_iter();
        if let Some(first) = origins.next() {
            self.start_read(first);
        }
        if self.reads.pending.len() > before {
            let round = self.reads.round;
            let read_index = self.reads.pending.back().expect("just pushed").read_index;
            for origin in origins {
                self.reads.pending.push_back(PendingRead {
                    read_index,
                    round,
                    origin,
                });
            }
        } else {
            for origin in origins {
                self.start_read(origin);
            }
        }
    }

    /// raft.read.serve: the reads may be served once `read_index` is applied.
    fn serve(&mut self, read_index: LogIndex, origin: Origin) {
        match origin {
            Origin::Local(requests) => {
                for request in requests {
                    self.emit(Command::ReadReady {
                        request,
                        index: read_index,
                    });
                }
            }
            Origin::Remote { from, ctx } => {
                let msg = Message::ReadIndexResponse {
                    term: self.term,
                    ctx,
                    read_index: Some(read_index),
                };
                self.emit(Command::Send { to: from, msg });
            }
        }
    }

    /// raft.read.confirm: an `AppendEntriesResponse` of this leader's term from `from` echoed
    /// `round`; every read whose round a majority (this leader included) has echoed is served.
    pub(super) fn confirm_reads(&mut self, from: ServerId, round: u64) {
        if self.reads.pending.is_empty() {
            return;
        }
        let acked = self.reads.acked.entry(from).or_default();
        *acked = (*acked).max(round);
        let mut served = Vec::new();
        while let Some(front) = self.reads.pending.front() {
            let echoed = self
                .reads
                .acked
                .values()
                .filter(|&&r| r >= front.round)
                .count();
            if !self.is_majority(1 + echoed) {
                break;
            }
            served.push(self.reads.pending.pop_front().expect("front exists"));
        }
        if served.is_empty() {
            return;
        }
        if self.reads.pending.is_empty() {
            self.reads.acked.clear();
        }
        for read in served {
            self.serve(read.read_index, read.origin);
        }
        self.start_waiting_reads();
    }

    /// raft.read.forward, at the leader: a follower's `ReadIndex` of this leader's term is a
    /// read like any other; anything else is refused.
    pub(super) fn on_read_index(&mut self, from: ServerId, term: crate::types::Term, ctx: u64) {
        let origin = Origin::Remote { from, ctx };
        if self.role != Role::Leader || term != self.term || self.reads.held() >= MAX_READS_HELD {
            return self.refuse(origin);
        }
        self.start_read(origin);
    }

    /// raft.read.forward, back at the follower: its reads may be served at the leader's read
    /// index, if the answer comes from its leader of its term.
    pub(super) fn on_read_index_response(
        &mut self,
        from: ServerId,
        term: crate::types::Term,
        ctx: u64,
        read_index: Option<LogIndex>,
    ) {
        let Some(requests) = self.reads.forwarded.remove(&ctx) else {
            return; // already refused (the leader changed), or not ours
        };
        match read_index {
            Some(index) if term == self.term && self.leader == Some(from) => {
                for request in requests {
                    self.emit(Command::ReadReady { request, index });
                }
            }
            _ => self.refuse_local(requests),
        }
    }

    /// A change of role or term ends every read this server holds: a leader's pending and
    /// waiting reads and a follower's forwarded ones are refused (their clients retry), and a
    /// leader's rounds start again at 0.
    pub(super) fn end_reads(&mut self) {
        let reads = std::mem::take(&mut self.reads);
        let next_ctx = reads.next_ctx;
        for read in reads.pending {
            self.refuse(read.origin);
        }
        for origin in reads.waiting {
            self.refuse(origin);
        }
        for (_, requests) in reads.forwarded {
            self.refuse_local(requests);
        }
        self.reads.next_ctx = next_ctx;
    }
}
