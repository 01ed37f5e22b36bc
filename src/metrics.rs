//! Per-shard metrics, rendered in the Prometheus text format (exposition format 0.0.4) at `GET /metrics`.
//!
//! Each shard updates only its own counters (relaxed atomics, no contention); the metrics endpoint reads
//! all of them, so an operator tuning `shards` sees imbalance directly.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use shardmail_storage::{WriterStats, SYNC_BUCKETS_US};

/// One shard's counters.
#[derive(Default)]
pub struct ShardMetrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub messages_accepted: AtomicU64,
    pub bytes_accepted: AtomicU64,
    /// Replies sent by class: index 0 = 2xx, 1 = 3xx, 2 = 4xx, 3 = 5xx.
    pub replies: [AtomicU64; 4],
    pub cross_shard_sent: AtomicU64,
    pub cross_shard_received: AtomicU64,
    /// Sessions closed because a read time limit expired (command line, transfer).
    pub read_timeouts: AtomicU64,
    /// Sessions closed because the peer did not read its replies within the write timeout.
    pub write_timeouts: AtomicU64,
    /// Message body bytes held in memory by the shard's sessions now.
    pub inflight_bytes: AtomicU64,
    /// Transactions refused at MAIL with 452 because the in-flight budget was used up.
    pub transactions_refused_memory: AtomicU64,
    /// Transactions refused at MAIL with 452 because the disk cannot take the message.
    pub transactions_refused_disk: AtomicU64,
    /// Metrics connections refused by the connection cap, and cut by the timeout.
    pub metrics_refused: AtomicU64,
    pub metrics_timeouts: AtomicU64,
    /// The shard's log writer stats, copied in by the shard now and then.
    pub writer: Mutex<WriterStats>,
    pub queue: crate::shard::queue::QueueMetrics,
    pub imap: ImapMetrics,
    pub pop3: crate::pop3::metrics::Pop3Metrics,
    /// Login outcomes per protocol (issue 12, `net::auth`).
    pub auth: crate::net::auth::AuthMetrics,
    pub tls: crate::tls::metrics::TlsMetrics,
}

/// IMAP counters of one shard (issue 10). A session moved to its account's owner counts as open on
/// the owner from the move on.
#[derive(Default)]
pub struct ImapMetrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    /// Sessions moved here from the accepting shard after their login, and the time the moves took
    /// (from the sender letting go to the session running here).
    pub handoffs_in: AtomicU64,
    pub handoff_micros: AtomicU64,
    /// Handoffs this shard could not make (the owner's inbox full or closed): the client got BYE.
    pub handoffs_failed: AtomicU64,
    pub commands: AtomicU64,
    /// Commands answered BAD (malformed, or not valid in the session's state).
    pub bad_commands: AtomicU64,
    /// Sessions ended by `* BYE` after too many bad commands.
    pub too_many_errors: AtomicU64,
    pub timeouts: AtomicU64,
    /// Sessions that turned on COMPRESS=DEFLATE (RFC 4978).
    pub compressed: AtomicU64,
}

impl ShardMetrics {
    pub fn reply(&self, code: u16) {
        let class = match code {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.replies[class].fetch_add(1, Relaxed);
    }

    pub fn set_writer(&self, s: WriterStats) {
        if let Ok(mut w) = self.writer.lock() {
            *w = s;
        }
    }
}

/// Where the count of log lines dropped by the lossy log writer comes from (set once by the binary).
static LOG_DROPPED: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>> = OnceLock::new();

/// Registers the source of the dropped-log-lines count (the binary's log writer).
pub fn set_log_dropped_source(f: impl Fn() -> u64 + Send + Sync + 'static) {
    let _ = LOG_DROPPED.set(Box::new(f));
}

/// Renders every shard's metrics.
pub fn render(shards: &[ShardMetrics]) -> String {
    let mut out = String::with_capacity(4096);
    let dropped = LOG_DROPPED.get().map(|f| f()).unwrap_or(0);
    let _ = writeln!(
        out,
        "# HELP shardmail_log_lines_dropped_total Log lines dropped because the log writer was behind (logging never blocks a shard).\n# TYPE shardmail_log_lines_dropped_total counter\nshardmail_log_lines_dropped_total {dropped}"
    );
    let counter = |out: &mut String,
                   name: &str,
                   help: &str,
                   kind: &str,
                   get: &dyn Fn(&ShardMetrics) -> u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (i, s) in shards.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{i}\"}} {}", get(s));
        }
    };
    counter(
        &mut out,
        "shardmail_connections_open",
        "Connections open now.",
        "gauge",
        &|s| s.connections_open.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_connections_total",
        "Connections accepted.",
        "counter",
        &|s| s.connections_total.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_connections_refused_total",
        "Connections refused by a limit.",
        "counter",
        &|s| s.connections_refused.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_messages_accepted_total",
        "Messages accepted durably.",
        "counter",
        &|s| s.messages_accepted.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_bytes_accepted_total",
        "Message bytes accepted durably.",
        "counter",
        &|s| s.bytes_accepted.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_cross_shard_sent_total",
        "Requests sent to other shards.",
        "counter",
        &|s| s.cross_shard_sent.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_cross_shard_received_total",
        "Requests received from other shards.",
        "counter",
        &|s| s.cross_shard_received.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_read_timeouts_total",
        "Sessions closed because a command line or a message transfer took too long.",
        "counter",
        &|s| s.read_timeouts.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_write_timeouts_total",
        "Sessions closed because the peer did not read its replies within the write timeout.",
        "counter",
        &|s| s.write_timeouts.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_inflight_message_bytes",
        "Message body bytes held in memory by the shard's sessions.",
        "gauge",
        &|s| s.inflight_bytes.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_transactions_refused_memory_total",
        "Transactions refused at MAIL (452 4.3.1) because the shard's in-flight budget was used up.",
        "counter",
        &|s| s.transactions_refused_memory.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_transactions_refused_disk_total",
        "Transactions refused at MAIL (452 4.3.1) because the disk cannot take the message.",
        "counter",
        &|s| s.transactions_refused_disk.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_metrics_refused_total",
        "Metrics connections refused by the connection cap.",
        "counter",
        &|s| s.metrics_refused.load(Relaxed),
    );
    counter(
        &mut out,
        "shardmail_metrics_timeouts_total",
        "Metrics connections cut by the timeout.",
        "counter",
        &|s| s.metrics_timeouts.load(Relaxed),
    );
    let _ = writeln!(out, "# HELP shardmail_smtp_replies_total SMTP replies sent by class.\n# TYPE shardmail_smtp_replies_total counter");
    for (i, s) in shards.iter().enumerate() {
        for (c, class) in ["2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let _ = writeln!(
                out,
                "shardmail_smtp_replies_total{{shard=\"{i}\",class=\"{class}\"}} {}",
                s.replies[c].load(Relaxed)
            );
        }
    }
    let writers: Vec<WriterStats> = shards
        .iter()
        .map(|s| s.writer.lock().map(|w| *w).unwrap_or_default())
        .collect();
    let _ = writeln!(out, "# HELP shardmail_log_records_total Records appended to the shard's log.\n# TYPE shardmail_log_records_total counter");
    for (i, w) in writers.iter().enumerate() {
        let _ = writeln!(
            out,
            "shardmail_log_records_total{{shard=\"{i}\"}} {}",
            w.records
        );
    }
    let _ = writeln!(
        out,
        "# HELP shardmail_log_sync_seconds Latency of one durable batch write (group commit).\n# TYPE shardmail_log_sync_seconds histogram"
    );
    for (i, w) in writers.iter().enumerate() {
        let mut cum = 0;
        for (b, bound) in SYNC_BUCKETS_US.iter().enumerate() {
            cum += w.sync_hist[b];
            let _ = writeln!(
                out,
                "shardmail_log_sync_seconds_bucket{{shard=\"{i}\",le=\"{}\"}} {cum}",
                *bound as f64 / 1e6
            );
        }
        cum += w.sync_hist[SYNC_BUCKETS_US.len()];
        let _ = writeln!(
            out,
            "shardmail_log_sync_seconds_bucket{{shard=\"{i}\",le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            out,
            "shardmail_log_sync_seconds_sum{{shard=\"{i}\"}} {}",
            w.sync_time.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "shardmail_log_sync_seconds_count{{shard=\"{i}\"}} {}",
            w.syncs
        );
    }
    crate::shard::queue::render_metrics(&mut out, shards);
    render_imap(&mut out, shards);
    crate::pop3::metrics::render(&mut out, shards);
    crate::net::auth::render(&mut out, shards);
    crate::tls::metrics::render(&mut out, shards);
    out
}

/// One counter family of a protocol: its name after `shardmail_{protocol}_`, Prometheus type, help
/// text, and where each shard keeps it.
pub type Row<M> = (
    &'static str,
    &'static str,
    &'static str,
    fn(&M) -> &AtomicU64,
);

/// Writes the counter families `rows` of one protocol, a line per shard: IMAP's and POP3's counters
/// go out through this one function.
pub fn render_rows<M>(
    out: &mut String,
    protocol: &str,
    shards: &[ShardMetrics],
    of: fn(&ShardMetrics) -> &M,
    rows: &[Row<M>],
) {
    for (name, kind, help, get) in rows {
        let _ = writeln!(
            out,
            "# HELP shardmail_{protocol}_{name} {help}\n# TYPE shardmail_{protocol}_{name} {kind}"
        );
        for (i, s) in shards.iter().enumerate() {
            let _ = writeln!(
                out,
                "shardmail_{protocol}_{name}{{shard=\"{i}\"}} {}",
                get(of(s)).load(Relaxed)
            );
        }
    }
}

fn render_imap(out: &mut String, shards: &[ShardMetrics]) {
    let rows: [Row<ImapMetrics>; 13] = [
        (
            "connections_open",
            "gauge",
            "IMAP connections open now.",
            |m| &m.connections_open,
        ),
        (
            "connections_total",
            "counter",
            "IMAP connections accepted.",
            |m| &m.connections_total,
        ),
        (
            "connections_refused_total",
            "counter",
            "IMAP connections refused by a limit.",
            |m| &m.connections_refused,
        ),
        ("logins_total", "counter", "Successful IMAP logins.", |m| {
            &m.logins_ok
        }),
        (
            "login_failures_total",
            "counter",
            "Failed IMAP logins (wrong password or no such account).",
            |m| &m.logins_failed,
        ),
        (
            "handoffs_total",
            "counter",
            "Sessions moved to this shard (their account's owner) after login.",
            |m| &m.handoffs_in,
        ),
        (
            "handoff_micros_total",
            "counter",
            "Microseconds the moves to this shard took, summed.",
            |m| &m.handoff_micros,
        ),
        (
            "handoffs_failed_total",
            "counter",
            "Sessions this shard could not move to their owner.",
            |m| &m.handoffs_failed,
        ),
        ("commands_total", "counter", "IMAP commands handled.", |m| {
            &m.commands
        }),
        (
            "compressed_total",
            "counter",
            "IMAP sessions that turned on COMPRESS=DEFLATE.",
            |m| &m.compressed,
        ),
        (
            "bad_commands_total",
            "counter",
            "IMAP commands answered BAD.",
            |m| &m.bad_commands,
        ),
        (
            "too_many_errors_total",
            "counter",
            "IMAP sessions ended after too many bad commands.",
            |m| &m.too_many_errors,
        ),
        (
            "timeouts_total",
            "counter",
            "IMAP sessions logged out for inactivity.",
            |m| &m.timeouts,
        ),
    ];
    render_rows(out, "imap", shards, |s| &s.imap, &rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_every_shard_and_a_cumulative_histogram() {
        let shards: Vec<ShardMetrics> = (0..2).map(|_| ShardMetrics::default()).collect();
        shards[1].messages_accepted.fetch_add(7, Relaxed);
        shards[0].reply(250);
        shards[0].reply(554);
        let mut w = WriterStats {
            syncs: 3,
            sync_time: Duration::from_micros(900),
            ..Default::default()
        };
        w.sync_hist[1] = 2; // <= 100us
        w.sync_hist[12] = 1; // > 250ms
        shards[1].set_writer(w);
        let text = render(&shards);
        assert!(
            text.contains("shardmail_messages_accepted_total{shard=\"1\"} 7"),
            "{text}"
        );
        assert!(text.contains("shardmail_smtp_replies_total{shard=\"0\",class=\"5xx\"} 1"));
        assert!(text.contains("shardmail_log_sync_seconds_bucket{shard=\"1\",le=\"0.0001\"} 2"));
        assert!(text.contains("shardmail_log_sync_seconds_bucket{shard=\"1\",le=\"+Inf\"} 3"));
        assert!(text.contains("shardmail_log_sync_seconds_count{shard=\"1\"} 3"));
        assert_eq!(
            text.matches("# TYPE shardmail_log_records_total").count(),
            1
        );
        shards[1].imap.logins_failed.fetch_add(3, Relaxed);
        let text = render(&shards);
        assert!(text.contains("shardmail_imap_login_failures_total{shard=\"1\"} 3"));
        assert!(text.contains("shardmail_imap_logins_total{shard=\"0\"} 0"));
        assert!(text.contains("# TYPE shardmail_imap_connections_open gauge"));
    }
}
