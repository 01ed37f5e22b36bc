//! The compact binary encoding that mailbox event batches and queue records share: LEB128 integers,
//! length-prefixed UTF-8 strings, positions as three integers, and a reader that checks every length
//! against the bytes left, so decoding never panics and never allocates more than the input describes.

use crate::{Error, Position, Result};

/// The longest string a record carries (addresses, folder names, keywords).
pub const MAX_STRING: usize = 4096;

pub(crate) fn put_u(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_s(out: &mut Vec<u8>, s: &str) {
    put_u(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_pos(out: &mut Vec<u8>, p: Position) {
    put_u(out, p.log as u64);
    put_u(out, p.segment as u64);
    put_u(out, p.offset as u64);
}

/// A cursor over encoded bytes; every read checks what is left.
pub(crate) struct Reader<'a> {
    pub(crate) b: &'a [u8],
}

impl Reader<'_> {
    pub(crate) fn byte(&mut self) -> Result<u8> {
        let (&v, rest) = self.b.split_first().ok_or(Error::BadEvent("truncated"))?;
        self.b = rest;
        Ok(v)
    }

    /// A LEB128 integer; more than 64 bits is an error.
    pub(crate) fn u(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(v);
            }
        }
        Err(Error::BadEvent("integer over 64 bits"))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        u32::try_from(self.u()?).map_err(|_| Error::BadEvent("number over 32 bits"))
    }

    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let Some((head, rest)) = self.b.split_first_chunk::<N>() else {
            return Err(Error::BadEvent("truncated"));
        };
        self.b = rest;
        Ok(*head)
    }

    pub(crate) fn i64(&mut self) -> Result<i64> {
        self.fixed::<8>().map(i64::from_le_bytes)
    }

    /// A count of items each at least `min` bytes long, bounded by what is left.
    pub(crate) fn len(&mut self, min: usize) -> Result<usize> {
        let n = self.u()?;
        if n.saturating_mul(min.max(1) as u64) > self.b.len() as u64 {
            return Err(Error::BadEvent("count longer than the input"));
        }
        Ok(n as usize)
    }

    pub(crate) fn s(&mut self) -> Result<String> {
        let n = self.u()? as usize;
        if n > MAX_STRING || n > self.b.len() {
            return Err(Error::BadEvent(
                "string longer than allowed or than the input",
            ));
        }
        let (s, rest) = self.b.split_at(n);
        self.b = rest;
        String::from_utf8(s.to_vec()).map_err(|_| Error::BadEvent("string is not UTF-8"))
    }

    pub(crate) fn pos(&mut self) -> Result<Position> {
        Ok(Position::new(self.u32()?, self.u32()?, self.u32()?))
    }
}
