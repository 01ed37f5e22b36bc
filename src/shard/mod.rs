//! The sharded runtime: one glommio executor per shard, pinned to a CPU, each binding every listener with
//! SO_REUSEPORT and owning its own log and the index of the accounts it owns.
//!
//! Start-up recovers the index from every log (and the snapshot parts) on the main thread, splits it by
//! owner (`hash(account) % shards`) and hands each shard its part, and the queue's pending entries to the
//! shard that consumes them. A shard accepts a message in one group commit of its own log (the bytes and
//! a queue entry) and answers 250 then; the queue files it into each recipient's INBOX at the owner.

pub mod accounts_watch;
pub mod compact;
pub mod deliver;
pub mod handoff;
pub mod lifecycle;
pub mod mesh;
pub mod queue;

pub mod disk;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use shardmail_storage::index::Index;
use shardmail_storage::store::{recover, split_index, Logs, Partition};

use crate::accounts::Accounts;
use crate::config::Config;
use crate::metrics::{self, ShardMetrics};
use crate::net::ip_limit::IpLimit;
use crate::net::login_delay::LoginDelay;
use crate::net::shutdown::{OpenCount, Shutdown, Stage};
use crate::net::stream::Conn;
use crate::net::verifier::Verifier;
use crate::smtp::session::Admission;
use crate::tls::{Acceptor, TlsError};
use mesh::{Mesh, ShardMsg};

/// What every shard shares (read-mostly; each shard writes only its own metrics).
pub struct Shared {
    pub config: Config,
    pub shards: usize,
    pub metrics: Vec<ShardMetrics>,
    /// The account directory; shards keep a cached `Arc` and take this lock only when
    /// `accounts_generation` says it was replaced.
    accounts: RwLock<Arc<Accounts>>,
    accounts_generation: AtomicU64,
    /// `account del` requests on their way to the owner shards.
    pub deletions: accounts_watch::Deletions,
    pub logs: Arc<Logs>,
    pub mesh: Mesh,
    shutdown: AtomicBool,
    /// Closed to tell every shard to stop: each shard awaits its receiver, nothing polls.
    stop: async_channel::Sender<()>,
    /// Per shard: asks it to publish its log writer's stats now (the request carries the reply).
    stats_requests: Vec<async_channel::Sender<async_channel::Sender<()>>>,
    /// Shards whose sessions have all ended; inboxes close only when every shard is drained, so a
    /// session finishing its transaction can still reach every owner.
    drained: AtomicUsize,
    /// Shards whose run has ended (cleanly or not).
    exited: AtomicUsize,
    /// Connections per client address, counted across shards without a lock.
    per_ip: IpLimit,
    /// IMAP connections per client address (their own limit: a client keeps several open).
    pub imap_per_ip: IpLimit,
    /// POP3 connections per client address.
    pub pop3_per_ip: IpLimit,
    /// Failed logins per client address, across shards.
    pub login_delay: LoginDelay,
    /// Password checks, off the shards.
    pub verifier: Verifier,
    /// The TLS acceptor (None: no certificate configured); replaced by a SIGHUP reload, picked up by
    /// each shard when `tls_generation` moves (sessions keep the one they started with).
    tls: RwLock<Option<Acceptor>>,
    tls_generation: AtomicU64,
}

impl Shared {
    /// The current account directory (takes the lock; shards use [`ShardCtx::accounts`]).
    pub fn accounts(&self) -> Arc<Accounts> {
        self.accounts.read().map(|a| a.clone()).unwrap_or_default()
    }

    /// Replaces the account directory; every shard picks it up at its next look.
    pub fn set_accounts(&self, a: Accounts) {
        if let Ok(mut cur) = self.accounts.write() {
            *cur = Arc::new(a);
        }
        self.accounts_generation.fetch_add(1, Ordering::Release);
    }

    /// Reads the certificate files again (SIGHUP): new sessions get the new certificates; a file
    /// that does not load leaves the previous ones in use, and says why.
    pub fn reload_tls(&self) {
        let count = |c: fn(&crate::tls::metrics::TlsMetrics) -> &AtomicU64| {
            if let Some(m) = self.metrics.first() {
                c(&m.tls).fetch_add(1, Ordering::Relaxed);
            }
        };
        match crate::tls::certs::acceptor(&self.config.tls, crate::tls::certs::now_secs()) {
            Ok(a) => {
                if let Ok(mut cur) = self.tls.write() {
                    *cur = a;
                }
                self.tls_generation.fetch_add(1, Ordering::Release);
                count(|m| &m.reloads);
                tracing::info!("TLS certificates reloaded");
            }
            Err(e) => {
                count(|m| &m.reload_failures);
                tracing::error!(error = %e, "TLS certificates not reloaded; the previous ones stay in use");
            }
        }
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Has every shard publish its log writer's stats, waiting at most a moment for each (a shard busy
    /// or stopping leaves its previous numbers).
    pub async fn refresh_writer_stats(&self) {
        let mut waits = Vec::new();
        for tx in &self.stats_requests {
            let (done, wait) = async_channel::bounded(1);
            if tx.try_send(done).is_ok() {
                waits.push(wait);
            }
        }
        let all = async {
            for w in waits {
                let _ = w.recv().await;
            }
        };
        futures_lite::future::or(all, glommio::timer::sleep(Duration::from_millis(500))).await;
    }

    /// Tells every shard to stop (wakes them; idempotent).
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
        self.stop.close();
    }
}

/// One shard's state, shared by its tasks (single-threaded).
pub struct ShardCtx {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub part: Partition,
    /// The SMTP session settings (MX and submission), built once from the config.
    pub smtp: crate::smtp::conn::Settings,
    /// The IMAP session settings, built once from the config.
    pub imap: crate::imap::conn::Settings,
    /// The POP3 session settings, built once from the config.
    pub pop3: crate::pop3::conn::Settings,
    /// Maildrops of this shard's accounts with a POP3 session (sessions run on their owner, so this
    /// is the lock across every shard, RFC 1939 4).
    pub pop3_locks: Rc<crate::pop3::store::Locks>,
    /// Parsed structure (ENVELOPE, BODYSTRUCTURE, header) of messages IMAP sessions fetched, shared
    /// by this shard's sessions (src/imap/summary.rs).
    pub summaries: crate::imap::summary::SummaryCache,
    /// This shard's shutdown stage: sessions and background tasks await it.
    pub shutdown: Rc<Shutdown>,
    /// The durable queue as this shard consumes and serves it.
    pub queue: queue::ShardQueue,
    pub lifecycle: lifecycle::Lifecycle,
    open: OpenCount,
    seq: Cell<u64>,
    /// The account directory as last seen, with the generation it was seen at.
    accounts: RefCell<(u64, Arc<Accounts>)>,
    /// Message body bytes held in memory by this shard's sessions.
    inflight: Cell<usize>,
    disk: disk::DiskState,
    /// The TLS acceptor as last seen, with the generation it was seen at.
    tls: RefCell<(u64, Option<Acceptor>)>,
}

impl ShardCtx {
    /// The account directory: one atomic load on the hot path; the shared lock only after a reload.
    pub fn accounts(&self) -> Arc<Accounts> {
        let gen = self.shared.accounts_generation.load(Ordering::Acquire);
        let mut cached = self.accounts.borrow_mut();
        if cached.0 != gen {
            *cached = (gen, self.shared.accounts());
        }
        cached.1.clone()
    }

    /// The TLS acceptor for a new handshake, `None` when no certificate is configured (then neither
    /// STARTTLS nor an implicit-TLS port is offered). One atomic load; the shared lock only after a
    /// certificate reload.
    pub fn tls(&self) -> Option<Acceptor> {
        let gen = self.shared.tls_generation.load(Ordering::Acquire);
        let mut cached = self.tls.borrow_mut();
        if cached.0 != gen {
            let now = self.shared.tls.read().map(|t| t.clone()).unwrap_or(None);
            *cached = (gen, now);
        }
        cached.1.clone()
    }

    /// Starts TLS on `stream` (STARTTLS, STLS, or an implicit-TLS port) within `[tls]
    /// handshake_timeout`, counted in the shard's metrics. Without a certificate: `Err(Closed)`
    /// (the shells do not offer TLS then).
    pub async fn starttls(&self, stream: Conn) -> Result<Conn, TlsError> {
        let Some(acceptor) = self.tls() else {
            return Err(TlsError::Closed);
        };
        let limit = Duration::from_secs(self.shared.config.tls.handshake_timeout);
        let t = Instant::now();
        let r = crate::tls::upgrade(stream, &acceptor, limit).await;
        self.metrics().tls.handshake(&r, t.elapsed());
        r
    }

    /// Whether a new transaction of `size` declared bytes (0: not declared) can start now.
    pub fn admit_transaction(&self, size: u64) -> Admission {
        let budget = self.shared.config.smtp.inflight_budget as u64;
        let held = self.inflight.get() as u64;
        // A message larger than the whole budget still gets in when nothing else is in flight.
        if held >= budget || (held > 0 && held + size > budget) {
            self.metrics()
                .transactions_refused_memory
                .fetch_add(1, Ordering::Relaxed);
            return Admission::Busy;
        }
        if !self.disk.can_store(size) {
            self.metrics()
                .transactions_refused_disk
                .fetch_add(1, Ordering::Relaxed);
            return Admission::NoStorage;
        }
        Admission::Yes
    }

    /// Adjusts the bytes of message bodies this shard holds in memory.
    pub fn add_inflight(&self, delta: i64) {
        let n = (self.inflight.get() as i64 + delta).max(0) as usize;
        self.inflight.set(n);
        self.metrics()
            .inflight_bytes
            .store(n as u64, Ordering::Relaxed);
    }

    /// An append failed because the disk is full: refuse new transactions at MAIL until space returns.
    pub fn storage_full(&self) {
        self.disk.failed_full();
    }

    /// An append succeeded.
    pub fn storage_ok(&self) {
        self.disk.succeeded();
    }

    pub fn metrics(&self) -> &ShardMetrics {
        &self.shared.metrics[self.id]
    }

    /// A message id unique in this data directory: start-up time ordering, shard and a counter.
    pub fn next_message_id(&self, now: i64) -> String {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        format!("{now:X}{:02X}{n:06X}", self.id)
    }

    /// A session starts (or arrives from another shard): shutdown waits for it to end.
    pub fn open_inc(&self) {
        self.open.inc();
    }

    pub fn open_dec(&self) {
        self.open.dec();
    }

    pub fn owner(&self, account: &str) -> usize {
        shardmail_storage::store::owner_of(account, self.shared.shards as u32) as usize
    }
}

/// Runs the server until SIGTERM/SIGINT (or until `stop` is set), then shuts down gracefully.
/// SIGHUP reloads the TLS certificates.
pub fn serve(config: Config) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())
        .context("installing the SIGHUP handler")?;
    run_reloading(config, stop, reload)
}

/// The server, stopped by setting `stop`.
pub fn run(config: Config, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    run_reloading(config, stop, Arc::new(AtomicBool::new(false)))
}

/// The server, stopped by setting `stop`; setting `reload` reloads the TLS certificates.
pub fn run_reloading(
    config: Config,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    // A certificate that cannot be served stops the start, naming the file and the reason.
    let tls = crate::tls::certs::acceptor(&config.tls, crate::tls::certs::now_secs())
        .context("loading the TLS certificates")?;
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let n = config.shard_count();
    let opts = config.log_options();
    let t = Instant::now();
    let rec = recover(&data_dir, opts.max_payload())
        .with_context(|| format!("recovering {}", data_dir.display()))?;
    tracing::info!(
        logs = rec.report.logs.len(),
        snapshots = rec.report.snapshots.len(),
        replayed_events = rec.report.replayed_events,
        ms = t.elapsed().as_millis() as u64,
        "index recovered"
    );
    for (path, why) in &rec.report.snapshots_rejected {
        tracing::warn!(path = %path.display(), reason = %why, "snapshot not used");
    }
    let queues = queue::recover(&data_dir, opts.max_payload(), n, rec.ends.keys().copied())
        .with_context(|| format!("recovering the queue of {}", data_dir.display()))?;
    let accounts = accounts_watch::initial(&config).context("loading accounts")?;
    let (mesh, inboxes) = Mesh::new(n);
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let (stats_tx, stats_rx): (Vec<_>, Vec<_>) = (0..n).map(|_| async_channel::bounded(4)).unzip();
    let shared = Arc::new(Shared {
        shards: n,
        metrics: (0..n).map(|_| ShardMetrics::default()).collect(),
        accounts: RwLock::new(Arc::new(accounts)),
        accounts_generation: AtomicU64::new(0),
        deletions: accounts_watch::Deletions::new(n),
        logs: Arc::new(Logs::new(&data_dir, opts.max_payload(), rec.ends)),
        mesh,
        shutdown: AtomicBool::new(false),
        stop: stop_tx,
        stats_requests: stats_tx,
        drained: AtomicUsize::new(0),
        exited: AtomicUsize::new(0),
        per_ip: IpLimit::new(config.smtp.max_connections_per_ip),
        imap_per_ip: IpLimit::new(config.imap.max_connections_per_ip),
        pop3_per_ip: IpLimit::new(config.pop3.max_connections_per_ip),
        login_delay: LoginDelay::with_block(
            Duration::from_millis(config.imap.login_delay_ms),
            Duration::from_millis(config.imap.login_delay_max_ms),
            config.auth.block_after,
            Duration::from_secs(config.auth.block_seconds),
        ),
        verifier: Verifier::new(
            config.imap.verify_threads,
            crate::net::auth_cache::AuthCache::new(
                Duration::from_secs(config.imap.verify_cache_ttl),
                config.imap.verify_cache_size,
            ),
        )
        .context("starting the password verifier threads")?,
        tls: RwLock::new(tls),
        tls_generation: AtomicU64::new(0),
        config,
    });
    let generation = rec.generation;
    let parts = split_index(rec.index, n as u32);
    let cpus = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let mut handles = Vec::new();
    for ((((k, index), inbox), stats), queue) in parts
        .into_iter()
        .enumerate()
        .zip(inboxes)
        .zip(stats_rx)
        .zip(queues)
    {
        let shared = shared.clone();
        let chans = ShardChannels {
            inbox,
            stop: stop_rx.clone(),
            stats,
            queue,
        };
        let placement = if shared.config.pin {
            Placement::Fixed(k % cpus)
        } else {
            Placement::Unbound
        };
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{k}"))
            .spawn(move || run_shard(k, shared, index, generation, chans))
            .map_err(|e| anyhow!("starting shard {k}: {e}"))?;
        handles.push(h);
    }
    drop(stop_rx);
    // The main thread watches for the stop signal and for account changes (the shards do not poll).
    let watcher_shared = shared.clone();
    let mut watcher = accounts_watch::Watcher::new(&data_dir);
    let mut finished = false;
    while !finished {
        std::thread::sleep(Duration::from_millis(100));
        if stop.load(Ordering::Relaxed) && !watcher_shared.shutting_down() {
            tracing::info!("shutting down: no new connections; sessions finish their transaction");
            watcher_shared.begin_shutdown();
        }
        watcher.poll(&watcher_shared);
        if reload.swap(false, Ordering::Relaxed) {
            watcher_shared.reload_tls();
        }
        finished = watcher_shared.exited.load(Ordering::SeqCst) == n;
    }
    let mut first_err = None;
    for (k, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e.context(format!("shard {k}")));
            }
            Err(e) => {
                first_err.get_or_insert(anyhow!("shard {k} died: {e}"));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// What a shard receives from the rest of the process.
struct ShardChannels {
    /// Requests from other shards.
    inbox: async_channel::Receiver<ShardMsg>,
    /// Closed when the process is told to stop.
    stop: async_channel::Receiver<()>,
    /// Requests to publish the log writer's stats (from the metrics endpoint).
    stats: async_channel::Receiver<async_channel::Sender<()>>,
    /// The shard's part of the recovered queue.
    queue: queue::QueueStart,
}

async fn run_shard(
    k: usize,
    shared: Arc<Shared>,
    index: Index,
    generation: u64,
    chans: ShardChannels,
) -> anyhow::Result<()> {
    let ShardChannels {
        inbox,
        stop,
        stats,
        queue,
    } = chans;
    let opts = shared.config.log_options();
    let res = async {
        let (part, rec) = Partition::open(
            shared.logs.clone(),
            k as u32,
            shared.shards as u32,
            opts,
            index,
            generation,
        )
        .await
        .with_context(|| format!("opening log {k}"))?;
        if let Some((off, why)) = rec.last_segment.torn_tail {
            tracing::warn!(
                shard = k,
                offset = off,
                reason = why,
                "log had a torn tail; truncated"
            );
        }
        let c = &shared.config;
        let ctx = Rc::new(ShardCtx {
            id: k,
            shared: shared.clone(),
            part,
            smtp: crate::smtp::conn::Settings::new(c),
            imap: crate::imap::conn::Settings::new(c),
            pop3: crate::pop3::conn::Settings::new(c),
            pop3_locks: Rc::default(),
            summaries: crate::imap::summary::SummaryCache::default(),
            shutdown: Rc::new(Shutdown::new()),
            queue: queue::ShardQueue::new(k, queue),
            lifecycle: lifecycle::Lifecycle::default(),
            open: OpenCount::default(),
            seq: Cell::new(0),
            accounts: RefCell::new((u64::MAX, Arc::default())),
            inflight: Cell::new(0),
            disk: disk::DiskState::new(c.data_dir.clone()),
            tls: RefCell::new((u64::MAX, None)),
        });
        // The process-wide stop (a closed channel) becomes this shard's Draining stage.
        {
            let signal = ctx.shutdown.clone();
            glommio::spawn_local(async move {
                let _ = stop.recv().await;
                signal.advance(Stage::Draining);
            })
            .detach();
        }
        glommio::spawn_local(deliver::inbox_loop(ctx.clone(), inbox)).detach();
        glommio::spawn_local(accounts_watch::serve(ctx.clone())).detach();
        glommio::spawn_local(publish_writer_stats(ctx.clone(), stats)).detach();
        let done_writer = glommio::spawn_local(queue::done_writer(ctx.clone()));
        let snapshots = glommio::spawn_local(lifecycle::run(ctx.clone()));
        let compaction = glommio::spawn_local(compact::run(ctx.clone()));
        queue::resume(&ctx);
        let mut listeners = Vec::new();
        // Implicit TLS (RFC 8314 3.3) only with a certificate: the ports stay closed otherwise.
        let tls = ctx.tls().is_some();
        let none = Vec::new();
        let c = &shared.config;
        let metrics_listen = if k == 0 { &c.metrics.listen } else { &none };
        for (what, addrs, proto) in [
            ("SMTP", &c.smtp.listen, Proto::Smtp),
            ("submission", &c.submission.listen, Proto::Submission),
            ("IMAP", &c.imap.listen, Proto::Imap),
            ("POP3", &c.pop3.listen, Proto::Pop3),
            (
                "SMTPS",
                if tls { &c.smtps.listen } else { &none },
                Proto::Smtps,
            ),
            (
                "IMAPS",
                if tls { &c.imaps.listen } else { &none },
                Proto::Imaps,
            ),
            (
                "POP3S",
                if tls { &c.pop3s.listen } else { &none },
                Proto::Pop3s,
            ),
            ("metrics", metrics_listen, Proto::Metrics),
        ] {
            for addr in addrs {
                let l = TcpListener::bind(addr.as_str())
                    .map_err(|e| anyhow!("binding {what} listener {addr}: {e}"))?;
                listeners.push(glommio::spawn_local(accept_loop(ctx.clone(), l, proto)));
            }
        }
        tracing::info!(shard = k, "ready");
        ctx.shutdown.reached(Stage::Draining).await;
        for l in listeners {
            l.await;
        }
        // Sessions between transactions have been told 421 and closed; the others get the grace period
        // to finish their transaction, then are closed for real.
        let grace = Duration::from_secs(shared.config.shutdown.timeout);
        let deadline = Instant::now() + grace;
        let all_done = futures_lite::future::or(
            async {
                ctx.open.all_closed().await;
                true
            },
            async {
                glommio::timer::sleep(grace).await;
                false
            },
        )
        .await;
        if !all_done {
            tracing::warn!(
                shard = k,
                sessions = ctx.open.get(),
                "shutdown grace period over: closing the sessions still open"
            );
        }
        ctx.shutdown.advance(Stage::Closing);
        // Closing interrupts every read and write; only a delivery in progress can still hold a session.
        let closed = futures_lite::future::or(
            async {
                ctx.open.all_closed().await;
                true
            },
            async {
                glommio::timer::sleep(Duration::from_secs(5)).await;
                false
            },
        )
        .await;
        if !closed {
            tracing::warn!(
                shard = k,
                sessions = ctx.open.get(),
                "sessions still open after closing; their deliveries are stuck"
            );
        }
        // Filings under way finish (consumers stop retrying at shutdown; what is left stays queued and
        // is redone at the next start).
        let filed = futures_lite::future::or(
            async {
                ctx.queue.all_idle().await;
                true
            },
            async {
                glommio::timer::sleep(Duration::from_secs(5)).await;
                false
            },
        )
        .await;
        if !filed {
            tracing::warn!(
                shard = k,
                consumers = ctx.queue.consumers(),
                "queue consumers still running at shutdown; their entries are redone at the next start"
            );
        }
        // Inboxes close only when every shard is drained, so a session finishing its transaction or a
        // queue consumer can still reach every owner. (A short wait at shutdown only.)
        shared.drained.fetch_add(1, Ordering::SeqCst);
        while shared.drained.load(Ordering::SeqCst) < shared.shards
            && Instant::now() < deadline + Duration::from_secs(5)
        {
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        snapshots.await;
        compaction.await;
        if let Err(e) = lifecycle::snapshot_now(&ctx).await {
            tracing::warn!(shard = k, error = %e, "snapshot at shutdown failed; the next start replays more");
        }
        ctx.queue.close();
        done_writer.await;
        if let Some(tx) = shared.mesh.to.get(k) {
            tx.close();
        }
        ctx.shutdown.advance(Stage::Done);
        // The inbox task and the deliveries it started let go of the shard once the inbox is closed.
        let mut ctx = ctx;
        let until = Instant::now() + Duration::from_secs(5);
        let ctx = loop {
            match Rc::try_unwrap(ctx) {
                Ok(c) => break c,
                Err(c) if Instant::now() < until => {
                    ctx = c;
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
                Err(_) => return Err(anyhow!("shard {k}: tasks still hold the shard at shutdown")),
            }
        };
        ctx.part
            .close()
            .await
            .with_context(|| format!("flushing log {k}"))?;
        tracing::info!(shard = k, "log closed");
        Ok(())
    };
    let r = res.await;
    shared.exited.fetch_add(1, Ordering::SeqCst);
    if r.is_err() {
        // One shard failing stops the others.
        shared.begin_shutdown();
    }
    r
}

/// Copies the log writer's counters into the shard's metrics when the metrics endpoint asks (it runs
/// on shard 0 and cannot reach another shard's writer). No timer: no wake-ups between scrapes.
async fn publish_writer_stats(
    ctx: Rc<ShardCtx>,
    requests: async_channel::Receiver<async_channel::Sender<()>>,
) {
    loop {
        let next = futures_lite::future::or(async { requests.recv().await.ok() }, async {
            ctx.shutdown.reached(Stage::Done).await;
            None
        })
        .await;
        let Some(done) = next else {
            return;
        };
        ctx.metrics().set_writer(ctx.part.writer().stats());
        let _ = done.try_send(());
    }
}

#[derive(Clone, Copy, Debug)]
enum Proto {
    Smtp,
    /// Message submission (RFC 6409): the SMTP session with AUTH required.
    Submission,
    Imap,
    Pop3,
    /// Submission, IMAP and POP3 with implicit TLS: the handshake first (RFC 8314 3.3, 465, 993
    /// and 995).
    Smtps,
    Imaps,
    Pop3s,
    Metrics,
}

/// Accepts until shutdown; each connection is a task on this shard.
async fn accept_loop(ctx: Rc<ShardCtx>, listener: TcpListener, proto: Proto) {
    let metrics_open = Rc::new(Cell::new(0usize));
    loop {
        let next = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            ctx.shutdown.reached(Stage::Draining).await;
            None
        })
        .await;
        let stream = match next {
            None => return,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::warn!(shard = ctx.id, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        match proto {
            Proto::Metrics => {
                if metrics_open.get() >= ctx.shared.config.metrics.max_connections {
                    ctx.metrics()
                        .metrics_refused
                        .fetch_add(1, Ordering::Relaxed);
                    glommio::spawn_local(refuse(stream, METRICS_BUSY)).detach();
                    continue;
                }
                metrics_open.set(metrics_open.get() + 1);
                let (c, open) = (ctx.clone(), metrics_open.clone());
                glommio::spawn_local(async move {
                    serve_metrics(&c, stream).await;
                    open.set(open.get() - 1);
                })
                .detach();
            }
            Proto::Smtp | Proto::Submission | Proto::Smtps => {
                let m = ctx.metrics();
                let over_shard = ctx.open.get() >= ctx.shared.config.smtp.max_connections_per_shard;
                let slot = if over_shard {
                    None
                } else {
                    ctx.shared.per_ip.admit(peer.ip())
                };
                let Some(slot) = slot else {
                    m.connections_refused.fetch_add(1, Ordering::Relaxed);
                    // On the implicit-TLS port a plaintext 421 would be noise: just close.
                    if !matches!(proto, Proto::Smtps) {
                        glommio::spawn_local(refuse(stream, SMTP_BUSY)).detach();
                    }
                    continue;
                };
                m.connections_total.fetch_add(1, Ordering::Relaxed);
                m.connections_open.fetch_add(1, Ordering::Relaxed);
                ctx.open.inc();
                let c = ctx.clone();
                glommio::spawn_local(async move {
                    match proto {
                        Proto::Submission => {
                            crate::smtp::conn::serve_submission(
                                c.clone(),
                                Conn::Plain(stream),
                                peer,
                            )
                            .await
                        }
                        // smtps (RFC 8314 3.3): message submission over implicit TLS.
                        Proto::Smtps => {
                            if let Some(conn) = implicit_tls(&c, stream, true, peer).await {
                                crate::smtp::conn::serve_submission(c.clone(), conn, peer).await;
                            }
                        }
                        _ => crate::smtp::conn::serve(c.clone(), Conn::Plain(stream), peer).await,
                    }
                    c.shared.per_ip.release(slot);
                    c.metrics().connections_open.fetch_sub(1, Ordering::Relaxed);
                    c.open.dec();
                })
                .detach();
            }
            Proto::Imap | Proto::Imaps => {
                let m = &ctx.metrics().imap;
                let over_shard = m.connections_open.load(Ordering::Relaxed) as usize
                    >= ctx.shared.config.imap.max_connections_per_shard;
                let slot = if over_shard {
                    None
                } else {
                    ctx.shared.imap_per_ip.admit(peer.ip())
                };
                let Some(slot) = slot else {
                    m.connections_refused.fetch_add(1, Ordering::Relaxed);
                    // On an implicit-TLS port a plaintext BYE would be noise: just close.
                    if matches!(proto, Proto::Imap) {
                        glommio::spawn_local(refuse(stream, IMAP_BUSY)).detach();
                    }
                    continue;
                };
                m.connections_total.fetch_add(1, Ordering::Relaxed);
                // The session counts itself open where it runs (it may move to another shard) and
                // releases the per-IP slot where it ends.
                let c = ctx.clone();
                let tls = matches!(proto, Proto::Imaps);
                glommio::spawn_local(async move {
                    let Some(conn) = implicit_tls(&c, stream, tls, peer).await else {
                        c.shared.imap_per_ip.release(slot);
                        return;
                    };
                    crate::imap::conn::serve(c, conn, peer, slot).await;
                })
                .detach();
            }
            Proto::Pop3 | Proto::Pop3s => {
                let m = &ctx.metrics().pop3;
                let over_shard = m.connections_open.load(Ordering::Relaxed) as usize
                    >= ctx.shared.config.pop3.max_connections_per_shard;
                let slot = if over_shard {
                    None
                } else {
                    ctx.shared.pop3_per_ip.admit(peer.ip())
                };
                let Some(slot) = slot else {
                    m.connections_refused.fetch_add(1, Ordering::Relaxed);
                    if matches!(proto, Proto::Pop3) {
                        glommio::spawn_local(refuse(stream, POP3_BUSY)).detach();
                    }
                    continue;
                };
                m.connections_total.fetch_add(1, Ordering::Relaxed);
                // Like IMAP: counted open where it runs, the per-IP slot released where it ends.
                let c = ctx.clone();
                let tls = matches!(proto, Proto::Pop3s);
                glommio::spawn_local(async move {
                    let Some(conn) = implicit_tls(&c, stream, tls, peer).await else {
                        c.shared.pop3_per_ip.release(slot);
                        return;
                    };
                    crate::pop3::conn::serve(c, conn, peer, slot).await;
                })
                .detach();
            }
        }
    }
}

/// The connection as the session gets it: as accepted, or after the TLS handshake of an
/// implicit-TLS port (in the connection's own task, so the accept loop never waits on a client).
/// `None`: the handshake failed or timed out (counted in the TLS metrics); the connection is closed.
async fn implicit_tls(
    ctx: &ShardCtx,
    stream: TcpStream,
    tls: bool,
    peer: SocketAddr,
) -> Option<Conn> {
    if !tls {
        return Some(Conn::Plain(stream));
    }
    match ctx.starttls(Conn::Plain(stream)).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::debug!(shard = ctx.id, %peer, error = %e, "implicit TLS handshake failed");
            None
        }
    }
}

const SMTP_BUSY: &[u8] = b"421 4.7.0 Too many connections, try again later\r\n";
/// RFC 9051 7.1.5: a BYE greeting refuses the connection.
const IMAP_BUSY: &[u8] = b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n";
/// RFC 3206 4: `[SYS/TEMP]`, a condition the client may retry.
const POP3_BUSY: &[u8] = b"-ERR [SYS/TEMP] Too many connections, try again later\r\n";
const METRICS_BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Says why and closes; a peer that does not read costs at most a second.
async fn refuse(mut stream: TcpStream, why: &'static [u8]) {
    use futures_lite::AsyncWriteExt;
    let _ = futures_lite::future::or(
        async {
            let _ = stream.write_all(why).await;
            let _ = stream.close().await;
        },
        glommio::timer::sleep(Duration::from_secs(1)),
    )
    .await;
}

/// A minimal HTTP/1.1 responder: `GET /metrics` gives the Prometheus text, anything else 404. The whole
/// exchange is bounded by `metrics.timeout`.
async fn serve_metrics(ctx: &ShardCtx, mut stream: TcpStream) {
    let limit = Duration::from_secs(ctx.shared.config.metrics.timeout);
    let served = futures_lite::future::or(
        async {
            respond_metrics(ctx, &mut stream).await;
            true
        },
        async {
            futures_lite::future::or(glommio::timer::sleep(limit), async {
                ctx.shutdown.reached(Stage::Closing).await;
            })
            .await;
            false
        },
    )
    .await;
    if !served {
        ctx.metrics()
            .metrics_timeouts
            .fetch_add(1, Ordering::Relaxed);
    }
}

async fn respond_metrics(ctx: &ShardCtx, stream: &mut TcpStream) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    let mut have = 0;
    let req_end = loop {
        let n = match stream.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        have += n;
        if let Some(p) = memchr::memmem::find(&buf[..have], b"\r\n\r\n") {
            break p;
        }
        if have == buf.len() {
            return;
        }
    };
    let head = &buf[..req_end];
    let ok = head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?");
    let (status, body) = if ok {
        ctx.shared.refresh_writer_stats().await;
        ("200 OK", metrics::render(&ctx.shared.metrics))
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.close().await;
}
