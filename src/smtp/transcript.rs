//! Transcript tests of the sans-io SMTP core: client bytes in, exact replies out.

use std::sync::Arc;

use super::session::{Action, Delivery, Directory, Envelope, Lookup, Session, SessionConfig};

pub(super) struct Dir;

impl Directory for Dir {
    fn lookup(&self, address: &str) -> Lookup {
        let lower = address.to_lowercase();
        let Some((user, domain)) = lower.rsplit_once('@') else {
            return Lookup::NotLocal;
        };
        if domain != "example.test" && domain != "localhost" && domain != "παράδειγμα.δοκιμή"
        {
            return Lookup::NotLocal;
        }
        match user {
            "alice" | "bob" | "postmaster" | "δοκιμή" => Lookup::Local(lower.clone()),
            _ => Lookup::UnknownUser,
        }
    }

    fn postmaster(&self) -> Option<String> {
        Some("postmaster@example.test".into())
    }
}

struct Outcome {
    out: String,
    delivered: Vec<(Envelope, Vec<u8>)>,
    closed: bool,
}

pub(super) fn cfg() -> SessionConfig {
    SessionConfig {
        hostname: "mx.example.test".into(),
        max_line: 512,
        max_message_size: 1000,
        max_recipients: 3,
        max_errors: 5,
        submission: false,
    }
}

/// Feeds the chunks as separate reads; delivers every message successfully as "ID<n>".
fn run_with(cfg: SessionConfig, chunks: &[&[u8]], outcome: &dyn Fn(usize) -> Delivery) -> Outcome {
    let mut out = Vec::new();
    let mut s = Session::new(Arc::new(cfg), "127.0.0.1", &mut out);
    out.clear();
    let mut buf: Vec<u8> = Vec::new();
    let mut delivered = Vec::new();
    let mut closed = false;
    'outer: for c in chunks {
        buf.extend_from_slice(c);
        loop {
            let (used, action) = s.feed(&buf, &Dir, &mut out);
            buf.drain(..used);
            match action {
                Action::NeedInput => break,
                Action::Deliver => {
                    let env = s.envelope().cloned().unwrap_or_default();
                    delivered.push((env, s.body().to_vec()));
                    s.delivered(outcome(delivered.len()), &mut out);
                }
                Action::Close => {
                    closed = true;
                    break 'outer;
                }
                // Neither is offered without a certificate or on the MX listener.
                Action::StartTls | Action::Authenticate => panic!("{action:?} was not offered"),
            }
        }
    }
    Outcome {
        out: String::from_utf8_lossy(&out).into_owned(),
        delivered,
        closed,
    }
}

fn run(chunks: &[&[u8]]) -> Outcome {
    run_with(cfg(), chunks, &|n| Delivery::Stored {
        id: format!("ID{n}"),
    })
}

/// RFC 2034 3: the EHLO reply carries no enhanced codes (its lines are keywords).
pub(super) const EHLO_REPLY: &str =
    "250-mx.example.test greets c.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n\
250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

#[test]
fn greeting_and_a_whole_transaction() {
    let mut out = Vec::new();
    let _ = Session::new(Arc::new(cfg()), "127.0.0.1", &mut out);
    assert_eq!(out, b"220 mx.example.test ESMTP shardmail ready\r\n");

    let o = run(&[
        b"EHLO c.example\r\n",
        b"MAIL FROM:<s@sender.example>\r\n",
        b"RCPT TO:<alice@example.test>\r\n",
        b"DATA\r\n",
        b"Subject: hi\r\n\r\nbody\r\n.\r\n",
        b"QUIT\r\n",
    ]);
    let expect = format!(
        "{EHLO_REPLY}250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 2.0.0 Start mail input; end with <CRLF>.<CRLF>\r\n\
250 2.0.0 Message accepted for delivery as ID1\r\n221 2.0.0 mx.example.test closing connection\r\n"
    );
    assert_eq!(o.out, expect);
    assert!(o.closed);
    assert_eq!(o.delivered.len(), 1);
    assert_eq!(o.delivered[0].0.from, "s@sender.example");
    assert_eq!(o.delivered[0].0.recipients, vec!["alice@example.test"]);
    assert_eq!(o.delivered[0].1, b"Subject: hi\r\n\r\nbody\r\n");
}

#[test]
fn pipelined_batch_in_one_read() {
    // RFC 2920: everything up to DATA in one packet, then the body and the next transaction.
    let o = run(&[
        b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<BOB@example.test>\r\nDATA\r\n",
        b"x\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n",
    ]);
    let expect = format!(
        "{EHLO_REPLY}250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n550 5.1.1 No such user here\r\n250 2.1.5 Recipient OK\r\n\
354 2.0.0 Start mail input; end with <CRLF>.<CRLF>\r\n250 2.0.0 Message accepted for delivery as ID1\r\n\
250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 2.0.0 Start mail input; end with <CRLF>.<CRLF>\r\n\
250 2.0.0 Message accepted for delivery as ID2\r\n221 2.0.0 mx.example.test closing connection\r\n"
    );
    assert_eq!(o.out, expect);
    assert_eq!(o.delivered.len(), 2);
    assert_eq!(o.delivered[0].0.from, "");
    assert_eq!(
        o.delivered[0].0.recipients,
        vec!["alice@example.test", "bob@example.test"]
    );
    assert_eq!(o.delivered[1].1, b"y\r\n");
}

#[test]
fn byte_at_a_time_gives_the_same_replies() {
    let script: &[u8] = b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n..a\r\n.\r\nQUIT\r\n";
    let whole = run(&[script]);
    let bytes: Vec<&[u8]> = script.chunks(1).collect();
    let split = run(&bytes);
    assert_eq!(whole.out, split.out);
    assert_eq!(whole.delivered, split.delivered);
    assert_eq!(split.delivered[0].1, b".a\r\n");
}

#[test]
fn dot_stuffing_edge_cases() {
    let o = run(&[
        b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
        b".\r\n",
        b"MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
        b"..\r\n...\r\n.x\r\nno.dot\r\n. \r\n.\r",
        b"\n",
        b"MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
        b"bare\n.\nstill body\r\n.\r\n",
    ]);
    assert_eq!(o.delivered.len(), 3, "{}", o.out);
    assert_eq!(o.delivered[0].1, b"");
    assert_eq!(o.delivered[1].1, b".\r\n..\r\nx\r\nno.dot\r\n \r\n");
    // A bare LF neither ends the data nor starts a line for unstuffing; it is stored as CRLF.
    assert_eq!(o.delivered[2].1, b"bare\r\n.\r\nstill body\r\n");
}

#[test]
fn bdat_with_binary_body_and_pipelined_chunks() {
    let mut chunk2 = vec![0u8, 255, b'\r', b'\n', b'.', b'\r', b'\n'];
    chunk2.extend_from_slice(b"BDAT looks like a command");
    let mut script = b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.test>\r\nBDAT 5\r\nhello".to_vec();
    script.extend_from_slice(format!("BDAT {} LAST\r\n", chunk2.len()).as_bytes());
    script.extend_from_slice(&chunk2);
    script.extend_from_slice(b"BDAT 0 LAST\r\nQUIT\r\n");
    let o = run(&[&script]);
    let expect = format!(
        "{EHLO_REPLY}250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.0.0 5 octets received\r\n\
250 2.0.0 Message accepted for delivery as ID1\r\n503 5.5.1 Need MAIL command\r\n221 2.0.0 mx.example.test closing connection\r\n"
    );
    assert_eq!(o.out, expect);
    let mut body = b"hello".to_vec();
    body.extend_from_slice(&chunk2);
    assert_eq!(o.delivered[0].1, body);
    // BDAT 0 LAST alone is a valid (empty) message.
    let o = run(&[
        b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nBDAT 0 LAST\r\n",
    ]);
    assert_eq!(o.delivered.len(), 1);
    assert_eq!(o.delivered[0].1, b"");
    // Split across reads, the chunk is counted in bytes, not lines.
    let o = run(&[
        b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nBDAT 6 LAST\r\nab",
        b"\r\n",
        b"cd",
        b"NOOP\r\n",
    ]);
    assert_eq!(o.delivered[0].1, b"ab\r\ncd");
    assert!(o.out.ends_with("as ID1\r\n250 2.0.0 OK\r\n"), "{}", o.out);
}

#[test]
fn bdat_and_data_do_not_mix() {
    let o = run(&[b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nBDAT 2\r\nabDATA\r\nRSET\r\n"]);
    assert!(o.out.ends_with("250 2.0.0 2 octets received\r\n503 5.5.1 DATA not allowed after BDAT\r\n250 2.0.0 Reset\r\n"), "{}", o.out);
    assert!(o.delivered.is_empty());
}

#[test]
fn sequence_errors() {
    let o = run(&[b"MAIL FROM:<>\r\nEHLO c.example\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\nDATA\r\n"]);
    let expect = format!(
        "503 5.5.1 Send EHLO or HELO first\r\n{EHLO_REPLY}503 5.5.1 Need MAIL command\r\n503 5.5.1 Need MAIL command\r\n\
250 2.1.0 Sender OK\r\n503 5.5.1 Nested MAIL command\r\n503 5.5.1 Need RCPT command\r\n\
421 4.7.0 Too many errors, closing connection\r\n"
    );
    assert!(o.closed);
    assert_eq!(o.out, expect);
}

#[test]
fn other_commands() {
    let o = run(&[b"HELO c.example\r\nNOOP\r\nnoop hello\r\nVRFY alice\r\nHELP\r\nEXPN list\r\nRSET\r\nFOO\r\n\r\nSTARTTLS\r\nQUIT\r\n"]);
    let expect = "250 mx.example.test\r\n250 2.0.0 OK\r\n250 2.0.0 OK\r\n\
252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n\
214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP\r\n214 2.0.0 See RFC 5321\r\n\
502 5.5.1 EXPN not implemented\r\n250 2.0.0 Reset\r\n500 5.5.2 Syntax error, command unrecognized\r\n\
500 5.5.2 Syntax error, command unrecognized\r\n502 5.5.1 STARTTLS not available\r\n221 2.0.0 mx.example.test closing connection\r\n";
    assert_eq!(o.out, expect);
    assert!(o.closed);
}

#[test]
fn helo_does_not_take_parameters() {
    let o =
        run(&[b"HELO c.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\nMAIL FROM:<a@b.example>\r\n"]);
    assert_eq!(
        o.out,
        "250 mx.example.test\r\n555 5.5.4 Parameters need EHLO\r\n250 2.1.0 Sender OK\r\n"
    );
}

#[test]
fn relay_unknown_and_postmaster() {
    let o = run(&[b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<x@elsewhere.example>\r\nRCPT TO:<ghost@example.test>\r\nRCPT TO:<Postmaster>\r\n"]);
    assert!(
        o.out.ends_with("550 5.7.1 Relay access denied\r\n550 5.1.1 No such user here\r\n250 2.1.5 Recipient OK\r\n"),
        "{}",
        o.out
    );
}

#[test]
fn smtputf8_addresses_need_the_parameter() {
    let o = run(&["EHLO c.example\r\nMAIL FROM:<δοκιμή@παράδειγμα.δοκιμή>\r\nMAIL FROM:<δοκιμή@παράδειγμα.δοκιμή> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<δοκιμή@παράδειγμα.δοκιμή>\r\nDATA\r\nSubject: ünïcödé\r\n\r\n8-bit body é\r\n.\r\n"
        .as_bytes()]);
    assert!(o.out.contains("553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter\r\n250 2.1.0 Sender OK\r\n250 2.1.5"), "{}", o.out);
    assert_eq!(o.delivered.len(), 1);
    assert!(o.delivered[0].0.smtputf8 && o.delivered[0].0.body_8bit);
    assert_eq!(
        o.delivered[0].1,
        "Subject: ünïcödé\r\n\r\n8-bit body é\r\n".as_bytes()
    );
    // Without SMTPUTF8 on MAIL, a non-ASCII recipient is refused.
    let o = run(&[
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<δοκιμή@παράδειγμα.δοκιμή>\r\n"
            .as_bytes(),
    ]);
    assert!(
        o.out
            .ends_with("553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter\r\n"),
        "{}",
        o.out
    );
}

#[test]
fn mail_parameters() {
    let o = run(&[b"EHLO c.example\r\nMAIL FROM:<a@b.example> SIZE=1001\r\nMAIL FROM:<a@b.example> SIZE=abc\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\nMAIL FROM:<a@b.example> FOO=1\r\nMAIL FROM:<a@b.example> SIZE=1000 BODY=7BIT\r\nRCPT TO:<alice@example.test> NOTIFY=NEVER\r\n"]);
    let expect = format!(
        "{EHLO_REPLY}552 5.3.4 Message size exceeds fixed maximum message size (1000 octets)\r\n501 5.5.4 Bad SIZE parameter\r\n\
555 5.5.4 BODY must be 7BIT or 8BITMIME\r\n555 5.5.4 Unsupported parameter FOO\r\n250 2.1.0 Sender OK\r\n\
555 5.5.4 Unsupported parameter NOTIFY\r\n421 4.7.0 Too many errors, closing connection\r\n"
    );
    assert_eq!(o.out, expect);
    assert!(o.closed);
}

#[test]
fn limit_command_line_length() {
    let mut cfg = cfg();
    cfg.max_errors = 100;
    // Exactly 512 octets with CRLF is fine; 513 is not. An over-long line split across reads is
    // discarded up to its end, answered once, and the session goes on.
    let ok_line = format!("NOOP {}\r\n", "x".repeat(512 - 7));
    assert_eq!(ok_line.len(), 512);
    let long_line = format!("NOOP {}\r\n", "x".repeat(513 - 7));
    let huge = "y".repeat(5000);
    let o = run_with(
        cfg,
        &[
            ok_line.as_bytes(),
            long_line.as_bytes(),
            huge.as_bytes(),
            huge.as_bytes(),
            b"\r\nNOOP\r\n",
        ],
        &|_| Delivery::Failed,
    );
    assert_eq!(
        o.out,
        "250 2.0.0 OK\r\n500 5.5.2 Line too long (limit 512 octets)\r\n500 5.5.2 Line too long (limit 512 octets)\r\n250 2.0.0 OK\r\n"
    );
}

#[test]
fn limit_message_size_data_and_bdat() {
    let big = "z".repeat(1200);
    let o = run(&[
        b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
        big.as_bytes(),
        b"\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nBDAT 600\r\n",
        &big.as_bytes()[..600],
        b"BDAT 600 LAST\r\n",
        &big.as_bytes()[..600],
        b"BDAT 3 LAST\r\nabcNOOP\r\n",
    ]);
    assert!(o.delivered.is_empty());
    let tail = "354 2.0.0 Start mail input; end with <CRLF>.<CRLF>\r\n\
552 5.3.4 Message size exceeds fixed maximum message size (1000 octets)\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n\
250 2.0.0 600 octets received\r\n552 5.3.4 Message size exceeds fixed maximum message size (1000 octets)\r\n\
503 5.5.1 Need MAIL command\r\n250 2.0.0 OK\r\n";
    assert!(o.out.ends_with(tail), "{}", o.out);
}

#[test]
fn limit_recipients() {
    let o = run(&[b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<postmaster@example.test>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\nx\r\n.\r\n"]);
    assert!(
        o.out
            .contains("250 2.1.5 Recipient OK\r\n452 4.5.3 Too many recipients\r\n354"),
        "{}",
        o.out
    );
    assert_eq!(o.delivered[0].0.recipients.len(), 3);
}

#[test]
fn limit_errors_per_session() {
    let o = run(&[b"A\r\nB\r\nC\r\nD\r\nE\r\nNOOP\r\n"]);
    assert_eq!(o.out.matches("500 5.5.2").count(), 5);
    assert!(o
        .out
        .ends_with("421 4.7.0 Too many errors, closing connection\r\n"));
    assert!(!o.out.contains("250"));
    assert!(o.closed);
}

#[test]
fn delivery_failures_become_4xx_and_the_session_goes_on() {
    let script: &[u8] = b"EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n";
    let o = run_with(cfg(), &[script], &|n| {
        if n == 1 {
            Delivery::DiskFull
        } else {
            Delivery::Failed
        }
    });
    assert!(
        o.out
            .contains("452 4.3.1 Insufficient system storage\r\n250 2.1.0"),
        "{}",
        o.out
    );
    assert!(
        o.out
            .ends_with("451 4.3.0 Local error in processing, try again later\r\n250 2.0.0 OK\r\n"),
        "{}",
        o.out
    );
}

#[test]
fn trace_headers() {
    let mut out = Vec::new();
    let mut s = Session::new(Arc::new(cfg()), "192.0.2.1", &mut out);
    let (_, a) = s.feed(b"EHLO c.example\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nhi\r\n.\r\n", &Dir, &mut out);
    assert_eq!(a, Action::Deliver);
    assert_eq!(
        s.trace_headers("ID9", "Mon, 23 Nov 2026 01:02:03 +0000"),
        "Return-Path: <s@x.example>\r\nReceived: from c.example ([192.0.2.1])\r\n\tby mx.example.test (shardmail) with ESMTP id ID9\r\n\
\tfor <alice@example.test>;\r\n\tMon, 23 Nov 2026 01:02:03 +0000\r\n"
    );
}

#[test]
fn ehlo_with_control_characters_is_refused_and_never_reaches_a_header() {
    let mut out = Vec::new();
    let mut s = Session::new(Arc::new(cfg()), "192.0.2.1", &mut out);
    out.clear();
    let (_, a) = s.feed(
        b"EHLO evil\0\rX-Injected:yes\r\nHELO evil\rX: y\r\nMAIL FROM:<s@x.example>\r\n",
        &Dir,
        &mut out,
    );
    assert_eq!(a, Action::NeedInput);
    let syntax = "501 5.5.4 Syntax: EHLO domain or address literal (RFC 5321 4.1.1.1)\r\n";
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("{syntax}{syntax}503 5.5.1 Send EHLO or HELO first\r\n")
    );
    assert_eq!(s.helo(), None);
}

/// Every header we write is free of control characters except its CRLF line ends and the TAB that
/// starts a folded line.
fn assert_clean_header(h: &str) {
    let structural = h.replace("\r\n\t", " ").replace("\r\n", "");
    assert!(
        !structural.chars().any(char::is_control),
        "control character in {h:?}"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any bytes in any split: no panic, output bounded by what came in, replies well formed.
        #[test]
        fn any_input_any_split(
            input in proptest::collection::vec(prop::sample::select(vec![
                b"EHLO a\r\n".to_vec(), b"MAIL FROM:<>\r\n".to_vec(), b"RCPT TO:<alice@example.test>\r\n".to_vec(),
                b"DATA\r\n".to_vec(), b".\r\n".to_vec(), b"BDAT 3\r\n".to_vec(), b"BDAT 2 LAST\r\n".to_vec(),
                b"x".to_vec(), b"\r\n".to_vec(), b"\n".to_vec(), vec![0xff], b"RSET\r\n".to_vec(), b"..".to_vec(),
            ]), 0..40),
            split in 1usize..17,
        ) {
            let bytes: Vec<u8> = input.concat();
            let chunks: Vec<&[u8]> = bytes.chunks(split).collect();
            let o = run(&chunks);
            for line in o.out.split_terminator("\r\n") {
                prop_assert!(line.len() >= 4, "{}", line);
                let code: u16 = line[..3].parse().unwrap_or(0);
                prop_assert!((200..600).contains(&code), "{}", line);
            }
            for (_, body) in &o.delivered {
                prop_assert!(body.len() <= 1000);
            }
        }

        /// Whatever the client says in EHLO and MAIL, the trace fields of an accepted message hold no
        /// control character outside their line structure.
        #[test]
        fn trace_headers_never_carry_control_characters(
            // Any control character but LF, which ends the command line (bare CR is included).
            helo in "[a-z\\[\\]0-9.:\\x00-\\x09\\x0b-\\x1f\\x7f\u{80}-\u{9f}é]{1,20}",
            local in "[a-z\"\\x00-\\x09\\x0b-\\x1f\u{80}-\u{9f}é]{1,10}",
        ) {
            let mut out = Vec::new();
            let mut s = Session::new(Arc::new(cfg()), "192.0.2.1", &mut out);
            let script = format!(
                "EHLO {helo}\r\nHELO ok.example\r\nMAIL FROM:<{local}@x.example> SMTPUTF8\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nhi\r\n.\r\n"
            );
            // HELO forbids parameters: re-greet with EHLO semantics for SMTPUTF8 first.
            let script = script.replacen("HELO ok.example", "EHLO ok.example", 1);
            let (_, a) = s.feed(script.as_bytes(), &Dir, &mut out);
            prop_assert_eq!(a, Action::Deliver, "{}", String::from_utf8_lossy(&out));
            assert_clean_header(&s.trace_headers("ID1", "Mon, 23 Nov 2026 01:02:03 +0000"));
        }
    }
}
