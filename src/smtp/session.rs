//! The SMTP server session (RFC 5321 3, 4.1.4): a state machine from input bytes to replies and
//! delivery requests. No I/O and no clock: the shell feeds bytes, writes the output buffer, performs a
//! delivery when asked and reports its outcome.
//!
//! Extensions: PIPELINING (RFC 2920: commands are taken from the buffer one after another and replies
//! are only appended, so the shell flushes when input runs dry), SIZE (RFC 1870), 8BITMIME (RFC 6152),
//! ENHANCEDSTATUSCODES (RFC 2034), SMTPUTF8 (RFC 6531), CHUNKING (RFC 3030), STARTTLS (RFC 3207: the
//! shell does the handshake when asked, then the session forgets what it knew) and, on a submission
//! listener, AUTH PLAIN and LOGIN (RFC 4954; the shell checks the password when asked). An
//! authenticated session may send as its own addresses only and to any domain (remote recipients
//! are queued for the relay); the MX listener never relays. DSN would hook in at the MAIL/RCPT
//! parameter checks.

mod secure;
mod transaction;

use std::sync::Arc;

use memchr::memchr;

use super::auth::{self, Credentials, Exchange};
use super::command::{self, Command, ParseError};
use super::data::{ChunkReader, DataReader};
use super::reply::{r, Reply};
use super::trace::{self, Received};

pub use super::trace::rfc5322_date;

/// Body buffer capacity an idle session may keep for the next message; larger buffers are freed.
pub const KEEP_BODY_CAPACITY: usize = 16 << 10;

/// Session limits and identity, shared by every session of a listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub hostname: String,
    /// Longest command line in octets, CRLF included.
    pub max_line: usize,
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// Error replies (5xx) before the session is closed with 421.
    pub max_errors: usize,
    /// A message submission listener (RFC 6409 with RFC 4954): AUTH is offered, MAIL needs it, and
    /// authenticated senders may relay. Otherwise an MX listener: no AUTH, no relaying.
    pub submission: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".into(),
            max_line: 512,
            max_message_size: 50 << 20,
            max_recipients: 1000,
            max_errors: 10,
            submission: false,
        }
    }
}

/// What the shell knows of the connection's security when the session starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// TLS protects the connection (implicit TLS, RFC 8314; or after STARTTLS).
    pub tls: bool,
    /// STARTTLS can be offered: a certificate is configured (RFC 3207).
    pub starttls: bool,
    /// Passwords may be sent without TLS on this connection (a loopback client, or configured so).
    pub plaintext_auth: bool,
}

/// How a password check ended, as the shell reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials name this account.
    Ok(String),
    Failed,
    /// The check could not be made (the verifier stopped): a temporary failure.
    Unavailable,
}

/// Where recipients go.
pub trait Directory {
    fn lookup(&self, address: &str) -> Lookup;
    /// The account that receives mail for the bare `<Postmaster>` (RFC 5321 4.5.1), if any.
    fn postmaster(&self) -> Option<String>;
    /// May the authenticated `account` use `from` as the reverse path (empty: the null sender)?
    /// Default: only its own address.
    fn may_send_as(&self, account: &str, from: &str) -> bool {
        account.eq_ignore_ascii_case(from)
    }
    /// Asked at MAIL: can the shell take a new transaction of `size` bytes (the SIZE parameter of
    /// RFC 1870, or 0 when not declared)?
    fn admit(&self, _size: u64) -> Admission {
        Admission::Yes
    }
}

/// The shell's answer to [`Directory::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Yes,
    /// The shard holds as many message bytes in memory as it may.
    Busy,
    /// The shard knows it cannot store the message (its disk is full).
    NoStorage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A local account (its canonical name).
    Local(String),
    /// A local domain without this user.
    UnknownUser,
    /// Not a local domain.
    NotLocal,
}

/// What the shell must do after [`Session::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Flush the output, read more input.
    NeedInput,
    /// A complete message awaits delivery: take [`Session::envelope`] and [`Session::body`], store
    /// them durably, then call [`Session::delivered`]. Input after the message stays unconsumed.
    Deliver,
    /// Flush the output and close the connection.
    Close,
    /// The 220 to STARTTLS is written: flush it, do the TLS handshake, then call
    /// [`Session::tls_started`]. Input after the command arrived in plaintext before the handshake
    /// and stays unconsumed: the shell discards it (RFC 3207 4.2; the command-injection attack).
    StartTls,
    /// Check [`Session::take_credentials`] (off the shard), then call [`Session::auth_done`].
    Authenticate,
}

/// How a delivery ended, as the shell reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Stored { id: String },
    DiskFull,
    Failed,
}

/// The transaction's envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path; empty for the null sender `<>`.
    pub from: String,
    /// Accounts to deliver to, each once, in RCPT order.
    pub recipients: Vec<String>,
    /// Addresses in other domains (an authenticated submission only), each once, in RCPT order:
    /// queued for the relay.
    pub remote: Vec<String>,
    pub smtputf8: bool,
    pub body_8bit: bool,
}

impl Envelope {
    /// Recipients of either kind so far.
    pub fn rcpt_count(&self) -> usize {
        self.recipients.len() + self.remote.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Command,
    /// Reading a response line of an AUTH exchange (RFC 4954 4).
    AuthLine,
    /// Discarding the rest of an over-long command line.
    SkipLine,
    Data,
    Chunk {
        last: bool,
        keep: bool,
    },
}

pub struct Session {
    cfg: Arc<SessionConfig>,
    peer: String,
    link: Link,
    /// The account this session authenticated as (RFC 4954).
    account: Option<String>,
    /// The AUTH exchange waiting for a response line.
    sasl: Option<Exchange>,
    /// Credentials waiting for the shell's check.
    verify: Option<Credentials>,
    /// A reply made the session close, outside `feed` (a failed login past the error limit).
    closing: bool,
    /// AUTH commands refused for want of TLS (538) since the shell last took the count.
    plaintext_refusals: u64,
    helo: Option<String>,
    esmtp: bool,
    tx: Option<Envelope>,
    /// BDAT chunks have started in this transaction (DATA is then out of sequence).
    chunking: bool,
    /// Octets of BDAT chunks received in this transaction, as the client counted them.
    chunk_octets: u64,
    mode: Mode,
    data: DataReader,
    chunk: ChunkReader,
    body: Vec<u8>,
    errors: usize,
    /// Replies sent by class (2xx, 3xx, 4xx, 5xx) since the shell last took them.
    replies: [u64; 4],
    /// A reply deferred until a discarded BDAT chunk has been consumed.
    after_chunk: Option<Reply>,
}

impl Session {
    /// A new session on a plaintext connection without STARTTLS; writes the 220 greeting into `out`.
    pub fn new(cfg: Arc<SessionConfig>, peer: impl Into<String>, out: &mut Vec<u8>) -> Session {
        Session::on_link(cfg, peer, Link::default(), out)
    }

    /// A new session on a connection with `link`'s security; writes the 220 greeting into `out`.
    pub fn on_link(
        cfg: Arc<SessionConfig>,
        peer: impl Into<String>,
        link: Link,
        out: &mut Vec<u8>,
    ) -> Session {
        let mut s = Session {
            peer: peer.into(),
            link,
            account: None,
            sasl: None,
            verify: None,
            closing: false,
            plaintext_refusals: 0,
            helo: None,
            esmtp: false,
            tx: None,
            chunking: false,
            chunk_octets: 0,
            mode: Mode::Command,
            data: DataReader::new(cfg.max_message_size as u64),
            chunk: ChunkReader::default(),
            body: Vec::new(),
            errors: 0,
            replies: [0; 4],
            after_chunk: None,
            cfg,
        };
        let greet = Reply::plain(
            220,
            vec![format!("{} ESMTP shardmail ready", s.cfg.hostname)],
        );
        s.send(greet, out);
        s
    }

    /// True between commands (not inside DATA or a BDAT chunk): what an idle timeout applies to.
    pub fn between_commands(&self) -> bool {
        matches!(self.mode, Mode::Command | Mode::AuthLine)
    }

    /// The account the client authenticated as.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    pub fn link(&self) -> Link {
        self.link
    }

    /// The line length limit for what `rest` starts: AUTH lines and SASL responses get more room.
    fn line_limit(&self, rest: &[u8]) -> usize {
        let auth = self.mode == Mode::AuthLine
            || (self.cfg.submission && rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"AUTH "));
        if auth {
            self.cfg.max_line.max(auth::MAX_AUTH_LINE)
        } else {
            self.cfg.max_line
        }
    }

    /// A message body is flowing: inside DATA, inside a BDAT chunk or between the chunks of one BDAT
    /// transfer (RFC 3030). The shell bounds the whole transfer by time.
    pub fn in_transfer(&self) -> bool {
        matches!(self.mode, Mode::Data | Mode::Chunk { .. }) || self.chunking
    }

    /// A transaction is open (MAIL given, not yet ended): shutdown lets it finish.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some() || !matches!(self.mode, Mode::Command | Mode::SkipLine | Mode::AuthLine)
    }

    pub fn envelope(&self) -> Option<&Envelope> {
        self.tx.as_ref()
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn helo(&self) -> Option<&str> {
        self.helo.as_deref()
    }

    /// AUTH commands refused with 538 (no TLS) since the last call.
    pub fn take_plaintext_refusals(&mut self) -> u64 {
        std::mem::take(&mut self.plaintext_refusals)
    }

    /// Replies by class since the last call.
    pub fn take_reply_counts(&mut self) -> [u64; 4] {
        std::mem::take(&mut self.replies)
    }

    /// Consumes what it can of `input`, appending replies to `out`. Returns the bytes used and what the
    /// shell must do next.
    pub fn feed(
        &mut self,
        input: &[u8],
        dir: &dyn Directory,
        out: &mut Vec<u8>,
    ) -> (usize, Action) {
        if self.closing {
            return (0, Action::Close);
        }
        let mut used = 0;
        while used < input.len() || matches!(self.mode, Mode::Chunk { .. } if self.chunk.done()) {
            let rest = &input[used..];
            match self.mode {
                Mode::Command | Mode::SkipLine | Mode::AuthLine => {
                    let limit = self.line_limit(rest);
                    let Some(lf) = memchr(b'\n', rest) else {
                        if rest.len() >= limit && self.mode != Mode::SkipLine {
                            // An over-long SASL response ends its exchange too.
                            self.sasl = None;
                            self.mode = Mode::SkipLine;
                            if let Some(a) = self.error(r::line_too_long(limit), out) {
                                return (input.len(), a);
                            }
                        }
                        if self.mode == Mode::SkipLine {
                            used = input.len();
                        }
                        return (used, Action::NeedInput);
                    };
                    let line = &rest[..=lf];
                    used += line.len();
                    let mode = std::mem::replace(&mut self.mode, Mode::Command);
                    if mode == Mode::SkipLine {
                        continue;
                    }
                    if line.len() > limit {
                        self.sasl = None;
                        if let Some(a) = self.error(r::line_too_long(limit), out) {
                            return (used, a);
                        }
                        continue;
                    }
                    let step = if mode == Mode::AuthLine {
                        self.auth_line(line, out)
                    } else {
                        self.command(line, dir, out)
                    };
                    if let Some(a) = step {
                        return (used, a);
                    }
                }
                Mode::Data => {
                    let p = self.data.feed(rest, &mut self.body);
                    used += p.used;
                    if !p.done {
                        return (used, Action::NeedInput);
                    }
                    self.mode = Mode::Command;
                    if self.data.too_big() {
                        self.reset_tx();
                        if let Some(a) = self.error(r::too_big(self.cfg.max_message_size), out) {
                            return (used, a);
                        }
                        continue;
                    }
                    return (used, Action::Deliver);
                }
                Mode::Chunk { last, keep } => {
                    used += self.chunk.feed(rest, &mut self.body, keep);
                    if !self.chunk.done() {
                        return (used, Action::NeedInput);
                    }
                    self.mode = Mode::Command;
                    if keep && last {
                        self.chunk.finish(&mut self.body);
                    }
                    if keep && self.body.len() > self.cfg.max_message_size {
                        // Bare line ends stored as CRLF made the body grow past the limit.
                        self.reset_tx();
                        self.after_chunk = Some(r::too_big(self.cfg.max_message_size));
                    }
                    if let Some(rep) = self.after_chunk.take() {
                        if let Some(a) = self.error(rep, out) {
                            return (used, a);
                        }
                        continue;
                    }
                    if last {
                        return (used, Action::Deliver);
                    }
                    let n = self.chunk_octets;
                    self.send(r::ok(&format!("{n} octets received")), out);
                }
            }
        }
        (used, Action::NeedInput)
    }

    /// Reports the outcome of the delivery asked for by [`Action::Deliver`].
    pub fn delivered(&mut self, outcome: Delivery, out: &mut Vec<u8>) {
        let rep = match outcome {
            Delivery::Stored { id } => r::ok(&format!("Message accepted for delivery as {id}")),
            Delivery::DiskFull => r::storage_full(),
            Delivery::Failed => r::local_error(),
        };
        self.send(rep, out);
        self.reset_tx();
    }

    /// The idle or command timeout fired.
    pub fn timeout(&mut self, out: &mut Vec<u8>) {
        self.send(r::timeout(), out);
    }

    /// The server is shutting down and this session is between transactions (or out of time).
    pub fn shutdown(&mut self, out: &mut Vec<u8>) {
        self.send(r::shutting_down(), out);
    }

    /// The trace fields for the stored copy (RFC 5321 4.4): `Return-Path` (this is the final delivery)
    /// and `Received`. `date` is an RFC 5322 date-time.
    pub fn trace_headers(&self, id: &str, date: &str) -> String {
        let Some(tx) = &self.tx else {
            return String::new();
        };
        let for_rcpt = match (tx.recipients.as_slice(), tx.remote.as_slice()) {
            ([one], []) | ([], [one]) => Some(one.as_str()),
            _ => None,
        };
        Received {
            from: &tx.from,
            helo: self.helo.as_deref().unwrap_or("unknown"),
            peer: &self.peer,
            by: &self.cfg.hostname,
            id,
            date,
            protocol: trace::protocol(
                self.esmtp,
                tx.smtputf8,
                self.link.tls,
                self.account.is_some(),
            ),
            for_rcpt,
        }
        .headers()
    }

    fn send(&mut self, rep: Reply, out: &mut Vec<u8>) {
        let class = (rep.code / 100).clamp(2, 5) as usize - 2;
        self.replies[class] += 1;
        rep.encode(out);
    }

    /// Sends an error reply; when the session has made too many, also 421 and asks to close.
    fn error(&mut self, rep: Reply, out: &mut Vec<u8>) -> Option<Action> {
        let permanent = rep.code >= 500;
        self.send(rep, out);
        if permanent {
            self.errors += 1;
            if self.errors >= self.cfg.max_errors {
                self.send(r::too_many_errors(), out);
                return Some(Action::Close);
            }
        }
        None
    }

    fn reset_tx(&mut self) {
        self.tx = None;
        self.chunking = false;
        self.release_body();
        self.data = DataReader::new(self.cfg.max_message_size as u64);
    }

    /// Empties the body buffer; after a large message it also gives the memory back (one idle session
    /// must not keep up to the size limit allocated; ordinary messages keep reusing their buffer).
    fn release_body(&mut self) {
        super::data::release(&mut self.body, KEEP_BODY_CAPACITY);
    }

    /// The capacity of the body buffer: what this session holds in memory for its message.
    pub fn body_capacity(&self) -> usize {
        self.body.capacity()
    }

    /// One command line (with its line end).
    fn command(&mut self, line: &[u8], dir: &dyn Directory, out: &mut Vec<u8>) -> Option<Action> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(e) => {
                let rep = match e {
                    ParseError::Unrecognized => r::unrecognized(),
                    ParseError::Syntax(why) => r::syntax(why),
                    ParseError::BadSender => r::bad_sender_syntax(),
                    ParseError::BadRecipient => r::bad_recipient_syntax(),
                };
                // RFC 3030 3: a BDAT we cannot parse has an unknown size; the session can only go on
                // reading commands.
                return self.error(rep, out);
            }
        };
        match cmd {
            Command::Ehlo(domain) | Command::Helo(domain) => {
                let ehlo = matches!(cmd, Command::Ehlo(_));
                self.reset_tx();
                self.helo = Some(domain.to_string());
                self.esmtp = ehlo;
                if ehlo {
                    let mut lines = vec![
                        format!("{} greets {domain}", self.cfg.hostname),
                        "PIPELINING".into(),
                        format!("SIZE {}", self.cfg.max_message_size),
                        "8BITMIME".into(),
                        "ENHANCEDSTATUSCODES".into(),
                        "SMTPUTF8".into(),
                        "CHUNKING".into(),
                    ];
                    // RFC 3207 4: not offered once TLS is active.
                    if self.link.starttls && !self.link.tls {
                        lines.push("STARTTLS".into());
                    }
                    // RFC 4954 3; without TLS only where plaintext passwords are allowed.
                    if self.auth_usable() {
                        lines.push(format!("AUTH {}", auth::MECHANISMS));
                    }
                    self.send(Reply::plain(250, lines), out);
                } else {
                    self.send(Reply::plain(250, vec![self.cfg.hostname.clone()]), out);
                }
                None
            }
            Command::Mail { from, params } => self.mail(from, params, dir, out),
            Command::Rcpt { to, params } => self.rcpt(to, params, dir, out),
            Command::Data => {
                if self.chunking {
                    return self.error(r::bad_sequence("DATA not allowed after BDAT"), out);
                }
                match &self.tx {
                    None => self.error(r::bad_sequence("Need MAIL command"), out),
                    Some(tx) if tx.rcpt_count() == 0 => {
                        self.error(r::bad_sequence("Need RCPT command"), out)
                    }
                    Some(_) => {
                        self.release_body();
                        self.data = DataReader::new(self.cfg.max_message_size as u64);
                        self.mode = Mode::Data;
                        self.send(r::start_data(), out);
                        None
                    }
                }
            }
            Command::Bdat { size, last } => {
                // A CR ending the previous chunk of this message may pair with an LF starting this one.
                self.chunk = if self.chunking {
                    self.chunk.next(size)
                } else {
                    ChunkReader::default().next(size)
                };
                let ready = matches!(&self.tx, Some(tx) if tx.rcpt_count() > 0);
                if !ready {
                    let why = if self.tx.is_none() {
                        "Need MAIL command"
                    } else {
                        "Need RCPT command"
                    };
                    self.after_chunk = Some(r::bad_sequence(why));
                    self.mode = Mode::Chunk { last, keep: false };
                } else if self.body.len() as u64 + size > self.cfg.max_message_size as u64 {
                    // RFC 3030 2: the chunk is still read; the transaction fails.
                    self.reset_tx();
                    self.after_chunk = Some(r::too_big(self.cfg.max_message_size));
                    self.mode = Mode::Chunk { last, keep: false };
                } else {
                    if !self.chunking {
                        self.body.clear();
                        self.chunk_octets = 0;
                    }
                    self.chunking = true;
                    self.chunk_octets += size;
                    self.body.reserve(size.min(1 << 20) as usize);
                    self.mode = Mode::Chunk { last, keep: true };
                }
                None
            }
            Command::Rset => {
                self.reset_tx();
                self.send(r::ok("Reset"), out);
                None
            }
            Command::Noop => {
                self.send(r::ok("OK"), out);
                None
            }
            Command::Quit => {
                self.send(r::bye(&self.cfg.hostname.clone()), out);
                Some(Action::Close)
            }
            Command::Vrfy(_) => {
                self.send(r::vrfy(), out);
                None
            }
            Command::Expn(_) => self.error(r::not_implemented("EXPN"), out),
            Command::Help => {
                self.send(r::help(), out);
                None
            }
            Command::StartTls => self.starttls(out),
            Command::Auth(args) => self.auth(args, out),
        }
    }
}
