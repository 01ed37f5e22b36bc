//! Compaction and replay order: after `Store::compact`, a full replay (no snapshot, the fallback when a
//! snapshot is bad) must rebuild exactly the index the snapshot path gives, also while other partitions
//! keep writing during the compaction.

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use common::{payload, run};
use shardmail_storage::index::{FlagMode, Flags, Index, MessageMeta, SEEN};
use shardmail_storage::store::{Store, StoreOptions};
use shardmail_storage::{LogOptions, SyncPolicy};

const NOW: i64 = 1_790_000_000;
const SEGMENT: u64 = 32 << 10;

fn opts(writers: u32) -> StoreOptions {
    StoreOptions {
        log: LogOptions {
            segment_size: SEGMENT,
            sync: SyncPolicy::Group,
        },
        writers,
    }
}

fn body_len(seed: u64) -> usize {
    300 + (seed as usize * 37) % 900
}

/// Everything the index says about every account: folder -> messages, and the bytes behind each.
type View = BTreeMap<String, BTreeMap<String, Vec<(MessageMeta, Vec<u8>)>>>;

fn view_of(store: &Store) -> View {
    let mut out = View::new();
    for p in store.partitions() {
        let ix: &Index = &p.index();
        for a in ix.accounts() {
            let folders = out.entry(a.to_string()).or_default();
            for f in ix.folders(a).unwrap() {
                let msgs = ix
                    .messages(a, &f.name)
                    .unwrap()
                    .into_iter()
                    .map(|m| {
                        let bytes = store
                            .read(m.pos)
                            .unwrap_or_else(|e| panic!("{a} {} uid {}: {e}", f.name, m.uid));
                        (m, bytes.to_vec())
                    })
                    .collect();
                folders.insert(f.name.clone(), msgs);
            }
        }
    }
    out
}

/// Delivers message `seed` through partition `via` (as a shard that accepted it would) to `account`.
async fn deliver(store: &Store, via: usize, account: &str, seed: u64) {
    let body = payload(seed, body_len(seed));
    let pos = store.partitions()[via]
        .store_message(&[&body])
        .await
        .unwrap();
    if !store.owner(account).index().has_account(account) {
        store
            .owner(account)
            .ensure_account(account, NOW)
            .await
            .unwrap();
    }
    let t = vec![(account.to_string(), "INBOX".to_string())];
    store
        .execute(account, |ix| {
            Ok((
                ix.deliver(&t, pos, body.len() as u32, NOW, Flags::default())?,
                (),
            ))
        })
        .await
        .unwrap();
}

/// Opens the store, returns its view; asserts replay rejected nothing and left nothing dangling.
fn open_view(root: &Path, writers: u32, what: &str) -> View {
    let root = root.to_path_buf();
    let what = what.to_string();
    run(move || async move {
        let (store, report) = Store::open(&root, opts(writers)).await.unwrap();
        assert_eq!(report.rejected, 0, "{what}: {report:?}");
        assert_eq!(report.dangling, 0, "{what}: {report:?}");
        let v = view_of(&store);
        store.close().await.unwrap();
        v
    })
}

fn remove_snapshots(root: &Path) {
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "snap") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn full_replay_after_compaction_equals_the_snapshot_path() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let accounts: Vec<String> = (0..9).map(|i| format!("cmp{i}@example.test")).collect();
    let r = root.clone();
    let accts = accounts.clone();
    let live = run(move || async move {
        let (store, _) = Store::open(&r, opts(3)).await.unwrap();
        let store = Rc::new(store);
        // Messages stored through every log and delivered to accounts of every owner, so that
        // deliveries in one log point at bytes in another.
        for seed in 0..360u64 {
            let a = &accts[(seed % accts.len() as u64) as usize];
            deliver(&store, (seed % 3) as usize, a, seed).await;
        }
        // Expunge most, flag some: the sealed segments become sparse.
        for a in &accts {
            let uids: Vec<u32> = store
                .owner(a)
                .index()
                .messages(a, "INBOX")
                .unwrap()
                .iter()
                .map(|m| m.uid)
                .collect();
            let gone: Vec<u32> = uids.iter().copied().filter(|u| u % 4 != 0).collect();
            store
                .execute(a, |ix| Ok((ix.expunge(a, "INBOX", &gone)?, ())))
                .await
                .unwrap();
            let seen: Vec<u32> = uids.iter().copied().filter(|u| u % 8 == 0).collect();
            store
                .execute(a, |ix| {
                    let f = Flags {
                        system: SEEN,
                        keywords: vec![],
                    };
                    Ok((ix.set_flags(a, "INBOX", &seen, FlagMode::Add, f)?.0, ()))
                })
                .await
                .unwrap();
        }
        // Other partitions keep writing while the compaction copies and switches.
        let stop = Rc::new(Cell::new(false));
        let mut writers = Vec::new();
        for w in 1..3usize {
            let (store, stop, accts) = (store.clone(), stop.clone(), accts.clone());
            writers.push(glommio::spawn_local(async move {
                let mut seed = 10_000 * w as u64;
                while !stop.get() {
                    let a = &accts[(seed % accts.len() as u64) as usize];
                    deliver(&store, w, a, seed).await;
                    seed += 1;
                    glommio::yield_if_needed().await;
                }
            }));
        }
        let report = store.compact(0.5).await.unwrap();
        assert!(!report.segments_removed.is_empty(), "{report:?}");
        assert!(report.messages_moved > 0, "{report:?}");
        // And after it: more deliveries, from every log, of new messages.
        for seed in 20_000..20_060u64 {
            let a = &accts[(seed % accts.len() as u64) as usize];
            deliver(&store, (seed % 3) as usize, a, seed).await;
        }
        stop.set(true);
        for w in writers {
            w.await;
        }
        let live = view_of(&store);
        Rc::try_unwrap(store).ok().unwrap().close().await.unwrap();
        live
    });
    let moved = live
        .values()
        .flat_map(|f| f.values())
        .flatten()
        .filter(|(m, _)| m.pos.log == 0)
        .count();
    assert!(moved > 0);

    // The snapshot path: snapshots written by the compaction plus the logs after them.
    let snap = open_view(&root, 3, "snapshot path");
    assert_eq!(snap, live, "snapshot path differs from the live index");
    // The fallback: no snapshot at all, every log replayed from its start.
    remove_snapshots(&root);
    let full = open_view(&root, 3, "full replay");
    assert_eq!(full, live, "full replay differs from the live index");
    // Also with another writer count (the merge by generation is what is tested).
    remove_snapshots(&root);
    let full2 = open_view(&root, 2, "full replay, 2 writers");
    assert_eq!(full2, live);
}
