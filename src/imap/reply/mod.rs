//! The IMAP response encoder (RFC 9051 7, RFC 3501 7): functions that append one response to an
//! output buffer. The session decides what to say; this module decides how it looks on the wire.
//!
//! - this file: status responses (tagged and untagged OK/NO/BAD, PREAUTH, BYE) with their response
//!   codes (RFC 9051 7.1, RFC 5530, and the codes of the extensions), continuation requests;
//! - [`data`]: untagged data (CAPABILITY, ENABLED, FLAGS, EXISTS, EXPUNGE, VANISHED, LIST, STATUS,
//!   SEARCH, ESEARCH, SORT, THREAD, NAMESPACE, ID, QUOTA);
//! - [`fetch`]: the FETCH response builder, flags and INTERNALDATE.
//!
//! Sets of numbers (VANISHED, MODIFIED, COPYUID, ESEARCH ALL) go out through
//! [`crate::imap::seqset::write_compact`]: runs in the order given, so COPYUID's pairs stay aligned.
//!
//! Strings go through [`crate::imap::wire`]; mailbox names through [`mailbox`], which picks modified
//! UTF-7 or UTF-8 as the session says (UTF-8 once the client enabled IMAP4rev2 or UTF8=ACCEPT).
//! Human-readable text is forced to one line of printable ASCII: nothing a peer sends can end a
//! response early or smuggle a second one (a name echoed in a NO text, say).

pub mod data;
pub mod fetch;

#[cfg(test)]
pub(crate) mod reader;
#[cfg(test)]
mod tests;

use super::capability::Capabilities;
use super::seqset::write_compact;
use super::utf7;
use super::wire;

/// The condition of a status response that may be tagged (RFC 9051 7.1.1-7.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Ok,
    No,
    Bad,
}

impl Cond {
    fn word(self) -> &'static [u8] {
        match self {
            Cond::Ok => b"OK",
            Cond::No => b"NO",
            Cond::Bad => b"BAD",
        }
    }
}

/// A response code (RFC 9051 7.1, RFC 5530 3, and per extension the RFC named).
#[derive(Debug, Clone, Copy)]
pub enum Code<'a> {
    Alert,
    /// The charsets we support (RFC 9051 7.1 BADCHARSET); may be empty.
    BadCharset(&'a [&'a str]),
    Capability(&'a Capabilities),
    Parse,
    /// Flags a client can store (`\*` for "new keywords too").
    PermanentFlags(&'a [&'a str]),
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(u32),
    UidValidity(u32),
    /// RFC 3501 only (IMAP4rev2 dropped it): the first unseen message's sequence number.
    Unseen(u32),
    /// RFC 7162 3.1.1.
    HighestModSeq(u64),
    /// RFC 7162 3.1.2.
    NoModSeq,
    /// RFC 7162 3.1.3: the messages a STORE UNCHANGEDSINCE left alone (numbers, ascending).
    Modified(&'a [u32]),
    /// RFC 4315 3: the new UIDs of an APPEND (several with MULTIAPPEND).
    AppendUid {
        uidvalidity: u32,
        uids: &'a [u32],
    },
    /// RFC 4315 3: COPY/MOVE, source and destination UIDs in corresponding order.
    CopyUid {
        uidvalidity: u32,
        from: &'a [u32],
        to: &'a [u32],
    },
    /// RFC 4315 3.
    UidNotSticky,
    /// RFC 7162 3.2.11: the previous mailbox was closed by this SELECT/EXAMINE.
    Closed,
    // RFC 5530 3.
    Unavailable,
    AuthenticationFailed,
    AuthorizationFailed,
    Expired,
    PrivacyRequired,
    ContactAdmin,
    NoPerm,
    InUse,
    ExpungeIssued,
    Corruption,
    ServerBug,
    ClientBug,
    Cannot,
    Limit,
    OverQuota,
    AlreadyExists,
    NonExistent,
    /// RFC 3516 4.3.
    UnknownCte,
    /// RFC 4469 / RFC 7889: the message is larger than the server accepts.
    TooBig,
    /// RFC 4978 3.
    CompressionActive,
    /// RFC 9051 7.1: DELETE of a mailbox with children.
    HasChildren,
    /// RFC 6154 5.3: CREATE USE with an attribute we cannot give.
    UseAttr,
    /// Anything else: an atom and, optionally, text (which must not hold `]`; it is sanitized).
    Other(&'a str, Option<&'a str>),
}

impl Code<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let simple: &[u8] = match *self {
            Code::Alert => b"ALERT",
            Code::BadCharset(list) => {
                out.extend_from_slice(b"BADCHARSET");
                if !list.is_empty() {
                    out.extend_from_slice(b" (");
                    for (i, c) in list.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        wire::astring(out, c.as_bytes());
                    }
                    out.push(b')');
                }
                return;
            }
            Code::Capability(caps) => {
                out.extend_from_slice(b"CAPABILITY ");
                caps.write(out);
                return;
            }
            Code::Parse => b"PARSE",
            Code::PermanentFlags(flags) => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                fetch::flag_list(out, flags.iter().copied());
                return;
            }
            Code::ReadOnly => b"READ-ONLY",
            Code::ReadWrite => b"READ-WRITE",
            Code::TryCreate => b"TRYCREATE",
            Code::UidNext(n) => return number_code(out, b"UIDNEXT", n.into()),
            Code::UidValidity(n) => return number_code(out, b"UIDVALIDITY", n.into()),
            Code::Unseen(n) => return number_code(out, b"UNSEEN", n.into()),
            Code::HighestModSeq(n) => return number_code(out, b"HIGHESTMODSEQ", n),
            Code::NoModSeq => b"NOMODSEQ",
            Code::Modified(set) => {
                out.extend_from_slice(b"MODIFIED ");
                write_compact(out, set.iter().copied());
                return;
            }
            Code::AppendUid { uidvalidity, uids } => {
                out.extend_from_slice(b"APPENDUID ");
                number(out, uidvalidity.into());
                out.push(b' ');
                write_compact(out, uids.iter().copied());
                return;
            }
            Code::CopyUid {
                uidvalidity,
                from,
                to,
            } => {
                out.extend_from_slice(b"COPYUID ");
                number(out, uidvalidity.into());
                out.push(b' ');
                write_compact(out, from.iter().copied());
                out.push(b' ');
                write_compact(out, to.iter().copied());
                return;
            }
            Code::UidNotSticky => b"UIDNOTSTICKY",
            Code::Closed => b"CLOSED",
            Code::Unavailable => b"UNAVAILABLE",
            Code::AuthenticationFailed => b"AUTHENTICATIONFAILED",
            Code::AuthorizationFailed => b"AUTHORIZATIONFAILED",
            Code::Expired => b"EXPIRED",
            Code::PrivacyRequired => b"PRIVACYREQUIRED",
            Code::ContactAdmin => b"CONTACTADMIN",
            Code::NoPerm => b"NOPERM",
            Code::InUse => b"INUSE",
            Code::ExpungeIssued => b"EXPUNGEISSUED",
            Code::Corruption => b"CORRUPTION",
            Code::ServerBug => b"SERVERBUG",
            Code::ClientBug => b"CLIENTBUG",
            Code::Cannot => b"CANNOT",
            Code::Limit => b"LIMIT",
            Code::OverQuota => b"OVERQUOTA",
            Code::AlreadyExists => b"ALREADYEXISTS",
            Code::NonExistent => b"NONEXISTENT",
            Code::UnknownCte => b"UNKNOWN-CTE",
            Code::TooBig => b"TOOBIG",
            Code::CompressionActive => b"COMPRESSIONACTIVE",
            Code::HasChildren => b"HASCHILDREN",
            Code::UseAttr => b"USEATTR",
            Code::Other(atom, text) => {
                // resp-text-code = atom [SP 1*<any TEXT-CHAR except "]">]
                let atom = atom.as_bytes();
                if wire::atom(atom) {
                    out.extend_from_slice(atom);
                } else {
                    out.extend_from_slice(b"X-INVALID");
                }
                if let Some(t) = text {
                    out.push(b' ');
                    push_text(out, t.as_bytes(), b"-", true);
                }
                return;
            }
        };
        out.extend_from_slice(simple);
    }
}

fn number_code(out: &mut Vec<u8>, name: &[u8], n: u64) {
    out.extend_from_slice(name);
    out.push(b' ');
    number(out, n);
}

/// A decimal number.
pub fn number(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `text` as `text` (RFC 9051 9: 1*TEXT-CHAR): CR, LF, other controls and 8-bit bytes become
/// `?` (IMAP4rev1 text is 7-bit); `]` too inside a response code. Empty text becomes `empty`, since
/// IMAP4rev1 requires at least one character and some clients misparse a line ending after `]`.
fn push_text(out: &mut Vec<u8>, text: &[u8], empty: &[u8], in_code: bool) {
    if text.is_empty() {
        out.extend_from_slice(empty);
        return;
    }
    out.extend(text.iter().map(|&b| {
        if (0x20..0x7f).contains(&b) && !(in_code && b == b']') {
            b
        } else {
            b'?'
        }
    }));
}

/// Human-readable text as UTF-8 (RFC 9051 9: `text = 1*(TEXT-CHAR / UTF8-2 / UTF8-3 / UTF8-4)`,
/// "non-ASCII text can only be returned after ENABLE IMAP4rev2"; RFC 6855 3 likewise after ENABLE
/// UTF8=ACCEPT). Controls (C0, DEL and C1) still become `?`.
fn push_utf8_text(out: &mut Vec<u8>, text: &str, empty: &[u8]) {
    if text.is_empty() {
        out.extend_from_slice(empty);
        return;
    }
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if c.is_control() {
            out.push(b'?');
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// How status text is written: 7-bit (IMAP4rev1) or UTF-8 (IMAP4rev2 or UTF8=ACCEPT enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMode {
    Ascii,
    Utf8,
}

fn text_in(out: &mut Vec<u8>, mode: TextMode, text: &str, empty: &[u8]) {
    match mode {
        TextMode::Ascii => push_text(out, text.as_bytes(), empty, false),
        TextMode::Utf8 => push_utf8_text(out, text, empty),
    }
}

/// `resp-text`: `[CODE] text`. Without a code, a text that starts with `[` would be read as a code,
/// so that bracket becomes `(`.
fn resp_text(out: &mut Vec<u8>, code: Option<&Code<'_>>, text: &str, mode: TextMode) {
    if let Some(code) = code {
        out.push(b'[');
        code.write(out);
        out.extend_from_slice(b"] ");
        text_in(out, mode, text, b"done");
    } else if let Some(rest) = text.strip_prefix('[') {
        out.push(b'(');
        text_in(out, mode, rest, b"");
    } else {
        text_in(out, mode, text, b"done");
    }
    out.extend_from_slice(b"\r\n");
}

/// `tag OK [code] text` (and NO, BAD): the completion of a command.
pub fn tagged(out: &mut Vec<u8>, tag: &str, cond: Cond, code: Option<&Code<'_>>, text: &str) {
    tagged_in(out, TextMode::Ascii, tag, cond, code, text);
}

/// [`tagged`] with its text written as `mode` allows.
pub fn tagged_in(
    out: &mut Vec<u8>,
    mode: TextMode,
    tag: &str,
    cond: Cond,
    code: Option<&Code<'_>>,
    text: &str,
) {
    // Tags come from the parser (astring characters but `+`); guard anyway so a bad one cannot break
    // the line.
    if tag.is_empty() || !tag.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        out.push(b'*');
    } else {
        out.extend_from_slice(tag.as_bytes());
    }
    out.push(b' ');
    out.extend_from_slice(cond.word());
    out.push(b' ');
    resp_text(out, code, text, mode);
}

/// `* OK [code] text` (and NO, BAD): untagged status (warnings, the greeting, SELECT's codes).
pub fn untagged(out: &mut Vec<u8>, cond: Cond, code: Option<&Code<'_>>, text: &str) {
    untagged_in(out, TextMode::Ascii, cond, code, text);
}

/// [`untagged`] with its text written as `mode` allows.
pub fn untagged_in(
    out: &mut Vec<u8>,
    mode: TextMode,
    cond: Cond,
    code: Option<&Code<'_>>,
    text: &str,
) {
    out.extend_from_slice(b"* ");
    out.extend_from_slice(cond.word());
    out.push(b' ');
    resp_text(out, code, text, mode);
}

/// `* PREAUTH [code] text` (RFC 9051 7.1.4): a greeting for an already authenticated connection.
pub fn preauth(out: &mut Vec<u8>, code: Option<&Code<'_>>, text: &str) {
    out.extend_from_slice(b"* PREAUTH ");
    resp_text(out, code, text, TextMode::Ascii);
}

/// `* BYE [code] text` (RFC 9051 7.1.5): the server is closing the connection.
pub fn bye(out: &mut Vec<u8>, code: Option<&Code<'_>>, text: &str) {
    out.extend_from_slice(b"* BYE ");
    resp_text(out, code, text, TextMode::Ascii);
}

/// `+ text` (RFC 9051 7.5): go on with the literal or the command.
pub fn continuation(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+ ");
    push_text(out, text.as_bytes(), b"go ahead", false);
    out.extend_from_slice(b"\r\n");
}

/// `+ base64` (RFC 9051 6.2.2): a SASL challenge; an empty one is `+ ` alone (RFC 4959 for PLAIN).
pub fn continuation_base64(out: &mut Vec<u8>, challenge: &[u8]) {
    out.extend_from_slice(b"+ ");
    base64(out, challenge);
    out.extend_from_slice(b"\r\n");
}

fn base64(out: &mut Vec<u8>, data: &[u8]) {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63]);
        out.push(B64[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63]
        } else {
            b'='
        });
    }
}

/// How mailbox names go out: modified UTF-7 (IMAP4rev1) or UTF-8 (IMAP4rev2 or UTF8=ACCEPT enabled,
/// RFC 9051 5.1, RFC 6855 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Utf7,
    Utf8,
}

/// A mailbox name (RFC 9051 9 `mailbox`), from the session's UTF-8 form.
pub fn mailbox(out: &mut Vec<u8>, name: &str, names: Names) {
    match names {
        Names::Utf8 => wire::astring(out, name.as_bytes()),
        Names::Utf7 => wire::astring(out, utf7::encode(name).as_bytes()),
    }
}
