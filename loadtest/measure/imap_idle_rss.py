#!/usr/bin/env python3
"""RSS of many idle IMAP sessions (issue 10: 10,000 sessions after LOGIN and SELECT, growth under 20 KiB
each). Not a timed test: a measurement for the README and the issue notes.

It starts its own server (the given binary, normally the release build) in a temp dir with one account
and a few messages, raises the open-file limit, opens a warm-up batch of sessions (so the password
verifier's memory and the allocator's arenas are already counted), reads the server's RSS, opens the
rest, waits for RSS to settle and reads it again. Every session sends `LOGIN` and `SELECT INBOX`
pipelined and waits for the SELECT's tagged OK; then it stays open and silent. Prints the growth per
session in KiB (the difference over the sessions opened between the two readings).

usage: loadtest/measure/imap_idle_rss.py [--bin target/release/shardmail] [--sessions 10000]
       [--warmup 200] [--shards 2] [--concurrency 256] [--deadline 900]
Everything is bounded by --deadline seconds; the server is stopped at the end.
"""
import argparse
import os
import resource
import selectors
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = min(max(soft, want), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def start_server(args, d):
    smtp, imap, metrics = free_port(), free_port(), free_port()
    cfg = f"""data_dir = "data"
pin = false
hostname = "mx.example.test"
[smtp]
listen = ["127.0.0.1:{smtp}"]
[submission]
listen = ["127.0.0.1:{free_port()}"]
[imap]
listen = ["127.0.0.1:{imap}"]
max_connections_per_shard = {args.sessions + args.warmup + 100}
max_connections_per_ip = {args.sessions + args.warmup + 100}
[pop3]
listen = ["127.0.0.1:{free_port()}"]
[metrics]
listen = ["127.0.0.1:{metrics}"]
"""
    with open(os.path.join(d, "shardmail.toml"), "w") as f:
        f.write(cfg)
    base = [args.bin, "--config", "shardmail.toml"]
    subprocess.run(base + ["account", "add", "idle@example.test", "--password", "secret"],
                   cwd=d, check=True, capture_output=True)
    log = open(os.path.join(d, "server.log"), "w")
    # The server inherits the raised open-file limit.
    server = subprocess.Popen(base + ["serve", "--shards", str(args.shards)], cwd=d,
                              stdout=subprocess.DEVNULL, stderr=log,
                              env=dict(os.environ, SHARDMAIL_LOG="warn"))
    t = time.time()
    while True:
        try:
            with socket.create_connection(("127.0.0.1", smtp), timeout=1) as s:
                if s.recv(3) == b"220":
                    break
        except OSError:
            pass
        if server.poll() is not None or time.time() - t > 30:
            raise SystemExit("the server did not start; see " + log.name)
        time.sleep(0.05)
    return server, smtp, imap


def deliver(smtp_port, n):
    s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=30)
    for i in range(n):
        s.sendmail("sender@remote.example", ["idle@example.test"],
                   f"From: s@remote.example\r\nSubject: m{i}\r\n\r\nbody {i}\r\n".encode())
    s.quit()


def open_sessions(imap_port, n, concurrency, deadline, compress=False):
    """Opens n sessions (LOGIN + SELECT pipelined, then COMPRESS DEFLATE if asked), at most
    `concurrency` logging in at once."""
    sel = selectors.DefaultSelector()
    done = []
    started = 0
    busy = {}
    request = b"a LOGIN idle@example.test secret\r\nb SELECT INBOX\r\n"
    if compress:
        # RFC 4978: the tagged OK is the last plaintext; nothing is sent after it here.
        request += b"c COMPRESS DEFLATE\r\n"
    last = b"c OK" if compress else b"b OK"

    def start():
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", imap_port))
        busy[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)

    while len(done) < n:
        while started < n and len(busy) < concurrency:
            start()
            started += 1
        if time.time() > deadline:
            raise SystemExit(f"deadline: {len(done)} sessions open")
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                raise SystemExit(f"a session was closed: {bytes(busy[s][-200:])!r}")
            buf = busy[s]
            first = not buf
            buf.extend(chunk)
            if first and buf.startswith(b"* OK"):
                s.send(request)
            if b"\r\n" + last in buf:
                sel.unregister(s)
                del busy[s]
                done.append(s)
            elif b"\r\nb NO" in buf or b"\r\na NO" in buf or b" BAD " in buf:
                raise SystemExit(f"refused: {bytes(buf[-300:])!r}")
    sel.close()
    return done


def settle(pid, seconds=3.0):
    """RSS once it stopped moving (allocator trims, late frees), within `seconds`."""
    last = rss_kib(pid)
    t = time.time()
    while time.time() - t < seconds:
        time.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/shardmail")
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--deadline", type=int, default=900)
    ap.add_argument("--compress", action="store_true", help="each session also turns on COMPRESS=DEFLATE")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    deadline = time.time() + args.deadline
    limit = raise_nofile(args.sessions + args.warmup + 1000)
    if limit < args.sessions + args.warmup + 100:
        raise SystemExit(f"open-file limit {limit} is too low for {args.sessions} sessions")
    with tempfile.TemporaryDirectory() as d:
        server, smtp, imap = start_server(args, d)
        try:
            deliver(smtp, 20)
            time.sleep(1)  # filing after the 250s
            base = settle(server.pid)
            warm = open_sessions(imap, args.warmup, args.concurrency, deadline, args.compress)
            before = settle(server.pid)
            t = time.time()
            rest = open_sessions(imap, args.sessions, args.concurrency, deadline, args.compress)
            took = time.time() - t
            after = settle(server.pid)
            per = (after - before) / args.sessions
            print(f"server RSS: {base} KiB at start, {before} KiB with {len(warm)} warm-up sessions, "
                  f"{after} KiB with {len(warm) + len(rest)} sessions")
            print(f"{args.sessions} sessions opened (LOGIN + SELECT) in {took:.1f} s "
                  f"({args.shards} shards, {args.bin})")
            kind = "compressed idle session" if args.compress else "idle session"
            print(f"RSS growth per {kind}: {per:.2f} KiB")
            for s in warm + rest:
                s.close()
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
