//! Many writers, one view: every writer's log in a data directory and the mailbox index over all of them.
//!
//! Invariants this module keeps:
//! - Each account has one owner writer, `crc32c(lowercase account) % writers`; only events for accounts it
//!   owns go into its log, so within one run (one *generation*) an account's events are in one log, in
//!   order. Every open starts a new generation, written in each event batch.
//! - Replay merges the logs by generation: all of generation g (log by log, each in log order) before any
//!   of g+1. Hence a changed writer count loses nothing: an account's old events (in its old owner's log)
//!   all precede its new ones (in its new owner's log). Logs of writers beyond the current count stay
//!   readable and are replayed; they just get no new appends.
//! - An operation's events are applied to the index only after they are durable, in log order, a batch
//!   all or nothing (`index::Mailboxes`); operations hold their partition's gate shared from plan to
//!   apply, and a snapshot takes it exclusively and waits for pending batches to settle, so a snapshot
//!   never covers an event that is not applied nor applies one that is not covered.
//! - Compaction copies the live messages of a sparse sealed segment, carries every other record of it
//!   forward (`archive.rs`: replay still sees the whole history, in its original order), records the
//!   moves (a `Relocate` event), applies them everywhere and snapshots every partition, all before the
//!   old segment is unlinked. A reader holding a `RecordRef` into it keeps its map (unlinked files stay
//!   mapped). A log's last segment is never removed (its segment numbers, so positions, stay unique).

mod archive;
mod logs;
mod partition;
mod pointers;
mod recover;
mod relocate;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::index::{Event, Index};
use crate::record::HEADER_LEN;
use crate::segment;
use crate::{Error, LogId, LogOptions, Position, RecordRef, Result};

pub(crate) use archive::unwrap as unwrap_carried;
pub use archive::{carried_bytes, carry_records};
pub use logs::Logs;
pub use partition::Partition;
pub use recover::{recover, snapshot_name, RecoverReport, Recovered, MAX_GENERATION};
pub use relocate::{remove_segments, sealed_segments, SegmentId};

/// The owner writer of an account among `writers`.
pub fn owner_of(account: &str, writers: u32) -> u32 {
    crc32c::crc32c(account.to_lowercase().as_bytes()) % writers.max(1)
}

/// Splits a recovered index into the parts owned by each of `n` writers.
pub fn split_index(mut index: Index, n: u32) -> Vec<Index> {
    let mut parts: Vec<Index> = (1..n)
        .map(|k| index.split_off(|a| owner_of(a, n) == k))
        .collect();
    parts.insert(0, index);
    parts
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub log: LogOptions,
    /// Number of writers. Logs of earlier, larger counts stay readable.
    pub writers: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            log: LogOptions::default(),
            writers: 1,
        }
    }
}

/// What a compaction pass did.
#[derive(Debug, Default, Clone)]
pub struct CompactReport {
    pub segments_removed: Vec<(LogId, u32)>,
    pub messages_moved: u64,
    pub bytes_moved: u64,
    /// Event (and other non-message) records carried forward, and their payload bytes.
    pub records_carried: u64,
    pub bytes_carried: u64,
    pub bytes_reclaimed: u64,
}

/// Several partitions driven from one glommio executor: the whole store in one place (tests, tools,
/// compaction). The server instead gives each shard one [`Partition`].
pub struct Store {
    logs: Arc<Logs>,
    parts: Vec<Partition>,
}

impl Store {
    /// Recovers the data directory `root` and opens `opts.writers` partitions on it.
    pub async fn open(root: &Path, opts: StoreOptions) -> Result<(Store, RecoverReport)> {
        if opts.writers == 0 {
            return Err(Error::InvalidOption {
                name: "writers",
                reason: "at least one writer".into(),
            });
        }
        let rec = recover(root, opts.log.max_payload())?;
        let logs = Arc::new(Logs::new(root, opts.log.max_payload(), rec.ends));
        let mut parts = Vec::new();
        for (k, index) in split_index(rec.index, opts.writers).into_iter().enumerate() {
            let (p, _) = Partition::open(
                logs.clone(),
                k as u32,
                opts.writers,
                opts.log.clone(),
                index,
                rec.generation,
            )
            .await?;
            parts.push(p);
        }
        Ok((Store { logs, parts }, rec.report))
    }

    pub fn logs(&self) -> &Arc<Logs> {
        &self.logs
    }

    pub fn partitions(&self) -> &[Partition] {
        &self.parts
    }

    /// The partition that owns `account`.
    pub fn owner(&self, account: &str) -> &Partition {
        let k = owner_of(account, self.parts.len() as u32) as usize;
        // `parts` is never empty (open refuses zero writers) and k < len.
        &self.parts[k]
    }

    pub fn read(&self, pos: Position) -> Result<RecordRef> {
        self.logs.read(pos)
    }

    /// Runs a mailbox operation on `account`'s owner partition.
    pub async fn execute<R>(
        &self,
        account: &str,
        plan: impl FnOnce(&mut Index) -> Result<(Vec<Event>, R)>,
    ) -> Result<R> {
        self.owner(account).execute(plan).await
    }

    /// Snapshots every partition.
    pub async fn snapshot(&self) -> Result<()> {
        for p in &self.parts {
            p.snapshot().await?;
        }
        Ok(())
    }

    /// Rewrites every sealed segment whose live share (bytes of records some mailbox still references,
    /// over the segment's data) is below `min_live_share`, then removes it. Appends and operations go
    /// on while live messages are copied; only the final switch holds every partition's gate.
    pub async fn compact(&self, min_live_share: f64) -> Result<CompactReport> {
        let mut report = CompactReport::default();
        let victims = self.sparse_segments(min_live_share)?;
        if victims.is_empty() {
            return Ok(report);
        }
        let via = &self.parts[0];
        // The victims are sealed: their event records never change, so they are carried now.
        (report.records_carried, report.bytes_carried) =
            archive::carry_records(&self.logs, via, &victims).await?;
        let mut moves: HashMap<Position, Position> = HashMap::new();
        for pos in self.live_positions_in(&victims) {
            let rec = self.read(pos)?;
            moves.insert(pos, via.store_message(&[&rec]).await?);
            report.bytes_moved += rec.len() as u64;
        }
        let mut guards = Vec::new();
        for p in &self.parts {
            guards.push(p.exclusive().await?);
        }
        // What came to reference these segments meanwhile (a COPY) is moved too.
        for pos in self.live_positions_in(&victims) {
            if let std::collections::hash_map::Entry::Vacant(e) = moves.entry(pos) {
                let rec = self.read(pos)?;
                e.insert(via.store_message(&[&rec]).await?);
                report.bytes_moved += rec.len() as u64;
            }
        }
        report.messages_moved = moves.len() as u64;
        let mut moves: Vec<(Position, Position)> = moves.into_iter().collect();
        moves.sort();
        let relocate = Event::Relocate { moves };
        via.commit(vec![relocate.clone()]).await?;
        for p in &self.parts[1..] {
            p.apply_foreign(&relocate)?;
        }
        // Every partition's snapshot now covers the relocation and every event in the victims.
        for p in &self.parts {
            p.snapshot_locked().await?;
        }
        drop(guards);
        report.bytes_reclaimed += remove_segments(&self.logs, &victims).await?;
        report.segments_removed.extend(victims);
        Ok(report)
    }

    /// Sealed segments whose live share is below the threshold.
    fn sparse_segments(&self, min_live_share: f64) -> Result<Vec<(LogId, u32)>> {
        let mut live: HashMap<(LogId, u32), u64> = HashMap::new();
        for p in &self.parts {
            p.read_index(|ix| {
                ix.for_each_position(|pos, size| {
                    *live.entry((pos.log, pos.segment)).or_default() +=
                        HEADER_LEN as u64 + size as u64;
                })
            });
        }
        let mut out = Vec::new();
        for ((log, seg), data) in sealed_segments(&self.logs)? {
            let l = live.get(&(log, seg)).copied().unwrap_or(0);
            let sparse = |l: u64| data > 0 && (l as f64) < min_live_share * data as f64;
            // Records carried here by an earlier pass count as live (see `carried_bytes`).
            if sparse(l) && sparse(l + archive::carried_bytes(&self.logs, log, seg)?) {
                out.push((log, seg));
            }
        }
        Ok(out)
    }

    fn live_positions_in(&self, victims: &[(LogId, u32)]) -> Vec<Position> {
        let set: HashSet<(LogId, u32)> = victims.iter().copied().collect();
        let mut out = HashSet::new();
        for p in &self.parts {
            p.read_index(|ix| {
                ix.for_each_position(|pos, _| {
                    if set.contains(&(pos.log, pos.segment)) {
                        out.insert(pos);
                    }
                })
            });
        }
        let mut v: Vec<Position> = out.into_iter().collect();
        v.sort();
        v
    }

    /// Waits until every append is durable and stops the writers.
    pub async fn close(self) -> Result<()> {
        let mut first_err = None;
        for p in self.parts {
            if let Err(e) = p.close().await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Writes `name` in `dir` via a temporary file, synced, renamed over, and the directory synced.
pub(crate) async fn write_file_atomically(dir: &Path, name: &str, bytes: Vec<u8>) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    if let Err(e) = write_then_rename(&tmp, &path, bytes).await {
        // A failed write (a full disk, typically) must not leave a partial or empty temp file behind:
        // it would hold space the disk is short of, and nothing else ever removes it.
        if let Err(rm) = glommio::io::remove(&tmp).await {
            let rm = std::io::Error::from(rm);
            if rm.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %tmp.display(), error = %rm, "could not remove a failed temp file");
            }
        }
        return Err(e);
    }
    sync_dir_async(dir).await
}

async fn write_then_rename(tmp: &Path, path: &Path, bytes: Vec<u8>) -> Result<()> {
    let f = glommio::io::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(segment::FILE_MODE)
        .truncate(true)
        .buffered_open(tmp)
        .await
        .map_err(|e| Error::io("creating", tmp, e.into()))?;
    let len = bytes.len();
    let written = f.write_at(bytes, 0).await;
    let n = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = f.close().await;
            return Err(Error::io("writing", tmp, e.into()));
        }
    };
    if n < len {
        let _ = f.close().await;
        return Err(Error::DiskFull { path: tmp.into() });
    }
    if let Err(e) = f.fdatasync().await {
        let _ = f.close().await;
        return Err(Error::io("syncing", tmp, e.into()));
    }
    f.close()
        .await
        .map_err(|e| Error::io("closing", tmp, e.into()))?;
    glommio::io::rename(tmp, path)
        .await
        .map_err(|e| Error::io("renaming", path, e.into()))
}

async fn sync_dir_async(dir: &Path) -> Result<()> {
    // glommio opens directories relative to no working directory: give it an absolute path.
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let d = glommio::io::Directory::open(&abs)
        .await
        .map_err(|e| Error::io("opening directory", dir, e.into()))?;
    d.sync()
        .await
        .map_err(|e| Error::io("syncing directory", dir, e.into()))?;
    let _ = d.close().await;
    Ok(())
}
