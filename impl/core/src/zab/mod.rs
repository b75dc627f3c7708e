//! ZooKeeper 3.8's atomic broadcast (ZAB) as specified by `docs/protocols/zab.md`: a sans-IO
//! core that a node runs once FLE has decided, from discovery through synchronization to
//! broadcast, and the quorum packets' wire format.

mod core;
mod follower;
mod leader;
#[cfg(test)]
mod tests;
mod types;
mod wire;

pub use self::core::{ZabCore, ZabRole};

pub use self::types::{
    counter_of, make_zxid, Durable, GiveUpReason, Rejection, Txn, ZabConfig, ZabError, ZabInput,
    ZabOutput, ZabTimer, ZabWrite, COUNTER_LIMIT, DEFAULT_LEADER_SILENCE_MS, DEFAULT_MAX_PENDING,
    DEFAULT_MAX_TXN_BYTES, DEFAULT_SYNC_TIMEOUT_MS, DEFAULT_TICK_MS, MAX_EPOCH,
};
pub use self::wire::{decode, encode, DecodeError, EncodeError, ZabMessage, MAX_TXN_BYTES};
