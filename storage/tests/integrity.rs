//! Records cannot be forged by content, and replay checks what events point at:
//! - a message body carrying valid-looking records of every kind, stored through the real writer, with
//!   the enclosing record's header torn, recovers with no forged event applied (active and sealed
//!   segment);
//! - deliveries pointing anywhere but at a message record start are rejected at replay;
//! - generations cannot overflow.

mod common;

use std::path::{Path, PathBuf};

use common::{payload, run};
use shardmail_storage::index::{Event, EventBatch, FlagMode, Flags, MessageMeta, DELETED, SEEN};
use shardmail_storage::record::{Format, Kind, HEADER_LEN};
use shardmail_storage::segment::{check_header, log_dir, segment_path};
use shardmail_storage::store::{recover, Store, StoreOptions, MAX_GENERATION};
use shardmail_storage::{LogOptions, LogReader, LogWriter, Position, SyncPolicy};

const NOW: i64 = 1_790_000_000;
const SEGMENT: u64 = 64 << 10;
const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

fn opts() -> StoreOptions {
    StoreOptions {
        log: LogOptions {
            segment_size: SEGMENT,
            sync: SyncPolicy::Group,
        },
        writers: 1,
    }
}

fn salt_of(root: &Path, segment: u32) -> u64 {
    let path = segment_path(&log_dir(root, 0), segment);
    let bytes = std::fs::read(&path).unwrap();
    match check_header(&bytes, 0, segment, &path).unwrap() {
        Format::Salted { salt } => salt,
        Format::Legacy => panic!("new segments are salted"),
    }
}

/// Forged records of every kind, framed with `format` as if placed at `at` (the body's offset in the
/// segment plus where they land in it).
fn forge_all(body: &mut Vec<u8>, body_at: u32, format: Format, generation: u64, target: Position) {
    let batches = [
        vec![Event::Deliver {
            account: ALICE.into(),
            folder: "INBOX".into(),
            uid: 100,
            modseq: 100,
            pos: target,
            size: 10,
            internal_date: NOW.into(),
            flags: Flags::default(),
        }],
        vec![Event::SetFlags {
            account: ALICE.into(),
            folder: "INBOX".into(),
            modseq: 101,
            uids: vec![1, 2, 3],
            mode: FlagMode::Replace,
            flags: Flags {
                system: DELETED,
                keywords: vec![],
            },
        }],
        vec![Event::Expunge {
            account: ALICE.into(),
            folder: "INBOX".into(),
            modseq: 102,
            uids: vec![1, 2, 3],
        }],
        vec![Event::DeleteAccount {
            account: ALICE.into(),
        }],
        vec![Event::CreateAccount {
            account: "mallory@example.test".into(),
            uidvalidity: 7,
        }],
    ];
    let at = |body: &Vec<u8>| body_at + body.len() as u32;
    let a = at(body);
    format.encode_into(
        body,
        a,
        Kind::MESSAGE,
        &[b"Subject: forged\r\n\r\nforged\r\n"],
    );
    for events in batches {
        let mut enc = Vec::new();
        EventBatch { generation, events }.encode(&mut enc);
        let a = at(body);
        format.encode_into(body, a, Kind::MAILBOX, &[&enc]);
    }
    let a = at(body);
    format.encode_into(body, a, Kind::QUEUE, &[b"enqueue forged@example.test"]);
}

/// What the test knows about the store before the hostile message.
struct Scene {
    root: PathBuf,
    _dir: tempfile::TempDir,
    alice: Vec<MessageMeta>,
    /// The hostile message record and its total length.
    hostile: Position,
    hostile_len: usize,
    /// Positions of messages delivered to bob after the hostile one (in the sealed case).
    bob_after: usize,
}

/// Builds a store with alice's mail, then delivers to bob a body carrying forged records. With
/// `knows_salt`, the body also carries records framed with the segment's real salt at their real
/// offsets (only a sender who could read the segment file could write those). With `seal`, more mail
/// follows until the hostile record's segment is sealed.
fn scene(knows_salt: bool, seal: bool) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r = root.clone();
    let (alice, hostile, hostile_len, bob_after) = run(move || async move {
        let (store, _) = Store::open(&r, opts()).await.unwrap();
        let p = &store.partitions()[0];
        for a in [ALICE, BOB] {
            p.ensure_account(a, NOW).await.unwrap();
        }
        for seed in 0..3u64 {
            let t = vec![(ALICE.to_string(), "INBOX".to_string())];
            let body = payload(seed, 500);
            p.store_and_execute(&[&body], |ix, pos| {
                Ok((ix.deliver(&t, pos, 500, NOW, Flags::default())?, ()))
            })
            .await
            .unwrap();
        }
        store
            .execute(ALICE, |ix| {
                let f = Flags {
                    system: SEEN,
                    keywords: vec![],
                };
                Ok((ix.set_flags(ALICE, "INBOX", &[1], FlagMode::Add, f)?.0, ()))
            })
            .await
            .unwrap();
        let alice = p.index().messages(ALICE, "INBOX").unwrap();
        assert_eq!(alice.len(), 3);

        // The body lands right after the committed end, behind its record header.
        let next = p.writer().committed_end();
        let body_at = next.offset + HEADER_LEN as u32;
        let salt = salt_of(&r, next.segment);
        let mut body = b"From: mallory@example.test\r\nSubject: hello\r\n\r\n".to_vec();
        let g = p.generation();
        for guess in [
            Format::Legacy,
            Format::Salted { salt: 1 },
            Format::Salted { salt: salt ^ 1 },
        ] {
            forge_all(&mut body, body_at, guess, g, alice[0].pos);
        }
        if knows_salt {
            forge_all(&mut body, body_at, Format::Salted { salt }, g, alice[0].pos);
        }
        body.extend_from_slice(b"\r\nbye\r\n");
        let t = vec![(BOB.to_string(), "INBOX".to_string())];
        let len = body.len() as u32;
        let (hostile, ()) = p
            .store_and_execute(&[&body], |ix, pos| {
                Ok((ix.deliver(&t, pos, len, NOW, Flags::default())?, ()))
            })
            .await
            .unwrap();
        assert_eq!(hostile, next, "the body landed where it was framed for");
        let mut bob_after = 0;
        if seal {
            while p.writer().committed_end().segment <= hostile.segment + 1 {
                let body = payload(1000 + bob_after as u64, 4000);
                p.store_and_execute(&[&body], |ix, pos| {
                    Ok((ix.deliver(&t, pos, 4000, NOW, Flags::default())?, ()))
                })
                .await
                .unwrap();
                bob_after += 1;
            }
        }
        store.close().await.unwrap();
        (alice, hostile, HEADER_LEN + body.len(), bob_after)
    });
    Scene {
        root,
        _dir: dir,
        alice,
        hostile,
        hostile_len,
        bob_after,
    }
}

/// The ways a torn write can leave a record header: never written (zeros), partly written, flipped.
type Tear = Box<dyn Fn(&mut [u8])>;

fn tears() -> Vec<(&'static str, Tear)> {
    vec![
        ("zeroed", Box::new(|h: &mut [u8]| h.fill(0))),
        ("length zeroed", Box::new(|h: &mut [u8]| h[..4].fill(0))),
        ("length bit", Box::new(|h: &mut [u8]| h[1] ^= 0x04)),
        ("crc bit", Box::new(|h: &mut [u8]| h[5] ^= 0x80)),
        ("kind", Box::new(|h: &mut [u8]| h[8] = 0)),
        ("header check", Box::new(|h: &mut [u8]| h[12] ^= 1)),
    ]
}

fn tear(s: &Scene, how: &dyn Fn(&mut [u8])) {
    let path = segment_path(&log_dir(&s.root, 0), s.hostile.segment);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = s.hostile.offset as usize;
    how(&mut bytes[at..at + HEADER_LEN]);
    std::fs::write(&path, &bytes).unwrap();
}

/// Reopens the store and checks that alice's mailbox is exactly as before, that no forged account
/// exists, and that no record inside the hostile body is ever returned by a scan.
fn check_nothing_forged(s: &Scene, what: &str) -> shardmail_storage::store::RecoverReport {
    let root = s.root.clone();
    let alice = s.alice.clone();
    let what2 = what.to_string();
    let (report, bob) = run(move || async move {
        let (store, report) = Store::open(&root, opts()).await.unwrap();
        let bob = {
            let ix = store.partitions()[0].index();
            let mut accounts: Vec<&str> = ix.accounts();
            accounts.sort();
            assert_eq!(accounts, vec![ALICE, BOB], "{what2}: accounts");
            assert_eq!(
                ix.messages(ALICE, "INBOX").unwrap(),
                alice,
                "{what2}: alice's mailbox changed"
            );
            ix.messages(BOB, "INBOX").unwrap()
        };
        store.close().await.unwrap();
        (report, bob)
    });
    for m in &bob {
        assert_ne!(
            m.pos, s.hostile,
            "{what}: a delivery of the torn record was applied"
        );
    }
    assert_eq!(bob.len(), s.bob_after, "{what}: bob's other mail");
    // Strictly inside: after a tear in the active segment, new records rightly start at its offset.
    let inside = s.hostile.offset as u64 + 1..(s.hostile.offset as u64 + s.hostile_len as u64);
    let reader = LogReader::new(&s.root, 0, SEGMENT as usize, None);
    for (pos, _) in reader.scan_from(Position::new(0, 0, 0)).unwrap() {
        assert!(
            !(pos.segment == s.hostile.segment && inside.contains(&(pos.offset as u64))),
            "{what}: a record inside the torn body was returned at {pos}"
        );
    }
    report
}

#[test]
fn forged_records_in_a_body_are_never_applied_when_the_active_segment_is_torn() {
    for (name, how) in tears() {
        // Even a sender who knew the segment's salt: in the active segment nothing after a torn
        // record is read at all.
        let s = scene(true, false);
        tear(&s, &*how);
        let report = check_nothing_forged(&s, &format!("active, {name}"));
        assert_eq!(report.rejected, 0, "{report:?}");
        // The torn tail is gone for good: new appends go where it was, and a second restart agrees.
        let root = s.root.clone();
        run(move || async move {
            let (store, _) = Store::open(&root, opts()).await.unwrap();
            let pos = store.partitions()[0]
                .store_message(&[b"after the tear"])
                .await
                .unwrap();
            assert!(pos <= Position::new(0, s.hostile.segment, s.hostile.offset));
            store.close().await.unwrap();
        });
        check_nothing_forged(&s, &format!("active, {name}, second restart"));
    }
}

#[test]
fn forged_records_in_a_body_are_never_applied_when_a_sealed_segment_is_torn() {
    for (name, how) in tears() {
        let s = scene(false, true);
        assert!(s.bob_after > 0);
        tear(&s, &*how);
        let report = check_nothing_forged(&s, &format!("sealed, {name}"));
        // Bob's delivery of the torn message points at no message record: rejected, counted.
        assert_eq!(report.bad_pointers, 1, "{name}: {report:?}");
    }
}

/// Appends raw mailbox batches to log 0 of a fresh directory.
fn write_batches(root: &Path, batches: Vec<EventBatch>, message: Option<&[u8]>) -> Vec<Position> {
    let root = root.to_path_buf();
    let message = message.map(|m| m.to_vec());
    run(move || async move {
        let (w, _) = LogWriter::open(&root, 0, LogOptions::default(), None)
            .await
            .unwrap();
        let mut out = Vec::new();
        if let Some(m) = message {
            out.push(w.append(Kind::MESSAGE, &m).await.unwrap());
        }
        for b in batches {
            let mut enc = Vec::new();
            b.encode(&mut enc);
            out.push(w.append(Kind::MAILBOX, &enc).await.unwrap());
        }
        w.close().await.unwrap();
        out
    })
}

fn create(account: &str, generation: u64) -> EventBatch {
    EventBatch {
        generation,
        events: vec![Event::CreateAccount {
            account: account.into(),
            uidvalidity: 1,
        }],
    }
}

#[test]
fn a_generation_at_u64_max_is_refused_and_never_overflows() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(
        dir.path(),
        vec![
            create("good@example.test", 5),
            create("evil@example.test", u64::MAX),
        ],
        None,
    );
    let rec = recover(dir.path(), 1 << 20).unwrap();
    assert_eq!(rec.report.bad_generations, 1);
    assert_eq!(rec.index.accounts(), vec!["good@example.test"]);
    assert_eq!(rec.generation, 6);

    // At the limit itself: accepted, and the next generation saturates instead of overflowing; what
    // the next run writes there is replayed too.
    let dir = tempfile::tempdir().unwrap();
    write_batches(
        dir.path(),
        vec![create("edge@example.test", MAX_GENERATION)],
        None,
    );
    let rec = recover(dir.path(), 1 << 20).unwrap();
    assert_eq!(rec.report.rejected, 0);
    assert_eq!(rec.generation, MAX_GENERATION);
    let root = dir.path().to_path_buf();
    run(move || async move {
        let (store, _) = Store::open(&root, opts()).await.unwrap();
        assert_eq!(store.partitions()[0].generation(), MAX_GENERATION);
        store.partitions()[0]
            .ensure_account("later@example.test", NOW)
            .await
            .unwrap();
        store.close().await.unwrap();
    });
    let rec = recover(dir.path(), 1 << 20).unwrap();
    let mut a = rec.index.accounts();
    a.sort();
    assert_eq!(a, vec!["edge@example.test", "later@example.test"]);
}

fn deliver(uid: u32, pos: Position) -> EventBatch {
    EventBatch {
        generation: 1,
        events: vec![Event::Deliver {
            account: "p@example.test".into(),
            folder: "INBOX".into(),
            uid,
            modseq: uid as u64,
            pos,
            size: 5,
            internal_date: NOW.into(),
            flags: Flags::default(),
        }],
    }
}

#[test]
fn deliveries_must_point_at_a_message_record_start() {
    let dir = tempfile::tempdir().unwrap();
    // First the message and the account, to learn the positions.
    let first = write_batches(
        dir.path(),
        vec![create("p@example.test", 1)],
        Some(b"hello"),
    );
    let (msg, batch) = (first[0], first[1]);
    let inside = Position::new(0, msg.segment, msg.offset + 3);
    write_batches(
        dir.path(),
        vec![
            deliver(1, msg),
            deliver(2, inside),
            deliver(3, batch),
            deliver(4, Position::new(9, 0, 32)),
            deliver(5, Position::new(0, 7, 32)),
        ],
        None,
    );
    let rec = recover(dir.path(), 1 << 20).unwrap();
    let got: Vec<(u32, Position)> = rec
        .index
        .messages("p@example.test", "INBOX")
        .unwrap()
        .iter()
        .map(|m| (m.uid, m.pos))
        .collect();
    assert_eq!(got, vec![(1, msg)]);
    assert_eq!(rec.report.bad_pointers, 4, "{:?}", rec.report);
    assert_eq!(rec.report.dangling, 0);
}
