//! The stocksync reference service and CLI.
fn main() {}
