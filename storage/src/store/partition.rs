//! One writer's share of the store: its log writer and the index of the accounts it owns. A shard of
//! the server holds one; [`super::Store`] holds several on one executor.

use std::cell::{Ref, RefCell};
use std::sync::Arc;

use glommio::sync::RwLock;

use crate::index::{Event, EventBatch, Index, SnapshotMeta};
use crate::record::Kind;
use crate::{Error, LogOptions, LogWriter, Position, RecordRef, RecoveryReport, Result};

use super::logs::Logs;
use super::recover::snapshot_name;
use super::write_file_atomically;

pub struct Partition {
    part: u32,
    parts: u32,
    generation: u64,
    writer: LogWriter,
    logs: Arc<Logs>,
    index: RefCell<Index>,
    /// Operations hold it shared from plan to apply; snapshots take it exclusively.
    gate: RwLock<()>,
    /// Serializes account creation: two first deliveries at once must not both plan a CreateAccount
    /// (the first is applied only once durable, so the second would not see it).
    creating: glommio::sync::Semaphore,
}

impl Partition {
    /// Opens writer `part` of `parts` with the index of the accounts it owns (recovered beforehand) and
    /// registers the writer with the shared registry.
    pub async fn open(
        logs: Arc<Logs>,
        part: u32,
        parts: u32,
        opts: LogOptions,
        index: Index,
        generation: u64,
    ) -> Result<(Partition, RecoveryReport)> {
        let scan_from = Some(logs.end(part));
        let (writer, report) = LogWriter::open(logs.root(), part, opts, scan_from).await?;
        logs.register_writer(part, writer.shared());
        let p = Partition {
            part,
            parts,
            generation,
            writer,
            logs,
            index: RefCell::new(index),
            gate: RwLock::new(()),
            creating: glommio::sync::Semaphore::new(1),
        };
        Ok((p, report))
    }

    pub fn part(&self) -> u32 {
        self.part
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn writer(&self) -> &LogWriter {
        &self.writer
    }

    pub fn logs(&self) -> &Arc<Logs> {
        &self.logs
    }

    /// The index of this partition's accounts (applied, durable events only).
    pub fn index(&self) -> Ref<'_, Index> {
        self.index.borrow()
    }

    pub fn read(&self, pos: Position) -> Result<RecordRef> {
        self.logs.read(pos)
    }

    /// Appends message bytes to this partition's log; resolves once durable.
    pub async fn store_message(&self, parts: &[&[u8]]) -> Result<Position> {
        self.writer.append_parts(Kind::MESSAGE, parts).await
    }

    /// Stores message bytes and runs a mailbox operation on them (typically: deliver to local
    /// mailboxes) so that one group commit covers both: the message record is appended first, the
    /// events after it in the same log, and both are awaited before the events are applied.
    pub async fn store_and_execute<R>(
        &self,
        parts: &[&[u8]],
        plan: impl FnOnce(&mut Index, Position) -> Result<(Vec<Event>, R)>,
    ) -> Result<(Position, R)> {
        let _shared = self.gate.read().await.map_err(|_| Error::Closed)?;
        let (pos, stored) = self.writer.append_deferred(Kind::MESSAGE, parts)?;
        let planned = plan(&mut self.index.borrow_mut(), pos);
        let (events, out) = match planned {
            Ok(p) => p,
            Err(e) => {
                // The bytes stay unreferenced (compaction reclaims them); nothing was promised.
                let _ = stored.await;
                return Err(e);
            }
        };
        let committed = self.commit(events).await;
        stored.await?;
        committed?;
        Ok((pos, out))
    }

    /// Creates `account`'s mailboxes unless it has them; safe to call from concurrent tasks. Returns
    /// whether this call created it.
    pub async fn ensure_account(&self, account: &str, now: i64) -> Result<bool> {
        if self.index().has_account(account) {
            return Ok(false);
        }
        let _one = self
            .creating
            .acquire_permit(1)
            .await
            .map_err(|_| Error::Closed)?;
        if self.index().has_account(account) {
            return Ok(false);
        }
        self.execute(|ix| Ok((ix.create_account(account, now)?, ())))
            .await?;
        Ok(true)
    }

    /// Runs one mailbox operation: `plan` validates and reserves against the index and returns the
    /// events; they are appended to this log and applied once durable.
    pub async fn execute<R>(
        &self,
        plan: impl FnOnce(&mut Index) -> Result<(Vec<Event>, R)>,
    ) -> Result<R> {
        let _shared = self.gate.read().await.map_err(|_| Error::Closed)?;
        let (events, out) = plan(&mut self.index.borrow_mut())?;
        self.commit(events).await?;
        Ok(out)
    }

    /// Appends events and applies them once durable. Callers hold the gate (shared or exclusive).
    pub(crate) async fn commit(&self, events: Vec<Event>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let batch = EventBatch {
            generation: self.generation,
            events,
        };
        let mut buf = Vec::new();
        batch.encode(&mut buf);
        self.writer.append(Kind::MAILBOX, &buf).await?;
        let mut index = self.index.borrow_mut();
        for ev in &batch.events {
            index.apply(ev).map_err(|e| {
                tracing::error!(error = %e, "a planned event did not apply");
                Error::from(e)
            })?;
        }
        Ok(())
    }

    /// Applies events some other partition wrote (a compaction's relocations) without logging them here.
    pub(crate) fn apply_foreign(&self, ev: &Event) -> Result<()> {
        self.index.borrow_mut().apply(ev).map_err(Error::from)
    }

    /// Writes this partition's snapshot part, covering everything applied so far.
    pub async fn snapshot(&self) -> Result<SnapshotMeta> {
        let _excl = self.gate.write().await.map_err(|_| Error::Closed)?;
        self.snapshot_locked().await
    }

    pub(crate) async fn exclusive(&self) -> Result<glommio::sync::RwLockWriteGuard<'_, ()>> {
        self.gate.write().await.map_err(|_| Error::Closed)
    }

    /// Snapshot while the caller holds the gate exclusively.
    pub(crate) async fn snapshot_locked(&self) -> Result<SnapshotMeta> {
        // For this log: what is applied. For the others: their durable end now, which no event of
        // this partition's accounts can lie beyond (one owner per generation).
        let checkpoints = self
            .logs
            .ids()
            .into_iter()
            .map(|l| (l, self.logs.end(l).seg_off()))
            .collect();
        let meta = SnapshotMeta {
            generation: self.generation,
            checkpoints,
        };
        let bytes = self.index.borrow().snapshot_bytes(&meta);
        write_file_atomically(
            self.logs.root(),
            &snapshot_name(self.part, self.parts),
            bytes,
        )
        .await?;
        Ok(meta)
    }

    /// Waits until every append is durable and stops the writer.
    pub async fn close(self) -> Result<()> {
        self.writer.close().await
    }
}
