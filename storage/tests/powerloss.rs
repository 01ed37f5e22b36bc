//! Power loss, simulated: segments left as a power cut could leave them.
//!
//! The kill -9 tests cannot catch a missing or misplaced sync: the page cache survives the process. Here
//! the writers report every file operation as they perform it (`shardmail_storage::iotrace`): a write
//! when it is issued and when it returns, a sync when it returns, and whether the kernel says the
//! descriptor has `O_DSYNC`. A model disk replays those operations up to a cut point and keeps as
//! durable only what a sync (or an `O_DSYNC` write that returned) made durable; everything else that was
//! issued by then is torn sector by sector (512 bytes): written, left as it was, zeroed, filled with
//! garbage, or filled with a stale copy of another sector of the file. Files whose creation no directory
//! sync covered may be missing. The durable state is therefore derived from what the kernel was asked to
//! do, not from what the writer believes: a writer that acknowledged before its write returned, or
//! wrote without `O_DSYNC` and without a sync, leaves acknowledged records outside the durable image.
//!
//! The workload: a `Store` of 3 partitions; per account a task that creates the account, delivers
//! messages stored through any partition's log (so deliveries point into other logs), changes flags and
//! expunges. Each operation records the journal length when it started and when it was acknowledged.
//! For a cut at position `c` in the journal, each account's recovered mailbox must equal the model state
//! after some prefix of its operations that contains every operation acknowledged before `c` and none
//! started after `c`: every acknowledged message present and byte-identical, no partial or forged
//! event (states between operations are the only ones allowed), no duplicate delivery. Recovery must
//! reject nothing (a durable event never points at bytes that are not durable).
//!
//! Cut points: every acknowledgement by default is too many for a debug build; a sample of
//! `SHARDMAIL_POWERLOSS_CUTS` (default 48) evenly spread cuts, each with its own tear pattern
//! (`SHARDMAIL_POWERLOSS_SEED` changes the patterns).

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use common::{payload, run};
use shardmail_storage::index::{FlagMode, Flags, DELETED, FLAGGED, SEEN};
use shardmail_storage::iotrace::{self, IoEvent, IoObserver};
use shardmail_storage::store::{Store, StoreOptions};
use shardmail_storage::{LogOptions, SyncPolicy};

const NOW: i64 = 1_790_000_000;
const SECTOR: usize = 512;
const WRITERS: u32 = 3;
const ACCOUNTS: usize = 6;
const OPS_PER_ACCOUNT: usize = 30;

fn opts() -> StoreOptions {
    StoreOptions {
        log: LogOptions {
            segment_size: 64 << 10,
            sync: SyncPolicy::Group,
        },
        writers: WRITERS,
    }
}

fn body_len(seed: u64) -> usize {
    200 + (seed as usize * 131) % 3000
}

// ---------------------------------------------------------------------------------------------
// The journal of file operations, and the model disk.

#[derive(Debug, Clone)]
enum Op {
    Open {
        path: PathBuf,
        created: bool,
        dsync: bool,
    },
    Issued {
        path: PathBuf,
        offset: u64,
        bytes: Vec<u8>,
    },
    Done {
        path: PathBuf,
        offset: u64,
    },
    Sync {
        path: PathBuf,
    },
    SetLen {
        path: PathBuf,
        len: u64,
    },
    Zeroed {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    DirSync {
        path: PathBuf,
    },
    Removed {
        path: PathBuf,
    },
}

#[derive(Default)]
struct Journal {
    ops: Mutex<Vec<Op>>,
}

impl Journal {
    fn mark(&self) -> usize {
        self.ops.lock().map(|o| o.len()).unwrap_or(0)
    }
}

impl IoObserver for Journal {
    fn on(&self, ev: IoEvent<'_>) {
        let op = match ev {
            IoEvent::Open {
                path,
                created,
                dsync,
            } => Op::Open {
                path: path.into(),
                created,
                dsync,
            },
            IoEvent::WriteIssued {
                path,
                offset,
                bytes,
            } => Op::Issued {
                path: path.into(),
                offset,
                bytes: bytes.to_vec(),
            },
            IoEvent::WriteDone { path, offset } => Op::Done {
                path: path.into(),
                offset,
            },
            IoEvent::Sync { path } => Op::Sync { path: path.into() },
            IoEvent::SetLen { path, len } => Op::SetLen {
                path: path.into(),
                len,
            },
            IoEvent::Zeroed { path, offset, len } => Op::Zeroed {
                path: path.into(),
                offset,
                len,
            },
            IoEvent::DirSync { path } => Op::DirSync { path: path.into() },
            IoEvent::Removed { path } => Op::Removed { path: path.into() },
        };
        if let Ok(mut o) = self.ops.lock() {
            o.push(op);
        }
    }
}

struct Pending {
    offset: u64,
    bytes: Vec<u8>,
    done: bool,
}

#[derive(Default)]
struct FileModel {
    /// What a power cut cannot take away.
    durable: Vec<u8>,
    len: u64,
    dsync: bool,
    /// Created, and a sync of its directory since.
    entry_durable: bool,
    /// Issued or returned but not yet synced, in issue order.
    pending: Vec<Pending>,
}

fn put(buf: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let end = offset as usize + bytes.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset as usize..end].copy_from_slice(bytes);
}

/// The model disk after the first `cut` operations.
fn model(ops: &[Op]) -> BTreeMap<PathBuf, FileModel> {
    let mut files: BTreeMap<PathBuf, FileModel> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Open {
                path,
                created,
                dsync,
            } => {
                let f = files.entry(path.clone()).or_insert_with(|| FileModel {
                    entry_durable: !created,
                    ..Default::default()
                });
                f.dsync = *dsync;
            }
            Op::Issued {
                path,
                offset,
                bytes,
            } => files
                .entry(path.clone())
                .or_default()
                .pending
                .push(Pending {
                    offset: *offset,
                    bytes: bytes.clone(),
                    done: false,
                }),
            Op::Zeroed { path, offset, len } => files
                .entry(path.clone())
                .or_default()
                .pending
                .push(Pending {
                    offset: *offset,
                    bytes: vec![0; *len as usize],
                    done: true,
                }),
            Op::Done { path, offset } => {
                let f = files.entry(path.clone()).or_default();
                if let Some(i) = f
                    .pending
                    .iter()
                    .position(|p| p.offset == *offset && !p.done)
                {
                    f.pending[i].done = true;
                    if f.dsync {
                        let p = f.pending.remove(i);
                        put(&mut f.durable, p.offset, &p.bytes);
                    }
                }
            }
            Op::Sync { path } => {
                let f = files.entry(path.clone()).or_default();
                let (done, rest): (Vec<Pending>, Vec<Pending>) =
                    f.pending.drain(..).partition(|p| p.done);
                for p in done {
                    put(&mut f.durable, p.offset, &p.bytes);
                }
                f.pending = rest;
            }
            Op::SetLen { path, len } => files.entry(path.clone()).or_default().len = *len,
            Op::DirSync { path } => {
                for (p, f) in files.iter_mut() {
                    if p.parent() == Some(path.as_path()) {
                        f.entry_durable = true;
                    }
                }
            }
            Op::Removed { path } => {
                files.remove(path);
            }
        }
    }
    files
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Writes the disk image a power cut after `ops` could leave into `image` (paths under `root` are
/// moved under `image`).
fn write_image(ops: &[Op], root: &Path, image: &Path, rng: &mut Rng) {
    for (path, f) in model(ops) {
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        if !f.entry_durable && rng.below(2) == 0 {
            continue; // the directory entry never reached the disk
        }
        let mut bytes = f.durable.clone();
        for p in &f.pending {
            // Sector by sector, as a disk writes them.
            let mut at = p.offset as usize;
            let end = p.offset as usize + p.bytes.len();
            while at < end {
                let sector_end = ((at / SECTOR) + 1) * SECTOR;
                let upto = sector_end.min(end);
                let new = &p.bytes[at - p.offset as usize..upto - p.offset as usize];
                let chunk: Vec<u8> = match rng.below(5) {
                    0 => new.to_vec(),
                    1 => vec![0; new.len()],
                    2 => (0..new.len()).map(|_| rng.next() as u8).collect(),
                    3 if bytes.len() >= SECTOR => {
                        // A stale copy of another sector of this file.
                        let from = rng.below((bytes.len() / SECTOR) as u64) as usize * SECTOR;
                        let off = at % SECTOR;
                        let mut c = bytes[from..from + SECTOR].to_vec();
                        c.rotate_left(off);
                        c.truncate(new.len());
                        c
                    }
                    _ => {
                        // Left as it was.
                        at = upto;
                        continue;
                    }
                };
                put(&mut bytes, at as u64, &chunk);
                at = upto;
            }
        }
        let out = image.join(rel);
        std::fs::create_dir_all(out.parent().expect("a file has a directory")).unwrap();
        std::fs::write(&out, &bytes).unwrap();
        let len = f.len.max(bytes.len() as u64);
        let file = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
        file.set_len(len).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The workload and its model.

#[derive(Debug, Clone)]
enum MailOp {
    Create,
    Deliver {
        uid: u32,
        seed: u64,
    },
    Flags {
        uids: Vec<u32>,
        mode: FlagMode,
        bits: u8,
    },
    Expunge {
        uids: Vec<u32>,
    },
}

#[derive(Debug, Clone)]
struct Done {
    op: MailOp,
    /// Journal length when the operation started, and when it was acknowledged.
    started: usize,
    acked: usize,
}

/// uid -> (payload seed, system flags)
type Mailbox = BTreeMap<u32, (u64, u64)>;
/// What recovery gave for one account: (uid, system flags, bytes), or no account.
type Recovered = Vec<(u32, u64, Vec<u8>)>;

fn apply(state: &mut Option<Mailbox>, op: &MailOp) {
    match op {
        MailOp::Create => *state = Some(Mailbox::new()),
        MailOp::Deliver { uid, seed } => {
            if let Some(m) = state {
                m.insert(*uid, (*seed, 0));
            }
        }
        MailOp::Flags { uids, mode, bits } => {
            if let Some(m) = state {
                for u in uids {
                    if let Some((_, f)) = m.get_mut(u) {
                        *f = match mode {
                            FlagMode::Replace => *bits as u64,
                            FlagMode::Add => *f | *bits as u64,
                            FlagMode::Remove => *f & !(*bits as u64),
                        };
                    }
                }
            }
        }
        MailOp::Expunge { uids } => {
            if let Some(m) = state {
                for u in uids {
                    m.remove(u);
                }
            }
        }
    }
}

/// Runs the workload on `root`; returns each account's operations in order.
fn workload(root: &Path, journal: &Arc<Journal>) -> BTreeMap<String, Vec<Done>> {
    let obs: Arc<dyn IoObserver> = journal.clone();
    iotrace::observe(root, &obs);
    let root = root.to_path_buf();
    let journal = journal.clone();
    let out = run(move || async move {
        let (store, _) = Store::open(&root, opts()).await.unwrap();
        let store = Rc::new(store);
        let mut tasks = Vec::new();
        for a in 0..ACCOUNTS {
            let (store, journal) = (store.clone(), journal.clone());
            tasks.push(glommio::spawn_local(async move {
                let account = format!("pl{a}@example.test");
                let mut done = Vec::new();
                let started = journal.mark();
                store
                    .owner(&account)
                    .ensure_account(&account, NOW)
                    .await
                    .unwrap();
                done.push(Done {
                    op: MailOp::Create,
                    started,
                    acked: journal.mark(),
                });
                let mut uids: Vec<u32> = Vec::new();
                for i in 0..OPS_PER_ACCOUNT {
                    let seed = (a * 1000 + i) as u64;
                    let started = journal.mark();
                    let op = if i % 5 == 3 && uids.len() > 2 {
                        let gone = vec![uids.remove(i % uids.len())];
                        let g = gone.clone();
                        store
                            .execute(&account, |ix| Ok((ix.expunge(&account, "INBOX", &g)?, ())))
                            .await
                            .unwrap();
                        MailOp::Expunge { uids: gone }
                    } else if i % 3 == 2 && !uids.is_empty() {
                        let pick: Vec<u32> = uids
                            .iter()
                            .copied()
                            .filter(|u| (*u as usize + i) & 1 == 0)
                            .collect();
                        let (mode, bits) = match i % 4 {
                            0 => (FlagMode::Replace, FLAGGED),
                            1 => (FlagMode::Remove, SEEN),
                            _ => (FlagMode::Add, SEEN | DELETED),
                        };
                        let p = pick.clone();
                        store
                            .execute(&account, |ix| {
                                let f = Flags {
                                    system: bits,
                                    keywords: vec![],
                                };
                                Ok((ix.set_flags(&account, "INBOX", &p, mode, f)?.0, ()))
                            })
                            .await
                            .unwrap();
                        MailOp::Flags {
                            uids: pick,
                            mode,
                            bits,
                        }
                    } else {
                        // The bytes through some partition's log (a shard that accepted it), the
                        // delivery through the owner's.
                        let body = payload(seed, body_len(seed));
                        let via = &store.partitions()[(seed % WRITERS as u64) as usize];
                        let pos = via.store_message(&[&body]).await.unwrap();
                        let t = vec![(account.clone(), "INBOX".to_string())];
                        let uid = Rc::new(Cell::new(0));
                        let u = uid.clone();
                        store
                            .execute(&account, |ix| {
                                let ev =
                                    ix.deliver(&t, pos, body.len() as u32, NOW, Flags::default())?;
                                u.set(ev[0].delivered_uid().unwrap_or(0));
                                Ok((ev, ()))
                            })
                            .await
                            .unwrap();
                        uids.push(uid.get());
                        MailOp::Deliver {
                            uid: uid.get(),
                            seed,
                        }
                    };
                    done.push(Done {
                        op,
                        started,
                        acked: journal.mark(),
                    });
                }
                (account, done)
            }));
        }
        let mut out = BTreeMap::new();
        for t in tasks {
            let (a, d) = t.await;
            out.insert(a, d);
        }
        Rc::try_unwrap(store).ok().unwrap().close().await.unwrap();
        out
    });
    drop(obs);
    out
}

/// Recovers `image` and checks it against the operations cut at journal position `cut`.
fn check_cut(image: &Path, cut: usize, ops: &BTreeMap<String, Vec<Done>>) -> Result<(), String> {
    let image = image.to_path_buf();
    let got = run(move || async move {
        let (store, report) = Store::open(&image, opts())
            .await
            .map_err(|e| format!("open: {e}"))?;
        let mut got: HashMap<String, Option<Recovered>> = HashMap::new();
        for a in 0..ACCOUNTS {
            let account = format!("pl{a}@example.test");
            let msgs = store
                .owner(&account)
                .index()
                .messages(&account, "INBOX")
                .ok();
            let msgs = match msgs {
                None => None,
                Some(ms) => Some(
                    ms.iter()
                        .map(|m| {
                            let bytes = store
                                .read(m.pos)
                                .map(|r| r.to_vec())
                                .map_err(|e| format!("{account} uid {}: {e}", m.uid))?;
                            Ok((m.uid, u64::from(m.flags.system), bytes))
                        })
                        .collect::<Result<Vec<_>, String>>()?,
                ),
            };
            got.insert(account, msgs);
        }
        store.close().await.map_err(|e| e.to_string())?;
        if report.rejected != 0 || report.dangling != 0 {
            return Err(format!("recovery rejected events: {report:?}"));
        }
        Ok::<_, String>(got)
    })?;
    for (account, done) in ops {
        let acked = done.iter().take_while(|d| d.acked <= cut).count();
        let started = done.iter().take_while(|d| d.started < cut).count();
        let recovered = &got[account];
        let mut state: Option<Mailbox> = None;
        let mut matched = false;
        for k in 0..=started {
            if k > 0 {
                apply(&mut state, &done[k - 1].op);
            }
            if k < acked {
                continue;
            }
            let same = match (&state, recovered) {
                (None, None) => true,
                (Some(m), Some(r)) => {
                    m.len() == r.len()
                        && r.iter().all(|(uid, flags, bytes)| {
                            m.get(uid).is_some_and(|(seed, f)| {
                                f == flags && bytes[..] == payload(*seed, body_len(*seed))[..]
                            })
                        })
                }
                _ => false,
            };
            if same {
                matched = true;
                break;
            }
        }
        if !matched {
            let summary = recovered.as_ref().map(|r| {
                r.iter()
                    .map(|(u, f, b)| (*u, *f, b.len()))
                    .collect::<Vec<_>>()
            });
            return Err(format!(
                "{account}: recovered {summary:?} is no state between operations {acked} (acknowledged) and {started} (started)"
            ));
        }
    }
    Ok(())
}

#[test]
fn power_cut_at_any_point_loses_nothing_acknowledged_and_applies_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let journal = Arc::new(Journal::default());
    let ops = workload(&root, &journal);
    let all = journal.ops.lock().unwrap().clone();
    assert!(
        all.iter()
            .any(|o| matches!(o, Op::Open { dsync: true, .. })),
        "the writers opened their segments without O_DSYNC"
    );

    // Cut points: right after each acknowledgement, and right before each operation started.
    let mut cuts: Vec<usize> = ops
        .values()
        .flatten()
        .flat_map(|d| [d.acked, d.started])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let want: usize = std::env::var("SHARDMAIL_POWERLOSS_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48);
    if cuts.len() > want {
        let step = cuts.len() as f64 / want as f64;
        cuts = (0..want)
            .map(|i| cuts[(i as f64 * step) as usize])
            .collect();
    }
    let seed: u64 = std::env::var("SHARDMAIL_POWERLOSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9);
    let mut rng = Rng(seed | 1);
    let failures = RefCell::new(Vec::new());
    for (i, &cut) in cuts.iter().enumerate() {
        let image = dir.path().join(format!("image-{i}"));
        std::fs::create_dir(&image).unwrap();
        write_image(&all[..cut], &root, &image, &mut rng);
        if let Err(e) = check_cut(&image, cut, &ops) {
            failures
                .borrow_mut()
                .push(format!("cut {i} at op {cut}: {e}"));
        }
        std::fs::remove_dir_all(&image).unwrap();
    }
    let f = failures.into_inner();
    assert!(
        f.is_empty(),
        "{} of {} cuts failed (seed {seed}):\n{}",
        f.len(),
        cuts.len(),
        f.join("\n")
    );
}
