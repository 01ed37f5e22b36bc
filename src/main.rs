//! The `shardmail` command line: `serve`, and the operator commands `account` and `mailbox`, which work
//! with the server stopped or running, and `cert self-signed` for a development certificate.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use shardmail::accounts::Accounts;
use shardmail::config::Config;

#[derive(Parser)]
#[command(
    name = "shardmail",
    version,
    about = "A thread-per-core mail server: SMTP, IMAP and POP3 over an append-only log"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// The TOML configuration file (every key has a default; no file runs on loopback).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// The data directory (overrides `data_dir` in the config).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

impl Common {
    fn load(&self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            c.data_dir = d.clone();
        }
        Ok(c)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server until SIGTERM or SIGINT.
    Serve {
        /// Number of shards (default: the config's `shards`, else one per online CPU).
        #[arg(long)]
        shards: Option<usize>,
    },
    /// Manage accounts (adding one makes its domain local).
    Account {
        #[command(subcommand)]
        cmd: AccountCmd,
    },
    /// Manage aliases and catch-alls (FROM an address or @domain, TO an account).
    Alias {
        #[command(subcommand)]
        cmd: AliasCmd,
    },
    /// Look into mailboxes (like `doveadm fetch`).
    Mailbox {
        #[command(subcommand)]
        cmd: MailboxCmd,
    },
    /// TLS certificates.
    Cert {
        #[command(subcommand)]
        cmd: CertCmd,
    },
}

#[derive(Subcommand)]
enum CertCmd {
    /// Write a self-signed development certificate and key as cert.pem and key.pem (key mode 0600).
    SelfSigned {
        /// The host name the certificate is for (its subjectAltName).
        #[arg(long)]
        host: String,
        /// Where to write them (default: the current directory).
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// Days the certificate is valid for.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Add an account.
    Add {
        address: String,
        /// The password (visible in the process list; prefer --password-file).
        #[arg(long, conflicts_with = "password_file")]
        password: Option<String>,
        /// A file whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Delete an account and its mailboxes (a running server applies it within a second, a stopped
    /// one at its next start; compaction reclaims the space).
    Del { address: String },
    /// List accounts.
    List,
}

#[derive(Subcommand)]
enum AliasCmd {
    /// Route mail for FROM (an address, or @domain for a catch-all) to the account TO.
    Add { from: String, to: String },
    /// Remove an alias.
    Del { from: String },
    /// List aliases: FROM, then TO.
    List,
}

#[derive(Subcommand)]
enum MailboxCmd {
    /// List the folders of an account, or the messages of one folder: uid, size, internal date, flags, subject.
    Ls {
        address: String,
        folder: Option<String>,
    },
    /// Print the raw bytes of one message.
    Cat {
        address: String,
        folder: String,
        uid: u32,
    },
}

fn main() -> ExitCode {
    // Log lines are written by a side thread through a bounded queue, and dropped (and counted, in
    // `shardmail_log_lines_dropped_total`) when the queue is full: a slow stderr or journal costs log
    // lines, never a shard's progress. Per-message lines stay at info, as the operator's trail of what
    // was accepted (Postfix logs one per message too); only a writer that cannot keep up loses them.
    let lines = std::env::var("SHARDMAIL_LOG_BUFFER")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(64 * 1024);
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(lines)
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    shardmail::metrics::set_log_dropped_source(move || dropped.dropped_lines() as u64);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHARDMAIL_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(writer)
        // Colour only on a terminal: a log file or a journal gets plain lines to grep.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardmail: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let common = cli.common;
    match cli.cmd {
        Cmd::Serve { shards } => {
            shardmail::mem::tune();
            let mut c = common.load()?;
            if let Some(n) = shards {
                if n == 0 || n > 1024 {
                    bail!("--shards must be between 1 and 1024");
                }
                c.shards = n;
            }
            // One server per data directory: a second one refuses here, naming the first one's pid.
            let _lock = shardmail::datadir::DirLock::acquire(&c.data_dir)?;
            shardmail::shard::serve(c)
        }
        Cmd::Account { cmd } => {
            let c = common.load()?;
            let dir = &c.data_dir;
            match cmd {
                AccountCmd::Add {
                    address,
                    password,
                    password_file,
                } => {
                    let pw = match (password, password_file) {
                        (Some(p), None) => p,
                        (None, Some(f)) => std::fs::read_to_string(&f)
                            .with_context(|| format!("reading {}", f.display()))?
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_string(),
                        _ => bail!("give --password or --password-file"),
                    };
                    let a = Accounts::add(dir, &address, &pw)?;
                    println!("added {a}");
                }
                AccountCmd::Del { address } => {
                    println!("deleted {}", Accounts::delete(dir, &address)?)
                }
                AccountCmd::List => {
                    for a in Accounts::load(dir)?.addresses() {
                        println!("{a}");
                    }
                }
            }
            Ok(())
        }
        Cmd::Alias { cmd } => {
            let c = common.load()?;
            let dir = &c.data_dir;
            match cmd {
                AliasCmd::Add { from, to } => {
                    let (from, to) = Accounts::alias_add(dir, &from, &to)?;
                    println!("added {from} -> {to}");
                }
                AliasCmd::Del { from } => println!("deleted {}", Accounts::alias_del(dir, &from)?),
                AliasCmd::List => {
                    let a = Accounts::load(dir)?;
                    for (from, to) in a.aliases() {
                        let note = if a.contains(to) {
                            ""
                        } else {
                            "  (no such account)"
                        };
                        println!("{from}\t{to}{note}");
                    }
                }
            }
            Ok(())
        }
        Cmd::Mailbox { cmd } => {
            let c = common.load()?;
            shardmail::inspect::run(&c, cmd.into())
        }
        Cmd::Cert {
            cmd:
                CertCmd::SelfSigned {
                    host,
                    out_dir,
                    days,
                },
        } => {
            use shardmail::tls::{certs, selfsigned};
            let (cert, key) = selfsigned::generate(&host, certs::now_secs(), i64::from(days))?;
            let (c, k) = selfsigned::write(&out_dir, &cert, &key)?;
            println!("wrote {} and {}", c.display(), k.display());
            Ok(())
        }
    }
}

impl From<MailboxCmd> for shardmail::inspect::MailboxCmd {
    fn from(c: MailboxCmd) -> Self {
        match c {
            MailboxCmd::Ls { address, folder } => {
                shardmail::inspect::MailboxCmd::Ls { address, folder }
            }
            MailboxCmd::Cat {
                address,
                folder,
                uid,
            } => shardmail::inspect::MailboxCmd::Cat {
                address,
                folder,
                uid,
            },
        }
    }
}
