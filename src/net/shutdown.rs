//! A shard's shutdown signal and open-session count, both awaited rather than polled: an idle connection
//! parks on the signal and costs no wake-up until the shard's stage changes.
//!
//! Stages move forward only: `Running` -> `Draining` (no new connections; sessions between transactions
//! get 421 at once, sessions inside one finish it) -> `Closing` (the grace period is over: every session
//! is closed for real) -> `Done` (the shard is about to close its log; background tasks let go of it).
//! Other shard tasks (snapshots, compaction, queue runners) await the same stages.

use std::cell::Cell;
use std::time::Duration;

use event_listener::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Running,
    Draining,
    Closing,
    Done,
}

/// One shard's shutdown stage (single-threaded; the shard's stop task advances it when the process is
/// told to stop).
pub struct Shutdown {
    stage: Cell<Stage>,
    changed: Event,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            stage: Cell::new(Stage::Running),
            changed: Event::new(),
        }
    }

    pub fn stage(&self) -> Stage {
        self.stage.get()
    }

    /// Moves to `to` (never back) and wakes everything waiting on a stage up to it.
    pub fn advance(&self, to: Stage) {
        if to > self.stage.get() {
            self.stage.set(to);
            self.changed.notify(usize::MAX);
        }
    }

    /// Resolves once the stage is at least `s`.
    pub async fn reached(&self, s: Stage) {
        loop {
            if self.stage.get() >= s {
                return;
            }
            // Listen before the second check so an advance in between is not missed.
            let l = self.changed.listen();
            if self.stage.get() >= s {
                return;
            }
            l.await;
        }
    }

    /// Sleeps for `d` unless the stage reaches `s` first; true when it did (the caller should stop).
    /// Background tasks (snapshot ticks, compaction rounds, filing retries) wait this way.
    pub async fn sleep_unless(&self, d: Duration, s: Stage) -> bool {
        futures_lite::future::or(
            async {
                glommio::timer::sleep(d).await;
                false
            },
            async {
                self.reached(s).await;
                true
            },
        )
        .await
    }
}

/// Sessions open on a shard; `all_closed` resolves when the count is zero.
#[derive(Default)]
pub struct OpenCount {
    n: Cell<usize>,
    zero: Event,
}

impl OpenCount {
    pub fn get(&self) -> usize {
        self.n.get()
    }

    pub fn inc(&self) {
        self.n.set(self.n.get() + 1);
    }

    pub fn dec(&self) {
        let n = self.n.get().saturating_sub(1);
        self.n.set(n);
        if n == 0 {
            self.zero.notify(usize::MAX);
        }
    }

    pub async fn all_closed(&self) {
        loop {
            if self.n.get() == 0 {
                return;
            }
            let l = self.zero.listen();
            if self.n.get() == 0 {
                return;
            }
            l.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn waiters_wake_on_their_stage_only() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let s = Rc::new(Shutdown::new());
                let woke = Rc::new(Cell::new(0));
                let (s2, w2) = (s.clone(), woke.clone());
                let closing = glommio::spawn_local(async move {
                    s2.reached(Stage::Closing).await;
                    w2.set(w2.get() + 1);
                });
                glommio::yield_if_needed().await;
                s.advance(Stage::Draining);
                glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
                assert_eq!(woke.get(), 0, "Draining does not wake a Closing waiter");
                s.advance(Stage::Closing);
                closing.await;
                assert_eq!(woke.get(), 1);
                // Never backwards; an already reached stage resolves at once.
                s.advance(Stage::Running);
                assert_eq!(s.stage(), Stage::Closing);
                s.reached(Stage::Draining).await;

                let open = Rc::new(OpenCount::default());
                open.inc();
                open.inc();
                let (o2, w3) = (open.clone(), woke.clone());
                let waiter = glommio::spawn_local(async move {
                    o2.all_closed().await;
                    w3.set(10);
                });
                open.dec();
                glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
                assert_eq!(woke.get(), 1, "one session is still open");
                open.dec();
                waiter.await;
                assert_eq!(woke.get(), 10);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
