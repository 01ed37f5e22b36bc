//! `sequence-set` (RFC 9051 9): numbers, `*` and ranges, kept in the order sent; the session resolves
//! them against the mailbox.

use super::lexer::{Cursor, PResult};
use super::Error;
use crate::imap::types::{SeqNum, SeqRange, SequenceSet};

/// `sequence-set = (seq-number / seq-range) ["," sequence-set]`. The `$` of SEARCHRES (RFC 5182) is
/// not accepted: `SequenceSet` cannot hold it and the capability is not advertised.
pub fn sequence_set(c: &mut Cursor<'_, '_>) -> PResult<SequenceSet> {
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
        b'$' => Err(Error::Syntax("$ (SEARCHRES) is not supported")),
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
        let opts = Options::default();
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
        // nz-number = digit-nz *DIGIT
        assert!(matches!(set(b"01 "), Err(Error::Syntax(_))));
    }
}
