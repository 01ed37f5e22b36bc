//! The record format: `[len u32 LE][crc32c u32 LE][kind u8][payload: len bytes]`.
//!
//! The CRC (Castagnoli) covers the kind byte and the payload, so a flipped kind is caught too. Kind 0 is
//! never written: a run of zero bytes (the preallocated, not yet written end of a segment) therefore never
//! decodes as a record, which is how the end of a segment is recognised.

/// Bytes before the payload: length, CRC, kind.
pub const HEADER_LEN: usize = 9;

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
}

/// The CRC stored in a record header: crc32c over the kind byte, then the payload parts.
pub fn checksum(kind: Kind, parts: &[&[u8]]) -> u32 {
    let mut crc = crc32c::crc32c(&[kind.0]);
    for p in parts {
        crc = crc32c::crc32c_append(crc, p);
    }
    crc
}

/// Appends one encoded record whose payload is the concatenation of `parts` to `out`.
pub fn encode_into(out: &mut Vec<u8>, kind: Kind, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.reserve(HEADER_LEN + len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&checksum(kind, parts).to_le_bytes());
    out.push(kind.0);
    for p in parts {
        out.extend_from_slice(p);
    }
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
    /// The header is not plausible (kind 0 with data, length over the limit) or the CRC does not match.
    Corrupt(&'static str),
}

/// Decodes the record at the start of `buf`. `max_payload` bounds the length field so that a corrupt
/// length cannot make a reader look gigabytes ahead.
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Decoded<'_>, DecodeError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return if buf.iter().all(|&b| b == 0) {
            Err(DecodeError::End)
        } else {
            Err(DecodeError::Truncated)
        };
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let kind = Kind(header[8]);
    if kind.0 == 0 {
        return if len == 0 && crc == 0 {
            Err(DecodeError::End)
        } else {
            Err(DecodeError::Corrupt("kind 0"))
        };
    }
    if len > max_payload {
        return Err(DecodeError::Corrupt("length over the limit"));
    }
    let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Err(DecodeError::Truncated);
    };
    if checksum(kind, &[payload]) != crc {
        return Err(DecodeError::Corrupt("crc mismatch"));
    }
    Ok(Decoded {
        kind,
        payload,
        total_len: HEADER_LEN + len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(kind: Kind, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_into(&mut v, kind, &[payload]);
        v
    }

    #[test]
    fn zeros_are_the_end() {
        assert_eq!(decode(&[0u8; 64], 1 << 20), Err(DecodeError::End));
        assert_eq!(decode(&[0u8; 3], 1 << 20), Err(DecodeError::End));
        assert_eq!(decode(&[], 1 << 20), Err(DecodeError::End));
    }

    #[test]
    fn parts_equal_concatenation() {
        let mut a = Vec::new();
        encode_into(&mut a, Kind::MESSAGE, &[b"Received: x\r\n", b"body"]);
        assert_eq!(a, enc(Kind::MESSAGE, b"Received: x\r\nbody"));
    }

    #[test]
    fn empty_payload_is_a_record() {
        let v = enc(Kind::QUEUE, b"");
        let d = decode(&v, 10).unwrap();
        assert_eq!(d.payload, b"");
        assert_eq!(d.total_len, HEADER_LEN);
    }

    #[test]
    fn over_limit_length_is_corrupt() {
        let v = enc(Kind::MESSAGE, &[7u8; 100]);
        assert_eq!(
            decode(&v, 99),
            Err(DecodeError::Corrupt("length over the limit"))
        );
    }

    proptest! {
        #[test]
        fn round_trip(kind in 1u8.., payload in proptest::collection::vec(any::<u8>(), 0..2000), tail in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut v = enc(Kind(kind), &payload);
            let n = v.len();
            v.extend_from_slice(&tail);
            let d = decode(&v, 1 << 20).unwrap();
            prop_assert_eq!(d.kind, Kind(kind));
            prop_assert_eq!(d.payload, &payload[..]);
            prop_assert_eq!(d.total_len, n);
        }

        #[test]
        fn every_cut_is_not_a_record(payload in proptest::collection::vec(any::<u8>(), 1..300), cut in 0usize..1000) {
            let v = enc(Kind::MESSAGE, &payload);
            let cut = cut % v.len();
            prop_assert!(decode(&v[..cut], 1 << 20).is_err());
        }

        #[test]
        fn every_bit_flip_is_caught(payload in proptest::collection::vec(any::<u8>(), 0..300), bit in 0usize..100_000) {
            let mut v = enc(Kind::MESSAGE, &payload);
            let bit = bit % (v.len() * 8);
            v[bit / 8] ^= 1 << (bit % 8);
            // A flip in the length may make the record look truncated or longer; never valid.
            prop_assert!(decode(&v, 1 << 20).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes, 1 << 20);
        }
    }
}
