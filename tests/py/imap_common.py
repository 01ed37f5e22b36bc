"""Helpers shared by the IMAP end-to-end scripts: SMTP delivery, waiting for filing, response parsing."""
import imaplib
import re
import smtplib
import time


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def send(smtp, rcpt, subject, body, sender="sender@remote.example", extra=""):
    """Delivers one message by SMTP; returns the bytes sent (CRLF line ends)."""
    msg = (
        f"From: Sender <{sender}>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@remote.example>\r\n{extra}\r\n{body}"
    ).encode()
    host, port = addr(smtp)
    s = smtplib.SMTP(host, port, timeout=30)
    s.sendmail(sender, [rcpt], msg)
    s.quit()
    return msg


def send_raw(smtp, rcpt, raw, sender="sender@remote.example"):
    host, port = addr(smtp)
    s = smtplib.SMTP(host, port, timeout=30)
    s.sendmail(sender, [rcpt], raw)
    s.quit()


def login(imap, user, password="secret"):
    host, port = addr(imap)
    c = imaplib.IMAP4(host, port, timeout=30)
    typ, _ = c.login(user, password)
    assert typ == "OK", typ
    return c


def exists(c, folder="INBOX"):
    typ, data = c.status(folder, "(MESSAGES)")
    assert typ == "OK", (typ, data)
    return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))


def wait_for(c, n, folder="INBOX", timeout=15.0):
    """Waits until `folder` holds at least n messages (SMTP's 250 comes before the queue files it)."""
    t = time.time()
    while True:
        have = exists(c, folder)
        if have >= n:
            return have
        assert time.time() - t < timeout, f"{folder} has {have} messages, waited for {n}"
        time.sleep(0.05)


def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data


def code(c, name):
    """The last response code `name` of the last command, e.g. code(c, "APPENDUID")."""
    typ, data = c.response(name)
    return data


def fetch_items(data):
    """imaplib FETCH data -> list of (header bytes, [literal bytes...]) per message."""
    out = []
    for part in data:
        if isinstance(part, tuple):
            out.append(part)
        elif part not in (b")",):
            out.append((part, None))
    return out
