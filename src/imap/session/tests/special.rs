//! Mailbox and search gaps of issue 10, as a client sends them (through the parser): the Archive
//! folder and CREATE with USE (RFC 6154), SEARCHRES (RFC 5182), \Recent for new arrivals (RFC 3501
//! 2.3.2), LIST RECURSIVEMATCH and CHILDINFO (RFC 5258), ID bounds (RFC 2971).

use super::*;

async fn wire(store: &Rc<Store>) -> Wire {
    let mut w = Wire::new(Client::new(store, Config::default()));
    let r = w.read(b"l LOGIN alice@example.test secret\r\n").await;
    assert!(r.starts_with("l OK "), "{r}");
    w
}

/// A new account lists Archive beside Drafts, Sent, Junk and Trash; CREATE (USE (...)) gives a new
/// folder its attribute, which a restart keeps; unsupported or taken attributes are `NO [USEATTR]`
/// and create nothing (RFC 6154 3, 5.2).
#[test]
fn archive_for_new_accounts_and_create_with_use() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut w = wire(&store).await;
        assert_eq!(
            w.read(b"a LIST \"\" % RETURN (SPECIAL-USE)\r\n").await,
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n\
             * LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n\
             a OK LIST completed\r\n"
        );
        assert_eq!(
            w.read(b"b CREATE Old/Mail (USE (\\Archive))\r\n").await,
            "b NO [USEATTR] another folder is already the \\Archive folder\r\n"
        );
        assert_eq!(
            w.read(b"c CREATE Everything (USE (\\All))\r\n").await,
            "c NO [USEATTR] cannot create a \\All folder\r\n"
        );
        assert_eq!(
            w.read(b"d CREATE Two (USE (\\Sent \\Drafts))\r\n").await,
            "d NO [USEATTR] Unsupported special-use attribute\r\n"
        );
        assert_eq!(
            w.read(b"e DELETE Archive\r\nf CREATE Old/Mail (USE (\\archive))\r\n")
                .await,
            "e OK DELETE completed\r\nf OK CREATE completed\r\n"
        );
        assert_eq!(
            w.read(b"g LIST (SPECIAL-USE) \"\" *\r\nh LIST \"\" Every*\r\n")
                .await,
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n\
             * LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n\
             * LIST (\\HasNoChildren \\Archive) \"/\" Old/Mail\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n\
             g OK LIST completed\r\n\
             h OK LIST completed\r\n",
            "the refused CREATEs made nothing"
        );
        drop(w);
        // Durable before the OK: a store reopened from the log (replay) keeps the attribute.
        let root = dir.path().to_path_buf();
        let Ok(store) = Rc::try_unwrap(store) else {
            panic!("the test holds the only store handle");
        };
        store.close().await.expect("close");
        let store = open_store(&root).await;
        let mut w = wire(&store).await;
        assert_eq!(
            w.read(b"i LIST \"\" Old/% RETURN (SPECIAL-USE)\r\n").await,
            "* LIST (\\HasNoChildren \\Archive) \"/\" Old/Mail\r\ni OK LIST completed\r\n"
        );
    });
}
