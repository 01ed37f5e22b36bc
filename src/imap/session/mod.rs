//! The IMAP session: the state machine of RFC 9051 3 (and RFC 3501 3) from parsed commands to
//! responses and backend calls. Sans-io: no sockets, no clock (the shell passes `now`), no runtime;
//! the mailbox is a [`Backend`] of the logged-in account.
//!
//! States: not authenticated -> (LOGIN/AUTHENTICATE, verified by the shell) authenticated ->
//! (SELECT/EXAMINE) selected -> (CLOSE/UNSELECT) authenticated; LOGOUT from any. A command in a state
//! that does not allow it gets BAD (RFC 9051 3 leaves BAD or NO to the server); after
//! [`Config::max_bad`] BADs in a row the session ends with `* BYE`.
//!
//! How the shell drives it (see /work/coord/imap.md):
//! - [`Session::new`] writes the greeting; each parsed command goes to [`Session::handle`], which
//!   returns a [`Flow`] saying what the shell does next; a command the parser refused goes to
//!   [`Session::bad_command`].
//! - Login: [`Flow::Login`] hands the credentials to the shell, which verifies them off the hot path
//!   and answers with [`Session::login_failed`], or [`Session::logged_in`] (the tagged OK) followed by
//!   [`Session::into_handoff`] + [`Handoff::resume`] on the account's owner shard (or
//!   [`Session::attach`] where it already is). A shell that refuses to check (the client's address
//!   is blocked after failed logins) answers [`Session::login_blocked`].
//! - LOGIN and AUTHENTICATE PLAIN without TLS are refused (`NO [PRIVACYREQUIRED]`, LOGINDISABLED
//!   advertised) unless [`Config::plaintext_login`] says the client may (issue 12's policy).
//! - STARTTLS (RFC 9051 6.2.1): [`Flow::StartTls`]; the shell discards input read after the command,
//!   runs the handshake and goes on with [`Session::after_starttls`], a session that knows nothing
//!   of the plaintext one.
//! - IDLE (RFC 2177): [`Flow::Idle`]; the shell waits for the client's `DONE` ([`Session::idle_done`])
//!   or a change of the account ([`ChangeFeed`] from [`Backend::follow`], then
//!   [`Session::idle_changed`]).
//! - Output goes to a [`Sink`]: bytes, and message bodies spliced in from the backend's handles
//!   (an mmap) without a copy.

mod commands;
mod fetch;
mod mailboxes;
mod reply;
mod search;
mod selected;
mod sets;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::backend::{Backend, ChangeFeed, MailboxView};
use super::capability::{Capabilities, CapabilityState, Optional};
use super::types::{Command, Tagged};
use reply::Status;
use selected::{Selected, Wording};

/// Settings shared by the sessions of a listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Text of the greeting (`* OK [CAPABILITY ...] text`).
    pub greeting: String,
    /// BAD replies in a row before the session ends with `* BYE`.
    pub max_bad: u32,
    /// Storage per account for QUOTA (RFC 9208), in bytes; `None`: no quota root.
    pub quota_bytes: Option<u64>,
    /// APPENDLIMIT (RFC 7889): the largest message APPEND takes.
    pub append_limit: u64,
    /// STARTTLS is offered (not on an implicit-TLS port or once TLS is on).
    pub starttls: bool,
    /// COMPRESS=DEFLATE is offered (RFC 4978).
    pub compress: bool,
    /// The connection is protected by TLS (an implicit-TLS port, or after STARTTLS).
    pub tls_active: bool,
    /// LOGIN and AUTHENTICATE PLAIN are accepted without TLS (RFC 9051 11.1 asks servers to refuse
    /// them: `LOGINDISABLED`). The shell sets it per connection (`net::auth::plaintext_allowed`);
    /// on in the default, which the session tests use.
    pub plaintext_login: bool,
    /// Message bodies at least this long are spliced into the output instead of copied.
    pub splice_min: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            greeting: "shardmail IMAP ready".into(),
            max_bad: 10,
            quota_bytes: None,
            append_limit: 50 << 20,
            starttls: false,
            compress: false,
            tls_active: false,
            plaintext_login: true,
            splice_min: 16 << 10,
        }
    }
}

/// A long reply (FETCH of a whole mailbox) is sent whenever this much of it waits (RFC-free: a
/// memory bound, issue 10): what one session holds for a reply is this plus one message's items.
pub const STREAM_AT: usize = 64 << 10;

/// What [`Sink::drain`] returns: true once the output was sent, false if the connection is gone.
pub type Drained<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + 'a>>;

/// Where the session writes: reply bytes, and message bytes written from where they are.
pub trait Sink {
    fn buf(&mut self) -> &mut Vec<u8>;
    /// Appends `bytes` after what `buf` holds now (the shell writes them from the mmap).
    fn splice(&mut self, bytes: Box<dyn AsRef<[u8]>>);
    /// Bytes written and not yet sent (spliced ones included). A sink that cannot send before
    /// the command ends says 0, and holds everything.
    fn pending(&self) -> usize {
        0
    }
    /// Sends what was written so far, in the middle of a command (FETCH streams its responses once
    /// [`STREAM_AT`] bytes wait). False: the connection is gone; the command stops.
    fn drain(&mut self) -> Drained<'_> {
        Box::pin(std::future::ready(true))
    }
}

/// A plain buffer copies spliced bytes (tests, small outputs).
impl Sink for Vec<u8> {
    fn buf(&mut self) -> &mut Vec<u8> {
        self
    }
    fn splice(&mut self, bytes: Box<dyn AsRef<[u8]>>) {
        self.extend_from_slice((*bytes).as_ref());
    }
}

/// What the shell does after a session call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Feed the next command.
    Ready,
    /// Verify these credentials, then call [`Session::login_failed`] or resume the session as the
    /// account ([`Session::logged_in`], then [`Session::attach`] or [`Session::into_handoff`]).
    Login(Credentials),
    /// `+ ` was written (AUTHENTICATE without an initial response): read one raw line and call
    /// [`Session::auth_line`].
    AuthLine,
    /// `+ idling` was written: wait for `DONE` ([`Session::idle_done`]) or an account change
    /// ([`Session::idle_changed`]).
    Idle,
    /// The tagged OK to STARTTLS was written: flush it, then start TLS.
    StartTls,
    /// The tagged OK to COMPRESS DEFLATE was written: flush it, then compress both directions.
    Compress,
    /// `* BYE` was written: flush and close.
    Close,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Extensions the client turned on (RFC 5161 ENABLE, or CONDSTORE-enabling commands).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enabled {
    pub rev2: bool,
    pub condstore: bool,
    pub qresync: bool,
    pub utf8: bool,
}

/// What a session waits for between calls.
#[derive(Debug, Clone)]
enum Pending {
    None,
    Login { tag: String },
    AuthLine { tag: String },
    Idle { tag: String },
}

/// A logged-in session without its account's backend: `Send`, so the shell can move it to the
/// account's owner shard ([`Session::into_handoff`], then [`Handoff::resume`] there).
#[derive(Debug)]
pub struct Handoff {
    cfg: Arc<Config>,
    enabled: Enabled,
    user: String,
}

impl Handoff {
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The session on the owner shard, with its account's backend. Writes nothing: the tagged OK of
    /// the login went out before the move ([`Session::logged_in`]).
    pub fn resume<B: Backend>(self, backend: B) -> Session<B> {
        Session {
            cfg: self.cfg,
            enabled: self.enabled,
            bad: 0,
            pending: Pending::None,
            user: Some(self.user),
            backend: Some(backend),
            selected: None,
            logged_out: false,
            compressed: false,
            refused_plaintext: false,
        }
    }
}

pub struct Session<B: Backend> {
    cfg: Arc<Config>,
    enabled: Enabled,
    /// BAD replies in a row.
    bad: u32,
    pending: Pending,
    user: Option<String>,
    /// Present once authenticated.
    backend: Option<B>,
    selected: Option<Selected<B::View>>,
    logged_out: bool,
    /// COMPRESS DEFLATE is on (RFC 4978 3: no longer offered).
    compressed: bool,
    /// Plaintext credentials were refused since the shell last asked.
    refused_plaintext: bool,
}

impl<B: Backend> Session<B> {
    /// A new connection: writes the greeting (RFC 9051 7.1.1).
    pub fn new(cfg: Arc<Config>, out: &mut dyn Sink) -> Session<B> {
        let s = Session::blank(cfg);
        let code = format!("CAPABILITY {}", s.capabilities());
        reply::untagged(out.buf(), Status::Ok, &code, &s.cfg.greeting);
        s
    }

    fn blank(cfg: Arc<Config>) -> Session<B> {
        Session {
            cfg,
            enabled: Enabled::default(),
            bad: 0,
            pending: Pending::None,
            user: None,
            backend: None,
            selected: None,
            logged_out: false,
            compressed: false,
            refused_plaintext: false,
        }
    }

    /// The session once TLS is up after [`Flow::StartTls`]: nothing of the session before is kept
    /// (RFC 9051 6.2.1 and RFC 3207 4.2: what was said in plaintext may have been forged), `cfg`
    /// says TLS is active, and nothing is written (no second greeting: the client asks for
    /// CAPABILITY again, RFC 9051 6.2.1).
    pub fn after_starttls(cfg: Arc<Config>) -> Session<B> {
        Session::blank(cfg)
    }

    /// True once after a LOGIN or AUTHENTICATE PLAIN was refused for want of TLS (the shell counts
    /// it).
    pub fn take_refused_plaintext(&mut self) -> bool {
        std::mem::take(&mut self.refused_plaintext)
    }

    pub fn enabled(&self) -> Enabled {
        self.enabled
    }

    /// The logged-in account, once authenticated.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn is_authenticated(&self) -> bool {
        self.backend.is_some()
    }

    /// The canonical name of the selected mailbox.
    pub fn selected(&self) -> Option<&str> {
        self.selected.as_ref().map(|s| s.name.as_str())
    }

    pub fn backend(&self) -> Option<&B> {
        self.backend.as_ref()
    }

    /// The capability list for this state (RFC 9051 7.2.2), from `imap::capability`.
    pub fn capabilities(&self) -> String {
        let state = CapabilityState {
            authenticated: self.user.is_some(),
            tls_active: self.cfg.tls_active,
            starttls_available: self.cfg.starttls,
            plaintext_login: self.cfg.plaintext_login,
            compress_active: self.compressed,
            literal_plus: true,
            append_limit: Some(self.cfg.append_limit),
            optional: Optional {
                quota: true,
                searchres: true,
                compress: self.cfg.compress,
                ..Optional::default()
            },
        };
        let mut out = Vec::new();
        Capabilities::for_state(&state).write(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// RFC 9051 6.2.3, 11.1: no plaintext password over an unprotected connection.
    fn login_disabled(&self) -> bool {
        !self.cfg.tls_active && !self.cfg.plaintext_login
    }

    fn wording(&self) -> Wording {
        Wording {
            rev1: !self.enabled.rev2,
            condstore: self.enabled.condstore,
            qresync: self.enabled.qresync,
        }
    }

    /// A command the parser refused (RFC 9051 7.1.3): `tag BAD reason`, or `* BAD` without a tag.
    pub fn bad_command(&mut self, tag: Option<&str>, reason: &str, out: &mut dyn Sink) -> Flow {
        self.rejected(tag, None, reason, false, out)
    }

    /// A command the receiver rejected (`command::Step::Reject`): `tag BAD [code] reason`, or
    /// `tag NO [code] reason` when `no` (a literal over the limit: RFC 7888 4, RFC 9051 7.1). BADs
    /// count towards [`Config::max_bad`].
    pub fn rejected(
        &mut self,
        tag: Option<&str>,
        code: Option<&str>,
        reason: &str,
        no: bool,
        out: &mut dyn Sink,
    ) -> Flow {
        let status = if no { Status::No } else { Status::Bad };
        let code = code.unwrap_or("");
        match tag {
            Some(t) => reply::tagged_text(out.buf(), self.utf8_text(), t, status, code, reason),
            None => reply::untagged(out.buf(), status, code, reason),
        }
        if no {
            return Flow::Ready;
        }
        self.count_bad(out)
    }

    fn count_bad(&mut self, out: &mut dyn Sink) -> Flow {
        self.bad += 1;
        if self.bad >= self.cfg.max_bad {
            reply::bye(out.buf(), "Too many invalid commands");
            self.logged_out = true;
            return Flow::Close;
        }
        Flow::Ready
    }

    /// Status text may be UTF-8 (RFC 9051 9 `text`: after ENABLE IMAP4rev2; RFC 6855 3: UTF8=ACCEPT).
    fn utf8_text(&self) -> bool {
        self.enabled.rev2 || self.enabled.utf8
    }

    /// Writes a tagged BAD and counts it.
    fn bad(&mut self, tag: &str, text: &str, out: &mut dyn Sink) -> Flow {
        reply::tagged_text(out.buf(), self.utf8_text(), tag, Status::Bad, "", text);
        self.count_bad(out)
    }

    /// Runs one command. `now` is the time in seconds since the epoch (APPEND's default internal
    /// date, new folders' UIDVALIDITY).
    pub async fn handle(&mut self, cmd: Tagged<'_>, now: i64, out: &mut dyn Sink) -> Flow {
        if self.logged_out {
            return Flow::Close;
        }
        if !matches!(self.pending, Pending::None) {
            // The shell feeds commands only when the last flow is done; this is a bug there.
            return self.bad(cmd.tag, "another command is in progress", out);
        }
        let tag = cmd.tag;
        let flow = match cmd.command {
            Command::Capability => {
                let caps = self.capabilities();
                let o = out.buf();
                o.extend_from_slice(b"* CAPABILITY ");
                o.extend_from_slice(caps.as_bytes());
                o.extend_from_slice(b"\r\n");
                self.done(tag, "CAPABILITY completed", true, out)
            }
            Command::Noop => self.done(tag, "NOOP completed", true, out),
            Command::Logout => {
                reply::bye(out.buf(), "Logging out");
                reply::tagged(out.buf(), tag, Status::Ok, "", "LOGOUT completed");
                self.logged_out = true;
                self.selected = None;
                Flow::Close
            }
            Command::Id(_) => {
                // RFC 2971 3.2: the server's own identification.
                out.buf()
                    .extend_from_slice(b"* ID (\"name\" \"shardmail\")\r\n");
                self.done(tag, "ID completed", true, out)
            }
            Command::StartTls => self.starttls(tag, out),
            Command::Login { user, password } => {
                if self.user.is_some() {
                    return self.bad(tag, "already authenticated", out);
                }
                if self.login_disabled() {
                    // RFC 9051 6.2.3: LOGINDISABLED was advertised; RFC 5530 3 PRIVACYREQUIRED.
                    self.refused_plaintext = true;
                    return self.no(
                        tag,
                        "PRIVACYREQUIRED",
                        "LOGIN needs TLS (LOGINDISABLED)",
                        out,
                    );
                }
                match (std::str::from_utf8(&user), std::str::from_utf8(&password)) {
                    (Ok(u), Ok(p)) => self.ask_login(tag, u.to_string(), p.to_string()),
                    _ => {
                        reply::tagged(
                            out.buf(),
                            tag,
                            Status::No,
                            "AUTHENTICATIONFAILED",
                            "Invalid credentials",
                        );
                        Flow::Ready
                    }
                }
            }
            Command::Authenticate { mechanism, initial } => {
                self.authenticate(tag, mechanism, initial, out)
            }
            other => {
                if self.backend.is_none() {
                    return self.bad(tag, "Not authenticated: LOGIN or AUTHENTICATE first", out);
                }
                commands::run(self, tag, other, now, out).await
            }
        };
        flow
    }

    /// Tagged OK after reporting pending mailbox changes (every command is a point where EXISTS and
    /// flag updates may go out; `allow_expunge` says whether EXPUNGE may, RFC 9051 7.5.1).
    fn done(&mut self, tag: &str, text: &str, allow_expunge: bool, out: &mut dyn Sink) -> Flow {
        self.report(allow_expunge, &[], false, out);
        self.ok(tag, "", text, out)
    }

    fn ok(&mut self, tag: &str, code: &str, text: &str, out: &mut dyn Sink) -> Flow {
        self.bad = 0;
        reply::tagged_text(out.buf(), self.utf8_text(), tag, Status::Ok, code, text);
        Flow::Ready
    }

    fn no(&mut self, tag: &str, code: &str, text: &str, out: &mut dyn Sink) -> Flow {
        self.bad = 0;
        reply::tagged_text(out.buf(), self.utf8_text(), tag, Status::No, code, text);
        Flow::Ready
    }

    /// Moves the selected mailbox to the backend's newest view, reporting the changes. A selected
    /// mailbox that is gone (deleted or renamed by another session) ends the selection.
    fn report(&mut self, allow_expunge: bool, quiet: &[u32], uid: bool, out: &mut dyn Sink) {
        let w = self.wording();
        let (Some(b), Some(sel)) = (self.backend.as_ref(), self.selected.as_mut()) else {
            return;
        };
        match b.view(&sel.name) {
            Ok(v) if v.counters().uidvalidity == sel.view.counters().uidvalidity => {
                // RFC 3501 2.3.2: an IMAP4rev1 session that may change the mailbox claims the new
                // messages it announces as \Recent.
                let name = sel.name.clone();
                let claims = w.rev1 && !sel.read_only;
                let mut claim = |upto| claims.then(|| b.claim_recent_now(&name, upto)).flatten();
                sel.sync(v, allow_expunge, w, quiet, uid, &mut claim, out.buf());
            }
            _ => {
                if allow_expunge {
                    // RFC 9051 7.1: the mailbox went away under the session; say so and deselect.
                    reply::untagged(
                        out.buf(),
                        Status::No,
                        "",
                        "The selected mailbox was deleted or renamed",
                    );
                    self.selected = None;
                    if self.enabled.rev2 || self.enabled.qresync {
                        reply::untagged(out.buf(), Status::Ok, "CLOSED", "mailbox closed");
                    }
                }
            }
        }
    }

    fn starttls(&mut self, tag: &str, out: &mut dyn Sink) -> Flow {
        if !self.cfg.starttls || self.backend.is_some() {
            return self.bad(tag, "STARTTLS is not available", out);
        }
        self.ok(tag, "", "Begin TLS negotiation now", out);
        Flow::StartTls
    }

    fn ask_login(&mut self, tag: &str, user: String, password: String) -> Flow {
        self.pending = Pending::Login {
            tag: tag.to_string(),
        };
        Flow::Login(Credentials { user, password })
    }

    /// AUTHENTICATE (RFC 9051 6.2.2): PLAIN (RFC 4616), with SASL-IR (RFC 4959).
    fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<&[u8]>,
        out: &mut dyn Sink,
    ) -> Flow {
        if self.user.is_some() {
            return self.bad(tag, "already authenticated", out);
        }
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return self.no(tag, "", "Unsupported authentication mechanism", out);
        }
        if self.login_disabled() {
            self.refused_plaintext = true;
            return self.no(tag, "PRIVACYREQUIRED", "AUTHENTICATE PLAIN needs TLS", out);
        }
        match initial {
            Some(line) => self.plain(tag, line, out),
            None => {
                out.buf().extend_from_slice(b"+ \r\n");
                self.pending = Pending::AuthLine {
                    tag: tag.to_string(),
                };
                Flow::AuthLine
            }
        }
    }

    /// The client's line after `+ ` (without CRLF): base64 of the PLAIN message, or `*` to cancel.
    pub fn auth_line(&mut self, line: &[u8], out: &mut dyn Sink) -> Flow {
        let Pending::AuthLine { tag } = std::mem::replace(&mut self.pending, Pending::None) else {
            return Flow::Ready;
        };
        if line == b"*" {
            // RFC 9051 6.2.2: the client cancelled.
            return self.bad(&tag, "AUTHENTICATE cancelled", out);
        }
        self.plain(&tag, line, out)
    }

    fn plain(&mut self, tag: &str, b64: &[u8], out: &mut dyn Sink) -> Flow {
        let decoded = if b64 == b"=" {
            Some(Vec::new())
        } else {
            super::command::raw::decode_base64(b64)
        };
        let Some(decoded) = decoded else {
            return self.bad(tag, "Invalid base64", out);
        };
        // authzid NUL authcid NUL passwd (RFC 4616 2).
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(authz), Some(user), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.bad(tag, "Malformed PLAIN message", out);
        };
        let (Ok(authz), Ok(user), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(user),
            std::str::from_utf8(pass),
        ) else {
            return self.no(tag, "AUTHENTICATIONFAILED", "Invalid credentials", out);
        };
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(user) {
            return self.no(
                tag,
                "AUTHORIZATIONFAILED",
                "Acting as another user is not allowed",
                out,
            );
        }
        self.ask_login(tag, user.to_string(), pass.to_string())
    }

    /// The shell's verdict: the credentials were wrong (RFC 9051 6.2.3, RFC 5530 AUTHENTICATIONFAILED).
    pub fn login_failed(&mut self, out: &mut dyn Sink) -> Flow {
        let Pending::Login { tag } = std::mem::replace(&mut self.pending, Pending::None) else {
            return Flow::Ready;
        };
        reply::tagged(
            out.buf(),
            &tag,
            Status::No,
            "AUTHENTICATIONFAILED",
            "Invalid credentials",
        );
        Flow::Ready
    }

    /// The shell refused to check the credentials: the client's address is blocked after too many
    /// failed logins (issue 12). RFC 5530 3 UNAVAILABLE: a temporary failure, so clients try again
    /// later rather than ask their user for another password.
    pub fn login_blocked(&mut self, out: &mut dyn Sink) -> Flow {
        let Pending::Login { tag } = std::mem::replace(&mut self.pending, Pending::None) else {
            return Flow::Ready;
        };
        reply::tagged(
            out.buf(),
            &tag,
            Status::No,
            "UNAVAILABLE",
            "Too many failed logins from your address, try again later",
        );
        Flow::Ready
    }

    /// The credentials were right: writes the tagged OK (RFC 9051 6.2.3, with the capabilities of
    /// the authenticated state). The session then needs its account's backend: [`Session::attach`]
    /// here, or [`Session::into_handoff`] and [`Handoff::resume`] on the owner shard.
    pub fn logged_in(&mut self, user: &str, out: &mut dyn Sink) -> Flow {
        let Pending::Login { tag } = std::mem::replace(&mut self.pending, Pending::None) else {
            return Flow::Ready;
        };
        self.user = Some(user.to_string());
        self.bad = 0;
        let code = format!("CAPABILITY {}", self.capabilities());
        reply::tagged(out.buf(), &tag, Status::Ok, &code, "Logged in");
        Flow::Ready
    }

    /// Gives a logged-in session its account's backend (on the shard that owns the account).
    pub fn attach(&mut self, backend: B) {
        if self.user.is_some() {
            self.backend = Some(backend);
        }
    }

    /// [`Session::logged_in`] and [`Session::attach`] in one (the account is on this shard).
    pub fn login_ok(&mut self, user: &str, backend: B, out: &mut dyn Sink) -> Flow {
        let flow = self.logged_in(user, out);
        self.attach(backend);
        flow
    }

    /// The logged-in session without a backend, to move to the owner shard; `None` unless
    /// [`Session::logged_in`] came first and no backend is attached.
    pub fn into_handoff(self) -> Option<Handoff> {
        match (self.user, &self.backend) {
            (Some(user), None) => Some(Handoff {
                cfg: self.cfg,
                enabled: self.enabled,
                user,
            }),
            _ => None,
        }
    }

    /// IDLE (RFC 2177): `+ idling`, then [`Flow::Idle`].
    fn idle(&mut self, tag: &str, out: &mut dyn Sink) -> Flow {
        self.report(true, &[], false, out);
        out.buf().extend_from_slice(b"+ idling\r\n");
        self.pending = Pending::Idle {
            tag: tag.to_string(),
        };
        Flow::Idle
    }

    /// While idling: the account changed; report what concerns the selected mailbox (everything
    /// may be reported during IDLE, expunges included, RFC 2177 / RFC 9051 6.3.13).
    pub fn idle_changed(&mut self, out: &mut dyn Sink) -> Flow {
        if !matches!(self.pending, Pending::Idle { .. }) {
            return Flow::Ready;
        }
        self.report(true, &[], false, out);
        Flow::Idle
    }

    /// The client ended IDLE with `DONE`.
    pub fn idle_done(&mut self, out: &mut dyn Sink) -> Flow {
        let Pending::Idle { tag } = std::mem::replace(&mut self.pending, Pending::None) else {
            return Flow::Ready;
        };
        self.done(&tag, "IDLE terminated", true, out)
    }

    /// The client sent something other than `DONE` during IDLE.
    pub fn idle_bad(&mut self, out: &mut dyn Sink) -> Flow {
        let Pending::Idle { tag } = std::mem::replace(&mut self.pending, Pending::None) else {
            return Flow::Ready;
        };
        self.bad(&tag, "Expected DONE", out)
    }

    /// A follower of the account's changes (for the shell to await during IDLE).
    pub fn follow(&self) -> Option<B::Feed> {
        self.backend.as_ref().map(Backend::follow)
    }

    /// A read time limit expired (RFC 9051 5.4 autologout).
    pub fn timed_out(&mut self, out: &mut dyn Sink) {
        reply::bye(out.buf(), "Autologout; idle for too long");
        self.logged_out = true;
    }

    /// The server is shutting down (RFC 9051 7.1.5).
    pub fn shutting_down(&mut self, out: &mut dyn Sink) {
        reply::bye(out.buf(), "Server shutting down");
        self.logged_out = true;
    }

    /// True after LOGOUT or a BYE: nothing more will be handled.
    pub fn is_closed(&self) -> bool {
        self.logged_out
    }
}

/// Awaits the next change of `feed` (a helper for shells and tests).
pub async fn next_change<F: ChangeFeed>(feed: &mut F) -> bool {
    feed.changed().await
}
