//! What a shard knows about room on its disk, so a full disk refuses a transaction at MAIL (RFC 1870
//! 6.1: `452` before the upload) instead of after the whole message has been sent.
//!
//! Two signals: the last append failed with "disk full" and none has succeeded since; or the file
//! system's free space (statvfs, looked at most once a second) is below the SIZE the client declared.
//! While the first holds, a transaction is admitted again as soon as the free space covers it (with a
//! margin when no SIZE was given), so the shard recovers when space returns without needing an append
//! to succeed first.

use std::cell::Cell;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Room assumed for a message of undeclared size while the disk is known to be full.
const UNDECLARED: u64 = 1 << 20;
/// How long a free-space reading is trusted.
const FRESH: Duration = Duration::from_secs(1);

pub struct DiskState {
    dir: PathBuf,
    full: Cell<bool>,
    free: Cell<Option<(Instant, u64)>>,
}

impl DiskState {
    pub fn new(dir: PathBuf) -> DiskState {
        DiskState {
            dir,
            full: Cell::new(false),
            free: Cell::new(None),
        }
    }

    pub fn failed_full(&self) {
        self.full.set(true);
        self.free.set(None);
    }

    pub fn succeeded(&self) {
        self.full.set(false);
    }

    /// Whether a transaction of `size` declared bytes (0: not declared) may start.
    pub fn can_store(&self, size: u64) -> bool {
        if size == 0 && !self.full.get() {
            return true;
        }
        let need = if size == 0 { UNDECLARED } else { size };
        match self.free_space() {
            Some(free) => free >= need,
            // Unknown free space: only the append's own failure can tell.
            None => !self.full.get(),
        }
    }

    fn free_space(&self) -> Option<u64> {
        if let Some((at, free)) = self.free.get() {
            if at.elapsed() < FRESH {
                return Some(free);
            }
        }
        let free = statvfs_free(&self.dir)?;
        self.free.set(Some((Instant::now(), free)));
        Some(free)
    }
}

/// Bytes available to an unprivileged writer on the file system holding `dir`.
fn statvfs_free(dir: &std::path::Path) -> Option<u64> {
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` is written by statvfs before it is read.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // fsblkcnt_t and c_ulong are narrower than u64 on some targets.
    #[allow(clippy::unnecessary_cast)]
    let (blocks, size) = (st.f_bavail as u64, st.f_frsize as u64);
    Some(blocks.saturating_mul(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_sizes_are_checked_against_free_space_and_a_failure_sticks_until_room_returns() {
        let dir = tempfile::tempdir().unwrap();
        let d = DiskState::new(dir.path().to_path_buf());
        let free = statvfs_free(dir.path()).expect("statvfs on a temp dir");
        assert!(d.can_store(0));
        assert!(d.can_store(1));
        assert!(!d.can_store(free.saturating_mul(4).max(1 << 50)));
        d.failed_full();
        // Free space on the test machine's disk covers a small message: the shard recovers by itself.
        assert_eq!(d.can_store(0), free >= UNDECLARED);
        let gone = DiskState::new(dir.path().join("missing"));
        gone.failed_full();
        assert!(!gone.can_store(0), "no reading and a failed append: refuse");
        gone.succeeded();
        assert!(gone.can_store(0));
    }
}
