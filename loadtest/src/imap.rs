//! The IMAP load (RFC 9051 / 3501 commands): each client logs in as the next user of the pattern, SELECTs
//! INBOX, then runs the scenario until the run ends. An operation is one tagged command round trip.
//!
//! Scenarios: `fetch-all` (UID FETCH 1:* BODY.PEEK[]), `headers` (envelope, flags, sizes: what a client
//! does on opening a folder), `store` (+FLAGS/-FLAGS \Seen on a random message), `append` (a 10 KB
//! message), `noop` (a NOOP round trip: a session's latency while something else loads the server), or a
//! weighted mix such as `headers:3,store:5,fetch-all:1,append:1`. `idle` stands alone
//! (clients in IDLE while SMTP delivers to them): see `notify.rs`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::connect::Endpoint;
use crate::message::{self, Corpus, Rng};
use crate::pattern::Pattern;
use crate::runner::{connect_counted, fail, Pace, Shared};
use crate::stats::Stats;
use crate::wire::{kind, Wire};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    FetchAll,
    Headers,
    Store,
    Append,
    /// RFC 9051 6.1.2 NOOP: the cheapest round trip, to measure a shard's responsiveness.
    Noop,
    /// RFC 2177 IDLE while SMTP delivers; never mixed with the others.
    Idle,
}

/// A weighted choice of operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub ops: Vec<(Op, u32)>,
}

impl Scenario {
    pub fn parse(s: &str) -> Result<Scenario> {
        let mut ops = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once(':') {
                Some((n, w)) => match w.parse::<u32>() {
                    Ok(w) if w > 0 => (n, w),
                    _ => bail!("scenario {s:?}: weight of {n:?} must be a positive integer"),
                },
                None => (part, 1),
            };
            let op = match name {
                "fetch-all" => Op::FetchAll,
                "headers" => Op::Headers,
                "store" => Op::Store,
                "append" => Op::Append,
                "noop" => Op::Noop,
                "idle" => Op::Idle,
                other => bail!("unknown scenario {other:?} (fetch-all, headers, store, append, noop, or a weighted mix)"),
            };
            ops.push((op, weight));
        }
        if ops.is_empty() {
            bail!("empty scenario");
        }
        if ops.len() > 1 && ops.iter().any(|o| o.0 == Op::Idle) {
            bail!("scenario {s:?}: idle runs alone (its clients wait in IDLE), not in a mix");
        }
        Ok(Scenario { ops })
    }

    pub fn is_idle(&self) -> bool {
        self.ops.iter().any(|o| o.0 == Op::Idle)
    }

    pub fn pick(&self, rng: &mut Rng) -> Op {
        let total: u64 = self.ops.iter().map(|o| o.1 as u64).sum();
        let mut x = rng.next_u64() % total;
        for (op, w) in &self.ops {
            if x < *w as u64 {
                return *op;
            }
            x -= *w as u64;
        }
        self.ops[0].0
    }
}

#[derive(Clone)]
pub struct ImapOpts {
    pub target: Endpoint,
    pub connections: usize,
    pub users: Pattern,
    pub password: String,
    pub scenario: Scenario,
    pub timeout: Duration,
    /// Open loop: this many operations per second over all connections (latency counts from each
    /// operation's due time); None: each connection sends its next command when the last is answered.
    pub rate: Option<f64>,
}

/// The tagged completion of a command: OK, NO or BAD (or something unexpected), with bytes received.
pub(crate) struct Done {
    pub status: String,
    bytes: u64,
    /// UIDs from `* SEARCH` responses, when asked for.
    uids: Vec<u32>,
    /// The last `* N EXISTS` seen (RFC 9051 7.4.1), if any.
    pub exists: Option<u32>,
}

/// Reads responses until the tagged one, skipping literals (`{n}` at a line end) wherever they occur.
pub(crate) async fn response(w: &mut Wire, tag: &str, want_uids: bool) -> std::io::Result<Done> {
    let mut bytes = 0u64;
    let mut uids = Vec::new();
    let mut exists = None;
    loop {
        let line = w.line().await?;
        bytes += line.len() as u64;
        let text = String::from_utf8_lossy(line).into_owned();
        let literal = literal_len(line);
        if let Some(n) = literal {
            w.skip(n).await?;
            bytes += n;
            continue;
        }
        if let Some(n) = untagged_count(line, b"EXISTS") {
            exists = Some(n);
        }
        if want_uids && text.starts_with("* SEARCH") {
            uids.extend(
                text.split_whitespace()
                    .skip(2)
                    .filter_map(|u| u.parse::<u32>().ok()),
            );
        }
        if let Some(rest) = text.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            let status = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            return Ok(Done {
                status,
                bytes,
                uids,
                exists,
            });
        }
    }
}

/// `* 12 EXISTS` (or EXPUNGE, RECENT: `what`) -> 12.
pub(crate) fn untagged_count(line: &[u8], what: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(b"* ")?;
    let sp = memchr::memchr(b' ', rest)?;
    let word = rest[sp + 1..].trim_ascii_end();
    if !word.eq_ignore_ascii_case(what) {
        return None;
    }
    std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()
}

/// Command tags a1, a2, ...
#[derive(Default)]
pub(crate) struct Tags(u32);

impl Tags {
    pub fn next(&mut self) -> String {
        self.0 += 1;
        format!("a{}", self.0)
    }
}

/// `{123}\r\n` (or `{123+}`) at the end of a line.
fn literal_len(line: &[u8]) -> Option<u64> {
    let l = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let l = l.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', l)?;
    let digits = l[open + 1..].strip_suffix(b"+").unwrap_or(&l[open + 1..]);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

pub async fn connection(c: usize, opts: Arc<ImapOpts>, shared: Arc<Shared>) -> Stats {
    let mut st = Stats::default();
    let mut rng = Rng::new(c as u64 + 17);
    let corpus = Corpus::new(16 << 10, c as u64);
    let mut round = 0u64;
    let mut pace = opts
        .rate
        .map(|r| Pace::new(shared.start, r, opts.connections, c));
    while !shared.stopped() {
        let user = opts.users.get(c as u64 + round * opts.connections as u64);
        round += 1;
        let Some(mut w) = connect_counted(
            &opts.target,
            opts.timeout,
            &mut st,
            &shared,
            Duration::from_millis(100),
        )
        .await
        else {
            continue;
        };
        let r = session(
            &mut w, &user, &opts, &shared, &mut st, &mut rng, &corpus, &mut pace,
        )
        .await;
        if let Err(e) = r {
            fail(&mut st, &shared, kind(&e));
        }
        w.close().await;
    }
    st
}

/// Reads the greeting, logs in and SELECTs INBOX; the number of messages in it (its EXISTS), or None
/// when the server refused (counted; the caller ends the session).
pub(crate) async fn open_inbox(
    w: &mut Wire,
    user: &str,
    password: &str,
    tags: &mut Tags,
    st: &mut Stats,
    shared: &Shared,
) -> std::io::Result<Option<u32>> {
    let greet = w.line().await?;
    if !greet.starts_with(b"* OK") {
        fail(st, shared, "greeting");
        return Ok(None);
    }
    let t = tags.next();
    w.send(format!("{t} LOGIN \"{user}\" \"{password}\"\r\n").as_bytes())
        .await?;
    if response(w, &t, false).await?.status != "OK" {
        fail(st, shared, "LOGIN NO");
        glommio::timer::sleep(Duration::from_millis(50)).await;
        return Ok(None);
    }
    let t = tags.next();
    w.send(format!("{t} SELECT INBOX\r\n").as_bytes()).await?;
    let done = response(w, &t, false).await?;
    if done.status != "OK" {
        fail(st, shared, "SELECT NO");
        return Ok(None);
    }
    Ok(Some(done.exists.unwrap_or(0)))
}

#[allow(clippy::too_many_arguments)]
async fn session(
    w: &mut Wire,
    user: &str,
    opts: &ImapOpts,
    shared: &Shared,
    st: &mut Stats,
    rng: &mut Rng,
    corpus: &Corpus,
    pace: &mut Option<Pace>,
) -> std::io::Result<()> {
    let mut tags = Tags::default();
    if open_inbox(w, user, &opts.password, &mut tags, st, shared)
        .await?
        .is_none()
    {
        return Ok(());
    }
    let t = tags.next();
    w.send(format!("{t} UID SEARCH ALL\r\n").as_bytes()).await?;
    let mut uids = response(w, &t, true).await?.uids;
    let mut msg = Vec::new();
    loop {
        if !shared.claim() {
            break;
        }
        let op = opts.scenario.pick(rng);
        let started = match pace {
            Some(p) => p.wait().await,
            None => Instant::now(),
        };
        let t = tags.next();
        let done = match op {
            Op::FetchAll => {
                w.send(format!("{t} UID FETCH 1:* BODY.PEEK[]\r\n").as_bytes())
                    .await?;
                response(w, &t, false).await?
            }
            Op::Headers => {
                w.send(
                    format!("{t} UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT MESSAGE-ID)])\r\n")
                        .as_bytes(),
                )
                .await?;
                response(w, &t, false).await?
            }
            Op::Store => {
                let Some(&uid) = uids.get((rng.next_u64() % uids.len().max(1) as u64) as usize)
                else {
                    shared.unclaim();
                    // Nothing to flag yet: turn this op into an append.
                    continue;
                };
                let sign = if rng.next_u64().is_multiple_of(2) {
                    '+'
                } else {
                    '-'
                };
                w.send(format!("{t} UID STORE {uid} {sign}FLAGS (\\Seen)\r\n").as_bytes())
                    .await?;
                response(w, &t, false).await?
            }
            Op::Noop => {
                w.send(format!("{t} NOOP\r\n").as_bytes()).await?;
                response(w, &t, false).await?
            }
            Op::Idle => unreachable!("idle scenarios run in notify.rs"),
            Op::Append => {
                message::build(
                    &mut msg,
                    corpus,
                    10 << 10,
                    "loadtest@loadtest.invalid",
                    &[user.to_string()],
                    0,
                    0,
                    rng.next_u64(),
                );
                w.send(format!("{t} APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes())
                    .await?;
                let cont = w.line().await?.to_vec();
                if !cont.starts_with(b"+") {
                    fail(st, shared, "APPEND refused");
                    continue;
                }
                w.send(&msg).await?;
                w.send(b"\r\n").await?;
                let d = response(w, &t, false).await?;
                if d.status == "OK" {
                    uids.push(uids.last().copied().unwrap_or(0) + 1);
                }
                Done {
                    bytes: d.bytes + msg.len() as u64,
                    ..d
                }
            }
        };
        if done.status == "OK" {
            st.record(shared.start.elapsed(), started.elapsed(), done.bytes);
            shared.done.fetch_add(1, Relaxed);
        } else {
            fail(st, shared, format!("{op:?} {}", done.status));
        }
    }
    let t = tags.next();
    w.send(format!("{t} LOGOUT\r\n").as_bytes()).await?;
    let _ = response(w, &t, false).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse() {
        assert_eq!(
            Scenario::parse("fetch-all").unwrap().ops,
            vec![(Op::FetchAll, 1)]
        );
        assert_eq!(
            Scenario::parse("headers:3, store:5").unwrap().ops,
            vec![(Op::Headers, 3), (Op::Store, 5)]
        );
        assert_eq!(Scenario::parse("noop").unwrap().ops, vec![(Op::Noop, 1)]);
        assert!(Scenario::parse("idle").unwrap().is_idle());
        for bad in [
            "",
            "fetch",
            "store:0",
            "store:x",
            "idle,headers",
            "store:2,idle:1",
        ] {
            assert!(Scenario::parse(bad).is_err(), "{bad}");
        }
        let s = Scenario::parse("headers:1,store:3").unwrap();
        let mut rng = Rng::new(3);
        let stores = (0..10_000)
            .filter(|_| s.pick(&mut rng) == Op::Store)
            .count();
        assert!((7000..8000).contains(&stores), "{stores}");
    }

    #[test]
    fn untagged_counts() {
        assert_eq!(untagged_count(b"* 23 EXISTS\r\n", b"EXISTS"), Some(23));
        assert_eq!(untagged_count(b"* 0 exists\r\n", b"EXISTS"), Some(0));
        assert_eq!(untagged_count(b"* 4 EXPUNGE\r\n", b"EXPUNGE"), Some(4));
        assert_eq!(untagged_count(b"* 4 EXPUNGE\r\n", b"EXISTS"), None);
        assert_eq!(
            untagged_count(b"* OK [UIDNEXT 4] Predicted\r\n", b"EXISTS"),
            None
        );
        assert_eq!(
            untagged_count(b"* 3 FETCH (FLAGS (EXISTS))\r\n", b"EXISTS"),
            None
        );
        assert_eq!(untagged_count(b"* x EXISTS\r\n", b"EXISTS"), None);
        assert_eq!(untagged_count(b"a1 5 EXISTS\r\n", b"EXISTS"), None);
    }

    proptest::proptest! {
        /// Whatever a server sends, the response scanners answer without panicking, and read back
        /// what they are meant to find.
        #[test]
        fn response_scanners_take_any_bytes(line in proptest::collection::vec(proptest::num::u8::ANY, 0..64), n in 0u32..u32::MAX) {
            let _ = untagged_count(&line, b"EXISTS");
            let _ = literal_len(&line);
            proptest::prop_assert_eq!(untagged_count(format!("* {n} EXISTS\r\n").as_bytes(), b"EXISTS"), Some(n));
            proptest::prop_assert_eq!(literal_len(format!("* 1 FETCH (BODY[] {{{n}}}\r\n").as_bytes()), Some(n as u64));
        }
    }

    #[test]
    fn literals_at_line_ends() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {1234}\r\n"), Some(1234));
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12+}\r\n"), Some(12));
        assert_eq!(literal_len(b"* 1 FETCH (FLAGS (\\Seen))\r\n"), None);
        assert_eq!(literal_len(b"a1 OK {x}\r\n"), None);
    }
}
