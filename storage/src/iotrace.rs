//! A test seam: observe the file operations a log writer performs, as the kernel sees them.
//!
//! The power-loss test (`tests/powerloss.rs`) needs to know, at any moment, which bytes were durable and
//! which were only handed to the kernel. It cannot trust the writer's own bookkeeping (that is what it
//! tests), so the writer reports each operation here as it performs it: a write when it is issued and
//! when it returns, a sync when it returns, whether the descriptor really has `O_DSYNC` (asked of the
//! kernel with `fcntl`, not taken from the sync policy), file creation, length changes, directory syncs,
//! removals. The test replays these into a model of a disk that keeps only what was synced.
//!
//! An observer is registered for a data directory; a writer looks it up once, when it opens, so the
//! cost without one is a `None` check per operation. Nothing in the server registers one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// One file operation of a log writer.
#[derive(Debug)]
pub enum IoEvent<'a> {
    /// A file was opened for writing (created if `created`); `dsync`: the kernel says its descriptor
    /// has `O_DSYNC`, so each write is durable when it returns.
    Open {
        path: &'a Path,
        created: bool,
        dsync: bool,
    },
    /// A write was handed to the kernel: from now until it is synced, any part of it may or may not be
    /// on the disk after a power cut.
    WriteIssued {
        path: &'a Path,
        offset: u64,
        bytes: &'a [u8],
    },
    /// The write issued at `offset` returned successfully.
    WriteDone { path: &'a Path, offset: u64 },
    /// `fdatasync`/`fsync` returned: every write of the file that returned before is durable.
    Sync { path: &'a Path },
    /// The file's length was set (sparse preallocation).
    SetLen { path: &'a Path, len: u64 },
    /// A range was zeroed (punched out) after a failed write.
    Zeroed {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
    /// A directory was synced: entries created or removed in it before are durable.
    DirSync { path: &'a Path },
    /// A file was unlinked.
    Removed { path: &'a Path },
}

/// Receives the operations of every writer opened on a registered data directory.
pub trait IoObserver: Send + Sync {
    fn on(&self, ev: IoEvent<'_>);
}

type Registry = Mutex<Vec<(PathBuf, Weak<dyn IoObserver>)>>;

static OBSERVERS: Registry = Mutex::new(Vec::new());

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Registers `observer` for the writers opened on `root` from now on, until it is dropped.
pub fn observe(root: &Path, observer: &Arc<dyn IoObserver>) {
    let root = canonical(root);
    if let Ok(mut v) = OBSERVERS.lock() {
        v.retain(|(_, o)| o.strong_count() > 0);
        v.push((root, Arc::downgrade(observer)));
    }
}

/// The observer registered for `root`, if any.
pub(crate) fn observer_for(root: &Path) -> Option<Arc<dyn IoObserver>> {
    let v = OBSERVERS.lock().ok()?;
    if v.is_empty() {
        return None;
    }
    let root = canonical(root);
    v.iter()
        .filter(|(r, _)| *r == root)
        .find_map(|(_, o)| o.upgrade())
}

/// Whether the kernel says `fd` has `O_DSYNC`.
pub(crate) fn has_dsync(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFL on a descriptor has no memory effects.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_DSYNC == libc::O_DSYNC
}
