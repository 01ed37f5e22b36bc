"""The temporary block after failed logins (issue 12), across shards and protocols: with
`[auth] block_after = 3`, wrong passwords on IMAP shard 0, IMAP shard 1 and POP3 shard 0 block the
address everywhere: the right password is then refused on IMAP shard 1 (NO [UNAVAILABLE]) and POP3
shard 1 (-ERR [AUTH]); once `block_seconds` passed, it works again.

usage: auth_block.py SMTP IMAP POP3 METRICS USER BLOCK_SECONDS
Prints "OK <step>" for each step that passed.
"""
import sys
import time

from imap_common import addr
from tls_common import connect_on_shard, read_line

smtp, imap, pop3, metrics, user, block_seconds = sys.argv[1:7]
_, iport = addr(imap)
_, pport = addr(pop3)
held = []


def imap_login(shard, password):
    s = connect_on_shard(iport, metrics, "imap", shard, held)
    s.sendall(f"a LOGIN {user} {password}\r\n".encode())
    r = read_line(s)
    s.close()
    return r


def pop3_login(shard, password):
    s = connect_on_shard(pport, metrics, "pop3", shard, held)
    s.sendall(f"USER {user}\r\n".encode())
    assert read_line(s).startswith(b"+OK")
    s.sendall(f"PASS {password}\r\n".encode())
    r = read_line(s)
    s.close()
    return r


r = imap_login(0, "wrong1")
assert r.startswith(b"a NO [AUTHENTICATIONFAILED]"), r
r = imap_login(1, "wrong2")
assert r.startswith(b"a NO [AUTHENTICATIONFAILED]"), r
r = pop3_login(0, "wrong3")
assert r.startswith(b"-ERR [AUTH] Invalid"), r
print("OK three failures on two shards and two protocols")

t = time.time()
r = imap_login(1, "secret")
assert r.startswith(b"a NO [UNAVAILABLE]"), r
r = pop3_login(1, "secret")
assert r.startswith(b"-ERR [AUTH] Too many failed logins"), r
print("OK blocked everywhere, the right password included")

time.sleep(max(0.0, float(block_seconds) + 0.3 - (time.time() - t)))
r = imap_login(0, "secret")
assert r.startswith(b"a OK"), r
print("OK the block ends")
for s in held:
    s.close()
