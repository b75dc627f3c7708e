//! ZAB's quorum packets and ballot's own framing of them (`docs/protocols/zab.md` § Messages):
//! pure functions on byte slices. The packet types and their numbers are ZooKeeper's
//! (`Leader.java`); the layout is not Jute's `QuorumPacket` (`zab.impl.wire`): one type byte,
//! then the fields of that type, big-endian, and nothing after them.
//!
//! ```text
//! type  packet       fields
//!   2   PROPOSAL     u64 zxid, u32 len, u8[len] data
//!   3   ACK          u64 zxid
//!   4   COMMIT       u64 zxid
//!   5   PING         u64 round            (in ZooKeeper's zxid field; the learner echoes it)
//!  10   NEWLEADER    u64 epoch            (ZooKeeper's zxid (epoch, 0))
//!  11   FOLLOWERINFO u64 acceptedEpoch    (ZooKeeper's zxid (acceptedEpoch, 0))
//!  12   UPTODATE     —
//!  13   DIFF         u64 zxid             (the leader's last committed zxid)
//!  14   TRUNC        u64 zxid             (the last zxid the learner keeps)
//!  17   LEADERINFO   u64 newEpoch
//!  18   ACKEPOCH     i64 currentEpoch (−1: the epoch was already accepted), u64 lastZxid
//! ```
//!
//! Decoding is total: any byte slice gives a message or a [`DecodeError`] naming the field and
//! what is wrong, never a panic, and copies at most `max_txn_bytes` of transaction data.

use crate::fle::{Epoch, Zxid};
use std::fmt;

/// The largest transaction the format carries (the `u32` length could say more): 64 MiB, far
/// above ZooKeeper's 1 MiB `jute.maxbuffer`; the configured `max_txn_bytes` is the real cap.
pub const MAX_TXN_BYTES: usize = 64 << 20;

/// The largest value of a 64-bit field: ZooKeeper carries them as Java `long`s.
const WIRE_MAX: u64 = i64::MAX as u64;

/// A ZAB packet between a leader and a learner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabMessage {
    /// learner → leader: `acceptedEpoch` (`zab.discovery.followerinfo`).
    FollowerInfo {
        /// The learner's acceptedEpoch.
        accepted_epoch: Epoch,
    },
    /// leader → learner: the epoch it proposes (`zab.discovery.newepoch`).
    LeaderInfo {
        /// The new epoch.
        epoch: Epoch,
    },
    /// learner → leader (`zab.discovery.leaderinfo`): `None` when it had already accepted the
    /// epoch (ZooKeeper's −1).
    AckEpoch {
        /// The learner's currentEpoch, if it just accepted the new epoch.
        current_epoch: Option<Epoch>,
        /// Its last logged zxid.
        last_zxid: Zxid,
    },
    /// leader → learner: the PROPOSAL/COMMIT pairs that follow are what it lacks
    /// (`zab.sync.diff`); `zxid` is the leader's last committed zxid.
    Diff {
        /// The leader's last committed zxid.
        zxid: Zxid,
    },
    /// leader → learner: drop every transaction above `zxid` (`zab.sync.trunc`).
    Trunc {
        /// The last zxid kept.
        zxid: Zxid,
    },
    /// leader → learner: synchronization is sent; ACK it once durable (`zab.newleader.*`).
    NewLeader {
        /// The new epoch.
        epoch: Epoch,
    },
    /// leader → learner: the leader serves; so may the learner (`zab.uptodate`).
    UpToDate,
    /// leader → learner: a transaction to log (`zab.broadcast.propose`).
    Proposal {
        /// The zxid.
        zxid: Zxid,
        /// The transaction's bytes.
        data: Vec<u8>,
    },
    /// learner → leader: `zxid` is logged, or NEWLEADER (`(epoch, 0)`) is durable.
    Ack {
        /// What is acknowledged.
        zxid: Zxid,
    },
    /// leader → learner: `zxid` is committed (`zab.broadcast.commit`).
    Commit {
        /// The committed zxid.
        zxid: Zxid,
    },
    /// Liveness and read confirmation, both ways: the leader pings with its ping `round`, the
    /// learner answers with the same round (ZooKeeper's PING carries a zxid that the learner
    /// echoes; ballot puts the round there: `zab.impl.read-barrier`).
    Ping {
        /// The leader's ping round: its epoch in the high 32 bits, a counter in the low.
        round: u64,
    },
}

const PROPOSAL: u8 = 2;
const ACK: u8 = 3;
const COMMIT: u8 = 4;
const PING: u8 = 5;
const NEWLEADER: u8 = 10;
const FOLLOWERINFO: u8 = 11;
const UPTODATE: u8 = 12;
const DIFF: u8 = 13;
const TRUNC: u8 = 14;
const LEADERINFO: u8 = 17;
const ACKEPOCH: u8 = 18;

/// Why bytes are not a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// No bytes at all.
    Empty,
    /// The type byte names no packet this core speaks.
    UnknownType(u8),
    /// The bytes end inside `field`.
    Truncated {
        /// The field cut short.
        field: &'static str,
        /// Total length.
        len: usize,
    },
    /// A 64-bit field is above `i64::MAX`, or negative where it cannot be.
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its bits, as a signed value.
        value: i64,
    },
    /// A PROPOSAL longer than the configured limit.
    TooLarge {
        /// Its declared length.
        len: u32,
        /// The limit.
        max: usize,
    },
    /// Bytes follow the last field.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "empty packet"),
            DecodeError::UnknownType(t) => write!(f, "type = {t}: no ZAB packet"),
            DecodeError::Truncated { field, len } => {
                write!(f, "packet of {len} bytes ends inside {field}")
            }
            DecodeError::OutOfRange { field, value } => {
                write!(f, "{field} = {value}: out of range")
            }
            DecodeError::TooLarge { len, max } => {
                write!(f, "proposal data of {len} bytes: above {max}")
            }
            DecodeError::TrailingBytes { extra } => write!(f, "{extra} bytes after the last field"),
        }
    }
}

impl std::error::Error for DecodeError {}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(DecodeError::Truncated {
                field,
                len: self.buf.len(),
            });
        };
        let bytes = &self.buf[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, field)?);
        Ok(i64::from_be_bytes(a))
    }

    /// A non-negative `long`.
    fn long(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let value = self.i64(field)?;
        u64::try_from(value).map_err(|_| DecodeError::OutOfRange { field, value })
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Parses one packet, refusing PROPOSAL data above `max_txn_bytes` before reading it.
pub fn decode(buf: &[u8], max_txn_bytes: usize) -> Result<ZabMessage, DecodeError> {
    let (&ty, _) = buf.split_first().ok_or(DecodeError::Empty)?;
    let mut r = Reader { buf, at: 1 };
    let msg = match ty {
        PROPOSAL => {
            let zxid = Zxid(r.long("zxid")?);
            let len = r.u32("len")?;
            let max = max_txn_bytes.min(MAX_TXN_BYTES);
            if len as usize > max {
                return Err(DecodeError::TooLarge { len, max });
            }
            let data = r.take(len as usize, "data")?.to_vec();
            ZabMessage::Proposal { zxid, data }
        }
        ACK => ZabMessage::Ack {
            zxid: Zxid(r.long("zxid")?),
        },
        COMMIT => ZabMessage::Commit {
            zxid: Zxid(r.long("zxid")?),
        },
        PING => ZabMessage::Ping {
            round: r.long("round")?,
        },
        NEWLEADER => ZabMessage::NewLeader {
            epoch: Epoch(r.long("epoch")?),
        },
        FOLLOWERINFO => ZabMessage::FollowerInfo {
            accepted_epoch: Epoch(r.long("acceptedEpoch")?),
        },
        UPTODATE => ZabMessage::UpToDate,
        DIFF => ZabMessage::Diff {
            zxid: Zxid(r.long("zxid")?),
        },
        TRUNC => ZabMessage::Trunc {
            zxid: Zxid(r.long("zxid")?),
        },
        LEADERINFO => ZabMessage::LeaderInfo {
            epoch: Epoch(r.long("newEpoch")?),
        },
        ACKEPOCH => {
            let field = "currentEpoch";
            let current_epoch = match r.i64(field)? {
                -1 => None,
                e if e >= 0 => Some(Epoch(e as u64)),
                value => return Err(DecodeError::OutOfRange { field, value }),
            };
            ZabMessage::AckEpoch {
                current_epoch,
                last_zxid: Zxid(r.long("lastZxid")?),
            }
        }
        other => return Err(DecodeError::UnknownType(other)),
    };
    let extra = buf.len() - r.at;
    if extra != 0 {
        return Err(DecodeError::TrailingBytes { extra });
    }
    Ok(msg)
}

/// Why a message cannot be encoded (the core never builds one; a hand-made one can be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A 64-bit field above `i64::MAX`.
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// PROPOSAL data above [`MAX_TXN_BYTES`].
    TooLarge(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::OutOfRange { field, value } => {
                write!(f, "{field} = {value}: above {WIRE_MAX}")
            }
            EncodeError::TooLarge(n) => {
                write!(f, "proposal data of {n} bytes: above {MAX_TXN_BYTES}")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Writes `m`; `decode(encode(m), n) == m` for every `m` this accepts whose data fits `n`.
pub fn encode(m: &ZabMessage) -> Result<Vec<u8>, EncodeError> {
    fn long(out: &mut Vec<u8>, field: &'static str, value: u64) -> Result<(), EncodeError> {
        if value > WIRE_MAX {
            return Err(EncodeError::OutOfRange { field, value });
        }
        out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }
    let mut out = Vec::with_capacity(17);
    match m {
        ZabMessage::Proposal { zxid, data } => {
            if data.len() > MAX_TXN_BYTES {
                return Err(EncodeError::TooLarge(data.len()));
            }
            out.push(PROPOSAL);
            long(&mut out, "zxid", zxid.0)?;
            // Fits: at most MAX_TXN_BYTES, checked above.
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
        }
        ZabMessage::Ack { zxid } => {
            out.push(ACK);
            long(&mut out, "zxid", zxid.0)?;
        }
        ZabMessage::Commit { zxid } => {
            out.push(COMMIT);
            long(&mut out, "zxid", zxid.0)?;
        }
        ZabMessage::Ping { round } => {
            out.push(PING);
            long(&mut out, "round", *round)?;
        }
        ZabMessage::NewLeader { epoch } => {
            out.push(NEWLEADER);
            long(&mut out, "epoch", epoch.0)?;
        }
        ZabMessage::FollowerInfo { accepted_epoch } => {
            out.push(FOLLOWERINFO);
            long(&mut out, "acceptedEpoch", accepted_epoch.0)?;
        }
        ZabMessage::UpToDate => out.push(UPTODATE),
        ZabMessage::Diff { zxid } => {
            out.push(DIFF);
            long(&mut out, "zxid", zxid.0)?;
        }
        ZabMessage::Trunc { zxid } => {
            out.push(TRUNC);
            long(&mut out, "zxid", zxid.0)?;
        }
        ZabMessage::LeaderInfo { epoch } => {
            out.push(LEADERINFO);
            long(&mut out, "newEpoch", epoch.0)?;
        }
        ZabMessage::AckEpoch {
            current_epoch,
            last_zxid,
        } => {
            out.push(ACKEPOCH);
            match current_epoch {
                Some(e) => long(&mut out, "currentEpoch", e.0)?,
                None => out.extend_from_slice(&(-1i64).to_be_bytes()),
            }
            long(&mut out, "lastZxid", last_zxid.0)?;
        }
    }
    Ok(out)
}
