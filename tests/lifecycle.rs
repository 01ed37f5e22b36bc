//! The store over time in the server: periodic snapshots bound what start-up (and the CLI) replay.

mod common;

use std::time::{Duration, Instant};

use common::Server;

/// The number after `key=` in the last log line that has `what`.
fn logged(s: &Server, what: &str, key: &str) -> Option<u64> {
    let log = s.log();
    let line = log.lines().rev().find(|l| l.contains(what))?;
    let at = line.find(&format!("{key}="))? + key.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn periodic_snapshots_bound_the_replayed_tail() {
    let mut s = Server::new("[storage]\nsnapshot_every_events = 60\nsnapshot_every_seconds = 0");
    s.add_account("alice@example.test");
    s.start(1);
    std::fs::create_dir(s.path("out")).unwrap();
    let acked = s
        .python("send_many.py", &["4", "50", "alice@example.test", "out"])
        .lines()
        .filter(|l| l.starts_with("OK "))
        .count();
    assert_eq!(acked, 200);
    // Each message appends 3 or 4 records (message, queue entry, filing, a share of a Done record): the
    // 60-record trigger fired several times; wait for the round that follows the last message.
    let snap = s.path("data/index-0-of-1.snap");
    let t = Instant::now();
    while !snap.exists() {
        assert!(t.elapsed() < Duration::from_secs(20), "no snapshot taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(600));
    assert!(s.path("data/queue-0.snap").exists());
    s.kill9();
    s.start(1);
    let replayed = logged(&s, "index recovered", "replayed_events").expect("recovery logged");
    let records = logged(&s, "queue recovered", "records").expect("queue recovery logged");
    // Without the periodic snapshots (no clean shutdown) all 200 deliveries would be replayed.
    assert!(replayed < 60, "replayed {replayed} events:\n{}", s.log());
    assert!(records < 60, "read {records} queue records:\n{}", s.log());
    assert_eq!(s.ls("alice@example.test", "INBOX").len(), 200);
    assert_eq!(s.stop(), Some(0));
}
