//! Allocator settings for the server (glibc malloc): large blocks are reused from the heap rather than
//! mapped and unmapped for each use, and memory is handed back to the kernel only after a large buffer
//! is freed, where it matters (an idle session must not keep a message-sized buffer's pages).

/// Blocks below this come from the heap (log batches are handed to io_uring by value and freed after
/// each write: mapping each one showed as munmap and TLB-shootdown IPIs at the top of the profile).
const MMAP_THRESHOLD: i32 = 256 << 20;
/// Free memory at the top of a heap is kept up to this (no trimming on ordinary frees).
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Sets the server's allocator parameters; call before any shard thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Frees `buf` and returns the allocator's free pages to the kernel: a shard's heap keeps a freed block
/// that borders its top until the top exceeds the trim threshold, which [`tune`] sets very high, and
/// `malloc_trim` alone only releases free blocks inside the heap. So the threshold is lowered for this
/// one free and restored. Rare by design: only for buffers of several MiB.
pub fn free_and_trim(buf: Vec<u8>) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt/malloc_trim only set allocator parameters and return free pages (madvise); other
    // threads at worst trim too while the lower threshold is in force.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
        drop(buf);
        libc::malloc_trim(0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    drop(buf);
}
