//! Stateright models of FastLeaderElection, ZAB and Raft, the properties they must keep, the
//! historic bugs (mutants) that break them, ballot's checking engine, and the trace format that
//! carries counterexamples to the Explorer and to the implementation.

pub mod config;
pub mod copyvec;
pub mod coverage;
pub mod diagram;
pub mod engine;
pub mod fle;
pub mod network;
mod permute;
pub mod raft;
pub mod spec;
pub mod trace;
pub mod zab;
