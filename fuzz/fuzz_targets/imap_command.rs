//! The IMAP command parser and receiver on arbitrary bytes: never panics; what parses borrows from the
//! input and parses the same again; the receiver, fed the bytes in reads of any size, only ever drops
//! bytes it was given and always progresses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardmail::imap::command::{parse, Limits, Options, Receiver, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let opts = Options {
        searchres: first & 1 == 1,
        literal_plus: first & 2 == 2,
        ..Options::default()
    };
    if let Ok(t) = parse(bytes, &opts) {
        assert!(t.tag.len() < bytes.len());
        assert_eq!(parse(bytes, &opts), Ok(t));
    }

    // Small limits so the fuzzer reaches them.
    let opts = Options {
        limits: Limits {
            max_line: 128,
            max_literal: 256,
            max_command: 1024,
            max_literals: 4,
            max_depth: 6,
            max_items: 40,
        },
        ..opts
    };
    let read = usize::from(first >> 2) + 1;
    let mut rx = Receiver::new(opts);
    let mut buf = Vec::new();
    let mut chunks = bytes.chunks(read);
    let mut steps = 0usize;
    loop {
        steps += 1;
        assert!(steps < 4 * bytes.len() + 16, "the receiver does not progress");
        let drop = match rx.receive(&buf) {
            Step::Command { used, .. } => used,
            Step::Reject { skip, .. } => skip,
            Step::Skip(n) => {
                assert!(n > 0);
                n
            }
            Step::NeedMore { min_len } => {
                assert!(min_len > buf.len());
                match chunks.next() {
                    Some(c) => {
                        buf.extend_from_slice(c);
                        0
                    }
                    None => break,
                }
            }
            Step::Continue => match chunks.next() {
                Some(c) => {
                    buf.extend_from_slice(c);
                    0
                }
                None => break,
            },
        };
        assert!(drop <= buf.len());
        buf.drain(..drop);
        assert!(buf.len() <= 1024 + 128 + read);
    }
});
