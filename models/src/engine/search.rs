//! The three strategies (BFS, DFS, random walks) over one shared search context.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use stateright::{Expectation, Model, Property};

use super::visited::{Arena, FpSet, RecId, Records, MAX_THREADS};
use super::{
    fingerprint, liveness, CheckOptions, Discovery, Fp, Outcome, Progress, PropertyOutcome,
    Representative, StateCodec, Stats, StopReason, Strategy, Verdict,
};

/// States handed out to a worker at a time: large enough to amortise locking, small enough that a
/// timeout is noticed within milliseconds.
const CHUNK: usize = 256;

enum Found<A> {
    /// Found by an exhaustive search: the path is rebuilt from the records.
    At { rec: RecId, after: Duration },
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
    codec: Option<&'a dyn StateCodec<M::State>>,
    visited: FpSet,
    records: Records,
    init_fps: Mutex<Vec<Fp>>,
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
    /// The worker's number, which owns arena `thread` of the records.
    thread: usize,
    actions: Vec<M::Action>,
    edges: Vec<(Fp, Fp)>,
    goals: Vec<Vec<Fp>>,
    generated: u64,
    unique: u64,
}

impl<M: Model> Local<M> {
    fn new(thread: usize, props: usize) -> Self {
        Local {
            thread,
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
        rec: Option<RecId>,
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
                        let found = match (walk, rec) {
                            (None, Some(rec)) => Found::At { rec, after },
                            (None, None) => unreachable!("exhaustive searches record every state"),
                            (Some((init, actions)), _) => Found::Walk {
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

    /// Visits initial state number `index`. Returns what to expand if it is new.
    fn visit_init(
        &self,
        index: usize,
        state: M::State,
        local: &mut Local<M>,
        arena: &mut Arena,
    ) -> Option<(RecId, M::State)> {
        if !self.model.within_boundary(&state) {
            return None;
        }
        local.generated += 1;
        let (fp, rep) = self.canon(&state);
        if !self.visited.insert(fp) {
            return None;
        }
        local.unique += 1;
        self.init_fps.lock().expect("init lock poisoned").push(fp);
        let rec = Records::push(arena, local.thread, None, index);
        self.check_props(fp, Some(rec), &state, local, None);
        Some((rec, rep.unwrap_or(state)))
    }

    /// Generates the successors of `state`, hands each new one to `push`.
    fn expand(
        &self,
        parent_rec: RecId,
        state: &M::State,
        local: &mut Local<M>,
        arena: &mut Arena,
        mut push: impl FnMut(RecId, M::State),
    ) {
        let parent = if self.track_graph {
            fingerprint(state)
        } else {
            0
        };
        let mut actions = std::mem::take(&mut local.actions);
        self.model.actions(state, &mut actions);
        for (index, action) in actions.drain(..).enumerate() {
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
            if self.visited.insert(fp) {
                local.unique += 1;
                let rec = Records::push(arena, local.thread, Some(parent_rec), index);
                self.check_props(fp, Some(rec), &next, local, None);
                push(rec, rep.unwrap_or(next));
            }
        }
        local.actions = actions;
    }

    /// Generates the successors of `state` into `batch`, without looking them up yet.
    fn generate(
        &self,
        parent_rec: RecId,
        state: &M::State,
        local: &mut Local<M>,
        batch: &mut Batch<M::State>,
    ) {
        // Stored states are representatives already, so this is the state's fingerprint.
        let parent = if self.track_graph {
            fingerprint(state)
        } else {
            0
        };
        let mut actions = std::mem::take(&mut local.actions);
        self.model.actions(state, &mut actions);
        for (index, action) in actions.drain(..).enumerate() {
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
            batch.fps.push(fp);
            batch.items.push((parent_rec, index, next, rep));
        }
        local.actions = actions;
    }

    /// Looks the batch up in the visited set at once, then records, checks and hands on the new
    /// states, in generation order.
    fn resolve(
        &self,
        batch: &mut Batch<M::State>,
        local: &mut Local<M>,
        arena: &mut Arena,
        mut push: impl FnMut(RecId, M::State),
    ) {
        self.visited
            .insert_batch(&batch.fps, &mut batch.order, &mut batch.new);
        for (k, (parent_rec, index, next, rep)) in batch.items.drain(..).enumerate() {
            if !batch.new[k] {
                continue;
            }
            let fp = batch.fps[k];
            local.unique += 1;
            let rec = Records::push(arena, local.thread, Some(parent_rec), index);
            self.check_props(fp, Some(rec), &next, local, None);
            push(rec, rep.unwrap_or(next));
        }
        batch.fps.clear();
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

    /// The path to the state recorded as `rec`: the action indices from its records give the
    /// chain of fingerprints (of representatives, with symmetry), which is then replayed on
    /// concrete states.
    fn discovery_at(&self, rec: RecId, after: Duration) -> Discovery<M::Action> {
        let (init, path) = self.records.path_to(rec);
        let mut state = self.model.init_states().swap_remove(init);
        let (fp, rep) = self.canon(&state);
        if let Some(r) = rep {
            state = r;
        }
        let mut chain = vec![fp];
        let mut actions = Vec::new();
        for index in path {
            actions.clear();
            self.model.actions(&state, &mut actions);
            let next = self
                .model
                .next_state(&state, actions.swap_remove(index))
                .expect("a recorded action is enabled where it was recorded");
            let (fp, rep) = self.canon(&next);
            chain.push(fp);
            state = rep.unwrap_or(next);
        }
        self.replay_chain(&chain, after)
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
    codec: Option<&dyn StateCodec<M::State>>,
    progress: &Progress,
) -> Outcome<M::Action>
where
    M: Model + Sync,
    M::State: Clone + std::hash::Hash + Send + Sync,
    M::Action: Clone + Send + Sync,
{
    assert!(
        options.threads <= MAX_THREADS,
        "at most {MAX_THREADS} threads"
    );
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
        codec,
        visited: FpSet::new(),
        records: Records::new(options.threads),
        init_fps: Mutex::new(Vec::new()),
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
    let mut live = None;
    let mut properties = Vec::with_capacity(shared.props.len());
    for (i, p) in shared.props.iter().enumerate() {
        let found = shared.found[i]
            .lock()
            .expect("discovery lock poisoned")
            .take();
        let discovery = match found {
            Some(Found::At { rec, after }) => Some(shared.discovery_at(rec, after)),
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
                let g = live.get_or_insert_with(|| {
                    progress.set_stage("liveness: numbering the explored graph");
                    let mut all = shared.visited.fingerprints();
                    all.sort_unstable();
                    let inits = shared.init_fps.lock().expect("init lock poisoned").clone();
                    liveness::Graph::new(all, &inits, &graph.edges, shared.options.threads)
                });
                progress.set_stage("liveness: backward reachability of the goal (AG EF)");
                match g.first_unable_to_reach(&graph.goals[i]) {
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
            visited_bytes: (shared.visited.heap_bytes() + shared.records.heap_bytes()) as u64,
        },
    }
}

/// Successors waiting to be looked up in the visited set together.
struct Batch<S> {
    fps: Vec<Fp>,
    items: Vec<(RecId, usize, S, Option<S>)>,
    order: Vec<u32>,
    new: Vec<bool>,
}

impl<S> Batch<S> {
    fn new() -> Self {
        Batch {
            fps: Vec::new(),
            items: Vec::new(),
            order: Vec::new(),
            new: Vec::new(),
        }
    }
}

/// Successors looked up at a time in BFS.
const BATCH: usize = 1024;

/// A slice of a BFS level: states with their record id, stored as they are or, when the model
/// offers a codec, encoded and then compressed with LZ4 (states of one level share most of their
/// bytes), a dozen bytes or so a state instead of a few hundred.
struct Chunk<S> {
    recs: Vec<RecId>,
    plain: Vec<S>,
    bytes: Vec<u8>,
    scratch: Vec<u8>,
}

impl<S> Chunk<S> {
    fn new() -> Self {
        Chunk {
            recs: Vec::with_capacity(CHUNK),
            plain: Vec::new(),
            bytes: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.recs.len()
    }

    fn push(&mut self, codec: Option<&dyn StateCodec<S>>, rec: RecId, state: S) {
        self.recs.push(rec);
        match codec {
            Some(c) => {
                self.scratch.clear();
                c.encode(&state, &mut self.scratch);
                let mut n = self.scratch.len();
                while n >= 0x80 {
                    self.bytes.push((n as u8) | 0x80);
                    n >>= 7;
                }
                self.bytes.push(n as u8);
                self.bytes.extend_from_slice(&self.scratch);
            }
            None => self.plain.push(state),
        }
    }

    /// Compresses the encoded states once the chunk is complete.
    fn seal(mut self, codec: Option<&dyn StateCodec<S>>) -> Self {
        if codec.is_some() {
            self.bytes = lz4_flex::compress_prepend_size(&self.bytes);
            self.scratch = Vec::new();
        }
        self
    }

    fn for_each(self, codec: Option<&dyn StateCodec<S>>, mut f: impl FnMut(RecId, S)) {
        match codec {
            Some(c) => {
                let bytes = lz4_flex::decompress_size_prepended(&self.bytes)
                    .expect("a frontier chunk decompresses");
                let mut at = 0usize;
                for rec in self.recs {
                    let (mut n, mut shift) = (0usize, 0);
                    loop {
                        let b = bytes[at];
                        at += 1;
                        n |= ((b & 0x7f) as usize) << shift;
                        if b & 0x80 == 0 {
                            break;
                        }
                        shift += 7;
                    }
                    f(rec, c.decode(&bytes[at..at + n]));
                    at += n;
                }
                assert_eq!(at, bytes.len(), "frontier chunk fully read");
            }
            None => {
                for (rec, s) in self.recs.into_iter().zip(self.plain) {
                    f(rec, s);
                }
            }
        }
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
    let mut local = Local::<M>::new(0, sh.props.len());
    let mut level = Chunk::new();
    {
        let mut arena = sh.records.arena(0);
        for (i, s) in sh.model.init_states().into_iter().enumerate() {
            if let Some((rec, s)) = sh.visit_init(i, s, &mut local, &mut arena) {
                level.push(sh.codec, rec, s);
            }
        }
    }
    sh.merge(local, graph);
    let mut frontier: Vec<Chunk<M::State>> = vec![level.seal(sh.codec)];
    let mut depth = 0u32;
    while frontier.iter().any(|c| c.len() > 0) && !sh.should_stop() {
        depth += 1;
        let work = Mutex::new(frontier.into_iter());
        let next = Mutex::new(Vec::new());
        thread::scope(|scope| {
            for t in 0..sh.options.threads {
                let (work, next) = (&work, &next);
                scope.spawn(move || {
                    let _flush = crate::coverage::FlushOnDrop;
                    let mut local = Local::<M>::new(t, sh.props.len());
                    let mut arena = sh.records.arena(t);
                    let mut done: Vec<Chunk<M::State>> = Vec::new();
                    let mut out = Chunk::new();
                    let mut batch = Batch::new();
                    let mut emit = |rec, s| {
                        out.push(sh.codec, rec, s);
                        if out.len() == CHUNK {
                            let full = std::mem::replace(&mut out, Chunk::new());
                            done.push(full.seal(sh.codec));
                        }
                    };
                    loop {
                        if sh.should_stop() {
                            break;
                        }
                        let chunk = work.lock().expect("work lock poisoned").next();
                        let Some(chunk) = chunk else { break };
                        chunk.for_each(sh.codec, |rec, state| {
                            sh.generate(rec, &state, &mut local, &mut batch);
                            if batch.fps.len() >= BATCH {
                                sh.resolve(&mut batch, &mut local, &mut arena, &mut emit);
                            }
                        });
                        sh.resolve(&mut batch, &mut local, &mut arena, &mut emit);
                        sh.flush(&mut local);
                    }
                    if out.len() > 0 {
                        done.push(out.seal(sh.codec));
                    }
                    drop(arena);
                    next.lock().expect("next lock poisoned").extend(done);
                    sh.merge(local, graph);
                });
            }
        });
        frontier = next.into_inner().expect("next lock poisoned");
        if frontier.iter().any(|c| c.len() > 0) {
            sh.raise_depth(depth);
        }
    }
}

struct Pool<S> {
    items: Vec<(RecId, S, u32)>,
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
    let mut local = Local::<M>::new(0, sh.props.len());
    let mut items = Vec::new();
    {
        let mut arena = sh.records.arena(0);
        for (i, s) in sh.model.init_states().into_iter().enumerate() {
            if let Some((rec, s)) = sh.visit_init(i, s, &mut local, &mut arena) {
                items.push((rec, s, 0));
            }
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
        for t in 0..threads {
            let (pool, wake, hungry) = (&pool, &wake, &hungry);
            scope.spawn(move || {
                let _flush = crate::coverage::FlushOnDrop;
                let mut local = Local::<M>::new(t, sh.props.len());
                let mut arena = sh.records.arena(t);
                let mut stack: Vec<(RecId, M::State, u32)> = Vec::new();
                let mut expanded = 0u64;
                'work: loop {
                    if let Some((rec, state, depth)) = stack.pop() {
                        let before = stack.len();
                        sh.expand(rec, &state, &mut local, &mut arena, |rec, s| {
                            stack.push((rec, s, depth + 1));
                        });
                        // Successors were pushed in action order; pop the first action first,
                        // like a recursive DFS would.
                        stack[before..].reverse();
                        if stack.len() > before {
                            sh.raise_depth(depth + 1);
                        }
                        expanded += 1;
                        if expanded.is_multiple_of(64) {
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
                drop(arena);
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
                let _flush = crate::coverage::FlushOnDrop;
                let mut local = Local::<M>::new(0, sh.props.len());
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
                    if sh.visited.insert(fp) {
                        local.unique += 1;
                    }
                    sh.check_props(fp, None, &state, &mut local, Some((init, &path)));
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
                        if sh.visited.insert(fp) {
                            local.unique += 1;
                        }
                        sh.raise_depth(depth as u32);
                        sh.check_props(fp, None, &state, &mut local, Some((init, &path)));
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
