//! Messages between shards: small requests carrying ids and log positions, never message bytes, and
//! typed replies (an owner's disk-full stays a disk-full on the other side of the mesh).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use shardmail_storage::index::MailboxError;
use shardmail_storage::store::SegmentId;
use shardmail_storage::{Error as StoreError, LogId, Position};

/// A reply channel for one request.
pub type Reply<T> = async_channel::Sender<T>;

/// What one shard asks of the shard that owns an account.
pub enum ShardMsg {
    File(FileRequest),
    Compact(CompactRequest),
    /// An IMAP connection whose login named an account this shard owns (see `super::handoff`).
    Imap(Box<crate::imap::conn::Arrival>),
    /// A POP3 connection whose login named an account this shard owns.
    Pop3(Box<crate::pop3::conn::Arrival>),
}

/// The steps of a compaction round (see `super::compact`), asked of every shard by the coordinator.
pub enum CompactRequest {
    /// Report the records this shard's accounts reference, and the segments holding messages its
    /// queue still needs.
    Survey { reply: Reply<Survey> },
    /// The positions this shard's accounts reference in the victims.
    Positions {
        victims: Arc<HashSet<SegmentId>>,
        reply: Reply<Vec<Position>>,
    },
    /// Move this shard's references into the victims to their copies and snapshot; replies with the
    /// positions it references that `moves` lacks (then nothing changed).
    Relocate {
        victims: Arc<HashSet<SegmentId>>,
        moves: Arc<HashMap<Position, Position>>,
        reply: Reply<Result<Vec<Position>, FileError>>,
    },
}

#[derive(Debug, Default)]
pub struct Survey {
    /// Every record the shard's accounts reference, once, with its size.
    pub live: Vec<(Position, u64)>,
    pub queued: HashSet<SegmentId>,
}

/// File the queued message `id` (durable in the sender's log) into the INBOX of each account, creating
/// an account's mailboxes on its first delivery in the same batch. Idempotent per (id, account): an
/// account that already got `id` is skipped. Replies once the filing is durable.
pub struct FileRequest {
    pub id: Position,
    pub size: u32,
    pub received: i64,
    pub accounts: Vec<String>,
    /// For each log the sender consumes, the oldest queue id it may still ask about: the owner can
    /// forget its filings of older ids of that log.
    pub done_below: Vec<(LogId, Position)>,
    pub reply: Reply<Result<(), FileError>>,
}

/// Why an owner could not file (yet), or could not do its part of a compaction. The queue retries
/// every kind; the kind decides how it is counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the owner's disk is full")]
    DiskFull,
    /// The same filing is being written right now (a retry overtook it); ask again later.
    #[error("this filing is in progress")]
    InProgress,
    #[error("the owner's log writer is unusable: {0}")]
    Writer(String),
    #[error("the owner is shutting down")]
    Closed,
    #[error("mailbox: {0}")]
    Mailbox(MailboxError),
    #[error("shard {0} is not answering")]
    Unreachable(usize),
    /// A compaction step found the shard's snapshot not yet past a victim segment; the round is retried.
    #[error("the snapshot does not cover the compacted segments yet")]
    NotCovered,
}

impl From<StoreError> for FileError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DiskFull { .. } => FileError::DiskFull,
            StoreError::Closed => FileError::Closed,
            StoreError::Mailbox(m) => FileError::Mailbox(m),
            other => FileError::Writer(other.to_string()),
        }
    }
}

/// The senders to every shard's inbox, indexed by shard.
#[derive(Clone)]
pub struct Mesh {
    pub to: Vec<async_channel::Sender<ShardMsg>>,
}

impl Mesh {
    pub fn new(n: usize) -> (Mesh, Vec<async_channel::Receiver<ShardMsg>>) {
        let (to, from): (Vec<_>, Vec<_>) = (0..n).map(|_| async_channel::bounded(1024)).unzip();
        (Mesh { to }, from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_kind() {
        let full = StoreError::DiskFull { path: "/x".into() };
        assert_eq!(FileError::from(full), FileError::DiskFull);
        assert_eq!(FileError::from(StoreError::Closed), FileError::Closed);
        assert_eq!(
            FileError::from(StoreError::Mailbox(MailboxError::NoFolder("INBOX".into()))),
            FileError::Mailbox(MailboxError::NoFolder("INBOX".into()))
        );
    }
}
