//! A folder's messages in UID order, as a copy-on-write vector of chunks, so that taking a view is O(1)
//! (clone two `Arc`s) and a commit while views are held copies one chunk and the chunk table, not the
//! folder. Chunks loaded from a snapshot stay in its memory map until they first change.
//!
//! Invariant: entries are strictly ascending by UID across the chunk sequence; no chunk is empty;
//! `starts[i]` is the index of chunk i's first entry and `firsts[i]` its first UID.

use std::sync::Arc;

use super::snapshot::{entry_from_archived, MappedSnapshot, MessageEntry};

/// Entries per chunk when appending; a chunk split by inserts never exceeds twice this.
pub(crate) const CHUNK: usize = 64;

#[derive(Clone)]
pub(crate) enum Chunk {
    Owned(Vec<MessageEntry>),
    /// `len` archived entries from `start` of folder (`account`, `folder`) of a snapshot.
    Mapped {
        snap: Arc<MappedSnapshot>,
        account: usize,
        folder: usize,
        start: usize,
        len: usize,
    },
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Owned(v) => v.len(),
            Chunk::Mapped { len, .. } => *len,
        }
    }

    fn get(&self, i: usize) -> Option<MessageEntry> {
        match self {
            Chunk::Owned(v) => v.get(i).copied(),
            Chunk::Mapped {
                snap,
                account,
                folder,
                start,
                len,
            } => {
                if i >= *len {
                    return None;
                }
                snap.messages(*account, *folder)
                    .get(start + i)
                    .map(entry_from_archived)
            }
        }
    }

    fn uid_at(&self, i: usize) -> Option<u32> {
        match self {
            Chunk::Owned(v) => v.get(i).map(|m| m.uid),
            Chunk::Mapped {
                snap,
                account,
                folder,
                start,
                len,
            } => {
                if i >= *len {
                    return None;
                }
                snap.messages(*account, *folder)
                    .get(start + i)
                    .map(|m| m.uid.to_native())
            }
        }
    }

    fn find(&self, uid: u32) -> Result<usize, usize> {
        if let Chunk::Owned(v) = self {
            return v.binary_search_by_key(&uid, |m| m.uid);
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.uid_at(mid) {
                Some(u) if u < uid => lo = mid + 1,
                Some(u) if u > uid => hi = mid,
                Some(_) => return Ok(mid),
                None => return Err(lo),
            }
        }
        Err(lo)
    }

    fn to_vec(&self) -> Vec<MessageEntry> {
        match self {
            Chunk::Owned(v) => v.clone(),
            Chunk::Mapped { .. } => (0..self.len()).filter_map(|i| self.get(i)).collect(),
        }
    }
}

/// The owned entries of a shared chunk, copying it (out of the map, or away from a view) first.
fn owned(c: &mut Arc<Chunk>) -> &mut Vec<MessageEntry> {
    if let Chunk::Mapped { .. } = **c {
        *c = Arc::new(Chunk::Owned(c.to_vec()));
    }
    match Arc::make_mut(c) {
        Chunk::Owned(v) => v,
        Chunk::Mapped { .. } => unreachable!("mapped chunks were converted to owned just above"),
    }
}

#[derive(Clone, Default)]
struct Table {
    chunks: Vec<Arc<Chunk>>,
    starts: Vec<usize>,
    firsts: Vec<u32>,
}

impl Table {
    fn reindex(&mut self, from: usize) {
        self.starts.truncate(from);
        self.firsts.truncate(from);
        let mut at = match from {
            0 => 0,
            _ => self.starts[from - 1] + self.chunks[from - 1].len(),
        };
        for c in &self.chunks[from..] {
            self.starts.push(at);
            self.firsts.push(c.uid_at(0).unwrap_or(0));
            at += c.len();
        }
    }
}

/// See the module documentation.
#[derive(Clone, Default)]
pub struct MessageList {
    table: Arc<Table>,
    len: usize,
}

impl MessageList {
    /// A list over a snapshot folder's archived entries, chunked, read in place.
    pub(crate) fn mapped(snap: Arc<MappedSnapshot>, account: usize, folder: usize) -> MessageList {
        let n = snap.messages(account, folder).len();
        let mut t = Table::default();
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            t.chunks.push(Arc::new(Chunk::Mapped {
                snap: snap.clone(),
                account,
                folder,
                start,
                len,
            }));
            start += len;
        }
        t.reindex(0);
        MessageList {
            table: Arc::new(t),
            len: n,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        let c = self.table.starts.partition_point(|&s| s <= i) - 1;
        Some((c, i - self.table.starts[c]))
    }

    /// The entry at index `i` (the message sequence number minus one).
    pub fn get(&self, i: usize) -> Option<MessageEntry> {
        let (c, j) = self.locate(i)?;
        self.table.chunks[c].get(j)
    }

    /// Binary search by UID: `Ok(index)` or `Err(insertion index)`.
    pub fn find(&self, uid: u32) -> Result<usize, usize> {
        // A delivery looks up a new UID, above every UID in the folder: the last entry answers that
        // without a search (the profile of 10-recipient ingest had this search at 5% of the shard).
        if let Some(last) = self.table.chunks.last() {
            if let Some(n) = last.len().checked_sub(1) {
                if last.uid_at(n).is_some_and(|u| u < uid) {
                    return Err(self.len);
                }
            }
        }
        let c = self.table.firsts.partition_point(|&f| f <= uid);
        if c == 0 {
            return Err(0);
        }
        let c = c - 1;
        let base = self.table.starts[c];
        self.table.chunks[c]
            .find(uid)
            .map(|j| base + j)
            .map_err(|j| base + j)
    }

    pub fn by_uid(&self, uid: u32) -> Option<MessageEntry> {
        self.find(uid).ok().and_then(|i| self.get(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = MessageEntry> + '_ {
        self.table
            .chunks
            .iter()
            .flat_map(|c| (0..c.len()).filter_map(move |j| c.get(j)))
    }

    /// Inserts an entry whose UID is not present.
    pub(crate) fn insert(&mut self, e: MessageEntry) {
        let t = Arc::make_mut(&mut self.table);
        self.len += 1;
        let c = t.firsts.partition_point(|&f| f <= e.uid);
        // Appending (the common case) fills the last chunk, then starts a new one.
        let c = match c {
            0 if t.chunks.is_empty() => {
                t.chunks
                    .push(Arc::new(Chunk::Owned(Vec::with_capacity(CHUNK))));
                0
            }
            0 => 0,
            c => c - 1,
        };
        if c + 1 == t.chunks.len()
            && t.chunks[c].len() >= CHUNK
            && t.chunks[c].uid_at(t.chunks[c].len() - 1) < Some(e.uid)
        {
            let mut v = Vec::with_capacity(CHUNK);
            v.push(e);
            t.chunks.push(Arc::new(Chunk::Owned(v)));
            t.reindex(c + 1);
            return;
        }
        let v = owned(&mut t.chunks[c]);
        let at = v.partition_point(|m| m.uid < e.uid);
        v.insert(at, e);
        if v.len() > 2 * CHUNK {
            let tail = v.split_off(CHUNK);
            t.chunks.insert(c + 1, Arc::new(Chunk::Owned(tail)));
        }
        t.reindex(c);
    }

    /// Changes the entry at index `i` in place (copying its chunk if shared).
    pub(crate) fn update(&mut self, i: usize, f: impl FnOnce(&mut MessageEntry)) {
        let Some((c, j)) = self.locate(i) else { return };
        let t = Arc::make_mut(&mut self.table);
        if let Some(m) = owned(&mut t.chunks[c]).get_mut(j) {
            f(m);
        }
    }

    /// Changes the entries of `uids` that exist (sorted or not), calling `f` on each; chunks without
    /// one are not touched.
    pub(crate) fn update_uids(&mut self, uids: &[u32], mut f: impl FnMut(&mut MessageEntry)) {
        let mut idx: Vec<usize> = uids.iter().filter_map(|u| self.find(*u).ok()).collect();
        idx.sort_unstable();
        idx.dedup();
        for i in idx {
            self.update(i, &mut f);
        }
    }

    /// Removes the entries whose UID is in `gone` (sorted ascending), returning them.
    pub(crate) fn remove_uids(&mut self, gone: &[u32]) -> Vec<MessageEntry> {
        let mut hit: Vec<usize> = Vec::new();
        for u in gone {
            if let Ok(i) = self.find(*u) {
                if let Some((c, _)) = self.locate(i) {
                    if hit.last() != Some(&c) {
                        hit.push(c);
                    }
                }
            }
        }
        if hit.is_empty() {
            return Vec::new();
        }
        hit.dedup();
        let t = Arc::make_mut(&mut self.table);
        let mut removed = Vec::new();
        for &c in &hit {
            let v = owned(&mut t.chunks[c]);
            v.retain(|m| {
                if gone.binary_search(&m.uid).is_ok() {
                    removed.push(*m);
                    false
                } else {
                    true
                }
            });
        }
        t.chunks.retain(|c| c.len() > 0);
        t.reindex(0);
        self.len -= removed.len();
        removed
    }

    /// Calls `f` on every entry for which `hit` is true, copying only the chunks that have one.
    pub(crate) fn update_where(
        &mut self,
        hit: impl Fn(&MessageEntry) -> bool,
        mut f: impl FnMut(&mut MessageEntry),
    ) {
        let chunks: Vec<usize> = (0..self.table.chunks.len())
            .filter(|&c| {
                let ch = &self.table.chunks[c];
                (0..ch.len()).any(|j| ch.get(j).is_some_and(|m| hit(&m)))
            })
            .collect();
        if chunks.is_empty() {
            return;
        }
        let t = Arc::make_mut(&mut self.table);
        for c in chunks {
            for m in owned(&mut t.chunks[c]).iter_mut() {
                if hit(m) {
                    f(m);
                }
            }
        }
    }

    /// Entries whose modseq is above `modseq` (CONDSTORE CHANGEDSINCE, RFC 7162 3.1.4.1).
    pub fn changed_since(&self, modseq: u64) -> impl Iterator<Item = MessageEntry> + '_ {
        self.iter().filter(move |m| m.modseq > modseq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(uid: u32) -> MessageEntry {
        MessageEntry {
            uid,
            size: uid,
            ..MessageEntry::default()
        }
    }

    proptest! {
        /// Inserts (in any order), updates and removals agree with a plain sorted vector, and a clone
        /// taken midway (a view) never changes.
        #[test]
        fn behaves_like_a_sorted_vector(
            ins in proptest::collection::vec(1u32..2000, 0..400),
            del in proptest::collection::vec(1u32..2000, 0..200),
        ) {
            let mut l = MessageList::default();
            let mut v: Vec<MessageEntry> = Vec::new();
            for u in &ins {
                if v.binary_search_by_key(u, |m| m.uid).is_err() {
                    l.insert(e(*u));
                    let at = v.partition_point(|m| m.uid < *u);
                    v.insert(at, e(*u));
                }
            }
            let view = l.clone();
            let before: Vec<MessageEntry> = view.iter().collect();
            prop_assert_eq!(&before, &v);
            let mut gone: Vec<u32> = del.clone();
            gone.sort_unstable();
            gone.dedup();
            l.update_uids(&del, |m| m.modseq = 7);
            let removed = l.remove_uids(&gone);
            v.iter_mut().filter(|m| del.contains(&m.uid)).for_each(|m| m.modseq = 7);
            let want_removed: Vec<MessageEntry> = v.iter().filter(|m| gone.binary_search(&m.uid).is_ok()).copied().collect();
            v.retain(|m| gone.binary_search(&m.uid).is_err());
            prop_assert_eq!(removed, want_removed);
            prop_assert_eq!(l.iter().collect::<Vec<_>>(), v.clone());
            prop_assert_eq!(l.len(), v.len());
            for (i, m) in v.iter().enumerate() {
                prop_assert_eq!(l.find(m.uid), Ok(i));
                prop_assert_eq!(l.get(i), Some(*m));
            }
            for u in 0..2001u32 {
                prop_assert_eq!(l.find(u).is_ok(), v.binary_search_by_key(&u, |m| m.uid).is_ok());
            }
            prop_assert_eq!(view.iter().collect::<Vec<_>>(), before);
        }
    }
}
