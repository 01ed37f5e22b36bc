#!/usr/bin/env bash
# What TLS costs, side by side in one run (issue 12): SMTP ingest of 10 KB / 1 recipient in plaintext and
# with STARTTLS on the MX port (RFC 3207), and IMAP fetch-all in plaintext and over imaps (RFC 8314), for
# shardmail and the peers (Postfix, Dovecot), every server with the one certificate of loadtest/peers
# (ECDSA P-256). Every TLS connection makes a full handshake (loadtest: no resumption), but connections
# live for the whole run: these rows measure the record layer (AES-GCM) and the TLS plumbing, not
# handshakes (loadtest/measure/handshake_storm.sh does those).
#
# usage: loadtest/measure/tls_bench.sh [SECONDS_PER_RUN]
#   env: CONNECTIONS (16), SHARDS (2), REPEAT (3), MBOX_USERS (20), MBOX_MESSAGES (2000), BUILD (1: cargo
#        build --release first; bench.sh passes 0)
# Each figure is the median over REPEAT interleaved rounds; ratios are medians of per-round ratios. Goals
# (issue 12): shardmail with TLS at >= 70% of its plaintext rate, and shardmail/peer with TLS within 20% of
# shardmail/peer in plaintext. A cell says "not served" when the server refused (e.g. no STARTTLS yet).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-10}
C=${CONNECTIONS:-16}
N=${SHARDS:-2}
REPEAT=${REPEAT:-3}
MBOX_USERS=${MBOX_USERS:-20}
MBOX_MESSAGES=${MBOX_MESSAGES:-2000}
. loadtest/peers/env.sh
[ "${BUILD:-1}" = 1 ] && cargo build --release -q -p shardmail -p shardmail-loadtest
LT=$PWD/target/release/loadtest
SM=$PWD/target/release/shardmail
WORK=$(mktemp -d /tmp/shardmail-tlsbench.XXXXXX)
SM_PID=""
cleanup() {
  [ -n "$SM_PID" ] && kill -TERM "$SM_PID" 2>/dev/null && wait "$SM_PID" 2>/dev/null
  loadtest/peers/stop.sh >/dev/null 2>&1 || true
  rm -rf "$WORK/data" "$PEERS_DIR"/mail/*
}
trap cleanup EXIT
grep -qs '^smtpd_tls_cert_file' "$PEERS_DIR/postfix/config/main.cf" || loadtest/peers/setup.sh >/dev/null
loadtest/peers/start.sh >/dev/null
CA=(--ca "$PEERS_TLS_DIR/cert.pem" --server-name localhost)

# shardmail on ports of its own (bench.sh's instances use 4525 + 10 i).
SMTP=127.0.0.1:4625 IMAP=127.0.0.1:4643 IMAPS=127.0.0.1:4693
cat > "$WORK/plain.toml" <<CONF
data_dir = "$WORK/data"
hostname = "bench.test"
[smtp]
listen = ["$SMTP"]
[submission]
listen = ["127.0.0.1:4687"]
[imap]
listen = ["$IMAP"]
[pop3]
listen = ["127.0.0.1:4610"]
[metrics]
listen = ["127.0.0.1:4626"]
CONF
{ cat "$WORK/plain.toml"; cat <<CONF
[tls]
cert = "$PEERS_TLS_DIR/cert.pem"
key = "$PEERS_TLS_DIR/key.pem"
[imaps]
listen = ["$IMAPS"]
[pop3s]
listen = ["127.0.0.1:4695"]
[smtps]
listen = ["127.0.0.1:4665"]
CONF
} > "$WORK/tls.toml"
mkdir -p "$WORK/data"
for i in $(seq 0 $((BENCH_USERS - 1))); do
  "$SM" --config "$WORK/plain.toml" account add "user$i@$BENCH_DOMAIN" --password "$BENCH_PASSWORD" >/dev/null
done
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 100); do port_open "$1" && return 0; sleep 0.1; done
  return 1
}
# With TLS if this build knows [tls] (an older one refuses the key and exits), else in plaintext only.
"$SM" --config "$WORK/tls.toml" serve --shards "$N" 2>> "$WORK/shardmail.log" &
SM_PID=$!
if ! wait_port "$SMTP" || ! kill -0 "$SM_PID" 2>/dev/null; then
  echo "(this shardmail does not start with [tls]; see $WORK/shardmail.log: plaintext only)" >&2
  kill -TERM "$SM_PID" 2>/dev/null || true; wait "$SM_PID" 2>/dev/null || true
  "$SM" --config "$WORK/plain.toml" serve --shards "$N" 2>> "$WORK/shardmail.log" &
  SM_PID=$!
  wait_port "$SMTP"
fi

postfix_drain() {
  for _ in $(seq 1 300); do
    [ -z "$(find "$PEERS_DIR/postfix/queue/"{incoming,active,deferred} -type f 2>/dev/null | head -1)" ] && return
    sleep 1
  done
}
summ() { # json -> "ops/s p99 errors", or "- - -" when nothing succeeded (not served)
  python3 -c "
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except Exception:
    s = {'ops': 0}
print('- - -' if s['ops'] == 0 else f\"{s['ops_per_s']:.1f} {s['latency_ms']['p99']:.1f} {s['errors_total']}\")" "$1"
}
lt() { # name kind target [args...] -> "ops/s p99 errors"
  local out="$WORK/$1-$(date +%s%N).json" kind=$2 target=$3; shift 3
  port_open "$target" && "$LT" "$kind" --target "$target" --connections "$C" --duration "$D" --quiet \
    --json "$out" "$@" > /dev/null 2>> "$WORK/loadtest.log" || true
  summ "$out"
}

# Mailboxes for fetch-all: users 0..MBOX_USERS-1 on both sides; SMTP ingest goes to the others.
fill="user{0..$((MBOX_USERS - 1))}@$BENCH_DOMAIN"
ingest=(--size 10k --rcpts 1 --to "user{$MBOX_USERS..$((BENCH_USERS - 1))}@$BENCH_DOMAIN")
"$LT" smtp --target "127.0.0.1:$POSTFIX_SMTP_PORT" --connections "$C" --messages "$MBOX_MESSAGES" --size 10k \
  --to "$fill" --quiet > /dev/null
"$LT" smtp --target "$SMTP" --connections "$C" --messages "$MBOX_MESSAGES" --size 10k --to "$fill" --quiet > /dev/null
postfix_drain
read_users=(--user-pattern "$fill" --password "$BENCH_PASSWORD" --scenario fetch-all)

smtp_rows="" imap_rows=""
for r in $(seq 1 "$REPEAT"); do
  row="$(lt sm-plain smtp "$SMTP" "${ingest[@]}") $(lt sm-tls smtp "$SMTP" "${ingest[@]}" --starttls "${CA[@]}")"
  postfix_drain
  row="$row $(lt pf-plain smtp "127.0.0.1:$POSTFIX_SMTP_PORT" "${ingest[@]}")"
  postfix_drain
  row="$row $(lt pf-tls smtp "127.0.0.1:$POSTFIX_SMTP_PORT" "${ingest[@]}" --starttls "${CA[@]}")"
  postfix_drain
  smtp_rows+="$row"$'\n'
  imap_rows+="$(lt sm-plain imap "$IMAP" "${read_users[@]}") $(lt sm-tls imap "$IMAPS" "${read_users[@]}" --tls "${CA[@]}")"
  imap_rows+=" $(lt dc-plain imap "127.0.0.1:$DOVECOT_IMAP_PORT" "${read_users[@]}") $(lt dc-tls imap "127.0.0.1:$DOVECOT_IMAPS_PORT" "${read_users[@]}" --tls "${CA[@]}")"$'\n'
done

echo "| TLS cost ($C connections, $D s x $REPEAT rounds; shardmail $N shards; full handshakes, long connections) | shardmail plain ops/s (p99 ms) | shardmail TLS | TLS/plain | peer plain | peer TLS | TLS/plain | shardmail/peer plain | shardmail/peer TLS | TLS ratio / plain ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
table() { # label rows
  python3 - "$1" <<PY
import statistics, sys
med = statistics.median
rows = [l.split() for l in """$2""".strip().splitlines()]
def num(x):
    return None if x == "-" else float(x)
rows = [[num(x) for x in r] for r in rows]
def col(i):
    xs = [r[i] for r in rows if r[i] is not None]
    return med(xs) if xs else None
def cell(i):
    v = col(i)
    if v is None:
        return "not served"
    errs = sum(r[i + 2] for r in rows if r[i + 2] is not None)
    return f"{v:.0f} ({col(i + 1):.1f})" + (f", {int(errs)} errors" if errs else "")
def ratio(a, b):
    xs = [r[a] / r[b] for r in rows if r[a] is not None and r[b] is not None and r[b] > 0]
    return med(xs) if xs else None
def fmt(x, pct=False):
    return "" if x is None else (f"{100 * x:.0f}%" if pct else f"{x:.2f}x")
sm_cost, pe_cost = ratio(3, 0), ratio(9, 6)
plain, tls = ratio(0, 6), ratio(3, 9)
change = tls / plain if plain and tls else None
print(f"| {sys.argv[1]} | {cell(0)} | {cell(3)} | {fmt(sm_cost, True)} | {cell(6)} | {cell(9)} | {fmt(pe_cost, True)} | {fmt(plain)} | {fmt(tls)} | {fmt(change, True)} |")
PY
}
table "SMTP ingest 10 KB, 1 rcpt: plain vs STARTTLS on the MX port (peer: Postfix)" "$smtp_rows"
table "IMAP fetch-all ($MBOX_USERS mailboxes of $((MBOX_MESSAGES / MBOX_USERS)) x 10 KB): imap vs imaps (peer: Dovecot)" "$imap_rows"
echo
echo "TLS 1.3 with the certificate $PEERS_TLS_DIR/cert.pem (ECDSA, curve $(openssl x509 -in "$PEERS_TLS_DIR/cert.pem" -noout -text | sed -n 's/^ *ASN1 OID: //p' | head -1)) on every server; client: loadtest (rustls, aws-lc-rs) on the same $(nproc) CPUs. json: $WORK"
