//! The fixtures of tests/data/imap-fixtures (copied from shared/imap-fixtures: tricky messages and
//! Dovecot 2.3.19's FETCH answers) against our ENVELOPE, BODY, BODYSTRUCTURE, RFC822.SIZE, sections,
//! BINARY and BINARY.SIZE. Answers are compared as parsed IMAP data (so a quoted string and a literal
//! with the same bytes are equal); every difference that remains is one the RFCs allow and is
//! explained where it is accepted.

use super::{partial, Message};
use crate::imap::types::SectionText;
use std::borrow::Cow;
use std::path::PathBuf;

/// IMAP data as a tree: what a client sees once quoting and literals are undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sx {
    Nil,
    Atom(Vec<u8>),
    Str(Vec<u8>),
    List(Vec<Sx>),
}

impl Sx {
    pub(crate) fn parse(s: &[u8]) -> Sx {
        let mut pos = 0;
        let v = sx(s, &mut pos);
        assert_eq!(
            pos,
            s.len(),
            "trailing bytes after IMAP data: {:?}",
            String::from_utf8_lossy(s)
        );
        v
    }
}

fn sx(s: &[u8], pos: &mut usize) -> Sx {
    while s.get(*pos) == Some(&b' ') {
        *pos += 1;
    }
    match s.get(*pos) {
        Some(b'(') => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                while s.get(*pos) == Some(&b' ') {
                    *pos += 1;
                }
                if s.get(*pos) == Some(&b')') {
                    *pos += 1;
                    return Sx::List(items);
                }
                assert!(*pos < s.len(), "unterminated list");
                items.push(sx(s, pos));
            }
        }
        Some(b'"') => {
            *pos += 1;
            let mut out = Vec::new();
            while let Some(&b) = s.get(*pos) {
                *pos += 1;
                match b {
                    b'"' => return Sx::Str(out),
                    b'\\' => {
                        out.push(s[*pos]);
                        *pos += 1;
                    }
                    b => out.push(b),
                }
            }
            panic!("unterminated quoted string");
        }
        Some(b'{') | Some(b'~') => {
            if s[*pos] == b'~' {
                *pos += 1;
            }
            let close = *pos
                + s[*pos..]
                    .iter()
                    .position(|&b| b == b'}')
                    .expect("literal }");
            let n: usize = std::str::from_utf8(&s[*pos + 1..close])
                .unwrap()
                .parse()
                .unwrap();
            let start = close + 3;
            *pos = start + n;
            Sx::Str(s[start..start + n].to_vec())
        }
        _ => {
            let start = *pos;
            while s
                .get(*pos)
                .is_some_and(|&b| !matches!(b, b' ' | b'(' | b')'))
            {
                *pos += 1;
            }
            let a = &s[start..*pos];
            if a.eq_ignore_ascii_case(b"NIL") {
                Sx::Nil
            } else {
                Sx::Atom(a.to_vec())
            }
        }
    }
}

/// One fixture: the message and Dovecot's FETCH items by name (`ENVELOPE`, `BODY[HEADER]`, ...).
struct Fixture {
    name: String,
    eml: Vec<u8>,
    items: Vec<(String, Sx)>,
}

impl Fixture {
    fn item(&self, key: &str) -> &Sx {
        &self
            .items
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{}: Dovecot sent no {key}", self.name))
            .1
    }

    fn bytes(&self, key: &str) -> &[u8] {
        match self.item(key) {
            Sx::Str(b) => b,
            other => panic!("{}: {key} is not a string: {other:?}", self.name),
        }
    }
}

pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/imap-fixtures")
}

fn fixtures() -> Vec<Fixture> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/data/imap-fixtures")
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            n.strip_suffix(".eml").map(str::to_string)
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 20, "the README's 20 fixtures");
    names
        .into_iter()
        .map(|name| {
            let eml = std::fs::read(dir().join(format!("{name}.eml"))).unwrap();
            let txt = std::fs::read(dir().join(format!("{name}.dovecot.txt"))).unwrap();
            Fixture {
                items: fetch_items(&txt),
                name,
                eml,
            }
        })
        .collect()
}

/// The items of every `* n FETCH (...)` in a transcript.
fn fetch_items(txt: &[u8]) -> Vec<(String, Sx)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = memchr::memmem::find(&txt[pos..], b"* ") {
        let start = pos + i;
        if start > 0 && txt[start - 1] != b'\n' {
            pos = start + 2;
            continue;
        }
        let open = start + memchr::memmem::find(&txt[start..], b"FETCH (").unwrap() + 7;
        let mut p = open;
        loop {
            if txt[p] == b')' {
                p += 1;
                break;
            }
            if txt[p] == b' ' {
                p += 1;
                continue;
            }
            // A key: an atom with an optional [section] (which may hold spaces) and <origin>.
            let ks = p;
            let mut depth = 0;
            while depth > 0 || txt[p] != b' ' {
                match txt[p] {
                    b'[' => depth += 1,
                    b']' => depth -= 1,
                    _ => {}
                }
                p += 1;
            }
            let key = String::from_utf8(txt[ks..p].to_vec()).unwrap();
            let v = sx(txt, &mut p);
            out.push((key, v));
        }
        pos = p;
    }
    out
}

fn ours(msg: &Message<'_>, part: &[u32], text: Option<SectionText<'_>>) -> Vec<u8> {
    msg.section(part, text.as_ref()).bytes(msg.raw()).to_vec()
}

fn names(n: &[&'static str]) -> Vec<Cow<'static, [u8]>> {
    n.iter().map(|s| Cow::Borrowed(s.as_bytes())).collect()
}

#[test]
fn fixtures_match_dovecot() {
    let all = fixtures();
    for f in &all {
        let msg = Message::parse(&f.eml);
        let n = &f.name;
        assert_eq!(
            f.item("RFC822.SIZE"),
            &Sx::Atom(msg.size().to_string().into_bytes()),
            "{n} RFC822.SIZE"
        );

        let env = Sx::parse(&msg.envelope());
        if n == "06-folded-long-header" {
            // RFC 5322 2.2.3 unfolding removes the CRLFs and keeps the white space that follows;
            // Dovecot also collapses that white space to one space. RFC 3501 7.4.2 leaves envelope
            // strings as written, so we keep it.
            let Sx::List(ours) = &env else { panic!() };
            assert_eq!(
                ours[1],
                Sx::Str(b"this subject is folded  across three\tphysical lines".to_vec())
            );
            let Sx::List(theirs) = f.item("ENVELOPE") else {
                panic!()
            };
            assert_eq!(
                theirs[1],
                Sx::Str(b"this subject is folded across three physical lines".to_vec())
            );
            assert_eq!(ours[2..], theirs[2..], "{n} ENVELOPE");
            assert_eq!(ours[0], theirs[0], "{n} ENVELOPE");
        } else {
            assert_eq!(&env, f.item("ENVELOPE"), "{n} ENVELOPE");
        }

        for (ext, key) in [(false, "BODY"), (true, "BODYSTRUCTURE")] {
            let ours = msg.body_structure(ext);
            if n == "12-rfc2231-params" {
                // RFC 2231 4.1: an extended value is percent-encoded throughout. Dovecot joins the
                // sections `name*0*=UTF-8''%E2%82%AC%20rates` and `name*1=" for 2026.bin"` as they
                // were written, leaving raw spaces in an extended value; we encode the plain section.
                let want = String::from_utf8_lossy(&ours).replace(
                    "UTF-8''%E2%82%AC%20rates%20for%202026.bin\") NIL",
                    "UTF-8''%E2%82%AC%20rates for 2026.bin\") NIL",
                );
                assert_ne!(want.as_bytes(), ours.as_slice());
                assert_eq!(&Sx::parse(want.as_bytes()), f.item(key), "{n} {key}");
            } else {
                assert_eq!(&Sx::parse(&ours), f.item(key), "{n} {key}");
            }
        }

        let size = msg.binary_size(&[1]).unwrap();
        if n == "10-mixed-nested" {
            // Part 1 is a multipart: BINARY[1] returns it as stored, 116 octets, and Dovecot's own
            // BINARY[1] answer below is those 116 octets; its BINARY.SIZE[1] of 112 contradicts it.
            // RFC 3516 4.2 defines BINARY.SIZE as the size of BINARY's answer.
            assert_eq!(f.item("BINARY.SIZE[1]"), &Sx::Atom(b"112".to_vec()));
            assert_eq!(size, 116);
            assert_eq!(f.bytes("BINARY[1]").len(), 116);
        } else {
            assert_eq!(
                f.item("BINARY.SIZE[1]"),
                &Sx::Atom(size.to_string().into_bytes()),
                "{n} BINARY.SIZE[1]"
            );
        }

        use SectionText::*;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("BODY[HEADER]", ours(&msg, &[], Some(Header))),
            ("BODY[TEXT]", ours(&msg, &[], Some(Text))),
            ("BODY[1]", ours(&msg, &[1], None)),
            ("BODY[1.MIME]", ours(&msg, &[1], Some(Mime))),
            (
                "BODY[HEADER.FIELDS (FROM SUBJECT DATE)]",
                ours(
                    &msg,
                    &[],
                    Some(HeaderFields {
                        not: false,
                        fields: names(&["FROM", "SUBJECT", "DATE"]),
                    }),
                ),
            ),
            (
                "BODY[HEADER.FIELDS.NOT (FROM SUBJECT)]",
                ours(
                    &msg,
                    &[],
                    Some(HeaderFields {
                        not: true,
                        fields: names(&["FROM", "SUBJECT"]),
                    }),
                ),
            ),
            (
                "BODY[]<5>",
                msg.section(&[], None)
                    .partial(5, 20)
                    .bytes(msg.raw())
                    .to_vec(),
            ),
            ("BINARY[1]", msg.binary(&[1]).unwrap().into_owned()),
            ("BODY[2]", ours(&msg, &[2], None)),
            ("BODY[2.HEADER]", ours(&msg, &[2], Some(Header))),
            ("BODY[2.1]", ours(&msg, &[2, 1], None)),
        ];
        for (key, got) in cases {
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(f.bytes(key)),
                "{n} {key}"
            );
            assert_eq!(got.as_slice(), f.bytes(key), "{n} {key}");
        }
        assert_eq!(partial(10, 5, 20), 5..10);
    }
}

#[test]
fn fixture_search_text() {
    let eml = std::fs::read(dir().join("04-encoded-words.eml")).unwrap();
    let msg = Message::parse(&eml);
    assert_eq!(
        msg.header_values(b"subject"),
        vec!["café 😀 and plain".to_string()]
    );
    let from = msg.first_address(b"from").unwrap();
    assert_eq!(from.name.as_deref(), Some("Jöran"));
    assert_eq!(
        (from.mailbox.as_str(), from.host.as_str()),
        ("joran", "example.test")
    );
    let to = msg.first_address(b"to").unwrap();
    assert_eq!(to.name.as_deref(), Some("André"));
    assert_eq!(msg.sent_date().unwrap().timestamp(), 1_795_939_199);

    let eml = std::fs::read(dir().join("08-8bit-latin1.eml")).unwrap();
    assert_eq!(Message::parse(&eml).body_text(), "café € euro\r\n");
    let eml = std::fs::read(dir().join("07-qp-utf8.eml")).unwrap();
    assert_eq!(
        Message::parse(&eml).body_text(),
        "Grüße aus München, softbreak here.\r\n"
    );
    let eml = std::fs::read(dir().join("17-binary-base64-parts.eml")).unwrap();
    // The octet-stream part is not text.
    assert_eq!(Message::parse(&eml).body_text(), "äöü ß\n");
    let eml = std::fs::read(dir().join("11-message-rfc822.eml")).unwrap();
    assert_eq!(Message::parse(&eml).body_text(), "see below\ninner body");
    let eml = std::fs::read(dir().join("05-groups-and-routes.eml")).unwrap();
    // The first mailbox, past the group's start marker.
    assert_eq!(
        Message::parse(&eml).first_address(b"from").unwrap().mailbox,
        "a"
    );
}
