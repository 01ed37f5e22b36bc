//! Mailbox index: listing a 10,000-message folder, STATUS, one message by UID, taking a view, planning a
//! flag change, and a delivery (apply alone, and plan + durable + apply through the owner's pipeline,
//! with and without a session holding a view), on an index built in memory (owned) and on one loaded
//! from a snapshot (read in place).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shardmail_storage::index::{
    Event, FlagMode, Flags, Index, Mailboxes, Snapshot, SnapshotMeta, SEEN,
};
use shardmail_storage::Position;

const A: &str = "user@example.test";
const N: u32 = 10_000;

fn build() -> Index {
    let mut ix = Index::default();
    for e in ix.create_account(A, 0).expect("create") {
        ix.apply(&e).expect("apply");
    }
    let t = vec![(A.to_string(), "INBOX".to_string())];
    for i in 0..N {
        let pos = Position::new(0, i / 1000, 16 + (i % 1000) * 10_000);
        for e in ix
            .deliver(&t, pos, 10_000, i as i64, Flags::default())
            .expect("deliver")
        {
            ix.apply(&e).expect("apply");
        }
    }
    ix
}

fn lookups(c: &mut Criterion) {
    let owned = build();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.snap");
    let bytes = owned.snapshot_bytes(&SnapshotMeta {
        generation: 1,
        checkpoints: vec![],
    });
    std::fs::write(&path, bytes).expect("writing snapshot");
    let (mapped, _) = Snapshot::load(&path).expect("loading snapshot");

    for (name, ix) in [("owned", &owned), ("mapped", &mapped)] {
        let mut g = c.benchmark_group(format!("index-{name}"));
        g.sample_size(20).measurement_time(Duration::from_secs(3));
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function("list-10000-messages", |b| {
            b.iter(|| black_box(ix.messages(A, "INBOX").expect("list").len()))
        });
        g.throughput(Throughput::Elements(1));
        g.bench_function("status", |b| {
            b.iter(|| black_box(ix.status(A, "INBOX").expect("status").exists))
        });
        g.bench_function("take-view", |b| {
            b.iter(|| black_box(ix.view(A, "INBOX").expect("view").len()))
        });
        let mut uid = 0u32;
        g.bench_function("message-by-uid", |b| {
            b.iter(|| {
                uid = uid % N + 7;
                black_box(ix.message(A, "INBOX", uid).expect("lookup"))
            })
        });
        g.finish();
    }
    let mut g = c.benchmark_group("index-plan");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    let mut ix = build();
    let mut uid = 0u32;
    g.bench_function("set-flags-one-message", |b| {
        b.iter(|| {
            uid = uid % N + 13;
            black_box(
                ix.set_flags(
                    A,
                    "INBOX",
                    &[uid],
                    FlagMode::Add,
                    Flags {
                        system: SEEN,
                        keywords: vec![],
                    },
                )
                .expect("plan"),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("index-deliver");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    let t = vec![(A.to_string(), "INBOX".to_string())];
    let pos = Position::new(0, 0, 16);
    let mut ix = build();
    let next = std::cell::Cell::new(N);
    g.bench_function("apply", |b| {
        b.iter_batched(
            || {
                next.set(next.get() + 1);
                vec![Event::Deliver {
                    account: A.to_string(),
                    folder: "INBOX".to_string(),
                    uid: next.get(),
                    modseq: next.get() as u64,
                    pos,
                    size: 10_000,
                    internal_date: 0.into(),
                    flags: Flags::default(),
                }]
            },
            |ev| ix.apply_batch(&ev).expect("apply"),
            BatchSize::SmallInput,
        )
    });
    for hold_view in [false, true] {
        let mut mb = Mailboxes::new(build());
        let name = if hold_view {
            "plan-commit-apply-while-a-view-is-held"
        } else {
            "plan-commit-apply"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                // A session re-takes its view after each change (what IDLE does on a new message).
                let view = hold_view.then(|| mb.applied().view(A, "INBOX").expect("view"));
                let (ticket, ()) = mb
                    .plan(|ix| Ok((ix.deliver(&t, pos, 10_000, 0, Flags::default())?, ())))
                    .expect("plan");
                let ticket = ticket.expect("a delivery makes events");
                mb.durable(ticket);
                black_box((mb.take_outcome(ticket), view.map(|v| v.len())))
            })
        });
    }
    g.finish();
}

/// What 10-recipient ingest asks of an owner: 16 messages planned (one batch each, filing into 10 of
/// 100 accounts) share one group commit, then become durable in order.
fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("index-ingest");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(16 * 10));
    let mut ix = Index::default();
    let users: Vec<String> = (0..100).map(|i| format!("user{i}@example.test")).collect();
    for u in &users {
        for e in ix.create_account(u, 0).expect("create") {
            ix.apply(&e).expect("apply");
        }
    }
    let mut mb = Mailboxes::new(ix);
    let mut n = 0usize;
    g.bench_function("16-messages-x-10-rcpts", |b| {
        b.iter(|| {
            let mut tickets = Vec::with_capacity(16);
            for _ in 0..16 {
                let targets: Vec<(String, String)> = (0..10)
                    .map(|k| (users[(n * 7 + k * 13) % 100].clone(), "INBOX".to_string()))
                    .collect();
                n += 1;
                let pos = Position::new(0, 0, 16 + (n % 1_000_000) as u32 * 64);
                let (t, ()) = mb
                    .plan(|ix| Ok((ix.deliver(&targets, pos, 10_000, 0, Flags::default())?, ())))
                    .expect("plan");
                tickets.push(t.expect("a delivery makes events"));
            }
            for t in tickets {
                mb.durable(t);
                black_box(mb.take_outcome(t));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, lookups, ingest);
criterion_main!(benches);
