//! POP3 dot-stuffing throughput (bytes/s of message): RETR of a 1 MB text message through the
//! stuffer as pieces (the zero-copy path: ranges to splice plus the added dots), the same copied into
//! one buffer, a whole session RETR of 10 KB messages into the driver's `Out`, and TOP's line counting.

use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardmail::net::out::Out;
use shardmail::pop3::stuff::{stuff_to_vec, Piece, Stuffer};
use shardmail::pop3::{Config, Entry, Flow, Maildrop, MaildropError, Session};

/// A text message of about `size` bytes: 72-column lines, one in 40 starting with a dot (quoted
/// text, signatures, `...`), as mail bodies do.
fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: bench\r\n\r\n".to_vec();
    let mut i = 0u64;
    while m.len() < size {
        if i.is_multiple_of(40) {
            m.push(b'.');
        }
        let line =
            format!("{i:08} lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do\r\n");
        m.extend_from_slice(line.as_bytes());
        i += 1;
    }
    m
}

#[derive(Clone)]
struct One(Vec<Rc<[u8]>>);

impl Maildrop for One {
    type Body = Rc<[u8]>;
    fn uidvalidity(&self) -> u32 {
        1
    }
    fn listing(&self) -> Vec<Entry> {
        (0..self.0.len())
            .map(|i| Entry {
                uid: i as u32 + 1,
                size: self.0[i].len() as u64,
            })
            .collect()
    }
    fn body(&self, uid: u32) -> Result<Rc<[u8]>, MaildropError> {
        self.0
            .get(uid as usize - 1)
            .cloned()
            .ok_or(MaildropError::Gone { uid })
    }
}

fn stuffing(c: &mut Criterion) {
    let big = message(1 << 20);
    let mut g = c.benchmark_group("pop3_stuff");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("retr_1mb_pieces_64k_chunks", |b| {
        b.iter(|| {
            let mut s = Stuffer::all();
            let mut pieces = 0usize;
            for chunk in big.chunks(64 << 10) {
                s.feed(chunk, &mut |p| {
                    if let Piece::Chunk(r) = p {
                        pieces += r.len();
                    }
                });
            }
            s.finish(&mut |_| {});
            black_box(pieces)
        })
    });
    let mut out = Vec::with_capacity(big.len() + (big.len() >> 4));
    g.bench_function("retr_1mb_copied", |b| {
        b.iter(|| {
            out.clear();
            stuff_to_vec(Stuffer::all(), &big, 64 << 10, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("top_all_lines_1mb_copied", |b| {
        b.iter(|| {
            out.clear();
            stuff_to_vec(Stuffer::top(u32::MAX), &big, 64 << 10, &mut out);
            black_box(out.len())
        })
    });
    g.finish();

    // RETR of 10 KB messages through the session into the driver's output (what a RETR/s row
    // costs on the server side, without the socket).
    let small = message(10 << 10);
    let drop = One((0..100).map(|_| Rc::from(small.as_slice())).collect());
    let mut g = c.benchmark_group("pop3_session");
    g.throughput(Throughput::Bytes(small.len() as u64 * 100));
    g.bench_function("retr_100x10kb", |b| {
        let cfg = Arc::new(Config::default());
        let mut out = Out::default();
        let mut s: Session<One> = Session::new(cfg, &mut out);
        let (_, flow) = s.feed(b"USER a\r\nPASS b\r\n", &mut out);
        assert!(matches!(flow, Flow::Login(_)));
        s.locked(drop.clone(), &mut out);
        let cmds: Vec<Vec<u8>> = (1..=100)
            .map(|i| format!("RETR {i}\r\n").into_bytes())
            .collect();
        b.iter(|| {
            let mut n = 0;
            for cmd in &cmds {
                out.clear(64 << 10);
                let (_, flow) = s.feed(cmd, &mut out);
                debug_assert_eq!(flow, Flow::Ready);
                n += out.total_len();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, stuffing);
criterion_main!(benches);
