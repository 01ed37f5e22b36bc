//! The TLS stream and handshake over real loopback sockets, driven by rustls's own client on a
//! plain thread (another implementation's view of our server side).

use std::io::{Read, Write};
use std::net::TcpStream as StdTcp;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpListener;
use rustls::pki_types::{CertificateDer, ServerName};

use super::*;
use crate::config::{CertificateConfig, TlsConfig};
use crate::net::stream::Conn;

/// A server config for `names` (first certificate) and optionally a second certificate, written
/// into `dir`; and the DER certificates for a client to trust.
pub(crate) fn server(dir: &std::path::Path, names: &[&[&str]]) -> (Acceptor, Vec<Vec<u8>>) {
    let mut cfg = TlsConfig::default();
    let mut ders = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let p = rcgen::CertificateParams::new(n.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        let cert = p.self_signed(&key).unwrap();
        ders.push(cert.der().to_vec());
        let (c, k) = (dir.join(format!("{i}.crt")), dir.join(format!("{i}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        if i == 0 {
            cfg.cert = Some(c);
            cfg.key = Some(k);
        } else {
            cfg.certificates.push(CertificateConfig { cert: c, key: k });
        }
    }
    let a = certs::acceptor(&cfg, certs::now_secs()).unwrap().unwrap();
    (a, ders)
}

/// A rustls client trusting `roots`, with only `versions`.
pub(crate) fn client_config(
    roots: &[Vec<u8>],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(CertificateDer::from(r.clone())).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth(),
    )
}

pub(crate) fn connect(
    port: u16,
    config: Arc<rustls::ClientConfig>,
    name: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, StdTcp> {
    let sock = StdTcp::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let conn =
        rustls::ClientConnection::new(config, ServerName::try_from(name.to_string()).unwrap())
            .unwrap();
    rustls::StreamOwned::new(conn, sock)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `serve` on a glommio executor listening on a fresh port, and `client` on this thread.
fn with_server<T, F, C>(
    serve: impl FnOnce(TcpListener) -> F + Send + 'static,
    client: impl FnOnce(u16) -> C,
) -> (T, C)
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + 'static,
{
    let port = free_port();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
            ready_tx.send(()).unwrap();
            serve(l).await
        })
        .unwrap();
    ready_rx.recv().unwrap();
    let c = client(port);
    (h.join().unwrap(), c)
}

#[test]
fn a_large_exchange_both_ways_over_tls_1_2_and_1_3() {
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let dir = tempfile::tempdir().unwrap();
        let (acceptor, roots) = server(dir.path(), &[&["a.test"]]);
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = big.clone();
        let (got, ()) = with_server(
            move |l| {
                async move {
                    let s = l.accept().await.unwrap();
                    let mut c = upgrade(Conn::Plain(s), &acceptor, Duration::from_secs(10))
                        .await
                        .unwrap();
                    assert!(c.is_tls());
                    assert_eq!(c.server_name(), Some("a.test"));
                    // Read the client's megabyte, echo its length, then send ours.
                    let mut got = vec![0u8; sent.len()];
                    c.read_exact(&mut got).await.unwrap();
                    c.write_all(format!("{}\n", got.len()).as_bytes())
                        .await
                        .unwrap();
                    c.write_all(&sent).await.unwrap();
                    c.flush().await.unwrap();
                    c.close().await.unwrap();
                    got
                }
            },
            |port| {
                let mut t = connect(port, client_config(&roots, &[version]), "a.test");
                t.write_all(&big).unwrap();
                let mut line = [0u8; 8];
                t.read_exact(&mut line).unwrap();
                assert_eq!(&line, b"1000000\n");
                let mut back = vec![0u8; big.len()];
                t.read_exact(&mut back).unwrap();
                assert!(back == big, "the server's megabyte arrived intact");
                assert_eq!(t.conn.protocol_version(), Some(version.version));
                // The server's close_notify: a clean end.
                let mut rest = Vec::new();
                assert_eq!(t.read_to_end(&mut rest).unwrap(), 0);
            },
        );
        assert!(
            got == (0..1_000_000u32)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_plaintext_client_is_refused_with_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, _) = server(dir.path(), &[&["a.test"]]);
    let (e, reply) = with_server(
        move |l| async move {
            let s = l.accept().await.unwrap();
            let e = upgrade(Conn::Plain(s), &acceptor, Duration::from_secs(10)).await;
            format!("{:?}", e.err())
        },
        |port| {
            let mut s = StdTcp::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"EHLO client.example\r\n").unwrap();
            let mut reply = Vec::new();
            let _ = s.read_to_end(&mut reply);
            reply
        },
    );
    assert!(e.contains("Handshake"), "{e}");
    // What the client got, if anything, is a TLS alert record (content type 21), not a reply.
    assert!(reply.is_empty() || reply[0] == 21, "{reply:?}");
}

#[test]
fn sni_chooses_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, roots) = server(dir.path(), &[&["mail.a.test"], &["mail.b.test"]]);
    let (names, ()) = with_server(
        move |l| async move {
            let mut names = Vec::new();
            for _ in 0..2 {
                let s = l.accept().await.unwrap();
                let mut c = upgrade(Conn::Plain(s), &acceptor, Duration::from_secs(10))
                    .await
                    .unwrap();
                names.push(c.server_name().map(str::to_string));
                c.write_all(b"hi\n").await.unwrap();
                c.close().await.unwrap();
            }
            names
        },
        |port| {
            // Each client trusts only the certificate it asks for: the handshake proves the pick.
            for (name, root) in [("mail.b.test", &roots[1]), ("mail.a.test", &roots[0])] {
                let config = client_config(std::slice::from_ref(root), &[&rustls::version::TLS13]);
                let mut t = connect(port, config, name);
                let mut hi = [0u8; 3];
                t.read_exact(&mut hi).unwrap();
                assert_eq!(&hi, b"hi\n");
            }
        },
    );
    assert_eq!(
        names,
        [
            Some("mail.b.test".to_string()),
            Some("mail.a.test".to_string())
        ]
    );
}

#[test]
fn a_silent_client_is_cut_at_the_handshake_timeout_while_the_executor_serves_others() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, _) = server(dir.path(), &[&["a.test"]]);
    let ((e, took, ticks), _sock) = with_server(
        move |l| async move {
            let s = l.accept().await.unwrap();
            let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
            let t2 = ticks.clone();
            let ticker = glommio::spawn_local(async move {
                loop {
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                    t2.set(t2.get() + 1);
                }
            });
            let t = Instant::now();
            let e = upgrade(Conn::Plain(s), &acceptor, Duration::from_millis(300)).await;
            let took = t.elapsed();
            drop(ticker);
            (format!("{:?}", e.err()), took, ticks.get())
        },
        // Connects, sends half a ClientHello header, then nothing.
        |port| {
            let mut s = StdTcp::connect(("127.0.0.1", port)).unwrap();
            s.write_all(&[22, 3, 1]).unwrap();
            s
        },
    );
    assert_eq!(e, "Some(Timeout)");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        ticks >= 10,
        "the executor ran other tasks meanwhile: {ticks} ticks"
    );
}

#[test]
fn a_tls_connection_cannot_be_upgraded_again() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, roots) = server(dir.path(), &[&["a.test"]]);
    let (e, ()) = with_server(
        move |l| async move {
            let s = l.accept().await.unwrap();
            let c = upgrade(Conn::Plain(s), &acceptor, Duration::from_secs(10))
                .await
                .unwrap();
            format!(
                "{:?}",
                upgrade(c, &acceptor, Duration::from_secs(1)).await.err()
            )
        },
        |port| {
            let mut t = connect(
                port,
                client_config(&roots, &[&rustls::version::TLS13]),
                "a.test",
            );
            let _ = t.write_all(b"x");
            let _ = t.flush();
        },
    );
    assert_eq!(e, "Some(AlreadyTls)");
}
