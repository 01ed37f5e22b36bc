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
    out: Vec<u8>,
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
        let start = self.out.len();
        for chunk in input.chunks(read.max(1)) {
            self.pending.extend_from_slice(chunk);
            self.drain();
        }
        String::from_utf8_lossy(&self.out[start..]).into_owned()
    }

    fn send(&mut self, input: &str) -> String {
        self.send_in(input.as_bytes(), usize::MAX)
    }

    fn drain(&mut self) {
        loop {
            let (used, flow) = self.session.feed(&self.pending, &mut self.out);
            self.pending.drain(..used);
            self.flows.push(flow.clone());
            match flow {
                Flow::Ready => return,
                Flow::Continue => continue,
                Flow::Login(c) => {
                    if c.user == "bob" {
                        self.session.in_use(&mut self.out);
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
                    return;
                }
                Flow::StartTls | Flow::Close => return,
            }
        }
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
        String::from_utf8_lossy(&s.out),
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
    assert_eq!(s.send("QUIT\r\n"), "+OK shardmail POP3 server signing off\r\n");
    assert_eq!(s.updates, vec![vec![7]]);
    assert!(s.flows.contains(&Flow::Update { delete: vec![7] }));
}
