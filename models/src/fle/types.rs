//! FastLeaderElection's nouns: server ids, epochs, zxids, rounds, server states, the vote that
//! the total order compares, and the notification that travels on the wire.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

/// Largest ensemble the model supports (votes and recvsets are fixed-size arrays of this length).
pub const MAX_SERVERS: usize = 5;

/// `Notification.CURRENTVERSION` (FastLeaderElection.java l.117): every 3.8 server sends 2.
pub const CURRENT_VERSION: u8 = 2;

macro_rules! small_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u8);
    };
}

small_id!(
    /// A server id (ZooKeeper's `sid`/`myid`), numbered from 0. Higher ids win ties in the vote
    /// order, so the ids are not interchangeable: the model is not symmetric.
    Sid
);
small_id!(
    /// A ZAB epoch: `currentEpoch` (persisted in `version-2/currentEpoch`), advertised in
    /// notifications as `peerEpoch`.
    Epoch
);
small_id!(
    /// An election round: a server's `logicalclock`, carried in notifications as `electionEpoch`.
    /// Round 0 means "no election started yet" (a fresh `FastLeaderElection` instance).
    Round
);

impl Sid {
    pub fn ix(self) -> usize {
        self.0 as usize
    }
    pub fn bit(self) -> u8 {
        1 << self.0
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A transaction id: `epoch << 32 | counter` in ZooKeeper 3.8 (`ZxidUtils`). Ordered as ZooKeeper
/// orders the 64-bit value: by epoch, then counter. On the wire and in traces it is that 64-bit
/// number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Zxid {
    pub epoch: Epoch,
    pub counter: u8,
}

impl Zxid {
    pub const fn new(epoch: u8, counter: u8) -> Self {
        Zxid {
            epoch: Epoch(epoch),
            counter,
        }
    }

    /// The 64-bit value ZooKeeper stores and sends.
    pub fn wire(self) -> u64 {
        (self.epoch.0 as u64) << 32 | self.counter as u64
    }

    /// Parses `E.C` (epoch and counter, decimal) or a 64-bit value written `0x…` as ZooKeeper logs
    /// print it (e.g. `0x100000003` is `1.3`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            let v = u64::from_str_radix(hex, 16).map_err(|_| format!("zxid `{s}` is not hex"))?;
            return Self::from_wire(v).ok_or_else(|| {
                format!("zxid `{s}`: epoch and counter must each be at most 255 in this model")
            });
        }
        let (e, c) = s
            .split_once('.')
            .ok_or_else(|| format!("zxid `{s}`: expected EPOCH.COUNTER (e.g. 1.3) or 0x…"))?;
        let num = |what: &str, t: &str| {
            t.parse::<u8>()
                .map_err(|_| format!("zxid `{s}`: {what} `{t}` is not a number from 0 to 255"))
        };
        Ok(Zxid::new(num("epoch", e)?, num("counter", c)?))
    }

    pub fn from_wire(v: u64) -> Option<Self> {
        let (e, c) = (v >> 32, v & 0xffff_ffff);
        (e <= u8::MAX as u64 && c <= u8::MAX as u64).then(|| Zxid::new(e as u8, c as u8))
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch.0, self.counter)
    }
}

impl Serialize for Zxid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.wire())
    }
}

impl<'de> Deserialize<'de> for Zxid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        Zxid::from_wire(v).ok_or_else(|| {
            serde::de::Error::custom(format!("zxid {v:#x} is out of the model's range"))
        })
    }
}

/// `QuorumPeer.ServerState` (observers are not modelled). The wire carries the ordinal:
/// LOOKING 0, FOLLOWING 1, LEADING 2.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ZkState {
    #[default]
    Looking,
    Following,
    Leading,
}

impl ZkState {
    pub fn decided(self) -> bool {
        self != ZkState::Looking
    }

    pub fn name(self) -> &'static str {
        match self {
            ZkState::Looking => "LOOKING",
            ZkState::Following => "FOLLOWING",
            ZkState::Leading => "LEADING",
        }
    }
}

/// What the vote order compares: a proposed leader, its last zxid and its epoch
/// (`proposedLeader`, `proposedZxid`, `proposedEpoch`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Vote {
    pub leader: Sid,
    pub zxid: Zxid,
    pub peer_epoch: Epoch,
}

impl Vote {
    /// The key of the total order (`totalOrderPredicate`, l.723): `(peerEpoch, zxid, sid)`
    /// compared lexicographically.
    pub fn key(self) -> (Epoch, Zxid, Sid) {
        (self.peer_epoch, self.zxid, self.leader)
    }

    /// Whether `self` succeeds `other` in the correct vote order.
    pub fn beats(self, other: Vote) -> bool {
        self.key() > other.key()
    }
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({}, {}, e{})",
            self.leader, self.zxid, self.peer_epoch.0
        )
    }
}

/// A notification: the six wire fields of FLE's message (FastLeaderElection.java `buildMsg`,
/// reference §2; the sender's sid comes from the connection, the config is not modelled). The same
/// shape is ZooKeeper's `Vote` class with its `electionEpoch`, `state` and `version`, which is how
/// recvset, outofelection and a decided server's current vote store them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Notification {
    pub state: ZkState,
    pub leader: Sid,
    pub zxid: Zxid,
    pub election_epoch: Round,
    pub peer_epoch: Epoch,
    /// 2 for every 3.8 server on the wire. Entries that `receivedFollowingNotification` puts into
    /// recvset are built without one, so they hold 0; `Vote.equals` reads the difference.
    pub version: u8,
}

impl Notification {
    pub fn vote(&self) -> Vote {
        Vote {
            leader: self.leader,
            zxid: self.zxid,
            peer_epoch: self.peer_epoch,
        }
    }

    pub fn new(state: ZkState, vote: Vote, round: Round) -> Self {
        Notification {
            state,
            leader: vote.leader,
            zxid: vote.zxid,
            election_epoch: round,
            peer_epoch: vote.peer_epoch,
            version: CURRENT_VERSION,
        }
    }

    /// All fields in one word, for hashing (the checker's inner loop).
    pub(crate) fn packed(&self) -> u64 {
        (self.state as u64)
            | (self.leader.0 as u64) << 4
            | (self.zxid.epoch.0 as u64) << 8
            | (self.zxid.counter as u64) << 16
            | (self.election_epoch.0 as u64) << 24
            | (self.peer_epoch.0 as u64) << 32
            | (self.version as u64) << 40
    }
}

impl Hash for Notification {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.packed());
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} r{}",
            self.state.name(),
            self.vote(),
            self.election_epoch.0
        )
    }
}

/// A set of servers as a bitmask (bit i = server i).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Servers(pub u8);

impl Servers {
    pub fn all(n: u8) -> Self {
        Servers(((1u16 << n) - 1) as u8)
    }
    pub fn one(s: Sid) -> Self {
        Servers(s.bit())
    }
    pub fn contains(self, s: Sid) -> bool {
        self.0 & s.bit() != 0
    }
    pub fn insert(&mut self, s: Sid) {
        self.0 |= s.bit();
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Sid> {
        (0..8u8).filter(move |i| self.0 & (1 << i) != 0).map(Sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxids_parse_both_notations_and_order_like_the_64_bit_value() {
        assert_eq!(Zxid::parse("1.3").unwrap(), Zxid::new(1, 3));
        assert_eq!(Zxid::parse("0x100000003").unwrap(), Zxid::new(1, 3));
        assert!(Zxid::parse("1").is_err());
        assert!(Zxid::parse("0x10000000000").is_err());
        assert!(Zxid::new(1, 0) > Zxid::new(0, 200));
        assert_eq!(Zxid::new(1, 3).wire(), 0x1_0000_0003);
        let json = serde_json::to_string(&Zxid::new(1, 3)).unwrap();
        assert_eq!(json, "4294967299");
        assert_eq!(
            serde_json::from_str::<Zxid>(&json).unwrap(),
            Zxid::new(1, 3)
        );
    }

    #[test]
    fn the_vote_order_is_epoch_then_zxid_then_sid() {
        let v = |s, e, z| Vote {
            leader: Sid(s),
            zxid: Zxid::new(z, 0),
            peer_epoch: Epoch(e),
        };
        assert!(v(0, 2, 1).beats(v(2, 1, 1)), "epoch first");
        assert!(v(0, 1, 2).beats(v(2, 1, 1)), "then zxid");
        assert!(v(2, 1, 1).beats(v(0, 1, 1)), "then sid");
        assert!(!v(1, 1, 1).beats(v(1, 1, 1)), "irreflexive");
    }
}
