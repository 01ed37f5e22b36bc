//! Compaction across shards, where each shard holds one [`Partition`] on its own executor (the single-
//! executor [`super::Store::compact`] does the same steps in one place).
//!
//! The steps, driven by one coordinating shard: every partition reports the records it references
//! ([`Partition::live_records`]); sealed segments whose live share is low are the victims; the
//! coordinator copies the messages any partition references in them into its own log; then every
//! partition, each on its own shard, [`Partition::relocate`]s its references (one `Relocate` event in
//! its own log, planned and applied under its exclusive gate, so no operation of that partition plans
//! against the old positions meanwhile) and writes its snapshots; only when all have done so are the
//! victims unlinked. Every partition logs the same mapping for a message several of them reference, so
//! whichever `Relocate` a replay applies first, the result is the same.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::index::Event;
use crate::record::HEADER_LEN;
use crate::segment::{self, SEGMENT_HEADER_LEN};
use crate::{Error, LogId, Position, Result};

use super::logs::Logs;
use super::partition::Partition;

/// A segment: (log, segment number).
pub type SegmentId = (LogId, u32);

impl Partition {
    /// The records this partition references (each once, however many mailboxes hold it), with their
    /// sizes including the header: a coordinator unions these over partitions, since a message with
    /// recipients on several shards is referenced by each.
    pub fn live_records(&self) -> Vec<(Position, u64)> {
        let mut out = Vec::new();
        self.read_index(|ix| {
            ix.for_each_position(|pos, size| {
                out.push((pos, HEADER_LEN as u64 + size as u64));
            })
        });
        out.sort_unstable();
        out.dedup_by_key(|(p, _)| *p);
        out
    }

    /// The positions this partition references inside `victims`.
    pub fn positions_in(&self, victims: &HashSet<SegmentId>) -> Vec<Position> {
        let mut out = Vec::new();
        self.read_index(|ix| {
            ix.for_each_position(|pos, _| {
                if victims.contains(&(pos.log, pos.segment)) {
                    out.push(pos);
                }
            })
        });
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Moves this partition's references into `victims` to their copies in `moves`, durably (one
    /// `Relocate` event in this partition's log) and under the exclusive gate. If the partition
    /// references a position in the victims that `moves` lacks (a COPY since the coordinator looked),
    /// nothing changes and those positions are returned: copy them and ask again.
    pub async fn relocate(
        &self,
        victims: &HashSet<SegmentId>,
        moves: &HashMap<Position, Position>,
    ) -> Result<Vec<Position>> {
        let _excl = self.exclusive().await?;
        let mut mine = Vec::new();
        let mut missing = Vec::new();
        for pos in self.positions_in(victims) {
            match moves.get(&pos) {
                Some(&to) => mine.push((pos, to)),
                None => missing.push(pos),
            }
        }
        if !missing.is_empty() {
            return Ok(missing);
        }
        if !mine.is_empty() {
            self.commit(vec![Event::Relocate { moves: mine }]).await?;
        }
        Ok(Vec::new())
    }
}

/// Every sealed segment of every log with the bytes of records it holds. A live writer's active segment
/// is never one, nor the last segment of a log without a writer: a writer that opens that log later
/// continues after its last segment, and removing it would let segment numbers (so positions that
/// relocations and old events name) be reused.
pub fn sealed_segments(logs: &Logs) -> Result<Vec<(SegmentId, u64)>> {
    let mut out = Vec::new();
    for log in logs.ids() {
        let dir = segment::log_dir(logs.root(), log);
        if !dir.exists() {
            continue;
        }
        let active = logs.active_segment(log);
        let segments = segment::list_segments(&dir)?;
        let last = segments.last().copied();
        for seg in segments {
            if active.is_some_and(|a| seg >= a) || Some(seg) == last {
                continue;
            }
            let path = segment::segment_path(&dir, seg);
            let data = std::fs::File::open(&path)
                .and_then(|f| segment::data_end(&f))
                .map_err(|e| Error::io("sizing segment", &path, e))?
                .saturating_sub(SEGMENT_HEADER_LEN as u64);
            out.push(((log, seg), data));
        }
    }
    Ok(out)
}

/// Unlinks compacted segments (readers holding a record keep its map) and syncs their directories.
/// Returns the bytes they held.
pub async fn remove_segments(logs: &Logs, victims: &[SegmentId]) -> Result<u64> {
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut bytes = 0;
    for &(log, seg) in victims {
        let dir = segment::log_dir(logs.root(), log);
        let path = segment::segment_path(&dir, seg);
        let size = std::fs::File::open(&path)
            .and_then(|f| segment::data_end(&f))
            .unwrap_or(0);
        glommio::io::remove(&path)
            .await
            .map_err(|e| Error::io("removing segment", &path, e.into()))?;
        logs.reader(log).forget(seg);
        bytes += size;
        dirs.insert(dir);
        tracing::info!(
            log,
            segment = seg,
            bytes = size,
            "compacted segment removed"
        );
    }
    for dir in dirs {
        super::sync_dir_async(&dir).await?;
    }
    Ok(bytes)
}
