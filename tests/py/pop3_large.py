"""A large message over POP3 (issue 11: RETR and TOP stream from the mmap, dot-stuffed on the fly, in
pieces): a 3 MB message whose lines start with dots all over it, at every offset a piece boundary may
fall on, is retrieved byte for byte as IMAP serves it, twice in one pipelined write with a LIST after
(the replies come back whole and in order), and TOP of it stops where it should.

usage: pop3_large.py SMTP IMAP POP3 USER
"""
import poplib
import re
import socket
import sys
import time

from imap_common import addr, login, ok, send

smtp, imap, pop3, user = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
host, port = addr(pop3)

lines = []
n = 0
while sum(len(l) + 2 for l in lines) < 3 << 20:
    # Every 7th line starts with a dot; line lengths vary so dots land at every offset of a piece.
    lead = "." if n % 7 == 0 else ""
    lines.append(lead + f"line {n} " + "z" * (n * 31 % 997))
    n += 1
body = "\r\n".join(lines) + "\r\n"
send(smtp, user, "large", body)

i = login(imap, user)
t = time.time()
while True:
    typ, data = i.status("INBOX", "(MESSAGES)")
    if int(re.search(rb"MESSAGES (\d+)", data[0]).group(1)) >= 1:
        break
    assert time.time() - t < 30, "not filed"
    time.sleep(0.05)
ok(i.select("INBOX", readonly=True))
typ, data = i.fetch("1", "(BODY.PEEK[])")
want = data[0][1]
i.logout()
assert len(want) > 3 << 20, len(want)

c = poplib.POP3(host, port, timeout=60)
c.user(user)
c.pass_("secret")
resp, got, octets = c.retr(1)
assert b"".join(l + b"\r\n" for l in got) == want
assert octets == len(want), (octets, len(want))
print("OK retr-large")

resp, top, _ = c.top(1, 50)
head, rest = want.split(b"\r\n\r\n", 1)
assert top == head.split(b"\r\n") + [b""] + rest.split(b"\r\n")[:50], top[-3:]
print("OK top-large")
c.quit()

# Two RETRs and a LIST in one write: the raw replies, dot-stuffed, in order.
s = socket.create_connection((host, port), timeout=60)
f = s.makefile("rb")
assert f.readline().startswith(b"+OK")
s.sendall(f"USER {user}\r\n".encode())
assert f.readline().startswith(b"+OK")
s.sendall(b"PASS secret\r\n")
assert f.readline().startswith(b"+OK")
s.sendall(b"RETR 1\r\nRETR 1\r\nLIST\r\nQUIT\r\n")
stuffed = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in want.split(b"\r\n")[:-1])
for _ in range(2):
    status = f.readline()
    assert status.startswith(b"+OK"), status
    data = b""
    while not data.endswith(b"\r\n.\r\n"):
        chunk = f.readline()
        assert chunk, "EOF inside RETR"
        data += chunk
    assert data[:-3] == stuffed, "the stuffed bytes differ"
assert f.readline().startswith(b"+OK")
assert f.readline() == f"1 {len(want)}\r\n".encode()
assert f.readline() == b".\r\n"
assert f.readline().startswith(b"+OK")
print("OK pipelined-large")
