//! The mailbox index: a view of the mailbox event records in the log.
//!
//! Accounts hold folders (INBOX, Sent, Drafts, Trash, Junk with SPECIAL-USE attributes, RFC 6154, plus
//! user folders, hierarchical with `/`); folders hold UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ (RFC 7162) and
//! messages sorted by UID. The index is a sans-io state machine: `plan` methods ([`ops`]) validate an
//! operation and reserve what it allocates (UIDs, modseqs, UIDVALIDITYs), returning events; the caller
//! makes the events durable and then [`Index::apply`]s them. Replay applies the same events in log order
//! and reaches the same state.
//!
//! Invariants: within a UIDVALIDITY, UIDs are strictly ascending and never reused (the planning counter
//! only grows, and replay raises UIDNEXT past every UID it sees); every UIDVALIDITY an account ever used is
//! smaller than the next one it gets, so a deleted and recreated folder never repeats one.

use std::borrow::Cow;

mod event;
mod model;
mod ops;
mod snapshot;

pub use event::{Event, EventBatch, FlagMode, Flags, MAX_STRING};
pub use model::{FolderInfo, FolderStatus, Index, MessageMeta};
pub use ops::UidMap;
pub use snapshot::{MessageEntry, Snapshot, SnapshotMeta};

/// System flags (RFC 3501 2.3.2) as bits of a message's flags; bits 8..=63 are the account's keywords.
pub const SEEN: u8 = 1;
pub const ANSWERED: u8 = 2;
pub const FLAGGED: u8 = 4;
pub const DELETED: u8 = 8;
pub const DRAFT: u8 = 16;
/// Keyword slots per account.
pub const MAX_KEYWORDS: usize = 56;

/// SPECIAL-USE attributes (RFC 6154) as stored.
pub const SPECIAL_NONE: u8 = 0;
pub const SPECIAL_SENT: u8 = 1;
pub const SPECIAL_DRAFTS: u8 = 2;
pub const SPECIAL_TRASH: u8 = 3;
pub const SPECIAL_JUNK: u8 = 4;

/// The IMAP attribute of a special-use code.
pub fn special_use_name(code: u8) -> Option<&'static str> {
    match code {
        SPECIAL_SENT => Some("\\Sent"),
        SPECIAL_DRAFTS => Some("\\Drafts"),
        SPECIAL_TRASH => Some("\\Trash"),
        SPECIAL_JUNK => Some("\\Junk"),
        _ => None,
    }
}

/// The folders every account starts with.
pub const DEFAULT_FOLDERS: [(&str, u8); 5] = [
    ("INBOX", SPECIAL_NONE),
    ("Sent", SPECIAL_SENT),
    ("Drafts", SPECIAL_DRAFTS),
    ("Trash", SPECIAL_TRASH),
    ("Junk", SPECIAL_JUNK),
];

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
mod tests;
