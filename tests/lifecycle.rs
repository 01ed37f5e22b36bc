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

fn segment_files(s: &Server) -> std::collections::BTreeSet<std::path::PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    for d in std::fs::read_dir(s.path("data")).unwrap().flatten() {
        if d.file_name().to_string_lossy().starts_with("log-") {
            out.extend(
                std::fs::read_dir(d.path())
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    out
}

/// Background compaction with two shards: every sealed segment (their events and queue records make
/// them less than fully live) is rewritten and removed while mail keeps coming, and after `kill -9`
/// the restart (from the snapshots the round wrote) still has every message, byte for byte.
#[test]
fn background_compaction_keeps_every_message_across_kill9() {
    let mut s = Server::new(
        "[storage]\nsegment_size = 131072\ncompact_interval = 1\ncompact_min_live_share = 0.97\nsmtp.max_message_size = 65536",
    );
    let rcpts = "alice@example.test,bob@example.test";
    s.add_account("alice@example.test");
    s.add_account("bob@example.test");
    s.start(2);
    std::fs::create_dir(s.path("out")).unwrap();
    let first: Vec<String> = s
        .python("send_many.py", &["4", "40", rcpts, "out", "a"])
        .lines()
        .filter_map(|l| l.strip_prefix("OK ").map(str::to_string))
        .collect();
    let before = segment_files(&s);
    let t = Instant::now();
    while !s.log().contains("compaction round done") {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no compaction:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Mail keeps coming while rounds run.
    let second: Vec<String> = s
        .python("send_many.py", &["4", "10", rcpts, "out", "b"])
        .lines()
        .filter_map(|l| l.strip_prefix("OK ").map(str::to_string))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let after = segment_files(&s);
    let removed = before.difference(&after).count();
    assert!(removed > 0, "{before:?} -> {after:?}:\n{}", s.log());
    assert!(
        !s.log().contains("compaction round abandoned"),
        "{}",
        s.log()
    );
    s.kill9();
    s.start(2);
    assert_eq!(s.stop(), Some(0));
    let rec = shardmail::storage::store::recover(
        &s.path("data"),
        shardmail::config::Config::default()
            .log_options()
            .max_payload(),
    )
    .unwrap();
    for a in ["alice@example.test", "bob@example.test"] {
        let msgs = rec.index.messages(a, "INBOX").unwrap();
        assert_eq!(msgs.len(), first.len() + second.len(), "{a}");
        let mut seen = std::collections::BTreeSet::new();
        for m in msgs {
            let bytes = rec.readers[&m.pos.log].get(m.pos).unwrap().to_vec();
            let at = memchr::memmem::find(&bytes, b"\r\nSubject: ").unwrap() + 11;
            let end = memchr::memchr(b'\r', &bytes[at..]).unwrap() + at;
            let token = String::from_utf8_lossy(&bytes[at..end]).into_owned();
            let sent = std::fs::read(s.path(&format!("out/{token}.eml"))).unwrap();
            common::assert_stored(&bytes, &sent);
            assert!(seen.insert(token), "{a}: a message twice");
        }
    }
    eprintln!(
        "{removed} of {} segment files removed, {} now",
        before.len(),
        after.len()
    );
}
