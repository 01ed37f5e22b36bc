//! Scanning segments: find the end of the valid records, report corruption, decide what to truncate.
//!
//! Invariants this file keeps:
//! - A record is returned only if its CRC matches; nothing corrupt is ever handed on.
//! - In the last segment of a log, the first invalid record with nothing valid after it is a torn
//!   tail: the writer truncates it (with a warning naming the offset) and appends after the last good record.
//! - An invalid record followed by valid ones (found by resynchronising on the next offset where a whole
//!   record with a matching CRC starts) is corruption in the middle: it is reported with its position and
//!   skipped, never silently accepted.
//! - A run of zero bytes is the unwritten (preallocated) end of a segment, not corruption.

use crate::record::{self, DecodeError, Decoded, HEADER_LEN};
use crate::segment::SEGMENT_HEADER_LEN;

/// Record kinds a resynchronising scan will consider as a record start. Kinds beyond this are reserved
/// for future use; keeping the set small makes a false resync on garbage negligible.
const RESYNC_MAX_KIND: u8 = 15;

/// What one scan of a segment found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// Offset just past the last valid record (where the next record goes).
    pub end: u64,
    /// Number of valid records seen (from the scan's start offset).
    pub records: u64,
    /// Invalid records in the middle that were skipped: (offset, reason).
    pub corrupt: Vec<(u64, &'static str)>,
    /// The first offset of a torn or corrupt tail with nothing valid after it, and why.
    pub torn_tail: Option<(u64, &'static str)>,
}

/// Iterates the valid records of one segment's bytes, starting at `from`, reporting what it skips.
pub struct SegmentIter<'a> {
    bytes: &'a [u8],
    off: usize,
    max_payload: usize,
    done: bool,
    pub scan: SegmentScan,
}

impl<'a> SegmentIter<'a> {
    pub fn new(bytes: &'a [u8], from: u64, max_payload: usize) -> Self {
        let off = (from as usize).max(SEGMENT_HEADER_LEN).min(bytes.len());
        SegmentIter {
            bytes,
            off,
            max_payload,
            done: false,
            scan: SegmentScan {
                end: off as u64,
                ..Default::default()
            },
        }
    }

    /// Finds the next offset after `from` where a whole valid record starts.
    fn resync(&self, from: usize) -> Option<usize> {
        let mut at = from + 1;
        while at + HEADER_LEN <= self.bytes.len() {
            let kind = self.bytes[at + 8];
            if kind != 0
                && kind <= RESYNC_MAX_KIND
                && record::decode(&self.bytes[at..], self.max_payload).is_ok()
            {
                return Some(at);
            }
            at += 1;
        }
        None
    }
}

impl<'a> Iterator for SegmentIter<'a> {
    /// (offset of the record, the record)
    type Item = (u64, Decoded<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let at = self.off;
            let rest = &self.bytes[at..];
            let problem = match record::decode(rest, self.max_payload) {
                Ok(d) => {
                    self.off += d.total_len;
                    self.scan.end = self.off as u64;
                    self.scan.records += 1;
                    return Some((at as u64, d));
                }
                Err(DecodeError::End) if rest.iter().all(|&b| b == 0) => {
                    self.done = true;
                    return None;
                }
                Err(DecodeError::End) => "zero header before non-zero data",
                Err(DecodeError::Truncated) => "truncated record",
                Err(DecodeError::Corrupt(why)) => why,
            };
            match self.resync(at) {
                Some(next) => {
                    self.scan.corrupt.push((at as u64, problem));
                    self.off = next;
                }
                None => {
                    self.scan.torn_tail = Some((at as u64, problem));
                    self.done = true;
                }
            }
        }
        None
    }
}

/// Scans a whole segment from `from` and returns what it found (the records themselves are dropped).
pub fn scan_segment(bytes: &[u8], from: u64, max_payload: usize) -> SegmentScan {
    let mut it = SegmentIter::new(bytes, from, max_payload);
    for _ in it.by_ref() {}
    it.scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode_into, Kind};

    fn segment(payloads: &[&[u8]], zero_tail: usize) -> (Vec<u8>, Vec<u64>) {
        let mut v = vec![0xAAu8; SEGMENT_HEADER_LEN];
        let mut offs = Vec::new();
        for p in payloads {
            offs.push(v.len() as u64);
            encode_into(&mut v, Kind::MESSAGE, &[p]);
        }
        v.resize(v.len() + zero_tail, 0);
        (v, offs)
    }

    #[test]
    fn clean_segment_with_zero_tail() {
        let (v, offs) = segment(&[b"one", b"two", b"three"], 4096);
        let s = scan_segment(&v, 0, 1 << 20);
        assert_eq!(s.records, 3);
        assert_eq!(s.end, (v.len() - 4096) as u64);
        assert!(s.corrupt.is_empty() && s.torn_tail.is_none());
        let got: Vec<u64> = SegmentIter::new(&v, 0, 1 << 20).map(|(o, _)| o).collect();
        assert_eq!(got, offs);
    }

    #[test]
    fn corrupt_middle_record_is_reported_and_skipped() {
        let (mut v, offs) = segment(&[b"first record", b"second record", b"third record"], 100);
        v[offs[1] as usize + HEADER_LEN + 2] ^= 0x10;
        let mut it = SegmentIter::new(&v, 0, 1 << 20);
        let got: Vec<&[u8]> = it.by_ref().map(|(_, d)| d.payload).collect();
        assert_eq!(got, vec![&b"first record"[..], &b"third record"[..]]);
        assert_eq!(it.scan.corrupt, vec![(offs[1], "crc mismatch")]);
        assert!(it.scan.torn_tail.is_none());
    }

    #[test]
    fn torn_tail_at_every_cut() {
        let (full, offs) = segment(&[b"alpha", b"beta", b"gamma-gamma"], 0);
        let last = offs[2] as usize;
        for cut in last..full.len() {
            let mut v = full[..cut].to_vec();
            v.resize(cut + 64, 0);
            let s = scan_segment(&v, 0, 1 << 20);
            assert_eq!(s.records, 2, "cut at {cut}");
            assert_eq!(s.end, last as u64);
            if cut > last {
                assert_eq!(s.torn_tail.map(|t| t.0), Some(last as u64), "cut at {cut}");
            }
        }
    }
}
