"""Submits one message with Python's smtplib: EHLO, optionally STARTTLS or implicit TLS, AUTH, MAIL.

usage: submission.py HOST:PORT MODE USER PASSWORD FROM RCPT[,RCPT...] SUBJECT [CAFILE [NAME]]
MODE: plain (AUTH without TLS), starttls (RFC 3207, then EHLO again), ssl (implicit TLS, RFC 8314).
CAFILE: the certificate to trust (a self-signed one); its name is checked against NAME ("localhost").
Prints one line per step: "FEATURES <ehlo keywords>", "TLS <version>", "LOGIN OK" or "LOGIN FAIL <code>",
then "SENT <refused recipients>" or "SENDER REFUSED <code>" / "RECIPIENTS REFUSED <codes>".
"""
import smtplib
import ssl
import sys

host, port = sys.argv[1].rsplit(":", 1)
mode, user, password, sender = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
rcpts = sys.argv[6].split(",")
subject = sys.argv[7]
cafile = sys.argv[8] if len(sys.argv) > 8 else None
name = sys.argv[9] if len(sys.argv) > 9 else "localhost"

ctx = None
if cafile:
    ctx = ssl.create_default_context(cafile=cafile)

# smtplib checks the certificate against the host it connected to (`_host`); the server is reached
# at 127.0.0.1 but its certificate names NAME, so the name to check is set there.
class NamedSSL(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        self._host = name
        return super()._get_socket(host, port, timeout)


if mode == "ssl":
    s = NamedSSL(host, int(port), timeout=30, context=ctx)
else:
    s = smtplib.SMTP(host, int(port), timeout=30)


def features():
    print("FEATURES " + " ".join(sorted(k.upper() + ("=" + v.strip() if v.strip() else "") for k, v in s.esmtp_features.items())))


s.ehlo("client.example")
features()
if mode == "starttls":
    s._host = name
    s.starttls(context=ctx)
    s.ehlo("client.example")
    features()
if mode in ("starttls", "ssl"):
    print("TLS " + s.sock.version())
try:
    s.login(user, password)
    print("LOGIN OK")
except smtplib.SMTPAuthenticationError as e:
    print(f"LOGIN FAIL {e.smtp_code} {e.smtp_error.decode()}")
    s.quit()
    sys.exit(0)
except smtplib.SMTPNotSupportedError:
    print("LOGIN UNSUPPORTED")
    s.quit()
    sys.exit(0)
msg = f"From: {sender}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n"
try:
    refused = s.sendmail(sender, rcpts, msg.encode())
    print("SENT " + " ".join(sorted(refused)))
except smtplib.SMTPSenderRefused as e:
    print(f"SENDER REFUSED {e.smtp_code} {e.smtp_error.decode()}")
except smtplib.SMTPRecipientsRefused as e:
    print("RECIPIENTS REFUSED " + " ".join(f"{r}={c[0]}" for r, c in sorted(e.recipients.items())))
s.quit()
