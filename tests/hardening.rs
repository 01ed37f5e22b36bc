//! End to end, what a new user found (issue 9): header injection through EHLO, bare LF, oversized DATA
//! and memory, postmaster and aliases, IDNA domains, file modes, the data-directory lock and account
//! deletion. The real binary on loopback, driven by swaks, Python's smtplib and a raw socket.

mod common;

use common::{Raw, Server};

fn swaks(s: &Server, args: &[&str]) -> std::process::Output {
    std::process::Command::new("swaks")
        .current_dir(s.dir.path())
        .args(["--server", "127.0.0.1", "--port", &s.smtp.port().to_string()])
        .args(args)
        .output()
        .expect("swaks is installed (apt-get install swaks; .ci/run does)")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The header section of a stored message has no control character but CRLF and folding TABs.
fn assert_clean_head(stored: &[u8]) {
    let end = stored
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(stored.len());
    let head = String::from_utf8_lossy(&stored[..end]);
    let flat = head.replace("\r\n\t", " ").replace("\r\n", "\n");
    for line in flat.lines() {
        assert!(
            !line.chars().any(char::is_control),
            "control character in header line {line:?}"
        );
    }
}

#[test]
fn ehlo_with_control_characters_is_refused_and_headers_stay_clean() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.start(1);
    let mut c = Raw::connect(s.smtp);
    let syntax = "501 5.5.4 Syntax: EHLO domain or address literal (RFC 5321 4.1.1.1)\r\n";
    c.send(b"EHLO evil\0\rX-Injected:yes\r\n");
    assert_eq!(c.reply(), syntax);
    c.send(b"HELO evil\rX-Injected: yes\r\n");
    assert_eq!(c.reply(), syntax);
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.example>"),
        "503 5.5.1 Send EHLO or HELO first\r\n"
    );
    // The session goes on with a proper greeting.
    assert!(c.cmd("EHLO [192.0.2.7]").starts_with("250-"));
    c.send("MAIL FROM:<a\u{85}b@b.example> SMTPUTF8\r\n".as_bytes());
    assert_eq!(c.reply(), "501 5.1.7 Bad sender address syntax\r\n");
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>"), "250 2.1.0 Sender OK\r\n");
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert!(c.cmd("DATA").starts_with("354 "));
    assert!(c.cmd("Subject: raw\r\n\r\nhi\r\n.").starts_with("250 "));
    assert!(c.cmd("QUIT").starts_with("221 "));
    // swaks with a HELO name that is not a domain: refused, so swaks gives up.
    let o = swaks(
        &s,
        &[
            "--helo",
            "bad name\tX-Evil: 1",
            "--to",
            "alice@example.test",
            "--from",
            "me@example.org",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("501 5.5.4"), "{}", text(&o));
    let o = swaks(
        &s,
        &[
            "--helo",
            "client.example",
            "--to",
            "alice@example.test",
            "--from",
            "me@example.org",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    for uid in [1, 2] {
        let stored = s.cat("alice@example.test", "INBOX", uid);
        assert_clean_head(&stored);
        assert!(!String::from_utf8_lossy(&stored).contains("X-Injected"));
    }
    let first = String::from_utf8_lossy(&s.cat("alice@example.test", "INBOX", 1)).into_owned();
    assert!(first.contains("Received: from [192.0.2.7] ("), "{first}");
}
