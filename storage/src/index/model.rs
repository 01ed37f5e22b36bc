//! The index's state, its queries, and applying event batches (all or nothing).
//!
//! Applying a batch is atomic: either every event of it applies or none does, live and on replay alike
//! (both call [`Index::apply_batch`]). Batches that only touch messages (deliver, flags, expunge, \Recent
//! claims, subscriptions, relocations: the hot path) are validated as a whole against the current state
//! and then applied in place; batches that change the shape of an account (create/delete account or
//! folder, rename) are applied to a clone of the accounts they touch (cheap: folders share their message
//! chunks) that replaces the original only when every event applied.

use std::collections::{BTreeMap, BTreeSet};

// foldhash, not std's SipHash: these maps are looked up several times per delivery (see Cargo.toml).
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use super::event::{Event, FlagMode, Flags, InternalDate};
use super::keywords::Keywords;
use super::messages::MessageList;
use super::snapshot::MessageEntry;
use super::view::FolderView;
use super::{
    canonical_account, canonical_account_cow, canonical_folder, canonical_folder_cow, MailboxError,
    DEFAULT_FOLDERS, SEEN,
};
use crate::Position;

/// Expunged UIDs a folder remembers (with their MODSEQ) for QRESYNC's VANISHED (EARLIER), RFC 7162
/// 3.2.5.1 and 3.2.10. Beyond this the oldest are forgotten a quarter at a time and the folder's
/// `vanished_floor` rises: the lowest MODSEQ since which VANISHED can still be answered exactly.
pub const TOMBSTONES_KEPT: usize = 50_000;

/// An expunged message: its UID and the MODSEQ of the expunge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tombstone {
    pub uid: u32,
    pub modseq: u64,
}

#[derive(Clone)]
pub(crate) struct Folder {
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: u32,
    pub(crate) highestmodseq: u64,
    pub(crate) special_use: u8,
    pub(crate) messages: MessageList,
    /// The next UID a plan hands out (>= uidnext): reserved, not yet applied.
    pub(crate) plan_uid: u32,
    /// The last modseq a plan handed out (>= highestmodseq).
    pub(crate) plan_modseq: u64,
    /// Messages without \Seen.
    pub(crate) unseen: u32,
    /// Sum of the message sizes (RFC 8438 STATUS SIZE).
    pub(crate) bytes: u64,
    /// Messages with a UID at or above this are \Recent (see [`Event::ClaimRecent`]).
    pub(crate) first_recent: u32,
    /// Expunges, ascending by modseq.
    pub(crate) tombstones: Arc<Vec<Tombstone>>,
    /// VANISHED is exact for any MODSEQ >= this (every expunge above it has its tombstone).
    pub(crate) vanished_floor: u64,
}

impl Folder {
    pub(crate) fn new(uidvalidity: u32, special_use: u8) -> Folder {
        Folder {
            uidvalidity,
            uidnext: 1,
            highestmodseq: 0,
            special_use,
            messages: MessageList::default(),
            plan_uid: 1,
            plan_modseq: 0,
            unseen: 0,
            bytes: 0,
            first_recent: 1,
            tombstones: Arc::default(),
            vanished_floor: 0,
        }
    }

    fn raise_uidnext(&mut self, uid: u32) {
        self.uidnext = self.uidnext.max(uid.saturating_add(1));
        self.plan_uid = self.plan_uid.max(self.uidnext);
    }

    fn raise_modseq(&mut self, modseq: u64) {
        self.highestmodseq = self.highestmodseq.max(modseq);
        self.plan_modseq = self.plan_modseq.max(self.highestmodseq);
    }

    pub(crate) fn reserve_uid(&mut self) -> u32 {
        let uid = self.plan_uid.max(self.uidnext);
        self.plan_uid = uid.saturating_add(1);
        uid
    }

    pub(crate) fn reserve_modseq(&mut self) -> u64 {
        self.plan_modseq = self.plan_modseq.max(self.highestmodseq) + 1;
        self.plan_modseq
    }

    /// Messages that are \Recent: those at or above `first_recent` (a binary search, no scan).
    pub(crate) fn recent(&self) -> u32 {
        let from = match self.messages.find(self.first_recent) {
            Ok(i) | Err(i) => i,
        };
        (self.messages.len() - from) as u32
    }

    pub(crate) fn status(&self) -> FolderStatus {
        FolderStatus {
            uidvalidity: self.uidvalidity,
            uidnext: self.uidnext,
            highestmodseq: self.highestmodseq,
            exists: self.messages.len() as u32,
            unseen: self.unseen,
            recent: self.recent(),
            size: self.bytes,
        }
    }

    fn bury(&mut self, gone: &[MessageEntry], modseq: u64) {
        if gone.is_empty() {
            return;
        }
        let t = Arc::make_mut(&mut self.tombstones);
        t.extend(gone.iter().map(|m| Tombstone { uid: m.uid, modseq }));
        if t.len() > TOMBSTONES_KEPT + TOMBSTONES_KEPT / 4 {
            let drop = t.len() - TOMBSTONES_KEPT;
            if let Some(last) = t.get(drop - 1) {
                self.vanished_floor = self.vanished_floor.max(last.modseq);
            }
            t.drain(..drop);
        }
    }
}

#[derive(Clone, Default)]
pub(crate) struct Account {
    pub(crate) folders: BTreeMap<String, Folder>,
    pub(crate) subscriptions: BTreeSet<String>,
    pub(crate) keywords: Arc<Keywords>,
    /// The largest UIDVALIDITY this account used or reserved.
    pub(crate) last_uidvalidity: u32,
}

impl Account {
    /// The flags of a message entry as names (keywords sorted, so equal flags compare equal).
    pub(crate) fn flags_of(&self, m: &MessageEntry) -> Flags {
        let mut keywords: Vec<String> = self
            .keywords
            .set_names(m.kwset)
            .map(str::to_string)
            .collect();
        keywords.sort_unstable();
        Flags {
            system: m.system,
            keywords,
        }
    }

    pub(crate) fn folder(&self, name: &str) -> Result<&Folder, MailboxError> {
        let c = canonical_folder_cow(name)?;
        self.folders
            .get(c.as_ref())
            .ok_or_else(|| MailboxError::NoFolder(c.into_owned()))
    }

    pub(crate) fn folder_mut(&mut self, name: &str) -> Result<&mut Folder, MailboxError> {
        let c = canonical_folder_cow(name)?;
        self.folders
            .get_mut(c.as_ref())
            .ok_or_else(|| MailboxError::NoFolder(c.into_owned()))
    }

    fn deliver(
        &mut self,
        folder: &str,
        mut e: MessageEntry,
        flags: &Flags,
    ) -> Result<(), MailboxError> {
        // One folder lookup (the folder and the keyword table are disjoint fields).
        let c = canonical_folder_cow(folder)?;
        let f = self
            .folders
            .get_mut(c.as_ref())
            .ok_or_else(|| MailboxError::NoFolder(c.into_owned()))?;
        if f.messages.find(e.uid).is_ok() {
            return Err(MailboxError::DuplicateUid(e.uid));
        }
        let kw = Arc::make_mut(&mut self.keywords);
        e.kwset = kw.intern(&flags.keywords);
        kw.acquire(e.kwset);
        kw.sweep();
        if e.system & SEEN == 0 {
            f.unseen += 1;
        }
        f.bytes += e.size as u64;
        f.messages.insert(e);
        f.raise_uidnext(e.uid);
        f.raise_modseq(e.modseq);
        Ok(())
    }

    fn set_flags(
        &mut self,
        folder: &str,
        modseq: u64,
        uids: &[u32],
        mode: FlagMode,
        flags: &Flags,
    ) -> Result<(), MailboxError> {
        self.folder(folder)?;
        let kw = Arc::make_mut(&mut self.keywords);
        let with = match mode {
            FlagMode::Remove => kw.existing(&flags.keywords),
            _ => kw.intern(&flags.keywords),
        };
        let sys = flags.system & SYSTEM_MASK;
        let mut memo: HashMap<u32, u32> = HashMap::new();
        let mut unseen_delta: i64 = 0;
        let f = self
            .folders
            .get_mut(canonical_folder_cow(folder)?.as_ref())
            .ok_or_else(|| MailboxError::NoFolder(folder.to_string()))?;
        f.messages.update_uids(uids, |m| {
            let new = *memo
                .entry(m.kwset)
                .or_insert_with(|| kw.combine(m.kwset, mode, with));
            if new != m.kwset {
                kw.acquire(new);
                kw.release(m.kwset);
                m.kwset = new;
            }
            let system = match mode {
                FlagMode::Replace => sys,
                FlagMode::Add => m.system | sys,
                FlagMode::Remove => m.system & !sys,
            };
            match (m.system & SEEN != 0, system & SEEN != 0) {
                (true, false) => unseen_delta += 1,
                (false, true) => unseen_delta -= 1,
                _ => {}
            }
            m.system = system;
            m.modseq = modseq;
        });
        kw.sweep();
        f.unseen = (f.unseen as i64 + unseen_delta).max(0) as u32;
        f.raise_modseq(modseq);
        Ok(())
    }

    fn expunge(&mut self, folder: &str, modseq: u64, uids: &[u32]) -> Result<(), MailboxError> {
        let mut gone: Vec<u32> = uids.to_vec();
        gone.sort_unstable();
        gone.dedup();
        let f = self.folder_mut(folder)?;
        let removed = f.messages.remove_uids(&gone);
        for m in &removed {
            if m.system & SEEN == 0 {
                f.unseen = f.unseen.saturating_sub(1);
            }
            f.bytes = f.bytes.saturating_sub(m.size as u64);
        }
        f.bury(&removed, modseq);
        f.raise_modseq(modseq);
        if !removed.is_empty() {
            let kw = Arc::make_mut(&mut self.keywords);
            for m in &removed {
                kw.release(m.kwset);
            }
            kw.sweep();
        }
        Ok(())
    }
}

/// The five system flags (RFC 3501 2.3.2) that a message stores; \Recent is derived, not stored.
pub(crate) const SYSTEM_MASK: u8 = 0x1f;

/// One message as the index knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: u32,
    pub pos: Position,
    pub size: u32,
    pub internal_date: InternalDate,
    /// System flags (bits [`SEEN`]..) and keyword names (sorted).
    pub flags: Flags,
    pub modseq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FolderStatus {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub exists: u32,
    pub unseen: u32,
    /// \Recent messages: UIDs at or above the folder's first recent UID (see [`Event::ClaimRecent`]).
    pub recent: u32,
    /// Total octets of the messages (RFC 8438 STATUS=SIZE).
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderInfo {
    pub name: String,
    pub special_use: u8,
    pub subscribed: bool,
    pub status: FolderStatus,
}

/// The mailbox index of a set of accounts.
#[derive(Default, Clone)]
pub struct Index {
    pub(crate) accounts: HashMap<String, Account>,
}

/// Does this event change the shape of an account (so its batch is applied to a clone)?
fn structural(ev: &Event) -> bool {
    matches!(
        ev,
        Event::CreateAccount { .. }
            | Event::DeleteAccount { .. }
            | Event::CreateFolder { .. }
            | Event::RenameFolder { .. }
            | Event::DeleteFolder { .. }
    )
}

impl Index {
    pub(crate) fn account(&self, account: &str) -> Result<&Account, MailboxError> {
        let a = canonical_account_cow(account);
        self.accounts
            .get(a.as_ref())
            .ok_or_else(|| MailboxError::NoAccount(a.into_owned()))
    }

    pub(crate) fn account_mut(&mut self, account: &str) -> Result<&mut Account, MailboxError> {
        let a = canonical_account_cow(account);
        self.accounts
            .get_mut(a.as_ref())
            .ok_or_else(|| MailboxError::NoAccount(a.into_owned()))
    }

    pub fn has_account(&self, account: &str) -> bool {
        self.accounts
            .contains_key(canonical_account_cow(account).as_ref())
    }

    /// Account names, sorted.
    pub fn accounts(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The folders of an account, sorted by name.
    pub fn folders(&self, account: &str) -> Result<Vec<FolderInfo>, MailboxError> {
        let a = self.account(account)?;
        Ok(a.folders
            .iter()
            .map(|(name, f)| FolderInfo {
                name: name.clone(),
                special_use: f.special_use,
                subscribed: a.subscriptions.contains(name),
                status: f.status(),
            })
            .collect())
    }

    /// Subscribed folder names (they need not exist, RFC 3501 6.3.6).
    pub fn subscriptions(&self, account: &str) -> Result<Vec<String>, MailboxError> {
        Ok(self
            .account(account)?
            .subscriptions
            .iter()
            .cloned()
            .collect())
    }

    /// STATUS (RFC 3501 6.3.10, RFC 7162 3.1.2.1, RFC 8438): counters kept up to date by `apply`, so
    /// this is a lookup, not a scan.
    pub fn status(&self, account: &str, folder: &str) -> Result<FolderStatus, MailboxError> {
        Ok(self.account(account)?.folder(folder)?.status())
    }

    /// An owned, immutable view of a folder (see [`FolderView`]): O(1), unaffected by later commits.
    pub fn view(&self, account: &str, folder: &str) -> Result<FolderView, MailboxError> {
        let a = self.account(account)?;
        let name = canonical_folder_cow(folder)?;
        let f = a.folder(&name)?;
        Ok(FolderView::new(name.into_owned(), f, a.keywords.clone()))
    }

    /// The keywords in use in an account (for SELECT's FLAGS and PERMANENTFLAGS).
    pub fn keywords(&self, account: &str) -> Result<Vec<String>, MailboxError> {
        Ok(self
            .account(account)?
            .keywords
            .names()
            .map(str::to_string)
            .collect())
    }

    /// The messages of a folder in UID order.
    pub fn messages(&self, account: &str, folder: &str) -> Result<Vec<MessageMeta>, MailboxError> {
        let a = self.account(account)?;
        Ok(a.folder(folder)?
            .messages
            .iter()
            .map(|m| meta(a, &m))
            .collect())
    }

    pub fn message(
        &self,
        account: &str,
        folder: &str,
        uid: u32,
    ) -> Result<Option<MessageMeta>, MailboxError> {
        let a = self.account(account)?;
        Ok(a.folder(folder)?.messages.by_uid(uid).map(|m| meta(a, &m)))
    }

    /// Calls `f(position, size)` for every message of every folder (a position shared by several
    /// mailboxes is reported once per mailbox).
    pub fn for_each_position(&self, mut f: impl FnMut(Position, u32)) {
        for a in self.accounts.values() {
            for fo in a.folders.values() {
                for m in fo.messages.iter() {
                    f(Position::new(m.log, m.segment, m.offset), m.size);
                }
            }
        }
    }

    /// Total messages over every folder.
    pub fn message_count(&self) -> usize {
        self.accounts
            .values()
            .flat_map(|a| a.folders.values())
            .map(|f| f.messages.len())
            .sum()
    }

    /// Adds the accounts of `other` (disjoint account sets: parts of one store).
    pub fn merge(&mut self, other: Index) {
        self.accounts.extend(other.accounts);
    }

    /// Moves out the accounts for which `take` is true.
    pub fn split_off(&mut self, take: impl Fn(&str) -> bool) -> Index {
        let names: Vec<String> = self.accounts.keys().filter(|n| take(n)).cloned().collect();
        let mut out = Index::default();
        for n in names {
            if let Some(a) = self.accounts.remove(&n) {
                out.accounts.insert(n, a);
            }
        }
        out
    }

    /// Applies one durable event (a batch of one).
    pub fn apply(&mut self, ev: &Event) -> Result<(), MailboxError> {
        self.apply_batch(std::slice::from_ref(ev))
    }

    /// Applies one durable batch, all or nothing: on an error nothing changed. Live commits and
    /// replay both come here, so they accept and refuse the same batches.
    pub fn apply_batch(&mut self, events: &[Event]) -> Result<(), MailboxError> {
        if events.iter().any(structural) {
            return self.apply_on_clone(events);
        }
        self.validate(events)?;
        self.apply_validated(events)
    }

    /// Applies a batch known to apply: the owner's pipeline applied it to its planned copy of this
    /// state, which then held exactly what this one holds now (the same batches before it, applied
    /// the same way; see `pipeline`). Whole-batch validation would pass, so it is skipped (validating
    /// on both copies was a quarter of the pipeline's time in 10-recipient ingest). Same result as
    /// [`Index::apply_batch`].
    pub(crate) fn apply_batch_trusted(&mut self, events: &[Event]) -> Result<(), MailboxError> {
        if events.iter().any(structural) {
            return self.apply_on_clone(events);
        }
        // Debug builds (the tests) check the claim on every batch.
        debug_assert!(
            self.validate(events).is_ok(),
            "a batch the planned copy applied fails validation on the applied copy"
        );
        self.apply_validated(events)
    }

    fn apply_validated(&mut self, events: &[Event]) -> Result<(), MailboxError> {
        for ev in events {
            if let Err(e) = self.apply_one(ev) {
                // `validate` checks every condition `apply_one` can fail on for these events.
                tracing::error!(error = %e, "an event failed after its batch was validated");
                return Err(e);
            }
        }
        Ok(())
    }

    /// Whole-batch validation of a batch without structural events (see the module documentation).
    fn validate(&self, events: &[Event]) -> Result<(), MailboxError> {
        // Most batches are one delivery or a handful: UIDs are checked for repeats by a scan of the
        // batch's earlier deliveries, and new keywords are only gathered when a batch has keywords
        // (hashing and allocating here was a tenth of a shard's time in 10-recipient ingest).
        let mut fresh: Vec<(&str, BTreeSet<String>)> = Vec::new();
        // Large batches (a COPY of many messages) use a set instead of the scan.
        let mut seen: Option<HashSet<(&str, &str, u32)>> = (events.len() > 32).then(HashSet::new);
        for (i, ev) in events.iter().enumerate() {
            let (account, folder, kw) = match ev {
                Event::Deliver {
                    account,
                    folder,
                    flags,
                    ..
                } => (account, Some(folder), Some(flags)),
                Event::SetFlags {
                    account,
                    folder,
                    mode,
                    flags,
                    ..
                } => (
                    account,
                    Some(folder),
                    (*mode != FlagMode::Remove).then_some(flags),
                ),
                Event::Expunge {
                    account, folder, ..
                }
                | Event::ClaimRecent {
                    account, folder, ..
                } => (account, Some(folder), None),
                Event::Subscribe {
                    account, folder, ..
                } => {
                    canonical_folder_cow(folder)?;
                    (account, None, None)
                }
                Event::Relocate { .. } => continue,
                _ => continue,
            };
            let a = self.account(account)?;
            if let Some(folder) = folder {
                let f = a.folder(folder)?;
                if let Event::Deliver { uid, .. } = ev {
                    let repeated = match seen.as_mut() {
                        Some(seen) => !seen.insert((account, folder, *uid)),
                        None => events[..i].iter().any(|e| {
                            matches!(e, Event::Deliver { account: a, folder: f, uid: u, .. }
                                if u == uid && f == folder && a == account)
                        }),
                    };
                    if repeated || f.messages.find(*uid).is_ok() {
                        return Err(MailboxError::DuplicateUid(*uid));
                    }
                }
            }
            if let Some(flags) = kw.filter(|f| !f.keywords.is_empty()) {
                let at = match fresh.iter().position(|(n, _)| *n == account) {
                    Some(at) => at,
                    None => {
                        fresh.push((account, BTreeSet::new()));
                        fresh.len() - 1
                    }
                };
                let set = &mut fresh[at].1;
                set.extend(
                    flags
                        .keywords
                        .iter()
                        .filter(|k| a.keywords.slot(k).is_none())
                        .map(|k| k.to_ascii_lowercase()),
                );
                a.keywords.check_room(set.len())?;
            }
        }
        Ok(())
    }

    /// Applies a structural batch to clones of the accounts it touches; they replace the originals only
    /// if every event applied.
    fn apply_on_clone(&mut self, events: &[Event]) -> Result<(), MailboxError> {
        let names: BTreeSet<String> = events
            .iter()
            .filter_map(Event::account)
            .map(canonical_account)
            .collect();
        let mut tmp = Index::default();
        for n in &names {
            if let Some(a) = self.accounts.get(n) {
                tmp.accounts.insert(n.clone(), a.clone());
            }
        }
        for ev in events {
            if ev.account().is_some() {
                tmp.apply_one(ev)?;
            }
        }
        for n in names {
            match tmp.accounts.remove(&n) {
                Some(a) => self.accounts.insert(n, a),
                None => self.accounts.remove(&n),
            };
        }
        // Store-wide events (relocations) cannot fail.
        for ev in events.iter().filter(|e| e.account().is_none()) {
            self.apply_one(ev)?;
        }
        Ok(())
    }

    /// Applies one event; may leave a partial change behind on error (callers validated, or work on
    /// a clone).
    fn apply_one(&mut self, ev: &Event) -> Result<(), MailboxError> {
        match ev {
            Event::CreateAccount {
                account,
                uidvalidity,
            } => {
                let name = canonical_account(account);
                if self.accounts.contains_key(&name) {
                    return Err(MailboxError::AccountExists(name));
                }
                let mut a = Account::default();
                for (i, (folder, special)) in DEFAULT_FOLDERS.iter().enumerate() {
                    a.folders.insert(
                        folder.to_string(),
                        Folder::new(uidvalidity.saturating_add(i as u32), *special),
                    );
                    a.subscriptions.insert(folder.to_string());
                }
                a.last_uidvalidity = uidvalidity.saturating_add(DEFAULT_FOLDERS.len() as u32 - 1);
                self.accounts.insert(name, a);
            }
            Event::DeleteAccount { account } => {
                let name = canonical_account(account);
                self.accounts
                    .remove(&name)
                    .ok_or(MailboxError::NoAccount(name))?;
            }
            Event::CreateFolder {
                account,
                folder,
                uidvalidity,
                special_use,
            } => {
                let a = self.account_mut(account)?;
                let name = canonical_folder(folder)?;
                if a.folders.contains_key(&name) {
                    return Err(MailboxError::FolderExists(name));
                }
                a.folders
                    .insert(name, Folder::new(*uidvalidity, *special_use));
                a.last_uidvalidity = a.last_uidvalidity.max(*uidvalidity);
            }
            Event::RenameFolder {
                account,
                from,
                to,
                uidvalidity,
            } => {
                let a = self.account_mut(account)?;
                let (from, to) = (canonical_folder(from)?, canonical_folder(to)?);
                if !a.folders.contains_key(&from) {
                    return Err(MailboxError::NoFolder(from));
                }
                if a.folders.contains_key(&to) {
                    return Err(MailboxError::FolderExists(to));
                }
                if from == "INBOX" {
                    // RFC 3501 6.3.5: the messages move to the new folder; INBOX stays, empty. For
                    // INBOX's UIDVALIDITY they are expunged: one MODSEQ above its highest, with
                    // tombstones, so QRESYNC clients learn they vanished.
                    let inbox = a
                        .folders
                        .get_mut("INBOX")
                        .ok_or(MailboxError::NoFolder(from.clone()))?;
                    let mut moved = Folder::new(*uidvalidity, 0);
                    moved.messages = std::mem::take(&mut inbox.messages);
                    moved.uidnext = inbox.uidnext;
                    moved.plan_uid = inbox.uidnext;
                    moved.highestmodseq = inbox.highestmodseq;
                    moved.plan_modseq = inbox.highestmodseq;
                    moved.unseen = std::mem::take(&mut inbox.unseen);
                    moved.bytes = std::mem::take(&mut inbox.bytes);
                    let gone: Vec<MessageEntry> = moved.messages.iter().collect();
                    if !gone.is_empty() {
                        let modseq = inbox.highestmodseq + 1;
                        inbox.bury(&gone, modseq);
                        inbox.raise_modseq(modseq);
                    }
                    a.folders.insert(to, moved);
                    a.last_uidvalidity = a.last_uidvalidity.max(*uidvalidity);
                    return Ok(());
                }
                let prefix = format!("{from}/");
                let names: Vec<String> = a
                    .folders
                    .keys()
                    .filter(|n| **n == from || n.starts_with(&prefix))
                    .cloned()
                    .collect();
                for n in names {
                    let new = format!("{to}{}", &n[from.len()..]);
                    if let Some(f) = a.folders.remove(&n) {
                        a.folders.insert(new.clone(), f);
                    }
                    if a.subscriptions.remove(&n) {
                        a.subscriptions.insert(new);
                    }
                }
            }
            Event::DeleteFolder { account, folder } => {
                let a = self.account_mut(account)?;
                let name = canonical_folder(folder)?;
                if name == "INBOX" {
                    return Err(MailboxError::CannotDeleteInbox);
                }
                let prefix = format!("{name}/");
                if a.folders.keys().any(|n| n.starts_with(&prefix)) {
                    return Err(MailboxError::HasChildren(name));
                }
                let f = a
                    .folders
                    .remove(&name)
                    .ok_or(MailboxError::NoFolder(name))?;
                // Its messages no longer hold their keywords.
                let kw = Arc::make_mut(&mut a.keywords);
                for m in f.messages.iter() {
                    kw.release(m.kwset);
                }
                kw.sweep();
            }
            Event::Subscribe {
                account,
                folder,
                subscribed,
            } => {
                let a = self.account_mut(account)?;
                let name = canonical_folder(folder)?;
                if *subscribed {
                    a.subscriptions.insert(name);
                } else {
                    a.subscriptions.remove(&name);
                }
            }
            Event::Deliver {
                account,
                folder,
                uid,
                modseq,
                pos,
                size,
                internal_date,
                flags,
            } => {
                let entry = MessageEntry {
                    uid: *uid,
                    size: *size,
                    log: pos.log,
                    segment: pos.segment,
                    offset: pos.offset,
                    kwset: 0,
                    internal_date: internal_date.unix,
                    modseq: *modseq,
                    zone: internal_date.offset_minutes,
                    system: flags.system & SYSTEM_MASK,
                };
                self.account_mut(account)?.deliver(folder, entry, flags)?;
            }
            Event::SetFlags {
                account,
                folder,
                modseq,
                uids,
                mode,
                flags,
            } => {
                self.account_mut(account)?
                    .set_flags(folder, *modseq, uids, *mode, flags)?;
            }
            Event::Expunge {
                account,
                folder,
                modseq,
                uids,
            } => {
                self.account_mut(account)?.expunge(folder, *modseq, uids)?;
            }
            Event::ClaimRecent {
                account,
                folder,
                uid,
            } => {
                let f = self.account_mut(account)?.folder_mut(folder)?;
                f.first_recent = f.first_recent.max(*uid);
            }
            Event::Relocate { moves } => {
                let map: HashMap<Position, Position> = moves.iter().copied().collect();
                for a in self.accounts.values_mut() {
                    for f in a.folders.values_mut() {
                        f.messages.update_where(
                            |m| map.contains_key(&Position::new(m.log, m.segment, m.offset)),
                            |m| {
                                if let Some(n) = map.get(&Position::new(m.log, m.segment, m.offset))
                                {
                                    (m.log, m.segment, m.offset) = (n.log, n.segment, n.offset);
                                }
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn meta(a: &Account, m: &MessageEntry) -> MessageMeta {
    MessageMeta {
        uid: m.uid,
        pos: Position::new(m.log, m.segment, m.offset),
        size: m.size,
        internal_date: InternalDate::new(m.internal_date, m.zone),
        flags: a.flags_of(m),
        modseq: m.modseq,
    }
}
