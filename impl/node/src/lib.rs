//! The tokio runtime of the implementation (filled in by issue 4).
