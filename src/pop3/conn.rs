//! The POP3 shell: runs the sans-io [`Session`] on the connection driver, verifies logins off the
//! shard (failures delayed per client address, shared with IMAP), and after a login moves the
//! connection to the shard that owns the account (`shard::handoff`), where the maildrop is locked
//! (one POP3 session per maildrop: the lock set is the owner's, RFC 2449 8.1.2 `[IN-USE]`), read from
//! the log's mmap, and changed only in the UPDATE state (RFC 1939 6): every deletion at once,
//! durable before `+OK`. A connection that ends any other way deletes nothing.
//!
//! Time limit: `pop3.idle_timeout` in every state (RFC 1939 3 autologout, at least 10 minutes by
//! default); a session that times out closes without UPDATE.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_lite::future;
use tracing::Instrument;

use super::store::{Lock, Maildrop};
use super::{Config as SessionConfig, Credentials, Flow, Handoff, MaildropError, Session};
use crate::net::auth::{self, Link, Proto, Verdict};
use crate::net::driver::{Driver, End, Parts, Phase, Protocol, Step, Timeouts};
use crate::net::ip_limit::Slot;
use crate::net::out::Out;
use crate::net::starttls;
use crate::net::stream::Conn;
use crate::shard::handoff::{self, Moving};
use crate::shard::mesh::ShardMsg;
use crate::shard::ShardCtx;

type Drop = Maildrop<ShardCtx>;

/// What the shard's POP3 sessions share, built once from the config.
pub struct Settings {
    /// Session settings by [`Link`] (index [`Link::index`]): STLS, and whether USER/PASS and AUTH
    /// PLAIN are accepted, depend on TLS and the client's address (issue 12).
    sessions: [Arc<SessionConfig>; 8],
}

impl Settings {
    pub fn new(c: &crate::config::Config) -> Settings {
        let session = SessionConfig {
            greeting: format!("{} shardmail POP3 ready", c.hostname),
            max_line: c.pop3.max_line,
            // RFC 2449 6.8: what CAPA says is what `Pop3::lock` enforces.
            login_delay: u32::try_from(c.pop3.login_delay).unwrap_or(u32::MAX),
            ..SessionConfig::default()
        };
        let sessions = Link::ALL.map(|l| {
            Arc::new(SessionConfig {
                tls_active: l.tls_active,
                // RFC 2595 4: STLS only on a connection without TLS.
                stls: l.starttls && !l.tls_active,
                plaintext_login: l.plaintext_ok,
                ..session.clone()
            })
        });
        Settings { sessions }
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
    /// The account the credentials were verified for (its owner is the receiving shard).
    pub account: String,
}

fn timeouts(ctx: &ShardCtx) -> Timeouts {
    let c = &ctx.shared.config.pop3;
    let quiet = Duration::from_secs(c.idle_timeout);
    Timeouts {
        command: quiet,
        // POP3 clients send no bodies: the transfer limits are never used.
        transfer_idle: quiet,
        transfer: quiet,
        write: Duration::from_secs(c.write_timeout),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Counts a connection on a shard while it is there (shutdown waits for it; the gauge). The per-IP
/// slot travels with the connection and is released where it ends.
struct Here {
    ctx: Rc<ShardCtx>,
}

impl Here {
    fn new(ctx: &Rc<ShardCtx>) -> Here {
        ctx.open_inc();
        ctx.metrics().pop3.connections_open.fetch_add(1, Relaxed);
        Here { ctx: ctx.clone() }
    }
}

impl std::ops::Drop for Here {
    fn drop(&mut self) {
        self.ctx
            .metrics()
            .pop3
            .connections_open
            .fetch_sub(1, Relaxed);
        self.ctx.open_dec();
    }
}

/// Serves one accepted POP3 connection. `slot` is the connection's per-IP count.
pub async fn serve(ctx: Rc<ShardCtx>, stream: Conn, peer: SocketAddr, slot: Slot) {
    let span = tracing::debug_span!("pop3", shard = ctx.id, %peer);
    async move {
        let here = Here::new(&ctx);
        // Pipelined commands (RFC 2449 6.6) are answered together; single ones must not wait for
        // Nagle's algorithm to meet the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let link = Link::new(
            &ctx.shared.config.auth,
            peer.ip(),
            stream.is_tls(),
            ctx.tls().is_some(),
        );
        let mut driver = Driver::new(stream, timeouts(&ctx), ctx.shutdown.clone());
        let session = Session::new(ctx.pop3.session(link), driver.out());
        let p = Pop3::new(&ctx, session, peer);
        run(&ctx, driver, p, slot, here).await;
    }
    .instrument(span)
    .await
}

/// The owner's side of a handoff: adopts the socket, locks the maildrop and goes on here.
pub async fn arrive(ctx: Rc<ShardCtx>, a: Arrival) {
    let Arrival {
        conn,
        session,
        account,
    } = a;
    ctx.metrics().pop3.handoffs_in.fetch_add(1, Relaxed);
    let stream = handoff::adopt(conn.fd, conn.tls);
    let mut driver = Driver::from_parts(Parts {
        stream,
        pending: conn.pending,
        timeouts: timeouts(&ctx),
        shutdown: ctx.shutdown.clone(),
    });
    let peer = conn.peer;
    let span = tracing::debug_span!("pop3", shard = ctx.id, %peer);
    async move {
        tracing::debug!(
            micros = conn.since.elapsed().as_micros() as u64,
            "session arrived from the accepting shard"
        );
        let here = Here::new(&ctx);
        let mut p = Pop3::new(&ctx, session.resume(), peer);
        p.lock(account, driver.out()).await;
        run(&ctx, driver, p, conn.slot, here).await;
    }
    .instrument(span)
    .await
}

/// Drives the session until it ends here or moves to its account's owner.
async fn run(
    ctx: &Rc<ShardCtx>,
    mut driver: Driver<Conn>,
    mut p: Pop3<'_>,
    slot: Slot,
    here: Here,
) {
    let mut end = driver.run(&mut p).await;
    if matches!(end, End::Upgrade) {
        // STLS (RFC 2595 4): the handshake, then a new session that knows nothing of the
        // plaintext one; what the client sent after STLS is discarded unread (`net::starttls`).
        let Some(tls) = starttls::upgrade(ctx, Proto::Pop3, driver).await else {
            ctx.shared.pop3_per_ip.release(slot);
            return;
        };
        driver = tls;
        let peer = p.peer;
        let link = Link::new(&ctx.shared.config.auth, peer.ip(), true, true);
        p = Pop3::new(ctx, Session::after_stls(ctx.pop3.session(link)), peer);
        end = driver.run(&mut p).await;
    }
    let Pop3 {
        session,
        account,
        lock,
        ..
    } = p;
    // RFC 1939 6: whatever ended the session here, the maildrop is free again (an UPDATE already
    // released it before its +OK went out).
    drop(lock);
    let (End::Released, Some(account)) = (&end, account) else {
        finish(ctx, driver, end, slot).await;
        return;
    };
    let owner = ctx.owner(&account);
    let Some(state) = session.into_handoff() else {
        tracing::error!("released without a login to hand off");
        finish(ctx, driver, End::Done, slot).await;
        return;
    };
    let peer = driver
        .stream()
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let sent = handoff::send(
        ctx,
        owner,
        driver,
        peer,
        slot,
        |conn| {
            ShardMsg::Pop3(Box::new(Arrival {
                conn,
                session: state,
                account,
            }))
        },
        |msg| match msg {
            ShardMsg::Pop3(a) => a.conn,
            _ => unreachable!("a failed try_send gives back the Pop3 message it was given"),
        },
    );
    match sent {
        Ok(()) => tracing::debug!(owner, "session moved to its owner shard"),
        Err((mut driver, slot)) => {
            ctx.metrics().pop3.handoffs_failed.fetch_add(1, Relaxed);
            tracing::warn!(owner, "the owner shard did not take the session");
            // RFC 3206 4: a temporary condition; the client may try again.
            driver
                .out()
                .extend_from_slice(b"-ERR [SYS/TEMP] Server busy, try again later\r\n");
            let _ = driver.flush().await;
            finish(ctx, driver, End::Done, slot).await;
        }
    }
    drop(here);
}

/// Counts how the connection ended, closes it and gives back its per-IP slot.
async fn finish(ctx: &ShardCtx, mut driver: Driver<Conn>, end: End, slot: Slot) {
    match &end {
        End::ReadTimeout => {
            ctx.metrics().pop3.timeouts.fetch_add(1, Relaxed);
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
    ctx.shared.pop3_per_ip.release(slot);
}

/// What `work` does next.
enum Pending {
    Login(Credentials),
    /// RFC 1939 6 UPDATE: expunge these UIDs, then answer.
    Update(Vec<u32>),
    /// Nothing: the driver flushes a long RETR's output, then feeds again.
    Flush,
}

/// A POP3 session with its effects on the shard.
struct Pop3<'a> {
    ctx: &'a Rc<ShardCtx>,
    session: Session<Drop>,
    peer: SocketAddr,
    pending: Option<Pending>,
    /// The maildrop lock while in TRANSACTION.
    lock: Option<Lock>,
    /// A verified account owned by another shard: the session is released to move there.
    account: Option<String>,
    /// What the next `feed` returns before anything else (Close, Release).
    then: Option<Step>,
}

impl<'a> Pop3<'a> {
    fn new(ctx: &'a Rc<ShardCtx>, session: Session<Drop>, peer: SocketAddr) -> Pop3<'a> {
        Pop3 {
            ctx,
            session,
            peer,
            pending: None,
            lock: None,
            account: None,
            then: None,
        }
    }

    /// On the account's owner: locks the maildrop and opens it (TRANSACTION), or says why not.
    async fn lock(&mut self, account: String, out: &mut Out) {
        let m = &self.ctx.metrics().pop3;
        let locks = &self.ctx.pop3_locks;
        // The lock is taken before the maildrop is read, so two logins cannot both get in.
        let Some(lock) = locks.try_lock(&account) else {
            m.in_use.fetch_add(1, Relaxed);
            tracing::info!(%account, "maildrop in use by another POP3 session");
            self.session.in_use(out);
            return;
        };
        // RFC 2449 6.8: logins of one account at least LOGIN-DELAY seconds apart, counted from the
        // last +OK to a login. Checked after the password, so it tells a guesser nothing.
        let delay = Duration::from_secs(self.ctx.shared.config.pop3.login_delay);
        if locks.too_soon(&account, Instant::now(), delay) {
            m.login_delayed.fetch_add(1, Relaxed);
            tracing::info!(%account, "POP3 login within the login delay");
            self.session.login_delayed(out);
            return;
        }
        match Maildrop::open(self.ctx.clone(), &account, now_secs()).await {
            Ok(maildrop) => {
                locks.logged_in(&account, Instant::now(), delay);
                self.lock = Some(lock);
                self.session.locked(maildrop, out);
            }
            Err(e) => {
                tracing::error!(error = %e, %account, "cannot open the maildrop");
                self.session.unavailable(out);
            }
        }
    }

    /// Verifies a login off the shard (`net::auth::login`: the per-address block, the delay after
    /// a failure, logs and metrics).
    async fn verify(&mut self, c: Credentials, out: &mut Out) {
        let verdict = auth::login(self.ctx, Proto::Pop3, self.peer.ip(), c.user, c.password).await;
        let m = &self.ctx.metrics().pop3;
        let account = match verdict {
            Verdict::Ok { account } => account,
            Verdict::Failed => {
                m.logins_failed.fetch_add(1, Relaxed);
                self.session.login_failed(out);
                return;
            }
            Verdict::Blocked { .. } => {
                self.session.login_blocked(out);
                return;
            }
        };
        m.logins_ok.fetch_add(1, Relaxed);
        if self.ctx.owner(&account) == self.ctx.id {
            self.lock(account, out).await;
        } else {
            // The lock and the maildrop are the owner's: the session goes on there.
            self.account = Some(account);
            self.then = Some(Step::Release);
        }
    }

    /// RFC 1939 6: the deletions, all or none, durable before the reply; then the lock goes.
    async fn update(&mut self, uids: Vec<u32>, out: &mut Out) {
        let m = &self.ctx.metrics().pop3;
        let result = match self.session.maildrop() {
            Some(md) => md.expunge_uids(&uids).await,
            None => Err(MaildropError::Unavailable("no maildrop is locked".into())),
        };
        let result = match result {
            Ok(n) => {
                m.deleted.fetch_add(n as u64, Relaxed);
                Ok(())
            }
            Err(e) => {
                m.update_failures.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "UPDATE failed; nothing was deleted");
                Err(e)
            }
        };
        // Durable (or failed as a whole): another session may have the maildrop from here on.
        self.lock = None;
        let flow = self.session.updated(result, out);
        self.then = Some(self.step(flow));
    }

    /// The driver's next step for a session flow.
    fn step(&mut self, flow: Flow) -> Step {
        match flow {
            Flow::Ready => Step::NeedInput,
            Flow::Continue => {
                self.pending = Some(Pending::Flush);
                Step::Work
            }
            Flow::Login(c) => {
                self.pending = Some(Pending::Login(c));
                Step::Work
            }
            Flow::Update { delete } => {
                self.pending = Some(Pending::Update(delete));
                Step::Work
            }
            // `+OK` to STLS is written: flush it, then `run` starts TLS. The driver hands back what
            // was read after the command, to be discarded (RFC 3207 4.2's injection).
            Flow::StartTls => Step::Upgrade,
            Flow::Close => {
                self.lock = None;
                Step::Close
            }
        }
    }
}

impl Protocol for Pop3<'_> {
    fn feed(&mut self, input: &[u8], out: &mut Out) -> (usize, Step) {
        if let Some(step) = self.then.take() {
            return (0, step);
        }
        let (used, flow) = self.session.feed(input, out);
        if self.session.take_refused_plaintext() {
            auth::refused_plaintext(self.ctx, Proto::Pop3, self.peer.ip());
        }
        let counts = self.session.take_counts();
        let m = &self.ctx.metrics().pop3;
        m.commands.fetch_add(counts.commands, Relaxed);
        m.bad_commands.fetch_add(counts.bad, Relaxed);
        (used, self.step(flow))
    }

    async fn work(&mut self, _input: &[u8], out: &mut Out) -> usize {
        match self.pending.take() {
            Some(Pending::Login(c)) => self.verify(c, out).await,
            Some(Pending::Update(uids)) => self.update(uids, out).await,
            Some(Pending::Flush) | None => {}
        }
        0
    }

    fn phase(&self) -> Phase {
        Phase::Command
    }

    fn at_command_start(&self) -> bool {
        // The skipped head of an over-long line was taken from the buffer, but the line goes on: its
        // whole time counts against the command limit, however slowly it trickles in.
        !self.session.mid_line()
    }

    fn in_transaction(&self) -> bool {
        // A RETR half-written or an UPDATE under way: let it finish within the grace period.
        self.session.in_transaction() || matches!(self.pending, Some(Pending::Update(_)))
    }

    fn timed_out(&mut self, out: &mut Out) {
        self.session.timed_out(out);
    }

    fn shutting_down(&mut self, out: &mut Out) {
        self.session.shutting_down(out);
    }
}
