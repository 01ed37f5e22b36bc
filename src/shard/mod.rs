//! The sharded runtime: one glommio executor per shard, pinned to a CPU, each binding every listener with
//! SO_REUSEPORT and owning its own log and the index of the accounts it owns.
//!
//! Start-up recovers the index from every log (and the snapshot parts) on the main thread, splits it by
//! owner (`hash(account) % shards`) and hands each shard its part. A shard that accepts mail for an
//! account it does not own stores the bytes in its own log and asks the owner, over the mesh, to record
//! the delivery; it answers 250 only when every owner has replied that the delivery is durable.

pub mod deliver;
pub mod mesh;

use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use shardmail_storage::index::Index;
use shardmail_storage::store::{recover, split_index, Logs, Partition};

use crate::accounts::Accounts;
use crate::config::Config;
use crate::metrics::{self, ShardMetrics};
use crate::smtp::session::SessionConfig;
use mesh::{Mesh, ShardMsg};

/// What every shard shares (read-mostly; each shard writes only its own metrics).
pub struct Shared {
    pub config: Config,
    pub shards: usize,
    pub metrics: Vec<ShardMetrics>,
    accounts: RwLock<Arc<Accounts>>,
    pub logs: Arc<Logs>,
    pub mesh: Mesh,
    shutdown: AtomicBool,
    /// Shards whose sessions have all ended; inboxes close only when every shard is drained, so a
    /// session finishing its transaction can still reach every owner.
    drained: AtomicUsize,
    /// Shards whose run has ended (cleanly or not).
    exited: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Shared {
    pub fn accounts(&self) -> Arc<Accounts> {
        self.accounts.read().map(|a| a.clone()).unwrap_or_default()
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    /// Counts a connection from `ip` against the per-IP limit; false if over it.
    fn admit_ip(&self, ip: IpAddr) -> bool {
        let Ok(mut m) = self.per_ip.lock() else {
            return true;
        };
        let n = m.entry(ip).or_default();
        if *n >= self.config.smtp.max_connections_per_ip {
            return false;
        }
        *n += 1;
        true
    }

    fn release_ip(&self, ip: IpAddr) {
        if let Ok(mut m) = self.per_ip.lock() {
            if let Some(n) = m.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        }
    }
}

/// One shard's state, shared by its tasks (single-threaded).
pub struct ShardCtx {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub part: Partition,
    /// The SMTP session settings, built once from the config.
    pub smtp: Arc<SessionConfig>,
    open: Cell<usize>,
    seq: Cell<u64>,
}

impl ShardCtx {
    pub fn metrics(&self) -> &ShardMetrics {
        &self.shared.metrics[self.id]
    }

    /// A message id unique in this data directory: start-up time ordering, shard and a counter.
    pub fn next_message_id(&self, now: i64) -> String {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        format!("{now:X}{:02X}{n:06X}", self.id)
    }

    pub fn owner(&self, account: &str) -> usize {
        shardmail_storage::store::owner_of(account, self.shared.shards as u32) as usize
    }
}

/// Runs the server until SIGTERM/SIGINT (or until `stop` is set), then shuts down gracefully.
pub fn serve(config: Config) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    run(config, stop)
}

/// The server, stopped by setting `stop`.
pub fn run(config: Config, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
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
    let accounts = Accounts::load(&data_dir).context("loading accounts")?;
    let (mesh, inboxes) = Mesh::new(n);
    let shared = Arc::new(Shared {
        shards: n,
        metrics: (0..n).map(|_| ShardMetrics::default()).collect(),
        accounts: RwLock::new(Arc::new(accounts)),
        logs: Arc::new(Logs::new(&data_dir, opts.max_payload(), rec.ends)),
        mesh,
        shutdown: AtomicBool::new(false),
        drained: AtomicUsize::new(0),
        exited: AtomicUsize::new(0),
        per_ip: Mutex::new(HashMap::new()),
        config,
    });
    let generation = rec.generation;
    let parts = split_index(rec.index, n as u32);
    let cpus = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let mut handles = Vec::new();
    for ((k, index), inbox) in parts.into_iter().enumerate().zip(inboxes) {
        let shared = shared.clone();
        let placement = if shared.config.pin {
            Placement::Fixed(k % cpus)
        } else {
            Placement::Unbound
        };
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{k}"))
            .spawn(move || run_shard(k, shared, index, generation, inbox))
            .map_err(|e| anyhow!("starting shard {k}: {e}"))?;
        handles.push(h);
    }
    // The main thread watches for the stop signal and for account changes.
    let watcher_shared = shared.clone();
    let mut seen = Accounts::mtime(&data_dir);
    let mut finished = false;
    while !finished {
        std::thread::sleep(Duration::from_millis(100));
        if stop.load(Ordering::Relaxed) && !watcher_shared.shutting_down() {
            tracing::info!("shutting down: no new connections; sessions finish their transaction");
            watcher_shared.begin_shutdown();
        }
        let m = Accounts::mtime(&data_dir);
        if m != seen {
            seen = m;
            match Accounts::load(&data_dir) {
                Ok(a) => {
                    tracing::info!(accounts = a.len(), "accounts reloaded");
                    if let Ok(mut cur) = watcher_shared.accounts.write() {
                        *cur = Arc::new(a);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "accounts file unreadable; keeping the previous accounts")
                }
            }
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

async fn run_shard(
    k: usize,
    shared: Arc<Shared>,
    index: Index,
    generation: u64,
    inbox: async_channel::Receiver<ShardMsg>,
) -> anyhow::Result<()> {
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
        let smtp = Arc::new(SessionConfig {
            hostname: c.hostname.clone(),
            max_line: c.smtp.max_line,
            max_message_size: c.smtp.max_message_size,
            max_recipients: c.smtp.max_recipients,
            max_errors: c.smtp.max_errors,
        });
        let ctx = Rc::new(ShardCtx {
            id: k,
            shared: shared.clone(),
            part,
            smtp,
            open: Cell::new(0),
            seq: Cell::new(0),
        });
        glommio::spawn_local(deliver::inbox_loop(ctx.clone(), inbox)).detach();
        let mut listeners = Vec::new();
        for addr in &shared.config.smtp.listen {
            let l = TcpListener::bind(addr.as_str())
                .map_err(|e| anyhow!("binding SMTP listener {addr}: {e}"))?;
            listeners.push(glommio::spawn_local(accept_loop(
                ctx.clone(),
                l,
                Proto::Smtp,
            )));
        }
        if k == 0 {
            for addr in &shared.config.metrics.listen {
                let l = TcpListener::bind(addr.as_str())
                    .map_err(|e| anyhow!("binding metrics listener {addr}: {e}"))?;
                listeners.push(glommio::spawn_local(accept_loop(
                    ctx.clone(),
                    l,
                    Proto::Metrics,
                )));
            }
        }
        tracing::info!(shard = k, "ready");
        while !shared.shutting_down() {
            glommio::timer::sleep(Duration::from_millis(50)).await;
            ctx.metrics().set_writer(ctx.part.writer().stats());
        }
        for l in listeners {
            l.await;
        }
        // Sessions finish their transaction, bounded by the shutdown timeout.
        let deadline = Instant::now() + Duration::from_secs(shared.config.shutdown.timeout);
        while ctx.open.get() > 0 && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
        if ctx.open.get() > 0 {
            tracing::warn!(
                shard = k,
                sessions = ctx.open.get(),
                "shutdown timeout: closing sessions still open"
            );
        }
        shared.drained.fetch_add(1, Ordering::SeqCst);
        while shared.drained.load(Ordering::SeqCst) < shared.shards && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        if let Err(e) = ctx.part.snapshot().await {
            tracing::warn!(shard = k, error = %e, "snapshot at shutdown failed; the next start replays more");
        }
        if let Some(tx) = shared.mesh.to.get(k) {
            tx.close();
        }
        // The inbox task and the deliveries it started let go of the shard once the inbox is closed.
        let mut ctx = ctx;
        let ctx = loop {
            match Rc::try_unwrap(ctx) {
                Ok(c) => break c,
                Err(c) if Instant::now() < deadline + Duration::from_secs(5) => {
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

#[derive(Clone, Copy, Debug)]
enum Proto {
    Smtp,
    Metrics,
}

/// Accepts until shutdown; each connection is a task on this shard.
async fn accept_loop(ctx: Rc<ShardCtx>, listener: TcpListener, proto: Proto) {
    let shutdown = {
        let shared = ctx.shared.clone();
        move || {
            let shared = shared.clone();
            async move {
                while !shared.shutting_down() {
                    glommio::timer::sleep(Duration::from_millis(50)).await;
                }
                None
            }
        }
    };
    loop {
        let next =
            futures_lite::future::or(async { Some(listener.accept().await) }, shutdown()).await;
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
                glommio::spawn_local(serve_metrics(ctx.clone(), stream)).detach();
            }
            Proto::Smtp => {
                let m = ctx.metrics();
                let over_shard = ctx.open.get() >= ctx.shared.config.smtp.max_connections_per_shard;
                if over_shard || !ctx.shared.admit_ip(peer.ip()) {
                    // Refused before counting against the IP, or refused by the IP count: nothing to release.
                    m.connections_refused.fetch_add(1, Ordering::Relaxed);
                    glommio::spawn_local(refuse(stream)).detach();
                    continue;
                }
                m.connections_total.fetch_add(1, Ordering::Relaxed);
                m.connections_open.fetch_add(1, Ordering::Relaxed);
                ctx.open.set(ctx.open.get() + 1);
                let c = ctx.clone();
                glommio::spawn_local(async move {
                    crate::smtp::conn::serve(c.clone(), stream, peer).await;
                    c.open.set(c.open.get() - 1);
                    c.metrics().connections_open.fetch_sub(1, Ordering::Relaxed);
                    c.shared.release_ip(peer.ip());
                })
                .detach();
            }
        }
    }
}

async fn refuse(mut stream: TcpStream) {
    use futures_lite::AsyncWriteExt;
    let _ = stream
        .write_all(b"421 4.7.0 Too many connections, try again later\r\n")
        .await;
    let _ = stream.close().await;
}

/// A minimal HTTP/1.1 responder: `GET /metrics` gives the Prometheus text, anything else 404.
async fn serve_metrics(ctx: Rc<ShardCtx>, mut stream: TcpStream) {
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
