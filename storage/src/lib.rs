//! `shardmail-storage`: the segmented append-only message log that shardmail keeps its mail in.
//!
//! - [`record`]: the on-disk record format, salted per segment so that content cannot forge records.
//! - [`LogWriter`]: one writer (shard) appends with group commit on glommio's io_uring files.
//! - [`LogReader`]: zero-copy reads by [`Position`] over memory maps of committed ranges, from any thread.
//! - [`recovery`]: the scan that verifies CRCs on open and truncates a torn tail.
//! - [`index`]: the mailbox view (accounts, folders, messages, flags) built from event records, and its
//!   rkyv snapshot read in place.
//! - [`Store`]: logs of many writers plus the index over all of them; compaction.
//! - [`iotrace`]: a test seam that reports each file operation of a writer (power-loss tests).

mod codec;
pub mod error;
pub mod index;
pub mod iotrace;
pub mod position;
pub mod queue;
pub mod record;
pub mod store;

pub use error::{Error, Result};
pub use position::{LogId, Position};
pub mod log;
pub mod reader;
pub mod recovery;
pub mod segment;

pub use log::{LogOptions, LogWriter, RecoveryReport, SyncPolicy, WriterStats, SYNC_BUCKETS_US};
pub use reader::{LogReader, LogShared, RecordRef};
pub use record::Kind;
