"""The STARTTLS command-injection attack on POP3 (RFC 2595 4 with RFC 3207 4.2's attack): USER,
PASS, DELE and QUIT sent in the same packet right behind STLS, in plaintext. The server must answer
STLS only, throw the rest away, and start the TLS session in AUTHORIZATION with nothing deleted.

usage: pop3_inject.py SMTP POP3 CAFILE NAME USER
Prints "OK <step>" for each step that passed.
"""
import socket
import sys

from imap_common import addr
from tls_common import context, read_line

smtp, pop3, cafile, name, user = sys.argv[1:6]
_, port = addr(pop3)

s = socket.create_connection(("127.0.0.1", port), timeout=30)
g = read_line(s)
assert g.startswith(b"+OK"), g
s.sendall(f"STLS\r\nUSER {user}\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n".encode())
r = read_line(s)
assert r.startswith(b"+OK"), r
t = context(cafile).wrap_socket(s, server_hostname=name)
print("OK handshake after the injected commands")

t.sendall(b"STAT\r\n")
r = read_line(t)
assert r.startswith(b"-ERR Not authenticated"), f"the injected login ran: {r!r}"
t.sendall(f"USER {user}\r\nPASS secret\r\nSTAT\r\nQUIT\r\n".encode())
replies = [read_line(t) for _ in range(4)]
assert replies[0].startswith(b"+OK") and replies[1].startswith(b"+OK Maildrop has 1 "), replies
assert replies[2].startswith(b"+OK 1 "), f"the injected DELE ran: {replies!r}"
print("OK injected commands never ran; the TLS session started over")
