//! A server TLS stream over any futures-io byte stream: rustls's `ServerConnection` (a sans-io state
//! machine: ciphertext in, plaintext out, and back) driven by polls of the stream under it.
//!
//! Why not futures-rustls's stream: a session moves to its account's owner shard after login
//! (`shard::handoff`), and a TLS session must move with it. futures-rustls cannot rebuild its stream
//! from a socket and a `ServerConnection`; this one is just the two ([`TlsStream::into_parts`],
//! [`TlsStream::from_parts`]), so everything rustls has read or not yet sent travels inside the
//! connection state and nothing is lost in the move.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use rustls::ServerConnection;

/// A TLS session (handshake done, or under way in [`super::handshake`]) over `S`.
pub struct TlsStream<S> {
    io: S,
    tls: Box<ServerConnection>,
    /// The stream under us reached its end (no more ciphertext will come).
    eof: bool,
    /// Our close_notify is queued (RFC 8446 6.1): nothing more is written.
    closing: bool,
}

impl<S> TlsStream<S> {
    /// A session over `io` in whatever state `tls` is (a fresh one for a handshake, or one that
    /// moved from another shard).
    pub fn from_parts(io: S, tls: Box<ServerConnection>) -> TlsStream<S> {
        TlsStream {
            io,
            tls,
            eof: false,
            closing: false,
        }
    }

    /// The stream and the TLS state, apart (for a move to another shard). Buffered plaintext and
    /// unsent records stay in the state.
    pub fn into_parts(self) -> (S, Box<ServerConnection>) {
        (self.io, self.tls)
    }

    pub fn get_ref(&self) -> &S {
        &self.io
    }

    pub fn connection(&self) -> &ServerConnection {
        &self.tls
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut S, &mut ServerConnection, &mut bool) {
        (&mut self.io, &mut self.tls, &mut self.eof)
    }
}

/// The async stream seen as a blocking one for rustls's `read_tls`/`write_tls`: a pending poll is
/// `WouldBlock` (the waker is registered, so the task is woken when it can go on).
pub(crate) struct SyncIo<'a, 'b, S> {
    pub io: &'a mut S,
    pub cx: &'a mut Context<'b>,
}

impl<S: AsyncRead + Unpin> Read for SyncIo<'_, '_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_read(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S: AsyncWrite + Unpin> Write for SyncIo<'_, '_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// Writes the records rustls has ready until none is left (`Ready(Ok)`) or the stream is full.
pub(crate) fn poll_send<S: AsyncWrite + Unpin>(
    io: &mut S,
    tls: &mut ServerConnection,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while tls.wants_write() {
        match tls.write_tls(&mut SyncIo {
            io: &mut *io,
            cx: &mut *cx,
        }) {
            Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
    Poll::Ready(Ok(()))
}

/// Why receiving failed: the stream, or what came over it.
pub(crate) enum ReceiveError {
    Io(io::Error),
    Tls(rustls::Error),
}

impl From<ReceiveError> for io::Error {
    fn from(e: ReceiveError) -> io::Error {
        match e {
            ReceiveError::Io(e) => e,
            ReceiveError::Tls(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Reads what ciphertext the stream has and processes it. `Ready(Ok(false))`: the stream ended.
pub(crate) fn poll_receive<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    tls: &mut ServerConnection,
    cx: &mut Context<'_>,
) -> Poll<Result<bool, ReceiveError>> {
    let n = match tls.read_tls(&mut SyncIo {
        io: &mut *io,
        cx: &mut *cx,
    }) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
        Err(e) => return Poll::Ready(Err(ReceiveError::Io(e))),
    };
    if let Err(e) = tls.process_new_packets() {
        // The alert rustls queued for the error goes out if the stream takes it now; the error
        // ends the connection either way.
        let _ = poll_send(io, tls, cx);
        return Poll::Ready(Err(ReceiveError::Tls(e)));
    }
    Poll::Ready(Ok(n > 0))
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.tls.reader().read(buf) {
                // Ok(0) with a non-empty buffer: the peer's close_notify.
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the socket without close_notify. Mail clients commonly do; each
                // protocol frames its own data (a message ends with its terminator, not with the
                // stream), so a truncation cannot pass for a complete command: it is an end.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
            if this.eof {
                return Poll::Ready(Ok(0));
            }
            match poll_receive(&mut this.io, &mut this.tls, cx) {
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => this.eof = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => return Poll::Pending,
            }
            // What the records asked us to send (a KeyUpdate answer, RFC 8446 4.6.3) goes out when
            // the stream takes it; a full stream leaves it for the next write or flush.
            if let Poll::Ready(Err(e)) = poll_send(&mut this.io, &mut this.tls, cx) {
                return Poll::Ready(Err(e));
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closing {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let mut drained = false;
        loop {
            // rustls encrypts into its own buffer, up to its limit; 0 means full.
            let n = this.tls.writer().write(buf)?;
            if n > 0 || buf.is_empty() {
                // Records go out now if the stream takes them; the rest at the next write or flush.
                if let Poll::Ready(Err(e)) = poll_send(&mut this.io, &mut this.tls, cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(n));
            }
            if drained {
                // Everything was sent, yet rustls took nothing: it cannot take more.
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            match poll_send(&mut this.io, &mut this.tls, cx) {
                Poll::Ready(Ok(())) => drained = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.tls.writer().flush()?;
        match poll_send(&mut this.io, &mut this.tls, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.closing {
            // RFC 8446 6.1: close_notify before closing the write side.
            this.tls.send_close_notify();
            this.closing = true;
        }
        match poll_send(&mut this.io, &mut this.tls, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_close(cx),
            other => other,
        }
    }
}
