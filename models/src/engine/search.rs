//! The three strategies (BFS, DFS, random walks) over one shared search context.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use stateright::{Expectation, Model, Property};

use super::visited::ROOT;
use super::{
    fingerprint, liveness, CheckOptions, Discovery, Fp, Outcome, Progress, PropertyOutcome,
    Representative, Stats, StopReason, Strategy, Verdict, Visited,
};

/// States handed out to a worker at a time: large enough to amortise locking, small enough that a
/// timeout is noticed within milliseconds.
const CHUNK: usize = 256;

enum Found<A> {
    /// Found by an exhaustive search: the path is rebuilt from parent links.
    At { fp: Fp, after: Duration },
    /// Found on a random walk, which carries its own path.
    Walk {
        init: usize,
        actions: Vec<A>,
        after: Duration,
    },
}

struct Shared<'a, M: Model> {
    model: &'a M,
    options: &'a CheckOptions,
    progress: &'a Progress,
    props: Vec<Property<M>>,
    symmetry: Option<Representative<'a, M::State>>,
    visited: Visited,
    found: Vec<Mutex<Option<Found<M::Action>>>>,
    decided: Vec<AtomicBool>,
    undecided: AtomicUsize,
    /// `eventually` properties need the whole graph, so the search records edges and goal states.
    track_graph: bool,
    stop: AtomicBool,
    reason: Mutex<Option<StopReason>>,
    max_depth: AtomicU32,
    start: Instant,
}

/// A worker's private buffers, merged into the shared context when it finishes.
struct Local<M: Model> {
    actions: Vec<M::Action>,
    edges: Vec<(Fp, Fp)>,
    goals: Vec<Vec<Fp>>,
    generated: u64,
    unique: u64,
}

impl<M: Model> Local<M> {
    fn new(props: usize) -> Self {
        Local {
            actions: Vec::new(),
            edges: Vec::new(),
            goals: (0..props).map(|_| Vec::new()).collect(),
            generated: 0,
            unique: 0,
        }
    }
}

/// The graph gathered for `eventually` properties.
#[derive(Default)]
struct Graph {
    edges: Vec<(Fp, Fp)>,
    goals: Vec<Vec<Fp>>,
}

impl<'a, M> Shared<'a, M>
where
    M: Model + Sync,
    M::State: Clone + std::hash::Hash + Send + Sync,
    M::Action: Clone + Send + Sync,
{
    fn canon(&self, state: &M::State) -> (Fp, Option<M::State>) {
        match self.symmetry {
            Some(rep) => {
                let r = rep(state);
                (fingerprint(&r), Some(r))
            }
            None => (fingerprint(state), None),
        }
    }

    fn stop_with(&self, reason: StopReason) {
        let mut r = self.reason.lock().expect("reason lock poisoned");
        if r.is_none() {
            *r = Some(reason);
        }
        self.stop.store(true, Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Checks the stop conditions that are not discoveries: timeout and state limit.
    fn should_stop(&self) -> bool {
        if self.stopped() {
            return true;
        }
        if let Some(t) = self.options.timeout {
            if self.start.elapsed() >= t {
                self.stop_with(StopReason::Timeout);
                return true;
            }
        }
        if let Some(max) = self.options.max_states {
            if self.progress.snapshot().unique >= max {
                self.stop_with(StopReason::StateLimit);
                return true;
            }
        }
        false
    }

    fn flush(&self, local: &mut Local<M>) {
        self.progress.add(local.generated, local.unique);
        local.generated = 0;
        local.unique = 0;
    }

    fn raise_depth(&self, depth: u32) {
        if self.max_depth.fetch_max(depth, Relaxed) < depth {
            self.progress.raise_depth(depth as u64);
        }
    }

    /// Evaluates every undecided property on a newly visited state.
    fn check_props(
        &self,
        fp: Fp,
        state: &M::State,
        local: &mut Local<M>,
        walk: Option<(usize, &[M::Action])>,
    ) {
        for (i, p) in self.props.iter().enumerate() {
            match p.expectation {
                Expectation::Always | Expectation::Sometimes => {
                    if self.decided[i].load(Relaxed) {
                        continue;
                    }
                    let holds = (p.condition)(self.model, state);
                    let discovered = (p.expectation == Expectation::Always) != holds;
                    if discovered {
                        let after = self.start.elapsed();
                        let found = match walk {
                            None => Found::At { fp, after },
                            Some((init, actions)) => Found::Walk {
                                init,
                                actions: actions.to_vec(),
                                after,
                            },
                        };
                        self.discover(i, found);
                    }
                }
                Expectation::Eventually => {
                    if self.track_graph && (p.condition)(self.model, state) {
                        local.goals[i].push(fp);
                    }
                }
            }
        }
    }

    fn discover(&self, i: usize, found: Found<M::Action>) {
        let mut slot = self.found[i].lock().expect("discovery lock poisoned");
        if slot.is_some() {
            return; // the first (under BFS: a shortest) discovery stays
        }
        *slot = Some(found);
        self.decided[i].store(true, Relaxed);
        let left = self.undecided.fetch_sub(1, Relaxed) - 1;
        if self.props[i].expectation == Expectation::Always && self.options.fail_fast {
            self.stop_with(StopReason::FailFast);
        }
        let targets = &self.options.stop_when_found;
        if !targets.is_empty()
            && targets.iter().all(|t| {
                self.props
                    .iter()
                    .zip(&self.decided)
                    .any(|(p, d)| p.name == t && d.load(Relaxed))
            })
        {
            self.stop_with(StopReason::TargetFound);
        }
        if left == 0 && !self.track_graph {
            self.stop_with(StopReason::AllDiscovered);
        }
    }

    /// Visits an initial state. Returns the state to expand if it is new.
    fn visit_init(&self, state: M::State, local: &mut Local<M>) -> Option<(Fp, M::State)> {
        if !self.model.within_boundary(&state) {
            return None;
        }
        local.generated += 1;
        let (fp, rep) = self.canon(&state);
        if !self.visited.insert(fp, ROOT) {
            return None;
        }
        local.unique += 1;
        self.check_props(fp, &state, local, None);
        Some((fp, rep.unwrap_or(state)))
    }

    /// Generates the successors of `state`, hands each new one to `push`.
    fn expand(
        &self,
        parent: Fp,
        state: &M::State,
        local: &mut Local<M>,
        mut push: impl FnMut(Fp, M::State),
    ) {
        let mut actions = std::mem::take(&mut local.actions);
        self.model.actions(state, &mut actions);
        for action in actions.drain(..) {
            let Some(next) = self.model.next_state(state, action) else {
                continue;
            };
            if !self.model.within_boundary(&next) {
                continue;
            }
            local.generated += 1;
            let (fp, rep) = self.canon(&next);
            if self.track_graph {
                local.edges.push((parent, fp));
            }
            if self.visited.insert(fp, parent) {
                local.unique += 1;
                self.check_props(fp, &next, local, None);
                push(fp, rep.unwrap_or(next));
            }
        }
        local.actions = actions;
    }

    fn merge(&self, local: Local<M>, graph: &Mutex<Graph>) {
        self.progress.add(local.generated, local.unique);
        if self.track_graph {
            let mut g = graph.lock().expect("graph lock poisoned");
            g.edges.extend(local.edges);
            for (i, goals) in local.goals.into_iter().enumerate() {
                g.goals[i].extend(goals);
            }
        }
    }

    /// Rebuilds the actions along a chain of fingerprints by replaying the model: from each
    /// concrete state, the action whose successor has the next fingerprint.
    fn replay_chain(&self, chain: &[Fp], after: Duration) -> Discovery<M::Action> {
        let inits = self.model.init_states();
        let init = inits
            .iter()
            .position(|s| self.canon(s).0 == chain[0])
            .expect("a path starts at an initial state");
        let mut state = inits[init].clone();
        let mut path = Vec::with_capacity(chain.len() - 1);
        let mut actions = Vec::new();
        for (step, &want) in chain.iter().enumerate().skip(1) {
            actions.clear();
            self.model.actions(&state, &mut actions);
            let next = actions.drain(..).find_map(|a| {
                let next = self.model.next_state(&state, a.clone())?;
                (self.model.within_boundary(&next) && self.canon(&next).0 == want)
                    .then_some((a, next))
            });
            let (a, next) = next.unwrap_or_else(|| {
                panic!(
                    "cannot replay step {step} of a discovered path: the model is not \
                     deterministic, or not symmetric under its representative function"
                )
            });
            path.push(a);
            state = next;
        }
        Discovery {
            init,
            actions: path,
            found_after: after,
        }
    }
}

pub(super) fn run<M>(
    model: &M,
    options: &CheckOptions,
    symmetry: Option<Representative<'_, M::State>>,
    progress: &Progress,
) -> Outcome<M::Action>
where
    M: Model + Sync,
    M::State: Clone + std::hash::Hash + Send + Sync,
    M::Action: Clone + Send + Sync,
{
    let props = model.properties();
    let track_graph = options.strategy != Strategy::Sim
        && props
            .iter()
            .any(|p| p.expectation == Expectation::Eventually);
    let decidable = props
        .iter()
        .filter(|p| p.expectation != Expectation::Eventually)
        .count();
    let shared = Shared {
        model,
        options,
        progress,
        found: props.iter().map(|_| Mutex::new(None)).collect(),
        decided: props.iter().map(|_| AtomicBool::new(false)).collect(),
        undecided: AtomicUsize::new(decidable),
        props,
        symmetry,
        visited: Visited::new(),
        track_graph,
        stop: AtomicBool::new(false),
        reason: Mutex::new(None),
        max_depth: AtomicU32::new(0),
        start: Instant::now(),
    };
    let graph = Mutex::new(Graph {
        edges: Vec::new(),
        goals: shared.props.iter().map(|_| Vec::new()).collect(),
    });
    if decidable == 0 && !track_graph {
        shared.stop_with(StopReason::AllDiscovered);
    }
    match options.strategy {
        Strategy::Bfs => bfs(&shared, &graph),
        Strategy::Dfs => dfs(&shared, &graph),
        Strategy::Sim => sim(&shared),
    }
    progress.set_unique(shared.visited.len() as u64);
    progress.finish();
    let stop = shared
        .reason
        .lock()
        .expect("reason lock poisoned")
        .unwrap_or(match options.strategy {
            Strategy::Sim => StopReason::WalksDone,
            _ => StopReason::Exhausted,
        });
    let elapsed = shared.start.elapsed();
    let exhausted = stop == StopReason::Exhausted;

    let graph = graph.into_inner().expect("graph lock poisoned");
    let mut live_ids = None;
    let mut properties = Vec::with_capacity(shared.props.len());
    for (i, p) in shared.props.iter().enumerate() {
        let found = shared.found[i]
            .lock()
            .expect("discovery lock poisoned")
            .take();
        let discovery = match found {
            Some(Found::At { fp, after }) => {
                Some(shared.replay_chain(&shared.visited.chain_to(fp), after))
            }
            Some(Found::Walk {
                init,
                actions,
                after,
            }) => Some(Discovery {
                init,
                actions,
                found_after: after,
            }),
            None => None,
        };
        let (verdict, discovery) = match p.expectation {
            Expectation::Always => match (&discovery, exhausted) {
                (Some(_), _) => (Verdict::Violated, discovery),
                (None, true) => (Verdict::Holds, None),
                (None, false) => (Verdict::Unknown, None),
            },
            Expectation::Sometimes => match (&discovery, exhausted) {
                (Some(_), _) => (Verdict::Found, discovery),
                (None, true) => (Verdict::Missing, None),
                (None, false) => (Verdict::Unknown, None),
            },
            Expectation::Eventually if exhausted && track_graph => {
                let ids = live_ids.get_or_insert_with(|| {
                    let mut all = shared.visited.fingerprints();
                    all.sort_unstable();
                    let inits: Vec<Fp> = all
                        .iter()
                        .copied()
                        .filter(|&fp| shared.visited.parent(fp) == Some(ROOT))
                        .collect();
                    liveness::Graph::new(all, &inits, &graph.edges)
                });
                match ids.first_unable_to_reach(&graph.goals[i]) {
                    None => (Verdict::Holds, None),
                    Some(chain) => (
                        Verdict::Violated,
                        Some(shared.replay_chain(&chain, shared.start.elapsed())),
                    ),
                }
            }
            Expectation::Eventually => (Verdict::Unknown, None),
        };
        properties.push(PropertyOutcome {
            name: p.name,
            expectation: p.expectation.clone(),
            verdict,
            discovery,
        });
    }
    Outcome {
        properties,
        stats: Stats {
            generated: progress.snapshot().generated,
            unique: shared.visited.len() as u64,
            max_depth: shared.max_depth.load(Relaxed),
            elapsed,
            stop,
            visited_bytes: shared.visited.heap_bytes() as u64,
        },
    }
}

/// Level-synchronous parallel BFS. Every state at depth d is checked while level d-1 is expanded,
/// after every state at depth < d was checked, so the first discovery of a property is at the
/// smallest depth where one exists: a shortest path, whatever the thread count.
fn bfs<M>(sh: &Shared<'_, M>, graph: &Mutex<Graph>)
where
    M: Model + Sync,
    M::State: Clone + std::hash::Hash + Send + Sync,
    M::Action: Clone + Send + Sync,
{
    let mut local = Local::<M>::new(sh.props.len());
    let mut level: Vec<(Fp, M::State)> = Vec::new();
    for s in sh.model.init_states() {
        if let Some(item) = sh.visit_init(s, &mut local) {
            level.push(item);
        }
    }
    sh.merge(local, graph);
    let mut frontier: Vec<Vec<(Fp, M::State)>> = vec![level];
    let mut depth = 0u32;
    while frontier.iter().any(|c| !c.is_empty()) && !sh.should_stop() {
        depth += 1;
        let work = Mutex::new(frontier.into_iter());
        let next = Mutex::new(Vec::new());
        thread::scope(|scope| {
            for _ in 0..sh.options.threads {
                scope.spawn(|| {
                    let mut local = Local::<M>::new(sh.props.len());
                    let mut done: Vec<Vec<(Fp, M::State)>> = Vec::new();
                    let mut out = Vec::with_capacity(CHUNK);
                    loop {
                        if sh.should_stop() {
                            break;
                        }
                        let chunk = work.lock().expect("work lock poisoned").next();
                        let Some(chunk) = chunk else { break };
                        for (fp, state) in chunk {
                            sh.expand(fp, &state, &mut local, |fp, s| {
                                out.push((fp, s));
                                if out.len() == CHUNK {
                                    done.push(std::mem::replace(
                                        &mut out,
                                        Vec::with_capacity(CHUNK),
                                    ));
                                }
                            });
                        }
                        sh.flush(&mut local);
                    }
                    if !out.is_empty() {
                        done.push(out);
                    }
                    next.lock().expect("next lock poisoned").extend(done);
                    sh.merge(local, graph);
                });
            }
        });
        frontier = next.into_inner().expect("next lock poisoned");
        if frontier.iter().any(|c| !c.is_empty()) {
            sh.raise_depth(depth);
        }
    }
}

struct Pool<S> {
    items: Vec<(Fp, S, u32)>,
    idle: usize,
    done: bool,
}

/// Depth-first search; threads share work through a pool that busy threads refill (with the
/// shallow half of their stack, the biggest subtrees) when another thread is hungry.
fn dfs<M>(sh: &Shared<'_, M>, graph: &Mutex<Graph>)
where
    M: Model + Sync,
    M::State: Clone + std::hash::Hash + Send + Sync,
    M::Action: Clone + Send + Sync,
{
    let mut local = Local::<M>::new(sh.props.len());
    let mut items = Vec::new();
    for s in sh.model.init_states() {
        if let Some((fp, s)) = sh.visit_init(s, &mut local) {
            items.push((fp, s, 0));
        }
    }
    items.reverse(); // explore the first initial state first
    sh.merge(local, graph);
    let threads = sh.options.threads;
    let pool = Mutex::new(Pool {
        items,
        idle: 0,
        done: false,
    });
    let wake = Condvar::new();
    let hungry = AtomicBool::new(false);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut local = Local::<M>::new(sh.props.len());
                let mut stack: Vec<(Fp, M::State, u32)> = Vec::new();
                let mut expanded = 0u64;
                'work: loop {
                    if let Some((fp, state, depth)) = stack.pop() {
                        let before = stack.len();
                        sh.expand(fp, &state, &mut local, |fp, s| {
                            stack.push((fp, s, depth + 1));
                        });
                        // Successors were pushed in action order; pop the first action first,
                        // like a recursive DFS would.
                        stack[before..].reverse();
                        if stack.len() > before {
                            sh.raise_depth(depth + 1);
                        }
                        expanded += 1;
                        if expanded % 64 == 0 {
                            sh.flush(&mut local);
                            if sh.should_stop() {
                                break 'work;
                            }
                            if threads > 1 && hungry.load(Relaxed) && stack.len() >= 2 {
                                let give: Vec<_> = stack.drain(..stack.len() / 2).collect();
                                let mut p = pool.lock().expect("pool lock poisoned");
                                p.items.extend(give);
                                hungry.store(false, Relaxed);
                                wake.notify_all();
                            }
                        }
                        continue;
                    }
                    sh.flush(&mut local);
                    let mut p = pool.lock().expect("pool lock poisoned");
                    loop {
                        if p.done || sh.should_stop() {
                            wake.notify_all();
                            break 'work;
                        }
                        if let Some(item) = p.items.pop() {
                            stack.push(item);
                            break;
                        }
                        p.idle += 1;
                        if p.idle == threads {
                            p.done = true;
                            wake.notify_all();
                            break 'work;
                        }
                        hungry.store(true, Relaxed);
                        p = wake
                            .wait_timeout(p, Duration::from_millis(10))
                            .expect("pool lock poisoned")
                            .0;
                        p.idle -= 1;
                    }
                }
                sh.merge(local, graph);
            });
        }
    });
}

/// A small, fast, seedable generator (SplitMix64); each walk gets its own stream derived from
/// (seed, walk number), so a walk is reproducible whatever thread runs it.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, walk: u64) -> Self {
        let mut r = Rng(seed ^ walk.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random walks. Never exhaustive; the visited set only counts distinct states seen.
fn sim<M>(sh: &Shared<'_, M>)
where
    M: Model + Sync,
    M::State: Clone + std::hash::Hash + Send + Sync,
    M::Action: Clone + Send + Sync,
{
    let inits: Vec<M::State> = sh
        .model
        .init_states()
        .into_iter()
        .filter(|s| sh.model.within_boundary(s))
        .collect();
    if inits.is_empty() {
        return;
    }
    let next_walk = AtomicU64::new(0);
    thread::scope(|scope| {
        for _ in 0..sh.options.threads {
            scope.spawn(|| {
                let mut local = Local::<M>::new(sh.props.len());
                let mut actions = Vec::new();
                let mut path = Vec::new();
                loop {
                    sh.flush(&mut local);
                    if sh.should_stop() {
                        break;
                    }
                    let walk = next_walk.fetch_add(1, Relaxed);
                    if walk >= sh.options.walks {
                        break;
                    }
                    let mut rng = Rng::new(sh.options.seed, walk);
                    let init = rng.below(inits.len());
                    let mut state = inits[init].clone();
                    path.clear();
                    local.generated += 1;
                    let (fp, _) = sh.canon(&state);
                    if sh.visited.insert(fp, ROOT) {
                        local.unique += 1;
                    }
                    sh.check_props(fp, &state, &mut local, Some((init, &path)));
                    for depth in 1..=sh.options.walk_depth {
                        actions.clear();
                        sh.model.actions(&state, &mut actions);
                        let mut step = None;
                        while !actions.is_empty() {
                            let a = actions.swap_remove(rng.below(actions.len()));
                            if let Some(next) = sh.model.next_state(&state, a.clone()) {
                                if sh.model.within_boundary(&next) {
                                    step = Some((a, next));
                                    break;
                                }
                            }
                        }
                        let Some((a, next)) = step else { break };
                        path.push(a);
                        state = next;
                        local.generated += 1;
                        let (fp, _) = sh.canon(&state);
                        if sh.visited.insert(fp, ROOT) {
                            local.unique += 1;
                        }
                        sh.raise_depth(depth as u32);
                        sh.check_props(fp, &state, &mut local, Some((init, &path)));
                        if sh.stopped() {
                            break;
                        }
                    }
                }
                sh.flush(&mut local);
            });
        }
    });
}
