//! The one place the node's `Arc`, `Mutex`, atomics and threads come from: `std` normally,
//! loom under `--cfg ballot_loom` (a private cfg: bare `--cfg loom` would switch tokio too).
//!
//! Every shared structure of the node (mailboxes, the apply log, the status cell) imports from
//! here, so loom sees all of their synchronisation.

#[cfg(not(ballot_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
    pub(crate) use std::sync::Arc;

    /// A mutex whose `lock` ignores poisoning: a panicking holder already failed the node.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(std::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}

#[cfg(ballot_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
    pub(crate) use loom::sync::Arc;

    /// loom's mutex with the same non-poisoning `lock` as the std side.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }
}

pub(crate) use imp::*;
