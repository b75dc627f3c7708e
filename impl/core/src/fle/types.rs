//! FastLeaderElection's nouns as the implementation holds them: epochs, zxids, rounds, server
//! states, the proposal that the vote order compares, the vote a tally counts, and the
//! notification that travels on the wire (`docs/protocols/fle.md` § Messages).
//!
//! Every number here is carried on the wire as a signed 64-bit Java `long`, so a value is valid
//! only up to [`WIRE_MAX`]: decoding refuses negative values and the core never produces a larger
//! one (it refuses to start a round past it, `fle.round.start`).

use crate::types::ServerId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `Notification.CURRENTVERSION` (FastLeaderElection.java l.117): what ZooKeeper 3.8 sends, and
/// what this core sends.
pub const CURRENT_VERSION: u32 = 2;

/// The largest value of every 64-bit field: Java's `Long.MAX_VALUE` (the wire is signed).
pub const WIRE_MAX: u64 = i64::MAX as u64;

/// A ZAB epoch: `currentEpoch`, advertised in notifications as `peerEpoch`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Epoch(pub u64);

/// A transaction id, `epoch << 32 | counter` (`ZxidUtils`); FLE only compares it, as a number.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Zxid(pub u64);

impl Zxid {
    /// The epoch half (`ZxidUtils.getEpochFromZxid`): a 28-byte notification's `peerEpoch`.
    pub fn epoch(self) -> Epoch {
        Epoch(self.0 >> 32)
    }
}

/// An election round: `logicalclock`, carried as `electionEpoch`. 0: no election started yet.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Round(pub u64);

macro_rules! display_number {
    ($($t:ident),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}
display_number!(Epoch, Round);

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// `QuorumPeer.ServerState`, with its wire ordinal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PeerState {
    /// In an election.
    Looking = 0,
    /// Decided for another server.
    Following = 1,
    /// Decided for itself.
    Leading = 2,
    /// A non-voting learner; its notifications are ignored (every server here is a voter).
    Observing = 3,
}

impl PeerState {
    /// The state of wire ordinal `n`, if it is one.
    pub fn from_wire(n: i32) -> Option<Self> {
        Some(match n {
            0 => PeerState::Looking,
            1 => PeerState::Following,
            2 => PeerState::Leading,
            3 => PeerState::Observing,
            _ => return None,
        })
    }

    /// Following or leading: the election is over for this server.
    pub fn decided(self) -> bool {
        matches!(self, PeerState::Following | PeerState::Leading)
    }
}

/// What the election reads from the server's durable state, which ZAB owns: `currentEpoch` and
/// the last logged zxid. The election never changes it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct History {
    /// `currentEpoch`, the self-vote's `peerEpoch`.
    pub current_epoch: Epoch,
    /// `getLastLoggedZxid()`.
    pub last_zxid: Zxid,
}

/// A proposed leader (`proposedLeader`, `proposedZxid`, `proposedEpoch`): what the vote order
/// compares (`fle.vote.order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Proposal {
    /// The proposed leader.
    pub leader: ServerId,
    /// Its last logged zxid.
    pub zxid: Zxid,
    /// Its `currentEpoch`.
    pub peer_epoch: Epoch,
}

impl Proposal {
    /// A server's vote for itself (`getInitId`, `getInitLastLoggedZxid`, `getPeerEpoch`).
    pub fn own(me: ServerId, h: History) -> Self {
        Proposal {
            leader: me,
            zxid: h.last_zxid,
            peer_epoch: h.current_epoch,
        }
    }

    /// `(peerEpoch, zxid, sid)`: the vote order is the lexicographic order of this key.
    pub fn key(self) -> (Epoch, Zxid, ServerId) {
        (self.peer_epoch, self.zxid, self.leader)
    }

    /// `totalOrderPredicate(self, other)` (l.723), rule `fle.vote.order`: whether this proposal
    /// succeeds `other`. The first of `(peerEpoch, zxid, sid)` that differs decides, the higher
    /// value wins; equal proposals do not succeed each other. (Every voter has weight 1, so the
    /// clause for zero-weight servers never applies: their votes are dropped before, by
    /// `fle.notification.valid-voter`.)
    pub fn beats(self, other: Proposal) -> bool {
        self.key() > other.key()
    }
}

/// ZooKeeper's `Vote` as the tallies (`recvset`, `outofelection`) hold it, and a decided
/// server's `currentVote`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// The sender's state when it sent the vote.
    pub state: PeerState,
    /// The notification's `version` where ZooKeeper keeps it (`outofelection`), else 0.
    pub version: u32,
    /// The proposed leader.
    pub leader: ServerId,
    /// Its zxid.
    pub zxid: Zxid,
    /// The sender's round when it sent it (a decided server: the round it decided in).
    pub election_epoch: Round,
    /// The leader's epoch.
    pub peer_epoch: Epoch,
}

impl Vote {
    /// The proposal this vote is for.
    pub fn proposal(self) -> Proposal {
        Proposal {
            leader: self.leader,
            zxid: self.zxid,
            peer_epoch: self.peer_epoch,
        }
    }

    /// `Vote.equals` (Vote.java l.107), rule `fle.vote.equals`: every field but the version if
    /// either vote is LOOKING; between two out-of-election votes only `leader` and `peerEpoch`
    /// (only `leader` when exactly one has a version), because their zxid and round are stale
    /// by design (ZOOKEEPER-1805, -1732).
    pub fn counts_as(&self, other: &Vote) -> bool {
        if self.state == PeerState::Looking || other.state == PeerState::Looking {
            self.leader == other.leader
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch
        } else if (self.version > 0) ^ (other.version > 0) {
            self.leader == other.leader
        } else {
            self.leader == other.leader && self.peer_epoch == other.peer_epoch
        }
    }
}

/// One election notification (`FastLeaderElection.Notification` / `ToSend`, payload of
/// `buildMsg`); the sender and receiver travel in the transport's envelope.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Notification {
    /// The sender's state.
    pub state: PeerState,
    /// The proposed (or decided) leader.
    pub leader: ServerId,
    /// The leader's last logged zxid (as the sender knows it).
    pub zxid: Zxid,
    /// The sender's round (`logicalclock`), or the round a decided sender decided in.
    pub election_epoch: Round,
    /// The leader's epoch.
    pub peer_epoch: Epoch,
    /// Message version; 2 in 3.8, 0 for the legacy 28- and 40-byte forms.
    pub version: u32,
    /// The sender's quorum configuration (`qv.toString()`), sent only from version 2 on. This core
    /// sends it empty and ignores it (no reconfiguration; ZooKeeper accepts an empty one).
    pub config: Vec<u8>,
}

impl Notification {
    /// A current-version notification without configuration: what this core sends.
    pub fn new(state: PeerState, p: Proposal, round: Round) -> Self {
        Notification {
            state,
            leader: p.leader,
            zxid: p.zxid,
            election_epoch: round,
            peer_epoch: p.peer_epoch,
            version: CURRENT_VERSION,
            config: Vec::new(),
        }
    }

    /// The proposal it carries.
    pub fn proposal(&self) -> Proposal {
        Proposal {
            leader: self.leader,
            zxid: self.zxid,
            peer_epoch: self.peer_epoch,
        }
    }

    /// As a tallied vote, keeping the version or not (ZooKeeper keeps it in `outofelection`
    /// and in the trackers of `receivedFollowingNotification`, nowhere else).
    pub fn vote(&self, keep_version: bool) -> Vote {
        Vote {
            state: self.state,
            version: if keep_version { self.version } else { 0 },
            leader: self.leader,
            zxid: self.zxid,
            election_epoch: self.election_epoch,
            peer_epoch: self.peer_epoch,
        }
    }
}
