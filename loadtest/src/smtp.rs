//! The SMTP load: each connection sends messages back to back (closed loop) or at its share of a fixed
//! rate (open loop), pipelined (RFC 2920) by default, with DATA or BDAT (RFC 3030).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connect::Endpoint;
use crate::message::{self, Corpus, Rng, SizeDist};
use crate::pattern::Pattern;
use crate::runner::{connect_counted, fail, Pace, Shared};
use crate::stats::Stats;
use crate::wire::{kind, Wire};

#[derive(Clone)]
pub struct SmtpOpts {
    pub target: Endpoint,
    pub connections: usize,
    pub size: SizeDist,
    pub rcpts: usize,
    pub to: Pattern,
    pub from: String,
    pub pipelining: bool,
    pub bdat: bool,
    pub rate: Option<f64>,
    pub timeout: Duration,
    pub helo: String,
    pub run_id: u64,
}

/// Why a connection's session ended.
enum End {
    Done,
    Reconnect,
}

/// One connection's whole life: connects (and reconnects after errors) until the run stops.
pub async fn connection(c: usize, opts: Arc<SmtpOpts>, shared: Arc<Shared>) -> Stats {
    let mut st = Stats::default();
    let corpus = Corpus::new(opts.size.max().min(64 << 20) + 4096, c as u64);
    let mut rng = Rng::new(opts.run_id ^ c as u64);
    let mut pace = opts
        .rate
        .map(|r| Pace::new(shared.start, r, opts.connections, c));
    let mut seq = 0u64;
    let mut backoff = Duration::from_millis(50);
    // Messages claimed and sent but not yet answered: if the session fails, each counts as an error.
    let mut in_flight = 0u32;
    while !shared.stopped() {
        let Some(mut w) =
            connect_counted(&opts.target, opts.timeout, &mut st, &shared, backoff).await
        else {
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        };
        backoff = Duration::from_millis(50);
        match session(
            &mut w,
            c,
            &opts,
            &shared,
            &mut st,
            &corpus,
            &mut rng,
            &mut pace,
            &mut seq,
            &mut in_flight,
        )
        .await
        {
            Ok(End::Done) => {
                let _ = w.send(b"QUIT\r\n").await;
                let _ = w.smtp_reply().await;
                w.close().await;
                break;
            }
            Ok(End::Reconnect) => w.close().await,
            Err(e) => {
                // The failure, and every message it left unanswered, counted once each.
                for _ in 0..in_flight.max(1) {
                    fail(&mut st, &shared, kind(&e));
                }
                in_flight = 0;
                w.close().await;
            }
        }
    }
    st
}

fn code_error(st: &mut Stats, shared: &Shared, code: u16) {
    fail(st, shared, code.to_string());
}

/// One message ready to go: its text, its envelope commands, and when it was due.
struct Prepared {
    msg: Vec<u8>,
    cmds: Vec<u8>,
    due: Instant,
}

impl Prepared {
    fn new(opts: &SmtpOpts) -> Prepared {
        Prepared {
            msg: Vec::with_capacity(opts.size.max() + 1024),
            cmds: Vec::with_capacity(1024),
            due: Instant::now(),
        }
    }

    /// Builds the next message of connection `c` and its MAIL/RCPT commands.
    fn build(
        &mut self,
        c: usize,
        opts: &SmtpOpts,
        corpus: &Corpus,
        rng: &mut Rng,
        seq: &mut u64,
        due: Instant,
    ) {
        let size = opts.size.sample(rng);
        // Consecutive addresses from a random start: distinct as long as the pattern has enough.
        let base = rng.next_u64() % opts.to.len().max(1);
        let to: Vec<String> = (0..opts.rcpts as u64)
            .map(|r| opts.to.get(base + r))
            .collect();
        message::build(
            &mut self.msg,
            corpus,
            size,
            &opts.from,
            &to,
            opts.run_id,
            c as u64,
            *seq,
        );
        *seq += 1;
        self.cmds.clear();
        self.cmds.extend_from_slice(
            format!("MAIL FROM:<{}> SIZE={}\r\n", opts.from, self.msg.len()).as_bytes(),
        );
        for t in &to {
            self.cmds
                .extend_from_slice(format!("RCPT TO:<{t}>\r\n").as_bytes());
        }
        self.due = due;
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    w: &mut Wire,
    c: usize,
    opts: &SmtpOpts,
    shared: &Shared,
    st: &mut Stats,
    corpus: &Corpus,
    rng: &mut Rng,
    pace: &mut Option<Pace>,
    seq: &mut u64,
    in_flight: &mut u32,
) -> std::io::Result<End> {
    let greet = w.smtp_reply().await?;
    if greet != 220 {
        code_error(st, shared, greet);
        return Ok(End::Reconnect);
    }
    w.send(format!("EHLO {}\r\n", opts.helo).as_bytes()).await?;
    let ehlo = w.smtp_reply().await?;
    if ehlo != 250 {
        code_error(st, shared, ehlo);
        return Ok(End::Reconnect);
    }
    // Closed loop with DATA: a message's text, its end and the next message's envelope go in one write
    // (RFC 2920 3.1: message content may be the first "command" of a group), so a message costs one
    // round trip instead of two. Open loop sends each message when it is due, so it cannot chain.
    let chain = opts.pipelining && !opts.bdat && opts.rate.is_none();
    let mut cur = Prepared::new(opts);
    let mut next = Prepared::new(opts);
    // `cur`'s envelope and DATA went out with the previous message's text.
    let mut carried = false;
    loop {
        if !carried {
            if !shared.claim() {
                return Ok(End::Done);
            }
            let due = match pace {
                Some(p) => p.wait().await,
                None => Instant::now(),
            };
            cur.build(c, opts, corpus, rng, seq, due);
            *in_flight = 1;
            if opts.bdat {
                if send_bdat(w, opts, &mut cur.cmds, &cur.msg, st, shared).await? {
                    st.record(
                        shared.start.elapsed(),
                        cur.due.elapsed(),
                        cur.msg.len() as u64,
                    );
                    shared.done.fetch_add(1, Relaxed);
                }
                *in_flight = 0;
                continue;
            }
            if opts.pipelining {
                cur.cmds.extend_from_slice(b"DATA\r\n");
                w.send(&cur.cmds).await?;
            } else if !stepwise_envelope(w, &cur.cmds, st, shared).await? {
                *in_flight = 0;
                continue;
            }
        }
        if opts.pipelining && !read_envelope(w, opts.rcpts, st, shared).await? {
            *in_flight = 0;
            carried = false;
            continue;
        }
        // The text, its end (no line of the corpus starts with '.': no stuffing needed), and maybe the
        // next envelope, in one write.
        let len = cur.msg.len();
        cur.msg.extend_from_slice(b".\r\n");
        carried = chain && shared.claim();
        if carried {
            next.build(c, opts, corpus, rng, seq, Instant::now());
            next.cmds.extend_from_slice(b"DATA\r\n");
            cur.msg.extend_from_slice(&next.cmds);
            *in_flight = 2;
        }
        let sent = w.send(&cur.msg).await;
        cur.msg.truncate(len);
        sent?;
        let r = w.smtp_reply().await?;
        *in_flight -= 1;
        if r == 250 {
            st.record(shared.start.elapsed(), cur.due.elapsed(), len as u64);
            shared.done.fetch_add(1, Relaxed);
        } else {
            code_error(st, shared, r);
        }
        if carried {
            std::mem::swap(&mut cur, &mut next);
        }
    }
}

/// Reads the envelope replies; true if MAIL and at least one RCPT were accepted.
async fn envelope_replies(
    w: &mut Wire,
    rcpts: usize,
    st: &mut Stats,
    shared: &Shared,
) -> std::io::Result<bool> {
    let mail = w.smtp_reply().await?;
    if mail != 250 {
        code_error(st, shared, mail);
    }
    let mut any = false;
    for _ in 0..rcpts {
        let r = w.smtp_reply().await?;
        if r == 250 || r == 251 {
            any = true;
        } else if mail == 250 {
            code_error(st, shared, r);
        }
    }
    Ok(mail == 250 && any)
}

/// Sends the envelope and DATA in one write (RFC 2920) and reads their replies; true once the server
/// answered 354 and waits for the message. On a refusal the transaction is reset and the codes counted.
pub(crate) async fn pipelined_envelope(
    w: &mut Wire,
    cmds: &mut Vec<u8>,
    rcpts: usize,
    st: &mut Stats,
    shared: &Shared,
) -> std::io::Result<bool> {
    cmds.extend_from_slice(b"DATA\r\n");
    w.send(cmds).await?;
    read_envelope(w, rcpts, st, shared).await
}

/// Reads the replies to a pipelined MAIL, `rcpts` RCPTs and DATA; true on 354. On a refusal the
/// transaction is reset and the codes counted.
async fn read_envelope(
    w: &mut Wire,
    rcpts: usize,
    st: &mut Stats,
    shared: &Shared,
) -> std::io::Result<bool> {
    let env_ok = envelope_replies(w, rcpts, st, shared).await?;
    // The pipelined DATA gets a reply of its own, whatever happened to the envelope.
    let r = w.smtp_reply().await?;
    if env_ok && r == 354 {
        return Ok(true);
    }
    if r == 354 {
        // No recipient was accepted, yet the server waits for data: end it empty.
        w.send(b".\r\n").await?;
        w.smtp_reply().await?;
    } else if env_ok {
        code_error(st, shared, r);
    }
    w.send(b"RSET\r\n").await?;
    w.smtp_reply().await?;
    Ok(false)
}

/// Sends the envelope one command at a time; true once the server answered 354 to DATA.
async fn stepwise_envelope(
    w: &mut Wire,
    cmds: &[u8],
    st: &mut Stats,
    shared: &Shared,
) -> std::io::Result<bool> {
    let mut lines = cmds.split_inclusive(|&b| b == b'\n');
    if let Some(mail) = lines.next() {
        w.send(mail).await?;
        let r = w.smtp_reply().await?;
        if r != 250 {
            code_error(st, shared, r);
            w.send(b"RSET\r\n").await?;
            w.smtp_reply().await?;
            return Ok(false);
        }
    }
    let mut any = false;
    for l in lines {
        w.send(l).await?;
        let r = w.smtp_reply().await?;
        if r == 250 || r == 251 {
            any = true;
        } else {
            code_error(st, shared, r);
        }
    }
    if !any {
        w.send(b"RSET\r\n").await?;
        w.smtp_reply().await?;
        return Ok(false);
    }
    w.send(b"DATA\r\n").await?;
    let r = w.smtp_reply().await?;
    if r != 354 {
        code_error(st, shared, r);
        return Ok(false);
    }
    Ok(true)
}

/// Sends the message text and its end (RFC 5321 4.1.1.4) after a 354; true on 250.
pub(crate) async fn data_text(
    w: &mut Wire,
    msg: &mut Vec<u8>,
    st: &mut Stats,
    shared: &Shared,
) -> std::io::Result<bool> {
    // Messages come from a corpus where no line starts with '.': no stuffing needed. Text and end go
    // in one write: one segment and one wake-up of the server fewer per message.
    let len = msg.len();
    msg.extend_from_slice(b".\r\n");
    let sent = w.send(msg).await;
    msg.truncate(len);
    sent?;
    let r = w.smtp_reply().await?;
    if r != 250 {
        code_error(st, shared, r);
        return Ok(false);
    }
    Ok(true)
}

async fn send_bdat(
    w: &mut Wire,
    opts: &SmtpOpts,
    cmds: &mut Vec<u8>,
    msg: &[u8],
    st: &mut Stats,
    shared: &Shared,
) -> std::io::Result<bool> {
    // RFC 3030: the chunk follows its command at once; with PIPELINING the envelope goes with it.
    cmds.extend_from_slice(format!("BDAT {} LAST\r\n", msg.len()).as_bytes());
    w.send(cmds).await?;
    w.send(msg).await?;
    let env_ok = envelope_replies(w, opts.rcpts, st, shared).await?;
    let r = w.smtp_reply().await?;
    if !env_ok {
        w.send(b"RSET\r\n").await?;
        w.smtp_reply().await?;
        return Ok(false);
    }
    if r != 250 {
        code_error(st, shared, r);
        return Ok(false);
    }
    Ok(true)
}
