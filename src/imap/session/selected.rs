//! The selected mailbox as the client knows it, and the untagged updates that move the client to a
//! newer view (RFC 9051 7.4.1 EXPUNGE, 7.3.1 EXISTS, 7.5.2 FETCH; RFC 3501 7.3.2 RECENT; RFC 7162
//! 3.2.10 VANISHED, 3.1.4 MODSEQ in FETCH).
//!
//! The session keeps the view it last reported: its sequence numbers are the client's. At a point
//! where RFC 9051 7.5.1 allows EXPUNGE it moves to the backend's newest view and reports expunges
//! (highest sequence number first, so every number is valid when sent), new messages, and flag
//! changes; where EXPUNGE is not allowed (FETCH, STORE, SEARCH by sequence number) and some message
//! is gone, it keeps the old numbering and reports only flag changes of messages it still numbers.

use super::super::backend::{MailboxView, Message};
use super::super::seqset::Ranges;
use super::reply;
use super::sets;

/// How updates are worded for this session.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Wording {
    /// IMAP4rev1: `* n RECENT` and `\Recent` in FLAGS.
    pub rev1: bool,
    /// CONDSTORE enabled: MODSEQ in every untagged FETCH (RFC 7162 3.1.4).
    pub condstore: bool,
    /// QRESYNC enabled: VANISHED instead of EXPUNGE, UID in every untagged FETCH (RFC 7162 3.2.10).
    pub qresync: bool,
}

pub(crate) struct Selected<V> {
    /// Canonical name.
    pub name: String,
    /// EXAMINE, or SELECT of a mailbox the session cannot change.
    pub read_only: bool,
    pub view: V,
    /// UIDs that are \Recent in this session (RFC 3501 2.3.2): those SELECT claimed, and those of
    /// later arrivals it claimed when announcing them.
    pub recent: Ranges,
    /// The SEARCHRES result variable (RFC 5182 2.1): UIDs of the last `SEARCH RETURN (SAVE)`, so
    /// that `$` follows its messages through expunges. A new selection starts without one.
    pub saved: Option<Ranges>,
}

impl<V: MailboxView> Selected<V> {
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.contains(uid)
    }

    /// \Recent messages this session still numbers.
    pub fn recent_count(&self) -> u32 {
        self.recent
            .as_slice()
            .iter()
            .map(|&(lo, hi)| {
                let a = self.view.seq_at_or_after(lo);
                let b = self.view.seq_at_or_after(hi.saturating_add(1));
                b.saturating_sub(a)
            })
            .sum()
    }

    /// UIDs `[from, upto)` are \Recent here from now on.
    pub fn add_recent(&mut self, from: u32, upto: u32) {
        if from < upto {
            let mut v = self.recent.as_slice().to_vec();
            v.push((from, upto - 1));
            self.recent = Ranges::from_ranges(v);
        }
    }

    /// One untagged FETCH with FLAGS (and UID/MODSEQ as the session needs).
    pub fn write_flags(&self, out: &mut Vec<u8>, seq: u32, m: &Message, w: Wording, uid: bool) {
        write_flags(out, &self.view, seq, m, w, uid, self.is_recent(m.uid));
    }

    /// Moves to `new`, writing the untagged responses that tell the client. `allow_expunge` is false
    /// while answering FETCH, STORE or SEARCH by sequence number (RFC 9051 7.5.1). Flag changes of
    /// the UIDs in `quiet` (ascending) are not reported (a STORE .SILENT without CONDSTORE, RFC 9051 6.4.6);
    /// `uid` asks for UID in the FETCH responses (UID commands, RFC 9051 6.4.9). New messages it
    /// announces are offered to `claim` (their UIDNEXT; it answers the first UID that was still
    /// \Recent, see [`Backend::claim_recent_now`]). Returns false when expunges were held back (the
    /// old numbering stays).
    ///
    /// [`Backend::claim_recent_now`]: super::super::backend::Backend::claim_recent_now
    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &mut self,
        new: V,
        allow_expunge: bool,
        w: Wording,
        quiet: &[u32],
        uid: bool,
        claim: &mut dyn FnMut(u32) -> Option<u32>,
        out: &mut Vec<u8>,
    ) -> bool {
        let (old_c, new_c) = (self.view.counters(), new.counters());
        if old_c.highestmodseq == new_c.highestmodseq
            && old_c.uidnext == new_c.uidnext
            && self.view.len() == new.len()
        {
            return true;
        }
        // Messages of the old view still present: those of the new view below the old UIDNEXT.
        let kept = new.seq_at_or_after(old_c.uidnext).saturating_sub(1);
        let expunged = self.view.len().saturating_sub(kept);
        if expunged > 0 && !allow_expunge {
            for (_, m) in new.changed_since(old_c.highestmodseq) {
                if m.uid >= old_c.uidnext || quiet.binary_search(&m.uid).is_ok() {
                    continue;
                }
                if let Some((seq, _)) = self.view.by_uid(m.uid) {
                    // Flags from the new view, numbered as the client still numbers them.
                    write_flags(out, &new, seq, &m, w, uid, self.is_recent(m.uid));
                }
            }
            return false;
        }
        if expunged > 0 {
            let gone = self.gone(&new, old_c.highestmodseq, expunged);
            if w.qresync {
                out.extend_from_slice(b"* VANISHED ");
                sets::write_compact(out, gone.iter().map(|&(_, u)| u));
                out.extend_from_slice(b"\r\n");
            } else {
                for &(seq, _) in gone.iter().rev() {
                    out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
                }
            }
        }
        let arrived = new.len() > kept;
        if arrived && new_c.uidnext > old_c.uidnext {
            // RFC 3501 2.3.2: this session is about to tell the client; the messages are \Recent
            // here unless a session told its client first.
            if let Some(first) = claim(new_c.uidnext) {
                self.add_recent(first.max(old_c.uidnext), new_c.uidnext);
            }
        }
        self.view = new;
        if arrived {
            out.extend_from_slice(format!("* {} EXISTS\r\n", self.view.len()).as_bytes());
        }
        // RFC 3501 7.3.2: RECENT goes with a change of the mailbox size by new messages.
        if w.rev1 && arrived {
            out.extend_from_slice(format!("* {} RECENT\r\n", self.recent_count()).as_bytes());
        }
        if new_c.highestmodseq > old_c.highestmodseq {
            for (seq, m) in self.view.changed_since(old_c.highestmodseq) {
                // New messages are announced by EXISTS; the client fetches them.
                if m.uid >= old_c.uidnext || quiet.binary_search(&m.uid).is_ok() {
                    continue;
                }
                self.write_flags(out, seq, &m, w, uid);
            }
        }
        true
    }

    /// (old sequence number, UID) of the messages of the old view missing from `new`, ascending.
    fn gone(&self, new: &V, since: u64, expected: u32) -> Vec<(u32, u32)> {
        if let Some(uids) = new.vanished_since(since) {
            let v: Vec<(u32, u32)> = uids
                .into_iter()
                .filter_map(|u| self.view.by_uid(u).map(|(s, _)| (s, u)))
                .collect();
            if v.len() as u32 == expected {
                return v;
            }
        }
        // The backend forgot that far back: compare the views.
        (1..=self.view.len())
            .filter_map(|s| self.view.by_seq(s))
            .enumerate()
            .filter(|(_, m)| new.by_uid(m.uid).is_none())
            .map(|(i, m)| (i as u32 + 1, m.uid))
            .collect()
    }
}

/// `* seq FETCH ([UID u ]FLAGS (...)[ MODSEQ (m)])`
pub(crate) fn write_flags<V: MailboxView>(
    out: &mut Vec<u8>,
    view: &V,
    seq: u32,
    m: &Message,
    w: Wording,
    uid: bool,
    recent: bool,
) {
    out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
    if uid || w.qresync {
        out.extend_from_slice(format!("UID {} ", m.uid).as_bytes());
    }
    out.extend_from_slice(b"FLAGS ");
    reply::message_flags(out, view, m, w.rev1 && recent);
    if w.condstore {
        out.extend_from_slice(format!(" MODSEQ ({})", m.modseq).as_bytes());
    }
    out.extend_from_slice(b")\r\n");
}
