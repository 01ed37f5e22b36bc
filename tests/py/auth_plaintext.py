"""The plaintext-login policy on connections without TLS (issue 12), with Python's imaplib and poplib.

usage: auth_plaintext.py SMTP IMAP POP3 USER [allowed]
Without "allowed" the server must treat this client as remote: IMAP advertises LOGINDISABLED and no
AUTH=PLAIN and answers LOGIN and AUTHENTICATE PLAIN with NO [PRIVACYREQUIRED] (RFC 9051 6.2.3,
RFC 5530 3); POP3 lists neither USER nor SASL in CAPA and answers USER and AUTH PLAIN with
-ERR [AUTH] (RFC 3206 5). With "allowed" both logins work without TLS.
Prints "OK <step>" for each step that passed.
"""
import base64
import imaplib
import poplib
import sys

from imap_common import addr

smtp, imap, pop3, user = sys.argv[1:5]
allowed = len(sys.argv) > 5 and sys.argv[5] == "allowed"
ihost, iport = addr(imap)
phost, pport = addr(pop3)

i = imaplib.IMAP4(ihost, iport, timeout=30)
caps = set(i.capabilities)
if allowed:
    assert "AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps, caps
    typ, _ = i.login(user, "secret")
    assert typ == "OK", typ
    i.logout()
    print("OK IMAP LOGIN without TLS")
else:
    assert "LOGINDISABLED" in caps and "AUTH=PLAIN" not in caps, caps
    assert "STARTTLS" not in caps, f"no certificate, no STARTTLS: {caps}"
    for attempt in ("login", "authenticate"):
        try:
            if attempt == "login":
                i.login(user, "secret")
            else:
                i.authenticate("PLAIN", lambda _: f"\0{user}\0secret".encode())
            raise AssertionError(f"{attempt} without TLS was accepted")
        except imaplib.IMAP4.error as e:
            assert "PRIVACYREQUIRED" in str(e), e
    i.logout()
    print("OK IMAP advertises LOGINDISABLED and refuses LOGIN and AUTHENTICATE")

p = poplib.POP3(phost, pport, timeout=30)
caps = p.capa()
if allowed:
    assert "USER" in caps and caps.get("SASL") == ["PLAIN"], caps
    p.user(user)
    p.pass_("secret")
    p.quit()
    print("OK POP3 USER/PASS without TLS")
else:
    assert "USER" not in caps and "SASL" not in caps and "STLS" not in caps, caps
    for cmd in ("USER " + user, "AUTH PLAIN " + base64.b64encode(f"\0{user}\0secret".encode()).decode()):
        try:
            p._shortcmd(cmd)
            raise AssertionError(f"{cmd.split()[0]} without TLS was accepted")
        except poplib.error_proto as e:
            assert str(e).startswith("b'-ERR [AUTH]"), e
    p.quit()
    print("OK POP3 advertises no USER or SASL and refuses USER and AUTH PLAIN")
