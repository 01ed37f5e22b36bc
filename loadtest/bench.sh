#!/usr/bin/env bash
# Side-by-side benchmark in one run on this machine: shardmail vs Postfix (SMTP ingest, durable at 250 on
# both) and the machine's ceiling (loadtest's durable sink: the same bytes over loopback TCP appended to
# a file with group-commit fdatasync batching); then POP3 RETR, IMAP fetch-all/headers and IMAP IDLE
# delivery-to-notification against Dovecot (and shardmail, once it serves them). The load generator
# shares the CPUs with the servers.
#
# usage: loadtest/bench.sh [SECONDS_PER_RUN]
#   env: CONNECTIONS (16), SHARDS ("2 1"), REPEAT (3), SCENARIOS ("10k:1 100k:1 10k:10 100k:10"),
#        MBOX_USERS (20), MBOX_MESSAGES (2000), IDLE_RATE (100), BIG_USERS (20), BIG_MESSAGES (400),
#        TLS_ROWS (1: then the TLS rows of loadtest/measure/tls_bench.sh: SMTP 10k/1 and IMAP fetch-all,
#        plaintext beside TLS, shardmail beside Postfix/Dovecot; 0: skip them)
# Each figure is the median over REPEAT interleaved rounds; ratios are medians of per-round ratios.
# SHARDS lists shard counts: one shardmail per count runs beside the others (its own data directory and
# ports), each is measured in every round, and the first is the one compared with Postfix, the ceiling
# and Dovecot.
# Prints a markdown table; JSON per run is kept in $WORK (printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10}
C=${CONNECTIONS:-16}
SHARDS=(${SHARDS:-2 1})
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
  rm -rf "$WORK"/data-* "$WORK"/ceiling.* "$PEERS_DIR"/mail/*
}
trap cleanup EXIT

# Peers.
# (Again when an older setup left them without TLS.)
grep -qs '^smtpd_tls_cert_file' "$PEERS_DIR/postfix/config/main.cf" || loadtest/peers/setup.sh
loadtest/peers/start.sh >/dev/null

# shardmail with the same accounts, one instance per shard count (created once; each scenario starts on
# a fresh copy). Instance i listens on the ports 4525/4587/4143/4110/4025 + 10 * i.
sm_config() { # index shards -> writes $WORK/shardmail-$shards.toml
  local o=$((10 * $1))
  cat > "$WORK/shardmail-$2.toml" <<CONF
data_dir = "$WORK/data-$2"
hostname = "bench.test"
[smtp]
listen = ["127.0.0.1:$((4525 + o))"]
[submission]
listen = ["127.0.0.1:$((4587 + o))"]
[imap]
listen = ["127.0.0.1:$((4143 + o))"]
[pop3]
listen = ["127.0.0.1:$((4110 + o))"]
[metrics]
listen = ["127.0.0.1:$((4025 + o))"]
CONF
}
for i in "${!SHARDS[@]}"; do sm_config "$i" "${SHARDS[$i]}"; done
for i in $(seq 0 $((BENCH_USERS - 1))); do
  "$SM" --config "$WORK/shardmail-${SHARDS[0]}.toml" account add "user$i@$BENCH_DOMAIN" --password "$BENCH_PASSWORD" >/dev/null
done
cp "$WORK/data-${SHARDS[0]}/accounts" "$WORK/accounts"

wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; return 1
}

# Fresh servers per scenario, so the disk never holds more than one scenario's mail.
start_servers() {
  rm -rf "$WORK"/data-* "$WORK"/ceiling.*
  SM_PIDS=()
  for i in "${!SHARDS[@]}"; do
    local n=${SHARDS[$i]}
    mkdir -p "$WORK/data-$n" && cp "$WORK/accounts" "$WORK/data-$n/accounts"
    "$SM" --config "$WORK/shardmail-$n.toml" serve --shards "$n" 2>> "$WORK/shardmail-$n.log" &
    SM_PIDS+=($!)
  done
  "$LT" sink --listen 127.0.0.1:4999 --durable "$WORK/ceiling" 2>> "$WORK/sink.log" &
  SINK_PID=$!
  # The client's own ceiling: a sink that keeps nothing.
  "$LT" sink --listen 127.0.0.1:4998 2>> "$WORK/sink.log" &
  NULL_PID=$!
  PIDS+=("${SM_PIDS[@]}" "$SINK_PID" "$NULL_PID")
  for i in "${!SHARDS[@]}"; do wait_port $((4525 + 10 * i)); done
  wait_port 4999; wait_port 4998
}
stop_servers() {
  kill -TERM "${SM_PIDS[@]}" "$SINK_PID" "$NULL_PID" 2>/dev/null || true
  wait "${SM_PIDS[@]}" "$SINK_PID" "$NULL_PID" 2>/dev/null || true
  rm -rf "$WORK"/data-* "$WORK"/ceiling.* "$PEERS_DIR"/mail/*
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

head="| SMTP ingest (${C} connections, ${D} s x ${REPEAT} rounds)"
for n in "${SHARDS[@]}"; do head="$head | shardmail $n shard(s) msg/s (p99 ms)"; done
head="$head | Postfix msg/s (p99 ms) | shardmail/Postfix | ceiling msg/s | shardmail/ceiling |"
[ ${#SHARDS[@]} -gt 1 ] && head="$head ${SHARDS[0]} shards / ${SHARDS[1]} |"
echo "$head"
echo "$head" | sed 's/[^|]*|/---|/g; s/^---//'
for sc in $SCENARIOS; do
  size=${sc%%:*}; rcpts=${sc##*:}
  rows=""
  start_servers
  # Interleaved rounds: the disk of a small VM drifts; each round's ratios come from adjacent runs.
  for r in $(seq 1 "$REPEAT"); do
    sm=""
    for i in "${!SHARDS[@]}"; do
      sm="$sm $(run "shardmail-${SHARDS[$i]}" "127.0.0.1:$((4525 + 10 * i))" "$size" "$rcpts")"
    done
    postfix_drain
    pf=$(run postfix "127.0.0.1:$POSTFIX_SMTP_PORT" "$size" "$rcpts")
    postfix_drain
    ce=$(run ceiling 127.0.0.1:4999 "$size" "$rcpts")
    rows="$rows$sm $pf $ce"$'\n'
    if [ "$sc" = "${SCENARIOS%% *}" ]; then
      read -r cl _ < <(run client 127.0.0.1:4998 "$size" "$rcpts")
      echo "$cl" >> "$WORK/client"
    fi
  done
  stop_servers
  python3 - "$size" "$rcpts" "${#SHARDS[@]}" <<PY
import statistics, sys
k = int(sys.argv[3])
rows = [list(map(float, l.split())) for l in """$rows""".strip().splitlines()]
med = lambda xs: statistics.median(xs)
col = lambda i: med([r[i] for r in rows])
# Each row: (msg/s, p99, errors) per shardmail instance, then Postfix, then the ceiling.
sms = [(col(3 * j), col(3 * j + 1)) for j in range(k)]
pf, pfp, ce = col(3 * k), col(3 * k + 1), col(3 * k + 3)
ratio = med([r[0] / max(r[3 * k], 1) for r in rows])
share = med([r[0] / max(r[3 * k + 3], 1) for r in rows])
scale = f" {med([r[0] / max(r[3], 1) for r in rows]):.2f}x |" if k > 1 else ""
errs = sum(r[i] for r in rows for i in range(2, len(r), 3))
note = f" ({int(errs)} errors)" if errs else ""
open("$WORK/best", "a").write(f"{max([s for s, _ in sms] + [pf])}\n")
cells = " | ".join(f"{s:.0f} ({p:.1f})" for s, p in sms)
print(f"| {sys.argv[1]}, {sys.argv[2]} rcpt | {cells} | {pf:.0f} ({pfp:.1f}) | {ratio:.2f}x | {ce:.0f} | {100*share:.0f}% |{scale}{note}")
PY
done
# The client's own ceiling, from the rounds of the first scenario: the same load against the sink that
# keeps nothing, in the same conditions as the servers.
python3 -c "
import statistics
best = max(float(x) for x in open('$WORK/best'))
cl = statistics.median(float(x) for x in open('$WORK/client'))
print(f'| client ceiling: loadtest vs a sink that keeps nothing, ${SCENARIOS%% *} | {cl:.0f} msg/s | | {cl/best:.1f}x the fastest server above | | |')"
# POP3 and IMAP: the same mailboxes on both sides (delivered through each server's own SMTP), read by
# the same clients. shardmail's rows are filled once it serves the protocol (its port answers).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
summ() { # json -> "ops/s p50 p99 errors"
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); l=s['latency_ms']; print(f\"{s['ops_per_s']:.0f} {l['p50']:.1f} {l['p99']:.1f} {s['errors_total']}\")" "$1"
}
MBOX_USERS=${MBOX_USERS:-20}
MBOX_MESSAGES=${MBOX_MESSAGES:-2000}
mbox() { # name target kind [args...] -> "ops/s p50 p99 errors", or "-" when the target is not served
  local name=$1 target=$2 kind=$3; shift 3
  port_open "${target##*:}" || { echo "-"; return; }
  local out="$WORK/$name-$kind-$(date +%s%N).json"
  "$LT" "$kind" --target "$target" --connections "$C" --duration "$D" --quiet --json "$out" \
    --password "$BENCH_PASSWORD" "$@" > /dev/null || true
  summ "$out"
}
start_servers
fill_to="user{0..$((MBOX_USERS - 1))}@$BENCH_DOMAIN"
"$LT" smtp --target "127.0.0.1:$POSTFIX_SMTP_PORT" --connections "$C" --messages "$MBOX_MESSAGES" --size 10k \
  --to "$fill_to" --quiet > /dev/null
postfix_drain
"$LT" smtp --target 127.0.0.1:4525 --connections "$C" --messages "$MBOX_MESSAGES" --size 10k \
  --to "$fill_to" --quiet > /dev/null
# POP3 of large messages: BIG_USERS more maildrops (after the IDLE users) of 1 MB messages.
BIG_USERS=${BIG_USERS:-20}
BIG_MESSAGES=${BIG_MESSAGES:-400}
big_to="user{$((2 * MBOX_USERS))..$((2 * MBOX_USERS + BIG_USERS - 1))}@$BENCH_DOMAIN"
"$LT" smtp --target "127.0.0.1:$POSTFIX_SMTP_PORT" --connections "$C" --messages "$BIG_MESSAGES" --size 1m \
  --to "$big_to" --quiet > /dev/null
postfix_drain
"$LT" smtp --target 127.0.0.1:4525 --connections "$C" --messages "$BIG_MESSAGES" --size 1m \
  --to "$big_to" --quiet > /dev/null
big_users=(--user-pattern "$big_to")
read_users=(--user-pattern "$fill_to")
idle_users=(--user-pattern "user{$MBOX_USERS..$((2 * MBOX_USERS - 1))}@$BENCH_DOMAIN")
IDLE_RATE=${IDLE_RATE:-100}
# The POP3 client's own ceiling: a sink serving 100 x 10 KB per maildrop and keeping nothing.
"$LT" sink --pop3-listen 127.0.0.1:4997 --pop3-messages "$((MBOX_MESSAGES / MBOX_USERS))" --pop3-size 10k \
  2>> "$WORK/sink.log" &
PIDS+=($!)
"$LT" sink --pop3-listen 127.0.0.1:4996 --pop3-messages "$((BIG_MESSAGES / BIG_USERS))" --pop3-size 1m \
  2>> "$WORK/sink.log" &
PIDS+=($!)
wait_port 4997; wait_port 4996
declare -A rows=()
for r in $(seq 1 "$REPEAT"); do
  rows[pop3sink]+="$(mbox sink 127.0.0.1:4997 pop3 "${read_users[@]}")"$'\n'
  rows[pop3]+="$(mbox shardmail 127.0.0.1:4110 pop3 "${read_users[@]}") $(mbox dovecot "127.0.0.1:$DOVECOT_POP3_PORT" pop3 "${read_users[@]}")"$'\n'
  rows[pop3bigsink]+="$(mbox sink 127.0.0.1:4996 pop3 "${big_users[@]}")"$'\n'
  rows[pop3big]+="$(mbox shardmail 127.0.0.1:4110 pop3 "${big_users[@]}") $(mbox dovecot "127.0.0.1:$DOVECOT_POP3_PORT" pop3 "${big_users[@]}")"$'\n'
  for sc in fetch-all headers; do
    rows[$sc]+="$(mbox shardmail 127.0.0.1:4143 imap "${read_users[@]}" --scenario $sc) $(mbox dovecot "127.0.0.1:$DOVECOT_IMAP_PORT" imap "${read_users[@]}" --scenario $sc)"$'\n'
  done
  rows[idle]+="$(C=$MBOX_USERS mbox shardmail 127.0.0.1:4143 imap "${idle_users[@]}" --scenario idle --smtp-target 127.0.0.1:4525 --rate "$IDLE_RATE") $(C=$MBOX_USERS mbox dovecot "127.0.0.1:$DOVECOT_IMAP_PORT" imap "${idle_users[@]}" --scenario idle --smtp-target "127.0.0.1:$POSTFIX_SMTP_PORT" --rate "$IDLE_RATE")"$'\n'
  postfix_drain
done
stop_servers
echo
echo "| POP3 / IMAP ($C connections, $D s x $REPEAT rounds; $MBOX_USERS mailboxes of $((MBOX_MESSAGES / MBOX_USERS)) x 10 KB) | shardmail ops/s (p50 / p99 ms) | Dovecot ops/s (p50 / p99 ms) | shardmail/Dovecot |"
echo "|---|---|---|---|"
for key in pop3 pop3big fetch-all headers idle; do
  case $key in
    pop3) label="POP3 RETR (one message an operation)";;
    pop3big) label="POP3 RETR of 1 MB messages ($BIG_USERS maildrops of $((BIG_MESSAGES / BIG_USERS)); ops/s x 1 MiB = MiB/s)";;
    fetch-all) label="IMAP fetch-all (UID FETCH 1:* BODY.PEEK[]: one mailbox an operation)";;
    headers) label="IMAP headers (envelope, flags, sizes of a whole mailbox)";;
    idle) label="IMAP IDLE, delivery to notification ($MBOX_USERS watchers, SMTP at $IDLE_RATE msg/s; latency is the figure)";;
  esac
  python3 - "$label" <<PY
import statistics, sys
med = statistics.median
sm, dc = [], []
for line in """${rows[$key]}""".strip().splitlines():
    f = line.split()
    if f[0] == "-":
        dc.append(list(map(float, f[1:5])))
    else:
        sm.append(list(map(float, f[0:4])))
        dc.append(list(map(float, f[4:8])))
def cell(rs):
    if not rs:
        return "not served yet"
    errs = sum(r[3] for r in rs)
    return f"{med([r[0] for r in rs]):.0f} ({med([r[1] for r in rs]):.1f} / {med([r[2] for r in rs]):.1f})" + (f", {int(errs)} errors" if errs else "")
ratio = f"{med([a[0] / max(b[0], 1) for a, b in zip(sm, dc)]):.2f}x" if sm else ""
print(f"| {sys.argv[1]} | {cell(sm)} | {cell(dc)} | {ratio} |")
PY
done
python3 - <<PY
import statistics
sink = statistics.median(float(l.split()[0]) for l in """${rows[pop3sink]}""".strip().splitlines())
dc = statistics.median(float(l.split()[-4]) for l in """${rows[pop3]}""".strip().splitlines())
print(f"| client ceiling, POP3 RETR: loadtest vs a sink that keeps nothing | {sink:.0f} ops/s (the sink) | | {sink / max(dc, 1):.1f}x Dovecot's RETR rate |")
big = statistics.median(float(l.split()[0]) for l in """${rows[pop3bigsink]}""".strip().splitlines())
first = [l.split() for l in """${rows[pop3big]}""".strip().splitlines()]
sm = [float(f[0]) for f in first if f[0] != "-"]
share = f"shardmail {statistics.median(sm):.0f} MiB/s = {100 * statistics.median(sm) / max(big, 1):.0f}% of it" if sm else ""
print(f"| client ceiling, POP3 RETR of 1 MB: loadtest vs a sink that keeps nothing | {big:.0f} MiB/s (the sink) | | {share} |")
PY
echo
echo "machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p')), $(free -g | awk '/Mem:/{print $2}') GiB; client and servers share the CPUs; shardmail --shards ${SHARDS[*]} (the first is compared with the peers)"
echo "json: $WORK"
if [ "${TLS_ROWS:-1}" = 1 ]; then
  echo
  BUILD=0 CONNECTIONS=$C SHARDS=${SHARDS[0]} REPEAT=$REPEAT MBOX_USERS=$MBOX_USERS MBOX_MESSAGES=$MBOX_MESSAGES \
    loadtest/measure/tls_bench.sh "$D"
fi
