//! A client connection: one read buffer over a glommio TcpStream (plain, or TLS over it) with read/write
//! timeouts, and the line and reply readers the protocols need (SMTP replies, POP3 multi-line bodies,
//! IMAP literals).

use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;
use memchr::memmem;

use crate::tls::{TlsClient, TlsStream};

/// The socket, before or after a TLS handshake.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            // Sends close_notify (RFC 8446 6.1), then closes the socket.
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

pub struct Wire {
    stream: Stream,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
}

/// What failed, as the summary counts it.
pub fn kind(e: &Error) -> &'static str {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout",
        ErrorKind::ConnectionRefused => "refused",
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => "closed",
        // A failed TLS handshake (rustls's errors arrive as InvalidData) or a malformed reply.
        ErrorKind::InvalidData => "tls or protocol",
        ErrorKind::Unsupported => "starttls refused",
        _ => "io",
    }
}

impl Wire {
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Wire> {
        let connect = TcpStream::connect_timeout(addr, timeout);
        let stream = connect.await.map_err(Error::from)?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(Error::from)?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(Error::from)?;
        let _ = stream.set_nodelay(true);
        Ok(Wire {
            stream: Stream::Plain(stream),
            buf: vec![0; 64 << 10],
            lo: 0,
            hi: 0,
        })
    }

    /// How long a read may wait (IDLE waits in short reads to notice the end of the run).
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        // Only a zero duration is refused, and callers never pass one.
        let _ = self
            .stream
            .tcp()
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        // TLS may keep records back until flushed; a plain socket has nothing to flush.
        if let Stream::Tls(_) = self.stream {
            self.stream.flush().await?;
        }
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Bytes received and not yet read.
    pub fn buffered(&self) -> usize {
        self.hi - self.lo
    }

    /// The TLS handshake over this connection (implicit TLS at once, or after a STARTTLS reply). Refused
    /// when the server already sent more (RFC 3207 4.2, RFC 2595 3.1: bytes that arrived in plaintext
    /// after the go-ahead cannot be trusted). `replay` is put back as unread input, so that a session
    /// reads the greeting the server sent before STARTTLS just as it would without TLS.
    pub async fn upgrade(self, tls: &TlsClient, replay: &[u8]) -> Result<Wire> {
        if self.buffered() > 0 {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "the server sent data after its STARTTLS go-ahead, before the handshake",
            ));
        }
        let Stream::Plain(tcp) = self.stream else {
            return Err(Error::new(ErrorKind::InvalidInput, "TLS is already active"));
        };
        let tls = tls.handshake(tcp).await?;
        let mut buf = self.buf;
        let n = replay.len();
        if buf.len() < n {
            buf.resize(n, 0);
        }
        buf[..n].copy_from_slice(replay);
        Ok(Wire {
            stream: Stream::Tls(Box::new(tls)),
            buf,
            lo: 0,
            hi: n,
        })
    }

    async fn fill(&mut self) -> Result<()> {
        if self.lo == self.hi {
            self.lo = 0;
            self.hi = 0;
        } else if self.hi == self.buf.len() {
            if self.lo > 0 {
                self.buf.copy_within(self.lo..self.hi, 0);
                self.hi -= self.lo;
                self.lo = 0;
            } else {
                let n = self.buf.len() * 2;
                if n > 16 << 20 {
                    return Err(Error::new(ErrorKind::InvalidData, "reply line over 16 MiB"));
                }
                self.buf.resize(n, 0);
            }
        }
        let hi = self.hi;
        let n = self.stream.read(&mut self.buf[hi..]).await?;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.hi += n;
        Ok(())
    }

    /// The next line (with its line end), borrowed until the next call.
    pub async fn line(&mut self) -> Result<&[u8]> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.lo..self.hi]) {
                let start = self.lo;
                self.lo += i + 1;
                return Ok(&self.buf[start..self.lo]);
            }
            self.fill().await?;
        }
    }

    /// One SMTP reply (RFC 5321 4.2: `ddd-` continues, `ddd ` ends); returns its code (0 if malformed).
    pub async fn smtp_reply(&mut self) -> Result<u16> {
        loop {
            let line = self.line().await?;
            let code = line
                .get(..3)
                .and_then(|c| std::str::from_utf8(c).ok()?.parse().ok())
                .unwrap_or(0);
            if line.get(3) != Some(&b'-') {
                return Ok(code);
            }
        }
    }

    /// Consumes a POP3 multi-line body through its terminating `CRLF.CRLF` (the status line already
    /// read); returns the bytes consumed.
    pub async fn skip_dot_terminated(&mut self) -> Result<u64> {
        let mut total = 0u64;
        // At the start, the body may be empty: just ".\r\n".
        loop {
            let window = &self.buf[self.lo..self.hi];
            if total == 0 && window.starts_with(b".\r\n") {
                self.lo += 3;
                return Ok(3);
            }
            if let Some(i) = memmem::find(window, b"\r\n.\r\n") {
                self.lo += i + 5;
                return Ok(total + i as u64 + 5);
            }
            // Keep the last 4 bytes: the terminator may straddle reads.
            let keep = window.len().min(4);
            let drop = window.len() - keep;
            total += drop as u64;
            self.lo += drop;
            self.fill().await?;
        }
    }

    /// Skips exactly `n` bytes (an IMAP literal).
    pub async fn skip(&mut self, mut n: u64) -> Result<()> {
        loop {
            let have = (self.hi - self.lo) as u64;
            if have >= n {
                self.lo += n as usize;
                return Ok(());
            }
            n -= have;
            self.lo = self.hi;
            self.fill().await?;
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close().await;
    }
}
