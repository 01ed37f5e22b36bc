"""Helpers for the STARTTLS end-to-end scripts: a TLS context trusting the test certificate, raw line
reads, and which shard a connection landed on (from the per-shard gauges at GET /metrics)."""
import re
import socket
import ssl
import urllib.request

def context(cafile):
    """Verifies the server's certificate against the test's self-signed certificate (and, where the
    caller gives the name, the name)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    return ctx


def read_line(sock):
    """One line (CRLF included) read byte by byte: nothing after it is taken from the socket, so a
    TLS handshake can start right behind it."""
    out = b""
    while not out.endswith(b"\r\n"):
        b = sock.recv(1)
        if not b:
            break
        out += b
    return out


def gauges(metrics, proto):
    """shardmail_<proto>_connections_open per shard."""
    text = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
    found = re.findall(rf'^shardmail_{proto}_connections_open{{shard="(\d+)"}} (\d+)$', text, re.M)
    return {int(s): int(v) for s, v in found}


def connect_on_shard(port, metrics, proto, shard, held):
    """A plaintext connection (greeting read) that the kernel gave to `shard`. Connections that
    landed elsewhere stay open in `held` so the gauges keep telling new ones apart."""
    for _ in range(100):
        before = gauges(metrics, proto)
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        greeting = read_line(s)
        assert greeting.startswith((b"* OK", b"+OK")), greeting
        after = gauges(metrics, proto)
        grew = [k for k in after if after[k] == before.get(k, 0) + 1]
        if grew == [shard]:
            return s
        held.append(s)
    raise AssertionError(f"no {proto} connection landed on shard {shard} in 100 tries")
