//! Index snapshots: an rkyv archive of every account, folder and message, read in place from an mmap.
//!
//! Loading validates the archive once (bytecheck) and then builds only the small maps (accounts,
//! folders); each folder's messages stay in the memory map, as archived entries, until the folder first
//! changes, when that folder alone is copied out (see `Messages`). So start-up costs one validation pass
//! over the file, whatever the number of messages. A file that fails validation is a typed error, and the
//! caller rebuilds from the logs.
//!
//! Format 2 (this one) adds keyword tables (slot names, use counts, interned sets), message zones and
//! system flags apart from keyword sets, the STATUS counters, \Recent's first UID and the expunge
//! tombstones. A format-1 file is refused like any unusable snapshot (its magic differs), so the first
//! start after the upgrade replays the logs in full and writes format 2 at its next snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;
use rkyv::{Archive, Deserialize, Serialize};

use super::keywords::Keywords;
use super::messages::MessageList;
use super::model::{Account, Folder, Index, Tombstone};
use crate::{Error, LogId, Result};

/// One message in a folder: fixed size (48 bytes), so a folder's messages are one flat archived array.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageEntry {
    pub uid: u32,
    pub size: u32,
    pub log: u32,
    pub segment: u32,
    pub offset: u32,
    /// The account's interned keyword set (0: none); names via the view or index.
    pub kwset: u32,
    /// INTERNALDATE: seconds since the epoch, UTC ...
    pub internal_date: i64,
    pub modseq: u64,
    /// ... and its zone, minutes east of UTC.
    pub zone: i16,
    /// System flags (`SEEN`, `ANSWERED`, `FLAGGED`, `DELETED`, `DRAFT`).
    pub system: u8,
}

pub(crate) fn entry_from_archived(a: &ArchivedMessageEntry) -> MessageEntry {
    MessageEntry {
        uid: a.uid.to_native(),
        size: a.size.to_native(),
        log: a.log.to_native(),
        segment: a.segment.to_native(),
        offset: a.offset.to_native(),
        kwset: a.kwset.to_native(),
        internal_date: a.internal_date.to_native(),
        modseq: a.modseq.to_native(),
        zone: a.zone.to_native(),
        system: a.system,
    }
}

/// What a snapshot covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub generation: u64,
    /// For each log, `Position::seg_off` of the first record the snapshot does not cover.
    pub checkpoints: Vec<(LogId, u64)>,
}

#[derive(Archive, Serialize, Deserialize)]
struct SnapCheckpoint {
    log: u32,
    at: u64,
}

#[derive(Archive, Serialize, Deserialize)]
struct SnapTombstone {
    uid: u32,
    modseq: u64,
}

#[derive(Archive, Serialize, Deserialize)]
struct SnapFolder {
    name: String,
    uidvalidity: u32,
    uidnext: u32,
    highestmodseq: u64,
    special_use: u8,
    unseen: u32,
    bytes: u64,
    first_recent: u32,
    vanished_floor: u64,
    tombstones: Vec<SnapTombstone>,
    messages: Vec<MessageEntry>,
}

#[derive(Archive, Serialize, Deserialize)]
struct SnapKeywordSet {
    slots: Vec<u32>,
    refs: u32,
}

#[derive(Archive, Serialize, Deserialize)]
struct SnapAccount {
    name: String,
    last_uidvalidity: u32,
    /// Keyword names by slot ("" for a free slot), messages per slot, and the interned sets by id.
    keyword_names: Vec<String>,
    keyword_uses: Vec<u32>,
    keyword_sets: Vec<SnapKeywordSet>,
    subscriptions: Vec<String>,
    folders: Vec<SnapFolder>,
}

#[derive(Archive, Serialize, Deserialize)]
struct SnapData {
    magic: u64,
    generation: u64,
    checkpoints: Vec<SnapCheckpoint>,
    accounts: Vec<SnapAccount>,
}

const MAGIC: u64 = 0x5348_4d49_4458_0002; // "SHMIDX" format 2

/// A validated snapshot file, mapped.
pub(crate) struct MappedSnapshot {
    map: Mmap,
}

impl MappedSnapshot {
    fn root(&self) -> &ArchivedSnapData {
        // SAFETY: the bytes were validated with `rkyv::access` when this value was made (`Snapshot::load`),
        // and the map is read-only and lives as long as `self`.
        unsafe { rkyv::access_unchecked::<ArchivedSnapData>(&self.map) }
    }

    pub(crate) fn messages(&self, account: usize, folder: usize) -> &[ArchivedMessageEntry] {
        self.root()
            .accounts
            .get(account)
            .and_then(|a| a.folders.get(folder))
            .map_or(&[], |f| f.messages.as_slice())
    }
}

impl Index {
    /// The snapshot of this index as an rkyv archive.
    pub fn snapshot_bytes(&self, meta: &SnapshotMeta) -> Vec<u8> {
        let mut names: Vec<&String> = self.accounts.keys().collect();
        names.sort();
        let accounts = names
            .into_iter()
            .filter_map(|n| self.accounts.get(n).map(|a| (n, a)))
            .map(|(name, a)| {
                let (keyword_names, keyword_uses, sets) = a.keywords.to_parts();
                SnapAccount {
                    name: name.clone(),
                    last_uidvalidity: a.last_uidvalidity,
                    keyword_names,
                    keyword_uses,
                    keyword_sets: sets
                        .into_iter()
                        .map(|(slots, refs)| SnapKeywordSet { slots, refs })
                        .collect(),
                    subscriptions: a.subscriptions.iter().cloned().collect(),
                    folders: a
                        .folders
                        .iter()
                        .map(|(fname, f)| SnapFolder {
                            name: fname.clone(),
                            uidvalidity: f.uidvalidity,
                            uidnext: f.uidnext,
                            highestmodseq: f.highestmodseq,
                            special_use: f.special_use,
                            unseen: f.unseen,
                            bytes: f.bytes,
                            first_recent: f.first_recent,
                            vanished_floor: f.vanished_floor,
                            tombstones: f
                                .tombstones
                                .iter()
                                .map(|t| SnapTombstone {
                                    uid: t.uid,
                                    modseq: t.modseq,
                                })
                                .collect(),
                            messages: f.messages.iter().collect(),
                        })
                        .collect(),
                }
            })
            .collect();
        let data = SnapData {
            magic: MAGIC,
            generation: meta.generation,
            checkpoints: meta
                .checkpoints
                .iter()
                .map(|&(log, at)| SnapCheckpoint { log, at })
                .collect(),
            accounts,
        };
        match rkyv::to_bytes::<rkyv::rancor::Error>(&data) {
            Ok(bytes) => bytes.to_vec(),
            // Serialising plain owned data into a growable buffer only fails on allocation failure.
            Err(e) => panic!("serialising the index snapshot: {e}"),
        }
    }
}

/// Loading snapshots.
pub struct Snapshot;

impl Snapshot {
    /// Maps and validates a snapshot file, and builds an index that reads its messages in place.
    pub fn load(path: &Path) -> Result<(Index, SnapshotMeta)> {
        let bad = |reason: String| Error::BadSnapshot {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| Error::io("opening snapshot", path, e))?;
        // SAFETY: snapshot files are written once, to a temporary name, and renamed into place; nothing
        // writes a file in place while it may be mapped.
        let map =
            unsafe { Mmap::map(&file) }.map_err(|e| Error::io("mapping snapshot", path, e))?;
        // A snapshot of an older format fails validation here (its layout differs) or the magic check
        // below; either way the caller replays the logs instead.
        let root = rkyv::access::<ArchivedSnapData, rkyv::rancor::Error>(&map).map_err(|e| {
            bad(format!(
                "invalid archive, or a snapshot of an older format (not read: the logs are replayed instead): {e}"
            ))
        })?;
        if root.magic.to_native() != MAGIC {
            return Err(bad(
                "not a shardmail index snapshot of format 2 (an older format is not read; the logs are replayed instead)".into(),
            ));
        }
        let meta = SnapshotMeta {
            generation: root.generation.to_native(),
            checkpoints: root
                .checkpoints
                .iter()
                .map(|c| (c.log.to_native(), c.at.to_native()))
                .collect(),
        };
        let mut shape: Vec<(String, Account)> = Vec::with_capacity(root.accounts.len());
        for a in root.accounts.iter() {
            let mut folders = BTreeMap::new();
            for f in a.folders.iter() {
                let mut folder = Folder::new(f.uidvalidity.to_native(), f.special_use);
                folder.uidnext = f.uidnext.to_native();
                folder.plan_uid = folder.uidnext;
                folder.highestmodseq = f.highestmodseq.to_native();
                folder.plan_modseq = folder.highestmodseq;
                folder.unseen = f.unseen.to_native();
                folder.bytes = f.bytes.to_native();
                folder.first_recent = f.first_recent.to_native();
                folder.vanished_floor = f.vanished_floor.to_native();
                folder.tombstones = Arc::new(
                    f.tombstones
                        .iter()
                        .map(|t| Tombstone {
                            uid: t.uid.to_native(),
                            modseq: t.modseq.to_native(),
                        })
                        .collect(),
                );
                folders.insert(f.name.as_str().to_string(), folder);
            }
            let keywords = Keywords::from_parts(
                a.keyword_names
                    .iter()
                    .map(|s| s.as_str().to_string())
                    .collect(),
                a.keyword_uses.iter().map(|u| u.to_native()).collect(),
                a.keyword_sets
                    .iter()
                    .map(|s| {
                        (
                            s.slots.iter().map(|x| x.to_native()).collect(),
                            s.refs.to_native(),
                        )
                    })
                    .collect(),
            );
            let account = Account {
                folders,
                subscriptions: a
                    .subscriptions
                    .iter()
                    .map(|s| s.as_str().to_string())
                    .collect::<BTreeSet<_>>(),
                keywords: Arc::new(keywords),
                last_uidvalidity: a.last_uidvalidity.to_native(),
            };
            shape.push((a.name.as_str().to_string(), account));
        }
        let snap = Arc::new(MappedSnapshot { map });
        let mut index = Index::default();
        for (ai, (name, mut account)) in shape.into_iter().enumerate() {
            // Folders were archived in name order, the order of the BTreeMap iterated here.
            for (fi, folder) in account.folders.values_mut().enumerate() {
                if !snap.messages(ai, fi).is_empty() {
                    folder.messages = MessageList::mapped(snap.clone(), ai, fi);
                }
            }
            index.accounts.insert(name, account);
        }
        Ok((index, meta))
    }
}
