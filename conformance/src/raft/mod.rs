//! Raft conformance: model paths replayed on real Raft nodes ([`replay`], [`conform_depth`],
//! [`conform_walks`]) and the nodes' own schedules validated against the model ([`simulate`]).

pub mod mapping;
mod run;

pub use mapping::{ConfigHook, RaftNodes};
pub use run::{RaftRun, Stutter};

use ballot_core::Timer;
use ballot_models::network::NetworkKind;
use ballot_models::raft::{Action, RaftModel, Role, ServerId, Value};
use stateright::Model;

use crate::coverage::{random_walk, TransitionGraph};
use crate::divergence::{Class, Divergence};
use crate::rng::SplitMix;
use crate::{Failure, Progress, Summary};

/// Replays `actions` (a path of `model`) on a fresh cluster; `on_step` sees each step done.
pub fn replay(
    model: &RaftModel,
    actions: &[Action],
    hook: Option<ConfigHook>,
    mut on_step: impl FnMut(usize, &Action),
) -> Result<usize, Divergence> {
    let mut run = RaftRun::start(model, hook)?;
    for (i, a) in actions.iter().enumerate() {
        run.step(a)?;
        on_step(i + 1, a);
    }
    Ok(run.steps())
}

/// Replays paths that together take every transition reachable within `depth` steps.
pub fn conform_depth(
    model: &RaftModel,
    depth: u32,
    hook: Option<ConfigHook>,
    progress: &Progress,
) -> Result<Summary, Failure<Action>> {
    let graph =
        TransitionGraph::build(model, depth, &mut || progress.alive()).map_err(Failure::Usage)?;
    let mut summary = Summary {
        transitions: graph.transitions() as u64,
        ..Summary::default()
    };
    progress.set_total(summary.transitions);
    let mut paths = graph.covering_paths();
    let mut stops = Stops::default();
    while let Some(path) = paths.next() {
        replay_counted(
            model,
            &path,
            hook.clone(),
            progress,
            &mut summary,
            &mut stops,
        )?;
        summary.covered = paths.covered() as u64;
        progress.covered(summary.covered);
    }
    stops.finish(summary)
}

/// Replays `walks` seeded random walks of at most `walk_depth` steps.
pub fn conform_walks(
    model: &RaftModel,
    walks: u64,
    seed: u64,
    walk_depth: usize,
    hook: Option<ConfigHook>,
    progress: &Progress,
) -> Result<Summary, Failure<Action>> {
    let mut rng = SplitMix::new(seed);
    let mut summary = Summary::default();
    let mut seen = std::collections::HashSet::new();
    let mut stops = Stops::default();
    for _ in 0..walks {
        let path = random_walk(model, &mut rng, walk_depth);
        let mut st = model.init_states().remove(0);
        for a in &path {
            let next = model
                .next_state(&st, a.clone())
                .expect("a walk of the model");
            seen.insert((st, a.clone()));
            st = next;
        }
        replay_counted(
            model,
            &path,
            hook.clone(),
            progress,
            &mut summary,
            &mut stops,
        )?;
        summary.covered = seen.len() as u64;
        progress.covered(summary.covered);
    }
    stops.finish(summary)
}

/// The first path on which a node stopped (a panic, a storage error), and how many more did: a
/// run reports them at its end instead of stopping at the first, so one crashing input does not
/// hide the rest of the coverage.
#[derive(Default)]
struct Stops {
    first: Option<(Box<Divergence>, Vec<Action>)>,
    more: u64,
}

impl Stops {
    fn record(&mut self, divergence: Divergence, actions: Vec<Action>) {
        if self.first.is_none() {
            self.first = Some((Box::new(divergence), actions));
        } else {
            self.more += 1;
        }
    }

    /// Stops recorded so far (for a failure that ends the run early).
    fn count(&self) -> u64 {
        self.first.is_some() as u64 + self.more
    }

    /// The run's result: the first stop, if any, as its failure.
    fn finish(self, summary: Summary) -> Result<Summary, Failure<Action>> {
        match self.first {
            None => Ok(summary),
            Some((divergence, actions)) => Err(Failure::Diverged {
                divergence,
                actions,
                more_stopped: self.more,
            }),
        }
    }

    /// A divergence that ends the run at once.
    fn fail(&self, divergence: Divergence, actions: Vec<Action>) -> Failure<Action> {
        Failure::Diverged {
            divergence: Box::new(divergence),
            actions,
            more_stopped: self.count(),
        }
    }
}

fn replay_counted(
    model: &RaftModel,
    path: &[Action],
    hook: Option<ConfigHook>,
    progress: &Progress,
    summary: &mut Summary,
    stops: &mut Stops,
) -> Result<(), Failure<Action>> {
    let result = replay(model, path, hook, |_, _| progress.step());
    summary.paths += 1;
    progress.path();
    match result {
        Ok(steps) => {
            summary.steps += steps as u64;
            Ok(())
        }
        Err(divergence) => {
            summary.steps += divergence.step as u64;
            let actions = path[..divergence.step.min(path.len())].to_vec();
            if divergence.class == Class::NodeStopped {
                stops.record(divergence, actions);
                return Ok(());
            }
            Err(stops.fail(divergence, actions))
        }
    }
}

/// What the implementation offers next, each mapped to the model: an enabled model action, or
/// an event the model has no action for and that must change nothing.
#[derive(Clone, Debug)]
enum Choice {
    Model(Action),
    Stutter(Stutter),
}

/// The implementation chooses: `steps` events in runs of at most `run_length`, each chosen
/// uniformly among what the implementation offers within the model's bounds, and each validated
/// against the model.
pub fn simulate(
    model: &RaftModel,
    steps: u64,
    seed: u64,
    run_length: usize,
    hook: Option<ConfigHook>,
    progress: &Progress,
) -> Result<Summary, Failure<Action>> {
    let mut rng = SplitMix::new(seed);
    let mut summary = Summary::default();
    let mut stops = Stops::default();
    progress.set_total(steps);
    'runs: while summary.steps < steps {
        let mut run = match RaftRun::start(model, hook.clone()) {
            Ok(run) => run,
            Err(d) if d.class == Class::NodeStopped => {
                stops.record(d, Vec::new());
                summary.steps += 1; // a start that fails counts, so the loop ends
                continue;
            }
            Err(d) => return Err(stops.fail(d, Vec::new())),
        };
        let mut actions = Vec::new();
        for _ in 0..run_length {
            if summary.steps >= steps {
                break;
            }
            let choices = offered(model, &run).map_err(|d| stops.fail(d, actions.clone()))?;
            if choices.is_empty() {
                break;
            }
            let choice = choices[rng.below(choices.len())].clone();
            let result = match &choice {
                Choice::Model(a) => {
                    actions.push(a.clone());
                    run.step(a)
                }
                Choice::Stutter(s) => run.stutter(*s),
            };
            summary.steps += 1;
            progress.step();
            match result {
                Ok(()) => {}
                Err(d) if d.class == Class::NodeStopped => {
                    stops.record(d, actions);
                    summary.paths += 1;
                    progress.path();
                    continue 'runs;
                }
                Err(d) => return Err(stops.fail(d, actions)),
            }
        }
        summary.paths += 1;
        progress.path();
    }
    stops.finish(summary)
}

/// Everything the implementation offers now, within the model's bounds. A timer the model
/// would fire but the implementation has not armed is a divergence.
fn offered(model: &RaftModel, run: &RaftRun<'_>) -> Result<Vec<Choice>, Divergence> {
    let st = run.state();
    let cfg = &model.config;
    let enabled = |a: &Action| model.next_state(st, a.clone()).is_some();
    let mut out = Vec::new();
    let unproposed: Vec<u8> = (1..=cfg.values)
        .filter(|v| st.proposed & (1 << v) == 0)
        .collect();
    for (i, s) in st.servers.iter().enumerate() {
        let server = ServerId(i as u8);
        if !s.up {
            out.push(Choice::Model(Action::Restart { server }));
            continue;
        }
        if st.crashes < cfg.crashes {
            out.push(Choice::Model(Action::Crash { server }));
        }
        let mut timers = vec![(Timer::Election, Action::Timeout { server })];
        if s.role == Role::Leader {
            timers.push((Timer::Heartbeat, Action::Heartbeat { server }));
        }
        for (timer, action) in timers {
            let model_fires = enabled(&action);
            if !run.is_armed(server, timer) {
                if model_fires {
                    let why =
                        format!("the implementation has no {timer:?} timer armed at {server}");
                    return Err(run.fail("(simulation)", Class::MissingAction, why));
                }
            } else if model_fires {
                out.push(Choice::Model(action));
            } else if timer == Timer::Heartbeat {
                out.push(Choice::Stutter(Stutter::Heartbeat(server)));
            }
        }
        if s.role == Role::Leader && enabled(&Action::Read { server }) {
            out.push(Choice::Model(Action::Read { server }));
        }
        if s.role == Role::Leader {
            for &v in &unproposed {
                let a = Action::ClientRequest {
                    server,
                    value: Value(v),
                };
                if enabled(&a) {
                    out.push(Choice::Model(a));
                }
            }
        } else if let Some(&v) = unproposed.first() {
            out.push(Choice::Stutter(Stutter::RefusedRequest(server, v)));
        }
    }
    let net = run.in_flight();
    for i in net.deliverable(cfg.network) {
        let f = net.flights()[i];
        let (src, dst, msg) = (ServerId(f.src), ServerId(f.dst), f.msg);
        let mut candidates = vec![Action::Deliver { src, dst, msg }];
        if cfg.lossy {
            candidates.push(Action::Drop { src, dst, msg });
        }
        if cfg.network == NetworkKind::UnorderedDup && f.copies == 1 {
            candidates.push(Action::Duplicate { src, dst, msg });
        }
        out.extend(
            candidates
                .into_iter()
                .filter(|a| enabled(a))
                .map(Choice::Model),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(step: usize) -> Divergence {
        Divergence {
            step,
            action: "s0 election timeout".into(),
            class: Class::NodeStopped,
            details: vec!["node 1 stopped: panicked: boom".into()],
            expected: Box::default(),
            actual: Box::default(),
        }
    }

    #[test]
    fn a_stopped_node_is_reported_at_the_end_with_the_count_of_the_others() {
        assert!(Stops::default().finish(Summary::default()).is_ok());
        let mut stops = Stops::default();
        stops.record(stopped(3), vec![]);
        stops.record(stopped(5), vec![]);
        stops.record(stopped(7), vec![]);
        match stops.finish(Summary::default()) {
            Err(Failure::Diverged {
                divergence,
                more_stopped,
                ..
            }) => assert_eq!((divergence.step, more_stopped), (3, 2)),
            _ => panic!("the first stop is the run's failure"),
        }
    }
}
