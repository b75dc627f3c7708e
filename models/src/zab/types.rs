//! ZAB's nouns: server ids, epochs, zxids, transactions, roles and the quorum packets.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Largest ensemble the model supports (server sets are bitmasks of a `u8`).
pub const MAX_SERVERS: usize = 5;
/// Longest history a server can hold (initial history plus client transactions).
pub const MAX_LOG: usize = 6;

macro_rules! small_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u8);
    };
}

small_id!(
    /// A server, numbered from 0 (ZooKeeper's `myid`, less one).
    ServerId
);
small_id!(
    /// A ZAB epoch. Servers start in epoch 0; the first established leader has epoch 1.
    Epoch
);

impl ServerId {
    pub fn ix(self) -> usize {
        self.0 as usize
    }
    pub fn bit(self) -> u8 {
        1 << self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A transaction id: `epoch << 32 | counter` in ZooKeeper, a pair here. Ordered as ZooKeeper
/// orders the 64-bit value: by epoch, then counter. `(0, 0)` is the empty history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Zxid {
    pub epoch: Epoch,
    pub counter: u8,
}

impl Zxid {
    pub const ZERO: Zxid = Zxid {
        epoch: Epoch(0),
        counter: 0,
    };

    pub fn new(epoch: u8, counter: u8) -> Self {
        Zxid {
            epoch: Epoch(epoch),
            counter,
        }
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch.0, self.counter)
    }
}

impl FromStr for Zxid {
    type Err = String;
    /// `E.C`, e.g. `1.2` (epoch 1, counter 2).
    fn from_str(s: &str) -> Result<Self, String> {
        let (e, c) = s
            .trim()
            .split_once('.')
            .ok_or_else(|| format!("zxid `{s}`: expected EPOCH.COUNTER, e.g. 1.2"))?;
        let num = |t: &str| {
            t.parse::<u8>()
                .map_err(|_| format!("zxid `{s}`: `{t}` is not a number"))
        };
        Ok(Zxid::new(num(e)?, num(c)?))
    }
}

impl Serialize for Zxid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Zxid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A transaction of the history: its zxid and the client request it carries. Client requests are
/// numbered from 1 in the order leaders accept them, so two different transactions never look
/// alike even when a bug gives them one zxid; value 0 marks a transaction of the initial history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Txn {
    pub zxid: Zxid,
    pub value: u8,
}

impl Txn {
    fn packed(self) -> u32 {
        u32::from_be_bytes([0, self.zxid.epoch.0, self.zxid.counter, self.value])
    }
}

// Hashing is the checker's inner loop: one write per transaction, not one per field.
impl Hash for Txn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.packed());
    }

    fn hash_slice<H: Hasher>(data: &[Self], state: &mut H) {
        for pair in data.chunks(2) {
            let mut word = 0u64;
            for t in pair {
                word = (word << 32) | t.packed() as u64;
            }
            state.write_u64(word);
        }
    }
}

impl fmt::Display for Txn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value == 0 {
            write!(f, "{}", self.zxid)
        } else {
            write!(f, "{}:v{}", self.zxid, self.value)
        }
    }
}

impl FromStr for Txn {
    type Err = String;
    /// `E.C` (a transaction of the initial history) or `E.C:vV`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (z, v) = match s.trim().split_once(":v") {
            Some((z, v)) => (
                z,
                v.parse::<u8>()
                    .map_err(|_| format!("transaction `{s}`: value `{v}` is not a number"))?,
            ),
            None => (s, 0),
        };
        Ok(Txn {
            zxid: z.parse()?,
            value: v,
        })
    }
}

impl Serialize for Txn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Txn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A history, or a run of transactions in a message. Fixed capacity: no heap allocation per state.
pub type Txns = crate::copyvec::CopyVec<Txn, MAX_LOG>;

pub(crate) fn fmt_txns(txns: &[Txn]) -> String {
    let inner: Vec<String> = txns.iter().map(|t| t.to_string()).collect();
    format!("[{}]", inner.join(" "))
}

/// The last zxid of a history (`0.0` when empty).
pub fn last_zxid(txns: &[Txn]) -> Zxid {
    txns.last().map_or(Zxid::ZERO, |t| t.zxid)
}

/// The leader's view of the phases (ZooKeeper's `zabState` while LEADING). ZooKeeper calls the
/// first two both DISCOVERY; the model tells apart waiting for a quorum of FOLLOWERINFO (the epoch
/// is not chosen yet) and waiting for a quorum of ACKEPOCH.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LeaderStage {
    /// `getEpochToPropose`: collecting FOLLOWERINFO until a quorum fixes the new epoch.
    #[default]
    Epoch,
    /// `waitForEpochAck`: LEADERINFO sent, collecting ACKEPOCH.
    Discovery,
    /// `waitForNewLeaderAck`: NEWLEADER sent, collecting its ACKs.
    Synchronization,
    /// Established: serving clients, proposing and committing.
    Broadcast,
}

/// A follower's progress through `Learner.registerWithLeader` and `syncWithLeader`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FollowerStage {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    #[default]
    Discovery,
    /// ACKEPOCH sent, waiting for the history (DIFF/TRUNC) and NEWLEADER.
    Synchronization,
    /// NEWLEADER received: persisting the history and the epoch, then acknowledging, one step at
    /// a time. The thread reads no packet meanwhile.
    NewLeader,
    /// NEWLEADER acknowledged, waiting for UPTODATE.
    UpToDate,
    /// UPTODATE received: serving, logging and acknowledging proposals.
    Broadcast,
}

/// ZooKeeper's `ServerState` (OBSERVING is not modelled), with the ZAB stage of each role.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(tag = "state", content = "stage", rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Looking,
    Leading(LeaderStage),
    Following(FollowerStage),
}

/// The quorum packets the model exchanges (`Leader.java` types), sender and receiver on the
/// envelope. Deviations from the wire, each one atomic step less per follower:
/// - NEWLEADER carries the history transfer that precedes it on the wire (DIFF, or TRUNC then
///   DIFF, with the PROPOSAL/COMMIT pairs, and the leader's outstanding proposals queued by
///   `startForwarding`), as the Zab paper's NEWLEADER(e, I_e) does. The follower handles them
///   without persisting anything until NEWLEADER, so nothing observable happens in between.
/// - SNAP is not modelled: the leader's committed log always reaches back to the empty history.
/// - The ACK a follower sends after UPTODATE is left out: the leader ignores ACKs whose counter
///   is 0 outside synchronization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Msg {
    /// Learner → leader: `FOLLOWERINFO`, with the learner's acceptedEpoch (the paper's CEPOCH).
    FollowerInfo { accepted_epoch: Epoch },
    /// Leader → learner: `LEADERINFO`, the new epoch (the paper's NEWEPOCH).
    LeaderInfo { epoch: Epoch },
    /// Learner → leader: `ACKEPOCH` with the learner's currentEpoch, or none (ZooKeeper's -1)
    /// when the epoch was already accepted, and its last logged zxid.
    AckEpoch {
        current_epoch: Option<Epoch>,
        last_zxid: Zxid,
    },
    /// Leader → learner: the history transfer and `NEWLEADER`. `trunc`: TRUNC to this zxid first
    /// (DIFF when none); then `txns` follow the learner's log, the first `committed` of them as
    /// PROPOSAL+COMMIT pairs, the rest as outstanding PROPOSALs.
    NewLeader {
        epoch: Epoch,
        trunc: Option<Zxid>,
        txns: Txns,
        committed: u8,
    },
    /// Learner → leader: `ACK` of NEWLEADER (zxid `epoch.0`) or of a proposal.
    Ack { zxid: Zxid },
    /// Leader → learner: `UPTODATE` (the paper's COMMIT-LD): start serving.
    UpToDate,
    /// Leader → learner: `PROPOSAL`.
    Proposal { txn: Txn },
    /// Leader → learner: `COMMIT`.
    Commit { zxid: Zxid },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::FollowerInfo { accepted_epoch } => {
                write!(f, "FOLLOWERINFO(acceptedEpoch {})", accepted_epoch.0)
            }
            Msg::LeaderInfo { epoch } => write!(f, "LEADERINFO(e{})", epoch.0),
            Msg::AckEpoch {
                current_epoch,
                last_zxid,
            } => match current_epoch {
                Some(e) => write!(f, "ACKEPOCH(currentEpoch {}, last {last_zxid})", e.0),
                None => write!(f, "ACKEPOCH(-1, last {last_zxid})"),
            },
            Msg::NewLeader {
                epoch,
                trunc,
                txns,
                committed,
            } => {
                match trunc {
                    Some(z) => write!(f, "TRUNC({z}) ")?,
                    None => write!(f, "DIFF ")?,
                }
                let (c, o) = txns.split_at(*committed as usize);
                write!(f, "{}", fmt_txns(c))?;
                if !o.is_empty() {
                    write!(f, " + outstanding {}", fmt_txns(o))?;
                }
                write!(f, " NEWLEADER(e{})", epoch.0)
            }
            Msg::Ack { zxid } => write!(f, "ACK({zxid})"),
            Msg::UpToDate => write!(f, "UPTODATE"),
            Msg::Proposal { txn } => write!(f, "PROPOSAL({txn})"),
            Msg::Commit { zxid } => write!(f, "COMMIT({zxid})"),
        }
    }
}

/// Iterates the members of a server set.
pub(crate) fn members(mask: u8) -> impl Iterator<Item = ServerId> {
    (0..MAX_SERVERS as u8)
        .filter(move |i| mask & (1 << i) != 0)
        .map(ServerId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxids_and_txns_read_back_what_they_print() {
        let z: Zxid = "2.3".parse().unwrap();
        assert_eq!(z, Zxid::new(2, 3));
        assert!(Zxid::new(1, 9) < Zxid::new(2, 0));
        let t: Txn = "2.3:v4".parse().unwrap();
        assert_eq!(t.to_string(), "2.3:v4");
        let t0: Txn = "1.1".parse().unwrap();
        assert_eq!(t0.value, 0);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2.3:v4\"");
        assert!("1".parse::<Zxid>().is_err());
        assert!("x.1".parse::<Zxid>().is_err());
    }
}
