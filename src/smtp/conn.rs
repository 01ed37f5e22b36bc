//! The glommio shell of an SMTP session: reads into one buffer, drives the sans-io [`Session`], writes
//! its replies (flushed whenever input runs dry, so pipelined replies go out together, RFC 2920), performs
//! deliveries and enforces the idle and command timeouts and graceful shutdown.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use tracing::Instrument;

use super::session::{rfc5322_date, Action, Delivery, Directory, Lookup, Session};
use crate::accounts::{normalize, Accounts};
use crate::shard::{deliver, ShardCtx};

/// How often a blocked read wakes to look at the shutdown flag.
const POLL: Duration = Duration::from_millis(250);
/// Read buffer sizes: small while idle (many idle connections stay cheap), larger while a message flows.
const IDLE_BUF: usize = 4 << 10;
const DATA_BUF: usize = 64 << 10;

impl Directory for Accounts {
    fn lookup(&self, address: &str) -> Lookup {
        let Ok(a) = normalize(address) else {
            return Lookup::UnknownUser;
        };
        if self.contains(&a) {
            return Lookup::Local(a);
        }
        match a.rsplit_once('@') {
            Some((_, d)) if self.is_local_domain(d) => Lookup::UnknownUser,
            _ => Lookup::NotLocal,
        }
    }

    fn postmaster(&self) -> Option<String> {
        self.addresses()
            .find(|a| a.starts_with("postmaster@"))
            .map(str::to_string)
    }
}

/// Serves one SMTP connection to its end.
pub async fn serve(ctx: Rc<ShardCtx>, stream: TcpStream, peer: SocketAddr) {
    let span = tracing::debug_span!("smtp", shard = ctx.id, %peer);
    async move {
        match run(&ctx, stream, peer).await {
            Ok(()) => tracing::debug!("session ended"),
            Err(e) => tracing::debug!(error = %e, "session ended by I/O error"),
        }
    }
    .instrument(span)
    .await
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    out: Vec<u8>,
}

impl Conn {
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
            if self.out.capacity() > IDLE_BUF {
                self.out.shrink_to(IDLE_BUF);
            }
        }
        Ok(())
    }

    /// Makes room for a read: compacts the window to the front, grows while a message flows.
    fn make_room(&mut self, big: bool) {
        if self.lo == self.hi {
            self.lo = 0;
            self.hi = 0;
        }
        let want = if big { DATA_BUF } else { IDLE_BUF };
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        if self.hi == self.buf.len() {
            self.buf.copy_within(self.lo..self.hi, 0);
            self.hi -= self.lo;
            self.lo = 0;
        }
        if self.hi == self.buf.len() {
            // Only when a configured line limit exceeds the buffer.
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
    }
}

async fn run(ctx: &Rc<ShardCtx>, stream: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
    let cfg = &ctx.shared.config.smtp;
    let idle = Duration::from_secs(cfg.idle_timeout);
    let command = Duration::from_secs(cfg.command_timeout);
    let grace = Duration::from_secs(ctx.shared.config.shutdown.timeout);
    stream.set_read_timeout(Some(POLL))?;
    let mut c = Conn {
        stream,
        buf: vec![0; IDLE_BUF],
        lo: 0,
        hi: 0,
        out: Vec::with_capacity(256),
    };
    let mut session = Session::new(ctx.smtp.clone(), peer.ip().to_string(), &mut c.out);
    let mut shutdown_seen: Option<Instant> = None;
    let result = async {
        loop {
            // Take every complete command or message the buffer holds.
            let accounts = ctx.shared.accounts();
            loop {
                let (used, action) = session.feed(&c.buf[c.lo..c.hi], &*accounts, &mut c.out);
                c.lo += used;
                match action {
                    Action::NeedInput => break,
                    Action::Close => {
                        c.flush().await?;
                        return Ok(());
                    }
                    Action::Deliver => {
                        // Replies so far go out while the message becomes durable.
                        c.flush().await?;
                        let outcome = store(ctx, &session).await;
                        session.delivered(outcome, &mut c.out);
                    }
                }
            }
            c.flush().await?;
            count_replies(ctx, &mut session);
            // Read, waking now and then to honour shutdown and the timeouts.
            let started = Instant::now();
            loop {
                if ctx.shared.shutting_down() {
                    let since = *shutdown_seen.get_or_insert_with(Instant::now);
                    if !session.in_transaction() || since.elapsed() >= grace {
                        session.shutdown(&mut c.out);
                        c.flush().await?;
                        return Ok(());
                    }
                }
                let limit = if session.between_commands() {
                    idle
                } else {
                    command
                };
                if started.elapsed() >= limit {
                    session.timeout(&mut c.out);
                    c.flush().await?;
                    return Ok(());
                }
                c.make_room(!session.between_commands());
                let hi = c.hi;
                match c.stream.read(&mut c.buf[hi..]).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        c.hi += n;
                        break;
                    }
                    Err(e)
                        if e.kind() == std::io::ErrorKind::TimedOut
                            || e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    .await;
    count_replies(ctx, &mut session);
    let _ = c.stream.close().await;
    result
}

fn count_replies(ctx: &ShardCtx, session: &mut Session) {
    let counts = session.take_reply_counts();
    let m = ctx.metrics();
    for (slot, n) in m.replies.iter().zip(counts) {
        if n > 0 {
            slot.fetch_add(n, Relaxed);
        }
    }
}

/// Stores the message with its trace fields and delivers it to every recipient's INBOX.
async fn store(ctx: &Rc<ShardCtx>, session: &Session) -> Delivery {
    let Some(env) = session.envelope() else {
        return Delivery::Failed;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let id = ctx.next_message_id(now);
    let trace = session.trace_headers(&id, &rfc5322_date(now));
    let body = session.body();
    match deliver::deliver(ctx, &[trace.as_bytes(), body], &env.recipients, now).await {
        Ok(()) => {
            let m = ctx.metrics();
            m.messages_accepted.fetch_add(1, Relaxed);
            m.bytes_accepted
                .fetch_add((trace.len() + body.len()) as u64, Relaxed);
            tracing::info!(id = %id, from = %env.from, rcpts = env.recipients.len(), size = body.len(), "accepted");
            Delivery::Stored { id }
        }
        Err(e) if e.is_disk_full() => {
            tracing::error!(error = %e, "delivery failed: disk full");
            Delivery::DiskFull
        }
        Err(e) => {
            tracing::error!(error = %e, "delivery failed");
            Delivery::Failed
        }
    }
}
