//! The configuration: one TOML file, every key with a default, so `shardmail serve` runs with no file.
//!
//! Unknown keys and invalid values are rejected at start with the key's name and a reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use shardmail_storage::SyncPolicy;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: {reason}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        reason: String,
    },
}

/// The whole configuration, as read from TOML (or the defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where logs, snapshots and the accounts file live.
    pub data_dir: PathBuf,
    /// Number of shards; 0 means one per online CPU.
    pub shards: usize,
    /// Pin each shard's executor to one CPU.
    pub pin: bool,
    /// The name this server gives itself in greetings and trace headers.
    pub hostname: String,
    /// The account that receives mail for `postmaster@` every local domain and for `<Postmaster>`
    /// (RFC 5321 4.5.1) when no account or alias has that name. Unset: the first account of the
    /// domain in sorted order (for `<Postmaster>`, the first account of all).
    pub postmaster: Option<String>,
    pub storage: StorageConfig,
    pub smtp: SmtpListenerConfig,
    pub submission: SubmissionConfig,
    pub imap: ImapConfig,
    pub pop3: Pop3Config,
    pub metrics: MetricsConfig,
    pub shutdown: ShutdownConfig,
    pub auth: AuthConfig,
    /// Certificates (issue 12): without one, no STARTTLS is offered and no implicit-TLS port served.
    pub tls: TlsConfig,
    /// Implicit TLS listeners (RFC 8314 3.3): submission (like 465), IMAP (like 993), POP3 (like 995).
    pub smtps: ListenerConfig,
    pub imaps: ListenerConfig,
    pub pop3s: ListenerConfig,
}

/// `[tls]`: the default certificate, more chosen by SNI, and the handshake time limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain (end-entity first), e.g. `fullchain.pem`.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// More certificates, each served to clients that ask for one of its DNS names (SNI).
    pub certificates: Vec<CertificateConfig>,
    /// Seconds a TLS handshake may take (a client that stops mid-handshake is cut then).
    pub handshake_timeout: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            certificates: Vec::new(),
            handshake_timeout: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Segment size in bytes (default 256 MiB).
    pub segment_size: u64,
    /// `group` (default), `always`, or `none` (benchmarks only).
    pub sync: String,
    /// Each shard writes its snapshot after this many log records since its last one (0: off).
    pub snapshot_every_events: u64,
    /// ... or after this many seconds, if anything was written meanwhile (0: off).
    pub snapshot_every_seconds: u64,
    /// Seconds between background compaction rounds (0: no compaction).
    pub compact_interval: u64,
    /// A sealed segment is compacted when the share of its bytes that mailboxes still reference is
    /// below this (0.0 to 1.0).
    pub compact_min_live_share: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerConfig {
    pub listen: Vec<String>,
}

/// The message submission listener (RFC 6409, with AUTH per RFC 4954; issue 12). It runs the SMTP
/// session limits of `[smtp]`; clients must authenticate before MAIL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmissionConfig {
    pub listen: Vec<String>,
    /// Accounts that may use any MAIL FROM address; every other account only its own address or an
    /// alias of it (a mismatch is refused with 553 5.7.1).
    pub allow_any_sender: Vec<String>,
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        SubmissionConfig {
            listen: vec!["127.0.0.1:2587".into()],
            allow_any_sender: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: Vec<String>,
    /// Seconds one metrics request may take from connect to the end of the answer.
    pub timeout: u64,
    /// Metrics connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpListenerConfig {
    pub listen: Vec<String>,
    /// Longest command line in octets (RFC 5321 4.5.3.1.4: 512).
    pub max_line: usize,
    /// Largest message in bytes (default 50 MiB).
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// Protocol errors before the session is closed with 421.
    pub max_errors: usize,
    /// Seconds a whole command line may take to arrive, counted from when the server waits for it (bytes
    /// trickling in do not extend it).
    pub idle_timeout: u64,
    /// Longest silence, in seconds, inside a message transfer (DATA or BDAT).
    pub command_timeout: u64,
    /// Seconds a whole message transfer (DATA, or every BDAT chunk of one message) may take.
    pub transfer_timeout: u64,
    /// Seconds the client gets to take one batch of replies; a client that stops reading is cut off.
    pub write_timeout: u64,
    /// Bytes of message bodies one shard may hold in memory; over it, MAIL gets 452 4.3.1.
    pub inflight_budget: usize,
    pub max_connections_per_shard: usize,
    pub max_connections_per_ip: usize,
}

/// The IMAP listener and its sessions (RFC 9051; issue 10).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    pub listen: Vec<String>,
    /// Seconds a client that has not logged in may stay silent (RFC 9051 5.4 allows a shorter
    /// autologout before login).
    pub login_timeout: u64,
    /// Seconds a logged-in client may stay silent, IDLE included (RFC 9051 5.4 and RFC 2177: at
    /// least 30 minutes).
    pub idle_timeout: u64,
    /// Seconds the client gets to take one batch of responses.
    pub write_timeout: u64,
    /// Longest command line in octets, literals not counted.
    pub max_line: usize,
    /// Largest literal (an APPENDed message) in octets; at most what one log record holds
    /// (`storage.segment_size` less its headers).
    pub max_literal: usize,
    /// Malformed or refused commands in a row before `* BYE`.
    pub max_errors: usize,
    /// Milliseconds a failed login from an address is answered after; doubles with each further
    /// failure from that address, up to `login_delay_max_ms`.
    pub login_delay_ms: u64,
    pub login_delay_max_ms: u64,
    /// Threads that verify passwords (argon2id), off the shards.
    pub verify_threads: usize,
    /// Seconds a verified login (user name and password) is remembered, so the same login again
    /// needs no argon2id check (`net::auth_cache`; IMAP, POP3 and SMTP AUTH alike); 0 turns it off.
    /// Failures are never remembered; a password change takes effect at once.
    pub verify_cache_ttl: u64,
    /// Most logins remembered.
    pub verify_cache_size: usize,
    pub max_connections_per_shard: usize,
    pub max_connections_per_ip: usize,
}

/// The POP3 listener and its sessions (RFC 1939; issue 11).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pop3Config {
    pub listen: Vec<String>,
    /// Seconds a client may stay silent, before and after login (RFC 1939 3: an autologout timer
    /// "MUST be of at least 10 minutes' duration"; lower values are for tests). A session that times
    /// out deletes nothing (it never reaches UPDATE).
    pub idle_timeout: u64,
    /// Seconds the client gets to take one batch of responses (a RETR of a large message included:
    /// the limit is on each flush).
    pub write_timeout: u64,
    /// Longest command line in octets with its CRLF (RFC 2449 4 allows clients 255; an AUTH PLAIN
    /// response line, RFC 5034 4, can be longer).
    pub max_line: usize,
    /// LOGIN-DELAY (RFC 2449 6.8): seconds an account must wait after a login before the next one
    /// is accepted (`-ERR [LOGIN-DELAY]`, 8.1.1); advertised in CAPA. 0: no delay.
    pub login_delay: u64,
    pub max_connections_per_shard: usize,
    pub max_connections_per_ip: usize,
}

/// Authentication policy for every protocol (issue 12; `net::auth`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accept plaintext credentials (IMAP LOGIN and AUTHENTICATE PLAIN, POP3 USER/PASS and AUTH
    /// PLAIN, SMTP AUTH) on connections without TLS from any address. Off: only after STARTTLS, on
    /// an implicit-TLS port, or from a local client (RFC 9051 11.1, RFC 2595 2.3, RFC 4954 4).
    pub allow_plaintext_auth: bool,
    /// Loopback clients (127.0.0.0/8, ::1) count as local and may authenticate without TLS. Tests
    /// set it false to see what a remote client sees.
    pub plaintext_auth_loopback: bool,
    /// Failed logins in a row from one address (IPv6: its /64), counted across shards, after which
    /// the address is refused without a password check for `block_seconds`; 0: never.
    pub block_after: u64,
    pub block_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// Seconds sessions get to finish their transaction after SIGTERM/SIGINT.
    pub timeout: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./shardmail-data"),
            shards: 0,
            pin: true,
            hostname: "localhost".into(),
            postmaster: None,
            storage: StorageConfig::default(),
            smtp: SmtpListenerConfig::default(),
            submission: SubmissionConfig::default(),
            imap: ImapConfig::default(),
            pop3: Pop3Config::default(),
            metrics: MetricsConfig::default(),
            shutdown: ShutdownConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            smtps: ListenerConfig {
                listen: vec!["127.0.0.1:2465".into()],
            },
            imaps: ListenerConfig {
                listen: vec!["127.0.0.1:2993".into()],
            },
            pop3s: ListenerConfig {
                listen: vec!["127.0.0.1:2995".into()],
            },
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            allow_plaintext_auth: false,
            plaintext_auth_loopback: true,
            block_after: 10,
            block_seconds: 300,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            segment_size: 256 << 20,
            sync: "group".into(),
            snapshot_every_events: 200_000,
            snapshot_every_seconds: 300,
            compact_interval: 600,
            compact_min_live_share: 0.5,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: vec!["127.0.0.1:9025".into()],
            timeout: 10,
            max_connections: 16,
        }
    }
}

impl Default for SmtpListenerConfig {
    fn default() -> Self {
        SmtpListenerConfig {
            listen: vec!["127.0.0.1:2525".into()],
            max_line: 512,
            max_message_size: 50 << 20,
            max_recipients: 1000,
            max_errors: 10,
            idle_timeout: 300,
            command_timeout: 600,
            // 50 MiB at 30 KB/s; a sender slower than that retries later.
            transfer_timeout: 1800,
            write_timeout: 120,
            inflight_budget: 512 << 20,
            max_connections_per_shard: 10_000,
            max_connections_per_ip: 1_000,
        }
    }
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            listen: vec!["127.0.0.1:2143".into()],
            login_timeout: 60,
            idle_timeout: 1800,
            write_timeout: 120,
            // RFC 7162 4: clients should limit lines to 8192 octets; servers should take more.
            max_line: 64 << 10,
            max_literal: 50 << 20,
            max_errors: 10,
            login_delay_ms: 500,
            login_delay_max_ms: 15_000,
            verify_threads: 2,
            verify_cache_ttl: 600,
            verify_cache_size: 10_000,
            max_connections_per_shard: 10_000,
            max_connections_per_ip: 1_000,
        }
    }
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            listen: vec!["127.0.0.1:2110".into()],
            idle_timeout: 600,
            write_timeout: 120,
            max_line: 2048,
            login_delay: 0,
            max_connections_per_shard: 10_000,
            max_connections_per_ip: 1_000,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { timeout: 30 }
    }
}

impl Config {
    /// Reads and validates a config file; `None` gives the defaults (validated too).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            let c = Config::default();
            c.validate(Path::new("<defaults>"))?;
            return Ok(c);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses TOML text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        c.validate(path)?;
        Ok(c)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &'static str, reason: String| ConfigError::Invalid {
            path: path.into(),
            key,
            reason,
        };
        if self.shards > 1024 {
            return Err(bad("shards", format!("{} is more than 1024", self.shards)));
        }
        if self.hostname.is_empty() || self.hostname.contains(char::is_whitespace) {
            return Err(bad(
                "hostname",
                "must be a non-empty name without spaces".into(),
            ));
        }
        if let Some(p) = &self.postmaster {
            crate::accounts::normalize(p)
                .map_err(|e| bad("postmaster", format!("{e} (an account's address)")))?;
        }
        self.sync_policy()
            .map_err(|e| bad("storage.sync", e.to_string()))?;
        let share = self.storage.compact_min_live_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(bad(
                "storage.compact_min_live_share",
                format!("{share} is not between 0.0 and 1.0"),
            ));
        }
        let opts = self.log_options_unchecked();
        opts.validate()
            .map_err(|e| bad("storage.segment_size", e.to_string()))?;
        for (key, l) in [
            ("smtp.listen", &self.smtp.listen),
            ("submission.listen", &self.submission.listen),
            ("imap.listen", &self.imap.listen),
            ("pop3.listen", &self.pop3.listen),
            ("metrics.listen", &self.metrics.listen),
            ("smtps.listen", &self.smtps.listen),
            ("imaps.listen", &self.imaps.listen),
            ("pop3s.listen", &self.pop3s.listen),
        ] {
            for a in l {
                a.parse::<SocketAddr>()
                    .map_err(|e| bad(key, format!("{a:?} is not host:port ({e})")))?;
            }
        }
        for a in &self.submission.allow_any_sender {
            crate::accounts::normalize(a).map_err(|e| {
                bad(
                    "submission.allow_any_sender",
                    format!("{e} (an account's address)"),
                )
            })?;
        }
        let s = &self.smtp;
        if s.max_line < 512 {
            return Err(bad(
                "smtp.max_line",
                format!("{} is below the RFC 5321 minimum of 512", s.max_line),
            ));
        }
        if s.max_message_size < 1024 || s.max_message_size as u64 >= self.storage.segment_size {
            return Err(bad(
                "smtp.max_message_size",
                format!(
                    "{} must be at least 1024 and below storage.segment_size",
                    s.max_message_size
                ),
            ));
        }
        for (key, v) in [
            ("smtp.max_recipients", s.max_recipients),
            ("smtp.max_errors", s.max_errors),
            ("smtp.idle_timeout", s.idle_timeout as usize),
            ("smtp.command_timeout", s.command_timeout as usize),
            ("smtp.transfer_timeout", s.transfer_timeout as usize),
            ("smtp.write_timeout", s.write_timeout as usize),
            ("smtp.inflight_budget", s.inflight_budget),
            ("metrics.timeout", self.metrics.timeout as usize),
            ("tls.handshake_timeout", self.tls.handshake_timeout as usize),
            ("metrics.max_connections", self.metrics.max_connections),
            (
                "smtp.max_connections_per_shard",
                s.max_connections_per_shard,
            ),
            ("smtp.max_connections_per_ip", s.max_connections_per_ip),
            ("imap.login_timeout", self.imap.login_timeout as usize),
            ("imap.idle_timeout", self.imap.idle_timeout as usize),
            ("imap.write_timeout", self.imap.write_timeout as usize),
            ("imap.max_errors", self.imap.max_errors),
            ("imap.verify_threads", self.imap.verify_threads),
            (
                "imap.max_connections_per_shard",
                self.imap.max_connections_per_shard,
            ),
            (
                "imap.max_connections_per_ip",
                self.imap.max_connections_per_ip,
            ),
            ("pop3.idle_timeout", self.pop3.idle_timeout as usize),
            ("pop3.write_timeout", self.pop3.write_timeout as usize),
            (
                "pop3.max_connections_per_shard",
                self.pop3.max_connections_per_shard,
            ),
            (
                "pop3.max_connections_per_ip",
                self.pop3.max_connections_per_ip,
            ),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        let i = &self.imap;
        if i.max_line < 8192 {
            return Err(bad(
                "imap.max_line",
                format!("{} is below 8192 (RFC 7162 4)", i.max_line),
            ));
        }
        // Above what one log record holds, the IMAP shell lowers it (see `imap::conn::Settings`).
        if i.max_literal < 1024 {
            return Err(bad(
                "imap.max_literal",
                format!("{} is below 1024", i.max_literal),
            ));
        }
        if self.pop3.max_line < 255 {
            return Err(bad(
                "pop3.max_line",
                format!("{} is below 255 (RFC 2449 4)", self.pop3.max_line),
            ));
        }
        if self.auth.block_after > 0 && self.auth.block_seconds == 0 {
            return Err(bad(
                "auth.block_seconds",
                "must be at least 1 when auth.block_after is set".into(),
            ));
        }
        if i.login_delay_max_ms < i.login_delay_ms {
            return Err(bad(
                "imap.login_delay_max_ms",
                format!("{} is below imap.login_delay_ms", i.login_delay_max_ms),
            ));
        }
        Ok(())
    }

    pub fn sync_policy(&self) -> Result<SyncPolicy, shardmail_storage::Error> {
        self.storage.sync.parse()
    }

    fn log_options_unchecked(&self) -> shardmail_storage::LogOptions {
        shardmail_storage::LogOptions {
            segment_size: self.storage.segment_size,
            sync: self.sync_policy().unwrap_or_default(),
        }
    }

    /// The log options (validated at load).
    pub fn log_options(&self) -> shardmail_storage::LogOptions {
        self.log_options_unchecked()
    }

    /// The shard count to run: the configured one, or one per online CPU.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.smtp.idle_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("test.toml"))
    }

    #[test]
    fn defaults_are_valid_and_loopback() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.smtp.listen, vec!["127.0.0.1:2525"]);
        assert_eq!(c.submission.listen, vec!["127.0.0.1:2587"]);
        assert_eq!(c.imap.listen, vec!["127.0.0.1:2143"]);
        assert_eq!(c.pop3.listen, vec!["127.0.0.1:2110"]);
        assert_eq!(c.metrics.listen, vec!["127.0.0.1:9025"]);
        assert_eq!(c.data_dir, PathBuf::from("./shardmail-data"));
        assert_eq!(c.smtp.max_message_size, 50 << 20);
        assert_eq!(c.smtp.max_recipients, 1000);
        assert_eq!(parse("").unwrap().smtp.max_line, 512);
    }

    #[test]
    fn submission_senders_must_be_addresses() {
        let c = parse("[submission]\nallow_any_sender = [\"Boss@Example.test\"]\n").unwrap();
        assert_eq!(c.submission.allow_any_sender, ["Boss@Example.test"]);
        let e = parse("[submission]\nallow_any_sender = [\"boss\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("submission.allow_any_sender"), "{e}");
    }

    #[test]
    fn keys_override_defaults() {
        let c = parse("shards = 2\npin = false\n[smtp]\nlisten = [\"127.0.0.1:3525\", \"[::1]:3525\"]\n[storage]\nsync = \"always\"\n").unwrap();
        assert_eq!(c.shard_count(), 2);
        assert!(!c.pin);
        assert_eq!(c.smtp.listen.len(), 2);
        assert_eq!(c.sync_policy().unwrap(), SyncPolicy::Always);
        let c =
            parse("[storage]\nsnapshot_every_events = 10\nsnapshot_every_seconds = 0\n").unwrap();
        assert_eq!(c.storage.snapshot_every_events, 10);
        assert_eq!(c.storage.snapshot_every_seconds, 0);
        assert_eq!(Config::default().storage.snapshot_every_seconds, 300);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("[smtp]\nlisten = []\nmax_rcpts = 5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_rcpts"), "{e}");
        let e = parse("shard = 3\n").unwrap_err().to_string();
        assert!(e.contains("shard"), "{e}");
    }

    #[test]
    fn invalid_values_are_named_with_a_reason() {
        let e = parse("[smtp]\nlisten = [\"localhost\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("smtp.listen") && e.contains("host:port"), "{e}");
        let e = parse("[storage]\nsync = \"sometimes\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage.sync"), "{e}");
        let e = parse("[storage]\ncompact_min_live_share = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage.compact_min_live_share"), "{e}");
        let e = parse("[smtp]\nmax_line = 100\n").unwrap_err().to_string();
        assert!(e.contains("smtp.max_line"), "{e}");
        let e = parse("shards = \"two\"\n").unwrap_err().to_string();
        assert!(e.contains("shards"), "{e}");
        let e = parse("[smtp]\nmax_recipients = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("smtp.max_recipients"), "{e}");
        let e = parse("[imap]\nmax_line = 100\n").unwrap_err().to_string();
        assert!(e.contains("imap.max_line"), "{e}");
        let e = parse("[imap]\nlogin_delay_ms = 10\nlogin_delay_max_ms = 5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("imap.login_delay_max_ms"), "{e}");
        let e = parse("[imap]\nverify_threads = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("imap.verify_threads"), "{e}");
    }

    #[test]
    fn imap_defaults_follow_the_rfcs() {
        let c = parse("[imap]\nidle_timeout = 3600\n").unwrap();
        assert_eq!(c.imap.idle_timeout, 3600);
        assert_eq!(c.imap.listen, vec!["127.0.0.1:2143"]);
        let d = Config::default().imap;
        assert!(
            d.idle_timeout >= 30 * 60,
            "RFC 9051 5.4: at least 30 minutes"
        );
        assert!(d.login_timeout < d.idle_timeout);
        assert!(d.max_line >= 8192);
    }

    #[test]
    fn tls_is_off_by_default_and_implicit_ports_are_unprivileged() {
        let c = Config::default();
        assert!(c.tls.cert.is_none() && c.tls.certificates.is_empty());
        assert_eq!(c.smtps.listen, vec!["127.0.0.1:2465"]);
        assert_eq!(c.imaps.listen, vec!["127.0.0.1:2993"]);
        assert_eq!(c.pop3s.listen, vec!["127.0.0.1:2995"]);
        let c = parse(
            "[tls]\ncert = \"a.pem\"\nkey = \"a.key\"\nhandshake_timeout = 3\n\
             [[tls.certificates]]\ncert = \"b.pem\"\nkey = \"b.key\"\n[imaps]\nlisten = []\n",
        )
        .unwrap();
        assert_eq!(c.tls.cert, Some(PathBuf::from("a.pem")));
        assert_eq!(c.tls.certificates[0].key, PathBuf::from("b.key"));
        assert_eq!(c.tls.handshake_timeout, 3);
        assert!(c.imaps.listen.is_empty());
        let e = parse("[[tls.certificates]]\ncert = \"b.pem\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key"), "{e}");
        let e = parse("[tls]\nhandshake_timeout = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tls.handshake_timeout"), "{e}");
        let e = parse("[pop3s]\nlisten = [\"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pop3s.listen"), "{e}");
    }

    #[test]
    fn pop3_defaults_follow_the_rfcs() {
        let d = Config::default().pop3;
        assert!(d.idle_timeout >= 10 * 60, "RFC 1939 3: at least 10 minutes");
        assert!(d.max_line >= 255, "RFC 2449 4");
        let c = parse("[pop3]\nidle_timeout = 1200\nmax_line = 1000\n").unwrap();
        assert_eq!((c.pop3.idle_timeout, c.pop3.max_line), (1200, 1000));
        assert_eq!(c.pop3.listen, vec!["127.0.0.1:2110"]);
        let e = parse("[pop3]\nmax_line = 100\n").unwrap_err().to_string();
        assert!(e.contains("pop3.max_line"), "{e}");
        let e = parse("[pop3]\nidle_timeout = 0\n").unwrap_err().to_string();
        assert!(e.contains("pop3.idle_timeout"), "{e}");
        let e = parse("[pop3]\nlogin_timeout = 5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("login_timeout"), "{e}");
    }

    #[test]
    fn auth_policy_defaults_refuse_remote_plaintext_and_block_after_ten() {
        let d = Config::default().auth;
        assert!(!d.allow_plaintext_auth);
        assert!(d.plaintext_auth_loopback);
        assert_eq!((d.block_after, d.block_seconds), (10, 300));
        let c =
            parse("[auth]\nplaintext_auth_loopback = false\nblock_after = 3\nblock_seconds = 5\n")
                .unwrap();
        assert!(!c.auth.plaintext_auth_loopback);
        assert_eq!((c.auth.block_after, c.auth.block_seconds), (3, 5));
        let e = parse("[auth]\nblock_seconds = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth.block_seconds"), "{e}");
        assert!(parse("[auth]\nblock_after = 0\nblock_seconds = 0\n").is_ok());
        let e = parse("[auth]\nallow_plain = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("allow_plain"), "{e}");
    }
}
