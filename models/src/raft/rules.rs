//! The rules of docs/protocols/raft.md as coverage points (see [`crate::coverage`]): one constant
//! per rule id and per guard. The model functions that implement a rule cite its id and call
//! `coverage::fire` / `coverage::guard` with these constants.

crate::rules! {
    family: Raft;
}
