//! Helpers for the storage integration tests: an executor to run async tests on, deterministic
//! payloads, and a small tmpfs for disk-full tests.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;

use glommio::LocalExecutorBuilder;

/// Runs `f` on a fresh glommio executor (unpinned, so tests can run in parallel).
pub fn run<T: Send + 'static, F, Fut>(f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    LocalExecutorBuilder::default()
        .spawn(f)
        .expect("spawning a test executor")
        .join()
        .expect("test executor panicked")
}

/// A payload of `len` bytes determined by `seed`, so a reader can check bytes without keeping them.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A tmpfs of `size` bytes mounted for the life of the value (the tests run as root in CI).
pub struct Tmpfs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str, extra: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = if extra.is_empty() {
            format!("size={size}")
        } else {
            format!("size={size},{extra}")
        };
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(
            st.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}
