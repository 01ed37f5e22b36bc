//! Hot paths of the IMAP command parser: typical client commands framed and parsed by the receiver
//! (commands/s and bytes/s), and a 10 KB APPEND arriving whole or in 1 KiB reads.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardmail::imap::command::{parse, Options, Receiver, Step};

/// What Thunderbird, Apple Mail and mbsync send most, as they send it.
const COMMANDS: [(&str, &[u8]); 4] = [
    (
        "uid_fetch_headers",
        b"A17 UID FETCH 1:4000 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n",
    ),
    (
        "uid_search",
        b"A18 UID SEARCH UNDELETED SINCE 1-Jan-2024 NOT FLAGGED OR FROM \"alice@example.org\" SUBJECT report\r\n",
    ),
    ("uid_store", b"A19 UID STORE 4100:4130,4200 +FLAGS.SILENT (\\Seen $Forwarded)\r\n"),
    ("uid_fetch_flags", b"A20 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n"),
];

fn commands(c: &mut Criterion) {
    let opts = Options::default();
    let mut g = c.benchmark_group("imap_command_parse");
    g.measurement_time(Duration::from_secs(3));
    for (name, line) in COMMANDS {
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("commands", name), line, |b, line| {
            let mut rx = Receiver::new(opts);
            b.iter(|| match rx.receive(black_box(line)) {
                Step::Command { command, used } => {
                    black_box(&command);
                    used
                }
                s => panic!("{s:?}"),
            })
        });
        g.throughput(Throughput::Bytes(line.len() as u64));
        g.bench_with_input(BenchmarkId::new("bytes", name), line, |b, line| {
            b.iter(|| black_box(parse(black_box(line), &opts)).is_ok())
        });
    }
    g.finish();
}

fn append(c: &mut Criterion) {
    let size = 10 * 1024;
    let mut wire = format!("A21 APPEND INBOX (\\Seen) {{{size}+}}\r\n").into_bytes();
    wire.extend((0..size).map(|i| {
        if i % 78 == 77 {
            b'\n'
        } else {
            b'a' + (i % 26) as u8
        }
    }));
    wire.extend_from_slice(b"\r\n");
    let opts = Options::default();
    let mut g = c.benchmark_group("imap_append");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("whole_10k", |b| {
        let mut rx = Receiver::new(opts);
        b.iter(|| match rx.receive(black_box(&wire)) {
            Step::Command { used, .. } => used,
            s => panic!("{s:?}"),
        })
    });
    // The shell's view: the literal arrives in 1 KiB reads; each read costs a constant check.
    g.bench_function("reads_1k_10k", |b| {
        let mut rx = Receiver::new(opts);
        b.iter(|| {
            let mut end = 0;
            loop {
                end = (end + 1024).min(wire.len());
                match rx.receive(black_box(&wire[..end])) {
                    Step::NeedMore { .. } => continue,
                    Step::Command { used, .. } => break used,
                    s => panic!("{s:?}"),
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, commands, append);
criterion_main!(benches);
