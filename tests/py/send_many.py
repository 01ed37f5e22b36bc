"""Sends messages with Python's smtplib over several connections.

usage: send_many.py HOST:PORT CONNECTIONS PER_CONNECTION RCPT[,RCPT...] OUTDIR [TOKEN_PREFIX]
Each message is written to OUTDIR/<token>.eml exactly as sent on the wire (before dot-stuffing), and
"OK <token>" is printed once the server accepted it.
"""
import os
import smtplib
import sys
import threading

host, port = sys.argv[1].rsplit(":", 1)
conns, per = int(sys.argv[2]), int(sys.argv[3])
rcpts = sys.argv[4].split(",")
outdir = sys.argv[5]
prefix = sys.argv[6] if len(sys.argv) > 6 else "m"
lock = threading.Lock()
failures = []


def body(token, i):
    lines = [
        f"From: Sender <sender@remote.example>",
        f"To: {', '.join(rcpts)}",
        f"Subject: {token}",
        f"Message-ID: <{token}@remote.example>",
        "",
    ]
    # Lines that need dot-stuffing, an empty line, a long line, and varying sizes.
    for n in range(1 + (i * 37) % 200):
        lines.append(f"{token} line {n} " + "x" * ((n * 13) % 120))
    lines += [".", "..two dots", ". dot space", "", "end"]
    return ("\r\n".join(lines) + "\r\n").encode()


def worker(c):
    try:
        s = smtplib.SMTP(host, int(port), timeout=60)
        s.ehlo("client.example")
        for i in range(per):
            token = f"{prefix}{c:02d}x{i:04d}"
            msg = body(token, i)
            with open(os.path.join(outdir, token + ".eml"), "wb") as f:
                f.write(msg)
            refused = s.sendmail("sender@remote.example", rcpts, msg)
            assert not refused, refused
            with lock:
                print("OK", token, flush=True)
        s.quit()
    except Exception as e:  # reported below; the test fails on any
        failures.append(repr(e))


threads = [threading.Thread(target=worker, args=(c,)) for c in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failures:
    print("FAILURES", failures, file=sys.stderr)
    sys.exit(1)
