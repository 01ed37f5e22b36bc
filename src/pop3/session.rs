//! The POP3 session: the states of RFC 1939 (AUTHORIZATION, TRANSACTION, UPDATE) from command lines
//! to replies and [`Flow`]s for the shell. Sans-io: no sockets, no clock, no runtime.
//!
//! Every bad line (unknown command, wrong state, bad argument, message number out of range or
//! deleted, a line over the bound) gets `-ERR` with a reason, and the session goes on. The maildrop
//! listing is fixed when it is locked (RFC 1939 5): numbers, sizes and UIDs do not move; a message
//! expunged meanwhile by IMAP answers RETR/TOP with `-ERR`.

use std::sync::Arc;

use super::command::{self, Command};
use super::line::{Framed, Framer};
use super::reply::{self, Code};
use super::stuff::{Piece, Stuffer};
use super::{Config, Credentials, Entry, Flow, Maildrop, MaildropError, Sink};

/// AUTHORIZATION's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    /// Nothing yet (or a failed attempt).
    Start,
    /// USER was accepted: PASS may follow (RFC 1939 7).
    User(String),
    /// `+ ` was written for AUTH PLAIN without an initial response: the next line is the response.
    PlainLine,
    /// [`Flow::Login`] went out: waiting for the shell's verdict.
    Verifying(String),
    /// Logged in (TRANSACTION, or UPDATE pending).
    Done(String),
}

/// The locked maildrop as the session sees it (TRANSACTION).
struct Locked<M> {
    maildrop: M,
    uidvalidity: u32,
    entries: Vec<Entry>,
    deleted: Vec<bool>,
    /// Messages and octets not marked deleted (STAT, RFC 1939 5).
    live: u32,
    live_octets: u64,
}

/// A RETR or TOP being written.
struct Sending<B> {
    body: B,
    at: usize,
    stuffer: Stuffer,
}

/// A range of a message body, kept alive until it is written.
struct Slice<B> {
    body: B,
    range: std::ops::Range<usize>,
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Slice<B> {
    fn as_ref(&self) -> &[u8] {
        self.body
            .as_ref()
            .get(self.range.clone())
            .unwrap_or_default()
    }
}

impl<M> Locked<M> {
    /// The index of message `n` (1-based, RFC 1939 5), if it exists and is not marked deleted.
    fn live_index(&self, n: u32) -> Result<usize, &'static str> {
        let i = (n as usize).checked_sub(1).ok_or("No such message")?;
        match self.deleted.get(i) {
            None => Err("No such message"),
            Some(true) => Err("Message is deleted"),
            Some(false) => Ok(i),
        }
    }
}

/// The message number of listing index `i` (the listing has at most u32::MAX entries).
fn msg_number(i: usize) -> u32 {
    u32::try_from(i + 1).unwrap_or(u32::MAX)
}

/// A logged-in session between shards: `Send`, without a maildrop. Made by
/// [`Session::into_handoff`] while the login verdict is pending; [`Handoff::resume`] on the owner
/// shard, then [`Session::locked`] / [`Session::in_use`] / [`Session::unavailable`] there.
#[derive(Debug)]
pub struct Handoff {
    cfg: Arc<Config>,
    user: String,
}

impl Handoff {
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The session on the owner shard, still waiting for the lock's verdict. Writes nothing.
    pub fn resume<M: Maildrop>(self) -> Session<M> {
        let mut s = Session::blank(self.cfg);
        s.auth = Auth::Verifying(self.user);
        s
    }
}

pub struct Session<M: Maildrop> {
    cfg: Arc<Config>,
    framer: Framer,
    auth: Auth,
    drop: Option<Locked<M>>,
    sending: Option<Sending<M::Body>>,
    /// QUIT was answered with [`Flow::Update`]: waiting for [`Session::updated`].
    updating: bool,
    closed: bool,
    /// Bytes spliced since the current `feed` began; with the buffer's length, the output waiting
    /// (against [`Config::send_budget`]).
    spliced: usize,
    /// Plaintext credentials were refused since the shell last asked.
    refused_plaintext: bool,
    /// Commands since the shell last took the counts ([`Session::take_counts`]).
    counts: Counts,
}

/// Command lines a session handled, and how many of them were refused as malformed, too long or out
/// of state (the shell's metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub commands: u64,
    pub bad: u64,
}

impl<M: Maildrop> Session<M> {
    fn blank(cfg: Arc<Config>) -> Session<M> {
        Session {
            cfg,
            framer: Framer::default(),
            auth: Auth::Start,
            drop: None,
            sending: None,
            updating: false,
            closed: false,
            spliced: 0,
            refused_plaintext: false,
            counts: Counts::default(),
        }
    }

    /// A new connection: writes the greeting (RFC 1939 4).
    pub fn new(cfg: Arc<Config>, out: &mut dyn Sink) -> Session<M> {
        let s = Session::blank(cfg);
        reply::ok(out.buf(), &s.cfg.greeting);
        s
    }

    /// The session once TLS is up after [`Flow::StartTls`]: AUTHORIZATION from the start with
    /// nothing kept from before (RFC 2595 4: the client discards what it knew and asks CAPA again;
    /// a USER said in plaintext is forgotten), and nothing written (no second greeting).
    pub fn after_stls(cfg: Arc<Config>) -> Session<M> {
        Session::blank(cfg)
    }

    /// True once after plaintext credentials were refused for want of TLS (the shell counts it).
    pub fn take_refused_plaintext(&mut self) -> bool {
        std::mem::take(&mut self.refused_plaintext)
    }

    /// The logged-in user (once the credentials were accepted).
    pub fn user(&self) -> Option<&str> {
        match &self.auth {
            Auth::Verifying(u) | Auth::Done(u) => Some(u),
            _ => None,
        }
    }

    /// In TRANSACTION: the maildrop is locked.
    pub fn is_locked(&self) -> bool {
        self.drop.is_some()
    }

    /// The locked maildrop.
    pub fn maildrop(&self) -> Option<&M> {
        self.drop.as_ref().map(|d| &d.maildrop)
    }

    /// The longest line the next call takes (CRLF included).
    pub fn max_line(&self) -> usize {
        match self.auth {
            Auth::PlainLine => self.cfg.max_auth_line,
            _ => self.cfg.max_line,
        }
    }

    /// A reply is half-written or an UPDATE is pending: shutdown lets it finish.
    pub fn in_transaction(&self) -> bool {
        self.sending.is_some() || self.updating
    }

    /// After QUIT's reply or a farewell: nothing more will be handled.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Frames `input` into lines and runs them (pipelining, RFC 2449 6.6) until one needs the shell
    /// or the output passes [`Config::send_budget`]. Returns the bytes of `input` used.
    pub fn feed(&mut self, input: &[u8], out: &mut dyn Sink) -> (usize, Flow) {
        self.spliced = 0;
        if self.sending.is_some() {
            // A RETR/TOP interrupted by the budget goes on before the next command.
            let flow = self.send(out, self.cfg.send_budget);
            if flow != Flow::Ready {
                return (0, flow);
            }
        }
        let mut used = 0;
        while !self.closed {
            let max = self.max_line();
            match self.framer.next(&input[used..], max) {
                Framed::Line { line, used: n } => {
                    used += n;
                    let flow = self.line(line, out);
                    if flow != Flow::Ready {
                        return (used, flow);
                    }
                    if self.over_budget(out) {
                        return (used, Flow::Continue);
                    }
                }
                Framed::TooLong { used: n } => {
                    used += n;
                    self.counts.commands += 1;
                    self.counts.bad += 1;
                    if self.auth == Auth::PlainLine {
                        // The SASL exchange ends with it (RFC 5034 4: the server may reject).
                        self.auth = Auth::Start;
                        reply::err(out.buf(), None, "SASL response too long");
                    } else {
                        reply::err(out.buf(), None, "Line too long");
                    }
                }
                Framed::NeedMore { used: n } => {
                    used += n;
                    if n == 0 {
                        break;
                    }
                }
            }
        }
        match self.closed {
            true => (used, Flow::Close),
            false => (used, Flow::Ready),
        }
    }

    /// The output waiting (buffered and spliced) reached [`Config::send_budget`].
    fn over_budget(&self, out: &mut dyn Sink) -> bool {
        self.spliced + out.buf().len() >= self.cfg.send_budget
    }

    /// Runs one command line (without its line ending).
    pub fn line(&mut self, line: &[u8], out: &mut dyn Sink) -> Flow {
        if self.closed {
            return Flow::Close;
        }
        if self.sending.is_some() {
            // A half-written reply goes out first: a shell that frames lines itself and fed one
            // after Flow::Continue gets the rest of the message at once.
            self.send(out, usize::MAX);
        }
        self.counts.commands += 1;
        if matches!(self.auth, Auth::Verifying(_)) || self.updating {
            // The shell feeds no line while it owes the session a verdict.
            self.counts.bad += 1;
            reply::err(out.buf(), None, "Another command is in progress");
            return Flow::Ready;
        }
        if self.auth == Auth::PlainLine {
            self.auth = Auth::Start;
            return self.plain_response(line, out);
        }
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.counts.bad += 1;
                let text = format!("Invalid command: {e}");
                reply::err(out.buf(), None, &text);
                return Flow::Ready;
            }
        };
        match cmd {
            Command::Capa => {
                self.capa(out);
                Flow::Ready
            }
            Command::Noop if self.drop.is_some() => self.ok(out, ""),
            Command::Quit => self.quit(out),
            Command::Stls => self.stls(out),
            Command::User(_) | Command::Pass(_) | Command::Apop | Command::Auth { .. }
                if self.drop.is_some() =>
            {
                self.counts.bad += 1;
                self.err(out, "Already authenticated")
            }
            Command::User(name) => self.user_cmd(name, out),
            Command::Pass(pass) => self.pass(pass, out),
            Command::Apop => self.err(out, "APOP is not supported: use USER/PASS or AUTH PLAIN"),
            Command::Auth { mechanism, initial } => self.auth_cmd(mechanism, initial, out),
            other => match self.drop.is_some() {
                true => self.transaction(other, out),
                false => {
                    self.counts.bad += 1;
                    self.err(out, "Not authenticated: USER and PASS, or AUTH, first")
                }
            },
        }
    }

    fn ok(&mut self, out: &mut dyn Sink, text: &str) -> Flow {
        reply::ok(out.buf(), text);
        Flow::Ready
    }

    fn err(&mut self, out: &mut dyn Sink, text: &str) -> Flow {
        reply::err(out.buf(), None, text);
        Flow::Ready
    }

    /// RFC 2449 5: the capabilities, in AUTHORIZATION and TRANSACTION alike (RFC 2449 6 says which
    /// are state-dependent: USER and SASL only matter before login, STLS only before TLS).
    fn capa(&mut self, out: &mut dyn Sink) {
        let o = out.buf();
        reply::ok(o, "Capability list follows");
        o.extend_from_slice(b"TOP\r\nUIDL\r\n");
        let logged_in = self.drop.is_some();
        if !logged_in && self.plaintext_ok() {
            o.extend_from_slice(b"USER\r\nSASL PLAIN\r\n");
        }
        o.extend_from_slice(b"RESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n");
        // RFC 2449 6.7 and 6.8: the policies the server applies.
        o.extend_from_slice(b"EXPIRE ");
        match self.cfg.expire_days {
            Some(d) => reply::num(o, u64::from(d)),
            None => o.extend_from_slice(b"NEVER"),
        }
        o.extend_from_slice(b"\r\nLOGIN-DELAY ");
        reply::num(o, u64::from(self.cfg.login_delay));
        o.extend_from_slice(b"\r\nIMPLEMENTATION ");
        o.extend_from_slice(self.cfg.implementation.as_bytes());
        o.extend_from_slice(b"\r\n");
        if self.cfg.stls && !self.cfg.tls_active && !logged_in {
            o.extend_from_slice(b"STLS\r\n");
        }
        reply::end(o);
    }

    /// USER/PASS and AUTH PLAIN are allowed on this connection (RFC 2595 4 lets a server refuse
    /// plaintext passwords before TLS).
    fn plaintext_ok(&self) -> bool {
        self.cfg.tls_active || self.cfg.plaintext_login
    }

    /// RFC 2595 4: STLS, in AUTHORIZATION only, when offered.
    fn stls(&mut self, out: &mut dyn Sink) -> Flow {
        if !self.cfg.stls || self.cfg.tls_active || self.drop.is_some() {
            return self.err(out, "STLS is not available");
        }
        reply::ok(out.buf(), "Begin TLS negotiation");
        Flow::StartTls
    }

    /// RFC 1939 7 USER.
    fn user_cmd(&mut self, name: &[u8], out: &mut dyn Sink) -> Flow {
        if !self.plaintext_ok() {
            return self.refuse_plaintext(out);
        }
        match std::str::from_utf8(name) {
            Ok(n) => {
                self.auth = Auth::User(n.to_string());
                self.ok(out, "Send PASS")
            }
            Err(_) => self.err(out, "User name is not UTF-8"),
        }
    }

    /// Plaintext credentials on a connection without TLS where the policy forbids them (issue 12;
    /// RFC 2595 2.3 and 4): `-ERR [AUTH]`, RFC 3206 5's code for a login refused by policy.
    fn refuse_plaintext(&mut self, out: &mut dyn Sink) -> Flow {
        self.auth = Auth::Start;
        self.refused_plaintext = true;
        let text = match self.cfg.stls {
            true => "Plaintext authentication needs TLS: use STLS first",
            false => "Plaintext authentication is not allowed on this connection",
        };
        reply::err(out.buf(), Some(Code::Auth), text);
        Flow::Ready
    }

    /// RFC 1939 7 PASS: only right after a USER that was accepted.
    fn pass(&mut self, pass: &[u8], out: &mut dyn Sink) -> Flow {
        if !self.plaintext_ok() {
            return self.refuse_plaintext(out);
        }
        let Auth::User(user) = std::mem::replace(&mut self.auth, Auth::Start) else {
            self.counts.bad += 1;
            return self.err(out, "PASS must follow USER");
        };
        match std::str::from_utf8(pass) {
            Ok(p) => self.ask_login(user, p.to_string()),
            Err(_) => self.login_failed(out),
        }
    }

    fn ask_login(&mut self, user: String, password: String) -> Flow {
        self.auth = Auth::Verifying(user.clone());
        Flow::Login(Credentials { user, password })
    }

    /// RFC 5034 4 AUTH: PLAIN (RFC 4616) with or without an initial response; without a mechanism,
    /// the list of mechanisms (as RFC 1734 clients expect).
    fn auth_cmd(
        &mut self,
        mechanism: Option<&[u8]>,
        initial: Option<&[u8]>,
        out: &mut dyn Sink,
    ) -> Flow {
        self.auth = Auth::Start;
        let Some(mech) = mechanism else {
            let o = out.buf();
            reply::ok(o, "Mechanisms follow");
            if self.plaintext_ok() {
                o.extend_from_slice(b"PLAIN\r\n");
            }
            reply::end(o);
            return Flow::Ready;
        };
        if !mech.eq_ignore_ascii_case(b"PLAIN") {
            return self.err(out, "Unsupported authentication mechanism");
        }
        if !self.plaintext_ok() {
            return self.refuse_plaintext(out);
        }
        match initial {
            Some(ir) => self.plain_response(ir, out),
            None => {
                // RFC 5034 4: an empty challenge.
                out.buf().extend_from_slice(b"+ \r\n");
                self.auth = Auth::PlainLine;
                Flow::Ready
            }
        }
    }

    /// The client's PLAIN response (base64; `=` is empty, RFC 5034 4; `*` cancels).
    fn plain_response(&mut self, b64: &[u8], out: &mut dyn Sink) -> Flow {
        if b64 == b"*" {
            return self.err(out, "Authentication cancelled");
        }
        let decoded = if b64 == b"=" {
            Some(Vec::new())
        } else {
            crate::imap::command::raw::decode_base64(b64)
        };
        let Some(decoded) = decoded else {
            return self.err(out, "Invalid base64 in the SASL response");
        };
        // RFC 4616 2: authzid NUL authcid NUL passwd.
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(authz), Some(user), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.err(out, "Malformed PLAIN response");
        };
        let (Ok(authz), Ok(user), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(user),
            std::str::from_utf8(pass),
        ) else {
            return self.login_failed(out);
        };
        if !authz.is_empty() && authz != user {
            reply::err(
                out.buf(),
                Some(Code::Auth),
                "Acting as another user is not allowed",
            );
            return Flow::Ready;
        }
        self.ask_login(user.to_string(), pass.to_string())
    }

    /// RFC 1939 5: QUIT in AUTHORIZATION ends the session; in TRANSACTION it enters UPDATE (RFC
    /// 1939 6), which the shell carries out when messages were marked deleted.
    fn quit(&mut self, out: &mut dyn Sink) -> Flow {
        let delete: Vec<u32> = match &self.drop {
            Some(d) => d
                .entries
                .iter()
                .zip(&d.deleted)
                .filter(|(_, &del)| del)
                .map(|(e, _)| e.uid)
                .collect(),
            None => Vec::new(),
        };
        if delete.is_empty() {
            self.closed = true;
            reply::ok(out.buf(), "shardmail POP3 server signing off");
            return Flow::Close;
        }
        self.updating = true;
        Flow::Update { delete }
    }

    /// The commands of TRANSACTION (RFC 1939 5 and 7).
    fn transaction(&mut self, cmd: Command<'_>, out: &mut dyn Sink) -> Flow {
        let Some(d) = self.drop.as_mut() else {
            return Flow::Ready;
        };
        let o = out.buf();
        match cmd {
            Command::Stat => {
                o.extend_from_slice(b"+OK ");
                reply::num(o, u64::from(d.live));
                o.push(b' ');
                reply::num(o, d.live_octets);
                o.extend_from_slice(b"\r\n");
            }
            Command::List(None) => {
                let text = format!("{} messages ({} octets)", d.live, d.live_octets);
                reply::ok(o, &text);
                for (i, e) in d.entries.iter().enumerate() {
                    if !d.deleted[i] {
                        reply::scan_line(o, msg_number(i), e.size);
                    }
                }
                reply::end(o);
            }
            Command::List(Some(n)) => match d.live_index(n) {
                Ok(i) => {
                    o.extend_from_slice(b"+OK ");
                    reply::scan_line(o, n, d.entries[i].size);
                }
                Err(why) => reply::err(o, None, why),
            },
            Command::Uidl(None) => {
                reply::ok(o, "Unique-id listing follows");
                for (i, e) in d.entries.iter().enumerate() {
                    if !d.deleted[i] {
                        reply::uidl_line(o, msg_number(i), d.uidvalidity, e.uid);
                    }
                }
                reply::end(o);
            }
            Command::Uidl(Some(n)) => match d.live_index(n) {
                Ok(i) => {
                    o.extend_from_slice(b"+OK ");
                    reply::uidl_line(o, n, d.uidvalidity, d.entries[i].uid);
                }
                Err(why) => reply::err(o, None, why),
            },
            Command::Dele(n) => match d.live_index(n) {
                Ok(i) => {
                    d.deleted[i] = true;
                    d.live -= 1;
                    d.live_octets -= d.entries[i].size;
                    reply::ok(o, "Message deleted");
                }
                Err(why) => reply::err(o, None, why),
            },
            Command::Rset => {
                // RFC 1939 5: unmark every message marked deleted.
                d.deleted.iter_mut().for_each(|x| *x = false);
                d.live = u32::try_from(d.entries.len()).unwrap_or(u32::MAX);
                d.live_octets = d.entries.iter().map(|e| e.size).sum();
                let text = format!(
                    "Maildrop has {} messages ({} octets)",
                    d.live, d.live_octets
                );
                reply::ok(o, &text);
            }
            Command::Noop => reply::ok(o, ""),
            Command::Retr(n) => return self.retr(n, None, out),
            Command::Top { msg, lines } => return self.retr(msg, Some(lines), out),
            // Handled before TRANSACTION's commands.
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop
            | Command::Quit
            | Command::Capa
            | Command::Auth { .. }
            | Command::Stls => reply::err(o, None, "Unexpected command"),
        }
        Flow::Ready
    }

    /// RETR and TOP (RFC 1939 5, 7): the status line, then the message dot-stuffed from its body
    /// handle, as much as the budget allows now.
    fn retr(&mut self, n: u32, top: Option<u32>, out: &mut dyn Sink) -> Flow {
        let Some(d) = self.drop.as_ref() else {
            return Flow::Ready;
        };
        let i = match d.live_index(n) {
            Ok(i) => i,
            Err(why) => return self.err(out, why),
        };
        let e = d.entries[i];
        let body = match d.maildrop.body(e.uid) {
            Ok(b) => b,
            Err(MaildropError::Gone { .. }) => {
                return self.err(
                    out,
                    "Message was removed from the maildrop by another session",
                );
            }
            Err(MaildropError::Unavailable(_)) => {
                reply::err(
                    out.buf(),
                    Some(Code::SysTemp),
                    "Message unavailable, try again later",
                );
                return Flow::Ready;
            }
        };
        if body.as_ref().len() as u64 != e.size {
            // LIST and STAT promised e.size octets; the store's size and bytes disagree.
            tracing::warn!(
                uid = e.uid,
                size = e.size,
                len = body.as_ref().len(),
                "pop3: message size differs from its listing"
            );
        }
        let o = out.buf();
        let stuffer = match top {
            None => {
                // RFC 1939 5 RETR: the size as listed (the bytes before stuffing).
                o.extend_from_slice(b"+OK ");
                reply::num(o, e.size);
                o.extend_from_slice(b" octets\r\n");
                Stuffer::all()
            }
            Some(lines) => {
                reply::ok(o, "Top of message follows");
                Stuffer::top(lines)
            }
        };
        self.sending = Some(Sending {
            body,
            at: 0,
            stuffer,
        });
        self.send(out, self.cfg.send_budget)
    }

    /// Writes more of the RETR/TOP in progress: [`Flow::Ready`] once its end is written,
    /// [`Flow::Continue`] when the budget ran out first.
    fn send(&mut self, out: &mut dyn Sink, budget: usize) -> Flow {
        let Some(mut s) = self.sending.take() else {
            return Flow::Ready;
        };
        let splice_min = self.cfg.splice_min;
        loop {
            let bytes: &[u8] = s.body.as_ref();
            if s.at >= bytes.len() || s.stuffer.is_done() {
                s.stuffer.finish(&mut |p| {
                    if let Piece::Lit(l) = p {
                        out.buf().extend_from_slice(l);
                    }
                });
                return Flow::Ready;
            }
            let waiting = self.spliced + out.buf().len();
            if waiting >= budget {
                self.sending = Some(s);
                return Flow::Continue;
            }
            let want = budget - waiting;
            let end = bytes.len().min(s.at.saturating_add(want));
            let base = s.at;
            let chunk = &bytes[base..end];
            let mut spliced = 0;
            let body = &s.body;
            let used = s.stuffer.feed(chunk, &mut |p| match p {
                Piece::Chunk(r) => {
                    if r.len() >= splice_min {
                        spliced += r.len();
                        out.splice(Box::new(Slice {
                            body: body.clone(),
                            range: base + r.start..base + r.end,
                        }));
                    } else {
                        out.buf().extend_from_slice(&chunk[r]);
                    }
                }
                Piece::Lit(l) => out.buf().extend_from_slice(l),
            });
            self.spliced += spliced;
            s.at += used;
        }
    }

    /// The credentials of [`Flow::Login`] were wrong (RFC 3206 5 `[AUTH]`, RFC 5034 6
    /// AUTH-RESP-CODE). Back to the start of AUTHORIZATION.
    pub fn login_failed(&mut self, out: &mut dyn Sink) -> Flow {
        self.auth = Auth::Start;
        reply::err(out.buf(), Some(Code::Auth), "Invalid user name or password");
        Flow::Ready
    }

    /// The shell refused to check the credentials: the client's address is blocked after too many
    /// failed logins (issue 12). RFC 3206 5 `[AUTH]`: refused by policy ("from an invalid
    /// location"), not a fault of the server.
    pub fn login_blocked(&mut self, out: &mut dyn Sink) -> Flow {
        self.auth = Auth::Start;
        reply::err(
            out.buf(),
            Some(Code::Auth),
            "Too many failed logins from your address, try again later",
        );
        Flow::Ready
    }

    /// The credentials were right but another session holds the maildrop (RFC 2449 8.1.1).
    pub fn in_use(&mut self, out: &mut dyn Sink) -> Flow {
        self.auth = Auth::Start;
        reply::err(
            out.buf(),
            Some(Code::InUse),
            "Maildrop is locked by another session",
        );
        Flow::Ready
    }

    /// The credentials were right but the account logged in less than `LOGIN-DELAY` seconds ago
    /// (RFC 2449 6.8 and 8.1.1 `[LOGIN-DELAY]`). Answered only after a right password, so it says
    /// nothing about accounts to someone guessing.
    pub fn login_delayed(&mut self, out: &mut dyn Sink) -> Flow {
        self.auth = Auth::Start;
        reply::err(
            out.buf(),
            Some(Code::LoginDelay),
            "Logged in too recently, try again later",
        );
        Flow::Ready
    }

    /// The framer is skipping the rest of an over-long line: input it took is not a whole command,
    /// so the shell's clock for the current line must keep running.
    pub fn mid_line(&self) -> bool {
        self.framer.is_skipping()
    }

    /// The command counts since the last call.
    pub fn take_counts(&mut self) -> Counts {
        std::mem::take(&mut self.counts)
    }

    /// The maildrop could not be opened (RFC 3206 4 `[SYS/TEMP]`).
    pub fn unavailable(&mut self, out: &mut dyn Sink) -> Flow {
        self.auth = Auth::Start;
        reply::err(
            out.buf(),
            Some(Code::SysTemp),
            "Maildrop unavailable, try again later",
        );
        Flow::Ready
    }

    /// The maildrop is locked for this session: `+OK`, TRANSACTION (RFC 1939 7 PASS). The listing is
    /// read now and fixed for the session.
    pub fn locked(&mut self, maildrop: M, out: &mut dyn Sink) -> Flow {
        let Auth::Verifying(user) = std::mem::replace(&mut self.auth, Auth::Start) else {
            reply::err(out.buf(), None, "No login in progress");
            return Flow::Ready;
        };
        let entries = maildrop.listing();
        let live_octets = entries.iter().map(|e| e.size).sum();
        let live = u32::try_from(entries.len()).unwrap_or(u32::MAX);
        self.drop = Some(Locked {
            uidvalidity: maildrop.uidvalidity(),
            deleted: vec![false; entries.len()],
            entries,
            maildrop,
            live,
            live_octets,
        });
        self.auth = Auth::Done(user);
        let mut text = String::from("Maildrop has ");
        text.push_str(&format!("{live} messages ({live_octets} octets)"));
        reply::ok(out.buf(), &text);
        Flow::Ready
    }

    /// The session without a maildrop, to move to the account's owner shard; `None` unless a
    /// [`Flow::Login`] verdict is pending.
    pub fn into_handoff(self) -> Option<Handoff> {
        match self.auth {
            Auth::Verifying(user) if self.drop.is_none() => Some(Handoff {
                cfg: self.cfg,
                user,
            }),
            _ => None,
        }
    }

    /// The shell's result of [`Flow::Update`]: the deletions are durable (`+OK`), or none happened
    /// (`-ERR [SYS/TEMP]`, RFC 1939 6). Either way the session ends: close after flushing.
    pub fn updated(&mut self, result: Result<(), MaildropError>, out: &mut dyn Sink) -> Flow {
        self.updating = false;
        self.closed = true;
        match result {
            Ok(()) => reply::ok(out.buf(), "shardmail POP3 server signing off"),
            Err(_) => reply::err(
                out.buf(),
                Some(Code::SysTemp),
                "Deleted messages were not removed, try again later",
            ),
        }
        Flow::Close
    }

    /// A read time limit expired (RFC 1939 3 autologout): no UPDATE, and no reply.
    pub fn timed_out(&mut self, _out: &mut dyn Sink) {
        self.closed = true;
    }

    /// The server is shutting down: no UPDATE; say why.
    pub fn shutting_down(&mut self, out: &mut dyn Sink) {
        if !self.closed && self.sending.is_none() {
            reply::err(out.buf(), Some(Code::SysTemp), "Server shutting down");
        }
        self.closed = true;
    }
}

#[cfg(test)]
mod tests;
