//! A client connection: one read buffer over a glommio TcpStream with read/write timeouts, and the line
//! and reply readers the protocols need (SMTP replies, POP3 multi-line bodies, IMAP literals).

use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use memchr::memmem;

pub struct Wire {
    stream: TcpStream,
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
            stream,
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
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await
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
