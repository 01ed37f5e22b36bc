//! SMTP end to end against the built binary on loopback, with real clients: Python's smtplib, swaks, and
//! a raw socket where no library speaks the feature (BDAT). `shardmail mailbox cat` must show the bytes.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{assert_stored, Raw, Server};

fn eml(s: &Server, token: &str) -> Vec<u8> {
    std::fs::read(s.path(&format!("out/{token}.eml"))).unwrap()
}

#[test]
fn smtplib_many_messages_over_several_connections_to_several_recipients() {
    let mut s = Server::new("");
    for a in [
        "alice@example.test",
        "bob@example.test",
        "carol@example.test",
    ] {
        s.add_account(a);
    }
    s.start(2);
    std::fs::create_dir(s.path("out")).unwrap();
    let out = s.python(
        "send_many.py",
        &["4", "15", "alice@example.test,BOB@Example.Test", "out"],
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("OK ")).count(), 60);
    for who in ["alice@example.test", "bob@example.test"] {
        let rows = s.ls(who, "INBOX");
        assert_eq!(rows.len(), 60, "{who}");
        let uids: Vec<u32> = rows.iter().map(|r| r.0).collect();
        assert_eq!(
            uids,
            (1..=60).collect::<Vec<_>>(),
            "UIDs ascend from 1 without gaps"
        );
        for (uid, _size, subject) in
            rows.iter()
                .step_by(if who.starts_with("alice") { 1 } else { 7 })
        {
            assert_stored(&s.cat(who, "INBOX", *uid), &eml(&s, subject));
        }
    }
    assert!(s.ls_err("carol@example.test"), "carol got nothing");
    assert_eq!(s.metric_sum("shardmail_messages_accepted_total"), 60);
    assert_eq!(
        s.metric_sum("shardmail_connections_total"),
        4 + 1,
        "4 senders and the readiness probe"
    );
    assert!(s.metric_sum("shardmail_smtp_replies_total") >= 60 * 4);
    assert_eq!(s.stop(), Some(0), "{}", s.log());
}

#[test]
fn smtplib_send_message_with_utf8_addresses_and_8bit_bodies() {
    let mut s = Server::new("");
    s.add_account("δοκιμή@παράδειγμα.δοκιμή");
    s.add_account("alice@example.test");
    s.start(2);
    std::fs::create_dir(s.path("out")).unwrap();
    s.python(
        "send_utf8.py",
        &["δοκιμή@παράδειγμα.δοκιμή", "alice@example.test", "out"],
    );
    let stored = s.cat("δοκιμή@παράδειγμα.δοκιμή", "INBOX", 1);
    assert_stored(&stored, &eml(&s, "utf8"));
    let trace = String::from_utf8_lossy(&stored);
    assert!(trace.contains("with UTF8SMTP id"), "{trace}");
    assert!(
        trace.contains("Return-Path: <αποστολέας@παράδειγμα.δοκιμή>"),
        "{trace}"
    );
    assert_stored(&s.cat("alice@example.test", "INBOX", 1), &eml(&s, "8bit"));
}

fn swaks(s: &Server, args: &[&str]) -> std::process::Output {
    std::process::Command::new("swaks")
        .current_dir(s.dir.path())
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &s.smtp.port().to_string(),
            "--helo",
            "client.example",
        ])
        .args(args)
        .output()
        .expect("swaks is installed (apt-get install swaks; .ci/run does)")
}

#[test]
fn swaks_plain_and_pipelined() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.start(2);
    let body = b"From: swaks@remote.example\r\nSubject: swaks data file\r\n\r\nline one\r\n.leading dot\r\n\r\nlast\r\n";
    std::fs::write(s.path("data.eml"), body).unwrap();
    for pipeline in [false, true] {
        let mut args = vec![
            "--from",
            "swaks@remote.example",
            "--to",
            "alice@example.test",
            "--data",
            "data.eml",
        ];
        if pipeline {
            args.push("--pipeline");
        }
        let o = swaks(&s, &args);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            text.contains("<-  250 2.0.0 Message accepted for delivery"),
            "{text}"
        );
        if pipeline {
            assert!(text.contains("PIPELINING"), "{text}");
        }
    }
    let rows = s.ls("alice@example.test", "INBOX");
    assert_eq!(rows.len(), 2);
    // swaks ends DATA with CRLF "." CRLF after the file's own final CRLF, so what it sent has one more
    // empty line (its transcript shows it); that is exactly what is stored.
    let mut sent = body.to_vec();
    sent.extend_from_slice(b"\r\n");
    for (uid, _, subject) in rows {
        assert_eq!(subject, "swaks data file");
        assert_stored(&s.cat("alice@example.test", "INBOX", uid), &sent);
    }
    // swaks' own generated message, and refusals it reports.
    let o = swaks(
        &s,
        &[
            "--from",
            "a@remote.example",
            "--to",
            "alice@example.test",
            "--header",
            "Subject: generated",
        ],
    );
    assert!(o.status.success());
    let o = swaks(
        &s,
        &["--from", "a@remote.example", "--to", "nobody@example.test"],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("550 5.1.1"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = swaks(
        &s,
        &[
            "--from",
            "a@remote.example",
            "--to",
            "someone@elsewhere.example",
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("550 5.7.1"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(s.ls("alice@example.test", "INBOX").len(), 3);
}

#[test]
fn raw_bdat_with_binary_chunks() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.add_account("bob@example.test");
    s.start(2);
    let mut c = Raw::connect(s.smtp);
    let ehlo = c.cmd("EHLO raw.example");
    assert!(ehlo.contains("250 CHUNKING\r\n"), "{ehlo}");
    let part1: Vec<u8> = (0u8..=255).collect();
    let part2 = b"\r\n.\r\nnot the end\r\n..\r\nQUIT\r\n\0\r";
    // Pipelined: MAIL, RCPT and both chunks in one write (RFC 3030 with RFC 2920).
    let mut batch = b"MAIL FROM:<raw@remote.example> BODY=8BITMIME\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n".to_vec();
    batch.extend_from_slice(format!("BDAT {}\r\n", part1.len()).as_bytes());
    batch.extend_from_slice(&part1);
    batch.extend_from_slice(format!("BDAT {} LAST\r\n", part2.len()).as_bytes());
    batch.extend_from_slice(part2);
    c.send(&batch);
    assert_eq!(c.reply(), "250 2.1.0 Sender OK\r\n");
    assert_eq!(c.reply(), "250 2.1.5 Recipient OK\r\n");
    assert_eq!(c.reply(), "250 2.1.5 Recipient OK\r\n");
    assert_eq!(c.reply(), "250 2.0.0 256 octets received\r\n");
    let last = c.reply();
    assert!(
        last.starts_with("250 2.0.0 Message accepted for delivery as "),
        "{last}"
    );
    assert!(c.cmd("QUIT").starts_with("221 2.0.0"));
    // Every octet is kept (NUL, 8-bit, a dot line, what looks like a command), except that bare CR and
    // bare LF become CRLF: without BINARYMIME the content has CRLF lines (RFC 3030 3), and a stored
    // message has CRLF line ends only (as DATA's, see the README).
    let mut body = part1[..10].to_vec();
    body.extend_from_slice(b"\r\n\x0b\x0c\r\n");
    body.extend_from_slice(&part1[14..]);
    body.extend_from_slice(b"\r\n.\r\nnot the end\r\n..\r\nQUIT\r\n\0\r\n");
    for who in ["alice@example.test", "bob@example.test"] {
        assert_stored(&s.cat(who, "INBOX", 1), &body);
    }
}

#[test]
fn bad_input_gets_replies_and_the_session_goes_on() {
    let mut s = Server::new("smtp.max_message_size = 100000");
    s.add_account("alice@example.test");
    s.start(1);
    let mut c = Raw::connect(s.smtp);
    assert!(c.cmd("EHLO raw.example").contains("SIZE 100000"));
    assert_eq!(
        c.cmd("HELLO"),
        "500 5.5.2 Syntax error, command unrecognized\r\n"
    );
    assert_eq!(
        c.cmd(&format!("NOOP {}", "x".repeat(600))),
        "500 5.5.2 Line too long (limit 512 octets)\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.example> SIZE=100001"),
        "552 5.3.4 Message size exceeds fixed maximum message size (100000 octets)\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<not an address>"),
        "501 5.1.7 Bad sender address syntax\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>"),
        "503 5.5.1 Need MAIL command\r\n"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>"), "250 2.1.0 Sender OK\r\n");
    assert_eq!(
        c.cmd("RCPT TO:<ghost@example.test>"),
        "550 5.1.1 No such user here\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<x@elsewhere.example>"),
        "550 5.7.1 Relay access denied\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert!(c.cmd("DATA").starts_with("354 "));
    // Over the size limit while reading: the bytes are consumed, not kept, and refused.
    let line = "y".repeat(998) + "\r\n";
    for _ in 0..150 {
        c.send(line.as_bytes());
    }
    c.send(b".\r\n");
    assert_eq!(
        c.reply(),
        "552 5.3.4 Message size exceeds fixed maximum message size (100000 octets)\r\n"
    );
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK\r\n");
    assert_eq!(
        c.cmd("VRFY alice"),
        "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
    );
    assert!(c.cmd("QUIT").starts_with("221 "));
    // Errors per session: the tenth 5xx closes with 421.
    let mut c = Raw::connect(s.smtp);
    for _ in 0..9 {
        assert!(c.cmd("BOGUS").starts_with("500 "));
    }
    assert_eq!(
        c.cmd("BOGUS"),
        "500 5.5.2 Syntax error, command unrecognized\r\n"
    );
    assert_eq!(
        c.reply(),
        "421 4.7.0 Too many errors, closing connection\r\n"
    );
    assert_eq!(c.reply(), "", "closed");
    assert!(s.ls_err("alice@example.test"));
}

#[test]
fn connection_limits_per_ip_refuse_with_421() {
    let mut s = Server::new("smtp.max_connections_per_ip = 2");
    s.start(1);
    let a = Raw::connect(s.smtp);
    // The readiness probe's connection may still be closing: wait until only `a` counts.
    std::thread::sleep(Duration::from_millis(300));
    let b = Raw::connect(s.smtp);
    let mut third = std::net::TcpStream::connect(s.smtp).unwrap();
    let mut r = String::new();
    use std::io::Read;
    third.read_to_string(&mut r).unwrap();
    assert_eq!(r, "421 4.7.0 Too many connections, try again later\r\n");
    drop((a, b));
    std::thread::sleep(Duration::from_millis(300));
    let _ok = Raw::connect(s.smtp);
}

#[test]
fn idle_timeout_closes_with_421() {
    let mut s = Server::new("smtp.idle_timeout = 1");
    s.start(1);
    let mut c = Raw::connect(s.smtp);
    let t = Instant::now();
    assert_eq!(c.reply(), "421 4.4.2 Timeout, closing connection\r\n");
    assert!(t.elapsed() >= Duration::from_millis(900));
}

#[test]
fn a_new_account_is_seen_within_a_second() {
    let mut s = Server::new("");
    s.add_account("first@example.test");
    s.start(2);
    let mut c = Raw::connect(s.smtp);
    c.cmd("EHLO raw.example");
    c.cmd("MAIL FROM:<>");
    assert_eq!(
        c.cmd("RCPT TO:<late@example.test>"),
        "550 5.1.1 No such user here\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<late@new.example>"),
        "550 5.7.1 Relay access denied\r\n"
    );
    s.add_account("late@new.example");
    let t = Instant::now();
    loop {
        let r = c.cmd("RCPT TO:<late@new.example>");
        if r.starts_with("250 ") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "not seen after {:?}: {r}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"Subject: late\r\n\r\nhi\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0"));
    assert_eq!(s.ls("late@new.example", "INBOX").len(), 1);
}

#[test]
fn sigterm_lets_a_transaction_finish_then_exits_zero() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.start(2);
    let mut idle = Raw::connect(s.smtp);
    let mut c = Raw::connect(s.smtp);
    c.cmd("EHLO raw.example");
    c.cmd("MAIL FROM:<a@remote.example>");
    c.cmd("RCPT TO:<alice@example.test>");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"Subject: in flight\r\n\r\nfirst half\r\n");
    s.sigterm();
    // An idle session is told to go; new connections are no longer accepted.
    assert_eq!(
        idle.reply(),
        "421 4.3.2 Service shutting down, closing connection\r\n"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        std::net::TcpStream::connect(s.smtp).is_err(),
        "listener closed"
    );
    c.send(b"second half\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 Message accepted"));
    assert_eq!(
        c.cmd("NOOP"),
        "421 4.3.2 Service shutting down, closing connection\r\n"
    );
    assert_eq!(s.stop(), Some(0), "{}", s.log());
    let rows = s.ls("alice@example.test", "INBOX");
    assert_eq!(rows.len(), 1);
    assert_stored(
        &s.cat("alice@example.test", "INBOX", 1),
        b"Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n",
    );
    // It starts again on what it left.
    s.start(1);
    assert_eq!(s.ls("alice@example.test", "INBOX").len(), 1);
}

#[test]
fn config_errors_name_the_key() {
    let s = Server::new("");
    std::fs::write(s.path("bad.toml"), "[smtp]\nmax_line = 100\n").unwrap();
    let o = std::process::Command::new(common::BIN)
        .current_dir(s.dir.path())
        .args(["--config", "bad.toml", "serve"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("smtp.max_line") && err.contains("512"),
        "{err}"
    );
    std::fs::write(
        s.path("bad.toml"),
        "[smtp]\nlisten = [\"127.0.0.1:1\"]\nbogus = 1\n",
    )
    .unwrap();
    let o = std::process::Command::new(common::BIN)
        .current_dir(s.dir.path())
        .args(["--config", "bad.toml", "serve"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn metrics_show_each_shard() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.start(2);
    let m = s.metrics();
    assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
    for name in [
        "shardmail_connections_open",
        "shardmail_messages_accepted_total",
        "shardmail_log_sync_seconds_bucket",
        "shardmail_cross_shard_sent_total",
    ] {
        for shard in ["0", "1"] {
            assert!(
                m.contains(&format!("{name}{{shard=\"{shard}\"")),
                "{name} shard {shard}:\n{m}"
            );
        }
    }
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..4 {
        let mut c = Raw::connect(s.smtp);
        c.cmd("EHLO m.example");
        c.cmd("MAIL FROM:<>");
        c.cmd("RCPT TO:<alice@example.test>");
        c.cmd("DATA");
        c.send(b"x\r\n.\r\n");
        assert!(c.reply().starts_with("250"));
        c.cmd("QUIT");
    }
    std::thread::sleep(Duration::from_millis(200));
    for l in s
        .metrics()
        .lines()
        .filter(|l| l.starts_with("shardmail_log_records_total{"))
    {
        let (k, v) = l.rsplit_once(' ').unwrap();
        per.insert(k.to_string(), v.parse().unwrap());
    }
    // Per message: the message, its queue entry and its filing batch (the first one also creates the
    // account), over the two shards' logs; then the queue's `Done` records, several per record when
    // they come together (at least one, at most one per message).
    let total = per.values().sum::<u64>();
    assert!((13..=16).contains(&total), "{per:?}");
    assert_eq!(s.metric_sum("shardmail_delivery_visible_seconds_count"), 4);
    assert_eq!(s.metric_sum("shardmail_messages_accepted_total"), 4);
}

#[test]
fn account_cli_add_list_del_with_password_file() {
    let mut s = Server::new("");
    std::fs::write(s.path("pw"), "from a file\nignored second line\n").unwrap();
    let o = s.cli(&[
        "account",
        "add",
        "Carol@Example.Test",
        "--password-file",
        "pw",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "added carol@example.test\n"
    );
    s.add_account("dave@example.test");
    let o = s.cli(&["account", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "carol@example.test\ndave@example.test\n"
    );
    let o = s.cli(&["account", "add", "dave@example.test", "--password", "x"]);
    assert!(!o.status.success(), "adding twice is refused");
    let o = s.cli(&["account", "add", "not-an-address", "--password", "x"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not-an-address"));
    // The stored hash is argon2id, never the password.
    let file = std::fs::read_to_string(s.path("data/accounts")).unwrap();
    assert!(
        file.contains("$argon2id$") && !file.contains("from a file"),
        "{file}"
    );
    s.start(1);
    let o = s.cli(&["account", "del", "dave@example.test"]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&s.cli(&["account", "list"]).stdout),
        "carol@example.test\n"
    );
    let mut c = Raw::connect(s.smtp);
    c.cmd("EHLO raw.example");
    c.cmd("MAIL FROM:<>");
    let t = Instant::now();
    loop {
        let r = c.cmd("RCPT TO:<dave@example.test>");
        if r.starts_with("550 5.1.1") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "deleted account still accepted: {r}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        c.cmd("RCPT TO:<carol@example.test>"),
        "250 2.1.5 Recipient OK\r\n"
    );
}
