"""POP3 STLS with Python's poplib (RFC 2595 4), on a server that treats this client as remote:
before TLS, CAPA lists STLS but neither USER nor SASL PLAIN and USER is refused with -ERR [AUTH];
after stls() CAPA changes, USER/PASS work and the message reads back.

usage: pop3_tls.py SMTP POP3 CAFILE NAME USER SUBJECT
Prints "OK <step>" for each step that passed.
"""
import poplib
import sys

from imap_common import addr
from tls_common import context

smtp, pop3, cafile, name, user, subject = sys.argv[1:7]
_, port = addr(pop3)

c = poplib.POP3("127.0.0.1", port, timeout=30)
# The certificate names `name`; stls() checks it against the host poplib was given.
c.host = name
caps = c.capa()
assert "STLS" in caps and "USER" not in caps and "SASL" not in caps, caps
try:
    c.user(user)
    raise AssertionError("USER without TLS was accepted")
except poplib.error_proto as e:
    assert str(e).startswith("b'-ERR [AUTH]"), e
print("OK USER refused without TLS")

r = c.stls(context(cafile))
assert r.startswith(b"+OK"), r
caps = c.capa()
assert "USER" in caps and caps.get("SASL") == ["PLAIN"] and "STLS" not in caps, caps
print("OK CAPA after STLS")

c.user(user)
c.pass_("secret")
count, _ = c.stat()
assert count >= 1, count
_, lines, _ = c.retr(1)
assert f"Subject: {subject}".encode() in lines, lines
c.quit()
print("OK retrieved over TLS")
