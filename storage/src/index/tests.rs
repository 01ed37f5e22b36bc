//! Tests of the index: operations, replay equivalence, snapshots.

use proptest::prelude::*;

use super::*;
use crate::Position;

const NOW: i64 = 1_790_000_000;

/// Plans with `plan`, then applies what it returned (what the store does once the events are durable).
fn run<R>(
    ix: &mut Index,
    log: &mut Vec<Event>,
    plan: impl FnOnce(&mut Index) -> Result<(Vec<Event>, R), MailboxError>,
) -> Result<R, MailboxError> {
    let (events, r) = plan(ix)?;
    for e in &events {
        ix.apply(e)?;
    }
    log.extend(events);
    Ok(r)
}

fn state(ix: &Index) -> Vec<(String, Vec<FolderInfo>, Vec<Vec<MessageMeta>>)> {
    ix.accounts()
        .into_iter()
        .map(|a| {
            let folders = ix.folders(a).unwrap();
            let msgs = folders
                .iter()
                .map(|f| ix.messages(a, &f.name).unwrap())
                .collect();
            (a.to_string(), folders, msgs)
        })
        .collect()
}

fn replay(log: &[Event]) -> Index {
    let mut ix = Index::default();
    for e in log {
        ix.apply(e).unwrap();
    }
    ix
}

fn deliver(ix: &mut Index, log: &mut Vec<Event>, account: &str, folder: &str, n: u32) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let t = vec![(account.to_string(), folder.to_string())];
            run(ix, log, |ix| {
                let ev = ix.deliver(
                    &t,
                    Position::new(0, 0, 16 + i * 100),
                    100,
                    NOW,
                    Flags::default(),
                )?;
                let uid = ev[0].delivered_uid().unwrap_or(0);
                Ok((ev, uid))
            })
            .unwrap()
        })
        .collect()
}

#[test]
fn new_accounts_have_the_special_use_folders_subscribed() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_account("Alice@Example.test", NOW)?, ()))
    })
    .unwrap();
    assert!(ix.has_account("alice@example.TEST"));
    let folders = ix.folders("alice@example.test").unwrap();
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );
    assert!(folders
        .iter()
        .all(|f| f.subscribed && f.status.uidnext == 1));
    let su: Vec<Option<&str>> = folders
        .iter()
        .map(|f| special_use_name(f.special_use))
        .collect();
    assert_eq!(
        su,
        vec![
            Some("\\Archive"),
            Some("\\Drafts"),
            None,
            Some("\\Junk"),
            Some("\\Sent"),
            Some("\\Trash")
        ]
    );
    let vs: std::collections::BTreeSet<u32> =
        folders.iter().map(|f| f.status.uidvalidity).collect();
    assert_eq!(vs.len(), 6, "distinct UIDVALIDITYs");
    assert_eq!(
        ix.create_account("alice@example.test", NOW).unwrap_err(),
        MailboxError::AccountExists("alice@example.test".into())
    );
}

/// Stores written before Archive existed hold a lone `CreateAccount`: it replays to the five folders
/// it always made (the Archive of new accounts is a `CreateFolder` planned beside it).
#[test]
fn an_old_create_account_event_replays_to_the_same_five_folders() {
    let ix = replay(&[Event::CreateAccount {
        account: "old@x.test".into(),
        uidvalidity: 1000,
    }]);
    let folders = ix.folders("old@x.test").unwrap();
    let got: Vec<(&str, u32)> = folders
        .iter()
        .map(|f| (f.name.as_str(), f.status.uidvalidity))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Drafts", 1002),
            ("INBOX", 1000),
            ("Junk", 1004),
            ("Sent", 1001),
            ("Trash", 1003)
        ]
    );
}

/// CREATE with USE (RFC 6154 3): the folder gets the attribute (its missing parents do not); an
/// attribute another folder has, or one the index cannot store, is refused; replay and snapshots
/// keep it.
#[test]
fn folders_created_with_a_special_use_keep_it_through_replay_and_snapshots() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_account("a@x.test", NOW)?, ()))
    })
    .unwrap();
    run(&mut ix, &mut log, |ix| {
        Ok((ix.delete_folder("a@x.test", "Archive")?, ()))
    })
    .unwrap();
    assert_eq!(
        ix.create_special_folder("a@x.test", "Mine/Sent", SPECIAL_SENT, NOW),
        Err(MailboxError::SpecialUseTaken("\\Sent".into()))
    );
    assert_eq!(
        ix.create_special_folder("a@x.test", "Old", 99, NOW),
        Err(MailboxError::UnknownSpecialUse(99))
    );
    run(&mut ix, &mut log, |ix| {
        Ok((
            ix.create_special_folder("a@x.test", "Old/Mail", SPECIAL_ARCHIVE, NOW)?,
            (),
        ))
    })
    .unwrap();
    let uses = |ix: &Index| -> Vec<(String, Option<&'static str>)> {
        ix.folders("a@x.test")
            .unwrap()
            .into_iter()
            .filter(|f| f.name.starts_with("Old"))
            .map(|f| (f.name, special_use_name(f.special_use)))
            .collect()
    };
    let want = vec![
        ("Old".to_string(), None),
        ("Old/Mail".to_string(), Some("\\Archive")),
    ];
    assert_eq!(uses(&ix), want);
    assert_eq!(state(&replay(&log)), state(&ix));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.snap");
    std::fs::write(&path, ix.snapshot_bytes(&SnapshotMeta::default())).unwrap();
    let (loaded, _) = Snapshot::load(&path).unwrap();
    assert_eq!(uses(&loaded), want);
    // A renamed folder keeps its attribute; a second \Archive is refused while it exists.
    run(&mut ix, &mut log, |ix| {
        Ok((ix.rename_folder("a@x.test", "Old/Mail", "Kept", NOW)?, ()))
    })
    .unwrap();
    assert_eq!(
        ix.create_special_folder("a@x.test", "Other", SPECIAL_ARCHIVE, NOW),
        Err(MailboxError::SpecialUseTaken("\\Archive".into()))
    );
}

#[test]
fn deliver_to_many_stores_bytes_once_and_uids_ascend() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    for a in ["a@x.test", "b@x.test"] {
        run(&mut ix, &mut log, |ix| Ok((ix.create_account(a, NOW)?, ()))).unwrap();
    }
    let pos = Position::new(2, 3, 400);
    let t = vec![
        ("a@x.test".into(), "INBOX".into()),
        ("b@x.test".into(), "inbox".into()),
    ];
    run(&mut ix, &mut log, |ix| {
        Ok((
            ix.deliver(
                &t,
                pos,
                1234,
                NOW,
                Flags {
                    system: SEEN,
                    keywords: vec!["$Label1".into()],
                },
            )?,
            (),
        ))
    })
    .unwrap();
    for a in ["a@x.test", "b@x.test"] {
        let m = ix.messages(a, "INBOX").unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].uid, m[0].pos, m[0].size), (1, pos, 1234));
        assert_eq!(
            m[0].flags.clone(),
            Flags {
                system: SEEN,
                keywords: vec!["$Label1".into()]
            }
        );
    }
    let mut positions = Vec::new();
    ix.for_each_position(|p, s| positions.push((p, s)));
    assert_eq!(positions, vec![(pos, 1234), (pos, 1234)]);
    let uids = deliver(&mut ix, &mut log, "a@x.test", "INBOX", 5);
    assert_eq!(uids, vec![2, 3, 4, 5, 6]);
    let st = ix.status("a@x.test", "INBOX").unwrap();
    assert_eq!((st.exists, st.uidnext, st.unseen), (6, 7, 5));
    assert!(matches!(
        ix.deliver(
            &[("nobody@x.test".into(), "INBOX".into())],
            pos,
            1,
            NOW,
            Flags::default()
        ),
        Err(MailboxError::NoAccount(_))
    ));
    assert!(matches!(
        ix.deliver(
            &[("a@x.test".into(), "Nope".into())],
            pos,
            1,
            NOW,
            Flags::default()
        ),
        Err(MailboxError::NoFolder(_))
    ));
}

#[test]
fn planned_uids_never_collide_and_expunged_uids_are_not_reused() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_account("a@x.test", NOW)?, ()))
    })
    .unwrap();
    let t = vec![("a@x.test".to_string(), "INBOX".to_string())];
    // Two plans before either is applied.
    let e1 = ix
        .deliver(&t, Position::new(0, 0, 16), 1, NOW, Flags::default())
        .unwrap();
    let e2 = ix
        .deliver(&t, Position::new(0, 0, 32), 1, NOW, Flags::default())
        .unwrap();
    assert_eq!(
        (e1[0].delivered_uid(), e2[0].delivered_uid()),
        (Some(1), Some(2))
    );
    // Applied out of order: still sorted.
    ix.apply(&e2[0]).unwrap();
    ix.apply(&e1[0]).unwrap();
    assert_eq!(
        ix.messages("a@x.test", "INBOX")
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(ix.apply(&e1[0]), Err(MailboxError::DuplicateUid(1)));
    log.extend(e1);
    log.extend(e2);
    run(&mut ix, &mut log, |ix| {
        Ok((ix.expunge("a@x.test", "INBOX", &[1, 2, 99])?, ()))
    })
    .unwrap();
    assert_eq!(deliver(&mut ix, &mut log, "a@x.test", "INBOX", 1), vec![3]);
    // And after a replay too.
    let mut again = replay(&log);
    assert_eq!(
        deliver(&mut again, &mut Vec::new(), "a@x.test", "INBOX", 1),
        vec![4]
    );
}

#[test]
fn a_batch_that_repeats_a_uid_is_refused_whole() {
    // Small batches check repeats by a scan, large ones (over 32 events) with a set: both refuse.
    for n in [2usize, 40] {
        let mut ix = Index::default();
        let mut log = Vec::new();
        run(&mut ix, &mut log, |ix| {
            Ok((ix.create_account("a@x.test", NOW)?, ()))
        })
        .unwrap();
        let t = vec![("a@x.test".to_string(), "INBOX".to_string())];
        let mut batch = Vec::new();
        for i in 0..n as u32 {
            batch.extend(
                ix.deliver(
                    &t,
                    Position::new(0, 0, 16 * (i + 1)),
                    1,
                    NOW,
                    Flags::default(),
                )
                .unwrap(),
            );
        }
        let last = batch.len() - 1;
        batch[last] = batch[0].clone();
        let before = state(&ix);
        assert_eq!(
            ix.apply_batch(&batch),
            Err(MailboxError::DuplicateUid(1)),
            "{n}"
        );
        assert_eq!(state(&ix), before, "nothing of the batch applied ({n})");
        batch.pop();
        ix.apply_batch(&batch).unwrap();
        assert_eq!(ix.messages("a@x.test", "INBOX").unwrap().len(), n - 1);
    }
}

#[test]
fn flags_copy_move_and_modseq() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_account("a@x.test", NOW)?, ()))
    })
    .unwrap();
    deliver(&mut ix, &mut log, "a@x.test", "INBOX", 3);
    let hms0 = ix.status("a@x.test", "INBOX").unwrap().highestmodseq;
    let m = run(&mut ix, &mut log, |ix| {
        let (e, m) = ix.set_flags(
            "a@x.test",
            "INBOX",
            &[1, 3, 77],
            FlagMode::Add,
            Flags {
                system: FLAGGED,
                keywords: vec!["Work".into()],
            },
        )?;
        Ok((e, m))
    })
    .unwrap();
    assert_eq!(m, hms0 + 1);
    let msgs = ix.messages("a@x.test", "INBOX").unwrap();
    assert_eq!(msgs[0].flags.system & FLAGGED, FLAGGED);
    assert_eq!(msgs[1].flags, Flags::default());
    assert_eq!((msgs[0].modseq, msgs[1].modseq < m), (m, true));
    assert_eq!(msgs[2].flags.clone().keywords, vec!["Work".to_string()]);
    run(&mut ix, &mut log, |ix| {
        Ok((
            ix.set_flags(
                "a@x.test",
                "INBOX",
                &[1],
                FlagMode::Remove,
                Flags {
                    system: FLAGGED,
                    keywords: vec![],
                },
            )?
            .0,
            (),
        ))
    })
    .unwrap();
    assert_eq!(
        ix.messages("a@x.test", "INBOX").unwrap()[0].flags.system & FLAGGED,
        0
    );
    // Nothing matches: no event.
    assert!(ix
        .set_flags("a@x.test", "INBOX", &[500], FlagMode::Add, Flags::default())
        .unwrap()
        .0
        .is_empty());

    let map = run(&mut ix, &mut log, |ix| {
        ix.copy("a@x.test", "INBOX", "Trash", &[2, 3])
    })
    .unwrap();
    assert_eq!(map, vec![(2, 1), (3, 2)]);
    let trash = ix.messages("a@x.test", "Trash").unwrap();
    let inbox = ix.messages("a@x.test", "INBOX").unwrap();
    assert_eq!(trash[1].pos, inbox[2].pos, "copies share the bytes");
    assert_eq!(trash[1].flags.clone().keywords, vec!["Work".to_string()]);
    let map = run(&mut ix, &mut log, |ix| {
        ix.move_("a@x.test", "INBOX", "Junk", &[1])
    })
    .unwrap();
    assert_eq!(map, vec![(1, 1)]);
    assert_eq!(ix.messages("a@x.test", "INBOX").unwrap().len(), 2);
    assert_eq!(ix.messages("a@x.test", "Junk").unwrap().len(), 1);
    assert_eq!(state(&replay(&log)), state(&ix));
}

#[test]
fn folders_create_rename_delete_subscribe() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_account("a@x.test", NOW)?, ()))
    })
    .unwrap();
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_folder("a@x.test", "Work/2026/Q1", NOW)?, ()))
    })
    .unwrap();
    let names: Vec<String> = ix
        .folders("a@x.test")
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(
        names.contains(&"Work".into())
            && names.contains(&"Work/2026".into())
            && names.contains(&"Work/2026/Q1".into())
    );
    assert!(matches!(
        ix.create_folder("a@x.test", "Work", NOW),
        Err(MailboxError::FolderExists(_))
    ));
    for bad in ["", "/x", "x/", "a//b", "a*b", "a%", "a\u{1}"] {
        assert!(
            matches!(
                ix.create_folder("a@x.test", bad, NOW),
                Err(MailboxError::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
    deliver(&mut ix, &mut log, "a@x.test", "Work/2026", 2);
    let v = ix.status("a@x.test", "Work/2026").unwrap().uidvalidity;
    run(&mut ix, &mut log, |ix| {
        Ok((ix.subscribe("a@x.test", "Work/2026", true)?, ()))
    })
    .unwrap();
    run(&mut ix, &mut log, |ix| {
        Ok((ix.rename_folder("a@x.test", "Work", "Old/Work", NOW)?, ()))
    })
    .unwrap();
    assert_eq!(
        ix.status("a@x.test", "Old/Work/2026").unwrap().uidvalidity,
        v
    );
    assert_eq!(ix.messages("a@x.test", "Old/Work/2026").unwrap().len(), 2);
    assert!(ix
        .subscriptions("a@x.test")
        .unwrap()
        .contains(&"Old/Work/2026".to_string()));
    assert!(matches!(
        ix.rename_folder("a@x.test", "Old", "Old/x", NOW),
        Err(MailboxError::RenameIntoSelf)
    ));
    assert!(matches!(
        ix.delete_folder("a@x.test", "Old/Work"),
        Err(MailboxError::HasChildren(_))
    ));
    assert_eq!(
        ix.delete_folder("a@x.test", "inbox"),
        Err(MailboxError::CannotDeleteInbox)
    );
    run(&mut ix, &mut log, |ix| {
        Ok((ix.delete_folder("a@x.test", "Old/Work/2026/Q1")?, ()))
    })
    .unwrap();
    // Recreating a deleted folder gets a new UIDVALIDITY, so no client mistakes old UIDs for new ones.
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_folder("a@x.test", "Old/Work/2026/Q1", NOW)?, ()))
    })
    .unwrap();
    let all: Vec<u32> = ix
        .folders("a@x.test")
        .unwrap()
        .iter()
        .map(|f| f.status.uidvalidity)
        .collect();
    let uniq: std::collections::BTreeSet<u32> = all.iter().copied().collect();
    assert_eq!(all.len(), uniq.len());

    // RENAME INBOX: messages move, INBOX stays, empty, and its UIDs go on ascending.
    deliver(&mut ix, &mut log, "a@x.test", "INBOX", 3);
    run(&mut ix, &mut log, |ix| {
        Ok((ix.rename_folder("a@x.test", "INBOX", "Saved", NOW)?, ()))
    })
    .unwrap();
    assert_eq!(ix.messages("a@x.test", "Saved").unwrap().len(), 3);
    assert_eq!(ix.status("a@x.test", "INBOX").unwrap().exists, 0);
    assert_eq!(deliver(&mut ix, &mut log, "a@x.test", "INBOX", 1), vec![4]);
    assert_eq!(state(&replay(&log)), state(&ix));
}

#[test]
fn keyword_table_is_bounded() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_account("a@x.test", NOW)?, ()))
    })
    .unwrap();
    let t = vec![("a@x.test".to_string(), "INBOX".to_string())];
    let many: Vec<String> = (0..MAX_KEYWORDS).map(|i| format!("k{i}")).collect();
    run(&mut ix, &mut log, |ix| {
        Ok((
            ix.deliver(
                &t,
                Position::new(0, 0, 16),
                1,
                NOW,
                Flags {
                    system: 0,
                    keywords: many.clone(),
                },
            )?,
            (),
        ))
    })
    .unwrap();
    let one_more = Flags {
        system: 0,
        keywords: vec!["straw".into()],
    };
    assert_eq!(
        ix.deliver(&t, Position::new(0, 0, 16), 1, NOW, one_more)
            .unwrap_err(),
        MailboxError::TooManyKeywords
    );
    // Existing names, in any case, still work.
    assert!(ix
        .deliver(
            &t,
            Position::new(0, 0, 16),
            1,
            NOW,
            Flags {
                system: 0,
                keywords: vec!["K3".into()]
            }
        )
        .is_ok());
}

#[test]
fn relocate_moves_every_reference() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_account("a@x.test", NOW)?, ()))
    })
    .unwrap();
    deliver(&mut ix, &mut log, "a@x.test", "INBOX", 2);
    run(&mut ix, &mut log, |ix| {
        ix.copy("a@x.test", "INBOX", "Sent", &[1])
    })
    .unwrap();
    let old = Position::new(0, 0, 16);
    let new = Position::new(1, 9, 16);
    ix.apply(&Event::Relocate {
        moves: vec![(old, new)],
    })
    .unwrap();
    assert_eq!(ix.messages("a@x.test", "INBOX").unwrap()[0].pos, new);
    assert_eq!(ix.messages("a@x.test", "Sent").unwrap()[0].pos, new);
    assert_eq!(
        ix.messages("a@x.test", "INBOX").unwrap()[1].pos,
        Position::new(0, 0, 116)
    );
}

#[test]
fn snapshot_round_trip_reads_in_place_and_copies_on_write() {
    let (mut ix, mut log) = (Index::default(), Vec::new());
    for a in ["a@x.test", "b@x.test"] {
        run(&mut ix, &mut log, |ix| Ok((ix.create_account(a, NOW)?, ()))).unwrap();
        deliver(&mut ix, &mut log, a, "INBOX", 50);
    }
    run(&mut ix, &mut log, |ix| {
        Ok((
            ix.set_flags(
                "a@x.test",
                "INBOX",
                &[3],
                FlagMode::Add,
                Flags {
                    system: SEEN,
                    keywords: vec!["X".into()],
                },
            )?
            .0,
            (),
        ))
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.snap");
    let meta = SnapshotMeta {
        generation: 7,
        checkpoints: vec![(0, 1234), (3, 99)],
    };
    std::fs::write(&path, ix.snapshot_bytes(&meta)).unwrap();
    let (mut loaded, m2) = Snapshot::load(&path).unwrap();
    assert_eq!(m2, meta);
    assert_eq!(state(&loaded), state(&ix));
    // Continue on both: same state.
    for i in [&mut ix, &mut loaded] {
        deliver(i, &mut Vec::new(), "a@x.test", "INBOX", 2);
        i.apply(&Event::Expunge {
            account: "b@x.test".into(),
            folder: "INBOX".into(),
            modseq: 1000,
            uids: vec![1, 2],
        })
        .unwrap();
    }
    assert_eq!(state(&loaded), state(&ix));
    assert_eq!(
        loaded
            .messages("a@x.test", "INBOX")
            .unwrap()
            .last()
            .unwrap()
            .uid,
        52
    );
}

#[test]
fn corrupt_snapshots_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.snap");
    let (mut ix, mut log) = (Index::default(), Vec::new());
    run(&mut ix, &mut log, |ix| {
        Ok((ix.create_account("a@x.test", NOW)?, ()))
    })
    .unwrap();
    deliver(&mut ix, &mut log, "a@x.test", "INBOX", 20);
    let good = ix.snapshot_bytes(&SnapshotMeta::default());
    for bytes in [
        Vec::new(),
        vec![0u8; 100],
        good[..good.len() / 2].to_vec(),
        good.iter().map(|b| b ^ 0xff).collect(),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Snapshot::load(&path),
            Err(crate::Error::BadSnapshot { .. })
        ));
    }
}

#[derive(Debug, Clone)]
enum Op {
    Deliver(u8, u8),
    Flags(u8, u8, u32, u8),
    Expunge(u8, u8, u32),
    Copy(u8, u8, u8, u32),
    Move(u8, u8, u8, u32),
    Create(u8, u8),
    Delete(u8, u8),
    Rename(u8, u8, u8),
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..4).prop_map(|(a, f)| Op::Deliver(a, f)),
        2 => (0u8..3, 0u8..4, 1u32..12, 0u8..3).prop_map(|(a, f, u, m)| Op::Flags(a, f, u, m)),
        2 => (0u8..3, 0u8..4, 1u32..12).prop_map(|(a, f, u)| Op::Expunge(a, f, u)),
        1 => (0u8..3, 0u8..4, 0u8..4, 1u32..12).prop_map(|(a, f, t, u)| Op::Copy(a, f, t, u)),
        1 => (0u8..3, 0u8..4, 0u8..4, 1u32..12).prop_map(|(a, f, t, u)| Op::Move(a, f, t, u)),
        1 => (0u8..3, 0u8..4).prop_map(|(a, f)| Op::Create(a, f)),
        1 => (0u8..3, 0u8..4).prop_map(|(a, f)| Op::Delete(a, f)),
        1 => (0u8..3, 0u8..4, 0u8..4).prop_map(|(a, f, t)| Op::Rename(a, f, t)),
        1 => Just(Op::Snapshot),
    ]
}

const FOLDERS: [&str; 4] = ["INBOX", "Sent", "Work", "Work/Sub"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random operations through plan+apply: replaying the events gives the same state; UIDs ascend in
    /// every folder and none is handed out twice within a UIDVALIDITY; a snapshot taken midway and
    /// continued gives the same state too.
    #[test]
    fn replay_and_snapshot_equivalence(ops in proptest::collection::vec(op(), 1..60)) {
        let (mut ix, mut log) = (Index::default(), Vec::new());
        let accounts = ["a@x.test", "b@x.test", "c@x.test"];
        for a in accounts {
            run(&mut ix, &mut log, |ix| Ok((ix.create_account(a, NOW)?, ()))).unwrap();
        }
        let mut handed: std::collections::HashSet<(String, String, u32, u32)> = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let mut snap: Option<(std::path::PathBuf, usize)> = None;
        for (n, o) in ops.iter().enumerate() {
            let acc = |i: u8| accounts[i as usize % 3];
            let fol = |i: u8| FOLDERS[i as usize % 4];
            let r: Result<Vec<Event>, MailboxError> = match o {
                Op::Deliver(a, f) => ix.deliver(&[(acc(*a).into(), fol(*f).into())], Position::new(0, 1, 16 + n as u32), 10, NOW, Flags::default()),
                Op::Flags(a, f, u, m) => ix.set_flags(acc(*a), fol(*f), &[*u], [FlagMode::Replace, FlagMode::Add, FlagMode::Remove][*m as usize], Flags { system: SEEN, keywords: vec!["k".into()] }).map(|x| x.0),
                Op::Expunge(a, f, u) => ix.expunge(acc(*a), fol(*f), &[*u]),
                Op::Copy(a, f, t, u) => ix.copy(acc(*a), fol(*f), fol(*t), &[*u, u + 1]).map(|x| x.0),
                Op::Move(a, f, t, u) => ix.move_(acc(*a), fol(*f), fol(*t), &[*u]).map(|x| x.0),
                Op::Create(a, f) => ix.create_folder(acc(*a), fol(*f), NOW + n as i64),
                Op::Delete(a, f) => ix.delete_folder(acc(*a), fol(*f)),
                Op::Rename(a, f, t) => ix.rename_folder(acc(*a), fol(*f), &format!("R{n}/{}", fol(*t)), NOW),
                Op::Snapshot => {
                    let p = dir.path().join(format!("{n}.snap"));
                    std::fs::write(&p, ix.snapshot_bytes(&SnapshotMeta::default())).unwrap();
                    snap = Some((p, log.len()));
                    Ok(Vec::new())
                }
            };
            let Ok(events) = r else { continue };
            for e in &events {
                ix.apply(e).unwrap();
                if let Event::Deliver { account, folder, uid, .. } = e {
                    let v = ix.status(account, folder).unwrap().uidvalidity;
                    prop_assert!(handed.insert((account.clone(), folder.clone(), v, *uid)), "uid {} handed out twice", uid);
                }
            }
            log.extend(events);
        }
        for a in accounts {
            for f in ix.folders(a).unwrap() {
                let uids: Vec<u32> = ix.messages(a, &f.name).unwrap().iter().map(|m| m.uid).collect();
                prop_assert!(uids.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(uids.last().is_none_or(|u| *u < f.status.uidnext));
            }
        }
        prop_assert_eq!(state(&replay(&log)), state(&ix));
        if let Some((p, at)) = snap {
            let (mut loaded, _) = Snapshot::load(&p).unwrap();
            for e in &log[at..] {
                loaded.apply(e).unwrap();
            }
            prop_assert_eq!(state(&loaded), state(&ix));
        }
    }
}

#[test]
fn account_lookup_without_allocation_matches_to_lowercase() {
    for name in [
        "user@example.test",
        "User@Example.TEST",
        "\u{01C5}ur@example.test", // titlecase: not upper case, yet lowercases to another char
        "ΣΟΦΙΑ@example.test",      // final sigma depends on context
        "σοφία@example.test",
        "İ@example.test", // lowercases to two chars
        "",
    ] {
        assert_eq!(canonical_account_cow(name), name.to_lowercase(), "{name:?}");
    }
    let mut ix = Index::default();
    for e in ix.create_account("Mixed.Case@Example.Test", NOW).unwrap() {
        ix.apply(&e).unwrap();
    }
    assert!(ix.has_account("mixed.case@example.test"));
    assert!(ix.has_account("MIXED.CASE@EXAMPLE.TEST"));
    assert!(ix.status("mixed.case@example.test", "inbox").is_ok());
    assert!(matches!(
        ix.status("nobody@example.test", "INBOX"),
        Err(MailboxError::NoAccount(a)) if a == "nobody@example.test"
    ));
    assert!(matches!(
        ix.status("MIXED.case@example.test", "Nope"),
        Err(MailboxError::NoFolder(f)) if f == "Nope"
    ));
}

proptest! {
    #[test]
    fn canonical_account_cow_is_to_lowercase(name in "\\PC{0,12}") {
        prop_assert_eq!(canonical_account_cow(&name), name.to_lowercase());
    }
}
