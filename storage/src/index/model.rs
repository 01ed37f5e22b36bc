//! The index's state, its queries, and `apply`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::event::{Event, FlagMode, Flags};
use super::snapshot::{entry_from_archived, MappedSnapshot, MessageEntry};
use super::{
    canonical_account, canonical_account_cow, canonical_folder, canonical_folder_cow, MailboxError,
    DEFAULT_FOLDERS, MAX_KEYWORDS, SEEN,
};
use crate::Position;

/// A folder's messages: an owned vector, or (after loading a snapshot) the archived slice inside the
/// snapshot's memory map, copied out only when the folder first changes.
pub(crate) enum Messages {
    Owned(Vec<MessageEntry>),
    Mapped {
        snap: Arc<MappedSnapshot>,
        account: usize,
        folder: usize,
    },
}

impl Default for Messages {
    fn default() -> Self {
        Messages::Owned(Vec::new())
    }
}

impl Messages {
    pub(crate) fn len(&self) -> usize {
        match self {
            Messages::Owned(v) => v.len(),
            Messages::Mapped {
                snap,
                account,
                folder,
            } => snap.messages(*account, *folder).len(),
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<MessageEntry> {
        match self {
            Messages::Owned(v) => v.get(i).copied(),
            Messages::Mapped {
                snap,
                account,
                folder,
            } => snap
                .messages(*account, *folder)
                .get(i)
                .map(entry_from_archived),
        }
    }

    fn uid_at(&self, i: usize) -> Option<u32> {
        match self {
            Messages::Owned(v) => v.get(i).map(|m| m.uid),
            Messages::Mapped {
                snap,
                account,
                folder,
            } => snap
                .messages(*account, *folder)
                .get(i)
                .map(|m| m.uid.to_native()),
        }
    }

    /// Binary search by UID (messages are sorted by UID).
    pub(crate) fn find(&self, uid: u32) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.uid_at(mid) {
                Some(u) if u < uid => lo = mid + 1,
                Some(u) if u > uid => hi = mid,
                Some(_) => return Ok(mid),
                None => return Err(lo),
            }
        }
        Err(lo)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = MessageEntry> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// The owned vector, copying the archived entries on first change (copy-on-write).
    pub(crate) fn make_mut(&mut self) -> &mut Vec<MessageEntry> {
        if let Messages::Mapped { .. } = self {
            let v: Vec<MessageEntry> = self.iter().collect();
            *self = Messages::Owned(v);
        }
        match self {
            Messages::Owned(v) => v,
            Messages::Mapped { .. } => unreachable!("converted to Owned just above"),
        }
    }

    pub(crate) fn last_uid(&self) -> Option<u32> {
        self.len().checked_sub(1).and_then(|i| self.uid_at(i))
    }
}

pub(crate) struct Folder {
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: u32,
    pub(crate) highestmodseq: u64,
    pub(crate) special_use: u8,
    pub(crate) messages: Messages,
    /// The next UID a plan hands out (>= uidnext): reserved, not yet applied.
    pub(crate) plan_uid: u32,
    /// The last modseq a plan handed out (>= highestmodseq).
    pub(crate) plan_modseq: u64,
}

impl Folder {
    pub(crate) fn new(uidvalidity: u32, special_use: u8) -> Folder {
        Folder {
            uidvalidity,
            uidnext: 1,
            highestmodseq: 0,
            special_use,
            messages: Messages::default(),
            plan_uid: 1,
            plan_modseq: 0,
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

    fn status(&self) -> FolderStatus {
        FolderStatus {
            uidvalidity: self.uidvalidity,
            uidnext: self.uidnext,
            highestmodseq: self.highestmodseq,
            exists: self.messages.len() as u32,
            unseen: self
                .messages
                .iter()
                .filter(|m| m.flags & SEEN as u64 == 0)
                .count() as u32,
        }
    }
}

#[derive(Default)]
pub(crate) struct Account {
    pub(crate) folders: BTreeMap<String, Folder>,
    pub(crate) subscriptions: BTreeSet<String>,
    /// Keyword names; keyword i is flag bit 8 + i.
    pub(crate) keywords: Vec<String>,
    /// The largest UIDVALIDITY this account used or reserved.
    pub(crate) last_uidvalidity: u32,
}

impl Account {
    pub(crate) fn keyword_slot(&self, name: &str) -> Option<usize> {
        self.keywords
            .iter()
            .position(|k| k.eq_ignore_ascii_case(name))
    }

    /// Flag bits of `flags`, allocating keyword slots for new names.
    fn bits(&mut self, flags: &Flags) -> Result<u64, MailboxError> {
        let mut bits = flags.system as u64 & 0x1f;
        for k in &flags.keywords {
            let slot = match self.keyword_slot(k) {
                Some(s) => s,
                None if self.keywords.len() < MAX_KEYWORDS => {
                    self.keywords.push(k.clone());
                    self.keywords.len() - 1
                }
                None => return Err(MailboxError::TooManyKeywords),
            };
            bits |= 1u64 << (8 + slot);
        }
        Ok(bits)
    }

    /// The flags of a message as names: (system bits, keyword names).
    pub(crate) fn flags_of(&self, bits: u64) -> Flags {
        let keywords = (0..self.keywords.len())
            .filter(|i| bits & (1u64 << (8 + i)) != 0)
            .filter_map(|i| self.keywords.get(i).cloned())
            .collect();
        Flags {
            system: (bits & 0x1f) as u8,
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
}

/// One message as the index knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: u32,
    pub pos: Position,
    pub size: u32,
    pub internal_date: i64,
    /// System flag bits (0..=4) and keyword bits (8..=63, see [`Index::keywords_of`]).
    pub flags: u64,
    pub modseq: u64,
}

impl From<MessageEntry> for MessageMeta {
    fn from(e: MessageEntry) -> Self {
        MessageMeta {
            uid: e.uid,
            pos: Position::new(e.log, e.segment, e.offset),
            size: e.size,
            internal_date: e.internal_date,
            flags: e.flags,
            modseq: e.modseq,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FolderStatus {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub exists: u32,
    pub unseen: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderInfo {
    pub name: String,
    pub special_use: u8,
    pub subscribed: bool,
    pub status: FolderStatus,
}

/// The mailbox index of a set of accounts.
#[derive(Default)]
pub struct Index {
    pub(crate) accounts: HashMap<String, Account>,
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

    pub fn status(&self, account: &str, folder: &str) -> Result<FolderStatus, MailboxError> {
        Ok(self.account(account)?.folder(folder)?.status())
    }

    /// The messages of a folder in UID order.
    pub fn messages(&self, account: &str, folder: &str) -> Result<Vec<MessageMeta>, MailboxError> {
        Ok(self
            .account(account)?
            .folder(folder)?
            .messages
            .iter()
            .map(MessageMeta::from)
            .collect())
    }

    pub fn message(
        &self,
        account: &str,
        folder: &str,
        uid: u32,
    ) -> Result<Option<MessageMeta>, MailboxError> {
        let f = self.account(account)?.folder(folder)?;
        Ok(f.messages
            .find(uid)
            .ok()
            .and_then(|i| f.messages.get(i))
            .map(MessageMeta::from))
    }

    /// The flags of a message's flag bits as names.
    pub fn keywords_of(&self, account: &str, flags: u64) -> Result<Flags, MailboxError> {
        Ok(self.account(account)?.flags_of(flags))
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

    /// Applies one durable event.
    pub fn apply(&mut self, ev: &Event) -> Result<(), MailboxError> {
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
                    // RFC 3501 6.3.5: the messages move to the new folder; INBOX stays, empty.
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
                a.folders
                    .remove(&name)
                    .ok_or(MailboxError::NoFolder(name))?;
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
                let a = self.account_mut(account)?;
                let bits = a.bits(flags)?;
                let f = a.folder_mut(folder)?;
                let entry = MessageEntry {
                    uid: *uid,
                    size: *size,
                    log: pos.log,
                    segment: pos.segment,
                    offset: pos.offset,
                    internal_date: *internal_date,
                    flags: bits,
                    modseq: *modseq,
                };
                let at = match f.messages.last_uid() {
                    Some(last) if last >= *uid => f
                        .messages
                        .find(*uid)
                        .err()
                        .ok_or(MailboxError::DuplicateUid(*uid))?,
                    _ => f.messages.len(),
                };
                f.messages.make_mut().insert(at, entry);
                f.raise_uidnext(*uid);
                f.raise_modseq(*modseq);
            }
            Event::SetFlags {
                account,
                folder,
                modseq,
                uids,
                mode,
                flags,
            } => {
                let a = self.account_mut(account)?;
                let bits = a.bits(flags)?;
                let f = a.folder_mut(folder)?;
                let idx: Vec<usize> = uids
                    .iter()
                    .filter_map(|u| f.messages.find(*u).ok())
                    .collect();
                if !idx.is_empty() {
                    let v = f.messages.make_mut();
                    for i in idx {
                        if let Some(m) = v.get_mut(i) {
                            m.flags = match mode {
                                FlagMode::Replace => bits,
                                FlagMode::Add => m.flags | bits,
                                FlagMode::Remove => m.flags & !bits,
                            };
                            m.modseq = *modseq;
                        }
                    }
                }
                f.raise_modseq(*modseq);
            }
            Event::Expunge {
                account,
                folder,
                modseq,
                uids,
            } => {
                let f = self.account_mut(account)?.folder_mut(folder)?;
                let gone: BTreeSet<u32> = uids.iter().copied().collect();
                if gone.iter().any(|u| f.messages.find(*u).is_ok()) {
                    f.messages.make_mut().retain(|m| !gone.contains(&m.uid));
                }
                f.raise_modseq(*modseq);
            }
            Event::Relocate { moves } => {
                let map: HashMap<Position, Position> = moves.iter().copied().collect();
                for a in self.accounts.values_mut() {
                    for f in a.folders.values_mut() {
                        let hit = f
                            .messages
                            .iter()
                            .any(|m| map.contains_key(&Position::new(m.log, m.segment, m.offset)));
                        if !hit {
                            continue;
                        }
                        for m in f.messages.make_mut() {
                            if let Some(n) = map.get(&Position::new(m.log, m.segment, m.offset)) {
                                (m.log, m.segment, m.offset) = (n.log, n.segment, n.offset);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
