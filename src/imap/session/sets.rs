//! Sequence sets against the session's view, through `imap::seqset` (RFC 9051 9 `sequence-set`,
//! 6.4.9 for UIDs; `$`, the saved search result of RFC 5182 2.1), and compact UID sets for replies
//! (RFC 4315 `uid-set`).

use super::super::backend::MailboxView;
use super::super::seqset::{self, Messages};
use super::super::types::SequenceSet;
use super::selected::Selected;

pub(crate) use seqset::{compact, write_compact};

/// Sorted, disjoint inclusive ranges of sequence numbers (or UIDs).
pub(crate) type Ranges = Vec<(u32, u32)>;

/// The view as `imap::seqset` sees a mailbox: the client's numbering.
pub(crate) struct Numbering<'a, V>(pub &'a V);

impl<V: MailboxView> Messages for Numbering<'_, V> {
    fn count(&self) -> u32 {
        self.0.len()
    }
    fn uid(&self, seq: u32) -> Option<u32> {
        self.0.by_seq(seq).map(|m| m.uid)
    }
    fn seq_at_or_after(&self, uid: u32) -> u32 {
        self.0.seq_at_or_after(uid)
    }
}

/// The sequence numbers a set names; message numbers the mailbox does not have make the command
/// BAD (the error is the reason), UIDs outside it match nothing (RFC 9051 6.4.9). `$` is the
/// selection's saved search result (RFC 5182 2.1: no message when nothing is saved).
pub(crate) fn resolve<V: MailboxView>(
    set: &SequenceSet,
    uid: bool,
    sel: &Selected<V>,
) -> Result<Ranges, String> {
    seqset::resolve_with_saved(set, uid, &Numbering(&sel.view), sel.saved.as_ref())
        .map(|r| r.as_slice().to_vec())
        .map_err(|e| e.to_string())
}

/// A UID set as UID ranges, `*` meaning `star`.
pub(crate) fn uid_ranges(set: &SequenceSet, star: u32) -> Ranges {
    seqset::uid_ranges(set, star).as_slice().to_vec()
}

/// A UID set of a command on the selected mailbox (UID EXPUNGE, VANISHED): `*` is `star`, `$` the
/// saved search result.
pub(crate) fn uid_set<V: MailboxView>(set: &SequenceSet, star: u32, sel: &Selected<V>) -> Ranges {
    if seqset::is_saved_marker(set) {
        return sel
            .saved
            .as_ref()
            .map_or_else(Vec::new, |r| r.as_slice().to_vec());
    }
    uid_ranges(set, star)
}

/// Every number of the ranges, ascending.
pub(crate) fn numbers(r: &[(u32, u32)]) -> impl Iterator<Item = u32> + '_ {
    r.iter().flat_map(|&(a, b)| a..=b)
}
