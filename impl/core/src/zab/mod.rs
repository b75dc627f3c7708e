//! ZooKeeper 3.8's atomic broadcast (ZAB) as specified by `docs/protocols/zab.md`: a sans-IO
//! core that a node runs once FLE has decided, from discovery through synchronization to
//! broadcast, and the quorum packets' wire format.
//!
//! ```text
//!  FLE decided -- start(durable, role) --> +---------+ -- Send {to, ZabMessage} ------> transport
//!  transport ---- Message {from, msg} ---> | ZabCore | -- Disconnect {peer} ----------> transport
//!  transport ---- Disconnected {peer} ---> |         | -- Persist {id, [ZabWrite..]} -> disk
//!  disk --------- Persisted {id} --------> |         | -- SetTimer / CancelTimer -----> timer
//!  timer -------- Timer(Sync|Tick|        |         | -- Deliver(txn) ---------------> state machine
//!                      LeaderSilence) ---> |         | -- Accepted / Rejected --------> client
//!  client ------- Propose {request} -----> +---------+ -- Serving / GiveUp ----------> node (FLE)
//! ```
//!
//! A `Persist`'s writes run in list order, each durable before the next, and persists run in
//! the order emitted; every send that depends on durability waits for the `Persisted` (the
//! NEWLEADER ACK waits for the history and then currentEpoch: ZK-4643/4646's window closed).
//!
//! The drive loop, for a one-voter ensemble (its own FOLLOWERINFO, ACKEPOCH and NEWLEADER ACK
//! are a quorum):
//!
//! ```
//! use ballot_core::fle::{Epoch, Zxid};
//! use ballot_core::zab::{Durable, ZabConfig, ZabCore, ZabInput, ZabOutput, ZabRole};
//! use ballot_core::{RequestId, ServerId};
//!
//! let me = ServerId(1);
//! let mut disk = Durable::default();
//! let config = ZabConfig::new(me, vec![me]);
//! let mut core = ZabCore::start(config, disk.clone(), ZabRole::Leading, Zxid(0)).unwrap();
//! let mut delivered = Vec::new();
//! let mut outputs = core.take_outputs();
//! // Execute writes in order and acknowledge them; everything else is I/O this example skips.
//! let mut propose = true;
//! while !outputs.is_empty() {
//!     for o in outputs {
//!         match o {
//!             ZabOutput::Persist { id, writes } => {
//!                 writes.iter().for_each(|w| disk.apply(w));
//!                 core.handle(ZabInput::Persisted { id }).unwrap();
//!             }
//!             ZabOutput::Deliver(txn) => delivered.push(txn.zxid),
//!             _ => {}
//!         }
//!     }
//!     if core.serving() && propose {
//!         propose = false;
//!         let data = b"set x 1".to_vec();
//!         core.handle(ZabInput::Propose { request: RequestId(1), data }).unwrap();
//!     }
//!     outputs = core.take_outputs();
//! }
//! // Epoch 1 was accepted and made current before the first transaction, zxid (1, 1).
//! assert_eq!((disk.accepted_epoch, disk.current_epoch), (Epoch(1), Epoch(1)));
//! assert_eq!(delivered, vec![Zxid((1 << 32) | 1)]);
//! assert_eq!(disk.log.len(), 1);
//! ```

mod core;
mod follower;
mod leader;
mod peer;
#[cfg(test)]
mod tests;
mod types;
mod wire;

pub use self::core::{ZabCore, ZabRole};
pub use self::peer::{
    decode_txn, encode_txn, zab_timer, PeerError, PeerMessage, ZabHardState, ZabPeer, FLE_TIMER,
};

#[cfg(any(test, feature = "impl-mutants"))]
pub use self::types::ZabMutant;
pub use self::types::{
    counter_of, make_zxid, Durable, GiveUpReason, Rejection, Txn, ZabConfig, ZabError, ZabInput,
    ZabOutput, ZabTimer, ZabWrite, COUNTER_LIMIT, DEFAULT_LEADER_SILENCE_MS, DEFAULT_MAX_PENDING,
    DEFAULT_MAX_TXN_BYTES, DEFAULT_SYNC_TIMEOUT_MS, DEFAULT_TICK_MS, MAX_EPOCH,
};
pub use self::wire::{decode, encode, DecodeError, EncodeError, ZabMessage, MAX_TXN_BYTES};
