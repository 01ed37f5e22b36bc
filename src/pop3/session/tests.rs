//! Transcript tests of the POP3 session: client bytes in (pipelined where it matters), the exact
//! server bytes out, with a fake maildrop and a fake shell that verifies logins and carries out
//! UPDATE.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use super::*;
use crate::pop3::{Config, Entry, Flow, Maildrop, MaildropError};

#[derive(Clone)]
struct Fake {
    uidvalidity: u32,
    messages: Vec<(u32, Rc<[u8]>)>,
    gone: Rc<RefCell<HashSet<u32>>>,
    broken: bool,
}

impl Fake {
    fn new(messages: &[(u32, &[u8])]) -> Fake {
        Fake {
            uidvalidity: 1700000000,
            messages: messages.iter().map(|(u, m)| (*u, Rc::from(*m))).collect(),
            gone: Rc::default(),
            broken: false,
        }
    }
}

impl Maildrop for Fake {
    type Body = Rc<[u8]>;
    fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }
    fn listing(&self) -> Vec<Entry> {
        self.messages
            .iter()
            .map(|(uid, m)| Entry {
                uid: *uid,
                size: m.len() as u64,
            })
            .collect()
    }
    fn body(&self, uid: u32) -> Result<Rc<[u8]>, MaildropError> {
        if self.broken {
            return Err(MaildropError::Unavailable("disk".into()));
        }
        if self.gone.borrow().contains(&uid) {
            return Err(MaildropError::Gone { uid });
        }
        self.messages
            .iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, m)| m.clone())
            .ok_or(MaildropError::Gone { uid })
    }
}

/// A fake shell: drives the session over `input` (split into reads of `read` bytes), verifies
/// logins (alice/secret; bob is locked elsewhere), records UPDATEs.
struct Shell {
    session: Session<Fake>,
    maildrop: Fake,
    /// Output not flushed yet (the session's budget counts it).
    out: Vec<u8>,
    /// Everything flushed, in order.
    log: Vec<u8>,
    pending: Vec<u8>,
    updates: Vec<Vec<u32>>,
    fail_update: bool,
    flows: Vec<Flow>,
}

impl Shell {
    fn new(cfg: Config, maildrop: Fake) -> Shell {
        let mut out = Vec::new();
        let session = Session::new(Arc::new(cfg), &mut out);
        Shell {
            session,
            maildrop,
            log: std::mem::take(&mut out),
            out,
            pending: Vec::new(),
            updates: Vec::new(),
            fail_update: false,
            flows: Vec::new(),
        }
    }

    fn with(messages: &[(u32, &[u8])]) -> Shell {
        Shell::new(Config::default(), Fake::new(messages))
    }

    /// Sends `input` in reads of `read` bytes; returns what the server wrote meanwhile.
    fn send_in(&mut self, input: &[u8], read: usize) -> String {
        let start = self.log.len();
        for chunk in input.chunks(read.max(1)) {
            self.pending.extend_from_slice(chunk);
            self.drain();
        }
        String::from_utf8_lossy(&self.log[start..]).into_owned()
    }

    fn send(&mut self, input: &str) -> String {
        self.send_in(input.as_bytes(), usize::MAX)
    }

    fn drain(&mut self) {
        loop {
            let (used, flow) = self.session.feed(&self.pending, &mut self.out);
            self.pending.drain(..used);
            self.flows.push(flow.clone());
            self.flush();
            match flow {
                Flow::Ready => return,
                Flow::Continue => continue,
                Flow::Login(c) => {
                    if c.user == "bob" {
                        self.session.in_use(&mut self.out);
                    } else if c.user == "mallory" {
                        self.session.login_blocked(&mut self.out);
                    } else if c.user == "alice" && c.password == "secret" {
                        self.session.locked(self.maildrop.clone(), &mut self.out);
                    } else {
                        self.session.login_failed(&mut self.out);
                    }
                }
                Flow::Update { delete } => {
                    let r = if self.fail_update {
                        Err(MaildropError::Unavailable("disk".into()))
                    } else {
                        self.updates.push(delete);
                        Ok(())
                    };
                    assert_eq!(self.session.updated(r, &mut self.out), Flow::Close);
                    self.flush();
                    return;
                }
                Flow::StartTls | Flow::Close => return,
            }
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.log.append(&mut self.out);
    }
}

const M1: &[u8] = b"Subject: one\r\n\r\nHello\r\n.dot line\r\n";
const M2: &[u8] = b"Subject: two\r\nX: y\r\n\r\nl1\r\nl2\r\nl3\r\n";

fn logged_in() -> Shell {
    let mut s = Shell::with(&[(3, M1), (7, M2)]);
    s.send("USER alice\r\nPASS secret\r\n");
    s
}

#[test]
fn greeting_login_stat_list_uidl_quit() {
    let mut s = Shell::with(&[(3, M1), (7, M2)]);
    assert_eq!(
        String::from_utf8_lossy(&s.log),
        "+OK shardmail POP3 ready\r\n"
    );
    assert_eq!(s.send("USER alice\r\n"), "+OK Send PASS\r\n");
    assert_eq!(
        s.send("PASS secret\r\n"),
        "+OK Maildrop has 2 messages (68 octets)\r\n"
    );
    assert_eq!(s.send("STAT\r\n"), "+OK 2 68\r\n");
    assert_eq!(
        s.send("LIST\r\n"),
        "+OK 2 messages (68 octets)\r\n1 34\r\n2 34\r\n.\r\n"
    );
    assert_eq!(s.send("LIST 2\r\n"), "+OK 2 34\r\n");
    assert_eq!(
        s.send("UIDL\r\n"),
        "+OK Unique-id listing follows\r\n1 1700000000.3\r\n2 1700000000.7\r\n.\r\n"
    );
    assert_eq!(s.send("UIDL 1\r\n"), "+OK 1 1700000000.3\r\n");
    assert_eq!(
        s.send("QUIT\r\n"),
        "+OK shardmail POP3 server signing off\r\n"
    );
    assert!(s.session.is_closed());
    assert!(s.updates.is_empty(), "nothing was marked: no UPDATE");
}

#[test]
fn quit_after_dele_asks_for_an_update_of_exactly_the_marked_uids() {
    let mut s = logged_in();
    assert_eq!(s.send("DELE 2\r\n"), "+OK Message deleted\r\n");
    assert_eq!(
        s.send("QUIT\r\n"),
        "+OK shardmail POP3 server signing off\r\n"
    );
    assert_eq!(s.updates, vec![vec![7]]);
    assert!(s.flows.contains(&Flow::Update { delete: vec![7] }));
}

const LOGIN: &str = "+OK Send PASS\r\n+OK Maildrop has 2 messages (68 octets)\r\n";

#[test]
fn pipelined_commands_are_answered_in_order_whatever_the_reads() {
    let input = "USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\n\
                 UIDL\r\nNOOP\r\nQUIT\r\n";
    let want = format!(
        "{LOGIN}+OK 2 68\r\n+OK 2 messages (68 octets)\r\n1 34\r\n2 34\r\n.\r\n\
         +OK 34 octets\r\nSubject: one\r\n\r\nHello\r\n..dot line\r\n.\r\n\
         +OK Top of message follows\r\nSubject: two\r\nX: y\r\n\r\nl1\r\n.\r\n\
         +OK Message deleted\r\n\
         +OK Unique-id listing follows\r\n2 1700000000.7\r\n.\r\n\
         +OK\r\n+OK shardmail POP3 server signing off\r\n"
    );
    for read in [usize::MAX, 1, 2, 7, 13] {
        let mut s = Shell::with(&[(3, M1), (7, M2)]);
        assert_eq!(s.send_in(input.as_bytes(), read), want, "reads of {read}");
        assert_eq!(s.updates, vec![vec![3]], "reads of {read}");
        assert!(s.pending.is_empty());
    }
}

#[test]
fn lines_may_end_with_a_bare_lf() {
    let mut s = Shell::with(&[(3, M1)]);
    assert_eq!(
        s.send("USER alice\nPASS secret\nSTAT\n"),
        "+OK Send PASS\r\n+OK Maildrop has 1 messages (34 octets)\r\n+OK 1 34\r\n"
    );
}

#[test]
fn top_sends_the_header_and_n_body_lines_stuffed() {
    let mut s = Shell::with(&[(3, M1), (7, M2)]);
    s.send("USER alice\r\nPASS secret\r\n");
    assert_eq!(
        s.send("TOP 1 0\r\n"),
        "+OK Top of message follows\r\nSubject: one\r\n\r\n.\r\n"
    );
    assert_eq!(
        s.send("TOP 1 5\r\n"),
        "+OK Top of message follows\r\nSubject: one\r\n\r\nHello\r\n..dot line\r\n.\r\n"
    );
    assert_eq!(
        s.send("TOP 2 2\r\n"),
        "+OK Top of message follows\r\nSubject: two\r\nX: y\r\n\r\nl1\r\nl2\r\n.\r\n"
    );
}

#[test]
fn bad_input_before_login_gets_err_and_the_session_goes_on() {
    let mut s = Shell::with(&[(3, M1)]);
    assert_eq!(
        s.send("STAT\r\n"),
        "-ERR Not authenticated: USER and PASS, or AUTH, first\r\n"
    );
    assert_eq!(
        s.send("RETR 1\r\n"),
        "-ERR Not authenticated: USER and PASS, or AUTH, first\r\n"
    );
    assert_eq!(s.send("PASS secret\r\n"), "-ERR PASS must follow USER\r\n");
    assert_eq!(
        s.send("FROB\r\n"),
        "-ERR Invalid command: unknown command\r\n"
    );
    assert_eq!(
        s.send("\r\n"),
        "-ERR Invalid command: empty command line\r\n"
    );
    assert_eq!(
        s.send("USER\r\n"),
        "-ERR Invalid command: missing argument\r\n"
    );
    assert_eq!(
        s.send("APOP alice 0123\r\n"),
        "-ERR APOP is not supported: use USER/PASS or AUTH PLAIN\r\n"
    );
    assert_eq!(
        s.send("USER alice\r\nPASS wrong\r\n"),
        "+OK Send PASS\r\n-ERR [AUTH] Invalid user name or password\r\n"
    );
    // A failed PASS forgets the USER (RFC 1939 7: back to AUTHORIZATION's start).
    assert_eq!(s.send("PASS secret\r\n"), "-ERR PASS must follow USER\r\n");
    assert_eq!(
        s.send("NOOP\r\n"),
        "-ERR Not authenticated: USER and PASS, or AUTH, first\r\n"
    );
    assert_eq!(
        s.send("USER alice\r\nPASS secret\r\n"),
        "+OK Send PASS\r\n+OK Maildrop has 1 messages (34 octets)\r\n"
    );
    assert!(s.session.is_locked());
}

#[test]
fn bad_input_in_transaction_gets_err_and_the_session_goes_on() {
    let mut s = logged_in();
    assert_eq!(s.send("RETR 0\r\n"), "-ERR No such message\r\n");
    assert_eq!(s.send("RETR 3\r\n"), "-ERR No such message\r\n");
    assert_eq!(s.send("LIST 4294967295\r\n"), "-ERR No such message\r\n");
    assert_eq!(
        s.send("RETR one\r\n"),
        "-ERR Invalid command: invalid message number or count\r\n"
    );
    assert_eq!(
        s.send("TOP 1\r\n"),
        "-ERR Invalid command: missing argument\r\n"
    );
    assert_eq!(
        s.send("STAT 1\r\n"),
        "-ERR Invalid command: too many arguments\r\n"
    );
    assert_eq!(s.send("USER alice\r\n"), "-ERR Already authenticated\r\n");
    assert_eq!(s.send("AUTH PLAIN\r\n"), "-ERR Already authenticated\r\n");
    assert_eq!(s.send("DELE 1\r\n"), "+OK Message deleted\r\n");
    assert_eq!(s.send("DELE 1\r\n"), "-ERR Message is deleted\r\n");
    assert_eq!(s.send("RETR 1\r\n"), "-ERR Message is deleted\r\n");
    assert_eq!(s.send("TOP 1 0\r\n"), "-ERR Message is deleted\r\n");
    assert_eq!(s.send("LIST 1\r\n"), "-ERR Message is deleted\r\n");
    assert_eq!(s.send("UIDL 1\r\n"), "-ERR Message is deleted\r\n");
    assert_eq!(s.send("STAT\r\n"), "+OK 1 34\r\n");
    assert_eq!(
        s.send("LIST\r\n"),
        "+OK 1 messages (34 octets)\r\n2 34\r\n.\r\n"
    );
    // RFC 1939 5 RSET: unmarks; the numbering never changed.
    assert_eq!(
        s.send("RSET\r\n"),
        "+OK Maildrop has 2 messages (68 octets)\r\n"
    );
    assert_eq!(s.send("STAT\r\n"), "+OK 2 68\r\n");
    assert_eq!(
        s.send("QUIT\r\n"),
        "+OK shardmail POP3 server signing off\r\n"
    );
    assert!(s.updates.is_empty(), "RSET unmarked everything");
}

#[test]
fn a_line_over_the_bound_is_refused_and_skipped_across_reads() {
    let cfg = Config {
        max_line: 64,
        ..Config::default()
    };
    let long = format!("USER {}\r\nNOOP\r\nUSER alice\r\n", "x".repeat(500));
    for read in [usize::MAX, 1, 10, 63, 64, 65] {
        let mut s = Shell::new(cfg.clone(), Fake::new(&[]));
        assert_eq!(
            s.send_in(long.as_bytes(), read),
            "-ERR Line too long\r\n\
             -ERR Not authenticated: USER and PASS, or AUTH, first\r\n+OK Send PASS\r\n",
            "reads of {read}"
        );
    }
}

fn b64(s: &[u8]) -> String {
    // A tiny encoder for the tests (RFC 4648 4), so they do not depend on the decoder they test.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn auth_plain_with_an_initial_response_logs_in() {
    let mut s = Shell::with(&[(3, M1)]);
    let ir = b64(b"\0alice\0secret");
    assert_eq!(
        s.send(&format!("AUTH PLAIN {ir}\r\nSTAT\r\n")),
        "+OK Maildrop has 1 messages (34 octets)\r\n+OK 1 34\r\n"
    );
    assert_eq!(s.session.user(), Some("alice"));
}

#[test]
fn auth_plain_with_a_continuation_logs_in_and_fails_with_auth_code() {
    let mut s = Shell::with(&[(3, M1)]);
    assert_eq!(s.send("AUTH PLAIN\r\n"), "+ \r\n");
    assert_eq!(
        s.send(&format!("{}\r\n", b64(b"alice\0alice\0wrong"))),
        "-ERR [AUTH] Invalid user name or password\r\n"
    );
    assert_eq!(
        s.send("AUTH PLAIN\r\n*\r\n"),
        "+ \r\n-ERR Authentication cancelled\r\n"
    );
    assert_eq!(
        s.send("AUTH PLAIN\r\n!!!!\r\n"),
        "+ \r\n-ERR Invalid base64 in the SASL response\r\n"
    );
    assert_eq!(
        s.send(&format!("AUTH PLAIN {}\r\n", b64(b"alice\0secret"))),
        "-ERR Malformed PLAIN response\r\n"
    );
    assert_eq!(
        s.send(&format!("AUTH PLAIN {}\r\n", b64(b"bob\0alice\0secret"))),
        "-ERR [AUTH] Acting as another user is not allowed\r\n"
    );
    assert_eq!(
        s.send("AUTH CRAM-MD5\r\n"),
        "-ERR Unsupported authentication mechanism\r\n"
    );
    assert_eq!(
        s.send("AUTH\r\n"),
        "+OK Mechanisms follow\r\nPLAIN\r\n.\r\n"
    );
    // The continuation line may be longer than a command line (RFC 5034 4).
    let cfg = Config {
        max_line: 32,
        ..Config::default()
    };
    let mut s = Shell::new(cfg, Fake::new(&[(3, M1)]));
    let resp = b64(format!("alice\0alice\0{}", "x".repeat(100)).as_bytes());
    assert!(resp.len() > 32);
    assert_eq!(
        s.send(&format!("auth plain\r\n{resp}\r\nSTAT\r\n")),
        "+ \r\n-ERR [AUTH] Invalid user name or password\r\n\
         -ERR Not authenticated: USER and PASS, or AUTH, first\r\n"
    );
}

#[test]
fn a_locked_maildrop_gets_in_use_and_the_session_goes_on() {
    let mut s = Shell::with(&[(3, M1)]);
    assert_eq!(
        s.send("USER bob\r\nPASS any\r\nSTAT\r\nQUIT\r\n"),
        "+OK Send PASS\r\n-ERR [IN-USE] Maildrop is locked by another session\r\n\
         -ERR Not authenticated: USER and PASS, or AUTH, first\r\n\
         +OK shardmail POP3 server signing off\r\n"
    );
    assert!(s.session.is_closed());
}

#[test]
fn capa_lists_the_rfc2449_capabilities_by_state() {
    let cfg = Config {
        login_delay: 30,
        ..Config::default()
    };
    let mut s = Shell::new(cfg, Fake::new(&[]));
    assert_eq!(
        s.send("CAPA\r\n"),
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\n\
         PIPELINING\r\nAUTH-RESP-CODE\r\nEXPIRE NEVER\r\nLOGIN-DELAY 30\r\n\
         IMPLEMENTATION shardmail\r\n.\r\n"
    );
    s.send("USER alice\r\nPASS secret\r\n");
    assert_eq!(
        s.send("CAPA\r\n"),
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n\
         PIPELINING\r\nAUTH-RESP-CODE\r\nEXPIRE NEVER\r\nLOGIN-DELAY 30\r\n\
         IMPLEMENTATION shardmail\r\n.\r\n"
    );
    // No TLS yet (issue 12): STLS is neither offered nor accepted; the seam is Config::stls.
    assert_eq!(s.send("STLS\r\n"), "-ERR STLS is not available\r\n");
}

#[test]
fn stls_when_offered_hands_over_to_tls() {
    let cfg = Config {
        stls: true,
        expire_days: Some(0),
        ..Config::default()
    };
    let mut s = Shell::new(cfg, Fake::new(&[]));
    let capa = s.send("CAPA\r\n");
    assert!(
        capa.contains("\r\nSTLS\r\n") && capa.contains("\r\nEXPIRE 0\r\n"),
        "{capa}"
    );
    assert_eq!(s.send("STLS\r\n"), "+OK Begin TLS negotiation\r\n");
    assert_eq!(s.flows.last(), Some(&Flow::StartTls));
}

#[test]
fn without_plaintext_logins_user_and_plain_are_refused() {
    let cfg = Config {
        plaintext_login: false,
        ..Config::default()
    };
    let mut s = Shell::new(cfg, Fake::new(&[]));
    assert!(!s.send("CAPA\r\n").contains("USER"));
    // RFC 3206 5: [AUTH], a login refused by policy.
    let refused = "-ERR [AUTH] Plaintext authentication is not allowed on this connection\r\n";
    assert_eq!(s.send("USER alice\r\n"), refused);
    assert!(s.session.take_refused_plaintext());
    assert!(!s.session.take_refused_plaintext(), "told once");
    assert_eq!(s.send("PASS secret\r\n"), refused);
    assert_eq!(s.send("AUTH PLAIN\r\n"), refused);
    assert_eq!(
        s.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        refused,
        "an initial response is not looked at"
    );
    assert_eq!(
        s.send("AUTH CRAM-MD5\r\n"),
        "-ERR Unsupported authentication mechanism\r\n"
    );
    assert_eq!(s.send("AUTH\r\n"), "+OK Mechanisms follow\r\n.\r\n");
    assert!(
        s.flows.iter().all(|f| !matches!(f, Flow::Login(_))),
        "no credentials reached the shell"
    );
}

#[test]
fn stls_stops_at_the_command_and_the_tls_session_starts_over() {
    let plain = Config {
        stls: true,
        plaintext_login: false,
        ..Config::default()
    };
    let mut s = Shell::new(plain.clone(), Fake::new(&[(3, M1)]));
    let capa = s.send("CAPA\r\n");
    assert!(!capa.contains("USER") && !capa.contains("SASL"), "{capa}");
    assert_eq!(
        s.send("USER alice\r\n"),
        "-ERR [AUTH] Plaintext authentication needs TLS: use STLS first\r\n"
    );
    // An attacker's commands behind STLS in the same packet (RFC 3207 4.2's injection).
    assert_eq!(
        s.send("STLS\r\nUSER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n"),
        "+OK Begin TLS negotiation\r\n",
        "nothing after STLS ran"
    );
    assert_eq!(s.flows.last(), Some(&Flow::StartTls));
    assert_eq!(
        s.pending, b"USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n",
        "left unread for the shell to discard"
    );
    assert!(s.updates.is_empty() && s.session.user().is_none());

    // TLS is up: the shell drops the plaintext input and starts a silent session.
    s.pending.clear();
    let tls = Config {
        tls_active: true,
        ..plain
    };
    s.session = Session::after_stls(Arc::new(tls));
    let capa = s.send("CAPA\r\n");
    assert!(
        capa.contains("\r\nUSER\r\nSASL PLAIN\r\n") && !capa.contains("STLS"),
        "{capa}"
    );
    assert_eq!(s.send("STLS\r\n"), "-ERR STLS is not available\r\n");
    assert_eq!(s.send("PASS secret\r\n"), "-ERR PASS must follow USER\r\n");
    assert_eq!(
        s.send("USER alice\r\nPASS secret\r\n"),
        "+OK Send PASS\r\n+OK Maildrop has 1 messages (34 octets)\r\n"
    );
}

#[test]
fn a_blocked_address_gets_auth_and_may_try_again() {
    let mut s = Shell::with(&[(3, M1)]);
    assert_eq!(
        s.send("USER mallory\r\nPASS guess\r\nSTAT\r\n"),
        "+OK Send PASS\r\n\
         -ERR [AUTH] Too many failed logins from your address, try again later\r\n\
         -ERR Not authenticated: USER and PASS, or AUTH, first\r\n"
    );
    assert_eq!(
        s.send("USER alice\r\nPASS secret\r\n"),
        "+OK Send PASS\r\n+OK Maildrop has 1 messages (34 octets)\r\n"
    );
}

#[test]
fn a_message_expunged_elsewhere_gets_err_and_the_view_stays_fixed() {
    let mut s = logged_in();
    s.maildrop.gone.borrow_mut().insert(3);
    assert_eq!(
        s.send("RETR 1\r\n"),
        "-ERR Message was removed from the maildrop by another session\r\n"
    );
    assert_eq!(
        s.send("TOP 1 0\r\n"),
        "-ERR Message was removed from the maildrop by another session\r\n"
    );
    assert_eq!(
        s.send("STAT\r\n"),
        "+OK 2 68\r\n",
        "the listing is fixed at login"
    );
    assert_eq!(s.send("UIDL 2\r\n"), "+OK 2 1700000000.7\r\n");
}

#[test]
fn a_storage_failure_gets_sys_temp() {
    let mut maildrop = Fake::new(&[(3, M1)]);
    maildrop.broken = true;
    let mut s = Shell::new(Config::default(), maildrop);
    s.send("USER alice\r\nPASS secret\r\n");
    assert_eq!(
        s.send("RETR 1\r\n"),
        "-ERR [SYS/TEMP] Message unavailable, try again later\r\n"
    );
}

#[test]
fn a_failed_update_deletes_nothing_and_says_so() {
    let mut s = logged_in();
    s.fail_update = true;
    assert_eq!(
        s.send("DELE 1\r\nDELE 2\r\nQUIT\r\n"),
        "+OK Message deleted\r\n+OK Message deleted\r\n\
         -ERR [SYS/TEMP] Deleted messages were not removed, try again later\r\n"
    );
    assert!(s.session.is_closed());
    assert_eq!(s.flows.last(), Some(&Flow::Update { delete: vec![3, 7] }));
}

#[test]
fn quit_before_login_ends_the_session_and_nothing_after_it_runs() {
    let mut s = Shell::with(&[(3, M1)]);
    assert_eq!(
        s.send("USER alice\r\nQUIT\r\nPASS secret\r\n"),
        "+OK Send PASS\r\n+OK shardmail POP3 server signing off\r\n"
    );
    assert_eq!(s.flows.last(), Some(&Flow::Close));
}

#[test]
fn timeout_writes_nothing_and_shutdown_says_why() {
    let mut s = logged_in();
    let mut out = Vec::new();
    s.session.timed_out(&mut out);
    assert!(out.is_empty(), "RFC 1939 3: close without a response");
    assert!(s.session.is_closed());
    let mut s = logged_in();
    s.session.shutting_down(&mut out);
    assert_eq!(out, b"-ERR [SYS/TEMP] Server shutting down\r\n");
}

#[test]
fn a_login_moves_to_the_owner_shard_through_a_handoff() {
    let cfg = Arc::new(Config::default());
    let mut out = Vec::new();
    let mut s: Session<Fake> = Session::new(cfg, &mut out);
    let (used, flow) = s.feed(b"USER alice\r\nPASS secret\r\nSTAT\r\n", &mut out);
    assert_eq!(used, 25, "stops after PASS: STAT waits for the verdict");
    assert_eq!(
        flow,
        Flow::Login(Credentials {
            user: "alice".into(),
            password: "secret".into()
        })
    );
    assert!(
        format!("{flow:?}").find("secret").is_none(),
        "Debug hides the password"
    );
    let h = s.into_handoff().expect("a verdict is pending");
    assert_eq!(h.user(), "alice");
    // `Handoff` crosses threads.
    let h = std::thread::spawn(move || h).join().expect("thread");
    let mut s: Session<Fake> = h.resume();
    let mut out = Vec::new();
    assert_eq!(s.locked(Fake::new(&[(3, M1)]), &mut out), Flow::Ready);
    assert_eq!(s.feed(b"STAT\r\n", &mut out), (6, Flow::Ready));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "+OK Maildrop has 1 messages (34 octets)\r\n+OK 1 34\r\n"
    );
    // Only a pending verdict can be handed off.
    assert!(s.into_handoff().is_none());
}

/// Records what a shell's output gets: buffered bytes and spliced pieces, and when it is flushed.
#[derive(Default)]
struct Recorder {
    buf: Vec<u8>,
    /// Everything flushed, in order.
    wire: Vec<u8>,
    spliced: Vec<usize>,
    /// Largest output (buffered + spliced) between two flushes.
    max_waiting: usize,
    waiting_spliced: usize,
}

impl Sink for Recorder {
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
    fn splice(&mut self, bytes: crate::net::out::Bytes) {
        let b: &[u8] = (*bytes).as_ref();
        self.spliced.push(b.len());
        self.waiting_spliced += b.len();
        self.buf.extend_from_slice(b);
    }
}

impl Recorder {
    fn flush(&mut self) {
        self.max_waiting = self.max_waiting.max(self.buf.len());
        self.wire.append(&mut self.buf);
        self.waiting_spliced = 0;
    }
}

/// A message of `lines` lines, every third starting with a dot.
fn big_message(lines: usize) -> Vec<u8> {
    let mut m = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..lines {
        if i % 3 == 0 {
            m.push(b'.');
        }
        m.extend_from_slice(
            format!("line {i:06} of the body, long enough to matter\r\n").as_bytes(),
        );
    }
    m
}

#[test]
fn a_long_retr_streams_in_budgeted_pieces_and_pipelined_commands_wait() {
    let big = big_message(20_000);
    let cfg = Arc::new(Config {
        send_budget: 64 << 10,
        splice_min: 4 << 10,
        ..Config::default()
    });
    let mut out = Recorder::default();
    let mut s: Session<Fake> = Session::new(cfg, &mut out);
    let mut input = b"USER alice\r\nPASS secret\r\nRETR 1\r\nSTAT\r\nQUIT\r\n".to_vec();
    let mut continues = 0;
    loop {
        let (used, flow) = s.feed(&input, &mut out);
        input.drain(..used);
        match flow {
            Flow::Login(_) => {
                s.locked(Fake::new(&[(9, &big)]), &mut out);
            }
            Flow::Continue => continues += 1,
            Flow::Close => break,
            other => panic!("unexpected {other:?}"),
        }
        out.flush();
    }
    out.flush();
    let mut want = format!(
        "+OK shardmail POP3 ready\r\n+OK Send PASS\r\n+OK Maildrop has 1 messages ({} octets)\r\n\
         +OK {} octets\r\n",
        big.len(),
        big.len()
    )
    .into_bytes();
    let mut stuffed = Vec::new();
    crate::pop3::stuff::stuff_to_vec(
        crate::pop3::stuff::Stuffer::all(),
        &big,
        1 << 30,
        &mut stuffed,
    );
    want.extend_from_slice(&stuffed);
    want.extend_from_slice(format!("+OK 1 {}\r\n", big.len()).as_bytes());
    want.extend_from_slice(b"+OK shardmail POP3 server signing off\r\n");
    let first_diff = out.wire.iter().zip(&want).position(|(a, b)| a != b);
    assert!(
        out.wire == want,
        "{} bytes out, {} wanted, first difference at {first_diff:?}",
        out.wire.len(),
        want.len()
    );
    let min_continues = big.len() / (64 << 10);
    assert!(
        continues >= min_continues,
        "{continues} continues for {} bytes",
        big.len()
    );
    // Bounded: never much more than the budget waits for a flush (one line of reply slack).
    assert!(
        out.max_waiting <= (64 << 10) + 1024,
        "{} bytes waited",
        out.max_waiting
    );
    // Runs between dots are ~150 bytes here: below splice_min, so copied, none spliced.
    assert!(out.spliced.is_empty());
}

#[test]
fn long_runs_without_dots_are_spliced_not_copied() {
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    big.extend(
        std::iter::repeat_n(b"0123456789abcdef0123456789abcdef\r\n".as_slice(), 10_000).flatten(),
    );
    big.extend_from_slice(b".\r\n");
    let cfg = Arc::new(Config {
        send_budget: 100 << 10,
        splice_min: 16 << 10,
        ..Config::default()
    });
    let mut out = Recorder::default();
    let mut s: Session<Fake> = Session::new(cfg, &mut out);
    let (_, flow) = s.feed(b"USER alice\r\nPASS secret\r\n", &mut out);
    assert!(matches!(flow, Flow::Login(_)));
    s.locked(Fake::new(&[(9, &big)]), &mut out);
    out.flush();
    let mut flow = s.feed(b"RETR 1\r\n", &mut out).1;
    while flow == Flow::Continue {
        out.flush();
        flow = s.feed(b"", &mut out).1;
    }
    out.flush();
    let spliced: usize = out.spliced.iter().sum();
    assert!(
        spliced + 100 >= big.len(),
        "{spliced} of {} spliced",
        big.len()
    );
    assert!(
        out.spliced.len() >= big.len() / (100 << 10),
        "in budget-sized pieces"
    );
    assert!(
        out.wire.ends_with(b"\r\n..\r\n.\r\n"),
        "the last line's dot is stuffed"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::sample::select(vec![
                "USER alice",
                "PASS secret",
                "PASS wrong",
                "USER bob",
                "STAT",
                "LIST",
                "LIST 1",
                "LIST 9",
                "RETR 1",
                "RETR 2",
                "RETR 0",
                "TOP 1 0",
                "TOP 2 3",
                "DELE 1",
                "DELE 2",
                "UIDL",
                "UIDL 2",
                "NOOP",
                "RSET",
                "CAPA",
                "AUTH",
                "AUTH PLAIN",
                "AUTH PLAIN =",
                "AGFsaWNlAHNlY3JldA==",
                "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
                "*",
                "STLS",
                "APOP x y",
                "QUIT",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            proptest::collection::vec(any::<u8>(), 0..80),
        ]
    }

    proptest! {
        /// Any byte stream, cut into any reads, with any login verdicts and budgets: no panic, every
        /// call makes progress or waits for input, and input left over is less than a line.
        #[test]
        fn the_session_never_panics_and_always_progresses(
            tokens in proptest::collection::vec(token(), 0..40),
            ends in proptest::collection::vec(prop::sample::select(vec!["\r\n", "\n", "\r", ""]), 40),
            read in 1usize..64,
            budget in 1usize..512,
            gone in any::<bool>(),
        ) {
            let cfg = Config { max_line: 64, max_auth_line: 128, send_budget: budget, splice_min: 16,
                ..Config::default() };
            let mut s = Shell::new(cfg, Fake::new(&[(3, M1), (7, M2)]));
            if gone {
                s.maildrop.gone.borrow_mut().insert(7);
            }
            let mut input = Vec::new();
            for (t, e) in tokens.iter().zip(&ends) {
                input.extend_from_slice(t);
                input.extend_from_slice(e.as_bytes());
            }
            s.send_in(&input, read);
            prop_assert!(s.session.is_closed() || s.pending.len() < 128 + 64);
            // Every reply line ends with CRLF.
            prop_assert!(s.log.is_empty() || s.log.ends_with(b"\r\n"));
        }
    }
}

#[test]
fn a_sasl_response_over_its_bound_ends_the_exchange() {
    let cfg = Config {
        max_auth_line: 40,
        ..Config::default()
    };
    let mut s = Shell::new(cfg, Fake::new(&[(3, M1)]));
    let long = "QUFB".repeat(30);
    assert_eq!(
        s.send_in(format!("AUTH PLAIN\r\n{long}\r\nSTAT\r\n").as_bytes(), 7),
        "+ \r\n-ERR SASL response too long\r\n\
         -ERR Not authenticated: USER and PASS, or AUTH, first\r\n"
    );
}

#[test]
fn a_closed_session_takes_no_more_input() {
    let mut s = Shell::with(&[]);
    s.send("QUIT\r\n");
    let mut out = Vec::new();
    assert_eq!(s.session.feed(b"NOOP\r\n", &mut out), (0, Flow::Close));
    assert_eq!(s.session.line(b"NOOP", &mut out), Flow::Close);
    assert!(out.is_empty());
}

#[test]
fn a_login_within_the_login_delay_gets_its_code_and_the_session_goes_on() {
    let mut out = Vec::new();
    let mut s: Session<Fake> = Session::new(Arc::new(Config::default()), &mut out);
    out.clear();
    let input = b"USER alice\r\nPASS secret\r\n";
    let (used, flow) = s.feed(input, &mut out);
    assert_eq!(used, input.len());
    assert!(matches!(flow, Flow::Login(_)), "{flow:?}");
    assert_eq!(s.login_delayed(&mut out), Flow::Ready);
    assert_eq!(s.feed(b"STAT\r\n", &mut out), (6, Flow::Ready));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "+OK Send PASS\r\n-ERR [LOGIN-DELAY] Logged in too recently, try again later\r\n\
         -ERR Not authenticated: USER and PASS, or AUTH, first\r\n"
    );
}

#[test]
fn commands_and_refused_ones_are_counted_for_the_shell() {
    let cfg = Config {
        max_line: 64,
        ..Config::default()
    };
    let mut out = Vec::new();
    let mut s: Session<Fake> = Session::new(Arc::new(cfg), &mut out);
    let long = format!("NOOP {}\r\n", "x".repeat(100));
    let input = format!("CAPA\r\nBOGUS\r\nSTAT\r\n{long}PASS x\r\nUSER alice\r\n");
    let (used, flow) = s.feed(input.as_bytes(), &mut out);
    assert_eq!((used, flow), (input.len(), Flow::Ready));
    // CAPA and USER are fine; BOGUS (malformed), STAT (before login), the long line and PASS
    // without USER are refused.
    assert_eq!(
        s.take_counts(),
        Counts {
            commands: 6,
            bad: 4
        }
    );
    assert_eq!(s.take_counts(), Counts::default(), "taken");
}

#[test]
fn the_shell_sees_when_an_over_long_line_is_still_being_skipped() {
    let cfg = Config {
        max_line: 64,
        ..Config::default()
    };
    let mut out = Vec::new();
    let mut s: Session<Fake> = Session::new(Arc::new(cfg), &mut out);
    assert!(!s.mid_line());
    let (used, _) = s.feed(&[b'x'; 100], &mut out);
    assert_eq!(used, 100);
    assert!(s.mid_line(), "the line has not ended");
    let (used, _) = s.feed(&[b'x'; 10], &mut out);
    assert_eq!(used, 10);
    assert!(s.mid_line());
    s.feed(b"x\r\n", &mut out);
    assert!(!s.mid_line(), "the line ended");
    // A short partial line is not taken at all, so the shell's buffer says it is mid-line.
    assert_eq!(s.feed(b"NOO", &mut out).0, 0);
    assert!(!s.mid_line());
}
