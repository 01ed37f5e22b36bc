//! The queue in memory: the entries a consumer still owes something, and the filings an owner has made
//! of entries that may not be done yet.

use std::collections::BTreeMap;

use crate::index::canonical_account_cow;
use crate::{LogId, Position};

use super::record::{Envelope, Route};

/// One accepted message and which of its recipients are finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub env: Envelope,
    pub done: Vec<bool>,
}

impl Entry {
    pub fn new(env: Envelope) -> Entry {
        let done = vec![false; env.recipients.len()];
        Entry { env, done }
    }

    /// Indexes of local recipients not finished yet.
    pub fn pending_local(&self) -> Vec<u32> {
        self.env
            .recipients
            .iter()
            .enumerate()
            .filter(|(i, r)| matches!(r.route, Route::Local { .. }) && !self.done[*i])
            .map(|(i, _)| i as u32)
            .collect()
    }

    pub fn finished(&self) -> bool {
        self.done.iter().all(|d| *d)
    }

    /// Marks recipients finished (indexes out of range are ignored: they name nothing).
    pub fn finish(&mut self, rcpts: &[u32]) {
        for &i in rcpts {
            if let Some(d) = self.done.get_mut(i as usize) {
                *d = true;
            }
        }
    }
}

/// The pending entries of the logs one consumer serves, by queue id.
#[derive(Default, Debug)]
pub struct QueueState {
    entries: BTreeMap<Position, Entry>,
}

impl QueueState {
    pub fn insert(&mut self, e: Entry) {
        if !e.finished() {
            self.entries.insert(e.env.message, e);
        }
    }

    /// Applies a durable `Done`; drops the entry once every recipient is finished.
    pub fn finish(&mut self, id: Position, rcpts: &[u32]) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.finish(rcpts);
            if e.finished() {
                self.entries.remove(&id);
            }
        }
    }

    pub fn get(&self, id: Position) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The oldest entry of `log` that still has a local recipient to file: every filing of a queue id
    /// of `log` below it is done and need not be remembered by its owner.
    pub fn local_low_water(&self, log: LogId) -> Option<Position> {
        self.entries
            .range(Position::new(log, 0, 0)..=Position::new(log, u32::MAX, u32::MAX))
            .find(|(_, e)| !e.pending_local().is_empty())
            .map(|(p, _)| *p)
    }

    /// Positions of messages the queue still needs (compaction keeps their segments).
    pub fn positions(&self) -> impl Iterator<Item = Position> + '_ {
        self.entries.keys().copied()
    }
}

/// Whether a filing is known to be durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FiledState {
    InFlight,
    Durable,
}

/// The filings an owner made, by (queue id, account): the memory that makes filing idempotent.
/// Ordered by queue id, so that forgetting a log's finished ids is a range, not a scan of every filing
/// (pruning runs on every filing request; the scan was 9% of a shard in 10-recipient ingest). The
/// accounts of one id are a short list (its recipients here), looked up without allocating: keyed by
/// (id, account) every claim, confirm and lookup lower-cased the address into a new string.
#[derive(Default, Debug)]
pub struct Filed {
    keys: BTreeMap<Position, Vec<(String, FiledState)>>,
    len: usize,
}

impl Filed {
    fn slot(&self, id: Position, account: &str) -> Option<FiledState> {
        let a = canonical_account_cow(account);
        self.keys
            .get(&id)?
            .iter()
            .find(|(n, _)| *n == a)
            .map(|(_, s)| *s)
    }

    fn set(&mut self, id: Position, account: &str, state: FiledState) {
        let a = canonical_account_cow(account);
        let v = self.keys.entry(id).or_default();
        match v.iter_mut().find(|(n, _)| *n == a) {
            Some((_, s)) => *s = state,
            None => {
                v.push((a.into_owned(), state));
                self.len += 1;
            }
        }
    }

    /// Claims the filing of `id` for `account`: false if it was filed or is being filed.
    pub fn claim(&mut self, id: Position, account: &str) -> bool {
        if self.slot(id, account).is_some() {
            return false;
        }
        self.set(id, account, FiledState::InFlight);
        true
    }

    /// The filing's events are durable.
    pub fn confirm(&mut self, id: Position, account: &str) {
        self.set(id, account, FiledState::Durable);
    }

    /// The filing failed: nothing was written, it may be tried again.
    pub fn release(&mut self, id: Position, account: &str) {
        let a = canonical_account_cow(account);
        let Some(v) = self.keys.get_mut(&id) else {
            return;
        };
        if let Some(i) = v.iter().position(|(n, _)| *n == a) {
            v.swap_remove(i);
            self.len -= 1;
        }
        if v.is_empty() {
            self.keys.remove(&id);
        }
    }

    /// `Some(true)` when the filing is durable, `Some(false)` while it is being written.
    pub fn status(&self, id: Position, account: &str) -> Option<bool> {
        self.slot(id, account).map(|s| s == FiledState::Durable)
    }

    pub fn contains(&self, id: Position, account: &str) -> bool {
        self.slot(id, account).is_some()
    }

    /// Forgets the filings of queue ids of `log` below `below` (their entries are done).
    pub fn prune(&mut self, log: LogId, below: Position) {
        let gone: Vec<Position> = self
            .keys
            .range(Position::new(log, 0, 0)..)
            .map(|(p, _)| *p)
            .take_while(|p| p.log == log && *p < below)
            .collect();
        for p in gone {
            if let Some(v) = self.keys.remove(&p) {
                self.len -= v.len();
            }
        }
    }

    /// The durable filings (what a snapshot records), ordered by (id, account).
    pub fn durable(&self) -> Vec<(Position, String)> {
        let mut out: Vec<(Position, String)> = self
            .keys
            .iter()
            .flat_map(|(p, v)| {
                v.iter()
                    .filter(|(_, s)| *s == FiledState::Durable)
                    .map(move |(n, _)| (*p, n.clone()))
            })
            .collect();
        out.sort_unstable();
        out
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Recipient;

    fn env(pos: Position, n: usize) -> Envelope {
        Envelope {
            message: pos,
            size: 1,
            received: 0,
            sender: String::new(),
            recipients: (0..n)
                .map(|i| Recipient {
                    address: format!("u{i}@x.test"),
                    route: if i == 0 {
                        Route::Remote
                    } else {
                        Route::Local { owner: 0 }
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn an_entry_leaves_when_every_recipient_is_done() {
        let mut q = QueueState::default();
        let p = Position::new(0, 1, 16);
        q.insert(Entry::new(env(p, 3)));
        assert_eq!(q.get(p).unwrap().pending_local(), vec![1, 2]);
        q.finish(p, &[1, 2, 99]);
        assert_eq!(q.get(p).unwrap().pending_local(), Vec::<u32>::new());
        // The remote recipient keeps the entry (and no longer holds back the owners' memory).
        assert_eq!(q.local_low_water(0), None);
        q.finish(p, &[0]);
        assert!(q.is_empty());
    }

    #[test]
    fn low_water_is_per_log() {
        let mut q = QueueState::default();
        q.insert(Entry::new(env(Position::new(1, 0, 50), 2)));
        q.insert(Entry::new(env(Position::new(0, 3, 10), 2)));
        q.insert(Entry::new(env(Position::new(0, 2, 10), 2)));
        assert_eq!(q.local_low_water(0), Some(Position::new(0, 2, 10)));
        assert_eq!(q.local_low_water(1), Some(Position::new(1, 0, 50)));
        assert_eq!(q.local_low_water(2), None);
    }

    #[test]
    fn a_claim_is_exclusive_until_released() {
        let mut f = Filed::default();
        let p = Position::new(0, 0, 16);
        assert!(f.claim(p, "A@x.test"));
        assert!(!f.claim(p, "a@x.test"), "accounts match case-insensitively");
        assert!(f.durable().is_empty(), "in flight is not durable");
        f.release(p, "a@x.test");
        assert!(f.claim(p, "a@x.test"));
        f.confirm(p, "a@x.test");
        assert_eq!(f.durable(), vec![(p, "a@x.test".to_string())]);
        f.prune(1, Position::new(1, 9, 0));
        assert!(f.contains(p, "a@x.test"), "another log's prune keeps it");
        f.prune(0, Position::new(0, 0, 17));
        assert!(f.is_empty());
    }

    #[test]
    fn prune_forgets_exactly_one_logs_ids_below_the_mark() {
        let ids = |f: &Filed| -> Vec<Position> {
            f.keys
                .iter()
                .flat_map(|(p, v)| v.iter().map(move |_| *p))
                .collect()
        };
        let mut f = Filed::default();
        for log in 0..3 {
            for seg in 0..3 {
                for a in ["a@x.test", "b@x.test"] {
                    f.claim(Position::new(log, seg, 16), a);
                }
            }
        }
        let model = |f: &Filed, log, below: Position| -> Vec<Position> {
            ids(f)
                .into_iter()
                .filter(|p| p.log != log || *p >= below)
                .collect()
        };
        for (log, below) in [
            (1, Position::new(1, 1, 16)),
            (0, Position::new(0, 2, 17)),
            (2, Position::new(1, 9, 9)),
            (2, Position::new(3, 0, 0)),
        ] {
            let want = model(&f, log, below);
            f.prune(log, below);
            assert_eq!(ids(&f), want, "prune({log}, {below:?})");
        }
        assert_eq!(
            ids(&f),
            vec![
                Position::new(1, 1, 16),
                Position::new(1, 1, 16),
                Position::new(1, 2, 16),
                Position::new(1, 2, 16),
            ]
        );
    }
}
