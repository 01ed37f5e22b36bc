//! Scanning segments: find the end of the valid records, report corruption, decide what to truncate.
//!
//! Invariants this file keeps:
//! - A record is returned only if its checks match (see `record.rs`); nothing corrupt is handed on.
//! - No record found inside another record's payload is ever returned: records are found only by
//!   following lengths from the segment's first record, except by the resynchronisation below, whose
//!   salted 64-bit check a sender cannot forge.
//! - In the last (active) segment of a log there is no resynchronisation: the first invalid record is
//!   the torn tail, and everything from it on is not part of the log. A writer acknowledges records in
//!   log order, so nothing after a torn record can have been acknowledged (short of the disk corrupting
//!   synced bytes, which the writer then reports loudly and keeps a copy of before truncating).
//! - In a sealed (not last) salted segment, an invalid record followed by valid ones is corruption in
//!   the middle: it is reported with its position and skipped, and the scan goes on at the next offset
//!   where a record passes the full salted check. A legacy (`SHMLSEG1`, unsalted) segment is never
//!   resynchronised: its CRC can be computed by anyone, so the rest of the segment is reported as lost.
//! - A run of zero bytes is the unwritten (preallocated) end of a segment, not corruption.
//!
//! Why resynchronising in a sealed segment is safe enough (numbers): a candidate passes only if both
//! 32-bit checks, seeded by the two independent, uniformly random halves of the segment's secret salt,
//! match: probability 2^-64 per candidate offset, for random bytes and for a sender who chose the bytes
//! (BDAT bodies are binary). A 256 MiB segment has at most 2^28 candidate offsets, so even a segment
//! whose every byte a sender chose accepts a forged record with probability at most 2^28 * 2^-64 =
//! 2^-36 (about 1.5e-11) per damaged record. With one 32-bit check (the old format, or a salted CRC
//! alone) the same scan would accept one with probability up to 2^28 * 2^-32 = 1/16. The kind filter
//! below only saves work; it is not counted in the bound.

use crate::record::{DecodeError, Decoded, Format};
use crate::segment::data_start;

/// Record kinds a resynchronising scan will consider as a record start (saves checksum work on
/// garbage; kinds beyond this are reserved).
const RESYNC_MAX_KIND: u8 = 15;

/// What one scan of a segment found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// Offset just past the last valid record (where the next record goes).
    pub end: u64,
    /// Number of valid records seen (from the scan's start offset).
    pub records: u64,
    /// Invalid records in the middle of a sealed segment that were skipped: (offset, reason).
    pub corrupt: Vec<(u64, &'static str)>,
    /// The first offset of a torn or corrupt tail with nothing valid (or, in an active or legacy
    /// segment, nothing considered) after it, and why.
    pub torn_tail: Option<(u64, &'static str)>,
}

/// Iterates the valid records of one segment's bytes, starting at `from`, reporting what it skips.
pub struct SegmentIter<'a> {
    bytes: &'a [u8],
    off: usize,
    max_payload: usize,
    format: Format,
    sealed: bool,
    done: bool,
    pub scan: SegmentScan,
}

impl<'a> SegmentIter<'a> {
    /// A scan of `bytes` (a segment from its first byte) from offset `from`. `sealed`: the segment is
    /// not its log's last one (see the invariants for what that changes).
    pub fn new(
        bytes: &'a [u8],
        from: u64,
        max_payload: usize,
        format: Format,
        sealed: bool,
    ) -> Self {
        let start = u64::try_from(data_start(format)).unwrap_or(u64::MAX);
        let off = usize::try_from(from.max(start))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        SegmentIter {
            bytes,
            off,
            max_payload,
            format,
            sealed,
            done: false,
            scan: SegmentScan {
                end: off as u64,
                ..Default::default()
            },
        }
    }

    /// Finds the next offset after `from` where a whole valid record starts, if this segment may be
    /// resynchronised at all.
    fn resync(&self, from: usize) -> Option<usize> {
        if !self.sealed || self.format == Format::Legacy {
            return None;
        }
        next_valid_record(self.bytes, from + 1, self.max_payload, self.format)
    }
}

/// The first offset at or after `from` where a whole record passes the checks of `format`. Meant
/// for salted segments (see the bound in this file's documentation).
pub fn next_valid_record(
    bytes: &[u8],
    from: usize,
    max_payload: usize,
    format: Format,
) -> Option<usize> {
    let hl = format.header_len();
    let mut at = from;
    while at + hl <= bytes.len() {
        let kind = bytes[at + 8];
        if kind != 0 && kind <= RESYNC_MAX_KIND && format.decode_at(bytes, at, max_payload).is_ok()
        {
            return Some(at);
        }
        at += 1;
    }
    None
}

impl<'a> Iterator for SegmentIter<'a> {
    /// (offset of the record, the record)
    type Item = (u64, Decoded<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let at = self.off;
            let problem = match self.format.decode_at(self.bytes, at, self.max_payload) {
                Ok(d) => {
                    self.off += d.total_len;
                    self.scan.end = self.off as u64;
                    self.scan.records += 1;
                    return Some((at as u64, d));
                }
                Err(DecodeError::End) if self.bytes[at..].iter().all(|&b| b == 0) => {
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
pub fn scan_segment(
    bytes: &[u8],
    from: u64,
    max_payload: usize,
    format: Format,
    sealed: bool,
) -> SegmentScan {
    let mut it = SegmentIter::new(bytes, from, max_payload, format, sealed);
    for _ in it.by_ref() {}
    it.scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;
    use proptest::prelude::*;

    const F: Format = Format::Salted {
        salt: 0x5eed_0000_1234_5678,
    };

    fn segment_of(f: Format, payloads: &[&[u8]], zero_tail: usize) -> (Vec<u8>, Vec<u64>) {
        let mut v = vec![0xAAu8; data_start(f)];
        let mut offs = Vec::new();
        for p in payloads {
            offs.push(v.len() as u64);
            let at = v.len() as u32;
            f.encode_into(&mut v, at, Kind::MESSAGE, &[p]);
        }
        v.resize(v.len() + zero_tail, 0);
        (v, offs)
    }

    fn segment(payloads: &[&[u8]], zero_tail: usize) -> (Vec<u8>, Vec<u64>) {
        segment_of(F, payloads, zero_tail)
    }

    fn payloads_of(v: &[u8], f: Format, sealed: bool) -> (Vec<Vec<u8>>, SegmentScan) {
        let mut it = SegmentIter::new(v, 0, 1 << 20, f, sealed);
        let got = it.by_ref().map(|(_, d)| d.payload.to_vec()).collect();
        (got, it.scan)
    }

    #[test]
    fn clean_segment_with_zero_tail() {
        for f in [F, Format::Legacy] {
            let (v, offs) = segment_of(f, &[b"one", b"two", b"three"], 4096);
            for sealed in [false, true] {
                let s = scan_segment(&v, 0, 1 << 20, f, sealed);
                assert_eq!(s.records, 3);
                assert_eq!(s.end, (v.len() - 4096) as u64);
                assert!(s.corrupt.is_empty() && s.torn_tail.is_none());
                let got: Vec<u64> = SegmentIter::new(&v, 0, 1 << 20, f, sealed)
                    .map(|(o, _)| o)
                    .collect();
                assert_eq!(got, offs);
            }
        }
    }

    #[test]
    fn corrupt_middle_record_is_skipped_only_in_a_sealed_salted_segment() {
        let (mut v, offs) = segment(&[b"first record", b"second record", b"third record"], 100);
        v[offs[1] as usize + HEADER_LEN_SALTED + 2] ^= 0x10;
        let (got, scan) = payloads_of(&v, F, true);
        assert_eq!(
            got,
            vec![b"first record".to_vec(), b"third record".to_vec()]
        );
        assert_eq!(scan.corrupt, vec![(offs[1], "crc mismatch")]);
        assert!(scan.torn_tail.is_none());
        // In the active segment the first invalid record is the torn tail: nothing after it counts.
        let (got, scan) = payloads_of(&v, F, false);
        assert_eq!(got, vec![b"first record".to_vec()]);
        assert!(scan.corrupt.is_empty());
        assert_eq!(scan.torn_tail, Some((offs[1], "crc mismatch")));
        assert_eq!(scan.end, offs[1]);
    }

    #[test]
    fn a_legacy_segment_is_never_resynchronised() {
        let (mut v, offs) = segment_of(
            Format::Legacy,
            &[b"first record", b"second record", b"third"],
            100,
        );
        v[offs[1] as usize + 11] ^= 0x10;
        let (got, scan) = payloads_of(&v, Format::Legacy, true);
        assert_eq!(got, vec![b"first record".to_vec()]);
        assert_eq!(scan.torn_tail.map(|t| t.0), Some(offs[1]));
    }

    #[test]
    fn torn_tail_at_every_cut() {
        for sealed in [false, true] {
            let (full, offs) = segment(&[b"alpha", b"beta", b"gamma-gamma"], 0);
            let last = offs[2] as usize;
            for cut in last..full.len() {
                let mut v = full[..cut].to_vec();
                v.resize(cut + 64, 0);
                let s = scan_segment(&v, 0, 1 << 20, F, sealed);
                assert_eq!(s.records, 2, "cut at {cut}");
                assert_eq!(s.end, last as u64);
                if cut > last {
                    assert_eq!(s.torn_tail.map(|t| t.0), Some(last as u64), "cut at {cut}");
                }
            }
        }
    }

    /// A body that carries records of every kind: encoded legacy-style (anyone can compute those),
    /// with guessed salts, and even with the segment's real salt at the offset they land on.
    fn hostile_body(f: Format, body_at: usize) -> Vec<u8> {
        let mut body = b"Subject: hi\r\n\r\n".to_vec();
        for kind in [Kind::MESSAGE, Kind::MAILBOX, Kind::QUEUE] {
            Format::Legacy.encode_into(&mut body, 0, kind, &[b"forged"]);
            for guess in [0u64, 1, 0x5eed_0000_1234_5679] {
                let at = (body_at + body.len()) as u32;
                Format::Salted { salt: guess }.encode_into(&mut body, at, kind, &[b"forged"]);
            }
        }
        // The worst case: bytes valid under the real salt at their real offset. Only a sender who
        // knew the salt could write these; with the enclosing header torn, an active segment must
        // still not return them.
        let at = (body_at + body.len()) as u32;
        f.encode_into(
            &mut body,
            at,
            Kind::MAILBOX,
            &[b"forged with the real salt"],
        );
        body
    }

    const HEADER_LEN_SALTED: usize = crate::record::HEADER_LEN;

    #[test]
    fn records_inside_a_payload_are_never_returned_when_its_header_is_torn() {
        // The message's payload starts after the first record and its header.
        let (first, _) = segment(&[b"first"], 0);
        let body_at = first.len() + HEADER_LEN_SALTED;
        let body = hostile_body(F, body_at);
        let (v, offs) = segment(&[b"first", &body, b"third"], 64);
        let clean: Vec<u64> = SegmentIter::new(&v, 0, 1 << 20, F, false)
            .map(|(o, _)| o)
            .collect();
        assert_eq!(clean, offs, "intact, the body is one record");
        for byte in 0..HEADER_LEN_SALTED {
            let mut torn = v.clone();
            torn[offs[1] as usize + byte] ^= 0xFF;
            let (got, scan) = payloads_of(&torn, F, false);
            assert_eq!(got, vec![b"first".to_vec()], "header byte {byte}");
            assert_eq!(scan.torn_tail.map(|t| t.0), Some(offs[1]));
            // Sealed: resynchronisation skips to the next genuine record; of the forged ones only the
            // one made with the real salt (which no sender has) could be found.
            let got: Vec<Vec<u8>> = SegmentIter::new(&torn, 0, 1 << 20, F, true)
                .map(|(_, d)| d.payload.to_vec())
                .filter(|p| p.as_slice() != b"forged with the real salt")
                .collect();
            assert_eq!(
                got,
                vec![b"first".to_vec(), b"third".to_vec()],
                "byte {byte}"
            );
        }
    }

    proptest! {
        /// The scanner on arbitrary bytes: never panics; what it returns passes the checks at its
        /// offset, in ascending non-overlapping order, within the bytes; an active segment's records
        /// form one unbroken chain from the first record.
        #[test]
        fn scanner_on_arbitrary_bytes(
            salt in any::<u64>(),
            legacy in any::<bool>(),
            sealed in any::<bool>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            from in 0u64..700,
        ) {
            let f = if legacy { Format::Legacy } else { Format::Salted { salt } };
            let mut it = SegmentIter::new(&bytes, from, 1 << 20, f, sealed);
            let mut expect_next: Option<u64> = None;
            let mut prev_end = 0u64;
            for (off, d) in it.by_ref() {
                prop_assert!(off >= prev_end);
                prop_assert!(off as usize + d.total_len <= bytes.len());
                prop_assert_eq!(f.decode_at(&bytes, off as usize, 1 << 20), Ok(d));
                if !sealed || legacy {
                    if let Some(n) = expect_next {
                        prop_assert_eq!(off, n);
                    }
                }
                prev_end = off + d.total_len as u64;
                expect_next = Some(prev_end);
            }
            prop_assert!(it.scan.end as usize <= bytes.len().max(data_start(f)));
            if !sealed || legacy {
                prop_assert!(it.scan.corrupt.is_empty());
            }
        }

        /// Real records with arbitrary payloads (some carrying records), one header damaged: only
        /// offsets the writer used come back, and in an active segment only those before the damage.
        #[test]
        fn only_written_records_come_back(
            salt in any::<u64>(),
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..12),
            victim in any::<proptest::sample::Index>(),
            byte in 0usize..13,
            flip in 1u8..,
            sealed in any::<bool>(),
        ) {
            let f = Format::Salted { salt };
            // Payloads that embed a legacy record of each kind, and arbitrary ones.
            let mut ps: Vec<Vec<u8>> = Vec::new();
            for (i, p) in payloads.iter().enumerate() {
                let mut q = p.clone();
                if i % 2 == 0 {
                    Format::Legacy.encode_into(&mut q, 0, Kind((i % 3) as u8 + 1), &[p]);
                }
                ps.push(q);
            }
            let refs: Vec<&[u8]> = ps.iter().map(|p| p.as_slice()).collect();
            let (mut v, offs) = segment_of(f, &refs, 32);
            let k = victim.index(offs.len());
            v[offs[k] as usize + byte] ^= flip;
            let got: Vec<u64> = SegmentIter::new(&v, 0, 1 << 20, f, sealed).map(|(o, _)| o).collect();
            for o in &got {
                prop_assert!(offs.contains(o), "offset {} was never written", o);
                prop_assert!(*o != offs[k]);
            }
            if !sealed {
                prop_assert_eq!(&got[..], &offs[..k]);
            }
        }
    }
}
