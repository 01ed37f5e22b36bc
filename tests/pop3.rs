//! POP3 end to end against the built binary on loopback, with real clients: Python's poplib,
//! `fetchmail` (Debian's package), and a raw socket for races, pipelining and crashes. Mail arrives
//! by SMTP, so each test also crosses the queue and (with two shards) the mesh.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{LineClient, Server};

/// A server with two shards and the given accounts.
fn server(accounts: &[&str], extra: &str) -> Server {
    Server::with_accounts(accounts, extra, 2)
}

/// Runs tests/py/SCRIPT with the SMTP, IMAP and POP3 addresses first.
fn py(s: &Server, script: &str, args: &[&str]) -> String {
    let (imap, pop3) = (s.imap.to_string(), s.pop3.to_string());
    let mut all = vec![imap.as_str(), pop3.as_str()];
    all.extend_from_slice(args);
    s.python(script, &all)
}

/// A raw POP3 client.
struct Pop(LineClient);

impl std::ops::Deref for Pop {
    type Target = LineClient;
    fn deref(&self) -> &LineClient {
        &self.0
    }
}

impl std::ops::DerefMut for Pop {
    fn deref_mut(&mut self) -> &mut LineClient {
        &mut self.0
    }
}

impl Pop {
    fn connect(s: &Server) -> Pop {
        Pop(LineClient::connect(s.pop3, Duration::from_secs(30), "+OK"))
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.line()
    }

    /// The lines of a multi-line reply after its `+OK` line, up to the terminating `.`.
    fn body(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            assert!(!l.is_empty(), "EOF inside a multi-line reply: {out:?}");
            if l == ".\r\n" {
                return out;
            }
            out.push(l);
        }
    }

    fn login(&mut self, user: &str) {
        let r = self.cmd(&format!("USER {user}"));
        assert!(r.starts_with("+OK"), "{r}");
        let r = self.cmd("PASS secret");
        assert!(r.starts_with("+OK"), "{r}");
    }

    fn stat(&mut self) -> (u64, u64) {
        let r = self.cmd("STAT");
        let f: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(f.first(), Some(&"+OK"), "{r}");
        (f[1].parse().unwrap(), f[2].parse().unwrap())
    }

    fn uidl(&mut self) -> Vec<String> {
        let r = self.cmd("UIDL");
        assert!(r.starts_with("+OK"), "{r}");
        self.body()
    }

    fn quit(&mut self) {
        let r = self.cmd("QUIT");
        assert!(r.starts_with("+OK"), "{r}");
    }
}

/// Logs in, reads STAT and quits without deleting.
fn count(s: &Server, user: &str) -> u64 {
    let mut c = Pop::connect(s);
    c.login(user);
    let (n, _) = c.stat();
    c.quit();
    n
}

/// Waits until the maildrop holds `n` messages (SMTP's 250 comes before the queue files them).
fn wait_count(s: &Server, user: &str, n: u64) {
    let t = Instant::now();
    loop {
        let have = count(s, user);
        if have >= n {
            assert_eq!(have, n, "more messages than sent");
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the maildrop has {have} of {n} messages"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `n` messages to `user` over SMTP (tests/py/send_many.py; copies written to the data dir).
fn fill(s: &Server, user: &str, n: usize) {
    let out = s.path("sent");
    std::fs::create_dir_all(&out).unwrap();
    s.python(
        "send_many.py",
        &["1", &n.to_string(), user, out.to_str().unwrap()],
    );
    wait_count(s, user, n as u64);
}

/// POP3 connections each shard has accepted.
fn accepted(s: &Server) -> Vec<u64> {
    let name = "shardmail_pop3_connections_total{shard=\"";
    s.metrics()
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

/// A connection the kernel gave to shard `k` (SO_REUSEPORT picks by the client's port): connects
/// until the metrics show shard `k` accepted one.
fn connect_to_shard(s: &Server, k: usize) -> Pop {
    for _ in 0..64 {
        let before = accepted(s);
        let c = Pop::connect(s);
        let after = accepted(s);
        if after.get(k) > before.get(k) {
            return c;
        }
    }
    panic!("64 connections and none landed on shard {k}");
}

#[test]
fn poplib_walks_a_maildrop_through_every_command() {
    let user = "alice@example.test";
    let s = server(&[user], "");
    let out = py(&s, "pop3_flow.py", &[user]);
    for step in [
        "login",
        "capa",
        "stat",
        "list",
        "retr",
        "top",
        "uidl",
        "dele",
        "rset",
        "errors",
        "quit",
        "reconnect",
        "dropped",
        "auth-plain",
        "bad-password",
    ] {
        assert!(
            out.lines().any(|l| l == format!("OK {step}")),
            "{step} missing:\n{out}"
        );
    }
    assert!(s.metric_sum("shardmail_pop3_logins_total") >= 7);
    assert_eq!(s.metric_sum("shardmail_pop3_login_failures_total"), 1);
    assert_eq!(s.metric_sum("shardmail_pop3_deleted_total"), 2);
}

#[test]
fn an_imap_expunge_during_a_session_leaves_the_pop3_view_fixed() {
    let user = "carol@example.test";
    let s = server(&[user], "");
    let out = py(&s, "pop3_imap_expunge.py", &[user]);
    for step in ["imap-expunged", "view-fixed", "update"] {
        assert!(
            out.lines().any(|l| l == format!("OK {step}")),
            "{step} missing:\n{out}"
        );
    }
}

/// A 3 MB message with dot-led lines throughout: RETR byte-exact (sent in pieces from the mmap),
/// TOP, and two pipelined RETRs with a LIST behind them answered whole and in order.
#[test]
fn a_large_message_streams_dot_stuffed_and_byte_exact() {
    let user = "ivy@example.test";
    let s = server(&[user], "");
    let out = py(&s, "pop3_large.py", &[user]);
    for step in ["retr-large", "top-large", "pipelined-large"] {
        assert!(
            out.lines().any(|l| l == format!("OK {step}")),
            "{step} missing:\n{out}"
        );
    }
}

/// Two sessions on different shards log in to one maildrop at the same moment: the account's owner
/// holds the lock, so exactly one gets in and the other gets `-ERR [IN-USE]` (RFC 2449 8.1.2) and
/// stays in AUTHORIZATION, where it gets in once the first has quit.
#[test]
fn two_sessions_on_different_shards_race_for_one_maildrop() {
    let user = "dave@example.test";
    let s = server(&[user], "");
    fill(&s, user, 2);
    let rounds = 3;
    for round in 0..rounds {
        let mut a = connect_to_shard(&s, 0);
        let mut b = connect_to_shard(&s, 1);
        for c in [&mut a, &mut b] {
            let r = c.cmd(&format!("USER {user}"));
            assert!(r.starts_with("+OK"), "{r}");
        }
        // Both passwords in flight together: both checks run at once on the verifier threads.
        a.send(b"PASS secret\r\n");
        b.send(b"PASS secret\r\n");
        let (ra, rb) = (a.line(), b.line());
        let (mut winner, mut loser, lost) = match (ra.starts_with("+OK"), rb.starts_with("+OK")) {
            (true, false) => (a, b, rb),
            (false, true) => (b, a, ra),
            _ => panic!("round {round}: exactly one may get in: {ra:?} {rb:?}"),
        };
        assert!(lost.starts_with("-ERR [IN-USE]"), "{lost}");
        assert_eq!(winner.stat().0, 2);
        // The loser is still in AUTHORIZATION: a transaction command is refused, a login retried.
        assert!(loser.cmd("STAT").starts_with("-ERR"));
        let r = loser.cmd(&format!("USER {user}"));
        assert!(r.starts_with("+OK"), "{r}");
        let r = loser.cmd("PASS secret");
        assert!(r.starts_with("-ERR [IN-USE]"), "still held: {r}");
        winner.quit();
        loser.login(user);
        assert_eq!(loser.stat().0, 2);
        loser.quit();
    }
    assert_eq!(s.metric_sum("shardmail_pop3_in_use_total"), 2 * rounds);
    assert!(s.metric_sum("shardmail_pop3_handoffs_total") >= rounds);
    assert_eq!(s.metric_sum("shardmail_pop3_connections_open"), 0);
}

/// Logins whose account lives on the other shard move there with the commands pipelined behind PASS
/// (RFC 2449 6.6 PIPELINING); the replies come back in order from the owner.
#[test]
fn sessions_move_to_their_owner_with_the_commands_pipelined_after_pass() {
    let accounts: Vec<String> = (0..12).map(|i| format!("user{i}@example.test")).collect();
    let refs: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let s = server(&refs, "");
    for a in &accounts {
        let mut c = Pop::connect(&s);
        c.send(format!("USER {a}\r\nPASS secret\r\nSTAT\r\nUIDL\r\nNOOP\r\nQUIT\r\n").as_bytes());
        let mut got = Vec::new();
        loop {
            let l = c.line();
            if l.is_empty() {
                break;
            }
            got.push(l);
        }
        let want = ["+OK", "+OK", "+OK 0 0", "+OK", ".", "+OK", "+OK"];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.starts_with(w), "{got:?}");
        }
    }
    let moved = s.metric_sum("shardmail_pop3_handoffs_total");
    // Each login lands on either shard: all 12 on their owner has probability 2^-12.
    assert!(moved >= 1, "no session moved:\n{}", s.metrics());
    assert_eq!(s.metric_sum("shardmail_pop3_logins_total"), 12);
    assert_eq!(s.metric_sum("shardmail_pop3_handoffs_failed_total"), 0);
}

/// RFC 1939 6: the deletions of a session happen in UPDATE, all at once. A kill -9 while QUIT's
/// update is under way leaves all of them or none after the restart; once `+OK` was read, all.
#[test]
fn kill_9_during_the_update_leaves_all_deletions_or_none() {
    let user = "erin@example.test";
    let mut s = server(&[user], "");
    let n = 40u64;
    let mut left = 0;
    for (round, wait_us) in [0u64, 300, 1500, 5000].into_iter().enumerate() {
        if left == 0 {
            fill(&s, user, n as usize);
        }
        let mut c = Pop::connect(&s);
        c.login(user);
        assert_eq!(c.stat().0, n);
        let dele: String = (1..=n).map(|i| format!("DELE {i}\r\n")).collect();
        c.send(dele.as_bytes());
        for _ in 0..n {
            let r = c.line();
            assert!(r.starts_with("+OK"), "{r}");
        }
        c.send(b"QUIT\r\n");
        std::thread::sleep(Duration::from_micros(wait_us));
        s.kill9();
        s.start(2);
        let after = count(&s, user);
        assert!(
            after == 0 || after == n,
            "round {round}: {after} of {n} messages left after a kill -9 during UPDATE"
        );
        eprintln!("round {round} (kill after {wait_us} us): {after} left");
        left = after;
    }
    // Once the +OK is read, the deletions are durable.
    if left == 0 {
        fill(&s, user, n as usize);
    }
    let mut c = Pop::connect(&s);
    c.login(user);
    for i in 1..=n {
        assert!(c.cmd(&format!("DELE {i}")).starts_with("+OK"));
    }
    c.quit();
    s.kill9();
    s.start(2);
    assert_eq!(
        count(&s, user),
        0,
        "+OK came before the deletions were durable"
    );
}

/// UIDL values (UIDVALIDITY.UID) stay the same across a restart, a shard-count change, and the
/// deletion of other messages.
#[test]
fn uidl_is_stable_across_restarts_and_shard_count_changes() {
    let user = "frank@example.test";
    let mut s = server(&[user], "");
    fill(&s, user, 4);
    let uidl = |s: &Server| {
        let mut c = Pop::connect(s);
        c.login(user);
        let ids: Vec<String> = c
            .uidl()
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
            .collect();
        c.quit();
        ids
    };
    let first = uidl(&s);
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|u| u.contains('.')), "{first:?}");
    for shards in [1, 3, 2] {
        s.stop();
        s.start(shards);
        assert_eq!(uidl(&s), first, "with {shards} shards");
    }
    let mut c = Pop::connect(&s);
    c.login(user);
    assert!(c.cmd("DELE 2").starts_with("+OK"));
    c.quit();
    s.stop();
    s.start(1);
    let mut want = first.clone();
    want.remove(1);
    assert_eq!(uidl(&s), want);
}

/// RFC 1939 3: the autologout timer ends an idle session without UPDATE: its deletions are undone,
/// and the maildrop is free again.
#[test]
fn an_idle_session_is_logged_out_without_update() {
    let user = "gina@example.test";
    let s = server(&[user], "pop3.idle_timeout = 1\n");
    fill(&s, user, 2);
    let mut c = Pop::connect(&s);
    c.login(user);
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    let t = Instant::now();
    let mut rest = String::new();
    loop {
        let l = c.line();
        if l.is_empty() {
            break;
        }
        rest.push_str(&l);
    }
    assert!(t.elapsed() < Duration::from_secs(10), "closed late: {rest}");
    assert_eq!(count(&s, user), 2, "a timed-out session deleted something");
    assert!(s.metric_sum("shardmail_pop3_timeouts_total") >= 1);
}

/// Writes a fetchmail run control file (0600, as fetchmail requires) and runs fetchmail with it,
/// delivering each message to `cat >> OUT`; returns (exit code, stderr).
fn fetchmail(s: &Server, user: &str, args: &[&str]) -> (i32, String) {
    let rc = s.path("fetchmailrc");
    let text = format!(
        "set no syslog\npoll 127.0.0.1 service {} protocol POP3 uidl auth password\n  \
         user \"{user}\" there with password \"secret\" is root here\n  no rewrite\n",
        s.pop3.port()
    );
    std::fs::write(&rc, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = s.path("fetched.mbox");
    let mda = format!("cat >> {}", out.display());
    let o = std::process::Command::new("fetchmail")
        .current_dir(s.dir.path())
        // Its lock, id file and state stay in the test's directory.
        .env("HOME", s.dir.path())
        .env("FETCHMAILHOME", s.dir.path())
        .arg("-f")
        .arg(&rc)
        .args(["--idfile", s.path("fetchids").to_str().unwrap()])
        .args(["--mda", &mda])
        .args(["--invisible", "--nosoftbounce"])
        // fetchmail 6.4 tries STLS even where CAPA does not offer it; TLS is issue 12.
        .args(["--sslproto", ""])
        .args(args)
        .output()
        .expect("running fetchmail (Debian package fetchmail)");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout),
    )
}

/// fetchmail (Debian's package) downloads a maildrop into an MDA with `--keep` (twice: the second
/// run finds nothing new by UIDL), then without it (the server's copies are deleted).
#[test]
fn fetchmail_downloads_with_keep_then_without() {
    let user = "hank@example.test";
    let s = server(&[user], "");
    fill(&s, user, 5);
    let (code, log) = fetchmail(&s, user, &["--keep"]);
    assert_eq!(code, 0, "fetchmail --keep:\n{log}\n{}", s.log());
    let mbox = std::fs::read(s.path("fetched.mbox")).unwrap();
    let sent: Vec<Vec<u8>> = {
        let mut names: Vec<_> = std::fs::read_dir(s.path("sent"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names.iter().map(|p| std::fs::read(p).unwrap()).collect()
    };
    assert_eq!(sent.len(), 5);
    let text = String::from_utf8_lossy(&mbox);
    for body in &sent {
        // fetchmail hands the MDA LF line ends (its stripcr default with an MDA).
        let lf = String::from_utf8_lossy(body).replace("\r\n", "\n");
        assert!(text.contains(&lf), "a message is missing from:\n{text}");
    }
    assert_eq!(count(&s, user), 5, "--keep deleted messages");
    // Nothing new: fetchmail's exit code 1 says so (it remembers the UIDL values).
    let (code, log) = fetchmail(&s, user, &["--keep"]);
    assert_eq!(code, 1, "second fetchmail --keep:\n{log}");
    assert_eq!(std::fs::read(s.path("fetched.mbox")).unwrap(), mbox);
    // Without --keep (and --all, so the messages seen before are fetched again): all deleted.
    let (code, log) = fetchmail(&s, user, &["--all"]);
    assert_eq!(code, 0, "fetchmail --all:\n{log}");
    assert_eq!(count(&s, user), 0, "fetchmail without --keep left messages");
    let again = std::fs::read(s.path("fetched.mbox")).unwrap();
    assert_eq!(&again[..mbox.len()], &mbox[..]);
    assert_eq!(
        String::from_utf8_lossy(&again[mbox.len()..]),
        String::from_utf8_lossy(&mbox),
        "the second download is the same five messages"
    );
}

/// An over-long line trickled in a byte at a time is one line: its whole time counts against the
/// command limit (`pop3.idle_timeout`), however often a byte arrives. The refused line and the
/// commands are counted in the metrics.
#[test]
fn a_trickled_over_long_line_is_cut_at_the_command_limit() {
    let s = server(&[], "pop3.idle_timeout = 1\n");
    let mut w = TcpStream::connect(s.pop3).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(w.try_clone().unwrap());
    let mut line = || {
        let mut l = String::new();
        r.read_line(&mut l).map(|_| l)
    };
    assert!(line().unwrap().starts_with("+OK"));
    w.write_all(b"BOGUS\r\n").unwrap();
    assert!(line().unwrap().starts_with("-ERR"));
    // Past `max_line` (2048): refused at once, then skipped up to its end, which never comes.
    w.write_all(format!("NOOP {}", "x".repeat(3000)).as_bytes())
        .unwrap();
    assert_eq!(line().unwrap(), "-ERR Line too long\r\n");
    w.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let closed = loop {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "still open after 10 s of trickling"
        );
        // A byte every 100 ms: far inside the limit, were each read to restart it.
        if w.write_all(b"x").is_err() {
            break t.elapsed();
        }
        match line() {
            Ok(l) if l.is_empty() => break t.elapsed(),
            Ok(l) => panic!("unexpected reply {l:?}"),
            Err(_) => {}
        }
    };
    assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
    assert!(s.metric_sum("shardmail_pop3_timeouts_total") >= 1);
    assert_eq!(s.metric_sum("shardmail_pop3_bad_commands_total"), 2);
    assert_eq!(s.metric_sum("shardmail_pop3_commands_total"), 2);
}

/// RFC 2449 6.8 / 8.1.1: with `pop3.login_delay`, CAPA advertises it and a login within that many
/// seconds of the account's last one gets `-ERR [LOGIN-DELAY]` (only with the right password: a
/// wrong one is just `[AUTH]`); once the delay is over the login is accepted.
#[test]
fn a_login_within_the_login_delay_is_refused_with_its_code() {
    let user = "lena@example.test";
    let s = server(&[user], "pop3.login_delay = 4\n");
    let mut c = Pop::connect(&s);
    assert!(c.cmd("CAPA").starts_with("+OK"));
    assert!(c.body().contains(&"LOGIN-DELAY 4\r\n".to_string()));
    c.login(user);
    let first = Instant::now();
    c.quit();
    let mut c = Pop::connect(&s);
    assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
    let r = c.cmd("PASS wrong");
    assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
    let r = c.cmd("PASS secret");
    assert!(first.elapsed() < Duration::from_secs(4), "too slow to test");
    assert!(r.starts_with("-ERR [LOGIN-DELAY]"), "{r}");
    // Still in AUTHORIZATION; after the delay the same connection gets in.
    assert!(c.cmd("STAT").starts_with("-ERR"));
    std::thread::sleep(Duration::from_secs(4).saturating_sub(first.elapsed()));
    c.login(user);
    assert_eq!(c.stat(), (0, 0));
    c.quit();
    assert_eq!(s.metric_sum("shardmail_pop3_login_delayed_total"), 1);
    // Without the key, CAPA says 0 and nothing is refused.
    let s = server(&[user], "");
    let mut c = Pop::connect(&s);
    assert!(c.cmd("CAPA").starts_with("+OK"));
    assert!(c.body().contains(&"LOGIN-DELAY 0\r\n".to_string()));
    for _ in 0..2 {
        let mut c = Pop::connect(&s);
        c.login(user);
        c.quit();
    }
}

/// Verified logins are remembered (`net::auth_cache`), but never past a password change: after
/// `account del` and `account add` with a new password, the old one is refused at once although it
/// was just accepted, and the new one works.
#[test]
fn a_password_change_takes_effect_despite_the_login_cache() {
    let user = "max@example.test";
    let s = server(&[user], "");
    for _ in 0..3 {
        let mut c = Pop::connect(&s);
        c.login(user);
        c.quit();
    }
    let o = s.cli(&["account", "del", user]);
    assert!(o.status.success());
    let o = s.cli(&["account", "add", user, "--password", "changed"]);
    assert!(o.status.success());
    // The running server reloads the accounts file within a second or so.
    let t = Instant::now();
    loop {
        let mut c = Pop::connect(&s);
        assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
        if c.cmd("PASS changed").starts_with("+OK") {
            c.quit();
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the new password never worked"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut c = Pop::connect(&s);
    assert!(c.cmd(&format!("USER {user}")).starts_with("+OK"));
    let r = c.cmd("PASS secret");
    assert!(
        r.starts_with("-ERR [AUTH]"),
        "the old password still works: {r}"
    );
}
