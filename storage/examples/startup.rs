//! Measures start-up (index recovery) of a data directory holding many delivered messages:
//! (a) from a snapshot, (b) from a snapshot plus a tail of deliveries after it, (c) from the logs alone.
//!
//! cargo run --release -p shardmail-storage --example startup -- [--messages N] [--accounts A] [--dir D]
//! (`--dir D --open-only` opens an existing directory 3 times and prints one row: for profiling.)
//!
//! Builds the directory with 2 writers under group commit (512 concurrent deliveries; bodies of
//! 200..=2000 bytes), snapshots, then opens it 3 times per case and prints min/median wall time with
//! the report's load and replay split. The page-cache-dropped rows need root (else they run warm).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::LocalExecutorBuilder;
use shardmail_storage::index::Flags;
use shardmail_storage::store::{Store, StoreOptions};
use shardmail_storage::{LogOptions, SyncPolicy};

const NOW: i64 = 1_795_000_000;

struct Args {
    messages: u64,
    accounts: u64,
    dir: Option<PathBuf>,
    /// Only open the existing `--dir` (as it is) 3 times: for profiling one case.
    open_only: bool,
}

fn args() -> Args {
    let mut a = Args {
        messages: 1_000_000,
        accounts: 1000,
        dir: None,
        open_only: false,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--messages" => a.messages = val.parse().expect("--messages N"),
            "--accounts" => a.accounts = val.parse().expect("--accounts N"),
            "--dir" => a.dir = Some(PathBuf::from(val)),
            "--open-only" => {
                a.open_only = true;
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn opts() -> StoreOptions {
    StoreOptions {
        log: LogOptions {
            sync: SyncPolicy::Group,
            ..LogOptions::default()
        },
        writers: 2,
    }
}

fn on_executor<T: Send + 'static, Fut: std::future::Future<Output = T> + 'static>(
    f: impl FnOnce() -> Fut + Send + 'static,
) -> T {
    LocalExecutorBuilder::default()
        .spawn(f)
        .expect("executor")
        .join()
        .expect("executor panicked")
}

/// Message sizes spread over 200..=2000 bytes.
fn body_len(seed: u64) -> usize {
    200 + (seed as usize).wrapping_mul(7919) % 1801
}

/// Bytes of every file under `dir`.
fn du(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => du(&e.path()),
                    // Segments are preallocated sparse: count the blocks in use.
                    Ok(m) => std::os::unix::fs::MetadataExt::blocks(&m) * 512,
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Delivers `n` messages (seeds from `first`) with `concurrency` deliveries in flight.
async fn deliver(store: Rc<Store>, first: u64, n: u64, accounts: u64, concurrency: u64) {
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let store = store.clone();
        tasks.push(glommio::spawn_local(async move {
            let mut i = t;
            while i < n {
                let seed = first + i;
                let account = format!("user{}@example.test", seed % accounts);
                let body = vec![b'x'; body_len(seed)];
                let via = &store.partitions()[(seed % 2) as usize];
                let pos = via.store_message(&[&body]).await.expect("store");
                let t = vec![(account.clone(), "INBOX".to_string())];
                store
                    .execute(&account, |ix| {
                        Ok((
                            ix.deliver(&t, pos, body.len() as u32, NOW, Flags::default())?,
                            (),
                        ))
                    })
                    .await
                    .expect("deliver");
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await;
    }
}

fn build(dir: &Path, a: &Args) {
    let (dir, messages, accounts) = (dir.to_path_buf(), a.messages, a.accounts);
    on_executor(move || async move {
        let (store, _) = Store::open(&dir, opts()).await.expect("open");
        let store = Rc::new(store);
        for k in 0..accounts {
            let acc = format!("user{k}@example.test");
            store
                .execute(&acc, |ix| Ok((ix.create_account(&acc, NOW)?, ())))
                .await
                .expect("create");
        }
        let t = Instant::now();
        let step = (messages / 10).max(1);
        let mut done = 0;
        while done < messages {
            let n = step.min(messages - done);
            deliver(store.clone(), done, n, accounts, 512).await;
            done += n;
            eprintln!(
                "  built {done} messages ({:.0}/s)",
                done as f64 / t.elapsed().as_secs_f64()
            );
        }
        store.snapshot().await.expect("snapshot");
        Rc::try_unwrap(store)
            .ok()
            .expect("no other holders")
            .close()
            .await
            .expect("close");
    });
}

fn add_tail(dir: &Path, n: u64, accounts: u64, first: u64) {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let (store, _) = Store::open(&dir, opts()).await.expect("open");
        let store = Rc::new(store);
        deliver(store.clone(), first, n, accounts, 256).await;
        Rc::try_unwrap(store)
            .ok()
            .expect("no other holders")
            .close()
            .await
            .expect("close");
    });
}

/// Drops the page cache (root only) so an open reads from the disk, as after a reboot.
fn drop_caches() -> bool {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", b"3").is_ok()
}

/// One timed open.
struct Open {
    /// `Store::open` as the caller sees it.
    wall: Duration,
    load: Duration,
    replay: Duration,
    /// Of `replay`, scanning (CRC-checking) the logs.
    scan: Duration,
    events: u64,
    messages: u64,
}

/// Opens the store `times` times.
fn measure(dir: &Path, times: usize, cold: bool) -> Vec<Open> {
    (0..times)
        .map(|_| {
            if cold && !drop_caches() {
                eprintln!("cannot drop the page cache (not root?): this run is warm");
            }
            let dir = dir.to_path_buf();
            on_executor(move || async move {
                let t = Instant::now();
                let (store, report) = Store::open(&dir, opts()).await.expect("open");
                let wall = t.elapsed();
                let messages: u64 = store
                    .partitions()
                    .iter()
                    .map(|p| p.index().message_count() as u64)
                    .sum();
                store.close().await.expect("close");
                Open {
                    wall,
                    load: report.load_time,
                    replay: report.replay_time,
                    scan: report.scan_time,
                    events: report.replayed_events,
                    messages,
                }
            })
        })
        .collect()
}

fn header() {
    println!("| start-up case | messages | events replayed | min | median | snapshot load | log replay (of which log scan) |");
    println!("|---|---|---|---|---|---|---|");
}

/// One table row: min and median wall time, and the load/replay split of the median run.
fn row(name: &str, runs: &[Open]) {
    let mut by_wall: Vec<&Open> = runs.iter().collect();
    by_wall.sort_by_key(|o| o.wall);
    let (min, med) = (by_wall[0], by_wall[by_wall.len() / 2]);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| {name} | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms ({:.0} ms) |",
        med.messages,
        med.events,
        ms(min.wall),
        ms(med.wall),
        ms(med.load),
        ms(med.replay),
        ms(med.scan)
    );
}

fn main() {
    let a = args();
    let tmp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).expect("creating --dir");
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("shardmail-startup")
                .tempdir_in("/tmp")
                .expect("tempdir");
            tmp.path().to_path_buf()
        }
    };
    if a.open_only {
        header();
        row("existing directory (warm)", &measure(&dir, 3, false));
        return;
    }
    eprintln!(
        "building {} messages over {} accounts in {}",
        a.messages,
        a.accounts,
        dir.display()
    );
    let t = Instant::now();
    build(&dir, &a);
    eprintln!(
        "built in {:.1} s; {:.0} MB on disk",
        t.elapsed().as_secs_f64(),
        du(&dir) as f64 / 1e6
    );
    header();
    row(
        "snapshot, no tail (page cache warm)",
        &measure(&dir, 3, false),
    );
    row(
        "snapshot, no tail (page cache dropped)",
        &measure(&dir, 3, true),
    );
    add_tail(&dir, 10_000, a.accounts, a.messages);
    row(
        "snapshot + 10,000 deliveries after it (warm)",
        &measure(&dir, 3, false),
    );
    row(
        "snapshot + 10,000 deliveries after it (cache dropped)",
        &measure(&dir, 3, true),
    );
    for e in std::fs::read_dir(&dir).expect("listing") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "snap") {
            std::fs::remove_file(p).expect("removing snapshot");
        }
    }
    row(
        "no snapshot: whole logs replayed (warm)",
        &measure(&dir, 3, false),
    );
}
