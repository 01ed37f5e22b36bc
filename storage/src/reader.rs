//! Zero-copy reads of one writer's log by [`Position`], from any thread.
//!
//! Visibility rule: a record is readable once the `append` that wrote it has completed (its position was
//! handed out). The writer publishes its committed end in [`LogShared`] only after the batch is durable
//! (or written, under the `none` policy); a reader attached to that shared state refuses positions past it,
//! so it never sees bytes that a crash could take back. A reader of a log without a live writer in this
//! process (an old shard's log, or the CLI while the server runs) reads any record whose CRC matches.
//!
//! Bytes are returned as [`RecordRef`], which derefs to `&[u8]` inside the memory map and keeps that map
//! alive: compaction may unlink a segment, but a reader holding a `RecordRef` keeps its bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use memmap2::{Mmap, MmapOptions};

use crate::record::{self, Format, Kind};
use crate::recovery::SegmentIter;
use crate::segment;
use crate::{Error, LogId, Position, Result};

/// State a writer shares with readers on other threads.
#[derive(Debug)]
pub struct LogShared {
    /// `Position::seg_off` of the end of the committed records: everything before it is readable.
    committed: AtomicU64,
}

impl LogShared {
    pub fn new(committed: u64) -> Self {
        LogShared {
            committed: AtomicU64::new(committed),
        }
    }
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }
    pub(crate) fn publish(&self, end: u64) {
        self.committed.store(end, Ordering::Release);
    }
}

/// A record's payload inside a memory map; derefs to the bytes and keeps the map alive.
#[derive(Clone)]
pub struct RecordRef {
    map: Arc<Mmap>,
    start: usize,
    len: usize,
    kind: Kind,
}

impl RecordRef {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The offset just past this record in its segment (where the next record starts).
    pub fn end_offset(&self) -> u64 {
        (self.start + self.len) as u64
    }

    /// The payload from byte `from` on, as a record of `kind` (the inner record of a wrapper such as
    /// [`Kind::COPIED`]); `None` if `from` is past the end.
    pub fn inner(&self, from: usize, kind: Kind) -> Option<RecordRef> {
        (from <= self.len).then(|| RecordRef {
            map: self.map.clone(),
            start: self.start + from,
            len: self.len - from,
            kind,
        })
    }
}

impl Deref for RecordRef {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // The range was checked against this map when the RecordRef was made.
        &self.map[self.start..self.start + self.len]
    }
}

impl AsRef<[u8]> for RecordRef {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for RecordRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordRef")
            .field("kind", &self.kind)
            .field("len", &self.len)
            .finish()
    }
}

/// Reads one log. `Send + Sync`: shards may share one reader, or each keep its own.
pub struct LogReader {
    log: LogId,
    dir: PathBuf,
    max_payload: usize,
    shared: Option<Arc<LogShared>>,
    maps: RwLock<BTreeMap<u32, (Arc<Mmap>, Format)>>,
}

impl LogReader {
    /// A reader of the log of writer `log` under `root`. With `shared`, it follows that live writer's
    /// visibility rule; without, it reads any CRC-valid record.
    pub fn new(
        root: &Path,
        log: LogId,
        max_payload: usize,
        shared: Option<Arc<LogShared>>,
    ) -> Self {
        LogReader {
            log,
            dir: segment::log_dir(root, log),
            max_payload,
            shared,
            maps: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn log(&self) -> LogId {
        self.log
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The end of the data in a segment file right now (see [`segment::data_end`]).
    fn data_end(&self, segment: u32) -> Result<usize> {
        let path = segment::segment_path(&self.dir, segment);
        let file = File::open(&path).map_err(|e| Error::io("opening segment", &path, e))?;
        segment::data_end(&file)
            .map(|n| n as usize)
            .map_err(|e| Error::io("finding data in", &path, e))
    }

    /// Whether the segment's file starts without a valid header (see [`segment::header_never_landed`]).
    fn header_never_landed(&self, segment: u32) -> bool {
        let path = segment::segment_path(&self.dir, segment);
        let mut head = [0u8; segment::SEGMENT_HEADER_LEN];
        let n = File::open(&path).and_then(|mut f| {
            use std::io::Read;
            let mut got = 0;
            while got < head.len() {
                match f.read(&mut head[got..])? {
                    0 => break,
                    k => got += k,
                }
            }
            Ok(got)
        });
        n.is_ok_and(|n| segment::header_never_landed(&head[..n]))
    }

    /// The map of a segment and the format of its records, made (or remade, if the file grew past an
    /// older map) on demand.
    fn map(&self, segment: u32, need: usize) -> Result<(Arc<Mmap>, Format)> {
        if let Ok(maps) = self.maps.read() {
            if let Some((m, f)) = maps.get(&segment) {
                if m.len() >= need {
                    return Ok((m.clone(), *f));
                }
            }
        }
        let path = segment::segment_path(&self.dir, segment);
        let file = File::open(&path).map_err(|e| Error::io("opening segment", &path, e))?;
        // SAFETY: segments are append-only; bytes below a committed end never change while mapped, and a
        // sealed segment is only ever shortened past its last record (bytes no reader is handed).
        let map = unsafe { MmapOptions::new().map(&file) }
            .map_err(|e| Error::io("mapping segment", &path, e))?;
        let format = segment::check_header(&map, self.log, segment, &path)?;
        let map = Arc::new(map);
        if let Ok(mut maps) = self.maps.write() {
            maps.insert(segment, (map.clone(), format));
        }
        Ok((map, format))
    }

    /// Forgets the map of a segment (after compaction removed it). Holders of its `RecordRef`s keep it.
    pub fn forget(&self, segment: u32) {
        if let Ok(mut maps) = self.maps.write() {
            maps.remove(&segment);
        }
    }

    /// The payload of the record at `pos`, CRC-checked, without copying.
    pub fn get(&self, pos: Position) -> Result<RecordRef> {
        if pos.log != self.log {
            return Err(Error::BadPosition {
                pos,
                reason: "position of another log",
            });
        }
        if (pos.offset as usize) < segment::LEGACY_SEGMENT_HEADER_LEN {
            return Err(Error::BadPosition {
                pos,
                reason: "offset inside the segment header",
            });
        }
        let committed = self.shared.as_ref().map(|s| s.committed());
        if let Some(c) = committed {
            if pos.seg_off() >= c {
                return Err(Error::BadPosition {
                    pos,
                    reason: "not committed",
                });
            }
        }
        let start = pos.offset as usize;
        let (map, format) = self.map(pos.segment, start + record::HEADER_LEN)?;
        if start < segment::data_start(format) {
            return Err(Error::BadPosition {
                pos,
                reason: "offset inside the segment header",
            });
        }
        let d = match format.decode_at(&map, start, self.max_payload) {
            Ok(d) => d,
            Err(record::DecodeError::Corrupt(reason)) => {
                return Err(Error::Corrupt { pos, reason })
            }
            Err(_) => {
                return Err(Error::BadPosition {
                    pos,
                    reason: "no record there",
                })
            }
        };
        if let Some(c) = committed {
            let end = Position::new(pos.log, pos.segment, pos.offset + d.total_len as u32);
            if end.seg_off() > c {
                return Err(Error::BadPosition {
                    pos,
                    reason: "not committed",
                });
            }
        }
        let (kind, len) = (d.kind, d.payload.len());
        Ok(RecordRef {
            map,
            start: start + format.header_len(),
            len,
            kind,
        })
    }

    /// Every valid record from `from` (inclusive) to the end of the log, in order. Corrupt records in
    /// the middle are logged with their position and skipped; a torn tail ends the iteration.
    pub fn scan_from(&self, from: Position) -> Result<Vec<(Position, RecordRef)>> {
        let mut out = Vec::new();
        self.for_each_from(from, |pos, rec| {
            out.push((pos, rec));
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` for every valid record from `from` on, segment by segment (see [`LogReader::scan_from`]).
    pub fn for_each_from(
        &self,
        from: Position,
        f: impl FnMut(Position, RecordRef) -> Result<()>,
    ) -> Result<()> {
        self.for_each_in(from, None, f)
    }

    /// Calls `f` for every valid record of one segment (compaction reads its victims with it).
    pub fn for_each_in_segment(
        &self,
        segment: u32,
        f: impl FnMut(Position, RecordRef) -> Result<()>,
    ) -> Result<()> {
        self.for_each_in(Position::new(self.log, segment, 0), Some(segment), f)
    }

    fn for_each_in(
        &self,
        from: Position,
        only: Option<u32>,
        mut f: impl FnMut(Position, RecordRef) -> Result<()>,
    ) -> Result<()> {
        let committed = self.shared.as_ref().map(|s| s.committed());
        let segments = segment::list_segments(&self.dir)?;
        let last = segments.last().copied();
        for seg in segments {
            if seg < from.segment || only.is_some_and(|o| o != seg) {
                continue;
            }
            let start = if seg == from.segment {
                from.offset as u64
            } else {
                0
            };
            let (map, format) = match self.map(seg, 0) {
                Ok(m) => m,
                // A power cut at the creation of a log's last segment: nothing in it was ever
                // acknowledged, and its writer starts it anew when it opens (see `log.rs`).
                Err(Error::BadSegmentHeader { .. })
                    if Some(seg) == last
                        && committed.is_none()
                        && self.header_never_landed(seg) =>
                {
                    tracing::warn!(
                        log = self.log,
                        segment = seg,
                        "last segment has no valid header (never landed); no records in it"
                    );
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Scan committed bytes only: up to the writer's committed end, else up to the file's data.
            let limit = match committed.map(|c| Position::from_seg_off(self.log, c)) {
                Some(c) if c.segment == seg => c.offset as usize,
                Some(c) if c.segment < seg => break,
                _ => self.data_end(seg)?,
            };
            let bytes = &map[..limit.min(map.len())];
            // Only the last segment can end in a torn write; see `recovery.rs`.
            let sealed = Some(seg) != last;
            let mut it = SegmentIter::new(bytes, start, self.max_payload, format, sealed);
            for (off, d) in it.by_ref() {
                let pos = Position::new(self.log, seg, off as u32);
                let rec = RecordRef {
                    map: map.clone(),
                    start: off as usize + format.header_len(),
                    len: d.payload.len(),
                    kind: d.kind,
                };
                f(pos, rec)?;
            }
            for (off, why) in &it.scan.corrupt {
                tracing::warn!(
                    log = self.log,
                    segment = seg,
                    offset = off,
                    reason = why,
                    "skipped a corrupt record"
                );
            }
            match it.scan.torn_tail {
                Some((off, why)) if sealed => tracing::warn!(
                    log = self.log,
                    segment = seg,
                    offset = off,
                    reason = why,
                    "sealed segment: the rest after an invalid record is unreadable"
                ),
                Some((off, why)) => tracing::debug!(
                    log = self.log,
                    segment = seg,
                    offset = off,
                    reason = why,
                    "segment ends in an invalid tail"
                ),
                None => {}
            }
        }
        Ok(())
    }
}
