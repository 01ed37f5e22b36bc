//! The stream every protocol shell runs on: a plain TCP connection, or TLS over one (implicit TLS,
//! RFC 8314, or after STARTTLS/STLS, RFC 3207 / RFC 2595). `Driver<Conn>` runs any protocol either way.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

use crate::tls::TlsStream;

pub enum Conn {
    Plain(TcpStream),
    /// Boxed: a TLS session's state is a few KiB, and most connections between shards move as a
    /// pointer.
    Tls(Box<TlsStream<TcpStream>>),
}

impl From<TcpStream> for Conn {
    fn from(s: TcpStream) -> Conn {
        Conn::Plain(s)
    }
}

impl Conn {
    /// TLS is active (the handshake is done: a `Conn::Tls` only exists after one).
    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    /// The TCP connection under the TLS, if any.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => t.get_ref(),
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.tcp().peer_addr()?)
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        Ok(self.tcp().set_nodelay(on)?)
    }

    /// The server name the client asked for in its TLS hello (SNI, RFC 6066 3).
    pub fn server_name(&self) -> Option<&str> {
        match self {
            Conn::Plain(_) => None,
            Conn::Tls(t) => t.connection().server_name(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(t) => Pin::new(&mut **t).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(t) => Pin::new(&mut **t).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(t) => Pin::new(&mut **t).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_close(cx),
            Conn::Tls(t) => Pin::new(&mut **t).poll_close(cx),
        }
    }
}
