//! `ZabPeer`: one ZooKeeper server as the runtime sees it, a [`Core`] that runs FLE while
//! LOOKING and a [`ZabCore`] once FLE decided, and goes back to FLE when ZAB gives up
//! (`zab.election.fle.next-round`).
//!
//! ```text
//!            start                  Decided(LEADING | FOLLOWING l)
//!   ──► FleCore: LOOKING ──────────────────────────────────────► ZabCore (Leading | Following(l))
//!            ▲                                                        │
//!            └── StartLooking(last LOGGED zxid, currentEpoch) ◄───────┘ GiveUp (after every
//!                                                                       persist it issued)
//! ```
//!
//! How the two vocabularies map onto the runtime's ([`Command`], [`Event`]):
//! - Messages: one [`PeerMessage`] enum, FLE notifications and ZAB packets, each in its own wire
//!   format inside the frame. An FLE notification to this server itself (FLE's loopback) is fed
//!   back at once, never sent.
//! - Timers: [`Timer::Protocol`] with the durations the cores give ([`Command::SetTimerFor`]):
//!   `0` is FLE's one timer (whichever of Notification/Finalize it armed last), `1..=3` ZAB's
//!   Sync, Tick and LeaderSilence. A ZAB core that gives up has its timers cancelled.
//! - Durable state: the hard state is [`ZabHardState`] (acceptedEpoch, currentEpoch), replaced
//!   whole on each epoch write; the transaction log is the runtime's index-addressed log, the
//!   transaction of zxid `z` at index `i` (1-based position in the log) as an entry of term
//!   `epoch(z)` whose payload is `z` (8 bytes, big-endian) followed by the transaction's bytes
//!   ([`encode_txn`]). TRUNC to `z` is `Truncate { from: i + 1 }` for the last `i` kept.
//! - Delivery: each `Deliver` is `Apply { index, entry }` at the next index (what is delivered is
//!   a prefix of the log, in order), with the transaction's bytes alone as the payload, of term
//!   `epoch(zxid)`. A client request accepted as zxid `z` is `ClientAccepted` at `z`'s index
//!   and epoch.
//! - Clients: a serving leader proposes; every other server rejects with the leader it follows
//!   (or none while LOOKING). A linearizable read waits for a quorum to answer a PING sent after
//!   it arrived (`zab.impl.read-barrier`), then for everything the leader had logged to be
//!   applied.
//! - `PeerLost` is ZAB's `Disconnected`. Snapshots are not taken (`zab.impl.no-snap`):
//!   `Compact` and `SnapshotDurable` are ignored.

use super::core::{ZabCore, ZabRole};
use super::types::{Durable, Rejection, Txn, ZabConfig, ZabInput, ZabOutput, ZabTimer, ZabWrite};
use super::wire::{self, ZabMessage};
use crate::command::{Command, Core, CoreStatus, DurableWrite, Event, LogWrite, Timer};
use crate::fle::{
    Epoch, FleConfig, FleCore, FleInput, FleOutput, FleTimer, History, Notification, PeerState,
    Zxid,
};
use crate::types::{Entry, LogIndex, Payload, PersistId, RequestId, ServerId, Term};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// FLE's timer.
pub const FLE_TIMER: Timer = Timer::Protocol(0);

/// The runtime's timer for a ZAB timer.
pub fn zab_timer(t: ZabTimer) -> Timer {
    Timer::Protocol(match t {
        ZabTimer::Sync => 1,
        ZabTimer::Tick => 2,
        ZabTimer::LeaderSilence => 3,
    })
}

const ZAB_TIMERS: [ZabTimer; 3] = [ZabTimer::Sync, ZabTimer::Tick, ZabTimer::LeaderSilence];

/// A message between two ZooKeeper servers: an election notification or a ZAB packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireMessage", into = "WireMessage")]
pub enum PeerMessage {
    /// FLE.
    Election(Notification),
    /// ZAB, from discovery on.
    Zab(ZabMessage),
}

/// How a [`PeerMessage`] travels: a ZAB packet in ZooKeeper's own encoding ([`wire::encode`]),
/// so that its bounds are checked by [`wire::decode`] on the way in.
#[derive(Serialize, Deserialize)]
enum WireMessage {
    Election(Notification),
    Zab(Vec<u8>),
}

impl TryFrom<WireMessage> for PeerMessage {
    type Error = String;

    fn try_from(w: WireMessage) -> Result<Self, String> {
        match w {
            WireMessage::Election(n) => Ok(PeerMessage::Election(n)),
            WireMessage::Zab(bytes) => wire::decode(&bytes, wire::MAX_TXN_BYTES)
                .map(PeerMessage::Zab)
                .map_err(|e| format!("ZAB packet: {e:?}")),
        }
    }
}

impl From<PeerMessage> for WireMessage {
    fn from(m: PeerMessage) -> Self {
        match m {
            PeerMessage::Election(n) => WireMessage::Election(n),
            // Every packet the core builds encodes (its values are in range by construction);
            // one that does not goes out empty, which the receiver refuses.
            PeerMessage::Zab(m) => WireMessage::Zab(wire::encode(&m).unwrap_or_default()),
        }
    }
}

/// What a ZooKeeper server keeps besides its log: the two epoch files, written together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZabHardState {
    /// `acceptedEpoch`.
    pub accepted_epoch: Epoch,
    /// `currentEpoch`.
    pub current_epoch: Epoch,
}

/// The log entry of `txn`: term `epoch(zxid)`, payload the zxid (big-endian) then the data.
pub fn encode_txn(txn: &Txn) -> Entry {
    let mut bytes = Vec::with_capacity(8 + txn.data.len());
    bytes.extend_from_slice(&txn.zxid.0.to_be_bytes());
    bytes.extend_from_slice(&txn.data);
    Entry::command(Term(txn.zxid.epoch().0), bytes)
}

/// The transaction of a log entry written by [`encode_txn`]; `None` if it is not one.
pub fn decode_txn(entry: &Entry) -> Option<Txn> {
    let Payload::Command(bytes) = &entry.payload else {
        return None;
    };
    let (z, data) = bytes.split_first_chunk::<8>()?;
    let zxid = Zxid(u64::from_be_bytes(*z));
    (zxid.epoch().0 == entry.term.0).then(|| Txn {
        zxid,
        data: data.to_vec(),
    })
}

/// Why a durable state cannot start a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// The entry at this index is not a transaction ([`decode_txn`]).
    NotATxn(LogIndex),
    /// The epochs and log are not a ZooKeeper server's ([`Durable::validate`]).
    Durable(String),
    /// The configuration is refused.
    Config(String),
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::NotATxn(i) => write!(f, "log entry {i} is not a ZAB transaction"),
            PeerError::Durable(why) => write!(f, "{why}"),
            PeerError::Config(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for PeerError {}

/// One ZooKeeper server: FLE, then ZAB, then FLE again.
#[derive(Debug)]
pub struct ZabPeer {
    zab_config: ZabConfig,
    fle: FleCore,
    /// Which of FLE's waits the FLE timer is.
    fle_armed: Option<FleTimer>,
    zab: Option<ZabCore>,
    /// Bumped with each ZAB core: a persist issued by an earlier one is acknowledged to nobody.
    generation: u64,
    /// The durable state as requested (every write issued, in order).
    disk: Durable,
    /// Outstanding persists: this peer's id, and the ZAB core's (generation, id) it stands for.
    persists: VecDeque<(PersistId, Option<(u64, PersistId)>)>,
    next_persist: u64,
    /// LOOKING resumes once every persist up to this one is durable.
    look_after: Option<PersistId>,
    /// The last zxid delivered, and the log index it has.
    delivered: Zxid,
    applied: LogIndex,
    /// A learner's FOLLOWERINFO that arrived in this round before this server decided, kept
    /// for the ZAB core if it leads (the learner sends it once).
    early: BTreeMap<ServerId, ZabMessage>,
    /// Who leads, from the last decision (until LOOKING again).
    leader: Option<ServerId>,
    /// Linearizable reads waiting for their ZAB read barrier (`zab.impl.read-barrier`): by
    /// barrier id, the log index everything logged had when they arrived, and the requests.
    reads: BTreeMap<u64, (LogIndex, Vec<RequestId>)>,
    next_read: u64,
    commands: Vec<Command<PeerMessage, ZabHardState>>,
}

impl ZabPeer {
    /// A server restarted from its durable state: `hard_state` and `log` as the storage
    /// recovered them. It starts LOOKING ([`Core::start`]).
    pub fn restore(
        fle: FleConfig,
        zab: ZabConfig,
        hard_state: ZabHardState,
        log: &[Entry],
    ) -> Result<Self, PeerError> {
        fle.validate()
            .map_err(|e| PeerError::Config(e.to_string()))?;
        zab.validate()
            .map_err(|e| PeerError::Config(e.to_string()))?;
        if fle.id != zab.id || fle.voters != zab.voters {
            return Err(PeerError::Config(
                "FLE and ZAB disagree on the voters".into(),
            ));
        }
        let mut txns = Vec::with_capacity(log.len());
        for (i, e) in log.iter().enumerate() {
            txns.push(decode_txn(e).ok_or(PeerError::NotATxn(LogIndex(i as u64 + 1)))?);
        }
        let disk = Durable {
            accepted_epoch: hard_state.accepted_epoch,
            current_epoch: hard_state.current_epoch,
            log: txns,
        };
        disk.validate()
            .map_err(|e| PeerError::Durable(e.to_string()))?;
        Ok(ZabPeer {
            zab_config: zab,
            fle: FleCore::new(fle).map_err(|e| PeerError::Config(e.to_string()))?,
            fle_armed: None,
            zab: None,
            generation: 0,
            disk,
            persists: VecDeque::new(),
            next_persist: 0,
            look_after: None,
            delivered: Zxid(0),
            applied: LogIndex(0),
            early: BTreeMap::new(),
            leader: None,
            reads: BTreeMap::new(),
            next_read: 0,
            commands: Vec::new(),
        })
    }

    /// FLE's state: LOOKING, LEADING or FOLLOWING.
    pub fn state(&self) -> PeerState {
        if self.zab.is_some() {
            self.fle.state()
        } else {
            PeerState::Looking
        }
    }

    /// Whether ZAB serves (a leader past its NEWLEADER quorum, a follower past UPTODATE).
    pub fn serving(&self) -> bool {
        self.zab.as_ref().is_some_and(ZabCore::serving)
    }

    /// The durable state as requested so far.
    pub fn disk(&self) -> &Durable {
        &self.disk
    }

    fn me(&self) -> ServerId {
        self.zab_config.id
    }

    fn history(&self) -> History {
        History {
            current_epoch: self.disk.current_epoch,
            last_zxid: self.disk.last_zxid(),
        }
    }

    /// Back to LOOKING: an election from the durable history.
    fn start_looking(&mut self) {
        self.look_after = None;
        self.leader = None;
        // A FOLLOWERINFO kept from an earlier round is for a leader of that round.
        self.early.clear();
        let h = self.history();
        // Refused only for values past the wire's range, which the validated disk never has.
        let _ = self.fle.handle(FleInput::StartLooking(h));
        self.drain_fle();
    }

    /// Executes FLE's outputs, feeding its loopback notifications back.
    fn drain_fle(&mut self) {
        let me = self.me();
        let mut queue: VecDeque<FleOutput> = self.fle.take_outputs().into();
        while let Some(o) = queue.pop_front() {
            match o {
                FleOutput::Send { to, msg } if to == me => {
                    let _ = self.fle.handle(FleInput::Notification { from: me, msg });
                    queue.extend(self.fle.take_outputs());
                }
                FleOutput::Send { to, msg } => self.commands.push(Command::Send {
                    to,
                    msg: PeerMessage::Election(msg),
                }),
                FleOutput::SetTimer { timer, after_ms } => {
                    self.fle_armed = Some(timer);
                    self.commands.push(Command::SetTimerFor {
                        timer: FLE_TIMER,
                        after_ms,
                    });
                }
                FleOutput::CancelTimer(_) => {
                    self.fle_armed = None;
                    self.commands.push(Command::CancelTimer(FLE_TIMER));
                }
                // `zab.election.fle.decide`: LEADING starts `Leader.lead`, FOLLOWING the learner.
                FleOutput::Decided(d) => {
                    let role = if d.state == PeerState::Leading {
                        ZabRole::Leading
                    } else {
                        ZabRole::Following(d.vote.leader)
                    };
                    self.start_zab(role);
                    // ZAB's first outputs may go back to FLE (a one-voter leader serves at
                    // once); FLE's queue is drained after them.
                    queue.extend(self.fle.take_outputs());
                }
            }
        }
    }

    fn start_zab(&mut self, role: ZabRole) {
        match ZabCore::start(
            self.zab_config.clone(),
            self.disk.clone(),
            role,
            self.delivered,
        ) {
            Ok(core) => {
                self.generation += 1;
                self.leader = Some(match role {
                    ZabRole::Leading => self.me(),
                    ZabRole::Following(l) => l,
                });
                self.zab = Some(core);
                let early = std::mem::take(&mut self.early);
                if role == ZabRole::Leading {
                    for (from, msg) in early {
                        self.feed_zab(ZabInput::Message { from, msg });
                    }
                }
                self.drain_zab();
            }
            // A decision ZAB cannot take (a leader that is no voter): another round.
            Err(_) => self.start_looking(),
        }
    }

    fn feed_zab(&mut self, input: ZabInput) {
        if let Some(z) = &mut self.zab {
            // Refused inputs (a packet from a non-voter, a stale acknowledgement) change nothing.
            let _ = z.handle(input);
        }
    }

    /// Executes ZAB's outputs.
    fn drain_zab(&mut self) {
        let Some(z) = &mut self.zab else { return };
        let outputs = z.take_outputs();
        for o in outputs {
            match o {
                ZabOutput::Send { to, msg } => self.commands.push(Command::Send {
                    to,
                    msg: PeerMessage::Zab(msg),
                }),
                // The runtime has no command to close a connection; the learner notices by its
                // own timeouts.
                ZabOutput::Disconnect { .. } => {}
                ZabOutput::Persist { id, writes } => {
                    let writes = self.durable_writes(writes);
                    self.persist(writes, Some((self.generation, id)));
                }
                ZabOutput::SetTimer { timer, after_ms } => {
                    self.commands.push(Command::SetTimerFor {
                        timer: zab_timer(timer),
                        after_ms,
                    })
                }
                ZabOutput::CancelTimer(t) => self.commands.push(Command::CancelTimer(zab_timer(t))),
                ZabOutput::Deliver(txn) => {
                    self.applied = LogIndex(self.applied.0 + 1);
                    self.delivered = txn.zxid;
                    let entry = Entry::command(Term(txn.zxid.epoch().0), txn.data);
                    self.commands.push(Command::Apply {
                        index: self.applied,
                        entry,
                    });
                }
                ZabOutput::Accepted { request, zxid } => {
                    let index = self.index_of(zxid);
                    self.commands.push(Command::ClientAccepted {
                        request,
                        index,
                        term: Term(zxid.epoch().0),
                    });
                }
                ZabOutput::Rejected { request, why } => {
                    let leader = match why {
                        Rejection::NotServingLeader => self.leader.filter(|l| *l != self.me()),
                        Rejection::TooLarge(_) | Rejection::CounterOverflow => None,
                    };
                    self.commands
                        .push(Command::ClientRejected { request, leader });
                }
                // `zab.impl.read-barrier`: the reads are served once what the leader had
                // logged when they arrived is applied.
                ZabOutput::ReadConfirmed { id } => {
                    if let Some((index, requests)) = self.reads.remove(&id) {
                        for request in requests {
                            self.commands.push(Command::ReadReady { request, index });
                        }
                    }
                }
                ZabOutput::ReadRefused { id } => {
                    if let Some((_, requests)) = self.reads.remove(&id) {
                        let leader = self.leader.filter(|l| *l != self.me());
                        for request in requests {
                            self.commands
                                .push(Command::ClientRejected { request, leader });
                        }
                    }
                }
                // `zab.election.fle.update-vote`: a decided server advertises the new epoch.
                ZabOutput::Serving { epoch } => {
                    let _ = self
                        .fle
                        .handle(FleInput::UpdateElectionVote { peer_epoch: epoch });
                    self.drain_fle();
                }
                // `zab.election.fle.next-round`, after the SyncThread flush of
                // `zab.recovery.shutdown`.
                ZabOutput::GiveUp(_) => {
                    self.zab = None;
                    self.leader = None;
                    // Reads waiting for a barrier are refused: this server no longer leads.
                    for (_, (_, requests)) in std::mem::take(&mut self.reads) {
                        for request in requests {
                            self.commands.push(Command::ClientRejected {
                                request,
                                leader: None,
                            });
                        }
                    }
                    for t in ZAB_TIMERS {
                        self.commands.push(Command::CancelTimer(zab_timer(t)));
                    }
                    // FLE reads the last LOGGED zxid: wait for what ZAB asked to be written.
                    match self.persists.back() {
                        Some((last, _)) => self.look_after = Some(*last),
                        None => self.start_looking(),
                    }
                }
            }
        }
    }

    /// The log index of `zxid` in ZAB's history (its position, 1-based).
    fn index_of(&self, zxid: Zxid) -> LogIndex {
        let history = self
            .zab
            .as_ref()
            .map_or(&self.disk.log[..], |z| z.history());
        LogIndex(history.partition_point(|t| t.zxid <= zxid) as u64)
    }

    /// ZAB's writes as the runtime's, applied to the requested state as they are issued.
    fn durable_writes(&mut self, writes: Vec<ZabWrite>) -> Vec<DurableWrite<ZabHardState>> {
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            match &w {
                ZabWrite::AcceptedEpoch(_) | ZabWrite::CurrentEpoch(_) => {
                    self.disk.apply(&w);
                    out.push(DurableWrite::HardState(self.hard_state()));
                }
                ZabWrite::Truncate { after } => {
                    let kept = self.disk.log.partition_point(|t| t.zxid <= *after);
                    if kept < self.disk.log.len() {
                        out.push(DurableWrite::Log(LogWrite::Truncate {
                            from: LogIndex(kept as u64 + 1),
                        }));
                    }
                    self.disk.apply(&w);
                }
                ZabWrite::Append(txn) => {
                    let index = LogIndex(self.disk.log.len() as u64 + 1);
                    out.push(DurableWrite::Log(LogWrite::Append {
                        index,
                        entry: encode_txn(txn),
                    }));
                    self.disk.apply(&w);
                }
            }
        }
        if out.is_empty() {
            // A TRUNC that removes nothing: the acknowledgement still has to come.
            out.push(DurableWrite::HardState(self.hard_state()));
        }
        out
    }

    fn hard_state(&self) -> ZabHardState {
        ZabHardState {
            accepted_epoch: self.disk.accepted_epoch,
            current_epoch: self.disk.current_epoch,
        }
    }

    fn persist(&mut self, writes: Vec<DurableWrite<ZabHardState>>, zab: Option<(u64, PersistId)>) {
        self.next_persist += 1;
        let id = PersistId(self.next_persist);
        self.persists.push_back((id, zab));
        self.commands.push(Command::Persist { id, writes });
    }

    fn on_persisted(&mut self, id: PersistId) {
        let mut newest = None;
        while let Some(&(p, z)) = self.persists.front() {
            if p > id {
                break;
            }
            self.persists.pop_front();
            if let Some((generation, zid)) = z {
                if generation == self.generation {
                    newest = Some(zid);
                }
            }
        }
        if let Some(zid) = newest {
            self.feed_zab(ZabInput::Persisted { id: zid });
            self.drain_zab();
        }
        if self.look_after.is_some_and(|after| after <= id) {
            self.start_looking();
        }
    }

    fn on_message(&mut self, from: ServerId, msg: PeerMessage) {
        match msg {
            PeerMessage::Election(n) => {
                if from == self.me() {
                    return; // loopback is internal; a peer claiming to be us is not believed
                }
                let _ = self.fle.handle(FleInput::Notification { from, msg: n });
                self.drain_fle();
            }
            PeerMessage::Zab(m) if self.zab.is_some() => {
                self.feed_zab(ZabInput::Message { from, msg: m });
                self.drain_zab();
            }
            PeerMessage::Zab(m @ ZabMessage::FollowerInfo { .. }) => {
                if self.zab_config.voters.binary_search(&from).is_ok() && from != self.me() {
                    self.early.insert(from, m);
                }
            }
            // Any other packet belongs to a ZAB round this server is not in.
            PeerMessage::Zab(_) => {}
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            FLE_TIMER => {
                if let Some(t) = self.fle_armed.take() {
                    let _ = self.fle.handle(FleInput::Timer(t));
                    self.drain_fle();
                }
            }
            Timer::Protocol(n) => {
                if let Some(&t) = ZAB_TIMERS.get(usize::from(n).wrapping_sub(1)) {
                    self.feed_zab(ZabInput::Timer(t));
                    self.drain_zab();
                }
            }
            Timer::Election | Timer::Heartbeat => {}
        }
    }

    fn on_request(&mut self, request: RequestId, data: Vec<u8>) {
        if self.zab.is_some() {
            self.feed_zab(ZabInput::Propose { request, data });
            self.drain_zab();
        } else {
            self.commands.push(Command::ClientRejected {
                request,
                leader: None,
            });
        }
    }
}

impl Core for ZabPeer {
    type Message = PeerMessage;
    type HardState = ZabHardState;

    fn start(&mut self) {
        self.start_looking();
    }

    fn handle(&mut self, event: Event<PeerMessage>) {
        match event {
            Event::Message { from, msg } => self.on_message(from, msg),
            Event::Timer(t) => self.on_timer(t),
            Event::ClientRequest { request, data } => self.on_request(request, data),
            Event::ClientBatch { requests } => {
                for (request, data) in requests {
                    self.on_request(request, data);
                }
            }
            Event::Read { requests } => {
                // `zab.impl.read-barrier`: served once a quorum confirmed this server still
                // led after the reads arrived, and everything it had logged then (every write
                // it acknowledged, and every one committed before it led) is applied.
                let leading = self.serving() && self.leader == Some(self.me());
                if leading && !requests.is_empty() {
                    let id = self.next_read;
                    self.next_read += 1;
                    let index = self.index_of(Zxid(u64::MAX));
                    self.reads.insert(id, (index, requests));
                    self.feed_zab(ZabInput::ReadBarrier { id });
                    self.drain_zab();
                } else {
                    for request in requests {
                        self.commands.push(Command::ClientRejected {
                            request,
                            leader: self.leader.filter(|l| *l != self.me()),
                        });
                    }
                }
            }
            Event::Persisted { id } => self.on_persisted(id),
            Event::PeerLost { peer } => {
                self.feed_zab(ZabInput::Disconnected { peer });
                self.drain_zab();
            }
            // No snapshots (`zab.impl.no-snap`).
            Event::Compact { .. } | Event::SnapshotDurable { .. } => {}
        }
    }

    fn take_commands(&mut self) -> Vec<Command<PeerMessage, ZabHardState>> {
        std::mem::take(&mut self.commands)
    }

    fn status(&self) -> CoreStatus {
        let role = match (self.zab.is_some(), self.fle.state()) {
            (true, PeerState::Leading) => "leading",
            (true, _) => "following",
            (false, _) => "looking",
        };
        CoreStatus {
            role,
            term: Term(self.disk.current_epoch.0),
            leader: self.leader,
            commit: self.applied,
            last_index: LogIndex(self.disk.log.len() as u64),
            last_zxid: Some(self.disk.last_zxid().0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fle::{Round, CURRENT_VERSION};

    const S1: ServerId = ServerId(1);
    const S2: ServerId = ServerId(2);
    const S3: ServerId = ServerId(3);

    fn peer(hard_state: ZabHardState, log: &[Entry]) -> ZabPeer {
        let voters = vec![S1, S2, S3];
        ZabPeer::restore(
            FleConfig::new(S1, voters.clone()),
            ZabConfig::new(S1, voters),
            hard_state,
            log,
        )
        .unwrap()
    }

    fn looking(leader: ServerId, zxid: u64, epoch: u64, round: u64) -> Notification {
        Notification {
            state: PeerState::Looking,
            leader,
            zxid: Zxid(zxid),
            election_epoch: Round(round),
            peer_epoch: Epoch(epoch),
            version: CURRENT_VERSION,
            config: Vec::new(),
        }
    }

    fn send(to: ServerId, n: Notification) -> Command<PeerMessage, ZabHardState> {
        Command::Send {
            to,
            msg: PeerMessage::Election(n),
        }
    }

    fn fle_timer(after_ms: u64) -> Command<PeerMessage, ZabHardState> {
        Command::SetTimerFor {
            timer: FLE_TIMER,
            after_ms,
        }
    }

    fn txn(epoch: u64, counter: u64, data: &[u8]) -> Txn {
        Txn {
            zxid: Zxid(epoch << 32 | counter),
            data: data.to_vec(),
        }
    }

    /// LOOKING → FOLLOWING → LOOKING, command by command: the election from the durable
    /// history (loopback notifications never leave the peer), the decision for S3 after the
    /// finalize wait, ZAB's discovery as a follower, and on the leader's loss the ZAB timers
    /// cancelled and a new round from the last logged zxid.
    #[test]
    fn looking_following_looking() {
        let hs = ZabHardState {
            accepted_epoch: Epoch(1),
            current_epoch: Epoch(1),
        };
        let mut p = peer(hs, &[encode_txn(&txn(1, 1, b"a"))]);
        let z = 1 << 32 | 1;
        p.start();
        assert_eq!(
            p.take_commands(),
            vec![
                send(S2, looking(S1, z, 1, 1)),
                send(S3, looking(S1, z, 1, 1)),
                fle_timer(100),
                // Its own notification, taken off the queue, re-arms the timer.
                fle_timer(100),
            ]
        );
        assert_eq!(p.status().role, "looking");
        // S2 votes for S3, whose history is S1's: S3's sid wins, S1 joins the vote.
        p.handle(Event::Message {
            from: S2,
            msg: PeerMessage::Election(looking(S3, z, 1, 1)),
        });
        assert_eq!(
            p.take_commands(),
            vec![
                send(S2, looking(S3, z, 1, 1)),
                send(S3, looking(S3, z, 1, 1)),
                fle_timer(100),
                fle_timer(20),
            ]
        );
        // The finalize wait passes: FOLLOWING S3, and ZAB's discovery starts.
        p.handle(Event::Timer(FLE_TIMER));
        assert_eq!(
            p.take_commands(),
            vec![
                Command::Send {
                    to: S3,
                    msg: PeerMessage::Zab(ZabMessage::FollowerInfo {
                        accepted_epoch: Epoch(1)
                    }),
                },
                Command::SetTimerFor {
                    timer: zab_timer(ZabTimer::Sync),
                    after_ms: crate::zab::DEFAULT_SYNC_TIMEOUT_MS,
                },
            ]
        );
        let s = p.status();
        assert_eq!((s.role, s.leader, s.term), ("following", Some(S3), Term(1)));
        assert_eq!(s.last_zxid, Some(z));
        // The leader's connection closes: back to LOOKING, round 2, the same history.
        p.handle(Event::PeerLost { peer: S3 });
        assert_eq!(
            p.take_commands(),
            vec![
                Command::CancelTimer(zab_timer(ZabTimer::Sync)),
                Command::CancelTimer(zab_timer(ZabTimer::Tick)),
                Command::CancelTimer(zab_timer(ZabTimer::LeaderSilence)),
                send(S2, looking(S1, z, 1, 2)),
                send(S3, looking(S1, z, 1, 2)),
                fle_timer(100),
                fle_timer(100),
            ]
        );
        assert_eq!(p.status().role, "looking");
        // A client is told nobody leads.
        p.handle(Event::ClientRequest {
            request: RequestId(7),
            data: b"x".to_vec(),
        });
        assert_eq!(
            p.take_commands(),
            vec![Command::ClientRejected {
                request: RequestId(7),
                leader: None
            }]
        );
    }

    /// A follower's NEWEPOCH, TRUNC, NEWLEADER: ZAB's writes become the runtime's ordered
    /// durable writes (hard state whole, truncation by index, appends at the next index), and
    /// the ACK waits for their `Persisted`.
    #[test]
    fn zab_writes_map_onto_ordered_durable_writes() {
        let hs = ZabHardState {
            accepted_epoch: Epoch(1),
            current_epoch: Epoch(1),
        };
        let log = [encode_txn(&txn(1, 1, b"a")), encode_txn(&txn(1, 2, b"b"))];
        let mut p = peer(hs, &log);
        p.start();
        p.take_commands();
        p.handle(Event::Message {
            from: S2,
            msg: PeerMessage::Election(looking(S3, 2 << 32, 2, 1)),
        });
        p.handle(Event::Message {
            from: S3,
            msg: PeerMessage::Election(looking(S3, 2 << 32, 2, 1)),
        });
        p.handle(Event::Timer(FLE_TIMER));
        p.take_commands();
        assert_eq!(p.status().role, "following");
        let zab = |msg| Event::Message {
            from: S3,
            msg: PeerMessage::Zab(msg),
        };
        p.handle(zab(ZabMessage::LeaderInfo { epoch: Epoch(3) }));
        let hard = |a, c| {
            DurableWrite::HardState(ZabHardState {
                accepted_epoch: Epoch(a),
                current_epoch: Epoch(c),
            })
        };
        assert_eq!(
            p.take_commands(),
            vec![Command::Persist {
                id: PersistId(1),
                writes: vec![hard(3, 1)],
            }]
        );
        p.handle(Event::Persisted { id: PersistId(1) });
        assert!(matches!(
            &p.take_commands()[..],
            [Command::Send {
                to: S3,
                msg: PeerMessage::Zab(ZabMessage::AckEpoch { .. })
            }]
        ));
        p.handle(zab(ZabMessage::Trunc {
            zxid: Zxid(1 << 32 | 1),
        }));
        p.handle(zab(ZabMessage::NewLeader { epoch: Epoch(3) }));
        let commands = p.take_commands();
        assert_eq!(
            commands,
            vec![Command::Persist {
                id: PersistId(2),
                writes: vec![
                    DurableWrite::Log(LogWrite::Truncate { from: LogIndex(2) }),
                    hard(3, 3),
                ],
            }]
        );
        p.handle(Event::Persisted { id: PersistId(2) });
        assert_eq!(
            p.take_commands(),
            vec![Command::Send {
                to: S3,
                msg: PeerMessage::Zab(ZabMessage::Ack {
                    zxid: Zxid(3 << 32)
                }),
            }]
        );
        assert_eq!(p.status().last_index, LogIndex(1));
        // A proposal of the new epoch goes to the next index.
        let t = txn(3, 1, b"c");
        p.handle(zab(ZabMessage::UpToDate));
        p.take_commands();
        p.handle(zab(ZabMessage::Proposal {
            zxid: t.zxid,
            data: t.data.clone(),
        }));
        let commands = p.take_commands();
        assert!(commands.contains(&Command::Persist {
            id: PersistId(3),
            writes: vec![DurableWrite::Log(LogWrite::Append {
                index: LogIndex(2),
                entry: encode_txn(&t),
            })],
        }));
    }

    /// A one-voter ensemble: LOOKING → LEADING → serving at once, and a client request is
    /// proposed, logged at index 1 with its zxid, accepted and applied there.
    #[test]
    fn a_lone_server_leads_serves_and_applies_a_request() {
        let voters = vec![S1];
        let mut p = ZabPeer::restore(
            FleConfig::new(S1, voters.clone()),
            ZabConfig::new(S1, voters),
            ZabHardState::default(),
            &[],
        )
        .unwrap();
        p.start();
        // Its own vote is a quorum: the finalize wait, then LEADING.
        assert_eq!(p.take_commands(), vec![fle_timer(100), fle_timer(20)]);
        p.handle(Event::Timer(FLE_TIMER));
        let mut commands = p.take_commands();
        assert_eq!(p.status().role, "leading");
        // Acknowledge every persist until the leader serves.
        let mut rounds = 0;
        while let Some(id) = commands.iter().rev().find_map(|c| match c {
            Command::Persist { id, .. } => Some(*id),
            _ => None,
        }) {
            p.handle(Event::Persisted { id });
            commands = p.take_commands();
            rounds += 1;
            assert!(rounds < 10, "{commands:?}");
        }
        assert!(p.serving());
        let s = p.status();
        assert_eq!((s.role, s.term, s.leader), ("leading", Term(1), Some(S1)));
        p.handle(Event::ClientRequest {
            request: RequestId(1),
            data: b"set".to_vec(),
        });
        let t = txn(1, 1, b"set");
        let commands = p.take_commands();
        assert_eq!(
            commands[..2],
            [
                Command::Persist {
                    id: PersistId(rounds + 1),
                    writes: vec![DurableWrite::Log(LogWrite::Append {
                        index: LogIndex(1),
                        entry: encode_txn(&t),
                    })],
                },
                Command::ClientAccepted {
                    request: RequestId(1),
                    index: LogIndex(1),
                    term: Term(1),
                },
            ]
        );
        p.handle(Event::Persisted {
            id: PersistId(rounds + 1),
        });
        assert!(p.take_commands().contains(&Command::Apply {
            index: LogIndex(1),
            entry: Entry::command(Term(1), b"set".to_vec()),
        }));
        assert_eq!(p.status().last_zxid, Some(t.zxid.0));
    }

    /// The log's entries carry their zxids; anything else is refused on restore.
    #[test]
    fn txn_entries_round_trip_and_foreign_entries_are_refused() {
        let t = txn(4, 9, b"xyz");
        assert_eq!(decode_txn(&encode_txn(&t)), Some(t));
        assert_eq!(decode_txn(&Entry::noop(Term(1))), None);
        assert_eq!(decode_txn(&Entry::command(Term(1), vec![1, 2])), None);
        let voters = vec![S1, S2, S3];
        let r = ZabPeer::restore(
            FleConfig::new(S1, voters.clone()),
            ZabConfig::new(S1, voters),
            ZabHardState::default(),
            &[Entry::noop(Term(0))],
        );
        assert_eq!(r.err(), Some(PeerError::NotATxn(LogIndex(1))));
    }

    /// Peer messages survive the frame encoding, and a malformed ZAB packet is refused, not a
    /// panic.
    #[test]
    fn peer_messages_round_trip_and_bad_packets_are_refused() {
        for m in [
            PeerMessage::Election(looking(S2, 5, 1, 3)),
            PeerMessage::Zab(ZabMessage::Proposal {
                zxid: Zxid(1 << 32 | 1),
                data: b"d".to_vec(),
            }),
        ] {
            let bytes = postcard::to_allocvec(&m).unwrap();
            assert_eq!(postcard::from_bytes::<PeerMessage>(&bytes).unwrap(), m);
        }
        let bad = postcard::to_allocvec(&WireMessage::Zab(vec![99, 1, 2])).unwrap();
        assert!(postcard::from_bytes::<PeerMessage>(&bad).is_err());
    }
}
