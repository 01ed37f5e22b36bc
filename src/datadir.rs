//! The data directory's lock: one `shardmail serve` per data directory. Two servers on one directory
//! would both append to the same logs and lose acknowledged mail; the second one must refuse at once.
//!
//! An exclusive `flock` on `<data_dir>/lock`, which holds the owner's pid for the error message. The
//! kernel releases it when the process ends, however it ends (kill -9 included), so a stale file never
//! blocks a start. Read-only commands (`mailbox ls/cat`, `account list`) do not take it; the account
//! and alias commands rewrite their files atomically and the running server picks them up.

use std::fs;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::accounts::{create_data_dir, AccountError, FILE_MODE};

pub const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("data directory {dir} is in use by shardmail pid {pid} (lock file {file}); stop that server first")]
    Held {
        dir: PathBuf,
        pid: String,
        file: PathBuf,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Create(#[from] AccountError),
}

/// The held lock; released when dropped or when the process ends.
#[derive(Debug)]
pub struct DirLock {
    _file: fs::File,
}

impl DirLock {
    /// Creates the data directory (0700) if needed and takes its lock, or says who holds it.
    pub fn acquire(data_dir: &Path) -> Result<DirLock, LockError> {
        create_data_dir(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let io = |op, source| LockError::Io {
            op,
            path: path.clone(),
            source,
        };
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| io("opening", e))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io("locking", e));
            }
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            let pid = match pid.trim() {
                "" => "unknown".to_string(),
                p => p.to_string(),
            };
            return Err(LockError::Held {
                dir: data_dir.to_path_buf(),
                pid,
                file: path,
            });
        }
        f.set_len(0).map_err(|e| io("truncating", e))?;
        f.rewind().map_err(|e| io("writing", e))?;
        writeln!(f, "{}", std::process::id()).map_err(|e| io("writing", e))?;
        Ok(DirLock { _file: f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_a_dropped_one_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        let held = DirLock::acquire(&d).unwrap();
        // flock locks belong to the open file description: a second open in this process conflicts too.
        let e = DirLock::acquire(&d).unwrap_err().to_string();
        assert!(
            e.contains(&format!("in use by shardmail pid {}", std::process::id())),
            "{e}"
        );
        drop(held);
        DirLock::acquire(&d).unwrap();
    }
}
