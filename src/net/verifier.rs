//! Password checks (argon2id, tens of milliseconds of CPU and ~19 MiB each) on a few side threads, so
//! a shard's other sessions never wait behind a login. A shard sends the job and awaits the answer;
//! the threads end when the verifier is dropped.
//!
//! The threads are not pinned: with shards pinned one per core, the kernel puts a check wherever a
//! core has room, and a burst of logins queues here (bounded by the thread count) instead of
//! taking every shard's CPU at once.

use std::sync::Arc;

use crate::accounts::{normalize, Accounts};

struct Job {
    accounts: Arc<Accounts>,
    user: String,
    password: String,
    reply: async_channel::Sender<Option<String>>,
}

pub struct Verifier {
    jobs: async_channel::Sender<Job>,
}

impl Verifier {
    /// Starts `threads` verifying threads (at least one).
    pub fn new(threads: usize) -> std::io::Result<Verifier> {
        let (jobs, queue) = async_channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("verify-{i}"))
                .spawn(move || {
                    while let Ok(job) = queue.recv_blocking() {
                        let ok = job.accounts.verify(&job.user, &job.password);
                        let account = ok.then(|| normalize(&job.user).ok()).flatten();
                        let _ = job.reply.try_send(account);
                    }
                })?;
        }
        Ok(Verifier { jobs })
    }

    /// The account `user` names when `password` is its password; `None` otherwise (no such account,
    /// a wrong password, or the verifier stopped).
    pub async fn verify(
        &self,
        accounts: Arc<Accounts>,
        user: String,
        password: String,
    ) -> Option<String> {
        let (reply, answer) = async_channel::bounded(1);
        let job = Job {
            accounts,
            user,
            password,
            reply,
        };
        self.jobs.send(job).await.ok()?;
        answer.recv().await.ok().flatten()
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        self.jobs.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn checks_run_off_the_executor_which_keeps_serving_its_timers() {
        let dir = tempfile::tempdir().unwrap();
        crate::accounts::create_data_dir(dir.path()).unwrap();
        Accounts::add(dir.path(), "Alice@Example.Test", "s3cret").unwrap();
        let accounts = Arc::new(Accounts::load(dir.path()).unwrap());
        let v = Arc::new(Verifier::new(2).unwrap());
        let (answers, worst_tick, checks) = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                // A timer task measures how late the executor serves it while checks run.
                let stop = std::rc::Rc::new(std::cell::Cell::new(false));
                let s2 = stop.clone();
                let ticker = glommio::spawn_local(async move {
                    let mut worst = Duration::ZERO;
                    while !s2.get() {
                        let t = Instant::now();
                        glommio::timer::sleep(Duration::from_millis(1)).await;
                        worst = worst.max(t.elapsed());
                    }
                    worst
                });
                let mut answers = Vec::new();
                let mut checks = Duration::MAX;
                for (u, p) in [
                    ("alice@example.test", "s3cret"),
                    ("ALICE@example.test", "s3cret"),
                    ("alice@example.test", "wrong"),
                    ("nobody@example.test", "s3cret"),
                ] {
                    let t = Instant::now();
                    answers.push(v.verify(accounts.clone(), u.into(), p.into()).await);
                    if u.starts_with("alice") {
                        checks = checks.min(t.elapsed());
                    }
                }
                stop.set(true);
                (answers, ticker.await, checks)
            })
            .unwrap()
            .join()
            .unwrap();
        let alice = Some("alice@example.test".to_string());
        assert_eq!(answers, [alice.clone(), alice, None, None]);
        // Had a check run on the executor, some 1 ms tick would have waited for a whole check.
        eprintln!("fastest argon2id check {checks:?}; worst 1 ms timer tick {worst_tick:?}");
        assert!(worst_tick < checks, "{worst_tick:?} vs {checks:?}");
    }
}
