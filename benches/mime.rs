//! MIME for IMAP FETCH: parse + ENVELOPE + BODYSTRUCTURE (bytes/s) on a 10 KB message and a 1 MB
//! multipart, and the SEARCH path (decoded body text) beside it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardmail::mime::Message;

const HEADER: &[u8] = b"Return-Path: <sender@example.org>\r\n\
Received: from mx.example.org (mx.example.org [192.0.2.1]) by mail.example.test with ESMTPS id 1234\r\n\
\tfor <user@example.test>; Fri, 27 Nov 2026 10:00:00 +0100\r\n\
From: =?UTF-8?Q?J=C3=B6ran_Example?= <joran@example.org>\r\n\
To: \"Smith, John\" <john@example.test>, Team: a@example.test, b@example.test;\r\n\
Cc: <@route.example:c@example.test>\r\n\
Subject: =?UTF-8?B?w6TDtsO8IHF1YXJ0ZXJseSByZXBvcnQ=?=\r\n\
Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <bench.1@example.org>\r\n\
In-Reply-To: <parent@example.org>\r\n\
MIME-Version: 1.0\r\n";

fn text_lines(out: &mut Vec<u8>, size: usize) {
    let start = out.len();
    while out.len() - start < size {
        out.extend_from_slice(
            b"The quick brown fox jumps over the lazy dog; 0123456789 abcdefghijklm\r\n",
        );
    }
}

/// A plain text message of about 10 KB.
fn small() -> Vec<u8> {
    let mut m = HEADER.to_vec();
    m.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n\r\n");
    text_lines(&mut m, 10 << 10);
    m
}

/// A 1 MB multipart/mixed: alternative text+html, then base64 attachments and a forwarded message.
fn large() -> Vec<u8> {
    let mut m = HEADER.to_vec();
    m.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"outer-boundary\"\r\n\r\n");
    m.extend_from_slice(
        b"--outer-boundary\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n",
    );
    m.extend_from_slice(b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    text_lines(&mut m, 8 << 10);
    m.extend_from_slice(b"\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    text_lines(&mut m, 16 << 10);
    m.extend_from_slice(b"\r\n--alt--\r\n");
    let mut k = 0;
    while m.len() < (1 << 20) - (64 << 10) {
        m.extend_from_slice(
            format!(
                "--outer-boundary\r\nContent-Type: application/pdf; name=\"r{k}.pdf\"\r\n\
Content-Disposition: attachment; filename=\"r{k}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            )
            .as_bytes(),
        );
        for _ in 0..1500 {
            m.extend_from_slice(
                b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\r\n",
            );
        }
        k += 1;
    }
    m.extend_from_slice(b"--outer-boundary\r\nContent-Type: message/rfc822\r\n\r\n");
    m.extend_from_slice(HEADER);
    m.extend_from_slice(b"Content-Type: text/plain\r\n\r\n");
    text_lines(&mut m, 40 << 10);
    m.extend_from_slice(b"\r\n--outer-boundary--\r\n");
    m
}

fn fetch(c: &mut Criterion) {
    let mut g = c.benchmark_group("mime_fetch");
    g.measurement_time(Duration::from_secs(3));
    for (name, msg) in [("10KB_text", small()), ("1MB_multipart", large())] {
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("parse_envelope_bodystructure", name),
            &msg,
            |b, m| {
                b.iter(|| {
                    let msg = Message::parse(black_box(m));
                    black_box(msg.envelope());
                    black_box(msg.body_structure(true));
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("parse_body_text", name), &msg, |b, m| {
            b.iter(|| black_box(Message::parse(black_box(m)).body_text()))
        });
    }
    g.finish();
}

criterion_group!(benches, fetch);
criterion_main!(benches);
