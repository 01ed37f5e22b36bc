//! Thread-per-core driver: one glommio executor per thread, connections spread over them; a shared stop
//! flag (count reached, duration over, Ctrl-C) and live counters for the progress bar.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::stats::Stats;

/// Shared by every connection of a run.
pub struct Shared {
    pub start: Instant,
    stop: AtomicBool,
    /// Ctrl-C: stop at once, without draining what is in flight.
    interrupted: AtomicBool,
    /// Operations still to start when the run is bounded by count (i64::MAX otherwise).
    budget: AtomicI64,
    pub done: AtomicU64,
    pub errors: AtomicU64,
    pub deadline: Option<Instant>,
}

impl Shared {
    pub fn new(count: Option<u64>, duration: Option<Duration>) -> Arc<Shared> {
        let start = Instant::now();
        Arc::new(Shared {
            start,
            stop: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            budget: AtomicI64::new(count.map_or(i64::MAX, |c| c.min(i64::MAX as u64) as i64)),
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            deadline: duration.map(|d| start + d),
        })
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }

    /// Stops the run at once (Ctrl-C).
    pub fn interrupt(&self) {
        self.interrupted.store(true, Relaxed);
        self.stop();
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Relaxed)
    }

    /// Claims one operation; false once the count is used up or the run is stopping.
    pub fn claim(&self) -> bool {
        if self.stopped() {
            return false;
        }
        if self.budget.fetch_sub(1, Relaxed) <= 0 {
            self.stop();
            return false;
        }
        true
    }

    /// Gives an unstarted claim back (the connection failed before using it).
    pub fn unclaim(&self) {
        self.budget.fetch_add(1, Relaxed);
    }
}

pub struct RunOpts {
    pub threads: usize,
    pub connections: usize,
    pub pin: bool,
    pub progress: bool,
    pub label: String,
}

/// Runs `conn(i, shared)` for every connection i on `threads` executors until all end; shows progress;
/// Ctrl-C stops the run (the summary covers what was done).
pub fn run<F, Fut>(opts: &RunOpts, shared: Arc<Shared>, conn: F) -> anyhow::Result<Stats>
where
    F: Fn(usize, Arc<Shared>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Stats> + 'static,
{
    let interrupted = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut handles = Vec::new();
    for t in 0..opts.threads {
        let mine: Vec<usize> = (0..opts.connections)
            .filter(|c| c % opts.threads == t)
            .collect();
        let shared = shared.clone();
        let conn = conn.clone();
        let placement = if opts.pin {
            Placement::Fixed(t % cpus)
        } else {
            Placement::Unbound
        };
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("loadtest-{t}"))
            .spawn(move || async move {
                let tasks: Vec<_> = mine
                    .into_iter()
                    .map(|c| glommio::spawn_local(conn(c, shared.clone())))
                    .collect();
                let mut total = Stats::default();
                for task in tasks {
                    let s = task.await;
                    total.merge(&s);
                }
                total
            })
            .map_err(|e| anyhow::anyhow!("starting thread {t}: {e}"))?;
        handles.push(h);
    }
    let finished = Arc::new(AtomicU64::new(0));
    let waiter = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let mut total = Stats::default();
            for h in handles {
                if let Ok(s) = h.join() {
                    total.merge(&s);
                }
                finished.fetch_add(1, Relaxed);
            }
            total
        })
    };
    let bar = if opts.progress {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        b.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(b)
    } else {
        None
    };
    let mut last = (Instant::now(), 0u64);
    while finished.load(Relaxed) < opts.threads as u64 {
        std::thread::sleep(Duration::from_millis(250));
        if interrupted.load(Relaxed) {
            shared.interrupt();
        }
        if let Some(b) = &bar {
            let done = shared.done.load(Relaxed);
            let now = Instant::now();
            let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
            last = (now, done);
            b.set_message(format!(
                "{}: {done} done, {rate:.0}/s now, {} errors",
                opts.label,
                shared.errors.load(Relaxed)
            ));
            b.tick();
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    waiter
        .join()
        .map_err(|_| anyhow::anyhow!("a load thread panicked"))
}

/// Sleeps on the executor until `at` (no-op if past).
pub async fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        glommio::timer::sleep(at - now).await;
    }
}

/// Open-loop pacing for one connection: operation k is due at `start + offset + k * interval`.
pub struct Pace {
    next: Instant,
    interval: Duration,
}

impl Pace {
    /// `rate` operations/s shared by `connections`; connection `c` is offset so arrivals interleave.
    pub fn new(start: Instant, rate: f64, connections: usize, c: usize) -> Pace {
        let interval = Duration::from_secs_f64(connections as f64 / rate.max(1e-9));
        let offset = interval.mul_f64(c as f64 / connections.max(1) as f64);
        Pace {
            next: start + offset,
            interval,
        }
    }

    /// Waits for the next due time and returns it (latency is measured from it, so a slow server shows
    /// as latency rather than as silently fewer requests: no coordinated omission).
    pub async fn wait(&mut self) -> Instant {
        let due = self.next;
        self.next += self.interval;
        sleep_until(due).await;
        due
    }
}

/// Counts an error of kind `what` in the connection's stats and in the live counter.
pub fn fail(st: &mut Stats, shared: &Shared, what: impl Into<String>) {
    st.error(what);
    shared.errors.fetch_add(1, Relaxed);
}

/// Connects to `target` (and makes its TLS handshake, if any); on failure counts it, waits `backoff`, and returns None (the caller retries
/// while the run goes on).
pub async fn connect_counted(
    target: &crate::connect::Endpoint,
    timeout: Duration,
    st: &mut Stats,
    shared: &Shared,
    backoff: Duration,
) -> Option<crate::wire::Wire> {
    match target.open(timeout).await {
        Ok(w) => Some(w),
        Err(e) => {
            st.connections_failed += 1;
            fail(st, shared, format!("connect {}", crate::wire::kind(&e)));
            glommio::timer::sleep(backoff).await;
            None
        }
    }
}
