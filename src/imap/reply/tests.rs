//! Encoder transcripts checked byte for byte against the RFC examples, and round trips of everything
//! we write through the strict test reader.

use super::data::{self, ListItem};
use super::fetch::{self, FetchResponse};
use super::reader::{atom, read_all, read_one, string, Response, Tok};
use super::*;
use crate::imap::capability::CapabilityState;
use crate::imap::thread::{Forest, Node};
use crate::imap::types::{
    Date, DateTime, FetchAttr, Partial, SearchReturn, Section, SectionText, StatusItem,
};
use proptest::prelude::*;
use std::borrow::Cow;

fn s(out: &[u8]) -> &str {
    std::str::from_utf8(out).expect("test output is UTF-8")
}

fn with(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    // Every response we write reads back.
    read_all(&out).unwrap_or_else(|e| panic!("unreadable output: {e}"));
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn status_responses_of_rfc_9051() {
    // RFC 9051 7.1 / 6.3.2 examples.
    assert_eq!(
        with(|o| untagged(
            o,
            Cond::Ok,
            Some(&Code::UidValidity(3857529045)),
            "UIDs valid"
        )),
        "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
    );
    assert_eq!(
        with(|o| untagged(
            o,
            Cond::Ok,
            Some(&Code::UidNext(4392)),
            "Predicted next UID"
        )),
        "* OK [UIDNEXT 4392] Predicted next UID\r\n"
    );
    assert_eq!(
        with(|o| untagged(
            o,
            Cond::Ok,
            Some(&Code::PermanentFlags(&["\\Deleted", "\\Seen", "\\*"])),
            "Limited"
        )),
        "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
    );
    assert_eq!(
        with(|o| tagged(
            o,
            "A142",
            Cond::Ok,
            Some(&Code::ReadWrite),
            "SELECT completed"
        )),
        "A142 OK [READ-WRITE] SELECT completed\r\n"
    );
    assert_eq!(
        with(|o| tagged(
            o,
            "A932",
            Cond::Ok,
            Some(&Code::ReadOnly),
            "EXAMINE completed"
        )),
        "A932 OK [READ-ONLY] EXAMINE completed\r\n"
    );
    assert_eq!(
        with(|o| untagged(
            o,
            Cond::Ok,
            Some(&Code::Alert),
            "System shutdown in 10 minutes"
        )),
        "* OK [ALERT] System shutdown in 10 minutes\r\n"
    );
    assert_eq!(
        with(|o| tagged(
            o,
            "A003",
            Cond::No,
            Some(&Code::TryCreate),
            "No such mailbox"
        )),
        "A003 NO [TRYCREATE] No such mailbox\r\n"
    );
    assert_eq!(
        with(|o| bye(o, None, "Autologout; idle for too long")),
        "* BYE Autologout; idle for too long\r\n"
    );
    assert_eq!(
        with(|o| preauth(o, None, "IMAP4rev2 server logged in as Smith")),
        "* PREAUTH IMAP4rev2 server logged in as Smith\r\n"
    );
    assert_eq!(
        with(|o| tagged(o, "A001", Cond::Bad, None, "Unknown command")),
        "A001 BAD Unknown command\r\n"
    );
    assert_eq!(
        with(|o| untagged(
            o,
            Cond::Ok,
            Some(&Code::Unseen(12)),
            "Message 12 is first unseen"
        )),
        "* OK [UNSEEN 12] Message 12 is first unseen\r\n"
    );
    assert_eq!(
        with(|o| continuation(o, "Ready for additional command text")),
        "+ Ready for additional command text\r\n"
    );
    assert_eq!(
        with(|o| tagged(
            o,
            "A1",
            Cond::No,
            Some(&Code::BadCharset(&["US-ASCII", "UTF-8"])),
            "charset"
        )),
        "A1 NO [BADCHARSET (US-ASCII UTF-8)] charset\r\n"
    );
    assert_eq!(
        with(|o| tagged(o, "A1", Cond::No, Some(&Code::BadCharset(&[])), "charset")),
        "A1 NO [BADCHARSET] charset\r\n"
    );
}

#[test]
fn codes_of_rfc_5530_and_extensions() {
    let cases: Vec<(Code<'_>, &str)> = vec![
        (Code::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (Code::AuthorizationFailed, "AUTHORIZATIONFAILED"),
        (Code::Unavailable, "UNAVAILABLE"),
        (Code::Expired, "EXPIRED"),
        (Code::PrivacyRequired, "PRIVACYREQUIRED"),
        (Code::ContactAdmin, "CONTACTADMIN"),
        (Code::NoPerm, "NOPERM"),
        (Code::InUse, "INUSE"),
        (Code::ExpungeIssued, "EXPUNGEISSUED"),
        (Code::Corruption, "CORRUPTION"),
        (Code::ServerBug, "SERVERBUG"),
        (Code::ClientBug, "CLIENTBUG"),
        (Code::Cannot, "CANNOT"),
        (Code::Limit, "LIMIT"),
        (Code::OverQuota, "OVERQUOTA"),
        (Code::AlreadyExists, "ALREADYEXISTS"),
        (Code::NonExistent, "NONEXISTENT"),
        (Code::UnknownCte, "UNKNOWN-CTE"),
        (Code::TooBig, "TOOBIG"),
        (Code::CompressionActive, "COMPRESSIONACTIVE"),
        (Code::HasChildren, "HASCHILDREN"),
        (Code::UseAttr, "USEATTR"),
        (Code::Closed, "CLOSED"),
        (Code::NoModSeq, "NOMODSEQ"),
        (Code::UidNotSticky, "UIDNOTSTICKY"),
        (Code::Parse, "PARSE"),
        (
            Code::HighestModSeq(715194045007),
            "HIGHESTMODSEQ 715194045007",
        ),
        // RFC 7162 3.1.3 example.
        (Code::Modified(&[7, 9]), "MODIFIED 7,9"),
        // RFC 4315 3 examples.
        (
            Code::AppendUid {
                uidvalidity: 38505,
                uids: &[3955],
            },
            "APPENDUID 38505 3955",
        ),
        (
            Code::CopyUid {
                uidvalidity: 38505,
                from: &[304, 319, 320],
                to: &[3956, 3957, 3958],
            },
            "COPYUID 38505 304,319:320 3956:3958",
        ),
        (Code::Other("X-FOO", Some("a]b")), "X-FOO a?b"),
        (Code::Other("bad atom", None), "X-INVALID"),
    ];
    for (code, want) in cases {
        let got = with(|o| tagged(o, "t", Cond::No, Some(&code), "x"));
        assert_eq!(got, format!("t NO [{want}] x\r\n"));
    }
}

#[test]
fn capability_in_code_and_data() {
    let caps = Capabilities::for_state(&CapabilityState::default());
    let got = with(|o| untagged(o, Cond::Ok, Some(&Code::Capability(&caps)), "ready"));
    assert_eq!(
        got,
        "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE IDLE SASL-IR LOGINDISABLED] ready\r\n"
    );
    let got = with(|o| data::capability(o, &caps));
    assert_eq!(
        got,
        "* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE IDLE SASL-IR LOGINDISABLED\r\n"
    );
}

#[test]
fn text_cannot_break_the_line() {
    assert_eq!(
        with(|o| tagged(o, "a", Cond::No, None, "no\r\n* OK injected")),
        "a NO no??* OK injected\r\n"
    );
    assert_eq!(
        with(|o| tagged(o, "a", Cond::No, None, "caf\u{e9}")),
        "a NO caf??\r\n"
    );
    // Without a code, a leading bracket would read as one.
    assert_eq!(
        with(|o| tagged(o, "a", Cond::No, None, "[ALERT] fake")),
        "a NO (ALERT] fake\r\n"
    );
    assert_eq!(
        with(|o| tagged(o, "a", Cond::Ok, None, "")),
        "a OK done\r\n"
    );
    assert_eq!(
        with(|o| tagged(o, "a", Cond::Ok, Some(&Code::Closed), "")),
        "a OK [CLOSED] done\r\n"
    );
    // A tag that could break the line is replaced by `*`.
    assert_eq!(
        with(|o| tagged(o, "a\r\nb", Cond::Bad, None, "x")),
        "* BAD x\r\n"
    );
    assert_eq!(with(|o| continuation(o, "")), "+ go ahead\r\n");
}

#[test]
fn sasl_continuations() {
    let mut out = Vec::new();
    continuation_base64(&mut out, b"");
    assert_eq!(out, b"+ \r\n");
    for (data, b64) in [
        (&b"f"[..], "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg=="),
        (b"\0user\0pass", "AHVzZXIAcGFzcw=="),
    ] {
        let mut out = Vec::new();
        continuation_base64(&mut out, data);
        assert_eq!(s(&out), format!("+ {b64}\r\n"));
    }
}

#[test]
fn mailbox_data_of_rfc_9051() {
    assert_eq!(
        with(|o| data::flags(
            o,
            ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
        )),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    );
    assert_eq!(with(|o| data::exists(o, 172)), "* 172 EXISTS\r\n");
    assert_eq!(with(|o| data::recent(o, 1)), "* 1 RECENT\r\n");
    assert_eq!(with(|o| data::expunge(o, 44)), "* 44 EXPUNGE\r\n");
    assert_eq!(
        with(|o| data::enabled(o, &["CONDSTORE", "QRESYNC"])),
        "* ENABLED CONDSTORE QRESYNC\r\n"
    );
    assert_eq!(with(|o| data::enabled(o, &[])), "* ENABLED\r\n");
    // RFC 7162 3.2.10 example.
    let uids: Vec<u32> = [41]
        .into_iter()
        .chain(43..=116)
        .chain([118])
        .chain(120..=211)
        .chain(214..=540)
        .collect();
    assert_eq!(
        with(|o| data::vanished(o, true, &uids)),
        "* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n"
    );
    assert_eq!(
        with(|o| data::vanished(o, false, &[405, 407, 410, 425])),
        "* VANISHED 405,407,410,425\r\n"
    );
    assert_eq!(with(|o| data::vanished(o, false, &[])), "");
    assert_eq!(
        with(|o| data::status(
            o,
            "blurdybloop",
            Names::Utf7,
            &[
                (StatusItem::Messages, Some(231)),
                (StatusItem::UidNext, Some(44292))
            ]
        )),
        "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
    );
    assert_eq!(
        with(|o| data::status(
            o,
            "Sent",
            Names::Utf8,
            &[
                (StatusItem::Size, Some(123)),
                (StatusItem::HighestModSeq, Some(7)),
                (StatusItem::AppendLimit, None),
                (StatusItem::Deleted, Some(0)),
                (StatusItem::Recent, Some(1)),
                (StatusItem::UidValidity, Some(9)),
                (StatusItem::Unseen, Some(2)),
            ]
        )),
        "* STATUS Sent (SIZE 123 HIGHESTMODSEQ 7 APPENDLIMIT NIL DELETED 0 RECENT 1 UIDVALIDITY 9 UNSEEN 2)\r\n"
    );
}

#[test]
fn list_responses() {
    let item = |attrs: &'static [&'static str], name: &'static str| ListItem {
        attrs,
        delimiter: Some(b'/'),
        name,
        ..ListItem::default()
    };
    // RFC 9051 6.3.9: the root of the hierarchy.
    assert_eq!(
        with(|o| data::list(o, &item(&["\\Noselect"], ""), Names::Utf7)),
        "* LIST (\\Noselect) \"/\" \"\"\r\n"
    );
    assert_eq!(
        with(|o| data::list(o, &item(&["\\HasNoChildren"], "INBOX"), Names::Utf7)),
        "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
    );
    assert_eq!(
        with(|o| data::list(
            o,
            &item(&["\\HasNoChildren", "\\Sent"], "Sent Items"),
            Names::Utf7
        )),
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
    );
    // Modified UTF-7 for rev1, UTF-8 (a literal, being 8-bit) once enabled.
    let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
    assert_eq!(
        with(|o| data::list(o, &item(&[], name), Names::Utf7)),
        "* LIST () \"/\" ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n"
    );
    let got = with(|o| data::list(o, &item(&[], name), Names::Utf8));
    assert_eq!(
        got,
        format!("* LIST () \"/\" {{{}}}\r\n{name}\r\n", name.len())
    );
    // RFC 5258 3.5 CHILDINFO and RFC 9051 OLDNAME.
    let mut it = item(&["\\NonExistent"], "Foo");
    it.childinfo_subscribed = true;
    assert_eq!(
        with(|o| data::list(o, &it, Names::Utf7)),
        "* LIST (\\NonExistent) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
    );
    it.oldname = Some("Bar");
    assert_eq!(
        with(|o| data::list(o, &it, Names::Utf7)),
        "* LIST (\\NonExistent) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\") \"OLDNAME\" (Bar))\r\n"
    );
    // `[` is an atom character; `]` is not.
    assert_eq!(
        with(|o| data::list(o, &item(&[], "["), Names::Utf7)),
        "* LIST () \"/\" [\r\n"
    );
    assert_eq!(
        with(|o| data::list(o, &item(&[], "a]"), Names::Utf7)),
        "* LIST () \"/\" \"a]\"\r\n"
    );
    let lsub = ListItem {
        lsub: true,
        delimiter: None,
        name: "a%b",
        ..ListItem::default()
    };
    assert_eq!(
        with(|o| data::list(o, &lsub, Names::Utf7)),
        "* LSUB () NIL \"a%b\"\r\n"
    );
}

#[test]
fn search_sort_esearch() {
    assert_eq!(
        with(|o| data::search(o, &[2, 84, 882], None)),
        "* SEARCH 2 84 882\r\n"
    );
    assert_eq!(with(|o| data::search(o, &[], Some(5))), "* SEARCH\r\n");
    // RFC 7162 3.1.5 example.
    assert_eq!(
        with(|o| data::search(o, &[2, 5, 6, 7, 11, 12, 18, 19, 20, 23], Some(917162500))),
        "* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)\r\n"
    );
    assert_eq!(
        with(|o| data::sort(o, &[5, 3, 4], None)),
        "* SORT 5 3 4\r\n"
    );
    // RFC 4731 3.1 examples.
    use SearchReturn::*;
    assert_eq!(
        with(|o| data::esearch(o, Some("A282"), false, &[Min, Count], &[2, 10, 11], None)),
        "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n"
    );
    assert_eq!(
        with(|o| data::esearch(o, Some("A283"), false, &[], &[2, 10, 11], None)),
        "* ESEARCH (TAG \"A283\") ALL 2,10:11\r\n"
    );
    assert_eq!(
        with(|o| data::esearch(o, Some("A285"), true, &[Min, Max], &[7, 3800], None)),
        "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800\r\n"
    );
    assert_eq!(
        with(|o| data::esearch(o, Some("A286"), false, &[Count], &[], None)),
        "* ESEARCH (TAG \"A286\") COUNT 0\r\n"
    );
    // No match: MIN/MAX/ALL are left out.
    assert_eq!(
        with(|o| data::esearch(o, Some("t"), true, &[Min, Max, All], &[], Some(9))),
        "* ESEARCH (TAG \"t\") UID\r\n"
    );
    // RFC 7162 3.1.5: MODSEQ in ESEARCH.
    assert_eq!(
        with(|o| data::esearch(o, Some("a"), false, &[All], &[1, 2, 3, 5], Some(1236))),
        "* ESEARCH (TAG \"a\") ALL 1:3,5 MODSEQ 1236\r\n"
    );
    assert_eq!(
        with(|o| data::esearch(o, None, false, &[Save], &[1], None)),
        ""
    );
}

#[test]
fn thread_line() {
    // RFC 5256 4: (2)(3 6 (4 23)(44 7 96)); the forest is imap::thread's.
    let node = |id: u32, children: Vec<usize>| Node {
        id: Some(id),
        children,
    };
    let forest = Forest {
        nodes: vec![
            node(2, vec![]),
            node(3, vec![2]),
            node(6, vec![3, 5]),
            node(4, vec![4]),
            node(23, vec![]),
            node(44, vec![6]),
            node(7, vec![7]),
            node(96, vec![]),
        ],
        roots: vec![0, 1],
    };
    assert_eq!(
        with(|o| data::thread(o, &forest)),
        "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
    );
    assert_eq!(
        with(|o| data::thread(o, &Forest::default())),
        "* THREAD\r\n"
    );
}

#[test]
fn namespace_id_quota() {
    assert_eq!(
        with(|o| data::namespace(o, Names::Utf7, &[("", Some(b'/'))], &[], &[])),
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
    );
    assert_eq!(
        with(|o| data::namespace(
            o,
            Names::Utf7,
            &[("", Some(b'/'))],
            &[("~", Some(b'/'))],
            &[("#shared/", Some(b'/')), ("#public", None)]
        )),
        "* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) ((\"#shared/\" \"/\")(\"#public\" NIL))\r\n"
    );
    // RFC 2971 3.2 example (shortened).
    assert_eq!(
        with(|o| data::id(
            o,
            Some(&[
                ("name", Some("Cyrus")),
                ("version", Some("1.5")),
                ("os", None)
            ])
        )),
        "* ID (\"name\" \"Cyrus\" \"version\" \"1.5\" \"os\" NIL)\r\n"
    );
    assert_eq!(with(|o| data::id(o, None)), "* ID NIL\r\n");
    // RFC 9208 5.1 / 5.2 examples.
    assert_eq!(
        with(|o| data::quota(o, "", &[("STORAGE", 10, 512)])),
        "* QUOTA \"\" (STORAGE 10 512)\r\n"
    );
    assert_eq!(
        with(|o| data::quotaroot(o, "INBOX", Names::Utf7, &[""])),
        "* QUOTAROOT INBOX \"\"\r\n"
    );
    assert_eq!(
        with(|o| data::quotaroot(o, "comp.mail.mime", Names::Utf7, &[])),
        "* QUOTAROOT comp.mail.mime\r\n"
    );
}

#[test]
fn fetch_responses() {
    // RFC 9051 7.5.2 example.
    let got = with(|o| {
        let mut f = FetchResponse::begin(o, 23);
        f.flags(o, ["\\Seen"]);
        f.rfc822_size(o, 44827);
        f.end(o);
    });
    assert_eq!(got, "* 23 FETCH (FLAGS (\\Seen) RFC822.SIZE 44827)\r\n");
    // RFC 7162 3.1.4.1 example.
    let got = with(|o| {
        let mut f = FetchResponse::begin(o, 4);
        f.uid(o, 8);
        f.modseq(o, 12121231000);
        f.end(o);
    });
    assert_eq!(got, "* 4 FETCH (UID 8 MODSEQ (12121231000))\r\n");
    // A literal written by the caller after the header (as from the mmap), then more items.
    let header = b"Subject: hi\r\n\r\n";
    let fields = FetchAttr::Section {
        peek: true,
        section: Section {
            part: vec![],
            text: Some(SectionText::HeaderFields {
                not: false,
                fields: vec![Cow::Borrowed(&b"SUBJECT"[..])],
            }),
        },
        partial: None,
    };
    let mut out = Vec::new();
    let mut f = FetchResponse::begin(&mut out, 5);
    f.uid(&mut out, 9);
    f.flags(&mut out, ["\\Seen", "$Label1"]);
    f.internal_date(&mut out, 1_795_000_000, 0);
    f.literal(&mut out, &fields, header.len(), false);
    let flushed = std::mem::take(&mut out); // the shell would write this, then the bytes
    f.item(&mut out, b"ENVELOPE");
    out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    f.end(&mut out);
    let mut all = flushed;
    all.extend_from_slice(header);
    all.extend_from_slice(&out);
    assert_eq!(
        s(&all),
        "* 5 FETCH (UID 9 FLAGS (\\Seen $Label1) INTERNALDATE \"18-Nov-2026 11:06:40 +0000\" \
         BODY[HEADER.FIELDS (SUBJECT)] {15}\r\nSubject: hi\r\n\r\n \
         ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
    );
    let Response::Data(toks) = read_one(&all).unwrap() else {
        panic!("not data")
    };
    let Tok::List(items) = &toks[2] else {
        panic!("no item list")
    };
    assert_eq!(items[6], atom("BODY[HEADER.FIELDS (SUBJECT)]"));
    assert_eq!(items[7], string(header));
}

#[test]
fn flags_from_store_bits() {
    use crate::imap::search::flag;
    let got = with(|o| {
        let mut f = FetchResponse::begin(o, 3);
        let kw = ["$Forwarded", "bad keyword", "NonJunk"];
        f.flags(
            o,
            fetch::system_flags(flag::SEEN | flag::DRAFT | flag::DELETED)
                .chain(kw)
                .chain(Some("\\Recent")),
        );
        f.end(o);
    });
    // A keyword that is not an atom cannot be written and is left out.
    assert_eq!(
        got,
        "* 3 FETCH (FLAGS (\\Seen \\Deleted \\Draft $Forwarded NonJunk \\Recent))\r\n"
    );
    assert_eq!(fetch::system_flags(0).count(), 0);
    assert_eq!(fetch::system_flags(0xff).count(), 5);
}

#[test]
fn fetch_item_names() {
    let name = |a: FetchAttr<'_>| {
        let mut out = Vec::new();
        fetch::attr_name(&mut out, &a);
        String::from_utf8(out).unwrap()
    };
    let sec = |part: Vec<u32>, text: Option<SectionText<'static>>| Section { part, text };
    assert_eq!(
        name(FetchAttr::Section {
            peek: true,
            section: sec(vec![], None),
            partial: Some(Partial {
                origin: 0,
                count: 100
            })
        }),
        "BODY[]<0>"
    );
    assert_eq!(
        name(FetchAttr::Section {
            peek: false,
            section: sec(vec![1, 2], Some(SectionText::Mime)),
            partial: None
        }),
        "BODY[1.2.MIME]"
    );
    assert_eq!(
        name(FetchAttr::Section {
            peek: false,
            section: sec(vec![3], Some(SectionText::Text)),
            partial: Some(Partial {
                origin: 512,
                count: 1
            })
        }),
        "BODY[3.TEXT]<512>"
    );
    assert_eq!(
        name(FetchAttr::Section {
            peek: false,
            section: sec(
                vec![],
                Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec![Cow::Borrowed(&b"X-Y"[..]), Cow::Borrowed(&b"A B"[..])]
                })
            ),
            partial: None
        }),
        "BODY[HEADER.FIELDS.NOT (X-Y \"A B\")]"
    );
    assert_eq!(
        name(FetchAttr::Section {
            peek: false,
            section: sec(vec![], Some(SectionText::Header)),
            partial: None
        }),
        "BODY[HEADER]"
    );
    assert_eq!(
        name(FetchAttr::Binary {
            peek: true,
            part: vec![1, 1],
            partial: None
        }),
        "BINARY[1.1]"
    );
    assert_eq!(
        name(FetchAttr::BinarySize { part: vec![2] }),
        "BINARY.SIZE[2]"
    );
    assert_eq!(name(FetchAttr::Rfc822Header), "RFC822.HEADER");
    assert_eq!(name(FetchAttr::BodyStructure), "BODYSTRUCTURE");
    let got = with(|o| {
        let mut f = FetchResponse::begin(o, 1);
        f.binary_size(o, &[1], 42);
        f.literal(
            o,
            &FetchAttr::Binary {
                peek: false,
                part: vec![1],
                partial: None,
            },
            2,
            true,
        );
        o.extend_from_slice(b"\0\x01");
        f.nstring(o, &FetchAttr::Rfc822Text, None);
        f.end(o);
    });
    assert_eq!(
        got,
        "* 1 FETCH (BINARY.SIZE[1] 42 BINARY[1] ~{2}\r\n\0\x01 RFC822.TEXT NIL)\r\n"
    );
}

#[test]
fn internal_dates() {
    // RFC 3501 7.4.2 example: "17-Jul-1996 02:44:25 -0700".
    let dt = DateTime {
        date: Date {
            year: 1996,
            month: 7,
            day: 17,
        },
        hour: 2,
        minute: 44,
        second: 25,
        zone_minutes: -420,
    };
    let (unix, zone) = fetch::unix_of(&dt);
    assert_eq!(unix, 837_596_665);
    let mut out = Vec::new();
    fetch::date_time(&mut out, unix, zone);
    assert_eq!(s(&out), "\"17-Jul-1996 02:44:25 -0700\"");
    let d = |unix: i64, off: i16| {
        let mut out = Vec::new();
        fetch::date_time(&mut out, unix, off);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(d(0, 0), "\" 1-Jan-1970 00:00:00 +0000\"");
    assert_eq!(d(0, 330), "\" 1-Jan-1970 05:30:00 +0530\"");
    assert_eq!(d(951_782_400, 0), "\"29-Feb-2000 00:00:00 +0000\"");
    assert_eq!(d(-1, 0), "\"31-Dec-1969 23:59:59 +0000\"");
    // Beyond what the grammar can show: clamped, still well-formed.
    assert_eq!(d(i64::MAX, 0), "\"31-Dec-9999 23:59:59 +0000\"");
    assert_eq!(d(i64::MIN, 0), "\" 1-Jan-0000 00:00:00 +0000\"");
    assert_eq!(d(0, i16::MAX), "\" 1-Jan-1970 23:59:00 +2359\"");
}

#[test]
fn awkward_strings_read_back() {
    let long = "x".repeat(10_000);
    let cases: [&[u8]; 9] = [
        b"",
        b"\"",
        b"\\",
        b"a \"quoted\" \\ path",
        b"line\r\nbreak",
        b"\r",
        "caf\u{e9} \u{65e5}\u{672c}".as_bytes(),
        b"NIL",
        long.as_bytes(),
    ];
    for case in cases {
        let mut out = Vec::new();
        let mut f = FetchResponse::begin(&mut out, 7);
        f.nstring(&mut out, &FetchAttr::Rfc822Text, Some(case));
        f.end(&mut out);
        let Response::Data(toks) = read_one(&out).unwrap() else {
            panic!("not data")
        };
        assert_eq!(
            toks[2],
            Tok::List(vec![atom("RFC822.TEXT"), string(case)]),
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

proptest! {
    #[test]
    fn date_round_trip(unix in -62_000_000_000i64..253_000_000_000, off in -1439i16..=1439) {
        let mut out = Vec::new();
        fetch::date_time(&mut out, unix, off);
        let text = std::str::from_utf8(&out).unwrap();
        // "dd-Mon-yyyy hh:mm:ss +zzzz"
        prop_assert_eq!(text.len(), 28);
        let day: u8 = text[1..3].trim().parse().unwrap();
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .iter().position(|m| *m == &text[4..7]).unwrap() as u8 + 1;
        let dt = DateTime {
            date: Date { year: text[8..12].parse().unwrap(), month, day },
            hour: text[13..15].parse().unwrap(),
            minute: text[16..18].parse().unwrap(),
            second: text[19..21].parse().unwrap(),
            zone_minutes: {
                let v: i16 = text[23..25].parse::<i16>().unwrap() * 60 + text[25..27].parse::<i16>().unwrap();
                if &text[22..23] == "-" { -v } else { v }
            },
        };
        prop_assert_eq!(fetch::unix_of(&dt), (unix, off));
    }

    /// Every string we send reads back as the same bytes, in each place strings go; NUL, which no
    /// string may hold (RFC 9051 9 CHAR8), reads back as 0x80 (`imap::wire`).
    #[test]
    fn strings_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..1100), text in any::<String>()) {
        let sent = |b: &[u8]| -> Vec<u8> { b.iter().map(|&c| if c == 0 { 0x80 } else { c }).collect() };
        // nstring in FETCH.
        let mut out = Vec::new();
        let mut f = FetchResponse::begin(&mut out, 1);
        f.nstring(&mut out, &FetchAttr::Rfc822Header, Some(&bytes));
        f.end(&mut out);
        let Response::Data(toks) = read_one(&out).map_err(TestCaseError::fail)? else {
            return Err(TestCaseError::fail("not data"));
        };
        prop_assert_eq!(&toks[2], &Tok::List(vec![atom("RFC822.HEADER"), Tok::Str(sent(&bytes))]));

        // ID values and keys.
        let mut out = Vec::new();
        data::id(&mut out, Some(&[(text.as_str(), Some(text.as_str()))]));
        let Response::Data(toks) = read_one(&out).map_err(TestCaseError::fail)? else {
            return Err(TestCaseError::fail("not data"));
        };
        let t = Tok::Str(sent(text.as_bytes()));
        prop_assert_eq!(&toks[1], &Tok::List(vec![t.clone(), t]));

        // ESEARCH tag.
        let mut out = Vec::new();
        data::esearch(&mut out, Some(&text), false, &[SearchReturn::Count], &[], None);
        let Response::Data(toks) = read_one(&out).map_err(TestCaseError::fail)? else {
            return Err(TestCaseError::fail("not data"));
        };
        prop_assert_eq!(&toks[1], &Tok::List(vec![atom("TAG"), Tok::Str(sent(text.as_bytes()))]));
    }

    /// Mailbox names read back as the name: through modified UTF-7 for rev1, as UTF-8 for rev2.
    #[test]
    fn mailbox_names_round_trip(name in any::<String>()) {
        for names in [Names::Utf7, Names::Utf8] {
            let mut out = Vec::new();
            data::list(&mut out, &ListItem { delimiter: Some(b'/'), name: &name, ..ListItem::default() }, names);
            let Response::Data(toks) = read_one(&out).map_err(TestCaseError::fail)? else {
                return Err(TestCaseError::fail("not data"));
            };
            prop_assert_eq!(toks.len(), 4);
            let raw = match &toks[3] { Tok::Str(b) | Tok::Atom(b) => b.clone(), Tok::List(_) => Vec::new() };
            let back = match names {
                Names::Utf7 => utf7::decode(&raw).map_err(|e| TestCaseError::fail(e.to_string()))?,
                Names::Utf8 => String::from_utf8(raw).map_err(|e| TestCaseError::fail(e.to_string()))?,
            };
            prop_assert_eq!(&back, &name);
            if let Tok::Atom(a) = &toks[3] {
                prop_assert!(!a.eq_ignore_ascii_case(b"NIL"));
            }
        }
    }

    /// Status text from anywhere stays one response line.
    #[test]
    fn status_text_is_one_line(text in any::<String>(), tag in "[A-Za-z0-9.]{1,8}") {
        let mut out = Vec::new();
        tagged(&mut out, &tag, Cond::No, Some(&Code::Other("X", Some(text.as_str()))), &text);
        untagged(&mut out, Cond::Ok, None, &text);
        bye(&mut out, None, &text);
        let all = read_all(&out).map_err(TestCaseError::fail)?;
        prop_assert_eq!(all.len(), 3);
        let Response::Status { tag: got, .. } = &all[0] else {
            return Err(TestCaseError::fail("not status"));
        };
        prop_assert_eq!(got, &tag);
    }

    /// Sets and ESEARCH ALL read back as the numbers.
    #[test]
    fn sets_round_trip(mut ids in proptest::collection::vec(1u32..200, 1..60)) {
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        data::esearch(&mut out, None, true, &[], &ids, None);
        let Response::Data(toks) = read_one(&out).map_err(TestCaseError::fail)? else {
            return Err(TestCaseError::fail("not data"));
        };
        let Tok::Atom(set) = &toks[3] else { return Err(TestCaseError::fail("no set")) };
        let mut back = Vec::new();
        for run in std::str::from_utf8(set).unwrap().split(',') {
            match run.split_once(':') {
                Some((a, b)) => back.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()),
                None => back.push(run.parse::<u32>().unwrap()),
            }
        }
        prop_assert_eq!(back, ids);
    }
}
