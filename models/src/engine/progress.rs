//! Live counters of a running search, read by a progress reporter on another thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Progress {
    start: Instant,
    generated: AtomicU64,
    unique: AtomicU64,
    depth: AtomicU64,
    done: AtomicBool,
    /// What the run does after the search ("" while searching): the `eventually` post-pass.
    stage: Mutex<&'static str>,
}

/// A consistent-enough copy of the counters.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub generated: u64,
    pub unique: u64,
    pub depth: u64,
    pub elapsed: Duration,
    /// "" while searching; otherwise the post-pass under way.
    pub stage: &'static str,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            start: Instant::now(),
            generated: AtomicU64::new(0),
            unique: AtomicU64::new(0),
            depth: AtomicU64::new(0),
            done: AtomicBool::new(false),
            stage: Mutex::new(""),
        }
    }

    pub(crate) fn add(&self, generated: u64, unique: u64) {
        self.generated.fetch_add(generated, Relaxed);
        self.unique.fetch_add(unique, Relaxed);
    }

    pub(crate) fn set_unique(&self, unique: u64) {
        self.unique.store(unique, Relaxed);
    }

    pub(crate) fn raise_depth(&self, depth: u64) {
        self.depth.fetch_max(depth, Relaxed);
    }

    pub(crate) fn finish(&self) {
        self.done.store(true, Relaxed);
    }

    /// Names the post-pass now running, for the progress line.
    pub(crate) fn set_stage(&self, stage: &'static str) {
        *self.stage.lock().expect("progress stage poisoned") = stage;
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            generated: self.generated.load(Relaxed),
            unique: self.unique.load(Relaxed),
            depth: self.depth.load(Relaxed),
            elapsed: self.start.elapsed(),
            stage: *self.stage.lock().expect("progress stage poisoned"),
        }
    }
}
