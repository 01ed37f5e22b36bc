//! One writer's share of the store: its log writer and the index of the accounts it owns. A shard of
//! the server holds one; [`super::Store`] holds several on one executor.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use event_listener::Event as Notify;
use glommio::sync::RwLock;

use crate::index::{
    Event, EventBatch, FeedReader, FolderStatus, FolderView, Index, Mailboxes, Outcome,
    SnapshotMeta, Ticket,
};
use crate::log::Wait;
use crate::record::Kind;
use crate::{Error, LogOptions, LogWriter, Position, RecordRef, RecoveryReport, Result};

use super::logs::Logs;
use super::recover::snapshot_name;
use super::write_file_atomically;

/// The owner of a set of accounts. Every mailbox operation goes plan -> append -> apply through its
/// [`Mailboxes`]: plans see every batch planned before them (pending or applied), so there is no
/// check-then-act race between concurrent operations on one account, and batches apply in log order
/// once durable, all or nothing, as replay applies them. Sessions read owned [`FolderView`]s and follow
/// [`FeedReader`]s; nothing handed out borrows the partition.
pub struct Partition {
    part: u32,
    parts: u32,
    generation: u64,
    writer: LogWriter,
    logs: Arc<Logs>,
    mailboxes: Rc<RefCell<Mailboxes>>,
    /// Notified whenever batches leave the pending queue.
    settled: Rc<Notify>,
    /// Operations hold it shared from plan to apply; snapshots take it exclusively.
    gate: RwLock<()>,
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
            mailboxes: Rc::new(RefCell::new(Mailboxes::new(index))),
            settled: Rc::new(Notify::new()),
            gate: RwLock::new(()),
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

    /// An owned copy of this partition's applied index (durable events only). It shares message
    /// chunks, so it costs O(accounts x folders), not O(messages); sessions use [`Partition::view`].
    pub fn index(&self) -> Index {
        self.mailboxes.borrow().applied().clone()
    }

    /// Runs `f` on the applied index. `f` cannot await, so no borrow outlives it.
    pub fn read_index<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        f(self.mailboxes.borrow().applied())
    }

    /// An owned view of a folder (O(1), `Send`, unaffected by later commits).
    pub fn view(&self, account: &str, folder: &str) -> Result<FolderView> {
        Ok(self.mailboxes.borrow().applied().view(account, folder)?)
    }

    /// STATUS counters of a folder (no scan).
    pub fn status(&self, account: &str, folder: &str) -> Result<FolderStatus> {
        Ok(self.mailboxes.borrow().applied().status(account, folder)?)
    }

    /// Follows `account`'s changes from now on; the follower may move to any shard.
    pub fn follow(&self, account: &str) -> FeedReader {
        self.mailboxes.borrow_mut().follow(account)
    }

    /// Batches applied, refused and failed so far.
    pub fn pipeline_stats(&self) -> crate::index::PipelineStats {
        self.mailboxes.borrow().stats()
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
        let (batch, out) = match self.submit(|ix| plan(ix, pos)) {
            Ok(p) => p,
            Err(e) => {
                // The bytes stay unreferenced (compaction reclaims them); nothing was promised.
                let _ = stored.await;
                return Err(e);
            }
        };
        if let Some((ticket, wait)) = batch {
            self.settle(ticket, wait).await?;
        }
        stored.await?;
        Ok((pos, out))
    }

    /// Creates `account`'s mailboxes unless it has them (or their creation is pending); safe to call
    /// from concurrent tasks: the check is planned against pending operations, so two first deliveries
    /// cannot both create the account. Returns whether this call created it.
    pub async fn ensure_account(&self, account: &str, now: i64) -> Result<bool> {
        if self.read_index(|ix| ix.has_account(account)) {
            return Ok(false);
        }
        self.execute(|ix| {
            if ix.has_account(account) {
                Ok((Vec::new(), false))
            } else {
                Ok((ix.create_account(account, now)?, true))
            }
        })
        .await
    }

    /// Runs one mailbox operation: `plan` validates and reserves against the planned state (applied
    /// plus pending) and returns the events; they are appended to this log and applied once durable.
    pub async fn execute<R>(
        &self,
        plan: impl FnOnce(&mut Index) -> Result<(Vec<Event>, R)>,
    ) -> Result<R> {
        let _shared = self.gate.read().await.map_err(|_| Error::Closed)?;
        let (batch, out) = self.submit(plan)?;
        if let Some((ticket, wait)) = batch {
            self.settle(ticket, wait).await?;
        }
        Ok(out)
    }

    /// [`Partition::execute`] without waiting: plans and appends now, and the batch applies in the
    /// background once durable. For operations whose result the caller needs at once and that may be
    /// lost in a crash (an IMAP session claiming new messages as \Recent, RFC 3501 2.3.2: the claim
    /// orders sessions at planning time). `None` while a snapshot or compaction holds the gate
    /// exclusively (nothing planned; the caller may try again later).
    pub fn execute_now<R>(
        &self,
        plan: impl FnOnce(&mut Index) -> Result<(Vec<Event>, R)>,
    ) -> Option<Result<R>> {
        // A snapshot takes the gate exclusively and then waits for every pending batch, so a batch
        // submitted under the shared gate (even one released at once) is in it or after it.
        let _shared = self.gate.try_read().ok()?;
        Some(self.submit(plan).map(|(batch, out)| {
            if let Some((ticket, wait)) = batch {
                drop(self.spawn_settle(ticket, wait));
            }
            out
        }))
    }

    /// Plans and appends in one synchronous step, so batches enter the log in the order they were
    /// planned (the order `Mailboxes` applies them in).
    fn submit<R>(
        &self,
        plan: impl FnOnce(&mut Index) -> Result<(Vec<Event>, R)>,
    ) -> Result<(Option<(Ticket, Wait)>, R)> {
        let mut mb = self.mailboxes.borrow_mut();
        let (ticket, out) = mb.plan(plan)?;
        let Some(ticket) = ticket else {
            return Ok((None, out));
        };
        let mut buf = Vec::new();
        EventBatch::encode_events(self.generation, mb.events(ticket), &mut buf);
        match self.writer.append_deferred(Kind::MAILBOX, &[&buf]) {
            Ok((_, wait)) => Ok((Some((ticket, wait)), out)),
            Err(e) => {
                mb.failed(ticket);
                let _ = mb.take_outcome(ticket);
                drop(mb);
                self.settled.notify(usize::MAX);
                Err(e)
            }
        }
    }

    /// Waits until the batch is durable and applied (or failed). The wait runs in its own task, so a
    /// caller that goes away (a dropped connection) never leaves a durable batch unapplied.
    async fn settle(&self, ticket: Ticket, wait: Wait) -> Result<()> {
        match self.spawn_settle(ticket, wait).await {
            Some((Outcome::Applied, _)) => Ok(()),
            Some((Outcome::Rejected(e), _)) => Err(e.into()),
            Some((Outcome::Failed, Some(e))) => Err(e),
            Some((Outcome::Failed, None)) | None => Err(Error::Closed),
        }
    }

    /// The task that waits for a batch's durability and applies it (detached: it runs to the end
    /// whether or not its handle is awaited).
    fn spawn_settle(
        &self,
        ticket: Ticket,
        wait: Wait,
    ) -> glommio::task::JoinHandle<(Outcome, Option<Error>)> {
        let (mb, settled) = (self.mailboxes.clone(), self.settled.clone());
        glommio::spawn_local(async move {
            let r = wait.await;
            match &r {
                Ok(()) => mb.borrow_mut().durable(ticket),
                Err(_) => mb.borrow_mut().failed(ticket),
            }
            settled.notify(usize::MAX);
            loop {
                if let Some(o) = mb.borrow_mut().take_outcome(ticket) {
                    return (o, r.err());
                }
                let listener = settled.listen();
                if let Some(o) = mb.borrow_mut().take_outcome(ticket) {
                    return (o, r.err());
                }
                listener.await;
            }
        })
        .detach()
    }

    /// Appends events and applies them once durable. Callers hold the gate (shared or exclusive).
    pub(crate) async fn commit(&self, events: Vec<Event>) -> Result<()> {
        let (batch, ()) = self.submit(|_| Ok((events, ())))?;
        if let Some((ticket, wait)) = batch {
            self.settle(ticket, wait).await?;
        }
        Ok(())
    }

    /// Applies events some other partition wrote (a compaction's relocations) without logging them here.
    pub(crate) fn apply_foreign(&self, ev: &Event) -> Result<()> {
        self.mailboxes
            .borrow_mut()
            .apply_foreign(ev)
            .map_err(Error::from)
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
        // Batches whose caller went away still settle in their own task; wait for them, so what the
        // snapshot covers (the durable end) is exactly what is applied. No new plan starts meanwhile.
        loop {
            let listener = self.settled.listen();
            if self.mailboxes.borrow().pending() == 0 {
                break;
            }
            listener.await;
        }
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
        let bytes = self.mailboxes.borrow().applied().snapshot_bytes(&meta);
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
