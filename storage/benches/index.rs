//! Mailbox index lookups: listing a 10,000-message folder, STATUS, one message by UID, and planning a
//! flag change, on an index built in memory (owned) and on one loaded from a snapshot (read in place).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardmail_storage::index::{FlagMode, Flags, Index, Snapshot, SnapshotMeta, SEEN};
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
}

criterion_group!(benches, lookups);
criterion_main!(benches);
