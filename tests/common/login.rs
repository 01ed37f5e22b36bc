//! Setup shared by the login-policy and STARTTLS/STLS end-to-end tests (tests/auth_policy.rs,
//! tests/imap_tls.rs, tests/pop3_tls.rs): a server with a `shardmail cert self-signed` certificate
//! that treats 127.0.0.1 as a remote client, one message delivered by SMTP, the login metrics, and
//! the TLS clients' plumbing.

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use super::{Raw, Server};

pub const USER: &str = "alice@example.test";
pub const SUBJECT: &str = "Over TLS";

/// The name `Server::new_tls`'s certificate is made for (clients connect to 127.0.0.1 and check
/// the certificate against this name).
pub const TLS_NAME: &str = "mx.example.test";

/// A started server with a certificate (`Server::new_tls`: cert.pem in its directory), `[auth]
/// plaintext_auth_loopback = false`, `extra` config, and [`USER`] holding one message.
pub fn server(shards: usize, extra: &str) -> Server {
    let mut s = Server::new_tls(&format!("[auth]\nplaintext_auth_loopback = false\n{extra}"));
    s.add_account(USER);
    s.start(shards);
    deliver(&s);
    s
}

/// Sends one message to [`USER`] on the MX port and waits until it is filed.
pub fn deliver(s: &Server) {
    let mut c = Raw::connect(s.smtp);
    for (line, want) in [
        ("EHLO client.example".to_string(), "250"),
        ("MAIL FROM:<bob@remote.example>".to_string(), "250"),
        (format!("RCPT TO:<{USER}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        let r = c.cmd(&line);
        assert!(r.starts_with(want), "{line}: {r}");
    }
    let msg = format!(
        "From: <bob@remote.example>\r\nTo: <{USER}>\r\nSubject: {SUBJECT}\r\n\r\nHello over TLS.\r\n"
    );
    c.send(msg.as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    let t = Instant::now();
    while s.ls_err(USER) || s.ls(USER, "INBOX").is_empty() {
        assert!(t.elapsed() < Duration::from_secs(15), "not filed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs tests/py/SCRIPT with the SMTP address, `addr`, the CA file, the certificate's name, then
/// `args`.
pub fn py(s: &Server, script: &str, addr: std::net::SocketAddr, args: &[&str]) -> String {
    let addr = addr.to_string();
    let ca = s.path("cert.pem");
    let mut all = vec![
        addr.as_str(),
        ca.to_str().expect("a UTF-8 temp path"),
        TLS_NAME,
    ];
    all.extend_from_slice(args);
    s.python(script, &all)
}

/// `shardmail_auth_total` for one protocol and result, summed over shards.
pub fn auth_total(s: &Server, protocol: &str, result: &str) -> u64 {
    let want = format!("protocol=\"{protocol}\",result=\"{result}\"}}");
    s.metrics()
        .lines()
        .filter(|l| l.starts_with("shardmail_auth_total{") && l.contains(&want))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// `openssl s_client -starttls PROTO` to `addr`, verifying the certificate, with `input` on its
/// stdin; its output once the server closed (killed after 30 s).
pub fn s_client(s: &Server, proto: &str, addr: std::net::SocketAddr, input: &str) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(["s_client", "-starttls", proto, "-connect"])
        .arg(addr.to_string())
        .args([
            "-servername",
            "localhost",
            "-verify_return_error",
            "-quiet",
            "-ign_eof",
        ])
        .arg("-CAfile")
        .arg(s.path("cert.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .expect("write to s_client");
    }
    wait_output(child, Duration::from_secs(30))
}

/// `curl --ssl-reqd` fetching `url_path` from [`TLS_NAME`] (resolved to `addr`) as [`USER`].
pub fn curl(s: &Server, scheme: &str, addr: std::net::SocketAddr, url_path: &str) -> Output {
    let port = addr.port();
    std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "--ssl-reqd", "--cacert"])
        .arg(s.path("cert.pem"))
        .arg("--resolve")
        .arg(format!("{TLS_NAME}:{port}:127.0.0.1"))
        .args(["-u", &format!("{USER}:secret")])
        .arg(format!("{scheme}://{TLS_NAME}:{port}/{url_path}"))
        .output()
        .expect("curl")
}

/// The child's output, killing it after `limit`.
fn wait_output(mut child: Child, limit: Duration) -> Output {
    let t = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("child output")
}
