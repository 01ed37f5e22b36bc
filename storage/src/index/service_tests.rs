//! Tests of what IMAP stands on: all-or-nothing batches, tombstones for VANISHED, keywords without a
//! fixed cap, zoned internal dates, \Recent and STATUS counters, owned views, and the snapshot of all of it.

use super::*;
use crate::Position;

const NOW: i64 = 1_790_000_000;
const A: &str = "a@x.test";

fn apply(ix: &mut Index, events: Vec<Event>) {
    ix.apply_batch(&events).unwrap();
}

fn with_account() -> Index {
    let mut ix = Index::default();
    let ev = ix.create_account(A, NOW).unwrap();
    apply(&mut ix, ev);
    ix
}

fn deliver(ix: &mut Index, folder: &str, n: u32, flags: Flags) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let t = [(A.to_string(), folder.to_string())];
            let ev = ix
                .deliver(
                    &t,
                    Position::new(0, 0, 16 + i * 100),
                    100 + i,
                    NOW,
                    flags.clone(),
                )
                .unwrap();
            let uid = ev[0].delivered_uid().unwrap();
            apply(ix, ev);
            uid
        })
        .collect()
}

fn snapshot_round_trip(ix: &Index) -> Index {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.snap");
    std::fs::write(&p, ix.snapshot_bytes(&SnapshotMeta::default())).unwrap();
    Snapshot::load(&p).unwrap().0
}

/// A folder as a client sees it: status, messages, vanished UIDs, the account's keywords.
type Seen = (FolderInfo, Vec<MessageMeta>, Vec<u32>, Vec<String>);

fn everything(ix: &Index) -> Vec<Seen> {
    ix.folders(A)
        .unwrap()
        .into_iter()
        .map(|f| {
            let m = ix.messages(A, &f.name).unwrap();
            let v = ix.view(A, &f.name).unwrap().vanished_since(0).unwrap();
            let mut k = ix.keywords(A).unwrap();
            k.sort();
            (f, m, v, k)
        })
        .collect()
}

#[test]
fn a_batch_that_fails_midway_changes_nothing() {
    let mut ix = with_account();
    deliver(&mut ix, "INBOX", 2, Flags::default());
    let before = everything(&ix);
    let ok = Event::Deliver {
        account: A.into(),
        folder: "INBOX".into(),
        uid: 10,
        modseq: 10,
        pos: Position::new(0, 0, 16),
        size: 5,
        internal_date: NOW.into(),
        flags: Flags {
            system: 0,
            keywords: vec!["new".into()],
        },
    };
    let flags = Event::SetFlags {
        account: A.into(),
        folder: "INBOX".into(),
        modseq: 11,
        uids: vec![1],
        mode: FlagMode::Add,
        flags: Flags {
            system: SEEN,
            keywords: vec![],
        },
    };
    let missing = Event::Expunge {
        account: A.into(),
        folder: "Nope".into(),
        modseq: 12,
        uids: vec![2],
    };
    // Message-only batch: validated whole before anything changes.
    assert_eq!(
        ix.apply_batch(&[ok.clone(), flags.clone(), missing]),
        Err(MailboxError::NoFolder("Nope".into()))
    );
    assert_eq!(everything(&ix), before);
    // The same uid twice in one batch.
    assert!(ix.apply_batch(&[ok.clone(), ok.clone()]).is_err());
    assert_eq!(everything(&ix), before);
    // Structural batch: applied to a clone, dropped on failure.
    let create = Event::CreateFolder {
        account: A.into(),
        folder: "Work".into(),
        uidvalidity: NOW as u32 + 100,
        special_use: 0,
    };
    assert_eq!(
        ix.apply_batch(&[create.clone(), ok.clone(), create.clone()]),
        Err(MailboxError::FolderExists("Work".into()))
    );
    assert_eq!(everything(&ix), before);
    // Each part alone applies.
    ix.apply_batch(&[create, ok, flags]).unwrap();
    assert_eq!(ix.status(A, "INBOX").unwrap().exists, 3);
}

#[test]
fn expunges_leave_tombstones_for_vanished_earlier() {
    let mut ix = with_account();
    let uids = deliver(&mut ix, "INBOX", 6, Flags::default());
    let m0 = ix.status(A, "INBOX").unwrap().highestmodseq;
    let ev = ix.expunge(A, "INBOX", &uids[1..3]).unwrap();
    apply(&mut ix, ev);
    let m1 = ix.status(A, "INBOX").unwrap().highestmodseq;
    let ev = ix.expunge(A, "INBOX", &[uids[4]]).unwrap();
    apply(&mut ix, ev);
    let v = ix.view(A, "INBOX").unwrap();
    assert_eq!(v.vanished_since(m0).unwrap(), vec![2, 3, 5]);
    assert_eq!(v.vanished_since(m1).unwrap(), vec![5]);
    assert_eq!(
        v.vanished_since(v.status().highestmodseq).unwrap(),
        Vec::<u32>::new()
    );
    // The view was taken before this expunge: it does not report it.
    let ev = ix.expunge(A, "INBOX", &[uids[0]]).unwrap();
    apply(&mut ix, ev);
    assert_eq!(v.vanished_since(m0).unwrap(), vec![2, 3, 5]);
    assert_eq!(
        ix.view(A, "INBOX").unwrap().vanished_since(m0).unwrap(),
        vec![1, 2, 3, 5]
    );
    // Snapshots keep them.
    let loaded = snapshot_round_trip(&ix);
    assert_eq!(
        loaded.view(A, "INBOX").unwrap().vanished_since(m0).unwrap(),
        vec![1, 2, 3, 5]
    );
    assert_eq!(everything(&loaded), everything(&ix));
}

#[test]
fn tombstone_retention_is_bounded_and_reports_the_lowest_answerable_modseq() {
    let mut ix = with_account();
    let n = (TOMBSTONES_KEPT + TOMBSTONES_KEPT / 4 + 10) as u32;
    // One delivery batch of many messages, then one expunge per message.
    let t: Vec<(String, String)> = vec![(A.to_string(), "INBOX".to_string())];
    let mut events = Vec::new();
    for i in 0..n {
        events.extend(
            ix.deliver(&t, Position::new(0, 0, 16 + i), 1, NOW, Flags::default())
                .unwrap(),
        );
    }
    apply(&mut ix, events);
    let before = ix.status(A, "INBOX").unwrap().highestmodseq;
    for u in 1..=n {
        let ev = ix.expunge(A, "INBOX", &[u]).unwrap();
        apply(&mut ix, ev);
    }
    let v = ix.view(A, "INBOX").unwrap();
    let floor = v.vanished_floor();
    assert!(floor > before, "old tombstones were dropped");
    assert_eq!(v.vanished_since(before), Err(TooOld { lowest: floor }));
    let since = v.vanished_since(floor).unwrap();
    assert!(since.len() >= TOMBSTONES_KEPT, "{}", since.len());
    assert_eq!(since.last(), Some(&n));
}

#[test]
fn a_thousand_keywords_and_more_with_slots_reclaimed() {
    let mut ix = with_account();
    let names = |from: usize, n: usize| Flags {
        system: 0,
        keywords: (from..from + n).map(|i| format!("kw{i}")).collect(),
    };
    let uids = deliver(&mut ix, "INBOX", 3, Flags::default());
    let (ev, _) = ix
        .set_flags(A, "INBOX", &uids[..1], FlagMode::Add, names(0, 1500))
        .unwrap();
    apply(&mut ix, ev);
    let (ev, _) = ix
        .set_flags(A, "INBOX", &uids[1..2], FlagMode::Add, names(1000, 1000))
        .unwrap();
    apply(&mut ix, ev);
    assert_eq!(ix.keywords(A).unwrap().len(), 2000);
    let m = ix.message(A, "INBOX", uids[1]).unwrap().unwrap();
    assert_eq!(m.flags.keywords.len(), 1000);
    // Case-insensitive: $Label matches an existing name.
    let (ev, _) = ix
        .set_flags(A, "INBOX", &uids[2..], FlagMode::Add, names(5, 1))
        .unwrap();
    apply(&mut ix, ev);
    let (ev, _) = ix
        .set_flags(
            A,
            "INBOX",
            &uids[2..],
            FlagMode::Add,
            Flags {
                system: 0,
                keywords: vec!["KW5".into()],
            },
        )
        .unwrap();
    apply(&mut ix, ev);
    assert_eq!(
        ix.message(A, "INBOX", uids[2])
            .unwrap()
            .unwrap()
            .flags
            .keywords,
        vec!["kw5".to_string()]
    );
    // Clearing them frees the slots: the table is empty and fills again to its limit.
    let (ev, _) = ix
        .set_flags(A, "INBOX", &uids, FlagMode::Replace, Flags::default())
        .unwrap();
    apply(&mut ix, ev);
    assert_eq!(ix.keywords(A).unwrap().len(), 0);
    let (ev, _) = ix
        .set_flags(
            A,
            "INBOX",
            &uids[..1],
            FlagMode::Add,
            names(10_000, MAX_KEYWORDS),
        )
        .unwrap();
    apply(&mut ix, ev);
    assert_eq!(ix.keywords(A).unwrap().len(), MAX_KEYWORDS);
    assert_eq!(
        ix.set_flags(A, "INBOX", &uids[1..2], FlagMode::Add, names(0, 1))
            .unwrap_err(),
        MailboxError::TooManyKeywords
    );
    // Expunging the message frees them too; a snapshot keeps the table.
    assert_eq!(everything(&snapshot_round_trip(&ix)), everything(&ix));
    let ev = ix.expunge(A, "INBOX", &uids[..1]).unwrap();
    apply(&mut ix, ev);
    assert_eq!(ix.keywords(A).unwrap().len(), 0);
}

#[test]
fn internal_dates_keep_their_zone() {
    let mut ix = with_account();
    let t = [(A.to_string(), "INBOX".to_string())];
    let date = InternalDate::new(NOW, -7 * 60);
    let ev = ix
        .deliver(&t, Position::new(0, 0, 16), 10, date, Flags::default())
        .unwrap();
    let mut bytes = Vec::new();
    EventBatch::encode_events(1, &ev, &mut bytes);
    let decoded = EventBatch::decode(&bytes).unwrap();
    apply(&mut ix, decoded.events);
    let m = ix.message(A, "INBOX", 1).unwrap().unwrap();
    assert_eq!(m.internal_date, date);
    // COPY keeps it.
    let (ev, _) = ix.copy(A, "INBOX", "Sent", &[1]).unwrap();
    apply(&mut ix, ev);
    assert_eq!(
        ix.message(A, "Sent", 1).unwrap().unwrap().internal_date,
        date
    );
    let loaded = snapshot_round_trip(&ix);
    assert_eq!(
        loaded
            .message(A, "INBOX", 1)
            .unwrap()
            .unwrap()
            .internal_date,
        date
    );
    assert_eq!(ix.view(A, "INBOX").unwrap().by_seq(1).unwrap().date(), date);
}

#[test]
fn status_counters_and_recent_claimed_by_select() {
    let mut ix = with_account();
    let seen = Flags {
        system: SEEN,
        keywords: vec![],
    };
    deliver(&mut ix, "INBOX", 3, Flags::default());
    deliver(&mut ix, "INBOX", 2, seen.clone());
    let s = ix.status(A, "INBOX").unwrap();
    assert_eq!((s.exists, s.unseen, s.recent), (5, 3, 5));
    assert_eq!(s.size, (100 + 101 + 102) + (100 + 101));
    // A SELECT claims the five: it reports them as \Recent, nobody else will.
    let upto = s.uidnext;
    let (ev, first) = ix.claim_recent(A, "INBOX", upto).unwrap();
    assert_eq!(first, 1);
    apply(&mut ix, ev);
    assert_eq!(ix.status(A, "INBOX").unwrap().recent, 0);
    let (ev, first) = ix.claim_recent(A, "INBOX", upto).unwrap();
    assert!(ev.is_empty());
    assert_eq!(first, upto);
    deliver(&mut ix, "INBOX", 1, Flags::default());
    let v = ix.view(A, "INBOX").unwrap();
    assert_eq!(v.status().recent, 1);
    assert!(v.is_recent(&v.by_seq(6).unwrap()));
    assert_eq!(v.first_unseen(), Some(1));
    assert!(!v.is_recent(&v.by_seq(5).unwrap()));
    // Flags and expunge move the counters.
    let (ev, _) = ix
        .set_flags(A, "INBOX", &[1, 4], FlagMode::Replace, seen)
        .unwrap();
    apply(&mut ix, ev);
    // Unseen were 1, 2, 3 and 6; 1 now has \Seen (4 had it already).
    assert_eq!(ix.status(A, "INBOX").unwrap().unseen, 3);
    let ev = ix.expunge(A, "INBOX", &[2, 5]).unwrap();
    apply(&mut ix, ev);
    let s = ix.status(A, "INBOX").unwrap();
    assert_eq!((s.exists, s.unseen, s.recent), (4, 2, 1));
    assert_eq!(s.size, 100 + 102 + 100 + 100);
    assert_eq!(snapshot_round_trip(&ix).status(A, "INBOX").unwrap(), s);
}

#[test]
fn store_unchangedsince_reports_modified_messages() {
    let mut ix = with_account();
    deliver(&mut ix, "INBOX", 3, Flags::default());
    let base = ix.status(A, "INBOX").unwrap().highestmodseq;
    let seen = Flags {
        system: SEEN,
        keywords: vec![],
    };
    let (ev, _) = ix
        .set_flags(A, "INBOX", &[2], FlagMode::Add, seen.clone())
        .unwrap();
    apply(&mut ix, ev);
    // RFC 7162 3.1.3: UID 2 changed after `base`, so it is left alone and reported.
    let r = ix
        .store(A, "INBOX", &[1, 2, 3], FlagMode::Add, seen, Some(base))
        .unwrap();
    assert_eq!(r.modified, vec![2]);
    assert!(matches!(&r.events[..], [Event::SetFlags { uids, .. }] if uids == &vec![1, 3]));
}

#[test]
fn views_are_owned_send_and_unaffected_by_later_commits() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    let mut ix = with_account();
    deliver(&mut ix, "INBOX", 200, Flags::default());
    let view = ix.view(A, "INBOX").unwrap();
    send_sync(&view);
    let before: Vec<MessageEntry> = view.iter().collect();
    deliver(&mut ix, "INBOX", 50, Flags::default());
    let (ev, _) = ix
        .set_flags(
            A,
            "INBOX",
            &[1, 70, 130],
            FlagMode::Add,
            Flags {
                system: SEEN,
                keywords: vec!["x".into()],
            },
        )
        .unwrap();
    apply(&mut ix, ev);
    let ev = ix.expunge(A, "INBOX", &[3, 64, 65, 66, 199]).unwrap();
    apply(&mut ix, ev);
    let other_thread = std::thread::spawn(move || view.iter().collect::<Vec<_>>())
        .join()
        .unwrap();
    assert_eq!(other_thread, before);
    assert_eq!(ix.view(A, "INBOX").unwrap().len(), 245);
}
