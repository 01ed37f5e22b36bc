//! Authentication policy shared by IMAP, POP3 and SMTP (issue 12): whether plaintext credentials
//! may be used on a connection, and one login path that checks the per-address block, verifies the
//! password off the shard, counts failures across shards, logs and counts every outcome.
//!
//! Plaintext credentials (a password readable on the wire) are refused on a connection without TLS
//! unless the client is local or `[auth] allow_plaintext_auth` says otherwise: RFC 9051 11.1 (IMAP
//! servers "MUST NOT" accept LOGIN or AUTHENTICATE PLAIN without TLS unless configured to, and then
//! advertise LOGINDISABLED), RFC 2595 2.3 (POP3 and IMAP: plaintext only with TLS by default),
//! RFC 4954 4 (SMTP AUTH PLAIN needs a protected session). Loopback is local unless
//! `[auth] plaintext_auth_loopback = false` (how the tests play a remote client on 127.0.0.1).

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_lite::future;

use crate::config::AuthConfig;
use crate::metrics::ShardMetrics;
use crate::net::shutdown::Stage;
use crate::shard::ShardCtx;

/// The protocol a login comes from (logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Imap,
    Pop3,
    Smtp,
}

impl Proto {
    const ALL: [Proto; 3] = [Proto::Imap, Proto::Pop3, Proto::Smtp];

    pub fn name(self) -> &'static str {
        match self {
            Proto::Imap => "imap",
            Proto::Pop3 => "pop3",
            Proto::Smtp => "smtp",
        }
    }

    /// How log lines name it.
    pub fn label(self) -> &'static str {
        match self {
            Proto::Imap => "IMAP",
            Proto::Pop3 => "POP3",
            Proto::Smtp => "SMTP",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// May plaintext credentials be used on a connection from `peer` (TLS on or not)?
pub fn plaintext_allowed(cfg: &AuthConfig, peer: IpAddr, tls_active: bool) -> bool {
    tls_active || cfg.allow_plaintext_auth || (cfg.plaintext_auth_loopback && is_loopback(peer))
}

/// 127.0.0.0/8 and ::1, and IPv4 loopback seen on a dual-stack socket (`::ffff:127.x.y.z`).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// What a connection's session settings depend on: whether TLS is on, whether STARTTLS can be
/// offered, and whether the client may send a password without TLS. Shells keep one session
/// configuration per value ([`Link::ALL`], [`Link::index`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// TLS is on (an implicit-TLS port, or after STARTTLS).
    pub tls_active: bool,
    /// A certificate is configured: STARTTLS/STLS can be offered (while TLS is off).
    pub starttls: bool,
    /// [`plaintext_allowed`] for this client without TLS.
    pub plaintext_ok: bool,
}

impl Link {
    /// Every value, in [`Link::index`] order.
    pub const ALL: [Link; 8] = {
        let mut all = [Link {
            tls_active: false,
            starttls: false,
            plaintext_ok: false,
        }; 8];
        let mut i = 0;
        while i < 8 {
            all[i] = Link {
                tls_active: i & 4 != 0,
                starttls: i & 2 != 0,
                plaintext_ok: i & 1 != 0,
            };
            i += 1;
        }
        all
    };

    /// A connection from `peer`; `starttls`: a certificate is configured.
    pub fn new(cfg: &AuthConfig, peer: IpAddr, tls_active: bool, starttls: bool) -> Link {
        Link {
            tls_active,
            starttls,
            plaintext_ok: plaintext_allowed(cfg, peer, false),
        }
    }

    /// The same connection after STARTTLS.
    pub fn with_tls(self) -> Link {
        Link {
            tls_active: true,
            ..self
        }
    }

    pub fn index(self) -> usize {
        (usize::from(self.tls_active) << 2)
            | (usize::from(self.starttls) << 1)
            | usize::from(self.plaintext_ok)
    }
}

/// What a login came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right for this account (the canonical name).
    Ok { account: String },
    /// Wrong user or password; the per-address delay was already waited.
    Failed,
    /// The address is blocked after too many failures: nothing was verified.
    Blocked { retry_after: Duration },
}

/// Verifies `user`/`password` from `peer` for `proto`: refused at once while the address is blocked
/// (`[auth] block_after`), else checked on the verifier threads (never on the shard). A failure is
/// answered only after the address's growing delay (cut short by shutdown). Every outcome is logged
/// with the client address and counted in `shardmail_auth_total`.
pub async fn login(
    ctx: &ShardCtx,
    proto: Proto,
    peer: IpAddr,
    user: String,
    password: String,
) -> Verdict {
    let shared = &ctx.shared;
    let m = &ctx.metrics().auth;
    if let Err(b) = shared.login_delay.attempt(peer, Instant::now()) {
        m.blocked[proto.index()].fetch_add(1, Relaxed);
        tracing::warn!(
            ip = %peer,
            user = %Printable(&user),
            retry_after_s = b.retry_after.as_secs(),
            "{} login refused: too many failures from this address",
            proto.label()
        );
        return Verdict::Blocked {
            retry_after: b.retry_after,
        };
    }
    let t = Instant::now();
    let verdict = shared
        .verifier
        .verify(ctx.accounts(), user.clone(), password)
        .await;
    let verify_ms = t.elapsed().as_millis() as u64;
    match verdict {
        Some(account) => {
            shared.login_delay.succeeded(peer);
            m.ok[proto.index()].fetch_add(1, Relaxed);
            tracing::info!(ip = %peer, %account, verify_ms, "{} login", proto.label());
            Verdict::Ok { account }
        }
        None => {
            let failures = shared.login_delay.failure(peer, Instant::now());
            let delay = shared.login_delay.delay_for(failures);
            m.failed[proto.index()].fetch_add(1, Relaxed);
            tracing::warn!(
                ip = %peer,
                user = %Printable(&user),
                failures,
                delay_ms = delay.as_millis() as u64,
                "{} login failed",
                proto.label()
            );
            let shutdown = ctx.shutdown.clone();
            future::or(glommio::timer::sleep(delay), async move {
                shutdown.reached(Stage::Draining).await;
            })
            .await;
            Verdict::Failed
        }
    }
}

/// Counts plaintext credentials refused on a connection without TLS (the caller answered).
pub fn refused_plaintext(ctx: &ShardCtx, proto: Proto, peer: IpAddr) {
    ctx.metrics().auth.plaintext_refused[proto.index()].fetch_add(1, Relaxed);
    tracing::info!(
        ip = %peer,
        "{} plaintext authentication refused without TLS",
        proto.label()
    );
}

/// A name the client sent, for a log line: control characters escaped, so a name cannot forge log
/// lines (a CR LF in a SASL PLAIN user name), everything else as it is.
struct Printable<'a>(&'a str);

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Login outcomes of one shard, per protocol (indexed by [`Proto`]).
#[derive(Default)]
pub struct AuthMetrics {
    pub ok: [AtomicU64; 3],
    pub failed: [AtomicU64; 3],
    pub blocked: [AtomicU64; 3],
    pub plaintext_refused: [AtomicU64; 3],
    /// STARTTLS commands with plaintext pipelined behind them (discarded, `net::starttls`).
    pub starttls_discarded: [AtomicU64; 3],
}

/// Writes `shardmail_auth_total{shard,protocol,result}` for every shard.
pub fn render(out: &mut String, shards: &[ShardMetrics]) {
    let _ = writeln!(
        out,
        "# HELP shardmail_auth_total Logins by protocol and result (ok; failed: wrong user or password; blocked: refused after too many failures from the address; plaintext_refused: credentials without TLS where the policy forbids them).\n# TYPE shardmail_auth_total counter"
    );
    type Get = fn(&AuthMetrics) -> &[AtomicU64; 3];
    let results: [(&str, Get); 4] = [
        ("ok", |m| &m.ok),
        ("failed", |m| &m.failed),
        ("blocked", |m| &m.blocked),
        ("plaintext_refused", |m| &m.plaintext_refused),
    ];
    for (i, s) in shards.iter().enumerate() {
        for p in Proto::ALL {
            for (result, get) in &results {
                let v = get(&s.auth)[p.index()].load(Relaxed);
                let _ = writeln!(
                    out,
                    "shardmail_auth_total{{shard=\"{i}\",protocol=\"{}\",result=\"{result}\"}} {v}",
                    p.name()
                );
            }
        }
    }
    render_discarded(out, shards);
}

/// Writes `shardmail_starttls_discarded_total{shard,protocol}`.
fn render_discarded(out: &mut String, shards: &[ShardMetrics]) {
    let _ = writeln!(
        out,
        "# HELP shardmail_starttls_discarded_total STARTTLS/STLS commands with plaintext pipelined behind them, discarded unread (RFC 3207 4.2).\n# TYPE shardmail_starttls_discarded_total counter"
    );
    for (i, s) in shards.iter().enumerate() {
        for p in Proto::ALL {
            let v = s.auth.starttls_discarded[p.index()].load(Relaxed);
            let _ = writeln!(
                out,
                "shardmail_starttls_discarded_total{{shard=\"{i}\",protocol=\"{}\"}} {v}",
                p.name()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(allow: bool, loopback: bool) -> AuthConfig {
        AuthConfig {
            allow_plaintext_auth: allow,
            plaintext_auth_loopback: loopback,
            ..AuthConfig::default()
        }
    }

    #[test]
    fn plaintext_needs_tls_unless_local_or_allowed() {
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lo8: IpAddr = "127.3.2.1".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let d = AuthConfig::default();
        assert!(!plaintext_allowed(&d, remote, false));
        assert!(plaintext_allowed(&d, remote, true));
        for ip in [lo, lo8, lo6, mapped] {
            assert!(plaintext_allowed(&d, ip, false), "{ip} is local by default");
            assert!(
                !plaintext_allowed(&cfg(false, false), ip, false),
                "{ip} is remote when loopback does not count"
            );
            assert!(plaintext_allowed(&cfg(false, false), ip, true));
        }
        assert!(plaintext_allowed(&cfg(true, false), remote, false));
    }

    #[test]
    fn client_names_in_logs_cannot_break_lines() {
        assert_eq!(
            Printable("alice@example.test").to_string(),
            "alice@example.test"
        );
        assert_eq!(
            Printable("x\r\nFAKE login ok\u{1b}[0m é").to_string(),
            "x\\r\\nFAKE login ok\\u{1b}[0m é"
        );
    }

    #[test]
    fn every_link_has_its_own_index() {
        for (i, l) in Link::ALL.iter().enumerate() {
            assert_eq!(l.index(), i, "{l:?}");
        }
        let l = Link::ALL[3].with_tls();
        assert!(l.tls_active && l.starttls && l.plaintext_ok);
    }

    #[test]
    fn metrics_render_every_shard_protocol_and_result() {
        let shards: Vec<ShardMetrics> = (0..2).map(|_| ShardMetrics::default()).collect();
        shards[1].auth.blocked[Proto::Pop3.index()].fetch_add(3, Relaxed);
        let mut out = String::new();
        render(&mut out, &shards);
        assert!(
            out.contains(
                "shardmail_auth_total{shard=\"1\",protocol=\"pop3\",result=\"blocked\"} 3\n"
            ),
            "{out}"
        );
        assert_eq!(out.matches("shardmail_auth_total{").count(), 2 * 3 * 4);
    }
}
