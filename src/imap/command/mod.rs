//! IMAP command parsing (RFC 9051 9 and RFC 3501 9 formal syntax, with the extensions named at each
//! rule): bytes from the client to the [`Tagged`] commands of `imap::types`, borrowed in place.
//!
//! Two layers:
//! - [`Receiver`] frames commands in the shell's read buffer: it finds the end of a command across its
//!   literals (RFC 9051 4.3; LITERAL+/LITERAL- RFC 7888), says when to send a continuation request,
//!   enforces [`Limits`] without holding more than they allow, and skips what a rejected command still
//!   sends. Its work per read is proportional to the new bytes, never to the literal bytes already in.
//! - [`parse`] reads one whole framed command. It never panics and never allocates more than the
//!   command's size allows; strings are slices of the input unless a quoted string had escapes.
//!
//! Plus the raw readers the session switches to: the `DONE` line that ends IDLE (RFC 2177) and the
//! client's AUTHENTICATE responses (RFC 9051 6.2.2), in [`raw`].
//!
//! Why hand-written and not `imap-codec`: see the commit that introduced this module. In short,
//! imap-types 1.0 lacks SORT/THREAD, BINARY, ID, QUOTA, ESEARCH RETURN, LIST-EXTENDED and the RFC
//! 7162/5032 search keys; 2.0 has more but is an alpha; both produce their own types (a conversion and
//! copy per command into ours), have no limits to configure, and re-parse a command from its start on
//! every read while a literal arrives.

mod commands;
mod date;
mod fetch;
mod lexer;
mod mailbox;
pub mod raw;
mod receiver;
mod search;
mod sequence;
mod store;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_prop;
#[cfg(test)]
mod tests_receiver;
#[cfg(test)]
pub(crate) mod writer;

use crate::imap::types::Tagged;

pub use receiver::{Receiver, Step};

/// Bounds on what one command may hold. Exceeding one is a rejection of that command (BAD, with the
/// `TOOBIG` or `LIMIT` response code the RFCs name), never a larger allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line of a command (the text between literals), CRLF included.
    pub max_line: usize,
    /// Largest literal.
    pub max_literal: u64,
    /// Largest command: lines and literals together (bounds a MULTIAPPEND held in memory).
    pub max_command: u64,
    /// Literals in one command.
    pub max_literals: usize,
    /// Nesting of parentheses, NOT and OR in SEARCH keys.
    pub max_depth: usize,
    /// Items in one command: search keys, fetch attributes, flags, patterns, status items, ...
    /// (sequence set ranges are bounded by the line length instead: sync clients send long UID sets).
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Dovecot's imap_max_line_length default; long UID sets from sync clients fit.
            max_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_command: 96 * 1024 * 1024,
            max_literals: 1000,
            max_depth: 32,
            max_items: 2000,
        }
    }
}

impl Limits {
    /// Before LOGIN/AUTHENTICATE succeeds a client has no business sending large literals (only LOGIN,
    /// AUTHENTICATE, ID, ... are valid): small bounds keep an unauthenticated connection from making
    /// the server hold a large command. Switch with `Receiver::set_options` after login.
    pub fn pre_auth() -> Limits {
        Limits {
            max_line: 8 * 1024,
            max_literal: 8 * 1024,
            max_command: 16 * 1024,
            max_literals: 8,
            ..Limits::default()
        }
    }
}

/// What the session advertises that changes the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub limits: Limits,
    /// LITERAL+ (RFC 7888 3): non-synchronizing literals of any size. Without it, LITERAL- rules
    /// (RFC 7888 4, part of IMAP4rev2): at most 4096 bytes.
    pub literal_plus: bool,
    /// SEARCHRES (RFC 5182): `RETURN (SAVE)` and `$` are accepted only when advertised (the session
    /// does, and IMAP4rev2 requires it: RFC 9051 7.1).
    pub searchres: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            literal_plus: true,
            searchres: true,
        }
    }
}

/// Largest non-synchronizing literal under LITERAL- (RFC 7888 4).
pub const LITERAL_MINUS_MAX: u64 = 4096;

/// Why a command was not parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input ended inside the command (only a receiver validating a prefix sees this).
    Incomplete,
    /// Malformed: `tag BAD reason`.
    Syntax(&'static str),
    /// Over a count or depth limit: `tag BAD [LIMIT] reason` (RFC 9051 7.1).
    Limit(&'static str),
    /// Over a size limit: `tag BAD [TOOBIG] reason` (RFC 7888 4, RFC 4469 5), or NO for a synchronizing
    /// literal we refuse before the client sends it.
    TooBig(&'static str),
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Incomplete => "incomplete command",
            Error::Syntax(r) | Error::Limit(r) | Error::TooBig(r) => r,
        }
    }

    /// The response code to put in the reply, if any.
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::Limit(_) => Some(Code::Limit),
            Error::TooBig(_) => Some(Code::TooBig),
            _ => None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// Response codes a rejection carries (RFC 9051 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    TooBig,
    Limit,
}

impl Code {
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::TooBig => "TOOBIG",
            Code::Limit => "LIMIT",
        }
    }
}

/// A command that did not parse, with its tag when one was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure<'a> {
    pub tag: Option<&'a str>,
    pub error: Error,
}

/// Parses exactly one command: `input` is the tag through the final CRLF, literals included (as the
/// [`Receiver`] frames it). Never panics.
pub fn parse<'a>(input: &'a [u8], opts: &Options) -> Result<Tagged<'a>, Failure<'a>> {
    commands::tagged(input, opts)
}
