//! Transcript tests of STARTTLS (RFC 3207) and AUTH (RFC 4954) in the sans-io SMTP core: the shell's
//! handshake and password check are played by the harness.

use std::sync::Arc;

use super::auth::Credentials;
use super::session::{Action, AuthOutcome, Delivery, Envelope, Link, Session, SessionConfig};
use super::transcript::{cfg, Dir, EHLO_REPLY};

const PLAIN_ALICE: &str = "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQ="; // \0alice@example.test\0s3cret
const PLAIN_WRONG: &str = "AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw=="; // \0alice@example.test\0wrong

#[derive(Default)]
struct Run {
    out: String,
    delivered: Vec<(Envelope, Vec<u8>, String)>,
    /// Plaintext that followed STARTTLS in the same read: what the shell throws away.
    discarded: Vec<Vec<u8>>,
    checked: Vec<Credentials>,
    closed: bool,
}

fn submission() -> SessionConfig {
    SessionConfig {
        submission: true,
        ..cfg()
    }
}

const TLS: Link = Link {
    tls: true,
    starttls: true,
    plaintext_auth: false,
};
const PLAIN_REMOTE: Link = Link {
    tls: false,
    starttls: true,
    plaintext_auth: false,
};
const PLAIN_LOCAL: Link = Link {
    tls: false,
    starttls: true,
    plaintext_auth: true,
};

/// alice@example.test has the password s3cret; down@example.test cannot be checked now.
fn check(c: &Credentials) -> AuthOutcome {
    match (c.user.as_str(), c.password.as_str()) {
        ("alice@example.test", "s3cret") => AuthOutcome::Ok("alice@example.test".into()),
        ("down@example.test", _) => AuthOutcome::Unavailable,
        _ => AuthOutcome::Failed,
    }
}

/// Feeds each chunk as one read. STARTTLS "handshakes" at once: what is left of that read is
/// discarded, the following chunks are the protected stream.
fn drive(cfg: SessionConfig, link: Link, chunks: &[&[u8]]) -> Run {
    let mut out = Vec::new();
    let mut s = Session::on_link(Arc::new(cfg), "192.0.2.7", link, &mut out);
    out.clear();
    let mut run = Run::default();
    let mut buf: Vec<u8> = Vec::new();
    'outer: for c in chunks {
        buf.extend_from_slice(c);
        loop {
            let (used, action) = s.feed(&buf, &Dir, &mut out);
            buf.drain(..used);
            match action {
                Action::NeedInput => break,
                Action::Deliver => {
                    let env = s.envelope().cloned().unwrap_or_default();
                    let trace = s.trace_headers("ID", "Mon, 23 Nov 2026 01:02:03 +0000");
                    run.delivered.push((env, s.body().to_vec(), trace));
                    s.delivered(Delivery::Stored { id: "ID".into() }, &mut out);
                }
                Action::StartTls => {
                    run.discarded.push(std::mem::take(&mut buf));
                    s.tls_started();
                    break;
                }
                Action::Authenticate => {
                    let c = s.take_credentials().expect("credentials to check");
                    let verdict = check(&c);
                    run.checked.push(c);
                    s.auth_done(verdict, &mut out);
                }
                Action::Close => {
                    run.closed = true;
                    break 'outer;
                }
            }
        }
    }
    run.out = String::from_utf8_lossy(&out).into_owned();
    run
}

fn ehlo_with(extra: &[&str]) -> String {
    let mut e = EHLO_REPLY.replace("250 CHUNKING\r\n", "250-CHUNKING\r\n");
    for (i, x) in extra.iter().enumerate() {
        let sep = if i + 1 == extra.len() { ' ' } else { '-' };
        e.push_str(&format!("250{sep}{x}\r\n"));
    }
    if extra.is_empty() {
        e = EHLO_REPLY.to_string();
    }
    e
}

#[test]
fn ehlo_offers_starttls_and_auth_as_the_link_allows() {
    let cases: [(SessionConfig, Link, &[&str]); 6] = [
        (cfg(), Link::default(), &[]),
        (cfg(), PLAIN_LOCAL, &["STARTTLS"]),
        (cfg(), TLS, &[]),
        (submission(), PLAIN_REMOTE, &["STARTTLS"]),
        (submission(), PLAIN_LOCAL, &["STARTTLS", "AUTH PLAIN LOGIN"]),
        (submission(), TLS, &["AUTH PLAIN LOGIN"]),
    ];
    for (c, link, extra) in cases {
        let sub = c.submission;
        let r = drive(c, link, &[b"EHLO c.example\r\n"]);
        assert_eq!(r.out, ehlo_with(extra), "submission {sub} {link:?}");
    }
}

#[test]
fn starttls_discards_pipelined_plaintext_and_forgets_the_session() {
    // A man in the middle appends a command to the client's STARTTLS (CVE-2011-0411 style): it must
    // not run, neither before nor after the handshake.
    let r = drive(
        cfg(),
        PLAIN_REMOTE,
        &[
            b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nSTARTTLS\r\nRCPT TO:<alice@example.test>\r\n",
            b"RCPT TO:<alice@example.test>\r\nMAIL FROM:<a@b.example>\r\nEHLO c.example\r\nSTARTTLS\r\n",
        ],
    );
    assert_eq!(
        r.discarded,
        vec![b"RCPT TO:<alice@example.test>\r\n".to_vec()]
    );
    let expect = format!(
        "{}250 2.1.0 Sender OK\r\n220 2.0.0 Ready to start TLS\r\n\
503 5.5.1 Need MAIL command\r\n503 5.5.1 Send EHLO or HELO first\r\n{EHLO_REPLY}503 5.5.1 TLS already active\r\n",
        ehlo_with(&["STARTTLS"])
    );
    assert_eq!(r.out, expect);
}

#[test]
fn starttls_refusals() {
    let r = drive(cfg(), Link::default(), &[b"EHLO c.example\r\nSTARTTLS\r\n"]);
    assert!(
        r.out.ends_with("502 5.5.1 STARTTLS not available\r\n"),
        "{}",
        r.out
    );
    let r = drive(
        cfg(),
        PLAIN_REMOTE,
        &[b"STARTTLS\r\nEHLO c.example\r\nSTARTTLS now\r\n"],
    );
    assert_eq!(
        r.out,
        format!(
            "503 5.5.1 Send EHLO first\r\n{}501 5.5.4 No arguments allowed\r\n",
            ehlo_with(&["STARTTLS"])
        )
    );
}

#[test]
fn auth_plain_then_a_submission_to_local_and_remote_recipients() {
    let script = format!(
        "EHLO c.example\r\nMAIL FROM:<alice@example.test>\r\nAUTH PLAIN {PLAIN_ALICE}\r\n\
MAIL FROM:<alice@example.test>\r\nRCPT TO:<friend@elsewhere.example>\r\nRCPT TO:<bob@example.test>\r\n\
RCPT TO:<friend@elsewhere.example>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\n"
    );
    let r = drive(submission(), TLS, &[script.as_bytes()]);
    let expect = format!(
        "{}530 5.7.0 Authentication required\r\n235 2.7.0 Authentication successful\r\n\
250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n\
354 2.0.0 Start mail input; end with <CRLF>.<CRLF>\r\n250 2.0.0 Message accepted for delivery as ID\r\n",
        ehlo_with(&["AUTH PLAIN LOGIN"])
    );
    assert_eq!(r.out, expect);
    assert_eq!(r.checked.len(), 1);
    let (env, body, trace) = &r.delivered[0];
    assert_eq!(env.from, "alice@example.test");
    assert_eq!(env.recipients, vec!["bob@example.test"]);
    assert_eq!(env.remote, vec!["friend@elsewhere.example"]);
    assert_eq!(body, b"Subject: hi\r\n\r\nbody\r\n");
    // RFC 3848: authenticated over TLS.
    assert!(trace.contains(" with ESMTPSA id ID;"), "{trace}");
}

#[test]
fn auth_login_exchange_cancel_and_failures() {
    let r = drive(
        submission(),
        TLS,
        &[
            b"EHLO c.example\r\nAUTH LOGIN\r\n",
            b"YWxpY2VAZXhhbXBsZS50ZXN0\r\n",
            b"d3Jvbmc=\r\n",
            b"AUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\nAUTH PLAIN !!!\r\n",
            b"AUTH PLAIN ZG93bkBleGFtcGxlLnRlc3QAZG93bkBleGFtcGxlLnRlc3QAeA==\r\n",
            b"AUTH LOGIN YWxpY2VAZXhhbXBsZS50ZXN0\r\nczNjcmV0\r\nAUTH PLAIN\r\n",
        ],
    );
    // A temporary failure is no error; the fifth 5xx reaches this config's limit.
    let expect = format!(
        "{}334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 Authentication credentials invalid\r\n\
334 \r\n501 5.0.0 Authentication cancelled\r\n504 5.5.4 Unrecognized authentication type\r\n\
501 5.5.2 Cannot decode the response\r\n454 4.7.0 Temporary authentication failure\r\n\
334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n503 5.5.1 Already authenticated\r\n\
421 4.7.0 Too many errors, closing connection\r\n",
        ehlo_with(&["AUTH PLAIN LOGIN"])
    );
    assert_eq!(r.out, expect);
    assert!(r.closed);
    let checked: Vec<(&str, &str)> = r
        .checked
        .iter()
        .map(|c| (c.user.as_str(), c.password.as_str()))
        .collect();
    assert_eq!(
        checked,
        [
            ("alice@example.test", "wrong"),
            ("down@example.test", "x"),
            ("alice@example.test", "s3cret")
        ]
    );
}

#[test]
fn too_many_failed_logins_close_the_session() {
    let mut script = String::from("EHLO c.example\r\n");
    for _ in 0..6 {
        script.push_str(&format!("AUTH PLAIN {PLAIN_WRONG}\r\n"));
    }
    let r = drive(submission(), TLS, &[script.as_bytes()]);
    assert_eq!(r.checked.len(), 5, "the sixth attempt is never checked");
    assert_eq!(r.out.matches("535 5.7.8").count(), 5);
    assert!(r
        .out
        .ends_with("421 4.7.0 Too many errors, closing connection\r\n"));
    assert!(r.closed);
}

#[test]
fn auth_needs_tls_unless_plaintext_is_allowed() {
    let script =
        format!("EHLO c.example\r\nAUTH PLAIN {PLAIN_ALICE}\r\nMAIL FROM:<alice@example.test>\r\n");
    let r = drive(submission(), PLAIN_REMOTE, &[script.as_bytes()]);
    assert_eq!(
        r.out,
        format!(
            "{}538 5.7.11 Encryption required for requested authentication mechanism\r\n\
530 5.7.0 Authentication required\r\n",
            ehlo_with(&["STARTTLS"])
        )
    );
    assert!(r.checked.is_empty(), "no password was checked in plaintext");
    // On loopback (or when configured so) plaintext AUTH works.
    let r = drive(submission(), PLAIN_LOCAL, &[script.as_bytes()]);
    assert!(
        r.out
            .ends_with("235 2.7.0 Authentication successful\r\n250 2.1.0 Sender OK\r\n"),
        "{}",
        r.out
    );
    // ... and STARTTLS forgets that login: the protected session starts anew.
    let r = drive(
        submission(),
        PLAIN_LOCAL,
        &[
            format!("EHLO c.example\r\nAUTH PLAIN {PLAIN_ALICE}\r\nSTARTTLS\r\n").as_bytes(),
            b"EHLO c.example\r\nMAIL FROM:<alice@example.test>\r\n",
        ],
    );
    assert!(
        r.out
            .ends_with("250 AUTH PLAIN LOGIN\r\n530 5.7.0 Authentication required\r\n"),
        "{}",
        r.out
    );
}

#[test]
fn auth_sequence_rules() {
    let mut c = submission();
    c.max_errors = 100;
    let script = format!(
        "AUTH PLAIN {PLAIN_ALICE}\r\nHELO c.example\r\nAUTH PLAIN {PLAIN_ALICE}\r\nEHLO c.example\r\nAUTH\r\nAUTH PLAIN a b\r\n\
AUTH PLAIN {PLAIN_ALICE}\r\nMAIL FROM:<alice@example.test>\r\nRSET\r\nMAIL FROM:<alice@example.test> AUTH=<>\r\n"
    );
    let r = drive(c, TLS, &[script.as_bytes()]);
    let expect = format!(
        "503 5.5.1 Send EHLO first\r\n250 mx.example.test\r\n503 5.5.1 Send EHLO first\r\n{}\
501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n\
235 2.7.0 Authentication successful\r\n250 2.1.0 Sender OK\r\n250 2.0.0 Reset\r\n250 2.1.0 Sender OK\r\n",
        ehlo_with(&["AUTH PLAIN LOGIN"])
    );
    assert_eq!(r.out, expect);
}

#[test]
fn mail_from_must_be_the_authenticated_account() {
    let mut c = submission();
    c.max_errors = 100;
    let script = format!(
        "EHLO c.example\r\nAUTH PLAIN {PLAIN_ALICE}\r\nMAIL FROM:<bob@example.test>\r\nMAIL FROM:<>\r\n\
MAIL FROM:<alice@elsewhere.example>\r\nMAIL FROM:<ALICE@example.test>\r\n"
    );
    let r = drive(c, TLS, &[script.as_bytes()]);
    let no = "553 5.7.1 Sender address is not owned by the authenticated account\r\n";
    assert!(
        r.out.ends_with(&format!(
            "235 2.7.0 Authentication successful\r\n{no}{no}{no}250 2.1.0 Sender OK\r\n"
        )),
        "{}",
        r.out
    );
}

#[test]
fn the_mx_listener_never_relays_nor_authenticates() {
    let mut c = cfg();
    c.max_errors = 100;
    let script = format!(
        "EHLO c.example\r\nAUTH PLAIN {PLAIN_ALICE}\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<x@elsewhere.example>\r\n\
RSET\r\nMAIL FROM:<a@b.example> AUTH=<>\r\n"
    );
    let r = drive(c, TLS, &[script.as_bytes()]);
    assert_eq!(
        r.out,
        format!(
            "{EHLO_REPLY}502 5.5.1 AUTH not available\r\n250 2.1.0 Sender OK\r\n550 5.7.1 Relay access denied\r\n\
250 2.0.0 Reset\r\n555 5.5.4 Unsupported parameter AUTH\r\n"
        )
    );
    assert!(r.checked.is_empty());
}

#[test]
fn long_auth_lines_fit_on_submission_only() {
    // A PLAIN response longer than SMTP's 512-octet command line.
    let long = format!("\0alice@example.test\0{}", "p".repeat(600));
    let b64 = b64(long.as_bytes());
    let script = format!("EHLO c.example\r\nAUTH PLAIN {b64}\r\nAUTH PLAIN\r\n{b64}\r\n");
    let mut c = submission();
    c.max_errors = 100;
    let r = drive(c, TLS, &[script.as_bytes()]);
    assert_eq!(r.checked.len(), 2, "{}", r.out);
    assert_eq!(r.checked[0].password.len(), 600);
    // Past the AUTH limit the exchange ends, and the session goes on.
    let huge = "A".repeat(13_000);
    let r = drive(
        submission(),
        TLS,
        &[
            b"EHLO c.example\r\nAUTH PLAIN\r\n",
            huge.as_bytes(),
            b"\r\nNOOP\r\n",
        ],
    );
    assert!(
        r.out
            .ends_with("334 \r\n500 5.5.2 Line too long (limit 12288 octets)\r\n250 2.0.0 OK\r\n"),
        "{}",
        r.out
    );
    assert!(r.checked.is_empty());
}

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any mix of commands, SASL lines and junk, on any link, in any split: no panic, every
        /// reply line well formed, no password checked without TLS or the plaintext allowance, and
        /// nothing pipelined after STARTTLS ever runs.
        #[test]
        fn any_input_any_link(
            input in proptest::collection::vec(prop::sample::select(vec![
                b"EHLO a\r\n".to_vec(), b"STARTTLS\r\n".to_vec(), b"AUTH PLAIN\r\n".to_vec(),
                b"AUTH LOGIN\r\n".to_vec(), format!("{PLAIN_ALICE}\r\n").into_bytes(),
                format!("AUTH PLAIN {PLAIN_WRONG}\r\n").into_bytes(), b"*\r\n".to_vec(),
                b"MAIL FROM:<alice@example.test>\r\n".to_vec(), b"RCPT TO:<x@far.example>\r\n".to_vec(),
                b"DATA\r\n".to_vec(), b".\r\n".to_vec(), b"x".to_vec(), b"\r\n".to_vec(), vec![0xff],
            ]), 0..30),
            split in 1usize..23,
            link in 0usize..4,
            sub in any::<bool>(),
        ) {
            let link = [Link::default(), PLAIN_REMOTE, PLAIN_LOCAL, TLS][link];
            let c = SessionConfig { submission: sub, max_errors: 1000, ..cfg() };
            let bytes: Vec<u8> = input.concat();
            let chunks: Vec<&[u8]> = bytes.chunks(split).collect();
            let r = drive(c, link, &chunks);
            for line in r.out.split_terminator("\r\n") {
                prop_assert!(line.len() >= 4, "{}", line);
                let code: u16 = line[..3].parse().unwrap_or(0);
                prop_assert!((200..600).contains(&code), "{}", line);
            }
            if !sub || (!link.plaintext_auth && !link.starttls && !link.tls) {
                prop_assert!(r.checked.is_empty());
            }
            for (env, _, _) in &r.delivered {
                prop_assert!(env.remote.is_empty() || sub);
            }
        }
    }
}
