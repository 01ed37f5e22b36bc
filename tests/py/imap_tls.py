"""IMAP STARTTLS with Python's imaplib (RFC 9051 6.2.1), on a server that treats this client as
remote: before TLS, LOGINDISABLED and no AUTH=PLAIN are advertised and LOGIN is refused with
PRIVACYREQUIRED; after starttls() the capabilities change, LOGIN works and the message reads back.

usage: imap_tls.py SMTP IMAP CAFILE NAME USER SUBJECT
Prints "OK <step>" for each step that passed.
"""
import imaplib
import sys

from imap_common import addr
from tls_common import context

smtp, imap, cafile, name, user, subject = sys.argv[1:7]
_, port = addr(imap)

c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
# The certificate names `name`; starttls() checks it against the host imaplib was given.
c.host = name
caps = set(c.capabilities)
assert "STARTTLS" in caps and "LOGINDISABLED" in caps, caps
assert "AUTH=PLAIN" not in caps, caps
try:
    c.login(user, "secret")
    raise AssertionError("LOGIN without TLS was accepted")
except imaplib.IMAP4.error as e:
    assert "PRIVACYREQUIRED" in str(e), e
print("OK login refused without TLS")

typ, _ = c.starttls(context(cafile))
assert typ == "OK", typ
caps = set(c.capabilities)
assert "AUTH=PLAIN" in caps, caps
assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps, caps
print("OK capabilities after STARTTLS")

typ, _ = c.login(user, "secret")
assert typ == "OK", typ
typ, data = c.select("INBOX", readonly=True)
assert typ == "OK" and int(data[0]) >= 1, (typ, data)
typ, data = c.fetch("1", "(BODY.PEEK[])")
assert typ == "OK", (typ, data)
body = data[0][1]
assert f"Subject: {subject}".encode() in body, body
c.logout()
print("OK fetched over TLS")
