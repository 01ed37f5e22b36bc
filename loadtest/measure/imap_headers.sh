#!/usr/bin/env bash
# Compares shardmail builds on bench.sh's "IMAP headers" row alone (UID FETCH 1:* (UID FLAGS
# INTERNALDATE RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (...)]) of whole mailboxes), on one data
# directory filled once, so each build reads the same mail. Not a timed test: numbers for issue notes.
# Run it under the heavy lock: flock /work/heavy.lock loadtest/measure/imap_headers.sh ...
#   usage: loadtest/measure/imap_headers.sh LOADTEST SECONDS ROUNDS SHARDMAIL...
#   env: USERS (20), MESSAGES (2000, 10 KB each), CONNECTIONS (16), SHARDS (2), PORT_BASE (5600),
#        DOVECOT=1 to measure the private Dovecot (loadtest/peers, filled through its Postfix with the
#        same mail) in each round too; its users' mail is removed afterwards.
# Prints, per round, ops/s and errors of each build in turn; the last line is each one's median.
set -euo pipefail
LT=$1; D=$2; ROUNDS=$3; shift 3
BUILDS=("$@")
USERS=${USERS:-20}; MESSAGES=${MESSAGES:-2000}; C=${CONNECTIONS:-16}; SHARDS=${SHARDS:-2}
P=${PORT_BASE:-5600}
WORK=$(mktemp -d /tmp/imap-headers.XXXXXX)
PID=
PEERS=$(cd "$(dirname "$0")/../peers" && pwd)
. "$PEERS/env.sh"
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"
  if [ -n "${DOVECOT:-}" ]; then
    "$PEERS/stop.sh" > /dev/null 2>&1 || true
    for i in $(seq 0 $((USERS - 1))); do rm -rf "$PEERS_DIR/mail/user$i"; done
  fi
}
trap cleanup EXIT
cat > "$WORK/c.toml" <<CONF
data_dir = "$WORK/data"
hostname = "bench.test"
[smtp]
listen = ["127.0.0.1:$((P + 25))"]
[submission]
listen = ["127.0.0.1:$((P + 87))"]
[imap]
listen = ["127.0.0.1:$((P + 43))"]
[pop3]
listen = ["127.0.0.1:$((P + 10))"]
[metrics]
listen = ["127.0.0.1:$((P + 26))"]
CONF
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; return 1
}
start() { "$1" --config "$WORK/c.toml" serve --shards "$SHARDS" 2>> "$WORK/server.log" & PID=$!; wait_port $((P + 43)); }
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
for i in $(seq 0 $((USERS - 1))); do
  "${BUILDS[0]}" --config "$WORK/c.toml" account add "user$i@bench.test" --password benchpass > /dev/null
done
users="user{0..$((USERS - 1))}@bench.test"
start "${BUILDS[0]}"
"$LT" smtp --target "127.0.0.1:$((P + 25))" --connections "$C" --messages "$MESSAGES" --size 10k \
  --to "$users" --quiet > /dev/null
stop
if [ -n "${DOVECOT:-}" ]; then
  "$PEERS/start.sh" > /dev/null
  "$LT" smtp --target "127.0.0.1:$POSTFIX_SMTP_PORT" --connections "$C" --messages "$MESSAGES" --size 10k \
    --to "$users" --quiet > /dev/null
  for _ in $(seq 1 300); do
    [ -z "$(find "$PEERS_DIR/postfix/queue/"{incoming,active,deferred} -type f 2>/dev/null | head -1)" ] && break
    sleep 1
  done
fi
declare -A all=()
for r in $(seq 1 "$ROUNDS"); do
  line="round $r:"
  for b in "${BUILDS[@]}"; do
    start "$b"
    "$LT" imap --target "127.0.0.1:$((P + 43))" --connections "$C" --duration "$D" --quiet \
      --json "$WORK/out.json" --password benchpass --user-pattern "$users" --scenario headers > /dev/null
    stop
    ops=$(python3 -c "import json; s=json.load(open('$WORK/out.json')); print(f\"{s['ops_per_s']:.0f}\", s['errors_total'])")
    line+=" $(basename "$b")=$ops"
    all[$b]+="${ops%% *} "
  done
  if [ -n "${DOVECOT:-}" ]; then
    "$LT" imap --target "127.0.0.1:$DOVECOT_IMAP_PORT" --connections "$C" --duration "$D" --quiet \
      --json "$WORK/out.json" --password "$BENCH_PASSWORD" --user-pattern "$users" --scenario headers > /dev/null
    ops=$(python3 -c "import json; s=json.load(open('$WORK/out.json')); print(f\"{s['ops_per_s']:.0f}\", s['errors_total'])")
    line+=" dovecot=$ops"
    all[dovecot]+="${ops%% *} "
  fi
  echo "$line"
done
med="median:"
NAMES=("${BUILDS[@]}")
[ -n "${DOVECOT:-}" ] && NAMES+=(dovecot)
for b in "${NAMES[@]}"; do
  med+=" $(basename "$b")=$(python3 -c "import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))" ${all[$b]})"
done
echo "$med"
