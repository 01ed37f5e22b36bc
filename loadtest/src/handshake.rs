//! `loadtest handshake`: a storm of new connections. One operation is a whole connection setup: TCP
//! connect, the TLS handshake (full: no resumption unless asked), or STARTTLS and then the handshake,
//! the greeting, and one command answered over the protected connection (SMTP NOOP, IMAP NOOP, POP3
//! CAPA: valid before login), which proves the server finished its side of the handshake; then the
//! connection is closed (close_notify, then FIN) and the next one opened. Without --tls/--starttls it
//! measures plain connection setup.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connect::{Endpoint, Proto};
use crate::runner::{fail, Shared};
use crate::stats::Stats;
use crate::wire::{kind, Wire};

pub async fn connection(target: Arc<Endpoint>, timeout: Duration, shared: Arc<Shared>) -> Stats {
    let mut st = Stats::default();
    while shared.claim() {
        let t = Instant::now();
        let mut w = match target.open(timeout).await {
            Ok(w) => w,
            Err(e) => {
                st.connections_failed += 1;
                fail(&mut st, &shared, format!("connect {}", kind(&e)));
                // A refusing server is not hammered in a tight loop.
                glommio::timer::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        match greeting(&mut w, target.proto).await {
            Ok(true) => {
                st.record(shared.start.elapsed(), t.elapsed(), 0);
                shared.done.fetch_add(1, Relaxed);
            }
            Ok(false) => fail(&mut st, &shared, "greeting"),
            Err(e) => fail(&mut st, &shared, kind(&e)),
        }
        w.close().await;
    }
    st
}

/// Reads the greeting (after STARTTLS: the one replayed from before the handshake) and makes one round
/// trip; true if both are the protocol's "ready" / "OK".
async fn greeting(w: &mut Wire, proto: Proto) -> std::io::Result<bool> {
    Ok(match proto {
        Proto::Smtp => {
            if w.smtp_reply().await? != 220 {
                return Ok(false);
            }
            // RFC 5321 4.1.1.9: NOOP is valid in any state.
            w.send(b"NOOP\r\n").await?;
            w.smtp_reply().await? == 250
        }
        Proto::Imap => {
            if !w.line().await?.starts_with(b"* OK") {
                return Ok(false);
            }
            // RFC 9051 6.1.2: NOOP in any state.
            w.send(b"h NOOP\r\n").await?;
            crate::imap::response(w, "h", false).await?.status == "OK"
        }
        Proto::Pop3 => {
            if !w.line().await?.starts_with(b"+OK") {
                return Ok(false);
            }
            // RFC 2449 5: CAPA in any state (NOOP is for the TRANSACTION state only).
            w.send(b"CAPA\r\n").await?;
            if !w.line().await?.starts_with(b"+OK") {
                return Ok(false);
            }
            w.skip_dot_terminated().await?;
            true
        }
    })
}
