//! A connection's output: reply bytes in one buffer, plus large byte ranges written in place (IMAP's
//! FETCH BODY[] literals straight from the log's mmap, issue 10 "Fast paths") without being copied into
//! the buffer. Plain data: the sans-io cores write into it, the driver flushes it.
//!
//! Replies are written through `Deref<Target = Vec<u8>>`, so any encoder that appends to a `Vec<u8>`
//! takes `&mut out` unchanged. [`Out::splice`] records "here, these bytes" at the buffer's current end;
//! the flush writes the buffer up to that point, then the spliced bytes, then goes on.

use std::ops::{Deref, DerefMut};

/// Bytes below this size are copied into the buffer: a separate write costs more than the copy.
pub const SPLICE_MIN: usize = 16 << 10;

/// Bytes kept alive until they are written (a `RecordRef` keeps its mmap alive).
pub type Bytes = Box<dyn AsRef<[u8]>>;

#[derive(Default)]
pub struct Out {
    buf: Vec<u8>,
    /// (offset in `buf` where the bytes go, the bytes), offsets ascending.
    spliced: Vec<(usize, Bytes)>,
    /// Total length of the spliced bytes.
    spliced_len: usize,
}

impl Out {
    pub fn with_capacity(n: usize) -> Out {
        Out {
            buf: Vec::with_capacity(n),
            ..Out::default()
        }
    }

    /// Appends `bytes` to the output: copied when small, otherwise written from where they are.
    pub fn splice(&mut self, bytes: Bytes) {
        let b: &[u8] = (*bytes).as_ref();
        if b.len() < SPLICE_MIN {
            self.buf.extend_from_slice(b);
            return;
        }
        self.spliced_len += b.len();
        self.spliced.push((self.buf.len(), bytes));
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.spliced.is_empty()
    }

    /// Bytes to write (buffered and spliced).
    pub fn total_len(&self) -> usize {
        self.buf.len() + self.spliced_len
    }

    /// The output in order: buffer pieces and spliced ranges, empty pieces left out.
    pub fn pieces(&self) -> Pieces<'_> {
        Pieces {
            out: self,
            next: 0,
            from: 0,
        }
    }

    /// Empties the output (after a flush), keeping at most `keep` bytes of buffer capacity.
    pub fn clear(&mut self, keep: usize) {
        self.buf.clear();
        self.spliced.clear();
        self.spliced_len = 0;
        if self.buf.capacity() > keep {
            self.buf.shrink_to(keep);
        }
        if self.spliced.capacity() > 16 {
            self.spliced.shrink_to(16);
        }
    }
}

/// Iterator over [`Out::pieces`] (no allocation: a flush walks it on every reply).
pub struct Pieces<'a> {
    out: &'a Out,
    /// Even: the buffer piece before splice `next / 2` (or the tail); odd: that splice.
    next: usize,
    from: usize,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let i = self.next / 2;
            let piece: &'a [u8] = match self.out.spliced.get(i) {
                Some((at, _)) if self.next.is_multiple_of(2) => {
                    let p = &self.out.buf[self.from..*at];
                    self.from = *at;
                    p
                }
                Some((_, bytes)) => (**bytes).as_ref(),
                None if self.next.is_multiple_of(2) => {
                    let p = &self.out.buf[self.from..];
                    self.from = self.out.buf.len();
                    p
                }
                None => return None,
            };
            self.next += 1;
            if !piece.is_empty() {
                return Some(piece);
            }
        }
    }
}

impl Deref for Out {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for Out {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(o: &Out) -> Vec<u8> {
        o.pieces().flatten().copied().collect()
    }

    #[test]
    fn large_bytes_are_spliced_in_order_and_small_ones_copied() {
        let big = vec![b'x'; SPLICE_MIN];
        let mut o = Out::default();
        o.extend_from_slice(b"* 1 FETCH (BODY[] {16384}\r\n");
        o.splice(Box::new(big.clone()));
        o.extend_from_slice(b")\r\n* 2 FETCH (BODY[] {3}\r\n");
        o.splice(Box::new(b"abc".to_vec()));
        o.extend_from_slice(b")\r\n");
        o.splice(Box::new(big.clone()));
        assert_eq!(o.pieces().count(), 4, "buffer, big, buffer, big");
        let mut want = b"* 1 FETCH (BODY[] {16384}\r\n".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b")\r\n* 2 FETCH (BODY[] {3}\r\nabc)\r\n");
        want.extend_from_slice(&big);
        assert_eq!(all(&o), want);
        assert_eq!(o.total_len(), want.len());
        assert_eq!(
            o.len(),
            want.len() - 2 * SPLICE_MIN,
            "only the small one was copied"
        );
        o.clear(64);
        assert!(o.is_empty());
        assert_eq!(o.total_len(), 0);
        assert_eq!(o.pieces().count(), 0);
    }

    #[test]
    fn a_vec_writer_takes_out_by_deref() {
        fn write(v: &mut Vec<u8>) {
            v.extend_from_slice(b"OK\r\n");
        }
        let mut o = Out::default();
        write(&mut o);
        assert_eq!(all(&o), b"OK\r\n");
    }
}
