//! The storage crate's one error type: each variant names what failed and where.

use std::path::PathBuf;

use crate::Position;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {path} is missing or not a directory")]
    MissingDir { path: PathBuf },
    #[error("data directory {path} is not writable: {source}")]
    Unwritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("disk full writing {path}")]
    DiskFull { path: PathBuf },
    #[error("record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { len: usize, max: usize },
    #[error("no readable record at {pos}: {reason}")]
    BadPosition { pos: Position, reason: &'static str },
    #[error("corrupt record at {pos}: {reason}")]
    Corrupt { pos: Position, reason: &'static str },
    #[error("segment {path} has a bad header: {reason}")]
    BadSegmentHeader { path: PathBuf, reason: &'static str },
    #[error("the log writer for {path} failed earlier and accepts no more appends: {reason}")]
    Poisoned { path: PathBuf, reason: String },
    #[error("the log writer is closed")]
    Closed,
    #[error("snapshot {path} is unusable: {reason}")]
    BadSnapshot { path: PathBuf, reason: String },
    #[error("malformed mailbox event: {0}")]
    BadEvent(&'static str),
    #[error("mailbox: {0}")]
    Mailbox(#[from] crate::index::MailboxError),
    #[error("invalid option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
}

impl Error {
    /// Wraps an I/O error with the operation and path, turning ENOSPC into [`Error::DiskFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENOSPC) || source.raw_os_error() == Some(libc::EFBIG)
        {
            return Error::DiskFull { path };
        }
        Error::Io { op, path, source }
    }

    /// True when the failure was the disk (or the file size limit) running out of room.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::DiskFull { .. })
    }
}
