//! Moving a connection to another shard (issue 10 "Where sessions run"; DESIGN.md "Shards"): after an
//! IMAP or POP3 login, the session goes on where the account lives, so its reads, IDLE and untagged
//! updates are local to the owner's `Partition`. One function ([`send`]) moves a connection for
//! every protocol; the protocol only says how its message to the owner wraps the connection.
//!
//! What moves is the socket's file descriptor, the bytes already read from it but not yet consumed
//! (pipelined commands after LOGIN), the TLS session if the connection started TLS (rustls's
//! `ServerConnection`: keys, sequence numbers, records read and not yet decrypted or sent), the
//! per-IP connection slot, and the session state the protocol says must travel. glommio's
//! `TcpStream` has no `into_raw_fd`, so the sender duplicates the descriptor and drops its stream
//! (closing only its own descriptor); the receiver adopts the duplicate. Exactly one side owns each
//! descriptor at any time: the duplicate travels as an `OwnedFd`, closed on drop if the message is
//! never taken (a shard stopping).
//!
//! No data is lost in the move: glommio reads sockets by readiness (poll, then a non-blocking
//! `recv`), so nothing is read ahead on the sender's side beyond what the driver hands over, and
//! what rustls read ahead is inside the `ServerConnection` that travels.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use glommio::net::TcpStream;
use rustls::ServerConnection;

use super::mesh::ShardMsg;
use super::ShardCtx;
use crate::net::driver::{Driver, Parts};
use crate::net::ip_limit::Slot;
use crate::net::stream::Conn;
use crate::tls::TlsStream;

/// A connection on its way to another shard.
#[derive(Debug)]
pub struct Moving {
    pub fd: OwnedFd,
    /// The TLS session of a connection that started TLS (STARTTLS or implicit TLS).
    pub tls: Option<Box<ServerConnection>>,
    /// Read from the connection (decrypted, if TLS), not yet consumed by the protocol.
    pub pending: Vec<u8>,
    pub peer: SocketAddr,
    /// The connection's count against its client address (released where the connection ends).
    pub slot: Slot,
    /// When the sender let go (the handoff's cost is measured from here).
    pub since: Instant,
}

/// A descriptor for `stream`'s socket that outlives the stream. The caller drops the stream once
/// the move is certain (until then both are open and the socket stays usable through either).
pub fn duplicate(stream: &TcpStream) -> io::Result<OwnedFd> {
    // F_DUPFD_CLOEXEC: the duplicate is not inherited by a child process, like the original.
    let fd = unsafe { libc::fcntl(stream.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by fcntl and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The socket as a stream of the calling shard's executor, with its TLS session if it had one.
pub fn adopt(fd: OwnedFd, tls: Option<Box<ServerConnection>>) -> Conn {
    // SAFETY: `into_raw_fd` gives up ownership; the stream takes it and closes it when dropped.
    let tcp = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
    rejoin(tcp, tls)
}

fn rejoin(tcp: TcpStream, tls: Option<Box<ServerConnection>>) -> Conn {
    match tls {
        None => Conn::Plain(tcp),
        Some(t) => Conn::Tls(Box::new(TlsStream::from_parts(tcp, t))),
    }
}

/// Sends `driver`'s connection to shard `owner` in the message `wrap` makes of it; `unwrap` takes
/// the connection back out of a message the owner's inbox refused (full or closed), and the
/// connection is then given back as it was, usable (the caller says "try again" and ends it).
#[allow(clippy::result_large_err)]
pub fn send(
    ctx: &ShardCtx,
    owner: usize,
    driver: Driver<Conn>,
    peer: SocketAddr,
    slot: Slot,
    wrap: impl FnOnce(Moving) -> ShardMsg,
    unwrap: impl FnOnce(ShardMsg) -> Moving,
) -> Result<(), (Driver<Conn>, Slot)> {
    let Some(to) = ctx.shared.mesh.to.get(owner) else {
        return Err((driver, slot));
    };
    let fd = match duplicate(driver.stream().tcp()) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "cannot duplicate the socket for the handoff");
            return Err((driver, slot));
        }
    };
    let Parts {
        stream,
        pending,
        timeouts,
        shutdown,
    } = driver.into_parts();
    let (tcp, tls) = match stream {
        Conn::Plain(s) => (s, None),
        Conn::Tls(t) => {
            let (s, c) = t.into_parts();
            (s, Some(c))
        }
    };
    let moving = Moving {
        fd,
        tls,
        pending,
        peer,
        slot,
        since: Instant::now(),
    };
    match to.try_send(wrap(moving)) {
        Ok(()) => {
            ctx.metrics().cross_shard_sent.fetch_add(1, Relaxed);
            // Our descriptor closes here; the owner holds the duplicate.
            drop(tcp);
            Ok(())
        }
        Err(e) => {
            let m = unwrap(e.into_inner());
            // The duplicate closes with `m.fd`; the stream is still ours.
            let driver = Driver::from_parts(Parts {
                stream: rejoin(tcp, m.tls),
                pending: m.pending,
                timeouts,
                shutdown,
            });
            Err((driver, m.slot))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Shard B's side of both tests: reads on from the handed-over bytes until "quit\n", echoes all
    /// it got and closes; `why` names what a premature end would mean.
    async fn finish_as_b(s: &mut Conn, pending: Vec<u8>, why: &str) {
        let mut got = pending;
        while !got.ends_with(b"quit\n") {
            let mut chunk = [0u8; 64];
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "{why}");
            got.extend_from_slice(&chunk[..n]);
        }
        s.write_all(format!("B got {}", String::from_utf8_lossy(&got)).as_bytes())
            .await
            .unwrap();
        s.close().await.unwrap();
    }

    /// Shard A accepts and reads part of the input, hands the socket and the unread bytes to shard
    /// B (another thread and executor), which goes on reading and writing the same connection; the
    /// client sees one uninterrupted conversation, and the socket closes when B is done.
    #[test]
    fn a_socket_and_its_unread_bytes_move_to_another_executor() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (to_b, from_a) = async_channel::bounded::<(OwnedFd, Vec<u8>)>(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let a = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let l = glommio::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
                ready_tx.send(()).unwrap();
                let mut s = l.accept().await.unwrap();
                s.write_all(b"hello from A\n").await.unwrap();
                // Read until the login line is in; whatever came with it is "pending".
                let mut buf = vec![0u8; 256];
                let mut have = 0;
                while !buf[..have].windows(6).any(|w| w == b"login\n") {
                    have += s.read(&mut buf[have..]).await.unwrap();
                }
                let at = buf[..have]
                    .windows(6)
                    .position(|w| w == b"login\n")
                    .unwrap()
                    + 6;
                let fd = duplicate(&s).unwrap();
                let pending = buf[at..have].to_vec();
                to_b.send((fd, pending)).await.unwrap();
                // A drops its stream: its descriptor closes, the socket lives on in B.
                drop(s);
            })
            .unwrap();
        let b = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let (fd, pending) = from_a.recv().await.unwrap();
                let mut s = adopt(fd, None);
                finish_as_b(
                    &mut s,
                    pending,
                    "the connection stayed open across the move",
                )
                .await;
            })
            .unwrap();
        ready_rx.recv().unwrap();
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The login and a pipelined command arrive together; the rest comes after the move.
        c.write_all(b"login\nnoop\n").unwrap();
        a.join().unwrap();
        c.write_all(b"more\nquit\n").unwrap();
        let mut all = String::new();
        c.read_to_string(&mut all).unwrap();
        b.join().unwrap();
        assert_eq!(all, "hello from A\nB got noop\nmore\nquit\n");
    }

    /// The same move for a TLS connection: A does the handshake and reads the login (and a
    /// pipelined command) through TLS, B gets the socket and the rustls session and goes on with
    /// the same TLS session; the client's rustls sees one session, no renegotiation, no loss.
    #[test]
    fn a_tls_session_moves_with_its_socket() {
        use crate::tls::tests::{client_config, connect, server};
        let dir = tempfile::tempdir().unwrap();
        let (acceptor, roots) = server(dir.path(), &[&["a.test"]]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        type Carried = (OwnedFd, Option<Box<ServerConnection>>, Vec<u8>);
        let (to_b, from_a) = async_channel::bounded::<Carried>(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let a = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let l = glommio::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
                ready_tx.send(()).unwrap();
                let s = l.accept().await.unwrap();
                let mut c = crate::tls::upgrade(Conn::Plain(s), &acceptor, Duration::from_secs(10))
                    .await
                    .unwrap();
                c.write_all(b"hello from A\n").await.unwrap();
                c.flush().await.unwrap();
                let mut buf = vec![0u8; 256];
                let mut have = 0;
                while !buf[..have].windows(6).any(|w| w == b"login\n") {
                    have += c.read(&mut buf[have..]).await.unwrap();
                }
                let at = buf[..have]
                    .windows(6)
                    .position(|w| w == b"login\n")
                    .unwrap()
                    + 6;
                let fd = duplicate(c.tcp()).unwrap();
                let Conn::Tls(t) = c else {
                    panic!("TLS was started")
                };
                let (tcp, session) = t.into_parts();
                to_b.send((fd, Some(session), buf[at..have].to_vec()))
                    .await
                    .unwrap();
                drop(tcp);
            })
            .unwrap();
        let b = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let (fd, session, pending) = from_a.recv().await.unwrap();
                let mut s = adopt(fd, session);
                assert!(s.is_tls());
                finish_as_b(
                    &mut s,
                    pending,
                    "the TLS session stayed open across the move",
                )
                .await;
            })
            .unwrap();
        ready_rx.recv().unwrap();
        let mut t = connect(
            port,
            client_config(&roots, &[&rustls::version::TLS13]),
            "a.test",
        );
        let mut hello = [0u8; 13];
        t.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, b"hello from A\n");
        // The login and a pipelined command in one record; the rest after the move.
        t.write_all(b"login\nnoop\n").unwrap();
        t.flush().unwrap();
        a.join().unwrap();
        t.write_all(b"more\nquit\n").unwrap();
        t.flush().unwrap();
        let mut all = String::new();
        t.read_to_string(&mut all).unwrap();
        b.join().unwrap();
        assert_eq!(all, "B got noop\nmore\nquit\n");
    }
}
