//! The `ballot` command line.
fn main() {}
