//! Hot paths of the SMTP core: command parsing (commands/s) and the DATA reader's end search and
//! dot-unstuffing (bytes/s), with BDAT chunk copying beside it as the no-scan reference.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardmail::smtp::command::parse;
use shardmail::smtp::data::{ChunkReader, DataReader};

fn commands(c: &mut Criterion) {
    let lines: [&[u8]; 6] = [
        b"EHLO client.example.org",
        b"MAIL FROM:<sender.name@example.org> SIZE=10240 BODY=8BITMIME",
        b"RCPT TO:<user1234@example.test>",
        b"RCPT TO:<@relay.example,@r2.example:user@example.test>",
        b"DATA",
        b"BDAT 65536 LAST",
    ];
    let mut g = c.benchmark_group("smtp_command_parse");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("mixed_6", |b| {
        b.iter(|| {
            for l in &lines {
                let _ = black_box(parse(black_box(l)));
            }
        })
    });
    g.finish();
}

/// A realistic body: 76-column text lines, one in 50 starting with a dot (stuffed on the wire).
fn wire_body(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 100);
    let mut n = 0;
    while out.len() < size {
        if n % 50 == 0 {
            out.extend_from_slice(b"..");
        }
        out.extend_from_slice(
            &b"The quick brown fox jumps over the lazy dog; 0123456789 abcdefghijklmnopq"[..72],
        );
        out.extend_from_slice(b"\r\n");
        n += 1;
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn data(c: &mut Criterion) {
    let mut g = c.benchmark_group("smtp_data");
    g.measurement_time(Duration::from_secs(3));
    for size in [10 << 10, 1 << 20] {
        let wire = wire_body(size);
        g.throughput(Throughput::Bytes(wire.len() as u64));
        let mut out = Vec::with_capacity(wire.len());
        g.bench_with_input(BenchmarkId::new("unstuff_whole", size), &wire, |b, w| {
            b.iter(|| {
                out.clear();
                let mut r = DataReader::new(64 << 20);
                let p = r.feed(black_box(w), &mut out);
                assert!(p.done);
            })
        });
        // As it arrives from the socket: 64 KiB reads.
        g.bench_with_input(
            BenchmarkId::new("unstuff_64k_reads", size),
            &wire,
            |b, w| {
                b.iter(|| {
                    out.clear();
                    let mut r = DataReader::new(64 << 20);
                    let mut at = 0;
                    loop {
                        let end = (at + (64 << 10)).min(w.len());
                        let p = r.feed(&w[at..end], &mut out);
                        at += p.used;
                        if p.done {
                            break;
                        }
                    }
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("bdat_copy", size), &wire, |b, w| {
            b.iter(|| {
                out.clear();
                let mut ch = ChunkReader::default().next(w.len() as u64);
                ch.feed(black_box(w), &mut out, true);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, commands, data);
criterion_main!(benches);
