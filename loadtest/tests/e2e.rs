//! The load generator end to end: against shardmail started in-process on loopback (counts reported
//! must equal what the server stored), and against targets that fail: nothing listening, a server that
//! refuses, a server that hangs. Every run must still end on time with the errors counted.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardmail::accounts::Accounts;
use shardmail::config::Config;

mod common;
use common::{loadtest, LT};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    smtp: String,
    config: Config,
}

impl Server {
    fn start(dir: &Path, accounts: &[&str]) -> Server {
        let mut config = Config {
            data_dir: dir.join("data"),
            shards: 2,
            pin: false,
            ..Config::default()
        };
        let smtp = format!("127.0.0.1:{}", free_port());
        config.smtp.listen = vec![smtp.clone()];
        for l in [
            &mut config.submission.listen,
            &mut config.imap.listen,
            &mut config.pop3.listen,
            &mut config.metrics.listen,
        ] {
            *l = vec![format!("127.0.0.1:{}", free_port())];
        }
        std::fs::create_dir_all(&config.data_dir).unwrap();
        for a in accounts {
            Accounts::add(&config.data_dir, a, "pw").unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (config.clone(), stop.clone());
        let thread = std::thread::spawn(move || shardmail::shard::run(c, s));
        let t = Instant::now();
        while std::net::TcpStream::connect(&smtp).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            stop,
            thread: Some(thread),
            smtp,
            config,
        }
    }

    /// Stops the server and counts the messages in every INBOX.
    fn stop_and_count(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
        let rec = shardmail::storage::store::recover(
            &self.config.data_dir,
            self.config.log_options().max_payload(),
        )
        .unwrap();
        rec.index
            .accounts()
            .iter()
            .map(|a| rec.index.messages(a, "INBOX").unwrap().len() as u64)
            .sum()
    }
}

/// The default run chains messages (text, end and the next envelope in one write); the count it reports
/// must still be exactly what was stored, as in the other modes.
#[test]
fn smtp_counts_equal_what_shardmail_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["u0@lt.test", "u1@lt.test", "u2@lt.test"]);
    let (out, v, _) = loadtest(&[
        "smtp",
        "--target",
        &s.smtp,
        "--connections",
        "4",
        "--messages",
        "150",
        "--size",
        "2k,uniform",
        "--to",
        "u{0..2}@lt.test",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["ops"], 150, "{v}");
    assert_eq!(v["errors_total"], 0, "{v}");
    assert_eq!(
        v["command"][1], "smtp",
        "the JSON says how the run was made: {v}"
    );
    assert!(
        v["command"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "2k,uniform"),
        "{v}"
    );
    // BDAT and several recipients: each message lands in 2 INBOXes.
    let (out, v, _) = loadtest(&[
        "smtp",
        "--target",
        &s.smtp,
        "--connections",
        "3",
        "--messages",
        "30",
        "--bdat",
        "--rcpts",
        "2",
        "--to",
        "u{0..2}@lt.test",
    ]);
    assert!(out.status.success());
    assert_eq!(v["ops"], 30, "{v}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("operations          30"), "{table}");
    // One command at a time, and open loop (each message sent when due, no chaining).
    for mode in [&["--no-pipelining"][..], &["--rate", "400"][..]] {
        let mut args = vec![
            "smtp",
            "--target",
            &s.smtp,
            "--connections",
            "3",
            "--messages",
            "40",
            "--to",
            "u{0..2}@lt.test",
        ];
        args.extend_from_slice(mode);
        let (out, v, _) = loadtest(&args);
        assert!(out.status.success(), "{mode:?}");
        assert_eq!(v["ops"], 40, "{mode:?}: {v}");
        assert_eq!(v["errors_total"], 0, "{mode:?}: {v}");
    }
    assert_eq!(s.stop_and_count(), 150 + 30 * 2 + 2 * 40);
}

#[test]
fn refusals_are_counted_by_reply_code() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["u0@lt.test"]);
    // Half the recipients do not exist (550 5.1.1), the other domain is not local (550 5.7.1).
    let (_, v, _) = loadtest(&[
        "smtp",
        "--target",
        &s.smtp,
        "--connections",
        "2",
        "--messages",
        "40",
        "--to",
        "u{0..1}@lt.test",
    ]);
    // Every claimed message is either delivered or counted as an error (after 10 errors the server
    // closes the session with 421, which the client counts too).
    assert_eq!(
        v["ops"].as_u64().unwrap() + v["errors_total"].as_u64().unwrap(),
        40,
        "{v}"
    );
    assert!(v["ops"].as_u64().unwrap() > 0, "{v}");
    let delivered = v["ops"].as_u64().unwrap();
    assert!(v["errors"]["550"].as_u64().unwrap() > 0, "{v}");
    let (out, v, _) = loadtest(&[
        "smtp",
        "--target",
        &s.smtp,
        "--connections",
        "2",
        "--messages",
        "10",
        "--to",
        "x@elsewhere.test",
    ]);
    assert_eq!(v["ops"], 0);
    // Each refused message also draws a 503 for its pipelined DATA: after 10 errors the server ends the
    // session with 421, so some attempts show as "closed"; every one is counted.
    assert_eq!(v["errors_total"], 10, "{v}");
    // Relay refused: 550 5.7.1 (RFC 5321 4.3.2 has no 554 for RCPT).
    assert!(v["errors"]["550"].as_u64().unwrap() >= 5, "{v}");
    assert_eq!(out.status.code(), Some(1), "nothing succeeded: exit 1");
    assert_eq!(s.stop_and_count(), delivered);
}

#[test]
fn an_unreachable_target_ends_on_time_with_connection_failures() {
    let port = free_port(); // nothing listens here
    let (out, v, took) = loadtest(&[
        "smtp",
        "--target",
        &format!("127.0.0.1:{port}"),
        "--connections",
        "3",
        "--duration",
        "1.5",
        "--to",
        "a@b.test",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(v["connections_failed"].as_u64().unwrap() >= 3, "{v}");
    assert!(v["errors"]["connect refused"].as_u64().unwrap() >= 3, "{v}");
}

#[test]
fn a_hanging_server_times_out_and_the_run_ends() {
    // Accepts connections and never says a word.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let _hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    let (out, v, took) = loadtest(&[
        "smtp",
        "--target",
        &addr,
        "--connections",
        "2",
        "--duration",
        "1",
        "--timeout",
        "0.5",
        "--to",
        "a@b.test",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(v["errors"]["timeout"].as_u64().unwrap() >= 2, "{v}");
    // The POP3 and IMAP clients, and IMAP IDLE (its SMTP side hangs too), end on time as well.
    let users = ["--user-pattern", "u{0..9}@b.test", "--password", "pw"];
    for args in [
        &["pop3"][..],
        &["imap", "--scenario", "headers"][..],
        &["imap", "--scenario", "idle", "--smtp-target", &addr][..],
    ] {
        let mut a = args.to_vec();
        a.extend_from_slice(&[
            "--target",
            &addr,
            "--connections",
            "2",
            "--duration",
            "1",
            "--timeout",
            "0.5",
        ]);
        a.extend_from_slice(&users);
        let (out, v, took) = loadtest(&a);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {v}");
        assert!(took < Duration::from_secs(6), "{args:?}: {took:?}");
        let timeouts: u64 = v["errors"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains("timeout"))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum();
        assert!(timeouts >= 2, "{args:?}: {v}");
    }
}

/// A server that answers every connection with 421 and closes: counted by code, the run ends on time.
#[test]
fn a_refusing_server_is_counted_by_code() {
    use std::io::Write;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(b"421 4.3.2 busy, try later\r\n");
        }
    });
    let (out, v, took) = loadtest(&[
        "smtp",
        "--target",
        &addr,
        "--connections",
        "2",
        "--duration",
        "1",
        "--to",
        "a@b.test",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(v["errors"]["421"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["ops"], 0);
}

/// Ctrl-C ends a long run at once and still prints the summary of what was done.
#[test]
fn ctrl_c_prints_the_summary_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["u0@lt.test"]);
    let json = dir.path().join("out.json");
    let child = Command::new(LT)
        .args([
            "smtp",
            "--target",
            &s.smtp,
            "--connections",
            "2",
            "--duration",
            "60",
        ])
        .args(["--to", "u0@lt.test", "--quiet", "--json"])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("operations/s"), "{table}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let ops = v["ops"].as_u64().unwrap();
    assert!(ops > 0, "{v}");
    assert!(v["seconds"].as_f64().unwrap() < 10.0, "{v}");
    // What it reports is what the server stored.
    assert_eq!(s.stop_and_count(), ops);
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let o = Command::new(LT)
        .args([
            "smtp",
            "--target",
            "nowhere",
            "--messages",
            "1",
            "--to",
            "a@b",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--target"));
    let o = Command::new(LT)
        .args([
            "smtp",
            "--target",
            "127.0.0.1:1",
            "--messages",
            "1",
            "--to",
            "u{5..1}@b",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("ascending"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(LT)
        .args(["smtp", "--target", "127.0.0.1:1", "--to", "a@b"])
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "a run must be bounded by --messages or --duration"
    );
}
