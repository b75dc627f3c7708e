//! The visited set: state fingerprint → parent fingerprint, sharded for concurrent inserts.
//!
//! States themselves are never stored here, only 16 bytes per state (plus table slack). Parent
//! links let every strategy rebuild a path to any visited state by replaying the model, so a
//! counterexample costs nothing until it is asked for.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

/// Fingerprint of a state. Never 0: 0 marks "no parent" (an initial state).
pub type Fp = u64;

/// The parent of an initial state.
pub const ROOT: Fp = 0;

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// Fingerprints are already uniformly distributed hashes; hashing them again would only cost time.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 fingerprints are hashed");
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = hashbrown::HashMap<Fp, Fp, BuildHasherDefault<IdentityHasher>>;

/// A concurrent map from fingerprint to parent fingerprint.
pub struct Visited {
    shards: Vec<Mutex<Shard>>,
}

impl Default for Visited {
    fn default() -> Self {
        Self::new()
    }
}

impl Visited {
    pub fn new() -> Self {
        Visited {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    // The shard comes from middle bits: hashbrown indexes buckets with the low bits and tags them
    // with the top 7, so neither may be constant within a shard.
    fn shard(&self, fp: Fp) -> &Mutex<Shard> {
        &self.shards[((fp >> 32) as usize) & (SHARDS - 1)]
    }

    /// Records `fp` with its parent; returns false (and changes nothing) if it was already there.
    pub fn insert(&self, fp: Fp, parent: Fp) -> bool {
        debug_assert_ne!(fp, ROOT);
        let mut shard = self.shard(fp).lock().expect("visited shard poisoned");
        match shard.entry(fp) {
            hashbrown::hash_map::Entry::Occupied(_) => false,
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(parent);
                true
            }
        }
    }

    pub fn parent(&self, fp: Fp) -> Option<Fp> {
        self.shard(fp)
            .lock()
            .expect("visited shard poisoned")
            .get(&fp)
            .copied()
    }

    pub fn contains(&self, fp: Fp) -> bool {
        self.parent(fp).is_some()
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("visited shard poisoned").len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the tables (capacity, not length: that is what the allocator gave us).
    pub fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let cap = s.lock().expect("visited shard poisoned").capacity();
                // hashbrown: one (key, value) slot plus one control byte per bucket; buckets are
                // capacity rounded up to a power of two over the 7/8 load factor.
                let buckets = if cap == 0 {
                    0
                } else {
                    (cap * 8 / 7).next_power_of_two()
                };
                buckets * (std::mem::size_of::<(Fp, Fp)>() + 1)
            })
            .sum()
    }

    /// The chain of fingerprints from an initial state to `fp`, inclusive at both ends.
    pub fn chain_to(&self, fp: Fp) -> Vec<Fp> {
        let mut chain = vec![fp];
        let mut cur = fp;
        loop {
            let parent = self
                .parent(cur)
                .expect("every fingerprint on a parent chain was visited");
            if parent == ROOT {
                break;
            }
            chain.push(parent);
            cur = parent;
            assert!(
                chain.len() <= self.len() + 1,
                "cycle in parent links: the visited map is corrupt"
            );
        }
        chain.reverse();
        chain
    }

    /// Every fingerprint, in no particular order.
    pub fn fingerprints(&self) -> Vec<Fp> {
        let mut out = Vec::with_capacity(self.len());
        for s in &self.shards {
            out.extend(s.lock().expect("visited shard poisoned").keys().copied());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_is_first_writer_wins_and_chains_follow_parents() {
        let v = Visited::new();
        assert!(v.insert(10, ROOT));
        assert!(v.insert(20, 10));
        assert!(
            !v.insert(20, 99),
            "a second insert must not overwrite the parent"
        );
        assert!(v.insert(30, 20));
        assert_eq!(v.chain_to(30), vec![10, 20, 30]);
        assert_eq!(v.chain_to(10), vec![10]);
        assert_eq!(v.len(), 3);
        assert!(!v.contains(40));
    }
}
