//! Sans-IO protocol cores of ballot: input events in, commands out.
//!
//! A core owns no clock, RNG, socket, file or task. The runtime (`ballot-node`) feeds it
//! [`Event`]s and executes the [`Command`]s it emits; tests and the conformance harness do the
//! same with controlled inputs. The drive loop, for one event:
//!
//! ```
//! use ballot_core::raft::{HardState, RaftConfig, RaftCore};
//! use ballot_core::{Command, Core, Event, ServerId, Timer};
//!
//! let config = RaftConfig::new(ServerId(1), vec![ServerId(1), ServerId(2), ServerId(3)]);
//! let mut core = RaftCore::restore(config, HardState::default(), Vec::new());
//! core.start(); // arms the election timer
//! assert_eq!(core.take_commands(), vec![Command::SetTimer(Timer::Election)]);
//!
//! core.handle(Event::Timer(Timer::Election)); // becomes candidate of term 1
//! let commands = core.take_commands();
//! // The vote for itself must be durable before any RequestVote leaves:
//! let Command::Persist { id, .. } = &commands[1] else { panic!("{commands:?}") };
//! assert!(!commands.iter().any(|c| matches!(c, Command::Send { .. })));
//! core.handle(Event::Persisted { id: *id });
//! let sends = core.take_commands();
//! assert_eq!(sends.len(), 2); // RequestVote to servers 2 and 3
//! ```

pub mod command;
pub mod fle;
pub mod raft;
pub mod types;
pub mod zab;

pub use command::{Command, Core, CoreStatus, DurableWrite, Event, LogWrite, Timer};
pub use types::{
    Entry, LogBase, LogIndex, Payload, PersistId, RequestId, ServerId, Snapshot, Term,
};
