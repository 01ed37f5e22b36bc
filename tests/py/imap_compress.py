"""COMPRESS=DEFLATE (RFC 4978) end to end: imaplib with its socket reads and writes passed through
Python's zlib (raw DEFLATE, wbits -15), as a compressing client does.

usage: imap_compress.py SMTP IMAP STEP USER...
steps:
  pipelined  for each USER: LOGIN, COMPRESS and compressed commands in ONE write (the compressed
             bytes arrive with the login, cross the handoff to the owner shard as unread input and
             must be inflated there); prints "OK pipelined USER".
  full       for the first USER: refused before login, advertised after it, NO [COMPRESSIONACTIVE] a
             second time, a large message (spliced from the mmap) and a mailbox of small messages
             fetched compressed, IDLE woken by a delivery, LOGOUT; prints "OK <part>" lines and
             "RATIO wire_bytes plain_bytes".
"""
import imaplib
import re
import socket
import sys
import threading
import time
import zlib

from imap_common import addr, send, wait_for


# imaplib (3.11) does not know the command; NONAUTH too, so the server's refusal can be tested.
imaplib.Commands["COMPRESS"] = ("NONAUTH", "AUTH", "SELECTED")


class Deflating(imaplib.IMAP4):
    """imaplib over COMPRESS=DEFLATE once `compress()` succeeded."""

    deflater = None

    def compress(self):
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        assert typ == "OK", (typ, data)
        # RFC 4978 3: both directions are compressed from the byte after the tagged OK's CRLF.
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflater = zlib.decompressobj(-15)
        self.plain = bytearray()
        self.wire_in = 0
        self.plain_in = 0

    def send(self, data):
        if self.deflater is None:
            return super().send(data)
        z = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(z)

    def _fill(self):
        # read1: what the buffered file already holds, or one read of the socket.
        chunk = self.file.read1(65536)
        if not chunk:
            raise imaplib.IMAP4.abort("EOF on the compressed stream")
        self.wire_in += len(chunk)
        more = self.inflater.decompress(chunk)
        self.plain_in += len(more)
        self.plain += more

    def read(self, size):
        if self.deflater is None:
            return super().read(size)
        while len(self.plain) < size:
            self._fill()
        out = bytes(self.plain[:size])
        del self.plain[:size]
        return out

    def readline(self):
        if self.deflater is None:
            return super().readline()
        while True:
            i = self.plain.find(b"\n")
            if i >= 0:
                out = bytes(self.plain[: i + 1])
                del self.plain[: i + 1]
                return out
            self._fill()


def pipelined(imap, user):
    """LOGIN + COMPRESS + compressed SELECT/NOOP/LOGOUT in one write on a raw socket."""
    s = socket.create_connection(addr(imap), timeout=30)
    buf = bytearray()

    def line():
        while b"\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, "closed before a line"
            buf.extend(chunk)
        i = buf.index(b"\n") + 1
        out = bytes(buf[:i])
        del buf[:i]
        return out

    greeting = line()
    assert greeting.startswith(b"* OK"), greeting
    d = zlib.compressobj(6, zlib.DEFLATED, -15)
    z = d.compress(b"c SELECT INBOX\r\nd NOOP\r\ne LOGOUT\r\n") + d.flush(zlib.Z_SYNC_FLUSH)
    s.sendall(f"a LOGIN {user} secret\r\nb COMPRESS DEFLATE\r\n".encode() + z)
    r = line()
    assert r.startswith(b"a OK"), r
    assert b"COMPRESS=DEFLATE" in r, r
    r = line()
    assert r.startswith(b"b OK"), r
    # The rest is compressed: whatever came with the OK, then the socket to its end.
    inf = zlib.decompressobj(-15)
    plain = inf.decompress(bytes(buf))
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        plain += inf.decompress(chunk)
    s.close()
    text = plain.decode()
    for want in (r"\* \d+ EXISTS", r"c OK \[READ-WRITE\]", r"d OK", r"\* BYE", r"e OK"):
        assert re.search(want, text), (want, text)
    print(f"OK pipelined {user}")


def full(smtp, imap, user):
    # Refused before login (RFC 4978 3: authenticated or selected state only).
    c = Deflating(*addr(imap), timeout=30)
    try:
        c._simple_command("COMPRESS", "DEFLATE")
        raise AssertionError("COMPRESS before login was accepted")
    except imaplib.IMAP4.error as e:
        assert "BAD" in str(e) or "uthenticat" in str(e), e
    c.logout()
    print("OK refused-before-login")

    # Mail: one large message (spliced from the mmap), many small ones (several FETCH flushes).
    big_body = "".join(f"line {i:06d} of a large message, compressible text\r\n" for i in range(40000))
    big = send(smtp, user, "large one", big_body)
    small = [send(smtp, user, f"small {i}", f"small body {i}\r\n" * 20) for i in range(300)]

    c = Deflating(*addr(imap), timeout=30)
    typ, data = c.login(user, "secret")
    assert typ == "OK", (typ, data)
    typ, caps = c.capability()
    assert b"COMPRESS=DEFLATE" in caps[0], caps
    wait_for(c, 301, timeout=60)
    c.compress()
    print("OK compress")
    typ, caps = c.capability()
    assert b"COMPRESS=DEFLATE" not in caps[0], caps  # RFC 4978 3: no longer offered
    typ, data = c._simple_command("COMPRESS", "DEFLATE")
    assert typ == "NO" and data[0].startswith(b"[COMPRESSIONACTIVE]"), (typ, data)
    print("OK compressionactive")

    typ, data = c.select("INBOX")
    assert typ == "OK", data
    n = int(data[0])
    assert n == 301, n
    before_wire, before_plain = c.wire_in, c.plain_in
    typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    assert typ == "OK", typ
    bodies = [part[1] for part in data if isinstance(part, tuple)]
    assert len(bodies) == 301, len(bodies)
    # With two shards, messages accepted on either shard are filed in the order their filings reach
    # the owner, not always in sending order: match each body to what was sent by its Subject.
    sent = {re.search(rb"Subject: ([^\r]*)", m).group(1): m for m in [big] + small}
    for got in bodies:
        want = sent.pop(re.search(rb"Subject: ([^\r]*)", got).group(1))
        assert got.endswith(want), (got[:200], want[:200])
    assert not sent, sent.keys()
    wire = c.wire_in - before_wire
    plain = c.plain_in - before_plain
    assert plain > len(big) and wire * 4 < plain, (wire, plain)
    print("OK fetch-mailbox")
    print(f"RATIO {wire} {plain}")

    # The large message alone, by sequence number, and a partial of it.
    typ, data = c.search(None, '(SUBJECT "large one")')
    assert typ == "OK" and len(data[0].split()) == 1, data
    typ, data = c.fetch(data[0].decode(), "(BODY.PEEK[] BODY.PEEK[]<100.50>)")
    assert typ == "OK", typ
    parts = [p[1] for p in data if isinstance(p, tuple)]
    assert parts[0].endswith(big), len(parts[0])
    assert parts[1] == parts[0][100:150], parts[1]
    print("OK fetch-large")

    # IDLE (RFC 2177) over the compressed stream, woken by an SMTP delivery.
    tag = c._new_tag()
    c.send(tag + b" IDLE\r\n")
    r = c.readline()
    assert r.startswith(b"+"), r
    t = threading.Thread(target=lambda: send(smtp, user, "wake", "wake up\r\n"))
    started = time.time()
    t.start()
    while True:
        r = c.readline()
        assert r, "closed during IDLE"
        if re.match(rb"\* 302 EXISTS", r):
            break
        assert time.time() - started < 60, "no EXISTS"
    t.join()
    c.send(b"DONE\r\n")
    while True:
        r = c.readline()
        if r.startswith(tag + b" "):
            assert r.startswith(tag + b" OK"), r
            break
    print("OK idle")

    typ, data = c.fetch("302", "(BODY[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"Subject: wake" in data[0][1], data
    typ, _ = c.logout()
    assert typ == "BYE", typ
    print("OK logout")


smtp, imap, step, users = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if step == "pipelined":
    for u in users:
        pipelined(imap, u)
elif step == "full":
    full(smtp, imap, users[0])
else:
    raise SystemExit(f"unknown step {step}")
