//! Failed logins per client address, across all shards without a lock: each failure makes the next
//! failure's answer from that address wait longer (doubling from a base up to a cap), so password
//! guessing is slow even when its connections land on different shards. Forgotten after a quiet
//! period, and reset by a successful login from the address.
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
/// Failures are forgotten this long after an address's last one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Low bits of a slot: milliseconds since `epoch` of the last failure; high bits: the count.
const TIME_BITS: u32 = 48;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

pub struct LoginDelay {
    slots: Box<[AtomicU64]>,
    keys: RandomState,
    epoch: Instant,
    base: Duration,
    max: Duration,
}

impl LoginDelay {
    pub fn new(base: Duration, max: Duration) -> LoginDelay {
        LoginDelay {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            keys: RandomState::new(),
            epoch: Instant::now(),
            base,
            max,
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
        let count = v >> TIME_BITS;
        if count == 0 || self.millis(now).saturating_sub(last) > FORGET_AFTER.as_millis() as u64 {
            0
        } else {
            count
        }
    }

    /// Counts a failed login from `ip`; returns how long to wait before answering it.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Duration {
        let slot = &self.slots[self.index(ip)];
        let t = self.millis(now);
        let mut n = 0;
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            n = (self.live(v, now) + 1).min(u16::MAX as u64);
            Some((n << TIME_BITS) | t)
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
}
