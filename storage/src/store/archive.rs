//! Records that compaction carries forward out of the segments it removes.
//!
//! Compaction reclaims message bytes no mailbox references; it must not lose history. Every other
//! record of a removed segment (mailbox event batches, queue records, earlier carried records) is
//! appended again, wrapped as a [`Kind::COPIED`] record that names the original position and kind.
//! Replay treats a carried record as the original at its original position: it sorts into the merged
//! order where the original was, and snapshot checkpoints cover it exactly as they covered the
//! original. So a full replay after any number of compactions sees the same events in the same order
//! as before them. If compaction stops between carrying and removing, the original and its copy both
//! exist; replay keeps one (same position, same bytes).
//!
//! Invariant: a carried record is durable before the segment that held the original is removed.

use crate::reader::RecordRef;
use crate::record::Kind;
use crate::{LogId, Position, Result};

use super::logs::Logs;
use super::partition::Partition;

/// `[log u32][segment u32][offset u32][kind u8]`
const WRAP_LEN: usize = 13;

fn wrap(orig: Position, kind: Kind) -> [u8; WRAP_LEN] {
    let mut h = [0u8; WRAP_LEN];
    h[..4].copy_from_slice(&orig.log.to_le_bytes());
    h[4..8].copy_from_slice(&orig.segment.to_le_bytes());
    h[8..12].copy_from_slice(&orig.offset.to_le_bytes());
    h[12] = kind.0;
    h
}

/// The original position and the original record inside a [`Kind::COPIED`] record.
pub(crate) fn unwrap(rec: &RecordRef) -> Option<(Position, RecordRef)> {
    let h = rec.get(..WRAP_LEN)?;
    let le = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let orig = Position::new(le(0), le(4), le(8));
    let kind = Kind(h[12]);
    if kind == Kind::COPIED || kind == Kind::MESSAGE || kind.0 == 0 {
        return None;
    }
    Some((orig, rec.inner(WRAP_LEN, kind)?))
}

/// Bytes of the records in a segment that compaction carried there earlier. When choosing victims they
/// count as live: a segment of carried records would otherwise look empty and be carried again on every
/// pass. Original event records do not count: carrying them once is what reclaiming a segment costs.
pub fn carried_bytes(logs: &Logs, log: LogId, segment: u32) -> Result<u64> {
    let mut n = 0u64;
    logs.reader(log).for_each_in_segment(segment, |_, rec| {
        if rec.kind() == Kind::COPIED {
            n += rec.len() as u64;
        }
        Ok(())
    })?;
    Ok(n)
}

/// Appends a copy of every non-message record of the victims through `via` and waits until all are
/// durable. Returns (records, bytes) carried. Call it before the victims are removed.
pub async fn carry_records(
    logs: &Logs,
    via: &Partition,
    victims: &[(LogId, u32)],
) -> Result<(u64, u64)> {
    let mut out = (0u64, 0u64);
    for &(log, seg) in victims {
        let mut recs = Vec::new();
        logs.reader(log).for_each_in_segment(seg, |pos, rec| {
            if rec.kind() != Kind::MESSAGE {
                recs.push((pos, rec));
            }
            Ok(())
        })?;
        let mut waits = Vec::with_capacity(recs.len());
        for (pos, rec) in &recs {
            // An earlier copy is carried as it is: it keeps naming the first original.
            let (pos, waited) = if rec.kind() == Kind::COPIED {
                via.writer().append_deferred(Kind::COPIED, &[rec])?
            } else {
                let h = wrap(*pos, rec.kind());
                via.writer().append_deferred(Kind::COPIED, &[&h, rec])?
            };
            let _ = pos;
            waits.push(waited);
            out.0 += 1;
            out.1 += rec.len() as u64;
        }
        for w in waits {
            w.await?;
        }
    }
    Ok(out)
}
