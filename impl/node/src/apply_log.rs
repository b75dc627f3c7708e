//! The applied-results log: the node loop appends the state machine's result for each applied
//! index and publishes the applied index; client sessions wait until their index is applied
//! and read the result there.
//!
//! Publication order is the whole point: the result is written before the index that makes
//! it visible is published (Release), and a reader that sees the index (Acquire) finds it.
//! Waiters re-check under the waiter lock, so a publish between "not yet" and "park" wakes them.

use crate::sync::{AtomicU64, Mutex, Ordering};
use ballot_core::{LogIndex, Term};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// What a reader finds at an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied<R> {
    /// The entry applied at that index, created in `term`, produced `result`.
    Result {
        /// Term of the applied entry: compare with the term the request was accepted in.
        term: Term,
        /// The state machine's answer.
        result: R,
    },
    /// The result fell out of the retained window before the reader looked.
    Expired,
}

#[derive(Debug)]
struct Results<R> {
    /// Index of `slots[0]`.
    first: u64,
    slots: VecDeque<(Term, R)>,
}

/// Results of applied entries, a bounded window of the most recent ones.
#[derive(Debug)]
pub struct ApplyLog<R> {
    results: Mutex<Results<R>>,
    applied: AtomicU64,
    waiters: Mutex<Vec<(u64, Waker)>>,
    retain: usize,
}

impl<R: Clone> ApplyLog<R> {
    /// An empty log keeping the last `retain` results.
    ///
    /// # Panics
    /// If `retain` is 0.
    pub fn new(retain: usize) -> Self {
        assert!(retain > 0);
        ApplyLog {
            results: Mutex::new(Results {
                first: 1,
                slots: VecDeque::new(),
            }),
            applied: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
            retain,
        }
    }

    /// Highest published index.
    pub fn applied(&self) -> LogIndex {
        LogIndex(self.applied.load(Ordering::Acquire))
    }

    /// Appends the result of `index` (the next index) and publishes it.
    ///
    /// # Panics
    /// If `index` is not the one after the last published (entries apply in order, once).
    pub fn publish(&self, index: LogIndex, term: Term, result: R) {
        #[cfg(ballot_mutant_publish_early)]
        self.applied.store(index.0, Ordering::Release); // MUTANT: published before written
        {
            let mut results = self.results.lock();
            let next = results.first + results.slots.len() as u64;
            assert_eq!(index.0, next, "applied out of order");
            results.slots.push_back((term, result));
            if results.slots.len() > self.retain {
                results.slots.pop_front();
                results.first += 1;
            }
        }
        #[cfg(not(ballot_mutant_publish_early))]
        self.applied.store(index.0, Ordering::Release);
        self.wake_up_to(index);
    }

    /// Publishes `index` without results for the indices up to it: the state machine was
    /// replaced by a snapshot taken there. Readers waiting at or below it find
    /// [`Applied::Expired`] (their entry's result was never produced here; a session's retry is
    /// answered from the replicated session table).
    ///
    /// # Panics
    /// If `index` is below the last published index (a snapshot only moves forward).
    pub fn skip_to(&self, index: LogIndex) {
        {
            let mut results = self.results.lock();
            let next = results.first + results.slots.len() as u64;
            assert!(index.0 + 1 >= next, "skip back to {index} from {next}");
            results.slots.clear();
            results.first = index.0 + 1;
        }
        self.applied.store(index.0, Ordering::Release);
        self.wake_up_to(index);
    }

    /// Wakes every reader waiting for an index at or below `index` (just published). The wakers
    /// are taken under the lock and woken after it is released.
    fn wake_up_to(&self, index: LogIndex) {
        let ready: Vec<Waker> = {
            let mut waiters = self.waiters.lock();
            let mut ready = Vec::new();
            waiters.retain(|(wanted, waker)| {
                if *wanted <= index.0 {
                    ready.push(waker.clone());
                    false
                } else {
                    true
                }
            });
            ready
        };
        for waker in ready {
            waker.wake();
        }
    }

    /// The result at `index` if it is published.
    pub fn get(&self, index: LogIndex) -> Option<Applied<R>> {
        if self.applied.load(Ordering::Acquire) < index.0 {
            return None;
        }
        let results = self.results.lock();
        if index.0 < results.first {
            return Some(Applied::Expired);
        }
        let slot = results.slots.get((index.0 - results.first) as usize);
        // Published means written: a missing slot is a broken publication order.
        let (term, result) = slot.expect("published index has no result");
        Some(Applied::Result {
            term: *term,
            result: result.clone(),
        })
    }

    /// Waits until `index` is published, then reads it.
    pub async fn wait(&self, index: LogIndex) -> Applied<R> {
        poll_fn(|cx| {
            if let Some(found) = self.get(index) {
                return Poll::Ready(found);
            }
            let mut waiters = self.waiters.lock();
            // Re-check under the waiter lock: a publish that stored the index before we took
            // the lock will scan the waiters after we release it, or we see its index here.
            if self.applied.load(Ordering::Acquire) >= index.0 {
                drop(waiters);
                return Poll::Ready(self.get(index).expect("published"));
            }
            waiters.push((index.0, cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;

    #[test]
    fn window_expires_old_results() {
        let log = ApplyLog::new(2);
        for i in 1..=3 {
            log.publish(LogIndex(i), Term(1), i * 10);
        }
        assert_eq!(log.get(LogIndex(1)), Some(Applied::Expired));
        assert_eq!(
            log.get(LogIndex(3)),
            Some(Applied::Result {
                term: Term(1),
                result: 30
            })
        );
        assert_eq!(log.get(LogIndex(4)), None);
    }

    #[tokio::test]
    async fn a_snapshot_skips_indices_and_wakes_their_waiters_with_expired() {
        let log = std::sync::Arc::new(ApplyLog::new(8));
        log.publish(LogIndex(1), Term(1), 'a');
        let reader = {
            let log = log.clone();
            tokio::spawn(async move { log.wait(LogIndex(3)).await })
        };
        tokio::task::yield_now().await;
        log.skip_to(LogIndex(5));
        assert_eq!(reader.await.unwrap(), Applied::Expired);
        assert_eq!(log.applied(), LogIndex(5));
        assert_eq!(log.get(LogIndex(1)), Some(Applied::Expired));
        log.publish(LogIndex(6), Term(2), 'f');
        assert_eq!(
            log.get(LogIndex(6)),
            Some(Applied::Result {
                term: Term(2),
                result: 'f'
            })
        );
    }

    #[tokio::test]
    async fn waiter_is_woken_by_publish() {
        let log = std::sync::Arc::new(ApplyLog::new(8));
        let reader = {
            let log = log.clone();
            tokio::spawn(async move { log.wait(LogIndex(2)).await })
        };
        tokio::task::yield_now().await;
        log.publish(LogIndex(1), Term(1), 'a');
        log.publish(LogIndex(2), Term(2), 'b');
        assert_eq!(
            reader.await.unwrap(),
            Applied::Result {
                term: Term(2),
                result: 'b'
            }
        );
    }
}

#[cfg(all(test, ballot_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;
    use loom::thread;

    /// Reader vs appender: whatever index a reader sees published, the result is there.
    #[test]
    fn loom_apply_log_reader_never_sees_an_unwritten_result() {
        loom::model(|| {
            let log = Arc::new(ApplyLog::new(4));
            let writer = {
                let log = log.clone();
                thread::spawn(move || {
                    log.publish(LogIndex(1), Term(1), 10u32);
                    log.publish(LogIndex(2), Term(1), 20u32);
                })
            };
            let applied = log.applied.load(Ordering::Acquire);
            for i in 1..=applied {
                let results = log.results.lock();
                let found = results.slots.get((i - results.first) as usize).map(|s| s.1);
                assert_eq!(
                    found,
                    Some(i as u32 * 10),
                    "index {i} published before written"
                );
            }
            writer.join().unwrap();
        });
    }

    /// Commit publication to a waiting client: the waiter wakes and reads the right result.
    #[test]
    fn loom_apply_log_waiter_gets_published_result() {
        loom::model(|| {
            let log = Arc::new(ApplyLog::new(4));
            let writer = {
                let log = log.clone();
                thread::spawn(move || {
                    log.publish(LogIndex(1), Term(3), 7u32);
                })
            };
            let got = loom::future::block_on(log.wait(LogIndex(1)));
            writer.join().unwrap();
            assert_eq!(
                got,
                Applied::Result {
                    term: Term(3),
                    result: 7
                }
            );
        });
    }
}
