//! Rebuilds the queue at start-up: the pending entries of every log and, for those, which local
//! recipients were already filed. Reads the queue snapshots, then the log tails after them.
//!
//! Which snapshot counts: for each log, the newest (by generation) snapshot that consumes it; its
//! entries of that log and its checkpoints are trusted, older ones about that log are not.
//!
//! Why the tail scan is complete: a snapshot's checkpoint for a log is that log's committed end when it
//! was taken (for the shard's own log, held below any operation still in flight, see
//! [`super::InFlight`]). An entry's `Done` and its filings are written after its `Enqueue` is durable
//! and applied, so every record about an entry that a trusted snapshot lists as pending, or that the
//! scan finds enqueued, lies after the checkpoints the scan starts from. Filings (the owners' `Deliver`
//! events) are found in each owner's log from the checkpoint of that owner's own snapshot, below which
//! its snapshot lists them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::index::{canonical_account, Event, EventBatch};
use crate::reader::LogReader;
use crate::record::Kind;
use crate::segment;
use crate::{Error, LogId, Position, RecordRef, Result};

use super::record::QueueRecord;
use super::snapshot::QueueSnapshot;
use super::state::Entry;

#[derive(Debug, Default, Clone)]
pub struct QueueReport {
    pub snapshots: Vec<PathBuf>,
    pub snapshots_rejected: Vec<(PathBuf, String)>,
    /// Queue records read from the log tails.
    pub records: u64,
    /// Queue records that did not decode (each logged with its position).
    pub rejected: u64,
    /// Filings found (in snapshots or as `Deliver` events in the tails) for pending recipients.
    pub filed: u64,
}

pub struct QueueRecovered {
    /// Entries with something left to do, by queue id.
    pub entries: BTreeMap<Position, Entry>,
    /// (queue id, canonical account) of pending local recipients that were already filed.
    pub filed: HashSet<(Position, String)>,
    pub report: QueueReport,
}

fn parse_name(name: &str) -> Option<u32> {
    name.strip_prefix("queue-")?
        .strip_suffix(".snap")?
        .parse()
        .ok()
}

/// The record at `pos`, or for a record compaction carried forward, the original and its position.
fn original(pos: Position, rec: RecordRef) -> Option<(Position, RecordRef)> {
    if rec.kind() == Kind::COPIED {
        crate::store::unwrap_carried(&rec)
    } else {
        Some((pos, rec))
    }
}

/// Reads the queue of the data directory `root`. Synchronous (start-up or the CLI).
pub fn recover_queue(root: &Path, max_payload: usize) -> Result<QueueRecovered> {
    let mut report = QueueReport::default();
    let mut snaps = Vec::new();
    let rd = std::fs::read_dir(root).map_err(|e| Error::io("listing", root, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("listing", root, e))?;
        let Some(k) = entry.file_name().to_str().and_then(parse_name) else {
            continue;
        };
        let path = entry.path();
        match QueueSnapshot::load(&path) {
            Ok(s) => {
                report.snapshots.push(path);
                snaps.push((k, s));
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "queue snapshot unusable; the logs are read from their start");
                report.snapshots_rejected.push((path, e.to_string()));
            }
        }
    }
    // One unusable snapshot may have held entries no other covers: then read every log whole.
    if !report.snapshots_rejected.is_empty() {
        snaps.clear();
    }
    let logs = segment::list_logs(root)?;
    // For each log, the newest snapshot that consumes it.
    let mut trusted: BTreeMap<LogId, usize> = BTreeMap::new();
    for (i, (_, s)) in snaps.iter().enumerate() {
        for &l in &s.consumes {
            match trusted.get(&l) {
                Some(&j) if snaps[j].1.generation >= s.generation => {}
                _ => {
                    trusted.insert(l, i);
                }
            }
        }
    }
    let used: BTreeSet<usize> = trusted.values().copied().collect();
    let cp = |s: &QueueSnapshot, log: LogId| -> u64 {
        s.checkpoints
            .iter()
            .find(|(l, _)| *l == log)
            .map_or(0, |(_, cp)| *cp)
    };
    // A log no trusted snapshot consumes is read whole.
    let queue_start = |log: LogId| -> u64 {
        if !trusted.contains_key(&log) {
            return 0;
        }
        used.iter()
            .map(|&i| cp(&snaps[i].1, log))
            .min()
            .unwrap_or(0)
    };
    // Filings in a log: from its writer's own snapshot (which lists those below), and no later than
    // the queue scan.
    let filed_start = |log: LogId| -> u64 {
        let own = snaps
            .iter()
            .filter(|(k, _)| *k == log)
            .map(|(_, s)| cp(s, log))
            .min()
            .unwrap_or(0);
        own.min(queue_start(log))
    };

    let mut entries: BTreeMap<Position, Entry> = BTreeMap::new();
    let mut filed: HashSet<(Position, String)> = HashSet::new();
    for (i, (_, s)) in snaps.iter().enumerate() {
        for e in &s.entries {
            if trusted.get(&e.env.message.log) == Some(&i) {
                entries.insert(e.env.message, e.clone());
            }
        }
        filed.extend(s.filed.iter().cloned());
    }

    // Pass 1: queue records of the tails.
    let readers: Vec<LogReader> = logs
        .iter()
        .map(|&l| LogReader::new(root, l, max_payload, None))
        .collect();
    let mut done: Vec<(Position, Vec<u32>)> = Vec::new();
    for r in &readers {
        let from = Position::from_seg_off(r.log(), queue_start(r.log()));
        r.for_each_from(from, |pos, rec| {
            // A record compaction carried here stands for the original at its original position.
            let Some((orig, rec)) = original(pos, rec) else {
                return Ok(());
            };
            if rec.kind() != Kind::QUEUE {
                return Ok(());
            }
            report.records += 1;
            match QueueRecord::decode(&rec) {
                // Below the trusted checkpoint of its log an entry is listed or done.
                Ok(QueueRecord::Enqueue(env))
                    if env.message.log == orig.log
                        && env.message.seg_off()
                            >= trusted
                                .get(&orig.log)
                                .map_or(0, |&i| cp(&snaps[i].1, orig.log)) =>
                {
                    entries
                        .entry(env.message)
                        .or_insert_with(|| Entry::new(env));
                }
                Ok(QueueRecord::Enqueue(_)) => {}
                Ok(QueueRecord::Done { items }) => done.extend(items),
                Err(e) => {
                    tracing::warn!(%pos, error = %e, "undecodable queue record skipped");
                    report.rejected += 1;
                }
            }
            Ok(())
        })?;
    }
    for (id, rcpts) in done {
        if let Some(e) = entries.get_mut(&id) {
            e.finish(&rcpts);
        }
    }
    entries.retain(|_, e| !e.finished());

    // Pass 2, only if some local recipient is pending: which of them were filed in the tails.
    let wanted: HashMap<(Position, String), ()> = entries
        .values()
        .flat_map(|e| {
            e.pending_local().into_iter().map(|i| {
                (
                    e.env.message,
                    canonical_account(&e.env.recipients[i as usize].address),
                )
            })
        })
        .map(|k| (k, ()))
        .collect();
    filed.retain(|k| wanted.contains_key(k));
    if !wanted.is_empty() {
        for r in &readers {
            let from = Position::from_seg_off(r.log(), filed_start(r.log()));
            r.for_each_from(from, |pos, rec| {
                let Some((_, rec)) = original(pos, rec) else {
                    return Ok(());
                };
                if rec.kind() != Kind::MAILBOX {
                    return Ok(());
                }
                match EventBatch::decode(&rec) {
                    Ok(batch) => {
                        for ev in batch.events {
                            if let Event::Deliver { account, pos, .. } = ev {
                                let key = (pos, canonical_account(&account));
                                if wanted.contains_key(&key) {
                                    filed.insert(key);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%pos, error = %e, "undecodable mailbox batch skipped by the queue scan")
                    }
                }
                Ok(())
            })?;
        }
    }
    report.filed = filed.len() as u64;
    Ok(QueueRecovered {
        entries,
        filed,
        report,
    })
}
