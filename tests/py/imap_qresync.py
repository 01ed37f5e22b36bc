"""CONDSTORE/QRESYNC resync after changes made while a client was offline (RFC 7162 3.1, 3.2.5):
a client remembers UIDVALIDITY and HIGHESTMODSEQ, another session changes flags, expunges and a
message arrives; the client's SELECT (QRESYNC ...) gets VANISHED (EARLIER) for the expunged UID and
FETCH (FLAGS MODSEQ) for the changed and new ones, and CHANGEDSINCE returns only what changed.

usage: imap_qresync.py SMTP IMAP USER
"""
import re
import sys

from imap_common import code, login, ok, send, wait_for

smtp, imap, user = sys.argv[1], sys.argv[2], sys.argv[3]
for i in range(4):
    send(smtp, user, f"sync {i}", f"sync body {i}\r\n")

c = login(imap, user)
wait_for(c, 4)
typ, data = c._simple_command("ENABLE", "QRESYNC")
assert typ == "OK", data
typ, data = c._simple_command("SELECT", "INBOX", "(CONDSTORE)")
assert typ == "OK", data
uidvalidity = int(code(c, "UIDVALIDITY")[0])
modseq = int(code(c, "HIGHESTMODSEQ")[0])
assert modseq > 0
c.logout()
print("OK remembered", uidvalidity, modseq)

# Offline changes, by another session and by SMTP.
o = login(imap, user)
ok(o.select("INBOX"))
ok(o.uid("STORE", "2", "+FLAGS", "(\\Flagged)"))
ok(o.uid("STORE", "1", "+FLAGS.SILENT", "(\\Deleted)"))
ok(o.expunge())
o.logout()
send(smtp, user, "sync new", "arrived while offline\r\n")

c = login(imap, user)
wait_for(c, 4)  # 4 - 1 expunged + 1 new
typ, data = c._simple_command("ENABLE", "QRESYNC")
assert typ == "OK", data
typ, data = c._simple_command("SELECT", "INBOX", f"(QRESYNC ({uidvalidity} {modseq}))")
assert typ == "OK", data
c.state = "SELECTED"  # imaplib's own select() cannot pass the QRESYNC parameter
vanished = c.untagged_responses.pop("VANISHED", [])
assert vanished == [b"(EARLIER) 1"], vanished
fetches = c.untagged_responses.pop("FETCH", [])
changed = {}
for f in fetches:
    uid = int(re.search(rb"UID (\d+)", f).group(1))
    changed[uid] = f
assert 2 in changed and b"\\Flagged" in changed[2] and b"MODSEQ" in changed[2], fetches
assert 5 in changed, fetches
assert 3 not in changed and 4 not in changed, f"unchanged messages are not reported: {fetches}"
new_modseq = int(code(c, "HIGHESTMODSEQ")[0])
assert new_modseq > modseq, (new_modseq, modseq)
print("OK qresync", sorted(changed))

typ, data = c.uid("FETCH", "1:*", f"(FLAGS) (CHANGEDSINCE {modseq})")
assert typ == "OK", data
uids = sorted(int(re.search(rb"UID (\d+)", d).group(1)) for d in data if d)
assert uids == [2, 5], (uids, data)
print("OK changedsince")
c.logout()
