//! ZooKeeper 3.8's FastLeaderElection as specified by `docs/protocols/fle.md`: a sans-IO core
//! that a ZAB node embeds while its server is LOOKING, and the election's wire format.
//!
//! ```text
//!  ZAB ------- StartLooking(history) --> +---------+ ---- Send {to, Notification} --> transport
//!  transport - Notification {from} ----> | FleCore | ---- SetTimer / CancelTimer ---> timer
//!  timer ----- Timer(Notification|       |         |
//!                    Finalize) --------> |         | ---- Decided {state, vote} ----> ZAB
//!  ZAB ------- UpdateElectionVote -----> +---------+
//! ```
//!
//! The core owns no clock, RNG or socket: waits are `SetTimer` outputs with their length, and
//! notifications are values; [`decode`] and [`encode`] turn them into the bytes of ZooKeeper's
//! wire format and back.

mod core;
#[cfg(test)]
mod tests;
mod types;
mod wire;

pub use self::core::{
    Decision, DecisionPath, FleConfig, FleCore, FleError, FleInput, FleOutput, FleTimer, Phase,
    DEFAULT_FINALIZE_WAIT_MS, DEFAULT_MAX_NOTIFICATION_INTERVAL_MS,
    DEFAULT_MIN_NOTIFICATION_INTERVAL_MS, MAX_VOTERS,
};
pub use self::types::{
    Epoch, History, Notification, PeerState, Proposal, Round, Vote, Zxid, CURRENT_VERSION, WIRE_MAX,
};
pub use self::wire::{
    decode, encode, DecodeError, EncodeError, HEADER_BYTES, MAX_CONFIG_BYTES,
    MIN_NOTIFICATION_BYTES,
};
