//! Owned views of a folder for IMAP/POP3 sessions: what SELECT/EXAMINE report, FETCH reads and
//! CONDSTORE/QRESYNC compare against, frozen at the moment the view was taken.
//!
//! A view is O(1) to take (it clones the folder's `Arc`s), `Send + Sync` (a session on another shard
//! can read it), and no later commit can change or invalidate it: commits copy what they change
//! (one chunk of entries, the keyword table) when a view still shares it. A session keeps one view per
//! selected folder and swaps it for a new one when it reports changes (after NOOP/IDLE/a command).

use std::sync::Arc;

use super::event::{Flags, InternalDate};
use super::keywords::Keywords;
use super::messages::MessageList;
use super::model::{Folder, FolderStatus, Tombstone};
use super::snapshot::MessageEntry;
use crate::Position;

#[derive(Clone)]
pub struct FolderView {
    name: String,
    status: FolderStatus,
    special_use: u8,
    first_recent: u32,
    messages: MessageList,
    keywords: Arc<Keywords>,
    tombstones: Arc<Vec<Tombstone>>,
    vanished_floor: u64,
}

/// VANISHED (EARLIER) cannot be answered exactly from this MODSEQ: tombstones below `lowest` were
/// forgotten. The server then falls back (RFC 7162 3.2.5.1 allows reporting every UID of the client's
/// known set that is not in the folder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expunges are remembered only since MODSEQ {lowest}")]
pub struct TooOld {
    pub lowest: u64,
}

impl FolderView {
    pub(crate) fn new(name: String, f: &Folder, keywords: Arc<Keywords>) -> FolderView {
        FolderView {
            name,
            status: f.status(),
            special_use: f.special_use,
            first_recent: f.first_recent,
            messages: f.messages.clone(),
            keywords,
            tombstones: f.tombstones.clone(),
            vanished_floor: f.vanished_floor,
        }
    }

    /// The canonical folder name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// EXISTS, RECENT, UIDNEXT, UIDVALIDITY, UNSEEN count, HIGHESTMODSEQ and SIZE at the view's time.
    pub fn status(&self) -> FolderStatus {
        self.status
    }

    pub fn special_use(&self) -> u8 {
        self.special_use
    }

    /// Messages (EXISTS).
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The message with sequence number `seq` (1-based, RFC 3501 2.3.1.2).
    pub fn by_seq(&self, seq: u32) -> Option<MessageEntry> {
        self.messages.get((seq as usize).checked_sub(1)?)
    }

    /// The sequence number and entry of `uid`.
    pub fn by_uid(&self, uid: u32) -> Option<(u32, MessageEntry)> {
        let i = self.messages.find(uid).ok()?;
        Some((i as u32 + 1, self.messages.get(i)?))
    }

    /// Sequence number of the first message whose UID is >= `uid` (UID ranges to sequence ranges).
    pub fn seq_at_or_after(&self, uid: u32) -> u32 {
        match self.messages.find(uid) {
            Ok(i) | Err(i) => i as u32 + 1,
        }
    }

    /// The sequence number of the first message without \Seen (IMAP4rev1 SELECT's `[UNSEEN n]`,
    /// RFC 3501 6.3.1); a scan, as only SELECT asks for it and only when some message is unseen.
    pub fn first_unseen(&self) -> Option<u32> {
        if self.status.unseen == 0 {
            return None;
        }
        self.messages
            .iter()
            .position(|m| m.system & super::SEEN == 0)
            .map(|i| i as u32 + 1)
    }

    /// Every message in sequence order.
    pub fn iter(&self) -> impl Iterator<Item = MessageEntry> + '_ {
        self.messages.iter()
    }

    /// Messages whose MODSEQ is above `modseq` (FETCH CHANGEDSINCE, RFC 7162 3.1.4.1).
    pub fn changed_since(&self, modseq: u64) -> impl Iterator<Item = MessageEntry> + '_ {
        self.messages.changed_since(modseq)
    }

    /// Whether a message is \Recent (RFC 3501 2.3.2): its UID is at or above the first UID no session
    /// has claimed yet (a SELECT claims them, [`super::Event::ClaimRecent`]).
    pub fn is_recent(&self, m: &MessageEntry) -> bool {
        m.uid >= self.first_recent
    }

    /// The first UID not yet claimed as \Recent (a SELECT plans `ClaimRecent` up to UIDNEXT).
    pub fn first_recent(&self) -> u32 {
        self.first_recent
    }

    /// The keyword names of a message.
    pub fn keywords<'a>(&'a self, m: &MessageEntry) -> impl Iterator<Item = &'a str> {
        self.keywords.set_names(m.kwset)
    }

    /// System flags and keyword names (sorted) of a message.
    pub fn flags(&self, m: &MessageEntry) -> Flags {
        let mut keywords: Vec<String> = self.keywords(m).map(str::to_string).collect();
        keywords.sort_unstable();
        Flags {
            system: m.system,
            keywords,
        }
    }

    /// Keywords in use in the account (SELECT's FLAGS, RFC 3501 7.2.6).
    pub fn keyword_names(&self) -> impl Iterator<Item = &str> {
        self.keywords.names()
    }

    /// UIDs expunged with a MODSEQ above `modseq` and at most the view's HIGHESTMODSEQ, ascending
    /// (VANISHED (EARLIER), RFC 7162 3.2.5.1 / 3.2.10), or [`TooOld`] if some may be forgotten.
    pub fn vanished_since(&self, modseq: u64) -> Result<Vec<u32>, TooOld> {
        if modseq < self.vanished_floor {
            return Err(TooOld {
                lowest: self.vanished_floor,
            });
        }
        let from = self.tombstones.partition_point(|t| t.modseq <= modseq);
        let mut uids: Vec<u32> = self.tombstones[from..]
            .iter()
            .filter(|t| t.modseq <= self.status.highestmodseq)
            .map(|t| t.uid)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// The lowest MODSEQ from which [`FolderView::vanished_since`] answers.
    pub fn vanished_floor(&self) -> u64 {
        self.vanished_floor
    }
}

impl MessageEntry {
    pub fn pos(&self) -> Position {
        Position::new(self.log, self.segment, self.offset)
    }

    pub fn date(&self) -> InternalDate {
        InternalDate::new(self.internal_date, self.zone)
    }
}
