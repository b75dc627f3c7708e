//! A bounded multi-producer, single-consumer queue with close, built on the sync shim.
//!
//! Every queue of the node is one: events into the node loop, persist requests to the storage
//! worker, the per-peer outbound queues, client replies. A full mailbox refuses (the protocol
//! tolerates a lost message; the caller decides), a closed one hands the item back, and
//! `close` returns what was still queued, so shutdown never loses an item silently.

use crate::sync::{Arc, Mutex};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

/// Why `send` did not enqueue; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// At capacity.
    Full(T),
    /// The mailbox was closed.
    Closed(T),
}

#[derive(Debug)]
struct State<T> {
    queue: VecDeque<T>,
    closed: bool,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

/// The sending side; clone it freely.
#[derive(Debug)]
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            shared: self.shared.clone(),
        }
    }
}

/// The receiving side (one consumer).
#[derive(Debug)]
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A mailbox holding at most `capacity` items.
///
/// # Panics
/// If `capacity` is 0.
pub fn mailbox<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a mailbox needs room for one item");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            closed: false,
            waker: None,
        }),
        capacity,
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Enqueues `item` unless the mailbox is full or closed; never blocks.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        #[cfg(ballot_mutant_check_then_act)]
        {
            // MUTANT: the room/closed check and the push happen under two separate locks, so
            // two senders both see room for one, or a close slips in between and the item is
            // queued after the receiver drained the mailbox for good.
            {
                let state = self.shared.state.lock();
                if state.closed {
                    return Err(SendError::Closed(item));
                }
                if state.queue.len() >= self.shared.capacity {
                    return Err(SendError::Full(item));
                }
            }
            let waker = {
                let mut state = self.shared.state.lock();
                state.queue.push_back(item);
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
            Ok(())
        }
        #[cfg(not(ballot_mutant_check_then_act))]
        {
            let waker = {
                let mut state = self.shared.state.lock();
                if state.closed {
                    return Err(SendError::Closed(item));
                }
                if state.queue.len() >= self.shared.capacity {
                    return Err(SendError::Full(item));
                }
                state.queue.push_back(item);
                state.waker.take()
            };
            // Wake outside the lock: the woken task may run at once and lock again.
            if let Some(waker) = waker {
                waker.wake();
            }
            Ok(())
        }
    }

    /// Closes the mailbox (see [`Receiver::close`]).
    pub fn close(&self) -> Vec<T> {
        close(&self.shared)
    }

    /// Whether the mailbox was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().closed
    }
}

fn close<T>(shared: &Shared<T>) -> Vec<T> {
    let (drained, waker) = {
        let mut state = shared.state.lock();
        state.closed = true;
        (state.queue.drain(..).collect(), state.waker.take())
    };
    if let Some(waker) = waker {
        waker.wake();
    }
    drained
}

impl<T> Receiver<T> {
    /// Takes the oldest item, or registers `cx` to be woken by the next `send` or `close`.
    /// `Ready(None)` once closed (items queued before `close` went to its caller).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        #[cfg(ballot_mutant_lost_wakeup)]
        {
            // MUTANT: "empty?" and "register the waker" are two critical sections; a send
            // between them finds no waker, and the receiver sleeps on a non-empty queue.
            {
                let mut state = self.shared.state.lock();
                if let Some(item) = state.queue.pop_front() {
                    return Poll::Ready(Some(item));
                }
                if state.closed {
                    return Poll::Ready(None);
                }
            }
            self.shared.state.lock().waker = Some(cx.waker().clone());
            Poll::Pending
        }
        #[cfg(not(ballot_mutant_lost_wakeup))]
        {
            let mut state = self.shared.state.lock();
            if let Some(item) = state.queue.pop_front() {
                return Poll::Ready(Some(item));
            }
            if state.closed {
                return Poll::Ready(None);
            }
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Waits for the next item; `None` once closed.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Takes the oldest item if there is one.
    pub fn try_recv(&mut self) -> Option<T> {
        self.shared.state.lock().queue.pop_front()
    }

    /// Closes the mailbox: later sends fail with `Closed`; returns the items still queued.
    pub fn close(&mut self) -> Vec<T> {
        close(&self.shared)
    }

    /// Whether the mailbox was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().closed
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.shared.state.lock().queue.len()
    }

    /// Whether no item is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Senders must learn that nobody will read: they get their item back as `Closed`.
        close(&self.shared);
    }
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fifo_capacity_and_close() {
        let (tx, mut rx) = mailbox(2);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(tx.send(3), Err(SendError::Full(3)));
        assert_eq!(rx.recv().await, Some(1));
        tx.send(4).unwrap();
        assert_eq!(rx.close(), vec![2, 4]);
        assert_eq!(tx.send(5), Err(SendError::Closed(5)));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn receiver_wakes_on_send_from_another_task() {
        let (tx, mut rx) = mailbox(1);
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(7).unwrap();
            tx
        });
        assert_eq!(rx.recv().await, Some(7));
        drop(sender.await.unwrap());
    }
}

#[cfg(all(test, ballot_loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// A receiver parked on an empty mailbox is always woken by a later send (no lost wakeup:
    /// loom reports a deadlock otherwise).
    #[test]
    fn loom_mailbox_no_lost_wakeup() {
        loom::model(|| {
            let (tx, mut rx) = mailbox::<u32>(4);
            let producer = thread::spawn(move || {
                tx.send(1).unwrap();
                tx.send(2).unwrap();
            });
            let got = loom::future::block_on(async { (rx.recv().await, rx.recv().await) });
            producer.join().unwrap();
            assert_eq!(got, (Some(1), Some(2)));
        });
    }

    /// Two senders racing for the last slot: exactly the capacity is accepted.
    #[test]
    fn loom_mailbox_capacity_is_never_exceeded() {
        loom::model(|| {
            let (tx, rx) = mailbox::<u32>(1);
            let tx2 = tx.clone();
            let a = thread::spawn(move || tx.send(1).is_ok());
            let b = thread::spawn(move || tx2.send(2).is_ok());
            let accepted = usize::from(a.join().unwrap()) + usize::from(b.join().unwrap());
            assert_eq!(accepted, 1);
            assert!(rx.len() <= 1, "capacity 1 holds {} items", rx.len());
        });
    }

    /// Shutdown racing with a send: every accepted item is either received or handed back by
    /// `close`; none vanishes, and nothing is accepted after close.
    #[test]
    fn loom_mailbox_shutdown_races_with_send() {
        loom::model(|| {
            let (tx, mut rx) = mailbox::<u32>(4);
            let sender = thread::spawn(move || tx.send(1).is_ok());
            let mut seen = Vec::new();
            if let Some(item) = rx.try_recv() {
                seen.push(item);
            }
            seen.extend(rx.close());
            let accepted = sender.join().unwrap();
            // Nothing can arrive after close: the receiver is gone for good.
            assert_eq!(
                rx.try_recv(),
                None,
                "an item was queued after close and is lost"
            );
            assert_eq!(
                accepted,
                seen == vec![1],
                "accepted={accepted} seen={seen:?}"
            );
        });
    }
}
