//! `loadtest imap --scenario idle`: delivery-to-notification latency. Watchers log in as distinct users,
//! SELECT INBOX and wait in IDLE (RFC 2177); senders deliver to those users over SMTP at a fixed rate.
//! An operation is one new message announced by `* N EXISTS` (RFC 9051 7.4.1), timed from the moment its
//! sender wrote the message's last bytes to the moment the watcher read the announcement: the server's
//! durable commit, its delivery, and its IDLE push, as a mail client sees them.
//!
//! Matching announcements to messages needs no parsing of the message: at most one message per user is
//! in flight at a time, so each user's announcements arrive in the order its messages were sent, and a
//! FIFO of send times per user pairs them. Mail from elsewhere to the same users would be miscounted
//! (reported as "EXISTS without a sent message").

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::connect::Endpoint;
use crate::imap::{open_inbox, response, untagged_count, ImapOpts, Tags};
use crate::message::{self, Corpus, Rng};
use crate::runner::{connect_counted, fail, Pace, Shared};
use crate::smtp::{data_text, pipelined_envelope};
use crate::stats::Stats;
use crate::wire::{kind, Wire};

pub struct NotifyOpts {
    /// Watchers: `imap.connections` of them, watcher c logs in as `imap.users.get(c)`.
    pub imap: ImapOpts,
    /// The SMTP server delivering to the watchers (in plaintext: the watchers' side is measured).
    pub smtp_target: Endpoint,
    pub senders: usize,
    /// Messages per second over all senders.
    pub rate: f64,
    pub size: usize,
    pub from: String,
    /// Makes Message-IDs unique across runs.
    pub run_id: u64,
}

/// One watched user: whether its watcher is in IDLE, whether a message to it is in flight, and the send
/// times of its messages not yet announced, oldest first.
#[derive(Default)]
struct Slot {
    ready: bool,
    busy: bool,
    sent: VecDeque<Instant>,
}

/// What watchers and senders share.
pub struct Board {
    slots: Vec<Mutex<Slot>>,
    senders_left: AtomicUsize,
    /// When the last sender ended (the watchers then wait up to the timeout for what is in flight).
    senders_ended: Mutex<Option<Instant>>,
}

impl Board {
    pub fn new(watchers: usize, senders: usize) -> Arc<Board> {
        Arc::new(Board {
            slots: (0..watchers).map(|_| Mutex::default()).collect(),
            senders_left: AtomicUsize::new(senders),
            senders_ended: Mutex::new(None),
        })
    }

    fn slot(&self, u: usize) -> MutexGuard<'_, Slot> {
        // A panic while holding a slot would end the run anyway; the data stays consistent.
        self.slots[u].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sender_ended(&self) {
        if self.senders_left.fetch_sub(1, Relaxed) == 1 {
            *self.senders_ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }

    fn senders_ended(&self) -> Option<Instant> {
        *self.senders_ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ready(&self) -> usize {
        (0..self.slots.len())
            .filter(|&u| self.slot(u).ready)
            .count()
    }

    /// Takes a user whose watcher is in IDLE and who has no message in flight, starting at `from`.
    fn take_user(&self, from: usize) -> Option<usize> {
        let n = self.slots.len();
        (0..n).map(|i| (from + i) % n).find(|&u| {
            let mut s = self.slot(u);
            if s.ready && !s.busy {
                s.busy = true;
                true
            } else {
                false
            }
        })
    }
}

/// Connection `c` of the run: watchers first, then senders.
pub async fn connection(
    c: usize,
    opts: Arc<NotifyOpts>,
    board: Arc<Board>,
    shared: Arc<Shared>,
) -> Stats {
    if c < opts.imap.connections {
        watcher(c, &opts, &board, &shared).await
    } else {
        let st = sender(c - opts.imap.connections, &opts, &board, &shared).await;
        board.sender_ended();
        st
    }
}

/// Why a watcher's IDLE ended.
enum Idle {
    /// Every message sent to this user was announced, or the run was interrupted.
    Finished,
    /// Messages were still unannounced when the wait ran out.
    TimedOut,
}

async fn watcher(c: usize, opts: &NotifyOpts, board: &Board, shared: &Shared) -> Stats {
    let mut st = Stats::default();
    let user = opts.imap.users.get(c as u64);
    loop {
        if shared.interrupted() || finished(board, c, opts.imap.timeout).is_some() {
            break;
        }
        let Some(mut w) = connect_counted(
            &opts.imap.target,
            opts.imap.timeout,
            &mut st,
            shared,
            Duration::from_millis(200),
        )
        .await
        else {
            continue;
        };
        let end = watch(&mut w, c, &user, opts, board, shared, &mut st).await;
        unready(board, c, &mut st, shared).await;
        w.close().await;
        match end {
            Ok(_) => break,
            Err(e) => {
                fail(&mut st, shared, format!("imap {}", kind(&e)));
                glommio::timer::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    st
}

/// Some(why) once this watcher may stop: the senders are done and its user has nothing unannounced, or
/// the wait for what is unannounced has lasted `timeout` past the senders' end.
fn finished(board: &Board, u: usize, timeout: Duration) -> Option<Idle> {
    let ended = board.senders_ended()?;
    if board.slot(u).sent.is_empty() {
        Some(Idle::Finished)
    } else if ended.elapsed() >= timeout {
        Some(Idle::TimedOut)
    } else {
        None
    }
}

/// Takes the watcher out of the senders' choice (waiting for a message in flight to be answered) and
/// counts what it will now never see announced.
async fn unready(board: &Board, u: usize, st: &mut Stats, shared: &Shared) {
    loop {
        {
            let mut s = board.slot(u);
            s.ready = false;
            if !s.busy {
                for _ in s.sent.drain(..) {
                    fail(st, shared, "notification not seen");
                }
                return;
            }
        }
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

async fn watch(
    w: &mut Wire,
    u: usize,
    user: &str,
    opts: &NotifyOpts,
    board: &Board,
    shared: &Shared,
    st: &mut Stats,
) -> std::io::Result<Idle> {
    let mut tags = Tags::default();
    let Some(mut count) = open_inbox(w, user, &opts.imap.password, &mut tags, st, shared).await?
    else {
        // Refused (counted): this watcher gives up; senders leave its user alone.
        return Ok(Idle::Finished);
    };
    let t = tags.next();
    w.send(format!("{t} IDLE\r\n").as_bytes()).await?;
    // RFC 2177: the server answers with a continuation request, then pushes untagged responses.
    loop {
        let line = w.line().await?;
        if line.starts_with(b"+") {
            break;
        }
        if line.starts_with(t.as_bytes()) {
            fail(st, shared, "IDLE refused");
            return Ok(Idle::Finished);
        }
    }
    board.slot(u).ready = true;
    // Short reads, so the end of the run is noticed while no announcement comes.
    w.set_read_timeout(Duration::from_millis(100));
    let end = loop {
        if shared.interrupted() {
            break Idle::Finished;
        }
        if let Some(end) = finished(board, u, opts.imap.timeout) {
            break end;
        }
        let line = match w.line().await {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if let Some(n) = untagged_count(line, b"EXISTS") {
            if n > count {
                announce(board, u, n - count, now, shared, st);
            }
            count = n;
        } else if untagged_count(line, b"EXPUNGE").is_some() {
            count = count.saturating_sub(1);
        } else if line.starts_with(b"* BYE") {
            return Err(std::io::Error::other("server said BYE in IDLE"));
        }
    };
    if let Idle::TimedOut = end {
        for _ in board.slot(u).sent.drain(..) {
            fail(st, shared, "notification timeout");
        }
    }
    w.set_read_timeout(opts.imap.timeout);
    w.send(b"DONE\r\n").await?;
    if response(w, &t, false).await?.status != "OK" {
        fail(st, shared, "IDLE DONE not OK");
    }
    let t = tags.next();
    w.send(format!("{t} LOGOUT\r\n").as_bytes()).await?;
    let _ = response(w, &t, false).await;
    Ok(end)
}

/// `new` messages announced at `now` to user `u`: each is timed from its send.
fn announce(board: &Board, u: usize, new: u32, now: Instant, shared: &Shared, st: &mut Stats) {
    let mut s = board.slot(u);
    for _ in 0..new {
        match s.sent.pop_front() {
            Some(sent) => {
                st.record(
                    now.duration_since(shared.start),
                    now.saturating_duration_since(sent),
                    0,
                );
                shared.done.fetch_add(1, Relaxed);
            }
            None => fail(st, shared, "EXISTS without a sent message"),
        }
    }
}

async fn sender(k: usize, opts: &NotifyOpts, board: &Board, shared: &Shared) -> Stats {
    let mut st = Stats::default();
    let corpus = Corpus::new(opts.size + 4096, k as u64 + 1000);
    let mut rng = Rng::new(k as u64 + 7919);
    let mut seq = 0u64;
    let mut backoff = Duration::from_millis(50);
    // Nothing is sent before every watcher is in IDLE, or the timeout has passed (then to those that are).
    let t = Instant::now();
    while board.ready() < board.slots.len() && t.elapsed() < opts.imap.timeout {
        if shared.stopped() {
            return st;
        }
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    let mut pace = Pace::new(Instant::now(), opts.rate, opts.senders, k);
    while !shared.stopped() {
        let Some(mut w) = connect_counted(
            &opts.smtp_target,
            opts.imap.timeout,
            &mut st,
            shared,
            backoff,
        )
        .await
        else {
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        };
        backoff = Duration::from_millis(50);
        let r = send_loop(
            &mut w, k, opts, board, shared, &mut st, &corpus, &mut rng, &mut pace, &mut seq,
        )
        .await;
        if let Err(e) = r {
            fail(&mut st, shared, format!("smtp {}", kind(&e)));
        } else {
            let _ = w.send(b"QUIT\r\n").await;
            let _ = w.smtp_reply().await;
        }
        w.close().await;
    }
    st
}

#[allow(clippy::too_many_arguments)]
async fn send_loop(
    w: &mut Wire,
    k: usize,
    opts: &NotifyOpts,
    board: &Board,
    shared: &Shared,
    st: &mut Stats,
    corpus: &Corpus,
    rng: &mut Rng,
    pace: &mut Pace,
    seq: &mut u64,
) -> std::io::Result<()> {
    let greet = w.smtp_reply().await?;
    w.send(b"EHLO loadtest.invalid\r\n").await?;
    let ehlo = w.smtp_reply().await?;
    if greet != 220 || ehlo != 250 {
        fail(
            st,
            shared,
            format!("smtp {}", if greet != 220 { greet } else { ehlo }),
        );
        return Err(std::io::Error::other("SMTP greeting or EHLO refused"));
    }
    let mut msg = Vec::with_capacity(opts.size + 1024);
    let mut cmds = Vec::with_capacity(256);
    loop {
        pace.wait().await;
        // Every arrival takes one from the count, sent or skipped, so a count-bound run always ends.
        if !shared.claim() {
            return Ok(());
        }
        let Some(u) = board.take_user((rng.next_u64() % board.slots.len() as u64) as usize) else {
            fail(
                st,
                shared,
                "skipped: every watched user has a message in flight",
            );
            continue;
        };
        let to = [opts.imap.users.get(u as u64)];
        message::build(
            &mut msg,
            corpus,
            opts.size,
            &opts.from,
            &to,
            opts.run_id,
            k as u64,
            *seq,
        );
        *seq += 1;
        cmds.clear();
        cmds.extend_from_slice(
            format!(
                "MAIL FROM:<{}> SIZE={}\r\nRCPT TO:<{}>\r\n",
                opts.from,
                msg.len(),
                to[0]
            )
            .as_bytes(),
        );
        let r = async {
            if !pipelined_envelope(w, &mut cmds, 1, st, shared).await? {
                return Ok(false);
            }
            // The clock starts before the last bytes leave: the announcement cannot come earlier.
            board.slot(u).sent.push_back(Instant::now());
            let ok = data_text(w, &mut msg, st, shared).await?;
            if !ok {
                board.slot(u).sent.pop_back();
            }
            Ok::<_, std::io::Error>(ok)
        }
        .await;
        // A message whose reply was lost may still be delivered: its send time stays queued, and an
        // announcement that never comes is counted when the watcher gives up.
        board.slot(u).busy = false;
        r?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_taken_once_until_released() {
        let b = Board::new(3, 1);
        assert_eq!(b.take_user(0), None, "no watcher is ready yet");
        b.slot(1).ready = true;
        b.slot(2).ready = true;
        assert_eq!(b.take_user(0), Some(1));
        assert_eq!(b.take_user(0), Some(2));
        assert_eq!(b.take_user(0), None, "both in flight");
        b.slot(1).busy = false;
        assert_eq!(b.take_user(2), Some(1));
    }

    #[test]
    fn announcements_pair_with_send_times_in_order() {
        let shared = Shared::new(None, None);
        let b = Board::new(1, 1);
        let t0 = Instant::now();
        b.slot(0).sent.extend([t0, t0 + Duration::from_millis(10)]);
        let mut st = Stats::default();
        announce(&b, 0, 1, t0 + Duration::from_millis(30), &shared, &mut st);
        assert_eq!(st.ops, 1);
        assert_eq!(st.latency.max() / 1000, 30);
        announce(&b, 0, 2, t0 + Duration::from_millis(40), &shared, &mut st);
        assert_eq!(st.ops, 2);
        assert_eq!(st.errors.get("EXISTS without a sent message"), Some(&1));
        assert!(b.slot(0).sent.is_empty());
    }

    #[test]
    fn watchers_finish_when_senders_end_and_nothing_is_pending() {
        let b = Board::new(2, 2);
        let t = Duration::from_secs(60);
        assert!(finished(&b, 0, t).is_none(), "senders still running");
        b.sender_ended();
        assert!(finished(&b, 0, t).is_none(), "one sender still running");
        b.slot(1).sent.push_back(Instant::now());
        b.sender_ended();
        assert!(matches!(finished(&b, 0, t), Some(Idle::Finished)));
        assert!(finished(&b, 1, t).is_none(), "user 1 still waits");
        assert!(matches!(
            finished(&b, 1, Duration::ZERO),
            Some(Idle::TimedOut)
        ));
    }
}
