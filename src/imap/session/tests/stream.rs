//! FETCH streams: a `UID FETCH 1:* BODY[]` of thousands of messages is sent as it is produced
//! (the sink is drained whenever [`STREAM_AT`] bytes wait), so what a session holds stays bounded
//! whatever the mailbox size; large bodies are still spliced, not copied.

use shardmail_storage::index::Flags;

use super::super::super::command::{self, Options};
use super::super::{Drained, STREAM_AT};
use super::*;

/// A sink that sends (here: moves to `sent`) what waits when asked, and remembers the most it
/// ever held.
#[derive(Default)]
struct Streaming {
    buf: Vec<u8>,
    /// Spliced bytes waiting, in order with `buf` (offset in `buf`, bytes).
    spliced: Vec<(usize, Vec<u8>)>,
    spliced_len: usize,
    sent: Vec<u8>,
    drains: usize,
    peak: usize,
    splices: usize,
}

impl Streaming {
    fn send_all(&mut self) {
        self.peak = self.peak.max(self.pending());
        let mut from = 0;
        for (at, bytes) in std::mem::take(&mut self.spliced) {
            self.sent.extend_from_slice(&self.buf[from..at]);
            self.sent.extend_from_slice(&bytes);
            from = at;
        }
        self.sent.extend_from_slice(&self.buf[from..]);
        self.buf.clear();
        self.spliced_len = 0;
    }
}

impl Sink for Streaming {
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
    fn splice(&mut self, bytes: Box<dyn AsRef<[u8]>>) {
        let b = (*bytes).as_ref().to_vec();
        self.splices += 1;
        self.spliced_len += b.len();
        self.spliced.push((self.buf.len(), b));
    }
    fn pending(&self) -> usize {
        self.buf.len() + self.spliced_len
    }
    fn drain(&mut self) -> Drained<'_> {
        self.drains += 1;
        self.send_all();
        Box::pin(std::future::ready(true))
    }
}

/// A message of about `size` bytes.
fn sized(subject: &str, size: usize) -> Vec<u8> {
    let mut m = msg(subject);
    while m.len() < size {
        m.extend_from_slice(b"0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 abcdefghij\r\n");
    }
    m
}

#[test]
fn fetch_of_a_whole_mailbox_streams_within_the_bound() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let p = store.owner(USER);
        p.ensure_account(USER, NOW).await.expect("account");
        // 3,000 small messages (copied into the output: below splice_min) = ~12 MB of replies,
        // and three large ones in between (spliced).
        let small = sized("small", 4000);
        let large = sized("large", 200_000);
        let target = [(USER.to_string(), "INBOX".to_string())];
        for (m, n) in [
            (&small, 1000),
            (&large, 1),
            (&small, 1000),
            (&large, 2),
            (&small, 1000),
        ] {
            p.store_and_execute(&[m.as_slice()], |ix, pos| {
                let mut ev = Vec::new();
                for _ in 0..n {
                    ev.extend(ix.deliver(&target, pos, m.len() as u32, NOW, Flags::default())?);
                }
                Ok((ev, ()))
            })
            .await
            .expect("deliver");
        }
        let mut c = Client::logged_in(&store).await;
        let opts = Options::default();
        let sel = command::parse(b"s SELECT INBOX\r\n", &opts).expect("parses");
        let r = c.run(sel).await;
        assert!(r.contains("* 3003 EXISTS"), "{r}");

        let fetch = b"f UID FETCH 1:* (UID BODY.PEEK[])\r\n";
        let mut sink = Streaming::default();
        let cmd = command::parse(fetch, &opts).expect("parses");
        let flow = c.s.handle(cmd, NOW, &mut sink).await;
        assert_eq!(flow, Flow::Ready);
        sink.send_all();

        // The same answer as a sink that holds everything.
        let mut whole = Vec::new();
        let cmd = command::parse(fetch, &opts).expect("parses");
        c.s.handle(cmd, NOW, &mut whole).await;
        assert_eq!(sink.sent.len(), whole.len());
        assert!(sink.sent == whole, "streamed output differs");
        assert!(whole.ends_with(b"f OK FETCH completed\r\n"));
        assert!(whole.len() > 12_000_000, "{}", whole.len());

        // Bounded: never more than the bound plus one message's response waiting.
        let one = large.len() + 100;
        assert!(
            sink.peak < STREAM_AT + one,
            "held {} bytes (bound {STREAM_AT} + {one})",
            sink.peak
        );
        // Sent in pieces as it grew (~12 MB / 64 KiB), and the large bodies spliced, not copied.
        assert!(sink.drains > 150, "{} drains", sink.drains);
        assert_eq!(sink.splices, 3);
    });
}

#[test]
fn a_fetch_stops_when_the_connection_is_gone() {
    struct Broken(Vec<u8>, usize);
    impl Sink for Broken {
        fn buf(&mut self) -> &mut Vec<u8> {
            &mut self.0
        }
        fn splice(&mut self, bytes: Box<dyn AsRef<[u8]>>) {
            self.0.extend_from_slice((*bytes).as_ref());
        }
        fn pending(&self) -> usize {
            self.0.len()
        }
        fn drain(&mut self) -> Drained<'_> {
            self.1 += 1;
            Box::pin(std::future::ready(false))
        }
    }
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let p = store.owner(USER);
        p.ensure_account(USER, NOW).await.expect("account");
        let m = sized("m", 4000);
        let target = [(USER.to_string(), "INBOX".to_string())];
        p.store_and_execute(&[m.as_slice()], |ix, pos| {
            let mut ev = Vec::new();
            for _ in 0..100 {
                ev.extend(ix.deliver(&target, pos, m.len() as u32, NOW, Flags::default())?);
            }
            Ok((ev, ()))
        })
        .await
        .expect("deliver");
        let mut c = Client::logged_in(&store).await;
        let opts = Options::default();
        let r = c
            .run(command::parse(b"s SELECT INBOX\r\n", &opts).expect("parses"))
            .await;
        assert!(r.contains("* 100 EXISTS"), "{r}");
        let mut sink = Broken(Vec::new(), 0);
        let cmd = command::parse(b"f FETCH 1:* BODY.PEEK[]\r\n", &opts).expect("parses");
        let flow = c.s.handle(cmd, NOW, &mut sink).await;
        assert_eq!(flow, Flow::Close);
        assert_eq!(sink.1, 1, "no more work after the first failed send");
        assert!(!String::from_utf8_lossy(&sink.0).contains("f OK"));
    });
}
