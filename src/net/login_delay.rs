//! Failed logins per client address, across all shards without a lock: each failure makes the next
//! failure's answer from that address wait longer (doubling from a base up to a cap), and after
//! `block_after` failures in a row the address is refused without a password check for
//! `block_for` (issue 12), so password guessing is slow even when its connections land on
//! different shards. Forgotten after a quiet period, and reset by a successful login from the
//! address.
//!
//! An attempt is counted when it starts ([`LoginDelay::attempt`]), in the same atomic step that
//! checks the block, and the address is blocked once `block_after` attempts are counted and at
//! least one of them failed: after a first wrong password, many connections from one address
//! verifying at once cannot get more than `block_after` guesses past the block. Before any
//! failure nothing is blocked, so a client (or a NAT) opening many sessions at once with the right
//! password is never refused; the guesses of a first parallel wave are bounded by the per-address
//! connection limit instead. A success takes the count back to zero.
//!
//! Like `ip_limit`, a fixed table of atomics indexed by a keyed hash: two addresses sharing a slot
//! share a count (stricter for both, never looser). IPv6 clients are counted per /64, the block one
//! subscriber usually holds, so walking through one's own addresses does not escape the count.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SLOTS: usize = 1 << 14;
/// Failures are forgotten this long after an address's last one (or after its block, if longer).
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Low bits of a slot: milliseconds since `epoch` of the last attempt; then the count of attempts
/// since the last success (15 bits); the top bit: one of them failed.
const TIME_BITS: u32 = 48;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;
const COUNT_MAX: u64 = (1 << 15) - 1;
const FAILED: u64 = 1 << 63;

pub struct LoginDelay {
    slots: Box<[AtomicU64]>,
    keys: RandomState,
    epoch: Instant,
    base: Duration,
    max: Duration,
    /// Failures in a row that block the address; 0: never blocked.
    block_after: u64,
    block_for: Duration,
    forget_after_ms: u64,
}

/// An address refused without a check ([`LoginDelay::attempt`]): too many failures in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// When the block ends if no other attempt is counted meanwhile.
    pub retry_after: Duration,
}

impl LoginDelay {
    /// Growing delays only, never a block.
    pub fn new(base: Duration, max: Duration) -> LoginDelay {
        LoginDelay::with_block(base, max, 0, Duration::ZERO)
    }

    /// Growing delays, and a block of `block_for` once `block_after` failures in a row were counted
    /// (`block_after` 0: never).
    pub fn with_block(
        base: Duration,
        max: Duration,
        block_after: u64,
        block_for: Duration,
    ) -> LoginDelay {
        let forget = FORGET_AFTER.max(block_for);
        LoginDelay {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            keys: RandomState::new(),
            epoch: Instant::now(),
            base,
            max,
            block_after,
            block_for,
            forget_after_ms: u64::try_from(forget.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn index(&self, ip: IpAddr) -> usize {
        let key: u128 = match ip {
            IpAddr::V4(v4) => u32::from(v4) as u128,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => u32::from(v4) as u128,
                // The /64 (a marker bit keeps it apart from every IPv4 key).
                None => (u128::from(v6) >> 64) | (1 << 64),
            },
        };
        (self.keys.hash_one(key) as usize) & (SLOTS - 1)
    }

    fn millis(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_millis() as u64) & TIME_MASK
    }

    /// Recent failures from `ip` at `now` (0 once forgotten).
    pub fn failures(&self, ip: IpAddr, now: Instant) -> u64 {
        self.live(self.slots[self.index(ip)].load(Ordering::Relaxed), now)
    }

    fn live(&self, v: u64, now: Instant) -> u64 {
        let last = v & TIME_MASK;
        let count = (v >> TIME_BITS) & COUNT_MAX;
        if count == 0 || self.millis(now).saturating_sub(last) > self.forget_after_ms {
            0
        } else {
            count
        }
    }

    /// The block a slot value means at `now`, if any.
    fn block_of(&self, v: u64, now: Instant) -> Option<Blocked> {
        if self.block_after == 0 || v & FAILED == 0 || self.live(v, now) < self.block_after {
            return None;
        }
        let since = Duration::from_millis(self.millis(now).saturating_sub(v & TIME_MASK));
        let left = self.block_for.checked_sub(since)?;
        (!left.is_zero()).then_some(Blocked { retry_after: left })
    }

    /// Whether `ip` is blocked at `now` (without counting anything).
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Blocked> {
        self.block_of(self.slots[self.index(ip)].load(Ordering::Relaxed), now)
    }

    /// A login from `ip` is about to be verified: counts it until [`LoginDelay::succeeded`] says
    /// otherwise (a failure is reported with [`LoginDelay::failure`]), and returns its number since
    /// the last success; or refuses it, uncounted, while the address is blocked. Check and count
    /// are one atomic step.
    pub fn attempt(&self, ip: IpAddr, now: Instant) -> Result<u64, Blocked> {
        let slot = &self.slots[self.index(ip)];
        let t = self.millis(now);
        let mut n = 0;
        let mut blocked = None;
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            if let Some(b) = self.block_of(v, now) {
                blocked = Some(b);
                return None;
            }
            blocked = None;
            let live = self.live(v, now);
            n = (live + 1).min(COUNT_MAX);
            let failed = if live > 0 { v & FAILED } else { 0 };
            Some(failed | (n << TIME_BITS) | t)
        });
        match blocked {
            Some(b) => Err(b),
            None => Ok(n),
        }
    }

    /// An attempt counted by [`LoginDelay::attempt`] failed: marks the run as failing (from now on
    /// the count can block) and returns how many attempts it holds, for [`LoginDelay::delay_for`].
    pub fn failure(&self, ip: IpAddr, now: Instant) -> u64 {
        let slot = &self.slots[self.index(ip)];
        let t = self.millis(now);
        let mut n = 0;
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            // A success from another session may have reset the count since this attempt began.
            n = self.live(v, now).max(1);
            Some(FAILED | (n << TIME_BITS) | t)
        });
        n
    }

    /// Counts a failed login from `ip` that [`LoginDelay::attempt`] did not count; returns how long
    /// to wait before answering it.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Duration {
        let slot = &self.slots[self.index(ip)];
        let t = self.millis(now);
        let mut n = 0;
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            n = (self.live(v, now) + 1).min(COUNT_MAX);
            Some(FAILED | (n << TIME_BITS) | t)
        });
        self.delay_for(n)
    }

    /// The wait after the `n`th failure in a row: none for none, then base, 2 x base, 4 x base, ...
    pub fn delay_for(&self, n: u64) -> Duration {
        if n == 0 {
            return Duration::ZERO;
        }
        let shift = (n - 1).min(30) as u32;
        self.base.saturating_mul(1 << shift).min(self.max)
    }

    /// A login from `ip` succeeded: its failures are forgotten.
    pub fn succeeded(&self, ip: IpAddr) {
        self.slots[self.index(ip)].store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_delay_doubles_per_failure_up_to_the_cap_and_success_resets_it() {
        let d = LoginDelay::new(ms(100), ms(1000));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "198.51.100.9".parse().unwrap();
        let now = Instant::now();
        let waits: Vec<Duration> = (0..6).map(|_| d.failed(ip, now)).collect();
        assert_eq!(
            waits,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(d.failures(ip, now), 6);
        assert_eq!(
            d.failures(other, now),
            0,
            "another address has its own count"
        );
        d.succeeded(ip);
        assert_eq!(d.failures(ip, now), 0);
        assert_eq!(d.failed(ip, now), ms(100));
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_period() {
        let d = LoginDelay::new(ms(100), ms(1000));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        d.failed(ip, t0);
        d.failed(ip, t0);
        assert_eq!(d.failures(ip, t0 + FORGET_AFTER - ms(10)), 2);
        let later = t0 + FORGET_AFTER + ms(10);
        assert_eq!(d.failures(ip, later), 0);
        assert_eq!(d.failed(ip, later), ms(100), "counting starts again");
    }

    #[test]
    fn ipv6_counts_per_64_and_v4_mapped_is_v4() {
        let d = LoginDelay::new(ms(10), ms(1000));
        let now = Instant::now();
        d.failed("2001:db8:1:2::1".parse().unwrap(), now);
        d.failed("2001:db8:1:2:ffff::7".parse().unwrap(), now);
        assert_eq!(d.failures("2001:db8:1:2::99".parse().unwrap(), now), 2);
        d.failed("192.0.2.5".parse().unwrap(), now);
        assert_eq!(d.failures("::ffff:192.0.2.5".parse().unwrap(), now), 1);
    }

    #[test]
    fn failures_from_many_threads_all_count() {
        let d = Arc::new(LoginDelay::new(ms(1), ms(1)));
        let ip: IpAddr = "203.0.113.3".parse().unwrap();
        let now = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..4 {
                let d = d.clone();
                s.spawn(move || {
                    for _ in 0..250 {
                        d.failed(ip, now);
                    }
                });
            }
        });
        assert_eq!(d.failures(ip, now), 1000);
    }

    #[test]
    fn attempts_count_until_success_and_block_after_the_configured_run() {
        let d = LoginDelay::with_block(ms(100), ms(1000), 3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "198.51.100.9".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(d.attempt(ip, t0), Ok(1));
        d.succeeded(ip);
        assert_eq!(d.attempt(ip, t0), Ok(1), "a success starts the count again");
        assert_eq!(d.failure(ip, t0), 1);
        assert_eq!(d.attempt(ip, t0), Ok(2));
        assert_eq!(d.failure(ip, t0), 2);
        assert_eq!(d.delay_for(2), ms(200));
        assert_eq!(d.attempt(ip, t0 + ms(1000)), Ok(3));
        assert_eq!(d.failure(ip, t0 + ms(1000)), 3);
        // Three failures in a row: blocked for 60 s from the last one, uncounted meanwhile.
        let b = d
            .attempt(ip, t0 + ms(1500))
            .expect_err("the 4th attempt is blocked");
        assert_eq!(b.retry_after, Duration::from_secs(60) - ms(500));
        assert_eq!(
            d.failures(ip, t0 + ms(1500)),
            3,
            "a blocked attempt is not counted"
        );
        assert!(d.blocked(ip, t0 + ms(60_999)).is_some());
        assert_eq!(
            d.attempt(other, t0),
            Ok(1),
            "another address is not blocked"
        );
        // The block ends; the next attempt is checked (and one more failure blocks again).
        let after = t0 + ms(61_000);
        assert_eq!(d.blocked(ip, after), None);
        assert_eq!(d.attempt(ip, after), Ok(4));
        assert!(d.attempt(ip, after + ms(1)).is_err());
        d.succeeded(ip);
        assert_eq!(
            d.attempt(ip, after + ms(2)),
            Ok(1),
            "a success lifts the block"
        );
    }

    #[test]
    fn without_block_after_nothing_is_blocked() {
        let d = LoginDelay::new(ms(1), ms(1));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        for i in 1..=100 {
            assert_eq!(d.attempt(ip, now), Ok(i));
        }
    }

    #[test]
    fn a_block_longer_than_the_forget_period_is_kept_whole() {
        let long = FORGET_AFTER * 2;
        let d = LoginDelay::with_block(ms(1), ms(1), 1, long);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(d.attempt(ip, t0), Ok(1));
        assert_eq!(d.failure(ip, t0), 1);
        assert!(d.blocked(ip, t0 + FORGET_AFTER + ms(10)).is_some());
        assert!(d.blocked(ip, t0 + long + ms(10)).is_none());
    }

    /// 400 attempts from `ip` at once on 4 threads (standing in for shards): how many passed.
    fn at_once(d: &Arc<LoginDelay>, ip: IpAddr, now: Instant) -> usize {
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let d = d.clone();
                    s.spawn(move || (0..100).filter(|_| d.attempt(ip, now).is_ok()).count())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        })
    }

    #[test]
    fn after_a_failure_parallel_attempts_cannot_pass_the_block() {
        // Threads stand in for shards: one wrong password, then 400 attempts from the address at
        // once, a block after 5: only 4 more are let through to a password check.
        let d = Arc::new(LoginDelay::with_block(
            ms(1),
            ms(1),
            5,
            Duration::from_secs(60),
        ));
        let ip: IpAddr = "203.0.113.3".parse().unwrap();
        let now = Instant::now();
        assert_eq!(d.attempt(ip, now), Ok(1));
        assert_eq!(d.failure(ip, now), 1);
        let passed = at_once(&d, ip, now);
        assert_eq!(passed, 4, "block_after attempts in all were let through");
    }

    /// Many sessions from one address (a busy client, a NAT) logging in at once with the right
    /// password: none is refused, however many are in flight, and their successes reset the count.
    #[test]
    fn many_right_logins_at_once_are_never_blocked() {
        let d = Arc::new(LoginDelay::with_block(
            ms(1),
            ms(1),
            5,
            Duration::from_secs(60),
        ));
        let ip: IpAddr = "203.0.113.4".parse().unwrap();
        let now = Instant::now();
        let passed = at_once(&d, ip, now);
        assert_eq!(passed, 400, "no failure yet: nothing is blocked");
        d.succeeded(ip);
        assert_eq!(d.failures(ip, now), 0);
        // Once one of them fails, the in-flight count makes the block reachable again.
        assert_eq!(d.attempt(ip, now), Ok(1));
        assert_eq!(d.failure(ip, now), 1);
        for _ in 0..4 {
            assert!(d.attempt(ip, now).is_ok());
        }
        assert!(d.attempt(ip, now).is_err());
    }
}
