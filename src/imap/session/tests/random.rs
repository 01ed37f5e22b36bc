//! Random command sequences (valid, half-valid and garbage) never panic the session, and every
//! tagged command gets exactly one tagged reply.

use proptest::prelude::*;

use super::*;

const COMMANDS: &[&str] = &[
    "SELECT INBOX",
    "EXAMINE INBOX",
    "SELECT Trash",
    "NOOP",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "FETCH {s} (FLAGS UID ENVELOPE BODYSTRUCTURE)",
    "FETCH {s} (BODY[] BODY.PEEK[1.MIME] BINARY[1] RFC822.SIZE)",
    "UID FETCH {s} (FLAGS) (CHANGEDSINCE 1)",
    "STORE {s} +FLAGS (\\Deleted)",
    "UID STORE {s} -FLAGS.SILENT (\\Seen $x)",
    "STORE {s} FLAGS (\\Flagged) (UNCHANGEDSINCE 2)",
    "COPY {s} Trash",
    "UID MOVE {s} Junk",
    "UID EXPUNGE {s}",
    "SEARCH OR FLAGGED {s} BODY x",
    "UID SEARCH RETURN (MIN MAX COUNT) NOT DELETED",
    "SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "STATUS INBOX (MESSAGES UNSEEN SIZE DELETED HIGHESTMODSEQ)",
    "LIST \"\" *",
    "CREATE a/b",
    "RENAME a x",
    "DELETE x/b",
    "ENABLE QRESYNC IMAP4rev2",
    "APPEND INBOX (\\Seen) {5+}\r\nhello",
    "garbage ( [",
    "FETCH",
];

fn sets() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_string()),
        Just("*".to_string()),
        Just("1:*".to_string()),
        Just("0".to_string()),
        Just("4294967295".to_string()),
        (1u32..8, 1u32..8).prop_map(|(a, b)| format!("{a}:{b}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_sessions_never_panic(
        script in proptest::collection::vec((0..COMMANDS.len(), sets()), 1..30),
        split in 1usize..40,
    ) {
        let lines: Vec<String> = script
            .iter()
            .enumerate()
            .map(|(i, (c, s))| format!("t{i} {}\r\n", COMMANDS[*c].replace("{s}", s)))
            .collect();
        on_executor(move || async move {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = open_store(dir.path()).await;
            for s in ["1", "2", "3"] {
                deliver(&store, USER, &msg(s)).await;
            }
            let mut w = Wire::new(Client::logged_in(&store).await);
            let bytes: Vec<u8> = lines.concat().into_bytes();
            let mut replies = String::new();
            for chunk in bytes.chunks(split) {
                replies.push_str(&w.read(chunk).await);
            }
            if w.c.s.is_closed() {
                return;
            }
            for (i, line) in lines.iter().enumerate() {
                let tag = format!("t{i} ");
                let n = replies.lines().filter(|l| l.starts_with(&tag)).count();
                assert_eq!(n, 1, "one tagged reply to {line}: {replies}");
            }
        });
    }
}
