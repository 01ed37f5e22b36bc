//! The record format, salted per segment so that no record can be forged by content.
//!
//! Current segments (`SHMLSEG2`, [`Format::Salted`]):
//! `[len u32 LE][crc u32 LE][kind u8][hcrc u32 LE][payload: len bytes]`, where
//! - `crc`  = crc32c seeded with the low half of the segment's random 64-bit salt, over kind and payload;
//! - `hcrc` = crc32c seeded with the high half of the salt, over `len`, `crc`, `kind` and the record's
//!   own offset in the segment.
//!
//! Why: message payloads are chosen by whoever sends mail (BDAT is binary), so a body can carry bytes
//! that look like a record. Without the salt anyone can compute a valid CRC; with it, a sender who never
//! sees the salt must guess both 32-bit seeds, independently uniform: a candidate passes with
//! probability 2^-64 (CRC is affine in its seed, and the seed maps bijectively onto the check for a
//! fixed length, so each check is right for exactly one seed value). Binding the offset into `hcrc`
//! also makes a genuine record invalid anywhere but where the writer put it (a stale or misdirected
//! copy of a sector does not validate elsewhere), and a new segment (compaction's copies) has a new salt.
//!
//! Legacy segments (`SHMLSEG1`, [`Format::Legacy`]) have `[len u32][crc32c u32][kind u8][payload]`
//! with an unsalted CRC over kind and payload. They are read, never written; a scan never resynchronises
//! inside them (see `recovery.rs`).
//!
//! Kind 0 is never written: a run of zero bytes (the preallocated, not yet written end of a segment)
//! therefore never decodes as a record, which is how the end of a segment is recognised.

/// Bytes before the payload of a record in a current (salted) segment.
pub const HEADER_LEN: usize = 13;
/// Bytes before the payload of a record in a legacy (`SHMLSEG1`) segment.
pub const LEGACY_HEADER_LEN: usize = 9;

/// The kind of a record. The set is open: readers skip kinds they do not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind(pub u8);

impl Kind {
    /// Raw message bytes (RFC 5322 text as received, with trace headers).
    pub const MESSAGE: Kind = Kind(1);
    /// A batch of mailbox events ([`crate::index::EventBatch`]).
    pub const MAILBOX: Kind = Kind(2);
    /// Relay queue events (enqueue, attempt, done, bounce).
    pub const QUEUE: Kind = Kind(3);
    /// A record that compaction carried out of a segment it removed: `[log u32][segment u32][offset
    /// u32][kind u8]` (all LE) of the original, then the original payload. Replay treats it as the
    /// original record at its original position, so a full replay after compaction sees the same
    /// history in the same order. See `store/archive.rs`.
    pub const COPIED: Kind = Kind(8);
}

/// How the records of one segment are framed and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `SHMLSEG1`: unsalted CRC, no header check. Read only.
    Legacy,
    /// `SHMLSEG2`: CRC and header check seeded by the segment's salt.
    Salted { salt: u64 },
}

/// One record decoded in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub kind: Kind,
    pub payload: &'a [u8],
    /// Header plus payload: the distance to the next record.
    pub total_len: usize,
}

/// Why the bytes at an offset are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or the length it announces: a torn write, or simply the end.
    Truncated,
    /// All-zero header: the unwritten end of a segment.
    End,
    /// The header is not plausible (kind 0 with data, length over the limit), a check does not match.
    Corrupt(&'static str),
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl Format {
    /// Bytes before the payload.
    pub const fn header_len(self) -> usize {
        match self {
            Format::Legacy => LEGACY_HEADER_LEN,
            Format::Salted { .. } => HEADER_LEN,
        }
    }

    /// The payload CRC: crc32c over the kind byte, then the payload parts, seeded by the salt's low half.
    pub fn checksum(self, kind: Kind, parts: &[&[u8]]) -> u32 {
        let seed = match self {
            Format::Legacy => 0,
            Format::Salted { salt } => salt as u32,
        };
        let mut crc = crc32c::crc32c_append(seed, &[kind.0]);
        for p in parts {
            crc = crc32c::crc32c_append(crc, p);
        }
        crc
    }

    /// The header check of a salted record: crc32c over length, CRC, kind and the record's offset,
    /// seeded by the salt's high half. Legacy records have none.
    fn header_check(self, len: u32, crc: u32, kind: Kind, offset: u32) -> u32 {
        let seed = match self {
            Format::Legacy => return 0,
            Format::Salted { salt } => (salt >> 32) as u32,
        };
        let mut h = [0u8; 13];
        h[..4].copy_from_slice(&len.to_le_bytes());
        h[4..8].copy_from_slice(&crc.to_le_bytes());
        h[8] = kind.0;
        h[9..].copy_from_slice(&offset.to_le_bytes());
        crc32c::crc32c_append(seed, &h)
    }

    /// Appends one encoded record, to be placed at `offset` of its segment, whose payload is the
    /// concatenation of `parts`, to `out`.
    pub fn encode_into(self, out: &mut Vec<u8>, offset: u32, kind: Kind, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        out.reserve(self.header_len() + len);
        let crc = self.checksum(kind, parts);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.push(kind.0);
        if let Format::Salted { .. } = self {
            let h = self.header_check(len as u32, crc, kind, offset);
            out.extend_from_slice(&h.to_le_bytes());
        }
        for p in parts {
            out.extend_from_slice(p);
        }
    }

    /// Decodes the record at `offset` of `segment` (the segment's bytes from its start). `max_payload`
    /// bounds the length field so that a corrupt length cannot make a reader look gigabytes ahead.
    /// Never panics, whatever the bytes and the offset.
    pub fn decode_at(
        self,
        segment: &[u8],
        offset: usize,
        max_payload: usize,
    ) -> Result<Decoded<'_>, DecodeError> {
        let buf = segment.get(offset..).unwrap_or(&[]);
        let hl = self.header_len();
        let Some(header) = buf.get(..hl) else {
            return if buf.iter().all(|&b| b == 0) {
                Err(DecodeError::End)
            } else {
                Err(DecodeError::Truncated)
            };
        };
        let len = le32(&header[0..4]);
        let crc = le32(&header[4..8]);
        let kind = Kind(header[8]);
        if kind.0 == 0 {
            return if header.iter().all(|&b| b == 0) {
                Err(DecodeError::End)
            } else {
                Err(DecodeError::Corrupt("kind 0"))
            };
        }
        if len as usize > max_payload {
            return Err(DecodeError::Corrupt("length over the limit"));
        }
        if let Format::Salted { .. } = self {
            let Ok(off) = u32::try_from(offset) else {
                return Err(DecodeError::Corrupt("offset past 4 GiB"));
            };
            if self.header_check(len, crc, kind, off) != le32(&header[9..13]) {
                return Err(DecodeError::Corrupt("header check mismatch"));
            }
        }
        let Some(payload) = buf.get(hl..hl + len as usize) else {
            return Err(DecodeError::Truncated);
        };
        if self.checksum(kind, &[payload]) != crc {
            return Err(DecodeError::Corrupt("crc mismatch"));
        }
        Ok(Decoded {
            kind,
            payload,
            total_len: hl + len as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SALTED: Format = Format::Salted {
        salt: 0x0123_4567_89ab_cdef,
    };

    fn enc(f: Format, kind: Kind, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        f.encode_into(&mut v, 0, kind, &[payload]);
        v
    }

    #[test]
    fn zeros_are_the_end() {
        for f in [Format::Legacy, SALTED] {
            assert_eq!(f.decode_at(&[0u8; 64], 0, 1 << 20), Err(DecodeError::End));
            assert_eq!(f.decode_at(&[0u8; 3], 0, 1 << 20), Err(DecodeError::End));
            assert_eq!(f.decode_at(&[], 0, 1 << 20), Err(DecodeError::End));
            assert_eq!(f.decode_at(&[0u8; 8], 100, 1 << 20), Err(DecodeError::End));
        }
    }

    #[test]
    fn legacy_records_are_the_old_format() {
        // `SHMLSEG1` records as earlier versions wrote them: crc32c over kind then payload, no seed.
        let v = enc(Format::Legacy, Kind::MAILBOX, b"events");
        let mut old = Vec::new();
        old.extend_from_slice(&6u32.to_le_bytes());
        old.extend_from_slice(&crc32c::crc32c(b"\x02events").to_le_bytes());
        old.push(2);
        old.extend_from_slice(b"events");
        assert_eq!(v, old);
        assert_eq!(
            Format::Legacy.decode_at(&old, 0, 100).unwrap().payload,
            b"events"
        );
    }

    #[test]
    fn parts_equal_concatenation() {
        for f in [Format::Legacy, SALTED] {
            let mut a = Vec::new();
            f.encode_into(&mut a, 0, Kind::MESSAGE, &[b"Received: x\r\n", b"body"]);
            assert_eq!(a, enc(f, Kind::MESSAGE, b"Received: x\r\nbody"));
        }
    }

    #[test]
    fn empty_payload_is_a_record() {
        for f in [Format::Legacy, SALTED] {
            let v = enc(f, Kind::QUEUE, b"");
            let d = f.decode_at(&v, 0, 10).unwrap();
            assert_eq!(d.payload, b"");
            assert_eq!(d.total_len, f.header_len());
        }
    }

    #[test]
    fn over_limit_length_is_corrupt() {
        let v = enc(SALTED, Kind::MESSAGE, &[7u8; 100]);
        assert_eq!(
            SALTED.decode_at(&v, 0, 99),
            Err(DecodeError::Corrupt("length over the limit"))
        );
    }

    #[test]
    fn a_salted_record_is_valid_only_with_its_salt_and_at_its_offset() {
        let mut seg = vec![0u8; 40];
        SALTED.encode_into(&mut seg, 40, Kind::MAILBOX, &[b"deliver"]);
        assert_eq!(SALTED.decode_at(&seg, 40, 100).unwrap().payload, b"deliver");
        let other = Format::Salted {
            salt: 0x0123_4567_89ab_cdee,
        };
        assert!(other.decode_at(&seg, 40, 100).is_err());
        assert!(Format::Legacy.decode_at(&seg, 40, 100).is_err());
        // The same bytes one byte later (a shifted copy) do not validate.
        let mut shifted = vec![0u8; 41];
        shifted.extend_from_slice(&seg[40..]);
        assert_eq!(
            SALTED.decode_at(&shifted, 41, 100),
            Err(DecodeError::Corrupt("header check mismatch"))
        );
    }

    proptest! {
        #[test]
        fn round_trip(salt in any::<u64>(), legacy in any::<bool>(), kind in 1u8.., offset in 0usize..64, payload in proptest::collection::vec(any::<u8>(), 0..2000), tail in proptest::collection::vec(any::<u8>(), 0..20)) {
            let f = if legacy { Format::Legacy } else { Format::Salted { salt } };
            let mut v = vec![0xEEu8; offset];
            f.encode_into(&mut v, offset as u32, Kind(kind), &[&payload]);
            let n = v.len() - offset;
            v.extend_from_slice(&tail);
            let d = f.decode_at(&v, offset, 1 << 20).unwrap();
            prop_assert_eq!(d.kind, Kind(kind));
            prop_assert_eq!(d.payload, &payload[..]);
            prop_assert_eq!(d.total_len, n);
        }

        #[test]
        fn every_cut_is_not_a_record(salt in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 1..300), cut in 0usize..1000) {
            for f in [Format::Legacy, Format::Salted { salt }] {
                let v = enc(f, Kind::MESSAGE, &payload);
                let cut = cut % v.len();
                prop_assert!(f.decode_at(&v[..cut], 0, 1 << 20).is_err());
            }
        }

        #[test]
        fn every_bit_flip_is_caught(salt in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..300), bit in 0usize..100_000) {
            for f in [Format::Legacy, Format::Salted { salt }] {
                let mut v = enc(f, Kind::MESSAGE, &payload);
                let bit = bit % (v.len() * 8);
                v[bit / 8] ^= 1 << (bit % 8);
                // A flip in the length may make the record look truncated or longer; never valid.
                prop_assert!(f.decode_at(&v, 0, 1 << 20).is_err());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(salt in any::<u64>(), bytes in proptest::collection::vec(any::<u8>(), 0..64), offset in 0usize..100) {
            let _ = Format::Legacy.decode_at(&bytes, offset, 1 << 20);
            let _ = Format::Salted { salt }.decode_at(&bytes, offset, 1 << 20);
        }
    }
}
