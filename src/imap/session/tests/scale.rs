//! SELECT and `UID FETCH 1:* (FLAGS)` of a 100,000-message mailbox read no message bytes; their
//! times are printed (issue 10 asks for them). Ignored by default (it builds a large index):
//! `cargo test --release --lib imap::session::tests::scale -- --ignored --nocapture`.

use std::time::Instant;

use shardmail_storage::index::Flags;

use super::*;

const MESSAGES: usize = 100_000;

#[test]
#[ignore]
fn select_and_fetch_flags_of_100k_messages() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let p = store.owner(USER);
        p.ensure_account(USER, NOW).await.expect("account");
        let m = msg("scale");
        // One stored message filed 100,000 times: the index is what is measured.
        let target = [(USER.to_string(), "INBOX".to_string())];
        p.store_and_execute(&[&m], |ix, pos| {
            let mut ev = Vec::with_capacity(MESSAGES);
            for i in 0..MESSAGES {
                let flags = Flags {
                    system: if i % 3 == 0 { 1 } else { 0 },
                    keywords: Vec::new(),
                };
                ev.extend(ix.deliver(&target, pos, m.len() as u32, NOW, flags)?);
            }
            Ok((ev, ()))
        })
        .await
        .expect("deliver");
        let mut w = Wire::new(Client::logged_in(&store).await);
        let t0 = Instant::now();
        let r = w.read(b"a SELECT INBOX\r\n").await;
        let select = t0.elapsed();
        assert!(r.contains(&format!("* {MESSAGES} EXISTS")), "{r}");
        let t1 = Instant::now();
        let r = w.read(b"b UID FETCH 1:* (FLAGS)\r\n").await;
        let fetch = t1.elapsed();
        assert_eq!(r.lines().count(), MESSAGES + 1);
        assert!(r.ends_with("b OK FETCH completed\r\n"));
        println!(
            "SELECT of {MESSAGES} messages: {select:?}; UID FETCH 1:* (FLAGS): {fetch:?} ({} bytes)",
            r.len()
        );
    });
}
