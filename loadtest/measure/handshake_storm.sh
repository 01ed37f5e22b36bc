#!/usr/bin/env bash
# A storm of TLS handshakes against ONE shard, and what it does to the other sessions of that shard
# (issue 12: handshakes must not stall a shard). shardmail runs with --shards 1 (so every figure is per
# shard) and the certificate of loadtest/peers (ECDSA P-256). Phases of SECONDS each:
#   1. probe alone: PROBES established IMAP sessions (plaintext, logged in, INBOX selected) send NOOP at
#      PROBE_RATE per second in total (open loop: latency counts from the due time, so a stalled shard
#      shows as latency, not as fewer probes);
#   2. the probe during a storm of plain connections (connect, greeting, NOOP, close): the cost of a new
#      connection without TLS;
#   3. the probe during a storm of imaps connections: TCP connect, a FULL TLS 1.3 handshake (no
#      resumption), greeting, NOOP, close_notify; STORM_CONNECTIONS at a time, closed loop.
#   4. for reference, the same TLS storm against Dovecot's imaps (no probe; Dovecot is not one shard).
# Handshakes per second are what the client completed; the shard's CPU time over the storm (from
# /proc/PID/stat) gives handshakes per CPU-second of the shard: its ceiling on a core of its own, since
# the client shares the machine's CPUs.
#
# usage: loadtest/measure/handshake_storm.sh [SECONDS]
#   env: STORM_CONNECTIONS (16), PROBES (4), PROBE_RATE (200), BUILD (1: cargo build --release first)
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-10}
SC=${STORM_CONNECTIONS:-16}
PROBES=${PROBES:-4}
PROBE_RATE=${PROBE_RATE:-200}
. loadtest/peers/env.sh
[ "${BUILD:-1}" = 1 ] && cargo build --release -q -p shardmail -p shardmail-loadtest
LT=$PWD/target/release/loadtest
SM=$PWD/target/release/shardmail
WORK=$(mktemp -d /tmp/shardmail-storm.XXXXXX)
SM_PID=""
cleanup() {
  [ -n "$SM_PID" ] && kill -TERM "$SM_PID" 2>/dev/null && wait "$SM_PID" 2>/dev/null
  loadtest/peers/stop.sh >/dev/null 2>&1 || true
  rm -rf "$WORK/data"
}
trap cleanup EXIT
grep -qs '^smtpd_tls_cert_file' "$PEERS_DIR/postfix/config/main.cf" || loadtest/peers/setup.sh >/dev/null
loadtest/peers/start.sh >/dev/null

IMAP=127.0.0.1:4743 IMAPS=127.0.0.1:4793
cat > "$WORK/shardmail.toml" <<CONF
data_dir = "$WORK/data"
hostname = "bench.test"
[smtp]
listen = ["127.0.0.1:4725"]
[submission]
listen = ["127.0.0.1:4787"]
[imap]
listen = ["$IMAP"]
[pop3]
listen = ["127.0.0.1:4710"]
[metrics]
listen = ["127.0.0.1:4726"]
[tls]
cert = "$PEERS_TLS_DIR/cert.pem"
key = "$PEERS_TLS_DIR/key.pem"
[imaps]
listen = ["$IMAPS"]
[pop3s]
listen = ["127.0.0.1:4795"]
[smtps]
listen = ["127.0.0.1:4765"]
CONF
mkdir -p "$WORK/data"
for i in $(seq 0 $((PROBES - 1))); do
  "$SM" --config "$WORK/shardmail.toml" account add "user$i@$BENCH_DOMAIN" --password "$BENCH_PASSWORD" >/dev/null
done
"$SM" --config "$WORK/shardmail.toml" serve --shards 1 2>> "$WORK/shardmail.log" &
SM_PID=$!
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null; }
for _ in $(seq 1 100); do port_open "$IMAPS" && break; sleep 0.1; done
port_open "$IMAPS" || { echo "shardmail serves no imaps on $IMAPS (no TLS in this build?): $WORK/shardmail.log" >&2; exit 1; }

cpu() { # utime + stime of the server process, in clock ticks
  awk '{print $14 + $15}' "/proc/$SM_PID/stat"
}
probe() { # -> json path; runs in the background for D seconds
  "$LT" imap --target "$IMAP" --connections "$PROBES" --threads 1 --duration "$D" --scenario noop \
    --op-rate "$PROBE_RATE" --user-pattern "user{0..$((PROBES - 1))}@$BENCH_DOMAIN" --password "$BENCH_PASSWORD" \
    --quiet --json "$WORK/probe-$1.json" > /dev/null 2>> "$WORK/loadtest.log"
}
storm() { # name target [tls args] -> json
  local name=$1 target=$2; shift 2
  "$LT" handshake --proto imap --target "$target" --connections "$SC" --threads 1 --duration "$D" \
    --quiet --json "$WORK/storm-$name.json" "$@" > /dev/null 2>> "$WORK/loadtest.log" || true
}
TLS=(--tls --ca "$PEERS_TLS_DIR/cert.pem" --server-name localhost)

probe alone
c0=$(cpu); t0=$(date +%s.%N)
probe plain & P=$!; storm plain "$IMAP"; wait "$P" || true
c1=$(cpu); t1=$(date +%s.%N)
probe tls & P=$!; storm tls "$IMAPS" "${TLS[@]}"; wait "$P" || true
c2=$(cpu); t2=$(date +%s.%N)
storm dovecot "127.0.0.1:$DOVECOT_IMAPS_PORT" "${TLS[@]}"

python3 - "$WORK" "$(getconf CLK_TCK)" "$c0" "$c1" "$c2" "$t0" "$t1" "$t2" <<'PY'
import json, sys
work, tck = sys.argv[1], float(sys.argv[2])
c0, c1, c2, t0, t1, t2 = map(float, sys.argv[3:])
def load(name):
    try:
        return json.load(open(f"{work}/{name}.json"))
    except Exception:
        return None
def lat(s):
    if not s or s["ops"] == 0:
        return "-"
    l = s["latency_ms"]
    return f"{l['p50']:.2f} / {l['p99']:.2f} / {l['p999']:.2f}"
def errs(*ss):
    n = sum(s["errors_total"] for s in ss if s)
    return f", {n} errors" if n else ""
print("| phase (shardmail --shards 1) | new connections/s (setup p50 / p99 ms) | shard CPU | per shard CPU-second | probe NOOP p50 / p99 / p99.9 ms |")
print("|---|---|---|---|---|")
a = load("probe-alone")
print(f"| probe alone | | | | {lat(a)}{errs(a)} |")
for name, cpu, secs in [("plain", c1 - c0, t1 - t0), ("tls", c2 - c1, t2 - t1)]:
    s, p = load(f"storm-{name}"), load(f"probe-{name}")
    label = "plain connections (connect, greeting, NOOP, close)" if name == "plain" else "imaps, full TLS 1.3 handshakes (connect, handshake, greeting, NOOP, close)"
    if not s or s["ops"] == 0:
        print(f"| {label} | none{errs(s)} | | | {lat(p)} |")
        continue
    l = s["latency_ms"]
    busy = cpu / tck
    per_cpu = s["ops"] / busy if busy > 0 else 0
    print(f"| {label} | {s['ops_per_s']:.0f} ({l['p50']:.2f} / {l['p99']:.2f}){errs(s)} | {100 * busy / secs:.0f}% of a CPU | {per_cpu:.0f} | {lat(p)}{errs(p)} |")
d = load("storm-dovecot")
if d and d["ops"]:
    l = d["latency_ms"]
    print(f"| reference: Dovecot imaps, same storm (no probe) | {d['ops_per_s']:.0f} ({l['p50']:.2f} / {l['p99']:.2f}){errs(d)} | | | |")
PY
echo
echo "$(nproc) CPUs shared by client and server; storm: $SC connections on one client thread; probe: $PROBES sessions, $PROBE_RATE NOOP/s. json: $WORK"
