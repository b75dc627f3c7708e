//! `eventually` as AG EF on the explored graph: from every reachable state, some goal state must
//! stay reachable. Computed after an exhaustive search from the recorded edges.
//!
//! The search records edges as fingerprint pairs; the states are numbered here by their rank in
//! the sorted fingerprints. A fingerprint is found through a bucket table over its top bits (one
//! or two independent loads, so lookups overlap in the CPU; a binary search's dependent loads
//! made this step take ~40 s on 7 M states / 31 M edges). Only the reverse adjacency is built for
//! the backward reachability; the forward one is built only when a counterexample path is needed.

use std::collections::VecDeque;

use super::Fp;

/// The explored state graph: states numbered by sorted fingerprint, edges as numbered pairs in
/// the order the search recorded them.
pub(super) struct Graph {
    fps: Vec<Fp>,
    inits: Vec<u32>,
    edges: Vec<(u32, u32)>,
}

/// Backward sweeps over the edge list before falling back to a breadth-first search.
const MAX_SWEEPS: usize = 8;

/// Compressed sparse rows of `edges`, keyed by the first element of each pair.
fn csr(n: usize, edges: impl Iterator<Item = (u32, u32)> + Clone) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; n + 1];
    for (a, _) in edges.clone() {
        start[a as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut adj = vec![0u32; start[n] as usize];
    for (a, b) in edges {
        adj[fill[a as usize] as usize] = b;
        fill[a as usize] += 1;
    }
    (start, adj)
}

/// Finds a fingerprint's rank in a sorted array: `table[b]` is the first rank whose top bits are
/// at least `b`. With about one state per bucket, a lookup reads one table entry and one or two
/// fingerprints.
struct Index<'a> {
    fps: &'a [Fp],
    shift: u32,
    table: Vec<u32>,
}

impl<'a> Index<'a> {
    fn new(fps: &'a [Fp]) -> Self {
        let bits = (fps.len().max(2).next_power_of_two().trailing_zeros()).clamp(1, 32);
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut table = vec![0u32; buckets + 1];
        let mut i = 0usize;
        for (b, slot) in table.iter_mut().enumerate() {
            while i < fps.len() && ((fps[i] >> shift) as usize) < b {
                i += 1;
            }
            *slot = i as u32;
        }
        Index { fps, shift, table }
    }

    fn rank(&self, fp: Fp) -> u32 {
        let b = (fp >> self.shift) as usize;
        let (lo, hi) = (self.table[b] as usize, self.table[b + 1] as usize);
        let at = self.fps[lo..hi]
            .iter()
            .position(|&x| x == fp)
            .expect("edge endpoint was visited");
        (lo + at) as u32
    }
}

impl Graph {
    /// `fps` sorted and deduplicated; every edge endpoint and init must be in it. The edges are
    /// numbered on up to `threads` threads.
    pub(super) fn new(fps: Vec<Fp>, inits: &[Fp], edges: &[(Fp, Fp)], threads: usize) -> Self {
        assert!(fps.len() < u32::MAX as usize, "graph too large for u32 ids");
        debug_assert!(fps.windows(2).all(|w| w[0] < w[1]), "fps sorted and unique");
        let index = Index::new(&fps);
        let mut pairs = vec![(0u32, 0u32); edges.len()];
        let chunk = edges.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            for (out, inp) in pairs.chunks_mut(chunk).zip(edges.chunks(chunk)) {
                let index = &index;
                scope.spawn(move || {
                    // A state's successors are recorded together, so its rank is looked up
                    // once per expansion rather than once per edge.
                    let mut last = (0, 0);
                    for (o, &(a, b)) in out.iter_mut().zip(inp) {
                        if a != last.0 || last.0 == 0 {
                            last = (a, index.rank(a));
                        }
                        *o = (last.1, index.rank(b));
                    }
                });
            }
        });
        let inits = inits.iter().map(|&fp| index.rank(fp)).collect();
        drop(index);
        Graph {
            fps,
            inits,
            edges: pairs,
        }
    }

    fn id(&self, fp: Fp) -> u32 {
        self.fps.binary_search(&fp).expect("goal was visited") as u32
    }

    /// A shortest chain of fingerprints from an initial state to a state from which no goal is
    /// reachable, or `None` if every state can still reach a goal.
    pub(super) fn first_unable_to_reach(&self, goals: &[Fp]) -> Option<Vec<Fp>> {
        let n = self.fps.len();
        let mut can_reach = vec![false; n];
        let mut queue: VecDeque<u32> = VecDeque::new();
        for &g in goals {
            let g = self.id(g);
            if !can_reach[g as usize] {
                can_reach[g as usize] = true;
                queue.push_back(g);
            }
        }
        if queue.len() < n {
            // Sweeps over the edges, newest first. The search records an edge when it expands
            // its source, level by level, so one backward sweep carries reachability down whole
            // chains of tree edges; only edges back to older states need another sweep. The
            // bitset stays in cache while the edges stream, which is several times faster than
            // a breadth-first search over adjacency lists. Cycles of back edges could need many
            // sweeps, so after a few the rest is a breadth-first search over reverse edges.
            let mut bits = vec![0u64; n.div_ceil(64)];
            for &v in &queue {
                bits[v as usize / 64] |= 1 << (v % 64);
            }
            let mut settled = false;
            for _ in 0..MAX_SWEEPS {
                let mut changed = false;
                for &(a, b) in self.edges.iter().rev() {
                    let (a, b) = (a as usize, b as usize);
                    let old = bits[a / 64];
                    let new = old | (bits[b / 64] >> (b % 64) & 1) << (a % 64);
                    bits[a / 64] = new;
                    changed |= new != old;
                }
                if !changed {
                    settled = true;
                    break;
                }
            }
            for (i, r) in can_reach.iter_mut().enumerate() {
                *r = bits[i / 64] >> (i % 64) & 1 != 0;
            }
            drop(bits);
            if !settled {
                queue.clear();
                queue.extend((0..n as u32).filter(|&v| can_reach[v as usize]));
                let (rev_start, rev) = csr(n, self.edges.iter().map(|&(a, b)| (b, a)));
                while let Some(v) = queue.pop_front() {
                    let (s, e) = (rev_start[v as usize], rev_start[v as usize + 1]);
                    for &u in &rev[s as usize..e as usize] {
                        if !can_reach[u as usize] {
                            can_reach[u as usize] = true;
                            queue.push_back(u);
                        }
                    }
                }
            }
            queue.clear();
        }
        if can_reach.iter().all(|&r| r) {
            return None;
        }
        queue.clear();
        let (fwd_start, fwd) = csr(n, self.edges.iter().copied());
        // Forward BFS from the initial states to the nearest state that cannot reach a goal.
        const NONE: u32 = u32::MAX;
        let mut parent = vec![NONE; n];
        let mut seen = vec![false; n];
        for &i in &self.inits {
            if !seen[i as usize] {
                seen[i as usize] = true;
                queue.push_back(i);
            }
        }
        while let Some(v) = queue.pop_front() {
            if !can_reach[v as usize] {
                let mut chain = vec![self.fps[v as usize]];
                let mut cur = v;
                while parent[cur as usize] != NONE {
                    cur = parent[cur as usize];
                    chain.push(self.fps[cur as usize]);
                }
                chain.reverse();
                return Some(chain);
            }
            let (s, e) = (fwd_start[v as usize], fwd_start[v as usize + 1]);
            for &u in &fwd[s as usize..e as usize] {
                if !seen[u as usize] {
                    seen[u as usize] = true;
                    parent[u as usize] = v;
                    queue.push_back(u);
                }
            }
        }
        unreachable!("every state was reached from an initial state, so one bad state is found")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_that_cannot_reach_the_goal_is_found() {
        // 1 -> 2 -> 3 -> 2 (a cycle), 1 -> 4 (goal). From 2 and 3 the goal is unreachable.
        let g = Graph::new(vec![1, 2, 3, 4], &[1], &[(1, 2), (2, 3), (3, 2), (1, 4)], 2);
        assert_eq!(g.first_unable_to_reach(&[4]), Some(vec![1, 2]));
        // With 3 -> 4 added, every state reaches the goal.
        let g = Graph::new(
            vec![1, 2, 3, 4],
            &[1],
            &[(1, 2), (2, 3), (3, 2), (1, 4), (3, 4)],
            1,
        );
        assert_eq!(g.first_unable_to_reach(&[4]), None);
    }

    #[test]
    fn every_fingerprint_is_found_at_its_rank() {
        // Spread over the whole range, clustered, and at both ends.
        let mut fps: Vec<Fp> = (1..5000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .chain([1, 2, 3, u64::MAX, u64::MAX - 1])
            .collect();
        fps.sort_unstable();
        fps.dedup();
        let index = Index::new(&fps);
        for (i, &fp) in fps.iter().enumerate() {
            assert_eq!(index.rank(fp), i as u32);
        }
    }

    #[test]
    fn edges_recorded_against_the_sweep_fall_back_to_the_search() {
        // A chain 1 -> 2 -> ... -> 40 (goal) recorded goal-side last: each backward sweep moves
        // reachability one edge, so the sweeps give up and the breadth-first search finishes.
        let fps: Vec<Fp> = (1..=40).collect();
        let chain: Vec<(Fp, Fp)> = (1..40).rev().map(|i| (i, i + 1)).collect();
        let g = Graph::new(fps.clone(), &[1], &chain, 1);
        assert_eq!(g.first_unable_to_reach(&[40]), None);
        // A dead end hanging off state 30 is found, by the shortest path to it.
        let mut edges = chain;
        edges.push((30, 41));
        let mut fps = fps;
        fps.push(41);
        let g = Graph::new(fps, &[1], &edges, 2);
        assert_eq!(
            g.first_unable_to_reach(&[40]),
            Some((1..=30).chain([41]).collect())
        );
    }
}
