//! The load generator's TLS client (`--tls`, `--starttls`, `--ca`, `--insecure`, `--tls-resume`) against a
//! small rustls IMAP responder in this file: it answers every tagged command `OK` (and `* 0 EXISTS` to
//! SELECT), speaks implicit TLS or STARTTLS (RFC 9051 6.2.1), and counts the handshakes it completed,
//! full or resumed. The counts are what the client must have done; nothing here trusts the client's word.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use rustls::{HandshakeKind, ServerConfig, ServerConnection, StreamOwned};

mod common;
use common::loadtest;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Implicit,
    StartTls,
    /// STARTTLS, but the go-ahead carries more plaintext in the same write (an injection: RFC 3207 4.2
    /// and RFC 2595 3.1 say such bytes must not be trusted).
    StartTlsInjecting,
}

#[derive(Default)]
struct Counts {
    full: AtomicU64,
    resumed: AtomicU64,
    commands: AtomicU64,
}

struct Responder {
    addr: String,
    counts: Arc<Counts>,
}

/// A self-signed certificate for "localhost" in `dir` (cert.pem); the server's config.
fn certificate(dir: &Path, name: &str) -> Arc<ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join(name), ck.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    Arc::new(config)
}

impl Responder {
    fn start(config: Arc<ServerConfig>, mode: Mode) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming().flatten() {
                let (config, c) = (config.clone(), c.clone());
                std::thread::spawn(move || {
                    let _ = serve(sock, config, mode, &c);
                });
            }
        });
        Responder { addr, counts }
    }
}

/// One line from a plaintext socket, byte by byte (nothing read past it: the TLS handshake follows).
fn plain_line(sock: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\n") {
        if sock.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(b[0]);
    }
    Ok(line)
}

fn serve(
    mut sock: TcpStream,
    config: Arc<ServerConfig>,
    mode: Mode,
    counts: &Counts,
) -> std::io::Result<()> {
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    if mode != Mode::Implicit {
        sock.write_all(b"* OK responder ready\r\n")?;
        let line = plain_line(&mut sock)?;
        if line != b"s0 STARTTLS\r\n" {
            return Ok(());
        }
        if mode == Mode::StartTlsInjecting {
            sock.write_all(b"s0 OK begin TLS\r\n* OK forged\r\n")?;
        } else {
            sock.write_all(b"s0 OK begin TLS\r\n")?;
        }
    }
    let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    match tls.conn.handshake_kind() {
        Some(HandshakeKind::Resumed) => counts.resumed.fetch_add(1, Relaxed),
        _ => counts.full.fetch_add(1, Relaxed),
    };
    if mode == Mode::Implicit {
        tls.write_all(b"* OK responder ready\r\n")?;
    }
    let mut r = BufReader::new(tls);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        counts.commands.fetch_add(1, Relaxed);
        let (tag, cmd) = line.trim_end().split_once(' ').unwrap_or(("*", ""));
        let cmd = cmd.to_ascii_uppercase();
        let reply = if cmd.starts_with("SELECT") {
            format!("* 0 EXISTS\r\n{tag} OK [READ-WRITE] done\r\n")
        } else if cmd.starts_with("UID SEARCH") {
            format!("* SEARCH\r\n{tag} OK done\r\n")
        } else if cmd.starts_with("LOGOUT") {
            format!("* BYE\r\n{tag} OK done\r\n")
        } else {
            format!("{tag} OK done\r\n")
        };
        r.get_mut().write_all(reply.as_bytes())?;
        r.get_mut().flush()?;
    }
}

fn handshakes(
    addr: &str,
    messages: u32,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    let messages = messages.to_string();
    let mut args = vec![
        "handshake",
        "--proto",
        "imap",
        "--target",
        addr,
        "--connections",
        "2",
        "--threads",
        "1",
        "--messages",
        &messages,
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    let (out, v, _) = loadtest(&args);
    (out, v)
}

#[test]
fn implicit_tls_makes_a_full_handshake_per_connection_unless_resumption_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let config = certificate(dir.path(), "cert.pem");
    let ca = dir.path().join("cert.pem");
    let ca = ca.to_str().unwrap();
    let s = Responder::start(config.clone(), Mode::Implicit);
    let (out, v) = handshakes(
        &s.addr,
        20,
        &["--tls", "--ca", ca, "--server-name", "localhost"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["ops"], 20, "{v}");
    assert_eq!(v["errors_total"], 0, "{v}");
    // Every operation was a connection with a full handshake, greeting and NOOP.
    assert_eq!(s.counts.full.load(Relaxed), 20);
    assert_eq!(s.counts.resumed.load(Relaxed), 0);
    assert_eq!(s.counts.commands.load(Relaxed), 20);

    let s = Responder::start(config, Mode::Implicit);
    let (out, v) = handshakes(&s.addr, 20, &["--tls", "--insecure", "--tls-resume"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["ops"], 20, "{v}");
    let (full, resumed) = (s.counts.full.load(Relaxed), s.counts.resumed.load(Relaxed));
    assert_eq!(full + resumed, 20);
    assert!(
        resumed >= 10,
        "with --tls-resume most handshakes resume: {full} full, {resumed} resumed"
    );
}

#[test]
fn a_certificate_the_ca_did_not_issue_fails_every_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let config = certificate(dir.path(), "cert.pem");
    let _other = certificate(dir.path(), "other.pem");
    let other = dir.path().join("other.pem");
    let s = Responder::start(config, Mode::Implicit);
    // Bounded by time: a refused connection is retried until the run ends.
    let (out, v, _) = loadtest(&[
        "handshake",
        "--proto",
        "imap",
        "--target",
        &s.addr,
        "--connections",
        "1",
        "--duration",
        "1",
        "--tls",
        "--ca",
        other.to_str().unwrap(),
        "--server-name",
        "localhost",
    ]);
    assert!(!out.status.success(), "nothing succeeded: exit code 1");
    assert_eq!(v["ops"], 0, "{v}");
    assert!(v["connections_failed"].as_u64().unwrap() > 0, "{v}");
    assert!(
        v["errors"]["connect tls or protocol"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(s.counts.full.load(Relaxed), 0);
    assert_eq!(s.counts.commands.load(Relaxed), 0);
}

#[test]
fn starttls_then_the_session_runs_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let config = certificate(dir.path(), "cert.pem");
    let ca = dir.path().join("cert.pem");
    let s = Responder::start(config.clone(), Mode::StartTls);
    let (out, v) = handshakes(
        &s.addr,
        10,
        &[
            "--starttls",
            "--ca",
            ca.to_str().unwrap(),
            "--server-name",
            "localhost",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["ops"], 10, "{v}");
    assert_eq!(s.counts.full.load(Relaxed), 10);
    // Only the NOOP came over TLS: STARTTLS went in plaintext, before the handshake.
    assert_eq!(s.counts.commands.load(Relaxed), 10);

    // A whole IMAP client session (LOGIN, SELECT, UID SEARCH, NOOPs at a fixed rate, LOGOUT) over
    // STARTTLS: every command after the handshake reached the responder through TLS.
    let s = Responder::start(config, Mode::StartTls);
    let (out, v, took) = loadtest(&[
        "imap",
        "--target",
        &s.addr,
        "--connections",
        "2",
        "--threads",
        "1",
        "--messages",
        "20",
        "--user-pattern",
        "u{0..1}@x.test",
        "--password",
        "p",
        "--scenario",
        "noop",
        "--op-rate",
        "40",
        "--starttls",
        "--insecure",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["ops"], 20, "{v}");
    assert_eq!(v["errors_total"], 0, "{v}");
    assert_eq!(
        s.counts.full.load(Relaxed),
        2,
        "one handshake per connection"
    );
    // LOGIN, SELECT, UID SEARCH, LOGOUT per connection, and the 20 NOOPs.
    assert_eq!(s.counts.commands.load(Relaxed), 2 * 4 + 20);
    // Open loop at 40/s: 20 operations take about half a second, not a burst.
    assert!(took >= Duration::from_millis(400), "{took:?}");
}

#[test]
fn plaintext_after_the_starttls_go_ahead_is_refused_before_any_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let config = certificate(dir.path(), "cert.pem");
    let s = Responder::start(config, Mode::StartTlsInjecting);
    let (out, v, _) = loadtest(&[
        "handshake",
        "--proto",
        "imap",
        "--target",
        &s.addr,
        "--connections",
        "1",
        "--duration",
        "1",
        "--starttls",
        "--insecure",
    ]);
    assert!(!out.status.success());
    assert_eq!(v["ops"], 0, "{v}");
    assert!(
        v["errors"]["connect tls or protocol"].as_u64().unwrap() > 0,
        "{v}"
    );
    // The client gave up before sending a ClientHello: the responder saw no handshake at all.
    assert_eq!(
        s.counts.full.load(Relaxed) + s.counts.resumed.load(Relaxed),
        0
    );
}

#[test]
fn tls_options_are_checked() {
    for (args, why) in [
        (&["--tls"][..], "--ca FILE"),
        (&["--insecure"][..], "go with --tls"),
        (
            &["--tls", "--starttls", "--insecure"][..],
            "cannot be used with",
        ),
        (
            &["--tls", "--ca", "/nonexistent/ca.pem"][..],
            "/nonexistent/ca.pem",
        ),
    ] {
        let mut a = vec![
            "handshake",
            "--proto",
            "smtp",
            "--target",
            "127.0.0.1:1",
            "--messages",
            "1",
        ];
        a.extend_from_slice(args);
        let (out, _, _) = loadtest(&a);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
}
