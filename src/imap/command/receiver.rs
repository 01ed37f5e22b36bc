//! Framing commands in the shell's read buffer: lines and literals (RFC 9051 4.3), continuation
//! requests for synchronizing literals (RFC 9051 7.5), LITERAL+/LITERAL- (RFC 7888), the limits, and
//! skipping what a rejected command still sends.
//!
//! Contract with the shell: the buffer passed to [`Receiver::receive`] starts at the first byte not yet
//! consumed. After `NeedMore` or `Continue` the shell appends what it reads and calls again with the same
//! start; after `Command`, `Reject` or `Skip` it drops the bytes named from the front, then calls again
//! (more commands may be pipelined behind). The receiver remembers how far it has framed, so each call
//! scans only new line bytes, and literal data is jumped over by its count, never scanned: the work per
//! command is linear in its size however the bytes arrive.

use memchr::memchr;

use super::commands;
use super::{Error, Options, LITERAL_MINUS_MAX};
use crate::imap::types::Tagged;

/// What the shell does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A whole command in `buf[..used]`: hand it to the session, then drop `used` bytes.
    Command { command: Tagged<'a>, used: usize },
    /// Read more: nothing changes until the buffer holds at least `min_len` bytes (a literal's end,
    /// or one more byte of a line). A shell may reserve that much.
    NeedMore { min_len: usize },
    /// A synchronizing literal was announced by a valid command prefix and its data has not arrived:
    /// send a continuation request (`+ ...`), then read more (RFC 9051 7.5).
    Continue,
    /// The command is rejected: reply `tag BAD [code] reason` (untagged `* BAD` without a tag; `NO`
    /// instead of `BAD` when `no` is set), drop `skip` bytes and call again. The rest of the rejected
    /// command, if the client still sends it, comes back as `Skip`.
    Reject {
        tag: Option<&'a str>,
        error: Error,
        no: bool,
        skip: usize,
    },
    /// Drop `skip` bytes of a rejected command (no reply), then call again.
    Skip(usize),
}

/// Bytes kept at the end of a line being discarded, enough to recognize a literal header there:
/// `~{` + 20 digits + `+}` + CR.
const HEADER_TAIL: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discard {
    /// Framing a command normally.
    No,
    /// Skipping a rejected command up to its line end.
    Line,
    /// Skipping a rejected command's non-synchronizing literal data, then its next line.
    Literal(u64),
}

#[derive(Debug, Clone)]
pub struct Receiver {
    opts: Options,
    /// Bytes of the current command framed so far: whole lines and literals before this point.
    scanned: usize,
    /// Start of the line being framed.
    line_start: usize,
    /// The end of the literal whose data is awaited.
    literal_end: Option<usize>,
    literals: usize,
    discard: Discard,
}

/// A literal header ending a line: its announced size and whether it is synchronizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    len: u64,
    sync: bool,
}

/// `{n}`, `{n+}` or `~{n}` at the end of `line` (the line without its LF; a CR is allowed). A count
/// too large for a u64 is `u64::MAX`, so it fails the size limits.
fn literal_header(line: &[u8]) -> Option<Header> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let (line, sync) = match line.strip_suffix(b"+") {
        Some(l) => (l, false),
        None => (line, true),
    };
    let digits = line.len() - line.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let (rest, digits) = line.split_at(digits);
    if digits.is_empty() || !rest.ends_with(b"{") {
        return None;
    }
    let len = super::lexer::parse_u64(digits).unwrap_or(u64::MAX);
    Some(Header { len, sync })
}

/// The tag of the command at the start of `buf`, if it has one (for the rejection reply).
fn peek_tag(buf: &[u8]) -> Option<&str> {
    let opts = Options::default();
    let mut c = super::lexer::Cursor::new(buf, &opts);
    commands::tag(&mut c).ok()
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver::new(Options::default())
    }
}

impl Receiver {
    pub fn new(opts: Options) -> Self {
        Receiver {
            opts,
            scanned: 0,
            line_start: 0,
            literal_end: None,
            literals: 0,
            discard: Discard::No,
        }
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Change what the session advertises (e.g. SEARCHRES after ENABLE); takes effect with the next
    /// command.
    pub fn set_options(&mut self, opts: Options) {
        self.opts = opts;
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.line_start = 0;
        self.literal_end = None;
        self.literals = 0;
    }

    /// Frame (and once whole, parse) the command at the start of `buf`.
    pub fn receive<'a>(&mut self, buf: &'a [u8]) -> Step<'a> {
        match self.discard {
            Discard::No => self.frame(buf),
            Discard::Literal(left) => {
                if buf.is_empty() {
                    return Step::NeedMore { min_len: 1 };
                }
                let n = left.min(buf.len() as u64);
                let left = left - n;
                self.discard = if left == 0 {
                    Discard::Line
                } else {
                    Discard::Literal(left)
                };
                // n <= buf.len(), so it fits a usize.
                Step::Skip(n as usize)
            }
            Discard::Line => match memchr(b'\n', buf) {
                None if buf.len() > HEADER_TAIL => Step::Skip(buf.len() - HEADER_TAIL),
                None => Step::NeedMore {
                    min_len: buf.len() + 1,
                },
                Some(lf) => {
                    // A non-synchronizing literal still comes; a synchronizing one will not: the
                    // client waits for a `+` we never send, and takes the BAD as the end.
                    self.discard = match literal_header(&buf[..lf]) {
                        Some(Header { len, sync: false }) if len > 0 => Discard::Literal(len),
                        Some(Header { sync: false, .. }) => Discard::Line,
                        _ => Discard::No,
                    };
                    Step::Skip(lf + 1)
                }
            },
        }
    }

    fn reject<'a>(
        &mut self,
        buf: &'a [u8],
        error: Error,
        no: bool,
        skip: usize,
        then: Discard,
    ) -> Step<'a> {
        self.reset();
        self.discard = then;
        let error = match error {
            // A complete frame cannot be incomplete; say so rather than "incomplete".
            Error::Incomplete => Error::Syntax("unexpected end of command"),
            e => e,
        };
        Step::Reject {
            tag: peek_tag(buf),
            error,
            no,
            skip,
        }
    }

    /// What follows a rejected line that ended with `header`.
    fn after_line(header: Option<Header>) -> Discard {
        match header {
            Some(Header { len, sync: false }) if len > 0 => Discard::Literal(len),
            Some(Header { sync: false, .. }) => Discard::Line,
            _ => Discard::No,
        }
    }

    fn frame<'a>(&mut self, buf: &'a [u8]) -> Step<'a> {
        let limits = self.opts.limits;
        if self.scanned > buf.len() {
            // The shell dropped bytes it was not told to (a broken contract): frame afresh rather
            // than index past the buffer.
            self.reset();
        }
        loop {
            if let Some(end) = self.literal_end {
                if buf.len() < end {
                    return Step::NeedMore { min_len: end };
                }
                self.literal_end = None;
                self.line_start = end;
                self.scanned = end;
            }
            let Some(i) = memchr(b'\n', &buf[self.scanned..]) else {
                self.scanned = buf.len();
                if buf.len() - self.line_start > limits.max_line {
                    // RFC 9051 7.1 TOOBIG; the rest of the line is skipped as it comes.
                    let skip = buf.len().saturating_sub(HEADER_TAIL).max(self.line_start);
                    return self.reject(
                        buf,
                        Error::TooBig("line too long"),
                        false,
                        skip,
                        Discard::Line,
                    );
                }
                return Step::NeedMore {
                    min_len: buf.len() + 1,
                };
            };
            let lf = self.scanned + i;
            let header = literal_header(&buf[self.line_start..lf]);
            if lf + 1 - self.line_start > limits.max_line {
                return self.reject(
                    buf,
                    Error::TooBig("line too long"),
                    false,
                    lf + 1,
                    Self::after_line(header),
                );
            }
            let Some(h) = header else {
                // The command is whole: parse it once.
                let used = lf + 1;
                return match commands::tagged(&buf[..used], &self.opts) {
                    Ok(command) => {
                        self.reset();
                        Step::Command { command, used }
                    }
                    Err(f) => self.reject(buf, f.error, false, used, Discard::No),
                };
            };
            self.literals += 1;
            let end = (lf as u64 + 1).saturating_add(h.len);
            let refuse = if self.literals > limits.max_literals {
                Some(Error::Limit("too many literals in one command"))
            } else if h.len > limits.max_literal || end > limits.max_command {
                Some(Error::TooBig("literal too large"))
            } else if !h.sync && !self.opts.literal_plus && h.len > LITERAL_MINUS_MAX {
                // RFC 7888 4 (LITERAL-): larger non-synchronizing literals are a BAD [TOOBIG].
                Some(Error::TooBig("non-synchronizing literal over 4096 bytes"))
            } else {
                None
            };
            if let Some(e) = refuse {
                // A synchronizing literal is refused before the client sends it: NO [TOOBIG] (RFC 7889 4,
                // RFC 4469 5); a non-synchronizing one is on its way and is skipped.
                let no = h.sync && matches!(e, Error::TooBig(_));
                return self.reject(buf, e, no, lf + 1, Self::after_line(Some(h)));
            }
            let Ok(end) = usize::try_from(end) else {
                return self.reject(
                    buf,
                    Error::TooBig("literal too large"),
                    h.sync,
                    lf + 1,
                    Self::after_line(Some(h)),
                );
            };
            self.literal_end = Some(end);
            self.scanned = lf + 1;
            // A synchronizing literal's data (and the rest of the command) comes after our `+`;
            // a client that sent them anyway needs none.
            if h.sync && (buf.len() < end || buf.len() == lf + 1) {
                // Ask for the data only if the command so far is valid (RFC 9051 7.5): a BAD instead
                // tells the client not to send it.
                match commands::tagged(&buf[..lf + 1], &self.opts) {
                    Err(f) if f.error != Error::Incomplete => {
                        return self.reject(buf, f.error, false, lf + 1, Discard::No);
                    }
                    _ => return Step::Continue,
                }
            }
        }
    }
}
