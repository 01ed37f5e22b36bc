#!/usr/bin/env bash
# Side-by-side benchmark in one run on this machine: shardmail vs Postfix (SMTP ingest, durable at 250 on
# both) and the machine's ceiling (loadtest's durable sink: the same bytes over loopback TCP appended to
# a file with group-commit fdatasync batching). The load generator shares the CPUs with the servers.
#
# usage: loadtest/bench.sh [SECONDS_PER_RUN]    env: CONNECTIONS (16), SHARDS (2), REPEAT (3), SCENARIOS
# Each figure is the median over REPEAT interleaved rounds; ratios are medians of per-round ratios.
# Prints a markdown table; JSON per run is kept in $WORK (printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10}
C=${CONNECTIONS:-16}
SHARDS=${SHARDS:-2}
REPEAT=${REPEAT:-3}
SCENARIOS=${SCENARIOS:-"10k:1 100k:1 10k:10 100k:10"}
. loadtest/peers/env.sh

cargo build --release -q -p shardmail -p shardmail-loadtest
LT=$PWD/target/release/loadtest
SM=$PWD/target/release/shardmail
WORK=$(mktemp -d /tmp/shardmail-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  loadtest/peers/stop.sh >/dev/null 2>&1 || true
  # The mail itself is not kept (a 100 KB x 10 recipients run writes tens of GB); the JSON is.
  rm -rf "$WORK/data" "$WORK"/ceiling.* "$PEERS_DIR"/mail/*
}
trap cleanup EXIT

# Peers.
[ -f "$PEERS_DIR/postfix/config/main.cf" ] || loadtest/peers/setup.sh
loadtest/peers/start.sh >/dev/null

# shardmail with the same accounts (created once; each scenario starts on a fresh copy).
cat > "$WORK/shardmail.toml" <<CONF
data_dir = "$WORK/data"
hostname = "bench.test"
[smtp]
listen = ["127.0.0.1:4525"]
[submission]
listen = ["127.0.0.1:4587"]
[imap]
listen = ["127.0.0.1:4143"]
[pop3]
listen = ["127.0.0.1:4110"]
[metrics]
listen = ["127.0.0.1:4025"]
CONF
for i in $(seq 0 $((BENCH_USERS - 1))); do
  "$SM" --config "$WORK/shardmail.toml" account add "user$i@$BENCH_DOMAIN" --password "$BENCH_PASSWORD" >/dev/null
done
cp "$WORK/data/accounts" "$WORK/accounts"

wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; return 1
}

# Fresh servers per scenario, so the disk never holds more than one scenario's mail.
start_servers() {
  rm -rf "$WORK/data" "$WORK"/ceiling.*
  mkdir -p "$WORK/data" && cp "$WORK/accounts" "$WORK/data/accounts"
  "$SM" --config "$WORK/shardmail.toml" serve --shards "$SHARDS" 2>> "$WORK/shardmail.log" &
  SM_PID=$!
  "$LT" sink --listen 127.0.0.1:4999 --durable "$WORK/ceiling" 2>> "$WORK/sink.log" &
  SINK_PID=$!
  PIDS+=("$SM_PID" "$SINK_PID")
  wait_port 4525; wait_port 4999
}
stop_servers() {
  kill -TERM "$SM_PID" "$SINK_PID" 2>/dev/null || true
  wait "$SM_PID" "$SINK_PID" 2>/dev/null || true
  rm -rf "$WORK/data" "$WORK"/ceiling.* "$PEERS_DIR"/mail/*
}

postfix_drain() {
  # Postfix hands queued mail to Dovecot after its 250; let that finish so runs do not overlap.
  for _ in $(seq 1 300); do
    [ -z "$(find "$PEERS_DIR/postfix/queue/"{incoming,active,deferred} -type f 2>/dev/null | head -1)" ] && return
    sleep 1
  done
}

run() { # name target size rcpts
  local out="$WORK/$1-$3-$4.json"
  "$LT" smtp --target "$2" --connections "$C" --duration "$D" --size "$3" --rcpts "$4" \
    --to "user{0..$((BENCH_USERS - 1))}@$BENCH_DOMAIN" --quiet --json "$out" > /dev/null || true
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(f\"{s['ops_per_s']:.0f} {s['latency_ms']['p99']:.1f} {s['errors_total']}\")" "$out"
}

echo "| SMTP ingest (${C} connections, ${D} s x ${REPEAT} rounds) | shardmail msg/s (p99 ms) | Postfix msg/s (p99 ms) | shardmail/Postfix | ceiling msg/s | shardmail/ceiling |"
echo "|---|---|---|---|---|---|"
for sc in $SCENARIOS; do
  size=${sc%%:*}; rcpts=${sc##*:}
  rows=""
  start_servers
  # Interleaved rounds: the disk of a small VM drifts; each round's ratios come from adjacent runs.
  for r in $(seq 1 "$REPEAT"); do
    sm=$(run shardmail 127.0.0.1:4525 "$size" "$rcpts")
    postfix_drain
    pf=$(run postfix "127.0.0.1:$POSTFIX_SMTP_PORT" "$size" "$rcpts")
    postfix_drain
    ce=$(run ceiling 127.0.0.1:4999 "$size" "$rcpts")
    rows="$rows$sm $pf $ce"$'\n'
  done
  stop_servers
  python3 - "$size" "$rcpts" <<PY
import statistics, sys
rows = [list(map(float, l.split())) for l in """$rows""".strip().splitlines()]
med = lambda xs: statistics.median(xs)
sm, smp, sme, pf, pfp, pfe, ce, cep, cee = (med([r[i] for r in rows]) for i in range(9))
ratio = med([r[0] / max(r[3], 1) for r in rows])
share = med([r[0] / max(r[6], 1) for r in rows])
errs = sum(r[2] + r[5] + r[8] for r in rows)
note = f" ({int(errs)} errors)" if errs else ""
open("$WORK/best", "a").write(f"{max(sm, pf)}\n")
print(f"| {sys.argv[1]}, {sys.argv[2]} rcpt | {sm:.0f} ({smp:.1f}) | {pf:.0f} ({pfp:.1f}) | {ratio:.2f}x | {ce:.0f} | {100*share:.0f}% |{note}")
PY
done
# The client's own ceiling: the same load against a sink that keeps nothing.
"$LT" sink --listen 127.0.0.1:4998 2>> "$WORK/sink.log" &
PIDS+=($!)
wait_port 4998
read -r cl_ops _ < <(run client 127.0.0.1:4998 10k 1)
python3 -c "
best = max(float(x) for x in open('$WORK/best'))
print(f'| client ceiling: loadtest vs a sink that keeps nothing, 10k, 1 rcpt | {$cl_ops:.0f} msg/s | | {$cl_ops/best:.1f}x the fastest server above | | |')"
echo "| POP3 RETR, IMAP fetch-all/headers | shardmail has no POP3/IMAP server yet | | | | |"
echo
echo "machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p')), $(free -g | awk '/Mem:/{print $2}') GiB; client and servers share the CPUs; shardmail --shards $SHARDS"
echo "json: $WORK"
