//! The store: many writers, one view; restart with a different writer count; snapshots; compaction.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{payload, run, Tmpfs};
use shardmail_storage::index::{FlagMode, Flags, SEEN};
use shardmail_storage::store::{owner_of, Store, StoreOptions};
use shardmail_storage::{LogOptions, SyncPolicy};

const NOW: i64 = 1_790_000_000;

fn opts(writers: u32, segment_size: u64) -> StoreOptions {
    StoreOptions {
        log: LogOptions {
            segment_size,
            sync: SyncPolicy::Group,
        },
        writers,
    }
}

/// What we expect: account -> folder -> uid -> (payload seed, flags)
type Expect = BTreeMap<String, BTreeMap<String, BTreeMap<u32, (u64, u64)>>>;

/// Delivers `n` messages to each account through writer (seed % writers), as a server's shards would.
async fn deliver_round(
    store: &Store,
    accounts: &[String],
    n: u64,
    seed0: u64,
    expect: &mut Expect,
) {
    let writers = store.partitions().len() as u64;
    for i in 0..n {
        let seed = seed0 + i;
        let via = &store.partitions()[(seed % writers) as usize];
        let body = payload(seed, 200 + (seed as usize % 700));
        let pos = via.store_message(&[&body]).await.unwrap();
        for a in accounts {
            if !store.owner(a).index().has_account(a) {
                store
                    .execute(a, |ix| Ok((ix.create_account(a, NOW)?, ())))
                    .await
                    .unwrap();
            }
            let t = vec![(a.clone(), "INBOX".to_string())];
            let uid = store
                .execute(a, |ix| {
                    let ev = ix.deliver(&t, pos, body.len() as u32, NOW, Flags::default())?;
                    let uid = ev[0].delivered_uid().unwrap_or(0);
                    Ok((ev, uid))
                })
                .await
                .unwrap();
            expect
                .entry(a.clone())
                .or_default()
                .entry("INBOX".into())
                .or_default()
                .insert(uid, (seed, 0));
        }
    }
}

fn check(store: &Store, expect: &Expect) {
    for (a, folders) in expect {
        let ix = store.owner(a).index();
        for (f, msgs) in folders {
            let got = ix.messages(a, f).unwrap();
            assert_eq!(got.len(), msgs.len(), "{a} {f}");
            for m in got {
                let (seed, flags) = msgs[&m.uid];
                assert_eq!(u64::from(m.flags.system), flags, "{a} {f} uid {}", m.uid);
                let bytes = store.read(m.pos).unwrap();
                assert_eq!(
                    &bytes[..],
                    &payload(seed, 200 + (seed as usize % 700))[..],
                    "{a} {f} uid {}",
                    m.uid
                );
            }
        }
    }
}

async fn flag_some(store: &Store, expect: &mut Expect, every: u32) {
    for (a, folders) in expect.iter_mut() {
        let inbox = folders.get_mut("INBOX").unwrap();
        let uids: Vec<u32> = inbox.keys().copied().filter(|u| u % every == 0).collect();
        store
            .execute(a, |ix| {
                Ok((
                    ix.set_flags(
                        a,
                        "INBOX",
                        &uids,
                        FlagMode::Add,
                        Flags {
                            system: SEEN,
                            keywords: vec![],
                        },
                    )?
                    .0,
                    (),
                ))
            })
            .await
            .unwrap();
        for u in uids {
            inbox.get_mut(&u).unwrap().1 = SEEN as u64;
        }
    }
}

fn reopen(
    root: &Path,
    writers: u32,
    expect: Expect,
    more: impl FnOnce(&Store, Expect) -> Expect + Send + 'static,
) -> Expect {
    let root = root.to_path_buf();
    run(move || async move {
        let (store, report) = Store::open(&root, opts(writers, 64 << 10)).await.unwrap();
        assert_eq!(report.rejected, 0, "{report:?}");
        check(&store, &expect);
        let expect = more(&store, expect);
        store.close().await.unwrap();
        expect
    })
}

#[test]
fn changing_the_writer_count_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let accounts: Vec<String> = (0..12).map(|i| format!("user{i}@example.test")).collect();
    // The accounts really are spread over several owners under every count used.
    for n in [2u32, 3, 4] {
        let owners: std::collections::BTreeSet<u32> =
            accounts.iter().map(|a| owner_of(a, n)).collect();
        assert!(owners.len() > 1);
    }
    let root = dir.path().to_path_buf();
    let accts = accounts.clone();
    let expect = run(move || async move {
        let (store, _) = Store::open(&root, opts(4, 64 << 10)).await.unwrap();
        let mut expect = Expect::new();
        deliver_round(&store, &accts, 30, 0, &mut expect).await;
        flag_some(&store, &mut expect, 3).await;
        check(&store, &expect);
        store.close().await.unwrap();
        expect
    });
    let log_dirs = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("log-")
        })
        .count();
    assert_eq!(log_dirs, 4);

    // 4 -> 2 writers: logs 2 and 3 stay readable; new work lands in logs 0 and 1.
    let accts = accounts.clone();
    let expect = reopen(dir.path(), 2, expect, move |_, e| e);
    let expect = {
        let root = dir.path().to_path_buf();
        run(move || async move {
            let (store, _) = Store::open(&root, opts(2, 64 << 10)).await.unwrap();
            let mut expect = expect;
            check(&store, &expect);
            deliver_round(&store, &accts, 10, 1000, &mut expect).await;
            flag_some(&store, &mut expect, 5).await;
            store.close().await.unwrap();
            expect
        })
    };
    // 2 -> 3 writers, then back to 4, every message and flag still there.
    let expect = reopen(dir.path(), 3, expect, |_, e| e);
    let accts = accounts.clone();
    let expect = {
        let root = dir.path().to_path_buf();
        run(move || async move {
            let (store, _) = Store::open(&root, opts(3, 64 << 10)).await.unwrap();
            let mut expect = expect;
            deliver_round(&store, &accts, 5, 2000, &mut expect).await;
            store.close().await.unwrap();
            expect
        })
    };
    reopen(dir.path(), 4, expect, |_, e| e);
}

#[test]
fn snapshots_bound_replay_and_survive_a_writer_count_change() {
    let dir = tempfile::tempdir().unwrap();
    let accounts: Vec<String> = (0..6).map(|i| format!("s{i}@example.test")).collect();
    let root = dir.path().to_path_buf();
    let accts = accounts.clone();
    let expect = run(move || async move {
        let (store, _) = Store::open(&root, opts(3, 64 << 10)).await.unwrap();
        let mut expect = Expect::new();
        deliver_round(&store, &accts, 20, 0, &mut expect).await;
        store.snapshot().await.unwrap();
        // Work after the snapshot is replayed from the log tail.
        deliver_round(&store, &accts, 3, 500, &mut expect).await;
        flag_some(&store, &mut expect, 2).await;
        store.close().await.unwrap();
        expect
    });
    for k in 0..3 {
        assert!(dir.path().join(format!("index-{k}-of-3.snap")).exists());
    }
    let root = dir.path().to_path_buf();
    let expect = run(move || async move {
        let (store, report) = Store::open(&root, opts(2, 64 << 10)).await.unwrap();
        assert_eq!(report.snapshots.len(), 3, "{report:?}");
        // Only the tail after the snapshot is read and applied: 3 deliveries to each of 6 accounts and
        // one flag change per account (24 events), not the 126 written before the snapshot.
        assert_eq!(report.replayed_events, 24, "{report:?}");
        check(&store, &expect);
        store.close().await.unwrap();
        expect
    });
    // A corrupt snapshot part: the set is incomplete, so the whole logs are replayed, nothing lost.
    std::fs::write(dir.path().join("index-1-of-3.snap"), b"garbage").unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (store, report) = Store::open(&root, opts(2, 64 << 10)).await.unwrap();
        assert!(report.snapshots.is_empty(), "{report:?}");
        assert!(!report.snapshots_rejected.is_empty());
        assert_eq!(report.covered_events, 0);
        check(&store, &expect);
        store.close().await.unwrap();
    });
}

#[test]
fn compaction_reclaims_expunged_space_and_keeps_readers_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (store, _) = Store::open(&root, opts(2, 32 << 10)).await.unwrap();
        let accts = vec!["c1@example.test".to_string(), "c2@example.test".to_string()];
        let mut expect = Expect::new();
        // About 300 KB of messages over two logs of 32 KiB segments: several sealed segments each.
        deliver_round(&store, &accts, 600, 0, &mut expect).await;
        let segs_before = count_segments(&root);
        // Expunge 9 of 10 messages everywhere.
        for (a, folders) in expect.iter_mut() {
            let inbox = folders.get_mut("INBOX").unwrap();
            let gone: Vec<u32> = inbox.keys().copied().filter(|u| u % 10 != 0).collect();
            store
                .execute(a, |ix| Ok((ix.expunge(a, "INBOX", &gone)?, ())))
                .await
                .unwrap();
            for u in gone {
                inbox.remove(&u);
            }
        }
        // A reader holding bytes of a message about to move keeps them.
        let first = store
            .owner(&accts[0])
            .index()
            .messages(&accts[0], "INBOX")
            .unwrap()[0]
            .clone();
        let held = store.read(first.pos).unwrap();
        let held_copy = held.to_vec();
        let report = store.compact(0.5).await.unwrap();
        assert!(!report.segments_removed.is_empty(), "{report:?}");
        assert!(report.bytes_reclaimed > report.bytes_moved, "{report:?}");
        let segs_after = count_segments(&root);
        assert!(
            segs_after < segs_before,
            "{segs_after} segments after, {segs_before} before: {report:?}"
        );
        assert_eq!(
            &held[..],
            &held_copy[..],
            "bytes held across compaction stay intact"
        );
        let moved = store
            .owner(&accts[0])
            .index()
            .messages(&accts[0], "INBOX")
            .unwrap()[0]
            .clone();
        assert_ne!(moved.pos, first.pos, "the message was relocated");
        check(&store, &expect);
        // New work goes on after compaction.
        deliver_round(&store, &accts, 3, 9000, &mut expect).await;
        store.close().await.unwrap();
        // And all of it survives a restart.
        let (store, report) = Store::open(&root, opts(2, 32 << 10)).await.unwrap();
        assert_eq!(report.rejected, 0, "{report:?}");
        check(&store, &expect);
        store.close().await.unwrap();
    });
}

fn count_segments(root: &Path) -> usize {
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("log-"))
        .map(|e| std::fs::read_dir(e.path()).unwrap().count())
        .sum()
}

#[test]
fn concurrent_first_deliveries_create_an_account_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (store, _) = Store::open(&root, opts(1, 64 << 10)).await.unwrap();
        let store = std::rc::Rc::new(store);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s = store.clone();
                glommio::spawn_local(async move {
                    s.partitions()[0]
                        .ensure_account("new@example.test", NOW)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            created += t.await as u32;
        }
        assert_eq!(created, 1);
        std::rc::Rc::try_unwrap(store)
            .ok()
            .unwrap()
            .close()
            .await
            .unwrap();
        // One account creation in the log (CreateAccount, Archive's CreateFolder and Subscribe in
        // one batch): replay applies everything without a rejected event.
        let (store, report) = Store::open(&root, opts(1, 64 << 10)).await.unwrap();
        assert_eq!(report.rejected, 0, "{report:?}");
        assert_eq!(report.replayed_batches, 1, "{report:?}");
        assert_eq!(report.replayed_events, 3, "{report:?}");
        assert!(store
            .owner("new@example.test")
            .index()
            .has_account("new@example.test"));
        store.close().await.unwrap();
    });
}

#[test]
fn a_snapshot_that_fails_on_a_full_disk_leaves_no_temp_file() {
    let fs = Tmpfs::mount("2m", "");
    let root = fs.path.clone();
    let r = root.clone();
    let failed = run(move || async move {
        let (store, _) = Store::open(&r, opts(1, 64 << 10)).await.unwrap();
        let accounts: Vec<String> = (0..40).map(|i| format!("u{i}@example.test")).collect();
        deliver_round(&store, &accounts, 3, 0, &mut Expect::new()).await;
        // Fill what is left of the disk so the snapshot's write cannot complete.
        use std::io::Write;
        let mut filler = std::fs::File::create(r.join("filler")).unwrap();
        while filler.write_all(&[7u8; 4096]).is_ok() {}
        let failed = store.snapshot().await;
        let _ = store.close().await;
        failed
    });
    failed.expect_err("a snapshot on a full disk fails");
    let leftovers: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}
