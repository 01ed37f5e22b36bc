//! The segment scanner and the mailbox event decoder on arbitrary bytes: never panic, never return a
//! record that does not pass its checks at its offset, never return overlapping records, and in an
//! active segment return only one unbroken chain. Every returned mailbox payload also goes through
//! `EventBatch::decode`, whose round trip must be exact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardmail_storage::index::EventBatch;
use shardmail_storage::record::{Format, Kind};
use shardmail_storage::recovery::SegmentIter;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (format, bytes) = if mode & 1 == 0 || rest.len() < 8 {
        (Format::Legacy, rest)
    } else {
        let mut salt = [0u8; 8];
        salt.copy_from_slice(&rest[..8]);
        (Format::Salted { salt: u64::from_le_bytes(salt) }, &rest[8..])
    };
    let sealed = mode & 2 != 0;
    let from = u64::from(mode >> 2);
    let mut it = SegmentIter::new(bytes, from, 1 << 20, format, sealed);
    let mut prev_end: Option<u64> = None;
    for (off, d) in it.by_ref() {
        assert_eq!(format.decode_at(bytes, off as usize, 1 << 20), Ok(d));
        if let Some(end) = prev_end {
            assert!(off >= end, "records overlap");
            if !sealed || format == Format::Legacy {
                assert_eq!(off, end, "an active segment is one chain");
            }
        }
        prev_end = Some(off + d.total_len as u64);
        if d.kind == Kind::MAILBOX {
            if let Ok(batch) = EventBatch::decode(d.payload) {
                let mut again = Vec::new();
                batch.encode(&mut again);
                assert_eq!(EventBatch::decode(&again).ok(), Some(batch));
            }
        }
    }
    // The decoder alone, on the raw input.
    if let Ok(batch) = EventBatch::decode(data) {
        let mut again = Vec::new();
        batch.encode(&mut again);
        assert_eq!(EventBatch::decode(&again).ok(), Some(batch));
    }
});
