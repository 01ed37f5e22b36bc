//! The POP3 command parser on any line (never panics; numbers round-trip), and the whole POP3
//! session on any byte stream: cut into reads of any size, with a maildrop whose message bytes come
//! from the input too (dot-stuffing over chunks, TOP counting), logins accepted or refused, and
//! UPDATE carried out. No panic, every call progresses, replies end with CRLF.
#![no_main]

use std::rc::Rc;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use shardmail::pop3::command::{parse, Command};
use shardmail::pop3::{Config, Entry, Flow, Maildrop, MaildropError, Session};

#[derive(Clone)]
struct Drop {
    messages: Vec<Rc<[u8]>>,
}

impl Maildrop for Drop {
    type Body = Rc<[u8]>;
    fn uidvalidity(&self) -> u32 {
        7
    }
    fn listing(&self) -> Vec<Entry> {
        (0..self.messages.len())
            .map(|i| Entry {
                uid: i as u32 + 1,
                size: self.messages[i].len() as u64,
            })
            .collect()
    }
    fn body(&self, uid: u32) -> Result<Rc<[u8]>, MaildropError> {
        // Every third message was expunged by someone else.
        if uid.is_multiple_of(3) {
            return Err(MaildropError::Gone { uid });
        }
        self.messages
            .get(uid as usize - 1)
            .cloned()
            .ok_or(MaildropError::Unavailable("no such uid".into()))
    }
}

fn check_parse(line: &[u8]) {
    if let Ok(cmd) = parse(line) {
        let s = String::from_utf8_lossy(line);
        match cmd {
            Command::Retr(n) | Command::Dele(n) | Command::List(Some(n)) => {
                assert!(s.contains(&n.to_string()))
            }
            Command::Pass(p) => assert!(!p.is_empty() && p.len() < line.len()),
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_parse(data);
    let [read, budget, split, rest @ ..] = data else {
        return;
    };
    let read = usize::from(*read).max(1);
    let split = usize::from(*split).min(rest.len());
    let (message, input) = rest.split_at(split);
    let maildrop = Drop {
        messages: vec![Rc::from(message), Rc::from(&b"A: b\r\n\r\n.x\r\n"[..]), Rc::from(message)],
    };
    let cfg = Arc::new(Config {
        max_line: 40,
        max_auth_line: 80,
        send_budget: usize::from(*budget).max(1) * 4,
        splice_min: 8,
        ..Config::default()
    });
    let mut out = Vec::new();
    let mut s: Session<Drop> = Session::new(cfg, &mut out);
    let mut pending = Vec::new();
    for chunk in input.chunks(read) {
        pending.extend_from_slice(chunk);
        loop {
            let (used, flow) = s.feed(&pending, &mut out);
            assert!(used <= pending.len());
            pending.drain(..used);
            match flow {
                Flow::Ready => break,
                Flow::Continue => {
                    // The shell flushes: the output waiting is bounded by the budget.
                    out.clear();
                }
                Flow::Login(c) => {
                    if c.password.len().is_multiple_of(2) {
                        s.locked(maildrop.clone(), &mut out);
                    } else {
                        s.login_failed(&mut out);
                    }
                }
                Flow::Update { delete } => {
                    assert!(!delete.is_empty());
                    s.updated(Ok(()), &mut out);
                    return;
                }
                Flow::StartTls | Flow::Close => return,
            }
        }
        assert!(out.is_empty() || out.ends_with(b"\r\n"));
        out.clear();
    }
});
