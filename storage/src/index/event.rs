//! Mailbox events, the payload of `Kind::MAILBOX` records, and their compact binary encoding.
//!
//! Encoding: a version byte, the generation (LEB128), the event count, then each event as a tag byte
//! and its fields (LEB128 integers, length-prefixed UTF-8 strings). Decoding never panics and never
//! allocates more than the input could describe: every length is checked against the bytes left.
//!
//! Versions: 1 carried an internal date as UTC seconds only; 2 adds its zone (RFC 3501 INTERNALDATE
//! has one) and the `ClaimRecent` event. Batches are written as version 2; both decode (a version-1
//! date reads as `+0000`).

use crate::codec::{self, put_pos, put_s, put_u};
use crate::{Error, Position, Result};

const VERSION: u8 = 2;
const VERSION_1: u8 = 1;
/// The longest string an event may carry (addresses, folder names, keywords).
pub use crate::codec::MAX_STRING;

/// How a flag change combines with the flags a message has (IMAP STORE FLAGS / +FLAGS / -FLAGS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagMode {
    Replace = 0,
    Add = 1,
    Remove = 2,
}

/// System flags as bits plus keyword names, as carried by events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub system: u8,
    pub keywords: Vec<String>,
}

/// An INTERNALDATE (RFC 3501 2.3.3): an instant and the zone it was given in, so a client sees the
/// offset the message arrived with (`"17-Jul-1996 02:44:25 -0700"`), not only UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InternalDate {
    /// Seconds since the Unix epoch (UTC).
    pub unix: i64,
    /// The zone's offset east of UTC in minutes (-0700 is -420); RFC 3501 allows -2359..=+2359.
    pub offset_minutes: i16,
}

impl InternalDate {
    pub fn new(unix: i64, offset_minutes: i16) -> InternalDate {
        InternalDate {
            unix,
            offset_minutes,
        }
    }

    /// The seconds since the epoch (for callers that print UTC).
    pub fn timestamp(&self) -> i64 {
        self.unix
    }
}

/// A UTC instant (`+0000`).
impl From<i64> for InternalDate {
    fn from(unix: i64) -> InternalDate {
        InternalDate::new(unix, 0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Creates the account with INBOX, Sent, Drafts, Trash and Junk, all subscribed (`DEFAULT_FOLDERS`;
    /// new accounts get Archive from a `CreateFolder` and a `Subscribe` in the same batch).
    CreateAccount {
        account: String,
        uidvalidity: u32,
    },
    DeleteAccount {
        account: String,
    },
    CreateFolder {
        account: String,
        folder: String,
        uidvalidity: u32,
        special_use: u8,
    },
    /// Renames a folder and its children; renaming INBOX moves its messages into a new folder
    /// (with `uidvalidity`) and leaves INBOX empty.
    RenameFolder {
        account: String,
        from: String,
        to: String,
        uidvalidity: u32,
    },
    DeleteFolder {
        account: String,
        folder: String,
    },
    Subscribe {
        account: String,
        folder: String,
        subscribed: bool,
    },
    Deliver {
        account: String,
        folder: String,
        uid: u32,
        modseq: u64,
        pos: Position,
        size: u32,
        internal_date: InternalDate,
        flags: Flags,
    },
    SetFlags {
        account: String,
        folder: String,
        modseq: u64,
        uids: Vec<u32>,
        mode: FlagMode,
        flags: Flags,
    },
    Expunge {
        account: String,
        folder: String,
        modseq: u64,
        uids: Vec<u32>,
    },
    /// Compaction moved message bytes: every message at an old position now lives at the new one.
    Relocate {
        moves: Vec<(Position, Position)>,
    },
    /// A session that SELECTs the folder claims the messages below `uid` as its own \Recent ones
    /// (RFC 3501 2.3.2): from here on, only messages with UID >= `uid` are \Recent for others.
    ClaimRecent {
        account: String,
        folder: String,
        uid: u32,
    },
}

impl Event {
    /// The account the event changes (`None` for store-wide events).
    pub fn account(&self) -> Option<&str> {
        match self {
            Event::CreateAccount { account, .. }
            | Event::DeleteAccount { account }
            | Event::CreateFolder { account, .. }
            | Event::RenameFolder { account, .. }
            | Event::DeleteFolder { account, .. }
            | Event::Subscribe { account, .. }
            | Event::Deliver { account, .. }
            | Event::SetFlags { account, .. }
            | Event::Expunge { account, .. }
            | Event::ClaimRecent { account, .. } => Some(account),
            Event::Relocate { .. } => None,
        }
    }

    /// The UID a `Deliver` assigns.
    pub fn delivered_uid(&self) -> Option<u32> {
        match self {
            Event::Deliver { uid, .. } => Some(*uid),
            _ => None,
        }
    }
}

/// One record's worth of events, applied together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventBatch {
    pub generation: u64,
    pub events: Vec<Event>,
}

fn put_flags(out: &mut Vec<u8>, f: &Flags) {
    out.push(f.system);
    put_u(out, f.keywords.len() as u64);
    for k in &f.keywords {
        put_s(out, k);
    }
}

fn put_uids(out: &mut Vec<u8>, uids: &[u32]) {
    put_u(out, uids.len() as u64);
    for u in uids {
        put_u(out, *u as u64);
    }
}

impl EventBatch {
    pub fn encode(&self, out: &mut Vec<u8>) {
        Self::encode_events(self.generation, &self.events, out)
    }

    /// Encodes a batch of `events` without owning them.
    pub fn encode_events(generation: u64, events: &[Event], out: &mut Vec<u8>) {
        out.push(VERSION);
        put_u(out, generation);
        put_u(out, events.len() as u64);
        for ev in events {
            match ev {
                Event::CreateAccount {
                    account,
                    uidvalidity,
                } => {
                    out.push(1);
                    put_s(out, account);
                    put_u(out, *uidvalidity as u64);
                }
                Event::DeleteAccount { account } => {
                    out.push(2);
                    put_s(out, account);
                }
                Event::CreateFolder {
                    account,
                    folder,
                    uidvalidity,
                    special_use,
                } => {
                    out.push(3);
                    put_s(out, account);
                    put_s(out, folder);
                    put_u(out, *uidvalidity as u64);
                    out.push(*special_use);
                }
                Event::RenameFolder {
                    account,
                    from,
                    to,
                    uidvalidity,
                } => {
                    out.push(4);
                    put_s(out, account);
                    put_s(out, from);
                    put_s(out, to);
                    put_u(out, *uidvalidity as u64);
                }
                Event::DeleteFolder { account, folder } => {
                    out.push(5);
                    put_s(out, account);
                    put_s(out, folder);
                }
                Event::Subscribe {
                    account,
                    folder,
                    subscribed,
                } => {
                    out.push(6);
                    put_s(out, account);
                    put_s(out, folder);
                    out.push(*subscribed as u8);
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
                    out.push(7);
                    put_s(out, account);
                    put_s(out, folder);
                    put_u(out, *uid as u64);
                    put_u(out, *modseq);
                    put_pos(out, *pos);
                    put_u(out, *size as u64);
                    out.extend_from_slice(&internal_date.unix.to_le_bytes());
                    out.extend_from_slice(&internal_date.offset_minutes.to_le_bytes());
                    put_flags(out, flags);
                }
                Event::SetFlags {
                    account,
                    folder,
                    modseq,
                    uids,
                    mode,
                    flags,
                } => {
                    out.push(8);
                    put_s(out, account);
                    put_s(out, folder);
                    put_u(out, *modseq);
                    put_uids(out, uids);
                    out.push(*mode as u8);
                    put_flags(out, flags);
                }
                Event::Expunge {
                    account,
                    folder,
                    modseq,
                    uids,
                } => {
                    out.push(9);
                    put_s(out, account);
                    put_s(out, folder);
                    put_u(out, *modseq);
                    put_uids(out, uids);
                }
                Event::Relocate { moves } => {
                    out.push(10);
                    put_u(out, moves.len() as u64);
                    for (a, b) in moves {
                        put_pos(out, *a);
                        put_pos(out, *b);
                    }
                }
                Event::ClaimRecent {
                    account,
                    folder,
                    uid,
                } => {
                    out.push(11);
                    put_s(out, account);
                    put_s(out, folder);
                    put_u(out, *uid as u64);
                }
            }
        }
    }

    /// The generation of an encoded batch, read without decoding its events (recovery orders batches
    /// by it first and decodes each one only when it applies it).
    pub fn peek_generation(bytes: &[u8]) -> Result<u64> {
        let mut r = Reader {
            c: codec::Reader { b: bytes },
            version: 0,
        };
        r.version()?;
        r.u()
    }

    pub fn decode(bytes: &[u8]) -> Result<EventBatch> {
        let mut r = Reader {
            c: codec::Reader { b: bytes },
            version: 0,
        };
        r.version()?;
        let generation = r.u()?;
        // Every event takes at least 2 bytes: bound the count by the input.
        let n = r.len(2)?;
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(r.event()?);
        }
        if !r.b.is_empty() {
            return Err(Error::BadEvent("trailing bytes after the events"));
        }
        Ok(EventBatch { generation, events })
    }
}

/// The shared cursor plus the batch's version (which decides how dates read).
struct Reader<'a> {
    c: codec::Reader<'a>,
    version: u8,
}

impl<'a> std::ops::Deref for Reader<'a> {
    type Target = codec::Reader<'a>;
    fn deref(&self) -> &Self::Target {
        &self.c
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.c
    }
}

impl Reader<'_> {
    fn version(&mut self) -> Result<()> {
        match self.byte()? {
            v @ (VERSION | VERSION_1) => {
                self.version = v;
                Ok(())
            }
            _ => Err(Error::BadEvent("unknown event batch version")),
        }
    }

    fn flags(&mut self) -> Result<Flags> {
        let system = self.byte()?;
        let n = self.len(1)?;
        let mut keywords = Vec::with_capacity(n);
        for _ in 0..n {
            keywords.push(self.s()?);
        }
        Ok(Flags { system, keywords })
    }

    fn uids(&mut self) -> Result<Vec<u32>> {
        let n = self.len(1)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.u32()?);
        }
        Ok(v)
    }

    fn event(&mut self) -> Result<Event> {
        Ok(match self.byte()? {
            1 => Event::CreateAccount {
                account: self.s()?,
                uidvalidity: self.u32()?,
            },
            2 => Event::DeleteAccount { account: self.s()? },
            3 => Event::CreateFolder {
                account: self.s()?,
                folder: self.s()?,
                uidvalidity: self.u32()?,
                special_use: self.byte()?,
            },
            4 => Event::RenameFolder {
                account: self.s()?,
                from: self.s()?,
                to: self.s()?,
                uidvalidity: self.u32()?,
            },
            5 => Event::DeleteFolder {
                account: self.s()?,
                folder: self.s()?,
            },
            6 => Event::Subscribe {
                account: self.s()?,
                folder: self.s()?,
                subscribed: self.byte()? != 0,
            },
            7 => {
                let (account, folder, uid, modseq, pos, size) = (
                    self.s()?,
                    self.s()?,
                    self.u32()?,
                    self.u()?,
                    self.pos()?,
                    self.u32()?,
                );
                let unix = i64::from_le_bytes(self.fixed::<8>()?);
                // Version 1 kept UTC seconds only.
                let offset_minutes = if self.version == VERSION_1 {
                    0
                } else {
                    i16::from_le_bytes(self.fixed::<2>()?)
                };
                Event::Deliver {
                    account,
                    folder,
                    uid,
                    modseq,
                    pos,
                    size,
                    internal_date: InternalDate::new(unix, offset_minutes),
                    flags: self.flags()?,
                }
            }
            8 => {
                let (account, folder, modseq, uids) =
                    (self.s()?, self.s()?, self.u()?, self.uids()?);
                let mode = match self.byte()? {
                    0 => FlagMode::Replace,
                    1 => FlagMode::Add,
                    2 => FlagMode::Remove,
                    _ => return Err(Error::BadEvent("unknown flag mode")),
                };
                Event::SetFlags {
                    account,
                    folder,
                    modseq,
                    uids,
                    mode,
                    flags: self.flags()?,
                }
            }
            9 => Event::Expunge {
                account: self.s()?,
                folder: self.s()?,
                modseq: self.u()?,
                uids: self.uids()?,
            },
            10 => {
                let n = self.len(6)?;
                let mut moves = Vec::with_capacity(n);
                for _ in 0..n {
                    moves.push((self.pos()?, self.pos()?));
                }
                Event::Relocate { moves }
            }
            11 if self.version >= VERSION => Event::ClaimRecent {
                account: self.s()?,
                folder: self.s()?,
                uid: self.u32()?,
            },
            _ => return Err(Error::BadEvent("unknown event tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pos() -> impl Strategy<Value = Position> {
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| Position::new(a, b, c))
    }

    fn flags() -> impl Strategy<Value = Flags> {
        (
            any::<u8>(),
            proptest::collection::vec("[a-zA-Z$]{1,12}", 0..3),
        )
            .prop_map(|(system, keywords)| Flags { system, keywords })
    }

    fn event() -> impl Strategy<Value = Event> {
        let s = "\\PC{0,20}";
        prop_oneof![
            (s, any::<u32>()).prop_map(|(account, uidvalidity)| Event::CreateAccount {
                account,
                uidvalidity
            }),
            s.prop_map(|account| Event::DeleteAccount { account }),
            (s, s, any::<u32>(), any::<u8>()).prop_map(
                |(account, folder, uidvalidity, special_use)| Event::CreateFolder {
                    account,
                    folder,
                    uidvalidity,
                    special_use
                }
            ),
            (s, s, s, any::<u32>()).prop_map(|(account, from, to, uidvalidity)| {
                Event::RenameFolder {
                    account,
                    from,
                    to,
                    uidvalidity,
                }
            }),
            (s, s).prop_map(|(account, folder)| Event::DeleteFolder { account, folder }),
            (s, s, any::<bool>()).prop_map(|(account, folder, subscribed)| Event::Subscribe {
                account,
                folder,
                subscribed
            }),
            (
                s,
                s,
                any::<u32>(),
                any::<u64>(),
                pos(),
                any::<u32>(),
                (any::<i64>(), any::<i16>()).prop_map(|(u, z)| InternalDate::new(u, z)),
                flags()
            )
                .prop_map(
                    |(account, folder, uid, modseq, pos, size, internal_date, flags)| {
                        Event::Deliver {
                            account,
                            folder,
                            uid,
                            modseq,
                            pos,
                            size,
                            internal_date,
                            flags,
                        }
                    }
                ),
            (
                s,
                s,
                any::<u64>(),
                proptest::collection::vec(any::<u32>(), 0..5),
                0u8..3,
                flags()
            )
                .prop_map(|(account, folder, modseq, uids, m, flags)| {
                    Event::SetFlags {
                        account,
                        folder,
                        modseq,
                        uids,
                        mode: [FlagMode::Replace, FlagMode::Add, FlagMode::Remove][m as usize],
                        flags,
                    }
                }),
            (
                s,
                s,
                any::<u64>(),
                proptest::collection::vec(any::<u32>(), 0..5)
            )
                .prop_map(|(account, folder, modseq, uids)| {
                    Event::Expunge {
                        account,
                        folder,
                        modseq,
                        uids,
                    }
                }),
            proptest::collection::vec((pos(), pos()), 0..4)
                .prop_map(|moves| Event::Relocate { moves }),
            (s, s, any::<u32>()).prop_map(|(account, folder, uid)| Event::ClaimRecent {
                account,
                folder,
                uid
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(generation in any::<u64>(), events in proptest::collection::vec(event(), 0..6)) {
            let b = EventBatch { generation, events };
            let mut out = Vec::new();
            b.encode(&mut out);
            prop_assert_eq!(EventBatch::peek_generation(&out).unwrap(), generation);
            prop_assert_eq!(EventBatch::decode(&out).unwrap(), b);
            // Every strict prefix is an error, never a panic or a different batch.
            for cut in 0..out.len() {
                prop_assert!(EventBatch::decode(&out[..cut]).is_err());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = EventBatch::decode(&bytes);
            let _ = EventBatch::peek_generation(&bytes);
        }
    }

    /// A version-1 batch (written before dates kept their zone) still decodes, its date as `+0000`.
    #[test]
    fn version_1_batches_decode_with_utc_dates() {
        let mut b = vec![VERSION_1];
        put_u(&mut b, 7); // generation
        put_u(&mut b, 1); // one event
        b.push(7); // Deliver
        put_s(&mut b, "a@x.test");
        put_s(&mut b, "INBOX");
        put_u(&mut b, 3); // uid
        put_u(&mut b, 9); // modseq
        put_pos(&mut b, Position::new(1, 2, 16));
        put_u(&mut b, 100); // size
        b.extend_from_slice(&1_790_000_000i64.to_le_bytes());
        put_flags(&mut b, &Flags::default());
        let got = EventBatch::decode(&b).unwrap();
        assert_eq!(got.generation, 7);
        assert_eq!(
            got.events,
            vec![Event::Deliver {
                account: "a@x.test".into(),
                folder: "INBOX".into(),
                uid: 3,
                modseq: 9,
                pos: Position::new(1, 2, 16),
                size: 100,
                internal_date: InternalDate::new(1_790_000_000, 0),
                flags: Flags::default(),
            }]
        );
        // A version-1 batch cannot carry version-2 events.
        let mut c = vec![VERSION_1, 0, 1, 11];
        put_s(&mut c, "a");
        put_s(&mut c, "INBOX");
        put_u(&mut c, 1);
        assert!(EventBatch::decode(&c).is_err());
    }

    #[test]
    fn huge_counts_are_refused_without_allocating() {
        let mut b = vec![VERSION, 0];
        put_u(&mut b, u64::MAX >> 1);
        assert!(EventBatch::decode(&b).is_err());
    }
}
