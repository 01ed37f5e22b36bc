//! The shard's side of the durable queue (see `shardmail_storage::queue`): accepting a message in one
//! group commit, the local consumer that files it into each recipient's INBOX on the owner shard,
//! idempotently and with retries, and the owner's side of filing.
//!
//! Accepting: the message record, its `Enqueue` record and the filing events of the recipients this
//! shard owns are appended in that order with no await between them, so one group commit makes all
//! of them durable; the client gets its 250 when the message and the `Enqueue` are durable. Recipients
//! on other shards are filed afterwards by the consumer, which asks each owner over the mesh and retries
//! (with backoff) while an owner cannot write. A failing owner therefore never fails the transaction,
//! and the other recipients never get a second copy from a client's retry.
//!
//! The relay (issue 13) is the second consumer of the same entries: `Route::Remote` recipients (an
//! authenticated submission's addresses in other domains) stay pending here until it exists, counted
//! by the `shardmail_queue_remote_pending` gauge; their entries keep the message's segment from
//! compaction and survive restarts like any other. The stored bytes start with the `Return-Path`
//! field written for local delivery (`Return-Path: <sender>` CRLF): the relay sends the message
//! without it (RFC 5321 4.4: only the final delivery adds it).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use shardmail_storage::index::{Event, Flags, Index, MailboxError};
use shardmail_storage::queue::{
    Entry, Envelope, Filed, InFlight, QueueRecord, QueueSnapshot, QueueState, Recipient, Route,
};
use shardmail_storage::{Error as StoreError, Kind, LogId, Position};

use super::mesh::{FileError, FileRequest, ShardMsg};
use super::ShardCtx;
use crate::net::shutdown::{OpenCount, Stage};

/// Upper bounds (µs) of the buckets of the 250-to-visible histogram.
pub const VISIBLE_BUCKETS_US: [u64; 14] = [
    0, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];

/// The queue's counters of one shard (read by the metrics endpoint).
#[derive(Default)]
pub struct QueueMetrics {
    /// Entries this shard consumes that still have a recipient to finish.
    pub pending: AtomicU64,
    /// Recipients in other domains (`Route::Remote`) waiting for the relay.
    pub remote_pending: AtomicU64,
    /// Recipients filed by this shard's consumer.
    pub filed: AtomicU64,
    /// Filing attempts that failed and will be retried.
    pub retries: AtomicU64,
    pub retries_disk_full: AtomicU64,
    /// Time from the 250 to the message being visible in a recipient's INBOX (per recipient group).
    pub visible_hist: [AtomicU64; VISIBLE_BUCKETS_US.len() + 1],
    pub visible_sum_us: AtomicU64,
}

impl QueueMetrics {
    pub fn observe_visible(&self, d: Duration, n: u64) {
        let us = d.as_micros() as u64;
        let b = VISIBLE_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(VISIBLE_BUCKETS_US.len());
        self.visible_hist[b].fetch_add(n, Relaxed);
        self.visible_sum_us.fetch_add(us * n, Relaxed);
    }
}

/// One shard's queue: the entries of the logs it consumes, the filings it made as an owner.
pub struct ShardQueue {
    me: usize,
    state: RefCell<QueueState>,
    filed: RefCell<Filed>,
    marks: Rc<InFlight>,
    /// Entries finished in memory whose `Done` record is not durable yet.
    unrecorded: RefCell<BTreeSet<Position>>,
    done_tx: async_channel::Sender<(Position, Vec<u32>)>,
    done_rx: async_channel::Receiver<(Position, Vec<u32>)>,
    /// Serializes filings that create an account, so two first deliveries never both plan its creation.
    creating: glommio::sync::Semaphore,
    consumes: Vec<LogId>,
    consumers: OpenCount,
    hooks: TestHooks,
    /// Unfinished `Route::Remote` recipients of the entries (the gauge's value).
    remote: std::cell::Cell<u64>,
}

/// Crash-test hooks, from `SHARDMAIL_TEST_HOLD` (a comma-separated list; never set in production):
/// `filing` leaves every accepted message unfiled (the consumer waits for shutdown), `done` never
/// writes `Done` records. Tests kill the server in the window each one holds open.
#[derive(Clone, Copy, Default, Debug)]
struct TestHooks {
    hold_filing: bool,
    hold_done: bool,
}

impl TestHooks {
    fn from_env() -> TestHooks {
        let v = std::env::var("SHARDMAIL_TEST_HOLD").unwrap_or_default();
        let has = |w: &str| v.split(',').any(|x| x.trim() == w);
        let h = TestHooks {
            hold_filing: has("filing"),
            hold_done: has("done"),
        };
        if h.hold_filing || h.hold_done {
            tracing::warn!(
                ?h,
                "SHARDMAIL_TEST_HOLD is set: the queue is held for a crash test"
            );
        }
        h
    }
}

impl ShardQueue {
    /// The queue of shard `me` with what recovery found for it.
    pub fn new(me: usize, start: QueueStart) -> ShardQueue {
        let QueueStart {
            consumes,
            entries,
            filed,
        } = start;
        let mut state = QueueState::default();
        let mut remote = 0;
        for e in entries {
            remote += remote_unfinished(&e, None);
            state.insert(e);
        }
        let mut f = Filed::default();
        for (id, account) in filed {
            f.claim(id, &account);
            f.confirm(id, &account);
        }
        let (done_tx, done_rx) = async_channel::unbounded();
        ShardQueue {
            me,
            state: RefCell::new(state),
            filed: RefCell::new(f),
            marks: Rc::new(InFlight::default()),
            unrecorded: RefCell::new(BTreeSet::new()),
            done_tx,
            done_rx,
            creating: glommio::sync::Semaphore::new(1),
            consumes,
            consumers: OpenCount::default(),
            hooks: TestHooks::from_env(),
            remote: std::cell::Cell::new(remote),
        }
    }

    pub fn pending(&self) -> usize {
        self.state.borrow().len()
    }

    /// Unfinished remote recipients (waiting for the relay).
    pub fn remote_pending(&self) -> u64 {
        self.remote.get()
    }

    fn update_gauge(&self, ctx: &ShardCtx) {
        let m = &ctx.metrics().queue;
        m.pending.store(self.pending() as u64, Relaxed);
        m.remote_pending.store(self.remote.get(), Relaxed);
    }

    /// Consumer tasks still running (shutdown waits for them).
    pub fn consumers(&self) -> usize {
        self.consumers.get()
    }

    /// Segments holding messages the queue still needs (compaction leaves them alone).
    pub fn queued_segments(&self) -> std::collections::HashSet<(LogId, u32)> {
        self.state
            .borrow()
            .positions()
            .map(|p| (p.log, p.segment))
            .collect()
    }

    /// Resolves when no consumer task runs.
    pub async fn all_idle(&self) {
        self.consumers.all_closed().await
    }

    /// Stops the `Done` writer once what is queued for it is written.
    pub fn close(&self) {
        self.done_tx.close();
    }

    /// The oldest queue id of `log` whose filings an owner must still remember.
    fn low_water(&self, log: LogId, committed: Position) -> Position {
        let mut low = committed;
        if let Some(p) = self.state.borrow().local_low_water(log) {
            low = low.min(p);
        }
        if let Some(&p) = self
            .unrecorded
            .borrow()
            .range(Position::new(log, 0, 0)..=Position::new(log, u32::MAX, u32::MAX))
            .next()
        {
            low = low.min(p);
        }
        if log as usize == self.me {
            if let Some(m) = self.marks.low() {
                low = low.min(Position::from_seg_off(log, m));
            }
        }
        low
    }

    /// Recipients `rcpts` of entry `id` are filed (durably): finish them in memory and queue the
    /// `Done` record.
    fn finish(&self, id: Position, rcpts: Vec<u32>) {
        if rcpts.is_empty() {
            return;
        }
        if let Some(e) = self.state.borrow().get(id) {
            let n = remote_unfinished(e, Some(&rcpts));
            self.remote.set(self.remote.get().saturating_sub(n));
        }
        self.state.borrow_mut().finish(id, &rcpts);
        self.unrecorded.borrow_mut().insert(id);
        // Unbounded; fails only once closed at shutdown, when the filing is durable anyway and a
        // missing `Done` only costs recovery a look at the owners' filings.
        let _ = self.done_tx.try_send((id, rcpts));
    }
}

/// Unfinished `Route::Remote` recipients of `e` (among `only`, when given).
fn remote_unfinished(e: &Entry, only: Option<&[u32]>) -> u64 {
    e.env
        .recipients
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            matches!(r.route, Route::Remote)
                && !e.done.get(*i).copied().unwrap_or(true)
                && only.is_none_or(|o| o.contains(&(*i as u32)))
        })
        .count() as u64
}

/// Plans filing `id` into the INBOX of each account; an account without mailboxes gets them in the
/// same batch (its `CreateAccount` first), planned against a scratch index holding just that account.
fn plan_filing(
    ix: &mut Index,
    accounts: &[String],
    id: Position,
    size: u32,
    received: i64,
) -> Result<Vec<Event>, MailboxError> {
    let (have, new): (Vec<&String>, Vec<&String>) =
        accounts.iter().partition(|a| ix.has_account(a));
    // Borrowed names: two allocations fewer per recipient than owned pairs.
    let targets: Vec<(&str, &str)> = have.iter().map(|a| (a.as_str(), "INBOX")).collect();
    let mut events = if targets.is_empty() {
        Vec::new()
    } else {
        ix.deliver_to(&targets, id, size, received, Flags::default())?
    };
    for a in new {
        let mut scratch = Index::default();
        let create = scratch.create_account(a, received)?;
        for ev in &create {
            scratch.apply(ev)?;
        }
        let deliver = scratch.deliver_to(
            &[(a.as_str(), "INBOX")],
            id,
            size,
            received,
            Flags::default(),
        )?;
        events.extend(create);
        events.extend(deliver);
    }
    Ok(events)
}

/// Stores the message and its queue entry in one group commit (with the filings of the recipients
/// this shard owns) and resolves when the message is accepted: durable with its entry. The other
/// local recipients are filed afterwards by the consumer; the `remote` ones (`Route::Remote`, after
/// the local ones) wait for the relay.
pub async fn accept(
    ctx: &Rc<ShardCtx>,
    parts: &[&[u8]],
    sender: &str,
    accounts: &[String],
    remote: &[String],
    received: i64,
) -> Result<Position, StoreError> {
    let q = &ctx.queue;
    let size: u32 = parts.iter().map(|p| p.len()).sum::<usize>() as u32;
    let recipients: Vec<Recipient> = accounts
        .iter()
        .map(|a| Recipient {
            address: a.clone(),
            route: Route::Local {
                owner: ctx.owner(a) as u32,
            },
        })
        .chain(remote.iter().map(|a| Recipient {
            address: a.clone(),
            route: Route::Remote,
        }))
        .collect();
    let local_idx: Vec<u32> = (0..accounts.len() as u32)
        .filter(|&i| ctx.owner(&accounts[i as usize]) == ctx.id)
        .collect();
    let local: Vec<String> = local_idx
        .iter()
        .map(|&i| accounts[i as usize].clone())
        .collect();
    let creates = local
        .iter()
        .any(|a| !ctx.part.read_index(|ix| ix.has_account(a)));
    let _one = if creates {
        Some(
            q.creating
                .acquire_permit(1)
                .await
                .map_err(|_| StoreError::Closed)?,
        )
    } else {
        None
    };
    let writer = ctx.part.writer();
    let mark = q.marks.begin(writer.committed_end().seg_off());
    let mut env = Envelope {
        message: Position::default(),
        size,
        received,
        sender: sender.to_string(),
        recipients,
    };
    let mut queued = None;
    let mut planned = false;
    let res = ctx
        .part
        .store_and_execute(parts, |ix, pos| {
            env.message = pos;
            let (_, w) = writer.append_deferred(
                Kind::QUEUE,
                &[&QueueRecord::encode_enqueue(&env)],
            )?;
            queued = Some(w);
            // From here on the entry exists: a planning failure leaves the filing to the consumer.
            if local.is_empty() || q.hooks.hold_filing {
                return Ok((Vec::new(), ()));
            }
            let mut filed = q.filed.borrow_mut();
            for a in &local {
                filed.claim(pos, a);
            }
            match plan_filing(ix, &local, pos, size, received) {
                Ok(events) => {
                    planned = true;
                    Ok((events, ()))
                }
                Err(e) => {
                    tracing::warn!(%pos, error = %e, "filing at acceptance not planned; the queue retries it");
                    Ok((Vec::new(), ()))
                }
            }
        })
        .await;
    let id = env.message;
    let Some(queued) = queued else {
        // Nothing of the entry was appended.
        return res.map(|_| id);
    };
    let accepted = queued.await;
    // Durable filing: the commit succeeded, or failed only at applying (the events are in the log).
    let filed_now = planned && matches!(&res, Ok(_) | Err(StoreError::Mailbox(_)));
    {
        let mut filed = q.filed.borrow_mut();
        for a in &local {
            if filed_now && accepted.is_ok() {
                filed.confirm(id, a);
            } else {
                filed.release(id, a);
            }
        }
    }
    accepted?;
    let mut entry = Entry::new(env);
    // Whether local recipients are left for the consumer (on other shards, or not filed here).
    let to_file = if filed_now && q.hooks.hold_done {
        true
    } else if filed_now {
        entry.finish(&local_idx);
        q.unrecorded.borrow_mut().insert(id);
        let _ = q.done_tx.try_send((id, local_idx.clone()));
        ctx.metrics()
            .queue
            .observe_visible(Duration::ZERO, local_idx.len() as u64);
        !entry.pending_local().is_empty()
    } else {
        if let Err(e) = &res {
            tracing::warn!(%id, error = %e, "filing at acceptance failed; the queue retries it");
        }
        !entry.pending_local().is_empty()
    };
    q.remote.set(q.remote.get() + remote.len() as u64);
    q.state.borrow_mut().insert(entry);
    q.update_gauge(ctx);
    drop(mark);
    if to_file {
        spawn_consumer(ctx, id, Some(Instant::now()));
    }
    Ok(id)
}

/// Starts the consumer of entry `id`; `accepted` is when its 250 went out (for the visibility metric).
pub fn spawn_consumer(ctx: &Rc<ShardCtx>, id: Position, accepted: Option<Instant>) {
    let q = &ctx.queue;
    q.consumers.inc();
    let c = ctx.clone();
    glommio::spawn_local(async move {
        consume(&c, id, accepted).await;
        c.queue.consumers.dec();
    })
    .detach();
}

/// Files entry `id`'s pending local recipients, each at its current owner, until all are filed or the
/// shard stops (what is left is redone at the next start).
async fn consume(ctx: &Rc<ShardCtx>, id: Position, accepted: Option<Instant>) {
    let q = &ctx.queue;
    let m = &ctx.metrics().queue;
    let mut backoff = Duration::from_millis(20);
    if q.hooks.hold_filing {
        ctx.shutdown.reached(Stage::Draining).await;
        return;
    }
    loop {
        // Only the pending recipients' addresses are copied (each once, grouped by owner): the request
        // to an owner crosses threads and must own them; the rest of the envelope stays in the queue.
        let (size, received, by_owner) = {
            let state = q.state.borrow();
            let Some(e) = state.get(id) else {
                return;
            };
            let mut by_owner: BTreeMap<usize, (Vec<u32>, Vec<String>)> = BTreeMap::new();
            for i in e.pending_local() {
                let Some(r) = e.env.recipients.get(i as usize) else {
                    continue;
                };
                let slot = by_owner.entry(ctx.owner(&r.address)).or_default();
                slot.0.push(i);
                slot.1.push(r.address.clone());
            }
            (e.env.size, e.env.received, by_owner)
        };
        if by_owner.is_empty() {
            return;
        }
        // Ask every other owner first, so their commits overlap; then file here; then collect.
        let mut waits = Vec::new();
        let mut here = None;
        for (owner, (idxs, accounts)) in by_owner {
            if owner == ctx.id {
                here = Some((idxs, accounts));
                continue;
            }
            let (tx, rx) = async_channel::bounded(1);
            let req = FileRequest {
                id,
                size,
                received,
                accounts,
                done_below: done_below(ctx),
                reply: tx,
            };
            let sent = match ctx.shared.mesh.to.get(owner) {
                Some(to) => to.send(ShardMsg::File(req)).await.is_ok(),
                None => false,
            };
            if sent {
                ctx.metrics().cross_shard_sent.fetch_add(1, Relaxed);
            }
            waits.push((owner, idxs, sent.then_some(rx)));
        }
        let mut results = Vec::new();
        if let Some((idxs, accounts)) = here {
            let r = file_here(ctx, id, size, received, &accounts).await;
            results.push((idxs, r));
        }
        for (owner, idxs, rx) in waits {
            let r = match rx {
                Some(rx) => rx
                    .recv()
                    .await
                    .unwrap_or(Err(FileError::Unreachable(owner))),
                None => Err(FileError::Unreachable(owner)),
            };
            results.push((idxs, r));
        }
        let mut failed = false;
        for (idxs, r) in results {
            match r {
                Ok(()) => {
                    m.filed.fetch_add(idxs.len() as u64, Relaxed);
                    if let Some(t) = accepted {
                        m.observe_visible(t.elapsed(), idxs.len() as u64);
                    }
                    if q.hooks.hold_done {
                        // Filed, but its completion is never recorded: the entry stays pending.
                        ctx.shutdown.reached(Stage::Draining).await;
                        return;
                    }
                    q.finish(id, idxs);
                    q.update_gauge(ctx);
                }
                Err(e) => {
                    failed = true;
                    m.retries.fetch_add(1, Relaxed);
                    if e == FileError::DiskFull {
                        m.retries_disk_full.fetch_add(1, Relaxed);
                    }
                    tracing::debug!(%id, error = %e, "filing deferred; retrying");
                }
            }
        }
        if !failed || ctx.shutdown.stage() >= Stage::Draining {
            return;
        }
        let stopping = ctx.shutdown.sleep_unless(backoff, Stage::Draining).await;
        if stopping {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// What this shard tells owners they may forget.
fn done_below(ctx: &ShardCtx) -> Vec<(LogId, Position)> {
    let q = &ctx.queue;
    q.consumes
        .iter()
        .map(|&l| (l, q.low_water(l, ctx.shared.logs.end(l))))
        .collect()
}

/// Files `id` into the INBOX of each account this (owner) shard holds, skipping accounts that have it
/// already; resolves when the filing is durable.
pub async fn file_here(
    ctx: &ShardCtx,
    id: Position,
    size: u32,
    received: i64,
    accounts: &[String],
) -> Result<(), FileError> {
    let q = &ctx.queue;
    let todo: Vec<String> = {
        let mut filed = q.filed.borrow_mut();
        if accounts.iter().any(|a| filed.status(id, a) == Some(false)) {
            return Err(FileError::InProgress);
        }
        accounts
            .iter()
            .filter(|a| filed.claim(id, a))
            .cloned()
            .collect()
    };
    if todo.is_empty() {
        return Ok(());
    }
    let creates = todo
        .iter()
        .any(|a| !ctx.part.read_index(|ix| ix.has_account(a)));
    let permit = if creates {
        q.creating.acquire_permit(1).await.ok()
    } else {
        None
    };
    if creates && permit.is_none() {
        release(q, id, &todo);
        return Err(FileError::Closed);
    }
    let mark = q.marks.begin(ctx.part.writer().committed_end().seg_off());
    let mut plan_err = None;
    let r = ctx
        .part
        .execute(|ix| match plan_filing(ix, &todo, id, size, received) {
            Ok(events) => Ok((events, ())),
            Err(e) => {
                plan_err = Some(e);
                Ok((Vec::new(), ()))
            }
        })
        .await;
    let durable = plan_err.is_none() && matches!(&r, Ok(()) | Err(StoreError::Mailbox(_)));
    if durable {
        let mut filed = q.filed.borrow_mut();
        for a in &todo {
            filed.confirm(id, a);
        }
    } else {
        release(q, id, &todo);
    }
    drop(mark);
    if let Some(e) = plan_err {
        return Err(FileError::Mailbox(e));
    }
    match r {
        Ok(()) => {
            ctx.storage_ok();
            Ok(())
        }
        Err(e) if e.is_disk_full() => {
            // This shard's own sessions refuse at MAIL too until space returns.
            ctx.storage_full();
            Err(FileError::DiskFull)
        }
        Err(StoreError::Mailbox(e)) => {
            tracing::error!(%id, error = %e, "filing is durable but did not apply");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn release(q: &ShardQueue, id: Position, accounts: &[String]) {
    let mut filed = q.filed.borrow_mut();
    for a in accounts {
        filed.release(id, a);
    }
}

/// Serves one filing request from another shard.
pub fn serve_file(ctx: &Rc<ShardCtx>, req: FileRequest) {
    {
        let mut filed = ctx.queue.filed.borrow_mut();
        for (log, below) in &req.done_below {
            filed.prune(*log, *below);
        }
    }
    let c = ctx.clone();
    glommio::spawn_local(async move {
        let r = file_here(&c, req.id, req.size, req.received, &req.accounts).await;
        let _ = req.reply.send(r).await;
    })
    .detach();
}

/// Writes `Done` records for finished recipients, many per record, until the queue is closed. A
/// failed write is retried: until it is durable the owners keep remembering those filings.
pub async fn done_writer(ctx: Rc<ShardCtx>) {
    let q = &ctx.queue;
    let rx = q.done_rx.clone();
    while let Ok(first) = rx.recv().await {
        let mut items = vec![first];
        while let Ok(more) = rx.try_recv() {
            items.push(more);
        }
        if q.hooks.hold_done {
            continue;
        }
        loop {
            let rec = QueueRecord::Done {
                items: items.clone(),
            };
            match ctx.part.writer().append(Kind::QUEUE, &rec.encode()).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "queue Done record not written; retrying");
                    if ctx.shutdown.stage() >= Stage::Draining {
                        return;
                    }
                    glommio::timer::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        {
            let mut un = q.unrecorded.borrow_mut();
            for (id, _) in &items {
                un.remove(id);
            }
        }
        let below = done_below(&ctx);
        let mut filed = q.filed.borrow_mut();
        for (log, b) in below {
            filed.prune(log, b);
        }
    }
}

/// Starts the consumers of the entries recovery found unfinished.
pub fn resume(ctx: &Rc<ShardCtx>) {
    let ids: Vec<Position> = ctx
        .queue
        .state
        .borrow()
        .entries()
        .filter(|e| !e.pending_local().is_empty())
        .map(|e| e.env.message)
        .collect();
    ctx.queue.update_gauge(ctx);
    if !ids.is_empty() {
        tracing::info!(
            shard = ctx.id,
            entries = ids.len(),
            "resuming queued filings"
        );
    }
    for id in ids {
        spawn_consumer(ctx, id, None);
    }
}

/// Writes this shard's queue snapshot (its entries, its durable filings, the checkpoints they cover);
/// returns its checkpoint for the shard's own log.
pub async fn snapshot(ctx: &ShardCtx) -> Result<Position, StoreError> {
    let q = &ctx.queue;
    let logs = &ctx.shared.logs;
    let own = ctx.id as LogId;
    let mut own_cp = logs.end(own).seg_off();
    let snap = {
        // No await from the checkpoints to the copies: they describe one instant of this shard.
        if let Some(m) = q.marks.low() {
            own_cp = own_cp.min(m);
        }
        let checkpoints = logs
            .ids()
            .into_iter()
            .map(|l| {
                (
                    l,
                    if l == own {
                        own_cp
                    } else {
                        logs.end(l).seg_off()
                    },
                )
            })
            .collect();
        QueueSnapshot {
            generation: ctx.part.generation(),
            consumes: q.consumes.clone(),
            checkpoints,
            entries: q.state.borrow().entries().cloned().collect(),
            filed: q.filed.borrow().durable(),
        }
    };
    snap.write(logs.root(), own).await?;
    Ok(Position::from_seg_off(own, own_cp))
}

/// Which shard consumes the queue entries of `log` among `shards`: its writer, or for a log of a
/// larger earlier shard count, the shard it folds onto.
pub fn consumer_of(log: LogId, shards: usize) -> usize {
    log as usize % shards.max(1)
}

/// The queue's part of the metrics text.
pub fn render_metrics(out: &mut String, shards: &[crate::metrics::ShardMetrics]) {
    use std::fmt::Write;
    let gauge = |out: &mut String,
                 name: &str,
                 help: &str,
                 kind: &str,
                 get: &dyn Fn(&QueueMetrics) -> u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (i, s) in shards.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{i}\"}} {}", get(&s.queue));
        }
    };
    gauge(
        out,
        "shardmail_queue_pending",
        "Queue entries this shard consumes with a recipient still to finish.",
        "gauge",
        &|q| q.pending.load(Relaxed),
    );
    gauge(
        out,
        "shardmail_queue_remote_pending",
        "Recipients in other domains (authenticated submissions) queued for the relay.",
        "gauge",
        &|q| q.remote_pending.load(Relaxed),
    );
    gauge(
        out,
        "shardmail_queue_filed_total",
        "Recipients filed into their INBOX by this shard's queue consumer after the 250.",
        "counter",
        &|q| q.filed.load(Relaxed),
    );
    gauge(
        out,
        "shardmail_queue_retries_total",
        "Filing attempts that failed and are retried.",
        "counter",
        &|q| q.retries.load(Relaxed),
    );
    gauge(
        out,
        "shardmail_queue_retries_disk_full_total",
        "Filing attempts that failed because the owner's disk was full.",
        "counter",
        &|q| q.retries_disk_full.load(Relaxed),
    );
    let name = "shardmail_delivery_visible_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from the 250 to the message being visible in a recipient's INBOX (0 when filed in the accepting commit).\n# TYPE {name} histogram"
    );
    for (i, s) in shards.iter().enumerate() {
        let q = &s.queue;
        let mut cum = 0;
        for (b, bound) in VISIBLE_BUCKETS_US.iter().enumerate() {
            cum += q.visible_hist[b].load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{shard=\"{i}\",le=\"{}\"}} {cum}",
                *bound as f64 / 1e6
            );
        }
        cum += q.visible_hist[VISIBLE_BUCKETS_US.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{shard=\"{i}\",le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            out,
            "{name}_sum{{shard=\"{i}\"}} {}",
            q.visible_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{shard=\"{i}\"}} {cum}");
    }
}

/// One shard's part of the recovered queue (sent to the shard's thread, which builds its [`ShardQueue`]).
pub struct QueueStart {
    pub consumes: Vec<LogId>,
    pub entries: Vec<Entry>,
    pub filed: Vec<(Position, String)>,
}

/// Reads the queue of the data directory and hands each of `shards` shards its part: the entries of
/// the logs it consumes and the filings of the accounts it owns.
pub fn recover(
    root: &std::path::Path,
    max_payload: usize,
    shards: usize,
    logs: impl Iterator<Item = LogId>,
) -> Result<Vec<QueueStart>, StoreError> {
    let rec = shardmail_storage::queue::recover_queue(root, max_payload)?;
    for (path, why) in &rec.report.snapshots_rejected {
        tracing::warn!(path = %path.display(), reason = %why, "queue snapshot not used");
    }
    tracing::info!(
        pending = rec.entries.len(),
        filed = rec.report.filed,
        records = rec.report.records,
        "queue recovered"
    );
    let mut consumes: Vec<Vec<LogId>> = (0..shards).map(|k| vec![k as LogId]).collect();
    for l in logs {
        let c = consumer_of(l, shards);
        if !consumes[c].contains(&l) {
            consumes[c].push(l);
        }
    }
    let mut entries: Vec<Vec<Entry>> = (0..shards).map(|_| Vec::new()).collect();
    for (id, e) in rec.entries {
        entries[consumer_of(id.log, shards)].push(e);
    }
    let mut filed: Vec<Vec<(Position, String)>> = (0..shards).map(|_| Vec::new()).collect();
    for (id, account) in rec.filed {
        let o = shardmail_storage::store::owner_of(&account, shards as u32) as usize;
        filed[o].push((id, account));
    }
    Ok(consumes
        .into_iter()
        .zip(entries)
        .zip(filed)
        .map(|((consumes, entries), filed)| QueueStart {
            consumes,
            entries,
            filed,
        })
        .collect())
}
