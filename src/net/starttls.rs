//! The STARTTLS step of every shell (IMAP STARTTLS, RFC 9051 6.2.1; POP3 STLS, RFC 2595 4; SMTP
//! STARTTLS, RFC 3207): after the protocol's "go ahead" went out, the TLS handshake on the same
//! stream, with the driver's buffers and time limits kept.
//!
//! The command-injection defence (RFC 3207 4.2, and the same attack on IMAP and POP3): whatever the
//! client sent after the command and before the handshake arrived in plaintext, so an attacker on
//! the path could have written it; it is thrown away, never run as if it came over TLS. Bytes still
//! in the socket when the handshake starts are read as TLS records and fail it. The session itself
//! starts over (the shells build a new one: nothing said before TLS is kept).

use std::sync::atomic::Ordering::Relaxed;

use super::auth::Proto;
use super::driver::{Driver, Parts};
use super::stream::Conn;
use crate::shard::ShardCtx;

/// Runs the handshake on `driver`'s stream and gives back a driver over TLS, with no input kept
/// from before it; `None` when the handshake failed or timed out (the stream is closed then).
pub async fn upgrade(ctx: &ShardCtx, proto: Proto, driver: Driver<Conn>) -> Option<Driver<Conn>> {
    let Parts {
        stream,
        pending,
        timeouts,
        shutdown,
    } = driver.into_parts();
    if !pending.is_empty() {
        ctx.metrics().auth.starttls_discarded[proto.index()].fetch_add(1, Relaxed);
        tracing::warn!(
            protocol = proto.name(),
            bytes = pending.len(),
            "input pipelined after STARTTLS discarded (RFC 3207 4.2)"
        );
    }
    drop(pending);
    match ctx.starttls(stream).await {
        Ok(stream) => Some(Driver::from_parts(Parts {
            stream,
            pending: Vec::new(),
            timeouts,
            shutdown,
        })),
        Err(e) => {
            tracing::info!(protocol = proto.name(), error = %e, "TLS handshake after STARTTLS failed");
            None
        }
    }
}
