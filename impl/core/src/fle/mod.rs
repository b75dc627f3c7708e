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
//!
//! The drive loop, for a one-voter ensemble (its own loopback vote is a quorum):
//!
//! ```
//! use ballot_core::fle::{
//!     decode, encode, FleConfig, FleCore, FleInput, FleOutput, FleTimer, History, PeerState,
//! };
//! use ballot_core::ServerId;
//!
//! let me = ServerId(1);
//! let mut core = FleCore::new(FleConfig::new(me, vec![me])).unwrap();
//! core.handle(FleInput::StartLooking(History::default())).unwrap(); // round 1
//! let out = core.take_outputs();
//! // Its vote to every voter, itself included, then the poll's timer.
//! let FleOutput::Send { to, msg } = &out[0] else { panic!("{out:?}") };
//! assert!(matches!(out[1], FleOutput::SetTimer { timer: FleTimer::Notification, .. }));
//! // The runtime carries the bytes back (the loopback).
//! let msg = decode(&encode(msg).unwrap()).unwrap();
//! core.handle(FleInput::Notification { from: *to, msg }).unwrap();
//! // A quorum agrees: the finalize wait.
//! let out = core.take_outputs();
//! assert!(matches!(out[..], [FleOutput::SetTimer { timer: FleTimer::Finalize, .. }]));
//! core.handle(FleInput::Timer(FleTimer::Finalize)).unwrap();
//! let out = core.take_outputs();
//! let [FleOutput::Decided(d)] = &out[..] else { panic!("{out:?}") };
//! assert_eq!((d.state, d.vote.leader), (PeerState::Leading, me));
//! ```

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
