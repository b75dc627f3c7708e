//! `eventually` as AG EF on the explored graph: from every reachable state, some goal state must
//! stay reachable. Computed after an exhaustive search from the recorded edges.

use std::collections::VecDeque;

use super::Fp;

/// The explored state graph in compressed sparse row form, states numbered by sorted fingerprint.
pub(super) struct Graph {
    fps: Vec<Fp>,
    inits: Vec<u32>,
    fwd_start: Vec<u32>,
    fwd: Vec<u32>,
    rev_start: Vec<u32>,
    rev: Vec<u32>,
}

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

impl Graph {
    /// `fps` sorted and deduplicated; every edge endpoint and init must be in it.
    pub(super) fn new(fps: Vec<Fp>, inits: &[Fp], edges: &[(Fp, Fp)]) -> Self {
        assert!(fps.len() < u32::MAX as usize, "graph too large for u32 ids");
        let id = |fp: Fp| fps.binary_search(&fp).expect("edge endpoint was visited") as u32;
        let pairs: Vec<(u32, u32)> = edges.iter().map(|&(a, b)| (id(a), id(b))).collect();
        let n = fps.len();
        let (fwd_start, fwd) = csr(n, pairs.iter().copied());
        let (rev_start, rev) = csr(n, pairs.iter().map(|&(a, b)| (b, a)));
        let inits = inits.iter().map(|&fp| id(fp)).collect();
        Graph {
            fps,
            inits,
            fwd_start,
            fwd,
            rev_start,
            rev,
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
        while let Some(v) = queue.pop_front() {
            let (s, e) = (self.rev_start[v as usize], self.rev_start[v as usize + 1]);
            for &u in &self.rev[s as usize..e as usize] {
                if !can_reach[u as usize] {
                    can_reach[u as usize] = true;
                    queue.push_back(u);
                }
            }
        }
        if can_reach.iter().all(|&r| r) {
            return None;
        }
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
            let (s, e) = (self.fwd_start[v as usize], self.fwd_start[v as usize + 1]);
            for &u in &self.fwd[s as usize..e as usize] {
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
        let g = Graph::new(vec![1, 2, 3, 4], &[1], &[(1, 2), (2, 3), (3, 2), (1, 4)]);
        assert_eq!(g.first_unable_to_reach(&[4]), Some(vec![1, 2]));
        // With 3 -> 4 added, every state reaches the goal.
        let g = Graph::new(
            vec![1, 2, 3, 4],
            &[1],
            &[(1, 2), (2, 3), (3, 2), (1, 4), (3, 4)],
        );
        assert_eq!(g.first_unable_to_reach(&[4]), None);
    }
}
