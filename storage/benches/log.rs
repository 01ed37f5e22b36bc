//! Append throughput under group commit beside the raw ceiling measured in the same run, and
//! read-by-position throughput.
//!
//! For each record size (1 KB, 10 KB, 100 KB) and number of concurrent appenders (1, 16, 256):
//! - `append/SIZE/CONC`: records appended through `LogWriter` with group commit (durable appends);
//! - `ceiling/SIZE/CONC`: the same bytes written with plain sequential `write` + `fdatasync`, batched like
//!   the group commit batched them (the average records per sync seen in the append run), on the same disk.
//!
//! At the end a table prints records/s, MB/s and the share of the ceiling. Data goes to a temporary
//! directory under `SHARDMAIL_BENCH_DIR` (default: the target directory, i.e. the project's disk).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glommio::{LocalExecutorBuilder, Placement};
use shardmail_storage::{Kind, LogOptions, LogReader, LogWriter, Position, SyncPolicy};

/// (size, conc) -> (records/s of append, average records per sync, records/s of the ceiling)
type Results = BTreeMap<(usize, usize), (f64, f64, f64)>;

thread_local! {
    static RESULTS: RefCell<Results> = const { RefCell::new(BTreeMap::new()) };
}

fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var_os("SHARDMAIL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::create_dir_all(&base).expect("bench dir");
    tempfile::tempdir_in(base).expect("tempdir")
}

async fn append_n(w: &Rc<LogWriter>, n: u64, conc: u64, payload: &Rc<Vec<u8>>) {
    let mut tasks = Vec::with_capacity(conc as usize);
    for t in 0..conc.min(n) {
        let (w, p) = (w.clone(), payload.clone());
        let count = n / conc + u64::from(t < n % conc);
        tasks.push(glommio::spawn_local(async move {
            for _ in 0..count {
                w.append(Kind::MESSAGE, &p).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await;
    }
}

fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for size in [1_000usize, 10_000, 100_000] {
        for conc in [1usize, 16, 256] {
            let dir = bench_dir();
            let ex = LocalExecutorBuilder::new(Placement::Unbound)
                .make()
                .expect("executor");
            let root = dir.path().to_path_buf();
            let w = ex.run(async move {
                let (w, _) = LogWriter::open(&root, 0, LogOptions::default(), None)
                    .await
                    .expect("open");
                Rc::new(w)
            });
            let payload = Rc::new(vec![b'x'; size]);
            g.throughput(Throughput::Bytes(size as u64));
            let before = w.stats();
            let mut measured = (0u64, Duration::ZERO);
            g.bench_function(BenchmarkId::new(format!("{size}B"), conc), |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    ex.run(append_n(&w, iters, conc as u64, &payload));
                    let e = t.elapsed();
                    measured.0 += iters;
                    measured.1 += e;
                    e
                })
            });
            let s = w.stats();
            let per_sync =
                (s.records - before.records) as f64 / (s.syncs - before.syncs).max(1) as f64;
            let rate = measured.0 as f64 / measured.1.as_secs_f64();
            RESULTS.with(|r| r.borrow_mut().insert((size, conc), (rate, per_sync, 0.0)));
            let w = Rc::try_unwrap(w).ok().expect("sole owner");
            ex.run(w.close()).expect("close");
            drop(ex);

            // The ceiling: the same record bytes, `per_sync` records per write + fdatasync.
            let batch = (per_sync.round() as usize).max(1);
            let file_dir = bench_dir();
            let path = file_dir.path().join("ceiling");
            let mut f = std::fs::File::create(&path).expect("ceiling file");
            let mut rec = Vec::new();
            // The same framing (and checksum work) as the writer's; salt and offset do not matter here.
            shardmail_storage::record::Format::Salted { salt: 0x5eed }.encode_into(
                &mut rec,
                0,
                Kind::MESSAGE,
                &[&vec![b'x'; size]],
            );
            let buf: Vec<u8> = rec
                .iter()
                .copied()
                .cycle()
                .take(rec.len() * batch)
                .collect();
            let mut written = 0u64;
            let mut measured = (0u64, Duration::ZERO);
            g.bench_function(BenchmarkId::new(format!("ceiling-{size}B"), conc), |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    let mut left = iters;
                    while left > 0 {
                        let n = left.min(batch as u64) as usize;
                        f.write_all(&buf[..n * rec.len()]).expect("write");
                        f.sync_data().expect("fdatasync");
                        left -= n as u64;
                        written += (n * rec.len()) as u64;
                        if written > 1 << 30 {
                            // Keep the file bounded like a segment is.
                            f.set_len(0).expect("truncate");
                            use std::io::Seek;
                            f.seek(std::io::SeekFrom::Start(0)).expect("seek");
                            written = 0;
                        }
                    }
                    let e = t.elapsed();
                    measured.0 += iters;
                    measured.1 += e;
                    e
                })
            });
            let ceiling = measured.0 as f64 / measured.1.as_secs_f64();
            RESULTS.with(|r| {
                if let Some(v) = r.borrow_mut().get_mut(&(size, conc)) {
                    v.2 = ceiling;
                }
            });
        }
    }
    g.finish();
    print_table();
}

fn print_table() {
    let mut out = String::from(
        "\n| record | appenders | records/sync | append rec/s | append MB/s | ceiling rec/s | ceiling MB/s | share |\n|---|---|---|---|---|---|---|---|\n",
    );
    RESULTS.with(|r| {
        for ((size, conc), (rate, per_sync, ceiling)) in r.borrow().iter() {
            let mb = |x: f64| x * (*size as f64) / 1e6;
            out += &format!(
                "| {size} B | {conc} | {per_sync:.1} | {rate:.0} | {:.1} | {ceiling:.0} | {:.1} | {:.0}% |\n",
                mb(*rate),
                mb(*ceiling),
                100.0 * rate / ceiling
            );
        }
    });
    println!("{out}");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/storage-append-table.md");
    let _ = std::fs::write(path, out);
}

fn reads(c: &mut Criterion) {
    let dir = bench_dir();
    let root = dir.path().to_path_buf();
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .make()
        .expect("executor");
    let positions: Vec<Position> = ex.run(async move {
        let opts = LogOptions {
            segment_size: 256 << 20,
            sync: SyncPolicy::None,
        };
        let (w, _) = LogWriter::open(&root, 0, opts, None).await.expect("open");
        let mut ps = Vec::new();
        for i in 0..20_000u32 {
            ps.push(
                w.append(Kind::MESSAGE, &vec![(i % 251) as u8; 10_000])
                    .await
                    .expect("append"),
            );
        }
        w.close().await.expect("close");
        ps
    });
    let reader = LogReader::new(dir.path(), 0, 256 << 20, None);
    let mut g = c.benchmark_group("read");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    // Positions in a scattered order (a stride coprime to the count visits every record once per
    // round); the same reads reported as records/s and as bytes/s.
    for (name, throughput) in [
        ("get-10KB-crc-checked", Throughput::Elements(1)),
        ("get-10KB-crc-checked-bytes", Throughput::Bytes(10_000)),
    ] {
        g.throughput(throughput);
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 7919) % positions.len();
                let r = reader.get(positions[i]).expect("get");
                criterion::black_box(r.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, appends, reads);
criterion_main!(benches);
