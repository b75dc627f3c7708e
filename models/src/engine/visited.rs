//! What a search remembers about every state it has seen, in as few bytes as possible:
//! - [`FpSet`]: the set of fingerprints, an open-addressing table of bare `u64`s (about 11–16
//!   bytes per state), sharded for concurrent inserts;
//! - [`Records`]: for each state, its parent and the index of the action that led to it, packed
//!   in one `u64` (8 bytes per state), appended to per-thread arenas.
//!
//! States themselves are not kept. A path to any visited state is rebuilt from its records by
//! replaying the model, so a counterexample costs nothing until it is asked for.

use std::sync::Mutex;

/// Fingerprint of a state. Never 0 (0 marks an empty slot).
pub type Fp = u64;

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// Grow a shard when it is this full (out of 10): linear probing stays short below 0.8.
const MAX_LOAD_TENTHS: usize = 8;

/// One shard: linear probing over a table whose size is not a power of two (grows by 4/3, so the
/// load stays between 0.6 and 0.8), indexed by the high bits of the fingerprint.
#[derive(Default)]
struct Table {
    slots: Vec<Fp>,
    len: usize,
}

impl Table {
    fn home(&self, fp: Fp) -> usize {
        ((fp as u128 * self.slots.len() as u128) >> 64) as usize
    }

    fn insert(&mut self, fp: Fp) -> bool {
        if (self.len + 1) * 10 > self.slots.len() * MAX_LOAD_TENTHS {
            self.grow();
        }
        let cap = self.slots.len();
        let mut i = self.home(fp);
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return true;
                }
                s if s == fp => return false,
                _ => i = if i + 1 == cap { 0 } else { i + 1 },
            }
        }
    }

    fn contains(&self, fp: Fp) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let cap = self.slots.len();
        let mut i = self.home(fp);
        loop {
            match self.slots[i] {
                0 => return false,
                s if s == fp => return true,
                _ => i = if i + 1 == cap { 0 } else { i + 1 },
            }
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 4 / 3).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        self.len = 0;
        for fp in old.into_iter().filter(|&fp| fp != 0) {
            self.insert(fp);
        }
    }
}

/// A concurrent set of fingerprints.
pub struct FpSet {
    shards: Vec<Mutex<Table>>,
}

impl Default for FpSet {
    fn default() -> Self {
        Self::new()
    }
}

impl FpSet {
    pub fn new() -> Self {
        FpSet {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    // The shard comes from the low bits; a shard indexes its table with the high bits.
    fn shard(&self, fp: Fp) -> &Mutex<Table> {
        &self.shards[fp as usize & (SHARDS - 1)]
    }

    /// Adds `fp`; false if it was already there.
    pub fn insert(&self, fp: Fp) -> bool {
        assert_ne!(fp, 0, "fingerprints are never 0");
        self.shard(fp)
            .lock()
            .expect("visited shard poisoned")
            .insert(fp)
    }

    /// Adds every fingerprint of `fps`; `new[i]` tells whether `fps[i]` was new (a repeat within
    /// the batch counts once). Taking each shard's lock once for all its fingerprints lets the
    /// processor overlap the cache misses of consecutive probes, which one-at-a-time inserts,
    /// each behind a lock's memory fence, cannot.
    pub fn insert_batch(&self, fps: &[Fp], order: &mut Vec<u32>, new: &mut Vec<bool>) {
        new.clear();
        new.resize(fps.len(), false);
        order.clear();
        order.extend(0..fps.len() as u32);
        order.sort_unstable_by_key(|&i| fps[i as usize] as usize & (SHARDS - 1));
        let mut k = 0;
        while k < order.len() {
            let shard = fps[order[k] as usize] as usize & (SHARDS - 1);
            let mut table = self.shards[shard].lock().expect("visited shard poisoned");
            while k < order.len() && fps[order[k] as usize] as usize & (SHARDS - 1) == shard {
                let i = order[k] as usize;
                assert_ne!(fps[i], 0, "fingerprints are never 0");
                new[i] = table.insert(fps[i]);
                k += 1;
            }
        }
    }

    pub fn contains(&self, fp: Fp) -> bool {
        self.shard(fp)
            .lock()
            .expect("visited shard poisoned")
            .contains(fp)
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("visited shard poisoned").len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("visited shard poisoned").slots.len() * 8)
            .sum()
    }

    /// Every fingerprint, in no particular order.
    pub fn fingerprints(&self) -> Vec<Fp> {
        let mut out = Vec::with_capacity(self.len());
        for s in &self.shards {
            let t = s.lock().expect("visited shard poisoned");
            out.extend(t.slots.iter().copied().filter(|&fp| fp != 0));
        }
        out
    }
}

/// Identifies a record: the worker thread that wrote it (6 bits) and its index there (42 bits).
pub type RecId = u64;

const THREAD_BITS: u32 = 6;
const INDEX_BITS: u32 = 42;
/// The parent of an initial state.
const NO_PARENT: u64 = (1 << (THREAD_BITS + INDEX_BITS)) - 1;
const ARENA_CHUNK: usize = 1 << 16;

/// The most worker threads a search can use (record ids give the thread 6 bits).
pub const MAX_THREADS: usize = 1 << THREAD_BITS;

/// One thread's records, in fixed-size chunks so that growing never copies.
#[derive(Default)]
pub struct Arena {
    chunks: Vec<Box<[u64]>>,
    len: usize,
}

impl Arena {
    fn push(&mut self, rec: u64) -> usize {
        if self.len.is_multiple_of(ARENA_CHUNK) {
            self.chunks.push(vec![0; ARENA_CHUNK].into_boxed_slice());
        }
        let i = self.len;
        self.chunks[i / ARENA_CHUNK][i % ARENA_CHUNK] = rec;
        self.len += 1;
        i
    }

    fn get(&self, i: usize) -> u64 {
        assert!(i < self.len, "record index out of range");
        self.chunks[i / ARENA_CHUNK][i % ARENA_CHUNK]
    }
}

/// Parent links of every visited state, one arena per worker thread.
pub struct Records {
    arenas: Vec<Mutex<Arena>>,
}

impl Records {
    pub fn new(threads: usize) -> Self {
        assert!(threads <= MAX_THREADS, "at most {MAX_THREADS} threads");
        Records {
            arenas: (0..threads).map(|_| Mutex::default()).collect(),
        }
    }

    /// The arena of worker `thread`; a worker holds it for as long as it runs.
    pub fn arena(&self, thread: usize) -> std::sync::MutexGuard<'_, Arena> {
        self.arenas[thread].lock().expect("records poisoned")
    }

    /// Records a state reached from `parent` by the action at `action` (its index in the
    /// parent's action list); `parent: None` for initial state number `action`.
    pub fn push(arena: &mut Arena, thread: usize, parent: Option<RecId>, action: usize) -> RecId {
        assert!(
            action <= u16::MAX as usize,
            "more than 65535 actions in one state"
        );
        let parent = parent.unwrap_or(NO_PARENT);
        let i = arena.push((parent << 16) | action as u64);
        assert!(i < 1 << INDEX_BITS, "record arena overflow");
        ((thread as u64) << INDEX_BITS) | i as u64
    }

    /// The initial state's number and the action indices from it to the state `id`.
    pub fn path_to(&self, id: RecId) -> (usize, Vec<usize>) {
        let mut actions = Vec::new();
        let mut cur = id;
        loop {
            let thread = (cur >> INDEX_BITS) as usize;
            let index = (cur & ((1 << INDEX_BITS) - 1)) as usize;
            let rec = self.arena(thread).get(index);
            let (parent, action) = (rec >> 16, (rec & 0xffff) as usize);
            if parent == NO_PARENT {
                actions.reverse();
                return (action, actions);
            }
            actions.push(action);
            cur = parent;
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.arenas
            .iter()
            .map(|a| a.lock().expect("records poisoned").chunks.len() * ARENA_CHUNK * 8)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_grows_and_keeps_every_fingerprint() {
        let set = FpSet::new();
        let fps: Vec<u64> = (1..50_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
            .collect();
        for &fp in &fps {
            assert!(set.insert(fp));
        }
        for &fp in &fps {
            assert!(!set.insert(fp), "second insert is a duplicate");
            assert!(set.contains(fp));
        }
        assert_eq!(set.len(), fps.len());
        assert!(!set.contains(2));
        let mut all = set.fingerprints();
        all.sort_unstable();
        let mut want = fps.clone();
        want.sort_unstable();
        assert_eq!(all, want);
    }

    #[test]
    fn records_give_back_the_path() {
        let records = Records::new(2);
        let root = Records::push(&mut records.arena(0), 0, None, 3);
        let a = Records::push(&mut records.arena(1), 1, Some(root), 7);
        let b = Records::push(&mut records.arena(0), 0, Some(a), 2);
        assert_eq!(records.path_to(b), (3, vec![7, 2]));
        assert_eq!(records.path_to(root), (3, vec![]));
    }
}
