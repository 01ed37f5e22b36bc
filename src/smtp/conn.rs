//! The SMTP shell: connects the sans-io [`Session`] to the shard (account directory, admission of new
//! transactions, password checks, durable delivery, metrics) and runs it on the connection driver,
//! which owns the socket, buffers, time limits and shutdown. Two listeners run it: MX (`[smtp]`) and
//! message submission (`[submission]`, RFC 6409: AUTH required, relaying for the authenticated).

use std::cell::Cell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Instrument;

use super::session::{
    rfc5322_date, Action, Admission, AuthOutcome, Delivery, Directory, Link, Lookup, Session,
    SessionConfig,
};
use crate::accounts::Accounts;
use crate::config::Config;
use crate::net::auth::{self, Proto, Verdict};
use crate::net::driver::{Driver, End, Phase, Protocol, Step, Timeouts};
use crate::net::out::Out;
use crate::net::starttls;
use crate::net::stream::Conn;
use crate::shard::{deliver, ShardCtx};

/// The session settings of both SMTP listeners, built once per shard from the config.
pub struct Settings {
    pub mx: Arc<SessionConfig>,
    pub submission: Arc<SessionConfig>,
    /// Accounts that may use any MAIL FROM on submission (normalized).
    pub any_sender: BTreeSet<String>,
}

impl Settings {
    pub fn new(c: &Config) -> Settings {
        let mx = SessionConfig {
            hostname: c.hostname.clone(),
            max_line: c.smtp.max_line,
            max_message_size: c.smtp.max_message_size,
            max_recipients: c.smtp.max_recipients,
            max_errors: c.smtp.max_errors,
            submission: false,
        };
        let submission = SessionConfig {
            submission: true,
            ..mx.clone()
        };
        Settings {
            mx: Arc::new(mx),
            submission: Arc::new(submission),
            // Validated at load; an address that does not normalize names no account.
            any_sender: c
                .submission
                .allow_any_sender
                .iter()
                .filter_map(|a| crate::accounts::normalize(a).ok())
                .collect(),
        }
    }
}

/// The account directory as a session sees it, with the shard answering admission.
struct ShellDirectory<'a> {
    accounts: &'a Accounts,
    ctx: &'a ShardCtx,
    /// The declared size of the transaction just admitted: counted as in flight from MAIL on, so
    /// pipelined transactions arriving together cannot all pass the budget before their bodies come.
    reserved: &'a Cell<usize>,
}

impl Directory for ShellDirectory<'_> {
    fn lookup(&self, address: &str) -> Lookup {
        self.accounts.lookup(address)
    }

    fn may_send_as(&self, account: &str, from: &str) -> bool {
        self.ctx.smtp.any_sender.contains(account) || self.accounts.sends_as(account, from)
    }

    fn postmaster(&self) -> Option<String> {
        self.accounts.postmaster()
    }

    fn admit(&self, size: u64) -> Admission {
        let a = self.ctx.admit_transaction(size);
        if a == Admission::Yes {
            self.reserved
                .set(usize::try_from(size).unwrap_or(usize::MAX));
        }
        a
    }
}

/// The driver's time limits for SMTP, from the config.
pub fn timeouts(ctx: &ShardCtx) -> Timeouts {
    let c = &ctx.shared.config.smtp;
    Timeouts {
        command: Duration::from_secs(c.idle_timeout),
        transfer_idle: Duration::from_secs(c.command_timeout),
        transfer: Duration::from_secs(c.transfer_timeout),
        write: Duration::from_secs(c.write_timeout),
    }
}

/// Serves one connection of the MX listener to its end.
pub async fn serve(ctx: Rc<ShardCtx>, stream: Conn, peer: SocketAddr) {
    let span = tracing::debug_span!("smtp", shard = ctx.id, %peer);
    run(ctx, stream, peer, false).instrument(span).await
}

/// Serves one connection of the submission listener to its end: the client must authenticate.
pub async fn serve_submission(ctx: Rc<ShardCtx>, stream: Conn, peer: SocketAddr) {
    let span = tracing::debug_span!("submission", shard = ctx.id, %peer);
    run(ctx, stream, peer, true).instrument(span).await
}

async fn run(ctx: Rc<ShardCtx>, stream: Conn, peer: SocketAddr, submission: bool) {
    // STARTTLS is offered when a certificate is configured (RFC 3207); smtps arrives over TLS.
    let tls = stream.is_tls();
    let link = Link {
        tls,
        starttls: ctx.tls().is_some(),
        plaintext_auth: auth::plaintext_allowed(&ctx.shared.config.auth, peer.ip(), tls),
    };
    let cfg = if submission {
        ctx.smtp.submission.clone()
    } else {
        ctx.smtp.mx.clone()
    };
    let mut driver = Driver::new(stream, timeouts(&ctx), ctx.shutdown.clone());
    let session = Session::on_link(cfg, peer.ip().to_string(), link, driver.out());
    let mut smtp = Smtp {
        ctx: &ctx,
        session,
        peer,
        held: 0,
        reserved: Cell::new(0),
    };
    let mut end = driver.run(&mut smtp).await;
    while matches!(end, End::Upgrade) {
        // STARTTLS answered 220: the handshake, with the plaintext pipelined behind the command
        // discarded unread (RFC 3207 4.2, in `net::starttls`); then the session forgets everything
        // said before it (RFC 3207 4.2: EHLO again, no AUTH or transaction kept).
        let Some(upgraded) = starttls::upgrade(&ctx, Proto::Smtp, driver).await else {
            // The handshake failed or timed out; the stream is closed.
            smtp.settled();
            smtp.release_memory();
            return;
        };
        driver = upgraded;
        smtp.session.tls_started();
        end = driver.run(&mut smtp).await;
    }
    smtp.settled();
    smtp.release_memory();
    let m = ctx.metrics();
    match &end {
        End::ReadTimeout => {
            m.read_timeouts.fetch_add(1, Relaxed);
        }
        End::WriteTimeout => {
            m.write_timeouts.fetch_add(1, Relaxed);
            tracing::info!("peer did not read its replies within the write timeout; closed");
        }
        _ => {}
    }
    tracing::debug!(?end, "session ended");
    let _ = futures_lite::future::or(
        futures_lite::AsyncWriteExt::close(driver.stream_mut()),
        async {
            glommio::timer::sleep(Duration::from_secs(1)).await;
            Ok(())
        },
    )
    .await;
}

/// An SMTP session with its effects on the shard.
struct Smtp<'a> {
    ctx: &'a Rc<ShardCtx>,
    session: Session,
    peer: SocketAddr,
    /// Body bytes this session counts against the shard's in-flight budget.
    held: usize,
    /// The SIZE declared by the open transaction (RFC 1870), counted until the transaction ends.
    reserved: Cell<usize>,
}

impl Smtp<'_> {
    /// Brings the shard's in-flight count in line with what the session's body buffer holds now.
    fn account_memory(&mut self) {
        // Between transactions the (small, bounded) buffer a session keeps is not mail in flight.
        let now = if self.session.in_transaction() {
            self.session.body_capacity().max(self.reserved.get())
        } else {
            self.reserved.set(0);
            0
        };
        if now != self.held {
            self.ctx.add_inflight(now as i64 - self.held as i64);
            self.held = now;
        }
    }

    fn release_memory(&mut self) {
        self.ctx.add_inflight(-(self.held as i64));
        self.held = 0;
    }

    /// Checks a password off the shard (`net::auth::login`: the verifier threads, the per-address
    /// block and growing delay across shards, logs and metrics).
    async fn authenticate(&mut self, user: String, password: String) -> AuthOutcome {
        match auth::login(self.ctx, Proto::Smtp, self.peer.ip(), user, password).await {
            Verdict::Ok { account } => AuthOutcome::Ok(account),
            Verdict::Failed => AuthOutcome::Failed,
            // RFC 4954 6: 454 4.7.0, a temporary failure: the address is blocked for a while.
            Verdict::Blocked { .. } => AuthOutcome::Unavailable,
        }
    }
}

impl Protocol for Smtp<'_> {
    fn feed(&mut self, input: &[u8], out: &mut Out) -> (usize, Step) {
        let accounts = self.ctx.accounts();
        let dir = ShellDirectory {
            accounts: &accounts,
            ctx: self.ctx,
            reserved: &self.reserved,
        };
        let (used, action) = self.session.feed(input, &dir, out);
        self.account_memory();
        let step = match action {
            Action::NeedInput => Step::NeedInput,
            Action::Deliver | Action::Authenticate => Step::Work,
            Action::Close => Step::Close,
            Action::StartTls => Step::Upgrade,
        };
        (used, step)
    }

    async fn work(&mut self, _input: &[u8], out: &mut Out) -> usize {
        // Credentials waiting mean AUTH asked for the work; otherwise a message is complete.
        if let Some(c) = self.session.take_credentials() {
            let outcome = self.authenticate(c.user, c.password).await;
            self.session.auth_done(outcome, out);
            return 0;
        }
        let outcome = store(self.ctx, &self.session).await;
        self.session.delivered(outcome, out);
        self.account_memory();
        0
    }

    fn phase(&self) -> Phase {
        if self.session.in_transfer() {
            Phase::Transfer
        } else {
            Phase::Command
        }
    }

    fn at_command_start(&self) -> bool {
        self.session.between_commands()
    }

    fn in_transaction(&self) -> bool {
        self.session.in_transaction()
    }

    fn timed_out(&mut self, out: &mut Out) {
        self.session.timeout(out);
    }

    fn shutting_down(&mut self, out: &mut Out) {
        self.session.shutdown(out);
    }

    fn settled(&mut self) {
        for _ in 0..self.session.take_plaintext_refusals() {
            auth::refused_plaintext(self.ctx, Proto::Smtp, self.peer.ip());
        }
        let counts = self.session.take_reply_counts();
        let m = self.ctx.metrics();
        for (slot, n) in m.replies.iter().zip(counts) {
            if n > 0 {
                slot.fetch_add(n, Relaxed);
            }
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
    match deliver::deliver(
        ctx,
        &[trace.as_bytes(), body],
        &env.from,
        &env.recipients,
        &env.remote,
        now,
    )
    .await
    {
        Ok(_) => {
            ctx.storage_ok();
            let m = ctx.metrics();
            m.messages_accepted.fetch_add(1, Relaxed);
            m.bytes_accepted
                .fetch_add((trace.len() + body.len()) as u64, Relaxed);
            // Debug, not info: one line per message went through the log writer on every shard
            // (issue 9: logging must never pace ingest); the counters above keep the totals.
            tracing::debug!(id = %id, from = %env.from, rcpts = env.recipients.len(), remote = env.remote.len(), size = body.len(), "accepted");
            Delivery::Stored { id }
        }
        Err(e) if e.is_disk_full() => {
            ctx.storage_full();
            tracing::error!(error = %e, "delivery failed: disk full");
            Delivery::DiskFull
        }
        Err(e) => {
            tracing::error!(error = %e, "delivery failed");
            Delivery::Failed
        }
    }
}
