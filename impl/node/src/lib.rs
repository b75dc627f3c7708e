//! The tokio runtime of ballot: a node executes a sans-IO core's commands over three traits —
//! [`transport::Transport`], [`storage::Storage`], [`timers::Timers`] — so tests and the
//! conformance harness can plug controlled versions into the same node code
//! ([`runtime::run`]). Production pieces: TCP with framed, versioned handshakes
//! ([`transport`], [`server`], [`codec`]) under mutual TLS ([`tls`]), an fsynced append-only
//! log ([`storage`]), the replicated KV store ([`kv`]) and its client ([`client`]).
//!
//! All shared state goes through `sync` (std, or loom under `--cfg ballot_loom`); only rustls'
//! configurations, immutable after start, use rustls' own `std::sync::Arc`.

pub mod apply_log;
pub mod client;
pub mod codec;
pub mod kv;
pub mod mailbox;
pub mod raft_node;
pub mod rng;
pub mod runtime;
pub mod server;
pub mod storage;
pub(crate) mod sync;
pub mod timers;
pub mod tls;
pub mod transport;
pub mod zab_node;
