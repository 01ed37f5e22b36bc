//! COMPRESS=DEFLATE (RFC 4978) end to end: Python's imaplib with zlib over its socket against the
//! built binary with two shards, so sessions cross the post-login handoff before they compress.

mod common;

use std::sync::{Mutex, MutexGuard};

use common::Server;

/// One server at a time in this binary: `common::free_port` picks ports that a second server started
/// at the same moment can pick too, and with SO_REUSEPORT both bind it (an SMTP client then met the
/// other server's POP3 greeting).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn server(accounts: &[String]) -> Server {
    let mut s = Server::new("");
    for a in accounts {
        s.add_account(a);
    }
    s.start(2);
    s
}

/// LOGIN, COMPRESS and compressed commands sent in one write: with two shards most of these
/// accounts live on the shard that did not accept the connection, so the compressed bytes travel
/// with the socket as unread input and are inflated on the owner.
#[test]
fn compressed_bytes_pipelined_behind_login_cross_the_handoff() {
    let _one = serial();
    let accounts: Vec<String> = (0..16).map(|i| format!("user{i}@example.test")).collect();
    let s = server(&accounts);
    let imap = s.imap.to_string();
    let mut args = vec![imap.as_str(), "pipelined"];
    args.extend(accounts.iter().map(String::as_str));
    let out = s.python("imap_compress.py", &args);
    for a in &accounts {
        assert!(out.contains(&format!("OK pipelined {a}")), "{a}:\n{out}");
    }
    assert!(
        s.metric_sum("shardmail_imap_handoffs_total") >= 1,
        "no session moved"
    );
    assert_eq!(s.metric_sum("shardmail_imap_compressed_total"), 16);
}

/// Refused before login; after COMPRESS a large message (spliced from the mmap) and a mailbox of
/// 301 messages come back byte-exact and compressed, IDLE is woken by a delivery, and LOGOUT ends it.
#[test]
fn a_compressed_session_fetches_a_large_message_and_a_mailbox_and_idles() {
    let _one = serial();
    let s = server(&["alice@example.test".to_string()]);
    let imap = s.imap.to_string();
    let out = s.python("imap_compress.py", &[&imap, "full", "alice@example.test"]);
    for step in [
        "refused-before-login",
        "compress",
        "compressionactive",
        "fetch-mailbox",
        "fetch-large",
        "idle",
        "logout",
    ] {
        assert!(out.contains(&format!("OK {step}\n")), "{step}:\n{out}");
    }
    let ratio = out.lines().find(|l| l.starts_with("RATIO")).unwrap_or("");
    eprintln!("compressed FETCH, wire vs plain bytes: {ratio}");
}
