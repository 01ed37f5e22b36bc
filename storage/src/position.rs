//! Where a record lives: which writer's log, which segment file, which byte offset.
//!
//! Positions are handed out by [`crate::LogWriter::append`] only once the record is durable (or written,
//! under the `none` sync policy), so a position that exists is a position that can be read.

use std::fmt;

/// Identifies one writer's log (one shard's). Logs are named by the writer that made them
/// (`log-0003` for writer 3) and stay readable when the shard count changes.
pub type LogId = u32;

/// The place of one record: `(log, segment, offset)`, ordered in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// The writer whose log holds the record.
    pub log: LogId,
    /// The segment file number within that log.
    pub segment: u32,
    /// Byte offset of the record header within the segment file.
    pub offset: u32,
}

impl Position {
    pub const fn new(log: LogId, segment: u32, offset: u32) -> Self {
        Position {
            log,
            segment,
            offset,
        }
    }

    /// The `(segment, offset)` part packed into one `u64`, ordered like the position within one log.
    pub const fn seg_off(self) -> u64 {
        ((self.segment as u64) << 32) | self.offset as u64
    }

    pub const fn from_seg_off(log: LogId, packed: u64) -> Self {
        Position {
            log,
            segment: (packed >> 32) as u32,
            offset: packed as u32,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.log, self.segment, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_orders() {
        let a = Position::new(7, 3, 100);
        let b = Position::new(7, 4, 16);
        assert_eq!(Position::from_seg_off(7, a.seg_off()), a);
        assert!(a.seg_off() < b.seg_off());
        assert!(a < b);
    }
}
