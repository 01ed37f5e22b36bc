//! Realistic RFC 5322 messages of a chosen size distribution, each with a unique Message-ID. Bodies are
//! cut at line ends from a pre-generated text corpus (no line starts with '.', so DATA needs no
//! stuffing), so generating a message costs one small header format and no per-byte work.

use anyhow::{bail, Result};

/// `BYTES[,fixed|uniform|exp]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeDist {
    Fixed(usize),
    /// Uniform in [mean/2, 3*mean/2].
    Uniform(usize),
    /// Exponential with this mean, capped at 20x the mean.
    Exp(usize),
}

impl SizeDist {
    pub fn parse(s: &str) -> Result<SizeDist> {
        let (n, dist) = s.split_once(',').unwrap_or((s, "fixed"));
        let n = parse_bytes(n)?;
        if n < 200 {
            bail!("--size {s}: messages under 200 bytes cannot hold realistic headers");
        }
        Ok(match dist {
            "fixed" => SizeDist::Fixed(n),
            "uniform" => SizeDist::Uniform(n),
            "exp" => SizeDist::Exp(n),
            d => bail!("--size {s}: unknown distribution {d:?} (fixed, uniform, exp)"),
        })
    }

    pub fn mean(&self) -> usize {
        match *self {
            SizeDist::Fixed(n) | SizeDist::Uniform(n) | SizeDist::Exp(n) => n,
        }
    }

    pub fn max(&self) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform(n) => n + n / 2,
            SizeDist::Exp(n) => n * 20,
        }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform(n) => n / 2 + (rng.next_u64() % (n as u64 + 1)) as usize,
            SizeDist::Exp(n) => {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let x = -(1.0 - u).ln() * n as f64;
                (x as usize).clamp(200, n * 20)
            }
        }
    }
}

/// `10240`, `10k`, `10KB`, `1m`, `1MiB`: bytes (k = 1024).
pub fn parse_bytes(s: &str) -> Result<usize> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let Ok(n) = num.parse::<usize>() else {
        bail!("{s:?} is not a size in bytes")
    };
    let mult = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => bail!("{s:?}: unknown unit {unit:?}"),
    };
    Ok(n * mult)
}

/// xorshift64*: fast, seedable, good enough for sizes and choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const WORDS: &[&str] = &[
    "the",
    "quarterly",
    "report",
    "attached",
    "please",
    "review",
    "before",
    "meeting",
    "tomorrow",
    "shipment",
    "invoice",
    "schedule",
    "budget",
    "server",
    "latency",
    "throughput",
    "customer",
    "feedback",
    "agenda",
    "release",
    "notes",
    "deadline",
    "thanks",
    "regards",
    "update",
    "project",
    "draft",
    "final",
    "summary",
];

/// Text lines (CRLF, at most 76 octets, never starting with '.') to cut bodies from.
pub struct Corpus {
    text: Vec<u8>,
}

impl Corpus {
    pub fn new(len: usize, seed: u64) -> Corpus {
        let mut rng = Rng::new(seed);
        let mut text = Vec::with_capacity(len + 80);
        let mut line = String::new();
        while text.len() < len {
            line.clear();
            while line.len() < 60 {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(WORDS[(rng.next_u64() % WORDS.len() as u64) as usize]);
            }
            text.extend_from_slice(line.as_bytes());
            text.extend_from_slice(b"\r\n");
            if rng.next_u64().is_multiple_of(12) {
                text.extend_from_slice(b"\r\n");
            }
        }
        Corpus { text }
    }

    /// About `n` bytes of whole lines.
    pub fn body(&self, n: usize) -> &[u8] {
        let n = n.min(self.text.len());
        // Cut after the last CRLF at or before n (there is always one in any 80-byte window).
        match memchr::memrchr(b'\n', &self.text[..n]) {
            Some(i) => &self.text[..=i],
            None => b"\r\n",
        }
    }
}

/// Builds message `seq` of connection `conn` in run `run`, about `size` bytes, into `out` (cleared).
#[allow(clippy::too_many_arguments)]
pub fn build(
    out: &mut Vec<u8>,
    corpus: &Corpus,
    size: usize,
    from: &str,
    to: &[String],
    run: u64,
    conn: u64,
    seq: u64,
) {
    use std::io::Write;
    out.clear();
    let _ = write!(
        out,
        "From: Load Test <{from}>\r\nTo: {}\r\nSubject: loadtest {conn}-{seq}\r\nDate: Mon, 23 Nov 2026 00:00:00 +0000\r\n\
Message-ID: <{run:x}.{conn}.{seq}@loadtest.invalid>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        to.join(", ")
    );
    let want = size.saturating_sub(out.len()).max(2);
    out.extend_from_slice(corpus.body(want));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("10240").unwrap(), 10240);
        assert_eq!(parse_bytes("10k").unwrap(), 10240);
        assert_eq!(parse_bytes("1MiB").unwrap(), 1 << 20);
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("10q").is_err());
        assert_eq!(SizeDist::parse("10k").unwrap(), SizeDist::Fixed(10240));
        assert_eq!(SizeDist::parse("10k,exp").unwrap(), SizeDist::Exp(10240));
        assert!(SizeDist::parse("10k,zipf").is_err());
        assert!(SizeDist::parse("100").is_err());
        let mut rng = Rng::new(1);
        let d = SizeDist::Uniform(1000);
        let mean = (0..10_000).map(|_| d.sample(&mut rng)).sum::<usize>() as f64 / 10_000.0;
        assert!((mean - 1000.0).abs() < 20.0, "{mean}");
        let d = SizeDist::Exp(1000);
        let mean = (0..20_000).map(|_| d.sample(&mut rng)).sum::<usize>() as f64 / 20_000.0;
        assert!((mean - 1000.0).abs() < 60.0, "{mean}");
        assert!((0..1000).all(|_| d.sample(&mut rng) <= d.max()));
    }

    #[test]
    fn messages_are_close_to_size_and_well_formed() {
        let c = Corpus::new(1 << 20, 7);
        let mut m = Vec::new();
        for size in [300, 10240, 100 << 10] {
            build(
                &mut m,
                &c,
                size,
                "a@b.example",
                &["x@y.test".into()],
                1,
                2,
                3,
            );
            assert!(
                m.len() <= size && m.len() + 80 >= size,
                "{size}: {}",
                m.len()
            );
            assert!(m.ends_with(b"\r\n"));
            assert!(
                !m.windows(3).any(|w| w == b"\n.\r" || w == b"\n.."),
                "no line starts with a dot"
            );
            assert!(!m
                .windows(2)
                .enumerate()
                .any(|(i, w)| w[1] == b'\n' && w[0] != b'\r' && i > 0));
            let s = String::from_utf8(m.clone()).unwrap();
            assert!(s.contains("Message-ID: <1.2.3@loadtest.invalid>\r\n"));
            assert!(s.lines().all(|l| l.len() <= 998));
        }
    }
}
