//! The one connection driver every protocol runs on: it owns the read and output buffers, reads with
//! time limits, writes with a write timeout, and races every wait with the shard's shutdown signal. The
//! protocol is a sans-io core behind [`Protocol`]; the driver is generic over the stream, so a TLS
//! stream (STARTTLS or implicit TLS) plugs in through [`Driver::into_parts`] / [`Driver::from_parts`]
//! with the buffered input kept.
//!
//! Time limits (RFC 5321 4.5.3.2 asks for minutes, per command and for the data):
//! - between transfers, one whole command line must arrive within `command` of the server starting to
//!   wait for it: bytes trickling in do not extend it;
//! - during a transfer (a DATA body, or a BDAT sequence), every read within `transfer_idle`, and the
//!   whole transfer within `transfer`;
//! - every flush of replies within `write`: a peer that stops reading is cut off.
//!
//! Nothing here polls: an idle connection is one pending read, one timer and one shutdown listener
//! (and, for a protocol that reports changes unasked, such as IMAP's IDLE, one change listener:
//! [`Protocol::event`]).
//!
//! Output is an [`Out`]: replies in a buffer plus large byte ranges (a message from the log's mmap)
//! written where they are, never copied into the buffer.

use std::io;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::timer::Timer;

use super::out::Out;
use super::shutdown::{Shutdown, Stage};

/// Read buffer while between commands: pipelined commands fit, and 10,000 idle connections stay cheap.
pub const IDLE_BUF: usize = 4 << 10;
/// Read buffer while a message body flows.
pub const TRANSFER_BUF: usize = 64 << 10;
/// An output buffer grown past this (a long multi-line reply) is given back after its flush.
const OUT_KEEP: usize = 4 << 10;
/// Replies waiting past this are flushed before more work, whatever the protocol prefers.
pub const FLUSH_AT: usize = 64 << 10;

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A whole command line, from when the server starts waiting for it.
    pub command: Duration,
    /// Longest silence inside a transfer.
    pub transfer_idle: Duration,
    /// A whole transfer, from its first byte to its end.
    pub transfer: Duration,
    /// One flush of replies.
    pub write: Duration,
}

/// What the protocol is reading: commands, or a message body (which gets bigger reads and the
/// transfer time limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Command,
    Transfer,
}

/// What the driver does after [`Protocol::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Everything usable was consumed: flush, then read more.
    NeedInput,
    /// Flush the replies so far, then run [`Protocol::work`] (storage, other shards), then feed again.
    Work,
    /// Flush and close.
    Close,
    /// Flush, then hand the stream back with the unread input ([`End::Released`]): IMAP after a login,
    /// whose session goes on where the account lives (another shard, or a new driver on this one).
    Release,
    /// Flush, then hand the stream back for a TLS handshake (STARTTLS, RFC 3207): [`Driver::run`]
    /// returns [`End::Upgrade`]; the shell takes [`Driver::into_parts`], wraps the stream and goes on
    /// with [`Driver::from_parts`]. Input pipelined after the command arrived in plaintext: RFC 3207 4
    /// has the shell discard it (`Parts::pending`) rather than read it as protected.
    Upgrade,
}

/// A sans-io protocol core with its effects, as the driver sees it.
// The driver runs on one shard's thread; the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Protocol {
    /// Consumes what it can of `input`, appending replies to `out`; returns the bytes used.
    fn feed(&mut self, input: &[u8], out: &mut Out) -> (usize, Step);
    /// Performs what [`Step::Work`] asked for; its replies go to `out`. `input` is the unconsumed
    /// input (a command `feed` found complete can be executed in place, borrowing it); returns the
    /// bytes of it used.
    async fn work(&mut self, input: &[u8], out: &mut Out) -> usize;
    /// What the driver calls for [`Step::Work`]: [`Protocol::work`] unless the protocol wants to
    /// send output while it works ([`Output::flush`]: IMAP's FETCH streams). Default: `work`.
    async fn work_streamed(&mut self, input: &[u8], out: &mut Output<'_>) -> usize {
        self.work(input, out.out).await
    }
    /// Waits for something to tell the peer unasked (IMAP: a mailbox change during IDLE or between
    /// commands), raced with input, time limits and shutdown while the driver waits. It must be
    /// cancel-safe: when something else comes first the future is dropped, and nothing may be lost.
    /// Then [`Protocol::on_event`] writes it. Default: never.
    async fn event(&mut self) {
        future::pending::<()>().await
    }
    /// Writes what [`Protocol::event`] found to `out` (flushed right after).
    async fn on_event(&mut self, _out: &mut Out) {}
    /// Whether the replies so far go out before [`Protocol::work`] runs (it may wait on a disk or
    /// another thread). `false` lets replies to pipelined commands that work quickly (IMAP's
    /// in-memory reads) go out together when input runs dry; the driver still flushes once
    /// [`FLUSH_AT`] bytes are waiting. Default: always.
    fn flush_before_work(&self) -> bool {
        true
    }
    fn phase(&self) -> Phase;
    /// Nothing of a command is half-read: the next command's clock may start.
    fn at_command_start(&self) -> bool;
    /// A transaction is open: shutdown lets it finish within the grace period.
    fn in_transaction(&self) -> bool;
    /// A read time limit expired: write the protocol's farewell.
    fn timed_out(&mut self, out: &mut Out);
    /// The server is shutting down: write the protocol's farewell.
    fn shutting_down(&mut self, out: &mut Out);
    /// Called after each round of input is handled (before the flush): counters, memory accounting.
    fn settled(&mut self) {}
}

/// Why a connection ended.
#[derive(Debug)]
pub enum End {
    /// The protocol closed it (QUIT, too many errors).
    Done,
    PeerClosed,
    /// A read time limit (command, transfer) expired.
    ReadTimeout,
    /// The peer did not take our replies within the write timeout.
    WriteTimeout,
    /// Closed for shutdown (after a farewell when the session was between transactions).
    Shutdown,
    /// The protocol asked for a TLS upgrade ([`Step::Upgrade`]); the stream is still open.
    Upgrade,
    /// The protocol released the stream ([`Step::Release`]); it is still open.
    Released,
    Io(io::Error),
}

/// A connection's stream and buffers.
pub struct Driver<S> {
    stream: S,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    out: Out,
    timeouts: Timeouts,
    shutdown: Rc<Shutdown>,
}

/// A driver taken apart (to wrap its stream in TLS): the buffered, unconsumed input is kept.
pub struct Parts<S> {
    pub stream: S,
    pub pending: Vec<u8>,
    pub timeouts: Timeouts,
    pub shutdown: Rc<Shutdown>,
}

enum Wake {
    Read(io::Result<usize>),
    Timeout,
    Shutdown,
    Event,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    pub fn new(stream: S, timeouts: Timeouts, shutdown: Rc<Shutdown>) -> Driver<S> {
        Driver {
            stream,
            buf: Vec::new(),
            lo: 0,
            hi: 0,
            out: Out::with_capacity(256),
            timeouts,
            shutdown,
        }
    }

    pub fn from_parts(p: Parts<S>) -> Driver<S> {
        let hi = p.pending.len();
        Driver {
            stream: p.stream,
            buf: p.pending,
            lo: 0,
            hi,
            out: Out::with_capacity(256),
            timeouts: p.timeouts,
            shutdown: p.shutdown,
        }
    }

    pub fn into_parts(self) -> Parts<S> {
        Parts {
            pending: self.buf[self.lo..self.hi].to_vec(),
            stream: self.stream,
            timeouts: self.timeouts,
            shutdown: self.shutdown,
        }
    }

    /// The output buffer (for a greeting written before [`Driver::run`]).
    pub fn out(&mut self) -> &mut Out {
        &mut self.out
    }

    /// Bytes of memory the buffers hold now.
    pub fn buffered_capacity(&self) -> usize {
        self.buf.capacity() + self.out.capacity()
    }

    pub fn stream(&self) -> &S {
        &self.stream
    }

    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Changes the time limits from the next wait on (IMAP: longer once a client is logged in,
    /// RFC 9051 5.4).
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = t;
    }

    /// Drives `p` until the connection ends. The stream is left open (the caller closes it).
    pub async fn run<P: Protocol>(&mut self, p: &mut P) -> End {
        let mut phase = p.phase();
        let mut command_since = Instant::now();
        let mut transfer_since = command_since;
        let mut evented = false;
        loop {
            // Take every complete command or message the buffer holds (RFC 2920: replies to pipelined
            // commands are collected and go out in one flush when input runs dry).
            loop {
                let (used, step) = p.feed(&self.buf[self.lo..self.hi], &mut self.out);
                self.lo += used;
                match step {
                    Step::NeedInput => break,
                    Step::Close => {
                        return match self.flush().await {
                            Ok(()) => End::Done,
                            Err(e) => e,
                        };
                    }
                    Step::Upgrade => {
                        return match self.flush().await {
                            Ok(()) => End::Upgrade,
                            Err(e) => e,
                        };
                    }
                    Step::Release => {
                        return match self.flush().await {
                            Ok(()) => End::Released,
                            Err(e) => e,
                        };
                    }
                    Step::Work => {
                        // Replies so far go out while the work (a durable store) proceeds.
                        if p.flush_before_work() || self.out.total_len() >= FLUSH_AT {
                            if let Err(e) = self.flush().await {
                                return e;
                            }
                        }
                        let Driver {
                            stream,
                            buf,
                            lo,
                            hi,
                            out,
                            timeouts,
                            shutdown,
                        } = self;
                        let mut output = Output {
                            out,
                            stream,
                            write: timeouts.write,
                            shutdown,
                            failed: None,
                        };
                        let used = p.work_streamed(&buf[*lo..*hi], &mut output).await;
                        if let Some(e) = output.failed {
                            return e;
                        }
                        self.lo += used.min(self.hi - self.lo);
                    }
                }
            }
            p.settled();
            if let Err(e) = self.flush().await {
                return e;
            }
            let now = Instant::now();
            let next = p.phase();
            if next != phase {
                match next {
                    Phase::Transfer => transfer_since = now,
                    Phase::Command => command_since = now,
                }
                phase = next;
            }
            // A change reported unasked is not input: the client's clock keeps running.
            if phase == Phase::Command && p.at_command_start() && self.lo == self.hi && !evented {
                command_since = now;
            }
            evented = false;
            match self.shutdown.stage() {
                Stage::Running => {}
                Stage::Draining if p.in_transaction() => {}
                Stage::Draining => {
                    p.shutting_down(&mut self.out);
                    let _ = self.flush().await;
                    return End::Shutdown;
                }
                Stage::Closing | Stage::Done => return End::Shutdown,
            }
            let deadline = match phase {
                Phase::Command => command_since + self.timeouts.command,
                Phase::Transfer => {
                    (transfer_since + self.timeouts.transfer).min(now + self.timeouts.transfer_idle)
                }
            };
            let left = deadline.saturating_duration_since(now);
            let wait_for = if p.in_transaction() {
                Stage::Closing
            } else {
                Stage::Draining
            };
            self.make_room(phase == Phase::Transfer);
            let wake = {
                let Driver {
                    stream,
                    buf,
                    hi,
                    shutdown,
                    ..
                } = self;
                let read = async { Wake::Read(stream.read(&mut buf[*hi..]).await) };
                let timer = async {
                    if !left.is_zero() {
                        Timer::new(left).await;
                    }
                    Wake::Timeout
                };
                let stop = async {
                    shutdown.reached(wait_for).await;
                    Wake::Shutdown
                };
                let event = async {
                    p.event().await;
                    Wake::Event
                };
                future::or(read, future::or(stop, future::or(event, timer))).await
            };
            match wake {
                Wake::Read(Ok(0)) => return End::PeerClosed,
                Wake::Read(Ok(n)) => self.hi += n,
                Wake::Read(Err(e)) => return End::Io(e),
                Wake::Timeout => {
                    p.timed_out(&mut self.out);
                    let _ = self.flush().await;
                    return End::ReadTimeout;
                }
                // The stage checks above decide: a farewell, a hard close, or (a Draining wake seen by a
                // session that has since entered a transaction) go on.
                Wake::Shutdown => {}
                Wake::Event => {
                    p.on_event(&mut self.out).await;
                    evented = true;
                }
            }
        }
    }

    /// Writes the output buffer within the write timeout; a hard shutdown interrupts it too.
    pub async fn flush(&mut self) -> Result<(), End> {
        write_out(
            &mut self.stream,
            &mut self.out,
            self.timeouts.write,
            &self.shutdown,
        )
        .await
    }

    /// Makes room for a read: big while a body flows, back to small (memory returned) between commands.
    fn make_room(&mut self, big: bool) {
        if self.lo == self.hi {
            self.lo = 0;
            self.hi = 0;
        }
        let want = if big { TRANSFER_BUF } else { IDLE_BUF };
        if !big && self.buf.len() > want && self.hi - self.lo < want {
            self.compact();
            self.buf.truncate(want);
            self.buf.shrink_to_fit();
        }
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        if self.hi == self.buf.len() {
            self.compact();
        }
        if self.hi == self.buf.len() {
            // Only when a protocol's longest line exceeds the buffer; the protocol bounds its lines.
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
    }

    fn compact(&mut self) {
        self.buf.copy_within(self.lo..self.hi, 0);
        self.hi -= self.lo;
        self.lo = 0;
    }
}

/// Writes `out` to `stream` within `limit`; a hard shutdown interrupts it too. Emptied after.
async fn write_out<S: AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    out: &mut Out,
    limit: Duration,
    shutdown: &Shutdown,
) -> Result<(), End> {
    if out.is_empty() {
        return Ok(());
    }
    let write = async {
        // Spliced bytes (a message in the log's mmap) go from where they are to the socket.
        for piece in out.pieces() {
            if let Err(e) = stream.write_all(piece).await {
                return Some(Err(e));
            }
        }
        // A TLS or DEFLATE stream holds bytes until flushed; a plain socket's flush is a no-op.
        Some(stream.flush().await)
    };
    let timer = async {
        Timer::new(limit).await;
        None
    };
    let stop = async {
        shutdown.reached(Stage::Closing).await;
        Some(Err(io::Error::other("shutdown")))
    };
    match future::or(write, future::or(timer, stop)).await {
        Some(Ok(())) => {}
        None => return Err(End::WriteTimeout),
        Some(Err(_)) if shutdown.stage() >= Stage::Closing => return Err(End::Shutdown),
        Some(Err(e)) => return Err(End::Io(e)),
    }
    out.clear(OUT_KEEP);
    Ok(())
}

/// The output as [`Protocol::work_streamed`] sees it: the replies written so far, and a way to send
/// them before the work is done (a FETCH of a whole mailbox goes out as it is produced, so its
/// replies never pile up in memory). Derefs to the [`Out`].
pub struct Output<'a> {
    out: &'a mut Out,
    stream: &'a mut (dyn AsyncWrite + Unpin),
    write: Duration,
    shutdown: &'a Shutdown,
    /// A flush failed: the connection ends this way once the work returns.
    failed: Option<End>,
}

impl Output<'_> {
    /// Bytes written and not yet sent (spliced ranges included).
    pub fn pending(&self) -> usize {
        self.out.total_len()
    }

    /// Sends what was written so far, within the write timeout. `false`: the connection is gone
    /// (the driver ends it after the work returns; later output is discarded).
    pub async fn flush(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        match write_out(&mut *self.stream, self.out, self.write, self.shutdown).await {
            Ok(()) => true,
            Err(e) => {
                self.failed = Some(e);
                false
            }
        }
    }
}

impl Deref for Output<'_> {
    type Target = Out;
    fn deref(&self) -> &Out {
        self.out
    }
}

impl DerefMut for Output<'_> {
    fn deref_mut(&mut self) -> &mut Out {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A stream that yields scripted reads (one per poll) then pends forever, and records writes.
    struct Script {
        reads: Vec<Vec<u8>>,
        written: Vec<u8>,
    }

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if self.reads.is_empty() {
                return Poll::Pending;
            }
            let chunk = self.reads.remove(0);
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.reads.insert(0, chunk[n..].to_vec());
            }
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Script {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A line protocol: "big" starts a transfer that ends at a line "end"; "quit" closes.
    #[derive(Default)]
    struct Lines {
        transfer: bool,
        partial: bool,
        seen: Vec<String>,
    }

    impl Protocol for Lines {
        fn feed(&mut self, input: &[u8], out: &mut Out) -> (usize, Step) {
            let mut used = 0;
            while let Some(i) = memchr::memchr(b'\n', &input[used..]) {
                let line = String::from_utf8_lossy(&input[used..used + i]).into_owned();
                used += i + 1;
                match line.as_str() {
                    "big" => self.transfer = true,
                    "end" => self.transfer = false,
                    "quit" => return (used, Step::Close),
                    "tls" => {
                        out.extend_from_slice(b"go ahead\n");
                        return (used, Step::Upgrade);
                    }
                    _ => {}
                }
                out.extend_from_slice(format!("ok {line}\n").as_bytes());
                self.seen.push(line);
            }
            self.partial = used < input.len();
            (used, Step::NeedInput)
        }
        async fn work(&mut self, _: &[u8], _: &mut Out) -> usize {
            0
        }
        fn phase(&self) -> Phase {
            if self.transfer {
                Phase::Transfer
            } else {
                Phase::Command
            }
        }
        fn at_command_start(&self) -> bool {
            !self.partial
        }
        fn in_transaction(&self) -> bool {
            self.transfer
        }
        fn timed_out(&mut self, out: &mut Out) {
            out.extend_from_slice(b"timeout\n");
        }
        fn shutting_down(&mut self, out: &mut Out) {
            out.extend_from_slice(b"bye\n");
        }
    }

    fn timeouts(ms: u64) -> Timeouts {
        let d = Duration::from_millis(ms);
        Timeouts {
            command: d,
            transfer_idle: d,
            transfer: d * 3,
            write: d,
        }
    }

    fn on_executor<T: Send + 'static, F: std::future::Future<Output = T> + 'static>(
        f: impl FnOnce() -> F + Send + 'static,
    ) -> T {
        glommio::LocalExecutorBuilder::default()
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn lines_split_anywhere_are_answered_and_quit_closes() {
        let written = on_executor(|| async {
            let s = Script {
                reads: vec![
                    b"a\nb".to_vec(),
                    b"\n".to_vec(),
                    b"quit\nignored\n".to_vec(),
                ],
                written: Vec::new(),
            };
            let mut d = Driver::new(s, timeouts(1000), Rc::new(Shutdown::new()));
            let mut p = Lines::default();
            assert!(matches!(d.run(&mut p).await, End::Done));
            assert_eq!(p.seen, ["a", "b"]);
            String::from_utf8(d.stream.written).unwrap()
        });
        assert_eq!(written, "ok a\nok b\n");
    }

    #[test]
    fn an_upgrade_hands_back_the_stream_with_what_followed_in_plaintext() {
        let (written, pending, after) = on_executor(|| async {
            let s = Script {
                reads: vec![b"a\ntls\ninjected\n".to_vec()],
                written: Vec::new(),
            };
            let mut d = Driver::new(s, timeouts(1000), Rc::new(Shutdown::new()));
            let mut p = Lines::default();
            assert!(matches!(d.run(&mut p).await, End::Upgrade));
            let mut parts = d.into_parts();
            let pending = std::mem::take(&mut parts.pending);
            let written = String::from_utf8(std::mem::take(&mut parts.stream.written)).unwrap();
            // The "upgraded" stream goes on with the same protocol and no plaintext leftovers.
            parts.stream.reads.push(b"b\nquit\n".to_vec());
            let mut d = Driver::from_parts(parts);
            assert!(matches!(d.run(&mut p).await, End::Done));
            (written, pending, p.seen)
        });
        assert_eq!(written, "ok a\ngo ahead\n");
        assert_eq!(pending, b"injected\n");
        assert_eq!(after, ["a", "b"]);
    }

    #[test]
    fn an_idle_peer_times_out_and_shutdown_says_goodbye() {
        let (w1, w2, elapsed) = on_executor(|| async {
            let s = Script {
                reads: vec![b"a\n".to_vec()],
                written: Vec::new(),
            };
            let t = Instant::now();
            let mut d = Driver::new(s, timeouts(50), Rc::new(Shutdown::new()));
            assert!(matches!(
                d.run(&mut Lines::default()).await,
                End::ReadTimeout
            ));
            let elapsed = t.elapsed();
            let w1 = String::from_utf8(d.stream.written).unwrap();

            let stop = Rc::new(Shutdown::new());
            let s = Script {
                reads: vec![],
                written: Vec::new(),
            };
            let mut d = Driver::new(s, timeouts(60_000), stop.clone());
            let task = glommio::spawn_local(async move {
                let e = d.run(&mut Lines::default()).await;
                (e, d.stream.written)
            });
            glommio::timer::sleep(Duration::from_millis(10)).await;
            stop.advance(Stage::Draining);
            let (e, w) = task.await;
            assert!(matches!(e, End::Shutdown));
            (w1, String::from_utf8(w).unwrap(), elapsed)
        });
        assert_eq!(w1, "ok a\ntimeout\n");
        assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
        assert_eq!(w2, "bye\n");
    }

    #[test]
    fn a_transfer_survives_draining_but_not_closing() {
        let w = on_executor(|| async {
            let stop = Rc::new(Shutdown::new());
            let s = Script {
                reads: vec![b"big\n".to_vec()],
                written: Vec::new(),
            };
            let mut d = Driver::new(s, timeouts(60_000), stop.clone());
            let ended = Rc::new(std::cell::Cell::new(false));
            let e2 = ended.clone();
            let task = glommio::spawn_local(async move {
                let e = d.run(&mut Lines::default()).await;
                e2.set(true);
                (e, d.stream.written)
            });
            glommio::timer::sleep(Duration::from_millis(10)).await;
            stop.advance(Stage::Draining);
            glommio::timer::sleep(Duration::from_millis(20)).await;
            assert!(!ended.get(), "a session in a transaction finishes it");
            stop.advance(Stage::Closing);
            let (e, w) = task.await;
            assert!(matches!(e, End::Shutdown));
            String::from_utf8(w).unwrap()
        });
        assert_eq!(w, "ok big\n");
    }

    #[test]
    fn a_trickled_command_line_is_cut_at_the_command_limit() {
        // One byte every 20 ms never completes a line within 100 ms, although no read waits 100 ms.
        let (e, elapsed) = on_executor(|| async {
            struct Trickle(u32);
            impl AsyncRead for Trickle {
                fn poll_read(
                    mut self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    buf: &mut [u8],
                ) -> Poll<io::Result<usize>> {
                    let w = cx.waker().clone();
                    self.0 += 1;
                    if self.0 % 2 == 1 {
                        glommio::spawn_local(async move {
                            glommio::timer::sleep(Duration::from_millis(20)).await;
                            w.wake();
                        })
                        .detach();
                        return Poll::Pending;
                    }
                    buf[0] = b'x';
                    Poll::Ready(Ok(1))
                }
            }
            impl AsyncWrite for Trickle {
                fn poll_write(
                    self: Pin<&mut Self>,
                    _: &mut Context<'_>,
                    b: &[u8],
                ) -> Poll<io::Result<usize>> {
                    Poll::Ready(Ok(b.len()))
                }
                fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                    Poll::Ready(Ok(()))
                }
                fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                    Poll::Ready(Ok(()))
                }
            }
            let t = Instant::now();
            let mut d = Driver::new(Trickle(0), timeouts(100), Rc::new(Shutdown::new()));
            let e = d.run(&mut Lines::default()).await;
            (format!("{e:?}"), t.elapsed())
        });
        assert_eq!(e, "ReadTimeout");
        assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    }

    #[test]
    fn buffers_shrink_back_after_a_transfer() {
        on_executor(|| async {
            let mut big = b"big\n".to_vec();
            big.extend(std::iter::repeat_n(b'x', 200_000));
            big.extend_from_slice(b"\nend\n");
            let s = Script {
                reads: vec![big],
                written: Vec::new(),
            };
            let mut d = Driver::new(s, timeouts(30), Rc::new(Shutdown::new()));
            let _ = d.run(&mut Lines::default()).await;
            assert!(
                d.buf.capacity() <= IDLE_BUF,
                "read buffer kept {} bytes",
                d.buf.capacity()
            );
        });
    }

    /// A protocol whose lines are executed in `work` (borrowing the driver's input), that reports
    /// events from a channel unasked, splices big replies and releases the stream on "release".
    struct Evented {
        events: async_channel::Receiver<&'static str>,
        got: Option<&'static str>,
        lines: Vec<String>,
    }

    impl Protocol for Evented {
        fn feed(&mut self, input: &[u8], _: &mut Out) -> (usize, Step) {
            match memchr::memchr(b'\n', input) {
                Some(i) if &input[..i] == b"release" => (i + 1, Step::Release),
                Some(_) => (0, Step::Work),
                None => (0, Step::NeedInput),
            }
        }
        async fn work(&mut self, input: &[u8], out: &mut Out) -> usize {
            let Some(i) = memchr::memchr(b'\n', input) else {
                return 0;
            };
            let line = String::from_utf8_lossy(&input[..i]).into_owned();
            if line == "big" {
                out.extend_from_slice(b"big:");
                out.splice(Box::new(vec![b'z'; super::super::out::SPLICE_MIN]));
                out.extend_from_slice(b"\n");
            } else {
                out.extend_from_slice(format!("did {line}\n").as_bytes());
            }
            self.lines.push(line);
            i + 1
        }
        async fn event(&mut self) {
            if let Ok(e) = self.events.recv().await {
                self.got = Some(e);
            }
        }
        async fn on_event(&mut self, out: &mut Out) {
            if let Some(e) = self.got.take() {
                out.extend_from_slice(format!("* {e}\n").as_bytes());
            }
        }
        fn phase(&self) -> Phase {
            Phase::Command
        }
        fn at_command_start(&self) -> bool {
            true
        }
        fn in_transaction(&self) -> bool {
            false
        }
        fn timed_out(&mut self, out: &mut Out) {
            out.extend_from_slice(b"timeout\n");
        }
        fn shutting_down(&mut self, _: &mut Out) {}
    }

    #[test]
    fn work_runs_in_place_events_are_pushed_and_do_not_restart_the_command_clock() {
        let (written, lines, elapsed) = on_executor(|| async {
            let (tx, rx) = async_channel::unbounded();
            let s = Script {
                reads: vec![b"a\nbig\nb\n".to_vec()],
                written: Vec::new(),
            };
            let mut p = Evented {
                events: rx,
                got: None,
                lines: Vec::new(),
            };
            let t = Instant::now();
            let mut d = Driver::new(s, timeouts(400), Rc::new(Shutdown::new()));
            let sender = glommio::spawn_local(async move {
                for e in ["1 EXISTS", "2 EXISTS", "3 EXISTS"] {
                    glommio::timer::sleep(Duration::from_millis(40)).await;
                    let _ = tx.send(e).await;
                }
                tx
            });
            let end = d.run(&mut p).await;
            assert!(matches!(end, End::ReadTimeout), "{end:?}");
            drop(sender.await);
            let w = String::from_utf8(d.stream.written).unwrap();
            (w, p.lines, t.elapsed())
        });
        let big = "z".repeat(super::super::out::SPLICE_MIN);
        let rest = written
            .strip_prefix("did a\nbig:")
            .and_then(|w| w.strip_prefix(big.as_str()))
            .unwrap_or_else(|| panic!("{} bytes: {:?}...", written.len(), &written[..40]));
        assert_eq!(
            rest,
            "\ndid b\n* 1 EXISTS\n* 2 EXISTS\n* 3 EXISTS\ntimeout\n"
        );
        assert_eq!(lines, ["a", "big", "b"]);
        // Three events 40 ms apart came within the 400 ms command limit; had each restarted it, the
        // session would have lasted 120 + 400 ms.
        assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
        assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    }

    #[test]
    fn a_release_hands_back_the_stream_with_the_unread_input() {
        let (end, pending) = on_executor(|| async {
            let (_tx, rx) = async_channel::unbounded();
            let s = Script {
                reads: vec![b"a\nrelease\nb\nc".to_vec()],
                written: Vec::new(),
            };
            let mut p = Evented {
                events: rx,
                got: None,
                lines: Vec::new(),
            };
            let mut d = Driver::new(s, timeouts(1000), Rc::new(Shutdown::new()));
            let end = format!("{:?}", d.run(&mut p).await);
            assert_eq!(p.lines, ["a"]);
            (end, d.into_parts().pending)
        });
        assert_eq!(end, "Released");
        assert_eq!(pending, b"b\nc");
    }
}
