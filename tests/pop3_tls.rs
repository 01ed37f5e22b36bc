//! POP3 STLS and the login policy end to end (issue 12, RFC 2595 4), against the built binary on
//! loopback with a `shardmail cert self-signed` certificate and real clients: Python's poplib,
//! `openssl s_client -starttls pop3`, `curl --ssl-reqd`, and a raw socket for the command-injection
//! attack. The server treats 127.0.0.1 as a remote client (`[auth] plaintext_auth_loopback =
//! false`).

mod common;

use common::login::{auth_total, curl, py, s_client, server, SUBJECT, USER};

#[test]
fn poplib_stls_then_login_retrieves_the_message_and_user_is_refused_before() {
    let s = server(2, "");
    let out = py(&s, "pop3_tls.py", s.pop3, &[USER, SUBJECT]);
    assert_eq!(
        out,
        "OK USER refused without TLS\nOK CAPA after STLS\nOK retrieved over TLS\n"
    );
    assert_eq!(
        auth_total(&s, "pop3", "plaintext_refused"),
        1,
        "{}",
        s.metrics()
    );
    assert_eq!(auth_total(&s, "pop3", "ok"), 1);
}

#[test]
fn commands_injected_behind_stls_are_discarded_not_run() {
    let s = server(1, "");
    let out = py(&s, "pop3_inject.py", s.pop3, &[USER]);
    assert_eq!(
        out,
        "OK handshake after the injected commands\n\
         OK injected commands never ran; the TLS session started over\n"
    );
    let m = s.metrics();
    assert!(
        m.contains("shardmail_starttls_discarded_total{shard=\"0\",protocol=\"pop3\"} 1\n"),
        "{m}"
    );
    assert_eq!(
        (
            auth_total(&s, "pop3", "ok"),
            auth_total(&s, "pop3", "failed")
        ),
        (1, 0)
    );
    assert_eq!(
        s.ls(USER, "INBOX").len(),
        1,
        "the injected DELE did not run"
    );
}

#[test]
fn openssl_s_client_starttls_pop3_logs_in_and_retrieves() {
    let s = server(2, "");
    let input = format!("USER {USER}\r\nPASS secret\r\nRETR 1\r\nQUIT\r\n");
    let out = s_client(&s, "pop3", s.pop3, &input);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("+OK Maildrop has 1 messages"),
        "{text}\n{err}"
    );
    assert!(text.contains(&format!("Subject: {SUBJECT}")), "{text}");
    assert!(text.contains("signing off"), "{text}");
}

#[test]
fn curl_ssl_reqd_retrieves_the_message_over_stls() {
    let s = server(2, "");
    let out = curl(&s, "pop3", s.pop3, "1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("Subject: {SUBJECT}")),
        "curl: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(auth_total(&s, "pop3", "ok"), 1, "{}", s.metrics());
}
