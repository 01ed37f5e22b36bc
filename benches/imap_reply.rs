//! IMAP response encoding and COMPRESS=DEFLATE: FETCH FLAGS lines for 100,000 messages
//! (messages/s, the `UID FETCH 1:* (FLAGS)` of a large mailbox), a LIST of 1,000 mailboxes, and
//! deflate/inflate throughput (bytes/s) of a reply stream. Also prints the heap a COMPRESS session
//! holds (its compressor and inflater), counted by a wrapping allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_lite::future::block_on;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use shardmail::imap::compress::Deflate;
use shardmail::imap::reply::data::{self, ListItem};
use shardmail::imap::reply::fetch::{system_flags, FetchResponse};
use shardmail::imap::reply::Names;

/// Counts live heap bytes so the bench can report what one COMPRESS session keeps.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` above with the same layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Takes every write, keeps nothing; reads replay one buffer.
struct Sink {
    written: u64,
    input: Vec<u8>,
    at: usize,
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written += b.len() as u64;
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Sink {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = (self.input.len() - self.at).min(b.len());
        let at = self.at;
        b[..n].copy_from_slice(&self.input[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(n))
    }
}

fn sink(input: Vec<u8>) -> Sink {
    Sink {
        written: 0,
        input,
        at: 0,
    }
}

const MESSAGES: u32 = 100_000;

fn fetch_flags(out: &mut Vec<u8>) {
    for seq in 1..=MESSAGES {
        let mut f = FetchResponse::begin(out, seq);
        f.uid(out, seq * 2);
        let bits = (seq % 3) as u8;
        let kw: &[&str] = if seq % 7 == 0 { &["$Label1"] } else { &[] };
        f.flags(out, system_flags(bits).chain(kw.iter().copied()));
        f.end(out);
    }
}

/// A reply stream as a sync client sees it: 1 MiB of FETCH FLAGS lines.
fn reply_stream() -> Vec<u8> {
    let mut out = Vec::new();
    fetch_flags(&mut out);
    out.truncate(1 << 20);
    out
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("imap_reply");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(u64::from(MESSAGES)));
    let mut out = Vec::with_capacity(8 << 20);
    g.bench_function("fetch_uid_flags_100k", |b| {
        b.iter(|| {
            out.clear();
            fetch_flags(&mut out);
            black_box(out.len())
        })
    });
    let names: Vec<String> = (0..1000)
        .map(|i| format!("Archive/{}/Caf\u{e9} {i}", 2000 + i % 25))
        .collect();
    g.throughput(Throughput::Elements(names.len() as u64));
    g.bench_function("list_1000_utf7", |b| {
        b.iter(|| {
            out.clear();
            for n in &names {
                let item = ListItem {
                    attrs: &["\\HasNoChildren"],
                    delimiter: Some(b'/'),
                    name: n,
                    ..ListItem::default()
                };
                data::list(&mut out, &item, Names::Utf7);
            }
            black_box(out.len())
        })
    });

    let stream = reply_stream();
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("deflate_1mib_flush_per_64kib", |b| {
        b.iter(|| {
            let mut d = Deflate::new(sink(Vec::new()), Vec::new());
            for chunk in stream.chunks(64 << 10) {
                block_on(d.write_all(chunk)).expect("sink never fails");
                block_on(d.flush()).expect("sink never fails");
            }
            black_box(d.get_ref().written)
        })
    });
    let mut enc = Vec::new();
    // Record what the deflater writes, to inflate it below.
    {
        let mut rec = Deflate::new(Recorder(&mut enc), Vec::new());
        block_on(rec.write_all(&stream)).expect("recorder never fails");
        block_on(rec.flush()).expect("recorder never fails");
    }
    g.bench_function("inflate_1mib", |b| {
        let mut buf = vec![0u8; 64 << 10];
        b.iter(|| {
            let mut r = Deflate::new(sink(enc.clone()), Vec::new());
            let mut n = 0;
            loop {
                let k = block_on(r.read(&mut buf)).expect("valid stream");
                if k == 0 {
                    break;
                }
                n += k;
            }
            black_box(n)
        })
    });
    g.finish();

    let before = LIVE.load(Ordering::Relaxed);
    let mut d = Deflate::new(sink(Vec::new()), Vec::new());
    block_on(d.write_all(b"* 1 EXISTS\r\n")).expect("sink never fails");
    block_on(d.flush()).expect("sink never fails");
    let held = LIVE.load(Ordering::Relaxed) - before;
    eprintln!(
        "imap_reply: a COMPRESS=DEFLATE session holds {held} heap bytes after its first reply; \
         1 MiB of FETCH FLAGS replies deflates to {} bytes",
        enc.len()
    );
    black_box(d);
}

struct Recorder<'a>(&'a mut Vec<u8>);

impl AsyncWrite for Recorder<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.extend_from_slice(b);
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
