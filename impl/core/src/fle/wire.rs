//! The election notification's wire format (`docs/protocols/fle.md` § Messages; ZooKeeper's
//! `buildMsg` and the parser in `WorkerReceiver`): pure functions on byte slices. The transport's
//! frame (`i32 len` + payload) and the connection handshake are the runtime's; this is the payload.
//!
//! ```text
//! off  type  field
//!   0  i32   state (0 LOOKING, 1 FOLLOWING, 2 LEADING, 3 OBSERVING)
//!   4  i64   leader
//!  12  i64   zxid
//!  20  i64   electionEpoch
//!  28  i64   peerEpoch          (absent in the 28-byte legacy form: zxid >> 32)
//!  36  i32   version            (absent in the 28-byte form; ignored in a 40-byte one: 0)
//!  40  i32   cfgLen             (only when version > 1)
//!  44  u8[]  config
//! ```
//!
//! Decoding is total: any byte slice gives a notification or a [`DecodeError`] naming the field
//! and what is wrong with it, never a panic, and reads at most [`MAX_CONFIG_BYTES`] of config.

use super::types::{Epoch, Notification, PeerState, Round, Zxid, WIRE_MAX};
use crate::types::ServerId;
use std::fmt;

/// Longest configuration accepted. ZooKeeper bounds it only by the frame (512 KiB); a config line
/// (`server.N=host:qport:eport:participant`) is about 50 bytes, so 16 KiB is some 300 servers,
/// far above any ensemble this node runs, while a stranger cannot make us hold more.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;

/// Shortest notification ZooKeeper parses (l.246): state, leader, zxid, electionEpoch.
pub const MIN_NOTIFICATION_BYTES: usize = 28;

/// Length of a current-version notification without config.
pub const HEADER_BYTES: usize = 44;

/// Why a payload is not a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload ends inside `field` (`len` bytes in all).
    Truncated {
        /// The field cut short.
        field: &'static str,
        /// Total payload length.
        len: usize,
    },
    /// `state` is no `ServerState` ordinal.
    UnknownState(i32),
    /// A 64-bit field is negative (every value here is a count or an id).
    Negative {
        /// The field.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// `version` is negative.
    NegativeVersion(i32),
    /// `cfgLen` is negative or above [`MAX_CONFIG_BYTES`].
    ConfigLength(i32),
    /// Bytes follow the last field.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { field, len } => {
                write!(f, "notification of {len} bytes ends inside {field}")
            }
            DecodeError::UnknownState(s) => write!(f, "state = {s}: not 0..=3"),
            DecodeError::Negative { field, value } => write!(f, "{field} = {value}: negative"),
            DecodeError::NegativeVersion(v) => write!(f, "version = {v}: negative"),
            DecodeError::ConfigLength(n) => {
                write!(f, "cfgLen = {n}: not in 0..={MAX_CONFIG_BYTES}")
            }
            DecodeError::TrailingBytes { extra } => {
                write!(f, "{extra} bytes after the last field")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A cursor that reads big-endian fields and names the one that runs out.
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

    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A non-negative `long`.
    fn count(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        let value = i64::from_be_bytes(a);
        u64::try_from(value).map_err(|_| DecodeError::Negative { field, value })
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }
}

/// Length of the legacy form whose version field ZooKeeper ignores (`backCompatibility40`).
const LEGACY_40_BYTES: usize = 40;

/// Parses a notification payload as ZooKeeper's receiver does (FLE l.246ff): 28 bytes is the
/// oldest form (no `peerEpoch`: the zxid's epoch; version 0); exactly 40 bytes has a `peerEpoch`
/// and a version field that is ignored (version 0); any other length has a version, and from
/// version 2 on a configuration. Stricter than ZooKeeper, which ignores what follows the last
/// field and reads negative numbers: here both are errors.
pub fn decode(buf: &[u8]) -> Result<Notification, DecodeError> {
    let mut r = Reader { buf, at: 0 };
    let raw_state = r.i32("state")?;
    let leader = ServerId(r.count("leader")?);
    let zxid = Zxid(r.count("zxid")?);
    let election_epoch = Round(r.count("electionEpoch")?);
    // Only after the 28 bytes ZooKeeper requires, so that a short payload is named as such.
    let state = PeerState::from_wire(raw_state).ok_or(DecodeError::UnknownState(raw_state))?;
    let (peer_epoch, version) = if buf.len() == MIN_NOTIFICATION_BYTES {
        (zxid.epoch(), 0)
    } else if buf.len() == LEGACY_40_BYTES {
        let peer_epoch = Epoch(r.count("peerEpoch")?);
        r.take(4, "version")?;
        (peer_epoch, 0)
    } else {
        let peer_epoch = Epoch(r.count("peerEpoch")?);
        let v = r.i32("version")?;
        let version = u32::try_from(v).map_err(|_| DecodeError::NegativeVersion(v))?;
        (peer_epoch, version)
    };
    let config = if version > 1 {
        let n = r.i32("cfgLen")?;
        let len = usize::try_from(n)
            .ok()
            .filter(|&l| l <= MAX_CONFIG_BYTES)
            .ok_or(DecodeError::ConfigLength(n))?;
        r.take(len, "config")?.to_vec()
    } else {
        Vec::new()
    };
    if r.remaining() != 0 {
        return Err(DecodeError::TrailingBytes {
            extra: r.remaining(),
        });
    }
    Ok(Notification {
        state,
        leader,
        zxid,
        election_epoch,
        peer_epoch,
        version,
        config,
    })
}

/// Why a notification cannot be encoded (the core never builds one; a hand-made one can be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A 64-bit field above [`WIRE_MAX`] (Java's `Long.MAX_VALUE`).
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// `version` above `i32::MAX`.
    Version(u32),
    /// A config longer than [`MAX_CONFIG_BYTES`], or one on a version that has none (≤ 1).
    Config {
        /// Its length.
        len: usize,
        /// The notification's version.
        version: u32,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::OutOfRange { field, value } => {
                write!(f, "{field} = {value}: above {WIRE_MAX}")
            }
            EncodeError::Version(v) => write!(f, "version = {v}: above {}", i32::MAX),
            EncodeError::Config { len, version } => write!(
                f,
                "config of {len} bytes with version {version}: needs version > 1 and at most \
                 {MAX_CONFIG_BYTES} bytes"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Writes `n` in the form its version has: 40 bytes for versions 0 and 1 (ZooKeeper reads them,
/// ignoring the version, so they decode as version 0), `44 + config` from version 2 on.
/// `decode(encode(n)) == n` for every `n` this accepts whose version is not 1.
pub fn encode(n: &Notification) -> Result<Vec<u8>, EncodeError> {
    let long = |field: &'static str, value: u64| {
        if value > WIRE_MAX {
            Err(EncodeError::OutOfRange { field, value })
        } else {
            Ok((value as i64).to_be_bytes())
        }
    };
    let version = i32::try_from(n.version).map_err(|_| EncodeError::Version(n.version))?;
    let with_config = n.version > 1;
    if n.config.len() > MAX_CONFIG_BYTES || (!with_config && !n.config.is_empty()) {
        return Err(EncodeError::Config {
            len: n.config.len(),
            version: n.version,
        });
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + n.config.len());
    out.extend_from_slice(&(n.state as i32).to_be_bytes());
    out.extend_from_slice(&long("leader", n.leader.0)?);
    out.extend_from_slice(&long("zxid", n.zxid.0)?);
    out.extend_from_slice(&long("electionEpoch", n.election_epoch.0)?);
    out.extend_from_slice(&long("peerEpoch", n.peer_epoch.0)?);
    out.extend_from_slice(&version.to_be_bytes());
    if with_config {
        // The length fits: checked against MAX_CONFIG_BYTES above.
        out.extend_from_slice(&(n.config.len() as i32).to_be_bytes());
        out.extend_from_slice(&n.config);
    }
    Ok(out)
}
