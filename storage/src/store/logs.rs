//! The registry of every log in a data directory, shared by all shards (`Send + Sync`): a reader per
//! log, and the committed end of each log that has a live writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::reader::{LogReader, LogShared};
use crate::{LogId, Position, RecordRef, Result};

pub struct Logs {
    root: PathBuf,
    max_payload: usize,
    readers: RwLock<BTreeMap<LogId, Arc<LogReader>>>,
    live: RwLock<BTreeMap<LogId, Arc<LogShared>>>,
    /// Where each log ended when the data directory was recovered.
    ends_at_open: BTreeMap<LogId, Position>,
}

impl Logs {
    pub fn new(root: &Path, max_payload: usize, ends_at_open: BTreeMap<LogId, Position>) -> Logs {
        Logs {
            root: root.to_path_buf(),
            max_payload,
            readers: RwLock::new(BTreeMap::new()),
            live: RwLock::new(BTreeMap::new()),
            ends_at_open,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Records that `log` now has a live writer: readers follow its committed end from here on.
    pub fn register_writer(&self, log: LogId, shared: Arc<LogShared>) {
        let reader = Arc::new(LogReader::new(
            &self.root,
            log,
            self.max_payload,
            Some(shared.clone()),
        ));
        if let Ok(mut r) = self.readers.write() {
            r.insert(log, reader);
        }
        if let Ok(mut l) = self.live.write() {
            l.insert(log, shared);
        }
    }

    /// The reader of `log` (made on first use).
    pub fn reader(&self, log: LogId) -> Arc<LogReader> {
        if let Some(r) = self.readers.read().ok().and_then(|r| r.get(&log).cloned()) {
            return r;
        }
        let r = Arc::new(LogReader::new(&self.root, log, self.max_payload, None));
        if let Ok(mut map) = self.readers.write() {
            return map.entry(log).or_insert(r).clone();
        }
        r
    }

    /// The bytes of the record at `pos`, CRC-checked, from the map of the log that holds it.
    pub fn read(&self, pos: Position) -> Result<RecordRef> {
        self.reader(pos.log).get(pos)
    }

    /// Every log known: found at recovery or given a writer since.
    pub fn ids(&self) -> Vec<LogId> {
        let mut ids: Vec<LogId> = self.ends_at_open.keys().copied().collect();
        if let Ok(l) = self.live.read() {
            ids.extend(l.keys().copied());
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The end of what is durable in `log` now: its writer's committed end, or where it ended at open.
    pub fn end(&self, log: LogId) -> Position {
        if let Some(s) = self.live.read().ok().and_then(|l| l.get(&log).cloned()) {
            return Position::from_seg_off(log, s.committed());
        }
        self.ends_at_open
            .get(&log)
            .copied()
            .unwrap_or(Position::new(log, 0, 0))
    }

    /// The active segment of a log with a live writer.
    pub fn active_segment(&self, log: LogId) -> Option<u32> {
        self.live.read().ok().and_then(|l| {
            l.get(&log)
                .map(|s| Position::from_seg_off(log, s.committed()).segment)
        })
    }
}
