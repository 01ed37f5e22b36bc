//! `sequence-set` (RFC 9051 9): numbers, `*` and ranges, kept in the order sent; the session resolves
//! them against the mailbox.

use super::lexer::{Cursor, PResult};
use super::Error;
use crate::imap::types::{SeqNum, SeqRange, SequenceSet};

/// `sequence-set = (seq-number / seq-range) ["," sequence-set] / seq-last-command`. `$`
/// (`seq-last-command`, RFC 5182 2.1 SEARCHRES, part of IMAP4rev2: RFC 9051 6.4.4.1) stands alone for the
/// saved search result; it comes back as the empty set (no other input gives one) and is accepted only
/// when `Options::searchres` says the session supports it.
pub fn sequence_set(c: &mut Cursor<'_, '_>) -> PResult<SequenceSet> {
    if c.opts.searchres && c.peek_is(b'$') {
        c.pos += 1;
        return Ok(SequenceSet(Vec::new()));
    }
    let mut ranges = Vec::new();
    loop {
        let start = seq_number(c)?;
        let end = if c.eat(b':') { seq_number(c)? } else { start };
        ranges.push(SeqRange { start, end });
        if !c.eat(b',') {
            break;
        }
    }
    Ok(SequenceSet(ranges))
}

/// `seq-number = nz-number / "*"`
fn seq_number(c: &mut Cursor<'_, '_>) -> PResult<SeqNum> {
    match c.peek()? {
        b'*' => {
            c.pos += 1;
            Ok(SeqNum::Largest)
        }
        b'1'..=b'9' => c.nz_number().map(SeqNum::Value),
        b'$' => Err(Error::Syntax("$ (SEARCHRES) is not supported here")),
        _ => Err(Error::Syntax("invalid sequence set")),
    }
}

/// Does a sequence set start here (a search key that is a set)?
pub fn starts_set(b: u8) -> bool {
    b == b'*' || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::command::Options;

    fn set(s: &[u8]) -> PResult<SequenceSet> {
        let opts = Options {
            searchres: false,
            ..Options::default()
        };
        let mut c = Cursor::new(s, &opts);
        sequence_set(&mut c)
    }

    #[test]
    fn sets_keep_order_and_stars() {
        use SeqNum::*;
        let r = |a, b| SeqRange { start: a, end: b };
        assert_eq!(
            set(b"1:3,7,5:*,*:2 "),
            Ok(SequenceSet(vec![
                r(Value(1), Value(3)),
                r(Value(7), Value(7)),
                r(Value(5), Largest),
                r(Largest, Value(2)),
            ]))
        );
        assert!(matches!(set(b"0 "), Err(Error::Syntax(_))));
        assert!(matches!(set(b"1, "), Err(Error::Syntax(_))));
        assert!(matches!(set(b"1:0 "), Err(Error::Syntax(_))));
        assert!(matches!(set(b"4294967296 "), Err(Error::Syntax(_))));
        assert!(matches!(set(b"$ "), Err(Error::Syntax(_))));
        let searchres = Options {
            searchres: true,
            ..Options::default()
        };
        let mut c = Cursor::new(b"$ ", &searchres);
        assert_eq!(sequence_set(&mut c), Ok(SequenceSet(vec![])));
        let mut c = Cursor::new(b"1,$ ", &searchres);
        assert!(matches!(sequence_set(&mut c), Err(Error::Syntax(_))));
        // nz-number = digit-nz *DIGIT
        assert!(matches!(set(b"01 "), Err(Error::Syntax(_))));
    }
}
