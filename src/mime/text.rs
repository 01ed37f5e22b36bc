//! Decoded text for SEARCH and SORT (RFC 9051 6.4.4, RFC 5256 2.2): header values with encoded words
//! (RFC 2047, RFC 2231 language suffixes) and any charset `encoding_rs` knows turned into UTF-8, the
//! text of the text/* parts with their transfer encoding and charset undone, and the first address of
//! an address field with its display name decoded.

use super::binary::{cte, decode};
use super::header::{self, fields, unfold};
use super::{address, Kind, Message};
use std::borrow::Cow;

/// The first mailbox of an address field, decoded, for SORT FROM/TO (RFC 5256: `addr-mailbox`) and
/// DISPLAYFROM/DISPLAYTO (RFC 5957: the display name, else the address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstAddress {
    pub name: Option<String>,
    pub mailbox: String,
    pub host: String,
}

impl Message<'_> {
    /// Decoded values of every field named `name` (case-insensitive) in the message's header.
    pub fn header_values(&self, name: &[u8]) -> Vec<String> {
        fields(self.raw, self.node(0).header)
            .filter(|f| self.bytes(f.name).eq_ignore_ascii_case(name))
            .map(|f| decode_header(self.bytes(f.value)))
            .collect()
    }

    /// The whole header decoded, one `Name: value` line per field (SEARCH TEXT looks in it).
    pub fn header_text(&self) -> String {
        let mut out = String::new();
        for f in fields(self.raw, self.node(0).header) {
            out.push_str(&String::from_utf8_lossy(self.bytes(f.name)));
            out.push_str(": ");
            out.push_str(&decode_header(self.bytes(f.value)));
            out.push('\n');
        }
        out
    }

    /// The text of every text/* part (encapsulated messages included), transfer encoding and charset
    /// undone, parts separated by a line break (SEARCH BODY and TEXT).
    pub fn body_text(&self) -> String {
        self.body_texts().join("\n")
    }

    /// The text of each text/* part, in order, transfer encoding and charset undone.
    pub fn body_texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..self.part_count() as u32 {
            let n = self.node(i);
            if n.kind != Kind::Leaf {
                continue;
            }
            let (t, charset) = match n.content_type {
                Some(ct) => {
                    let v = self.bytes(ct);
                    match header::media_type(v) {
                        Some((t, _, rest)) => {
                            let cs = header::params(&v[rest..])
                                .into_iter()
                                .find(|p| p.name.eq_ignore_ascii_case(b"charset"))
                                .map(|p| p.value.into_owned());
                            (&v[t], cs)
                        }
                        None => (&b"text"[..], None),
                    }
                }
                None if n.digest_default => continue,
                None => (&b"text"[..], None),
            };
            if !t.eq_ignore_ascii_case(b"text") {
                continue;
            }
            let body = self.bytes(n.body);
            let bytes = match cte(n.cte.map(|c| self.bytes(c))) {
                Ok(c) => decode(body, c),
                Err(_) => Cow::Borrowed(body),
            };
            let cs = charset.as_deref().unwrap_or(&b"us-ascii"[..]);
            out.push(decode_charset(cs, &bytes).into_owned());
        }
        out
    }

    /// The first mailbox of the message's `field` (e.g. `b"from"`), display name decoded.
    pub fn first_address(&self, field: &[u8]) -> Option<FirstAddress> {
        let v = self.field_value(self.node(0).header, field)?;
        let list = address::parse_list(v);
        let a = list.into_iter().find(|a| a.host.is_some())?;
        let text = |c: Option<Cow<'_, [u8]>>| c.map(|c| String::from_utf8_lossy(&c).into_owned());
        Some(FirstAddress {
            name: a.name.map(|n| decode_header(&n)),
            mailbox: text(a.mailbox).unwrap_or_default(),
            host: text(a.host).unwrap_or_default(),
        })
    }
}

/// Text in `charset` (a MIME label; an RFC 2231 `*language` suffix is ignored) as UTF-8. Unknown
/// labels and us-ascii read as UTF-8 when valid, else as windows-1252 (what 8-bit "ASCII" mail
/// usually is).
pub fn decode_charset<'b>(charset: &[u8], bytes: &'b [u8]) -> Cow<'b, str> {
    let label = charset.split(|&b| b == b'*').next().unwrap_or_default();
    let enc = encoding_rs::Encoding::for_label(label.trim_ascii());
    match enc {
        Some(e) if e != encoding_rs::UTF_8 && !label.eq_ignore_ascii_case(b"us-ascii") => {
            e.decode_without_bom_handling(bytes).0
        }
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) if enc == Some(encoding_rs::UTF_8) => String::from_utf8_lossy(bytes),
            Err(_) => {
                encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(bytes)
                    .0
            }
        },
    }
}

/// An unstructured header value unfolded, with its encoded words (RFC 2047) decoded; white space
/// between adjacent encoded words goes (RFC 2047 6.2), and adjacent words in one charset are decoded
/// together so a character split between them survives.
pub fn decode_header(raw: &[u8]) -> String {
    let v = unfold(raw);
    let v: &[u8] = &v;
    let mut out = String::with_capacity(v.len());
    let mut pending: Option<(&[u8], Vec<u8>)> = None;
    let mut plain_start = 0;
    let mut pos = 0;
    while let Some(i) = memchr::memmem::find(&v[pos..], b"=?") {
        let at = pos + i;
        let Some((charset, bytes, end)) = encoded_word(v, at) else {
            pos = at + 2;
            continue;
        };
        let gap = &v[plain_start..at];
        let adjacent = pending.is_some() && gap.iter().all(|b| matches!(b, b' ' | b'\t'));
        if !adjacent {
            flush(&mut out, &mut pending);
            out.push_str(&decode_charset(b"utf-8", gap));
        }
        let same = adjacent
            && pending
                .as_ref()
                .is_some_and(|(cs, _)| cs.eq_ignore_ascii_case(charset));
        match pending.as_mut() {
            Some((_, buf)) if same => buf.extend(bytes),
            _ => {
                flush(&mut out, &mut pending);
                pending = Some((charset, bytes));
            }
        }
        pos = end;
        plain_start = end;
    }
    flush(&mut out, &mut pending);
    out.push_str(&decode_charset(b"utf-8", &v[plain_start..]));
    out
}

fn flush(out: &mut String, pending: &mut Option<(&[u8], Vec<u8>)>) {
    if let Some((cs, bytes)) = pending.take() {
        out.push_str(&decode_charset(cs, &bytes));
    }
}

/// `=?charset?B?text?=` or `?Q?` at `at`: the charset, the decoded octets and the end index.
fn encoded_word(v: &[u8], at: usize) -> Option<(&[u8], Vec<u8>, usize)> {
    let rest = v.get(at + 2..)?;
    let q1 = memchr::memchr(b'?', rest)?;
    let charset = &rest[..q1];
    if charset.is_empty() || charset.iter().any(|b| matches!(b, b' ' | b'\t')) {
        return None;
    }
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let close = memchr::memmem::find(rest.get(text_start..)?, b"?=")?;
    let text = &rest[text_start..text_start + close];
    if text.iter().any(|b| matches!(b, b' ' | b'\t')) {
        return None;
    }
    let bytes = match enc {
        b'B' | b'b' => super::binary::base64(text),
        b'Q' | b'q' => {
            let mut out = Vec::with_capacity(text.len());
            let mut i = 0;
            while i < text.len() {
                match text[i] {
                    b'_' => out.push(b' '),
                    b'=' => {
                        let h = text.get(i + 1..i + 3).and_then(|h| {
                            std::str::from_utf8(h)
                                .ok()
                                .and_then(|h| u8::from_str_radix(h, 16).ok())
                        });
                        match h {
                            Some(b) => {
                                out.push(b);
                                i += 2;
                            }
                            None => out.push(b'='),
                        }
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            out
        }
        _ => return None,
    };
    Some((charset, bytes, at + 2 + text_start + close + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_decode() {
        assert_eq!(
            decode_header(b"=?UTF-8?Q?caf=C3=A9_?= =?UTF-8?B?8J+YgA==?= and plain"),
            "café 😀 and plain"
        );
        assert_eq!(
            decode_header(b"=?ISO-8859-1?Q?Andr=E9?= <a@b>"),
            "André <a@b>"
        );
        assert_eq!(decode_header(b"=?utf-8*en?q?x?="), "x");
        // A character split between two words of the same charset.
        assert_eq!(
            decode_header(b"=?UTF-8?B?w6k=?=\r\n =?UTF-8?B?w6k=?="),
            "éé"
        );
        assert_eq!(decode_header(b"a =?bogus=?= b"), "a =?bogus=?= b");
        assert_eq!(decode_header(b"=?koi8-r?B?8NLJ18XU?="), "Привет");
        assert_eq!(decode_header(b"plain  text"), "plain  text");
    }

    #[test]
    fn charsets() {
        assert_eq!(decode_charset(b"windows-1252", b"caf\xe9 \x80"), "café €");
        assert_eq!(decode_charset(b"us-ascii", b"caf\xe9"), "café");
        assert_eq!(decode_charset(b"x-unknown", "ü".as_bytes()), "ü");
        assert_eq!(decode_charset(b"utf-8", b"\xff"), "\u{fffd}");
    }
}
