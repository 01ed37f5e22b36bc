"""Prints what a syncing client relies on, for each folder of an account: UIDVALIDITY, UIDNEXT, and every
message's UID and flags, one line per folder, sorted. A test compares the output before and after a
restart (and a shard-count change): it must not change.

usage: imap_state.py SMTP IMAP USER
"""
import re
import sys

from imap_common import code, login, ok

smtp, imap, user = sys.argv[1], sys.argv[2], sys.argv[3]
c = login(imap, user)
typ, folders = c.list('""', "*")
assert typ == "OK", folders
names = sorted(re.search(rb'"((?:[^"\\]|\\.)*)"$|(\S+)$', f).group(0).strip(b'"').decode() for f in folders)
for name in names:
    typ, data = c.select(f'"{name}"', readonly=True)
    assert typ == "OK", (name, data)
    uidvalidity = code(c, "UIDVALIDITY")[0].decode()
    uidnext = code(c, "UIDNEXT")[0].decode()
    msgs = []
    if int(data[0]) > 0:
        typ, data = c.fetch("1:*", "(UID FLAGS)")
        for d in data:
            uid = re.search(rb"UID (\d+)", d).group(1).decode()
            flags = re.search(rb"FLAGS \(([^)]*)\)", d).group(1).decode()
            flags = " ".join(sorted(f for f in flags.split() if f != "\\Recent"))
            msgs.append(f"{uid}[{flags}]")
    print(f"{name} uidvalidity={uidvalidity} uidnext={uidnext} {' '.join(msgs)}")
c.logout()
