//! The durable queue end to end: a message is acknowledged after one group commit on the accepting
//! shard, filed into every recipient's INBOX afterwards, exactly once, across `kill -9`, an owner whose
//! disk is full, and a changed shard count.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_stored, Raw, Server};
use shardmail::config::Config;
use shardmail::storage::index::{Event, EventBatch};
use shardmail::storage::store::{owner_of, recover};
use shardmail::storage::{segment, Kind, LogReader, Position};

/// Starts the server with test hooks in its environment, logging to server.log.
fn start_env(s: &mut Server, shards: usize, env: &[(&str, &str)]) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.path("server.log"))
        .unwrap();
    s.start_with(shards, Stdio::from(log), env);
}

/// Two accounts owned by different shards (of 2).
fn split_accounts() -> (String, String) {
    let mut by: BTreeMap<u32, String> = BTreeMap::new();
    for i in 0.. {
        let a = format!("user{i}@example.test");
        by.entry(owner_of(&a, 2)).or_insert(a);
        if by.len() == 2 {
            break;
        }
    }
    (by[&0].clone(), by[&1].clone())
}

fn subject_token(stored: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(stored, b"\r\nSubject: ")? + 11;
    let end = memchr::memchr(b'\r', &stored[at..])? + at;
    Some(String::from_utf8_lossy(&stored[at..end]).into_owned())
}

fn wait_for(what: &str, s: &Server, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(s: &Server, account: &str) -> usize {
    let o = s.cli(&["mailbox", "ls", account, "INBOX"]);
    if !o.status.success() {
        return 0;
    }
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .count()
        .saturating_sub(1)
}

/// Every `Deliver` event in every log, counted by (message position, account).
fn deliver_events(s: &Server) -> BTreeMap<(Position, String), usize> {
    let root = s.path("data");
    let max = Config::default().log_options().max_payload();
    let mut out = BTreeMap::new();
    for log in segment::list_logs(&root).unwrap() {
        let r = LogReader::new(&root, log, max, None);
        r.for_each_from(Position::new(log, 0, 0), |_, rec| {
            if rec.kind() == Kind::MAILBOX {
                for ev in EventBatch::decode(&rec).unwrap().events {
                    if let Event::Deliver { account, pos, .. } = ev {
                        *out.entry((pos, account)).or_default() += 1;
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    }
    out
}

/// With the server stopped: every acknowledged token is in each account's INBOX exactly once and
/// byte-identical, and no (message, account) has more than one delivery event in any log.
fn assert_exactly_once(s: &Server, accounts: &[&str], acked: &[String]) {
    let rec = recover(
        &s.path("data"),
        Config::default().log_options().max_payload(),
    )
    .unwrap();
    assert_eq!(rec.report.rejected, 0, "{:?}", rec.report);
    for a in accounts {
        let mut stored: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for m in rec.index.messages(a, "INBOX").unwrap() {
            let bytes = rec.readers[&m.pos.log].get(m.pos).unwrap().to_vec();
            let token = subject_token(&bytes).unwrap();
            assert!(
                stored.insert(token.clone(), bytes).is_none(),
                "{a}: {token} filed twice"
            );
        }
        for token in acked {
            let got = stored
                .get(token)
                .unwrap_or_else(|| panic!("{a}: acknowledged {token} is missing"));
            assert_stored(
                got,
                &std::fs::read(s.path(&format!("out/{token}.eml"))).unwrap(),
            );
        }
        assert_eq!(stored.len(), acked.len(), "{a}: only acknowledged mail");
    }
    let events = deliver_events(s);
    for ((pos, account), n) in &events {
        assert_eq!(*n, 1, "{account} got the message at {pos} {n} times");
    }
    assert_eq!(events.len(), accounts.len() * acked.len());
}

fn send(s: &Server, prefix: &str, conns: &str, per: &str, rcpts: &[&str]) -> Vec<String> {
    let _ = std::fs::create_dir(s.path("out"));
    s.python(
        "send_many.py",
        &[conns, per, &rcpts.join(","), "out", prefix],
    )
    .lines()
    .filter_map(|l| l.strip_prefix("OK ").map(str::to_string))
    .collect()
}

/// `kill -9` while every accepted message waits to be filed; the restart (with `after` shards) files
/// each one once.
fn held_filing_round(first: usize, after: usize) {
    let (a, b) = split_accounts();
    let mut s = Server::new("");
    s.add_account(&a);
    s.add_account(&b);
    start_env(&mut s, first, &[("SHARDMAIL_TEST_HOLD", "filing")]);
    let acked = send(&s, "m", "4", "5", &[&a, &b]);
    assert_eq!(acked.len(), 20);
    // Acknowledged, not filed: the accounts have not even been created yet.
    assert!(s.ls_err(&a) && s.ls_err(&b), "{}", s.log());
    s.kill9();
    s.start(after);
    wait_for("the queue to be filed", &s, || {
        count(&s, &a) == 20 && count(&s, &b) == 20
    });
    assert_eq!(s.metric_sum("shardmail_queue_pending"), 0);
    assert_eq!(s.stop(), Some(0), "{}", s.log());
    assert!(s.log().contains("resuming queued filings"), "{}", s.log());
    assert_exactly_once(&s, &[&a, &b], &acked);
}

#[test]
fn kill9_between_250_and_filing_loses_nothing_and_files_once() {
    held_filing_round(2, 2);
}

#[test]
fn held_queue_survives_a_shard_count_change() {
    held_filing_round(2, 1);
}

/// Filed but the completion never recorded (no `Done`, the entry still pending in memory and in the
/// queue snapshots), then `kill -9`: the restart asks every owner again and none files twice, whether
/// its filing is known from its queue snapshot or from the `Deliver` events in its log's tail.
#[test]
fn kill9_after_filing_before_done_never_files_twice() {
    let (a, b) = split_accounts();
    let mut s = Server::new("[storage]\nsnapshot_every_seconds = 1");
    s.add_account(&a);
    s.add_account(&b);
    start_env(&mut s, 2, &[("SHARDMAIL_TEST_HOLD", "done")]);
    let mut acked = send(&s, "early", "2", "5", &[&a, &b]);
    wait_for("the first messages to be filed", &s, || {
        count(&s, &a) == 10 && count(&s, &b) == 10
    });
    // A snapshot round covers these (queue snapshots list them pending, owners list their filings).
    wait_for("queue snapshots", &s, || {
        (0..2).all(|k| s.path(&format!("data/queue-{k}.snap")).exists())
    });
    std::thread::sleep(Duration::from_millis(1500));
    acked.extend(send(&s, "late", "2", "5", &[&a, &b]));
    wait_for("the later messages to be filed", &s, || {
        count(&s, &a) == 20 && count(&s, &b) == 20
    });
    assert!(s.metric_sum("shardmail_queue_pending") > 0, "held pending");
    s.kill9();
    s.start(2);
    wait_for("the queue to drain", &s, || {
        s.metric_sum("shardmail_queue_pending") == 0
    });
    assert_eq!(s.stop(), Some(0), "{}", s.log());
    assert!(s.log().contains("resuming queued filings"), "{}", s.log());
    assert_exactly_once(&s, &[&a, &b], &acked);
}

/// One raw SMTP transaction; returns the final reply.
fn transaction(s: &Server, from: &str, rcpts: &[&str], token: &str) -> String {
    let mut c = Raw::connect(s.smtp);
    c.cmd("EHLO client.example");
    let rep = c.cmd(&format!("MAIL FROM:<{from}>"));
    if !rep.starts_with("250") {
        // A shard that knows its disk is full refuses at MAIL (RFC 1870 6.1).
        return rep;
    }
    for r in rcpts {
        let rep = c.cmd(&format!("RCPT TO:<{r}>"));
        assert!(rep.starts_with("250"), "{rep}");
    }
    let rep = c.cmd("DATA");
    assert!(rep.starts_with("354"), "{rep}");
    let pad = "y".repeat(76);
    let lines: String = (0..24).map(|i| format!("{i:03} {pad}\r\n")).collect();
    let body =
        format!("Subject: {token}\r\nMessage-ID: <{token}@x>\r\n\r\nhello {token}\r\n{lines}");
    std::fs::write(s.path(&format!("out/{token}.eml")), &body).unwrap();
    c.send(format!("{body}.\r\n").as_bytes());
    let rep = c.reply();
    c.cmd("QUIT");
    rep
}

/// The owner of one recipient has a full disk: transactions accepted by the other shard still get
/// 250 (the other recipient has the message at once), and the full owner gets every one of them,
/// once, when space returns. Accepted by the full shard itself, a transaction gets 452 (RFC 5321
/// 4.2.5: insufficient system storage) and is stored for nobody.
#[test]
fn an_owner_with_a_full_disk_does_not_fail_the_transaction() {
    let (a, b) = split_accounts();
    // Shard 0 owns `a`; its log lives on a small tmpfs that is filled up before mail comes.
    let mut s = Server::new("[storage]\nsegment_size = 1048576\nsmtp.max_message_size = 65536");
    s.add_account(&a);
    s.add_account(&b);
    let log0 = s.path("data/log-0000");
    std::fs::create_dir_all(&log0).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&log0)
        .status()
        .expect("running mount");
    assert!(
        st.success(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(log0.clone());
    s.start(2);
    // Fill what the segment has not reserved yet (it is sparse): the log's next write fails ENOSPC.
    let filler = log0.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0x55u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    std::fs::create_dir_all(s.path("out")).unwrap();
    // What shard 0's log has left is the unused part of the page its segment header is in: send until
    // its filings fail, then a few more that shard 1 accepts.
    let mut acked = Vec::new();
    let mut refused = 0;
    let mut after_full = 0;
    for i in 0..400 {
        let token = format!("full{i:03}");
        let rep = transaction(&s, "sender@remote.example", &[&a, &b], &token);
        if rep.starts_with("250") {
            acked.push(token);
            if s.metric_sum("shardmail_queue_retries_disk_full_total") > 0 {
                after_full += 1;
            }
        } else {
            assert!(rep.starts_with("452"), "{rep}\n{}", s.log());
            refused += 1;
        }
        if after_full >= 3 {
            break;
        }
    }
    assert!(
        after_full >= 3,
        "shard 0's filings failed for lack of space"
    );
    // `b` (owned by shard 1) has every one now; `a` (on the full shard) lacks some.
    wait_for("b's copies", &s, || count(&s, &b) == acked.len());
    let before = count(&s, &a);
    assert!(before < acked.len(), "{before} of {}", acked.len());
    eprintln!(
        "{} acknowledged, {refused} refused with 452 (accepted by the full shard), {before} filed for {a} before space returned",
        acked.len()
    );
    std::fs::remove_file(&filler).unwrap();
    wait_for("a's copies once space returned", &s, || {
        count(&s, &a) == acked.len()
    });
    assert_eq!(s.metric_sum("shardmail_queue_pending"), 0);
    assert_eq!(s.stop(), Some(0), "{}", s.log());
    assert_exactly_once(&s, &[&a, &b], &acked);
}
