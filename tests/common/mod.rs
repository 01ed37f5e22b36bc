//! Starts and stops the real `shardmail` binary on loopback with a private data directory, and runs the
//! real clients (Python's smtplib, swaks) against it. Every end-to-end test uses this; no copied setup.

#![allow(dead_code)]

pub mod login;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_shardmail");

/// A free loopback port for a server to bind right after.
///
/// Not `bind(0)`: the kernel may hand the same ephemeral port to two calls close together, and the
/// server binds with SO_REUSEPORT, so two servers started at once could share a port (a client once
/// got another server's greeting). Ports come from below the ephemeral range (so no client socket
/// holds them), each at most once per process, starting at an offset from the pid so concurrent test
/// processes take different runs; a port is skipped unless a plain bind (no SO_REUSEPORT, which a
/// running server's socket has) succeeds on it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000; // 20000..32000; Linux's ephemeral range starts at 32768
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let start = (std::process::id().wrapping_mul(2_654_435_761) >> 8) % SPAN;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + n % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000")
}

/// A raw line-oriented client (IMAP and POP3 transcripts, bad input no real client sends).
pub struct LineClient {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl LineClient {
    /// Connects and reads the greeting, which must start with `greeting`.
    pub fn connect(addr: SocketAddr, timeout: Duration, greeting: &str) -> LineClient {
        let c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(timeout)).unwrap();
        let mut l = LineClient {
            r: BufReader::new(c.try_clone().unwrap()),
            w: c,
        };
        let g = l.line();
        assert!(g.starts_with(greeting), "{g}");
        l
    }

    pub fn send(&mut self, b: &[u8]) {
        self.w.write_all(b).unwrap();
    }

    /// One line with its CRLF ("" at EOF).
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        let _ = self.r.read_line(&mut l);
        l
    }
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub smtp: SocketAddr,
    pub submission: SocketAddr,
    pub imap: SocketAddr,
    pub pop3: SocketAddr,
    pub metrics: SocketAddr,
    /// Implicit-TLS ports (served only when `tls`).
    pub smtps: SocketAddr,
    pub imaps: SocketAddr,
    pub pop3s: SocketAddr,
    /// A `[tls]` table naming cert.pem and key.pem in the server's directory ([`Server::new_tls`]).
    pub tls: bool,
    pub child: Option<Child>,
    pub extra_config: String,
}

impl Server {
    /// A server configuration in a fresh directory (not started). `extra` is appended to the TOML.
    pub fn new(extra: &str) -> Server {
        let dir = tempfile::tempdir().expect("a temp dir");
        let smtp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let imap: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let pop3: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let submission: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let port = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
        let s = Server {
            dir,
            smtp,
            submission,
            imap,
            pop3,
            metrics,
            smtps: port(),
            imaps: port(),
            pop3s: port(),
            tls: false,
            child: None,
            extra_config: extra.to_string(),
        };
        s.write_config();
        s
    }

    /// A server with TLS: `shardmail cert self-signed --host mx.example.test` writes cert.pem and
    /// key.pem into its directory and `[tls]` names them (`tls.KEY = v` lines in `extra` go there).
    pub fn new_tls(extra: &str) -> Server {
        let mut s = Server::new(extra);
        let o = s.cli(&["cert", "self-signed", "--host", "mx.example.test"]);
        assert!(
            o.status.success(),
            "cert self-signed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        s.tls = true;
        s.write_config();
        s
    }

    fn write_config(&self) {
        // Listeners not under test are moved to free ports so parallel tests never collide.
        let cfg = format!(
            "data_dir = \"data\"\npin = false\nhostname = \"mx.example.test\"\n{}\n[smtp]\nlisten = [\"{}\"]\n\
[submission]\nlisten = [\"{}\"]\n[imap]\nlisten = [\"{}\"]\n[pop3]\nlisten = [\"{}\"]\n\
[metrics]\nlisten = [\"{}\"]\n",
            self.extra_top(),
            self.smtp,
            self.submission,
            self.imap,
            self.pop3,
            self.metrics
        );
        let cfg = cfg.replace(
            "[smtp]\n",
            &format!("[smtp]\n{}", self.extra_table("smtp.")),
        );
        let cfg = cfg.replace(
            "[submission]\n",
            &format!("[submission]\n{}", self.extra_table("submission.")),
        );
        let cfg = cfg.replace(
            "[imap]\n",
            &format!("[imap]\n{}", self.extra_table("imap.")),
        );
        let cfg = cfg.replace(
            "[pop3]\n",
            &format!("[pop3]\n{}", self.extra_table("pop3.")),
        );
        let cfg = cfg.replace(
            "[metrics]\n",
            &format!("[metrics]\n{}", self.extra_table("metrics.")),
        );
        // Implicit-TLS listeners on free ports too (the defaults would collide between tests).
        let mut cfg = format!(
            "{cfg}[smtps]\nlisten = [\"{}\"]\n[imaps]\nlisten = [\"{}\"]\n[pop3s]\nlisten = [\"{}\"]\n",
            self.smtps, self.imaps, self.pop3s
        );
        if self.tls {
            cfg.push_str("[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n");
            cfg.push_str(&self.extra_table("tls."));
        }
        std::fs::write(self.path("shardmail.toml"), cfg).unwrap();
    }

    /// Lines of `extra_config` before any table header go at the top; `smtp.KEY = v` lines into [smtp],
    /// `submission.KEY = v` into [submission], `imap.KEY = v` into [imap], `pop3.KEY = v` into [pop3],
    /// `metrics.KEY = v` lines into [metrics] (tables this file writes itself).
    fn extra_top(&self) -> String {
        self.extra_config
            .lines()
            .filter(|l| {
                !["smtp.", "submission.", "imap.", "pop3.", "metrics.", "tls."]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn extra_table(&self, prefix: &str) -> String {
        self.extra_config
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs the CLI in the server's directory with its config.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .current_dir(self.dir.path())
            .arg("--config")
            .arg("shardmail.toml")
            .args(args)
            .output()
            .expect("running shardmail")
    }

    /// A started server with `shards` shards and the given accounts (password "secret").
    pub fn with_accounts(accounts: &[&str], extra: &str, shards: usize) -> Server {
        let mut s = Server::new(extra);
        for a in accounts {
            s.add_account(a);
        }
        s.start(shards);
        s
    }

    pub fn add_account(&self, address: &str) {
        let o = self.cli(&["account", "add", address, "--password", "secret"]);
        assert!(
            o.status.success(),
            "account add {address}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Starts the server with `shards` shards and waits until SMTP answers.
    pub fn start(&mut self, shards: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("server.log"))
            .unwrap();
        self.start_with(shards, Stdio::from(log), &[]);
    }

    /// Starts the server with its stderr going to `stderr` and extra environment variables.
    pub fn start_with(&mut self, shards: usize, stderr: Stdio, env: &[(&str, &str)]) {
        assert!(self.child.is_none());
        let child = Command::new(BIN)
            .current_dir(self.dir.path())
            .args([
                "--config",
                "shardmail.toml",
                "serve",
                "--shards",
                &shards.to_string(),
            ])
            .env("SHARDMAIL_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("starting shardmail");
        self.child = Some(child);
        let t = Instant::now();
        // Ready means SMTP greets and the metrics endpoint answers (SMTP can answer from a shard before
        // shard 0 has bound metrics, and tests read metrics right after a start). SMTP is probed until
        // its first greeting only: tests count connections, and the probe must be exactly one of them.
        // A connection reset before any greeting is not the new server: after a kill -9 the dead
        // process's io_uring is torn down asynchronously and its listener can accept, then reset, for a
        // moment after the process is reaped.
        let mut smtp_ready = false;
        loop {
            if !smtp_ready {
                if let Ok(mut s) = TcpStream::connect(self.smtp) {
                    let mut greet = [0u8; 3];
                    if s.read_exact(&mut greet).is_ok() {
                        let _ = s.write_all(b"QUIT\r\n");
                        assert_eq!(
                            &greet,
                            b"220",
                            "the first SMTP greeting is not 220:\n{}",
                            self.log()
                        );
                        smtp_ready = true;
                    }
                }
            }
            if smtp_ready && self.metrics_answer() {
                return;
            }
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().ok().flatten()) {
                panic!("server exited at start ({status}):\n{}", self.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "server did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if t.elapsed() > Duration::from_secs(60) {
                let _ = c.kill();
                panic!("server did not stop on SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn sigterm(&self) {
        if let Some(c) = &self.child {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
    }

    /// Runs a Python client script from tests/py with arguments; returns its output (asserting success).
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        self.python_at(self.smtp, script, args)
    }

    pub fn python_raw(&self, script: &str, args: &[&str]) -> Output {
        self.python_raw_at(self.smtp, script, args)
    }

    /// Like [`Server::python`], with `addr` (another listener) as the script's first argument.
    pub fn python_at(&self, addr: SocketAddr, script: &str, args: &[&str]) -> String {
        let o = self.python_raw_at(addr, script, args);
        assert!(
            o.status.success(),
            "{script} failed:\nstdout:\n{}\nstderr:\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn python_raw_at(&self, addr: SocketAddr, script: &str, args: &[&str]) -> Output {
        Command::new("python3")
            .arg(py(script))
            .arg(addr.to_string())
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("running python3")
    }

    /// Waits until `account`'s INBOX holds `n` messages (filing on another shard follows the 250).
    pub fn wait_inbox(&self, account: &str, n: usize) -> Vec<(u32, u64, String)> {
        let t = Instant::now();
        loop {
            let rows = if self.ls_err(account) {
                Vec::new()
            } else {
                self.ls(account, "INBOX")
            };
            if rows.len() >= n || t.elapsed() > Duration::from_secs(15) {
                assert_eq!(rows.len(), n, "{account}: {rows:?}\n{}", self.log());
                return rows;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `mailbox ls ADDRESS INBOX` as (uid, size, subject) rows.
    pub fn ls(&self, address: &str, folder: &str) -> Vec<(u32, u64, String)> {
        let o = self.cli(&["mailbox", "ls", address, folder]);
        assert!(
            o.status.success(),
            "mailbox ls: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let subject = l.get(74..).unwrap_or("").trim().to_string();
                (f[0].parse().unwrap(), f[1].parse().unwrap(), subject)
            })
            .collect()
    }

    /// True when `mailbox ls ADDRESS INBOX` fails because the account has no mailboxes yet.
    pub fn ls_err(&self, address: &str) -> bool {
        let o = self.cli(&["mailbox", "ls", address, "INBOX"]);
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no mailboxes")
    }

    pub fn cat(&self, address: &str, folder: &str, uid: u32) -> Vec<u8> {
        let o = self.cli(&["mailbox", "cat", address, folder, &uid.to_string()]);
        assert!(
            o.status.success(),
            "mailbox cat: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }

    /// One whole GET /metrics answered with 200 (the request is finished and closed when this returns).
    fn metrics_answer(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(self.metrics) else {
            return false;
        };
        let mut out = String::new();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_ok()
            && s.read_to_string(&mut out).is_ok()
            && out.starts_with("HTTP/1.1 200")
    }

    /// GET /metrics.
    pub fn metrics(&self) -> String {
        let mut s = TcpStream::connect(self.metrics).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// Sum of one metric over shards.
    pub fn metric_sum(&self, name: &str) -> u64 {
        self.metrics()
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn py(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script)
}

/// The stored copy is the trace fields then the body exactly as sent.
pub fn assert_stored(stored: &[u8], body: &[u8]) {
    assert!(
        stored.starts_with(b"Return-Path: <"),
        "{}",
        String::from_utf8_lossy(stored)
    );
    let split = stored.windows(2).enumerate().find_map(|(i, w)| {
        // The trace block ends at the first line that is not Return-Path/Received or their continuation.
        (w == b"\r\n"
            && !stored[i + 2..].starts_with(b"Received:")
            && !stored[i + 2..].starts_with(b"\t")
            && i + 2 < stored.len())
        .then_some(i + 2)
    });
    let at = split.expect("trace fields end");
    assert!(
        String::from_utf8_lossy(&stored[..at]).contains("\r\nReceived: from "),
        "{}",
        String::from_utf8_lossy(stored)
    );
    assert_eq!(
        String::from_utf8_lossy(&stored[at..]),
        String::from_utf8_lossy(body),
        "stored body differs"
    );
    assert_eq!(&stored[at..], body);
}

/// A raw SMTP client for what the libraries do not do (BDAT, mid-transaction tricks).
pub struct Raw {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut raw = Raw {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let g = raw.reply();
        assert!(g.starts_with("220 "), "{g}");
        raw
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    /// One whole (possibly multi-line) reply.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).unwrap_or(0);
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return all;
            }
        }
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }
}
