//! The POP3 maildrop over the storage crate (RFC 1939 3, 5, 6): an account's INBOX on its owner
//! shard's `Partition`, frozen when the session enters the TRANSACTION state, and the lock that keeps
//! one POP3 session per maildrop (RFC 1939 4 "exclusive-access lock"; RFC 2449 8.1.2 `[IN-USE]`).
//!
//! - The listing is a `FolderView` taken at open: message numbers and sizes never change during the
//!   session (RFC 1939 5), whatever IMAP does meanwhile.
//! - Bytes are read through the *current* index: a message another session expunged since is gone
//!   (`-ERR`), and one that compaction moved is read from where it is now. The record is a slice of
//!   the log's mmap; nothing is copied.
//! - UPDATE (RFC 1939 6) is one `Expunge` event of every deleted UID still present: one log record,
//!   so after a crash it is all there or not at all, and the call resolves once it is durable.
//! - Unique ids (RFC 1939 7 UIDL) are `UIDVALIDITY.UID` of INBOX, the pair IMAP names a message by
//!   (RFC 9051 2.3.1.1); both are kept by the index, so they survive restarts and shard-count changes.
//!
//! The lock set lives on the owner shard (sessions run where their account lives), so a plain
//! `RefCell<HashSet>` is a lock across every shard. The same goes for the time of each account's last
//! login, which `[LOGIN-DELAY]` (RFC 2449 6.8, 8.1.1) is measured from.
//!
//! UPDATE also drops the deleted messages' parsed summaries from the shard's cache (`imap::summary`)
//! at once, rather than leaving them to be evicted unread.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardmail_storage::index::{self, FolderView, MailboxError};
use shardmail_storage::{Error as StoreError, Kind, RecordRef};

use super::{Entry, MaildropError};
use crate::imap::backend::Locator;
use crate::imap::store::PartitionOf;

/// The maildrop is the INBOX (issue 11).
pub const MAILDROP: &str = "INBOX";

fn from_store(e: StoreError) -> MaildropError {
    match e {
        StoreError::Mailbox(MailboxError::NoFolder(_)) => {
            MaildropError::Unavailable("the account has no INBOX".into())
        }
        e => MaildropError::Unavailable(e.to_string()),
    }
}

/// An account's maildrop as one POP3 session sees it.
pub struct Maildrop<P: PartitionOf> {
    owner: Rc<P>,
    account: String,
    view: FolderView,
}

impl<P: PartitionOf> Maildrop<P> {
    /// Freezes `account`'s INBOX, creating the account's mailboxes on its first use (an account added
    /// by the CLI has none until mail arrives).
    pub async fn open(owner: Rc<P>, account: &str, now: i64) -> Result<Self, MaildropError> {
        let account = index::canonical_account(account);
        let part = owner.partition(&account);
        part.ensure_account(&account, now)
            .await
            .map_err(from_store)?;
        let view = part.view(&account, MAILDROP).map_err(from_store)?;
        Ok(Maildrop {
            owner,
            account,
            view,
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// UPDATE (RFC 1939 6): removes the messages `uids` all at once; resolves once the removal is
    /// durable. Messages another session expunged already are skipped. Returns how many were removed.
    pub async fn expunge_uids(&self, uids: &[u32]) -> Result<usize, MaildropError> {
        if uids.is_empty() {
            return Ok(0);
        }
        let account = &self.account;
        let part = self.owner.partition(account);
        // Where the messages are, for the summary cache, read before they leave the index.
        let positions: Vec<_> = match (self.owner.summaries(), part.view(account, MAILDROP)) {
            (Some(_), Ok(now)) => uids
                .iter()
                .filter_map(|&u| {
                    now.by_uid(u)
                        .map(|(_, m)| Locator([m.log, m.segment, m.offset]))
                })
                .collect(),
            _ => Vec::new(),
        };
        let removed = part
            .execute(|ix| {
                let ev = ix.expunge(account, MAILDROP, uids)?;
                let n = ev
                    .iter()
                    .map(|e| match e {
                        index::Event::Expunge { uids, .. } => uids.len(),
                        _ => 0,
                    })
                    .sum();
                Ok((ev, n))
            })
            .await
            .map_err(from_store)?;
        // Durable: their summaries will not be asked for again. (A copy of a message in another
        // folder shares its position; it is just parsed again at its next FETCH.)
        if let Some(cache) = self.owner.summaries() {
            cache.forget(positions);
        }
        Ok(removed)
    }
}

impl<P: PartitionOf> super::Maildrop for Maildrop<P> {
    type Body = RecordRef;

    fn uidvalidity(&self) -> u32 {
        self.view.status().uidvalidity
    }

    fn listing(&self) -> Vec<Entry> {
        self.view
            .iter()
            .map(|m| Entry {
                uid: m.uid,
                size: u64::from(m.size),
            })
            .collect()
    }

    /// The bytes of `uid` as stored now (a slice of the log's mmap).
    fn body(&self, uid: u32) -> Result<RecordRef, MaildropError> {
        let part = self.owner.partition(&self.account);
        // The current entry, not the frozen one: gone if expunged, moved if compacted.
        let now = part.view(&self.account, MAILDROP).map_err(from_store)?;
        let (_, m) = now.by_uid(uid).ok_or(MaildropError::Gone { uid })?;
        let rec = part.read(m.pos()).map_err(from_store)?;
        if rec.kind() != Kind::MESSAGE {
            return Err(MaildropError::Unavailable(format!(
                "uid {uid} does not point at a message"
            )));
        }
        Ok(rec)
    }
}

/// The maildrops with a POP3 session on this shard (the owner of each), and when each account last
/// logged in.
#[derive(Default)]
pub struct Locks {
    held: RefCell<HashSet<String>>,
    logins: RefCell<LastLogins>,
}

#[derive(Default)]
struct LastLogins {
    at: HashMap<String, Instant>,
    /// The map is pruned of logins older than the delay when it grows to this.
    prune_at: usize,
}

impl Locks {
    /// Locks `account`'s maildrop, or `None` if a session holds it. The lock goes with the guard.
    pub fn try_lock(self: &Rc<Self>, account: &str) -> Option<Lock> {
        let account = index::canonical_account(account);
        if !self.held.borrow_mut().insert(account.clone()) {
            return None;
        }
        Some(Lock {
            locks: self.clone(),
            account,
        })
    }

    pub fn is_locked(&self, account: &str) -> bool {
        self.held
            .borrow()
            .contains(&index::canonical_account(account))
    }

    /// RFC 2449 6.8: `account` logged in (had `+OK` to its PASS or AUTH) less than `delay` ago.
    pub fn too_soon(&self, account: &str, now: Instant, delay: Duration) -> bool {
        if delay.is_zero() {
            return false;
        }
        let logins = self.logins.borrow();
        logins
            .at
            .get(&index::canonical_account(account))
            .is_some_and(|&t| now.saturating_duration_since(t) < delay)
    }

    /// Records a login of `account` at `now`. Memory stays bounded by the accounts that logged in
    /// within the last `delay`: older entries are dropped whenever the map has doubled.
    pub fn logged_in(&self, account: &str, now: Instant, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        let mut logins = self.logins.borrow_mut();
        logins.at.insert(index::canonical_account(account), now);
        if logins.at.len() >= logins.prune_at {
            logins
                .at
                .retain(|_, t| now.saturating_duration_since(*t) < delay);
            logins.prune_at = (logins.at.len() * 2).max(1024);
        }
    }

    /// Accounts whose last login is remembered now.
    pub fn logins_remembered(&self) -> usize {
        self.logins.borrow().at.len()
    }
}

/// A held maildrop lock; dropping it (QUIT, a dropped connection, a timeout) releases it.
pub struct Lock {
    locks: Rc<Locks>,
    account: String,
}

impl Lock {
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.locks.held.borrow_mut().remove(&self.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pop3::Maildrop as _;
    use shardmail_storage::index::Flags;
    use shardmail_storage::store::{Store, StoreOptions};

    const NOW: i64 = 1_790_000_000;
    const USER: &str = "alice@example.test";

    fn on_executor<F: std::future::Future<Output = ()> + 'static>(
        f: impl FnOnce() -> F + Send + 'static,
    ) {
        glommio::LocalExecutorBuilder::default()
            .spawn(f)
            .expect("spawn the test executor")
            .join()
            .expect("the test executor ran");
    }

    async fn deliver(store: &Store, msg: &[u8]) {
        let p = store.owner(USER);
        p.ensure_account(USER, NOW).await.expect("account");
        p.store_and_execute(&[msg], |ix, pos| {
            let ev = ix.deliver(
                &[(USER.to_string(), "INBOX".to_string())],
                pos,
                msg.len() as u32,
                NOW,
                Flags::default(),
            )?;
            Ok((ev, ()))
        })
        .await
        .expect("deliver");
    }

    fn msg(i: usize) -> Vec<u8> {
        format!("Subject: m{i}\r\n\r\n{}\r\n", "x".repeat(i * 10)).into_bytes()
    }

    async fn uids_now(store: &Store) -> Vec<u32> {
        let v = store.owner(USER).view(USER, "INBOX").expect("view");
        v.iter().map(|m| m.uid).collect()
    }

    #[test]
    fn the_listing_stays_fixed_while_another_session_expunges() {
        on_executor(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            let (store, _) = Store::open(dir.path(), StoreOptions::default())
                .await
                .expect("store");
            let store = Rc::new(store);
            for i in 1..=3 {
                deliver(&store, &msg(i)).await;
            }
            let md = Maildrop::open(store.clone(), USER, NOW)
                .await
                .expect("open");
            let listing = md.listing();
            let sizes: Vec<(u32, u64)> = listing.iter().map(|e| (e.uid, e.size)).collect();
            let want: Vec<(u32, u64)> = (1..=3).map(|i| (i as u32, msg(i).len() as u64)).collect();
            assert_eq!(sizes, want);
            assert_eq!(md.body(2).expect("body").as_ref(), &msg(2)[..]);
            let uv = md.uidvalidity();
            assert_eq!(
                uv,
                store
                    .owner(USER)
                    .status(USER, "INBOX")
                    .expect("status")
                    .uidvalidity
            );
            // IMAP expunges uid 2 and a new message arrives.
            store
                .owner(USER)
                .execute(|ix| Ok((ix.expunge(USER, "INBOX", &[2])?, ())))
                .await
                .expect("expunge");
            deliver(&store, &msg(4)).await;
            assert_eq!(md.listing(), listing, "the listing is frozen");
            assert_eq!(md.body(2).err(), Some(MaildropError::Gone { uid: 2 }));
            assert_eq!(md.body(3).expect("body").as_ref(), &msg(3)[..]);
            // UPDATE deletes 1 and 2 (2 is gone already): one removed, the new message stays.
            assert_eq!(md.expunge_uids(&[1, 2]).await, Ok(1));
            assert_eq!(uids_now(&store).await, [3, 4]);
            assert_eq!(md.expunge_uids(&[]).await, Ok(0));
            assert_eq!(md.expunge_uids(&[1]).await, Ok(0));
        });
    }

    #[test]
    fn an_account_without_mailboxes_opens_empty() {
        on_executor(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            let (store, _) = Store::open(dir.path(), StoreOptions::default())
                .await
                .expect("store");
            let md = Maildrop::open(Rc::new(store), "Bob@Example.TEST", NOW)
                .await
                .expect("open");
            assert!(md.listing().is_empty());
            assert_eq!(md.account(), "bob@example.test");
        });
    }

    #[test]
    fn one_lock_per_maildrop_released_with_its_guard() {
        let locks = Rc::new(Locks::default());
        let a = locks.try_lock(USER).expect("free");
        assert!(locks.try_lock(USER).is_none(), "held");
        assert!(locks.is_locked(USER));
        let b = locks
            .try_lock("bob@example.test")
            .expect("another maildrop");
        drop(a);
        assert!(!locks.is_locked(USER));
        assert!(locks.try_lock(USER).is_some(), "free again");
        assert_eq!(b.account(), "bob@example.test");
    }

    /// UPDATE frees the deleted messages' summaries from the shard's cache (those IMAP parsed), and
    /// only theirs.
    #[test]
    fn an_update_forgets_the_summaries_of_what_it_deleted() {
        use crate::imap::store::WithSummaries;
        use crate::imap::summary::SummaryCache;
        on_executor(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            let (store, _) = Store::open(dir.path(), StoreOptions::default())
                .await
                .expect("store");
            for i in 1..=3 {
                deliver(&store, &msg(i)).await;
            }
            let owner = Rc::new(WithSummaries {
                inner: store,
                summaries: SummaryCache::default(),
            });
            let view = owner.inner.owner(USER).view(USER, "INBOX").expect("view");
            let at: Vec<(Locator, usize)> = view
                .iter()
                .map(|m| (Locator([m.log, m.segment, m.offset]), m.size as usize))
                .collect();
            for (i, (loc, _)) in at.iter().enumerate() {
                let raw = msg(i + 1);
                owner
                    .summaries
                    .insert(*loc, crate::mime::Message::parse(&raw).summary());
            }
            assert_eq!(owner.summaries.stats().entries, 3);
            let md = Maildrop::open(owner.clone(), USER, NOW)
                .await
                .expect("open");
            assert_eq!(md.expunge_uids(&[1, 3]).await, Ok(2));
            assert_eq!(owner.summaries.stats().entries, 1, "two were forgotten");
            let (loc, size) = at[1];
            assert!(owner.summaries.get(loc, size).is_some(), "uid 2's stays");
        });
    }

    #[test]
    fn login_delay_counts_from_the_last_login_and_forgets_old_ones() {
        let locks = Locks::default();
        let t0 = Instant::now();
        let d = Duration::from_secs(60);
        assert!(!locks.too_soon(USER, t0, d));
        locks.logged_in(USER, t0, d);
        assert!(locks.too_soon("Alice@Example.TEST", t0 + Duration::from_secs(59), d));
        assert!(!locks.too_soon(USER, t0 + d, d), "the delay is over");
        assert!(!locks.too_soon("bob@example.test", t0, d), "per account");
        // No delay: nothing is checked or kept.
        assert!(!locks.too_soon(USER, t0, Duration::ZERO));
        locks.logged_in("carol@example.test", t0, Duration::ZERO);
        assert_eq!(locks.logins_remembered(), 1);
        // Thousands of logins long past are dropped as the map grows.
        for i in 0..5000 {
            locks.logged_in(
                &format!("u{i}@example.test"),
                t0 + Duration::from_secs(i),
                d,
            );
        }
        assert!(
            locks.logins_remembered() < 1200,
            "{} remembered",
            locks.logins_remembered()
        );
    }
}
