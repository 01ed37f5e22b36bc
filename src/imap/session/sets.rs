//! Sequence sets against the session's view (RFC 9051 9 `sequence-set`, 6.4.9 for UIDs) and compact
//! UID sets for replies (RFC 4315 `uid-set`).

use super::super::backend::MailboxView;
use super::super::types::{SeqNum, SequenceSet};

/// Sorted, disjoint inclusive ranges of sequence numbers (or UIDs).
pub(crate) type Ranges = Vec<(u32, u32)>;

fn normalize(mut v: Ranges) -> Ranges {
    v.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The sequence numbers a set names. Message numbers above the count, 0, or any number in an empty
/// mailbox make the command BAD (RFC 9051 9: "a command cannot be partially BAD"); UIDs outside
/// the mailbox match nothing, and `n:*` always includes the last message (RFC 9051 6.4.9).
pub(crate) fn resolve<V: MailboxView>(
    set: &SequenceSet,
    uid: bool,
    view: &V,
) -> Result<Ranges, &'static str> {
    let count = view.len();
    if uid {
        let Some(last) = view.by_seq(count) else {
            return Ok(Vec::new());
        };
        let mut v = Vec::with_capacity(set.0.len());
        for (lo, hi) in uid_ranges(set, last.uid) {
            let start = view.seq_at_or_after(lo);
            let end = match hi.checked_add(1) {
                Some(n) => view.seq_at_or_after(n) - 1,
                None => count,
            };
            if start <= end {
                v.push((start, end.min(count)));
            }
        }
        return Ok(normalize(v));
    }
    if count == 0 {
        return Err("no messages");
    }
    let value = |n: SeqNum| match n {
        SeqNum::Largest => Ok(count),
        SeqNum::Value(0) => Err("message number 0"),
        SeqNum::Value(n) if n > count => Err("message number above the message count"),
        SeqNum::Value(n) => Ok(n),
    };
    let mut v = Vec::with_capacity(set.0.len());
    for r in &set.0 {
        let (a, b) = (value(r.start)?, value(r.end)?);
        v.push((a.min(b), a.max(b)));
    }
    Ok(normalize(v))
}

/// A UID set as UID ranges, `*` meaning `star`.
pub(crate) fn uid_ranges(set: &SequenceSet, star: u32) -> Ranges {
    let value = |n: SeqNum| match n {
        SeqNum::Largest => star,
        SeqNum::Value(v) => v,
    };
    normalize(
        set.0
            .iter()
            .map(|r| {
                let (a, b) = (value(r.start), value(r.end));
                (a.min(b), a.max(b))
            })
            .collect(),
    )
}

/// Every number of the ranges, ascending.
pub(crate) fn numbers(r: &[(u32, u32)]) -> impl Iterator<Item = u32> + '_ {
    r.iter().flat_map(|&(a, b)| a..=b)
}

/// Numbers as a compact set (`1:5,7,9:12`), runs collapsed, order kept (COPYUID pairs the source
/// and destination sets by position, RFC 4315 3).
pub(crate) fn write_compact(out: &mut Vec<u8>, numbers: impl IntoIterator<Item = u32>) {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for n in numbers {
        match runs.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(n) => last.1 = n,
            _ => runs.push((n, n)),
        }
    }
    for (i, (a, b)) in runs.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(a.to_string().as_bytes());
        if b != a {
            out.push(b':');
            out.extend_from_slice(b.to_string().as_bytes());
        }
    }
}

pub(crate) fn compact(numbers: impl IntoIterator<Item = u32>) -> String {
    let mut out = Vec::new();
    write_compact(&mut out, numbers);
    String::from_utf8_lossy(&out).into_owned()
}
