//! Which model paths to replay: every transition (a distinct pair of state and action) reachable
//! within a depth, covered by as few and as short paths as a greedy walk finds; or seeded random
//! walks, for depths exhaustive enumeration cannot reach.

use std::collections::HashMap;
use std::hash::Hash;

use stateright::Model;

use crate::rng::SplitMix;

/// The model's transition graph up to a depth, in breadth-first order.
pub struct TransitionGraph<M: Model> {
    /// Breadth-first depth of each state (state 0 is the initial state).
    depth: Vec<u32>,
    /// The tree edge that first reached each state: `(parent, edge index)`.
    parent: Vec<Option<(u32, u32)>>,
    /// Per state, the range of its outgoing edges in `edges`.
    out: Vec<std::ops::Range<u32>>,
    /// `(action, target state)`.
    edges: Vec<(M::Action, u32)>,
}

/// Stops enumerating past this many transitions: a guard on memory, reported as an error
/// naming `--depth`.
pub const MAX_TRANSITIONS: usize = 20_000_000;

impl<M: Model> TransitionGraph<M>
where
    M::State: Hash + Eq + Clone,
    M::Action: Clone,
{
    /// Explores every state reachable within `depth` steps from the first initial state, and
    /// every transition leaving a state at depth `< depth`; `tick` is called every 1,024
    /// states (a progress heartbeat).
    pub fn build(model: &M, depth: u32, tick: &mut dyn FnMut()) -> Result<Self, String> {
        let init = model.init_states().remove(0);
        let mut ids: HashMap<M::State, u32> = HashMap::new();
        ids.insert(init.clone(), 0);
        let mut states = vec![init];
        let mut graph = TransitionGraph {
            depth: vec![0],
            parent: vec![None],
            out: Vec::new(),
            edges: Vec::new(),
        };
        let mut actions = Vec::new();
        let mut i = 0;
        while i < states.len() {
            let start = graph.edges.len() as u32;
            if graph.depth[i] < depth {
                actions.clear();
                model.actions(&states[i], &mut actions);
                for a in actions.drain(..) {
                    let Some(next) = model.next_state(&states[i], a.clone()) else {
                        continue;
                    };
                    let target = match ids.get(&next) {
                        Some(&t) => t,
                        None => {
                            let t = states.len() as u32;
                            ids.insert(next.clone(), t);
                            states.push(next);
                            graph.depth.push(graph.depth[i] + 1);
                            graph
                                .parent
                                .push(Some((i as u32, graph.edges.len() as u32)));
                            t
                        }
                    };
                    graph.edges.push((a, target));
                }
                if graph.edges.len() > MAX_TRANSITIONS {
                    return Err(format!(
                        "--depth {depth}: more than {MAX_TRANSITIONS} transitions; lower the depth \
                         or use --walks"
                    ));
                }
            }
            graph.out.push(start..graph.edges.len() as u32);
            i += 1;
            if i % 1024 == 0 {
                tick();
            }
        }
        Ok(graph)
    }

    /// Transitions reachable within the depth.
    pub fn transitions(&self) -> usize {
        self.edges.len()
    }

    /// States reachable within the depth.
    pub fn states(&self) -> usize {
        self.depth.len()
    }

    /// Paths that together take every transition at least once.
    pub fn covering_paths(&self) -> CoveringPaths<'_, M> {
        CoveringPaths {
            graph: self,
            covered: vec![false; self.edges.len()],
            count: 0,
            next_unvisited: vec![0; self.depth.len()],
            cursor: 0,
        }
    }
}

impl<M: Model> TransitionGraph<M> {
    /// The edges of the breadth-first tree from the initial state to `s`.
    fn tree_path(&self, mut s: u32) -> Vec<u32> {
        let mut edges = Vec::new();
        while let Some((p, e)) = self.parent[s as usize] {
            edges.push(e);
            s = p;
        }
        edges.reverse();
        edges
    }
}

/// An iterator of paths (each a list of actions from the initial state) that covers every
/// transition: the tree path to the first state with an uncovered transition, then onwards
/// through uncovered transitions for as long as there are any.
pub struct CoveringPaths<'g, M: Model> {
    graph: &'g TransitionGraph<M>,
    covered: Vec<bool>,
    count: usize,
    /// Per state, the first of its edges that may still be uncovered.
    next_unvisited: Vec<u32>,
    cursor: usize,
}

impl<M: Model> CoveringPaths<'_, M>
where
    M::Action: Clone,
{
    fn uncovered_edge(&mut self, s: usize) -> Option<u32> {
        let range = self.graph.out[s].clone();
        let mut e = self.next_unvisited[s].max(range.start);
        while e < range.end && self.covered[e as usize] {
            e += 1;
        }
        self.next_unvisited[s] = e;
        (e < range.end).then_some(e)
    }

    /// Transitions covered so far.
    pub fn covered(&self) -> usize {
        self.count
    }

    fn cover(&mut self, e: u32) {
        if !std::mem::replace(&mut self.covered[e as usize], true) {
            self.count += 1;
        }
    }
}

impl<M: Model> Iterator for CoveringPaths<'_, M>
where
    M::Action: Clone,
{
    type Item = Vec<M::Action>;

    fn next(&mut self) -> Option<Vec<M::Action>> {
        while self.cursor < self.graph.depth.len() && self.uncovered_edge(self.cursor).is_none() {
            self.cursor += 1;
        }
        if self.cursor == self.graph.depth.len() {
            return None;
        }
        let mut path = self.graph.tree_path(self.cursor as u32);
        for &e in &path {
            self.cover(e);
        }
        let mut s = self.cursor;
        while let Some(e) = self.uncovered_edge(s) {
            self.cover(e);
            path.push(e);
            s = self.graph.edges[e as usize].1 as usize;
        }
        Some(
            path.into_iter()
                .map(|e| self.graph.edges[e as usize].0.clone())
                .collect(),
        )
    }
}

/// A seeded random walk of at most `depth` steps: each step uniform among the enabled actions.
pub fn random_walk<M: Model>(model: &M, rng: &mut SplitMix, depth: usize) -> Vec<M::Action>
where
    M::Action: Clone,
{
    let mut state = model.init_states().remove(0);
    let mut path = Vec::new();
    let mut actions = Vec::new();
    let mut enabled = Vec::new();
    for _ in 0..depth {
        actions.clear();
        model.actions(&state, &mut actions);
        enabled.clear();
        for a in actions.drain(..) {
            if let Some(next) = model.next_state(&state, a.clone()) {
                enabled.push((a, next));
            }
        }
        if enabled.is_empty() {
            break;
        }
        let (a, next) = enabled.swap_remove(rng.below(enabled.len()));
        path.push(a);
        state = next;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::Property;

    /// A counter that can add 1 or 2, up to 5: a small graph with joins.
    struct Counter;
    impl Model for Counter {
        type State = u8;
        type Action = u8;
        fn init_states(&self) -> Vec<u8> {
            vec![0]
        }
        fn actions(&self, _: &u8, a: &mut Vec<u8>) {
            a.extend([1, 2]);
        }
        fn next_state(&self, s: &u8, a: u8) -> Option<u8> {
            (s + a <= 5).then_some(s + a)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![]
        }
    }

    #[test]
    fn covering_paths_take_every_transition_within_the_depth() {
        let g = TransitionGraph::build(&Counter, 3, &mut || ()).unwrap();
        // depth 0: {0}; 1: {1, 2}; 2: {3, 4}; 3: {5}. Edges leave states at depth < 3.
        assert_eq!(g.states(), 6);
        assert_eq!(g.transitions(), 2 + 2 + 2 + 2 + 1);
        let mut seen = std::collections::BTreeSet::new();
        let mut paths = g.covering_paths();
        for path in paths.by_ref() {
            let mut s = 0u8;
            for a in path {
                seen.insert((s, a));
                s = Counter.next_state(&s, a).expect("a path of the model");
            }
        }
        assert_eq!(seen.len(), g.transitions(), "{seen:?}");
        assert_eq!(paths.covered(), g.transitions());
    }

    #[test]
    fn random_walks_are_reproducible_from_their_seed() {
        let walk = |seed| random_walk(&Counter, &mut SplitMix::new(seed), 10);
        assert_eq!(walk(7), walk(7));
        assert_eq!(walk(7).iter().map(|&a| a as u32).sum::<u32>(), 5);
    }
}
