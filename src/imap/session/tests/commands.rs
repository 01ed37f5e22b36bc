//! More commands and their error replies, as a client sends them (through the parser).

use super::*;

async fn wire(store: &Rc<Store>, cfg: Config) -> Wire {
    let mut w = Wire::new(Client::new(store, cfg));
    let r = w.read(b"l LOGIN alice@example.test secret\r\n").await;
    assert!(r.starts_with("l OK "), "{r}");
    w
}

#[test]
fn close_expunges_silently_unselect_does_not_and_uid_expunge_takes_a_subset() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for s in ["1", "2", "3", "4"] {
            deliver(&store, USER, &msg(s)).await;
        }
        let mut w = wire(&store, Config::default()).await;
        w.read(b"a SELECT INBOX\r\nb STORE 1:4 +FLAGS.SILENT (\\Deleted)\r\n")
            .await;
        assert_eq!(
            w.read(b"c UID EXPUNGE 2:3\r\n").await,
            "* 3 EXPUNGE\r\n* 2 EXPUNGE\r\nc OK EXPUNGE completed\r\n"
        );
        assert_eq!(w.read(b"d UNSELECT\r\n").await, "d OK Closed\r\n");
        assert_eq!(
            w.read(b"e STATUS INBOX (MESSAGES DELETED)\r\n").await,
            "* STATUS INBOX (MESSAGES 2 DELETED 2)\r\ne OK STATUS completed\r\n",
            "UNSELECT expunged nothing"
        );
        assert_eq!(
            w.read(b"f EXAMINE INBOX\r\ng STORE 1 -FLAGS (\\Deleted)\r\nh EXPUNGE\r\ni CLOSE\r\n")
                .await
                .lines()
                .filter(|l| !l.starts_with('*'))
                .collect::<Vec<_>>(),
            [
                "f OK [READ-ONLY] SELECT completed",
                "g NO [READ-ONLY] The mailbox is read-only",
                "h NO [READ-ONLY] The mailbox is read-only",
                "i OK Closed",
            ]
        );
        assert_eq!(
            w.read(b"j STATUS INBOX (MESSAGES)\r\n").await,
            "* STATUS INBOX (MESSAGES 2)\r\nj OK STATUS completed\r\n",
            "CLOSE of a read-only selection expunges nothing"
        );
        assert_eq!(
            w.read(b"k SELECT INBOX\r\nm CLOSE\r\n")
                .await
                .lines()
                .last(),
            Some("m OK Closed")
        );
        assert_eq!(
            w.read(b"n STATUS INBOX (MESSAGES)\r\no FETCH 1 FLAGS\r\n")
                .await,
            "* STATUS INBOX (MESSAGES 0)\r\nn OK STATUS completed\r\no BAD No mailbox selected\r\n",
            "CLOSE expunged the \\Deleted messages without EXPUNGE responses"
        );
    });
}

#[test]
fn state_and_argument_errors_name_their_cause() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        deliver(&store, USER, &msg("1")).await;
        let mut w = wire(&store, Config::default()).await;
        let r = w
            .read(
                b"a STATUS Nope (MESSAGES)\r\nb DELETE Nope\r\nc RENAME Nope Other\r\n\
                  d CREATE INBOX\r\ne CREATE \"Bad*Name\"\r\nf SELECT INBOX\r\ng ENABLE CONDSTORE\r\n\
                  h DELETE INBOX\r\ni COPY 1 Nope\r\nj MOVE 1 INBOX\r\nk SETQUOTA \"\" (STORAGE 10)\r\n\
                  m GETQUOTA \"\"\r\nn LOGIN x y\r\n",
            )
            .await;
        let tagged: Vec<&str> = r.lines().filter(|l| !l.starts_with('*')).collect();
        assert_eq!(
            tagged,
            [
                "a NO [NONEXISTENT] no such mailbox",
                "b NO [NONEXISTENT] no such mailbox",
                "c NO [NONEXISTENT] no such mailbox",
                "d NO [ALREADYEXISTS] mailbox already exists",
                "e NO [CANNOT] Invalid mailbox name",
                "f OK [READ-WRITE] SELECT completed",
                "g BAD ENABLE is not allowed while a mailbox is selected",
                "h NO [INUSE] The mailbox is selected; CLOSE it first",
                "i NO [TRYCREATE] no such mailbox",
                "j NO [CANNOT] Source and destination are the same mailbox",
                "k NO [NOPERM] Quotas are set by the administrator",
                "m NO [NONEXISTENT] No such quota root",
                "n BAD already authenticated",
            ],
            "{r}"
        );
    });
}

#[test]
fn quota_id_namespace_and_extended_list() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let m = msg("q");
        deliver(&store, USER, &m).await;
        let cfg = Config {
            quota_bytes: Some(4096),
            ..Config::default()
        };
        let mut w = wire(&store, cfg).await;
        assert_eq!(
            w.read(b"a GETQUOTAROOT INBOX\r\n").await,
            "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 1 4)\r\na OK GETQUOTAROOT completed\r\n"
        );
        let big = vec![b'x'; 5000];
        let head = format!("b APPEND INBOX {{{}+}}\r\n", big.len());
        let mut cmd = head.into_bytes();
        cmd.extend_from_slice(&big);
        cmd.extend_from_slice(b"\r\n");
        assert_eq!(w.read(&cmd).await, "b NO [OVERQUOTA] Quota exceeded\r\n");
        assert_eq!(
            w.read(b"c ID (\"name\" \"test\")\r\n").await,
            "* ID (\"name\" \"shardmail\")\r\nc OK ID completed\r\n"
        );
        assert_eq!(
            w.read(b"d UNSUBSCRIBE Junk\r\ne LIST (SPECIAL-USE) \"\" * RETURN (SUBSCRIBED STATUS (MESSAGES))\r\n")
                .await,
            format!(
                "d OK Subscription changed\r\n\
                 * LIST (\\HasNoChildren \\Archive \\Subscribed) \"/\" Archive\r\n* STATUS Archive (MESSAGES 0)\r\n\
                 * LIST (\\HasNoChildren \\Drafts \\Subscribed) \"/\" Drafts\r\n* STATUS Drafts (MESSAGES 0)\r\n\
                 * LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n* STATUS Junk (MESSAGES 0)\r\n\
                 * LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" Sent\r\n* STATUS Sent (MESSAGES 0)\r\n\
                 * LIST (\\HasNoChildren \\Trash \\Subscribed) \"/\" Trash\r\n* STATUS Trash (MESSAGES 0)\r\n\
                 e OK LIST completed\r\n"
            )
        );
    });
}

#[test]
fn mailbox_names_are_modified_utf7_for_imap4rev1_and_utf8_after_enable() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut w = wire(&store, Config::default()).await;
        assert_eq!(
            w.read(b"a CREATE &AMk-t&AOk-\r\nb LIST \"\" \"&AMk-*\"\r\n").await,
            "a OK CREATE completed\r\n* LIST (\\HasNoChildren) \"/\" &AMk-t&AOk-\r\nb OK LIST completed\r\n"
        );
        assert_eq!(
            w.read(b"c CREATE \"bad&name\"\r\n").await,
            "c NO [CANNOT] Invalid mailbox name\r\n",
            "a bare & is not modified UTF-7"
        );
        let mut w = wire(&store, Config::default()).await;
        w.read(b"d ENABLE UTF8=ACCEPT\r\n").await;
        assert_eq!(
            w.read("e LIST \"\" \"É*\"\r\n".as_bytes()).await,
            "* LIST (\\HasNoChildren) \"/\" {5}\r\nÉté\r\ne OK LIST completed\r\n"
        );
    });
}

#[test]
fn rename_inbox_moves_its_messages_and_leaves_it_empty() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        deliver(&store, USER, &msg("1")).await;
        let mut w = wire(&store, Config::default()).await;
        assert_eq!(
            w.read(b"a RENAME INBOX Old\r\n").await,
            "a OK RENAME completed\r\n"
        );
        assert_eq!(
            w.read(b"b STATUS INBOX (MESSAGES)\r\nc STATUS Old (MESSAGES)\r\n")
                .await,
            "* STATUS INBOX (MESSAGES 0)\r\nb OK STATUS completed\r\n\
             * STATUS Old (MESSAGES 1)\r\nc OK STATUS completed\r\n"
        );
    });
}
