//! Replay's checks of events that point at message bytes, and the relocations compaction made.
//!
//! Invariants this file keeps (for the events replay applies):
//! - A `Deliver` is applied only if its position, after following the relocations replayed so far, is
//!   the start of a valid MESSAGE record in some log, or lies in a segment compaction removed (the
//!   message was expunged, or its `Relocate` comes later in the merged order and moves the entry);
//!   otherwise its batch is rejected (logged, counted). A durable event can point only at durable
//!   bytes (the writer hands out positions once durable), so a failing check means damage or a writer
//!   bug, never a normal crash. After replay, an entry still pointing into a removed segment means a
//!   relocation was lost: [`Pointers::dangling`] counts them.
//! - A `Relocate` move is kept only if its target is a valid MESSAGE record start, or lies in a segment
//!   compaction removed (a later compaction moved it on; a later `Relocate` carries it further).
//!   Other moves are dropped (logged, counted); the rest of the relocation still applies.
//! - Why relocations are remembered: replay merges logs by generation, and within a generation log by
//!   log, not in commit order. A compaction's `Relocate` (in the compacting writer's log) can therefore
//!   be replayed before an earlier `Deliver` of another log of the same generation that points into a
//!   compacted (deleted) segment. Every position replay applies is first mapped through the moves seen
//!   so far, so the result does not depend on where in the merged order the relocation falls; this also
//!   repairs directories compacted before this rule existed (as far as their removed segments' events
//!   survive: compaction now carries them forward, see `archive.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::index::{Event, EventBatch, Index};
use crate::reader::LogReader;
use crate::record::Kind;
use crate::segment;
use crate::{LogId, Position};

pub(super) struct Pointers<'a> {
    readers: &'a BTreeMap<LogId, Arc<LogReader>>,
    /// Per log: where this replay's scan started, and the MESSAGE record starts it saw there on
    /// (`Position::seg_off`, ascending).
    scanned: HashMap<LogId, (u64, Vec<u64>)>,
    /// Relocations replayed so far: old position -> new position.
    moved: HashMap<Position, Position>,
    /// Every (log, segment) file present.
    segments: HashSet<(LogId, u32)>,
    /// The last segment of each log.
    last: HashMap<LogId, u32>,
}

impl<'a> Pointers<'a> {
    pub(super) fn new(
        root: &'a Path,
        readers: &'a BTreeMap<LogId, Arc<LogReader>>,
        scanned: HashMap<LogId, (u64, Vec<u64>)>,
    ) -> Self {
        let mut segments = HashSet::new();
        let mut last = HashMap::new();
        for &log in readers.keys() {
            let dir = segment::log_dir(root, log);
            if let Ok(list) = segment::list_segments(&dir) {
                if let Some(&l) = list.last() {
                    last.insert(log, l);
                }
                segments.extend(list.into_iter().map(|s| (log, s)));
            }
        }
        Pointers {
            readers,
            scanned,
            moved: HashMap::new(),
            segments,
            last,
        }
    }

    /// Whether a valid MESSAGE record starts at `pos`.
    fn is_message(&self, pos: Position) -> bool {
        if let Some((from, starts)) = self.scanned.get(&pos.log) {
            if pos.seg_off() >= *from {
                return starts.binary_search(&pos.seg_off()).is_ok();
            }
        }
        // Before what this replay scanned (a snapshot covers the record): read it.
        self.readers
            .get(&pos.log)
            .and_then(|r| r.get(pos).ok())
            .is_some_and(|rec| rec.kind() == Kind::MESSAGE)
    }

    fn segment_exists(&self, pos: Position) -> bool {
        self.segments.contains(&(pos.log, pos.segment))
    }

    /// Whether `pos` lies in a segment compaction removed: below its log's last segment, and gone.
    /// (A log's last segment is never removed, and segment numbers are never reused.)
    fn removed(&self, pos: Position) -> bool {
        self.last.get(&pos.log).is_some_and(|&l| pos.segment < l) && !self.segment_exists(pos)
    }

    /// Index entries that point into a segment that no longer exists (logged): a relocation that
    /// should have moved them was lost. Reads of them fail with an error; nothing else is returned.
    pub(super) fn dangling(&self, index: &Index) -> u64 {
        // Without a gap in any log's segment numbers nothing was ever removed: skip the walk over
        // every message (start-up from a snapshot of a million messages would pay for it).
        let removed_any = self
            .last
            .iter()
            .any(|(&log, &last)| (0..=last).any(|seg| !self.segments.contains(&(log, seg))));
        if !removed_any {
            return 0;
        }
        let mut n = 0;
        index.for_each_position(|pos, _| {
            if !self.segment_exists(pos) {
                if n < 10 {
                    tracing::error!(%pos, "a message points into a removed segment after replay");
                }
                n += 1;
            }
        });
        n
    }

    /// Where the message that was at `pos` is now, after the relocations replayed so far.
    fn resolve(&self, mut pos: Position) -> Position {
        // Each step moves to a position written later; the bound only guards against a cycle that
        // damaged events could describe.
        for _ in 0..=self.moved.len() {
            match self.moved.get(&pos) {
                Some(next) if *next != pos => pos = *next,
                _ => break,
            }
        }
        pos
    }

    /// Checks a batch before it is applied, mapping its positions through the relocations so far.
    /// `Err` rejects the whole batch (with the reason); `Ok(n)` says how many relocation moves were
    /// dropped.
    /// Events for which `covered` says true (a snapshot holds them; they will not be applied) are
    /// neither checked nor mapped.
    pub(super) fn check(
        &mut self,
        at: Position,
        batch: &mut EventBatch,
        covered: impl Fn(&Event) -> bool,
    ) -> Result<u64, String> {
        let mut dropped = 0;
        for ev in &mut batch.events {
            if covered(ev) {
                continue;
            }
            match ev {
                Event::Deliver { pos, account, .. } => {
                    let now = self.resolve(*pos);
                    if !self.removed(now) && !self.is_message(now) {
                        return Err(format!(
                            "delivery to {account} points at {now}, where no message record starts"
                        ));
                    }
                    *pos = now;
                }
                Event::Relocate { moves } => {
                    moves.retain(|(from, to)| {
                        let ok = self.is_message(*to) || self.removed(*to);
                        if !ok {
                            tracing::warn!(%at, %from, %to, "relocation target is not a message record; move dropped");
                            dropped += 1;
                        }
                        ok
                    });
                    for (from, to) in moves.iter() {
                        self.moved.insert(*from, *to);
                    }
                }
                _ => {}
            }
        }
        Ok(dropped)
    }
}
