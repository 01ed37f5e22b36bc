//! Measures start-up (index recovery) of a data directory holding many delivered messages:
//! (a) from a snapshot, (b) from a snapshot plus a tail of deliveries after it, (c) from the logs alone.
//!
//! cargo run --release -p shardmail-storage --example startup -- [--messages N] [--accounts A] [--dir D]
//!
//! Builds the directory with 2 writers under group commit (many concurrent deliveries), then opens it
//! 3 times per case and prints min/median wall time with the report's load and replay split.

use std::path::PathBuf;
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
}

fn args() -> Args {
    let mut a = Args {
        messages: 1_000_000,
        accounts: 1000,
        dir: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--messages" => a.messages = val.parse().expect("--messages N"),
            "--accounts" => a.accounts = val.parse().expect("--accounts N"),
            "--dir" => a.dir = Some(PathBuf::from(val)),
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
                let body = vec![b'x'; 200 + (seed as usize * 7919) % 400];
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

fn build(dir: &PathBuf, a: &Args) {
    let (dir, messages, accounts) = (dir.clone(), a.messages, a.accounts);
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

fn add_tail(dir: &PathBuf, n: u64, accounts: u64, first: u64) {
    let dir = dir.clone();
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

/// Opens the store `times` times; returns (wall, load, replay, replayed events, messages) per open.
fn measure(
    dir: &PathBuf,
    times: usize,
    cold: bool,
) -> Vec<(Duration, Duration, Duration, u64, u64)> {
    (0..times)
        .map(|_| {
            if cold && !drop_caches() {
                eprintln!("cannot drop the page cache (not root?): this run is warm");
            }
            let dir = dir.clone();
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
                (
                    wall,
                    report.load_time,
                    report.replay_time,
                    report.replayed_events,
                    messages,
                )
            })
        })
        .collect()
}

fn row(name: &str, runs: &[(Duration, Duration, Duration, u64, u64)]) {
    let mut walls: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    walls.sort();
    let med = runs
        .iter()
        .find(|r| r.0 == walls[walls.len() / 2])
        .unwrap_or(&runs[0]);
    println!(
        "| {name} | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
        med.4,
        med.3,
        walls[0].as_secs_f64() * 1e3,
        med.0.as_secs_f64() * 1e3,
        med.1.as_secs_f64() * 1e3,
        med.2.as_secs_f64() * 1e3
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
    eprintln!(
        "building {} messages over {} accounts in {}",
        a.messages,
        a.accounts,
        dir.display()
    );
    let t = Instant::now();
    build(&dir, &a);
    eprintln!("built in {:.1} s", t.elapsed().as_secs_f64());
    println!("| start-up case | messages | events replayed | min | median | snapshot load (median run) | log replay (median run) |");
    println!("|---|---|---|---|---|---|---|");
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
