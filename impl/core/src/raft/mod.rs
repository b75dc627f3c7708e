//! Raft as specified by `docs/protocols/raft.md` (Figure 2 of the paper, at message granularity).

mod core;
mod message;
mod mutants;
#[cfg(test)]
mod tests;

pub use self::core::{DurableLog, HardState, Progress, RaftConfig, RaftCore, Role};
pub use self::message::{InvalidMessage, Message};
pub use self::mutants::ImplMutant;
