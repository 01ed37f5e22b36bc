//! COMPRESS=DEFLATE (RFC 4978): a stream wrapper that inflates what the client sends and deflates
//! what we send, both raw DEFLATE (RFC 1951, no zlib header).
//!
//! It plugs in like TLS does: after the tagged OK to `COMPRESS DEFLATE` is flushed, the shell takes
//! [`crate::net::driver::Driver::into_parts`], wraps the stream in [`Deflate::new`] with the input
//! already read (`Parts::pending`: the client may have sent compressed bytes right behind its
//! command), and goes on with `Driver::from_parts` and empty pending input.
//!
//! Every flush ends with a sync flush (RFC 4978 4: "the server MUST flush"), so the client sees each
//! reply whole as soon as the driver flushes it; in between, writes are compressed into one buffer.
//!
//! Memory: the compressor is the big part (~250 KB of zlib state even with the 2^12-byte window we
//! send with; RFC 4978 4 lets the sender choose). It lives only from a write to the next flush: after
//! the sync flush the stream sits at a byte-aligned block boundary, and blocks from a fresh compressor
//! may follow (they refer to nothing before them), so an idle session keeps only the inflater, which
//! needs the full 2^15 window since the client chooses its own. The price is one allocation per flush
//! and a dictionary that restarts per flush. The backend is zlib-rs through flate2 (see
//! Cargo.toml): a pure-Rust port of zlib that exposes the window size.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use futures_lite::{AsyncRead, AsyncWrite};

/// Compressed input buffered from the inner stream.
const READ_BUF: usize = 8 << 10;
/// Input taken per write call, so the compressed buffer stays bounded.
const WRITE_CHUNK: usize = 32 << 10;
/// Compressed output waiting beyond this is written out before more input is taken.
const OUT_HIGH: usize = 64 << 10;
/// The compressor's window (log2).
const SEND_WINDOW_BITS: u8 = 12;

/// A stream speaking raw DEFLATE in both directions over `S`.
pub struct Deflate<S> {
    inner: S,
    inflate: Decompress,
    /// Present from the first write after a flush until that flush (see the module doc).
    deflate: Option<Compress>,
    /// Bytes deflated from and to, over all compressors.
    deflated_in: u64,
    deflated_out: u64,
    /// Compressed bytes read and not yet inflated: `rbuf[rlo..rhi]`.
    rbuf: Vec<u8>,
    rlo: usize,
    rhi: usize,
    /// The peer closed its side (or ended its DEFLATE stream).
    read_done: bool,
    /// Compressed bytes not yet written: `wbuf[wlo..]`.
    wbuf: Vec<u8>,
    wlo: usize,
    /// Input was compressed since the last sync flush.
    dirty: bool,
}

impl<S> Deflate<S> {
    /// Wraps `inner`; `pending` is input already read from it, compressed by the client.
    pub fn new(inner: S, pending: Vec<u8>) -> Deflate<S> {
        let mut rbuf = pending;
        let rhi = rbuf.len();
        if rbuf.len() < READ_BUF {
            rbuf.resize(READ_BUF, 0);
        }
        Deflate {
            inner,
            // RFC 4978 4: raw DEFLATE; the client may use any window up to 2^15.
            inflate: Decompress::new_with_window_bits(false, 15),
            deflate: None,
            deflated_in: 0,
            deflated_out: 0,
            rbuf,
            rlo: 0,
            rhi,
            read_done: false,
            wbuf: Vec::new(),
            wlo: 0,
            dirty: false,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Bytes of compressed and uncompressed data seen so far: (read from the peer, inflated to,
    /// deflated from, written to the peer). For metrics and tests.
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        (
            self.inflate.total_in(),
            self.inflate.total_out(),
            self.deflated_in,
            self.deflated_out,
        )
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("deflate: {e}"))
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            // Inflate what we have (even nothing: the inflater may hold output from last time).
            if !this.read_done || this.rlo < this.rhi {
                let before_in = this.inflate.total_in();
                let before_out = this.inflate.total_out();
                let status = this
                    .inflate
                    .decompress(&this.rbuf[this.rlo..this.rhi], buf, FlushDecompress::None)
                    .map_err(invalid)?;
                this.rlo += (this.inflate.total_in() - before_in) as usize;
                let produced = (this.inflate.total_out() - before_out) as usize;
                if status == Status::StreamEnd {
                    // The client ended its DEFLATE stream: nothing more can follow.
                    this.read_done = true;
                    this.rlo = this.rhi;
                }
                if produced > 0 {
                    return Poll::Ready(Ok(produced));
                }
                if this.rlo < this.rhi && status != Status::StreamEnd {
                    // Input consumed with no output (block headers, an empty sync block): go on.
                    if this.inflate.total_in() != before_in {
                        continue;
                    }
                    return Poll::Ready(Err(invalid("the inflater made no progress")));
                }
            }
            if this.read_done {
                return Poll::Ready(Ok(0));
            }
            // Need more compressed input.
            if this.rlo == this.rhi {
                this.rlo = 0;
                this.rhi = 0;
            }
            if this.rhi == this.rbuf.len() {
                this.rbuf.copy_within(this.rlo..this.rhi, 0);
                this.rhi -= this.rlo;
                this.rlo = 0;
            }
            let Deflate {
                inner, rbuf, rhi, ..
            } = &mut *this;
            match Pin::new(inner).poll_read(cx, &mut rbuf[*rhi..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => this.read_done = true,
                Poll::Ready(Ok(n)) => this.rhi += n,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    /// Writes buffered compressed bytes to the inner stream until fewer than `keep` remain.
    fn poll_drain(&mut self, cx: &mut Context<'_>, keep: usize) -> Poll<io::Result<()>> {
        while self.wbuf.len() - self.wlo > keep {
            match Pin::new(&mut self.inner).poll_write(cx, &self.wbuf[self.wlo..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.wlo += n,
            }
        }
        if self.wlo == self.wbuf.len() {
            self.wbuf.clear();
            self.wlo = 0;
            // A large reply's buffer is given back (idle sessions stay small).
            if self.wbuf.capacity() > OUT_HIGH {
                self.wbuf.shrink_to(OUT_HIGH / 4);
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Runs the compressor over `input` with `flush`, appending to `wbuf` until it is done.
    fn compress(&mut self, input: &[u8], flush: FlushCompress) -> io::Result<()> {
        let deflate = self.deflate.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(6), false, SEND_WINDOW_BITS)
        });
        let mut taken = 0;
        loop {
            if self.wbuf.capacity() - self.wbuf.len() < 64 {
                self.wbuf.reserve((input.len() - taken).max(4096));
            }
            let before_in = deflate.total_in();
            let before_out = self.wbuf.len();
            deflate
                .compress_vec(&input[taken..], &mut self.wbuf, flush)
                .map_err(invalid)?;
            let took = deflate.total_in() - before_in;
            taken += took as usize;
            self.deflated_in += took;
            self.deflated_out += (self.wbuf.len() - before_out) as u64;
            // Done when all input is in and the compressor stopped short of filling the buffer
            // (with room left, it has written everything the flush asked for).
            let room_left = self.wbuf.capacity() > self.wbuf.len();
            if taken == input.len() && (room_left || flush == FlushCompress::None) {
                return Ok(());
            }
        }
    }

    /// Sync-flushes the compressor (once per batch of writes) and lets it go.
    fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.compress(&[], FlushCompress::Sync)?;
            self.dirty = false;
            self.deflate = None;
        }
        Ok(())
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.wbuf.len() - this.wlo >= OUT_HIGH {
            match this.poll_drain(cx, OUT_HIGH / 2) {
                Poll::Ready(Ok(())) => {}
                other => return other.map_ok(|()| 0),
            }
        }
        let n = buf.len().min(WRITE_CHUNK);
        this.compress(&buf[..n], FlushCompress::None)?;
        if n > 0 {
            this.dirty = true;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync()?;
        match this.poll_drain(cx, 0) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync()?;
        match this.poll_drain(cx, 0) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_close(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::collections::VecDeque;

    /// An in-memory peer: reads come in scripted chunks (then EOF), writes are recorded; writes take
    /// at most `max_write` bytes and every other one is `Pending` first, to exercise partial writes.
    #[derive(Default)]
    struct Pipe {
        reads: VecDeque<Vec<u8>>,
        written: Vec<u8>,
        max_write: usize,
        stall: bool,
        flushes: usize,
    }

    impl AsyncRead for Pipe {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let Some(mut chunk) = self.reads.pop_front() else {
                return Poll::Ready(Ok(0));
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                let rest = chunk.split_off(n);
                self.reads.push_front(rest);
            }
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Pipe {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.max_write > 0 {
                self.stall = !self.stall;
                if self.stall {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            let n = if self.max_write > 0 {
                buf.len().min(self.max_write)
            } else {
                buf.len()
            };
            self.written.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// What a client does: raw DEFLATE with a full window and a sync flush per command.
    fn client_compress(c: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut taken = 0;
        loop {
            out.reserve(4096);
            let before = c.total_in();
            c.compress_vec(&data[taken..], &mut out, FlushCompress::Sync)
                .unwrap();
            taken += (c.total_in() - before) as usize;
            if taken == data.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }

    fn inflate_all(d: &mut Decompress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() * 4 + 64);
        let mut taken = 0;
        loop {
            out.reserve(4096);
            let before = d.total_in();
            d.decompress_vec(&data[taken..], &mut out, FlushDecompress::Sync)
                .unwrap();
            taken += (d.total_in() - before) as usize;
            if taken == data.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }

    fn commands() -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..300 {
            v.extend_from_slice(
                format!("a{i} UID FETCH {i}:* (FLAGS BODY.PEEK[HEADER])\r\n").as_bytes(),
            );
        }
        v.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        v
    }

    #[test]
    fn inflates_split_reads_and_pending_input() {
        let plain = commands();
        let mut c = Compress::new(Compression::default(), false);
        let mut wire = Vec::new();
        for part in plain.chunks(700) {
            wire.extend_from_slice(&client_compress(&mut c, part));
        }
        // Some of it was read along with the COMPRESS command; the rest arrives in odd pieces.
        let (pending, rest) = wire.split_at(37);
        let mut pipe = Pipe::default();
        let mut sizes = [1usize, 2, 3, 5, 8, 13, 100, 4096, 9000].iter().cycle();
        let mut at = 0;
        while at < rest.len() {
            let n = (*sizes.next().unwrap()).min(rest.len() - at);
            pipe.reads.push_back(rest[at..at + n].to_vec());
            at += n;
        }
        let mut s = Deflate::new(pipe, pending.to_vec());
        let mut got = Vec::new();
        let mut buf = [0u8; 333];
        loop {
            let n = block_on(s.read(&mut buf)).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), plain.len());
        assert!(got == plain);
    }

    #[test]
    fn each_flush_delivers_every_reply_so_far() {
        let pipe = Pipe {
            max_write: 7,
            ..Pipe::default()
        };
        let mut s = Deflate::new(pipe, Vec::new());
        let mut d = Decompress::new(false);
        let mut seen = Vec::new();
        let mut sent = Vec::new();
        let mut at = 0;
        for i in 0..50 {
            let reply = format!(
                "* {i} FETCH (FLAGS (\\Seen) UID {})\r\na{i} OK done\r\n",
                i * 3
            );
            block_on(s.write_all(reply.as_bytes())).unwrap();
            block_on(s.flush()).unwrap();
            sent.extend_from_slice(reply.as_bytes());
            let written = &s.get_ref().written;
            seen.extend_from_slice(&inflate_all(&mut d, &written[at..]));
            at = written.len();
            // Sync flush: everything written so far is decodable now.
            assert_eq!(seen, sent, "after reply {i}");
        }
        assert!(s.get_ref().flushes >= 50);
        // Between flushes only the inflater is kept.
        assert!(s.deflate.is_none());
        let (_, _, din, dout) = s.totals();
        assert_eq!(din as usize, sent.len());
        assert_eq!(dout as usize, s.get_ref().written.len());
    }

    #[test]
    fn large_write_is_compressed_in_bounded_chunks() {
        let pipe = Pipe {
            max_write: 4000,
            ..Pipe::default()
        };
        let mut s = Deflate::new(pipe, Vec::new());
        // Incompressible data, bigger than the write chunk and the high-water mark together.
        let big: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        block_on(s.write_all(&big)).unwrap();
        block_on(s.flush()).unwrap();
        assert!(s.wbuf.capacity() <= OUT_HIGH * 2, "{}", s.wbuf.capacity());
        let mut d = Decompress::new(false);
        assert!(inflate_all(&mut d, &s.get_ref().written) == big);
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let pipe = Pipe {
            reads: VecDeque::from([vec![0xff; 64]]),
            ..Pipe::default()
        };
        let mut s = Deflate::new(pipe, Vec::new());
        let mut buf = [0u8; 64];
        let e = block_on(s.read(&mut buf)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn python_zlib_interoperates() {
        // The client side as Python's zlib does it (compressobj(wbits=-15), Z_SYNC_FLUSH): it
        // inflates what we sent and answers with its own raw DEFLATE of the text reversed.
        const SCRIPT: &str = "import sys, zlib\n\
            d = zlib.decompressobj(wbits=-15)\n\
            plain = d.decompress(sys.stdin.buffer.read())\n\
            c = zlib.compressobj(6, zlib.DEFLATED, -15)\n\
            sys.stdout.buffer.write(c.compress(plain[::-1]) + c.flush(zlib.Z_SYNC_FLUSH))\n";
        let plain = commands();
        let mut s = Deflate::new(Pipe::default(), Vec::new());
        // Several flushes: each batch comes from a fresh compressor, one stream to the peer.
        for part in plain.chunks(plain.len() / 3 + 1) {
            block_on(s.write_all(part)).unwrap();
            block_on(s.flush()).unwrap();
        }
        let ours = s.get_ref().written.clone();
        let mut child = std::process::Command::new("python3")
            .args(["-c", SCRIPT])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (the end-to-end tests need it too)");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(&ours).unwrap();
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(output.status.success());
        let pipe = Pipe {
            reads: VecDeque::from([output.stdout]),
            ..Pipe::default()
        };
        let mut r = Deflate::new(pipe, Vec::new());
        let mut got = Vec::new();
        block_on(r.read_to_end(&mut got)).unwrap();
        let mut want = plain;
        want.reverse();
        assert!(got == want);
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let pipe = Pipe { reads: VecDeque::from([data]), ..Pipe::default() };
            let mut s = Deflate::new(pipe, Vec::new());
            let mut sink = Vec::new();
            let _ = block_on(s.read_to_end(&mut sink));
        }
    }
}
