"""Implicit TLS (RFC 8314) through the standard library's clients: IMAP4_SSL and POP3_SSL against the
certificate `shardmail cert self-signed` wrote, verified (the client trusts exactly that file and asks
for its name by SNI). Mail arrives by plain SMTP first.

usage: tls_implicit.py SMTP IMAPS POP3S CERT HOST USER...   (prints "OK imaps USER", "OK pop3s USER")
With two shards most USERs live on the shard that did not accept the connection: their sessions move
to the owner after login with the TLS session.
"""
import imaplib
import poplib
import ssl
import sys

from imap_common import addr, send, wait_for

smtp, imaps, pop3s, cert, host, users = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]


class Verified(ssl.SSLContext):
    """Verifies the server's certificate against CERT for HOST while connecting to an address."""

    def wrap_socket(self, sock, server_hostname=None, **kw):
        return super().wrap_socket(sock, server_hostname=host, **kw)


ctx = Verified(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(cert)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2

for user in users:
    send(smtp, user, f"for {user}", "hello over TLS\r\n")

for user in users:
    c = imaplib.IMAP4_SSL(*addr(imaps), ssl_context=ctx, timeout=30)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3"), c.sock.version()
    typ, _ = c.login(user, "secret")
    assert typ == "OK", typ
    wait_for(c, 1)
    typ, data = c.select("INBOX")
    assert typ == "OK", data
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
    assert typ == "OK", data
    assert f"for {user}".encode() in data[0][1], data
    assert data[1][1] == b"hello over TLS\r\n", data
    c.logout()
    print("OK imaps", user)

for user in users:
    p = poplib.POP3_SSL(*addr(pop3s), context=ctx, timeout=30)
    assert p.sock.version() in ("TLSv1.2", "TLSv1.3"), p.sock.version()
    p.user(user)
    p.pass_("secret")
    count, _ = p.stat()
    assert count == 1, count
    _, lines, _ = p.retr(1)
    assert f"Subject: for {user}".encode() in lines and b"hello over TLS" in lines, lines
    p.quit()
    print("OK pop3s", user)
