//! The `ballot-trace/1` format: a counterexample (or any path) as semantic actions plus the
//! abstract state after each step, in one JSON document. Loading re-executes the trace on the
//! model and rejects anything inconsistent, naming the step.

use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;

use crate::engine::Discovery;
use crate::spec::Spec;

pub const FORMAT: &str = "ballot-trace/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    pub format: String,
    pub protocol: String,
    /// Every bound needed to rebuild the model.
    pub config: serde_json::Value,
    pub mutant: Option<String>,
    /// The property this trace violates (or witnesses); `null` for other traces.
    pub property: Option<String>,
    pub steps: Vec<Step>,
    /// Set on a conformance divergence: where the implementation and the model parted (step,
    /// class, expected and actual). The steps are the model's, up to that step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divergence: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub action: serde_json::Value,
    pub state: serde_json::Value,
}

#[derive(Debug, Error)]
pub enum TraceError {
    // The causes are printed inline, not chained as `source`s, so `{:#}` does not repeat them.
    #[error("{path}: cannot read: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: not a ballot trace: {error}")]
    Json {
        path: String,
        error: serde_json::Error,
    },
    #[error("format `{0}` is not supported (accepted: {FORMAT})")]
    Format(String),
    #[error("protocol `{found}` does not match (expected {expected})")]
    Protocol { found: String, expected: String },
    #[error("config: {0}")]
    Config(String),
    #[error("step {step}: {message}")]
    Step { step: usize, message: String },
}

impl Trace {
    /// Builds the trace of a discovery by replaying its actions on the model.
    pub fn from_discovery<S: Spec>(
        spec: &S,
        property: Option<&str>,
        d: &Discovery<S::Act>,
    ) -> Self {
        Self::from_path(spec, property, d.init, &d.actions)
    }

    /// The trace of `actions` taken from initial state `init`, replayed on the model.
    ///
    /// # Panics
    /// If `actions` is not a path of `spec` (a caller's invariant: paths come from the model).
    pub fn from_path<S: Spec>(
        spec: &S,
        property: Option<&str>,
        init: usize,
        actions: &[S::Act],
    ) -> Self {
        let mut state = spec.init_states()[init].clone();
        let mut steps = Vec::with_capacity(actions.len());
        for a in actions {
            state = spec
                .next_state(&state, a.clone())
                .expect("a path replays on its model");
            steps.push(Step {
                action: serde_json::to_value(a).expect("actions serialise"),
                state: spec.state_view(&state),
            });
        }
        Trace {
            format: FORMAT.to_string(),
            protocol: S::PROTOCOL.to_string(),
            config: serde_json::to_value(spec.config()).expect("configs serialise"),
            mutant: spec.mutant_name().map(str::to_string),
            property: property.map(str::to_string),
            steps,
            divergence: None,
        }
    }

    pub fn read(path: &Path) -> Result<Self, TraceError> {
        let text = std::fs::read_to_string(path).map_err(|error| TraceError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Self::parse(&text).map_err(|e| match e {
            TraceError::Json { error, .. } => TraceError::Json {
                path: path.display().to_string(),
                error,
            },
            e => e,
        })
    }

    pub fn parse(text: &str) -> Result<Self, TraceError> {
        // Check the version before the shape, so a future format is reported as such.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            if let Some(f) = v.get("format").and_then(|f| f.as_str()) {
                if f != FORMAT {
                    return Err(TraceError::Format(f.to_string()));
                }
            }
        }
        let trace: Trace = serde_json::from_str(text).map_err(|error| TraceError::Json {
            path: String::new(),
            error,
        })?;
        if trace.format != FORMAT {
            return Err(TraceError::Format(trace.format));
        }
        Ok(trace)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("traces serialise")
    }

    /// Rebuilds the model and re-executes every step: each action must be enabled where it
    /// stands, and the state it leads to must be the recorded one. Returns the model and actions.
    pub fn replay<S: Spec>(&self) -> Result<(S, Vec<S::Act>), TraceError> {
        if self.protocol != S::PROTOCOL {
            return Err(TraceError::Protocol {
                found: self.protocol.clone(),
                expected: S::PROTOCOL.to_string(),
            });
        }
        let config: S::Config = serde_json::from_value(self.config.clone())
            .map_err(|e| TraceError::Config(e.to_string()))?;
        let spec = S::build(config, self.mutant.as_deref())
            .map_err(|e| TraceError::Config(e.to_string()))?;
        let mut state = spec.init_states()[0].clone();
        let mut actions = Vec::with_capacity(self.steps.len());
        let mut enabled = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let n = i + 1;
            let action: S::Act =
                serde_json::from_value(step.action.clone()).map_err(|e| TraceError::Step {
                    step: n,
                    message: format!("action: {e}"),
                })?;
            enabled.clear();
            spec.actions(&state, &mut enabled);
            let next = enabled
                .contains(&action)
                .then(|| spec.next_state(&state, action.clone()))
                .flatten()
                .ok_or_else(|| TraceError::Step {
                    step: n,
                    message: format!("action `{action}` is not enabled in the state before it"),
                })?;
            let view = spec.state_view(&next);
            if view != step.state {
                return Err(TraceError::Step {
                    step: n,
                    message: format!(
                        "recorded state differs from the model's{}",
                        first_difference(&step.state, &view)
                            .map(|p| format!(" at `{p}`"))
                            .unwrap_or_default()
                    ),
                });
            }
            actions.push(action);
            state = next;
        }
        Ok((spec, actions))
    }
}

impl Trace {
    /// The trace as a sequence diagram (see [`crate::diagram`]), after replaying it on its model:
    /// the property it violates is named where it first fails; a conformance divergence is named
    /// at its step instead.
    pub fn diagram<S: Spec>(&self) -> Result<crate::diagram::Diagram, TraceError> {
        let (spec, actions) = self.replay::<S>()?;
        let init = spec.init_states()[0].clone();
        let mut title = S::PROTOCOL.to_string();
        if let Some(m) = &self.mutant {
            title.push_str(&format!(" (mutant {m})"));
        }
        if let Some(p) = &self.property {
            title.push_str(&format!(": {p}"));
        }
        title.push_str(&format!(" — {}", spec.summary()));
        let mut diagram =
            crate::diagram::of_path(&spec, title, &init, &actions, self.property.as_deref());
        if let Some(d) = &self.divergence {
            let steps = diagram.steps.len();
            let field = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            let step = d
                .get("step")
                .and_then(|s| s.as_u64())
                .map_or(steps, |s| (s as usize).min(steps));
            diagram.violation = Some(crate::diagram::Violation {
                step,
                text: format!(
                    "divergence ({}) at {}: the implementation parted from the model",
                    field("class").replace('-', " "),
                    field("action")
                ),
            });
        }
        Ok(diagram)
    }
}

/// The JSON path of the first difference between two values, for error messages.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    use serde_json::Value::{Array, Object};
    match (a, b) {
        _ if a == b => None,
        (Object(x), Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(u, v).map(|p| join(k, &p)),
                _ => Some(k.clone()),
            })
        }
        (Array(x), Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v).map(|p| join(&i.to_string(), &p))),
        _ => Some(String::new()),
    }
}

fn join(head: &str, tail: &str) -> String {
    if tail.is_empty() {
        head.to_string()
    } else {
        format!("{head}.{tail}")
    }
}
