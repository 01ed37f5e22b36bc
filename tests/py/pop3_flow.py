"""POP3 end to end with Python's poplib (RFC 1939): a maildrop delivered by SMTP is read through every
command, checked byte for byte and id for id against what IMAP serves for the same INBOX, then
changed (DELE, RSET, QUIT's UPDATE) and checked again after reconnecting.

usage: pop3_flow.py SMTP IMAP POP3 USER
Prints "OK <step>" for each step that passed.
"""
import base64
import poplib
import re
import socket
import sys
import time

from imap_common import addr, login, ok, send

smtp, imap, pop3, user = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
host, port = addr(pop3)


def connect(password="secret"):
    c = poplib.POP3(host, port, timeout=30)
    c.user(user)
    c.pass_(password)
    return c


def wait_count(n, timeout=15.0):
    """SMTP's 250 comes before the queue files the message: wait until the maildrop holds n."""
    t = time.time()
    while True:
        c = connect()
        have = c.stat()[0]
        c.quit()
        if have >= n:
            return have
        assert time.time() - t < timeout, f"maildrop has {have}, waited for {n}"
        time.sleep(0.05)


def imap_state():
    """(UIDVALIDITY, [(uid, BODY[] bytes)]) of INBOX as IMAP sees it."""
    i = login(imap, user)
    ok(i.select("INBOX", readonly=True))
    typ, data = i.status("INBOX", "(UIDVALIDITY)")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
    typ, data = i.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    msgs = []
    for part in data:
        if isinstance(part, tuple):
            uid = int(re.search(rb"UID (\d+)", part[0]).group(1))
            msgs.append((uid, part[1]))
    i.logout()
    return uv, sorted(msgs)


# Lines that need dot-stuffing (RFC 1939 3), an empty line in the body, and a long body.
bodies = [
    "first body\r\n.\r\n..two dots\r\n.leading dot\r\n\r\nend\r\n",
    "second body\r\n" + "".join(f"line {n} " + "y" * (n % 90) + "\r\n" for n in range(400)),
    "third body\r\n",
]
for n, b in enumerate(bodies):
    send(smtp, user, f"pop message {n}", b)
wait_count(len(bodies))
uv, imap_msgs = imap_state()
assert len(imap_msgs) == 3, imap_msgs

# CAPA (RFC 2449) names what the tests use: before login USER and SASL PLAIN too.
c = poplib.POP3(host, port, timeout=30)
caps = c.capa()
for cap in ["TOP", "UIDL", "USER", "SASL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]:
    assert cap in caps, caps
assert "PLAIN" in caps["SASL"], caps
assert "STLS" not in caps, caps
c.quit()
c = connect()
caps = c.capa()
for cap in ["TOP", "UIDL", "RESP-CODES", "PIPELINING"]:
    assert cap in caps, caps
print("OK login")
print("OK capa")

count, total = c.stat()
assert count == 3 and total == sum(len(m) for _, m in imap_msgs), (count, total, imap_msgs)
print("OK stat")

resp, listing, _ = c.list()
assert resp.startswith(b"+OK"), resp
sizes = [tuple(int(x) for x in l.split()) for l in listing]
assert sizes == [(n + 1, len(m)) for n, (_, m) in enumerate(imap_msgs)], (sizes, imap_msgs)
assert c.list(2).split()[1:] == [b"2", str(len(imap_msgs[1][1])).encode()]
print("OK list")

for n, (_, want) in enumerate(imap_msgs, 1):
    resp, lines, octets = c.retr(n)
    got = b"".join(l + b"\r\n" for l in lines)
    assert got == want, (n, got, want)
    # poplib counts the octets it read less the stuffed dots: the message's size, as LIST said.
    assert octets == len(want), (n, octets, len(want))
print("OK retr")

resp, lines, _ = c.top(1, 0)
head = imap_msgs[0][1].split(b"\r\n\r\n", 1)[0]
assert b"\r\n".join(lines) == head + b"\r\n", (lines, head)
resp, lines, _ = c.top(1, 3)
body_lines = imap_msgs[0][1].split(b"\r\n\r\n", 1)[1].split(b"\r\n")
assert lines[-3:] == body_lines[:3], (lines, body_lines)
assert lines[-2] == b".", "a stuffed line comes back as it was"
print("OK top")

resp, ids, _ = c.uidl()
uidls = [l.split()[1].decode() for l in ids]
assert uidls == [f"{uv}.{uid}" for uid, _ in imap_msgs], (uidls, uv, imap_msgs)
assert c.uidl(3).split()[2].decode() == uidls[2]
print("OK uidl")

assert c.noop().startswith(b"+OK")
c.dele(1)
for bad in [lambda: c.retr(1), lambda: c.list(1), lambda: c.dele(1), lambda: c.retr(4), lambda: c.top(9, 0)]:
    try:
        bad()
        raise AssertionError("a deleted or missing message answered +OK")
    except poplib.error_proto as e:
        assert str(e).startswith("b'-ERR"), e
count, total = c.stat()
assert count == 2 and total == len(imap_msgs[1][1]) + len(imap_msgs[2][1]), (count, total)
resp, listing, _ = c.list()
assert [int(l.split()[0]) for l in listing] == [2, 3], listing
print("OK dele")

assert c.rset().startswith(b"+OK")
assert c.stat()[0] == 3
print("OK rset")

# Unknown and malformed commands get -ERR and the session goes on.
for line in ["FOO", "RETR x", "LIST 1 2", "DELE", "TOP 1"]:
    try:
        c._shortcmd(line)
        raise AssertionError(f"{line} answered +OK")
    except poplib.error_proto as e:
        assert str(e).startswith("b'-ERR"), (line, e)
assert c.stat()[0] == 3
print("OK errors")

c.dele(1)
c.dele(3)
assert c.quit().startswith(b"+OK")
print("OK quit")

# Reconnect: the two deleted are gone, the other keeps its number 1 now and its unique id.
c = connect()
count, total = c.stat()
assert count == 1 and total == len(imap_msgs[1][1]), (count, total)
resp, ids, _ = c.uidl()
assert [l.split()[1].decode() for l in ids] == [uidls[1]], ids
resp, lines, _ = c.retr(1)
assert b"".join(l + b"\r\n" for l in lines) == imap_msgs[1][1]
c.quit()
_, after = imap_state()
assert [u for u, _ in after] == [imap_msgs[1][0]], after
print("OK reconnect")

# A dropped connection deletes nothing (RFC 1939 6: no UPDATE without QUIT).
c = connect()
c.dele(1)
c.sock.shutdown(socket.SHUT_RDWR)
c.sock.close()
# The server releases the lock when it reads the end of the connection: a moment later.
t = time.time()
while True:
    try:
        c = connect()
        break
    except poplib.error_proto as e:
        assert "[IN-USE]" in str(e) and time.time() - t < 5, e
        time.sleep(0.02)
assert c.stat()[0] == 1
print("OK dropped")

# AUTH PLAIN with an initial response (RFC 5034), in the AUTHORIZATION state of a new session.
c.quit()
c = poplib.POP3(host, port, timeout=30)
token = base64.b64encode(f"\0{user}\0secret".encode()).decode()
assert c._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK")
assert c.stat()[0] == 1
c.quit()
print("OK auth-plain")

# A wrong password: -ERR [AUTH] (RFC 3206 4), still in AUTHORIZATION.
c = poplib.POP3(host, port, timeout=30)
c.user(user)
try:
    c.pass_("wrong")
    raise AssertionError("a wrong password was accepted")
except poplib.error_proto as e:
    assert "[AUTH]" in str(e), e
c.user(user)
c.pass_("secret")
assert c.stat()[0] == 1
c.quit()
print("OK bad-password")
