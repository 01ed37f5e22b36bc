//! Queue recovery: pending entries and earlier filings, rebuilt from queue snapshots plus log tails.

mod common;

use shardmail_storage::index::Flags;
use shardmail_storage::queue::{
    recover_queue, Entry, Envelope, QueueRecord, QueueSnapshot, Recipient, Route,
};
use shardmail_storage::store::{Store, StoreOptions};
use shardmail_storage::{Kind, Position};

const MAX: usize = 1 << 20;

fn env(message: Position, rcpts: &[&str]) -> Envelope {
    Envelope {
        message,
        size: 5,
        received: 1_800_000_000,
        sender: "s@remote.test".into(),
        recipients: rcpts
            .iter()
            .map(|a| Recipient {
                address: a.to_string(),
                route: Route::Local { owner: 0 },
            })
            .collect(),
    }
}

/// Appends a message and its `Enqueue`; with `file`, also files it for those accounts (as an owner).
async fn accept(store: &Store, rcpts: &[&str], file: &[&str]) -> Position {
    let p = &store.partitions()[0];
    let pos = p.store_message(&[b"hello"]).await.unwrap();
    p.writer()
        .append(Kind::QUEUE, &QueueRecord::Enqueue(env(pos, rcpts)).encode())
        .await
        .unwrap();
    for a in file {
        if !p.index().has_account(a) {
            p.execute(|ix| Ok((ix.create_account(a, 1)?, ())))
                .await
                .unwrap();
        }
        let t = vec![(a.to_string(), "INBOX".to_string())];
        p.execute(|ix| Ok((ix.deliver(&t, pos, 5, 1, Flags::default())?, ())))
            .await
            .unwrap();
    }
    pos
}

async fn done(store: &Store, items: Vec<(Position, Vec<u32>)>) {
    store.partitions()[0]
        .writer()
        .append(Kind::QUEUE, &QueueRecord::Done { items }.encode())
        .await
        .unwrap();
}

#[test]
fn the_tail_alone_gives_pending_entries_and_their_filings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (a, b, c) = common::run(move || async move {
        let (store, _) = Store::open(&root, StoreOptions::default()).await.unwrap();
        // a: filed for x, not for y; b: filed for both, Done for x only; c: all done.
        let a = accept(&store, &["x@t.test", "y@t.test"], &["x@t.test"]).await;
        let b = accept(&store, &["x@t.test", "y@t.test"], &["x@t.test", "y@t.test"]).await;
        let c = accept(&store, &["x@t.test"], &["x@t.test"]).await;
        done(&store, vec![(b, vec![0]), (c, vec![0])]).await;
        store.close().await.unwrap();
        (a, b, c)
    });
    let rec = recover_queue(dir.path(), MAX).unwrap();
    assert_eq!(rec.entries.keys().copied().collect::<Vec<_>>(), vec![a, b]);
    assert!(!rec.entries.contains_key(&c));
    assert_eq!(rec.entries[&a].pending_local(), vec![0, 1]);
    assert_eq!(rec.entries[&b].pending_local(), vec![1]);
    // Filed before the crash, so a redo must skip them; y never got a.
    assert!(rec.filed.contains(&(a, "x@t.test".to_string())));
    assert!(rec.filed.contains(&(b, "y@t.test".to_string())));
    assert!(!rec.filed.contains(&(a, "y@t.test".to_string())));
}

#[test]
fn snapshots_bound_the_scan_and_the_newest_consumer_snapshot_wins() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (a, b, c, cp) = common::run(move || async move {
        let (store, _) = Store::open(&root, StoreOptions::default()).await.unwrap();
        let p = &store.partitions()[0];
        let a = accept(&store, &["x@t.test"], &[]).await;
        let b = accept(&store, &["x@t.test", "y@t.test"], &["y@t.test"]).await;
        let cp = p.writer().committed_end();
        // The snapshot: `a` pending; `b` pending for x; y's filing of b remembered by the owner.
        let mut eb = Entry::new(env(b, &["x@t.test", "y@t.test"]));
        eb.finish(&[1]);
        let snap = QueueSnapshot {
            generation: 5,
            consumes: vec![0],
            checkpoints: vec![(0, cp.seg_off())],
            entries: vec![Entry::new(env(a, &["x@t.test"])), eb],
            filed: vec![(b, "y@t.test".into())],
        };
        snap.write(&root, 0).await.unwrap();
        // An older snapshot (a stale file of a shard that no longer exists) still lists an entry the
        // newer one does not: it must not come back.
        let stale = QueueSnapshot {
            generation: 4,
            consumes: vec![0],
            checkpoints: vec![(0, 0)],
            entries: vec![Entry::new(env(Position::new(0, 0, 999), &["z@t.test"]))],
            filed: vec![],
        };
        stale.write(&root, 3).await.unwrap();
        // After the snapshot: a is done; c arrives and is filed for x.
        done(&store, vec![(a, vec![0])]).await;
        let c = accept(&store, &["x@t.test"], &["x@t.test"]).await;
        store.close().await.unwrap();
        (a, b, c, cp)
    });
    let rec = recover_queue(dir.path(), MAX).unwrap();
    assert_eq!(rec.entries.keys().copied().collect::<Vec<_>>(), vec![b, c]);
    assert_eq!(rec.entries[&b].pending_local(), vec![0]);
    assert!(!rec.entries.contains_key(&a));
    assert!(!rec.entries.contains_key(&Position::new(0, 0, 999)));
    assert!(rec.filed.contains(&(c, "x@t.test".to_string())));
    // Only records after the trusted checkpoint were read: a's Done and c's Enqueue.
    assert_eq!(rec.report.records, 2, "{:?} from {cp}", rec.report);
}

#[test]
fn a_damaged_snapshot_falls_back_to_reading_the_logs_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let a = common::run(move || async move {
        let (store, _) = Store::open(&root, StoreOptions::default()).await.unwrap();
        let a = accept(&store, &["x@t.test"], &[]).await;
        let cp = store.partitions()[0].writer().committed_end();
        let snap = QueueSnapshot {
            generation: 1,
            consumes: vec![0],
            checkpoints: vec![(0, cp.seg_off())],
            entries: vec![Entry::new(env(a, &["x@t.test"]))],
            filed: vec![],
        };
        snap.write(&root, 0).await.unwrap();
        store.close().await.unwrap();
        a
    });
    let path = dir.path().join("queue-0.snap");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let rec = recover_queue(dir.path(), MAX).unwrap();
    assert_eq!(rec.report.snapshots_rejected.len(), 1);
    assert_eq!(rec.entries.keys().copied().collect::<Vec<_>>(), vec![a]);
}

/// A segment compaction removed after carrying its records forward: the queue read from the logs whole
/// (no snapshot) still finds the entry it enqueued and the filing it held.
#[test]
fn records_carried_by_compaction_count_as_the_originals() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let a = common::run(move || async move {
        let opts = StoreOptions {
            log: shardmail_storage::LogOptions {
                segment_size: 16 << 10,
                ..Default::default()
            },
            writers: 1,
        };
        let (store, _) = Store::open(&root, opts).await.unwrap();
        let p = &store.partitions()[0];
        let a = accept(&store, &["x@t.test", "y@t.test"], &["x@t.test"]).await;
        assert_eq!(a.segment, 0);
        // Roll over to new segments.
        for _ in 0..3 {
            p.store_message(&[&[b'z'; 8 << 10]]).await.unwrap();
        }
        assert!(p.writer().committed_end().segment >= 2);
        let victims = [(0, 0)];
        shardmail_storage::store::carry_records(store.logs(), p, &victims)
            .await
            .unwrap();
        shardmail_storage::store::remove_segments(store.logs(), &victims)
            .await
            .unwrap();
        store.close().await.unwrap();
        a
    });
    let segs = shardmail_storage::segment::list_segments(&dir.path().join("log-0000")).unwrap();
    assert!(!segs.contains(&0), "segment 0 was removed: {segs:?}");
    let rec = recover_queue(dir.path(), MAX).unwrap();
    assert_eq!(rec.entries.keys().copied().collect::<Vec<_>>(), vec![a]);
    assert_eq!(rec.entries[&a].pending_local(), vec![0, 1]);
    assert!(rec.filed.contains(&(a, "x@t.test".to_string())));
    assert!(!rec.filed.contains(&(a, "y@t.test".to_string())));
}
