//! `FleCore`: one server's FastLeaderElection, rule by rule as in `docs/protocols/fle.md`.
//!
//! ZooKeeper runs the election in two threads: the receiver (`WorkerReceiver`), which answers
//! some notifications at once, and `lookForLeader`, which polls a queue. Here both are one step
//! per input: a notification is answered first (`fle.reply.*`), then handled by the election.
//! `lookForLeader`'s blocking `poll(timeout)` is a timer the core asks for ([`FleTimer`]): the
//! notification timeout (re-armed whenever a notification is taken off the queue, doubled on every
//! expiry up to a cap) or the finalize wait.

use super::types::{
    Epoch, History, Notification, PeerState, Proposal, Round, Vote, CURRENT_VERSION, WIRE_MAX,
};
use crate::types::ServerId;
use std::collections::BTreeMap;
use std::fmt;

/// Default finalize wait. ZooKeeper waits 200 ms (a `static final`), one reason its election
/// takes that long even on loopback. The wait only has to cover one round of replies after a
/// quorum agrees: a loopback round trip of a notification takes 14 µs (median) and at worst
/// about 5 ms on a loaded two-core machine (`scripts/loopback_rtt.py`), so 20 ms leaves a margin
/// of four. A decision taken too early is safe (ZAB's discovery makes the leader unique and a
/// server that cannot lead returns to LOOKING); it only costs another round. To be confirmed by
/// the node's failover measurement (fle.md § Configuration).
pub const DEFAULT_FINALIZE_WAIT_MS: u64 = 20;

/// Default first notification timeout. ZooKeeper's is the finalize wait (200 ms). It only
/// matters when notifications were lost or peers were not up yet (a re-send after it); 100 ms
/// re-asks five times within ZooKeeper's first timeout while costing one 44-byte message per
/// voter.
pub const DEFAULT_MIN_NOTIFICATION_INTERVAL_MS: u64 = 100;

/// Default cap of the doubling notification timeout. ZooKeeper's is 60 s, so a server that
/// missed every notification may wait a minute to ask again; 2 s keeps that bounded for a small
/// ensemble, where a re-send costs little.
pub const DEFAULT_MAX_NOTIFICATION_INTERVAL_MS: u64 = 2_000;

/// Largest ensemble accepted: the tallies hold one vote per voter, and ZooKeeper ensembles have
/// a handful of voters; 255 is a limit on memory, not a protocol rule.
pub const MAX_VOTERS: usize = 255;

/// Static configuration of a core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleConfig {
    /// This server.
    pub id: ServerId,
    /// The voters, this server included; sorted, no duplicates (`QuorumMaj`: weight 1 each).
    pub voters: Vec<ServerId>,
    /// The finalize wait (`fle.decide.finalize-wait`).
    pub finalize_wait_ms: u64,
    /// The first notification timeout of a round (`fle.notification.timeout`).
    pub min_notification_interval_ms: u64,
    /// The cap of the doubling notification timeout.
    pub max_notification_interval_ms: u64,
}

impl FleConfig {
    /// `id` among `voters` (sorted and deduplicated here), with the default waits.
    pub fn new(id: ServerId, mut voters: Vec<ServerId>) -> Self {
        voters.sort();
        voters.dedup();
        FleConfig {
            id,
            voters,
            finalize_wait_ms: DEFAULT_FINALIZE_WAIT_MS,
            min_notification_interval_ms: DEFAULT_MIN_NOTIFICATION_INTERVAL_MS,
            max_notification_interval_ms: DEFAULT_MAX_NOTIFICATION_INTERVAL_MS,
        }
    }

    /// Checks what the core relies on, naming the offending field.
    pub fn validate(&self) -> Result<(), FleError> {
        let bad = |field: &'static str, why: &'static str| {
            Err(FleError::Config {
                field,
                why: why.to_string(),
            })
        };
        if self.voters.is_empty() || self.voters.len() > MAX_VOTERS {
            return bad("voters", "1 to 255 voters");
        }
        if !self.voters.windows(2).all(|w| w[0] < w[1]) {
            return bad("voters", "sorted, no duplicates");
        }
        if !self.voters.contains(&self.id) {
            return bad("id", "must be one of the voters");
        }
        if self.voters.iter().any(|v| v.0 > WIRE_MAX) {
            return bad("voters", "ids are Java longs: at most 2^63 - 1");
        }
        if self.finalize_wait_ms == 0 {
            return bad("finalize_wait_ms", "must be positive");
        }
        if self.min_notification_interval_ms == 0
            || self.min_notification_interval_ms > self.max_notification_interval_ms
        {
            return bad(
                "min_notification_interval_ms",
                "must be positive and at most max_notification_interval_ms",
            );
        }
        Ok(())
    }
}

/// The one timer of the election: `lookForLeader`'s poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FleTimer {
    /// No notification for the current notification timeout: send the proposal again
    /// (`fle.notification.timeout`).
    Notification,
    /// The finalize wait passed with no better vote: decide (`fle.decide.finalize`).
    Finalize,
}

/// An input to the election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleInput {
    /// Start an election (`lookForLeader`): at process start, and whenever ZAB returns the server
    /// to LOOKING. `history` is read from ZAB's durable state (`fle.round.start`).
    StartLooking(History),
    /// A notification from `from` (a decoded payload; the sender comes from the connection).
    Notification {
        /// The sender.
        from: ServerId,
        /// The notification.
        msg: Notification,
    },
    /// The timer set last has fired.
    Timer(FleTimer),
    /// ZAB synchronized with a leader of `peer_epoch`: a decided server advertises it from now on
    /// (`fle.vote.update-epoch`).
    UpdateElectionVote {
        /// The new epoch.
        peer_epoch: Epoch,
    },
}

/// How a decision was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DecisionPath {
    /// A quorum of LOOKING votes of the round and a finalize wait without a better vote.
    Looking,
    /// A quorum of the round's votes agreed with a FOLLOWING/LEADING notification of the round.
    SameRound,
    /// A quorum of FOLLOWING/LEADING votes of any round: joining an established ensemble.
    OutOfElection,
}

/// The election ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// LEADING or FOLLOWING.
    pub state: PeerState,
    /// The end vote, `QuorumPeer.currentVote`: what this server answers LOOKING peers with.
    pub vote: Vote,
    /// How it was reached.
    pub path: DecisionPath,
}

/// An output of the election, executed by the runtime (or the ZAB core that embeds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleOutput {
    /// Send `msg` to `to` (the loopback when `to` is this server: the runtime delivers it back
    /// as an input, and it counts in the tally like any other).
    Send {
        /// Destination.
        to: ServerId,
        /// The notification.
        msg: Notification,
    },
    /// (Re)arm the election's timer as `timer`, to fire after `after_ms`, replacing whatever was
    /// armed.
    SetTimer {
        /// Which wait it is.
        timer: FleTimer,
        /// Its length.
        after_ms: u64,
    },
    /// Disarm the timer (it was armed as this).
    CancelTimer(FleTimer),
    /// The server is now LEADING or FOLLOWING: run ZAB. Until the next `StartLooking` the core
    /// answers LOOKING peers with the end vote (`fle.reply.looking-peer`).
    Decided(Decision),
}

/// An input the core refuses (the state is unchanged and nothing is output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleError {
    /// A configuration field is invalid.
    Config {
        /// The field.
        field: &'static str,
        /// What it must be.
        why: String,
    },
    /// The next round would not fit the wire's signed 64-bit `electionEpoch`. Refused rather
    /// than wrapped: a wrapped round would lose to every peer's.
    RoundExhausted(Round),
    /// A value above [`WIRE_MAX`] that could not be sent (a history or an epoch ZAB handed in, or
    /// a notification no decoder produces).
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// `UpdateElectionVote` while no election has been decided.
    NotDecided,
}

impl fmt::Display for FleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleError::Config { field, why } => write!(f, "{field}: {why}"),
            FleError::RoundExhausted(r) => {
                write!(
                    f,
                    "logicalclock = {r}: no next round fits a signed 64-bit long"
                )
            }
            FleError::OutOfRange { field, value } => {
                write!(f, "{field} = {value}: above {WIRE_MAX}")
            }
            FleError::NotDecided => write!(f, "updateElectionVote while no election is decided"),
        }
    }
}

impl std::error::Error for FleError {}

/// Where the server is in its election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No election started yet (a fresh process before `StartLooking`): inputs are ignored.
    Idle,
    /// LOOKING, polling for notifications.
    Looking,
    /// LOOKING, in the finalize wait: a quorum agrees with the proposal.
    Finalizing,
    /// LEADING or FOLLOWING, answering LOOKING peers.
    Decided(PeerState),
}

/// One server's election state (`FastLeaderElection` plus the `QuorumPeer` fields it uses).
///
/// Persistent vs volatile: nothing here is durable. `history` is ZAB's durable state, read at
/// each `StartLooking`; `logicalclock` starts at 0 in every process (fle.md § State).
#[derive(Clone, Debug)]
pub struct FleCore {
    config: FleConfig,
    phase: Phase,
    history: History,
    logicalclock: Round,
    proposal: Proposal,
    recvset: BTreeMap<ServerId, Vote>,
    outofelection: BTreeMap<ServerId, Vote>,
    /// The next notification timeout (`notTimeout`).
    notification_timeout_ms: u64,
    /// What the last `SetTimer` armed, if it has neither fired nor been cancelled.
    armed: Option<FleTimer>,
    /// A decided server's end vote (`currentVote`).
    current: Option<Vote>,
    outputs: Vec<FleOutput>,
}

impl FleCore {
    /// A core in a fresh process: idle until the first `StartLooking`.
    pub fn new(config: FleConfig) -> Result<Self, FleError> {
        config.validate()?;
        let notification_timeout_ms = config.min_notification_interval_ms;
        let proposal = Proposal::own(config.id, History::default());
        Ok(FleCore {
            config,
            phase: Phase::Idle,
            history: History::default(),
            logicalclock: Round(0),
            proposal,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            notification_timeout_ms,
            armed: None,
            current: None,
            outputs: Vec::new(),
        })
    }

    /// Handles one input, queuing outputs. A refused input changes nothing.
    pub fn handle(&mut self, input: FleInput) -> Result<(), FleError> {
        match input {
            FleInput::StartLooking(h) => self.start_looking(h),
            FleInput::Notification { from, msg } => {
                check_range(&msg)?;
                self.on_notification(from, msg);
                Ok(())
            }
            FleInput::Timer(t) => {
                self.on_timer(t);
                Ok(())
            }
            FleInput::UpdateElectionVote { peer_epoch } => self.update_election_vote(peer_epoch),
        }
    }

    /// Takes the queued outputs, oldest first.
    pub fn take_outputs(&mut self) -> Vec<FleOutput> {
        std::mem::take(&mut self.outputs)
    }

    /// The configuration.
    pub fn config(&self) -> &FleConfig {
        &self.config
    }

    /// Where the election is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// `QuorumPeer.state` (LOOKING while idle, as a fresh `QuorumPeer`).
    pub fn state(&self) -> PeerState {
        match self.phase {
            Phase::Decided(s) => s,
            _ => PeerState::Looking,
        }
    }

    /// `logicalclock`.
    pub fn logicalclock(&self) -> Round {
        self.logicalclock
    }

    /// The current proposal (meaningful while LOOKING).
    pub fn proposal(&self) -> Proposal {
        self.proposal
    }

    /// This round's votes (`recvset`), by sender.
    pub fn recvset(&self) -> &BTreeMap<ServerId, Vote> {
        &self.recvset
    }

    /// FOLLOWING/LEADING votes of any round (`outofelection`), by sender.
    pub fn outofelection(&self) -> &BTreeMap<ServerId, Vote> {
        &self.outofelection
    }

    /// A decided server's end vote.
    pub fn current_vote(&self) -> Option<Vote> {
        self.current
    }

    /// The notification timeout the next `SetTimer(Notification)` uses.
    pub fn notification_timeout_ms(&self) -> u64 {
        self.notification_timeout_ms
    }

    fn me(&self) -> ServerId {
        self.config.id
    }

    fn is_voter(&self, s: ServerId) -> bool {
        self.config.voters.binary_search(&s).is_ok()
    }

    /// Strictly more than half of the voters (`QuorumMaj.containsQuorum`).
    fn quorum(&self) -> usize {
        self.config.voters.len() / 2 + 1
    }

    fn send(&mut self, to: ServerId, msg: Notification) {
        self.outputs.push(FleOutput::Send { to, msg });
    }

    fn set_timer(&mut self, timer: FleTimer, after_ms: u64) {
        self.armed = Some(timer);
        self.outputs.push(FleOutput::SetTimer { timer, after_ms });
    }

    /// What `sendNotifications` sends: the proposal in this round, LOOKING.
    fn notification(&self) -> Notification {
        Notification::new(PeerState::Looking, self.proposal, self.logicalclock)
    }

    /// `sendNotifications()`: the proposal to every voter, this server included (loopback).
    fn broadcast(&mut self) {
        let msg = self.notification();
        for to in self.config.voters.clone() {
            self.send(to, msg.clone());
        }
    }

    /// Rule `fle.round.start`: `lookForLeader()` begins: `logicalclock += 1`, a vote for itself,
    /// empty tallies, the notification timeout back at its minimum, the proposal to every voter.
    /// Refused when the round or the history would not fit the wire.
    fn start_looking(&mut self, h: History) -> Result<(), FleError> {
        if h.current_epoch.0 > WIRE_MAX {
            return Err(FleError::OutOfRange {
                field: "current_epoch",
                value: h.current_epoch.0,
            });
        }
        if h.last_zxid.0 > WIRE_MAX {
            return Err(FleError::OutOfRange {
                field: "last_zxid",
                value: h.last_zxid.0,
            });
        }
        if self.logicalclock.0 >= WIRE_MAX {
            return Err(FleError::RoundExhausted(self.logicalclock));
        }
        self.logicalclock = Round(self.logicalclock.0 + 1);
        self.history = h;
        self.phase = Phase::Looking;
        self.proposal = Proposal::own(self.me(), h);
        self.recvset.clear();
        self.outofelection.clear();
        self.current = None;
        self.notification_timeout_ms = self.config.min_notification_interval_ms;
        self.broadcast();
        self.set_timer(FleTimer::Notification, self.notification_timeout_ms);
        Ok(())
    }

    /// A timer fired. One that is not the one armed (a runtime race) is ignored.
    fn on_timer(&mut self, t: FleTimer) {
        if self.armed != Some(t) {
            return;
        }
        self.armed = None;
        match t {
            FleTimer::Notification => self.notification_timeout(),
            FleTimer::Finalize => self.finalize(),
        }
    }

    /// Rule `fle.notification.timeout`: the poll returned nothing for the notification timeout:
    /// send the proposal again to every voter and double the timeout, up to
    /// `max_notification_interval_ms` (l.965). ZooKeeper re-sends only if some send queue is
    /// empty and otherwise reconnects; here the runtime's transport reconnects on its own.
    fn notification_timeout(&mut self) {
        debug_assert_eq!(self.phase, Phase::Looking);
        self.broadcast();
        self.notification_timeout_ms = self
            .notification_timeout_ms
            .saturating_mul(2)
            .min(self.config.max_notification_interval_ms);
        self.set_timer(FleTimer::Notification, self.notification_timeout_ms);
    }

    /// A notification arrived: the receiver thread's answer, then the election's handling.
    fn on_notification(&mut self, from: ServerId, n: Notification) {
        if self.phase == Phase::Idle {
            return;
        }
        if !self.is_voter(from) {
            self.reply_non_voter(from);
            return;
        }
        match self.phase {
            Phase::Decided(state) => self.reply_looking_peer(state, from, &n),
            Phase::Looking | Phase::Finalizing => {
                self.reply_lower_round(from, &n);
                self.take_from_queue(from, n);
            }
            Phase::Idle => unreachable!("returned above"),
        }
    }

    /// Rule `fle.reply.non-voter` (receiver, l.343): a server that is not a voter gets this
    /// server's vote (the proposal while LOOKING, the end vote once decided), state and
    /// `logicalclock`, and its notification goes no further.
    fn reply_non_voter(&mut self, from: ServerId) {
        let proposal = self.current.map_or(self.proposal, Vote::proposal);
        let msg = Notification::new(self.state(), proposal, self.logicalclock);
        self.send(from, msg);
    }

    /// Rule `fle.reply.looking-peer` (receiver, l.440): a decided server answers a LOOKING peer
    /// with its end vote, its state and the round it decided in; a notification from a
    /// FOLLOWING/LEADING/OBSERVING peer is dropped.
    fn reply_looking_peer(&mut self, state: PeerState, from: ServerId, n: &Notification) {
        if n.state != PeerState::Looking {
            return;
        }
        let current = self.current.expect("a decided server has an end vote");
        let msg = Notification::new(state, current.proposal(), current.election_epoch);
        self.send(from, msg);
    }

    /// Rule `fle.reply.lower-round` (receiver, l.412): a LOOKING peer in an older round gets
    /// this server's proposal and round at once, finalize wait or not.
    fn reply_lower_round(&mut self, from: ServerId, n: &Notification) {
        if n.state == PeerState::Looking && n.election_epoch < self.logicalclock {
            let msg = self.notification();
            self.send(from, msg);
        }
    }

    /// `lookForLeader` takes `n` off its queue: the finalize wait's filter
    /// (`fle.decide.finalize-wait`), then the case on the sender's state, then the next poll.
    fn take_from_queue(&mut self, from: ServerId, n: Notification) {
        if self.phase == Phase::Finalizing {
            if !self.finalize_wait(&n) {
                return;
            }
            self.phase = Phase::Looking;
        }
        // fle.notification.valid-voter: a vote for a server that is not a voter is ignored.
        if self.is_voter(n.leader) {
            match n.state {
                PeerState::Looking => self.on_looking(from, &n),
                PeerState::Following | PeerState::Leading => self.on_decided(from, &n),
                // fle.notification.valid-voter: observers do not vote.
                PeerState::Observing => {}
            }
        }
        match self.phase {
            Phase::Decided(_) => {}
            Phase::Finalizing => self.set_timer(FleTimer::Finalize, self.config.finalize_wait_ms),
            Phase::Looking => self.set_timer(FleTimer::Notification, self.notification_timeout_ms),
            Phase::Idle => unreachable!("an election is running"),
        }
    }

    /// Rule `fle.decide.finalize-wait` (l.1050): in the wait, a notification whose vote does not
    /// beat the proposal (`fle.vote.order`) is dropped and the wait goes on; a better one ends the
    /// wait and is handled as usual (ZooKeeper re-queues it). Returns whether `n` goes on.
    ///
    /// ZooKeeper restarts its 200 ms poll after each dropped notification, so a stream of worse
    /// votes can hold the decision back indefinitely; here the wait is measured from the quorum
    /// (fle.md § Differences).
    fn finalize_wait(&self, n: &Notification) -> bool {
        self.is_voter(n.leader) && n.proposal().beats(self.proposal)
    }

    /// A LOOKING notification (l.1004–1066): rules `fle.notification.newer-round`,
    /// `fle.notification.older-round`, `fle.notification.same-round`, then `fle.decide.quorum`.
    fn on_looking(&mut self, from: ServerId, n: &Notification) {
        let theirs = n.proposal();
        if n.election_epoch > self.logicalclock {
            // fle.notification.newer-round: join the round, forget its older votes, and vote for
            // the better of the sender's vote and our own (not our old proposal).
            self.logicalclock = n.election_epoch;
            self.recvset.clear();
            let own = Proposal::own(self.me(), self.history);
            self.proposal = if theirs.beats(own) { theirs } else { own };
            self.broadcast();
        } else if n.election_epoch < self.logicalclock {
            // fle.notification.older-round: discarded (the receiver has answered it).
            return;
        } else if theirs.beats(self.proposal) {
            // fle.notification.same-round
            self.proposal = theirs;
            self.broadcast();
        }
        let vote = Vote {
            state: PeerState::Looking,
            ..n.vote(false)
        };
        self.recvset.insert(from, vote);
        // fle.decide.quorum: a quorum of this round's votes equal to (proposal, logicalclock).
        let tracker = Vote {
            state: PeerState::Looking,
            version: 0,
            leader: self.proposal.leader,
            zxid: self.proposal.zxid,
            election_epoch: self.logicalclock,
            peer_epoch: self.proposal.peer_epoch,
        };
        debug_assert!(
            self.recvset.len() <= self.config.voters.len(),
            "one vote per voter"
        );
        if self.agreeing(&self.recvset, &tracker) >= self.quorum() {
            self.phase = Phase::Finalizing;
        }
    }

    /// A FOLLOWING or LEADING notification (`receivedFollowingNotification`, l.1146): rules
    /// `fle.decided.same-round` (the `recvset` branch, this round only) and
    /// `fle.outofelection.join` (any round).
    fn on_decided(&mut self, from: ServerId, n: &Notification) {
        let tracker = n.vote(true);
        if n.election_epoch == self.logicalclock {
            // Stored without its version (l.1153), which `Vote.equals` reads.
            self.recvset.insert(from, n.vote(false));
            if self.agreeing(&self.recvset, &tracker) >= self.quorum()
                && self.check_leader(&self.recvset, n.leader, n.election_epoch)
            {
                self.decide(n, DecisionPath::SameRound);
                return;
            }
        }
        self.outofelection.insert(from, n.vote(true));
        if self.agreeing(&self.outofelection, &tracker) >= self.quorum()
            && self.check_leader(&self.outofelection, n.leader, n.election_epoch)
        {
            self.logicalclock = n.election_epoch;
            self.decide(n, DecisionPath::OutOfElection);
        }
    }

    /// How many votes in `table` count as `tracker` (`getVoteTracker`, rule `fle.vote.equals`).
    fn agreeing(&self, table: &BTreeMap<ServerId, Vote>, tracker: &Vote) -> usize {
        table.values().filter(|v| tracker.counts_as(v)).count()
    }

    /// `checkLeader` (l.793): another leader must have said it is LEADING; this server may lead
    /// only in the round the votes are from.
    fn check_leader(
        &self,
        votes: &BTreeMap<ServerId, Vote>,
        leader: ServerId,
        round: Round,
    ) -> bool {
        if leader != self.me() {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == PeerState::Leading)
        } else {
            self.logicalclock == round
        }
    }

    /// Rule `fle.decide.finalize` (l.1058): the finalize wait passed with no better vote: decide
    /// for the proposal, in this round.
    fn finalize(&mut self) {
        debug_assert_eq!(self.phase, Phase::Finalizing);
        let end = self.notification();
        self.decide(&end, DecisionPath::Looking);
    }

    /// Rule `fle.decide.leave` (`setPeerState`, `leaveInstance`): LEADING if the end vote is for
    /// this server, else FOLLOWING; the tallies are dropped and the timer disarmed.
    fn decide(&mut self, end: &Notification, path: DecisionPath) {
        assert!(
            matches!(self.phase, Phase::Looking | Phase::Finalizing),
            "only a LOOKING server decides"
        );
        let state = if end.leader == self.me() {
            PeerState::Leading
        } else {
            PeerState::Following
        };
        let vote = Vote {
            state,
            version: CURRENT_VERSION,
            ..end.vote(false)
        };
        if let Some(t) = self.armed.take() {
            self.outputs.push(FleOutput::CancelTimer(t));
        }
        self.phase = Phase::Decided(state);
        self.current = Some(vote);
        self.recvset.clear();
        self.outofelection.clear();
        self.outputs
            .push(FleOutput::Decided(Decision { state, vote, path }));
    }

    /// Rule `fle.vote.update-epoch` (`QuorumPeer.updateElectionVote`, l.2526): after syncing with
    /// its leader a decided server advertises the new epoch; only `peerEpoch` changes.
    fn update_election_vote(&mut self, peer_epoch: Epoch) -> Result<(), FleError> {
        if peer_epoch.0 > WIRE_MAX {
            return Err(FleError::OutOfRange {
                field: "peer_epoch",
                value: peer_epoch.0,
            });
        }
        let current = self.current.as_mut().ok_or(FleError::NotDecided)?;
        current.peer_epoch = peer_epoch;
        Ok(())
    }
}

/// A notification whose numbers the wire cannot carry is refused: none can come from
/// [`super::decode`], so one is a caller's bug, and adopting its round would wrap the next.
fn check_range(n: &Notification) -> Result<(), FleError> {
    for (field, value) in [
        ("leader", n.leader.0),
        ("zxid", n.zxid.0),
        ("electionEpoch", n.election_epoch.0),
        ("peerEpoch", n.peer_epoch.0),
    ] {
        if value > WIRE_MAX {
            return Err(FleError::OutOfRange { field, value });
        }
    }
    Ok(())
}
