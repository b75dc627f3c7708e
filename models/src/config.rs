//! Errors for bad bounds and mutant names, shared by every protocol's configuration.

use thiserror::Error;

/// A configuration value out of range, named by the command-line flag that sets it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    /// The flag (e.g. `--max-term`) or trace field that holds the bad value.
    pub flag: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(flag: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            flag,
            message: message.into(),
        }
    }
}

/// Checks `lo <= value <= hi` for an integer bound.
pub fn in_range(flag: &'static str, value: u8, lo: u8, hi: u8) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(
            flag,
            format!("{value} is out of range (accepted: {lo} to {hi})"),
        ))
    }
}
