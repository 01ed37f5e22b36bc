//! The whole sans-io session (command lines, DATA unstuffing, BDAT chunks, STARTTLS, AUTH exchanges,
//! limits) on any byte stream, split into reads at fuzzer-chosen points, on the MX or the submission
//! listener: never panics, never keeps more than the size limit, and every reply line is well formed.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use shardmail::smtp::auth::MAX_AUTH_LINE;
use shardmail::smtp::session::{
    Action, AuthOutcome, Delivery, Directory, Link, Lookup, Session, SessionConfig,
};

struct Dir;

impl Directory for Dir {
    fn lookup(&self, address: &str) -> Lookup {
        match address.rsplit_once('@') {
            Some(("a", "x")) => Lookup::Local("a@x".into()),
            Some((_, "x")) => Lookup::UnknownUser,
            _ => Lookup::NotLocal,
        }
    }
    fn postmaster(&self) -> Option<String> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    // The top bit picks the listener; the rest is the read size.
    let submission = split & 0x80 != 0;
    let split = split & 0x7f;
    let cfg = SessionConfig {
        hostname: "h".into(),
        max_line: 512,
        max_message_size: 4096,
        max_recipients: 4,
        max_errors: 1000,
        submission,
    };
    let link = Link { tls: false, starttls: true, plaintext_auth: true };
    let mut out = Vec::new();
    let mut s = Session::on_link(Arc::new(cfg), "127.0.0.1", link, &mut out);
    let mut logins = 0u32;
    let mut buf = Vec::new();
    for chunk in input.chunks(usize::from(split).max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            let (used, action) = s.feed(&buf, &Dir, &mut out);
            assert!(used <= buf.len());
            buf.drain(..used);
            match action {
                Action::NeedInput => break,
                Action::Deliver => {
                    assert!(s.body().len() <= 4096);
                    s.delivered(Delivery::Stored { id: "x".into() }, &mut out);
                }
                Action::Close => return,
                Action::StartTls => {
                    // RFC 3207 4.2: the plaintext after STARTTLS is dropped.
                    buf.clear();
                    s.tls_started();
                    break;
                }
                Action::Authenticate => {
                    assert!(submission, "AUTH is never checked on the MX listener");
                    let c = s.take_credentials();
                    assert!(c.is_some());
                    logins += 1;
                    let verdict = if logins % 2 == 0 { AuthOutcome::Ok("a@x".into()) } else { AuthOutcome::Failed };
                    s.auth_done(verdict, &mut out);
                }
            }
        }
        // Bounded buffering: what stays unconsumed is less than a command line (an AUTH line on
        // submission).
        assert!(buf.len() < MAX_AUTH_LINE + 4096, "{}", buf.len());
    }
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(line.len() >= 4 && line.ends_with(b"\r"));
        assert!(line[..3].iter().all(u8::is_ascii_digit));
    }
});
