//! Client lines that are not commands: the `DONE` that ends IDLE (RFC 2177 3, RFC 9051 6.3.13) and the
//! responses to AUTHENTICATE challenges (RFC 9051 6.2.2: base64, or `*` to cancel), plus base64
//! (RFC 4648 4) for SASL.

use memchr::memchr;

/// Longest line accepted in these exchanges (a SASL response of a few KiB; `DONE` is 4 bytes).
pub const MAX_RAW_LINE: usize = 16 * 1024;

/// The line at the start of `buf` without its CRLF (or bare LF), and the bytes it used.
fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let lf = memchr(b'\n', buf)?;
    let line = &buf[..lf];
    Some((line.strip_suffix(b"\r").unwrap_or(line), lf + 1))
}

/// What the client sent while idling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleInput {
    /// `DONE` (any case): reply to the IDLE command, drop `used` bytes.
    Done { used: usize },
    /// Another line: the IDLE ends with a BAD (the client broke the protocol); drop `used` bytes.
    Other { used: usize },
    /// No whole line yet.
    NeedMore,
    /// A line longer than `MAX_RAW_LINE` without its end: end the IDLE with a BAD and drop `skip` bytes;
    /// the rest of that line then reaches the command receiver, which rejects it.
    TooLong { skip: usize },
}

/// RFC 2177 3 / RFC 9051 6.3.13: the client ends IDLE with `DONE` CRLF.
pub fn idle_input(buf: &[u8]) -> IdleInput {
    match line(buf) {
        Some((l, used)) if l.eq_ignore_ascii_case(b"DONE") => IdleInput::Done { used },
        Some((_, used)) => IdleInput::Other { used },
        None if buf.len() > MAX_RAW_LINE => IdleInput::TooLong { skip: buf.len() },
        None => IdleInput::NeedMore,
    }
}

/// The client's answer to an AUTHENTICATE challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthInput<'a> {
    /// A base64 response as sent (possibly empty); decode with [`decode_base64`].
    Response {
        base64: &'a [u8],
        used: usize,
    },
    /// `*`: the client cancels; reply `tag BAD` (RFC 9051 6.2.2).
    Cancel {
        used: usize,
    },
    /// Not base64: reply `tag BAD` and end the exchange.
    Invalid {
        used: usize,
    },
    NeedMore,
    /// Too long without its end: end the exchange with a BAD and drop `skip` bytes.
    TooLong {
        skip: usize,
    },
}

pub fn auth_input(buf: &[u8]) -> AuthInput<'_> {
    match line(buf) {
        Some((b"*", used)) => AuthInput::Cancel { used },
        Some((l, used)) if valid_base64(l) => AuthInput::Response { base64: l, used },
        Some((_, used)) => AuthInput::Invalid { used },
        None if buf.len() > MAX_RAW_LINE => AuthInput::TooLong { skip: buf.len() },
        None => AuthInput::NeedMore,
    }
}

pub fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

fn sextet(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// RFC 9051 9 `base64 = *(4base64-char) [base64-terminal]`: groups of four, `=` padding only at the end.
pub fn valid_base64(s: &[u8]) -> bool {
    decoded_len(s).is_some()
}

fn decoded_len(s: &[u8]) -> Option<usize> {
    if s.len() & 3 != 0 {
        return None;
    }
    let pad = s.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 || s[..s.len() - pad].iter().any(|&b| sextet(b).is_none()) {
        return None;
    }
    Some(s.len() / 4 * 3 - pad)
}

/// Decodes RFC 4648 base64 with padding; `None` if `s` is not valid base64.
pub fn decode_base64(s: &[u8]) -> Option<Vec<u8>> {
    let len = decoded_len(s)?;
    let mut out = Vec::with_capacity(len + 2);
    for chunk in s.chunks_exact(4) {
        let mut n = 0u32;
        for &b in chunk {
            n = (n << 6) | sextet(b).unwrap_or(0);
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.truncate(len);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_ends_with_done_in_any_case() {
        assert_eq!(
            idle_input(b"DONE\r\nA1 NOOP\r\n"),
            IdleInput::Done { used: 6 }
        );
        assert_eq!(idle_input(b"done\n"), IdleInput::Done { used: 5 });
        assert_eq!(idle_input(b"DON"), IdleInput::NeedMore);
        assert_eq!(idle_input(b"A1 NOOP\r\n"), IdleInput::Other { used: 9 });
        assert_eq!(idle_input(b"DONE \r\n"), IdleInput::Other { used: 7 });
        let long = vec![b'x'; MAX_RAW_LINE + 1];
        assert_eq!(idle_input(&long), IdleInput::TooLong { skip: long.len() });
    }

    #[test]
    fn auth_lines() {
        assert_eq!(
            auth_input(b"AGJvYgBzZWNyZXQ=\r\n"),
            AuthInput::Response {
                base64: b"AGJvYgBzZWNyZXQ=",
                used: 18
            }
        );
        assert_eq!(auth_input(b"*\r\n"), AuthInput::Cancel { used: 3 });
        assert_eq!(
            auth_input(b"\r\n"),
            AuthInput::Response {
                base64: b"",
                used: 2
            }
        );
        assert_eq!(auth_input(b"abc\r\n"), AuthInput::Invalid { used: 5 });
        assert_eq!(auth_input(b"ab=c\r\n"), AuthInput::Invalid { used: 6 });
        assert_eq!(auth_input(b"AGJv"), AuthInput::NeedMore);
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(
            decode_base64(b"AGJvYgBzZWNyZXQ=").as_deref(),
            Some(&b"\0bob\0secret"[..])
        );
        assert_eq!(decode_base64(b"").as_deref(), Some(&b""[..]));
        assert_eq!(decode_base64(b"Zg==").as_deref(), Some(&b"f"[..]));
        assert_eq!(decode_base64(b"Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(decode_base64(b"Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(decode_base64(b"Zm9"), None);
        assert_eq!(decode_base64(b"Z==="), None);
        assert_eq!(decode_base64(b"Zm=v"), None);
        assert_eq!(decode_base64(b"Zm9v\n"), None);
    }
}
