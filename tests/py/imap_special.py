"""Mailbox and search extensions through Python's imaplib: the Archive folder of a new account and
CREATE with USE (RFC 6154 3), SEARCHRES (RFC 5182).

usage: imap_special.py SMTP IMAP USER STEP[,STEP...]
Each step prints "OK <step>" when done; any mismatch fails an assertion (non-zero exit).
Steps: archive, create-use, searchres.
"""
import re
import sys

from imap_common import login, ok, send, wait_for

smtp, imap, user, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")

c = login(imap, user)


def listing(pattern="*"):
    """name -> attributes of `LIST "" pattern RETURN (SPECIAL-USE)`."""
    typ, data = c._simple_command("LIST", '""', pattern, "RETURN", "(SPECIAL-USE)")
    assert typ == "OK", (typ, data)
    _, lines = c._untagged_response(typ, data, "LIST")
    out = {}
    for line in lines:
        if line is None:
            continue
        m = re.match(rb'\(([^)]*)\) "/" "?([^"]*)"?$', line)
        assert m, line
        out[m.group(2).decode()] = m.group(1).decode().split()
    return out


def archive():
    # A new account (created by this login) has Archive beside the other special-use folders.
    got = listing()
    for name, use in [("Archive", "\\Archive"), ("Drafts", "\\Drafts"), ("Sent", "\\Sent"),
                      ("Junk", "\\Junk"), ("Trash", "\\Trash")]:
        assert use in got.get(name, []), (name, got)
    typ, data = c.lsub('""', "Archive")
    assert typ == "OK" and data and data[0] and b"Archive" in data[0], (typ, data)
    print("OK archive")


def create_use():
    # Another \Archive while Archive has it, and an attribute no real folder can be: NO [USEATTR].
    for name, use in [("Old/Mail", "\\Archive"), ("Everything", "\\All")]:
        typ, data = c._simple_command("CREATE", name, f"(USE ({use}))")
        assert typ == "NO" and data[0].startswith(b"[USEATTR]"), (name, typ, data)
    assert "Everything" not in listing(), "a refused CREATE makes nothing"
    ok(c.delete("Archive"))
    typ, data = c._simple_command("CREATE", "Old/Mail", "(USE (\\Archive))")
    assert typ == "OK", (typ, data)
    # A second session sees the folder with its attribute (durable and applied before the OK).
    other = login(imap, user)
    typ, data = other._simple_command("LIST", '""', "Old/*", "RETURN", "(SPECIAL-USE)")
    assert typ == "OK", (typ, data)
    _, lines = other._untagged_response(typ, data, "LIST")
    assert any(b"\\Archive" in l and l.endswith(b"Old/Mail") for l in lines if l), lines
    other.logout()
    print("OK create-use")


def searchres():
    for i in range(4):
        send(smtp, user, f"res {i}", f"body {i}\r\n")
    wait_for(c, 4)
    typ, caps = c.capability()
    assert b"SEARCHRES" in caps[0].upper().split(), caps
    ok(c.select("INBOX"))
    ok(c.store("2,4", "+FLAGS", "(\\Flagged)"))
    # SEARCH RETURN (SAVE) answers nothing but saves (RFC 5182 2.1); `$` names the saved set.
    typ, data = c._simple_command("UID", "SEARCH", "RETURN", "(SAVE)", "FLAGGED")
    assert typ == "OK", (typ, data)
    assert not c.untagged_responses.get("ESEARCH") and not c.untagged_responses.get("SEARCH"), \
        c.untagged_responses
    typ, data = c.fetch("$", "(UID FLAGS)")
    assert typ == "OK", (typ, data)
    uids = sorted(int(re.search(rb"UID (\d+)", d).group(1)) for d in data if d)
    assert uids == [2, 4], data
    ok(c.store("$", "-FLAGS", "(\\Flagged)"))
    typ, data = c.search(None, "FLAGGED")
    assert typ == "OK" and data == [b""], data
    # Reset on SELECT: `$` is empty again, so the FETCH returns nothing.
    ok(c.select("INBOX"))
    typ, data = c.fetch("$", "(UID)")
    assert typ == "OK" and data == [None], data
    print("OK searchres")


for step in steps:
    {"archive": archive, "create-use": create_use, "searchres": searchres}[step]()
c.logout()
