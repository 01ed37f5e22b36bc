"""An IMAP session expunges while a POP3 session is open on the same INBOX (issue 11, RFC 1939 5):
the POP3 listing stays as it was (numbers, sizes, unique ids), RETR of the expunged message gets
-ERR, the others are still served, and QUIT's UPDATE removes what POP3 deleted without touching
what arrived meanwhile.

usage: pop3_imap_expunge.py SMTP IMAP POP3 USER
"""
import poplib
import sys
import time

from imap_common import addr, login, ok, send, wait_for

smtp, imap, pop3, user = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
host, port = addr(pop3)

for n in range(3):
    send(smtp, user, f"shared {n}", f"shared body {n}\r\n")
i = login(imap, user)
wait_for(i, 3)

p = poplib.POP3(host, port, timeout=30)
p.user(user)
p.pass_("secret")
before_stat = p.stat()
before_list = p.list()[1]
before_uidl = p.uidl()[1]
assert before_stat[0] == 3, before_stat

ok(i.select("INBOX"))
ok(i.store("2", "+FLAGS.SILENT", "(\\Deleted)"))
ok(i.expunge())
send(smtp, user, "arrived later", "later\r\n")
wait_for(i, 3)  # 2 left + the new one
print("OK imap-expunged")

assert p.stat() == before_stat, (p.stat(), before_stat)
assert p.list()[1] == before_list
assert p.uidl()[1] == before_uidl
try:
    p.retr(2)
    raise AssertionError("RETR of an expunged message answered +OK")
except poplib.error_proto as e:
    assert str(e).startswith("b'-ERR"), e
resp, lines, _ = p.retr(3)
assert b"shared body 2" in lines, lines
print("OK view-fixed")

# DELE of the expunged one and of message 1; UPDATE removes 1, the newcomer stays.
p.dele(1)
p.dele(2)
assert p.quit().startswith(b"+OK")
typ, data = i.noop()
typ, data = i.uid("SEARCH", None, "ALL")
left = data[0].split()
assert len(left) == 2, left
typ, data = i.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
subjects = b"".join(part[1] for part in data if isinstance(part, tuple))
assert b"shared 2" in subjects and b"arrived later" in subjects, subjects
i.logout()
print("OK update")
