//! Linearizable reads that share one log entry: a **read barrier**.
//!
//! A linearizable read used to append its own `Get` entry and wait for it to be committed and
//! applied. It does not need an entry of its own: what makes it linearizable is *some* entry,
//! appended by the leader after the read arrived, being committed in that leader's term, and the
//! read being answered from the applied state once that entry is applied. That commit proves
//! the server was the leader after the read began, and the entry's position follows every write
//! acknowledged before the read began (Leader Completeness), so the applied state then reflects
//! all of them (Raft thesis §6.4 states the same argument for ReadIndex, whose confirmation is a
//! heartbeat round instead of a log entry).
//!
//! So reads wait in one queue, and each [`KvOp::Barrier`] entry serves everything that was
//! waiting when it was proposed: under load a whole batch of reads costs one small entry, one
//! fsync on each server and one replication round, shared. Up to
//! [`MAX_BARRIERS_IN_FLIGHT`] barriers overlap, so a read that arrives just after one was
//! proposed does not wait for it to be decided before its own is proposed; beyond that, reads
//! wait for the next barrier to be proposed as soon as one is decided.
//!
//! This changes nothing in the protocol: a barrier is an ordinary client command, applied as a
//! no-op, so the model and the conformance harness cover it as a client request.

use crate::kv::{KvOp, KvOutcome};
use crate::mailbox::{mailbox, Receiver, Sender};
use crate::server::{hand_over, outcome, ServerContext};
use crate::sync::{Arc, Mutex};

/// Reads waiting for one barrier at most; more are refused as overloaded. Bounded by the
/// connections' own limits in practice (1024 connections × their in-flight requests).
pub const MAX_WAITING_READS: usize = 1 << 20;

/// Barriers proposed and not yet decided at once. One makes a read that just missed a barrier
/// wait for it to be decided before its own is proposed (up to two barrier round trips); two
/// overlap them, which on loopback is all it takes to hide that wait.
pub const MAX_BARRIERS_IN_FLIGHT: usize = 2;

/// The queue of reads waiting for a barrier, and how many barrier tasks are running.
#[derive(Debug)]
pub struct ReadBarrier {
    state: Mutex<Waiting>,
}

impl Default for ReadBarrier {
    // By hand: the loom side of the `sync` shim's `Mutex` has no `Default`.
    fn default() -> Self {
        ReadBarrier {
            state: Mutex::new(Waiting::default()),
        }
    }
}

#[derive(Debug, Default)]
struct Waiting {
    /// Barrier tasks running (at most [`MAX_BARRIERS_IN_FLIGHT`]); each takes `readers`
    /// whenever it proposes a barrier, and stops when it finds none.
    running: usize,
    readers: Vec<Sender<KvOutcome>>,
}

impl ReadBarrier {
    /// Queues a read; the answer is the outcome of the first barrier proposed after this call
    /// (`KvOutcome::Ok` once it is applied: then read the local store), or why there is none
    /// (not the leader, overloaded, shutting down).
    pub fn join<M>(&self, ctx: &Arc<ServerContext<M>>) -> Receiver<KvOutcome>
    where
        M: Send + Sync + 'static,
    {
        let (tx, rx) = mailbox(1);
        let start = {
            let mut waiting = self.state.lock();
            if waiting.readers.len() >= MAX_WAITING_READS {
                let _ = tx.send(KvOutcome::Failed {
                    reason: format!("node overloaded: {MAX_WAITING_READS} reads waiting"),
                });
                return rx;
            }
            waiting.readers.push(tx);
            let start = waiting.running < MAX_BARRIERS_IN_FLIGHT;
            waiting.running += usize::from(start);
            start
        };
        if start {
            let ctx = ctx.clone();
            tokio::spawn(async move { propose_barriers(ctx).await });
        }
        rx
    }

    /// The readers to serve with the next barrier; `None` (and the calling task stops) if there
    /// are none. Under the same lock as `join`, so a reader queued while every task runs is
    /// taken by one of them before it stops.
    fn take(&self) -> Option<Vec<Sender<KvOutcome>>> {
        let mut waiting = self.state.lock();
        if waiting.readers.is_empty() {
            waiting.running -= 1;
            return None;
        }
        Some(std::mem::take(&mut waiting.readers))
    }
}

/// Proposes one barrier for everything waiting, answers those readers with its outcome, and
/// repeats until no reader waits.
async fn propose_barriers<M>(ctx: Arc<ServerContext<M>>)
where
    M: Send + Sync + 'static,
{
    while let Some(readers) = ctx.reads.take() {
        // Every reader in `readers` was queued before this proposal is handed to the node loop,
        // so the barrier is appended after each of them arrived.
        let decided = match hand_over(&ctx, &KvOp::Barrier) {
            Ok(answer) => outcome(&ctx, answer).await,
            Err(refused) => refused,
        };
        for reader in readers {
            let _ = reader.send(decided.clone());
        }
    }
}
