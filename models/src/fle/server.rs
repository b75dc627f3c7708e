//! One server's FastLeaderElection as a reusable component: the state of one `FastLeaderElection`
//! instance (plus the `QuorumPeer` fields it reads and writes) and pure functions for each input.
//! The FLE model drives it over its network; the ZAB model embeds it as its election.
//!
//! The receiver thread (`WorkerReceiver`) and the election thread (`lookForLeader`) are merged: a
//! notification is handled by both when it is delivered, the receiver's reply first. Line numbers
//! refer to ZooKeeper 3.9.4's FastLeaderElection.java, identical to 3.8 (reference §1).

use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

use super::mutants::FleMutant;
use super::rules as r;
use super::types::{
    Epoch, Notification, Round, Servers, Sid, Vote, ZkState, Zxid, CURRENT_VERSION, MAX_SERVERS,
};
use crate::coverage::{self, fire, guard, Ablation, Guard};

/// What the election reads from the server's persistent state (ZAB owns it): `currentEpoch`
/// (the vote's `peerEpoch`) and the last logged zxid.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct History {
    pub current_epoch: Epoch,
    pub last_zxid: Zxid,
}

impl History {
    /// The server's initial vote for itself (`getInitId`, `getInitLastLoggedZxid`, `getPeerEpoch`).
    pub fn self_vote(self, me: Sid) -> Vote {
        Vote {
            leader: me,
            zxid: self.last_zxid,
            peer_epoch: self.current_epoch,
        }
    }

    /// The order in which ZAB needs the leader to be most up to date: `(currentEpoch, zxid)`.
    pub fn key(self) -> (Epoch, Zxid) {
        (self.current_epoch, self.last_zxid)
    }
}

/// Votes received, one slot per sender (`recvset`, `outofelection`: `HashMap<Long, Vote>`).
pub type VoteTable = [Option<Notification>; MAX_SERVERS];

/// One server's election state. `Copy`, so a model state holding several clones with a memcpy.
///
/// Fields that are dead in the current state are kept at their defaults (recvset, outofelection,
/// proposal and `finalizing` once decided; `current` while LOOKING), so that situations that
/// behave alike are equal values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FleServer {
    /// `QuorumPeer.state`: set by the election when it decides; ZAB sets it back to LOOKING (by
    /// calling [`Fle::start_election`]) when it gives up.
    pub state: ZkState,
    /// `logicalclock`: the election round. 0 in a fresh process, 1 in its first election.
    pub logicalclock: Round,
    /// `proposedLeader`, `proposedZxid`, `proposedEpoch` (LOOKING only).
    pub proposal: Vote,
    /// In the finalize wait (l.1050): a quorum agrees with the proposal; the next step either
    /// decides ([`Fle::finalize`]) or a better vote arrives and the wait ends.
    pub finalizing: bool,
    /// Votes of this round (LOOKING only).
    pub recvset: VoteTable,
    /// FOLLOWING/LEADING votes of any round, kept for the whole election (LOOKING only).
    pub outofelection: VoteTable,
    /// `QuorumPeer.currentVote` once decided: what this server answers LOOKING peers with.
    pub current: Option<Notification>,
}

// Hashing is the checker's inner loop: one word per table slot, not one write per field.
impl Hash for FleServer {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let slot = |n: &Option<Notification>| n.map_or(0, |n| n.packed() | 1 << 63);
        h.write_u64(
            self.state as u64
                | (self.logicalclock.0 as u64) << 8
                | (self.finalizing as u64) << 16
                | (self.proposal.leader.0 as u64) << 24
                | (self.proposal.zxid.epoch.0 as u64) << 32
                | (self.proposal.zxid.counter as u64) << 40
                | (self.proposal.peer_epoch.0 as u64) << 48,
        );
        for n in self.recvset.iter().chain(&self.outofelection) {
            h.write_u64(slot(n));
        }
        h.write_u64(slot(&self.current));
    }
}

impl FleServer {
    /// A server whose process just started: no election yet (`logicalclock` 0).
    pub fn fresh() -> Self {
        Self::default()
    }
}

/// A message to send: one notification to a set of servers (`sendNotifications` sends one to
/// every voter, self included, by loopback; the receiver's replies go to one server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Send {
    pub to: Servers,
    pub msg: Notification,
}

/// How a decision was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionPath {
    /// A quorum of this round's LOOKING votes agreed with the proposal and the finalize wait
    /// passed without a better vote.
    Looking,
    /// A quorum of this round's votes agreed with a FOLLOWING/LEADING notification
    /// (`receivedFollowingNotification`, recvset branch).
    SameRound,
    /// A quorum of FOLLOWING/LEADING votes of any round agreed (outofelection branch): joining an
    /// established ensemble.
    OutOfElection,
}

/// The election ended: the server is now FOLLOWING or LEADING.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The end vote (`QuorumPeer.currentVote`), with the new state.
    pub vote: Notification,
    pub path: DecisionPath,
    /// The senders whose votes made the quorum, in the table the decision counted.
    pub quorum: Servers,
    /// Those of `quorum` whose counted vote was a LOOKING one (the rest were FOLLOWING/LEADING
    /// votes: a LOOKING tracker matches them on every field too).
    pub looking: Servers,
}

/// What one input produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub send: Option<Send>,
    pub decision: Option<Decision>,
}

/// The election's rules for an ensemble of `servers` voters (`QuorumMaj`), with the seeded bug if
/// any. Stateless: every function takes the server's state and the inputs ZAB owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fle {
    pub servers: u8,
    pub mutant: Option<FleMutant>,
}

impl Fle {
    pub fn new(servers: u8) -> Self {
        assert!((1..=MAX_SERVERS as u8).contains(&servers));
        Fle {
            servers,
            mutant: None,
        }
    }

    fn is(&self, m: FleMutant) -> bool {
        self.mutant == Some(m)
    }

    /// Strictly more than half of the voters (`QuorumMaj.containsQuorum`).
    pub fn quorum(&self) -> usize {
        self.servers as usize / 2 + 1
    }

    pub fn all(&self) -> Servers {
        Servers::all(self.servers)
    }

    /// `totalOrderPredicate(new, cur)` (l.723), rule `fle.vote.order`: whether `new` succeeds
    /// `cur`; the first of `(peerEpoch, zxid, sid)` that differs decides. Every server has weight
    /// 1, so the observer clause never applies.
    pub fn total_order(&self, new: Vote, cur: Vote) -> bool {
        fire(r::VOTE_ORDER);
        self.order_with(new, cur, guard)
    }

    /// The comparator as [`Fle::total_order`] runs it (ablation included) without counting
    /// coverage: for properties, which check the comparator the model runs but are no use of it.
    pub fn total_order_unrecorded(&self, new: Vote, cur: Vote) -> bool {
        self.order_with(new, cur, unrecorded)
    }

    #[inline]
    fn order_with(&self, new: Vote, cur: Vote, g: fn(Guard, bool) -> bool) -> bool {
        let (e, z, id) = new.key();
        let (e2, z2, id2) = cur.key();
        if self.is(FleMutant::Zk1419) {
            // ZOOKEEPER-1419: the last clause lost its `newEpoch == curEpoch` guard.
            return e > e2 || (e == e2 && z > z2) || (z == z2 && id > id2);
        }
        if e != e2 {
            g(r::ORDER_EPOCH, e > e2)
        } else if z != z2 {
            g(r::ORDER_ZXID, z > z2)
        } else {
            g(r::ORDER_SID, id > id2)
        }
    }

    /// `Vote.equals` (Vote.java l.107), as quorum counting uses it: rule `fle.vote.equals`.
    pub fn vote_equals(&self, a: &Notification, b: &Notification) -> bool {
        let full = a.leader == b.leader
            && a.zxid == b.zxid
            && a.election_epoch == b.election_epoch
            && a.peer_epoch == b.peer_epoch;
        if self.is(FleMutant::Zk1805) {
            return full;
        }
        if a.state == ZkState::Looking || b.state == ZkState::Looking {
            return guard(r::EQUALS_LOOKING, full);
        }
        // Out of election: zxid and electionEpoch are stale by design (ZOOKEEPER-1805); peerEpoch
        // is skipped too when exactly one side has no version (ZOOKEEPER-1732).
        if (a.version > 0) ^ (b.version > 0) {
            guard(r::EQUALS_ID, a.leader == b.leader)
        } else {
            guard(
                r::EQUALS_ID_EPOCH,
                a.leader == b.leader && a.peer_epoch == b.peer_epoch,
            )
        }
    }

    /// The senders whose votes in `table` equal `tracker` (`getVoteTracker`), and those of them
    /// whose vote was a LOOKING one. Rule `fle.vote.equals` fires once per count (not per slot:
    /// this is the checker's inner loop).
    fn agreeing(&self, table: &VoteTable, tracker: &Notification) -> (Servers, Servers) {
        fire(r::VOTE_EQUALS);
        let (mut q, mut looking) = (Servers::default(), Servers::default());
        for (i, v) in table.iter().enumerate().take(self.servers as usize) {
            if let Some(v) = v.filter(|v| self.vote_equals(tracker, v)) {
                q.insert(Sid(i as u8));
                if v.state == ZkState::Looking {
                    looking.insert(Sid(i as u8));
                }
            }
        }
        (q, looking)
    }

    /// `checkLeader` (l.793): another leader must have told us it is LEADING (guard `leading`);
    /// we may lead only in the round the votes are from (guard `own_round`, `None` where the
    /// caller has already established it: the recvset branch runs only in that round).
    fn check_leader(
        &self,
        s: &FleServer,
        me: Sid,
        table: &VoteTable,
        leader: Sid,
        round: Round,
        (leading, own_round): (Guard, Option<Guard>),
    ) -> bool {
        if leader != me {
            let ok = table
                .get(leader.ix())
                .is_some_and(|v| v.is_some_and(|v| v.state == ZkState::Leading));
            guard(leading, ok)
        } else {
            let ok = s.logicalclock == round;
            own_round.map_or(ok, |g| guard(g, ok))
        }
    }

    /// The notification `sendNotifications` sends now (LOOKING only).
    pub fn notification(&self, s: &FleServer) -> Notification {
        assert_eq!(
            s.state,
            ZkState::Looking,
            "only a LOOKING server sends its proposal"
        );
        Notification::new(ZkState::Looking, s.proposal, s.logicalclock)
    }

    fn broadcast(&self, s: &FleServer) -> Send {
        Send {
            to: self.all(),
            msg: self.notification(s),
        }
    }

    /// `lookForLeader()` starts (l.913), rule `fle.round.start`: a new round, a vote for itself, to every voter. Called when
    /// the process starts and whenever ZAB gives up and returns the server to LOOKING.
    pub fn start_election(&self, s: &mut FleServer, me: Sid, h: History) -> Send {
        fire(r::ROUND_START);
        let round = Round(s.logicalclock.0.saturating_add(1));
        *s = FleServer {
            state: ZkState::Looking,
            logicalclock: round,
            proposal: h.self_vote(me),
            ..FleServer::default()
        };
        self.broadcast(s)
    }

    /// The poll for notifications timed out (l.965): send the same notification again, to every
    /// voter; rule `fle.notification.timeout`. (The caller may send it only where it makes a
    /// difference.)
    pub fn notification_timeout(&self, s: &FleServer) -> Send {
        debug_assert!(s.state == ZkState::Looking);
        debug_assert!(!s.finalizing || coverage::ablation().is_some());
        fire(r::NOTIFICATION_TIMEOUT);
        self.broadcast(s)
    }

    /// A notification from `from` is delivered: the receiver thread's reply
    /// (`fle.reply.looking-peer`, `fle.reply.lower-round`), then `lookForLeader`'s handling (or
    /// the finalize wait's, `fle.decide.finalize-wait`).
    pub fn on_notification(
        &self,
        s: &mut FleServer,
        me: Sid,
        h: History,
        from: Sid,
        n: Notification,
    ) -> Output {
        let mut out = Output::default();
        if s.state.decided() {
            // WorkerReceiver (l.440): a LOOKING peer is told what we decided, with our state and
            // the round we decided in; FOLLOWING/LEADING peers are ignored.
            fire(r::REPLY_LOOKING_PEER);
            if guard(r::REPLY_PEER_IS_LOOKING, n.state == ZkState::Looking) {
                if let Some(current) = s.current {
                    out.send = Some(Send {
                        to: Servers::one(from),
                        msg: Notification {
                            state: s.state,
                            version: CURRENT_VERSION,
                            ..current
                        },
                    });
                }
            }
            return out;
        }
        // WorkerReceiver (l.412): a LOOKING peer in an older round gets our vote at once.
        fire(r::REPLY_LOWER_ROUND);
        if guard(r::LOWER_PEER_IS_LOOKING, n.state == ZkState::Looking)
            && guard(r::LOWER_ROUND_OLDER, n.election_epoch < s.logicalclock)
        {
            out.send = Some(Send {
                to: Servers::one(from),
                msg: self.notification(s),
            });
        }
        if s.finalizing {
            // The finalize wait (l.1050) drops what is not better; a better vote ends the wait
            // and is handled as usual (ZooKeeper re-queues it).
            fire(r::FINALIZE_WAIT);
            if !guard(r::WAIT_BETTER, self.total_order(n.vote(), s.proposal)) {
                return out;
            }
            s.finalizing = false;
        }
        match n.state {
            ZkState::Looking => self.on_looking(s, me, h, from, n, &mut out),
            ZkState::Following | ZkState::Leading => self.on_decided(s, me, from, n, &mut out),
        }
        out
    }

    /// A LOOKING notification (l.1004–1066): rules `fle.notification.newer-round`,
    /// `fle.notification.older-round`, `fle.notification.same-round`, then `fle.decide.quorum`.
    fn on_looking(
        &self,
        s: &mut FleServer,
        me: Sid,
        h: History,
        from: Sid,
        n: Notification,
        out: &mut Output,
    ) {
        fire(r::NEWER_ROUND);
        if guard(r::NEWER_IS_NEWER, n.election_epoch > s.logicalclock) {
            s.logicalclock = n.election_epoch;
            s.recvset = VoteTable::default();
            let mine = h.self_vote(me);
            s.proposal = if guard(r::NEWER_BETTER_THAN_OWN, self.total_order(n.vote(), mine)) {
                n.vote()
            } else {
                mine
            };
            no_reply_yet(out);
            out.send = Some(self.broadcast(s));
        } else {
            fire(r::OLDER_ROUND);
            if !guard(r::OLDER_SAME_ROUND, n.election_epoch >= s.logicalclock) {
                return;
            }
            fire(r::SAME_ROUND);
            if guard(r::SAME_BETTER, self.total_order(n.vote(), s.proposal)) {
                s.proposal = n.vote();
                no_reply_yet(out);
                out.send = Some(self.broadcast(s));
            }
        }
        if let Some(slot) = s.recvset.get_mut(from.ix()) {
            *slot = Some(Notification {
                state: ZkState::Looking,
                version: 0,
                ..n
            });
        }
        let tracker = Notification {
            version: 0,
            ..Notification::new(ZkState::Looking, s.proposal, s.logicalclock)
        };
        fire(r::DECIDE_QUORUM);
        let agree = self.agreeing(&s.recvset, &tracker).0.len();
        if coverage::quorum(r::DECIDE_HAS_QUORUM, agree, self.quorum()) {
            s.finalizing = true;
        }
    }

    /// A FOLLOWING or LEADING notification (`receivedFollowingNotification`, l.1146): rules
    /// `fle.decided.same-round` (the recvset branch) and `fle.outofelection.join`.
    fn on_decided(&self, s: &mut FleServer, me: Sid, from: Sid, n: Notification, out: &mut Output) {
        fire(r::DECIDED_SAME_ROUND);
        if guard(r::DSR_ROUND, n.election_epoch == s.logicalclock) {
            // Stored without a version (l.1153), which `Vote.equals` reads.
            if let Some(slot) = s.recvset.get_mut(from.ix()) {
                *slot = Some(Notification { version: 0, ..n });
            }
            let q = self.agreeing(&s.recvset, &n);
            // `checkLeader` is pure: evaluated whatever the count, so that its guard is seen
            // both ways (with at most four servers a quorum of out-of-election votes for L
            // always includes L's own LEADING vote).
            let guards = (r::DSR_LEADER_LEADING, None);
            let quorum = coverage::quorum(r::DSR_QUORUM, q.0.len(), self.quorum());
            let leader_ok =
                self.check_leader(s, me, &s.recvset, n.leader, n.election_epoch, guards);
            if quorum && leader_ok {
                out.decision = Some(self.decide(s, me, n, DecisionPath::SameRound, q));
                return;
            }
        }
        fire(r::OUTOFELECTION_JOIN);
        if let Some(slot) = s.outofelection.get_mut(from.ix()) {
            *slot = Some(n);
        }
        let q = self.agreeing(&s.outofelection, &n);
        let guards = (r::OOE_LEADER_LEADING, Some(r::OOE_OWN_ROUND));
        let quorum = coverage::quorum(r::OOE_QUORUM, q.0.len(), self.quorum());
        let leader_ok =
            self.check_leader(s, me, &s.outofelection, n.leader, n.election_epoch, guards);
        if quorum && leader_ok {
            s.logicalclock = n.election_epoch;
            out.decision = Some(self.decide(s, me, n, DecisionPath::OutOfElection, q));
        }
    }

    /// The finalize wait ends with no better vote (l.1058), rule `fle.decide.finalize`: decide
    /// for the proposal.
    pub fn finalize(&self, s: &mut FleServer, me: Sid) -> Decision {
        assert!(s.state == ZkState::Looking, "finalize while decided");
        debug_assert!(
            s.finalizing || coverage::ablation().is_some(),
            "finalize outside the wait"
        );
        fire(r::DECIDE_FINALIZE);
        let tracker = Notification {
            version: 0,
            ..Notification::new(ZkState::Looking, s.proposal, s.logicalclock)
        };
        let q = self.agreeing(&s.recvset, &tracker);
        // An ablated `fle.decide.quorum` may begin the wait without one; the ghost record flags
        // that decision (`decision_backed_by_quorum`) instead of a panic here.
        debug_assert!(
            q.0.len() >= self.quorum() || coverage::ablation().is_some(),
            "the wait began with a quorum and nothing was added"
        );
        let end = Notification::new(ZkState::Looking, s.proposal, s.logicalclock);
        self.decide(s, me, end, DecisionPath::Looking, q)
    }

    /// `setPeerState` and `leaveInstance`, rule `fle.decide.leave`: LEADING if the vote is for
    /// us, else FOLLOWING.
    fn decide(
        &self,
        s: &mut FleServer,
        me: Sid,
        end: Notification,
        path: DecisionPath,
        (quorum, looking): (Servers, Servers),
    ) -> Decision {
        fire(r::DECIDE_LEAVE);
        let state = if guard(r::LEAVE_OWN_VOTE, end.leader == me) {
            ZkState::Leading
        } else {
            ZkState::Following
        };
        let vote = Notification {
            state,
            version: CURRENT_VERSION,
            ..end
        };
        *s = FleServer {
            state,
            logicalclock: s.logicalclock,
            current: Some(vote),
            ..FleServer::default()
        };
        Decision {
            vote,
            path,
            quorum,
            looking,
        }
    }

    /// `QuorumPeer.updateElectionVote(newEpoch)` (l.2672): after syncing with the leader, a decided
    /// server advertises the new epoch (only `peerEpoch` changes).
    pub fn update_election_vote(&self, s: &mut FleServer, new_epoch: Epoch) {
        let current = s
            .current
            .as_mut()
            .expect("only a decided server updates its vote");
        current.peer_epoch = new_epoch;
    }
}

/// Output has one send: outside an ablation a reply never meets a broadcast (replies go only to
/// older rounds, broadcasts follow newer or better votes).
fn no_reply_yet(out: &Output) {
    debug_assert!(
        out.send.is_none() || coverage::ablation().is_some(),
        "a reply goes only to older rounds"
    );
}

/// A guard as the current ablation decides it, without counting coverage: where the model
/// re-checks a condition it already counted (an action's enabledness in `next_state`).
pub(crate) fn unrecorded(g: Guard, ok: bool) -> bool {
    match coverage::ablation() {
        Some((family, index, a)) if family == g.family && index == g.index as usize => match a {
            Ablation::Drop => true,
            Ablation::Invert => !ok,
            Ablation::QuorumBelow => ok,
        },
        _ => ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(e: u8, ze: u8, zc: u8) -> History {
        History {
            current_epoch: Epoch(e),
            last_zxid: Zxid::new(ze, zc),
        }
    }

    #[test]
    fn three_servers_elect_the_most_up_to_date_and_the_others_follow() {
        let fle = Fle::new(3);
        let h = [hist(1, 1, 2), hist(1, 1, 1), hist(1, 1, 1)];
        let mut s = [FleServer::fresh(); 3];
        let sends: Vec<Send> = (0..3)
            .map(|i| fle.start_election(&mut s[i], Sid(i as u8), h[i]))
            .collect();
        assert_eq!(sends[0].to, Servers(0b111), "to every voter, self included");
        // s1 hears s0 (better zxid): adopts it and re-broadcasts.
        let out = fle.on_notification(&mut s[1], Sid(1), h[1], Sid(0), sends[0].msg);
        assert_eq!(s[1].proposal.leader, Sid(0));
        let s1_msg = out.send.unwrap().msg;
        // s0 hears itself (loopback) and s1: a quorum of round 1 for s0.
        fle.on_notification(&mut s[0], Sid(0), h[0], Sid(0), sends[0].msg);
        assert!(!s[0].finalizing);
        fle.on_notification(&mut s[0], Sid(0), h[0], Sid(1), s1_msg);
        assert!(s[0].finalizing);
        // A worse vote during the wait is dropped; the wait goes on.
        let out = fle.on_notification(&mut s[0], Sid(0), h[0], Sid(2), sends[2].msg);
        assert_eq!(out, Output::default());
        assert!(s[0].finalizing && s[0].recvset[2].is_none());
        let d = fle.finalize(&mut s[0], Sid(0));
        assert_eq!(
            (d.vote.state, d.path, d.quorum),
            (ZkState::Leading, DecisionPath::Looking, Servers(0b011))
        );
        // s2, LOOKING, asks s0 and s1 and joins through outofelection.
        let out = fle.on_notification(&mut s[0], Sid(0), h[0], Sid(2), sends[2].msg);
        let from_leader = out.send.unwrap().msg;
        assert_eq!(from_leader.state, ZkState::Leading);
        fle.on_notification(&mut s[1], Sid(1), h[1], Sid(1), s1_msg);
        fle.on_notification(&mut s[1], Sid(1), h[1], Sid(0), sends[0].msg);
        let d1 = fle.finalize(&mut s[1], Sid(1));
        assert_eq!(d1.vote.state, ZkState::Following);
        let from_follower = fle
            .on_notification(&mut s[1], Sid(1), h[1], Sid(2), sends[2].msg)
            .send
            .unwrap()
            .msg;
        let out = fle.on_notification(&mut s[2], Sid(2), h[2], Sid(1), from_follower);
        assert!(out.decision.is_none(), "one FOLLOWING vote is not a quorum");
        let out = fle.on_notification(&mut s[2], Sid(2), h[2], Sid(0), from_leader);
        let d2 = out.decision.unwrap();
        assert_eq!(
            (d2.vote.state, d2.vote.leader),
            (ZkState::Following, Sid(0))
        );
        // Same round (1): the recvset branch decides.
        assert_eq!(d2.path, DecisionPath::SameRound);
    }

    #[test]
    fn zk_1419_makes_two_votes_each_beat_the_other() {
        let a = hist(2, 1, 1).self_vote(Sid(0));
        let b = hist(1, 1, 1).self_vote(Sid(1));
        let good = Fle::new(3);
        assert!(good.total_order(a, b) && !good.total_order(b, a));
        let bad = Fle {
            mutant: Some(FleMutant::Zk1419),
            ..good
        };
        assert!(bad.total_order(a, b) && bad.total_order(b, a));
    }

    #[test]
    fn out_of_election_votes_compare_on_id_and_peer_epoch_only() {
        let fle = Fle::new(3);
        let v = |round: u8, zc: u8, version: u8| Notification {
            state: ZkState::Following,
            leader: Sid(2),
            zxid: Zxid::new(1, zc),
            election_epoch: Round(round),
            peer_epoch: Epoch(1),
            version,
        };
        assert!(fle.vote_equals(&v(1, 1, 2), &v(3, 4, 2)));
        let looking = Notification {
            state: ZkState::Looking,
            ..v(1, 1, 2)
        };
        assert!(
            !fle.vote_equals(&looking, &v(3, 1, 2)),
            "LOOKING: every field"
        );
        let bad = Fle {
            mutant: Some(FleMutant::Zk1805),
            ..fle
        };
        assert!(!bad.vote_equals(&v(1, 1, 2), &v(3, 4, 2)));
    }
}
