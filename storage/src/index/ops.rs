//! Planning operations: validate against the current state, reserve what the operation allocates, and
//! return the events that the caller makes durable and then applies. Nothing here changes what queries
//! see; only reservations (UID, modseq and UIDVALIDITY counters) move forward, so operations planned
//! before earlier ones are applied never collide.

use std::collections::BTreeSet;

use super::event::{Event, FlagMode, Flags, InternalDate};
use super::model::{Account, Index};
use super::{
    canonical_account, canonical_folder, special_use_name, MailboxError, ARCHIVE_FOLDER,
    DEFAULT_FOLDERS, SPECIAL_NONE,
};
use crate::Position;

/// (source UID, new UID) pairs of a COPY or MOVE, for UIDPLUS COPYUID (RFC 4315).
pub type UidMap = Vec<(u32, u32)>;

/// A UIDVALIDITY for a new folder: the clock's seconds, but always above every one the account used.
fn next_uidvalidity(a: &mut Account, now: i64) -> u32 {
    let v = (now.clamp(1, u32::MAX as i64) as u32).max(a.last_uidvalidity.saturating_add(1));
    a.last_uidvalidity = v;
    v
}

/// Checks that the keywords of `flags` fit the account's keyword table.
fn check_keywords(a: &Account, flags: &Flags) -> Result<(), MailboxError> {
    a.keywords
        .check_room(a.keywords.new_names(flags.keywords.iter()))
}

/// What a STORE planned (RFC 3501 6.4.6, RFC 7162 3.1.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreResult {
    pub events: Vec<Event>,
    /// The MODSEQ the changed messages get (0 when none changed).
    pub modseq: u64,
    /// UIDs left alone because their MODSEQ was above UNCHANGEDSINCE (the MODIFIED response code).
    pub modified: Vec<u32>,
}

/// Missing parents of `name` ("a/b/c" needs "a" and "a/b"), shallowest first.
fn missing_parents(a: &Account, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in name.char_indices() {
        if c == '/' {
            let p = &name[..i];
            if !a.folders.contains_key(p) {
                out.push(p.to_string());
            }
        }
    }
    out
}

impl Index {
    pub fn create_account(&mut self, account: &str, now: i64) -> Result<Vec<Event>, MailboxError> {
        let name = canonical_account(account);
        if self.accounts.contains_key(&name) {
            return Err(MailboxError::AccountExists(name));
        }
        let uidvalidity = now.clamp(1, u32::MAX as i64 - 16) as u32;
        // `CreateAccount` makes DEFAULT_FOLDERS with UIDVALIDITYs `uidvalidity..+5`; Archive is a
        // folder event after it, in the same batch, so older stores replay exactly as before.
        let (archive, special_use) = ARCHIVE_FOLDER;
        Ok(vec![
            Event::CreateAccount {
                account: name.clone(),
                uidvalidity,
            },
            Event::CreateFolder {
                account: name.clone(),
                folder: archive.to_string(),
                uidvalidity: uidvalidity + DEFAULT_FOLDERS.len() as u32,
                special_use,
            },
            Event::Subscribe {
                account: name,
                folder: archive.to_string(),
                subscribed: true,
            },
        ])
    }

    pub fn delete_account(&mut self, account: &str) -> Result<Vec<Event>, MailboxError> {
        let name = canonical_account(account);
        self.account(&name)?;
        Ok(vec![Event::DeleteAccount { account: name }])
    }

    /// Delivers the message at `pos` into each `(account, folder)`: one `Deliver` per target, all
    /// referencing the same bytes.
    pub fn deliver(
        &mut self,
        targets: &[(String, String)],
        pos: Position,
        size: u32,
        internal_date: impl Into<InternalDate>,
        flags: Flags,
    ) -> Result<Vec<Event>, MailboxError> {
        self.deliver_to(targets, pos, size, internal_date, flags)
    }

    /// [`Index::deliver`] with borrowed names (the queue files without allocating the pairs).
    pub fn deliver_to<A: AsRef<str>, F: AsRef<str>>(
        &mut self,
        targets: &[(A, F)],
        pos: Position,
        size: u32,
        internal_date: impl Into<InternalDate>,
        flags: Flags,
    ) -> Result<Vec<Event>, MailboxError> {
        let internal_date = internal_date.into();
        // Validate every target before reserving anything.
        for (account, folder) in targets {
            let a = self.account(account.as_ref())?;
            a.folder(folder.as_ref())?;
            check_keywords(a, &flags)?;
        }
        let mut events = Vec::with_capacity(targets.len());
        for (account, folder) in targets {
            let (account, folder) = (account.as_ref(), folder.as_ref());
            let f = self.account_mut(account)?.folder_mut(folder)?;
            let (uid, modseq) = (f.reserve_uid(), f.reserve_modseq());
            events.push(Event::Deliver {
                account: canonical_account(account),
                folder: canonical_folder(folder)?,
                uid,
                modseq,
                pos,
                size,
                internal_date,
                flags: flags.clone(),
            });
        }
        Ok(events)
    }

    /// STORE: changes the flags of the listed UIDs that exist (others are ignored, as IMAP does).
    /// Returns the events and the modseq they carry (0 when nothing matched).
    pub fn set_flags(
        &mut self,
        account: &str,
        folder: &str,
        uids: &[u32],
        mode: FlagMode,
        flags: Flags,
    ) -> Result<(Vec<Event>, u64), MailboxError> {
        let r = self.store(account, folder, uids, mode, flags, None)?;
        Ok((r.events, r.modseq))
    }

    /// STORE with CONDSTORE's UNCHANGEDSINCE (RFC 7162 3.1.3): a message whose MODSEQ is above
    /// `unchanged_since` is left alone and reported in `modified`. Planned against every operation
    /// planned before (pending included), so the comparison is with the MODSEQ the message will have.
    pub fn store(
        &mut self,
        account: &str,
        folder: &str,
        uids: &[u32],
        mode: FlagMode,
        flags: Flags,
        unchanged_since: Option<u64>,
    ) -> Result<StoreResult, MailboxError> {
        let a = self.account(account)?;
        if mode != FlagMode::Remove {
            check_keywords(a, &flags)?;
        }
        let f = a.folder(folder)?;
        let wanted: BTreeSet<u32> = uids.iter().copied().collect();
        let mut present = Vec::with_capacity(wanted.len());
        let mut modified = Vec::new();
        for u in wanted {
            let Some(m) = f.messages.by_uid(u) else {
                continue;
            };
            match unchanged_since {
                Some(since) if m.modseq > since => modified.push(u),
                _ => present.push(u),
            }
        }
        if present.is_empty() {
            return Ok(StoreResult {
                modified,
                ..StoreResult::default()
            });
        }
        let modseq = self
            .account_mut(account)?
            .folder_mut(folder)?
            .reserve_modseq();
        let ev = Event::SetFlags {
            account: canonical_account(account),
            folder: canonical_folder(folder)?,
            modseq,
            uids: present,
            mode,
            flags,
        };
        Ok(StoreResult {
            events: vec![ev],
            modseq,
            modified,
        })
    }

    /// SELECT (not EXAMINE) claims the \Recent messages below `upto` (the UIDNEXT of the view the
    /// session reports). Returns the first UID that was still \Recent before this claim: the session
    /// reports messages in `[returned, upto)` as \Recent, and no other session will (RFC 3501 2.3.2).
    pub fn claim_recent(
        &mut self,
        account: &str,
        folder: &str,
        upto: u32,
    ) -> Result<(Vec<Event>, u32), MailboxError> {
        let f = self.account(account)?.folder(folder)?;
        let first = f.first_recent;
        if upto <= first {
            return Ok((Vec::new(), first));
        }
        Ok((
            vec![Event::ClaimRecent {
                account: canonical_account(account),
                folder: canonical_folder(folder)?,
                uid: upto,
            }],
            first,
        ))
    }

    /// EXPUNGE / UID EXPUNGE of the listed UIDs that exist.
    pub fn expunge(
        &mut self,
        account: &str,
        folder: &str,
        uids: &[u32],
    ) -> Result<Vec<Event>, MailboxError> {
        let f = self.account(account)?.folder(folder)?;
        let present: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| f.messages.find(*u).is_ok())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if present.is_empty() {
            return Ok(Vec::new());
        }
        let modseq = self
            .account_mut(account)?
            .folder_mut(folder)?
            .reserve_modseq();
        Ok(vec![Event::Expunge {
            account: canonical_account(account),
            folder: canonical_folder(folder)?,
            modseq,
            uids: present,
        }])
    }

    /// COPY: new UIDs in `to` for the existing UIDs of `from`, same bytes. Returns the (source UID,
    /// new UID) pairs, for UIDPLUS COPYUID (RFC 4315).
    pub fn copy(
        &mut self,
        account: &str,
        from: &str,
        to: &str,
        uids: &[u32],
    ) -> Result<(Vec<Event>, UidMap), MailboxError> {
        let a = self.account(account)?;
        let src = a.folder(from)?;
        a.folder(to)?;
        let wanted: BTreeSet<u32> = uids.iter().copied().collect();
        let picked: Vec<_> = wanted
            .iter()
            .filter_map(|u| src.messages.by_uid(*u))
            .collect();
        let flags: Vec<Flags> = picked.iter().map(|m| a.flags_of(m)).collect();
        let (account_c, to_c) = (canonical_account(account), canonical_folder(to)?);
        let dst = self.account_mut(account)?.folder_mut(to)?;
        let mut events = Vec::with_capacity(picked.len());
        let mut map = Vec::with_capacity(picked.len());
        for (m, flags) in picked.into_iter().zip(flags) {
            let (uid, modseq) = (dst.reserve_uid(), dst.reserve_modseq());
            map.push((m.uid, uid));
            events.push(Event::Deliver {
                account: account_c.clone(),
                folder: to_c.clone(),
                uid,
                modseq,
                pos: Position::new(m.log, m.segment, m.offset),
                size: m.size,
                internal_date: m.date(),
                flags,
            });
        }
        Ok((events, map))
    }

    /// MOVE (RFC 6851): the copy and the expunge from the source, in one batch so they apply together.
    pub fn move_(
        &mut self,
        account: &str,
        from: &str,
        to: &str,
        uids: &[u32],
    ) -> Result<(Vec<Event>, UidMap), MailboxError> {
        if canonical_folder(from)? == canonical_folder(to)? {
            return Err(MailboxError::RenameIntoSelf);
        }
        let (mut events, map) = self.copy(account, from, to, uids)?;
        let moved: Vec<u32> = map.iter().map(|(s, _)| *s).collect();
        events.extend(self.expunge(account, from, &moved)?);
        Ok((events, map))
    }

    /// CREATE, with missing parents created too (like Dovecot).
    pub fn create_folder(
        &mut self,
        account: &str,
        name: &str,
        now: i64,
    ) -> Result<Vec<Event>, MailboxError> {
        self.create_special_folder(account, name, SPECIAL_NONE, now)
    }

    /// CREATE with a SPECIAL-USE attribute (RFC 6154 3, `special_use` a `SPECIAL_*` code; missing
    /// parents get none). The attribute is the `special_use` of the folder's `CreateFolder` event, so
    /// it is durable with the folder, replayed and snapshotted like any folder. At most one folder of
    /// an account has each attribute.
    pub fn create_special_folder(
        &mut self,
        account: &str,
        name: &str,
        special_use: u8,
        now: i64,
    ) -> Result<Vec<Event>, MailboxError> {
        let name = canonical_folder(name)?;
        let account_c = canonical_account(account);
        let a = self.account_mut(account)?;
        if a.folders.contains_key(&name) {
            return Err(MailboxError::FolderExists(name));
        }
        if special_use != SPECIAL_NONE {
            let Some(attr) = special_use_name(special_use) else {
                return Err(MailboxError::UnknownSpecialUse(special_use));
            };
            if a.folders.values().any(|f| f.special_use == special_use) {
                return Err(MailboxError::SpecialUseTaken(attr.to_string()));
            }
        }
        let mut events = Vec::new();
        for folder in missing_parents(a, &name) {
            let uidvalidity = next_uidvalidity(a, now);
            events.push(Event::CreateFolder {
                account: account_c.clone(),
                folder,
                uidvalidity,
                special_use: SPECIAL_NONE,
            });
        }
        let uidvalidity = next_uidvalidity(a, now);
        events.push(Event::CreateFolder {
            account: account_c,
            folder: name,
            uidvalidity,
            special_use,
        });
        Ok(events)
    }

    /// RENAME (RFC 3501 6.3.5): children move along; renaming INBOX moves its messages to a new folder.
    /// A renamed folder keeps its UIDVALIDITY: every UIDVALIDITY of an account is unique, so a client
    /// that knew an older folder by the new name still sees a different one.
    pub fn rename_folder(
        &mut self,
        account: &str,
        from: &str,
        to: &str,
        now: i64,
    ) -> Result<Vec<Event>, MailboxError> {
        let (from, to) = (canonical_folder(from)?, canonical_folder(to)?);
        let account_c = canonical_account(account);
        let a = self.account_mut(account)?;
        if !a.folders.contains_key(&from) {
            return Err(MailboxError::NoFolder(from));
        }
        if a.folders.contains_key(&to) {
            return Err(MailboxError::FolderExists(to));
        }
        if from != "INBOX" && (to == from || to.starts_with(&format!("{from}/"))) {
            return Err(MailboxError::RenameIntoSelf);
        }
        let mut events = Vec::new();
        for folder in missing_parents(a, &to) {
            let uidvalidity = next_uidvalidity(a, now);
            events.push(Event::CreateFolder {
                account: account_c.clone(),
                folder,
                uidvalidity,
                special_use: SPECIAL_NONE,
            });
        }
        let uidvalidity = if from == "INBOX" {
            next_uidvalidity(a, now)
        } else {
            0
        };
        events.push(Event::RenameFolder {
            account: account_c,
            from,
            to,
            uidvalidity,
        });
        Ok(events)
    }

    pub fn delete_folder(&mut self, account: &str, name: &str) -> Result<Vec<Event>, MailboxError> {
        let name = canonical_folder(name)?;
        if name == "INBOX" {
            return Err(MailboxError::CannotDeleteInbox);
        }
        let a = self.account(account)?;
        if !a.folders.contains_key(&name) {
            return Err(MailboxError::NoFolder(name));
        }
        let prefix = format!("{name}/");
        if a.folders.keys().any(|n| n.starts_with(&prefix)) {
            return Err(MailboxError::HasChildren(name));
        }
        Ok(vec![Event::DeleteFolder {
            account: canonical_account(account),
            folder: name,
        }])
    }

    pub fn subscribe(
        &mut self,
        account: &str,
        name: &str,
        subscribed: bool,
    ) -> Result<Vec<Event>, MailboxError> {
        let name = canonical_folder(name)?;
        self.account(account)?;
        Ok(vec![Event::Subscribe {
            account: canonical_account(account),
            folder: name,
            subscribed,
        }])
    }
}
