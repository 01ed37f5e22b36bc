//! TLS counters of one shard (issue 12), rendered beside the others at `GET /metrics`: handshakes
//! done, failed and cut by the time limit, and the time they took (wall clock, the peer's round
//! trips included), so an operator sees what TLS costs each shard.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::TlsError;
use crate::metrics::ShardMetrics;

#[derive(Default)]
pub struct TlsMetrics {
    pub handshakes: AtomicU64,
    pub handshake_micros: AtomicU64,
    pub failures: AtomicU64,
    pub timeouts: AtomicU64,
    /// Certificate reloads (SIGHUP) applied; counted on shard 0's row (the process did them).
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
}

impl TlsMetrics {
    /// Counts one handshake's outcome.
    pub fn handshake<T>(&self, r: &Result<T, TlsError>, took: Duration) {
        match r {
            Ok(_) => {
                self.handshakes.fetch_add(1, Relaxed);
                self.handshake_micros
                    .fetch_add(took.as_micros() as u64, Relaxed);
            }
            Err(TlsError::Timeout) => {
                self.timeouts.fetch_add(1, Relaxed);
            }
            Err(_) => {
                self.failures.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Writes the TLS rows of every shard.
pub fn render(out: &mut String, shards: &[ShardMetrics]) {
    type Get = fn(&TlsMetrics) -> &AtomicU64;
    let rows: [(&str, &str, Get); 6] = [
        ("handshakes_total", "TLS handshakes completed.", |m| {
            &m.handshakes
        }),
        (
            "handshake_microseconds_total",
            "Wall time of the completed TLS handshakes, peer round trips included.",
            |m| &m.handshake_micros,
        ),
        (
            "handshake_failures_total",
            "TLS handshakes that failed (protocol error, no shared version or cipher, peer gone).",
            |m| &m.failures,
        ),
        (
            "handshake_timeouts_total",
            "TLS handshakes cut at tls.handshake_timeout.",
            |m| &m.timeouts,
        ),
        (
            "reloads_total",
            "Certificate reloads (SIGHUP) applied.",
            |m| &m.reloads,
        ),
        (
            "reload_failures_total",
            "Certificate reloads refused (the previous certificates stay in use).",
            |m| &m.reload_failures,
        ),
    ];
    for (name, help, get) in rows {
        let _ = writeln!(
            out,
            "# HELP shardmail_tls_{name} {help}\n# TYPE shardmail_tls_{name} counter"
        );
        for (i, s) in shards.iter().enumerate() {
            let _ = writeln!(
                out,
                "shardmail_tls_{name}{{shard=\"{i}\"}} {}",
                get(&s.tls).load(Relaxed)
            );
        }
    }
}
