//! `loadtest sink`: an SMTP and POP3 server that accepts everything and keeps nothing, thread-per-core
//! like the client, to measure the client's own ceiling on this machine.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use memchr::memmem;

pub struct SinkOpts {
    pub smtp: Option<SocketAddr>,
    /// The ceiling mode: append every message to `PATH.<thread>` and answer 250 only after an
    /// fdatasync covers it, batching like a group commit (what any durable server must at least do).
    pub durable: Option<std::path::PathBuf>,
    pub pop3: Option<SocketAddr>,
    pub threads: usize,
    /// POP3: messages in every maildrop, and their size.
    pub pop3_messages: usize,
    pub pop3_size: usize,
}

#[derive(Default)]
pub struct SinkCounters {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
}

/// Serves until the process is killed (or `stop` is set).
pub fn run(
    opts: SinkOpts,
    counters: Arc<SinkCounters>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let pop3_msg = Arc::new(pop3_message(opts.pop3_size));
    let mut handles = Vec::new();
    for t in 0..opts.threads {
        let (smtp, pop3, counters, stop, msg, n) = (
            opts.smtp,
            opts.pop3,
            counters.clone(),
            stop.clone(),
            pop3_msg.clone(),
            opts.pop3_messages,
        );
        let durable_path = opts
            .durable
            .as_ref()
            .map(|p| p.with_extension(format!("{t}")));
        handles.push(
            LocalExecutorBuilder::new(Placement::Unbound)
                .name(&format!("sink-{t}"))
                .spawn(move || async move {
                    let mut tasks = Vec::new();
                    let durable = match durable_path {
                        Some(p) => Some(Durable::open(&p).await?),
                        None => None,
                    };
                    if let Some(a) = smtp {
                        let l = TcpListener::bind(a)
                            .map_err(|e| anyhow::anyhow!("binding {a}: {e}"))?;
                        let (c, s) = (counters.clone(), stop.clone());
                        tasks.push(glommio::spawn_local(accept(l, s, move |st| {
                            smtp_conn(st, c.clone(), durable.clone())
                        })));
                    }
                    if let Some(a) = pop3 {
                        let l = TcpListener::bind(a)
                            .map_err(|e| anyhow::anyhow!("binding {a}: {e}"))?;
                        let s = stop.clone();
                        tasks.push(glommio::spawn_local(accept(l, s, move |st| {
                            pop3_conn(st, msg.clone(), n)
                        })));
                    }
                    for t in tasks {
                        t.await;
                    }
                    anyhow::Ok(())
                })
                .map_err(|e| anyhow::anyhow!("starting sink thread {t}: {e}"))?,
        );
    }
    for h in handles {
        h.join()
            .map_err(|e| anyhow::anyhow!("sink thread: {e}"))??;
    }
    Ok(())
}

async fn accept<F, Fut>(l: TcpListener, stop: Arc<std::sync::atomic::AtomicBool>, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>> + 'static,
{
    while !stop.load(Relaxed) {
        let next = futures_lite::future::or(async { Some(l.accept().await) }, async {
            glommio::timer::sleep(std::time::Duration::from_millis(100)).await;
            None
        })
        .await;
        if let Some(Ok(s)) = next {
            let _ = s.set_nodelay(true);
            glommio::spawn_local(serve(s)).detach();
        }
    }
}

/// Reads lines and answers; DATA is skipped to CRLF.CRLF, BDAT by count.
async fn smtp_conn(
    mut s: TcpStream,
    counters: Arc<SinkCounters>,
    durable: Option<Rc<Durable>>,
) -> std::io::Result<()> {
    let mut body: Vec<u8> = Vec::new();
    let keep = durable.is_some();
    s.write_all(b"220 sink ESMTP\r\n").await?;
    let mut buf = vec![0u8; 64 << 10];
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut out = Vec::with_capacity(512);
    let end = memmem::Finder::new(b"\r\n.\r\n");
    loop {
        // Commands.
        while let Some(i) = memchr::memchr(b'\n', &buf[lo..hi]) {
            let line = &buf[lo..lo + i + 1];
            lo += i + 1;
            let verb = line
                .get(..4)
                .map(|v| v.to_ascii_uppercase())
                .unwrap_or_default();
            match &verb[..] {
                b"EHLO" => out.extend_from_slice(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-CHUNKING\r\n250 SIZE 1073741824\r\n"),
                b"QUIT" => {
                    out.extend_from_slice(b"221 bye\r\n");
                    s.write_all(&out).await?;
                    return Ok(());
                }
                b"DATA" => {
                    out.extend_from_slice(b"354 go\r\n");
                    s.write_all(&out).await?;
                    out.clear();
                    // Skip the body; the first line may be the terminator itself.
                    let mut n = 0u64;
                    let mut at_start = true;
                    loop {
                        let w = &buf[lo..hi];
                        if at_start && w.starts_with(b".\r\n") {
                            lo += 3;
                            break;
                        }
                        if let Some(j) = end.find(w) {
                            if keep {
                                body.extend_from_slice(&w[..j + 2]);
                            }
                            lo += j + 5;
                            n += j as u64 + 2;
                            break;
                        }
                        if !(at_start && w.len() < 3) {
                            at_start = false;
                            let hold = w.len().min(4);
                            if keep {
                                body.extend_from_slice(&w[..w.len() - hold]);
                            }
                            n += (w.len() - hold) as u64;
                            lo = hi - hold;
                        }
                        buf.copy_within(lo..hi, 0);
                        hi -= lo;
                        lo = 0;
                        let r = s.read(&mut buf[hi..]).await?;
                        if r == 0 {
                            return Ok(());
                        }
                        hi += r;
                    }
                    if let Some(d) = &durable {
                        d.append(&body).await?;
                        body.clear();
                    }
                    counters.messages.fetch_add(1, Relaxed);
                    counters.bytes.fetch_add(n, Relaxed);
                    out.extend_from_slice(b"250 ok\r\n");
                }
                b"BDAT" => {
                    let args = std::str::from_utf8(&line[4..]).unwrap_or("").trim().to_string();
                    let mut it = args.split_whitespace();
                    let mut n: u64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
                    counters.bytes.fetch_add(n, Relaxed);
                    let last = it.next().is_some_and(|x| x.eq_ignore_ascii_case("LAST"));
                    loop {
                        let have = (hi - lo) as u64;
                        if have >= n {
                            if keep {
                                body.extend_from_slice(&buf[lo..lo + n as usize]);
                            }
                            lo += n as usize;
                            break;
                        }
                        if keep {
                            body.extend_from_slice(&buf[lo..hi]);
                        }
                        n -= have;
                        lo = 0;
                        let r = s.read(&mut buf[..]).await?;
                        if r == 0 {
                            return Ok(());
                        }
                        hi = r;
                    }
                    if last {
                        if let Some(d) = &durable {
                            d.append(&body).await?;
                            body.clear();
                        }
                        counters.messages.fetch_add(1, Relaxed);
                    }
                    out.extend_from_slice(b"250 ok\r\n");
                }
                _ => out.extend_from_slice(b"250 ok\r\n"),
            }
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
        if lo == hi {
            lo = 0;
            hi = 0;
        } else if hi == buf.len() {
            buf.copy_within(lo..hi, 0);
            hi -= lo;
            lo = 0;
            if hi == buf.len() {
                return Ok(()); // a 64 KiB line: not a client we serve
            }
        }
        let r = s.read(&mut buf[hi..]).await?;
        if r == 0 {
            return Ok(());
        }
        hi += r;
    }
}

fn pop3_message(size: usize) -> Vec<u8> {
    let mut m = b"From: sink@loadtest.invalid\r\nSubject: sink message\r\n\r\n".to_vec();
    while m.len() + 80 < size {
        m.extend_from_slice(
            b"The sink serves the same message to every client; its content is not checked.\r\n",
        );
    }
    m.extend_from_slice(b".\r\n");
    m
}

/// A POP3 maildrop of `n` identical messages for any user and password.
async fn pop3_conn(mut s: TcpStream, msg: Arc<Vec<u8>>, n: usize) -> std::io::Result<()> {
    s.write_all(b"+OK sink POP3\r\n").await?;
    let size = msg.len() - 3;
    let mut buf = vec![0u8; 4096];
    let (mut lo, mut hi) = (0usize, 0usize);
    loop {
        while let Some(i) = memchr::memchr(b'\n', &buf[lo..hi]) {
            let line = String::from_utf8_lossy(&buf[lo..lo + i + 1])
                .trim()
                .to_string();
            lo += i + 1;
            let mut parts = line.split_whitespace();
            let verb = parts.next().unwrap_or("").to_ascii_uppercase();
            let arg: usize = parts.next().and_then(|a| a.parse().ok()).unwrap_or(0);
            match verb.as_str() {
                "STAT" => {
                    s.write_all(format!("+OK {n} {}\r\n", n * size).as_bytes())
                        .await?
                }
                "UIDL" | "LIST" if arg == 0 => {
                    let mut out = b"+OK\r\n".to_vec();
                    for k in 1..=n {
                        if verb == "UIDL" {
                            out.extend_from_slice(format!("{k} sink-{k}\r\n").as_bytes());
                        } else {
                            out.extend_from_slice(format!("{k} {size}\r\n").as_bytes());
                        }
                    }
                    out.extend_from_slice(b".\r\n");
                    s.write_all(&out).await?;
                }
                "RETR" if (1..=n).contains(&arg) => {
                    s.write_all(format!("+OK {size} octets\r\n").as_bytes())
                        .await?;
                    s.write_all(&msg).await?;
                }
                "QUIT" => {
                    s.write_all(b"+OK bye\r\n").await?;
                    return Ok(());
                }
                "USER" | "PASS" | "DELE" | "NOOP" | "RSET" | "UIDL" | "LIST" => {
                    s.write_all(b"+OK\r\n").await?
                }
                _ => s.write_all(b"-ERR unknown command\r\n").await?,
            }
        }
        if lo == hi {
            lo = 0;
            hi = 0;
        } else {
            buf.copy_within(lo..hi, 0);
            hi -= lo;
            lo = 0;
            if hi == buf.len() {
                return Ok(());
            }
        }
        let r = s.read(&mut buf[hi..]).await?;
        if r == 0 {
            return Ok(());
        }
        hi += r;
    }
}

/// Group commit into one file: appends join the pending batch; one O_DSYNC write covers it.
pub struct Durable {
    file: glommio::io::BufferedFile,
    pending: RefCell<(Vec<u8>, Vec<async_channel::Sender<()>>)>,
    wake: async_channel::Sender<()>,
}

impl Durable {
    pub async fn open(path: &std::path::Path) -> anyhow::Result<Rc<Durable>> {
        // O_DSYNC: each batch's one write is also its sync (what shardmail's log does), so the ceiling
        // pays one io_uring operation per batch, not a write and an fdatasync.
        let file = glommio::io::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DSYNC)
            .buffered_open(path)
            .await
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
        let (wake, rx) = async_channel::bounded(1);
        let d = Rc::new(Durable {
            file,
            pending: RefCell::new((Vec::new(), Vec::new())),
            wake,
        });
        glommio::spawn_local(flusher(d.clone(), rx)).detach();
        Ok(d)
    }

    /// Resolves once `bytes` are on disk.
    pub async fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        let (tx, rx) = async_channel::bounded(1);
        {
            let mut p = self.pending.borrow_mut();
            p.0.extend_from_slice(bytes);
            p.1.push(tx);
        }
        let _ = self.wake.try_send(());
        rx.recv()
            .await
            .map_err(|_| std::io::Error::other("durable sink writer failed"))
    }
}

async fn flusher(d: Rc<Durable>, wake: async_channel::Receiver<()>) {
    let mut off = 0u64;
    while wake.recv().await.is_ok() {
        loop {
            let (buf, waiters) = std::mem::take(&mut *d.pending.borrow_mut());
            if waiters.is_empty() {
                break;
            }
            let len = buf.len() as u64;
            match d.file.write_at(buf, off).await {
                Ok(n) if n as u64 == len => {}
                _ => return, // waiters see their channel closed
            }
            off += len;
            for w in waiters {
                let _ = w.try_send(());
            }
        }
    }
}
