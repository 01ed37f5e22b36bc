//! SMTP with TLS end to end (issue 12): STARTTLS (RFC 3207) on the submission and MX listeners and
//! implicit TLS on smtps (RFC 8314), against a `shardmail cert self-signed` certificate, with
//! Python's smtplib (`starttls()`, `SMTP_SSL`) and the command-injection attack from a raw socket
//! that then shakes hands; mail submitted this way is read back over IMAPS with curl.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Server;

/// The name the test certificate is made for (`Server::new_tls`).
const NAME: &str = "mx.example.test";

fn server() -> Server {
    let mut s = Server::new_tls("");
    s.add_account("alice@example.test");
    s.add_account("bob@example.test");
    s.start(2);
    s
}

/// tests/py/submission.py against `addr` in `mode`, trusting the server's certificate.
fn submit(s: &Server, addr: std::net::SocketAddr, mode: &str, subject: &str) -> String {
    let args = [
        mode,
        "alice@example.test",
        "secret",
        "alice@example.test",
        "bob@example.test",
        subject,
        "cert.pem",
        NAME,
    ];
    s.python_at(addr, "submission.py", &args)
}

#[test]
fn smtplib_starttls_and_smtp_ssl_submit_and_imaps_reads_it_back() {
    let s = server();
    let out = submit(&s, s.submission, "starttls", "over starttls");
    let mut features = out.lines().filter(|l| l.starts_with("FEATURES "));
    let (before, after) = (
        features.next().unwrap_or_default(),
        features.next().unwrap_or_default(),
    );
    assert!(before.contains("STARTTLS"), "{out}");
    // RFC 3207 4.2: not offered again once TLS is active; AUTH now usable.
    assert!(
        !after.contains("STARTTLS") && after.contains("AUTH=PLAIN LOGIN"),
        "{out}"
    );
    assert!(out.contains("LOGIN OK\nSENT \n"), "{out}");
    assert!(out.contains("TLS TLSv1."), "{out}");

    let out = submit(&s, s.smtps, "ssl", "over smtps");
    assert!(!out.contains("STARTTLS"), "{out}");
    assert!(out.contains("LOGIN OK\nSENT \n"), "{out}");

    let rows = s.wait_inbox("bob@example.test", 2);
    let subjects: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert!(subjects.contains(&"over starttls"), "{rows:?}");
    assert!(subjects.contains(&"over smtps"), "{rows:?}");
    let stored =
        String::from_utf8_lossy(&s.cat("bob@example.test", "INBOX", rows[0].0)).into_owned();
    // RFC 3848: authenticated submission over TLS.
    assert!(stored.contains(" with ESMTPSA id "), "{stored}");

    // Read back over implicit TLS, the certificate checked by curl.
    let resolve = format!("{NAME}:{}:127.0.0.1", s.imaps.port());
    let o = Command::new("curl")
        .current_dir(s.dir.path())
        .args(["-sS", "--max-time", "30", "--cacert", "cert.pem"])
        .args(["--resolve", &resolve, "--user", "bob@example.test:secret"])
        .arg(format!("imaps://{NAME}:{}/INBOX;UID=1", s.imaps.port()))
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("Subject: over "), "{text}");
    assert!(s.metric_sum("shardmail_auth_total") >= 2, "{}", s.metrics());
}

/// RFC 3207 4.2 (CVE-2011-0411): a command in the same write as STARTTLS is never run, neither
/// before the handshake nor after it, on the MX port.
#[test]
fn a_command_injected_behind_starttls_is_discarded() {
    let s = server();
    let out = s.python(
        "starttls_inject.py",
        &[
            "cert.pem",
            "MAIL FROM:<evil@attacker.example>",
            "RCPT TO:<bob@example.test>",
            NAME,
        ],
    );
    let replies: Vec<&str> = out.lines().collect();
    assert!(replies[2].starts_with("REPLY 220"), "{out}");
    // After the handshake: EHLO without STARTTLS, then RCPT finds no MAIL (the injected one was
    // dropped): 503.
    assert!(!replies[3].contains("STARTTLS"), "{out}");
    assert!(replies[4].starts_with("REPLY 503"), "{out}");
    assert!(
        s.metrics()
            .lines()
            .any(|l| l.starts_with("shardmail_starttls_discarded_total")
                && l.contains("smtp")
                && !l.ends_with(" 0")),
        "{}",
        s.metrics()
    );
}

/// swaks (`--tls`: STARTTLS, then AUTH LOGIN) submits a message, and `openssl s_client -starttls
/// smtp` verifies the certificate's chain and name and sees AUTH offered only over TLS.
#[test]
fn swaks_and_openssl_s_client_use_starttls() {
    let s = server();
    let o = Command::new("swaks")
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &s.submission.port().to_string(),
        ])
        .args([
            "--tls",
            "--auth",
            "LOGIN",
            "--auth-user",
            "alice@example.test",
        ])
        .args(["--auth-password", "secret", "--from", "alice@example.test"])
        .args([
            "--to",
            "bob@example.test",
            "--header",
            "Subject: from swaks",
        ])
        .args(["--timeout", "30"])
        .output()
        .expect("swaks is installed");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}\n{}", s.log());
    assert!(text.contains("=== TLS started"), "{text}");
    // swaks marks what went over TLS with `~`.
    assert!(text.contains(" ~> AUTH LOGIN"), "{text}");
    assert!(text.contains("<~  235 "), "{text}");
    let rows = s.wait_inbox("bob@example.test", 1);
    assert_eq!(rows[0].2, "from swaks");

    let mut child = Command::new("openssl")
        .current_dir(s.dir.path())
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(s.submission.to_string())
        .args([
            "-CAfile",
            "cert.pem",
            "-verify_return_error",
            "-verify_hostname",
            NAME,
        ])
        .args(["-crlf", "-quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        // Give the handshake time before the commands go over TLS.
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(b"EHLO client.example\nQUIT\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("verify return:1"), "{err}");
    assert!(text.contains("250 AUTH PLAIN LOGIN"), "{text}\n{err}");
    assert!(
        !text.contains("STARTTLS"),
        "not offered again over TLS:\n{text}"
    );
    assert!(text.contains("221 "), "{text}\n{err}");
}
