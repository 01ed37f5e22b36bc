//! Connection plumbing shared by every protocol: the stream (plain or TLS), the one connection driver
//! (buffers, timeouts, shutdown) and its output with in-place (mmap) byte ranges, the shard's
//! shutdown signal and the cross-shard per-IP connection counts, failed logins per IP and password
//! checks off the shards, and the authentication policy every protocol follows.

pub mod auth;
pub mod auth_cache;
pub mod driver;
pub mod ip_limit;
pub mod login_delay;
pub mod out;
pub mod shutdown;
pub mod starttls;
pub mod stream;
pub mod verifier;
