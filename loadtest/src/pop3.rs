//! The POP3 load (RFC 1939): each connection logs in as the next user of the pattern, STAT, UIDL, RETR
//! every message (optionally DELE), QUIT; then again as the next user until the run ends. An operation
//! is one RETR; its bytes are the message's.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connect::Endpoint;
use crate::pattern::Pattern;
use crate::runner::{connect_counted, fail, Shared};
use crate::stats::Stats;
use crate::wire::{kind, Wire};

#[derive(Clone)]
pub struct Pop3Opts {
    pub target: Endpoint,
    pub connections: usize,
    pub users: Pattern,
    pub password: String,
    pub dele: bool,
    pub timeout: Duration,
}

fn ok(line: &[u8]) -> bool {
    line.starts_with(b"+OK")
}

pub async fn connection(c: usize, opts: Arc<Pop3Opts>, shared: Arc<Shared>) -> Stats {
    let mut st = Stats::default();
    let mut round = 0u64;
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
        match session(&mut w, &user, &opts, &shared, &mut st).await {
            Ok(retrieved) => {
                if retrieved == 0 {
                    // An empty maildrop: do not spin.
                    glommio::timer::sleep(Duration::from_millis(20)).await;
                }
            }
            Err(e) => fail(&mut st, &shared, kind(&e)),
        }
        w.close().await;
    }
    st
}

async fn cmd(w: &mut Wire, line: &str) -> std::io::Result<bool> {
    w.send(line.as_bytes()).await?;
    Ok(ok(w.line().await?))
}

async fn session(
    w: &mut Wire,
    user: &str,
    opts: &Pop3Opts,
    shared: &Shared,
    st: &mut Stats,
) -> std::io::Result<u64> {
    if !ok(w.line().await?) {
        fail(st, shared, "-ERR greeting");
        return Ok(0);
    }
    if !cmd(w, &format!("USER {user}\r\n")).await? {
        fail(st, shared, "-ERR login");
        return Ok(0);
    }
    w.send(format!("PASS {}\r\n", opts.password).as_bytes())
        .await?;
    let pass = w.line().await?;
    if !ok(pass) {
        // RFC 2449 8.1.2: another session (another connection of this run) holds the maildrop.
        let why = if pass.starts_with(b"-ERR [IN-USE]") {
            "-ERR [IN-USE]"
        } else {
            "-ERR login"
        };
        fail(st, shared, why);
        return Ok(0);
    }
    w.send(b"STAT\r\n").await?;
    let stat = w.line().await?.to_vec();
    let n: u64 = if ok(&stat) {
        String::from_utf8_lossy(&stat)
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0)
    } else {
        fail(st, shared, "-ERR STAT");
        0
    };
    w.send(b"UIDL\r\n").await?;
    if ok(w.line().await?) {
        w.skip_dot_terminated().await?;
    } else {
        fail(st, shared, "-ERR UIDL");
    }
    let mut done = 0;
    for i in 1..=n {
        if !shared.claim() {
            break;
        }
        let t = Instant::now();
        w.send(format!("RETR {i}\r\n").as_bytes()).await?;
        if !ok(w.line().await?) {
            fail(st, shared, "-ERR RETR");
            continue;
        }
        let bytes = w.skip_dot_terminated().await?;
        st.record(shared.start.elapsed(), t.elapsed(), bytes);
        shared.done.fetch_add(1, Relaxed);
        done += 1;
        if opts.dele && !cmd(w, &format!("DELE {i}\r\n")).await? {
            fail(st, shared, "-ERR DELE");
        }
    }
    if !cmd(w, "QUIT\r\n").await? {
        fail(st, shared, "-ERR QUIT");
    }
    Ok(done)
}
