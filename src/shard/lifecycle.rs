//! A shard's store over time: periodic snapshots, by appended records and by time, so that start-up
//! and the CLI replay a bounded tail of every log. Each round writes the shard's queue snapshot, then
//! its index snapshot part; one round at a time (the shutdown snapshot waits for a running one).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardmail_storage::{Error as StoreError, Position};

use super::{queue, ShardCtx};
use crate::net::shutdown::Stage;

pub struct Lifecycle {
    one: glommio::sync::Semaphore,
    /// The writer's record count at the last snapshot.
    last_records: Cell<u64>,
    last_at: Cell<Instant>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            one: glommio::sync::Semaphore::new(1),
            last_records: Cell::new(0),
            last_at: Cell::new(Instant::now()),
        }
    }
}

/// Writes the shard's queue snapshot and index snapshot part now; returns the lowest position of the
/// shard's own log they cover up to.
pub async fn snapshot_now(ctx: &ShardCtx) -> Result<Position, StoreError> {
    let lc = &ctx.lifecycle;
    let _one = lc
        .one
        .acquire_permit(1)
        .await
        .map_err(|_| StoreError::Closed)?;
    let records = ctx.part.writer().stats().records;
    let t = Instant::now();
    let queue_cp = queue::snapshot(ctx).await?;
    let meta = ctx.part.snapshot().await?;
    let own = ctx.id as shardmail_storage::LogId;
    let index_cp = meta
        .checkpoints
        .iter()
        .find(|(l, _)| *l == own)
        .map_or(0, |(_, c)| *c);
    let covered = queue_cp.min(Position::from_seg_off(own, index_cp));
    lc.last_records.set(records);
    lc.last_at.set(Instant::now());
    tracing::debug!(
        shard = ctx.id,
        ms = t.elapsed().as_millis() as u64,
        "snapshot written"
    );
    Ok(covered)
}

/// Whether a snapshot is due: `every_events` records appended since the last one, or `every_seconds`
/// passed with something appended (0 turns either trigger off).
pub fn due(records_since: u64, since: Duration, every_events: u64, every_seconds: u64) -> bool {
    (every_events > 0 && records_since >= every_events)
        || (every_seconds > 0 && records_since > 0 && since >= Duration::from_secs(every_seconds))
}

/// Takes snapshots when due until shutdown.
pub async fn run(ctx: Rc<ShardCtx>) {
    let cfg = &ctx.shared.config.storage;
    let (every_events, every_seconds) = (cfg.snapshot_every_events, cfg.snapshot_every_seconds);
    if every_events == 0 && every_seconds == 0 {
        return;
    }
    let tick = Duration::from_millis(200);
    loop {
        let stopping = ctx.shutdown.sleep_unless(tick, Stage::Draining).await;
        if stopping {
            return;
        }
        let lc = &ctx.lifecycle;
        let records = ctx.part.writer().stats().records;
        let since = lc.last_at.get().elapsed();
        if !due(
            records.saturating_sub(lc.last_records.get()),
            since,
            every_events,
            every_seconds,
        ) {
            continue;
        }
        if let Err(e) = snapshot_now(&ctx).await {
            tracing::warn!(shard = ctx.id, error = %e, "periodic snapshot failed; retrying later");
            // Back off as if it had been taken, so a full disk is not hammered every tick.
            lc.last_records.set(records);
            lc.last_at.set(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_by_events_or_by_time_with_changes() {
        let s = Duration::from_secs;
        assert!(due(100, s(0), 100, 0));
        assert!(!due(99, s(0), 100, 0));
        assert!(due(1, s(60), 0, 60));
        assert!(!due(0, s(600), 100, 60), "nothing new: no snapshot");
        assert!(!due(5, s(59), 0, 60));
        assert!(!due(1_000_000, s(1_000), 0, 0), "both off");
    }
}
