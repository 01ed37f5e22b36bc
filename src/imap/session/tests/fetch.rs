//! FETCH of message structure and sections through `crate::mime`, over bytes read from the log.

use super::*;
use crate::mime;

const MULTIPART: &[u8] = b"From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.test>\r\n\
To: alice@example.test\r\n\
Subject: parts\r\n\
Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <parts@example.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
preamble\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello\r\n\
--b1\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAw==\r\n\
--b1--\r\n";

#[test]
fn envelope_bodystructure_sections_and_binary_come_from_the_stored_bytes() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        deliver(&store, USER, MULTIPART).await;
        let mut w = Wire::new(Client::logged_in(&store).await);
        w.read(b"a EXAMINE INBOX\r\n").await;
        let parsed = mime::Message::parse(MULTIPART);
        let envelope = String::from_utf8_lossy(&parsed.envelope()).into_owned();
        let structure = String::from_utf8_lossy(&parsed.body_structure(true)).into_owned();
        let body = String::from_utf8_lossy(&parsed.body_structure(false)).into_owned();
        assert!(envelope.contains("\"parts\""), "{envelope}");
        assert!(structure.starts_with("((\"text\" \"plain\""), "{structure}");
        assert_eq!(
            w.read(b"b FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)\r\n").await,
            format!(
                "* 1 FETCH (ENVELOPE {envelope} BODYSTRUCTURE {structure} BODY {body})\r\n\
                 b OK FETCH completed\r\n"
            )
        );
        assert_eq!(
            w.read(b"c FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[1]<1.3>)\r\n")
                .await,
            "* 1 FETCH (BODY[1] {5}\r\nHello BODY[2.MIME] {77}\r\n\
             Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n \
             BODY[1]<1> {3}\r\nell)\r\nc OK FETCH completed\r\n"
        );
        assert_eq!(
            w.read(b"d FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])\r\n").await,
            "* 1 FETCH (BINARY[2] ~{4}\r\n\x00\x01\x02\x03 BINARY.SIZE[2] 4)\r\nd OK FETCH completed\r\n",
            "decoded base64 with NUL goes as literal8 (RFC 3516 4.2)"
        );
        assert_eq!(
            w.read(b"e FETCH 1 (FLAGS)\r\n").await,
            "* 1 FETCH (FLAGS (\\Recent))\r\ne OK FETCH completed\r\n",
            "PEEK sets no \\Seen"
        );
        assert_eq!(
            w.read(b"f FETCH 1 (BINARY[1])\r\ng FETCH 1 (FLAGS)\r\n")
                .await,
            "* 1 FETCH (BINARY[1] {5}\r\nHello)\r\nf OK FETCH completed\r\n\
             * 1 FETCH (FLAGS (\\Recent))\r\ng OK FETCH completed\r\n",
            "a read-only selection never sets \\Seen (RFC 9051 6.3.3)"
        );
    });
}

/// RFC 3501 9 rule 3 / RFC 9051 9 `CHAR8`: a literal never carries NUL. A stored message holding NUL
/// (APPENDed as literal8) is sent in BODY[] with 0x80 in its place, the length unchanged, whether
/// small (copied) or long (it would be spliced from the mmap); BINARY[] sends it as is in `~{n}`.
#[test]
fn nul_in_a_stored_message_never_reaches_a_literal() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let small = b"Subject: nul\r\n\r\na\0b\r\n".to_vec();
        let mut long = b"Subject: long nul\r\n\r\n".to_vec();
        long.resize(40 << 10, b'x');
        long.extend_from_slice(b"\0end\r\n");
        deliver(&store, USER, &small).await;
        deliver(&store, USER, &long).await;
        let mut w = Wire::new(Client::logged_in(&store).await);
        w.read(b"a EXAMINE INBOX\r\n").await;
        let r = w.read(b"b FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT])\r\n").await;
        assert_eq!(
            r,
            format!(
                "* 1 FETCH (BODY[] {{{}}}\r\nSubject: nul\r\n\r\na\u{fffd}b\r\n BODY[TEXT] {{5}}\r\n\
                 a\u{fffd}b\r\n)\r\nb OK FETCH completed\r\n",
                small.len()
            )
        );
        let r = w.read(b"c FETCH 2 (BODY.PEEK[])\r\n").await;
        assert!(
            r.starts_with(&format!("* 2 FETCH (BODY[] {{{}}}\r\n", long.len())),
            "{}",
            &r[..60]
        );
        assert!(!r.contains('\0') && r.ends_with("\u{fffd}end\r\n)\r\nc OK FETCH completed\r\n"));
        let r = w.read(b"d FETCH 1 (BINARY.PEEK[1])\r\n").await;
        assert_eq!(
            r,
            "* 1 FETCH (BINARY[1] ~{5}\r\na\0b\r\n)\r\nd OK FETCH completed\r\n"
        );
    });
}
