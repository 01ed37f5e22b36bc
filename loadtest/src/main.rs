//! `loadtest`: drives SMTP, IMAP and POP3 against the one address it is given, bounded by count
//! or duration, and prints a summary (ops/s, MB/s, latency percentiles, errors by reply code).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use shardmail_loadtest::connect::{Endpoint, Proto, TlsArgs};
use shardmail_loadtest::message::SizeDist;
use shardmail_loadtest::pattern::Pattern;
use shardmail_loadtest::runner::{self, RunOpts, Shared};
use shardmail_loadtest::sink::{self, SinkCounters, SinkOpts};
use shardmail_loadtest::smtp::{self, SmtpOpts};
use shardmail_loadtest::{report, stats::Stats};

#[derive(Parser)]
#[command(
    name = "loadtest",
    version,
    about = "Load generator for SMTP, IMAP and POP3 servers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// The server to load (host:port). Nothing else is ever contacted, but the --smtp-target that
    /// `imap --scenario idle` is given.
    #[arg(long)]
    target: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Stop after this many operations (messages for SMTP).
    #[arg(
        long,
        conflicts_with = "duration",
        required_unless_present = "duration"
    )]
    messages: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Client threads (one glommio executor each); default: online CPUs.
    #[arg(long)]
    threads: Option<usize>,
    /// Pin client threads to CPUs.
    #[arg(long)]
    pin: bool,
    /// Seconds to wait for a connect or a reply before counting a timeout.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Write the summary as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw throughput over time and the latency distribution (FILE.svg or FILE.png).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    tls: TlsArgs,
}

impl Common {
    /// --target, protected as --tls/--starttls say.
    fn endpoint(&self, proto: Proto) -> Result<Endpoint> {
        self.tls
            .endpoint(&self.target, resolve(&self.target)?, proto)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Send messages over SMTP.
    Smtp {
        #[command(flatten)]
        common: Common,
        /// Message size in bytes (k/m suffixes), optionally with a distribution: fixed, uniform, exp.
        #[arg(long, default_value = "10k")]
        size: String,
        /// Recipients per message.
        #[arg(long, default_value_t = 1)]
        rcpts: usize,
        /// Recipient pattern, e.g. user{0..99}@example.test.
        #[arg(long)]
        to: String,
        /// Envelope sender.
        #[arg(long, default_value = "loadtest@loadtest.invalid")]
        from: String,
        /// Pipeline MAIL/RCPT/DATA (RFC 2920; the default).
        #[arg(long, overrides_with = "no_pipelining")]
        pipelining: bool,
        /// One command at a time.
        #[arg(long)]
        no_pipelining: bool,
        /// Send the body with BDAT LAST (RFC 3030) instead of DATA.
        #[arg(long)]
        bdat: bool,
        /// Open loop: this many messages per second in total (latency counts from the intended time).
        #[arg(long)]
        rate: Option<f64>,
    },
    /// Retrieve mail over POP3: log in, STAT, UIDL, RETR all (optionally DELE), QUIT; repeat.
    Pop3 {
        #[command(flatten)]
        common: Common,
        /// Users to log in as, e.g. user{0..99}@example.test (each connection takes the next).
        #[arg(long)]
        user_pattern: String,
        #[arg(long)]
        password: String,
        /// Delete each message after retrieving it.
        #[arg(long)]
        dele: bool,
    },
    /// IMAP clients: log in, SELECT INBOX, then run a scenario.
    Imap {
        #[command(flatten)]
        common: Common,
        /// Users to log in as, e.g. user{0..99}@example.test (connection c takes user c, then c + N, ...;
        /// idle: user c only, so the pattern needs a user per connection).
        #[arg(long)]
        user_pattern: String,
        /// The password of every user.
        #[arg(long)]
        password: String,
        /// fetch-all, headers, store, append, or a weighted mix like headers:3,store:5,append:1;
        /// or idle: the clients wait in IDLE while --smtp-target delivers to their users, and each new
        /// message's delivery-to-notification latency is measured (--messages counts messages sent).
        #[arg(long, default_value = "headers")]
        scenario: String,
        /// idle: the SMTP server that delivers to the IMAP users (the only other address contacted).
        #[arg(long)]
        smtp_target: Option<String>,
        /// idle: SMTP connections delivering.
        #[arg(long, default_value_t = 2)]
        smtp_connections: usize,
        /// idle: messages per second over all SMTP connections (open loop).
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        /// idle: size of each delivered message.
        #[arg(long, default_value = "4k")]
        size: String,
        /// Other scenarios: open loop, this many operations per second over all connections (latency
        /// counts from each operation's due time); default: closed loop.
        #[arg(long)]
        op_rate: Option<f64>,
    },
    /// A storm of new connections: connect, TLS handshake (or STARTTLS and the handshake), greeting, one
    /// command, close; one operation each (with --tls/--starttls: full handshakes per second).
    Handshake {
        #[command(flatten)]
        common: Common,
        /// The protocol spoken: its greeting, STARTTLS command and pre-login command.
        #[arg(long, value_parser = ["smtp", "imap", "pop3"])]
        proto: String,
    },
    /// Open connections, read the greeting, hold them idle until the duration ends (memory per connection).
    Idle {
        #[command(flatten)]
        common: Common,
        /// The protocol (for --starttls: its STARTTLS command).
        #[arg(long, value_parser = ["smtp", "imap", "pop3"], default_value = "smtp")]
        proto: String,
    },
    /// A sink that speaks SMTP and POP3 and keeps nothing: the client's own ceiling.
    Sink {
        /// SMTP listen address.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// POP3 listen address.
        #[arg(long)]
        pop3_listen: Option<SocketAddr>,
        /// Ceiling mode: append messages to FILE.<thread> and answer 250 only after fdatasync
        /// (group commit), i.e. the least any durable server must do.
        #[arg(long)]
        durable: Option<PathBuf>,
        #[arg(long)]
        threads: Option<usize>,
        /// POP3: messages per maildrop and their size.
        #[arg(long, default_value_t = 100)]
        pop3_messages: usize,
        #[arg(long, default_value = "10k")]
        pop3_size: String,
    },
}

fn main() -> ExitCode {
    tune_malloc();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Large buffers are reused from the heap instead of mapped and unmapped per use: unmapping in a
/// multi-threaded process sends TLB-shootdown IPIs to every CPU, which would slow the servers measured
/// beside this client (and the durable sink's batches, like the server's).
fn tune_malloc() {
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// One of the names clap allowed for --proto.
fn proto_named(name: &str) -> Proto {
    match name {
        "imap" => Proto::Imap,
        "pop3" => Proto::Pop3,
        _ => Proto::Smtp,
    }
}

fn resolve(target: &str) -> Result<SocketAddr> {
    target
        .to_socket_addrs()
        .with_context(|| format!("--target {target:?} is not host:port"))?
        .next()
        .with_context(|| format!("--target {target:?} resolves to no address"))
}

/// Distinguishes this run's Message-IDs from every other run's.
fn run_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Smtp {
            common,
            size,
            rcpts,
            to,
            from,
            pipelining: _,
            no_pipelining,
            bdat,
            rate,
        } => {
            let target = common.endpoint(Proto::Smtp)?;
            if common.connections == 0 || rcpts == 0 {
                bail!("--connections and --rcpts must be at least 1");
            }
            if rate.is_some_and(|r| !r.is_finite() || r <= 0.0) {
                bail!("--rate must be positive");
            }
            let opts = Arc::new(SmtpOpts {
                target,
                connections: common.connections,
                size: SizeDist::parse(&size)?,
                rcpts,
                to: Pattern::parse(&to)?,
                from,
                pipelining: !no_pipelining,
                bdat,
                rate,
                timeout: Duration::from_secs_f64(common.timeout),
                helo: "loadtest.invalid".into(),
                run_id: run_id(),
            });
            let label = format!(
                "smtp{} {} {}x{} rcpt{}",
                opts.target.security.label(),
                common.target,
                size,
                rcpts,
                if bdat { " bdat" } else { "" }
            );
            drive(&common, &label, common.connections, move |c, shared| {
                smtp::connection(c, opts.clone(), shared)
            })
        }
        Cmd::Pop3 {
            common,
            user_pattern,
            password,
            dele,
        } => {
            let opts = Arc::new(shardmail_loadtest::pop3::Pop3Opts {
                target: common.endpoint(Proto::Pop3)?,
                connections: common.connections,
                users: Pattern::parse(&user_pattern)?,
                password,
                dele,
                timeout: Duration::from_secs_f64(common.timeout),
            });
            let label = format!(
                "pop3{} {} retr",
                opts.target.security.label(),
                common.target
            );
            drive(&common, &label, common.connections, move |c, shared| {
                shardmail_loadtest::pop3::connection(c, opts.clone(), shared)
            })
        }
        Cmd::Imap {
            common,
            user_pattern,
            password,
            scenario,
            smtp_target,
            smtp_connections,
            rate,
            size,
            op_rate,
        } => {
            if op_rate.is_some_and(|r| !r.is_finite() || r <= 0.0) {
                bail!("--op-rate must be positive");
            }
            let imap = shardmail_loadtest::imap::ImapOpts {
                target: common.endpoint(Proto::Imap)?,
                connections: common.connections,
                users: Pattern::parse(&user_pattern)?,
                password,
                scenario: shardmail_loadtest::imap::Scenario::parse(&scenario)?,
                timeout: Duration::from_secs_f64(common.timeout),
                rate: op_rate,
            };
            if imap.scenario.is_idle() {
                return idle_scenario(common, imap, smtp_target, smtp_connections, rate, &size);
            }
            let opts = Arc::new(imap);
            let label = format!(
                "imap{} {} {scenario}",
                opts.target.security.label(),
                common.target
            );
            drive(&common, &label, common.connections, move |c, shared| {
                shardmail_loadtest::imap::connection(c, opts.clone(), shared)
            })
        }
        Cmd::Handshake { common, proto } => {
            let proto = proto_named(&proto);
            let target = Arc::new(common.endpoint(proto)?);
            let timeout = Duration::from_secs_f64(common.timeout);
            let label = format!(
                "handshake{} {} {proto:?}",
                target.security.label(),
                common.target
            );
            drive(&common, &label, common.connections, move |_, shared| {
                shardmail_loadtest::handshake::connection(target.clone(), timeout, shared)
            })
        }
        Cmd::Idle { common, proto } => {
            let target = common.endpoint(proto_named(&proto))?;
            if common.duration.is_none() {
                bail!("idle needs --duration (how long to hold the connections)");
            }
            let timeout = Duration::from_secs_f64(common.timeout);
            let label = format!("idle {} x{}", common.target, common.connections);
            let mut common = common;
            common.messages = None;
            drive(&common, &label, common.connections, move |_, shared| {
                shardmail_loadtest::idle::connection(target.clone(), timeout, shared)
            })
        }
        Cmd::Sink {
            listen,
            pop3_listen,
            durable,
            threads,
            pop3_messages,
            pop3_size,
        } => {
            if listen.is_none() && pop3_listen.is_none() {
                bail!("give --listen (SMTP) and/or --pop3-listen");
            }
            let opts = SinkOpts {
                smtp: listen,
                durable,
                pop3: pop3_listen,
                threads: threads.unwrap_or_else(cpus),
                pop3_messages,
                pop3_size: shardmail_loadtest::message::parse_bytes(&pop3_size)?,
            };
            let stop = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
            signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
            let counters = Arc::new(SinkCounters::default());
            eprintln!("sink: SMTP {listen:?} POP3 {pop3_listen:?}; Ctrl-C stops");
            sink::run(opts, counters.clone(), stop)?;
            eprintln!(
                "sink: {} messages, {} bytes",
                counters.messages.load(std::sync::atomic::Ordering::Relaxed),
                counters.bytes.load(std::sync::atomic::Ordering::Relaxed)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `imap --scenario idle`: watchers in IDLE on the IMAP target, senders on the SMTP target.
fn idle_scenario(
    common: Common,
    imap: shardmail_loadtest::imap::ImapOpts,
    smtp_target: Option<String>,
    senders: usize,
    rate: f64,
    size: &str,
) -> Result<ExitCode> {
    let Some(smtp_target) = smtp_target else {
        bail!(
            "--scenario idle needs --smtp-target (the SMTP server that delivers to the IMAP users)"
        );
    };
    if imap.users.len() < imap.connections as u64 {
        bail!(
            "--scenario idle needs a distinct user per connection: --user-pattern has {} users for {} connections",
            imap.users.len(),
            imap.connections
        );
    }
    if senders == 0 || !rate.is_finite() || rate <= 0.0 {
        bail!("--smtp-connections and --rate must be positive");
    }
    let opts = Arc::new(shardmail_loadtest::notify::NotifyOpts {
        smtp_target: Endpoint::plain(resolve(&smtp_target)?, Proto::Smtp),
        senders,
        rate,
        size: SizeDist::parse(size)?.mean(),
        from: "loadtest@loadtest.invalid".into(),
        run_id: run_id(),
        imap,
    });
    let board = shardmail_loadtest::notify::Board::new(opts.imap.connections, senders);
    let label = format!(
        "imap {} idle, smtp {smtp_target} {rate}/s: delivery to notification",
        common.target
    );
    drive(
        &common,
        &label,
        common.connections + senders,
        move |c, shared| {
            shardmail_loadtest::notify::connection(c, opts.clone(), board.clone(), shared)
        },
    )
}

fn drive<F, Fut>(common: &Common, label: &str, connections: usize, conn: F) -> Result<ExitCode>
where
    F: Fn(usize, Arc<Shared>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Stats> + 'static,
{
    if common.duration.is_some_and(|d| !(d > 0.0 && d < 86_400.0)) {
        bail!("--duration must be between 0 and 86400 seconds");
    }
    if let Some(p) = &common.plot {
        report::check_plot(p)?;
    }
    let shared = Shared::new(
        common.messages,
        common.duration.map(Duration::from_secs_f64),
    );
    let threads = common.threads.unwrap_or_else(cpus).clamp(1, connections);
    let opts = RunOpts {
        threads,
        connections,
        pin: common.pin,
        progress: !common.quiet,
        label: label.to_string(),
    };
    let stats = runner::run(&opts, shared.clone(), conn)?;
    let elapsed = shared.start.elapsed();
    let mut summary = stats.summary(label, elapsed);
    summary.command = std::env::args().collect();
    print!("{}", summary.table());
    if let Some(p) = &common.json {
        report::write_json(p, &summary)?;
    }
    if let Some(p) = &common.plot {
        report::write_plot(p, &summary, &stats)?;
    }
    // Non-zero when nothing succeeded, so scripts notice an unreachable or refusing target.
    Ok(if summary.ops == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
