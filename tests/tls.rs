//! TLS end to end (issue 12): implicit-TLS ports (RFC 8314) with the standard library's clients and
//! curl against `shardmail cert self-signed` output, certificate checks at start, SIGHUP reloads
//! with sessions open, and the handshake time limit.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, BIN};
use rustls::pki_types::{CertificateDer, ServerName};

const HOST: &str = "mx.example.test";

fn tls_server(accounts: &[&str], extra: &str, shards: usize) -> Server {
    let mut s = Server::new_tls(extra);
    for a in accounts {
        s.add_account(a);
    }
    s.start(shards);
    s
}

#[test]
fn cert_self_signed_writes_a_certificate_and_a_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["cert", "self-signed", "--host", HOST, "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = |f: &str| {
        std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("key.pem"), 0o600);
    assert_eq!(mode("cert.pem") & 0o077, 0o044);
    // openssl reads what we wrote: the name is the host, and the key is the certificate's.
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(dir.path().join("cert.pem"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("DNS:{HOST}")), "{text}");
    let pubkey = |args: &[&str], f: &str| {
        Command::new("openssl")
            .args(args)
            .arg(dir.path().join(f))
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(
        pubkey(&["x509", "-noout", "-pubkey", "-in"], "cert.pem"),
        pubkey(&["pkey", "-pubout", "-in"], "key.pem")
    );
}

#[test]
fn imaps_and_pop3s_serve_stdlib_clients_and_sessions_move_with_their_tls_state() {
    let users: Vec<String> = (0..8).map(|i| format!("u{i}@example.test")).collect();
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let s = tls_server(&refs, "", 2);
    let (imaps, pop3s) = (s.imaps.to_string(), s.pop3s.to_string());
    let cert = s.path("cert.pem").display().to_string();
    let mut args = vec![imaps.as_str(), pop3s.as_str(), cert.as_str(), HOST];
    args.extend(refs.iter().copied());
    let out = s.python("tls_implicit.py", &args);
    for u in &users {
        assert!(out.contains(&format!("OK imaps {u}\n")), "{out}");
        assert!(out.contains(&format!("OK pop3s {u}\n")), "{out}");
    }
    // Eight accounts over two shards: sessions that logged in on the shard not owning the account
    // moved with their TLS session (2^-8 that none did, per protocol).
    assert!(
        s.metric_sum("shardmail_imap_handoffs_total") > 0,
        "{}",
        s.metrics()
    );
    assert!(
        s.metric_sum("shardmail_pop3_handoffs_total") > 0,
        "{}",
        s.metrics()
    );
    assert!(s.metric_sum("shardmail_tls_handshakes_total") >= 16);
    assert_eq!(s.metric_sum("shardmail_tls_handshake_failures_total"), 0);
}

#[test]
fn curl_reads_a_message_over_imaps_and_pop3s() {
    let s = tls_server(&["curl@example.test"], "", 1);
    s.python("send_many.py", &["1", "1", "curl@example.test", "."]);
    let curl = |url: String, port: u16| {
        let o = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--ssl-reqd", "--cacert"])
            .arg(s.path("cert.pem"))
            .args(["--resolve", &format!("{HOST}:{port}:127.0.0.1")])
            .args(["-u", "curl@example.test:secret", &url])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let wait = Instant::now();
    while s.ls("curl@example.test", "INBOX").is_empty() {
        assert!(wait.elapsed() < Duration::from_secs(15), "not filed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stored = String::from_utf8(s.cat("curl@example.test", "INBOX", 1)).unwrap();
    let imap = curl(
        format!("imaps://{HOST}:{}/INBOX;UID=1", s.imaps.port()),
        s.imaps.port(),
    );
    assert_eq!(imap, stored);
    let pop = curl(
        format!("pop3s://{HOST}:{}/1", s.pop3s.port()),
        s.pop3s.port(),
    );
    assert_eq!(pop.replace("\r\n", "\n"), stored.replace("\r\n", "\n"));
}

/// Starts `serve` and waits for it to exit; returns its stderr (panics if it keeps running).
fn failed_start(s: &Server) -> String {
    let mut child = Command::new(BIN)
        .current_dir(s.dir.path())
        .args(["--config", "shardmail.toml", "serve", "--shards", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(!st.success());
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return err;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the server started with a bad certificate");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pem_pair(name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    p.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    p.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

#[test]
fn an_expired_mismatched_or_missing_certificate_stops_the_start() {
    let s = Server::new_tls("");
    let (old_cert, old_key) = pem_pair(HOST, (2000, 1, 1), (2001, 1, 1));
    std::fs::write(s.path("cert.pem"), &old_cert).unwrap();
    std::fs::write(s.path("key.pem"), &old_key).unwrap();
    let err = failed_start(&s);
    assert!(
        err.contains("cert.pem") && err.contains("expired on 2001-01-01"),
        "{err}"
    );

    let (cert, _) = pem_pair(HOST, (2000, 1, 1), (2999, 1, 1));
    std::fs::write(s.path("cert.pem"), &cert).unwrap();
    let err = failed_start(&s);
    assert!(
        err.contains("key.pem") && err.contains("does not match"),
        "{err}"
    );

    std::fs::remove_file(s.path("cert.pem")).unwrap();
    let err = failed_start(&s);
    assert!(
        err.contains("cert.pem") && err.contains("cannot read"),
        "{err}"
    );
}

fn client(roots: &[Vec<u8>]) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(CertificateDer::from(r.clone())).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// An IMAPS session past its greeting, and the certificate the server presented.
fn imaps(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> (Tls, Vec<u8>) {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let conn = rustls::ClientConnection::new(config, ServerName::try_from(HOST).unwrap()).unwrap();
    let mut t = rustls::StreamOwned::new(conn, sock);
    let greeting = line(&mut t);
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let cert = t.conn.peer_certificates().unwrap()[0].to_vec();
    (t, cert)
}

fn line(t: &mut Tls) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n") {
        if t.read(&mut b).unwrap() == 0 {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

fn wait_metric(s: &Server, name: &str, want: u64) {
    let t = Instant::now();
    while s.metric_sum(name) < want {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{name} < {want}:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_swaps_the_certificate_for_new_sessions_and_open_ones_go_on() {
    let s = tls_server(&["a@example.test"], "", 2);
    let first = der_of(&std::fs::read_to_string(s.path("cert.pem")).unwrap());
    let (new_cert, new_key) = pem_pair(HOST, (2000, 1, 1), (2999, 1, 1));
    let second = der_of(&new_cert);
    let config = client(&[first.clone(), second.clone()]);
    let (mut open, seen) = imaps(s.imaps, config.clone());
    assert_eq!(seen, first);

    // Key first, then the certificate: each file is replaced whole (written aside, renamed).
    for (f, text) in [("key.pem", &new_key), ("cert.pem", &new_cert)] {
        std::fs::write(s.path(&format!("{f}.new")), text).unwrap();
        std::fs::rename(s.path(&format!("{f}.new")), s.path(f)).unwrap();
    }
    let pid = s.child.as_ref().unwrap().id() as i32;
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_metric(&s, "shardmail_tls_reloads_total", 1);
    // Every shard (connections land on either) serves the new certificate.
    for _ in 0..6 {
        let (mut t, seen) = imaps(s.imaps, config.clone());
        assert!(seen == second, "a new session got the old certificate");
        t.write_all(b"z LOGOUT\r\n").unwrap();
    }
    // The session opened before the reload goes on, with its TLS session.
    open.write_all(b"a NOOP\r\n").unwrap();
    assert_eq!(line(&mut open), "a OK NOOP completed\r\n");

    // A reload that cannot load (a certificate for another key) keeps the current certificate.
    let (other_cert, _) = pem_pair(HOST, (2000, 1, 1), (2999, 1, 1));
    std::fs::write(s.path("cert.pem"), &other_cert).unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_metric(&s, "shardmail_tls_reload_failures_total", 1);
    assert!(s.log().contains("does not match"), "{}", s.log());
    let (_t, seen) = imaps(s.imaps, config.clone());
    assert!(seen == second);
    open.write_all(b"b NOOP\r\n").unwrap();
    assert_eq!(line(&mut open), "b OK NOOP completed\r\n");
}

#[test]
fn a_client_that_stops_mid_handshake_is_cut_and_others_are_served_meanwhile() {
    let s = tls_server(&["a@example.test"], "tls.handshake_timeout = 1", 1);
    let cert = der_of(&std::fs::read_to_string(s.path("cert.pem")).unwrap());
    let config = client(&[cert]);
    let (mut other, _) = imaps(s.imaps, config.clone());
    // Half a ClientHello record header, then silence.
    let mut stuck = TcpStream::connect(s.imaps).unwrap();
    stuck
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stuck.write_all(&[22, 3, 1]).unwrap();
    let t = Instant::now();
    // While it hangs, the shard answers the other session at once.
    for i in 0..5 {
        let asked = Instant::now();
        other
            .write_all(format!("n{i} NOOP\r\n").as_bytes())
            .unwrap();
        assert_eq!(line(&mut other), format!("n{i} OK NOOP completed\r\n"));
        assert!(asked.elapsed() < Duration::from_millis(500));
    }
    let mut rest = Vec::new();
    let _ = stuck.read_to_end(&mut rest);
    let cut = t.elapsed();
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_secs(5),
        "{cut:?}"
    );
    assert!(rest.is_empty(), "{rest:?}");
    wait_metric(&s, "shardmail_tls_handshake_timeouts_total", 1);
}
