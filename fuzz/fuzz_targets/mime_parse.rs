//! The MIME structure parser and its IMAP writers on any bytes: never panics, every section range lies
//! inside the message, and ENVELOPE/BODYSTRUCTURE are balanced IMAP lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardmail::imap::types::SectionText;
use shardmail::mime::{Message, SectionData};

/// Parentheses outside quoted strings balance (literals in our output hold no parentheses unless
/// they are counted in `{n}`, which we skip).
fn balanced(s: &[u8]) -> bool {
    let (mut depth, mut i, mut quoted) = (0i64, 0, false);
    while i < s.len() {
        match s[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'{' if !quoted => {
                let Some(close) = s[i..].iter().position(|&b| b == b'}') else { return false };
                let Ok(n) = std::str::from_utf8(&s[i + 1..i + close]).unwrap_or("x").parse::<usize>() else {
                    return false;
                };
                i += close + 2 + n;
            }
            b'(' if !quoted => depth += 1,
            b')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    depth == 0 && !quoted
}

fuzz_target!(|raw: &[u8]| {
    let msg = Message::parse(raw);
    assert!(balanced(&msg.envelope()));
    assert!(balanced(&msg.body_structure(true)));
    assert!(balanced(&msg.body_structure(false)));
    for part in [&[][..], &[1], &[2], &[1, 1], &[2, 2, 1]] {
        for text in [None, Some(SectionText::Header), Some(SectionText::Text), Some(SectionText::Mime)] {
            if let SectionData::Range(r) = msg.section(part, text.as_ref()) {
                assert!(r.start <= r.end && r.end <= raw.len());
            }
        }
        let _ = msg.binary(part);
    }
    let _ = msg.sent_date();
    let _ = msg.body_text();
    let _ = msg.header_text();
    let _ = msg.first_address(b"from");
});
