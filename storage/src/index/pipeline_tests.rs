//! Tests of the owner's mailbox service: plans interleaved with commits as the server interleaves them
//! (many planned before earlier ones apply, completions in any order, group commits that fail), and
//! the live index against a replay of the log.

use proptest::prelude::*;

use super::*;
use crate::{Error, Position};

const NOW: i64 = 1_790_000_000;
const ACCOUNTS: [&str; 3] = ["a@x.test", "b@x.test", "c@x.test"];
const FOLDERS: [&str; 4] = ["INBOX", "Sent", "Work", "Work/Sub"];
const KEYWORDS: [&str; 4] = ["$Label1", "$label1", "Urgent", "todo"];

type State = Vec<(
    String,
    Vec<FolderInfo>,
    Vec<Vec<MessageMeta>>,
    Vec<Vec<u32>>,
)>;

/// Everything a client can observe of an index, tombstones included.
fn state(ix: &Index) -> State {
    ix.accounts()
        .into_iter()
        .map(|a| {
            let folders = ix.folders(a).unwrap();
            let msgs = folders
                .iter()
                .map(|f| ix.messages(a, &f.name).unwrap())
                .collect();
            let vanished = folders
                .iter()
                .map(|f| ix.view(a, &f.name).unwrap().vanished_since(0).unwrap())
                .collect();
            (a.to_string(), folders, msgs, vanished)
        })
        .collect()
}

/// STATUS counters recomputed by scanning, to check the kept ones.
fn scanned_status(ix: &Index, a: &str, f: &str) -> (u32, u32, u64, u32) {
    let v = ix.view(a, f).unwrap();
    let exists = v.len() as u32;
    let unseen = v.iter().filter(|m| m.system & SEEN == 0).count() as u32;
    let size = v.iter().map(|m| m.size as u64).sum();
    let recent = v.iter().filter(|m| v.is_recent(m)).count() as u32;
    (exists, unseen, size, recent)
}

#[derive(Debug, Clone)]
enum Op {
    Deliver(u8, u8, u8),
    Store(u8, u8, u32, u8, u8, bool),
    Expunge(u8, u8, u32),
    Move(u8, u8, u8, u32),
    Create(u8, u8),
    Delete(u8, u8),
    Rename(u8, u8),
    Claim(u8, u8),
    /// The writer's flusher takes every queued batch: all durable, or (a failed write) all failed.
    Flush(bool),
    /// One resolved append's task runs (in any order).
    Notify(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..4, 0u8..5).prop_map(|(a, f, k)| Op::Deliver(a, f, k)),
        3 => (0u8..3, 0u8..4, 1u32..8, 0u8..3, 0u8..5, any::<bool>())
            .prop_map(|(a, f, u, m, k, c)| Op::Store(a, f, u, m, k, c)),
        2 => (0u8..3, 0u8..4, 1u32..8).prop_map(|(a, f, u)| Op::Expunge(a, f, u)),
        1 => (0u8..3, 0u8..4, 0u8..4, 1u32..8).prop_map(|(a, f, t, u)| Op::Move(a, f, t, u)),
        1 => (0u8..3, 0u8..4).prop_map(|(a, f)| Op::Create(a, f)),
        1 => (0u8..3, 0u8..4).prop_map(|(a, f)| Op::Delete(a, f)),
        1 => (0u8..3, 0u8..4).prop_map(|(a, f)| Op::Rename(a, f)),
        1 => (0u8..3, 0u8..4).prop_map(|(a, f)| Op::Claim(a, f)),
        3 => (0u8..5).prop_map(|x| Op::Flush(x != 0)),
        4 => any::<u8>().prop_map(Op::Notify),
    ]
}

fn flags(k: u8) -> Flags {
    Flags {
        system: if k & 1 == 0 { SEEN } else { FLAGGED },
        keywords: KEYWORDS
            .iter()
            .take(k as usize)
            .map(|s| s.to_string())
            .collect(),
    }
}

/// A fake log writer: queued appends, resolved ones whose task has not run yet, and the durable log.
#[derive(Default)]
struct Log {
    queued: Vec<Ticket>,
    resolved: Vec<(Ticket, bool)>,
    durable: Vec<Vec<Event>>,
}

impl Log {
    fn flush(&mut self, mb: &Mailboxes, ok: bool) {
        for t in self.queued.drain(..) {
            if ok {
                self.durable.push(mb.events(t).to_vec());
            }
            self.resolved.push((t, ok));
        }
    }

    fn notify(&mut self, mb: &mut Mailboxes, i: usize) {
        if self.resolved.is_empty() {
            return;
        }
        let (t, ok) = self.resolved.remove(i % self.resolved.len());
        if ok {
            mb.durable(t);
        } else {
            mb.failed(t);
        }
    }
}

fn plan_op(mb: &mut Mailboxes, n: usize, o: &Op) -> Result<Option<Ticket>, Error> {
    let acc = |i: u8| ACCOUNTS[i as usize % 3];
    let fol = |i: u8| FOLDERS[i as usize % 4];
    let pos = Position::new(0, 1, 16 + n as u32 * 64);
    let (t, ()) = match o {
        Op::Deliver(a, f, k) => mb.plan(|ix| {
            let t = [(acc(*a).to_string(), fol(*f).to_string())];
            let date = InternalDate::new(NOW + n as i64, -420);
            Ok((ix.deliver(&t, pos, 100 + n as u32, date, flags(*k))?, ()))
        })?,
        Op::Store(a, f, u, m, k, cond) => mb.plan(|ix| {
            let mode = [FlagMode::Replace, FlagMode::Add, FlagMode::Remove][*m as usize];
            let since = cond.then(|| ix.status(acc(*a), fol(*f)).map_or(0, |s| s.highestmodseq));
            let r = ix.store(acc(*a), fol(*f), &[*u, u + 1], mode, flags(*k), since)?;
            Ok((r.events, ()))
        })?,
        Op::Expunge(a, f, u) => mb.plan(|ix| Ok((ix.expunge(acc(*a), fol(*f), &[*u])?, ())))?,
        Op::Move(a, f, t, u) => {
            mb.plan(|ix| Ok((ix.move_(acc(*a), fol(*f), fol(*t), &[*u, u + 2])?.0, ())))?
        }
        Op::Create(a, f) => {
            mb.plan(|ix| Ok((ix.create_folder(acc(*a), fol(*f), NOW + n as i64)?, ())))?
        }
        Op::Delete(a, f) => mb.plan(|ix| Ok((ix.delete_folder(acc(*a), fol(*f))?, ())))?,
        Op::Rename(a, f) => mb.plan(|ix| {
            Ok((
                ix.rename_folder(acc(*a), fol(*f), &format!("R{n}"), NOW + n as i64)?,
                (),
            ))
        })?,
        Op::Claim(a, f) => mb.plan(|ix| {
            let upto = ix.status(acc(*a), fol(*f))?.uidnext;
            Ok((ix.claim_recent(acc(*a), fol(*f), upto)?.0, ()))
        })?,
        Op::Flush(_) | Op::Notify(_) => return Ok(None),
    };
    Ok(t)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Plans interleaved with group commits that succeed or fail and with completions in any order:
    /// the live applied index always equals a replay of the durable log (batches all or nothing), the
    /// planned state equals the applied one once nothing is pending, no durable batch is refused
    /// unless an append failed before it, and STATUS counters equal a scan.
    #[test]
    fn live_index_equals_replay_under_interleaved_commits(ops in proptest::collection::vec(op(), 1..80)) {
        let mut mb = Mailboxes::new(Index::default());
        let mut log = Log::default();
        for a in ACCOUNTS {
            let (t, ()) = mb.plan(|ix| Ok((ix.create_account(a, NOW)?, ()))).unwrap();
            log.queued.push(t.unwrap());
        }
        let mut any_failed = false;
        let mut failed: std::collections::HashSet<Ticket> = Default::default();
        // For each batch, the batches not yet settled when it was planned.
        let mut in_flight: Vec<(Ticket, Vec<Ticket>)> = Vec::new();
        for (n, o) in ops.iter().enumerate() {
            match o {
                Op::Flush(ok) => {
                    any_failed |= !*ok && !log.queued.is_empty();
                    if !*ok {
                        failed.extend(log.queued.iter().copied());
                    }
                    log.flush(&mb, *ok);
                }
                Op::Notify(i) => log.notify(&mut mb, *i as usize),
                _ => {
                    let before: Vec<Ticket> = log.queued.iter().copied()
                        .chain(log.resolved.iter().map(|r| r.0)).collect();
                    if let Ok(Some(t)) = plan_op(&mut mb, n, o) {
                        log.queued.push(t);
                        in_flight.push((t, before));
                    }
                }
            }
        }
        log.flush(&mb, true);
        while !log.resolved.is_empty() {
            log.notify(&mut mb, 0);
        }
        prop_assert_eq!(mb.pending(), 0);
        // A batch that nothing failed under (every batch settled or succeeding when it was planned,
        // itself durable) applies: plans see exactly what will be durable before them.
        for (t, before) in &in_flight {
            let outcome = mb.take_outcome(*t);
            if failed.contains(t) {
                prop_assert_eq!(outcome, Some(Outcome::Failed));
            } else if !before.iter().any(|b| failed.contains(b)) {
                prop_assert_eq!(outcome, Some(Outcome::Applied), "batch {:?}", t);
            }
        }
        if !any_failed {
            prop_assert_eq!(mb.stats().rejected, 0);
            prop_assert_eq!(mb.stats().failed, 0);
        }
        let mut replay = Index::default();
        for batch in &log.durable {
            let _ = replay.apply_batch(batch);
        }
        prop_assert_eq!(state(&replay), state(mb.applied()));
        prop_assert_eq!(state(mb.planned()), state(mb.applied()));
        for a in ACCOUNTS {
            let ix = mb.applied();
            let Ok(folders) = ix.folders(a) else { continue };
            for f in folders {
                let s = f.status;
                prop_assert_eq!((s.exists, s.unseen, s.size, s.recent), scanned_status(ix, a, &f.name));
            }
        }
    }
}

/// Two STOREs planned before either is applied: the second sees the first's keywords (the old code
/// checked against applied state only, so both passed the keyword check).
#[test]
fn concurrent_stores_see_each_others_pending_keywords() {
    let mut mb = Mailboxes::new(Index::default());
    let mut log = Log::default();
    let (t, ()) = mb
        .plan(|ix| Ok((ix.create_account("a@x.test", NOW)?, ())))
        .unwrap();
    log.queued.push(t.unwrap());
    let target = [("a@x.test".to_string(), "INBOX".to_string())];
    let (t, ()) = mb
        .plan(|ix| {
            Ok((
                ix.deliver(&target, Position::new(0, 1, 16), 10, NOW, Flags::default())?,
                (),
            ))
        })
        .unwrap();
    log.queued.push(t.unwrap());
    let names = |from: usize, n: usize| Flags {
        system: 0,
        keywords: (from..from + n).map(|i| format!("k{i}")).collect(),
    };
    // The first fills all but one slot; the second wants two new ones: refused at plan time, not
    // after it was written.
    let (first, _) = mb
        .plan(|ix| {
            let r = ix.store(
                "a@x.test",
                "INBOX",
                &[1],
                FlagMode::Add,
                names(0, MAX_KEYWORDS - 1),
                None,
            )?;
            Ok((r.events, ()))
        })
        .unwrap();
    let second = mb.plan(|ix| {
        let r = ix.store(
            "a@x.test",
            "INBOX",
            &[1],
            FlagMode::Add,
            names(MAX_KEYWORDS, 2),
            None,
        )?;
        Ok((r.events, ()))
    });
    assert!(
        matches!(second, Err(Error::Mailbox(MailboxError::TooManyKeywords))),
        "{:?}",
        second.err()
    );
    log.queued.push(first.unwrap());
    log.flush(&mb, true);
    while !log.resolved.is_empty() {
        log.notify(&mut mb, 0);
    }
    assert_eq!(mb.stats().rejected, 0);
    assert_eq!(
        mb.applied().keywords("a@x.test").unwrap().len(),
        MAX_KEYWORDS - 1
    );
}

/// Two first deliveries to one account planned before the account exists durably: one creates it,
/// the other sees the pending creation (no semaphore needed).
#[test]
fn concurrent_first_deliveries_plan_one_account_creation() {
    let mut mb = Mailboxes::new(Index::default());
    let mut tickets = Vec::new();
    let mut created = 0;
    for _ in 0..2 {
        let (t, c) = mb
            .plan(|ix| {
                if ix.has_account("new@x.test") {
                    Ok((Vec::new(), false))
                } else {
                    Ok((ix.create_account("new@x.test", NOW)?, true))
                }
            })
            .unwrap();
        created += c as u32;
        tickets.extend(t);
    }
    assert_eq!((created, tickets.len()), (1, 1));
    assert!(!mb.applied().has_account("new@x.test"), "not durable yet");
    mb.durable(tickets[0]);
    assert_eq!(mb.take_outcome(tickets[0]), Some(Outcome::Applied));
    assert!(mb.applied().has_account("new@x.test"));
}

/// A failed append drops its batch; a batch planned on top of it and made durable is refused live
/// exactly as replay refuses it, and later plans no longer see the failed batch.
#[test]
fn a_failed_append_is_dropped_and_what_stood_on_it_is_refused_like_replay() {
    let mut mb = Mailboxes::new(Index::default());
    let mut log = Log::default();
    let (t, ()) = mb
        .plan(|ix| Ok((ix.create_account("a@x.test", NOW)?, ())))
        .unwrap();
    log.queued.push(t.unwrap());
    log.flush(&mb, true);
    log.notify(&mut mb, 0);
    let (t, ()) = mb
        .plan(|ix| Ok((ix.create_folder("a@x.test", "Work", NOW)?, ())))
        .unwrap();
    log.queued.push(t.unwrap());
    log.flush(&mb, false); // disk full: the folder's creation is not durable
    let target = [("a@x.test".to_string(), "Work".to_string())];
    // Planned before the failure is reported: it still sees Work.
    let (t, ()) = mb
        .plan(|ix| {
            Ok((
                ix.deliver(&target, Position::new(0, 1, 16), 10, NOW, Flags::default())?,
                (),
            ))
        })
        .unwrap();
    let deliver = t.unwrap();
    log.queued.push(deliver);
    log.flush(&mb, true);
    log.notify(&mut mb, 0); // the failure
    log.notify(&mut mb, 0); // the delivery: durable, refused
    assert!(matches!(
        mb.take_outcome(deliver),
        Some(Outcome::Rejected(MailboxError::NoFolder(_)))
    ));
    let mut replay = Index::default();
    let mut refused = 0;
    for b in &log.durable {
        refused += replay.apply_batch(b).is_err() as u32;
    }
    assert_eq!(refused, 1);
    assert_eq!(state(&replay), state(mb.applied()));
    // Plans no longer see Work.
    assert!(mb
        .plan(|ix| Ok((ix.delete_folder("a@x.test", "Work")?, ())))
        .is_err());
}

/// A batch that stood on a failed one and no longer applies when `planned` is rebuilt is marked so:
/// once durable it is validated (and refused like replay refuses it) instead of being moved into the
/// applied state unchecked, while batches planned after the rebuild take the unchecked path again.
#[test]
fn a_batch_refused_by_the_rebuild_is_validated_when_durable() {
    let mut mb = Mailboxes::new(Index::default());
    let mut log = Log::default();
    let (t, ()) = mb
        .plan(|ix| Ok((ix.create_account("a@x.test", NOW)?, ())))
        .unwrap();
    log.queued.push(t.unwrap());
    log.flush(&mb, true);
    log.notify(&mut mb, 0);
    let (t, ()) = mb
        .plan(|ix| Ok((ix.create_folder("a@x.test", "Work", NOW)?, ())))
        .unwrap();
    log.queued.push(t.unwrap());
    log.flush(&mb, false); // the folder's creation fails...
    let work = [("a@x.test".to_string(), "Work".to_string())];
    let inbox = [("a@x.test".to_string(), "INBOX".to_string())];
    let deliver = |mb: &mut Mailboxes, target: &[(String, String)], at: u32| {
        let (t, ()) = mb
            .plan(|ix| {
                Ok((
                    ix.deliver(target, Position::new(0, 1, at), 10, NOW, Flags::default())?,
                    (),
                ))
            })
            .unwrap();
        t.unwrap()
    };
    let on_work = deliver(&mut mb, &work, 16);
    log.queued.push(on_work);
    log.notify(&mut mb, 0);
    // ...before the delivery's append completes: the next plan rebuilds `planned` without Work.
    let later = deliver(&mut mb, &inbox, 80);
    assert_eq!(mb.stats().rebuilds, 1);
    log.queued.push(later);
    log.flush(&mb, true);
    log.notify(&mut mb, 0);
    log.notify(&mut mb, 0);
    assert!(matches!(
        mb.take_outcome(on_work),
        Some(Outcome::Rejected(MailboxError::NoFolder(_)))
    ));
    assert_eq!(mb.take_outcome(later), Some(Outcome::Applied));
    let mut replay = Index::default();
    for b in &log.durable {
        let _ = replay.apply_batch(b);
    }
    assert_eq!(state(&replay), state(mb.applied()));
    assert_eq!(state(&replay), state(mb.planned()));
    assert_eq!(mb.applied().status("a@x.test", "INBOX").unwrap().exists, 1);
}
