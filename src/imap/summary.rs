//! The shard's cache of parsed message structure for FETCH (issue 10): ENVELOPE, BODY, BODYSTRUCTURE
//! and the header block of each message a session has fetched, shared by every session on the shard, so
//! a second FETCH (any client) answers those items without parsing or even reading the message.
//!
//! - Key: the message's log position ([`Locator`]). The bytes at a position never change (the log is
//!   append-only and positions are not reused), so an entry is never stale and needs no invalidation;
//!   COPY shares the position (one entry for all copies), and compaction moves a message to a new
//!   position (a miss there; the old entry ages out). A hit is still checked against the message's
//!   size from the index.
//! - Where: one per shard, in `ShardCtx`; a session runs on its account's owner shard, so every
//!   session of an account sees the same entries without locks or cross-shard traffic.
//! - Bound: a byte budget ([`DEFAULT_BUDGET`]); past it, CLOCK (second chance) evicts entries not
//!   read since the hand last passed them. An entry weighs a few hundred bytes plus its header copy
//!   (`mime::Summary::weight`), so 64 MiB holds ~50,000 10 KB messages with typical headers.
//! - Lazy: the first FETCH that needs an entry fills it, from the parse it did anyway. Filling at
//!   delivery would put a parse on the SMTP hot path (issue 9) for every message, though most are
//!   never FETCHed for structure (POP3 users, mail read once on one device).
//! - Restarts: memory only, rebuilt lazily; after a restart each message costs one parse again
//!   (~5 us for 10 KB), which is what every FETCH cost before this cache. Persisting entries would
//!   write ~0.5-3 KB per message to the log and its replay, for a cost paid once per restart.
//! - Expunge frees: the backend forgets the positions it expunges (and a deleted folder's); other
//!   removals (POP3 DELE) leave entries that CLOCK evicts once they go unread.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use super::backend::Locator;
use crate::mime::Summary;

/// Default bytes a shard's cache may hold.
pub const DEFAULT_BUDGET: usize = 64 << 20;

/// Book-keeping bytes of one entry besides its summary (map slot, ring slot, `Rc` header).
const ENTRY_OVERHEAD: usize = 64;

/// Counters for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
    pub bytes: usize,
}

/// A bounded per-shard map from a message's log position to its [`Summary`].
#[derive(Debug)]
pub struct SummaryCache {
    inner: RefCell<Inner>,
}

#[derive(Debug)]
struct Slot {
    summary: Rc<Summary>,
    weight: usize,
    /// Read since the clock hand last passed (CLOCK's reference bit).
    referenced: bool,
    /// Which ring entry is this slot's: a forgotten and re-inserted key leaves a stale entry behind.
    generation: u64,
}

#[derive(Debug)]
struct Inner {
    budget: usize,
    bytes: usize,
    map: HashMap<Locator, Slot, BuildHasherDefault<PositionHasher>>,
    /// The clock: keys in insertion order with the generation they were inserted with.
    ring: VecDeque<(Locator, u64)>,
    generation: u64,
    stats: Stats,
}

impl SummaryCache {
    /// A cache holding at most `budget` bytes of summaries and book-keeping.
    pub fn new(budget: usize) -> SummaryCache {
        SummaryCache {
            inner: RefCell::new(Inner {
                budget,
                bytes: 0,
                map: HashMap::default(),
                ring: VecDeque::new(),
                generation: 0,
                stats: Stats::default(),
            }),
        }
    }

    /// The summary of the message at `at` whose size is `size`, if cached.
    pub fn get(&self, at: Locator, size: usize) -> Option<Rc<Summary>> {
        let mut inner = self.inner.borrow_mut();
        let found = match inner.map.get_mut(&at) {
            Some(slot) if slot.summary.size == size => {
                slot.referenced = true;
                Some(slot.summary.clone())
            }
            _ => None,
        };
        match found {
            Some(_) => inner.stats.hits += 1,
            None => inner.stats.misses += 1,
        }
        found
    }

    /// Keeps `summary` for the message at `at` and returns it shared. A summary heavier than the
    /// whole budget is returned without being kept.
    pub fn insert(&self, at: Locator, summary: Summary) -> Rc<Summary> {
        let summary = Rc::new(summary);
        let weight = summary.weight() + ENTRY_OVERHEAD;
        let mut inner = self.inner.borrow_mut();
        if weight > inner.budget {
            return summary;
        }
        inner.remove(&at);
        // Room first, so the new entry is never its own victim.
        inner.evict(weight);
        inner.generation += 1;
        let generation = inner.generation;
        inner.map.insert(
            at,
            Slot {
                summary: summary.clone(),
                weight,
                referenced: false,
                generation,
            },
        );
        inner.ring.push_back((at, generation));
        inner.bytes += weight;
        inner.compact_ring();
        summary
    }

    /// Drops the entries of these positions (their messages were expunged).
    pub fn forget(&self, positions: impl IntoIterator<Item = Locator>) {
        let mut inner = self.inner.borrow_mut();
        for at in positions {
            inner.remove(&at);
        }
        inner.compact_ring();
    }

    pub fn stats(&self) -> Stats {
        let inner = self.inner.borrow();
        Stats {
            entries: inner.map.len(),
            bytes: inner.bytes,
            ..inner.stats
        }
    }
}

/// Multiply-rotate hashing of the three words of a log position: keys are positions the log handed
/// out, not input an attacker chooses freely, and SipHash was 3% of a cached FETCH's CPU (perf).
#[derive(Default)]
pub struct PositionHasher(u64);

impl Hasher for PositionHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        // The golden-ratio multiplier spreads low-entropy words into the high bits the table uses.
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Default for SummaryCache {
    fn default() -> Self {
        SummaryCache::new(DEFAULT_BUDGET)
    }
}

impl Inner {
    fn remove(&mut self, at: &Locator) {
        if let Some(slot) = self.map.remove(at) {
            self.bytes -= slot.weight;
        }
    }

    /// CLOCK: the hand walks the ring from its oldest entry; a referenced entry loses its bit and goes
    /// round again, an unreferenced one is evicted, until `incoming` more bytes fit the budget.
    fn evict(&mut self, incoming: usize) {
        while self.bytes + incoming > self.budget {
            let Some((at, generation)) = self.ring.pop_front() else {
                break;
            };
            let Some(slot) = self.map.get_mut(&at) else {
                continue;
            };
            if slot.generation != generation {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                self.ring.push_back((at, generation));
            } else {
                self.remove(&at);
                self.stats.evictions += 1;
            }
        }
    }

    /// Forgotten keys leave ring entries behind; drop them once they outnumber the live ones, so the
    /// ring stays within twice the map's size.
    fn compact_ring(&mut self) {
        if self.ring.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.ring
                .retain(|(at, g)| map.get(at).is_some_and(|s| s.generation == *g));
        }
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
