//! The server side of a TLS handshake (RFC 8446, RFC 5246) over a connection, bounded in time: a
//! client that stops mid-handshake costs one pending read and one timer until the limit, never the
//! shard (the handshake's CPU work is rustls's, a few hundred microseconds with an ECDSA key).

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{future, AsyncRead, AsyncWrite};
use rustls::{ServerConfig, ServerConnection};

use super::stream::{poll_receive, poll_send, ReceiveError, TlsStream};
use crate::net::stream::Conn;

/// What a connection needs to start TLS: the server's rustls configuration (certificates chosen by
/// SNI, TLS 1.2 and 1.3). Cloning is one reference count.
#[derive(Clone)]
pub struct Acceptor {
    config: Arc<ServerConfig>,
}

impl Acceptor {
    pub fn new(config: Arc<ServerConfig>) -> Acceptor {
        Acceptor { config }
    }

    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acceptor")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS is already active on this connection")]
    AlreadyTls,
    #[error("the TLS handshake did not finish in time")]
    Timeout,
    #[error("the peer closed the connection during the TLS handshake")]
    Closed,
    #[error("TLS handshake failed: {0}")]
    Handshake(rustls::Error),
    #[error("I/O during the TLS handshake: {0}")]
    Io(io::Error),
}

/// Runs the server handshake on `stream` within `timeout` and gives back the TLS connection. On an
/// error the stream is dropped (closed): nothing more can be said to the peer in either protocol.
pub async fn upgrade(
    stream: Conn,
    acceptor: &Acceptor,
    timeout: Duration,
) -> Result<Conn, TlsError> {
    let tcp = match stream {
        Conn::Plain(s) => s,
        Conn::Tls(_) => return Err(TlsError::AlreadyTls),
    };
    let tls = ServerConnection::new(acceptor.config.clone()).map_err(TlsError::Handshake)?;
    let mut t = TlsStream::from_parts(tcp, Box::new(tls));
    let done = future::or(
        async { Some(poll_fn(|cx| poll_handshake(&mut t, cx)).await) },
        async {
            glommio::timer::sleep(timeout).await;
            None
        },
    )
    .await;
    match done {
        Some(Ok(())) => Ok(Conn::Tls(Box::new(t))),
        Some(Err(e)) => Err(e),
        None => Err(TlsError::Timeout),
    }
}

/// Moves the handshake on as far as the stream allows; `Ready(Ok)` once it is done and every
/// handshake record (TLS 1.3 session tickets included) is sent.
pub(crate) fn poll_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    t: &mut TlsStream<S>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), TlsError>> {
    let (io, tls, eof) = t.parts_mut();
    loop {
        match poll_send(io, tls, cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(TlsError::Io(e))),
            Poll::Pending => return Poll::Pending,
        }
        if !tls.is_handshaking() {
            return Poll::Ready(Ok(()));
        }
        if *eof {
            return Poll::Ready(Err(TlsError::Closed));
        }
        match poll_receive(io, tls, cx) {
            Poll::Ready(Ok(true)) => {}
            Poll::Ready(Ok(false)) => *eof = true,
            Poll::Ready(Err(ReceiveError::Io(e))) => return Poll::Ready(Err(TlsError::Io(e))),
            Poll::Ready(Err(ReceiveError::Tls(e))) => {
                return Poll::Ready(Err(TlsError::Handshake(e)))
            }
            Poll::Pending => return Poll::Pending,
        }
    }
}
