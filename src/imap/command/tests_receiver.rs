//! Tests of the receiver: literals split at every offset, continuation requests, pipelining, limits and
//! the skipping of rejected commands.

use super::{Code, Error, Limits, Options, Receiver, Step};

/// What the shell sees, owned so the buffer can move on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Command(String),
    Continue,
    Reject {
        tag: Option<String>,
        error: Error,
        no: bool,
    },
}

/// Plays the shell: feeds `chunks` one read at a time into a buffer, draining as told.
fn run(opts: Options, chunks: &[&[u8]]) -> (Vec<Event>, usize) {
    let mut rx = Receiver::new(opts);
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut chunks = chunks.iter();
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls < 100_000, "receiver does not progress");
        let drop = match rx.receive(&buf) {
            Step::Command { command, used } => {
                events.push(Event::Command(format!(
                    "{} {:?}",
                    command.tag, command.command
                )));
                used
            }
            Step::Continue => {
                events.push(Event::Continue);
                match chunks.next() {
                    Some(c) => buf.extend_from_slice(c),
                    None => break,
                }
                0
            }
            Step::NeedMore { min_len } => {
                assert!(min_len > buf.len());
                match chunks.next() {
                    Some(c) => buf.extend_from_slice(c),
                    None => break,
                }
                0
            }
            Step::Reject {
                tag,
                error,
                no,
                skip,
            } => {
                events.push(Event::Reject {
                    tag: tag.map(str::to_owned),
                    error,
                    no,
                });
                skip
            }
            Step::Skip(n) => {
                assert!(n > 0);
                n
            }
        };
        assert!(drop <= buf.len());
        buf.drain(..drop);
    }
    (events, buf.len())
}

fn without_continues(e: &[Event]) -> Vec<Event> {
    e.iter()
        .filter(|e| **e != Event::Continue)
        .cloned()
        .collect()
}

/// Every split of `wire` into two reads gives the same commands and rejections; a continuation is
/// asked for exactly when a synchronizing literal's header is in and its data is not.
fn same_at_every_split(opts: Options, wire: &[u8]) -> Vec<Event> {
    let (whole, left) = run(opts, &[wire]);
    assert_eq!(left, 0);
    for i in 0..=wire.len() {
        let (split, left) = run(opts, &[&wire[..i], &wire[i..]]);
        assert_eq!(
            without_continues(&split),
            without_continues(&whole),
            "split at {i}"
        );
        assert_eq!(left, 0, "split at {i}");
    }
    // Byte by byte.
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    let (each, _) = run(opts, &bytes);
    assert_eq!(without_continues(&each), without_continues(&whole));
    whole
}

#[test]
fn pipelined_commands_with_literals_at_every_split() {
    let wire = b"a1 LOGIN {4}\r\nfred {6+}\r\nsecret\r\na2 APPEND INBOX (\\Seen) {12}\r\nHello\r\nWorld ~{3}\r\nx\0y\r\na3 NOOP\r\n";
    let events = same_at_every_split(Options::default(), wire);
    let commands: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Command(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(commands.len(), 3);
    assert!(commands[0].starts_with("a1 Login"));
    // "Hello\r\nWorld" and "x\0y", as the Debug of byte slices prints them.
    assert!(commands[1].contains("[72, 101, 108, 108, 111, 13, 10, 87, 111, 114, 108, 100]"));
    assert!(commands[1].contains("[120, 0, 121]"), "{}", commands[1]);
    assert!(commands[2].starts_with("a3 Noop"));
}

#[test]
fn continuation_only_for_synchronizing_literals_not_yet_sent() {
    // The client waits for `+` after each synchronizing header.
    let (events, _) = run(
        Options::default(),
        &[b"a LOGIN {4}\r\n", b"fred {6}\r\n", b"secret\r\n"],
    );
    assert_eq!(events[0], Event::Continue);
    assert_eq!(events[1], Event::Continue);
    assert!(matches!(&events[2], Event::Command(c) if c.starts_with("a Login")));
    assert_eq!(events.len(), 3);
    // LITERAL+: no continuation.
    let (events, _) = run(Options::default(), &[b"a LOGIN {4+}\r\n", b"fred x\r\n"]);
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0], Event::Command(_)));
}

#[test]
fn an_empty_synchronizing_literal_still_needs_a_continuation() {
    let (events, left) = run(Options::default(), &[b"a LOGIN {0}\r\n", b" x\r\n"]);
    assert_eq!(events[0], Event::Continue);
    assert!(matches!(&events[1], Event::Command(c) if c.starts_with("a Login")));
    assert_eq!((events.len(), left), (2, 0));
}

#[test]
fn a_bad_prefix_gets_bad_instead_of_a_continuation() {
    // The client never sends the literal: it takes the BAD as the end of the command.
    let (events, left) = run(Options::default(), &[b"a FROB {5}\r\n", b"b NOOP\r\n"]);
    assert_eq!(
        events,
        vec![
            Event::Reject {
                tag: Some("a".into()),
                error: Error::Syntax("unknown command"),
                no: false
            },
            Event::Command("b Noop".into()),
        ]
    );
    assert_eq!(left, 0);
}

#[test]
fn a_bad_command_with_a_non_synchronizing_literal_skips_its_data() {
    let wire = b"a FROB {5+}\r\nb NOO\r\nc NOOP\r\n";
    let events = same_at_every_split(Options::default(), wire);
    assert_eq!(
        events,
        vec![
            Event::Reject {
                tag: Some("a".into()),
                error: Error::Syntax("unknown command"),
                no: false
            },
            Event::Command("c Noop".into()),
        ]
    );
}

#[test]
fn literal_minus_limits_non_synchronizing_literals() {
    let opts = Options {
        literal_plus: false,
        ..Options::default()
    };
    let mut wire = b"a APPEND INBOX {4097+}\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'x', 4097));
    wire.extend_from_slice(b" {2+}\r\nab\r\nb NOOP\r\n");
    let events = same_at_every_split(opts, &wire);
    assert_eq!(
        events,
        vec![
            Event::Reject {
                tag: Some("a".into()),
                error: Error::TooBig("non-synchronizing literal over 4096 bytes"),
                no: false
            },
            Event::Command("b Noop".into()),
        ]
    );
    assert_eq!(Error::TooBig("").code(), Some(Code::TooBig));
    // 4096 is fine, and LITERAL+ takes any size.
    let mut wire = b"a APPEND INBOX {4096+}\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'x', 4096));
    wire.extend_from_slice(b"\r\n");
    assert!(matches!(&run(opts, &[&wire]).0[..], [Event::Command(_)]));
}

#[test]
fn oversized_literals_are_refused_before_or_while_they_come() {
    let opts = Options {
        limits: Limits {
            max_literal: 10,
            ..Limits::default()
        },
        ..Options::default()
    };
    // Synchronizing: NO [TOOBIG], nothing to skip.
    let (events, left) = run(opts, &[b"a APPEND INBOX {11}\r\n", b"b NOOP\r\n"]);
    assert_eq!(
        events,
        vec![
            Event::Reject {
                tag: Some("a".into()),
                error: Error::TooBig("literal too large"),
                no: true
            },
            Event::Command("b Noop".into()),
        ]
    );
    assert_eq!(left, 0);
    // Non-synchronizing: BAD [TOOBIG], the data is skipped.
    let events = same_at_every_split(opts, b"a APPEND INBOX {11+}\r\nhello world\r\nb NOOP\r\n");
    assert_eq!(events[1], Event::Command("b Noop".into()));
    assert!(matches!(
        events[0],
        Event::Reject {
            no: false,
            error: Error::TooBig(_),
            ..
        }
    ));
    // A count that overflows is too large too.
    let (events, _) = run(opts, &[b"a LOGIN {99999999999999999999999}\r\n"]);
    assert!(matches!(
        events[0],
        Event::Reject {
            no: true,
            error: Error::TooBig(_),
            ..
        }
    ));
}

#[test]
fn long_lines_are_refused_and_skipped_without_holding_them() {
    let opts = Options {
        limits: Limits {
            max_line: 100,
            ..Limits::default()
        },
        ..Options::default()
    };
    let mut wire = b"a LOGIN ".to_vec();
    wire.extend(std::iter::repeat_n(b'x', 1000));
    wire.extend_from_slice(b" {3+}\r\nabc\r\nb NOOP\r\n");
    let events = same_at_every_split(opts, &wire);
    assert_eq!(
        events,
        vec![
            Event::Reject {
                tag: Some("a".into()),
                error: Error::TooBig("line too long"),
                no: false
            },
            Event::Command("b Noop".into()),
        ]
    );
    // The buffer never holds much more than a line while skipping.
    let mut rx = Receiver::new(opts);
    let mut buf = Vec::new();
    let mut max = 0;
    for chunk in wire.chunks(7) {
        buf.extend_from_slice(chunk);
        loop {
            max = max.max(buf.len());
            let n = match rx.receive(&buf) {
                Step::Reject { skip, .. } => skip,
                Step::Skip(n) => n,
                Step::Command { used, .. } => used,
                _ => break,
            };
            buf.drain(..n);
        }
    }
    assert!(max <= 100 + 7, "buffer grew to {max}");
}

#[test]
fn too_many_literals_is_a_limit() {
    let opts = Options {
        limits: Limits {
            max_literals: 2,
            ..Limits::default()
        },
        ..Options::default()
    };
    let events = same_at_every_split(
        opts,
        b"a APPEND x {1+}\r\na {1+}\r\nb {1+}\r\nc\r\nb NOOP\r\n",
    );
    assert_eq!(
        events[0],
        Event::Reject {
            tag: Some("a".into()),
            error: Error::Limit("too many literals in one command"),
            no: false
        }
    );
    assert_eq!(events[1], Event::Command("b Noop".into()));
}

#[test]
fn a_large_literal_is_not_rescanned_on_every_read() {
    // 1 MiB arriving in 1 KiB reads: each call answers from the remembered literal end.
    let size = 1 << 20;
    let mut wire = format!("a APPEND INBOX {{{size}+}}\r\n").into_bytes();
    let header = wire.len();
    wire.extend(std::iter::repeat_n(b'x', size));
    wire.extend_from_slice(b"\r\n");
    let mut rx = Receiver::default();
    let mut buf = Vec::new();
    for chunk in wire.chunks(1024) {
        buf.extend_from_slice(chunk);
        match rx.receive(&buf) {
            Step::NeedMore { min_len } if buf.len() < wire.len() => {
                if buf.len() >= header {
                    assert_eq!(
                        min_len,
                        header + size,
                        "the literal's end, not one more byte"
                    );
                }
            }
            Step::Command { used, command } => {
                assert_eq!(used, wire.len());
                assert_eq!(command.tag, "a");
            }
            s => panic!("{s:?}"),
        }
    }
}

#[test]
fn garbage_lines_get_untagged_bad() {
    let events = same_at_every_split(Options::default(), b"\r\n* x\r\na NOOP\r\n");
    assert_eq!(
        events,
        vec![
            Event::Reject {
                tag: None,
                error: Error::Syntax("missing or invalid tag"),
                no: false
            },
            Event::Reject {
                tag: None,
                error: Error::Syntax("missing or invalid tag"),
                no: false
            },
            Event::Command("a Noop".into()),
        ]
    );
}

#[test]
fn pre_auth_limits_refuse_large_literals_early() {
    let opts = Options {
        limits: Limits::pre_auth(),
        ..Options::default()
    };
    let (events, _) = run(opts, &[b"a APPEND INBOX {100000}\r\n"]);
    assert_eq!(
        events,
        vec![Event::Reject {
            tag: Some("a".into()),
            error: Error::TooBig("literal too large"),
            no: true
        }]
    );
    // LOGIN with literals still fits.
    let (events, _) = run(opts, &[b"a LOGIN {4}\r\n", b"fred {6}\r\n", b"secret\r\n"]);
    assert!(matches!(
        &events[..],
        [Event::Continue, Event::Continue, Event::Command(_)]
    ));
}
