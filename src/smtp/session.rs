//! The SMTP server session (RFC 5321 3, 4.1.4): a state machine from input bytes to replies and
//! delivery requests. No I/O and no clock: the shell feeds bytes, writes the output buffer, performs a
//! delivery when asked and reports its outcome.
//!
//! Extensions: PIPELINING (RFC 2920: commands are taken from the buffer one after another and replies
//! are only appended, so the shell flushes when input runs dry), SIZE (RFC 1870), 8BITMIME (RFC 6152),
//! ENHANCEDSTATUSCODES (RFC 2034), SMTPUTF8 (RFC 6531), CHUNKING (RFC 3030). STARTTLS, AUTH and DSN hook
//! in at `Command::StartTls`, `Command::Auth` and the MAIL/RCPT parameter checks.

use std::sync::Arc;

use memchr::memchr;

use super::command::{self, Command, Mailbox, Params, ParseError, Recipient};
use super::data::{ChunkReader, DataReader};
use super::reply::{r, Reply};

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
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".into(),
            max_line: 512,
            max_message_size: 50 << 20,
            max_recipients: 1000,
            max_errors: 10,
        }
    }
}

/// Where recipients go.
pub trait Directory {
    fn lookup(&self, address: &str) -> Lookup;
    /// The account that receives mail for the bare `<Postmaster>` (RFC 5321 4.5.1), if any.
    fn postmaster(&self) -> Option<String>;
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
    pub smtputf8: bool,
    pub body_8bit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Command,
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
    /// A new session; writes the 220 greeting into `out`.
    pub fn new(cfg: Arc<SessionConfig>, peer: impl Into<String>, out: &mut Vec<u8>) -> Session {
        let mut s = Session {
            peer: peer.into(),
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
        matches!(self.mode, Mode::Command)
    }

    /// A message body is flowing: inside DATA, inside a BDAT chunk or between the chunks of one BDAT
    /// transfer (RFC 3030). The shell bounds the whole transfer by time.
    pub fn in_transfer(&self) -> bool {
        matches!(self.mode, Mode::Data | Mode::Chunk { .. }) || self.chunking
    }

    /// A transaction is open (MAIL given, not yet ended): shutdown lets it finish.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some() || !matches!(self.mode, Mode::Command | Mode::SkipLine)
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
        let mut used = 0;
        while used < input.len() || matches!(self.mode, Mode::Chunk { .. } if self.chunk.done()) {
            let rest = &input[used..];
            match self.mode {
                Mode::Command | Mode::SkipLine => {
                    let Some(lf) = memchr(b'\n', rest) else {
                        if rest.len() >= self.cfg.max_line && self.mode == Mode::Command {
                            self.mode = Mode::SkipLine;
                            if let Some(a) = self.error(r::line_too_long(self.cfg.max_line), out) {
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
                    if self.mode == Mode::SkipLine {
                        self.mode = Mode::Command;
                        continue;
                    }
                    if line.len() > self.cfg.max_line {
                        if let Some(a) = self.error(r::line_too_long(self.cfg.max_line), out) {
                            return (used, a);
                        }
                        continue;
                    }
                    if let Some(a) = self.command(line, dir, out) {
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
        let helo = header_text(self.helo.as_deref().unwrap_or("unknown"));
        let with = match (self.esmtp, tx.smtputf8) {
            (true, true) => "UTF8SMTP",
            (true, false) => "ESMTP",
            (false, _) => "SMTP",
        };
        let for_clause = match tx.recipients.as_slice() {
            [one] => format!("\r\n\tfor <{}>", header_text(one)),
            _ => String::new(),
        };
        format!(
            "Return-Path: <{}>\r\nReceived: from {helo} ([{}])\r\n\tby {} (shardmail) with {with} id {}{for_clause};\r\n\t{}\r\n",
            header_text(&tx.from),
            header_text(&self.peer),
            header_text(&self.cfg.hostname),
            header_text(id),
            header_text(date),
        )
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
                    let lines = vec![
                        format!("{} greets {domain}", self.cfg.hostname),
                        "PIPELINING".into(),
                        format!("SIZE {}", self.cfg.max_message_size),
                        "8BITMIME".into(),
                        "ENHANCEDSTATUSCODES".into(),
                        "SMTPUTF8".into(),
                        "CHUNKING".into(),
                    ];
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
                    Some(tx) if tx.recipients.is_empty() => {
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
                let ready = matches!(&self.tx, Some(tx) if !tx.recipients.is_empty());
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
            Command::StartTls => self.error(r::not_implemented("STARTTLS"), out),
            Command::Auth(_) => self.error(r::not_implemented("AUTH"), out),
        }
    }

    fn mail(
        &mut self,
        from: Option<Mailbox<'_>>,
        params: Params<'_>,
        dir: &dyn Directory,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        if self.helo.is_none() {
            return self.error(r::bad_sequence("Send EHLO or HELO first"), out);
        }
        if self.tx.is_some() {
            return self.error(r::bad_sequence("Nested MAIL command"), out);
        }
        let mut env = Envelope::default();
        let mut declared = 0;
        if !self.esmtp && !params.is_empty() {
            return self.error(r::param_not_recognized("Parameters need EHLO"), out);
        }
        for (key, value) in params.iter() {
            if key.eq_ignore_ascii_case("SIZE") {
                // RFC 1870 6: SIZE=n, refused at MAIL when above the limit.
                let n = value.filter(|v| {
                    !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit())
                });
                let Some(n) = n.and_then(|v| v.parse::<u64>().ok()) else {
                    return self.error(r::syntax("Bad SIZE parameter"), out);
                };
                if n > self.cfg.max_message_size as u64 {
                    return self.error(r::too_big(self.cfg.max_message_size), out);
                }
                declared = n;
            } else if key.eq_ignore_ascii_case("BODY") {
                match value {
                    Some(v) if v.eq_ignore_ascii_case("7BIT") => {}
                    Some(v) if v.eq_ignore_ascii_case("8BITMIME") => env.body_8bit = true,
                    _ => {
                        return self.error(
                            r::param_not_recognized("BODY must be 7BIT or 8BITMIME"),
                            out,
                        )
                    }
                }
            } else if key.eq_ignore_ascii_case("SMTPUTF8") && value.is_none() {
                env.smtputf8 = true;
            } else {
                return self.error(
                    r::param_not_recognized(&format!("Unsupported parameter {key}")),
                    out,
                );
            }
        }
        if let Some(m) = from {
            if !m.is_ascii() && !env.smtputf8 {
                return self.error(r::needs_smtputf8(), out);
            }
            env.from = m.address.to_string();
        }
        // RFC 1870 6.1 and RFC 3463 4.3.1: refused at MAIL, before the upload, when the server knows
        // it cannot take the message now; a transient reply, and the session goes on.
        match dir.admit(declared) {
            Admission::Yes => {}
            Admission::Busy => {
                self.send(
                    Reply::new(452, (4, 3, 1), "Too much mail in flight, try again later"),
                    out,
                );
                return None;
            }
            Admission::NoStorage => {
                self.send(r::storage_full(), out);
                return None;
            }
        }
        self.tx = Some(env);
        self.chunking = false;
        self.release_body();
        self.send(r::sender_ok(), out);
        None
    }

    fn rcpt(
        &mut self,
        to: Recipient<'_>,
        params: Params<'_>,
        dir: &dyn Directory,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        let Some(tx) = &self.tx else {
            return self.error(r::bad_sequence("Need MAIL command"), out);
        };
        if let Some((key, _)) = params.iter().next() {
            return self.error(
                r::param_not_recognized(&format!("Unsupported parameter {key}")),
                out,
            );
        }
        let address = match to {
            Recipient::Postmaster => match dir.postmaster() {
                Some(a) => a,
                None => return self.error(r::unknown_user(), out),
            },
            Recipient::Mailbox(m) => {
                if !m.is_ascii() && !tx.smtputf8 {
                    return self.error(r::needs_smtputf8(), out);
                }
                m.address.to_string()
            }
        };
        if tx.recipients.len() >= self.cfg.max_recipients {
            // RFC 5321 4.5.3.1.10: 452 for too many recipients; the client sends the rest later.
            self.send(r::too_many_recipients(), out);
            return None;
        }
        match dir.lookup(&address) {
            Lookup::Local(account) => {
                if let Some(tx) = &mut self.tx {
                    if !tx.recipients.contains(&account) {
                        tx.recipients.push(account);
                    }
                }
                self.send(r::recipient_ok(), out);
                None
            }
            Lookup::UnknownUser => self.error(r::unknown_user(), out),
            Lookup::NotLocal => self.error(r::relay_denied(), out),
        }
    }
}

/// A value for a header field we write: the parsers already refuse control characters in EHLO
/// arguments and paths, and this keeps it so for every field whatever its source (RFC 5322 2.2: a
/// field body is printable characters and whitespace; a CR, LF or NUL would end or corrupt the field).
fn header_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// Formats a Unix time as an RFC 5322 date-time in UTC (`Mon, 23 Nov 2026 01:02:03 +0000`).
pub fn rfc5322_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d} {mon} {y} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_replaces_control_characters() {
        assert_eq!(header_text("mx.example"), "mx.example");
        assert_eq!(
            header_text("evil\0\rX-Injected:yes\n"),
            "evil??X-Injected:yes?"
        );
        assert_eq!(header_text("a\u{85}b"), "a?b");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_395_723),
            "Mon, 23 Nov 2026 01:02:03 +0000"
        );
    }
}
