//! The log writer and reader together: durability, group commit, rollover, recovery, visibility, errors.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use common::{payload, run, Tmpfs};
use shardmail_storage::record::HEADER_LEN;
use shardmail_storage::segment::{log_dir, segment_path, SEGMENT_HEADER_LEN};
use shardmail_storage::{Error, Kind, LogOptions, LogReader, LogWriter, Position, SyncPolicy};

fn opts(segment_size: u64) -> LogOptions {
    LogOptions {
        segment_size,
        sync: SyncPolicy::Group,
    }
}

/// Appends `n` records (seed i, len lens(i)) with `conc` concurrent appenders; returns positions by seed.
async fn append_many(
    w: &Rc<LogWriter>,
    n: u64,
    conc: u64,
    lens: fn(u64) -> usize,
) -> Vec<Position> {
    let mut tasks = Vec::new();
    for t in 0..conc {
        let w = w.clone();
        tasks.push(glommio::spawn_local(async move {
            let mut out = Vec::new();
            let mut i = t;
            while i < n {
                let pos = w
                    .append(Kind::MESSAGE, &payload(i, lens(i)))
                    .await
                    .expect("append");
                out.push((i, pos));
                i += conc;
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await);
    }
    all.sort();
    all.into_iter().map(|(_, p)| p).collect()
}

fn check_all(r: &LogReader, positions: &[Position], lens: fn(u64) -> usize) {
    for (i, pos) in positions.iter().enumerate() {
        let rec = r
            .get(*pos)
            .unwrap_or_else(|e| panic!("record {i} at {pos}: {e}"));
        assert_eq!(rec.kind(), Kind::MESSAGE);
        assert_eq!(
            &rec[..],
            &payload(i as u64, lens(i as u64))[..],
            "record {i} at {pos}"
        );
    }
}

#[test]
fn appends_are_durable_grouped_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let lens: fn(u64) -> usize = |i| 100 + (i as usize * 37) % 3000;
    let r2 = root.clone();
    let (positions, stats) = run(move || async move {
        let (w, report) = LogWriter::open(&r2, 3, opts(1 << 20), None).await.unwrap();
        assert_eq!(report.end, Position::new(3, 0, SEGMENT_HEADER_LEN as u32));
        let w = Rc::new(w);
        let positions = append_many(&w, 2000, 64, lens).await;
        check_all(&w.reader(), &positions, lens);
        let stats = w.stats();
        Rc::try_unwrap(w).ok().unwrap().close().await.unwrap();
        (positions, stats)
    });
    assert_eq!(stats.records, 2000);
    // 64 appenders waiting together: far fewer syncs than records.
    assert!(
        stats.syncs * 4 < stats.records,
        "group commit did not group: {stats:?}"
    );
    // Positions are strictly increasing in append order within the log, across rolled segments.
    let mut sorted = positions.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), positions.len());
    assert!(
        positions.iter().any(|p| p.segment > 0),
        "1 MiB segments must have rolled over"
    );

    // A reader without a writer (another process, or after a restart) sees the same bytes.
    check_all(
        &LogReader::new(&root, 3, (1 << 20) - 25, None),
        &positions,
        lens,
    );
    // Reopen continues after the last record.
    let last = *positions.iter().max().unwrap();
    let r3 = root.clone();
    run(move || async move {
        let (w, report) = LogWriter::open(&r3, 3, opts(1 << 20), None).await.unwrap();
        assert!(report.last_segment.torn_tail.is_none());
        assert!(report.end > last);
        let p = w.append(Kind::MAILBOX, b"after reopen").await.unwrap();
        assert!(p > last);
        assert_eq!(&w.reader().get(p).unwrap()[..], b"after reopen");
        let all = w.reader().scan_from(Position::new(3, 0, 0)).unwrap();
        assert_eq!(all.len(), 2001);
        w.close().await.unwrap();
    });
}

#[test]
fn sync_policies_always_and_none() {
    for (policy, one_sync_each) in [(SyncPolicy::Always, true), (SyncPolicy::None, false)] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let stats = run(move || async move {
            let (w, _) = LogWriter::open(
                &root,
                0,
                LogOptions {
                    segment_size: 1 << 20,
                    sync: policy,
                },
                None,
            )
            .await
            .unwrap();
            let w = Rc::new(w);
            let positions = append_many(&w, 200, 16, |_| 500).await;
            check_all(&w.reader(), &positions, |_| 500);
            let s = w.stats();
            Rc::try_unwrap(w).ok().unwrap().close().await.unwrap();
            s
        });
        if one_sync_each {
            assert_eq!(stats.syncs, 200, "always: one sync per append");
        }
    }
}

#[test]
fn oversized_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (w, _) = LogWriter::open(&root, 0, opts(8192), None).await.unwrap();
        let e = w.append(Kind::MESSAGE, &[1u8; 9000]).await.unwrap_err();
        assert!(matches!(e, Error::RecordTooLarge { .. }), "{e}");
        // The largest record that fits an empty segment is accepted.
        let max = w.options().max_payload();
        let p = w.append(Kind::MESSAGE, &vec![2u8; max]).await.unwrap();
        assert_eq!(w.reader().get(p).unwrap().len(), max);
        w.close().await.unwrap();
    });
}

#[test]
fn visibility_follows_completion_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (w, _) = LogWriter::open(&root, 1, opts(1 << 20), None)
            .await
            .unwrap();
        let w = Rc::new(w);
        let reader = Arc::new(w.reader());
        // Not yet appended: the next position is not readable.
        let next = w.committed_end();
        let w2 = w.clone();
        let task = glommio::spawn_local(async move { w2.append(Kind::MESSAGE, b"hello").await });
        assert!(matches!(reader.get(next), Err(Error::BadPosition { .. })));
        let pos = task.await.unwrap();
        assert_eq!(pos, next);
        assert_eq!(&reader.get(pos).unwrap()[..], b"hello");

        // Another thread reads every position the moment it is handed over.
        let (tx, rx) = std::sync::mpsc::channel::<Option<(u64, Position)>>();
        let r2 = reader.clone();
        let checker = std::thread::spawn(move || {
            let mut n = 0;
            while let Ok(Some((seed, pos))) = rx.recv() {
                let rec = r2
                    .get(pos)
                    .expect("a completed append is readable on another thread");
                assert_eq!(&rec[..], &payload(seed, 2048)[..]);
                n += 1;
            }
            n
        });
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let (w, tx) = (w.clone(), tx.clone());
            tasks.push(glommio::spawn_local(async move {
                for i in 0..100u64 {
                    let seed = t * 1000 + i;
                    let pos = w.append(Kind::MESSAGE, &payload(seed, 2048)).await.unwrap();
                    tx.send(Some((seed, pos))).unwrap();
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        tx.send(None).unwrap();
        assert_eq!(checker.join().unwrap(), 800);
        Rc::try_unwrap(w).ok().unwrap().close().await.unwrap();
    });
}

/// Builds a log of 5 records and closes it; returns (positions, the last segment file).
fn build_small_log(root: &Path) -> (Vec<Position>, std::path::PathBuf) {
    let r = root.to_path_buf();
    let positions = run(move || async move {
        let (w, _) = LogWriter::open(&r, 0, opts(64 << 10), None).await.unwrap();
        let mut ps = Vec::new();
        for i in 0..5u64 {
            ps.push(
                w.append(Kind::MESSAGE, &payload(i, 300 + i as usize * 50))
                    .await
                    .unwrap(),
            );
        }
        w.close().await.unwrap();
        ps
    });
    (positions, segment_path(&log_dir(root, 0), 0))
}

/// Reopens after damage; checks the first `intact` records and that nothing else is returned, and
/// that the writer appends after the last good record.
fn reopen_and_check(root: &Path, positions: &[Position], intact: usize) {
    let r = root.to_path_buf();
    let positions = positions.to_vec();
    run(move || async move {
        let (w, report) = LogWriter::open(&r, 0, opts(64 << 10), None).await.unwrap();
        let reader = w.reader();
        for (i, p) in positions.iter().take(intact).enumerate() {
            assert_eq!(
                &reader.get(*p).unwrap()[..],
                &payload(i as u64, 300 + i * 50)[..]
            );
        }
        let all = reader.scan_from(Position::new(0, 0, 0)).unwrap();
        assert_eq!(all.len(), intact, "only intact records come back");
        for (i, (p, rec)) in all.iter().enumerate() {
            assert_eq!(*p, positions[i]);
            assert_eq!(&rec[..], &payload(i as u64, 300 + i * 50)[..]);
        }
        let expect_end = positions.get(intact).copied().unwrap_or(report.end);
        assert_eq!(report.end, expect_end);
        let p = w.append(Kind::MESSAGE, b"next").await.unwrap();
        assert_eq!(
            p, expect_end,
            "appends continue right after the last good record"
        );
        w.close().await.unwrap();
    });
}

#[test]
fn last_record_cut_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (positions, seg) = build_small_log(dir.path());
    let pristine = std::fs::read(&seg).unwrap();
    let last = positions[4].offset as usize;
    let end = last + HEADER_LEN + 300 + 4 * 50;
    for cut in last..=end {
        // Two ways a file ends early: zeros after the cut (preallocated file), and a shorter file.
        for shorten in [false, true] {
            let mut bytes = pristine.clone();
            if shorten {
                bytes.truncate(cut);
            } else {
                bytes[cut..].iter_mut().for_each(|b| *b = 0);
            }
            std::fs::write(&seg, &bytes).unwrap();
            let intact = if cut == end { 5 } else { 4 };
            reopen_and_check(dir.path(), &positions, intact);
        }
    }
}

#[test]
fn last_record_bit_flips() {
    let dir = tempfile::tempdir().unwrap();
    let (positions, seg) = build_small_log(dir.path());
    let pristine = std::fs::read(&seg).unwrap();
    let last = positions[4].offset as usize;
    let end = last + HEADER_LEN + 300 + 4 * 50;
    // Every bit of the header, and a spread of bits of the payload.
    let bits: Vec<usize> = (0..HEADER_LEN * 8)
        .chain((HEADER_LEN * 8..(end - last) * 8).step_by(13))
        .collect();
    for bit in bits {
        let mut bytes = pristine.clone();
        bytes[last + bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&seg, &bytes).unwrap();
        reopen_and_check(dir.path(), &positions, 4);
    }
}

#[test]
fn corrupt_record_in_a_sealed_segment_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r = root.clone();
    let positions = run(move || async move {
        let (w, _) = LogWriter::open(&r, 0, opts(16 << 10), None).await.unwrap();
        let mut ps = Vec::new();
        for i in 0..40u64 {
            ps.push(w.append(Kind::MESSAGE, &payload(i, 1000)).await.unwrap());
        }
        w.close().await.unwrap();
        ps
    });
    let victim = positions[3];
    assert_eq!(victim.segment, 0);
    assert!(positions.last().unwrap().segment > 0);
    let seg = segment_path(&log_dir(&root, 0), 0);
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(b"XX", victim.offset as u64 + 200).unwrap();
    let reader = LogReader::new(&root, 0, 16 << 10, None);
    assert!(
        matches!(reader.get(victim), Err(Error::Corrupt { .. })),
        "a corrupt record is never returned"
    );
    let all = reader.scan_from(Position::new(0, 0, 0)).unwrap();
    assert_eq!(all.len(), 39);
    assert!(all.iter().all(|(p, _)| *p != victim));
    for (p, rec) in &all {
        let i = positions.iter().position(|q| q == p).unwrap();
        assert_eq!(&rec[..], &payload(i as u64, 1000)[..]);
    }
}

#[test]
fn missing_and_unwritable_data_dirs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let ro = Tmpfs::mount("1m", "ro");
    let ro_path = ro.path.clone();
    run(move || async move {
        let e = LogWriter::open(&missing, 0, LogOptions::default(), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Error::MissingDir { .. }), "{e}");
        let e = LogWriter::open(&ro_path, 0, LogOptions::default(), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Error::Unwritable { .. }), "{e}");
    });
}

#[test]
fn disk_full_fails_unacknowledged_appends_and_recovers() {
    let fs = Tmpfs::mount("2m", "");
    let root = fs.path.clone();
    // Leave ~1 MiB of room, held by a filler file we can delete later.
    std::fs::write(root.join("filler"), vec![1u8; 1 << 20]).unwrap();
    let r = root.clone();
    let acked = run(move || async move {
        let (w, _) = LogWriter::open(&r, 0, opts(4 << 20), None).await.unwrap();
        let w = Rc::new(w);
        let mut acked = Vec::new();
        let mut failure = None;
        for i in 0..400u64 {
            match w.append(Kind::MESSAGE, &payload(i, 10_000)).await {
                Ok(p) => acked.push((i, p)),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let e = failure.expect("a 2 MiB filesystem fills up");
        assert!(e.is_disk_full(), "disk full is a typed error: {e}");
        let reader = w.reader();
        for (i, p) in &acked {
            assert_eq!(&reader.get(*p).unwrap()[..], &payload(*i, 10_000)[..]);
        }
        // Space comes back: the writer goes on, after the last acknowledged record.
        std::fs::remove_file(r.join("filler")).unwrap();
        let p = w
            .append(Kind::MESSAGE, b"after space returned")
            .await
            .unwrap();
        assert!(p > acked.last().unwrap().1);
        acked.push((u64::MAX, p));
        Rc::try_unwrap(w).ok().unwrap().close().await.unwrap();
        acked
    });
    // After a restart, exactly the acknowledged records are there.
    let reader = LogReader::new(&root, 0, (4 << 20) - 25, None);
    let all = reader.scan_from(Position::new(0, 0, 0)).unwrap();
    assert_eq!(all.len(), acked.len());
    for ((i, p), (q, rec)) in acked.iter().zip(&all) {
        assert_eq!(p, q);
        if *i != u64::MAX {
            assert_eq!(&rec[..], &payload(*i, 10_000)[..]);
        }
    }
}

#[test]
fn appends_made_while_a_failed_write_is_repaired_keep_their_positions() {
    // Appends keep arriving while the flusher repairs a failed write (zeroing, syncing): they must
    // either fail or be acknowledged at a position that holds their bytes, never at a stale one.
    let fs = Tmpfs::mount("2m", "");
    let root = fs.path.clone();
    std::fs::write(root.join("filler"), vec![1u8; 1 << 20]).unwrap();
    let r = root.clone();
    let acked = run(move || async move {
        let (w, _) = LogWriter::open(&r, 0, opts(4 << 20), None).await.unwrap();
        let w = Rc::new(w);
        let failures = Rc::new(std::cell::Cell::new(0u32));
        let mut waits = Vec::new();
        let mut freed = false;
        for i in 0..600u64 {
            let (pos, done) = w
                .append_deferred(Kind::MESSAGE, &[&payload(i, 5_000)])
                .expect("the writer is never poisoned by a full disk");
            let failed = failures.clone();
            waits.push(glommio::spawn_local(async move {
                match done.await {
                    Ok(()) => Some((i, pos)),
                    Err(e) => {
                        assert!(e.is_disk_full(), "{e}");
                        failed.set(failed.get() + 1);
                        None
                    }
                }
            }));
            // Let the I/O complete and the waiters run between appends, so appends land mid-repair.
            glommio::timer::sleep(std::time::Duration::from_micros(100)).await;
            if !freed && failures.get() >= 20 {
                std::fs::remove_file(r.join("filler")).unwrap();
                freed = true;
            }
        }
        let mut acked = Vec::new();
        for t in waits {
            acked.extend(t.await);
        }
        assert!(
            freed,
            "the disk filled up and some appends failed ({} failures, {} acked)",
            failures.get(),
            acked.len()
        );
        let reader = w.reader();
        for (i, p) in &acked {
            let rec = reader
                .get(*p)
                .unwrap_or_else(|e| panic!("record {i} at {p}: {e}"));
            assert_eq!(&rec[..], &payload(*i, 5_000)[..], "record {i} at {p}");
        }
        Rc::try_unwrap(w).ok().unwrap().close().await.unwrap();
        acked
    });
    assert!(acked.len() > 100, "appends went on once space returned");
    // After a restart, exactly the acknowledged records are there, in order.
    let reader = LogReader::new(&root, 0, (4 << 20) - 25, None);
    let all = reader.scan_from(Position::new(0, 0, 0)).unwrap();
    let mut acked = acked;
    acked.sort_by_key(|(_, p)| *p);
    assert_eq!(all.len(), acked.len());
    for ((i, p), (q, rec)) in acked.iter().zip(&all) {
        assert_eq!(p, q);
        assert_eq!(&rec[..], &payload(*i, 5_000)[..]);
    }
}

#[test]
fn legacy_segments_are_read_and_appends_continue_in_a_salted_one() {
    use shardmail_storage::record::Format;
    use shardmail_storage::segment::{check_header, LEGACY_MAGIC, LEGACY_SEGMENT_HEADER_LEN};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    // A log as earlier versions wrote it: `SHMLSEG1` header, unsalted records, zero-filled end.
    std::fs::create_dir(log_dir(&root, 0)).unwrap();
    let mut seg = LEGACY_MAGIC.to_vec();
    seg.extend_from_slice(&0u32.to_le_bytes());
    seg.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(seg.len(), LEGACY_SEGMENT_HEADER_LEN);
    let mut old = Vec::new();
    for i in 0..3u64 {
        old.push(Position::new(0, 0, seg.len() as u32));
        Format::Legacy.encode_into(&mut seg, 0, Kind::MESSAGE, &[&payload(i, 700)]);
    }
    seg.resize(seg.len() + 4096, 0);
    std::fs::write(segment_path(&log_dir(&root, 0), 0), &seg).unwrap();

    let r = root.clone();
    let old2 = old.clone();
    let new = run(move || async move {
        let (w, report) = LogWriter::open(&r, 0, opts(64 << 10), None).await.unwrap();
        assert_eq!(report.end, Position::new(0, 1, SEGMENT_HEADER_LEN as u32));
        let reader = w.reader();
        for (i, p) in old2.iter().enumerate() {
            assert_eq!(&reader.get(*p).unwrap()[..], &payload(i as u64, 700)[..]);
        }
        let p = w.append(Kind::MESSAGE, b"salted").await.unwrap();
        w.close().await.unwrap();
        p
    });
    assert_eq!(new.segment, 1, "no unsalted record is ever appended");
    let path = segment_path(&log_dir(&root, 0), 1);
    let bytes = std::fs::read(&path).unwrap();
    assert!(matches!(
        check_header(&bytes, 0, 1, &path).unwrap(),
        Format::Salted { .. }
    ));
    let all = LogReader::new(&root, 0, 64 << 10, None)
        .scan_from(Position::new(0, 0, 0))
        .unwrap();
    let positions: Vec<Position> = all.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, [old, vec![new]].concat());
}
