"""IDLE (RFC 2177) woken by SMTP deliveries: a session idles on INBOX while messages are delivered by
SMTP; each delivery must show up as an untagged EXISTS during the IDLE. Prints the latency from the
start of the SMTP transaction (connect, MAIL, RCPT, DATA) to the EXISTS line as "LATENCY p50_ms p99_ms
max_ms", and from the SMTP 250 as "AFTER250 p50_ms p99_ms max_ms" (0 when the EXISTS came first: the
owner files in the same group commit as the 250 when it accepted the message itself).

usage: imap_idle.py SMTP IMAP USER COUNT
imaplib (3.11) has no IDLE call: the command is written and its responses read with imaplib's own
socket helpers.
"""
import re
import sys
import threading
import time

from imap_common import login, ok, send

smtp, imap, user, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

c = login(imap, user)
typ, data = c.select("INBOX")
assert typ == "OK", data
base = int(data[0])
c.sock.settimeout(15)

tag = c._new_tag()
c.send(tag + b" IDLE\r\n")
line = c.readline()
assert line.startswith(b"+"), line

started_at = {}
sent_at = {}
latencies = []
after_250 = []


def deliver():
    for i in range(count):
        started_at[base + i + 1] = time.perf_counter()
        send(smtp, user, f"idle {i}", f"wake up {i}\r\n")
        sent_at[base + i + 1] = time.perf_counter()
        time.sleep(0.02)


t = threading.Thread(target=deliver)
t.start()
seen = base
while seen < base + count:
    line = c.readline()
    assert line, "the connection closed during IDLE"
    now = time.perf_counter()
    m = re.match(rb"\* (\d+) EXISTS", line)
    if not m:
        continue
    n = int(m.group(1))
    for k in range(seen + 1, n + 1):
        latencies.append(now - started_at[k])
        # The EXISTS can overtake the sender's return from sendmail: then it counts as 0.
        after_250.append(max(0.0, now - sent_at.get(k, now)))
    seen = max(seen, n)
t.join()
c.send(b"DONE\r\n")
while True:
    line = c.readline()
    assert line, "closed before the IDLE's tagged reply"
    if line.startswith(tag):
        assert line.split()[1] == b"OK", line
        break
ok(c.noop())
c.logout()

for name, xs in [("LATENCY", latencies), ("AFTER250", after_250)]:
    xs.sort()
    p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))] * 1000
    print(f"{name} {p(0.50):.2f} {p(0.99):.2f} {xs[-1] * 1000:.2f}")
