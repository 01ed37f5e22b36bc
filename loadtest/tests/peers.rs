//! The load generator against real servers written by others: the private Postfix and Dovecot of
//! `loadtest/peers` (setup.sh, start.sh). Every client (SMTP, POP3, IMAP fetch-all/headers/store/append,
//! IMAP IDLE) runs against them, and its counts must equal what the servers stored: messages in the
//! Maildirs. The test is `#[ignore]`d with its reason, so a plain `cargo test` lists it as ignored
//! (not as a pass); `.ci/run` runs it with `--ignored` after starting the peers, and it fails loudly if
//! run without them. Uses users 60..69 (TLS) and 80..99 only, so that the two tests, which run at once,
//! count their own deliveries, and runs of bench.sh's mailbox rows (users 0..59) are left alone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;
use common::loadtest;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

struct Peers {
    mail: PathBuf,
    smtp: String,
    imap: String,
    pop3: String,
    smtps: String,
    imaps: String,
    pop3s: String,
    /// The certificate every peer presents (its own CA).
    ca: String,
    domain: String,
    password: String,
}

impl Peers {
    fn from_env() -> Peers {
        // Selected with --ignored: without the peers this must fail, not pass in 0.00 s.
        assert_eq!(
            std::env::var("LOADTEST_PEERS").as_deref(),
            Ok("1"),
            "LOADTEST_PEERS=1 is not set: run loadtest/peers/setup.sh and start.sh first"
        );
        Peers {
            mail: PathBuf::from(env("PEERS_DIR", "/tmp/shardmail-peers")).join("mail"),
            smtp: format!("127.0.0.1:{}", env("POSTFIX_SMTP_PORT", "3525")),
            imap: format!("127.0.0.1:{}", env("DOVECOT_IMAP_PORT", "3143")),
            pop3: format!("127.0.0.1:{}", env("DOVECOT_POP3_PORT", "3110")),
            smtps: format!("127.0.0.1:{}", env("POSTFIX_SMTPS_PORT", "3465")),
            imaps: format!("127.0.0.1:{}", env("DOVECOT_IMAPS_PORT", "3993")),
            pop3s: format!("127.0.0.1:{}", env("DOVECOT_POP3S_PORT", "3995")),
            ca: env(
                "PEERS_TLS_DIR",
                &format!("{}/tls", env("PEERS_DIR", "/tmp/shardmail-peers")),
            ) + "/cert.pem",
            domain: env("BENCH_DOMAIN", "bench.test"),
            password: env("BENCH_PASSWORD", "benchpass"),
        }
    }

    fn users(&self, from: u32, to: u32) -> String {
        format!("user{{{from}..{to}}}@{}", self.domain)
    }

    /// `loadtest imap` against Dovecot as users from..=to, bounded by `messages` operations.
    fn imap(
        &self,
        from: u32,
        to: u32,
        connections: u32,
        messages: u32,
        scenario: &str,
        more: &[&str],
    ) -> serde_json::Value {
        let users = self.users(from, to);
        let (connections, messages) = (connections.to_string(), messages.to_string());
        let mut args = vec![
            "imap",
            "--target",
            &self.imap,
            "--connections",
            &connections,
            "--messages",
            &messages,
            "--user-pattern",
            &users,
            "--password",
            &self.password,
            "--scenario",
            scenario,
        ];
        args.extend_from_slice(more);
        let (out, v, _) = loadtest(&args);
        ok(&out, &v);
        v
    }

    /// Messages in the Maildirs of users from..=to (new/ and cur/).
    fn stored(&self, from: u32, to: u32) -> u64 {
        (from..=to)
            .flat_map(|u| ["new", "cur"].map(|d| self.mail.join(format!("user{u}")).join(d)))
            .map(|d| match std::fs::read_dir(&d) {
                Ok(entries) => entries.count() as u64,
                // Dovecot makes a Maildir at its first delivery.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => panic!(
                    "reading {}: {e} (the Maildirs are the mail user's)",
                    d.display()
                ),
            })
            .sum()
    }

    /// Waits until users from..=to hold `want` messages (Postfix delivers after its 250).
    fn wait_stored(&self, from: u32, to: u32, want: u64) -> u64 {
        let t = Instant::now();
        loop {
            let n = self.stored(from, to);
            if n >= want || t.elapsed() > Duration::from_secs(60) {
                return n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn ok(out: &std::process::Output, v: &serde_json::Value) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["errors_total"], 0, "{v}");
    assert_eq!(v["connections_failed"], 0, "{v}");
}

#[test]
#[ignore = "needs the Postfix/Dovecot peers: loadtest/peers/setup.sh && loadtest/peers/start.sh, then LOADTEST_PEERS=1 cargo test -p shardmail-loadtest --test peers -- --ignored (.ci/run does this)"]
fn every_client_against_postfix_and_dovecot() {
    let p = Peers::from_env();

    // SMTP into Postfix, delivered over LMTP into Dovecot's Maildirs.
    let before = p.stored(90, 99);
    let (out, v, _) = loadtest(&[
        "smtp",
        "--target",
        &p.smtp,
        "--connections",
        "4",
        "--messages",
        "60",
        "--size",
        "8k",
        "--to",
        &p.users(90, 99),
    ]);
    ok(&out, &v);
    assert_eq!(v["ops"], 60, "{v}");
    let after = p.wait_stored(90, 99, before + 60);
    assert_eq!(
        after,
        before + 60,
        "Postfix acknowledged 60, Dovecot stored {}",
        after - before
    );

    // POP3: every stored message retrieved once (the count bounds the run).
    let (out, v, _) = loadtest(&[
        "pop3",
        "--target",
        &p.pop3,
        "--connections",
        "10",
        "--messages",
        &after.to_string(),
        "--user-pattern",
        &p.users(90, 99),
        "--password",
        &p.password,
    ]);
    ok(&out, &v);
    assert_eq!(v["ops"], after, "{v}");
    assert!(v["mb_per_s"].as_f64().unwrap() > 0.0, "{v}");

    // IMAP: whole mailboxes, then what a client fetches on open, then flags and appends.
    for scenario in ["fetch-all", "headers"] {
        let v = p.imap(90, 99, 5, 20, scenario, &[]);
        assert_eq!(v["ops"], 20, "{scenario}: {v}");
    }
    let before = p.stored(90, 99);
    let v = p.imap(90, 99, 5, 30, "append", &[]);
    assert_eq!(v["ops"], 30, "{v}");
    assert_eq!(p.stored(90, 99), before + 30, "every APPEND stored");
    let v = p.imap(90, 99, 5, 40, "store:3,headers:1", &[]);
    assert_eq!(v["ops"], 40, "{v}");

    // IDLE: every message Postfix accepts for a watched user is announced to its watcher.
    let before = p.stored(80, 89);
    let v = p.imap(
        80,
        89,
        10,
        30,
        "idle",
        &["--smtp-target", &p.smtp, "--rate", "20"],
    );
    assert_eq!(v["ops"], 30, "{v}");
    assert!(v["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(p.wait_stored(80, 89, before + 30), before + 30);
}

#[test]
#[ignore = "needs the Postfix/Dovecot peers: loadtest/peers/setup.sh && loadtest/peers/start.sh, then LOADTEST_PEERS=1 cargo test -p shardmail-loadtest --test peers -- --ignored (.ci/run does this)"]
fn tls_clients_against_postfix_and_dovecot() {
    let p = Peers::from_env();
    // The peers' certificate verified as its own CA, under the name it was made for.
    let tls = |mode: &'static str| [mode, "--ca", p.ca.as_str(), "--server-name", "localhost"];

    // SMTP with STARTTLS on Postfix's MX port and with implicit TLS on its smtps port: every message
    // acknowledged is delivered.
    for (target, mode) in [(&p.smtp, "--starttls"), (&p.smtps, "--tls")] {
        let before = p.stored(60, 69);
        let mut args = vec![
            "smtp",
            "--target",
            target,
            "--connections",
            "4",
            "--messages",
            "40",
            "--size",
            "8k",
            "--to",
        ];
        let to = p.users(60, 69);
        args.push(&to);
        args.extend_from_slice(&tls(mode));
        let (out, v, _) = loadtest(&args);
        ok(&out, &v);
        assert_eq!(v["ops"], 40, "{mode}: {v}");
        assert_eq!(p.wait_stored(60, 69, before + 40), before + 40, "{mode}");
    }

    // POP3 over pop3s and STLS; IMAP over imaps and STARTTLS.
    let users = p.users(60, 69);
    for (target, mode) in [(&p.pop3s, "--tls"), (&p.pop3, "--starttls")] {
        let mut args = vec![
            "pop3",
            "--target",
            target,
            "--connections",
            "5",
            "--messages",
            "30",
            "--user-pattern",
            &users,
            "--password",
            &p.password,
        ];
        args.extend_from_slice(&tls(mode));
        let (out, v, _) = loadtest(&args);
        ok(&out, &v);
        assert_eq!(v["ops"], 30, "pop3 {mode}: {v}");
    }
    for (target, mode, scenario) in [
        (&p.imaps, "--tls", "fetch-all"),
        (&p.imap, "--starttls", "headers"),
    ] {
        let mut args = vec![
            "imap",
            "--target",
            target,
            "--connections",
            "5",
            "--messages",
            "20",
            "--user-pattern",
            &users,
            "--password",
            &p.password,
            "--scenario",
            scenario,
        ];
        args.extend_from_slice(&tls(mode));
        let (out, v, _) = loadtest(&args);
        ok(&out, &v);
        assert_eq!(v["ops"], 20, "imap {mode}: {v}");
    }

    // Handshake storms, short: each operation a new connection with a full handshake.
    for (target, proto, mode) in [
        (&p.smtps, "smtp", "--tls"),
        (&p.smtp, "smtp", "--starttls"),
        (&p.imaps, "imap", "--tls"),
        (&p.imap, "imap", "--starttls"),
        (&p.pop3s, "pop3", "--tls"),
        (&p.pop3, "pop3", "--starttls"),
    ] {
        let mut args = vec![
            "handshake",
            "--proto",
            proto,
            "--target",
            target,
            "--connections",
            "4",
            "--messages",
            "40",
        ];
        args.extend_from_slice(&tls(mode));
        let (out, v, _) = loadtest(&args);
        ok(&out, &v);
        assert_eq!(v["ops"], 40, "{proto} {mode}: {v}");
    }
}
