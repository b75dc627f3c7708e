//! A divergence: the first step at which the implementation and the model part, with its class,
//! what the model expected and what the implementation did, and its trace file.

use serde::Serialize;
use serde_json::Value as Json;
use std::fmt;

/// What kind of disagreement a divergence is (docs/conformance.md § Divergences).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The model sent or did something the implementation did not (a message it did not send,
    /// a timer it had not armed, a request it refused).
    MissingAction,
    /// The implementation sent or did something the model did not (a message the model did not
    /// send, a message that left before the state it reveals was durable, a message the model
    /// cannot express).
    UnexpectedAction,
    /// After the step, some server's abstract state differs.
    IncorrectState,
    /// A node loop stopped (a panic, a storage error) or did not settle.
    NodeStopped,
}

impl Class {
    /// The class's name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::MissingAction => "missing action",
            Class::UnexpectedAction => "unexpected action",
            Class::IncorrectState => "incorrect state",
            Class::NodeStopped => "node stopped",
        }
    }
}

/// Where the implementation and the model parted.
#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    /// 1-based step of the run (0: the initial state).
    pub step: usize,
    /// The step's action, as the model prints it.
    pub action: String,
    /// The class of the first difference found.
    pub class: Class,
    /// Every difference, one line each, the first one first.
    pub details: Vec<String>,
    /// The model's abstract state after the step (boxed: a divergence travels in `Result`s).
    pub expected: Box<Json>,
    /// The implementation's abstract state after the step.
    pub actual: Box<Json>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} ({}): {}: {}",
            self.step,
            self.action,
            self.class.name(),
            self.details.first().map(String::as_str).unwrap_or("")
        )?;
        for d in self.details.iter().skip(1) {
            write!(f, "\n    also: {d}")?;
        }
        Ok(())
    }
}
