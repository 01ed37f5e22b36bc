//! IMAP end to end against the built binary on loopback, with real clients: Python's imaplib, `curl
//! imap://`, `mbsync` (isync), and a raw socket for what no client sends (bad input). Mail arrives by
//! SMTP, so each test also crosses the queue and (with two shards) the mesh.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;

use common::{LineClient, Server};

/// A server with two shards and the given accounts.
fn server(accounts: &[&str], extra: &str) -> Server {
    Server::with_accounts(accounts, extra, 2)
}

/// Runs tests/py/SCRIPT with the SMTP and IMAP addresses first.
fn py(s: &Server, script: &str, args: &[&str]) -> String {
    let imap = s.imap.to_string();
    let mut all = vec![imap.as_str()];
    all.extend_from_slice(args);
    s.python(script, &all)
}

/// A raw IMAP client for bad input and exact transcripts.
struct Raw(LineClient);

impl std::ops::Deref for Raw {
    type Target = LineClient;
    fn deref(&self) -> &LineClient {
        &self.0
    }
}

impl std::ops::DerefMut for Raw {
    fn deref_mut(&mut self) -> &mut LineClient {
        &mut self.0
    }
}

impl Raw {
    fn connect(s: &Server) -> Raw {
        Raw(LineClient::connect(s.imap, Duration::from_secs(20), "* OK"))
    }

    /// Lines up to and including the one starting with `tag ` (or EOF).
    fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            if l.is_empty() {
                return out;
            }
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    fn cmd(&mut self, tag: &str, line: &str) -> Vec<String> {
        self.send(format!("{tag} {line}\r\n").as_bytes());
        self.until(tag)
    }
}

#[test]
fn imaplib_walks_a_mailbox_through_every_command() {
    let s = server(&["alice@example.test"], "");
    let steps = [
        "fetch",
        "search",
        "store",
        "copy-move",
        "expunge",
        "append",
        "errors",
        "logout",
    ];
    let out = py(
        &s,
        "imap_flow.py",
        &["alice@example.test", &steps.join(",")],
    );
    for step in ["login", "list", "select"].iter().chain(&steps) {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("OK {step}"))),
            "{step} missing:\n{out}"
        );
    }
    assert!(s.metric_sum("shardmail_imap_logins_total") >= 1);
}

/// Logs in on a raw socket with commands pipelined behind LOGIN in the same write: with two shards,
/// logins land on the shard the kernel picks and most accounts live on the other one, so the
/// session (socket, unread bytes and state) moves to the owner; the pipelined commands are answered
/// there in order.
#[test]
fn sessions_move_to_their_owner_with_the_commands_pipelined_after_login() {
    let accounts: Vec<String> = (0..16).map(|i| format!("user{i}@example.test")).collect();
    let refs: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let s = server(&refs, "");
    for a in &accounts {
        let mut c = Raw::connect(&s);
        c.send(
            format!("a LOGIN {a} secret\r\nb SELECT INBOX\r\nc NOOP\r\nd LOGOUT\r\n").as_bytes(),
        );
        let mut all = c.until("a");
        all.extend(c.until("b"));
        all.extend(c.until("c"));
        all.extend(c.until("d"));
        let text = all.concat();
        assert!(all[0].starts_with("a OK [CAPABILITY "), "{text}");
        assert!(text.contains("\r\nb OK [READ-WRITE]"), "{text}");
        assert!(text.contains("\r\nc OK"), "{text}");
        assert!(
            text.contains("* BYE") && text.ends_with("d OK LOGOUT completed\r\n"),
            "{text}"
        );
        assert_eq!(c.line(), "", "closed after LOGOUT");
    }
    let moved = s.metric_sum("shardmail_imap_handoffs_total");
    let micros = s.metric_sum("shardmail_imap_handoff_micros_total");
    // Each login lands on either shard: all 16 on their owner has probability 2^-16.
    assert!(moved >= 1, "no session moved:\n{}", s.metrics());
    eprintln!(
        "{moved} of 16 sessions moved to their owner; {} us per move on average",
        micros / moved
    );
    assert_eq!(s.metric_sum("shardmail_imap_logins_total"), 16);
    assert_eq!(s.metric_sum("shardmail_imap_connections_total"), 16);
    assert_eq!(s.metric_sum("shardmail_imap_connections_open"), 0);
    assert_eq!(s.metric_sum("shardmail_imap_handoffs_failed_total"), 0);
}

/// Malformed commands get BAD with a reason and the session goes on; an over-long line and an
/// over-large literal get their error without the server holding them; too many errors in a row end
/// with BYE (RFC 9051 7.1.5).
#[test]
fn bad_input_gets_bad_then_bye_and_oversized_input_is_refused_unread() {
    let mut s = Server::new("imap.max_errors = 4\nimap.max_literal = 100000\n");
    s.add_account("alice@example.test");
    s.start(2);
    let mut c = Raw::connect(&s);
    let r = c.cmd("a1", "FROBNICATE");
    assert!(r[0].starts_with("a1 BAD "), "{r:?}");
    let r = c.cmd("a2", "NOOP");
    assert!(r[0].starts_with("a2 OK"), "{r:?}");
    // A 1 MB line: refused as too long while it streams in, never held whole.
    let mut long = b"a3 NOOP ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 1 << 20));
    long.extend_from_slice(b"\r\n");
    c.send(&long);
    let r = c.until("a3");
    assert!(r.concat().contains("BAD [TOOBIG]"), "{r:?}");
    let r = c.cmd("a4", "NOOP");
    assert!(r[0].starts_with("a4 OK"), "{r:?}");
    // Before login the small pre-login bounds hold (8 KiB literals), whatever max_literal says: no
    // continuation is offered, so nobody can make the shard hold a large literal without a login.
    let r = c.cmd("a4b", "APPEND INBOX {50000}");
    assert!(r[0].starts_with("a4b NO [TOOBIG]"), "{r:?}");
    let r = c.cmd("a5", "LOGIN alice@example.test secret");
    assert!(r[0].starts_with("a5 OK"), "{r:?}");
    // A synchronizing literal over the limit is refused before the client sends it (RFC 7888 4).
    let r = c.cmd("a6", "APPEND INBOX {200000}");
    assert!(r[0].starts_with("a6 NO [TOOBIG]"), "{r:?}");
    let r = c.cmd("a7", "NOOP");
    assert!(r[0].starts_with("a7 OK"), "{r:?}");
    for i in 0..3 {
        let r = c.cmd(&format!("b{i}"), "FETCH");
        assert!(r[0].starts_with(&format!("b{i} BAD")), "{r:?}");
    }
    c.send(b"b3 )(\r\n");
    let mut rest = Vec::new();
    loop {
        let l = c.line();
        if l.is_empty() {
            break;
        }
        rest.push(l);
    }
    assert!(
        rest.iter().any(|l| l.starts_with("* BYE")),
        "the fourth error in a row ends the session: {rest:?}"
    );
    assert!(s.metric_sum("shardmail_imap_bad_commands_total") >= 6);
    assert_eq!(s.metric_sum("shardmail_imap_too_many_errors_total"), 1);
}

/// Failed logins are answered after a delay that doubles per failure from the address (across
/// shards), counted in metrics and logged with the client address; a success resets the count.
#[test]
fn failed_logins_are_delayed_more_each_time_counted_and_logged() {
    let s = server(
        &["alice@example.test"],
        "imap.login_delay_ms = 300\nimap.login_delay_max_ms = 5000\n",
    );
    let mut waits = Vec::new();
    for i in 0..3 {
        // A new connection each time: the count is per address, not per connection.
        let mut c = Raw::connect(&s);
        let t = std::time::Instant::now();
        let r = c.cmd("a", "LOGIN alice@example.test wrong");
        waits.push(t.elapsed());
        assert!(
            r[0].starts_with("a NO [AUTHENTICATIONFAILED]"),
            "{i}: {r:?}"
        );
    }
    // 300, 600 and 1200 ms on top of the password check.
    for (w, min) in waits.iter().zip([300, 600, 1200]) {
        assert!(*w >= Duration::from_millis(min), "{waits:?}");
    }
    assert!(
        waits[2] > waits[0] + Duration::from_millis(700),
        "{waits:?}"
    );
    assert_eq!(s.metric_sum("shardmail_imap_login_failures_total"), 3);
    let mut c = Raw::connect(&s);
    let r = c.cmd("a", "LOGIN alice@example.test secret");
    assert!(r[0].starts_with("a OK"), "{r:?}");
    let mut c = Raw::connect(&s);
    let t = std::time::Instant::now();
    c.cmd("a", "LOGIN alice@example.test wrong");
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "a success reset the count: {:?}",
        t.elapsed()
    );
    let log = s.log();
    assert!(
        log.contains("IMAP login failed ip=127.0.0.1 user=alice@example.test"),
        "{log}"
    );
    assert!(log.contains("IMAP login ip=127.0.0.1 account=alice@example.test"));
}

/// Before login a silent client is logged out after `imap.login_timeout` (RFC 9051 5.4); a connection
/// over the per-address limit is refused with BYE; shutdown says BYE to a logged-in session.
#[test]
fn autologout_connection_limit_and_shutdown_say_bye() {
    let mut s = Server::new("imap.login_timeout = 1\nimap.max_connections_per_ip = 3\n");
    s.add_account("alice@example.test");
    s.start(2);
    let mut idle = Raw::connect(&s);
    let t = std::time::Instant::now();
    let l = idle.line();
    assert!(l.starts_with("* BYE"), "{l}");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(idle.line(), "");
    assert_eq!(s.metric_sum("shardmail_imap_timeouts_total"), 1);

    let mut logged = Raw::connect(&s);
    let r = logged.cmd("a", "LOGIN alice@example.test secret");
    assert!(r[0].starts_with("a OK"), "{r:?}");
    let _b = Raw::connect(&s);
    let _c = Raw::connect(&s);
    let over = TcpStream::connect(s.imap).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut greeting = String::new();
    BufReader::new(over).read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("* BYE [UNAVAILABLE]"), "{greeting}");
    assert_eq!(s.metric_sum("shardmail_imap_connections_refused_total"), 1);

    // Logged in for longer than the login timeout: the longer limit applies after login.
    std::thread::sleep(Duration::from_millis(1500));
    let r = logged.cmd("n", "NOOP");
    assert!(r[0].starts_with("n OK"), "{r:?}");
    s.sigterm();
    let l = logged.line();
    assert!(l.starts_with("* BYE"), "{l}");
    assert_eq!(s.stop(), Some(0), "{}", s.log());
}

#[test]
fn idle_wakes_on_deliveries_to_an_account_on_any_shard() {
    let s = server(&["alice@example.test", "bob@example.test"], "");
    for who in ["alice@example.test", "bob@example.test"] {
        let out = py(&s, "imap_idle.py", &[who, "40"]);
        let lat = out.lines().find(|l| l.starts_with("LATENCY")).unwrap();
        let after = out.lines().find(|l| l.starts_with("AFTER250")).unwrap();
        eprintln!(
            "{who}: IDLE SMTP-start-to-EXISTS ms (p50 p99 max): {lat}; from the 250: {after}"
        );
        let p99: f64 = lat.split_whitespace().nth(2).unwrap().parse().unwrap();
        // Milliseconds, not seconds (issue 10); generous for a debug build on a shared machine.
        assert!(p99 < 500.0, "{lat}");
    }
}

/// A new account's Archive folder and CREATE with USE (RFC 6154 3) through imaplib.
#[test]
fn new_accounts_list_archive_and_create_sets_a_special_use() {
    let s = server(&["alice@example.test"], "");
    let out = py(
        &s,
        "imap_special.py",
        &["alice@example.test", "archive,create-use"],
    );
    for step in ["archive", "create-use"] {
        assert!(out.contains(&format!("OK {step}")), "{out}");
    }
}

/// SEARCHRES (RFC 5182) through imaplib: `UID SEARCH RETURN (SAVE)`, then `$` in FETCH and STORE,
/// empty again after SELECT.
#[test]
fn searchres_saves_a_search_for_later_commands() {
    let s = server(&["alice@example.test"], "");
    let out = py(&s, "imap_special.py", &["alice@example.test", "searchres"]);
    assert!(out.contains("OK searchres"), "{out}");
}

#[test]
fn two_sessions_see_each_others_changes() {
    let s = server(&["alice@example.test"], "");
    let out = py(&s, "imap_two_sessions.py", &["alice@example.test"]);
    for step in ["flags", "expunge", "exists"] {
        assert!(out.contains(&format!("OK {step}")), "{out}");
    }
}

#[test]
fn condstore_and_qresync_resync_after_offline_changes() {
    let s = server(&["alice@example.test"], "");
    let out = py(&s, "imap_qresync.py", &["alice@example.test"]);
    for step in ["remembered", "qresync [2, 5]", "changedsince"] {
        assert!(out.contains(&format!("OK {step}")), "{out}");
    }
}

/// UIDVALIDITY, UIDs and flags a syncing client saw are the same after a restart and after the
/// shard count changes (the account's owner changes; it rebuilds from snapshots and logs).
#[test]
fn uids_and_uidvalidity_survive_a_restart_and_a_shard_count_change() {
    let mut s = server(&["alice@example.test", "bob@example.test"], "");
    py(
        &s,
        "imap_flow.py",
        &["alice@example.test", "store,copy-move,expunge,append"],
    );
    py(&s, "imap_two_sessions.py", &["bob@example.test"]);
    let state = |s: &Server| {
        let a = py(s, "imap_state.py", &["alice@example.test"]);
        let b = py(s, "imap_state.py", &["bob@example.test"]);
        format!("{a}{b}")
    };
    let before = state(&s);
    assert!(before.contains("Kept uidvalidity="), "{before}");
    assert_eq!(s.stop(), Some(0), "{}", s.log());
    s.start(2);
    assert_eq!(state(&s), before, "after a restart");
    assert_eq!(s.stop(), Some(0), "{}", s.log());
    s.start(3);
    assert_eq!(state(&s), before, "after going from 2 to 3 shards");
    s.kill9();
    s.start(1);
    assert_eq!(state(&s), before, "after a kill -9 and going to 1 shard");
}

/// `curl imap://` (libcurl's IMAP client): lists the folders, fetches a message by UID exactly as
/// stored, searches, and uploads a message (APPEND).
#[test]
fn curl_lists_fetches_searches_and_uploads() {
    let s = server(&["alice@example.test"], "");
    py(&s, "imap_flow.py", &["alice@example.test", "logout"]);
    let curl = |path: &str, extra: &[&str]| {
        let o = std::process::Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "20",
                "--user",
                "alice@example.test:secret",
            ])
            .arg(format!("imap://{}/{path}", s.imap))
            .args(extra)
            .current_dir(s.dir.path())
            .output()
            .expect("running curl");
        assert!(
            o.status.success(),
            "curl {path} {extra:?}: {:?} {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr),
            s.log()
        );
        o.stdout
    };
    let list = String::from_utf8(curl("", &[])).unwrap();
    for f in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(
            list.lines()
                .any(|l| l.starts_with("* LIST") && l.ends_with(&format!(" {f}"))),
            "{list}"
        );
    }
    assert_eq!(
        curl("INBOX;UID=2", &[]),
        s.cat("alice@example.test", "INBOX", 2)
    );
    let all = String::from_utf8(curl("INBOX?ALL", &[])).unwrap();
    assert_eq!(all.trim(), "* SEARCH 1 2 3");
    let msg = b"From: c@example.test\r\nSubject: via curl\r\n\r\nuploaded by curl\r\n";
    std::fs::write(s.path("up.eml"), msg).unwrap();
    curl("INBOX", &["-T", "up.eml"]);
    assert_eq!(curl("INBOX;UID=4", &[]), msg);
}

/// The maildir files of a folder as (UID, flag letters), from mbsync's `,U=<uid>:2,<flags>` names.
fn maildir(dir: &std::path::Path) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let uid = name
                .split(",U=")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .and_then(|u| u.parse().ok())
                .unwrap_or(0);
            let flags = name.rsplit_once(":2,").map(|(_, f)| f).unwrap_or("");
            out.push((uid, flags.to_string()));
        }
    }
    out.sort();
    out
}

/// mbsync (isync, Debian's package) keeps a maildir and the server's INBOX of 2,000 messages in sync
/// both ways: the first sync downloads everything; then flags change, messages are deleted and added
/// on each side, and the next sync carries every change across; a third sync finds nothing to do.
#[test]
fn mbsync_syncs_2000_messages_both_ways_with_flag_changes_on_each_side() {
    let s = server(&["alice@example.test"], "");
    std::fs::create_dir(s.path("out")).unwrap();
    s.python("send_many.py", &["4", "500", "alice@example.test", "out"]);
    py(&s, "imap_wait.py", &["alice@example.test", "2000"]);
    let mail = s.path("mail");
    std::fs::create_dir(&mail).unwrap();
    let rc = format!(
        "FSync no\n\nIMAPAccount sm\nHost {}\nPort {}\nUser alice@example.test\nPass secret\nSSLType None\n\
         AuthMechs LOGIN\n\nIMAPStore remote\nAccount sm\n\nMaildirStore local\nPath {m}/\n\
         Inbox {m}/INBOX\nSubFolders Verbatim\n\nChannel c\nFar :remote:\nNear :local:\n\
         Patterns INBOX\nCreate Both\nExpunge Both\nSyncState *\n",
        s.imap.ip(),
        s.imap.port(),
        m = mail.display()
    );
    std::fs::write(s.path("mbsyncrc"), rc).unwrap();
    let sync = || {
        let t = std::time::Instant::now();
        let o = std::process::Command::new("mbsync")
            .args(["-c", "mbsyncrc", "-a"])
            .current_dir(s.dir.path())
            .output()
            .expect("running mbsync (Debian package isync)");
        assert!(
            o.status.success(),
            "mbsync: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            s.log()
        );
        t.elapsed()
    };
    let first = sync();
    let inbox = mail.join("INBOX");
    let local = maildir(&inbox);
    assert_eq!(local.len(), 2000);
    assert_eq!(
        local.iter().map(|m| m.0).collect::<Vec<_>>(),
        (1..=2000).collect::<Vec<_>>()
    );
    eprintln!("mbsync: 2,000 messages downloaded in {first:?}");

    // Far side: \Flagged on 1..=100, \Seen on 101..=200, 201..=210 expunged, 5 appended (2001..=2005).
    let far = py(&s, "imap_far_changes.py", &["alice@example.test"]);
    assert!(far.contains("FAR 1995"), "{far}");
    // Near side: 1001..=1100 marked replied (R) and seen, 1101..=1120 deleted, 3 new messages.
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(inbox.join(sub)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let uid: u32 = name
                .split(",U=")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .and_then(|u| u.parse().ok())
                .unwrap();
            if (1001..=1100).contains(&uid) {
                let base = name.split(":2,").next().unwrap();
                std::fs::rename(e.path(), inbox.join("cur").join(format!("{base}:2,RS"))).unwrap();
            } else if (1101..=1120).contains(&uid) {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    }
    for i in 0..3 {
        std::fs::write(
            inbox.join("new").join(format!("near{i}.local")),
            format!(
                "From: me@example.test\r\nSubject: near {i}\r\n\r\nwritten on the near side\r\n"
            ),
        )
        .unwrap();
    }
    let second = sync();
    eprintln!("mbsync: both-way sync of the changes in {second:?}");
    let state = py(&s, "imap_state.py", &["alice@example.test"]);
    let line = state.lines().find(|l| l.starts_with("INBOX ")).unwrap();
    // `INBOX uidvalidity=V uidnext=N uid[flags] uid[flags] ...`; flags hold spaces.
    let messages = line.splitn(4, ' ').nth(3).unwrap_or("");
    let server: Vec<(u32, String)> = messages
        .split(']')
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let (uid, flags) = m.trim().split_once('[').unwrap();
            (uid.parse().unwrap(), flags.to_string())
        })
        .collect();
    // 2000 - 10 expunged far - 20 deleted near + 5 appended far + 3 appended near.
    assert_eq!(server.len(), 1978, "{line}");
    let flags_of = |uid: u32| &server.iter().find(|m| m.0 == uid).unwrap().1;
    assert_eq!(flags_of(50), "\\Flagged");
    assert_eq!(flags_of(150), "\\Seen");
    assert_eq!(flags_of(1050), "\\Answered \\Seen");
    assert!(server.iter().all(|m| !(1101..=1120).contains(&m.0)));
    assert!(server.iter().all(|m| !(201..=210).contains(&m.0)));
    let local = maildir(&inbox);
    assert_eq!(local.len(), 1978);
    let local_flags = |uid: u32| &local.iter().find(|m| m.0 == uid).unwrap().1;
    assert_eq!(local_flags(50), "F");
    assert_eq!(local_flags(150), "S");
    assert!(local.iter().all(|m| !(201..=210).contains(&m.0)));
    assert!(
        local.iter().filter(|m| m.0 > 2000).count() == 8,
        "{:?}",
        &local[1970..]
    );
    // Nothing changed since: a third sync leaves both sides as they are.
    sync();
    assert_eq!(maildir(&inbox), local);
    assert_eq!(
        py(&s, "imap_state.py", &["alice@example.test"]),
        state,
        "a sync with nothing to do changes nothing"
    );
}

/// The fixture messages (tests/data/imap-fixtures) APPENDed with the flags and date the reference
/// server got, then FETCHed with the reference's first command (FLAGS INTERNALDATE RFC822.SIZE
/// ENVELOPE BODY BODYSTRUCTURE BINARY.SIZE): the answers equal Dovecot 2.3's byte for byte, except
/// where the RFCs allow a difference, each replaced here by Dovecot's form after checking ours.
#[test]
fn fetch_of_the_fixtures_matches_the_reference_server_where_the_rfcs_agree() {
    let s = server(&["alice@example.test"], "");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/imap-fixtures");
    let out = py(
        &s,
        "imap_fixtures.py",
        &["alice@example.test", dir.to_str().unwrap()],
    );
    // (fixture, ours, Dovecot's, why both are right)
    let allowed: [(&str, &str, &str, &str); 4] = [
        (
            "06-folded-long-header",
            "\"this subject is folded  across three\tphysical lines\"",
            "{50}\\r\\nthis subject is folded across three physical lines",
            // RFC 5322 2.2.3: unfolding removes the CRLFs only; Dovecot also collapses the
            // whitespace, and sends a literal where a quoted string (TAB is a TEXT-CHAR) does.
            "unfolded as RFC 5322 2.2.3 says",
        ),
        (
            "10-mixed-nested",
            "BINARY.SIZE[1] 116",
            "BINARY.SIZE[1] 112",
            // RFC 3516 4.2: a multipart has no transfer encoding to undo, so its BINARY size is its
            // BODY[1] size, which both servers give as 116 octets.
            "identity decoding of a multipart section",
        ),
        (
            "12-rfc2231-params",
            "(\"name*\" \"UTF-8''%E2%82%AC%20rates%20for%202026.bin\")",
            "(\"name*\" \"UTF-8''%E2%82%AC%20rates for 2026.bin\")",
            // RFC 2231 4.1: the joined `name*` value is percent-encoded throughout, so the plain
            // continuation's spaces are encoded; Dovecot pastes them in raw.
            "continuations joined into one extended value",
        ),
        (
            "18-address-edge",
            "\"quoted \\\"name\\\"\"",
            "{13}\\r\\nquoted \"name\"",
            // RFC 9051 4.3: the same string, quoted with escapes or as a literal.
            "the same string quoted",
        ),
    ];
    let mut checked = 0;
    for line in out.lines() {
        let (name, ours) = line.split_once(' ').unwrap();
        let reference = std::fs::read(dir.join(format!("{name}.dovecot.txt"))).unwrap();
        let reference = String::from_utf8_lossy(&reference);
        // The reply to the first command: the untagged FETCH (with any literals) up to the tagged OK.
        let mut lines = reference.split('\n').skip(1);
        let mut reply = String::new();
        for l in lines.by_ref() {
            if !reply.is_empty() && !l.starts_with('*') && l.contains(" OK ") {
                break;
            }
            reply.push_str(l.trim_end_matches('\r'));
            reply.push_str("\\r\\n");
        }
        let reply = reply.trim_end_matches("\\r\\n");
        let reply = reply.split_once(" FETCH ").unwrap().1;
        let ours = ours.split_once(' ').unwrap().1;
        let mut ours = ours.to_string();
        for (n, mine, theirs, why) in &allowed {
            if *n == name {
                assert!(
                    ours.contains(mine),
                    "{name}: expected {mine} ({why}) in\n{ours}"
                );
                ours = ours.replace(mine, theirs);
            }
        }
        if ours != reply {
            let at = ours
                .bytes()
                .zip(reply.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(ours.len().min(reply.len()));
            let from = at.saturating_sub(80);
            panic!(
                "{name} differs at {at}:\n ours: {}\n dove: {}",
                ours.get(from..(at + 80).min(ours.len())).unwrap_or(&ours),
                reply.get(from..(at + 80).min(reply.len())).unwrap_or(reply)
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 20, "{out}");
}

/// AUTHENTICATE PLAIN through imaplib, with a continuation and with SASL-IR (RFC 4959), for
/// accounts on both shards (the session moves to its owner as after LOGIN); a wrong password, a
/// cancel and an authzid naming another account are refused and the session goes on.
#[test]
fn authenticate_plain_with_a_continuation_and_with_sasl_ir() {
    let accounts: Vec<String> = (0..6).map(|i| format!("auth{i}@example.test")).collect();
    let refs: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let s = server(&refs, "");
    let out = py(&s, "imap_auth.py", &refs);
    for a in &accounts {
        for step in ["continuation", "sasl-ir"] {
            assert!(
                out.contains(&format!("OK {step} {a}\n")),
                "{step} {a}:\n{out}"
            );
        }
    }
    for step in ["wrong-password", "cancelled", "authzid", "after-refusals"] {
        assert!(out.contains(&format!("OK {step}\n")), "{step}:\n{out}");
    }
    assert!(s.metric_sum("shardmail_imap_logins_total") >= 12);
    assert!(s.metric_sum("shardmail_imap_handoffs_total") >= 1);
}
