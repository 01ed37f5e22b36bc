//! Start-up: load the newest complete set of snapshot parts, then replay what follows them from every log.
//!
//! A snapshot part `index-K-of-N.snap` holds the accounts that writer K owned among N, and for every log
//! the end of what it covers. An event is replayed only if it lies at or after the checkpoint of the part
//! that owns its account (so each part's events are applied exactly once); `Relocate` events carry no
//! account and are idempotent (a moved-from position never reappears), so they are always applied.
//! Logs are merged by generation (see the store's invariants). Before a batch is applied, its message
//! pointers are checked and mapped through the relocations replayed so far (`pointers.rs`).
//! Generations are bounded: a batch or snapshot part claiming one above [`MAX_GENERATION`] is damage and
//! is refused, and the next generation saturates there, so no arithmetic on generations can overflow.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::index::{Event, EventBatch, Index, Snapshot, SnapshotMeta};
use crate::reader::LogReader;
use crate::record::Kind;
use crate::segment;
use crate::{Error, LogId, Position, RecordRef, Result};

use super::archive;
use super::owner_of;
use super::pointers::Pointers;

/// The largest generation a batch or snapshot may carry. One generation is used per open of the store,
/// so no real store comes near; anything above is damage, refused rather than carried into `+ 1`.
pub const MAX_GENERATION: u64 = 1 << 62;

/// What recovery rebuilt.
pub struct Recovered {
    pub index: Index,
    /// The generation the next run writes (one more than any seen).
    pub generation: u64,
    /// Where each log's valid records ended.
    pub ends: BTreeMap<LogId, Position>,
    pub readers: BTreeMap<LogId, Arc<LogReader>>,
    pub report: RecoverReport,
}

#[derive(Debug, Default, Clone)]
pub struct RecoverReport {
    pub logs: Vec<LogId>,
    /// Snapshot parts used.
    pub snapshots: Vec<PathBuf>,
    /// Snapshot files that were not used, and why.
    pub snapshots_rejected: Vec<(PathBuf, String)>,
    pub replayed_batches: u64,
    pub replayed_events: u64,
    /// Events skipped because a snapshot already covers them.
    pub covered_events: u64,
    /// Batches that did not apply (whole: a batch applies all or nothing) or did not decode (each
    /// logged with its position).
    pub rejected: u64,
    /// Of `rejected`: events whose message pointer was invalid (their whole batch is rejected, and each
    /// of its events counted here), and relocation moves dropped because their target was invalid.
    pub bad_pointers: u64,
    /// Messages left pointing into a removed segment after replay (a relocation was lost; logged).
    pub dangling: u64,
    /// Batches refused because their generation is above [`MAX_GENERATION`] (also in `rejected`).
    pub bad_generations: u64,
    /// Loading (mapping, validating) the snapshot parts.
    pub load_time: Duration,
    /// Scanning the logs after the snapshots and applying their events.
    pub replay_time: Duration,
    /// Of `replay_time`, the part spent scanning (CRC-checking) the logs.
    pub scan_time: Duration,
}

/// The name of snapshot part `k` of `n`.
pub fn snapshot_name(k: u32, n: u32) -> String {
    format!("index-{k}-of-{n}.snap")
}

fn parse_snapshot_name(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("index-")?.strip_suffix(".snap")?;
    let (k, n) = rest.split_once("-of-")?;
    let (k, n) = (k.parse().ok()?, n.parse().ok()?);
    (k < n).then_some((k, n))
}

struct Part {
    n: u32,
    k: u32,
    meta: SnapshotMeta,
    index: Index,
    path: PathBuf,
}

/// Loads the newest complete set of parts (same N and generation, every K present). Other part files
/// are reported, not used.
fn load_parts(root: &Path, report: &mut RecoverReport) -> Result<Vec<Part>> {
    let mut found: Vec<Part> = Vec::new();
    let rd = std::fs::read_dir(root).map_err(|e| Error::io("listing", root, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("listing", root, e))?;
        let name = entry.file_name();
        let Some((k, n)) = name.to_str().and_then(parse_snapshot_name) else {
            continue;
        };
        let path = entry.path();
        match Snapshot::load(&path) {
            Ok((_, meta)) if meta.generation > MAX_GENERATION => {
                tracing::warn!(path = %path.display(), generation = meta.generation, "snapshot part claims an impossible generation");
                report.snapshots_rejected.push((
                    path,
                    format!("generation {} is above the limit", meta.generation),
                ));
            }
            Ok((index, meta)) => found.push(Part {
                n,
                k,
                meta,
                index,
                path,
            }),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "snapshot part unusable");
                report.snapshots_rejected.push((path, e.to_string()));
            }
        }
    }
    // Group by (generation, n); the newest complete group wins.
    let mut groups: BTreeMap<(u64, u32), Vec<Part>> = BTreeMap::new();
    for p in found {
        groups.entry((p.meta.generation, p.n)).or_default().push(p);
    }
    let mut chosen = Vec::new();
    while let Some(((g, n), mut parts)) = groups.pop_last() {
        parts.sort_by_key(|p| p.k);
        parts.dedup_by_key(|p| p.k);
        if chosen.is_empty() && parts.len() == n as usize {
            chosen = parts;
        } else {
            for p in parts {
                let why = if chosen.is_empty() {
                    format!("generation {g}: only some of the {n} parts are usable")
                } else {
                    "superseded by a newer complete set".to_string()
                };
                report.snapshots_rejected.push((p.path, why));
            }
        }
    }
    Ok(chosen)
}

/// What one log's scan found: its event records in log order, where its valid records end, and how
/// many event records were unreadable.
struct LogScan {
    batches: Vec<(u64, Position, RecordRef)>,
    /// `seg_off` of every MESSAGE record start, ascending (for the pointer checks).
    messages: Vec<u64>,
    end: Position,
    rejected: u64,
    bad_generations: u64,
}

fn scan_log(reader: &LogReader, from: Position) -> Result<LogScan> {
    let log = reader.log();
    let mut out = LogScan {
        batches: Vec::new(),
        messages: Vec::new(),
        end: from,
        rejected: 0,
        bad_generations: 0,
    };
    reader.for_each_from(from, |pos, rec| {
        out.end = Position::new(
            log,
            pos.segment,
            rec.end_offset() as u32,
        );
        if rec.kind() == Kind::MESSAGE {
            out.messages.push(pos.seg_off());
        }
        // A record compaction carried forward stands for the original, at the original's position.
        let (pos, rec) = match rec.kind() {
            Kind::COPIED => match archive::unwrap(&rec) {
                Some(inner) => inner,
                None => {
                    tracing::warn!(%pos, "malformed carried record skipped");
                    out.rejected += 1;
                    return Ok(());
                }
            },
            _ => (pos, rec),
        };
        if rec.kind() == Kind::MAILBOX {
            match EventBatch::peek_generation(&rec) {
                Ok(g) if g > MAX_GENERATION => {
                    tracing::warn!(%pos, generation = g, "mailbox event batch with an impossible generation skipped");
                    out.rejected += 1;
                    out.bad_generations += 1;
                }
                Ok(g) => out.batches.push((g, pos, rec)),
                Err(e) => {
                    tracing::warn!(%pos, error = %e, "undecodable mailbox event batch skipped");
                    out.rejected += 1;
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Rebuilds the index of the data directory `root` from its snapshot parts and logs. Synchronous
/// (start-up, or the CLI); touches no writer, so it may run while a server appends (it then sees the
/// records whose CRC is valid).
pub fn recover(root: &Path, max_payload: usize) -> Result<Recovered> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        _ => {
            return Err(Error::MissingDir {
                path: root.to_path_buf(),
            })
        }
    }
    let mut report = RecoverReport::default();
    let t = Instant::now();
    let parts = load_parts(root, &mut report)?;
    report.load_time = t.elapsed();
    let t = Instant::now();

    let n_parts = parts.first().map_or(1, |p| p.n);
    // Checkpoint of part k for log l; a log a part does not name is not covered by it at all.
    let part_checkpoints: Vec<HashMap<LogId, u64>> = parts
        .iter()
        .map(|p| p.meta.checkpoints.iter().copied().collect())
        .collect();
    let mut generation = parts.iter().map(|p| p.meta.generation).max().unwrap_or(0);
    let mut index = Index::default();
    for p in parts {
        report.snapshots.push(p.path.clone());
        index.merge(p.index);
    }

    let mut readers = BTreeMap::new();
    for log in segment::list_logs(root)? {
        readers.insert(log, Arc::new(LogReader::new(root, log, max_payload, None)));
    }
    report.logs = readers.keys().copied().collect();

    // Scan the logs (CRC checks, most of the work) on threads, one log each, a few at a time. Each
    // scan keeps the event records themselves (in the map), not their decoded events: a batch is
    // decoded only when it is applied, so a full replay never holds a million decoded batches.
    let starts: Vec<(LogId, Position)> = readers
        .keys()
        .map(|&log| {
            // Start at the earliest checkpoint any part has for this log (0 when some part lacks it).
            let from = part_checkpoints
                .iter()
                .map(|c| c.get(&log).copied().unwrap_or(0))
                .min()
                .unwrap_or(0);
            (log, Position::from_seg_off(log, from))
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut scans: Vec<Result<LogScan>> = Vec::with_capacity(starts.len());
    for chunk in starts.chunks(threads.max(1)) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&(log, from)| {
                    let reader = &readers[&log];
                    s.spawn(move || scan_log(reader, from))
                })
                .collect();
            for h in handles {
                scans.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
        });
    }
    report.scan_time = t.elapsed();
    let mut batches: Vec<(u64, Position, RecordRef)> = Vec::new();
    let mut ends = BTreeMap::new();
    let mut scanned = HashMap::new();
    for ((log, from), scan) in starts.iter().zip(scans) {
        let scan = scan?;
        report.rejected += scan.rejected;
        report.bad_generations += scan.bad_generations;
        batches.extend(scan.batches);
        scanned.insert(*log, (from.seg_off(), scan.messages));
        ends.insert(*log, scan.end);
    }
    let mut pointers = Pointers::new(root, &readers, scanned);
    batches.sort_by_key(|(g, pos, _)| (*g, *pos));
    // A carried copy and its original (compaction stopped before removing it) are one record.
    batches.dedup_by_key(|(g, pos, _)| (*g, *pos));
    for (g, pos, rec) in &batches {
        generation = generation.max(*g);
        let mut batch = match EventBatch::decode(rec) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%pos, error = %e, "undecodable mailbox event batch skipped");
                report.rejected += 1;
                continue;
            }
        };
        // Whether a snapshot part already covers an event: at or after the checkpoint of the part
        // that owns its account, it is replayed (events without an account always are).
        let covered = |ev: &Event| -> bool {
            let Some(account) = ev.account() else {
                return false;
            };
            if part_checkpoints.is_empty() {
                return false;
            }
            let k = owner_of(account, n_parts) as usize;
            let checkpoint = part_checkpoints
                .get(k)
                .and_then(|c| c.get(&pos.log))
                .copied()
                .unwrap_or(0);
            pos.seg_off() < checkpoint
        };
        match pointers.check(*pos, &mut batch, covered) {
            Ok(dropped) => {
                report.bad_pointers += dropped;
                report.rejected += dropped;
            }
            Err(why) => {
                tracing::warn!(%pos, reason = %why, events = batch.events.len(), "mailbox event batch with an invalid message pointer rejected");
                report.bad_pointers += batch.events.len() as u64;
                report.rejected += batch.events.len() as u64;
                continue;
            }
        }
        report.replayed_batches += 1;
        // Events a snapshot part already covers are left out; the rest of the batch applies all or
        // nothing, as the live owner applied it (`Index::apply_batch`).
        let mut events = batch.events;
        events.retain(|ev| {
            let c = covered(ev);
            report.covered_events += c as u64;
            !c
        });
        if events.is_empty() {
            continue;
        }
        match index.apply_batch(&events) {
            Ok(()) => report.replayed_events += events.len() as u64,
            Err(e) => {
                tracing::warn!(%pos, error = %e, events = events.len(), "batch did not apply on replay (nor live); skipped whole");
                report.rejected += 1;
            }
        }
    }
    report.dangling = pointers.dangling(&index);
    report.replay_time = t.elapsed();
    Ok(Recovered {
        index,
        generation: next_generation(generation),
        ends,
        readers,
        report,
    })
}

/// The generation after the largest one seen, saturating at [`MAX_GENERATION`] (only damage could bring
/// a store there; it is logged, and the store keeps working with merge order degraded).
fn next_generation(seen: u64) -> u64 {
    if seen >= MAX_GENERATION {
        tracing::error!(seen, "generations exhausted; staying at the limit");
        return MAX_GENERATION;
    }
    seen + 1
}
