//! The mailbox service as IMAP sessions use it, on a real store: views held across awaits while
//! deliveries commit, concurrent operations on one account, change feeds followed from other threads,
//! and replay of a batch that cannot apply.

mod common;

use std::rc::Rc;
use std::time::Duration;

use common::run;
use shardmail_storage::index::{
    ChangeKind, Event, EventBatch, FeedError, FlagMode, Flags, FEED_CAPACITY, MAX_KEYWORDS,
};
use shardmail_storage::store::{Store, StoreOptions};
use shardmail_storage::{Kind, LogOptions, SyncPolicy};

const NOW: i64 = 1_790_000_000;
const A: &str = "user@example.test";

fn opts() -> StoreOptions {
    StoreOptions {
        log: LogOptions {
            segment_size: 1 << 20,
            sync: SyncPolicy::Group,
        },
        writers: 1,
    }
}

async fn deliver(store: &Store, account: &str, i: u32) -> u32 {
    let p = store.owner(account);
    let body = format!("Subject: {i}\r\n\r\nmessage {i}\r\n");
    let t = vec![(account.to_string(), "INBOX".to_string())];
    let (_, uids) = p
        .store_and_execute(&[body.as_bytes()], |ix, pos| {
            let ev = ix.deliver(&t, pos, body.len() as u32, NOW + i as i64, Flags::default())?;
            let uids: Vec<u32> = ev.iter().filter_map(Event::delivered_uid).collect();
            Ok((ev, uids))
        })
        .await
        .expect("deliver");
    uids[0]
}

/// A FETCH-like read that awaits between messages (as a session writing to a slow client does)
/// while deliveries, flag changes and expunges commit: nothing panics (the old `Partition::index()`
/// lent a `RefCell` borrow that a commit then tried to borrow mutably) and the view stays exactly what
/// it was when taken.
#[test]
fn a_long_read_across_awaits_sees_one_consistent_view_while_commits_land() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (store, _) = Store::open(&root, opts()).await.unwrap();
        let store = Rc::new(store);
        store.owner(A).ensure_account(A, NOW).await.unwrap();
        for i in 0..100 {
            deliver(&store, A, i).await;
        }
        let view = store.owner(A).view(A, "INBOX").unwrap();
        let status = view.status();
        let writer = {
            let s = store.clone();
            glommio::spawn_local(async move {
                for i in 100..300 {
                    deliver(&s, A, i).await;
                    if i % 10 == 0 {
                        s.owner(A)
                            .execute(|ix| {
                                let (ev, _) = ix.set_flags(
                                    A,
                                    "INBOX",
                                    &[i / 10, i],
                                    FlagMode::Add,
                                    Flags {
                                        system: 1,
                                        keywords: vec![format!("k{i}")],
                                    },
                                )?;
                                Ok((ev, ()))
                            })
                            .await
                            .unwrap();
                        s.owner(A)
                            .execute(|ix| Ok((ix.expunge(A, "INBOX", &[i / 10 + 1])?, ())))
                            .await
                            .unwrap();
                    }
                }
            })
        };
        let mut seen = Vec::new();
        for seq in 1..=view.len() as u32 {
            let m = view.by_seq(seq).expect("in the view");
            // Reading the bytes through the partition works while it commits.
            let bytes = store.read(m.pos()).unwrap();
            assert!(bytes.ends_with(format!("message {}\r\n", m.uid - 1).as_bytes()));
            assert_eq!(view.flags(&m), Flags::default());
            seen.push(m);
            glommio::timer::sleep(Duration::from_micros(200)).await;
        }
        let mid = store.owner(A).status(A, "INBOX").unwrap();
        assert!(
            mid.highestmodseq > status.highestmodseq,
            "commits landed while the view was read"
        );
        writer.await;
        assert_eq!(view.status(), status);
        assert_eq!(seen, view.iter().collect::<Vec<_>>());
        assert_eq!(seen.len(), 100);
        let now = store.owner(A).view(A, "INBOX").unwrap();
        assert_eq!(now.len(), 300 - 20);
        assert!(now.status().highestmodseq > status.highestmodseq);
        // A view moves to another thread and is read there.
        let len = std::thread::spawn(move || now.iter().count())
            .join()
            .unwrap();
        assert_eq!(len, 280);
        Rc::try_unwrap(store).ok().unwrap().close().await.unwrap();
    });
}

/// Concurrent STOREs on one account: each is planned against the other's pending keywords, so the
/// one that does not fit is refused before it is written, and every written batch applies (replay
/// rejects nothing).
#[test]
fn concurrent_stores_on_one_account_never_write_a_batch_that_cannot_apply() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (store, _) = Store::open(&root, opts()).await.unwrap();
        let store = Rc::new(store);
        store.owner(A).ensure_account(A, NOW).await.unwrap();
        deliver(&store, A, 0).await;
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let s = store.clone();
                glommio::spawn_local(async move {
                    let names: Vec<String> =
                        (0..MAX_KEYWORDS / 3).map(|i| format!("t{t}k{i}")).collect();
                    s.owner(A)
                        .execute(|ix| {
                            let (ev, _) = ix.set_flags(
                                A,
                                "INBOX",
                                &[1],
                                FlagMode::Add,
                                Flags {
                                    system: 0,
                                    keywords: names,
                                },
                            )?;
                            Ok((ev, ()))
                        })
                        .await
                        .is_ok()
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += t.await as usize;
        }
        assert_eq!(ok, 3, "three sets of a third fit, the fourth does not");
        assert_eq!(store.owner(A).pipeline_stats().rejected, 0);
        let live = store.owner(A).index().messages(A, "INBOX").unwrap();
        Rc::try_unwrap(store).ok().unwrap().close().await.unwrap();
        let (store, report) = Store::open(&root, opts()).await.unwrap();
        assert_eq!(report.rejected, 0, "{report:?}");
        assert_eq!(store.owner(A).index().messages(A, "INBOX").unwrap(), live);
        store.close().await.unwrap();
    });
}

/// A session on another thread follows the account's changes, each with its MODSEQ, woken across
/// threads; a follower that falls too far behind is told so and carries on from the newest change.
#[test]
fn change_feed_is_followed_from_another_thread_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (store, _) = Store::open(&root, opts()).await.unwrap();
        store.owner(A).ensure_account(A, NOW).await.unwrap();
        let follower = store.owner(A).follow(A);
        let slow = store.owner(A).follow(A);
        let (tx, rx) = std::sync::mpsc::channel();
        let idle = std::thread::spawn(move || {
            let mut f = follower;
            futures_lite::future::block_on(async {
                let mut got = Vec::new();
                while got.len() < 5 {
                    got.push(f.next().await.unwrap());
                }
                tx.send(got).unwrap();
            })
        });
        for i in 0..3 {
            deliver(&store, A, i).await;
        }
        store
            .owner(A)
            .execute(|ix| {
                Ok((
                    ix.set_flags(
                        A,
                        "INBOX",
                        &[2],
                        FlagMode::Add,
                        Flags {
                            system: 1,
                            keywords: vec![],
                        },
                    )?
                    .0,
                    (),
                ))
            })
            .await
            .unwrap();
        store
            .owner(A)
            .execute(|ix| Ok((ix.expunge(A, "INBOX", &[1])?, ())))
            .await
            .unwrap();
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the follower woke up");
        idle.join().unwrap();
        let kinds: Vec<ChangeKind> = got.iter().map(|c| c.kind.clone()).collect();
        let inbox = || "INBOX".to_string();
        assert_eq!(
            kinds,
            vec![
                ChangeKind::Delivered {
                    folder: inbox(),
                    uid: 1
                },
                ChangeKind::Delivered {
                    folder: inbox(),
                    uid: 2
                },
                ChangeKind::Delivered {
                    folder: inbox(),
                    uid: 3
                },
                ChangeKind::Flags {
                    folder: inbox(),
                    uids: vec![2]
                },
                ChangeKind::Expunged {
                    folder: inbox(),
                    uids: vec![1]
                },
            ]
        );
        let modseqs: Vec<u64> = got.iter().map(|c| c.modseq).collect();
        assert_eq!(modseqs, vec![1, 2, 3, 4, 5]);
        // Folder changes too.
        let mut folder_follower = store.owner(A).follow(A);
        store
            .owner(A)
            .execute(|ix| Ok((ix.create_folder(A, "Work", NOW)?, ())))
            .await
            .unwrap();
        assert_eq!(
            folder_follower.try_next().unwrap().unwrap().kind,
            ChangeKind::FolderCreated {
                folder: "Work".into()
            }
        );
        // The slow follower read nothing while more than the feed keeps went by.
        for i in 3..(FEED_CAPACITY as u32 + 10) {
            store
                .owner(A)
                .execute(|ix| {
                    Ok((
                        ix.set_flags(
                            A,
                            "INBOX",
                            &[2],
                            FlagMode::Replace,
                            Flags {
                                system: (i % 2) as u8,
                                keywords: vec![],
                            },
                        )?
                        .0,
                        (),
                    ))
                })
                .await
                .unwrap();
        }
        let mut slow = slow;
        assert!(matches!(slow.try_next(), Err(FeedError::Lagged { .. })));
        assert!(
            slow.try_next().unwrap().is_none(),
            "caught up after the resync"
        );
        store.close().await.unwrap();
    });
}

/// A batch in the log that cannot apply (one good event, one for a missing folder) is skipped whole
/// on replay: the recovered index equals the live one, which never applied it.
#[test]
fn replay_skips_a_batch_that_cannot_apply_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (store, _) = Store::open(&root, opts()).await.unwrap();
        let p = store.owner(A);
        p.ensure_account(A, NOW).await.unwrap();
        deliver(&store, A, 0).await;
        // A valid message pointer (replay checks them), so only the missing folder is wrong.
        let pos = p.index().message(A, "INBOX", 1).unwrap().unwrap().pos;
        let good = Event::Deliver {
            account: A.into(),
            folder: "INBOX".into(),
            uid: 50,
            modseq: 50,
            pos,
            size: 10,
            internal_date: NOW.into(),
            flags: Flags::default(),
        };
        let bad = Event::Expunge {
            account: A.into(),
            folder: "Missing".into(),
            modseq: 51,
            uids: vec![1],
        };
        let mut buf = Vec::new();
        EventBatch::encode_events(p.generation(), &[good, bad], &mut buf);
        p.writer().append(Kind::MAILBOX, &buf).await.unwrap();
        let live = p.index().messages(A, "INBOX").unwrap();
        let status = p.status(A, "INBOX").unwrap();
        store.close().await.unwrap();
        let (store, report) = Store::open(&root, opts()).await.unwrap();
        assert_eq!(report.rejected, 1, "{report:?}");
        assert_eq!(store.owner(A).index().messages(A, "INBOX").unwrap(), live);
        assert_eq!(store.owner(A).status(A, "INBOX").unwrap(), status);
        store.close().await.unwrap();
    });
}
