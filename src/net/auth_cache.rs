//! A cache of recently verified logins, so a client that logs in again and again with the same
//! password (a POP3 client polling every few minutes, a phone opening IMAP sessions) does not pay an
//! argon2id check each time: the idea of Dovecot's `auth_cache`.
//!
//! What is kept, and the security trade-off (documented in the README):
//! - Only successes. A wrong password is never cached, so guessing still costs an argon2id check per
//!   attempt (and the per-address delay of `net::login_delay`).
//! - The key of an entry is a keyed BLAKE2b-256 tag of the user name and password, under a random key
//!   made at start and never written anywhere; the password itself is not kept. The value is the
//!   account and its stored argon2id hash when it was verified.
//! - An entry answers only while the account's stored hash is the same one: a password change or a
//!   deleted account (both reload `Accounts`) takes effect at the next login, not after the TTL.
//! - The trade-off: someone who can read the server's memory gets the key and, for cached logins,
//!   tags that are fast to test offline (BLAKE2b instead of argon2id). Memory readers get much more
//!   than that anyway (mail, sessions), but an operator who wants none of it sets the TTL to 0.
//!   A cached login also answers faster than an uncached one; that tells a client only that the
//!   password it already knows is right.
//!
//! Shards share the cache (a client's next connection may land on another shard). It is split into
//! stripes, each its own lock, held for a hash-map lookup: no global lock, and contention only when
//! two shards touch one stripe at the same instant.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};

use crate::accounts::Accounts;

type Keyed = blake2::Blake2bMac<U32>;

/// What identifies one (user name, password) pair in the cache.
pub type Tag = [u8; 32];

const STRIPES: usize = 16;

struct Entry {
    account: String,
    /// The account's stored hash when the password was checked.
    hash: Box<str>,
    until: Instant,
}

pub struct AuthCache {
    /// Keyed with a random key (RFC 7693 2.5: BLAKE2 as a MAC).
    mac: Keyed,
    ttl: Duration,
    per_stripe: usize,
    stripes: Vec<Mutex<HashMap<Tag, Entry>>>,
}

impl AuthCache {
    /// A cache keeping a success for `ttl`, at most about `size` of them; either 0 turns it off.
    pub fn new(ttl: Duration, size: usize) -> AuthCache {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let mac = <Keyed as KeyInit>::new_from_slice(&key)
            .expect("a 32-byte key is within BLAKE2b's 64-byte limit");
        let on = !ttl.is_zero() && size > 0;
        AuthCache {
            mac,
            ttl,
            per_stripe: size.div_ceil(STRIPES),
            stripes: match on {
                true => (0..STRIPES).map(|_| Mutex::default()).collect(),
                false => Vec::new(),
            },
        }
    }

    /// A cache that keeps nothing.
    pub fn off() -> AuthCache {
        AuthCache::new(Duration::ZERO, 0)
    }

    pub fn enabled(&self) -> bool {
        !self.stripes.is_empty()
    }

    /// The tag of a login attempt. Lengths go in first, so no two pairs share an input.
    pub fn tag(&self, user: &str, password: &str) -> Tag {
        let mut m = self.mac.clone();
        m.update(&(user.len() as u64).to_le_bytes());
        m.update(user.as_bytes());
        m.update(&(password.len() as u64).to_le_bytes());
        m.update(password.as_bytes());
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&m.finalize().into_bytes());
        tag
    }

    fn stripe(&self, tag: &Tag) -> Option<&Mutex<HashMap<Tag, Entry>>> {
        self.stripes.get(usize::from(tag[0]) % STRIPES.max(1))
    }

    /// The account a cached success for `tag` names, if it is fresh and the account's password has
    /// not changed since (per `accounts`, the directory in force now).
    pub fn get(&self, tag: &Tag, accounts: &Accounts, now: Instant) -> Option<String> {
        // A poisoned stripe (a panic while it was held) is a miss: the check runs as without a cache.
        let mut map = self.stripe(tag)?.lock().ok()?;
        let e = map.get(tag)?;
        if e.until > now && accounts.hash_of(&e.account) == Some(&*e.hash) {
            return Some(e.account.clone());
        }
        map.remove(tag);
        None
    }

    /// Remembers that `tag` was verified for `account`, whose stored hash was `hash`.
    pub fn put(&self, tag: Tag, account: String, hash: &str, now: Instant) {
        let Some(Ok(mut map)) = self.stripe(&tag).map(|s| s.lock()) else {
            return;
        };
        if map.len() >= self.per_stripe && !map.contains_key(&tag) {
            map.retain(|_, e| e.until > now);
            if map.len() >= self.per_stripe {
                // Full of fresh entries: the one closest to expiring makes room.
                let oldest = map.iter().min_by_key(|(_, e)| e.until).map(|(t, _)| *t);
                if let Some(t) = oldest {
                    map.remove(&t);
                }
            }
        }
        map.insert(
            tag,
            Entry {
                account,
                hash: hash.into(),
                until: now + self.ttl,
            },
        );
    }

    /// Entries held now (fresh or not yet pruned).
    pub fn len(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(dir: &std::path::Path, pairs: &[(&str, &str)]) -> Accounts {
        for (a, p) in pairs {
            Accounts::add(dir, a, p).unwrap();
        }
        Accounts::load(dir).unwrap()
    }

    #[test]
    fn a_success_is_kept_until_its_ttl_or_a_password_change() {
        let dir = tempfile::tempdir().unwrap();
        crate::accounts::create_data_dir(dir.path()).unwrap();
        let a = accounts(dir.path(), &[("alice@example.test", "one")]);
        let c = AuthCache::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        let tag = c.tag("alice@example.test", "one");
        assert_eq!(c.get(&tag, &a, t0), None, "nothing cached yet");
        let hash = a.hash_of("alice@example.test").unwrap().to_string();
        c.put(tag, "alice@example.test".into(), &hash, t0);
        assert_eq!(
            c.get(&tag, &a, t0 + Duration::from_secs(59)).as_deref(),
            Some("alice@example.test")
        );
        // Another password, or another spelling of the pair, is another tag.
        assert_eq!(c.get(&c.tag("alice@example.test", "two"), &a, t0), None);
        assert_eq!(c.get(&c.tag("alice@example.teston", "e"), &a, t0), None);
        // Past the TTL: gone (and removed).
        assert_eq!(c.get(&tag, &a, t0 + Duration::from_secs(60)), None);
        assert!(c.is_empty());
        // A new password (a new stored hash) makes the old entry useless at once.
        c.put(tag, "alice@example.test".into(), &hash, t0);
        Accounts::delete(dir.path(), "alice@example.test").unwrap();
        let a2 = accounts(dir.path(), &[("alice@example.test", "two")]);
        assert_eq!(c.get(&tag, &a2, t0), None);
        // And a deleted account.
        c.put(tag, "alice@example.test".into(), &hash, t0);
        Accounts::delete(dir.path(), "alice@example.test").unwrap();
        let none = Accounts::load(dir.path()).unwrap();
        assert_eq!(c.get(&tag, &none, t0), None);
    }

    #[test]
    fn the_cache_stays_within_its_size_and_can_be_off() {
        let c = AuthCache::new(Duration::from_secs(60), 32);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let tag = c.tag(&format!("u{i}"), "p");
            c.put(
                tag,
                format!("u{i}"),
                "$h",
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert!(c.len() <= 32, "{} entries", c.len());
        let off = AuthCache::off();
        assert!(!off.enabled());
        let tag = off.tag("u", "p");
        off.put(tag, "u".into(), "$h", t0);
        assert!(off.is_empty());
        // Keys are random per cache: tags of one cache mean nothing to another.
        assert_ne!(c.tag("u", "p"), AuthCache::off().tag("u", "p"));
    }
}
