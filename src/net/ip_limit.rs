//! The per-IP connection limit across all shards without a lock: a fixed table of atomic counters
//! indexed by a keyed hash of the address.
//!
//! Trade-offs: two addresses that hash to one slot share a count, so the limit can only become stricter
//! for them, never looser. With 65,536 slots and a hash keyed at random per process (an attacker cannot
//! choose addresses that collide with a victim's), a given address shares its slot with another active
//! one with probability about (active addresses / 65,536). Sixteen counters share a cache line, so two
//! shards accepting from different addresses can still bounce a line between cores; that costs one
//! cache miss per accept and release, where the mutex it replaces serialized every accept of every
//! shard. Padding each counter to a line would take 4 MiB for no measurable gain at accept rates.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};

const SLOTS: usize = 1 << 16;

pub struct IpLimit {
    slots: Box<[AtomicU32]>,
    keys: RandomState,
    limit: u32,
}

/// A counted connection; hand it back to [`IpLimit::release`] when the connection ends.
#[derive(Debug)]
#[must_use = "a slot that is never released keeps counting against the address"]
pub struct Slot(usize);

impl IpLimit {
    pub fn new(limit: usize) -> IpLimit {
        IpLimit {
            slots: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            keys: RandomState::new(),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        }
    }

    fn index(&self, ip: IpAddr) -> usize {
        // An IPv4 peer seen on a dual-stack socket counts as the same address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        (self.keys.hash_one(ip) as usize) & (SLOTS - 1)
    }

    /// Counts a connection from `ip`; `None` when that would exceed the limit.
    pub fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let i = self.index(ip);
        let prev = self.slots[i].fetch_add(1, Ordering::AcqRel);
        if prev >= self.limit {
            self.slots[i].fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(i))
    }

    pub fn release(&self, slot: Slot) {
        self.slots[slot.0].fetch_sub(1, Ordering::AcqRel);
    }

    /// Connections counted against `ip`'s slot now.
    pub fn count(&self, ip: IpAddr) -> u32 {
        self.slots[self.index(ip)].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_limit_holds_across_threads_and_release_gives_room_back() {
        let l = Arc::new(IpLimit::new(100));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let admitted: Vec<Vec<Slot>> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let l = l.clone();
                    sc.spawn(move || (0..60).filter_map(|_| l.admit(ip)).collect::<Vec<_>>())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let n: usize = admitted.iter().map(Vec::len).sum();
        assert_eq!(
            n, 100,
            "exactly the limit is admitted from 240 tries on 4 threads"
        );
        assert_eq!(l.count(ip), 100);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert!(
            l.admit(mapped).is_none(),
            "the v4-mapped form is the same address"
        );
        for s in admitted.into_iter().flatten() {
            l.release(s);
        }
        assert_eq!(l.count(ip), 0);
        assert!(l.admit(ip).is_some());
    }
}
