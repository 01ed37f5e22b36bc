//! End to end, what a new user found (issue 9): header injection through EHLO, bare LF, oversized DATA
//! and memory, postmaster and aliases, IDNA domains, file modes, the data-directory lock and account
//! deletion. The real binary on loopback, driven by swaks, Python's smtplib and a raw socket.

mod common;

use common::{Raw, Server};

fn swaks(s: &Server, args: &[&str]) -> std::process::Output {
    std::process::Command::new("swaks")
        .current_dir(s.dir.path())
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &s.smtp.port().to_string(),
        ])
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

/// VmRSS of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// DATA over the advertised SIZE: the bytes past the limit are discarded as they come, the 552 comes
/// at the end of DATA, the session goes on, and the memory the oversized bodies took is given back
/// while the sessions sit idle.
#[test]
fn oversized_data_is_discarded_and_memory_comes_back() {
    const LIMIT: usize = 8 << 20;
    let mut s = Server::new(&format!("smtp.max_message_size = {LIMIT}"));
    s.add_account("alice@example.test");
    s.start(1);
    let pid = s.child.as_ref().unwrap().id();
    let before = rss_kib(pid);
    let line = format!("{}\r\n", "z".repeat(998));
    let mut sessions: Vec<Raw> = (0..6).map(|_| Raw::connect(s.smtp)).collect();
    for c in &mut sessions {
        assert!(c.cmd("EHLO big.example").contains(&format!("SIZE {LIMIT}")));
        assert!(c.cmd("MAIL FROM:<a@b.example>").starts_with("250 "));
        assert!(c.cmd("RCPT TO:<alice@example.test>").starts_with("250 "));
        assert!(c.cmd("DATA").starts_with("354 "));
    }
    // Three times the limit each, interleaved so that every session is mid-message at once.
    let lines = 3 * LIMIT / line.len();
    let burst = line.repeat(256);
    for _ in 0..lines / 256 {
        for c in &mut sessions {
            c.send(burst.as_bytes());
        }
    }
    let mut peak = 0;
    for c in &mut sessions {
        c.send(b".\r\n");
        assert_eq!(
            c.reply(),
            format!(
                "552 5.3.4 Message size exceeds fixed maximum message size ({LIMIT} octets)\r\n"
            )
        );
        peak = peak.max(rss_kib(pid));
    }
    // The sessions go on: a small message each.
    for (i, c) in sessions.iter_mut().enumerate() {
        assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK\r\n");
        assert!(c.cmd("MAIL FROM:<a@b.example>").starts_with("250 "));
        assert!(c.cmd("RCPT TO:<alice@example.test>").starts_with("250 "));
        assert!(c.cmd("DATA").starts_with("354 "));
        assert!(c
            .cmd(&format!("Subject: small {i}\r\n\r\nhi\r\n."))
            .starts_with("250 "));
    }
    // Idle sessions hold no body memory: the process grew by less than one limit-sized buffer (it was
    // six of them, +58 MiB, before; +0.6 MiB measured after).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let idle = rss_kib(pid);
    eprintln!("RSS KiB: before {before}, peak seen {peak}, idle after {idle}");
    let limit_kib = (LIMIT / 1024) as u64;
    assert!(
        idle < before + limit_kib,
        "RSS {idle} KiB with idle sessions (started at {before} KiB; 6 bodies of the limit would be {} KiB)",
        6 * limit_kib
    );
    assert_eq!(s.ls("alice@example.test", "INBOX").len(), 6);
    for c in &mut sessions {
        assert!(c.cmd("QUIT").starts_with("221 "));
    }
}

/// Bare LF (and bare CR) line ends are stored as CRLF, as Postfix's `smtpd_forbid_bare_newline =
/// normalize` does; only CRLF.CRLF ends DATA; a command line ended by a bare LF is taken as a line.
#[test]
fn bare_line_ends_are_stored_as_crlf_and_never_end_data() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.start(1);
    let mut c = Raw::connect(s.smtp);
    c.send(b"EHLO lf.example\n");
    assert!(c.reply().starts_with("250-"));
    c.send(b"MAIL FROM:<a@b.example>\nRCPT TO:<alice@example.test>\nDATA\n");
    assert!(c.reply().starts_with("250 "));
    assert!(c.reply().starts_with("250 "));
    assert!(c.reply().starts_with("354 "));
    // Smuggling shapes (LF.LF, LF.CRLF, CR.CRLF) stay in the body; then the real end.
    c.send(
        b"Subject: lf\nX-A: 1\r\n\nline\n.\nMAIL FROM:<x@y.example>\n.\r\ncr\r.\r\nend\r\n.\r\n",
    );
    assert!(c.reply().starts_with("250 "), "one message");
    assert!(c.cmd("QUIT").starts_with("221 "));
    let stored = s.cat("alice@example.test", "INBOX", 1);
    let body_at = stored
        .windows(11)
        .position(|w| w == b"Subject: lf")
        .expect("the body");
    assert_eq!(
        String::from_utf8_lossy(&stored[body_at..]),
        "Subject: lf\r\nX-A: 1\r\n\r\nline\r\n.\r\nMAIL FROM:<x@y.example>\r\n.\r\ncr\r\n.\r\nend\r\n"
    );
    for (i, &b) in stored.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(stored.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert_eq!(stored[i - 1], b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
    assert_eq!(s.ls("alice@example.test", "INBOX").len(), 1);
    // swaks with its line-end fixing off sends the bytes as they are (the end of data included).
    let o = swaks(
        &s,
        &[
            "--helo",
            "lf.example",
            "--to",
            "alice@example.test",
            "--from",
            "me@example.org",
            "--no-data-fixup",
            "--data",
            "Subject: swaks lf\n\nhello\r\n.\r\n",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let stored = s.cat("alice@example.test", "INBOX", 2);
    assert!(
        stored.ends_with(b"Subject: swaks lf\r\n\r\nhello\r\n"),
        "{}",
        String::from_utf8_lossy(&stored)
    );
}

/// Sends one message with Python's smtplib; returns its output (asserting success).
fn smtplib_send(s: &Server, to: &str, subject: &str) {
    let script = format!(
        "import smtplib,sys\n\
s = smtplib.SMTP('127.0.0.1', {port}, timeout=30)\n\
s.ehlo('client.example')\n\
refused = s.sendmail('me@example.org', [{to:?}], 'Subject: {subject}\\r\\n\\r\\nhi\\r\\n'.encode())\n\
assert not refused, refused\n\
s.quit()\n",
        port = s.smtp.port(),
    );
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "smtplib to {to}: {}\n{}",
        text(&o),
        s.log()
    );
}

fn subjects(s: &Server, account: &str) -> Vec<String> {
    s.ls(account, "INBOX").into_iter().map(|r| r.2).collect()
}

/// RFC 5321 4.5.1: postmaster at a local domain is accepted (by default the domain's first account,
/// or the configured `postmaster`); aliases and catch-alls added while the server runs route within a
/// second; an alias to an unknown account is refused by the CLI.
#[test]
fn postmaster_aliases_and_catch_alls() {
    let mut s = Server::new("");
    s.add_account("bob@example.test");
    s.add_account("alice@example.test");
    s.start(2);
    smtplib_send(&s, "postmaster@example.test", "to postmaster");
    smtplib_send(&s, "POSTMASTER@EXAMPLE.TEST", "to postmaster upper");
    let mut c = Raw::connect(s.smtp);
    assert!(c.cmd("EHLO c.example").starts_with("250-"));
    assert!(c.cmd("MAIL FROM:<>").starts_with("250 "));
    assert_eq!(c.cmd("RCPT TO:<Postmaster>"), "250 2.1.5 Recipient OK\r\n");
    assert_eq!(
        c.cmd("RCPT TO:<info@example.test>"),
        "550 5.1.1 No such user here\r\n"
    );
    assert!(c.cmd("RSET").starts_with("250 "));
    // Aliases through the CLI while the server runs.
    let o = s.cli(&["alias", "add", "info@example.test", "ghost@example.test"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no account ghost@example.test"),
        "{}",
        text(&o)
    );
    for (from, to) in [
        ("info@example.test", "bob@example.test"),
        ("@catchall.test", "bob@example.test"),
    ] {
        let o = s.cli(&["alias", "add", from, to]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = s.cli(&["alias", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "@catchall.test\tbob@example.test\ninfo@example.test\tbob@example.test\n"
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert!(c.cmd("MAIL FROM:<>").starts_with("250 "));
    assert_eq!(
        c.cmd("RCPT TO:<info@example.test>"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert!(c.cmd("QUIT").starts_with("221 "));
    smtplib_send(&s, "anyone@catchall.test", "to catchall");
    smtplib_send(&s, "info@example.test", "to info");
    assert_eq!(
        subjects(&s, "alice@example.test"),
        vec!["to postmaster", "to postmaster upper"]
    );
    assert_eq!(
        subjects(&s, "bob@example.test"),
        vec!["to catchall", "to info"]
    );
    let o = s.cli(&["alias", "del", "@catchall.test"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(s.stop(), Some(0));
    // The configured postmaster takes over from the default.
    let mut s2 = Server::new("postmaster = \"Bob@Example.test\"");
    s2.add_account("alice@example.test");
    s2.add_account("bob@example.test");
    s2.start(1);
    smtplib_send(&s2, "postmaster@example.test", "configured");
    assert_eq!(subjects(&s2, "bob@example.test"), vec!["configured"]);
}

/// IDNA: the A-label and the U-label of a domain are one domain, for accounts, aliases and RCPT.
#[test]
fn idna_a_labels_are_the_same_domain() {
    let mut s = Server::new("");
    s.add_account("alice@bücher.test");
    s.start(2);
    // swaks sends the A-label form (no SMTPUTF8 needed).
    let o = swaks(
        &s,
        &[
            "--helo",
            "c.example",
            "--to",
            "alice@xn--bcher-kva.test",
            "--from",
            "me@example.org",
            "--header",
            "Subject: a-label",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // An account added in A-label form is the same account.
    let o = s.cli(&[
        "account",
        "add",
        "ALICE@XN--BCHER-KVA.TEST",
        "--password",
        "x",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    let o = s.cli(&[
        "alias",
        "add",
        "info@xn--bcher-kva.test",
        "alice@bücher.test",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    std::thread::sleep(std::time::Duration::from_millis(1200));
    smtplib_send(&s, "info@xn--bcher-kva.test", "alias a-label");
    assert_eq!(
        subjects(&s, "alice@xn--bcher-kva.test"),
        vec!["a-label", "alias a-label"]
    );
    assert_eq!(subjects(&s, "alice@bücher.test").len(), 2);
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Secrets and mail are 0600 in a 0700 data directory: accounts, aliases, lock, log segments and their
/// directories, snapshots.
#[test]
fn files_are_created_0600_in_a_0700_data_directory() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    let o = s.cli(&["alias", "add", "a@example.test", "alice@example.test"]);
    assert!(o.status.success(), "{}", text(&o));
    s.start(2);
    smtplib_send(&s, "alice@example.test", "modes");
    assert_eq!(s.stop(), Some(0));
    let data = s.path("data");
    assert_eq!(mode(&data), 0o700);
    let mut seen = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.strip_prefix(&data).unwrap().display().to_string();
            if p.is_dir() {
                assert_eq!(mode(&p), 0o700, "{name}");
                stack.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{name}");
            }
            seen.push(name);
        }
    }
    let has = |pat: &str| seen.iter().any(|n| n.contains(pat));
    assert!(
        has("accounts") && has("aliases") && has(".seg") && has("lock") && has("snap"),
        "{seen:?}"
    );
}

/// One server per data directory: a second `serve` (other ports) refuses at once naming the first's
/// pid; read-only commands and account changes keep working while the first runs; after kill -9 the
/// lock is free again and no acknowledged message is lost.
#[test]
fn a_second_server_on_the_same_data_directory_refuses() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.start(2);
    let pid = s.child.as_ref().unwrap().id();
    // The same directory, other ports.
    let cfg = std::fs::read_to_string(s.path("shardmail.toml")).unwrap();
    let cfg2 = cfg
        .replace(
            &s.smtp.to_string(),
            &format!("127.0.0.1:{}", common::free_port()),
        )
        .replace(
            &s.metrics.to_string(),
            &format!("127.0.0.1:{}", common::free_port()),
        );
    std::fs::write(s.path("second.toml"), cfg2).unwrap();
    let t = std::time::Instant::now();
    let o = std::process::Command::new(common::BIN)
        .current_dir(s.dir.path())
        .args(["--config", "second.toml", "serve", "--shards", "1"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        text(&o).contains(&format!("is in use by shardmail pid {pid}")),
        "{}",
        text(&o)
    );
    for i in 0..5 {
        smtplib_send(&s, "alice@example.test", &format!("m{i}"));
    }
    // Read-only and account commands work while the server runs.
    assert_eq!(subjects(&s, "alice@example.test").len(), 5);
    let o = s.cli(&["account", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    s.add_account("bob@example.test");
    s.kill9();
    s.start(2);
    assert_eq!(
        subjects(&s, "alice@example.test"),
        vec!["m0", "m1", "m2", "m3", "m4"]
    );
}

/// `account del` deletes the mailbox: adding the address again gives an empty INBOX, with the server
/// running, across a restart, and when the deletion is made while the server is stopped.
#[test]
fn account_del_deletes_the_mailbox() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.add_account("bob@example.test");
    s.start(2);
    smtplib_send(&s, "alice@example.test", "old mail");
    smtplib_send(&s, "bob@example.test", "bob keeps this");
    let o = s.cli(&["account", "del", "alice@example.test"]);
    assert!(o.status.success(), "{}", text(&o));
    s.add_account("alice@example.test");
    // Within a second the deletion is applied and the new account is served.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        s.ls_err("alice@example.test") || subjects(&s, "alice@example.test").is_empty(),
        "old mail is back: {:?}\n{}",
        subjects(&s, "alice@example.test"),
        s.log()
    );
    smtplib_send(&s, "alice@example.test", "new mail");
    assert_eq!(subjects(&s, "alice@example.test"), vec!["new mail"]);
    assert!(s
        .path("data/deletions")
        .read_dir()
        .unwrap()
        .next()
        .is_none());
    // Across a restart (after a kill -9: nothing relies on a clean shutdown).
    s.kill9();
    s.start(1);
    assert_eq!(subjects(&s, "alice@example.test"), vec!["new mail"]);
    assert_eq!(subjects(&s, "bob@example.test"), vec!["bob keeps this"]);
    // Deleted while the server is stopped: applied at the next start.
    assert_eq!(s.stop(), Some(0));
    let o = s.cli(&["account", "del", "alice@example.test"]);
    assert!(o.status.success(), "{}", text(&o));
    s.add_account("alice@example.test");
    // Not recorded in the store yet, but the CLI already shows no mail.
    assert!(s.ls_err("alice@example.test"));
    s.start(2);
    assert!(
        s.ls_err("alice@example.test") || subjects(&s, "alice@example.test").is_empty(),
        "{:?}",
        subjects(&s, "alice@example.test")
    );
    smtplib_send(&s, "alice@example.test", "newest");
    assert_eq!(subjects(&s, "alice@example.test"), vec!["newest"]);
    assert_eq!(subjects(&s, "bob@example.test"), vec!["bob keeps this"]);
}

/// Mail is deleted only on an `account del`: an accounts file that is truncated, garbled or missing an
/// entry, or a deletion request whose entry is still in the file (a CLI that died half way), deletes
/// nothing.
#[test]
fn only_an_explicit_deletion_deletes_mail() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    s.add_account("bob@example.test");
    s.start(2);
    smtplib_send(&s, "alice@example.test", "keep me");
    let accounts = s.path("data/accounts");
    let original = std::fs::read_to_string(&accounts).unwrap();
    let alice_hash = original
        .lines()
        .find_map(|l| l.strip_prefix("alice@example.test\t"))
        .unwrap()
        .to_string();
    // What a CLI that died between preparing its request and rewriting the file leaves behind.
    std::fs::create_dir_all(s.path("data/deletions")).unwrap();
    std::fs::write(
        s.path("data/deletions/000000000000000000000001-1.prepared"),
        format!("alice@example.test\t{alice_hash}\n"),
    )
    .unwrap();
    let wait = || std::thread::sleep(std::time::Duration::from_millis(1500));
    // Each version is put in place whole (a plain write could be read half done, as an empty file).
    let put = |text: &str| {
        let tmp = s.path("data/accounts.test-tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &accounts).unwrap();
    };
    // Garbled, then truncated to nothing (bob only), then restored.
    put("alice@example.test no tab\n");
    wait();
    smtplib_send(&s, "alice@example.test", "still served");
    let bob_only: String = original
        .lines()
        .filter(|l| !l.starts_with("alice@"))
        .map(|l| format!("{l}\n"))
        .collect();
    put(&bob_only);
    wait();
    put(&original);
    wait();
    smtplib_send(&s, "alice@example.test", "back");
    assert_eq!(
        subjects(&s, "alice@example.test"),
        vec!["keep me", "still served", "back"],
        "{}",
        s.log()
    );
}
