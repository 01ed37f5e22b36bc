"""send_message() with UTF-8 addresses (SMTPUTF8) and an 8-bit body, and one with ASCII addresses and an
8-bit body (BODY=8BITMIME). Writes the bytes smtplib puts on the wire to OUTDIR/utf8.eml and 8bit.eml.

usage: send_utf8.py HOST:PORT UTF8_RCPT ASCII_RCPT OUTDIR
"""
import copy
import io
import os
import smtplib
import sys
from email.generator import BytesGenerator
from email.message import EmailMessage
from email import policy

host, port = sys.argv[1].rsplit(":", 1)
utf8_rcpt, ascii_rcpt, outdir = sys.argv[2], sys.argv[3], sys.argv[4]


def wire_bytes(msg, international):
    # What smtplib.send_message puts on the wire (Python 3 smtplib, send_message).
    m = copy.copy(msg)
    del m["Bcc"]
    del m["Resent-Bcc"]
    out = io.BytesIO()
    g = BytesGenerator(out, policy=msg.policy.clone(utf8=True)) if international else BytesGenerator(out)
    g.flatten(m, linesep="\r\n")
    return out.getvalue()


s = smtplib.SMTP(host, int(port), timeout=60)
s.ehlo("client.example")
assert s.has_extn("smtputf8") and s.has_extn("8bitmime")

m = EmailMessage(policy=policy.SMTPUTF8)
m["From"] = "Δοκιμή <αποστολέας@παράδειγμα.δοκιμή>"
m["To"] = utf8_rcpt
m["Subject"] = "Γειά σου κόσμε ✉"
m.set_content("Καλημέρα! ünïcödé body ✓\n.a line starting with a dot\n", cte="8bit")
with open(os.path.join(outdir, "utf8.eml"), "wb") as f:
    f.write(wire_bytes(m, True))
s.send_message(m)

m = EmailMessage()
m["From"] = "sender@remote.example"
m["To"] = ascii_rcpt
m["Subject"] = "8bit body"
m.set_content("Grüße aus Köln — 8-bit ✓\n", cte="8bit")
with open(os.path.join(outdir, "8bit.eml"), "wb") as f:
    f.write(wire_bytes(m, False))
s.send_message(m)
s.quit()
print("OK")
