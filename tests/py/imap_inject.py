"""The STARTTLS command-injection attack on IMAP (RFC 3207 4.2's attack, RFC 9051 6.2.1): a LOGIN
sent in the same packet right behind STARTTLS, in plaintext. The server must answer STARTTLS only,
throw the LOGIN away, and start the TLS session unauthenticated.

usage: imap_inject.py SMTP IMAP CAFILE NAME USER
Prints "OK <step>" for each step that passed.
"""
import socket
import sys

from imap_common import addr
from tls_common import context, read_line

smtp, imap, cafile, name, user = sys.argv[1:6]
_, port = addr(imap)

s = socket.create_connection(("127.0.0.1", port), timeout=30)
g = read_line(s)
assert g.startswith(b"* OK"), g
s.sendall(f"a STARTTLS\r\nb LOGIN {user} secret\r\n".encode())
r = read_line(s)
assert r.startswith(b"a OK"), r
t = context(cafile).wrap_socket(s, server_hostname=name)
print("OK handshake after the injected command")

t.sendall(b"c SELECT INBOX\r\nd CAPABILITY\r\n")
lines = []
while not lines or not lines[-1].startswith(b"d "):
    line = read_line(t)
    assert line, f"EOF after {lines!r}"
    lines.append(line)
assert not any(l.startswith(b"b ") for l in lines), lines
assert any(l.startswith(b"c BAD") for l in lines), f"SELECT ran authenticated: {lines!r}"
assert any(l.startswith(b"d OK") for l in lines), lines
caps = b"".join(l for l in lines if l.startswith(b"* CAPABILITY"))
assert b"AUTH=PLAIN" in caps and b"STARTTLS" not in caps, caps
t.sendall(f"e LOGIN {user} secret\r\n".encode())
r = read_line(t)
assert r.startswith(b"e OK"), r
print("OK injected LOGIN never ran; the TLS session started over")
