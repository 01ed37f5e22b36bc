//! The IMAP [`Backend`] over the storage crate: one account on its owner shard's `Partition`
//! (storage/src/index/mod.rs explains the calls: views for SELECT/FETCH, plans executed durably for
//! changes, the account's change feed for IDLE).
//!
//! Every change goes through `Partition::execute` / `store_and_execute`, which resolve once the events
//! are durable and applied: a view taken afterwards shows them, and an APPEND's tagged OK follows its
//! group commit (RFC 9051 6.3.12 "the message is in the mailbox").

use std::rc::Rc;

use crate::mime::Summary;

use shardmail_storage::index::{
    self, Event, FeedError, FeedReader, FlagMode, Flags, FolderView, InternalDate, MailboxError,
    MessageEntry,
};
use shardmail_storage::store::{Partition, Store};
use shardmail_storage::{Error as StoreError, Kind, Position, RecordRef};

use super::backend::{
    AppendItem, Appended, Backend, BackendError, ChangeFeed, Copied, Counters, FlagOp, FlagSet,
    FolderEntry, Locator, MailboxView, Message, SpecialUse, Stored,
};
use super::summary::SummaryCache;

/// Something that holds the partition owning an account (the shard's context in the server, a
/// whole `Store` in tests and tools), and maybe the shard's cache of message summaries.
pub trait PartitionOf {
    fn partition(&self, account: &str) -> &Partition;
    /// The cache FETCH keeps parsed structure in (`imap::summary`); `None`: every FETCH parses.
    fn summaries(&self) -> Option<&SummaryCache> {
        None
    }
}

/// A partition holder with a summary cache of its own: what the shard's context is to the server,
/// for tests, benches and tools.
pub struct WithSummaries<P> {
    pub inner: P,
    pub summaries: SummaryCache,
}

impl<P: PartitionOf> PartitionOf for WithSummaries<P> {
    fn partition(&self, account: &str) -> &Partition {
        self.inner.partition(account)
    }
    fn summaries(&self) -> Option<&SummaryCache> {
        Some(&self.summaries)
    }
}

impl PartitionOf for Partition {
    fn partition(&self, _account: &str) -> &Partition {
        self
    }
}

impl<P: PartitionOf> PartitionOf for Rc<P> {
    fn partition(&self, account: &str) -> &Partition {
        (**self).partition(account)
    }
    fn summaries(&self) -> Option<&SummaryCache> {
        (**self).summaries()
    }
}

impl PartitionOf for Store {
    fn partition(&self, account: &str) -> &Partition {
        self.owner(account)
    }
}

impl PartitionOf for crate::shard::ShardCtx {
    fn partition(&self, _account: &str) -> &Partition {
        &self.part
    }
    fn summaries(&self) -> Option<&SummaryCache> {
        Some(&self.summaries)
    }
}

/// One logged-in account's mailboxes on the shard that owns it.
pub struct StoreBackend<P: PartitionOf> {
    owner: Rc<P>,
    account: String,
}

/// `Index::copy` or `Index::move_`: (account, from, to, uids) -> the events and the UID map.
type CopyPlan = fn(
    &mut index::Index,
    &str,
    &str,
    &str,
    &[u32],
) -> Result<(Vec<Event>, index::UidMap), MailboxError>;

impl<P: PartitionOf> StoreBackend<P> {
    /// COPY and MOVE (RFC 4315 COPYUID): `op` plans the events and the UID map, answered with the
    /// destination's UIDVALIDITY.
    async fn copy_with(
        &self,
        from: &str,
        to: &str,
        uids: &[u32],
        op: CopyPlan,
    ) -> Result<Copied, BackendError> {
        self.part()
            .execute(|ix| {
                let uidvalidity = ix.status(&self.account, to)?.uidvalidity;
                let (events, map) = op(ix, &self.account, from, to, uids)?;
                Ok((
                    events,
                    Copied {
                        uidvalidity,
                        uids: map,
                    },
                ))
            })
            .await
            .map_err(from_store)
    }

    /// The backend of `account`, creating its mailboxes (INBOX and the special-use folders) if this
    /// is its first use: an account added by the CLI has none until its first delivery.
    pub async fn open(owner: Rc<P>, account: &str, now: i64) -> Result<Self, BackendError> {
        let account = index::canonical_account(account);
        owner
            .partition(&account)
            .ensure_account(&account, now)
            .await
            .map_err(from_store)?;
        Ok(StoreBackend { owner, account })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    fn part(&self) -> &Partition {
        self.owner.partition(&self.account)
    }

    /// Where the messages `uids` of `folder` are stored (all of them when `uids` is `None`), for
    /// the summary cache to forget once they are expunged; empty when there is no cache.
    fn positions(&self, folder: &str, uids: Option<&[u32]>) -> Vec<Locator> {
        if self.owner.summaries().is_none() {
            return Vec::new();
        }
        let Ok(view) = self.view(folder) else {
            return Vec::new();
        };
        match uids {
            Some(uids) => uids
                .iter()
                .filter_map(|&u| view.by_uid(u).map(|(_, m)| m.locator))
                .collect(),
            None => (1..=view.len())
                .filter_map(|q| view.by_seq(q).map(|m| m.locator))
                .collect(),
        }
    }

    /// Expunged messages' summaries are freed at once rather than left for eviction. A copy of the
    /// message in another folder shares the position: it just parses again at its next FETCH.
    fn forget(&self, positions: Vec<Locator>) {
        if let Some(cache) = self.owner.summaries() {
            cache.forget(positions);
        }
    }
}

fn from_mailbox(e: MailboxError) -> BackendError {
    match e {
        MailboxError::NoFolder(_) => BackendError::NoMailbox,
        MailboxError::FolderExists(_) => BackendError::Exists,
        MailboxError::InvalidName(_) => BackendError::InvalidName,
        MailboxError::NoAccount(a) => BackendError::Unavailable(format!("no account {a}")),
        e @ (MailboxError::SpecialUseTaken(_) | MailboxError::UnknownSpecialUse(_)) => {
            BackendError::UseAttr(e.to_string())
        }
        e => BackendError::Cannot(e.to_string()),
    }
}

fn from_store(e: StoreError) -> BackendError {
    match e {
        StoreError::Mailbox(e) => from_mailbox(e),
        e => BackendError::Unavailable(e.to_string()),
    }
}

fn special_use(code: u8) -> Option<SpecialUse> {
    match code {
        index::SPECIAL_SENT => Some(SpecialUse::Sent),
        index::SPECIAL_DRAFTS => Some(SpecialUse::Drafts),
        index::SPECIAL_TRASH => Some(SpecialUse::Trash),
        index::SPECIAL_JUNK => Some(SpecialUse::Junk),
        index::SPECIAL_ARCHIVE => Some(SpecialUse::Archive),
        _ => None,
    }
}

/// The stored code of an attribute; `None` for \All and \Flagged, which name virtual mailboxes
/// (every message, the flagged ones) that a real folder cannot be (RFC 6154 2).
fn special_use_code(u: SpecialUse) -> Option<u8> {
    match u {
        SpecialUse::Sent => Some(index::SPECIAL_SENT),
        SpecialUse::Drafts => Some(index::SPECIAL_DRAFTS),
        SpecialUse::Trash => Some(index::SPECIAL_TRASH),
        SpecialUse::Junk => Some(index::SPECIAL_JUNK),
        SpecialUse::Archive => Some(index::SPECIAL_ARCHIVE),
        SpecialUse::All | SpecialUse::Flagged => None,
    }
}

fn counters(s: index::FolderStatus) -> Counters {
    Counters {
        messages: s.exists,
        recent: s.recent,
        uidnext: s.uidnext,
        uidvalidity: s.uidvalidity,
        unseen: s.unseen,
        highestmodseq: s.highestmodseq,
        size: s.size,
    }
}

/// The backend's system flag bits are the index's (both follow RFC 9051 2.3.2's five flags); kept as
/// an explicit mapping so neither side's numbering leaks into the other.
fn flags(f: &FlagSet) -> Flags {
    let pairs = [
        (super::backend::SEEN, index::SEEN),
        (super::backend::ANSWERED, index::ANSWERED),
        (super::backend::FLAGGED, index::FLAGGED),
        (super::backend::DELETED, index::DELETED),
        (super::backend::DRAFT, index::DRAFT),
    ];
    let system = pairs
        .iter()
        .filter(|(b, _)| f.system & b != 0)
        .fold(0, |acc, (_, s)| acc | s);
    Flags {
        system,
        keywords: f.keywords.clone(),
    }
}

fn system_bits(index_bits: u8) -> u8 {
    let pairs = [
        (super::backend::SEEN, index::SEEN),
        (super::backend::ANSWERED, index::ANSWERED),
        (super::backend::FLAGGED, index::FLAGGED),
        (super::backend::DELETED, index::DELETED),
        (super::backend::DRAFT, index::DRAFT),
    ];
    pairs
        .iter()
        .filter(|(_, s)| index_bits & s != 0)
        .fold(0, |acc, (b, _)| acc | b)
}

fn message(m: &MessageEntry) -> Message {
    Message {
        uid: m.uid,
        modseq: m.modseq,
        size: m.size,
        internal_date: m.internal_date,
        zone: m.zone,
        system: system_bits(m.system),
        keyword_set: m.kwset,
        locator: Locator([m.log, m.segment, m.offset]),
    }
}

/// A [`FolderView`] seen through the backend's types.
#[derive(Clone)]
pub struct StoreView(FolderView);

impl StoreView {
    fn entry(m: &Message) -> MessageEntry {
        MessageEntry {
            uid: m.uid,
            kwset: m.keyword_set,
            ..MessageEntry::default()
        }
    }
}

impl MailboxView for StoreView {
    fn counters(&self) -> Counters {
        counters(self.0.status())
    }

    fn len(&self) -> u32 {
        self.0.len() as u32
    }

    fn by_seq(&self, seq: u32) -> Option<Message> {
        self.0.by_seq(seq).map(|m| message(&m))
    }

    fn by_uid(&self, uid: u32) -> Option<(u32, Message)> {
        self.0.by_uid(uid).map(|(s, m)| (s, message(&m)))
    }

    fn seq_at_or_after(&self, uid: u32) -> u32 {
        self.0.seq_at_or_after(uid)
    }

    fn keywords(&self, m: &Message) -> Vec<&str> {
        let mut k: Vec<&str> = self.0.keywords(&Self::entry(m)).collect();
        k.sort_unstable();
        k
    }

    fn keyword_names(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.0.keyword_names().collect();
        k.sort_unstable();
        k
    }

    fn first_unseen(&self) -> Option<u32> {
        self.0.first_unseen()
    }

    fn changed_since(&self, modseq: u64) -> Vec<(u32, Message)> {
        if self.0.status().highestmodseq <= modseq {
            return Vec::new();
        }
        self.0
            .iter()
            .enumerate()
            .filter(|(_, m)| m.modseq > modseq)
            .map(|(i, m)| (i as u32 + 1, message(&m)))
            .collect()
    }

    fn vanished_since(&self, modseq: u64) -> Option<Vec<u32>> {
        self.0.vanished_since(modseq).ok()
    }
}

/// The account's change feed.
pub struct StoreFeed(FeedReader);

impl ChangeFeed for StoreFeed {
    async fn changed(&mut self) -> bool {
        let first = self.0.next().await;
        if matches!(first, Err(FeedError::Closed)) {
            return false;
        }
        // Coalesce what is already there: the session diffs views, not changes.
        while let Ok(Some(_)) = self.0.try_next() {}
        true
    }
}

impl<P: PartitionOf> Backend for StoreBackend<P> {
    type View = StoreView;
    type Body = RecordRef;
    type Feed = StoreFeed;

    fn folders(&self) -> Result<Vec<FolderEntry>, BackendError> {
        let list = self
            .part()
            .read_index(|ix| ix.folders(&self.account))
            .map_err(from_mailbox)?;
        Ok(list
            .into_iter()
            .map(|f| FolderEntry {
                name: f.name,
                special_use: special_use(f.special_use),
                subscribed: f.subscribed,
                counters: counters(f.status),
            })
            .collect())
    }

    fn subscriptions(&self) -> Result<Vec<String>, BackendError> {
        self.part()
            .read_index(|ix| ix.subscriptions(&self.account))
            .map_err(from_mailbox)
    }

    async fn create(
        &self,
        name: &str,
        special_use: Option<SpecialUse>,
        now: i64,
    ) -> Result<(), BackendError> {
        // RFC 6154 3: the attribute is part of the folder's CreateFolder event (durable before OK).
        let code = match special_use {
            None => index::SPECIAL_NONE,
            Some(u) => special_use_code(u)
                .ok_or_else(|| BackendError::UseAttr(format!("cannot create a {u} folder")))?,
        };
        self.part()
            .execute(|ix| {
                Ok((
                    ix.create_special_folder(&self.account, name, code, now)?,
                    (),
                ))
            })
            .await
            .map_err(from_store)
    }

    async fn delete(&self, name: &str) -> Result<(), BackendError> {
        let gone = self.positions(name, None);
        self.part()
            .execute(|ix| Ok((ix.delete_folder(&self.account, name)?, ())))
            .await
            .map_err(from_store)?;
        self.forget(gone);
        Ok(())
    }

    async fn rename(&self, from: &str, to: &str, now: i64) -> Result<(), BackendError> {
        self.part()
            .execute(|ix| Ok((ix.rename_folder(&self.account, from, to, now)?, ())))
            .await
            .map_err(from_store)
    }

    async fn subscribe(&self, name: &str, subscribed: bool) -> Result<(), BackendError> {
        self.part()
            .execute(|ix| Ok((ix.subscribe(&self.account, name, subscribed)?, ())))
            .await
            .map_err(from_store)
    }

    fn view(&self, folder: &str) -> Result<StoreView, BackendError> {
        self.part()
            .view(&self.account, folder)
            .map(StoreView)
            .map_err(from_store)
    }

    fn counters(&self, folder: &str) -> Result<Counters, BackendError> {
        self.part()
            .status(&self.account, folder)
            .map(counters)
            .map_err(from_store)
    }

    async fn claim_recent(&self, folder: &str, upto: u32) -> Result<u32, BackendError> {
        self.part()
            .execute(|ix| Ok(ix.claim_recent(&self.account, folder, upto)?))
            .await
            .map_err(from_store)
    }

    fn claim_recent_now(&self, folder: &str, upto: u32) -> Option<u32> {
        self.part()
            .execute_now(|ix| Ok(ix.claim_recent(&self.account, folder, upto)?))?
            .ok()
    }

    fn body(&self, m: &Message) -> Result<RecordRef, BackendError> {
        let [log, segment, offset] = m.locator.0;
        let rec = self
            .part()
            .read(Position::new(log, segment, offset))
            .map_err(from_store)?;
        if rec.kind() != Kind::MESSAGE {
            return Err(BackendError::Unavailable(format!(
                "uid {} does not point at a message",
                m.uid
            )));
        }
        Ok(rec)
    }

    fn summary(&self, m: &Message) -> Option<Rc<Summary>> {
        self.owner.summaries()?.get(m.locator, m.size as usize)
    }

    fn keep_summary(&self, m: &Message, s: Summary) -> Rc<Summary> {
        match self.owner.summaries() {
            Some(cache) => cache.insert(m.locator, s),
            None => Rc::new(s),
        }
    }

    async fn store(
        &self,
        folder: &str,
        uids: &[u32],
        op: FlagOp,
        f: &FlagSet,
        unchanged_since: Option<u64>,
    ) -> Result<Stored, BackendError> {
        let mode = match op {
            FlagOp::Replace => FlagMode::Replace,
            FlagOp::Add => FlagMode::Add,
            FlagOp::Remove => FlagMode::Remove,
        };
        let r = self
            .part()
            .execute(|ix| {
                let r = ix.store(&self.account, folder, uids, mode, flags(f), unchanged_since)?;
                Ok((r.events, (r.modseq, r.modified)))
            })
            .await
            .map_err(from_store)?;
        Ok(Stored {
            modseq: r.0,
            modified: r.1,
        })
    }

    async fn expunge(&self, folder: &str, uids: &[u32]) -> Result<(), BackendError> {
        let gone = self.positions(folder, Some(uids));
        self.part()
            .execute(|ix| Ok((ix.expunge(&self.account, folder, uids)?, ())))
            .await
            .map_err(from_store)?;
        self.forget(gone);
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str, uids: &[u32]) -> Result<Copied, BackendError> {
        self.copy_with(from, to, uids, index::Index::copy).await
    }

    async fn move_(&self, from: &str, to: &str, uids: &[u32]) -> Result<Copied, BackendError> {
        self.copy_with(from, to, uids, index::Index::move_).await
    }

    async fn append(
        &self,
        folder: &str,
        items: &[AppendItem<'_>],
        now: i64,
    ) -> Result<Appended, BackendError> {
        let Some((last, first)) = items.split_last() else {
            return Ok(Appended::default());
        };
        let part = self.part();
        // Refuse before writing any bytes when the folder is missing (TRYCREATE).
        part.status(&self.account, folder).map_err(from_store)?;
        // MULTIAPPEND (RFC 3502): every message's bytes first, then one batch files them all, so
        // they appear together or not at all; one group commit covers the lot.
        let mut positions = Vec::with_capacity(items.len());
        let mut waits = Vec::with_capacity(first.len());
        for it in first {
            let (pos, wait) = part
                .writer()
                .append_deferred(Kind::MESSAGE, &[it.bytes])
                .map_err(from_store)?;
            positions.push(pos);
            waits.push(wait);
        }
        let account = &self.account;
        let (_, appended) = part
            .store_and_execute(&[last.bytes], |ix, last_pos| {
                let uidvalidity = ix.status(account, folder)?.uidvalidity;
                let mut events: Vec<Event> = Vec::with_capacity(items.len());
                let mut uids = Vec::with_capacity(items.len());
                let target = [(account.clone(), folder.to_string())];
                for (it, pos) in items
                    .iter()
                    .zip(positions.iter().copied().chain([last_pos]))
                {
                    let date = it.date.unwrap_or((now, 0));
                    let size =
                        u32::try_from(it.bytes.len()).map_err(|_| StoreError::RecordTooLarge {
                            len: it.bytes.len(),
                            max: u32::MAX as usize,
                        })?;
                    let ev = ix.deliver(
                        &target,
                        pos,
                        size,
                        InternalDate::new(date.0, date.1),
                        flags(it.flags),
                    )?;
                    uids.extend(ev.iter().filter_map(Event::delivered_uid));
                    events.extend(ev);
                }
                Ok((events, Appended { uidvalidity, uids }))
            })
            .await
            .map_err(from_store)?;
        for w in waits {
            w.await.map_err(from_store)?;
        }
        Ok(appended)
    }

    fn follow(&self) -> StoreFeed {
        StoreFeed(self.part().follow(&self.account))
    }
}
