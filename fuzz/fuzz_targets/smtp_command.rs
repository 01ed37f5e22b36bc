//! The SMTP command parser on any line: never panics; what parses borrows from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardmail::smtp::command::{parse, Command};

fuzz_target!(|line: &[u8]| {
    if let Ok(Command::Mail { from: Some(m), params }) = parse(line) {
        assert!(m.address.len() <= line.len());
        for (k, _) in params.iter() {
            assert!(!k.is_empty());
        }
    }
});
