"""Concurrent senders that keep going until a deadline, through server crashes and restarts.

usage: durability.py HOST:PORT THREADS SECONDS RCPT[,RCPT...] OUTDIR
Before sending, each message is written to OUTDIR/<token>.eml; "ACK <token>" is printed (and flushed)
only after the server answered 250 to the end of DATA. Errors (connection refused or reset while the
server is down) are retried until the deadline.
"""
import os
import smtplib
import sys
import threading
import time

host, port = sys.argv[1].rsplit(":", 1)
threads, seconds = int(sys.argv[2]), float(sys.argv[3])
rcpts = sys.argv[4].split(",")
outdir = sys.argv[5]
deadline = time.monotonic() + seconds
lock = threading.Lock()


def worker(t):
    i = 0
    while time.monotonic() < deadline:
        try:
            s = smtplib.SMTP(host, int(port), timeout=10)
            s.ehlo("durability.example")
            while time.monotonic() < deadline:
                token = f"d{t:02d}y{i:06d}"
                i += 1
                msg = (
                    f"Subject: {token}\r\nMessage-ID: <{token}@durability.example>\r\n\r\n"
                    + "".join(f"{token} payload line {n}\r\n" for n in range(1 + i % 150))
                ).encode()
                with open(os.path.join(outdir, token + ".eml"), "wb") as f:
                    f.write(msg)
                s.sendmail("load@durability.example", rcpts, msg)
                with lock:
                    print("ACK", token, flush=True)
            s.quit()
        except Exception:
            time.sleep(0.05)


ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
