"""AUTHENTICATE PLAIN (RFC 9051 6.2.2, RFC 4616) through imaplib: with a continuation (imaplib's own
authenticate()), with SASL-IR (RFC 4959: the response on the command line), a wrong password
(NO [AUTHENTICATIONFAILED]), a cancelled exchange (BAD) and an authzid naming someone else.

usage: imap_auth.py SMTP IMAP USER...   (prints "OK <step> USER" lines)
Several USERs: with two shards most live on the shard that did not accept the connection, so the
session moves to its owner after AUTHENTICATE as after LOGIN.
"""
import base64
import imaplib
import sys

from imap_common import addr, send, wait_for

smtp, imap, users = sys.argv[1], sys.argv[2], sys.argv[3:]


def plain(authz, user, password):
    return f"{authz}\0{user}\0{password}".encode()


def selected_inbox(c, user, subject):
    """The session is logged in as `user`: its INBOX holds the message sent to it."""
    wait_for(c, 1)
    typ, data = c.select("INBOX")
    assert typ == "OK", data
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT TO)])")
    assert typ == "OK", data
    head = data[0][1]
    assert subject.encode() in head and user.encode() in head, head


for user in users:
    send(smtp, user, f"for {user}", "hello\r\n")

    # Continuation: `AUTHENTICATE PLAIN`, `+ `, then the base64 line (imaplib's way).
    c = imaplib.IMAP4(*addr(imap), timeout=30)
    assert "AUTH=PLAIN" in c.capabilities and "SASL-IR" in c.capabilities, c.capabilities
    typ, data = c.authenticate("PLAIN", lambda challenge: plain("", user, "secret"))
    assert typ == "OK" and b"CAPABILITY" in data[0], (typ, data)
    selected_inbox(c, user, f"for {user}")
    c.logout()
    print(f"OK continuation {user}")

    # SASL-IR: the initial response on the command line, no continuation.
    c = imaplib.IMAP4(*addr(imap), timeout=30)
    ir = base64.b64encode(plain(user, user, "secret")).decode()
    typ, data = c._simple_command("AUTHENTICATE", "PLAIN", ir)
    assert typ == "OK", (typ, data)
    c.state = "AUTH"
    selected_inbox(c, user, f"for {user}")
    c.logout()
    print(f"OK sasl-ir {user}")

# Refusals, on one connection (the session goes on after each).
user = users[0]
c = imaplib.IMAP4(*addr(imap), timeout=30)
try:
    c.authenticate("PLAIN", lambda challenge: plain("", user, "wrong"))
    raise AssertionError("a wrong password was accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
print("OK wrong-password")
try:
    # The authobject returning None makes imaplib send "*" (RFC 9051 6.2.2: cancel).
    c.authenticate("PLAIN", lambda challenge: None)
    raise AssertionError("a cancelled AUTHENTICATE succeeded")
except imaplib.IMAP4.error as e:
    assert "cancel" in str(e).lower(), e
print("OK cancelled")
other = users[1] if len(users) > 1 else "nobody@example.test"
ir = base64.b64encode(plain(other, user, "secret")).decode()
typ, data = c._simple_command("AUTHENTICATE", "PLAIN", ir)
assert typ == "NO" and b"AUTHORIZATIONFAILED" in data[0], (typ, data)
print("OK authzid")
# Still usable: a right answer now logs in.
typ, data = c.authenticate("PLAIN", lambda challenge: plain("", user, "secret"))
assert typ == "OK", (typ, data)
selected_inbox(c, user, f"for {user}")
c.logout()
print("OK after-refusals")
