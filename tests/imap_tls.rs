//! IMAP STARTTLS and the login policy end to end (issue 12, RFC 9051 6.2.1), against the built binary
//! on loopback with a `shardmail cert self-signed` certificate and real clients: Python's imaplib,
//! `openssl s_client -starttls imap`, `curl --ssl-reqd`, and a raw socket for the command-injection
//! attack. The server treats 127.0.0.1 as a remote client (`[auth] plaintext_auth_loopback =
//! false`), so what is refused without TLS is what a client on another machine sees.

mod common;

use common::login::{auth_total, curl, py, s_client, server, SUBJECT, USER};

#[test]
fn imaplib_starttls_then_login_reads_the_message_and_plaintext_login_is_refused() {
    let s = server(2, "");
    let out = py(&s, "imap_tls.py", s.imap, &[USER, SUBJECT]);
    assert_eq!(
        out,
        "OK login refused without TLS\nOK capabilities after STARTTLS\nOK fetched over TLS\n"
    );
    assert_eq!(
        auth_total(&s, "imap", "plaintext_refused"),
        1,
        "{}",
        s.metrics()
    );
    assert_eq!(auth_total(&s, "imap", "ok"), 1);
}

#[test]
fn a_login_injected_behind_starttls_is_discarded_not_run() {
    let s = server(1, "");
    let out = py(&s, "imap_inject.py", s.imap, &[USER]);
    assert_eq!(
        out,
        "OK handshake after the injected command\n\
         OK injected LOGIN never ran; the TLS session started over\n"
    );
    let m = s.metrics();
    assert!(
        m.contains("shardmail_starttls_discarded_total{shard=\"0\",protocol=\"imap\"} 1\n"),
        "{m}"
    );
    // Only the LOGIN sent over TLS was checked.
    assert_eq!(
        (
            auth_total(&s, "imap", "ok"),
            auth_total(&s, "imap", "failed")
        ),
        (1, 0)
    );
}

#[test]
fn openssl_s_client_starttls_imap_logs_in_and_fetches() {
    let s = server(2, "");
    let input =
        format!("a LOGIN {USER} secret\r\nb SELECT INBOX\r\nc FETCH 1 BODY[]\r\nd LOGOUT\r\n");
    let out = s_client(&s, "imap", s.imap, &input);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("a OK "), "{text}\n{err}");
    assert!(text.contains(&format!("Subject: {SUBJECT}")), "{text}");
    assert!(text.contains("d OK LOGOUT"), "{text}");
}

#[test]
fn curl_ssl_reqd_reads_the_message_and_without_tls_cannot_log_in() {
    let s = server(2, "");
    let out = curl(&s, "imap", s.imap, "INBOX;UID=1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("Subject: {SUBJECT}")),
        "curl: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without STARTTLS curl sees LOGINDISABLED and no AUTH=PLAIN: no way to send the password.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "-u", &format!("{USER}:secret")])
        .arg(format!("imap://{}/INBOX;UID=1", s.imap))
        .output()
        .expect("curl");
    assert!(!out.status.success(), "curl logged in without TLS");
    assert_eq!(auth_total(&s, "imap", "ok"), 1, "{}", s.metrics());
}
