//! End-to-end tests of the connection driver and the shard runtime around it: write timeouts, whole-line
//! and whole-transfer time limits, shutdown, the in-flight memory budget, refusing at MAIL on a full
//! disk, the metrics listener's limits and a log writer that never stalls a shard.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Raw, Server};

/// Reads until the peer closes (or `limit` passes); returns what came and whether it closed.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while t.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&got).into_owned(), true)
            }
            Err(_) => {}
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

/// Connects and pipelines `n` NOOPs without ever reading; returns when the server cuts the connection
/// (the write fails) or `limit` passes, with whether it was cut.
fn flood_noops(
    addr: std::net::SocketAddr,
    n: usize,
    limit: Duration,
) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let chunk = b"NOOP\r\n".repeat(10_000);
        let t = Instant::now();
        let mut sent = 0;
        let mut off = 0;
        while sent < n && t.elapsed() < limit {
            match s.write(&chunk[off..]) {
                Ok(k) => {
                    off += k;
                    if off == chunk.len() {
                        off = 0;
                        sent += 10_000;
                    }
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
        // All sent: the server may still be blocked on us. Keep not reading until it cuts us.
        while t.elapsed() < limit {
            match s.write(b"NOOP\r\n") {
                Ok(_) => std::thread::sleep(Duration::from_millis(50)),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
        false
    })
}

#[test]
fn a_client_that_never_reads_is_cut_after_the_write_timeout() {
    let mut s = Server::new("smtp.write_timeout = 2");
    s.start(1);
    let t = Instant::now();
    let cut = flood_noops(s.smtp, 2_000_000, Duration::from_secs(60))
        .join()
        .unwrap();
    assert!(cut, "the server never cut a client that does not read");
    assert!(
        t.elapsed() < Duration::from_secs(45),
        "cut only after {:?}",
        t.elapsed()
    );
    assert_eq!(s.metric_sum("shardmail_write_timeouts_total"), 1);
    // The shard is free: a new session works.
    let mut c = Raw::connect(s.smtp);
    assert!(c.cmd("NOOP").starts_with("250"));
}

#[test]
fn sigterm_while_a_client_never_reads_exits_zero_with_every_log_closed() {
    // A write timeout far beyond the test: only shutdown can end the blocked session.
    let mut s = Server::new("smtp.write_timeout = 3600\n[shutdown]\ntimeout = 2");
    s.start(2);
    let flood = flood_noops(s.smtp, 2_000_000, Duration::from_secs(60));
    // Wait until the server is blocked writing replies nobody reads.
    std::thread::sleep(Duration::from_secs(3));
    let mut idle = Raw::connect(s.smtp);
    let t = Instant::now();
    s.sigterm();
    assert_eq!(
        idle.reply(),
        "421 4.3.2 Service shutting down, closing connection\r\n",
        "an idle session is told at once"
    );
    let code = s.stop();
    assert_eq!(code, Some(0), "{}", s.log());
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "stopped after {:?}",
        t.elapsed()
    );
    assert!(flood.join().unwrap(), "the flooding client was cut");
    let log = s.log();
    for shard in 0..2 {
        assert!(
            log.lines()
                .any(|l| l.contains("log closed") && l.contains(&format!("shard={shard}"))),
            "shard {shard} did not close its log:\n{log}"
        );
    }
}

#[test]
fn a_command_line_trickled_one_byte_at_a_time_is_cut_off() {
    let mut s = Server::new("smtp.idle_timeout = 2");
    s.start(1);
    let mut c = TcpStream::connect(s.smtp).unwrap();
    let mut greet = [0u8; 64];
    let _ = c.read(&mut greet).unwrap();
    let t = Instant::now();
    // One byte every 300 ms: each read comes well within the limit, the line never completes in time.
    let mut closed = false;
    let mut got = String::new();
    for b in b"NOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOP"
        .iter()
        .cycle()
        .take(60)
    {
        if c.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        let (more, eof) = read_until_closed(&mut c, Duration::from_millis(300));
        got.push_str(&more);
        if eof {
            closed = true;
            break;
        }
    }
    assert!(closed, "still open after {:?}: {got}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "cut after {:?}",
        t.elapsed()
    );
    assert_eq!(got, "421 4.4.2 Timeout, closing connection\r\n");
    assert_eq!(s.metric_sum("shardmail_read_timeouts_total"), 1);
}

#[test]
fn a_message_trickled_one_byte_at_a_time_is_cut_off() {
    let mut s = Server::new("smtp.transfer_timeout = 2\nsmtp.command_timeout = 60");
    s.add_account("alice@example.test");
    s.start(1);
    let mut c = Raw::connect(s.smtp);
    c.cmd("EHLO trickle.example");
    c.cmd("MAIL FROM:<a@remote.example>");
    c.cmd("RCPT TO:<alice@example.test>");
    assert!(c.cmd("DATA").starts_with("354"));
    let t = Instant::now();
    let mut w = c.w.try_clone().unwrap();
    let mut closed = false;
    let mut got = String::new();
    for _ in 0..60 {
        if w.write_all(b"x").is_err() {
            closed = true;
            break;
        }
        let (more, eof) = read_until_closed(&mut w, Duration::from_millis(300));
        got.push_str(&more);
        if eof {
            closed = true;
            break;
        }
    }
    assert!(closed, "still open after {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "cut after {:?}",
        t.elapsed()
    );
    assert_eq!(got, "421 4.4.2 Timeout, closing connection\r\n");
    assert!(s.ls_err("alice@example.test"), "nothing was stored");
}

#[test]
fn over_the_inflight_budget_new_transactions_get_452_and_the_session_goes_on() {
    let mut s = Server::new("smtp.inflight_budget = 100000\nsmtp.max_message_size = 1000000");
    s.add_account("alice@example.test");
    s.start(1);
    let mut a = Raw::connect(s.smtp);
    a.cmd("EHLO a.example");
    a.cmd("MAIL FROM:<a@remote.example>");
    a.cmd("RCPT TO:<alice@example.test>");
    assert!(a.cmd("DATA").starts_with("354"));
    // 150 KB held in memory, the message not yet ended.
    let line = format!("{}\r\n", "y".repeat(998));
    a.send(line.repeat(150).as_bytes());
    let mut b = Raw::connect(s.smtp);
    b.cmd("EHLO b.example");
    let t = Instant::now();
    loop {
        // The server may not have read all of A's bytes yet.
        let r = b.cmd("MAIL FROM:<b@remote.example>");
        if r.starts_with("452 4.3.1") {
            break;
        }
        assert!(r.starts_with("250"), "{r}");
        b.cmd("RSET");
        assert!(t.elapsed() < Duration::from_secs(10), "never refused");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        s.metric_sum("shardmail_inflight_message_bytes") >= 100_000,
        "{}",
        s.metrics()
    );
    // The refused session goes on.
    assert!(b.cmd("NOOP").starts_with("250"));
    // A's message completes; memory is given back and B can start.
    a.send(b".\r\n");
    assert!(a.reply().starts_with("250 2.0.0"));
    assert!(b.cmd("MAIL FROM:<b@remote.example>").starts_with("250"));
    b.cmd("RCPT TO:<alice@example.test>");
    assert!(b.cmd("DATA").starts_with("354"));
    b.send(b"Subject: b\r\n\r\nsmall\r\n.\r\n");
    assert!(b.reply().starts_with("250 2.0.0"));
    // A message larger than the whole budget still goes through when nothing else is in flight.
    assert!(a
        .cmd("MAIL FROM:<a@remote.example> SIZE=300000")
        .starts_with("250"));
    a.cmd("RSET");
    assert!(s.metric_sum("shardmail_transactions_refused_memory_total") >= 1);
    assert_eq!(s.metric_sum("shardmail_inflight_message_bytes"), 0);
    assert_eq!(s.ls("alice@example.test", "INBOX").len(), 2);
}

/// A tmpfs of `size` mounted for the life of the value (as the storage tests do; needs root, as CI has).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(
            st.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs { dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn on_a_full_disk_mail_is_refused_before_the_upload() {
    let fs = Tmpfs::mount("4m");
    let data = fs.dir.path().join("data");
    let mut s = Server::new(&format!(
        "storage.segment_size = 1048576\nsmtp.max_message_size = 300000\ndata_dir = {:?}",
        data.display().to_string()
    ));
    // The common config names data_dir too; the later key would clash, so drop the first.
    let cfg = std::fs::read_to_string(s.path("shardmail.toml")).unwrap();
    std::fs::write(
        s.path("shardmail.toml"),
        cfg.replacen("data_dir = \"data\"\n", "", 1),
    )
    .unwrap();
    s.add_account("alice@example.test");
    s.start(1);
    let mut c = Raw::connect(s.smtp);
    c.cmd("EHLO full.example");
    // Leave about 1 MiB, held by a filler that is removed later.
    let filler = fs.dir.path().join("filler");
    fill_leaving(&filler, 1 << 20);
    let body = format!("Subject: fill\r\n\r\n{}\r\n", "z".repeat(250_000));
    let mut accepted = 0;
    let mut full_after_upload = false;
    for _ in 0..40 {
        let r = c.cmd("MAIL FROM:<a@remote.example>");
        if r.starts_with("452") {
            break;
        }
        assert!(r.starts_with("250"), "{r}");
        c.cmd("RCPT TO:<alice@example.test>");
        assert!(c.cmd("DATA").starts_with("354"));
        c.send(body.as_bytes());
        c.send(b".\r\n");
        let r = c.reply();
        if r.starts_with("452 4.3.1") {
            full_after_upload = true;
            continue;
        }
        assert!(r.starts_with("250 2.0.0"), "{r}");
        accepted += 1;
    }
    assert!(full_after_upload, "the disk never filled");
    // Once the shard knows, MAIL is refused before the upload, with or without SIZE.
    assert!(c
        .cmd("MAIL FROM:<a@remote.example> SIZE=250000")
        .starts_with("452 4.3.1"));
    assert!(c
        .cmd("MAIL FROM:<a@remote.example>")
        .starts_with("452 4.3.1"));
    assert!(c.cmd("NOOP").starts_with("250"), "the session goes on");
    assert!(s.metric_sum("shardmail_transactions_refused_disk_total") >= 2);
    // Space comes back: new transactions are admitted (within the free-space reading's second).
    std::fs::remove_file(&filler).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert!(c.cmd("MAIL FROM:<a@remote.example>").starts_with("250"));
    c.cmd("RCPT TO:<alice@example.test>");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(body.as_bytes());
    c.send(b".\r\n");
    assert!(c.reply().starts_with("250 2.0.0"));
    // Without a failed append, a declared SIZE above the free space is refused at MAIL too.
    fill_leaving(&filler, 100 << 10);
    std::thread::sleep(Duration::from_millis(1100));
    assert!(c
        .cmd("MAIL FROM:<a@remote.example> SIZE=250000")
        .starts_with("452 4.3.1"));
    assert!(c
        .cmd("MAIL FROM:<a@remote.example> SIZE=1000")
        .starts_with("250"));
    drop(c);
    s.kill9();
    assert!(accepted >= 1, "some messages fit before the disk filled");
}

/// Grows `filler` until the file system is full, then shrinks it to leave about `room` bytes free.
fn fill_leaving(filler: &std::path::Path, room: u64) {
    let mut f = std::fs::File::create(filler).unwrap();
    let mut written = 0u64;
    while f.write_all(&[0u8; 64 << 10]).is_ok() {
        written += 64 << 10;
    }
    drop(f);
    std::fs::OpenOptions::new()
        .write(true)
        .open(filler)
        .unwrap()
        .set_len(written.saturating_sub(room))
        .unwrap();
}

#[test]
fn metrics_connections_are_capped_and_time_out() {
    let mut s = Server::new("metrics.timeout = 1\nmetrics.max_connections = 2");
    s.start(1);
    let mut quiet: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.metrics).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Over the cap: refused at once.
    let mut third = TcpStream::connect(s.metrics).unwrap();
    let (r, closed) = read_until_closed(&mut third, Duration::from_secs(5));
    assert!(closed && r.starts_with("HTTP/1.1 503"), "{r}");
    // The two that send nothing are cut by the timeout.
    let t = Instant::now();
    for q in &mut quiet {
        let (r, closed) = read_until_closed(q, Duration::from_secs(10));
        assert!(closed, "a silent metrics client was not cut");
        assert_eq!(r, "");
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // And the endpoint serves again.
    let m = s.metrics();
    assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
    assert_eq!(s.metric_sum("shardmail_metrics_timeouts_total"), 2);
    assert_eq!(s.metric_sum("shardmail_metrics_refused_total"), 1);
}

#[test]
fn a_stalled_log_reader_never_stalls_the_server_and_drops_are_counted() {
    let mut s = Server::new("");
    s.add_account("alice@example.test");
    // stderr is a pipe nobody reads: it fills after 64 KiB and the log writer blocks for good.
    s.start_with(
        1,
        Stdio::piped(),
        &[("SHARDMAIL_LOG", "debug"), ("SHARDMAIL_LOG_BUFFER", "16")],
    );
    let mut c = Raw::connect(s.smtp);
    c.cmd("EHLO log.example");
    let t = Instant::now();
    for i in 0..1500 {
        c.cmd("MAIL FROM:<a@remote.example>");
        c.cmd("RCPT TO:<alice@example.test>");
        c.cmd("DATA");
        c.send(format!("Subject: {i}\r\n\r\n{}\r\n.\r\n", "l".repeat(200)).as_bytes());
        let r = c.reply();
        assert!(r.starts_with("250 2.0.0"), "message {i}: {r}");
    }
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    // The counter is process-wide (no shard label).
    let dropped = s
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix("shardmail_log_lines_dropped_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(matches!(dropped, Some(n) if n > 0), "{dropped:?}");
}

/// Voluntary context switches of the server's shard threads so far: each is a thread going to sleep
/// and being woken, what an idle connection must not cause. Involuntary ones (the kernel preempting a
/// shard for other work on the machine) measure the machine's load, not the server, and made this
/// test fail on a busy machine (40 in 2 s while a large directory was being deleted).
fn shard_thread_switches(pid: u32) -> (usize, u64) {
    let mut threads = 0;
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("shard-") {
            continue;
        }
        threads += 1;
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.starts_with("voluntary_ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    (threads, total)
}

#[test]
fn idle_connections_cost_the_shards_no_wake_ups() {
    let mut s = Server::new("smtp.max_connections_per_ip = 5000");
    s.start(2);
    let conns: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut c = TcpStream::connect(s.smtp).unwrap();
            let mut greet = [0u8; 64];
            let _ = c.read(&mut greet).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let pid = s.child.as_ref().unwrap().id();
    let (threads, before) = shard_thread_switches(pid);
    assert!(
        threads >= 2,
        "the shard threads are named shard-N ({threads} found)"
    );
    std::thread::sleep(Duration::from_secs(2));
    let (_, after) = shard_thread_switches(pid);
    // With a 250 ms poll per connection this was thousands; parked on their reads and the shutdown
    // signal, 500 idle connections wake nothing.
    assert!(
        after - before < 40,
        "{} voluntary context switches of the shard threads in 2 s with 500 idle connections",
        after - before
    );
    assert_eq!(s.metric_sum("shardmail_connections_open"), 500);
    drop(conns);
}

#[test]
fn a_declared_size_counts_against_the_budget_from_mail_on() {
    // Pipelined transactions arrive together: the budget must see each declared SIZE before any body.
    let mut s = Server::new("smtp.inflight_budget = 100000\nsmtp.max_message_size = 1000000");
    s.add_account("alice@example.test");
    s.start(1);
    let mut a = Raw::connect(s.smtp);
    a.cmd("EHLO a.example");
    assert!(a
        .cmd("MAIL FROM:<a@remote.example> SIZE=80000")
        .starts_with("250"));
    let mut b = Raw::connect(s.smtp);
    b.cmd("EHLO b.example");
    assert!(b
        .cmd("MAIL FROM:<b@remote.example> SIZE=50000")
        .starts_with("452 4.3.1"));
    assert!(b
        .cmd("MAIL FROM:<b@remote.example> SIZE=10000")
        .starts_with("250"));
    b.cmd("RSET");
    // The reservation ends with the transaction.
    a.cmd("RSET");
    assert!(b
        .cmd("MAIL FROM:<b@remote.example> SIZE=50000")
        .starts_with("250"));
    assert_eq!(s.metric_sum("shardmail_inflight_message_bytes"), 50000);
}
