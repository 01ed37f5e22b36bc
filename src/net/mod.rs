//! Connection plumbing shared by every protocol: the one connection driver (buffers, timeouts, shutdown),
//! the shard's shutdown signal and the cross-shard per-IP connection counts.

pub mod driver;
pub mod ip_limit;
pub mod shutdown;
