//! The authentication policy end to end on plaintext connections (issue 12): what a client the
//! policy does not trust with passwords (`[auth] plaintext_auth_loopback = false`: 127.0.0.1 plays a
//! remote client) is offered and refused on IMAP and POP3, and the temporary block after failed
//! logins, counted per address across shards and protocols. Real clients: Python's imaplib and
//! poplib, and raw sockets that pick the shard they land on.

mod common;

use common::login::{auth_total, USER};
use common::Server;

#[test]
fn without_tls_a_remote_client_is_offered_no_plaintext_login_and_refused() {
    let s = Server::with_accounts(&[USER], "[auth]\nplaintext_auth_loopback = false\n", 2);
    let (imap, pop3) = (s.imap.to_string(), s.pop3.to_string());
    let out = s.python("auth_plaintext.py", &[&imap, &pop3, USER]);
    assert_eq!(
        out,
        "OK IMAP advertises LOGINDISABLED and refuses LOGIN and AUTHENTICATE\n\
         OK POP3 advertises no USER or SASL and refuses USER and AUTH PLAIN\n"
    );
    assert_eq!(
        auth_total(&s, "imap", "plaintext_refused"),
        2,
        "{}",
        s.metrics()
    );
    assert_eq!(
        auth_total(&s, "pop3", "plaintext_refused"),
        2,
        "{}",
        s.metrics()
    );
    assert_eq!(
        auth_total(&s, "imap", "ok") + auth_total(&s, "pop3", "ok"),
        0
    );
    assert!(
        s.log()
            .contains("plaintext authentication refused without TLS"),
        "{}",
        s.log()
    );
}

#[test]
fn loopback_is_local_by_default_and_allow_plaintext_auth_opens_it_to_all() {
    for extra in [
        "",
        "[auth]\nplaintext_auth_loopback = false\nallow_plaintext_auth = true\n",
    ] {
        let s = Server::with_accounts(&[USER], extra, 1);
        let (imap, pop3) = (s.imap.to_string(), s.pop3.to_string());
        let out = s.python("auth_plaintext.py", &[&imap, &pop3, USER, "allowed"]);
        assert_eq!(
            out, "OK IMAP LOGIN without TLS\nOK POP3 USER/PASS without TLS\n",
            "{extra}"
        );
        assert_eq!(
            auth_total(&s, "imap", "ok") + auth_total(&s, "pop3", "ok"),
            2,
            "{extra}"
        );
    }
}

#[test]
fn failed_logins_block_the_address_across_shards_and_protocols_for_a_while() {
    let extra = "[auth]\nblock_after = 3\nblock_seconds = 2\n\
                 imap.login_delay_ms = 10\nimap.login_delay_max_ms = 20\n";
    let s = Server::with_accounts(&[USER], extra, 2);
    let (imap, pop3, metrics) = (
        s.imap.to_string(),
        s.pop3.to_string(),
        s.metrics.to_string(),
    );
    let out = s.python("auth_block.py", &[&imap, &pop3, &metrics, USER, "2"]);
    assert_eq!(
        out,
        "OK three failures on two shards and two protocols\n\
         OK blocked everywhere, the right password included\nOK the block ends\n"
    );
    let m = s.metrics();
    for (proto, result, shard) in [
        ("imap", "failed", 0),
        ("imap", "failed", 1),
        ("pop3", "failed", 0),
        ("imap", "blocked", 1),
        ("pop3", "blocked", 1),
        ("imap", "ok", 0),
    ] {
        let line =
            format!("shardmail_auth_total{{shard=\"{shard}\",protocol=\"{proto}\",result=\"{result}\"}} 1\n");
        assert!(m.contains(&line), "{line}in\n{m}");
    }
    assert_eq!(
        auth_total(&s, "imap", "failed") + auth_total(&s, "pop3", "failed"),
        3
    );
    let log = s.log();
    assert!(
        log.contains("login refused: too many failures from this address"),
        "{log}"
    );
    assert!(
        log.contains("login failed") && log.contains("127.0.0.1"),
        "{log}"
    );
}

/// A busy client (or many users behind one NAT) opening many sessions at once with the right
/// password is never blocked, however many of its logins are in flight together: only failures
/// make the address blockable. Every login pays argon2id here (no login cache), so a dozen wait on
/// the verifier threads at the same time, far past `block_after`.
#[test]
fn many_right_logins_at_once_from_one_address_are_not_blocked() {
    let s = Server::with_accounts(
        &[USER],
        "imap.verify_cache_ttl = 0\n[auth]\nblock_after = 2\n",
        2,
    );
    let addr = s.imap;
    let answers: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..12)
            .map(|_| {
                sc.spawn(move || {
                    let mut c = common::LineClient::connect(
                        addr,
                        std::time::Duration::from_secs(60),
                        "* OK",
                    );
                    c.send(format!("a LOGIN {USER} secret\r\n").as_bytes());
                    loop {
                        let l = c.line();
                        if l.is_empty() || l.starts_with("a ") {
                            return l;
                        }
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for a in &answers {
        assert!(a.starts_with("a OK"), "{answers:?}");
    }
    assert_eq!(auth_total(&s, "imap", "ok"), 12, "{}", s.metrics());
    assert_eq!(auth_total(&s, "imap", "blocked"), 0, "{}", s.metrics());
}
