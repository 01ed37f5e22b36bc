"""One mailbox's life through Python's imaplib: deliver by SMTP, then LOGIN, CAPABILITY, LIST, SELECT,
FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE, APPEND, errors, LOGOUT.

usage: imap_flow.py SMTP IMAP USER STEP[,STEP...]
Steps run in the order given (login, list and select first); each prints "OK <step>" when done, and
any mismatch fails an assertion (non-zero exit). Steps: fetch, search, store, copy-move, expunge,
append, errors, logout.
"""
import imaplib
import re
import sys

from imap_common import code, login, ok, send, wait_for

smtp, imap, user, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")

sent = []
for i, subject in enumerate(["first one", "second two", "third three"]):
    sent.append(send(smtp, user, subject, f"body of message {i + 1}\r\nline two\r\n"))

c = login(imap, user)
typ, data = c.capability()
assert typ == "OK", data
caps = data[0].decode().upper().split()
for cap in ["IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "CONDSTORE", "LITERAL+", "NAMESPACE"]:
    assert cap in caps, (cap, caps)
print("OK login", " ".join(caps))

wait_for(c, 3)
typ, folders = c.list('""', "*")
assert typ == "OK", folders
names = {re.search(rb'"([^"]*)"$|(\S+)$', f).group(0).strip(b'"').decode(): f for f in folders}
for name, use in [("INBOX", None), ("Sent", b"\\Sent"), ("Drafts", b"\\Drafts"), ("Trash", b"\\Trash"), ("Junk", b"\\Junk")]:
    assert name in names, (name, folders)
    if use:
        assert use in names[name], (name, names[name])
print("OK list", len(folders))

typ, data = c.select("INBOX")
assert typ == "OK" and data == [b"3"], (typ, data)
uidvalidity = int(code(c, "UIDVALIDITY")[0])
assert uidvalidity > 0
assert code(c, "UIDNEXT") == [b"4"], code(c, "UIDNEXT")
print("OK select", uidvalidity)


def fetch():
    # The items that need no MIME structure, on message 2 (ENVELOPE, BODYSTRUCTURE, BINARY and part
    # numbers: imap_fixtures.py).
    typ, data = c.fetch(
        "2",
        "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
        "BODY.PEEK[TEXT] BODY.PEEK[]<0.10>)",
    )
    assert typ == "OK", data
    flat = b"".join(p if isinstance(p, bytes) else p[0] + p[1] for p in data)
    assert b"UID 2" in flat and b"RFC822.SIZE " in flat and b"INTERNALDATE " in flat, flat
    assert b"\\Seen" not in flat, "PEEK leaves \\Seen unset"
    items = {re.search(rb"(BODY\[[^\]]*\](<\d+>)?) \{", p[0]).group(1): p[1] for p in data if isinstance(p, tuple)}
    assert items[b"BODY[TEXT]"] == b"body of message 2\r\nline two\r\n", items
    assert items[b"BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: second two\r\n\r\n", items
    header = items[b"BODY[HEADER]"]
    assert header.endswith(b"\r\n\r\n") and b"Subject: second two\r\n" in header, header

    # The whole message as stored: RFC822.SIZE matches, BODY[] sets \Seen (RFC 3501 6.4.5).
    typ, data = c.fetch("2", "(RFC822.SIZE BODY[])")
    whole = data[0][1]
    size = int(re.search(rb"RFC822.SIZE (\d+)", data[0][0]).group(1))
    assert size == len(whole), (size, len(whole))
    assert whole.endswith(sent[1]), whole
    assert header + items[b"BODY[TEXT]"] == whole, "HEADER and TEXT make up the message"
    assert items[b"BODY[]<0>"] == whole[:10], (items[b"BODY[]<0>"], whole[:10])
    typ, data = c.fetch("2", "(FLAGS)")
    assert b"\\Seen" in data[0], data
    print("OK fetch", size)


def search():
    # Keys the index answers (flags, sets, sizes); message 2 was read by the fetch step, or is now.
    c.fetch("2", "(BODY[TEXT])")
    assert ok(c.search(None, "UNSEEN")) == [b"1 3"]
    assert ok(c.search(None, "SEEN")) == [b"2"]
    assert ok(c.search(None, "NOT", "SEEN", "UID", "2:3")) == [b"3"]
    assert ok(c.uid("SEARCH", None, "OR", "SEEN", "UID", "1")) == [b"1 2"]
    assert ok(c.search(None, "LARGER", "1", "ALL")) == [b"1 2 3"]
    assert ok(c.search(None, "LARGER", "100000")) == [b""]
    print("OK search")


def search_text():
    assert ok(c.search(None, "SUBJECT", '"second"')) == [b"2"]
    assert ok(c.uid("SEARCH", None, "BODY", '"message 3"')) == [b"3"]
    assert ok(c.search(None, "OR", "SUBJECT", "first", "SUBJECT", "third")) == [b"1 3"]
    print("OK search-text")


def store():
    ok(c.store("1", "+FLAGS", "(\\Flagged $Label1)"))
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"\\Flagged" in data[0] and b"$Label1" in data[0], data
    ok(c.store("1", "-FLAGS.SILENT", "(\\Flagged)"))
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"\\Flagged" not in data[0] and b"$Label1" in data[0], data
    print("OK store")


def copy_move():
    ok(c.copy("1", "Trash"))
    copyuid = code(c, "COPYUID")
    assert copyuid and copyuid[0].split()[1] == b"1", copyuid
    ok(c.create("Kept"))
    typ, data = c.uid("MOVE", "3", "Kept")
    assert typ == "OK", data
    typ, data = c.select("Kept")
    assert data == [b"1"], data
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"third three" in data[0][1], data
    ok(c.select("INBOX"))
    typ, data = c.fetch("1:*", "(UID)")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == [b"1", b"2"], data
    print("OK copy-move")


def expunge():
    typ, data = c.fetch("1:*", "(UID)")
    before = len(data)
    ok(c.store("1", "+FLAGS", "(\\Deleted)"))
    typ, data = c.expunge()
    assert typ == "OK" and data == [b"1"], data
    typ, data = c.fetch("1:*", "(UID)")
    assert len(data) == before - 1, data
    print("OK expunge")


def append():
    msg = b"From: me@example.test\r\nSubject: appended\r\n\r\nappended body\r\n"
    typ, data = c.append("INBOX", "(\\Seen \\Draft)", '"18-Nov-2026 11:06:40 +0000"', msg)
    assert typ == "OK", data
    appenduid = code(c, "APPENDUID")
    assert appenduid and appenduid[0].split()[0] == str(uidvalidity).encode(), appenduid
    new_uid = appenduid[0].split()[1].decode()
    typ, data = c.uid("FETCH", new_uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert data[0][1] == msg, data
    assert b"\\Draft" in data[0][0] and b'"18-Nov-2026 11:06:40 +0000"' in data[0][0], data
    print("OK append", new_uid)


def errors():
    # Errors keep the session usable.
    try:
        c.select("No Such Folder")
        raise AssertionError("SELECT of a missing folder succeeded")
    except imaplib.IMAP4.error:
        pass
    typ, data = c.select("INBOX")
    assert typ == "OK", data
    print("OK errors")


def logout():
    typ, data = c.logout()
    assert typ == "BYE", (typ, data)
    print("OK logout")


run = {
    "fetch": fetch,
    "search": search,
    "search-text": search_text,
    "store": store,
    "copy-move": copy_move,
    "expunge": expunge,
    "append": append,
    "errors": errors,
    "logout": logout,
}
for step in steps:
    run[step]()
