//! Runs the built `loadtest` binary for the end-to-end tests and reads back its JSON summary.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[allow(dead_code)] // not every test binary runs it directly
pub const LT: &str = env!("CARGO_BIN_EXE_loadtest");

/// Runs `loadtest ARGS --quiet --json F`: its output, the summary (Null if none was written) and how
/// long it took.
pub fn loadtest(args: &[&str]) -> (Output, serde_json::Value, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let t = Instant::now();
    let out = Command::new(LT)
        .args(args)
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let took = t.elapsed();
    let v = std::fs::read_to_string(&json)
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (out, v, took)
}
