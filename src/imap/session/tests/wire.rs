//! Transcripts at the byte level: the parser's receiver in front of the session, as in the shell.

use super::*;

#[test]
fn pipelined_commands_are_answered_in_order() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        deliver(&store, USER, &msg("1")).await;
        let mut w = Wire::new(Client::new(&store, Config::default()));
        let r = w
            .read(
                b"a LOGIN alice@example.test secret\r\nb SELECT INBOX\r\nc UID FETCH 1:* (UID FLAGS)\r\n\
                  d NOOP\r\n",
            )
            .await;
        let lines: Vec<&str> = r.lines().collect();
        assert!(lines[0].starts_with("a OK [CAPABILITY IMAP4rev1 "), "{r}");
        let fetch = lines
            .iter()
            .position(|l| l.starts_with("* 1 FETCH"))
            .expect("a FETCH");
        assert_eq!(lines[fetch], "* 1 FETCH (UID 1 FLAGS (\\Recent))");
        assert_eq!(lines[fetch - 1], "b OK [READ-WRITE] SELECT completed");
        assert_eq!(
            &lines[fetch + 1..],
            ["c OK FETCH completed", "d OK NOOP completed"]
        );
    });
}

#[test]
fn an_append_literal_split_across_reads_is_stored_once_whole() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut w = Wire::new(Client::logged_in(&store).await);
        let m = msg("split");
        let head = format!("a APPEND INBOX (\\Seen) {{{}}}\r\n", m.len());
        assert_eq!(
            w.read(head.as_bytes()).await,
            "+ Ready for literal data\r\n"
        );
        assert_eq!(w.read(&m[..10]).await, "");
        assert_eq!(w.read(&m[10..]).await, "");
        assert_eq!(
            w.read(b"\r\nb STATUS INBOX (MESSAGES UNSEEN)\r\n").await,
            format!(
                "a OK [APPENDUID {NOW} 1] APPEND completed\r\n\
                 * STATUS INBOX (MESSAGES 1 UNSEEN 0)\r\nb OK STATUS completed\r\n"
            )
        );
        // The stored bytes are the literal's.
        let r = w.read(b"c SELECT INBOX\r\nd FETCH 1 BODY.PEEK[]\r\n").await;
        assert!(
            r.contains(&format!(
                "* 1 FETCH (BODY[] {{{}}}\r\n{})\r\n",
                m.len(),
                String::from_utf8_lossy(&m)
            )),
            "{r}"
        );
    });
}

#[test]
fn syntax_errors_get_bad_and_the_session_goes_on_until_too_many() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let cfg = Config {
            max_bad: 3,
            ..Config::default()
        };
        let mut w = Wire::new(Client::new(&store, cfg));
        let r = w.read(b"a FROBNICATE\r\nb NOOP\r\n").await;
        let lines: Vec<&str> = r.lines().collect();
        assert!(lines[0].starts_with("a BAD "), "{r}");
        assert_eq!(lines[1], "b OK NOOP completed");
        // A good command reset the count: three BADs in a row from here end the session.
        let r = w
            .read(b"c SELECT\r\nd FETCH x\r\ne BLAH\r\nf LOGOUT\r\n")
            .await;
        let lines: Vec<&str> = r.lines().collect();
        assert!(lines[0].starts_with("c BAD "), "{r}");
        assert!(lines[1].starts_with("d BAD "), "{r}");
        assert!(lines[2].starts_with("e BAD "), "{r}");
        assert_eq!(lines[3], "* BYE Too many invalid commands", "{r}");
        assert_eq!(lines.len(), 4, "nothing after BYE: {r}");
    });
}
