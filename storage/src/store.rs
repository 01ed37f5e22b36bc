//! Many writers, one view: every writer's log in a data directory and the mailbox index over all of them.
//!
//! Invariants this file keeps:
//! - Each account has one owner writer, `crc32c(lowercase account) % writers`; only events for accounts it
//!   owns go into its log, so within one run (one *generation*) an account's events are in one log, in
//!   order. Every open starts a new generation, written in each event batch.
//! - Replay merges the logs by generation: all of generation g (log by log, each in log order) before any
//!   of g+1. Hence a changed writer count loses nothing: an account's old events (in its old owner's log)
//!   all precede its new ones (in its new owner's log). Logs of writers beyond the current count stay
//!   readable and are replayed; they just get no new appends.
//! - An operation's events are applied to the index only after they are durable; operations hold the
//!   gate shared from plan to apply, and a snapshot or compaction takes it exclusively, so a snapshot
//!   never covers an event that is not applied nor applies one that is not covered.
//! - A snapshot records, for every log, the end of what it covers; start-up replays only what follows.
//!   A corrupt snapshot is reported and the index is rebuilt from the whole logs.
//! - Compaction copies the live messages of a sparse sealed segment to a writer, records the moves
//!   (a `Relocate` event), applies them and snapshots, all before the old segment is unlinked; a reader
//!   holding a `RecordRef` into it keeps its map (unlinked files stay mapped).

use std::cell::{Ref, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::sync::RwLock;

use crate::index::{Event, EventBatch, Index, Snapshot, SnapshotMeta};
use crate::reader::LogReader;
use crate::record::Kind;
use crate::segment::{self, SEGMENT_HEADER_LEN};
use crate::{Error, LogId, LogOptions, LogWriter, Position, RecoveryReport, Result};

/// The file name of the index snapshot in the data directory.
pub const SNAPSHOT_FILE: &str = "index.snap";

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub log: LogOptions,
    /// Number of writers (shards). Logs of earlier, larger counts stay readable.
    pub writers: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { log: LogOptions::default(), writers: 1 }
    }
}

/// What opening a store did.
#[derive(Debug, Default)]
pub struct OpenReport {
    pub logs: Vec<LogId>,
    pub generation: u64,
    /// The snapshot used, if any.
    pub snapshot: Option<PathBuf>,
    /// Why a snapshot file present was not used (then the whole logs were replayed).
    pub snapshot_rejected: Option<String>,
    pub replayed_batches: u64,
    pub replayed_events: u64,
    /// Events that did not apply (logged with their position).
    pub rejected_events: u64,
    pub recovery: Vec<RecoveryReport>,
    pub load_time: Duration,
    pub replay_time: Duration,
}

/// What a compaction pass did.
#[derive(Debug, Default, Clone)]
pub struct CompactReport {
    pub segments_removed: Vec<(LogId, u32)>,
    pub messages_moved: u64,
    pub bytes_moved: u64,
    pub bytes_reclaimed: u64,
}

/// The owner writer of an account among `writers`.
pub fn owner_of(account: &str, writers: u32) -> u32 {
    crc32c::crc32c(account.to_lowercase().as_bytes()) % writers.max(1)
}

/// Every log of a data directory and the index over them, driven from one glommio executor.
pub struct Store {
    root: PathBuf,
    opts: StoreOptions,
    generation: u64,
    writers: Vec<LogWriter>,
    readers: BTreeMap<LogId, Arc<LogReader>>,
    /// Where each log ended at open (logs without a writer never move).
    ends_at_open: BTreeMap<LogId, Position>,
    index: RefCell<Index>,
    gate: RwLock<()>,
}

impl Store {
    /// Opens the data directory `root` with `opts.writers` writers: repairs each writer's tail, loads the
    /// snapshot (or rejects it with a warning), replays what follows it from every log.
    pub async fn open(root: &Path, opts: StoreOptions) -> Result<(Store, OpenReport)> {
        if opts.writers == 0 {
            return Err(Error::InvalidOption { name: "writers", reason: "at least one writer".into() });
        }
        let mut report = OpenReport::default();
        let mut writers = Vec::new();
        for w in 0..opts.writers {
            let (writer, rec) = LogWriter::open(root, w, opts.log.clone(), None).await?;
            report.recovery.push(rec);
            writers.push(writer);
        }
        let t = Instant::now();
        let snap_path = root.join(SNAPSHOT_FILE);
        let (mut index, meta) = if snap_path.exists() {
            match Snapshot::load(&snap_path) {
                Ok((index, meta)) => {
                    report.snapshot = Some(snap_path.clone());
                    (index, Some(meta))
                }
                Err(e) => {
                    tracing::warn!(path = %snap_path.display(), error = %e, "snapshot unusable; replaying the whole logs");
                    report.snapshot_rejected = Some(e.to_string());
                    (Index::default(), None)
                }
            }
        } else {
            (Index::default(), None)
        };
        report.load_time = t.elapsed();

        let t = Instant::now();
        let max_payload = opts.log.max_payload();
        let mut readers = BTreeMap::new();
        for log in segment::list_logs(root)? {
            let reader = match writers.get(log as usize) {
                Some(w) => w.reader(),
                None => LogReader::new(root, log, max_payload, None),
            };
            readers.insert(log, Arc::new(reader));
        }
        report.logs = readers.keys().copied().collect();
        let checkpoints: HashMap<LogId, u64> = meta.iter().flat_map(|m| m.checkpoints.iter().copied()).collect();
        // Collect every event batch after the checkpoints, then apply them generation by generation.
        let mut batches: Vec<(u64, Position, EventBatch)> = Vec::new();
        let mut ends_at_open = BTreeMap::new();
        for (&log, reader) in &readers {
            let from = checkpoints.get(&log).map_or(Position::new(log, 0, 0), |&c| Position::from_seg_off(log, c));
            let mut end = from;
            reader.for_each_from(from, |pos, rec| {
                end = Position::new(log, pos.segment, pos.offset + (crate::record::HEADER_LEN + rec.len()) as u32);
                if rec.kind() == Kind::MAILBOX {
                    match EventBatch::decode(&rec) {
                        Ok(b) => batches.push((b.generation, pos, b)),
                        Err(e) => {
                            tracing::warn!(%pos, error = %e, "undecodable mailbox event batch skipped");
                            report.rejected_events += 1;
                        }
                    }
                }
                Ok(())
            })?;
            ends_at_open.insert(log, end);
        }
        batches.sort_by_key(|(g, pos, _)| (*g, *pos));
        let mut generation = meta.as_ref().map_or(0, |m| m.generation);
        for (g, pos, batch) in &batches {
            generation = generation.max(*g);
            report.replayed_batches += 1;
            for ev in &batch.events {
                report.replayed_events += 1;
                if let Err(e) = index.apply(ev) {
                    tracing::warn!(%pos, error = %e, "event did not apply on replay; skipped");
                    report.rejected_events += 1;
                }
            }
        }
        report.replay_time = t.elapsed();
        report.generation = generation + 1;
        tracing::info!(
            logs = report.logs.len(),
            generation = report.generation,
            batches = report.replayed_batches,
            load_ms = report.load_time.as_millis() as u64,
            replay_ms = report.replay_time.as_millis() as u64,
            "store opened"
        );
        let store = Store {
            root: root.to_path_buf(),
            opts,
            generation: report.generation,
            writers,
            readers,
            ends_at_open,
            index: RefCell::new(index),
            gate: RwLock::new(()),
        };
        Ok((store, report))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn writers(&self) -> &[LogWriter] {
        &self.writers
    }

    /// The index as it stands (applied, durable events only).
    pub fn index(&self) -> Ref<'_, Index> {
        self.index.borrow()
    }

    /// The reader of a log, to hand to another thread.
    pub fn reader(&self, log: LogId) -> Option<Arc<LogReader>> {
        self.readers.get(&log).cloned()
    }

    /// The bytes of a record, from the map of whichever log holds it.
    pub fn read(&self, pos: Position) -> Result<crate::RecordRef> {
        self.readers.get(&pos.log).ok_or(Error::BadPosition { pos, reason: "no such log" })?.get(pos)
    }

    pub fn owner(&self, account: &str) -> u32 {
        owner_of(account, self.opts.writers)
    }

    /// Appends message bytes (stored once, whatever the number of recipients) through writer `via`.
    pub async fn store_message(&self, via: u32, parts: &[&[u8]]) -> Result<Position> {
        let w = self.writers.get(via as usize).ok_or(Error::InvalidOption { name: "via", reason: format!("no writer {via}") })?;
        w.append_parts(Kind::MESSAGE, parts).await
    }

    /// Runs one mailbox operation on `account`'s owner: `plan` validates and reserves against the index
    /// and returns the events; they are appended to the owner's log and applied once durable.
    pub async fn execute<R>(&self, account: &str, plan: impl FnOnce(&mut Index) -> Result<(Vec<Event>, R)>) -> Result<R> {
        let _shared = self.gate.read().await.map_err(|_| Error::Closed)?;
        let (events, out) = plan(&mut self.index.borrow_mut())?;
        self.commit(self.owner(account), events).await?;
        Ok(out)
    }

    async fn commit(&self, writer: u32, events: Vec<Event>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let batch = EventBatch { generation: self.generation, events };
        let mut buf = Vec::new();
        batch.encode(&mut buf);
        let w = self.writers.get(writer as usize).ok_or(Error::Closed)?;
        w.append(Kind::MAILBOX, &buf).await?;
        let mut index = self.index.borrow_mut();
        for ev in &batch.events {
            if let Err(e) = index.apply(ev) {
                // plan validated these; failing here means the plan and apply disagree.
                tracing::error!(error = %e, "a planned event did not apply");
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Writes a snapshot of the index covering everything applied so far, atomically.
    pub async fn snapshot(&self) -> Result<SnapshotMeta> {
        let _excl = self.gate.write().await.map_err(|_| Error::Closed)?;
        self.snapshot_locked().await
    }

    async fn snapshot_locked(&self) -> Result<SnapshotMeta> {
        let mut checkpoints: Vec<(LogId, u64)> = Vec::new();
        for (&log, end) in &self.ends_at_open {
            let at = match self.writers.get(log as usize) {
                Some(w) => w.committed_end(),
                None => *end,
            };
            checkpoints.push((log, at.seg_off()));
        }
        let meta = SnapshotMeta { generation: self.generation, checkpoints };
        let bytes = self.index.borrow().snapshot_bytes(&meta);
        write_file_atomically(&self.root, SNAPSHOT_FILE, bytes).await?;
        Ok(meta)
    }

    /// Rewrites every sealed segment whose live share (bytes of messages some mailbox still holds, over
    /// the segment's bytes) is below `min_live_share`, then removes it. Appends go on meanwhile; only the
    /// final switch of positions holds the gate exclusively.
    pub async fn compact(&self, min_live_share: f64) -> Result<CompactReport> {
        let mut report = CompactReport::default();
        let victims = self.sparse_segments(min_live_share)?;
        if victims.is_empty() {
            return Ok(report);
        }
        let via = 0u32;
        let mut moves: HashMap<Position, Position> = HashMap::new();
        // Copy what is live now, without blocking anyone.
        let live = self.live_positions_in(&victims);
        for pos in live {
            let rec = self.read(pos)?;
            let new = self.store_message(via, &[&rec]).await?;
            report.bytes_moved += rec.len() as u64;
            moves.insert(pos, new);
        }
        let _excl = self.gate.write().await.map_err(|_| Error::Closed)?;
        // Anything that came to reference these segments meanwhile (a COPY) is moved too.
        for pos in self.live_positions_in(&victims) {
            if !moves.contains_key(&pos) {
                let rec = self.read(pos)?;
                let new = self.store_message(via, &[&rec]).await?;
                report.bytes_moved += rec.len() as u64;
                moves.insert(pos, new);
            }
        }
        report.messages_moved = moves.len() as u64;
        let mut moves: Vec<(Position, Position)> = moves.into_iter().collect();
        moves.sort();
        self.commit(via, vec![Event::Relocate { moves }]).await?;
        // The snapshot covers the relocation and every event in the victims, so nothing will need them.
        self.snapshot_locked().await?;
        for (log, seg) in victims {
            let dir = segment::log_dir(&self.root, log);
            let path = segment::segment_path(&dir, seg);
            let size = std::fs::File::open(&path).and_then(|f| segment::data_end(&f)).unwrap_or(0);
            glommio::io::remove(&path).await.map_err(|e| Error::io("removing segment", &path, e.into()))?;
            if let Some(r) = self.readers.get(&log) {
                r.forget(seg);
            }
            report.bytes_reclaimed += size;
            report.segments_removed.push((log, seg));
            tracing::info!(log, segment = seg, bytes = size, "compacted segment removed");
        }
        for log in report.segments_removed.iter().map(|(l, _)| *l).collect::<HashSet<_>>() {
            sync_dir_async(&segment::log_dir(&self.root, log)).await?;
        }
        Ok(report)
    }

    /// Sealed segments whose live share is below the threshold.
    fn sparse_segments(&self, min_live_share: f64) -> Result<Vec<(LogId, u32)>> {
        let mut live: HashMap<(LogId, u32), u64> = HashMap::new();
        self.index.borrow().for_each_position(|pos, size| {
            *live.entry((pos.log, pos.segment)).or_default() += (crate::record::HEADER_LEN as u64) + size as u64;
        });
        let mut out = Vec::new();
        for &log in self.readers.keys() {
            let dir = segment::log_dir(&self.root, log);
            let active = self.writers.get(log as usize).map(|w| w.committed_end().segment);
            for seg in segment::list_segments(&dir)? {
                // A writer's active segment is never compacted; every segment of a log without a writer is sealed.
                if active.is_some_and(|a| seg >= a) {
                    continue;
                }
                let path = segment::segment_path(&dir, seg);
                let data = std::fs::File::open(&path)
                    .and_then(|f| segment::data_end(&f))
                    .map_err(|e| Error::io("sizing segment", &path, e))?
                    .saturating_sub(SEGMENT_HEADER_LEN as u64);
                let l = live.get(&(log, seg)).copied().unwrap_or(0);
                if data > 0 && (l as f64) < min_live_share * data as f64 {
                    out.push((log, seg));
                }
            }
        }
        Ok(out)
    }

    fn live_positions_in(&self, victims: &[(LogId, u32)]) -> Vec<Position> {
        let set: HashSet<(LogId, u32)> = victims.iter().copied().collect();
        let mut out = HashSet::new();
        self.index.borrow().for_each_position(|pos, _| {
            if set.contains(&(pos.log, pos.segment)) {
                out.insert(pos);
            }
        });
        let mut v: Vec<Position> = out.into_iter().collect();
        v.sort();
        v
    }

    /// Waits until every append is durable and stops the writers.
    pub async fn close(self) -> Result<()> {
        let mut first_err = None;
        for w in self.writers {
            if let Err(e) = w.close().await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Writes `name` in `dir` via a temporary file, synced, renamed over, and the directory synced.
async fn write_file_atomically(dir: &Path, name: &str, bytes: Vec<u8>) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let f = glommio::io::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .buffered_open(&tmp)
        .await
        .map_err(|e| Error::io("creating", &tmp, e.into()))?;
    let len = bytes.len();
    let n = f.write_at(bytes, 0).await.map_err(|e| Error::io("writing", &tmp, e.into()))?;
    if n < len {
        return Err(Error::DiskFull { path: tmp });
    }
    f.fdatasync().await.map_err(|e| Error::io("syncing", &tmp, e.into()))?;
    f.close().await.map_err(|e| Error::io("closing", &tmp, e.into()))?;
    glommio::io::rename(&tmp, &path).await.map_err(|e| Error::io("renaming", &path, e.into()))?;
    sync_dir_async(dir).await
}

async fn sync_dir_async(dir: &Path) -> Result<()> {
    let d = glommio::io::Directory::open(dir).await.map_err(|e| Error::io("opening directory", dir, e.into()))?;
    d.sync().await.map_err(|e| Error::io("syncing directory", dir, e.into()))?;
    let _ = d.close().await;
    Ok(())
}
