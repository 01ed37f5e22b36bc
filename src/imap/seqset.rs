//! Sequence sets resolved against the selected mailbox (RFC 9051 9 `sequence-set`, RFC 9051 6.4.9 for
//! UIDs), and the inverse: compact UID sets for replies (`1:5,7,9:12`, RFC 4315 `uid-set`).
//!
//! A set is kept as sorted, disjoint, non-adjacent inclusive ranges ([`Ranges`]): `1:100000` is one
//! range, not 100,000 numbers, and iterating yields the numbers in ascending order without a vector.
//!
//! The rules (RFC 9051 9, notes on `seq-number` and `sequence-set`; RFC 3501 9 is the same):
//! - `*` is the largest number in use: the message count for sequence numbers, the UID of the last
//!   message for UIDs. Ranges may be given either way round (`5:3` is `3:5`) and may overlap.
//! - A message sequence number above the message count, `0`, or any non-UID set in an empty mailbox
//!   (where even `*` names no message) is a protocol error: the command gets a tagged BAD. "A command
//!   cannot be partially BAD", so one bad number fails the whole set.
//! - UIDs outside the mailbox simply match nothing. `n:*` with `n` above the last UID still matches the
//!   last message, because the range is `last:n` (RFC 9051 6.4.9, the `UID FETCH 300:*` note).

use std::fmt;

use super::types::{SeqNum, SeqRange, SequenceSet};

/// A sequence set that cannot be used against the mailbox (reply: tagged BAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeqError {
    #[error("message sequence number {seq} is above the message count {exists}")]
    OutOfRange { seq: u32, exists: u32 },
    #[error("message sequence number 0 is invalid")]
    Zero,
    #[error("no messages: a message sequence number refers to none")]
    Empty,
}

/// The selected mailbox's messages in sequence order, as far as sequence sets need them. The session
/// implements it over its view (its own UID list, or the storage `FolderView`); `[u32]` (ascending
/// UIDs) implements it for tests and simple callers.
pub trait Messages {
    /// The message count (EXISTS as the client knows it).
    fn count(&self) -> u32;
    /// The UID of message `seq` (1-based); `None` outside `1..=count`.
    fn uid(&self, seq: u32) -> Option<u32>;
    /// The sequence number of the first message whose UID is `>= uid`; `count + 1` if there is none.
    fn seq_at_or_after(&self, uid: u32) -> u32;
}

impl Messages for [u32] {
    fn count(&self) -> u32 {
        u32::try_from(self.len()).unwrap_or(u32::MAX)
    }

    fn uid(&self, seq: u32) -> Option<u32> {
        self.get((seq as usize).checked_sub(1)?).copied()
    }

    fn seq_at_or_after(&self, uid: u32) -> u32 {
        u32::try_from(self.partition_point(|&u| u < uid) + 1).unwrap_or(u32::MAX)
    }
}

impl Messages for Vec<u32> {
    fn count(&self) -> u32 {
        self.as_slice().count()
    }
    fn uid(&self, seq: u32) -> Option<u32> {
        self.as_slice().uid(seq)
    }
    fn seq_at_or_after(&self, uid: u32) -> u32 {
        self.as_slice().seq_at_or_after(uid)
    }
}

/// Numbers as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    /// Normalises any ranges (either way round, overlapping, in any order).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> Ranges {
        let mut v: Vec<(u32, u32)> = ranges
            .into_iter()
            .map(|(a, b)| if a <= b { (a, b) } else { (b, a) })
            .collect();
        v.sort_unstable();
        Ranges(merge_sorted(v))
    }

    /// Collapses runs of consecutive numbers; the input may be in any order and hold duplicates.
    pub fn from_numbers(numbers: impl IntoIterator<Item = u32>) -> Ranges {
        Ranges::from_ranges(numbers.into_iter().map(|n| (n, n)))
    }

    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many numbers the ranges hold.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|&(a, b)| u64::from(b - a) + 1).sum()
    }

    /// Binary search over the ranges.
    pub fn contains(&self, n: u32) -> bool {
        let i = self.0.partition_point(|&(_, end)| end < n);
        self.0.get(i).is_some_and(|&(start, _)| start <= n)
    }

    pub fn first(&self) -> Option<u32> {
        self.0.first().map(|&(a, _)| a)
    }

    pub fn last(&self) -> Option<u32> {
        self.0.last().map(|&(_, b)| b)
    }

    /// Every number, ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = u32> + '_ {
        self.0.iter().flat_map(|&(a, b)| a..=b)
    }

    /// Writes the set as `1:5,7,9:12` (nothing for an empty set; callers reply NIL or omit the item).
    pub fn write(&self, out: &mut Vec<u8>) {
        write_ranges(out, self.0.iter().copied());
    }
}

impl fmt::Display for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        self.write(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// Merges sorted ranges that overlap or touch.
fn merge_sorted(v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Resolves a set of message sequence numbers against a mailbox of `exists` messages (RFC 9051 9):
/// `*` is `exists`; a number above it, `0`, or any set in an empty mailbox is an error.
pub fn resolve_seqs(set: &SequenceSet, exists: u32) -> Result<Ranges, SeqError> {
    if exists == 0 {
        return Err(SeqError::Empty);
    }
    let value = |n: SeqNum| -> Result<u32, SeqError> {
        match n {
            SeqNum::Largest => Ok(exists),
            SeqNum::Value(0) => Err(SeqError::Zero),
            SeqNum::Value(seq) if seq > exists => Err(SeqError::OutOfRange { seq, exists }),
            SeqNum::Value(seq) => Ok(seq),
        }
    };
    let mut v = Vec::with_capacity(set.0.len());
    for r in &set.0 {
        v.push((value(r.start)?, value(r.end)?));
    }
    Ok(Ranges::from_ranges(v))
}

/// A UID set as UID ranges, with `*` standing for `star`: the last message's UID, or when the mailbox
/// is empty UIDNEXT - 1 so that `*` names no message (RFC 3501 9 says UIDNEXT; nothing can match it
/// either way). Used where the UIDs themselves matter (SEARCH UID, UID EXPUNGE, QRESYNC known UIDs).
pub fn uid_ranges(set: &SequenceSet, star: u32) -> Ranges {
    let value = |n: SeqNum| match n {
        SeqNum::Largest => star,
        SeqNum::Value(v) => v,
    };
    Ranges::from_ranges(set.0.iter().map(|r| (value(r.start), value(r.end))))
}

/// Resolves a UID set to the sequence numbers of the messages whose UIDs it names (RFC 9051 6.4.9).
/// Never an error: UIDs not in the mailbox match nothing.
pub fn resolve_uids<M: Messages + ?Sized>(set: &SequenceSet, mailbox: &M) -> Ranges {
    let count = mailbox.count();
    let Some(last) = mailbox.uid(count) else {
        return Ranges::default();
    };
    uids_to_seqs(&uid_ranges(set, last), mailbox)
}

/// The sequence numbers of the messages whose UIDs are in `uids` (UIDs not in the mailbox match
/// nothing).
pub fn uids_to_seqs<M: Messages + ?Sized>(uids: &Ranges, mailbox: &M) -> Ranges {
    let count = mailbox.count();
    // UIDs ascend with sequence numbers, so sorted UID ranges map to sorted sequence ranges; two of
    // them can touch once the UIDs between them are gone (1:5,7 with no 6), so merge once more.
    let mut v = Vec::with_capacity(uids.0.len());
    for &(lo, hi) in &uids.0 {
        let start = mailbox.seq_at_or_after(lo);
        let end = match hi.checked_add(1) {
            Some(next) => mailbox.seq_at_or_after(next).saturating_sub(1),
            None => count,
        };
        if start <= end {
            v.push((start, end.min(count)));
        }
    }
    Ranges(merge_sorted(v))
}

/// Whether a set is SEARCHRES `$` (RFC 5182 2.1): the parser gives it as the empty set, which no
/// other input produces.
pub fn is_saved_marker(set: &SequenceSet) -> bool {
    set.0.is_empty()
}

/// Resolves a set from a command: UIDs when `uid` (UID FETCH/STORE/COPY/MOVE/SEARCH...), message
/// sequence numbers otherwise. The result is in sequence numbers either way. `$` gives nothing here;
/// a session that offers SEARCHRES calls [`resolve_with_saved`].
pub fn resolve<M: Messages + ?Sized>(
    set: &SequenceSet,
    uid: bool,
    mailbox: &M,
) -> Result<Ranges, SeqError> {
    resolve_with_saved(set, uid, mailbox, None)
}

/// [`resolve`], with `$` (RFC 5182 2.1) standing for the saved search result `saved`, kept as UIDs so
/// that expunges since the SEARCH drop out (RFC 5182 2.1: expunged messages leave the saved result).
/// `$` is never an error, in UID and non-UID commands alike, even in an empty mailbox or with no
/// result saved (RFC 5182 2.1: it then refers to no message).
pub fn resolve_with_saved<M: Messages + ?Sized>(
    set: &SequenceSet,
    uid: bool,
    mailbox: &M,
    saved: Option<&Ranges>,
) -> Result<Ranges, SeqError> {
    if is_saved_marker(set) {
        return Ok(saved.map(|u| uids_to_seqs(u, mailbox)).unwrap_or_default());
    }
    if uid {
        Ok(resolve_uids(set, mailbox))
    } else {
        resolve_seqs(set, mailbox.count())
    }
}

/// Writes numbers as a compact set, collapsing runs of consecutive ascending numbers and keeping the
/// given order otherwise: COPYUID's source and destination sets pair up by position (RFC 4315 3), so
/// they must not be sorted. Ascending input gives the canonical `1:5,7,9:12`.
pub fn write_compact(out: &mut Vec<u8>, numbers: impl IntoIterator<Item = u32>) {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for n in numbers {
        match runs.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(n) => last.1 = n,
            _ => runs.push((n, n)),
        }
    }
    write_ranges(out, runs.into_iter());
}

/// [`write_compact`] into a new string.
pub fn compact(numbers: impl IntoIterator<Item = u32>) -> String {
    let mut out = Vec::new();
    write_compact(&mut out, numbers);
    String::from_utf8_lossy(&out).into_owned()
}

fn write_ranges(out: &mut Vec<u8>, ranges: impl Iterator<Item = (u32, u32)>) {
    for (i, (a, b)) in ranges.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_u32(out, a);
        if b != a {
            out.push(b':');
            push_u32(out, b);
        }
    }
}

fn push_u32(out: &mut Vec<u8>, n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// A [`SequenceSet`] naming exactly these ranges (for a session that builds a set, e.g. SEARCHRES).
pub fn to_sequence_set(ranges: &Ranges) -> SequenceSet {
    SequenceSet(
        ranges
            .0
            .iter()
            .map(|&(a, b)| SeqRange {
                start: SeqNum::Value(a),
                end: SeqNum::Value(b),
            })
            .collect(),
    )
}

#[cfg(test)]
#[path = "seqset_tests.rs"]
mod tests;
