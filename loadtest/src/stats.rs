//! What a run measured: operation counts and bytes, a latency HDR histogram (microseconds), errors by
//! reply code, and a per-second timeline. One `Stats` per thread, merged at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, 1 µs .. 1 hour, 3 significant digits.
const MAX_US: u64 = 3_600_000_000;

#[derive(Clone)]
pub struct Stats {
    pub ops: u64,
    pub bytes: u64,
    pub latency: Histogram<u64>,
    /// Error kind ("550", "421", "timeout", "connect", ...) -> count.
    pub errors: BTreeMap<String, u64>,
    pub connections_failed: u64,
    /// Operations completed in each second of the run.
    pub timeline: Vec<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            ops: 0,
            bytes: 0,
            latency: Histogram::new_with_bounds(1, MAX_US, 3)
                .expect("static histogram bounds are valid"),
            errors: BTreeMap::new(),
            connections_failed: 0,
            timeline: Vec::new(),
        }
    }
}

impl Stats {
    /// One operation done at `since_start`, `latency` after it was due.
    pub fn record(&mut self, since_start: Duration, latency: Duration, bytes: u64) {
        self.ops += 1;
        self.bytes += bytes;
        let us = (latency.as_micros() as u64).clamp(1, MAX_US);
        // Within bounds by the clamp; saturating keeps it total.
        let _ = self.latency.record(us);
        let sec = since_start.as_secs() as usize;
        if self.timeline.len() <= sec {
            self.timeline.resize(sec + 1, 0);
        }
        self.timeline[sec] += 1;
    }

    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Stats) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        let _ = self.latency.add(&other.latency);
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.connections_failed += other.connections_failed;
        if self.timeline.len() < other.timeline.len() {
            self.timeline.resize(other.timeline.len(), 0);
        }
        for (a, b) in self.timeline.iter_mut().zip(&other.timeline) {
            *a += b;
        }
    }

    pub fn summary(&self, name: &str, elapsed: Duration) -> Summary {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let q = |p: f64| {
            if self.ops == 0 {
                0.0
            } else {
                self.latency.value_at_quantile(p) as f64 / 1000.0
            }
        };
        Summary {
            scenario: name.to_string(),
            command: Vec::new(),
            seconds: elapsed.as_secs_f64(),
            ops: self.ops,
            ops_per_s: self.ops as f64 / secs,
            mb_per_s: self.bytes as f64 / secs / 1e6,
            latency_ms: Latency {
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                p999: q(0.999),
                max: if self.ops == 0 {
                    0.0
                } else {
                    self.latency.max() as f64 / 1000.0
                },
                mean: if self.ops == 0 {
                    0.0
                } else {
                    self.latency.mean() / 1000.0
                },
            },
            errors: self.errors.clone(),
            errors_total: self.errors.values().sum(),
            connections_failed: self.connections_failed,
            timeline: self.timeline.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// The end-of-run result, printed as a table and written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    /// The command line of the run, so a result file says how it was made (set by the binary).
    pub command: Vec<String>,
    pub seconds: f64,
    pub ops: u64,
    pub ops_per_s: f64,
    pub mb_per_s: f64,
    pub latency_ms: Latency,
    pub errors: BTreeMap<String, u64>,
    pub errors_total: u64,
    pub connections_failed: u64,
    pub timeline: Vec<u64>,
}

impl Summary {
    pub fn table(&self) -> String {
        let l = &self.latency_ms;
        let mut s = String::new();
        s.push_str(&format!("scenario            {}\n", self.scenario));
        s.push_str(&format!("duration            {:.2} s\n", self.seconds));
        s.push_str(&format!("operations          {}\n", self.ops));
        s.push_str(&format!("operations/s        {:.1}\n", self.ops_per_s));
        s.push_str(&format!("MB/s                {:.2}\n", self.mb_per_s));
        s.push_str(&format!(
            "latency ms          p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
            l.p50, l.p90, l.p99, l.p999, l.max
        ));
        s.push_str(&format!("errors              {}", self.errors_total));
        if !self.errors.is_empty() {
            let parts: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            s.push_str(&format!(" ({})", parts.join(", ")));
        }
        s.push('\n');
        s.push_str(&format!(
            "connections failed  {}\n",
            self.connections_failed
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_rates() {
        let mut s = Stats::default();
        for ms in 1..=1000u64 {
            s.record(Duration::from_millis(ms), Duration::from_millis(ms), 1000);
        }
        let sum = s.summary("t", Duration::from_secs(2));
        assert_eq!(sum.ops, 1000);
        assert!((sum.ops_per_s - 500.0).abs() < 1e-9);
        assert!((sum.mb_per_s - 0.5).abs() < 1e-9);
        // HDR with 3 significant digits: within 0.1%.
        assert!(
            (sum.latency_ms.p50 - 500.0).abs() <= 0.5,
            "{}",
            sum.latency_ms.p50
        );
        assert!(
            (sum.latency_ms.p99 - 990.0).abs() <= 1.0,
            "{}",
            sum.latency_ms.p99
        );
        assert!((sum.latency_ms.max - 1000.0).abs() <= 1.0);
        assert_eq!(sum.timeline.iter().sum::<u64>(), 1000);
        assert_eq!(sum.timeline.len(), 2);
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record(Duration::from_millis(100), Duration::from_millis(1), 10);
        b.record(Duration::from_millis(2100), Duration::from_millis(9), 30);
        b.error("550");
        b.error("550");
        a.error("timeout");
        b.connections_failed = 2;
        a.merge(&b);
        assert_eq!(a.ops, 2);
        assert_eq!(a.bytes, 40);
        assert_eq!(a.timeline, vec![1, 0, 1]);
        assert_eq!(a.errors["550"], 2);
        assert_eq!(a.errors["timeout"], 1);
        assert_eq!(a.connections_failed, 2);
        assert_eq!(a.latency.len(), 2);
        let sum = a.summary("m", Duration::from_secs(1));
        assert_eq!(sum.errors_total, 3);
        assert!(sum.table().contains("550: 2"));
    }

    #[test]
    fn empty_run_is_all_zero() {
        let s = Stats::default().summary("e", Duration::ZERO);
        assert_eq!(s.ops, 0);
        assert_eq!(s.latency_ms.p99, 0.0);
        assert_eq!(s.ops_per_s, 0.0);
    }
}
