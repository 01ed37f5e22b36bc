//! What the IMAP session asks of the mailbox service (RFC 9051 6.3-6.4 as operations on one account),
//! with no storage or runtime types in it: `store.rs` implements it over the account's owner
//! `Partition`; the session's transcript tests run the same implementation on a tempdir.
//!
//! Reads are synchronous and return owned values: a [`MailboxView`] is a snapshot of a folder frozen
//! when it was taken (sequence numbers <-> UIDs, flags, MODSEQs), which the session keeps as "what the
//! client was told" and swaps for a newer one at the points where RFC 9051 7 lets it report changes.
//! Changes are async and resolve only once durable and applied, so a view taken after one shows it.

use std::fmt;
use std::rc::Rc;

use crate::mime::Summary;

/// System flags as bits of [`Message::system`] (RFC 9051 2.3.2). `\Recent` is not stored: it is a
/// property of a session (see [`Backend::claim_recent`]).
pub const SEEN: u8 = 1;
pub const ANSWERED: u8 = 2;
pub const FLAGGED: u8 = 4;
pub const DELETED: u8 = 8;
pub const DRAFT: u8 = 16;

/// Where the backend finds a message's bytes; opaque to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Locator(pub [u32; 3]);

/// One message of a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Message {
    pub uid: u32,
    pub modseq: u64,
    /// RFC822.SIZE.
    pub size: u32,
    /// INTERNALDATE: seconds since the epoch and the zone it was given in (minutes east of UTC).
    pub internal_date: i64,
    pub zone: i16,
    /// [`SEEN`] | [`ANSWERED`] | ...
    pub system: u8,
    /// The view's id of the message's keyword set (names through [`MailboxView::keywords`]).
    pub keyword_set: u32,
    pub locator: Locator,
}

/// Counters of a folder (STATUS, SELECT), kept by the backend so that reading them is no scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub messages: u32,
    /// Messages no SELECT has claimed as \Recent yet.
    pub recent: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
    pub unseen: u32,
    pub highestmodseq: u64,
    /// Sum of RFC822.SIZEs (RFC 8438).
    pub size: u64,
}

/// SPECIAL-USE attributes (RFC 6154 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl SpecialUse {
    pub fn name(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// The attribute named `name` (case-insensitive, with its backslash).
    pub fn parse(name: &str) -> Option<SpecialUse> {
        [
            SpecialUse::All,
            SpecialUse::Archive,
            SpecialUse::Drafts,
            SpecialUse::Flagged,
            SpecialUse::Junk,
            SpecialUse::Sent,
            SpecialUse::Trash,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// One folder of the account (LIST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    /// Canonical name, `/`-separated, UTF-8.
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub subscribed: bool,
    pub counters: Counters,
}

/// Flags to store or append: system bits and keyword names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlagSet {
    pub system: u8,
    pub keywords: Vec<String>,
}

/// How STORE combines flags (RFC 9051 6.4.6: FLAGS, +FLAGS, -FLAGS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Replace,
    Add,
    Remove,
}

/// What a STORE did (RFC 7162 3.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stored {
    /// The MODSEQ the stored messages got (0 when none was stored).
    pub modseq: u64,
    /// UIDs left alone because their MODSEQ was above UNCHANGEDSINCE.
    pub modified: Vec<u32>,
}

/// What a COPY or MOVE did, for UIDPLUS COPYUID (RFC 4315 3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copied {
    pub uidvalidity: u32,
    /// (source UID, new UID), ascending by source UID.
    pub uids: Vec<(u32, u32)>,
}

/// One message of an APPEND (MULTIAPPEND: several, stored all or none, RFC 3502).
#[derive(Debug, Clone, Copy)]
pub struct AppendItem<'a> {
    pub bytes: &'a [u8],
    pub flags: &'a FlagSet,
    /// INTERNALDATE (seconds, zone minutes); the backend uses `now` when absent.
    pub date: Option<(i64, i16)>,
}

/// What an APPEND did, for UIDPLUS APPENDUID (RFC 4315 3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Appended {
    pub uidvalidity: u32,
    pub uids: Vec<u32>,
}

/// Why an operation was refused; each maps to one IMAP response code (RFC 5530).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// `[NONEXISTENT]` (APPEND/COPY/MOVE: `[TRYCREATE]`).
    #[error("no such mailbox")]
    NoMailbox,
    /// `[ALREADYEXISTS]`
    #[error("mailbox already exists")]
    Exists,
    /// A name the server does not accept (`[CANNOT]`).
    #[error("invalid mailbox name")]
    InvalidName,
    /// `[CANNOT]`: INBOX cannot be deleted, a folder with children cannot be deleted, a folder
    /// cannot be renamed into itself, too many keywords.
    #[error("{0}")]
    Cannot(String),
    /// `[USEATTR]` (RFC 6154 5.2): CREATE asked for a special use this account cannot give the
    /// folder (unsupported, or another folder has it).
    #[error("{0}")]
    UseAttr(String),
    /// `[OVERQUOTA]`
    #[error("over quota")]
    OverQuota,
    /// The storage failed or is full (`[SERVERBUG]`/`[UNAVAILABLE]`): nothing was changed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// A folder frozen at one moment (what SELECT reports and FETCH reads).
pub trait MailboxView: Clone {
    fn counters(&self) -> Counters;
    fn len(&self) -> u32;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The message with sequence number `seq` (1-based).
    fn by_seq(&self, seq: u32) -> Option<Message>;
    /// The sequence number and message of `uid`.
    fn by_uid(&self, uid: u32) -> Option<(u32, Message)>;
    /// Sequence number of the first message whose UID is >= `uid` (len + 1 if none).
    fn seq_at_or_after(&self, uid: u32) -> u32;
    /// The keyword names of a message.
    fn keywords(&self, m: &Message) -> Vec<&str>;
    /// Keywords defined in the account (SELECT's FLAGS, RFC 9051 7.3.5).
    fn keyword_names(&self) -> Vec<&str>;
    /// Sequence number of the first message without \Seen (IMAP4rev1 `[UNSEEN n]`).
    fn first_unseen(&self) -> Option<u32>;
    /// Messages whose MODSEQ is above `modseq`, with their sequence numbers, ascending.
    fn changed_since(&self, modseq: u64) -> Vec<(u32, Message)>;
    /// UIDs expunged with a MODSEQ above `modseq` (QRESYNC VANISHED), ascending; `None` when the
    /// backend no longer remembers that far back.
    fn vanished_since(&self, modseq: u64) -> Option<Vec<u32>>;
}

/// Waits for changes to the account (IDLE, RFC 2177): any folder, any session, any shard.
#[allow(async_fn_in_trait)]
pub trait ChangeFeed {
    /// Resolves when something changed since the last call (or since the feed was made); `false`
    /// when the feed ended (the account was deleted, the owner stopped).
    async fn changed(&mut self) -> bool;
}

/// The mailbox service of one logged-in account. Folder names are canonical UTF-8 (`INBOX` in any
/// case is `INBOX`, RFC 9051 5.1); the session converts from and to modified UTF-7.
// The session runs on the account's owner shard; its futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Backend {
    type View: MailboxView;
    /// Message bytes: a handle the shell can write from without a copy (an mmap slice).
    type Body: AsRef<[u8]> + Clone + 'static;
    type Feed: ChangeFeed;

    /// The account's folders, sorted by name.
    fn folders(&self) -> Result<Vec<FolderEntry>, BackendError>;
    /// Subscribed names (they need not exist, RFC 9051 6.3.7).
    fn subscriptions(&self) -> Result<Vec<String>, BackendError>;
    async fn create(
        &self,
        name: &str,
        special_use: Option<SpecialUse>,
        now: i64,
    ) -> Result<(), BackendError>;
    async fn delete(&self, name: &str) -> Result<(), BackendError>;
    /// RFC 9051 6.3.6: children move too; renaming INBOX moves its messages to a new folder.
    async fn rename(&self, from: &str, to: &str, now: i64) -> Result<(), BackendError>;
    async fn subscribe(&self, name: &str, subscribed: bool) -> Result<(), BackendError>;

    fn view(&self, folder: &str) -> Result<Self::View, BackendError>;
    fn counters(&self, folder: &str) -> Result<Counters, BackendError>;
    /// SELECT claims the \Recent messages below `upto`; returns the first UID that was still
    /// \Recent, so this session reports `[first, upto)` as \Recent and no other will (RFC 3501 2.3.2).
    async fn claim_recent(&self, folder: &str, upto: u32) -> Result<u32, BackendError>;
    /// [`Backend::claim_recent`] for messages that arrived after SELECT, decided now (the session
    /// announcing them with EXISTS claims them, RFC 3501 2.3.2) and made durable in the background:
    /// a claim lost in a crash only makes them \Recent again for the next session. `None` when it
    /// cannot be decided now (then they are not \Recent in this session).
    fn claim_recent_now(&self, _folder: &str, _upto: u32) -> Option<u32> {
        None
    }
    /// The bytes of a message of a view.
    fn body(&self, m: &Message) -> Result<Self::Body, BackendError>;
    /// The kept structure summary of a message (ENVELOPE, BODY, BODYSTRUCTURE, header; see
    /// `imap::summary`), if this backend keeps them and has one for `m`. Shared by the sessions of
    /// the shard; a message's bytes never change, so a kept summary stays right.
    fn summary(&self, _m: &Message) -> Option<Rc<Summary>> {
        None
    }
    /// Keeps the summary a FETCH computed from `m`'s bytes for the next FETCH; returns it shared.
    fn keep_summary(&self, _m: &Message, s: Summary) -> Rc<Summary> {
        Rc::new(s)
    }

    async fn store(
        &self,
        folder: &str,
        uids: &[u32],
        op: FlagOp,
        flags: &FlagSet,
        unchanged_since: Option<u64>,
    ) -> Result<Stored, BackendError>;
    async fn expunge(&self, folder: &str, uids: &[u32]) -> Result<(), BackendError>;
    async fn copy(&self, from: &str, to: &str, uids: &[u32]) -> Result<Copied, BackendError>;
    /// RFC 6851: the copy and the expunge happen together.
    async fn move_(&self, from: &str, to: &str, uids: &[u32]) -> Result<Copied, BackendError>;
    /// Stores the messages durably, then files them; all or none.
    async fn append(
        &self,
        folder: &str,
        items: &[AppendItem<'_>],
        now: i64,
    ) -> Result<Appended, BackendError>;

    /// A follower of the account's changes from now on.
    fn follow(&self) -> Self::Feed;
}

impl fmt::Display for SpecialUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
