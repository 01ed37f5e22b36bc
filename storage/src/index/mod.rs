//! The mailbox index: a view of the mailbox event records in the log.
//!
//! Accounts hold folders (INBOX, Sent, Drafts, Trash, Junk, Archive with SPECIAL-USE attributes, RFC
//! 6154, plus user folders, hierarchical with `/`, which CREATE may give an attribute too); folders hold UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ (RFC 7162) and
//! messages sorted by UID. The index is a sans-io state machine: `plan` methods ([`ops`]) validate an
//! operation and reserve what it allocates (UIDs, modseqs, UIDVALIDITYs), returning events; the caller
//! makes the events durable and then [`Index::apply_batch`]es them, all or nothing. Replay applies the
//! same batches in log order and reaches the same state. [`Mailboxes`] is the owner's service around
//! it (plans see pending batches; durable batches apply in log order; change feeds), [`FolderView`]
//! the owned read side a session holds, [`FeedReader`] a session's follower of an account's changes.
//!
//! How an IMAP server uses it (on the account's owner shard, through `store::Partition`):
//! - SELECT/EXAMINE: `Partition::view` gives a [`FolderView`]: EXISTS, UIDVALIDITY, UIDNEXT,
//!   HIGHESTMODSEQ, the keywords for FLAGS/PERMANENTFLAGS, sequence numbers and UIDs. SELECT (not
//!   EXAMINE) then plans [`Index::claim_recent`] up to the view's UIDNEXT and reports as \Recent the
//!   messages from the UID it returns: each message is \Recent in at most one session (RFC 3501
//!   2.3.2); STATUS RECENT counts the messages no SELECT has claimed yet. With QRESYNC,
//!   [`FolderView::vanished_since`] answers VANISHED (EARLIER), or says from which MODSEQ it can.
//! - FETCH reads the view (and the message bytes by position) across as many awaits as it needs;
//!   CHANGEDSINCE filters by MODSEQ. STORE plans [`Index::store`] (UNCHANGEDSINCE -> MODIFIED),
//!   EXPUNGE/MOVE/COPY plan [`Index::expunge`], [`Index::move_`], [`Index::copy`] (UIDPLUS maps).
//! - STATUS reads [`Index::status`]: MESSAGES, UNSEEN, RECENT, SIZE (RFC 8438), HIGHESTMODSEQ,
//!   UIDNEXT, UIDVALIDITY, all kept as counters.
//! - IDLE and untagged updates: `Partition::follow` gives a [`FeedReader`] (any shard, `Send`); on
//!   each [`Change`] the session takes a new view and reports the difference from its old one.
//!
//! Invariants: within a UIDVALIDITY, UIDs are strictly ascending and never reused (the planning counter
//! only grows, and replay raises UIDNEXT past every UID it sees); every UIDVALIDITY an account ever used is
//! smaller than the next one it gets, so a deleted and recreated folder never repeats one.

use std::borrow::Cow;

mod event;
mod feed;
mod keywords;
mod messages;
mod model;
mod ops;
mod pipeline;
mod snapshot;
mod view;

pub use event::{Event, EventBatch, FlagMode, Flags, InternalDate, MAX_STRING};
pub use feed::{Change, ChangeKind, FeedError, FeedReader, FEED_CAPACITY};
pub use keywords::MAX_KEYWORDS;
pub use model::{FolderInfo, FolderStatus, Index, MessageMeta, Tombstone, TOMBSTONES_KEPT};
pub use ops::{StoreResult, UidMap};
pub use pipeline::{Mailboxes, Outcome, PipelineStats, Ticket};
pub use snapshot::{MessageEntry, Snapshot, SnapshotMeta};
pub use view::{FolderView, TooOld};

/// System flags (RFC 3501 2.3.2) as bits of a message's `system` flags. Keywords are names, kept per
/// account in a table without a fixed cap (see `keywords.rs`).
pub const SEEN: u8 = 1;
pub const ANSWERED: u8 = 2;
pub const FLAGGED: u8 = 4;
pub const DELETED: u8 = 8;
pub const DRAFT: u8 = 16;

/// SPECIAL-USE attributes (RFC 6154) as stored.
pub const SPECIAL_NONE: u8 = 0;
pub const SPECIAL_SENT: u8 = 1;
pub const SPECIAL_DRAFTS: u8 = 2;
pub const SPECIAL_TRASH: u8 = 3;
pub const SPECIAL_JUNK: u8 = 4;
pub const SPECIAL_ARCHIVE: u8 = 5;

/// The IMAP attribute of a special-use code.
pub fn special_use_name(code: u8) -> Option<&'static str> {
    match code {
        SPECIAL_SENT => Some("\\Sent"),
        SPECIAL_DRAFTS => Some("\\Drafts"),
        SPECIAL_TRASH => Some("\\Trash"),
        SPECIAL_JUNK => Some("\\Junk"),
        SPECIAL_ARCHIVE => Some("\\Archive"),
        _ => None,
    }
}

/// The folders a `CreateAccount` event makes. Replay depends on this list: stores written before
/// Archive existed hold a lone `CreateAccount`, so it must keep making exactly these five (Archive,
/// [`ARCHIVE_FOLDER`], is a `CreateFolder` that `create_account` plans in the same batch).
pub const DEFAULT_FOLDERS: [(&str, u8); 5] = [
    ("INBOX", SPECIAL_NONE),
    ("Sent", SPECIAL_SENT),
    ("Drafts", SPECIAL_DRAFTS),
    ("Trash", SPECIAL_TRASH),
    ("Junk", SPECIAL_JUNK),
];

/// The folder new accounts get beside [`DEFAULT_FOLDERS`] (RFC 6154 2 `\\Archive`).
pub const ARCHIVE_FOLDER: (&str, u8) = ("Archive", SPECIAL_ARCHIVE);

/// A mailbox operation that the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    #[error("no such account {0}")]
    NoAccount(String),
    #[error("account {0} already exists")]
    AccountExists(String),
    #[error("no such folder {0}")]
    NoFolder(String),
    #[error("folder {0} already exists")]
    FolderExists(String),
    #[error("INBOX cannot be deleted")]
    CannotDeleteInbox,
    #[error("folder {0} has children; delete them first")]
    HasChildren(String),
    #[error("too many keywords in this account (at most {MAX_KEYWORDS})")]
    TooManyKeywords,
    #[error("invalid folder name {0:?}")]
    InvalidName(String),
    #[error("a folder cannot be renamed into itself")]
    RenameIntoSelf,
    #[error("uid {0} is already in the folder")]
    DuplicateUid(u32),
    /// Another folder of the account has this SPECIAL-USE attribute (one folder per use, so that
    /// clients looking for the Sent folder find one).
    #[error("another folder is already the {0} folder")]
    SpecialUseTaken(String),
    #[error("special-use code {0} is not supported")]
    UnknownSpecialUse(u8),
}

/// The canonical form of a folder name: `INBOX` in any case (as the first component) is `INBOX`
/// (RFC 3501 5.1); other names are case-sensitive. Empty components, wildcards and control characters
/// are refused.
pub fn canonical_folder(name: &str) -> Result<String, MailboxError> {
    canonical_folder_cow(name).map(Cow::into_owned)
}

/// [`canonical_folder`] without allocating when the name is canonical already (lookups on hot paths).
pub(crate) fn canonical_folder_cow(name: &str) -> Result<Cow<'_, str>, MailboxError> {
    let bad = || MailboxError::InvalidName(name.to_string());
    if name.is_empty()
        || name.len() > 255
        || name.starts_with('/')
        || name.ends_with('/')
        || name.contains("//")
    {
        return Err(bad());
    }
    if name.chars().any(|c| c.is_control() || c == '*' || c == '%') {
        return Err(bad());
    }
    let (first, rest) = match name.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (name, None),
    };
    if first != "INBOX" && first.eq_ignore_ascii_case("INBOX") {
        return Ok(Cow::Owned(match rest {
            Some(r) => format!("INBOX/{r}"),
            None => "INBOX".to_string(),
        }));
    }
    Ok(Cow::Borrowed(name))
}

/// Accounts are addresses, matched case-insensitively.
pub fn canonical_account(account: &str) -> String {
    account.to_lowercase()
}

/// [`canonical_account`] without allocating when the name is lower case already.
pub(crate) fn canonical_account_cow(account: &str) -> Cow<'_, str> {
    // Exactly when `to_lowercase` would return the same string: every char lowercases to itself (the
    // one context-dependent mapping, final sigma, starts from 'Σ', which does not).
    let lower = if account.is_ascii() {
        !account.bytes().any(|b| b.is_ascii_uppercase())
    } else {
        account.chars().all(|c| {
            let mut l = c.to_lowercase();
            l.next() == Some(c) && l.next().is_none()
        })
    };
    if lower {
        Cow::Borrowed(account)
    } else {
        Cow::Owned(account.to_lowercase())
    }
}

#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;
