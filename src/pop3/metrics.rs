//! POP3 counters of one shard (issue 11), rendered beside the others at `GET /metrics`. A session moved
//! to its account's owner counts as open on the owner from the move on.

use std::sync::atomic::AtomicU64;

use crate::metrics::{render_rows, Row, ShardMetrics};

#[derive(Default)]
pub struct Pop3Metrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    /// Logins refused because another session holds the maildrop (`-ERR [IN-USE]`).
    pub in_use: AtomicU64,
    /// Sessions moved here (their account's owner) after their password was checked.
    pub handoffs_in: AtomicU64,
    pub handoffs_failed: AtomicU64,
    /// Messages removed in UPDATE states.
    pub deleted: AtomicU64,
    /// UPDATE states that could not remove their messages (storage errors): nothing was removed.
    pub update_failures: AtomicU64,
    pub timeouts: AtomicU64,
    /// Command lines handled (an over-long line counts as one).
    pub commands: AtomicU64,
    /// Commands answered `-ERR` because they were malformed, too long, or not valid in the session's
    /// state (not: a message number out of range, a wrong password).
    pub bad_commands: AtomicU64,
    /// Logins refused with `-ERR [LOGIN-DELAY]` (RFC 2449 8.1.1).
    pub login_delayed: AtomicU64,
}

/// Writes the POP3 rows of every shard.
pub fn render(out: &mut String, shards: &[ShardMetrics]) {
    let rows: [Row<Pop3Metrics>; 14] = [
        (
            "connections_open",
            "gauge",
            "POP3 connections open now.",
            |m| &m.connections_open,
        ),
        (
            "connections_total",
            "counter",
            "POP3 connections accepted.",
            |m| &m.connections_total,
        ),
        (
            "connections_refused_total",
            "counter",
            "POP3 connections refused by a limit.",
            |m| &m.connections_refused,
        ),
        ("logins_total", "counter", "Successful POP3 logins.", |m| {
            &m.logins_ok
        }),
        (
            "login_failures_total",
            "counter",
            "Failed POP3 logins (wrong password or no such account).",
            |m| &m.logins_failed,
        ),
        (
            "in_use_total",
            "counter",
            "POP3 logins refused because another session held the maildrop.",
            |m| &m.in_use,
        ),
        (
            "handoffs_total",
            "counter",
            "POP3 sessions moved to this shard (their account's owner) after login.",
            |m| &m.handoffs_in,
        ),
        (
            "handoffs_failed_total",
            "counter",
            "POP3 sessions this shard could not move to their owner.",
            |m| &m.handoffs_failed,
        ),
        (
            "deleted_total",
            "counter",
            "Messages removed in the UPDATE state.",
            |m| &m.deleted,
        ),
        (
            "update_failures_total",
            "counter",
            "UPDATE states that removed nothing because the storage failed.",
            |m| &m.update_failures,
        ),
        (
            "timeouts_total",
            "counter",
            "POP3 sessions closed by the autologout timer.",
            |m| &m.timeouts,
        ),
        (
            "commands_total",
            "counter",
            "POP3 command lines handled.",
            |m| &m.commands,
        ),
        (
            "bad_commands_total",
            "counter",
            "POP3 commands refused as malformed, too long or out of state.",
            |m| &m.bad_commands,
        ),
        (
            "login_delayed_total",
            "counter",
            "POP3 logins refused within the LOGIN-DELAY of the account's last login.",
            |m| &m.login_delayed,
        ),
    ];
    render_rows(out, "pop3", shards, |s| &s.pop3, &rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn every_shard_has_its_row() {
        let shards: Vec<ShardMetrics> = (0..2).map(|_| ShardMetrics::default()).collect();
        shards[1].pop3.in_use.fetch_add(2, Relaxed);
        let mut out = String::new();
        render(&mut out, &shards);
        assert!(
            out.contains("shardmail_pop3_in_use_total{shard=\"1\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("shardmail_pop3_logins_total{shard=\"0\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE shardmail_pop3_connections_open gauge"),
            "{out}"
        );
        shards[0].pop3.bad_commands.fetch_add(3, Relaxed);
        let mut out = String::new();
        render(&mut out, &shards);
        assert!(
            out.contains("shardmail_pop3_bad_commands_total{shard=\"0\"} 3"),
            "{out}"
        );
        assert_eq!(
            out.matches("# TYPE shardmail_pop3_commands_total counter")
                .count(),
            1
        );
    }
}
