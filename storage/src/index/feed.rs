//! A per-account change feed: what IMAP IDLE and untagged updates (EXISTS, EXPUNGE/VANISHED, FETCH
//! FLAGS, RFC 2177 / RFC 3501 7.3-7.4 / RFC 7162 3.2.10) are made from, followed by sessions on any shard.
//!
//! The owner publishes each change after its batch is applied, so a view taken after receiving a change
//! shows it. The feed is a bounded ring ([`FEED_CAPACITY`] changes): a follower that falls further
//! behind gets [`FeedError::Lagged`] once, is moved to the newest change, and resyncs from a fresh
//! view (as a client does after a reconnect). Memory is bounded whatever the followers do.
//! Followers are `Send`; wake-ups cross threads (event-listener).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use event_listener::Event as Notify;

/// Changes a feed keeps for followers that are behind.
pub const FEED_CAPACITY: usize = 1024;

/// One change to an account, in the order the owner applied them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Position in the account's feed (consecutive).
    pub seq: u64,
    /// The folder's HIGHESTMODSEQ after the change (message changes: their MODSEQ; folder changes:
    /// the folder's HIGHESTMODSEQ then, 0 when it is gone).
    pub modseq: u64,
    pub kind: ChangeKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new message (delivery, APPEND, COPY/MOVE target).
    Delivered {
        folder: String,
        uid: u32,
    },
    /// Flags of these UIDs changed (some may have been expunged since).
    Flags {
        folder: String,
        uids: Vec<u32>,
    },
    Expunged {
        folder: String,
        uids: Vec<u32>,
    },
    FolderCreated {
        folder: String,
    },
    FolderRenamed {
        from: String,
        to: String,
    },
    FolderDeleted {
        folder: String,
    },
    Subscription {
        folder: String,
        subscribed: bool,
    },
    /// A session claimed \Recent below `uid`.
    RecentClaimed {
        folder: String,
        uid: u32,
    },
    /// The account is gone; the feed ends.
    AccountDeleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// Changes were dropped before this follower read them: take a new view and carry on.
    #[error("the follower fell behind the change feed by {missed} changes; resync from a view")]
    Lagged { missed: u64 },
    /// The account was deleted or its owner stopped.
    #[error("the change feed is closed")]
    Closed,
}

struct Ring {
    changes: VecDeque<Change>,
    /// `seq` of the next change to publish.
    next: u64,
    closed: bool,
}

/// The publishing side, held by the owner (and shared with followers).
pub struct Feed {
    ring: Mutex<Ring>,
    notify: Notify,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            ring: Mutex::new(Ring {
                changes: VecDeque::new(),
                next: 0,
                closed: false,
            }),
            notify: Notify::new(),
        }
    }
}

impl Feed {
    pub(crate) fn publish(&self, modseq: u64, kind: ChangeKind) {
        let Ok(mut r) = self.ring.lock() else { return };
        let seq = r.next;
        r.next += 1;
        if r.changes.len() >= FEED_CAPACITY {
            r.changes.pop_front();
        }
        let end = matches!(kind, ChangeKind::AccountDeleted);
        r.changes.push_back(Change { seq, modseq, kind });
        r.closed |= end;
        drop(r);
        self.notify.notify(usize::MAX);
    }

    pub(crate) fn close(&self) {
        if let Ok(mut r) = self.ring.lock() {
            r.closed = true;
        }
        self.notify.notify(usize::MAX);
    }

    /// A follower that sees changes published from now on.
    pub fn follow(self: &Arc<Self>) -> FeedReader {
        let next = self.ring.lock().map_or(0, |r| r.next);
        FeedReader {
            feed: self.clone(),
            next,
        }
    }
}

/// A follower of one account's feed. `Send`: a session on any shard can hold it.
pub struct FeedReader {
    feed: Arc<Feed>,
    next: u64,
}

impl FeedReader {
    /// The next change if one is there.
    pub fn try_next(&mut self) -> Result<Option<Change>, FeedError> {
        let r = self.feed.ring.lock().map_err(|_| FeedError::Closed)?;
        let first = r.changes.front().map_or(r.next, |c| c.seq);
        if self.next < first {
            let missed = first - self.next;
            self.next = r.next;
            return Err(FeedError::Lagged { missed });
        }
        match r.changes.get((self.next - first) as usize) {
            Some(c) => {
                self.next += 1;
                Ok(Some(c.clone()))
            }
            None if r.closed => Err(FeedError::Closed),
            None => Ok(None),
        }
    }

    /// Waits for the next change (IDLE).
    pub async fn next(&mut self) -> Result<Change, FeedError> {
        loop {
            if let Some(c) = self.try_next()? {
                return Ok(c);
            }
            let listener = self.feed.notify.listen();
            if let Some(c) = self.try_next()? {
                return Ok(c);
            }
            listener.await;
        }
    }
}
