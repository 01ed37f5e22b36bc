//! The IMAP shell: runs the sans-io [`Session`] on the connection driver, frames commands with the
//! [`Receiver`], verifies logins off the shard (failures delayed per client address), and after a
//! login moves the connection to the shard that owns the account (issue 10 "Where sessions run";
//! `shard::handoff`), where it goes on with the account's backend, IDLE waiting on its change feed.
//!
//! Time limits (RFC 9051 5.4): `imap.login_timeout` before login, `imap.idle_timeout` (at least 30
//! minutes by default, RFC 2177 asks clients to re-IDLE within 29) after. Shutdown says `* BYE`.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::{future, AsyncRead, AsyncWrite};
use tracing::Instrument;

use super::backend::ChangeFeed;
use super::command::raw::{self, AuthInput, IdleInput};
use super::command::{self, Options, Receiver, Step as Frame};
use super::compress::Deflate;
use super::session::{Config as SessionConfig, Credentials, Drained, Flow, Handoff, Session, Sink};
use super::store::{StoreBackend, StoreFeed};
use crate::net::auth::{self, Link, Proto, Verdict};
use crate::net::driver::{Driver, End, Output, Parts, Phase, Protocol, Step, Timeouts};
use crate::net::ip_limit::Slot;
use crate::net::out::{Bytes, Out};
use crate::net::starttls;
use crate::net::stream::Conn;
use crate::shard::handoff::{self, Moving};
use crate::shard::mesh::ShardMsg;
use crate::shard::ShardCtx;

type Backend = StoreBackend<ShardCtx>;

/// What the shard's IMAP sessions share, built once from the config.
pub struct Settings {
    /// Session settings by [`Link`] (index [`Link::index`]): what is offered and accepted depends
    /// on TLS and on whether the client may send a password in plaintext (issue 12).
    sessions: [Arc<SessionConfig>; 8],
    pub options: Options,
}

impl Settings {
    pub fn new(c: &crate::config::Config) -> Settings {
        let i = &c.imap;
        // A message is one log record: no literal larger than a record can hold (the trace
        // headers an APPEND adds are none, but leave room for the record's own framing).
        let max_literal = i.max_literal.min(c.log_options().max_payload()) as u64;
        let mut options = Options::default();
        options.limits.max_line = i.max_line;
        options.limits.max_literal = max_literal;
        // A MULTIAPPEND may carry two messages of the largest size, no more.
        options.limits.max_command = max_literal.saturating_mul(2);
        let session = SessionConfig {
            greeting: format!("{} shardmail IMAP ready", c.hostname),
            max_bad: u32::try_from(i.max_errors).unwrap_or(u32::MAX),
            append_limit: max_literal,
            splice_min: crate::net::out::SPLICE_MIN,
            // RFC 4978: offered; the shell wraps the stream once the tagged OK is out.
            compress: true,
            ..SessionConfig::default()
        };
        let sessions = Link::ALL.map(|l| {
            Arc::new(SessionConfig {
                tls_active: l.tls_active,
                // RFC 9051 6.2.1: STARTTLS only on a connection without TLS.
                starttls: l.starttls && !l.tls_active,
                plaintext_login: l.plaintext_ok,
                ..session.clone()
            })
        });
        Settings { sessions, options }
    }

    /// The session settings for a connection.
    pub fn session(&self, link: Link) -> Arc<SessionConfig> {
        self.sessions[link.index()].clone()
    }
}

/// A connection on its way to its account's owner: what travels over the mesh.
pub struct Arrival {
    pub conn: Moving,
    pub session: Handoff,
}

impl Sink for Out {
    fn buf(&mut self) -> &mut Vec<u8> {
        self
    }
    fn splice(&mut self, bytes: Box<dyn AsRef<[u8]>>) {
        Out::splice(self, bytes as Bytes);
    }
}

/// While a command runs: the same output, and it can be sent before the command ends (FETCH).
impl Sink for Output<'_> {
    fn buf(&mut self) -> &mut Vec<u8> {
        self
    }
    fn splice(&mut self, bytes: Box<dyn AsRef<[u8]>>) {
        Out::splice(self, bytes as Bytes);
    }
    fn pending(&self) -> usize {
        Output::pending(self)
    }
    fn drain(&mut self) -> Drained<'_> {
        Box::pin(self.flush())
    }
}

fn timeouts(ctx: &ShardCtx, logged_in: bool) -> Timeouts {
    let c = &ctx.shared.config.imap;
    let quiet = if logged_in {
        c.idle_timeout
    } else {
        c.login_timeout
    };
    Timeouts {
        command: Duration::from_secs(quiet),
        // Inside a literal (an APPENDed message): no silence longer than a write may take.
        transfer_idle: Duration::from_secs(c.write_timeout),
        transfer: Duration::from_secs(c.idle_timeout),
        write: Duration::from_secs(c.write_timeout),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Counts a connection on a shard while it is there: the shard's open sessions (shutdown waits for
/// them) and its gauge. The per-IP slot travels with the connection and is released where it ends.
struct Here {
    ctx: Rc<ShardCtx>,
}

impl Here {
    fn new(ctx: &Rc<ShardCtx>) -> Here {
        ctx.open_inc();
        ctx.metrics().imap.connections_open.fetch_add(1, Relaxed);
        Here { ctx: ctx.clone() }
    }
}

impl Drop for Here {
    fn drop(&mut self) {
        self.ctx
            .metrics()
            .imap
            .connections_open
            .fetch_sub(1, Relaxed);
        self.ctx.open_dec();
    }
}

/// Serves one accepted IMAP connection: greeting and login here, then the session where the account
/// lives. `slot` is the connection's per-IP count.
pub async fn serve(ctx: Rc<ShardCtx>, stream: Conn, peer: SocketAddr, slot: Slot) {
    let span = tracing::debug_span!("imap", shard = ctx.id, %peer);
    async move {
        let here = Here::new(&ctx);
        // Responses go out as soon as they are written: a client pipelining commands must not wait
        // for Nagle's algorithm to meet its delayed ACK (40 ms per exchange).
        let _ = stream.set_nodelay(true);
        let link = Link::new(
            &ctx.shared.config.auth,
            peer.ip(),
            stream.is_tls(),
            ctx.tls().is_some(),
        );
        let mut driver = Driver::new(stream, timeouts(&ctx, false), ctx.shutdown.clone());
        let session = Session::<Backend>::new(ctx.imap.session(link), driver.out());
        let mut imap = Imap::new(&ctx, session, peer);
        let mut end = driver.run(&mut imap).await;
        if let (End::Upgrade, Some(Upgrade::Tls)) = (&end, imap.upgrade) {
            // STARTTLS (RFC 9051 6.2.1): the handshake, then a new session that knows nothing of
            // the plaintext one (its input after the command is discarded: `net::starttls`).
            let Some(tls) = starttls::upgrade(&ctx, Proto::Imap, driver).await else {
                ctx.shared.imap_per_ip.release(slot);
                return;
            };
            driver = tls;
            let cfg = ctx.imap.session(link.with_tls());
            imap = Imap::new(&ctx, Session::after_starttls(cfg), peer);
            end = driver.run(&mut imap).await;
        }
        let Imap {
            session, account, ..
        } = imap;
        let (End::Released, Some(account)) = (&end, account) else {
            finish(&ctx, driver, end, slot).await;
            return;
        };
        let owner = ctx.owner(&account);
        if owner == ctx.id {
            // The account lives here: no move, the same session goes on with its backend.
            logged_in(
                &ctx,
                driver,
                Logged::Here(Box::new(session), account),
                peer,
                slot,
            )
            .await;
            drop(here);
            return;
        }
        let Some(state) = session.into_handoff() else {
            // The session was not logged in: a bug between shell and session; end cleanly.
            tracing::error!("released without a login");
            finish(&ctx, driver, End::Done, slot).await;
            return;
        };
        let sent = handoff::send(
            &ctx,
            owner,
            driver,
            peer,
            slot,
            |conn| {
                ShardMsg::Imap(Box::new(Arrival {
                    conn,
                    session: state,
                }))
            },
            |msg| match msg {
                ShardMsg::Imap(a) => a.conn,
                _ => unreachable!("a failed try_send gives back the Imap message it was given"),
            },
        );
        match sent {
            Ok(()) => tracing::debug!(owner, "session moved to its owner shard"),
            Err((mut driver, slot)) => {
                ctx.metrics().imap.handoffs_failed.fetch_add(1, Relaxed);
                tracing::warn!(owner, "the owner shard did not take the session");
                driver
                    .out()
                    .extend_from_slice(b"* BYE [UNAVAILABLE] Server busy, try again\r\n");
                let _ = driver.flush().await;
                finish(&ctx, driver, End::Done, slot).await;
            }
        }
        drop(here);
    }
    .instrument(span)
    .await
}

/// The owner's side of a handoff: adopts the socket and runs the logged-in session here.
pub async fn arrive(ctx: Rc<ShardCtx>, a: Arrival) {
    let Arrival { conn, session } = a;
    let m = &ctx.metrics().imap;
    m.handoffs_in.fetch_add(1, Relaxed);
    let stream = handoff::adopt(conn.fd, conn.tls);
    let driver = Driver::from_parts(Parts {
        stream,
        pending: conn.pending,
        timeouts: timeouts(&ctx, true),
        shutdown: ctx.shutdown.clone(),
    });
    let took = conn.since.elapsed().as_micros() as u64;
    m.handoff_micros.fetch_add(took, Relaxed);
    tracing::debug!(micros = took, "session arrived from the accepting shard");
    let peer = conn.peer;
    let span = tracing::debug_span!("imap", shard = ctx.id, %peer);
    let here = Here::new(&ctx);
    logged_in(&ctx, driver, Logged::Moved(session), peer, conn.slot)
        .instrument(span)
        .await;
    drop(here);
}

/// A logged-in session without its backend yet.
enum Logged {
    /// Logged in on this shard, which owns the account.
    Here(Box<Session<Backend>>, String),
    /// Moved here from the accepting shard.
    Moved(Handoff),
}

/// The session after its login, on the account's owner shard (the tagged OK of the login was
/// written by the accepting shard's session).
async fn logged_in(
    ctx: &Rc<ShardCtx>,
    mut driver: Driver<Conn>,
    state: Logged,
    peer: SocketAddr,
    slot: Slot,
) {
    driver.set_timeouts(timeouts(ctx, true));
    let account = match &state {
        Logged::Here(_, account) => account.as_str(),
        Logged::Moved(h) => h.user(),
    };
    let backend = match StoreBackend::open(ctx.clone(), account, now_secs()).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, %account, "cannot open the account's mailboxes");
            driver
                .out()
                .extend_from_slice(b"* BYE [UNAVAILABLE] Mailbox unavailable\r\n");
            let _ = driver.flush().await;
            finish(ctx, driver, End::Done, slot).await;
            return;
        }
    };
    let session = match state {
        Logged::Here(mut s, _) => {
            s.attach(backend);
            *s
        }
        Logged::Moved(h) => h.resume(backend),
    };
    let mut imap = Imap::new(ctx, session, peer);
    let end = driver.run(&mut imap).await;
    if !matches!(end, End::Upgrade) {
        finish(ctx, driver, end, slot).await;
        return;
    }
    // COMPRESS DEFLATE (RFC 4978 3): its tagged OK went out uncompressed; from the next byte both
    // directions are raw DEFLATE. Input read behind the command is already compressed: it goes into
    // the inflater, not back to the session. Only after login (RFC 4978 3: authenticated or selected
    // state), so the handoff to the owner shard happened before and the fd never moves compressed.
    let Parts {
        stream,
        pending,
        timeouts,
        shutdown,
    } = driver.into_parts();
    ctx.metrics().imap.compressed.fetch_add(1, Relaxed);
    let mut driver = Driver::from_parts(Parts {
        stream: Deflate::new(stream, pending),
        pending: Vec::new(),
        timeouts,
        shutdown,
    });
    let end = driver.run(&mut imap).await;
    finish(ctx, driver, end, slot).await;
}

/// Counts how the connection ended, closes it and gives back its per-IP slot.
async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &ShardCtx,
    mut driver: Driver<S>,
    end: End,
    slot: Slot,
) {
    let m = &ctx.metrics().imap;
    match &end {
        End::ReadTimeout => {
            m.timeouts.fetch_add(1, Relaxed);
        }
        End::WriteTimeout => {
            ctx.metrics().write_timeouts.fetch_add(1, Relaxed);
            tracing::info!("peer did not read its responses within the write timeout; closed");
        }
        _ => {}
    }
    tracing::debug!(?end, "session ended");
    let _ = future::or(
        futures_lite::AsyncWriteExt::close(driver.stream_mut()),
        async {
            glommio::timer::sleep(Duration::from_secs(1)).await;
            Ok(())
        },
    )
    .await;
    ctx.shared.imap_per_ip.release(slot);
}

/// What the session reads next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Commands,
    /// IDLE: a `DONE` line, or changes of the account.
    Idle,
    /// An AUTHENTICATE response line.
    AuthLine,
}

/// An IMAP session with its effects on the shard.
struct Imap<'a> {
    ctx: &'a Rc<ShardCtx>,
    session: Session<Backend>,
    receiver: Receiver,
    peer: SocketAddr,
    mode: Mode,
    /// A framed command of this many bytes at the start of the input, run by `work`.
    ready: Option<usize>,
    /// Credentials to verify in `work`.
    login: Option<Credentials>,
    /// The account a login succeeded for (the session is then released to its owner).
    account: Option<String>,
    /// What the next `feed` returns before anything else (Close, Release).
    then: Option<Step>,
    /// While idling: the account's change feed, and whether it moved.
    feed: Option<StoreFeed>,
    changed: bool,
    /// Waiting for the rest of a literal (bigger reads, transfer time limits).
    in_literal: bool,
    /// What a [`Step::Upgrade`] asked for.
    upgrade: Option<Upgrade>,
}

/// The stream changes under the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    /// STARTTLS (RFC 9051 6.2.1).
    Tls,
    /// COMPRESS DEFLATE (RFC 4978).
    Compress,
}

impl<'a> Imap<'a> {
    fn new(ctx: &'a Rc<ShardCtx>, session: Session<Backend>, peer: SocketAddr) -> Imap<'a> {
        let mut options = ctx.imap.options;
        if !session.is_authenticated() {
            // Before login a client must not make the shard hold a large command or literal (a
            // 96 MiB APPEND announced by anyone): the small pre-login bounds, or the configured ones
            // where those are smaller. The owner's session, after login, gets the configured limits.
            let (l, pre) = (&mut options.limits, command::Limits::pre_auth());
            l.max_line = l.max_line.min(pre.max_line);
            l.max_literal = l.max_literal.min(pre.max_literal);
            l.max_command = l.max_command.min(pre.max_command);
            l.max_literals = l.max_literals.min(pre.max_literals);
        }
        Imap {
            ctx,
            session,
            receiver: Receiver::new(options),
            peer,
            mode: Mode::Commands,
            ready: None,
            login: None,
            account: None,
            then: None,
            feed: None,
            changed: false,
            in_literal: false,
            upgrade: None,
        }
    }

    /// Acts on what the session said; `None` to go on reading.
    fn flow(&mut self, flow: Flow) -> Option<Step> {
        match flow {
            Flow::Ready => {
                self.mode = Mode::Commands;
                self.feed = None;
                None
            }
            Flow::Login(c) => {
                self.login = Some(c);
                Some(Step::Work)
            }
            Flow::AuthLine => {
                self.mode = Mode::AuthLine;
                None
            }
            Flow::Idle => {
                if self.mode != Mode::Idle {
                    self.mode = Mode::Idle;
                    self.feed = self.session.follow();
                }
                None
            }
            // The tagged OK is written: flush it, then `logged_in` wraps the stream.
            Flow::Compress => {
                self.upgrade = Some(Upgrade::Compress);
                Some(Step::Upgrade)
            }
            // The tagged OK is written: flush it, then `serve` runs the TLS handshake. The driver
            // hands back what was read after the command; RFC 3207 4.2 (and RFC 9051 6.2.1) has
            // it thrown away, never run.
            Flow::StartTls => {
                self.upgrade = Some(Upgrade::Tls);
                Some(Step::Upgrade)
            }
            Flow::Close => Some(Step::Close),
        }
    }

    /// Verifies a login off the shard (`net::auth::login`: the per-address block, the delay after
    /// a failure, logs and metrics).
    async fn verify(&mut self, c: Credentials, out: &mut dyn Sink) {
        let verdict = auth::login(self.ctx, Proto::Imap, self.peer.ip(), c.user, c.password).await;
        let m = &self.ctx.metrics().imap;
        let flow = match verdict {
            Verdict::Ok { account } => {
                m.logins_ok.fetch_add(1, Relaxed);
                // The tagged OK goes out from here; the session goes on where the account lives.
                let _ = self.session.logged_in(&account, out);
                self.account = Some(account);
                self.then = Some(Step::Release);
                return;
            }
            Verdict::Failed => {
                m.logins_failed.fetch_add(1, Relaxed);
                self.session.login_failed(out)
            }
            Verdict::Blocked { .. } => self.session.login_blocked(out),
        };
        if let Some(step) = self.flow(flow) {
            self.then = Some(step);
        }
    }

    /// Runs what `feed` found: a login to verify, or a framed command.
    async fn run(&mut self, input: &[u8], out: &mut dyn Sink) -> usize {
        if let Some(c) = self.login.take() {
            self.verify(c, out).await;
            return 0;
        }
        let Some(n) = self.ready.take() else {
            return 0;
        };
        let Some(bytes) = input.get(..n) else {
            return 0;
        };
        let m = &self.ctx.metrics().imap;
        m.commands.fetch_add(1, Relaxed);
        let flow = match command::parse(bytes, self.receiver.options()) {
            Ok(cmd) => {
                let flow = self.session.handle(cmd, now_secs(), out).await;
                if self.session.take_refused_plaintext() {
                    auth::refused_plaintext(self.ctx, Proto::Imap, self.peer.ip());
                }
                flow
            }
            // The receiver parsed it already; a second parse cannot differ.
            Err(f) => {
                m.bad_commands.fetch_add(1, Relaxed);
                self.session.bad_command(f.tag, f.error.reason(), out)
            }
        };
        if let Some(step) = self.flow(flow) {
            if step == Step::Work {
                // A login to verify: the next feed asks for it before reading on.
                self.then = Some(Step::Work);
            } else {
                self.then = Some(step);
            }
        }
        n
    }
}

impl Protocol for Imap<'_> {
    fn feed(&mut self, input: &[u8], out: &mut Out) -> (usize, Step) {
        if let Some(step) = self.then.take() {
            return (0, step);
        }
        let m = &self.ctx.metrics().imap;
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.mode {
                Mode::Idle => match raw::idle_input(rest) {
                    IdleInput::Done { used: n } => {
                        used += n;
                        let flow = self.session.idle_done(out);
                        if let Some(step) = self.flow(flow) {
                            return (used, step);
                        }
                    }
                    IdleInput::Other { used: n } | IdleInput::TooLong { skip: n } => {
                        used += n;
                        m.bad_commands.fetch_add(1, Relaxed);
                        let flow = self.session.idle_bad(out);
                        if let Some(step) = self.flow(flow) {
                            return (used, step);
                        }
                    }
                    IdleInput::NeedMore => return (used, Step::NeedInput),
                },
                Mode::AuthLine => {
                    let (line, n): (&[u8], usize) = match raw::auth_input(rest) {
                        AuthInput::Response { base64, used: n } => (base64, n),
                        AuthInput::Cancel { used: n } => (b"*", n),
                        // Not base64: the session says so.
                        AuthInput::Invalid { used: n } => (b"!", n),
                        AuthInput::TooLong { skip } => (b"!", skip),
                        AuthInput::NeedMore => return (used, Step::NeedInput),
                    };
                    used += n;
                    self.mode = Mode::Commands;
                    let flow = self.session.auth_line(line, out);
                    if let Some(step) = self.flow(flow) {
                        return (used, step);
                    }
                }
                Mode::Commands => match self.receiver.receive(rest) {
                    Frame::Command { used: n, .. } => {
                        // Executed in `work`, parsed again there in place (a command's parse is
                        // cheap; a literal is not scanned).
                        self.ready = Some(n);
                        self.in_literal = false;
                        return (used, Step::Work);
                    }
                    Frame::NeedMore { min_len } => {
                        self.in_literal = min_len > rest.len() + 1;
                        return (used, Step::NeedInput);
                    }
                    Frame::Continue => {
                        // RFC 9051 7.5: the client sends a synchronizing literal after this.
                        out.extend_from_slice(b"+ Ready for literal data\r\n");
                        self.in_literal = true;
                        return (used, Step::NeedInput);
                    }
                    Frame::Reject {
                        tag,
                        error,
                        no,
                        skip,
                    } => {
                        m.bad_commands.fetch_add(1, Relaxed);
                        // `tag BAD [code] reason`, or NO for a synchronizing literal refused before
                        // it is sent (RFC 7888 4); the code goes out as a code, not as text.
                        let code = error.code().map(|c| c.as_str());
                        let flow = self.session.rejected(tag, code, error.reason(), no, out);
                        used += skip;
                        if flow == Flow::Close {
                            m.too_many_errors.fetch_add(1, Relaxed);
                        }
                        if let Some(step) = self.flow(flow) {
                            return (used, step);
                        }
                    }
                    Frame::Skip(n) => used += n,
                },
            }
        }
    }

    async fn work(&mut self, input: &[u8], out: &mut Out) -> usize {
        self.run(input, out).await
    }

    async fn work_streamed(&mut self, input: &[u8], out: &mut Output<'_>) -> usize {
        self.run(input, out).await
    }

    async fn event(&mut self) {
        match (self.mode, self.feed.as_mut()) {
            (Mode::Idle, Some(feed)) => {
                if !feed.changed().await {
                    // The account is gone or its owner stopped: one last report, then no more waits.
                    self.feed = None;
                }
                self.changed = true;
            }
            _ => future::pending::<()>().await,
        }
    }

    async fn on_event(&mut self, out: &mut Out) {
        if std::mem::take(&mut self.changed) {
            let flow = self.session.idle_changed(out);
            if let Some(step) = self.flow(flow) {
                self.then = Some(step);
            }
        }
    }

    fn flush_before_work(&self) -> bool {
        // Replies to pipelined commands go out together, except before a password check (tens of
        // milliseconds on another thread). An APPEND's group commit is a few ms: not worth a write.
        self.login.is_some()
    }

    fn phase(&self) -> Phase {
        if self.in_literal {
            Phase::Transfer
        } else {
            Phase::Command
        }
    }

    fn at_command_start(&self) -> bool {
        !self.in_literal
    }

    fn in_transaction(&self) -> bool {
        // An APPEND's literal on its way: let it finish within the shutdown grace period.
        self.in_literal
    }

    fn timed_out(&mut self, out: &mut Out) {
        self.session.timed_out(out);
    }

    fn shutting_down(&mut self, out: &mut Out) {
        self.session.shutting_down(out);
    }
}
