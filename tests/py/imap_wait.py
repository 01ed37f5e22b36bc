"""Waits until USER's INBOX holds at least N messages (SMTP's 250 comes before the queue files them).

usage: imap_wait.py SMTP IMAP USER N
"""
import sys

from imap_common import login, wait_for

smtp, imap, user, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = login(imap, user)
print("HAVE", wait_for(c, n, timeout=120))
c.logout()
