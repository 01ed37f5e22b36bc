//! Edge cases of the structure parser and its writers, and the property that no input panics and every
//! range stays inside the message.

use super::fixtures::Sx;
use super::{Kind, Layout, Message, SectionData, MAX_DEPTH, MAX_PARTS};
use crate::imap::types::SectionText;
use proptest::prelude::*;
use std::borrow::Cow;

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn section(msg: &Message<'_>, part: &[u32], text: Option<SectionText<'_>>) -> String {
    s(msg.section(part, text.as_ref()).bytes(msg.raw()))
}

fn bs(msg: &Message<'_>) -> String {
    s(&msg.body_structure(true))
}

#[test]
fn empty_message() {
    let msg = Message::parse(b"");
    assert_eq!(
        s(&msg.envelope()),
        "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
    assert_eq!(
        bs(&msg),
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)"#
    );
    assert_eq!(section(&msg, &[], Some(SectionText::Header)), "");
    assert_eq!(section(&msg, &[1], None), "");
    assert_eq!(msg.binary_size(&[1]), Ok(0));
}

#[test]
fn no_header_and_no_body() {
    let msg = Message::parse(b"\r\nbody only");
    assert_eq!(section(&msg, &[], Some(SectionText::Header)), "\r\n");
    assert_eq!(section(&msg, &[], Some(SectionText::Text)), "body only");

    // No blank line: all header, no body.
    let msg = Message::parse(b"Subject: s\r\nFrom: a@b");
    assert_eq!(
        section(&msg, &[], Some(SectionText::Header)),
        "Subject: s\r\nFrom: a@b"
    );
    assert_eq!(section(&msg, &[], Some(SectionText::Text)), "");
    assert_eq!(
        s(&msg.envelope()),
        r#"(NIL "s" ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL)"#
    );
    // HEADER.FIELDS ends the unterminated last field before the blank line.
    let f = SectionText::HeaderFields {
        not: false,
        fields: vec![Cow::Borrowed(&b"from"[..])],
    };
    assert_eq!(section(&msg, &[], Some(f)), "From: a@b\r\n\r\n");
}

#[test]
fn bare_lf_messages() {
    let raw = b"Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\npre\n--b\nContent-Type: text/plain\n\nhi\nthere\n--b--\n";
    let msg = Message::parse(raw);
    assert_eq!(section(&msg, &[1], None), "hi\nthere");
    assert_eq!(
        section(&msg, &[1], Some(SectionText::Mime)),
        "Content-Type: text/plain\n\n"
    );
    assert_eq!(
        bs(&msg),
        r#"(("text" "plain" NIL NIL NIL "7bit" 8 1 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL)"#
            .replace(r#""plain" NIL"#, r#""plain" ("charset" "us-ascii")"#)
    );
}

#[test]
fn unterminated_inner_multipart_ends_at_outer_boundary() {
    let raw = b"Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n--in\r\n\r\ninner, never closed\r\n--out\r\n\r\nsecond\r\n--out--\r\n";
    let msg = Message::parse(raw);
    assert_eq!(section(&msg, &[1, 1], None), "inner, never closed");
    assert_eq!(section(&msg, &[2], None), "second");
    assert_eq!(section(&msg, &[1], None), "--in\r\n\r\ninner, never closed");
}

#[test]
fn boundaries_are_matched_whole() {
    // `--b2` is not a delimiter of boundary `b`; trailing white space after a delimiter is padding.
    let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n\r\nx\r\n--b2\r\ny\r\n--b--  \r\n";
    let msg = Message::parse(raw);
    assert_eq!(section(&msg, &[1], None), "x\r\n--b2\r\ny");
    assert_eq!(section(&msg, &[2], None), "");
}

#[test]
fn multipart_without_parts_gets_one_empty_part() {
    for raw in [
        &b"Content-Type: multipart/mixed; boundary=b\r\n\r\nno delimiters at all\r\n"[..],
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
    ] {
        let msg = Message::parse(raw);
        assert_eq!(
            bs(&msg),
            r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL)"#,
            "{}",
            s(raw)
        );
        assert_eq!(section(&msg, &[1], None), "");
    }
    // No boundary parameter: not a structure we can walk, sent as an opaque part.
    let msg = Message::parse(b"Content-Type: multipart/mixed\r\n\r\nbody\r\n");
    assert_eq!(
        bs(&msg),
        r#"("application" "octet-stream" NIL NIL NIL "7bit" 6 NIL NIL NIL NIL)"#
    );
}

#[test]
fn message_rfc822_parts_and_their_sections() {
    let raw = b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\none\r\n--x\r\n\r\ntwo\r\n--x--\r\n";
    let msg = Message::parse(raw);
    // The message body is part 1, the encapsulated message; its parts are 1.1 and 1.2.
    assert_eq!(section(&msg, &[1, 1], None), "one");
    assert_eq!(section(&msg, &[1, 2], None), "two");
    assert!(section(&msg, &[1, 9], None).is_empty());
    assert_eq!(
        section(&msg, &[1], Some(SectionText::Header)),
        "Subject: inner\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
    );
    assert!(section(&msg, &[1], Some(SectionText::Text)).starts_with("--x\r\n"));
    assert_eq!(
        section(&msg, &[1], Some(SectionText::Mime)),
        "Content-Type: message/rfc822\r\n\r\n"
    );
    let b = bs(&msg);
    assert!(
        b.starts_with(r#"("message" "rfc822" NIL NIL NIL "7bit" 92 (NIL "inner" NIL"#),
        "{b}"
    );
    // Parts that do not exist are empty; part 0 does not exist.
    assert_eq!(section(&msg, &[1, 3], None), "");
    assert_eq!(section(&msg, &[0], None), "");
    assert_eq!(section(&msg, &[2], None), "");
    assert_eq!(section(&msg, &[], Some(SectionText::Mime)), "");
}

#[test]
fn header_fields_and_text_of_an_attached_message() {
    let raw = std::fs::read(super::fixtures::dir().join("11-message-rfc822.eml")).unwrap();
    let msg = Message::parse(&raw);
    let f = |not| SectionText::HeaderFields {
        not,
        fields: vec![Cow::Borrowed(&b"subject"[..]), Cow::Borrowed(&b"TO"[..])],
    };
    assert_eq!(
        section(&msg, &[2], Some(f(false))),
        "To: x@example.test\r\nSubject: =?UTF-8?B?aW5uZXIgw6k=?=\r\n\r\n"
    );
    assert!(section(&msg, &[2], Some(f(true))).starts_with("From: inner@example.test\r\nDate: "));
    assert!(section(&msg, &[2], Some(SectionText::Text)).starts_with("--in2\r\n"));
    assert_eq!(section(&msg, &[2, 2], None), "iVBORw0KGgo=");
    assert_eq!(msg.binary(&[2, 2]).unwrap().as_ref(), b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        section(&msg, &[2, 2], Some(SectionText::Mime))
            .lines()
            .next(),
        Some("Content-Type: image/png; name=dot.png")
    );
    // HEADER.FIELDS of a part that is not a message is empty, like HEADER.
    assert_eq!(section(&msg, &[1], Some(f(false))), "");
    let summary = msg.summary();
    assert_eq!(&*summary.envelope, msg.envelope().as_slice());
    assert_eq!(&*summary.body, msg.body_structure(false).as_slice());
}

#[test]
fn deep_nesting_is_bounded() {
    let mut raw = Vec::new();
    for i in 0..2000 {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"\r\nleaf\r\n");
    let msg = Message::parse(&raw);
    assert!(msg.part_count() <= MAX_DEPTH + 2, "{}", msg.part_count());
    let b = msg.body_structure(true);
    let depth = b.iter().scan(0i32, |d, &c| {
        *d += i32::from(c == b'(') - i32::from(c == b')');
        Some(*d)
    });
    assert!(depth.max().unwrap() as usize <= MAX_DEPTH + 4);
    Sx::parse(&b);

    // Messages in messages, the other way to nest.
    let raw = b"Content-Type: message/rfc822\r\n\r\n".repeat(5000);
    let msg = Message::parse(&raw);
    assert!(msg.part_count() <= MAX_DEPTH + 2);
    Sx::parse(&msg.body_structure(true));
    Sx::parse(&msg.envelope());
}

#[test]
fn part_count_is_bounded() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    raw.extend_from_slice(&b"--b\r\n\r\nx\r\n".repeat(MAX_PARTS + 500));
    raw.extend_from_slice(b"--b--\r\n");
    let msg = Message::parse(&raw);
    assert_eq!(msg.part_count(), MAX_PARTS);
    assert_eq!(section(&msg, &[MAX_PARTS as u32 - 1], None), "x");
    assert_eq!(section(&msg, &[MAX_PARTS as u32], None), "");
    Sx::parse(&msg.body_structure(true));
}

#[test]
fn huge_header() {
    let mut raw = b"Subject: ".to_vec();
    raw.extend(std::iter::repeat_n(b'x', 1 << 20));
    raw.extend_from_slice(b"\r\n");
    for _ in 0..20_000 {
        raw.extend_from_slice(b"X-Filler: y\r\n");
    }
    raw.extend_from_slice(b"From: a@b\r\n\r\nbody\r\n");
    let msg = Message::parse(&raw);
    let Sx::List(env) = Sx::parse(&msg.envelope()) else {
        panic!()
    };
    assert_eq!(env[1], Sx::Str(vec![b'x'; 1 << 20]));
    assert_eq!(section(&msg, &[], Some(SectionText::Text)), "body\r\n");
}

#[test]
fn extension_data_and_parameters() {
    let raw = b"Content-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Disposition: inline\r\nContent-Language: fr\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\nContent-ID: <id@x>\r\nContent-Description: =?utf-8?q?d=C3=A9?=\r\n\r\nl1=\r\nl2\r\n";
    let msg = Message::parse(raw);
    assert_eq!(
        bs(&msg),
        r#"("text" "plain" ("charset" "utf-8" "format" "flowed") "<id@x>" "=?utf-8?q?d=C3=A9?=" "quoted-printable" 9 2 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" NIL) ("fr") NIL)"#
    );
    assert_eq!(
        s(&msg.body_structure(false)),
        r#"("text" "plain" ("charset" "utf-8" "format" "flowed") "<id@x>" "=?utf-8?q?d=C3=A9?=" "quoted-printable" 9 2)"#
    );
    assert_eq!(msg.binary(&[1]).unwrap().as_ref(), b"l1l2\r\n");
    assert_eq!(msg.binary(&[]).unwrap().as_ref(), &raw[..]);
}

#[test]
fn unknown_transfer_encoding_is_reported() {
    let msg = Message::parse(b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n");
    assert_eq!(msg.binary(&[1]), Err(super::BinaryError::UnknownCte));
    assert_eq!(msg.binary_size(&[1]), Err(super::BinaryError::UnknownCte));
    // BODY[] is unaffected.
    assert_eq!(section(&msg, &[1], None), "begin 644 x\r\n");
}

#[test]
fn layouts_are_kept_and_checked() {
    let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n";
    let msg = Message::parse(raw);
    let layout: Layout = msg.layout();
    let again = Message::with_layout(raw, layout.clone()).unwrap();
    assert_eq!(again.body_structure(true), msg.body_structure(true));
    assert_eq!(again.section(&[1], None), SectionData::Range(52..55));
    assert!(Message::with_layout(b"short", layout).is_none());
}

#[test]
fn dates_and_partials() {
    let msg = Message::parse(b"Date: Tue, 3 Mar 2026 03:03:03 +0000\r\n\r\n");
    assert_eq!(msg.sent_date().unwrap().timestamp(), 1_772_506_983);
    assert!(Message::parse(b"Date: soon\r\n\r\n").sent_date().is_none());
    let d = SectionData::Built(b"0123456789".to_vec());
    assert_eq!(d.clone().partial(8, 5), SectionData::Built(b"89".to_vec()));
    assert_eq!(d.partial(20, 5), SectionData::Built(Vec::new()));
    assert_eq!(
        SectionData::Range(10..20).partial(2, 3),
        SectionData::Range(12..15)
    );
}

/// Every node's ranges nest inside the message and inside their parents.
fn check_ranges(msg: &Message<'_>) {
    let len = msg.raw().len();
    for n in &msg.nodes {
        assert!(
            n.header.start <= n.header.end && n.header.end <= n.body.start,
            "{n:?}"
        );
        assert!(
            n.body.start <= n.body.end && n.body.end <= len,
            "{n:?} in {len}"
        );
    }
    for (i, n) in msg.nodes.iter().enumerate() {
        match n.kind {
            Kind::Multipart { .. } => {
                for c in msg.children(i as u32) {
                    let c = msg.node(c);
                    assert!(c.header.start >= n.body.start && c.body.end <= n.body.end);
                }
            }
            Kind::Message { inner } => {
                let c = msg.node(inner);
                assert!(c.header.start >= n.body.start && c.body.end <= n.body.end);
            }
            Kind::Leaf => {}
        }
    }
}

fn fragments() -> impl Strategy<Value = Vec<u8>> {
    let frag = prop_oneof![
        Just(b"--b\r\n".to_vec()),
        Just(b"--b--\r\n".to_vec()),
        Just(b"--c\n".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec()),
        Just(b"Content-Type: multipart/digest; boundary=\"c\"\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Type: text/plain; name*0*=utf-8''%41; name*1=x\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec()),
        Just(b"From: \"a\\\" (b\" <@r:c@d>, g: e@f; (x\r\n".to_vec()),
        Just(b"Subject: =?utf-8?q?a=C3?= =?utf-8?b?qQ==?=\r\n".to_vec()),
        Just(b" folded\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"text =3D=\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    prop::collection::vec(frag, 0..40).prop_map(|v| v.concat())
}

fn exercise(raw: &[u8]) {
    let msg = Message::parse(raw);
    check_ranges(&msg);
    Sx::parse(&msg.envelope());
    Sx::parse(&msg.body_structure(true));
    Sx::parse(&msg.body_structure(false));
    let paths: [&[u32]; 6] = [&[], &[1], &[2], &[1, 1], &[2, 1, 1], &[1, 2, 3]];
    for p in paths {
        for text in [
            None,
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::Mime),
            Some(SectionText::HeaderFields {
                not: true,
                fields: vec![Cow::Borrowed(&b"from"[..])],
            }),
        ] {
            if let SectionData::Range(r) = msg.section(p, text.as_ref()) {
                assert!(r.start <= r.end && r.end <= raw.len());
            }
        }
        let _ = msg.binary(p);
    }
    let _ = msg.sent_date();
    let _ = msg.first_address(b"from");
    let _ = msg.header_text();
    let _ = msg.body_text();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_parse_without_panic(raw in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise(&raw);
    }

    #[test]
    fn mime_like_bytes_parse_without_panic(raw in fragments()) {
        exercise(&raw);
    }
}

/// HEADER.FIELDS as rebuilt from a summary's field index (what a cached FETCH sends).
fn from_index(s: &super::Summary, names: &[&[u8]], not: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for f in s.fields_matching(names, not)? {
        out.extend_from_slice(f);
        if !f.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The summary's field index picks exactly the bytes `header_fields` scans out of the header, for
    /// any header (folded lines, bare LF, lines without a colon, a missing blank line).
    #[test]
    fn the_field_index_answers_what_a_scan_does(
        lines in prop::collection::vec(
            prop_oneof![
                "(Subject|From|TO|x-a|Date): [ -~]{0,20}\r\n",
                "[ \t][ -~]{0,10}\r\n",
                "[A-Za-z-]{1,6}:[ -~]{0,10}\n",
                "no colon[ -~]{0,5}\r\n",
            ],
            0..12,
        ),
        blank in any::<bool>(),
        not in any::<bool>(),
    ) {
        let mut raw = lines.concat().into_bytes();
        if blank {
            raw.extend_from_slice(b"\r\nbody\r\n");
        }
        let msg = Message::parse(&raw);
        let s = msg.summary();
        let names: [&[u8]; 3] = [b"subject", b"to", b"X-A"];
        let scanned = super::header_fields(s.header_bytes(&raw), &names, not);
        prop_assert_eq!(from_index(&s, &names, not), Some(scanned));
    }
}
