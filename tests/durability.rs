//! Durability end to end: 16 concurrent smtplib senders, `kill -9` of the server mid-load, restart (with
//! the same or a different shard count): every message that got a 250 is in its mailboxes, byte-identical.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_stored, py, Server};
use shardmail::config::Config;
use shardmail::storage::store::recover;

const RCPTS: [&str; 2] = ["alice@example.test", "bob@example.test"];

fn subject_token(stored: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(stored, b"\r\nSubject: ")? + 11;
    let end = memchr::memchr(b'\r', &stored[at..])? + at;
    Some(String::from_utf8_lossy(&stored[at..end]).into_owned())
}

fn crash_round(first: usize, after: usize) {
    let mut s = Server::new("");
    for a in RCPTS {
        s.add_account(a);
    }
    s.start(first);
    std::fs::create_dir(s.path("out")).unwrap();
    let mut client = Command::new("python3")
        .arg(py("durability.py"))
        .args([&s.smtp.to_string(), "16", "7", &RCPTS.join(","), "out"])
        .current_dir(s.dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = client.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(Duration::from_millis(2500));
    s.kill9();
    std::thread::sleep(Duration::from_millis(300));
    // The log recovers by itself; senders reconnect to the restarted server.
    s.start(after);
    assert!(client.wait().unwrap().success());
    let acked: Vec<String> = reader
        .join()
        .unwrap()
        .into_iter()
        .filter_map(|l| l.strip_prefix("ACK ").map(str::to_string))
        .collect();
    assert_eq!(s.stop(), Some(0), "{}", s.log());
    assert!(
        acked.len() > 20,
        "the load ran: {} acknowledged",
        acked.len()
    );

    let rec = recover(
        &s.path("data"),
        Config::default().log_options().max_payload(),
    )
    .unwrap();
    assert_eq!(rec.report.rejected, 0, "{:?}", rec.report);
    for a in RCPTS {
        let mut stored: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for m in rec.index.messages(a, "INBOX").unwrap() {
            let bytes = rec.readers[&m.pos.log].get(m.pos).unwrap().to_vec();
            let token = subject_token(&bytes).unwrap();
            assert!(
                stored.insert(token.clone(), bytes).is_none(),
                "{a}: {token} stored twice"
            );
        }
        for token in &acked {
            let got = stored
                .get(token)
                .unwrap_or_else(|| panic!("{a}: acknowledged {token} is missing"));
            assert_stored(
                got,
                &std::fs::read(s.path(&format!("out/{token}.eml"))).unwrap(),
            );
        }
        eprintln!(
            "{a}: {} acknowledged, {} stored (shards {first} -> {after})",
            acked.len(),
            stored.len()
        );
    }
}

#[test]
fn kill9_mid_load_loses_no_acknowledged_message() {
    crash_round(2, 2);
}

#[test]
fn kill9_with_one_shard_then_restart_with_two() {
    crash_round(1, 2);
}
