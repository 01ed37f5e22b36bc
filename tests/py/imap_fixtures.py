"""APPENDs every fixture message (/work/shared/imap-fixtures or the directory given) as the reference
server got them (flags (\\Seen $Label1), internal date 18-Nov-2026 11:06:40 +0000), into a fresh folder,
and prints each one's answer to the fixture's first command, as one line per message:
"NN-name <the FETCH response's data, literals inlined as {n}\\r\\n...>".

usage: imap_fixtures.py SMTP IMAP USER FIXTURE_DIR
"""
import os
import sys

from imap_common import login, ok

smtp, imap, user, fixtures = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
c = login(imap, user)
ok(c.create("Fixtures"))
names = sorted(f[:-4] for f in os.listdir(fixtures) if f.endswith(".eml"))
for name in names:
    with open(os.path.join(fixtures, name + ".eml"), "rb") as f:
        msg = f.read()
    ok(c.append("Fixtures", "(\\Seen $Label1)", '"18-Nov-2026 11:06:40 +0000"', msg))
ok(c.select("Fixtures"))
for n, name in enumerate(names, 1):
    with open(os.path.join(fixtures, name + ".dovecot.txt"), "rb") as f:
        first = f.readline()
    assert first.startswith(b"C: FETCH "), first
    items = first.split(b" ", 3)[3].strip().decode()
    typ, data = c.fetch(str(n), items)
    assert typ == "OK", (name, data)
    line = b""
    for d in data:
        if isinstance(d, tuple):
            line += d[0] + d[1]
        else:
            line += d
    sys.stdout.buffer.write(name.encode() + b" " + line.replace(b"\r\n", b"\\r\\n") + b"\n")
c.logout()
