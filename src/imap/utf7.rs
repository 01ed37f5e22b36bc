//! Modified UTF-7 for mailbox names (RFC 3501 5.1.3), the form IMAP4rev1 clients send and expect
//! unless they enabled UTF8=ACCEPT or IMAP4rev2 (RFC 9051 5.1, RFC 6855 3).
//!
//! Printable US-ASCII (0x20..=0x7e) stands for itself, except `&`, which is `&-`. Everything else is
//! UTF-16, in base64 with `,` for `/` and no padding, between `&` and `-`. The decoder is strict:
//! there is exactly one encoding of each name, so a name a client sends compares equal byte for byte
//! with the name we list. It refuses:
//! - bytes outside printable ASCII (controls, 8-bit);
//! - a shift that is not closed by `-`, or holds a character outside the modified base64 alphabet;
//! - base64 that stands for printable ASCII (RFC 3501: it "MUST NOT be used to represent any printing
//!   US-ASCII character which can represent itself"), or for nothing but `&-`'s job;
//! - two shifted runs back to back (`&AOk-&AOk-`: the canonical form is one run, `&AOkA6Q-`);
//! - leftover bits that are not zero, or too many of them (a half UTF-16 unit);
//! - unpaired surrogates (not a character).

use std::fmt;

/// Why a name is not modified UTF-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Utf7Error {
    #[error("byte {byte:#04x} at {at} is not printable ASCII")]
    NotPrintable { at: usize, byte: u8 },
    #[error("the shift at {at} is not closed by '-'")]
    Unterminated { at: usize },
    #[error("{byte:#04x} at {at} is not modified base64")]
    BadBase64 { at: usize, byte: u8 },
    #[error("the shift at {at} does not hold whole UTF-16 units with zero padding")]
    BadPadding { at: usize },
    #[error("the shift at {at} encodes printable ASCII, which must stand for itself")]
    EncodedAscii { at: usize },
    #[error("the shift at {at} follows another shift directly")]
    AdjacentShift { at: usize },
    #[error("the shift at {at} holds an unpaired UTF-16 surrogate")]
    Surrogate { at: usize },
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        b'+' => Some(62),
        b',' => Some(63),
        _ => None,
    }
}

fn printable(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Encodes a UTF-8 name in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if c == '&' {
            out.push_str("&-");
            rest = &rest[1..];
        } else if printable(c) {
            out.push(c);
            rest = &rest[1..];
        } else {
            // One shifted run for every non-printable character up to the next printable one, so the
            // output is canonical (no adjacent shifts).
            let end = rest.find(printable).unwrap_or(rest.len());
            encode_run(&rest[..end], &mut out);
            rest = &rest[end..];
        }
    }
    out
}

fn encode_run(run: &str, out: &mut String) {
    out.push('&');
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    for unit in run.encode_utf16() {
        bits = (bits << 16) | u32::from(unit);
        nbits += 16;
        while nbits >= 6 {
            nbits -= 6;
            out.push(char::from(ALPHABET[((bits >> nbits) & 0x3f) as usize]));
        }
        bits &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        out.push(char::from(
            ALPHABET[((bits << (6 - nbits)) & 0x3f) as usize],
        ));
    }
    out.push('-');
}

/// Decodes a modified UTF-7 name to UTF-8, refusing every non-canonical form (see the module doc).
pub fn decode(name: &[u8]) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    // Where the last shifted run ended (index just past its '-'), to refuse `&..-&..-`.
    let mut last_run_end = usize::MAX;
    while i < name.len() {
        let b = name[i];
        if b != b'&' {
            if !(0x20..0x7f).contains(&b) {
                return Err(Utf7Error::NotPrintable { at: i, byte: b });
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let start = i;
        let dash = match name[i + 1..].iter().position(|&b| b == b'-') {
            Some(p) => i + 1 + p,
            None => return Err(Utf7Error::Unterminated { at: start }),
        };
        let body = &name[i + 1..dash];
        i = dash + 1;
        if body.is_empty() {
            out.push('&');
            continue;
        }
        if last_run_end == start {
            return Err(Utf7Error::AdjacentShift { at: start });
        }
        decode_run(body, start, &mut out)?;
        last_run_end = i;
    }
    Ok(out)
}

fn decode_run(body: &[u8], at: usize, out: &mut String) -> Result<(), Utf7Error> {
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    let mut units: Vec<u16> = Vec::with_capacity(body.len() * 6 / 16);
    for (k, &b) in body.iter().enumerate() {
        let v = b64_value(b).ok_or(Utf7Error::BadBase64 {
            at: at + 1 + k,
            byte: b,
        })?;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push((bits >> nbits) as u16);
            bits &= (1 << nbits) - 1;
        }
    }
    // At most 5 leftover bits (6 or more would be a base64 digit without data), all zero.
    if nbits >= 6 || bits != 0 || units.is_empty() {
        return Err(Utf7Error::BadPadding { at });
    }
    for c in char::decode_utf16(units) {
        let c = c.map_err(|_| Utf7Error::Surrogate { at })?;
        if printable(c) {
            return Err(Utf7Error::EncodedAscii { at });
        }
        out.push(c);
    }
    Ok(())
}

/// A name shown in modified UTF-7 when it is valid, raw otherwise (log lines, error texts).
pub struct Lossy<'a>(pub &'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match decode(self.0) {
            Ok(s) => f.write_str(&s),
            Err(_) => f.write_str(&String::from_utf8_lossy(self.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_3501_example() {
        // RFC 3501 5.1.3: "~peter/mail/台北/日本語" is "~peter/mail/&U,BTFw-/&ZeVnLIqe-".
        let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(encode(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(), name);
    }

    #[test]
    fn ampersand_and_plain_ascii() {
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode(b"Tom &- Jerry").unwrap(), "Tom & Jerry");
        assert_eq!(decode(b"&-&-").unwrap(), "&&");
        assert_eq!(encode(""), "");
        assert_eq!(decode(b"").unwrap(), "");
        assert_eq!(encode("INBOX/Sent Items"), "INBOX/Sent Items");
    }

    #[test]
    fn non_bmp_and_mixed() {
        assert_eq!(encode("caf\u{e9}"), "caf&AOk-");
        assert_eq!(decode(b"caf&AOk-").unwrap(), "caf\u{e9}");
        // One run covers consecutive non-ASCII characters, including controls.
        assert_eq!(encode("\u{e9}\u{e9}"), "&AOkA6Q-");
        assert_eq!(encode("a\tb"), "a&AAk-b");
        // U+1F600 is a surrogate pair.
        let s = "\u{1f600}";
        assert_eq!(decode(encode(s).as_bytes()).unwrap(), s);
        assert_eq!(encode(s), "&2D3eAA-");
    }

    #[test]
    fn strict_decoding_refuses_non_canonical_forms() {
        use Utf7Error::*;
        assert!(matches!(
            decode(b"caf\xc3\xa9"),
            Err(NotPrintable { at: 3, .. })
        ));
        assert!(matches!(decode(b"a\tb"), Err(NotPrintable { at: 1, .. })));
        assert!(matches!(decode(b"&AOk"), Err(Unterminated { at: 0 })));
        assert!(matches!(decode(b"x&"), Err(Unterminated { at: 1 })));
        assert!(matches!(decode(b"&AO/-"), Err(BadBase64 { at: 3, .. })));
        assert!(matches!(decode(b"&AO=-"), Err(BadBase64 { .. })));
        // "A" is 0x41, printable: must not be encoded.
        assert!(matches!(decode(b"&AEE-"), Err(EncodedAscii { .. })));
        // '&' itself encoded.
        assert!(matches!(decode(b"&ACY-"), Err(EncodedAscii { .. })));
        assert!(matches!(
            decode(b"&AOk-&AOk-"),
            Err(AdjacentShift { at: 5 })
        ));
        // Non-zero leftover bits: AOl instead of AOk.
        assert!(matches!(decode(b"&AOl-"), Err(BadPadding { .. })));
        // Too many base64 digits: a partial unit.
        assert!(matches!(decode(b"&AOkA-"), Err(BadPadding { .. })));
        assert!(matches!(decode(b"&A-"), Err(BadPadding { .. })));
        // A lone high surrogate (D83D).
        assert!(matches!(decode(b"&2D0-"), Err(Surrogate { .. })));
        // A shift separated by a printable character from the next one is fine.
        assert_eq!(decode(b"&AOk-x&AOk-").unwrap(), "\u{e9}x\u{e9}");
        // `&-` between two runs does not make them adjacent.
        assert_eq!(decode(b"&AOk-&-&AOk-").unwrap(), "\u{e9}&\u{e9}");
    }

    #[test]
    fn lossy_display() {
        assert_eq!(Lossy(b"caf&AOk-").to_string(), "caf\u{e9}");
        assert_eq!(Lossy(b"bad&").to_string(), "bad&");
    }

    proptest! {
        #[test]
        fn round_trip_any_string(s in any::<String>()) {
            let enc = encode(&s);
            prop_assert!(enc.bytes().all(|b| (0x20..0x7f).contains(&b)));
            prop_assert_eq!(decode(enc.as_bytes()).unwrap(), s);
        }

        #[test]
        fn decode_never_panics_and_is_canonical(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            // Whatever decodes re-encodes to the same bytes: there is one form per name.
            if let Ok(s) = decode(&b) {
                prop_assert_eq!(encode(&s).into_bytes(), b);
            }
        }

        #[test]
        fn decode_canonical_from_alphabet(b in proptest::collection::vec(
            proptest::sample::select(b"&-AOk6QZeVn+,a ".to_vec()), 0..30)) {
            if let Ok(s) = decode(&b) {
                prop_assert_eq!(encode(&s).into_bytes(), b);
            }
        }
    }
}
