//! BINARY and BINARY.SIZE (RFC 3516 4.1-4.3, RFC 9051 6.4.5): a part's content with its
//! Content-Transfer-Encoding undone (base64 RFC 2045 6.8, quoted-printable RFC 2045 6.7; 7bit, 8bit
//! and binary as stored). An encoding we do not know is the `[UNKNOWN-CTE]` error of RFC 3516 4.3.

use super::header::first_token;
use super::{Kind, Message};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// RFC 3516 4.3: answer `NO [UNKNOWN-CTE]`.
    #[error("unknown Content-Transfer-Encoding")]
    UnknownCte,
}

/// The transfer encodings RFC 2045 6.1 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cte {
    Identity,
    Base64,
    QuotedPrintable,
}

pub(crate) fn cte(v: Option<&[u8]>) -> Result<Cte, BinaryError> {
    let Some(t) = v.and_then(first_token) else {
        return Ok(Cte::Identity);
    };
    if [&b"7bit"[..], b"8bit", b"binary"]
        .iter()
        .any(|k| t.eq_ignore_ascii_case(k))
    {
        Ok(Cte::Identity)
    } else if t.eq_ignore_ascii_case(b"base64") {
        Ok(Cte::Base64)
    } else if t.eq_ignore_ascii_case(b"quoted-printable") {
        Ok(Cte::QuotedPrintable)
    } else {
        Err(BinaryError::UnknownCte)
    }
}

/// `body` with `cte` undone.
pub(crate) fn decode(body: &[u8], cte: Cte) -> Cow<'_, [u8]> {
    match cte {
        Cte::Identity => Cow::Borrowed(body),
        Cte::Base64 => Cow::Owned(base64(body)),
        Cte::QuotedPrintable => Cow::Owned(quoted_printable(body)),
    }
}

impl<'a> Message<'a> {
    /// BINARY[part]: the decoded content of the part (the whole message, as stored, for `[]`). A part
    /// that does not exist is empty, as for BODY[]. Multiparts and messages are not decoded (RFC 2045
    /// 6.4 allows them only identity encodings).
    pub fn binary(&self, part: &[u32]) -> Result<Cow<'a, [u8]>, BinaryError> {
        if part.is_empty() {
            return Ok(Cow::Borrowed(self.raw));
        }
        let Some(i) = self.resolve(part) else {
            return Ok(Cow::Borrowed(&[]));
        };
        let n = self.node(i);
        let body = self.bytes(n.body);
        match n.kind {
            Kind::Leaf => Ok(decode(body, cte(n.cte.map(|c| self.bytes(c)))?)),
            _ => Ok(Cow::Borrowed(body)),
        }
    }

    /// BINARY.SIZE[part] (RFC 3516 4.2): the length of what BINARY[part] returns.
    pub fn binary_size(&self, part: &[u32]) -> Result<usize, BinaryError> {
        self.binary(part).map(|b| b.len())
    }
}

/// RFC 2045 6.8, leniently: characters outside the alphabet (line breaks, junk) are skipped, `=` ends
/// a quantum (so concatenated encodings decode too).
pub(crate) fn base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in input {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                acc = 0;
                bits = 0;
                continue;
            }
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// RFC 2045 6.7: `=XX` octets, `=` at a line end joins lines (soft break), trailing white space of a
/// line is dropped (rule 3); a `=` that is neither stays as it is.
pub(crate) fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut pos = 0;
    while pos < input.len() {
        let (line, brk, next) = match memchr::memchr(b'\n', &input[pos..]) {
            Some(i) => {
                let end = pos + i;
                let content_end = if end > pos && input[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                };
                (
                    &input[pos..content_end],
                    &input[content_end..end + 1],
                    end + 1,
                )
            }
            None => (&input[pos..], &input[input.len()..], input.len()),
        };
        let mut l = line.len();
        while l > 0 && matches!(line[l - 1], b' ' | b'\t') {
            l -= 1;
        }
        let line = &line[..l];
        let soft = line.last() == Some(&b'=');
        let body = if soft { &line[..l - 1] } else { line };
        let mut i = 0;
        while i < body.len() {
            let b = body[i];
            if b == b'=' {
                if let (Some(h), Some(lo)) = (
                    body.get(i + 1).copied().and_then(hex),
                    body.get(i + 2).copied().and_then(hex),
                ) {
                    out.push(h << 4 | lo);
                    i += 3;
                    continue;
                }
            }
            out.push(b);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(brk);
        }
        pos = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_leniently() {
        assert_eq!(base64(b"aGVsbG8=\r\n"), b"hello");
        assert_eq!(base64(b"w6TDtsO8IMOfCg=="), "äöü ß\n".as_bytes());
        assert_eq!(base64(b"AAEC/w=="), [0, 1, 2, 255]);
        assert_eq!(base64(b"aGVs\r\nbG8h"), b"hello!");
        assert_eq!(base64(b"aGk=aGk="), b"hihi");
        assert_eq!(base64(b"!!*"), b"");
        assert_eq!(base64(b"a"), b"");
    }

    #[test]
    fn quoted_printable_decodes() {
        assert_eq!(
            quoted_printable(b"Gr=C3=BC=C3=9Fe aus M=C3=BCnchen, soft=\r\nbreak here.\r\n"),
            "Grüße aus München, softbreak here.\r\n".as_bytes()
        );
        assert_eq!(quoted_printable(b"a=3db =zz =\n"), b"a=b =zz ");
        assert_eq!(quoted_printable(b"trailing   \r\nx="), b"trailing\r\nx");
        assert_eq!(quoted_printable(b"=4"), b"=4");
        assert_eq!(quoted_printable(b"lf\nonly"), b"lf\nonly");
    }

    #[test]
    fn cte_names() {
        assert_eq!(cte(None), Ok(Cte::Identity));
        assert_eq!(cte(Some(b" BASE64 ")), Ok(Cte::Base64));
        assert_eq!(cte(Some(b"Quoted-Printable")), Ok(Cte::QuotedPrintable));
        assert_eq!(cte(Some(b"8BIT")), Ok(Cte::Identity));
        assert_eq!(cte(Some(b"x-uuencode")), Err(BinaryError::UnknownCte));
        assert_eq!(cte(Some(b"")), Ok(Cte::Identity));
    }
}
