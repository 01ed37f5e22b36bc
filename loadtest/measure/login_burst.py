#!/usr/bin/env python3
"""What a burst of logins does to a shard's other sessions (issue 12: "verifying a password must not
stall the shard's other sessions"). Not a timed test: numbers for the README and issue notes.

Starts the given shardmail (its own data directory and ports, login cache off so that every login
is a full argon2id check on the verifier threads), logs PROBES POP3 sessions in, and has each send
NOOP every PACE ms and time the reply. First a quiet phase, then a phase in which BURST clients log in
and out as fast as they can (USER/PASS/QUIT, right passwords). Prints the probes' reply latency in each
phase and the burst's login rate and latency.

Run it under the heavy lock:
  flock /work/heavy.lock python3 loadtest/measure/login_burst.py target/release/shardmail [SECONDS]
env: PROBES (4), BURST (16), PACE (5 ms), SHARDS (2), PORT (5810), CACHE (0: the login cache's TTL)
"""
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1]
SECS = float(sys.argv[2]) if len(sys.argv) > 2 else 8
PROBES = int(os.environ.get("PROBES", 4))
BURST = int(os.environ.get("BURST", 16))
PACE = float(os.environ.get("PACE", 5)) / 1000
SHARDS = os.environ.get("SHARDS", "2")
PORT = int(os.environ.get("PORT", 5810))
CACHE = os.environ.get("CACHE", "0")
PASSWORD = "benchpass"


def user(i):
    return f"user{i}@bench.test"


class Pop:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")
        self.line()

    def line(self):
        return self.f.readline()

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\r\n")
        return self.line()

    def login(self, u):
        assert self.cmd(f"USER {u}").startswith(b"+OK")
        r = self.cmd(f"PASS {PASSWORD}")
        assert r.startswith(b"+OK"), r
        return r

    def close(self):
        try:
            self.cmd("QUIT")
        finally:
            self.s.close()


def probe(i, until, out):
    """One logged-in session: NOOP every PACE seconds until `until`; the latencies (ms) go to `out`."""
    p = Pop()
    p.login(user(i))
    lat = []
    nxt = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= until:
            break
        if nxt > now:
            time.sleep(nxt - now)
        t = time.perf_counter()
        assert p.cmd("NOOP").startswith(b"+OK")
        lat.append((time.perf_counter() - t) * 1000)
        nxt += PACE
    p.close()
    out.put(lat)


def probes(secs):
    """Runs the probes in processes of their own (the burst's threads do not share their GIL)."""
    q = multiprocessing.Queue()
    until = time.monotonic() + secs
    ps = [multiprocessing.Process(target=probe, args=(i, until, q)) for i in range(PROBES)]
    for p in ps:
        p.start()
    lat = []
    for _ in ps:
        lat += q.get(timeout=secs + 60)
    for p in ps:
        p.join()
    return lat


def burst(i, stop, logins):
    u = user(PROBES + i)
    while not stop.is_set():
        t = time.perf_counter()
        p = Pop()
        p.login(u)
        logins.append((time.perf_counter() - t) * 1000)
        p.close()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def show(name, lat):
    print(
        f"{name}: {len(lat)} NOOPs, p50 {statistics.median(lat):.2f} ms, p99 {pct(lat, 0.99):.2f} ms, "
        f"p99.9 {pct(lat, 0.999):.2f} ms, max {max(lat):.2f} ms"
    )


def main():
    work = tempfile.mkdtemp(prefix="login-burst.")
    conf = os.path.join(work, "c.toml")
    with open(conf, "w") as f:
        f.write(
            f'data_dir = "{work}/data"\nhostname = "bench.test"\n'
            f'[smtp]\nlisten = ["127.0.0.1:{PORT + 1}"]\n[submission]\nlisten = ["127.0.0.1:{PORT + 2}"]\n'
            f'[imap]\nlisten = ["127.0.0.1:{PORT + 3}"]\nverify_cache_ttl = {CACHE}\n'
            f'[pop3]\nlisten = ["127.0.0.1:{PORT}"]\n[metrics]\nlisten = ["127.0.0.1:{PORT + 4}"]\n'
        )
    for i in range(PROBES + BURST):
        subprocess.run([BIN, "--config", conf, "account", "add", user(i), "--password", PASSWORD],
                       check=True, stdout=subprocess.DEVNULL)
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([BIN, "--config", conf, "serve", "--shards", SHARDS], stderr=log)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        print(f"shardmail --shards {SHARDS}, {PROBES} probe sessions (NOOP every {PACE * 1000:.0f} ms), "
              f"{BURST} burst clients, login cache TTL {CACHE} s, {SECS:.0f} s a phase, {os.cpu_count()} CPUs")
        show("quiet", probes(SECS))
        stop, logins = threading.Event(), []
        ts = [threading.Thread(target=burst, args=(i, stop, logins)) for i in range(BURST)]
        for t in ts:
            t.start()
        time.sleep(0.5)
        n0, t0 = len(logins), time.monotonic()
        lat = probes(SECS)
        rate = (len(logins) - n0) / (time.monotonic() - t0)
        stop.set()
        for t in ts:
            t.join()
        show("during the burst", lat)
        print(f"burst: {rate:.0f} logins/s, login (connect+USER+PASS) p50 {statistics.median(logins):.1f} ms, "
              f"p99 {pct(logins, 0.99):.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
