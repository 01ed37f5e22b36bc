//! Password checks (argon2id, tens of milliseconds of CPU and ~19 MiB each) on a few side threads, so
//! a shard's other sessions never wait behind a login. A shard sends the job and awaits the answer;
//! the threads end when the verifier is dropped.
//!
//! The threads are not pinned: with shards pinned one per core, the kernel puts a check wherever a
//! core has room, and a burst of logins queues here (bounded by the thread count) instead of
//! taking every shard's CPU at once.
//!
//! Each thread keeps one argon2 memory area and reuses it: allocated per check, the 19 MiB blocks
//! stayed in the allocator's per-thread heaps (the server's malloc keeps freed memory, `crate::mem`),
//! and a few dozen logins grew the server by ~400 MB. A name without an account is checked against a
//! fixed hash, so the answer takes as long as for a wrong password (no account-existence oracle).
//!
//! A success is remembered for a while ([`AuthCache`]): the same user name and password again answer
//! on the shard at once, without a check (see `net::auth_cache` for what is kept and the trade-off).

use std::sync::Arc;
use std::time::Instant;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::auth_cache::{AuthCache, Tag};
use crate::accounts::{normalize, Accounts};

/// A hash of a random password with the default parameters, for names without an account.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2hhcmRtYWlsZHVtbXlzYWx0$0W5Qn1Ynl5cOv7A5YxCU2Q6cOHoQ0EX4uV1T1pDyA5c";

struct Job {
    accounts: Arc<Accounts>,
    user: String,
    password: String,
    /// The login's cache tag, when the cache is on: a success is put there.
    tag: Option<Tag>,
    reply: async_channel::Sender<Option<String>>,
}

/// Checks `password` against a PHC-format argon2 hash, computing into `memory` (grown as needed and
/// kept for the next check).
fn check(hash: &str, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = [0u8; 64];
    let want = expected.as_bytes();
    let Some(out) = out.get_mut(..want.len()) else {
        return false;
    };
    let a = Argon2::new(algorithm, version, params);
    if a.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    // Constant time in the position of the first difference.
    out.iter().zip(want).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

pub struct Verifier {
    jobs: async_channel::Sender<Job>,
    cache: Arc<AuthCache>,
}

impl Verifier {
    /// Starts `threads` verifying threads (at least one), remembering successes in `cache`.
    pub fn new(threads: usize, cache: AuthCache) -> std::io::Result<Verifier> {
        let (jobs, queue) = async_channel::unbounded::<Job>();
        let cache = Arc::new(cache);
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let cache = cache.clone();
            std::thread::Builder::new()
                .name(format!("verify-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    while let Ok(job) = queue.recv_blocking() {
                        let account = normalize(&job.user).ok();
                        let hash = account.as_deref().and_then(|a| job.accounts.hash_of(a));
                        let ok = check(hash.unwrap_or(DUMMY), job.password.as_bytes(), &mut memory);
                        let verdict = (ok && hash.is_some()).then_some(account).flatten();
                        if let (Some(tag), Some(a), Some(h)) = (job.tag, &verdict, hash) {
                            cache.put(tag, a.clone(), h, Instant::now());
                        }
                        let _ = job.reply.try_send(verdict);
                    }
                })?;
        }
        Ok(Verifier { jobs, cache })
    }

    /// The account `user` names when `password` is its password; `None` otherwise (no such account,
    /// a wrong password, or the verifier stopped). A recent success answers from the cache, here.
    pub async fn verify(
        &self,
        accounts: Arc<Accounts>,
        user: String,
        password: String,
    ) -> Option<String> {
        let tag = self
            .cache
            .enabled()
            .then(|| self.cache.tag(&user, &password));
        if let Some(account) = tag.and_then(|t| self.cache.get(&t, &accounts, Instant::now())) {
            return Some(account);
        }
        let (reply, answer) = async_channel::bounded(1);
        let job = Job {
            accounts,
            user,
            password,
            tag,
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
    fn the_dummy_hash_costs_a_real_check_and_matches_nothing() {
        let parsed = PasswordHash::new(DUMMY).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(params.m_cost(), Params::DEFAULT_M_COST);
        assert_eq!(params.t_cost(), Params::DEFAULT_T_COST);
        let mut memory = Vec::new();
        assert!(!check(DUMMY, b"", &mut memory));
        assert!(!check(DUMMY, b"secret", &mut memory));
        assert_eq!(
            memory.len(),
            params.block_count(),
            "the whole memory was used"
        );
        assert!(!check("$argon2id$v=19$garbage", b"x", &mut memory));
    }

    #[test]
    fn checks_run_off_the_executor_which_keeps_serving_its_timers() {
        let dir = tempfile::tempdir().unwrap();
        crate::accounts::create_data_dir(dir.path()).unwrap();
        Accounts::add(dir.path(), "Alice@Example.Test", "s3cret").unwrap();
        let accounts = Arc::new(Accounts::load(dir.path()).unwrap());
        let v = Arc::new(Verifier::new(2, AuthCache::off()).unwrap());
        let (answers, ticks_in_flight, checks) = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                // A timer task counts the 1 ms ticks the executor serves while a check is in
                // flight. A check run on the executor would block it for the whole check, so no tick
                // could happen while one is in flight; counting (rather than timing a tick against a
                // check) keeps the test exact on a loaded machine.
                let stop = std::rc::Rc::new(std::cell::Cell::new(false));
                let in_flight = std::rc::Rc::new(std::cell::Cell::new(false));
                let (s2, f2) = (stop.clone(), in_flight.clone());
                let ticker = glommio::spawn_local(async move {
                    let mut ticks = 0u32;
                    while !s2.get() {
                        glommio::timer::sleep(Duration::from_millis(1)).await;
                        if f2.get() {
                            ticks += 1;
                        }
                    }
                    ticks
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
                    in_flight.set(true);
                    answers.push(v.verify(accounts.clone(), u.into(), p.into()).await);
                    in_flight.set(false);
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
        eprintln!(
            "fastest argon2id check {checks:?}; 1 ms ticks served during checks: {ticks_in_flight}"
        );
        assert!(
            ticks_in_flight > 0,
            "the executor served no timer while checks ran"
        );
    }

    #[test]
    fn a_success_answers_from_the_cache_and_a_failure_is_never_cached() {
        let dir = tempfile::tempdir().unwrap();
        crate::accounts::create_data_dir(dir.path()).unwrap();
        Accounts::add(dir.path(), "alice@example.test", "s3cret").unwrap();
        let accounts = Arc::new(Accounts::load(dir.path()).unwrap());
        let cache = AuthCache::new(Duration::from_secs(60), 100);
        let v = Verifier::new(1, cache).unwrap();
        let (first, wrong, after_stop, wrong_after_stop, entries) =
            glommio::LocalExecutorBuilder::default()
                .spawn(move || async move {
                    let a = || accounts.clone();
                    let first = v
                        .verify(a(), "alice@example.test".into(), "s3cret".into())
                        .await;
                    let wrong = v
                        .verify(a(), "alice@example.test".into(), "nope".into())
                        .await;
                    let entries = v.cache.len();
                    // With the checking threads gone, only the cache can answer.
                    v.jobs.close();
                    let after_stop = v
                        .verify(a(), "alice@example.test".into(), "s3cret".into())
                        .await;
                    let wrong_after_stop = v
                        .verify(a(), "alice@example.test".into(), "nope".into())
                        .await;
                    (first, wrong, after_stop, wrong_after_stop, entries)
                })
                .unwrap()
                .join()
                .unwrap();
        let alice = Some("alice@example.test".to_string());
        assert_eq!(first, alice);
        assert_eq!(wrong, None);
        assert_eq!(entries, 1, "only the success was kept");
        assert_eq!(after_stop, alice, "the second login came from the cache");
        assert_eq!(wrong_after_stop, None);
    }
}
