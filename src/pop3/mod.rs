//! POP3 (RFC 1939, with CAPA of RFC 2449 and AUTH PLAIN of RFC 5034): a sans-io core (command
//! parser, session state machine, reply encoder, dot-stuffing writer) and its shell.
//!
//! How the shell drives the core (`conn.rs` and `store.rs` are the shell's):
//! - [`Session::new`] writes the greeting. Input goes to [`Session::feed`], which frames lines (bounded:
//!   [`Config::max_line`]; a longer line is answered `-ERR` and skipped), runs every complete line it
//!   finds (pipelining, RFC 2449 6.6) and returns the bytes used and a [`Flow`] saying what to do next.
//!   A shell that frames lines itself calls [`Session::line`] with one line (without its CRLF).
//! - Login: [`Flow::Login`] carries the credentials (USER/PASS or AUTH PLAIN). The shell verifies them
//!   off the shard, then answers [`Session::login_failed`] (`-ERR [AUTH]`), or moves the session to
//!   the account's owner shard ([`Session::into_handoff`], [`Handoff::resume`]) and locks the maildrop
//!   there: [`Session::locked`] with the [`Maildrop`] (`+OK`, TRANSACTION state), or
//!   [`Session::in_use`] (`-ERR [IN-USE]`), or [`Session::unavailable`] (`-ERR [SYS/TEMP]`).
//! - RETR and TOP write the message from the [`Maildrop`]'s body handle (an mmap), dot-stuffed on the
//!   fly: unchanged runs are spliced into the [`Sink`], never copied whole. A long message goes out in
//!   pieces of [`Config::send_budget`]: [`Flow::Continue`] asks the shell to flush and call
//!   [`Session::feed`] again (with the input it did not use yet).
//! - QUIT in TRANSACTION: [`Flow::Update`] lists the UIDs marked deleted; the shell expunges them all
//!   or none, durably, then calls [`Session::updated`] (`+OK` or `-ERR [SYS/TEMP]`) and closes. A
//!   connection that ends any other way deletes nothing (RFC 1939 6).
//! - UIDL values are `UIDVALIDITY.UID` of the maildrop (INBOX), the same pair IMAP reports.
//! - Without TLS, USER/PASS and AUTH PLAIN are refused with `-ERR [AUTH]` unless
//!   [`Config::plaintext_login`] allows them (issue 12); a blocked client address gets
//!   [`Session::login_blocked`]. STLS (RFC 2595 4): [`Flow::StartTls`] stops at the command; the
//!   shell discards the input behind it, runs the handshake and goes on with [`Session::after_stls`].

pub mod command;
pub mod conn;
pub mod line;
pub mod metrics;
pub mod reply;
mod session;
pub mod store;
pub mod stuff;

pub use session::{Counts, Handoff, Session};

use crate::net::out::{Bytes, Out};

/// Settings shared by the sessions of a listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Text of the greeting after `+OK ` (RFC 1939 4).
    pub greeting: String,
    /// The IMPLEMENTATION capability's text (RFC 2449 6.9).
    pub implementation: String,
    /// Longest command line, CRLF included. RFC 2449 4 has clients keep to 255 octets; a server may
    /// take more.
    pub max_line: usize,
    /// Longest line answering an AUTH continuation (a base64 SASL response, RFC 5034 4).
    pub max_auth_line: usize,
    /// EXPIRE (RFC 2449 6.7): days the server keeps retrieved messages; `None` is `NEVER`.
    pub expire_days: Option<u32>,
    /// LOGIN-DELAY (RFC 2449 6.8): seconds between logins the server enforces (the shell's delay).
    pub login_delay: u32,
    /// STLS (RFC 2595 4) is offered (a certificate is configured and TLS is not on yet).
    pub stls: bool,
    /// The connection is protected by TLS.
    pub tls_active: bool,
    /// USER/PASS and AUTH PLAIN are allowed without TLS (`net::auth::plaintext_allowed`).
    pub plaintext_login: bool,
    /// Unchanged runs of a message at least this long are spliced, shorter ones copied.
    pub splice_min: usize,
    /// Bytes of message a call writes before it returns [`Flow::Continue`] to let the shell flush.
    pub send_budget: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            greeting: "shardmail POP3 ready".into(),
            implementation: "shardmail".into(),
            max_line: 512,
            max_auth_line: 8 << 10,
            expire_days: None,
            login_delay: 0,
            stls: false,
            tls_active: false,
            plaintext_login: true,
            splice_min: crate::net::out::SPLICE_MIN,
            send_budget: 256 << 10,
        }
    }
}

/// Where the session writes: reply bytes, and message bytes written from where they are.
pub trait Sink {
    fn buf(&mut self) -> &mut Vec<u8>;
    /// Appends `bytes` after what `buf` holds now (the shell writes them from the mmap).
    fn splice(&mut self, bytes: Bytes);
}

/// A plain buffer copies spliced bytes (tests, small outputs).
impl Sink for Vec<u8> {
    fn buf(&mut self) -> &mut Vec<u8> {
        self
    }
    fn splice(&mut self, bytes: Bytes) {
        self.extend_from_slice((*bytes).as_ref());
    }
}

impl Sink for Out {
    fn buf(&mut self) -> &mut Vec<u8> {
        self
    }
    fn splice(&mut self, bytes: Bytes) {
        Out::splice(self, bytes);
    }
}

/// What the shell does after a session call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Every complete line was handled: flush, then read more input.
    Ready,
    /// Output is waiting (a long RETR/TOP, or many pipelined replies): flush it, then call
    /// [`Session::feed`] again with the input not used yet.
    Continue,
    /// Verify these credentials (see the module doc for what follows).
    Login(Credentials),
    /// QUIT in TRANSACTION (RFC 1939 6, UPDATE state): expunge these UIDs of the maildrop all or none,
    /// durably, then call [`Session::updated`] and close. Never empty.
    Update { delete: Vec<u32> },
    /// `+OK` to STLS was written: flush, discard the input not used, then start TLS (RFC 2595 4).
    StartTls,
    /// The last reply was written: flush and close (QUIT without deletions, a failed UPDATE).
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

/// One message of the maildrop as fixed when it was locked (RFC 1939 5: the numbering and sizes
/// stay for the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub uid: u32,
    /// Octets of the message as stored (before dot-stuffing): what LIST, STAT and RETR's `+OK` say.
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaildropError {
    /// The message was expunged since the maildrop was locked (by IMAP): RETR/TOP get `-ERR`.
    #[error("message {uid} is no longer in the maildrop")]
    Gone { uid: u32 },
    /// Storage failed; the client is told `-ERR [SYS/TEMP]`.
    #[error("maildrop unavailable: {0}")]
    Unavailable(String),
}

/// What the session reads from the locked maildrop (INBOX of the account, on its owner shard).
/// Deletions are not here: they happen once, at QUIT, through [`Flow::Update`].
pub trait Maildrop {
    /// A message's bytes, kept alive while they are written (a reference into the log's mmap).
    type Body: AsRef<[u8]> + Clone + 'static;
    /// UIDVALIDITY of INBOX: UIDL is `UIDVALIDITY.UID` (stable across restarts, agrees with IMAP).
    fn uidvalidity(&self) -> u32;
    /// The messages when the maildrop was locked, UIDs ascending; read once by [`Session::locked`].
    fn listing(&self) -> Vec<Entry>;
    /// The bytes of message `uid` (from the listing).
    fn body(&self, uid: u32) -> Result<Self::Body, MaildropError>;
}
