"""Two concurrent sessions on one mailbox see each other's changes (RFC 3501 7.3-7.4, RFC 7162 3.2):
flags stored by B show up in A as untagged FETCH at A's next command, an expunge by B as EXPUNGE, an
APPEND by B as EXISTS.

usage: imap_two_sessions.py SMTP IMAP USER
"""
import re
import sys

from imap_common import login, ok, send, wait_for

smtp, imap, user = sys.argv[1], sys.argv[2], sys.argv[3]
for i in range(3):
    send(smtp, user, f"shared {i}", f"shared body {i}\r\n")

a = login(imap, user)
wait_for(a, 3)
b = login(imap, user)
ok(a.select("INBOX"))
ok(b.select("INBOX"))

ok(b.store("2", "+FLAGS", "(\\Flagged)"))
typ, data = a.noop()
fetches = a.untagged_responses.pop("FETCH", [])
assert any(re.match(rb"2 \(.*FLAGS \([^)]*\\Flagged", f) for f in fetches), fetches
print("OK flags")

ok(b.store("1", "+FLAGS.SILENT", "(\\Deleted)"))
ok(b.expunge())
typ, data = a.noop()
expunged = a.untagged_responses.pop("EXPUNGE", [])
assert expunged == [b"1"], expunged
print("OK expunge")

ok(b.append("INBOX", None, None, b"Subject: from b\r\n\r\nhello\r\n"))
typ, data = a.noop()
exists = a.untagged_responses.pop("EXISTS", [])
assert exists and exists[-1] == b"3", exists
typ, data = a.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert b"from b" in data[0][1], data
print("OK exists")
a.logout()
b.logout()
