//! Transcript tests of the session over the real backend (`imap::store` on a `Store` in a tempdir):
//! commands in, the exact responses out.

mod basics;
mod cache;
mod commands;
mod fetch;
mod random;
mod scale;
mod search;
mod special;
mod stream;
mod sync;
mod tls;
mod wire;

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use shardmail_storage::index::Flags;
use shardmail_storage::store::{Store, StoreOptions};

use super::super::store::StoreBackend;
use super::super::types::{Command, SeqNum, SeqRange, SequenceSet, Str, Tagged};
use super::{Config, Flow, Session, Sink};

pub(super) const NOW: i64 = 1_790_000_000;
pub(super) const USER: &str = "alice@example.test";

pub(super) fn on_executor<F: std::future::Future<Output = ()> + 'static>(
    f: impl FnOnce() -> F + Send + 'static,
) {
    glommio::LocalExecutorBuilder::default()
        .spawn(f)
        .expect("spawn the test executor")
        .join()
        .expect("the test executor ran");
}

pub(super) async fn open_store(dir: &std::path::Path) -> Rc<Store> {
    let (store, _) = Store::open(dir, StoreOptions::default())
        .await
        .expect("open the store");
    Rc::new(store)
}

/// A message as delivered by SMTP (what the queue's filing does: bytes, then a Deliver event).
pub(super) async fn deliver(store: &Store, account: &str, msg: &[u8]) {
    let p = store.owner(account);
    p.ensure_account(account, NOW).await.expect("account");
    p.store_and_execute(&[msg], |ix, pos| {
        let ev = ix.deliver(
            &[(account.to_string(), "INBOX".to_string())],
            pos,
            msg.len() as u32,
            NOW,
            Flags::default(),
        )?;
        Ok((ev, ()))
    })
    .await
    .expect("deliver");
}

pub(super) fn msg(subject: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: {subject}\r\n\
         Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.test>\r\n\r\n\
         Hello {subject}.\r\n"
    )
    .into_bytes()
}

pub(super) fn name(s: &str) -> Str<'_> {
    Cow::Borrowed(s.as_bytes())
}

/// `1:3,5,7:*` as a sequence set.
pub(super) fn set(spec: &str) -> SequenceSet {
    let num = |s: &str| {
        if s == "*" {
            SeqNum::Largest
        } else {
            SeqNum::Value(s.parse().expect("a number"))
        }
    };
    SequenceSet(
        spec.split(',')
            .map(|r| match r.split_once(':') {
                Some((a, b)) => SeqRange {
                    start: num(a),
                    end: num(b),
                },
                None => SeqRange {
                    start: num(r),
                    end: num(r),
                },
            })
            .collect(),
    )
}

pub(super) fn t<'a>(tag: &'a str, command: Command<'a>) -> Tagged<'a> {
    Tagged { tag, command }
}

/// A sink that records where spliced bytes went.
#[derive(Default)]
pub(super) struct Recorder {
    pub buf: Vec<u8>,
    /// (offset in `buf`, length) of each splice.
    pub splices: Vec<(usize, Vec<u8>)>,
}

impl Sink for Recorder {
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
    fn splice(&mut self, bytes: Box<dyn AsRef<[u8]>>) {
        self.splices
            .push((self.buf.len(), (*bytes).as_ref().to_vec()));
    }
}

pub(super) struct Client {
    pub store: Rc<Store>,
    pub s: Session<StoreBackend<Store>>,
    pub greeting: String,
}

impl Client {
    pub fn new(store: &Rc<Store>, cfg: Config) -> Client {
        let mut out = Vec::new();
        let s = Session::new(Arc::new(cfg), &mut out);
        Client {
            store: store.clone(),
            s,
            greeting: String::from_utf8_lossy(&out).into_owned(),
        }
    }

    /// A client logged in as [`USER`].
    pub async fn logged_in(store: &Rc<Store>) -> Client {
        let mut c = Client::new(store, Config::default());
        let r = c
            .run(t(
                "l",
                Command::Login {
                    user: name(USER),
                    password: name("secret"),
                },
            ))
            .await;
        assert!(r.starts_with("l OK [CAPABILITY "), "{r}");
        c
    }

    /// Runs one command; a login is accepted (the shell's verification is not under test here).
    pub async fn run(&mut self, cmd: Tagged<'_>) -> String {
        let mut out = Vec::new();
        let flow = self.s.handle(cmd, NOW, &mut out).await;
        self.after(flow, &mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    pub async fn after(&mut self, flow: Flow, out: &mut Vec<u8>) {
        if let Flow::Login(c) = flow {
            let b = StoreBackend::open(self.store.clone(), &c.user, NOW)
                .await
                .expect("backend");
            self.s.login_ok(&c.user, b, out);
        }
    }
}

/// Bytes in, bytes out, as the shell drives the session: the parser's `Receiver` frames commands in
/// a read buffer (literals and pipelining included), each goes to the session, replies are collected.
pub(super) struct Wire {
    pub c: Client,
    rx: super::super::command::Receiver,
    inbuf: Vec<u8>,
}

impl Wire {
    pub fn new(c: Client) -> Wire {
        Wire {
            c,
            rx: super::super::command::Receiver::new(Default::default()),
            inbuf: Vec::new(),
        }
    }

    /// Feeds one read's worth of bytes; returns everything written in response.
    pub async fn read(&mut self, bytes: &[u8]) -> String {
        use super::super::command::Step;
        self.inbuf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let Wire { c, rx, inbuf } = self;
            let (used, flow) = match rx.receive(inbuf) {
                Step::Command { command, used } => {
                    (used, Some(c.s.handle(command, NOW, &mut out).await))
                }
                Step::NeedMore { .. } => break,
                Step::Continue => {
                    out.extend_from_slice(b"+ Ready for literal data\r\n");
                    break;
                }
                Step::Reject {
                    tag,
                    error,
                    no,
                    skip,
                } => {
                    let code = error.code().map(|c| c.as_str());
                    let f = c.s.rejected(tag, code, error.reason(), no, &mut out);
                    (skip, Some(f))
                }
                Step::Skip(n) => (n, None),
            };
            self.inbuf.drain(..used);
            if let Some(flow) = flow {
                self.c.after(flow, &mut out).await;
            }
            if self.c.s.is_closed() {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
