//! FETCH of message structure through the real session and store: loadtest's "headers" request
//! (`UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (...)])`) over
//! a mailbox of 100 x 10 KB messages, parsing every message (no summary cache) and from the shard's
//! summary cache once filled (messages/s); what filling one entry costs; and `wire::string` on
//! ENVELOPE-like text (bytes/s).

use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use futures_lite::future::block_on;
use shardmail::imap::command::{self, Receiver, Step};
use shardmail::imap::session::{Config, Flow, Session};
use shardmail::imap::store::{PartitionOf, StoreBackend, WithSummaries};
use shardmail::imap::summary::SummaryCache;
use shardmail::imap::wire;
use shardmail::storage::index::Flags;
use shardmail::storage::store::{Store, StoreOptions};

const NOW: i64 = 1_790_000_000;
const USER: &str = "bench@example.test";
const MESSAGES: usize = 100;
const HEADERS: &[u8] = b"h UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE \
    BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT MESSAGE-ID)])\r\n";

/// A 10 KB message with the header a delivered message has.
fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <sender{i}@example.org>\r\n\
         Received: from client.example.org (client.example.org [192.0.2.{n}])\r\n\tby mx.example.test \
         with ESMTP id {i:08x}; Fri, 27 Nov 2026 10:00:{s:02} +0000\r\n\
         From: \"Sender Number {i}\" <sender{i}@example.org>\r\n\
         To: Bench User <bench@example.test>, other{i}@example.test\r\n\
         Subject: Quarterly figures, part {i} of the series we discussed\r\n\
         Date: Fri, 27 Nov 2026 10:00:{s:02} +0000\r\n\
         Message-ID: <{i}.bench@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n",
        n = i % 250,
        s = i % 60
    )
    .into_bytes();
    while m.len() < 10 << 10 {
        m.extend_from_slice(
            b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n",
        );
    }
    m
}

/// A session logged in as [`USER`] over `owner` with INBOX examined.
async fn session<P: PartitionOf + 'static>(owner: Rc<P>) -> Session<StoreBackend<P>> {
    let mut out = Vec::new();
    let mut s = Session::new(Arc::new(Config::default()), &mut out);
    let login = command::parse(
        b"l LOGIN bench@example.test secret\r\n",
        &Default::default(),
    )
    .expect("LOGIN parses");
    let Flow::Login(c) = s.handle(login, NOW, &mut out).await else {
        panic!("LOGIN goes to the shell");
    };
    let b = StoreBackend::open(owner, &c.user, NOW)
        .await
        .expect("backend");
    s.login_ok(&c.user, b, &mut out);
    run(&mut s, b"e EXAMINE INBOX\r\n", &mut out).await;
    s
}

/// Feeds `input` (whole commands) to the session; returns the bytes written.
async fn run<P: PartitionOf>(s: &mut Session<StoreBackend<P>>, input: &[u8], out: &mut Vec<u8>) {
    let mut rx = Receiver::new(Default::default());
    let mut at = 0;
    while let Step::Command { command, used } = rx.receive(&input[at..]) {
        s.handle(command, NOW, out).await;
        at += used;
    }
}

fn bench_headers(c: &mut Criterion, store: &Rc<Store>) {
    let mut g = c.benchmark_group("imap_fetch_headers_100x10KB");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    let mut plain = block_on(session(store.clone()));
    let mut out = Vec::new();
    g.bench_function("parse_every_message", |b| {
        b.iter(|| {
            out.clear();
            block_on(run(&mut plain, HEADERS, &mut out));
            black_box(out.len())
        })
    });
    let cached = Rc::new(WithSummaries {
        inner: store.clone(),
        summaries: SummaryCache::default(),
    });
    let mut s = block_on(session(cached.clone()));
    g.bench_function("summary_cache_hit", |b| {
        b.iter(|| {
            out.clear();
            block_on(run(&mut s, HEADERS, &mut out));
            black_box(out.len())
        })
    });
    let stats = cached.summaries.stats();
    assert_eq!(
        stats.misses, MESSAGES as u64,
        "one parse a message: {stats:?}"
    );
    println!(
        "summary cache: {} entries, {} bytes ({} bytes a 10 KB message)",
        stats.entries,
        stats.bytes,
        stats.bytes / stats.entries.max(1)
    );
    g.finish();
}

/// What filling one entry costs: the parse and the summary of a 10 KB message. Filling at delivery
/// instead of at the first FETCH would add this to every delivery (issue 9's hot path).
fn bench_fill(c: &mut Criterion) {
    let m = message(7);
    let mut g = c.benchmark_group("imap_summary_fill_10KB");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_and_summarise", |b| {
        b.iter(|| black_box(shardmail::mime::Message::parse(black_box(&m)).summary()))
    });
    g.finish();
}

fn bench_wire(c: &mut Criterion) {
    let texts: Vec<&[u8]> = vec![
        b"Fri, 27 Nov 2026 10:00:00 +0000",
        b"Quarterly figures, part 12 of the series we discussed \"in private\"",
        b"Sender Number 12",
        b"sender12",
        b"example.org",
        b"<12.bench@example.org>",
        "Caf\u{e9} cr\u{e8}me \u{2014} 8-bit text goes as a literal".as_bytes(),
    ];
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mut g = c.benchmark_group("imap_wire");
    g.throughput(Throughput::Bytes(bytes as u64));
    let mut out = Vec::with_capacity(4096);
    g.bench_function("string_envelope_fields", |b| {
        b.iter(|| {
            out.clear();
            for t in &texts {
                wire::string(&mut out, black_box(t));
            }
            black_box(out.len())
        })
    });
    g.finish();
}

fn main() {
    glommio::LocalExecutorBuilder::default()
        .spawn(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            let (store, _) = Store::open(dir.path(), StoreOptions::default())
                .await
                .expect("open the store");
            let store = Rc::new(store);
            let p = store.owner(USER);
            p.ensure_account(USER, NOW).await.expect("account");
            for i in 0..MESSAGES {
                let m = message(i);
                p.store_and_execute(&[&m], |ix, pos| {
                    let target = [(USER.to_string(), "INBOX".to_string())];
                    let ev = ix.deliver(&target, pos, m.len() as u32, NOW, Flags::default())?;
                    Ok((ev, ()))
                })
                .await
                .expect("deliver");
            }
            let mut c = Criterion::default().configure_from_args();
            bench_headers(&mut c, &store);
            bench_fill(&mut c);
            bench_wire(&mut c);
            c.final_summary();
        })
        .expect("spawn the bench executor")
        .join()
        .expect("the bench ran");
}
