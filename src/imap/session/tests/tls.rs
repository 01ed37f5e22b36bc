//! STARTTLS and the plaintext-login policy (RFC 9051 6.2.1, 6.2.3, 11.1; issue 12): what a client
//! without TLS is offered and refused, and that nothing said before STARTTLS survives it.

use super::super::{Config, Flow};
use super::*;

/// A plaintext connection from a client the policy does not trust with passwords, TLS on offer.
fn remote_plain() -> Config {
    Config {
        plaintext_login: false,
        starttls: true,
        ..Config::default()
    }
}

/// The same listener once TLS is up.
fn over_tls() -> Config {
    Config {
        tls_active: true,
        starttls: false,
        ..remote_plain()
    }
}

fn login(tag: &'static str) -> Tagged<'static> {
    t(
        tag,
        Command::Login {
            user: name(USER),
            password: name("secret"),
        },
    )
}

#[test]
fn without_tls_passwords_are_refused_and_after_starttls_they_are_taken() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = Client::new(&store, remote_plain());
        assert!(
            c.greeting.contains(" SASL-IR STARTTLS LOGINDISABLED]"),
            "{}",
            c.greeting
        );
        assert!(!c.greeting.contains("AUTH=PLAIN"), "{}", c.greeting);
        assert_eq!(
            c.run(login("a")).await,
            "a NO [PRIVACYREQUIRED] LOGIN needs TLS (LOGINDISABLED)\r\n"
        );
        assert!(c.s.take_refused_plaintext(), "the shell is told once");
        assert!(!c.s.take_refused_plaintext());
        let plain = t(
            "b",
            Command::Authenticate {
                mechanism: "PLAIN",
                initial: Some(&b"AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ="[..]),
            },
        );
        assert_eq!(
            c.run(plain).await,
            "b NO [PRIVACYREQUIRED] AUTHENTICATE PLAIN needs TLS\r\n"
        );
        assert!(c.s.take_refused_plaintext());
        let mut out = Vec::new();
        let flow = c.s.handle(t("e", Command::StartTls), NOW, &mut out).await;
        assert_eq!(flow, Flow::StartTls);
        assert_eq!(out, b"e OK Begin TLS negotiation now\r\n");

        // TLS is up: a new session, silent until asked (no second greeting).
        c.s = Session::after_starttls(Arc::new(over_tls()));
        let caps = c.run(t("f", Command::Capability)).await;
        assert!(caps.contains(" AUTH=PLAIN\r\n"), "{caps}");
        assert!(!caps.contains("STARTTLS"), "{caps}");
        assert!(!caps.contains("LOGINDISABLED"), "{caps}");
        assert_eq!(
            c.run(t("i", Command::StartTls)).await,
            "i BAD STARTTLS is not available\r\n",
            "no STARTTLS inside TLS"
        );
        let r = c.run(login("j")).await;
        assert!(r.starts_with("j OK [CAPABILITY "), "{r}");
        assert!(!c.s.take_refused_plaintext());
    });
}

#[test]
fn starttls_is_refused_when_not_offered_and_after_login() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = Client::new(&store, Config::default());
        assert!(!c.greeting.contains("STARTTLS"), "{}", c.greeting);
        assert_eq!(
            c.run(t("a", Command::StartTls)).await,
            "a BAD STARTTLS is not available\r\n"
        );
        let mut c = Client::new(&store, remote_plain());
        let mut cfg = remote_plain();
        cfg.plaintext_login = true;
        c.s = Session::after_starttls(Arc::new(cfg));
        let r = c.run(login("b")).await;
        assert!(r.starts_with("b OK "), "{r}");
        assert_eq!(
            c.run(t("c", Command::StartTls)).await,
            "c BAD STARTTLS is not available\r\n",
            "RFC 9051 6.2.1: not in the authenticated state"
        );
    });
}

#[test]
fn a_blocked_address_gets_unavailable_and_may_log_in_later() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = Client::new(&store, over_tls());
        let mut out = Vec::new();
        let flow = c.s.handle(login("a"), NOW, &mut out).await;
        assert!(matches!(flow, Flow::Login(_)), "{flow:?}");
        assert_eq!(c.s.login_blocked(&mut out), Flow::Ready);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "a NO [UNAVAILABLE] Too many failed logins from your address, try again later\r\n"
        );
        assert!(c.s.user().is_none());
        let r = c.run(login("b")).await;
        assert!(r.starts_with("b OK [CAPABILITY "), "{r}");
    });
}
