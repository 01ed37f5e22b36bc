//! Message submission end to end (RFC 6409 with SMTP AUTH, RFC 4954) against the built binary on
//! loopback, with real clients: Python's smtplib, swaks and curl, and a raw socket for the exact
//! replies. Loopback clients may authenticate without TLS (the default policy); the TLS side is in
//! tests/smtp_tls.rs.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Raw, Server};

/// Failed logins are answered after a short delay here (the default starts at 500 ms).
const FAST_FAILURES: &str = "imap.login_delay_ms = 20\nimap.login_delay_max_ms = 100\n";

fn server(extra: &str) -> Server {
    let mut s = Server::new(&format!("{FAST_FAILURES}{extra}"));
    s.add_account("alice@example.test");
    s.add_account("bob@example.test");
    s.start(2);
    s
}

/// Runs tests/py/submission.py against the submission listener.
fn submit(s: &Server, mode: &str, user: &str, from: &str, rcpts: &str, subject: &str) -> String {
    s.python_at(
        s.submission,
        "submission.py",
        &[mode, user, "secret", from, rcpts, subject],
    )
}

fn b64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data = s.as_bytes();
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn smtplib_submits_to_local_and_remote_recipients_and_remote_ones_wait_in_the_queue() {
    let mut s = server("");
    let out = submit(
        &s,
        "plain",
        "alice@example.test",
        "alice@example.test",
        "bob@example.test,friend@far.example,other@far.example",
        "to three",
    );
    assert!(out.contains("AUTH=PLAIN LOGIN"), "{out}");
    assert!(out.contains("LOGIN OK\nSENT \n"), "{out}");
    let rows = s.wait_inbox("bob@example.test", 1);
    let stored =
        String::from_utf8_lossy(&s.cat("bob@example.test", "INBOX", rows[0].0)).into_owned();
    assert!(
        stored.starts_with("Return-Path: <alice@example.test>\r\n"),
        "{stored}"
    );
    // RFC 3848: an authenticated ESMTP session without TLS.
    assert!(stored.contains(" with ESMTPA id "), "{stored}");
    assert!(stored.ends_with("\r\n\r\nbody of to three\r\n"), "{stored}");
    assert!(s.ls_err("alice@example.test"), "the sender got no copy");
    // The two remote recipients wait for the relay (issue 13), counted and durable.
    assert_eq!(s.metric_sum("shardmail_queue_remote_pending"), 2);
    assert_eq!(s.stop(), Some(0), "{}", s.log());
    s.start(3);
    assert_eq!(
        s.metric_sum("shardmail_queue_remote_pending"),
        2,
        "remote recipients survive a restart (with another shard count)"
    );
    assert_eq!(
        s.wait_inbox("bob@example.test", 1).len(),
        1,
        "not filed twice"
    );
}

#[test]
fn raw_submission_needs_auth_and_the_senders_own_address() {
    let s = server("submission.allow_any_sender = [\"alice@example.test\"]\n");
    let mut c = Raw::connect(s.submission);
    let ehlo = c.cmd("EHLO raw.example");
    assert!(ehlo.ends_with("250 AUTH PLAIN LOGIN\r\n"), "{ehlo}");
    assert_eq!(
        c.cmd("MAIL FROM:<bob@example.test>"),
        "530 5.7.0 Authentication required\r\n"
    );
    let wrong = b64("\0bob@example.test\0wrong");
    let t = Instant::now();
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {wrong}")),
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(20),
        "a failure waits the login delay"
    );
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd(&b64("bob@example.test")), "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(
        c.cmd(&b64("secret")),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {wrong}")),
        "503 5.5.1 Already authenticated\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<alice@example.test>"),
        "553 5.7.1 Sender address is not owned by the authenticated account\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<Bob@Example.Test>"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<ghost@example.test>"),
        "550 5.1.1 No such user here\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<x@far.example>"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_eq!(
        c.cmd("QUIT"),
        "221 2.0.0 mx.example.test closing connection\r\n"
    );

    // alice may use any sender (allow_any_sender).
    let mut c = Raw::connect(s.submission);
    c.cmd("EHLO raw.example");
    let alice = b64("\0alice@example.test\0secret");
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {alice}")),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<newsletter@far.example>"),
        "250 2.1.0 Sender OK\r\n"
    );

    // The MX listener takes no logins and relays nothing.
    let mut c = Raw::connect(s.smtp);
    let ehlo = c.cmd("EHLO raw.example");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {alice}")),
        "502 5.5.1 AUTH not available\r\n"
    );
    c.cmd("MAIL FROM:<alice@example.test>");
    assert_eq!(
        c.cmd("RCPT TO:<x@far.example>"),
        "550 5.7.1 Relay access denied\r\n"
    );
    assert!(s.log().contains("SMTP login failed"), "{}", s.log());
    assert_eq!(common::login::auth_total(&s, "smtp", "failed"), 1);
    assert_eq!(common::login::auth_total(&s, "smtp", "ok"), 2);
}

fn swaks(s: &Server, args: &[&str]) -> std::process::Output {
    Command::new("swaks")
        .current_dir(s.dir.path())
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &s.submission.port().to_string(),
            "--helo",
            "client.example",
            "--from",
            "alice@example.test",
            "--to",
            "bob@example.test",
            "--auth-user",
            "alice@example.test",
        ])
        .args(args)
        .output()
        .expect("swaks is installed (apt-get install swaks; .ci/run does)")
}

#[test]
fn swaks_and_curl_authenticate_with_plain_and_login() {
    let s = server("");
    for mech in ["PLAIN", "LOGIN"] {
        let subject = format!("Subject: swaks {mech}");
        let o = swaks(
            &s,
            &[
                "--auth",
                mech,
                "--auth-password",
                "secret",
                "--header",
                &subject,
            ],
        );
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            text.contains("<-  235 2.7.0 Authentication successful"),
            "{text}"
        );
    }
    let o = swaks(&s, &["--auth", "LOGIN", "--auth-password", "wrong"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{text}");
    assert!(text.contains("535 5.7.8"), "{text}");

    std::fs::write(
        s.path("curl.eml"),
        "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: curl\r\n\r\nsent by curl\r\n",
    )
    .unwrap();
    let o = Command::new("curl")
        .current_dir(s.dir.path())
        .args([
            "-sS",
            "--max-time",
            "30",
            "--url",
            &format!("smtp://{}/client.example", s.submission),
            "--mail-from",
            "alice@example.test",
            "--mail-rcpt",
            "bob@example.test",
            "--user",
            "alice@example.test:secret",
            "--upload-file",
            "curl.eml",
        ])
        .output()
        .expect("curl is installed");
    assert!(
        o.status.success(),
        "curl: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        s.log()
    );
    let rows = s.wait_inbox("bob@example.test", 3);
    let subjects: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(subjects, ["swaks PLAIN", "swaks LOGIN", "curl"]);
}
