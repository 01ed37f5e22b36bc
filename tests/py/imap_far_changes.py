"""Server-side ("far") changes for the mbsync test: flags \\Flagged on UIDs 1:100, \\Seen on 101:200,
expunges UIDs 201:210, appends 5 messages, then prints "FAR <count>".

usage: imap_far_changes.py SMTP IMAP USER
"""
import sys

from imap_common import login, ok

smtp, imap, user = sys.argv[1], sys.argv[2], sys.argv[3]
c = login(imap, user)
ok(c.select("INBOX"))
ok(c.uid("STORE", "1:100", "+FLAGS.SILENT", "(\\Flagged)"))
ok(c.uid("STORE", "101:200", "+FLAGS.SILENT", "(\\Seen)"))
ok(c.uid("STORE", "201:210", "+FLAGS.SILENT", "(\\Deleted)"))
ok(c.expunge())
for i in range(5):
    ok(c.append("INBOX", None, None, f"Subject: far {i}\r\n\r\nappended on the far side\r\n".encode()))
typ, data = c.select("INBOX")
print("FAR", int(data[0]))
c.logout()
