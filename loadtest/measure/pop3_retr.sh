#!/usr/bin/env bash
# bench.sh's POP3 rows alone (RETR of 10 KB messages, and of 1 MB messages), for shardmail builds and,
# with DOVECOT=1, the private Dovecot in the same rounds, filled the same way as bench.sh fills them
# (through each server's own SMTP). Not a timed test: numbers for the README and issue notes.
# Run it under the heavy lock: flock /work/heavy.lock loadtest/measure/pop3_retr.sh ...
#   usage: loadtest/measure/pop3_retr.sh LOADTEST SECONDS ROUNDS SHARDMAIL...
#   env: USERS (20), MESSAGES (2000, 10 KB each), BIG_USERS (20), BIG_MESSAGES (400, 1 MB each; 0 skips
#        the 1 MB row), CONNECTIONS (16), SHARDS (2), PORT_BASE (5700), DOVECOT=1, EXTRA (more [imap]
#        config lines for shardmail, e.g. "verify_cache_ttl = 0", the last section; EXTRA_0, EXTRA_1, ... for the first,
#        second, ... build only: the same binary may be given twice), SINK=1 (the client's own
#        ceiling: loadtest's POP3 sink that keeps nothing), PERF=SECONDS (perf record -g the first
#        build's server for that long during its first 10 KB run; the report goes to $PERF_OUT).
# Each server keeps running through the rounds (as in bench.sh), so a login cache warms as it would.
# Prints, per round, ops/s and errors of each in turn; the last lines are each one's median.
set -euo pipefail
LT=$1; D=$2; ROUNDS=$3; shift 3
BUILDS=("$@")
USERS=${USERS:-20}; MESSAGES=${MESSAGES:-2000}; C=${CONNECTIONS:-16}; SHARDS=${SHARDS:-2}
BIG_USERS=${BIG_USERS:-20}; BIG_MESSAGES=${BIG_MESSAGES:-400}
P=${PORT_BASE:-5700}
WORK=$(mktemp -d /tmp/pop3-retr.XXXXXX)
PIDS=()
PEERS=$(cd "$(dirname "$0")/../peers" && pwd)
. "$PEERS/env.sh"
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
  if [ -n "${DOVECOT:-}" ]; then
    "$PEERS/stop.sh" > /dev/null 2>&1 || true
    rm -rf "$PEERS_DIR"/mail/*
  fi
}
trap cleanup EXIT
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; return 1
}
users="user{0..$((USERS - 1))}@$BENCH_DOMAIN"
big="user{$USERS..$((USERS + BIG_USERS - 1))}@$BENCH_DOMAIN"
fill() { # smtp-port
  "$LT" smtp --target "127.0.0.1:$1" --connections "$C" --messages "$MESSAGES" --size 10k \
    --to "$users" --quiet > /dev/null
  if [ "$BIG_MESSAGES" -gt 0 ]; then
    "$LT" smtp --target "127.0.0.1:$1" --connections "$C" --messages "$BIG_MESSAGES" --size 1m \
      --to "$big" --quiet > /dev/null
  fi
}
# One shardmail per build, each on its own ports and data directory, all filled before the rounds.
for b in "${!BUILDS[@]}"; do
  o=$((P + 100 * b))
  extra_var="EXTRA_$b"; extra=${!extra_var:-${EXTRA:-}}
  printf 'data_dir = "%s"\nhostname = "bench.test"\n[smtp]\nlisten = ["127.0.0.1:%d"]\n[submission]\nlisten = ["127.0.0.1:%d"]\n[pop3]\nlisten = ["127.0.0.1:%d"]\n[metrics]\nlisten = ["127.0.0.1:%d"]\n[imap]\nlisten = ["127.0.0.1:%d"]\n%b\n' \
    "$WORK/data-$b" $((o + 25)) $((o + 87)) $((o + 10)) $((o + 26)) $((o + 43)) "$extra" > "$WORK/c-$b.toml"
  for i in $(seq 0 $((USERS + BIG_USERS - 1))); do
    "${BUILDS[$b]}" --config "$WORK/c-$b.toml" account add "user$i@$BENCH_DOMAIN" \
      --password "$BENCH_PASSWORD" > /dev/null
  done
  "${BUILDS[$b]}" --config "$WORK/c-$b.toml" serve --shards "$SHARDS" 2>> "$WORK/server-$b.log" &
  PIDS+=($!)
  wait_port $((o + 10))
  fill $((o + 25))
done
if [ -n "${DOVECOT:-}" ]; then
  "$PEERS/start.sh" > /dev/null
  fill "$POSTFIX_SMTP_PORT"
  for _ in $(seq 1 300); do
    [ -z "$(find "$PEERS_DIR/postfix/queue/"{incoming,active,deferred} -type f 2>/dev/null | head -1)" ] && break
    sleep 1
  done
fi
if [ -n "${SINK:-}" ]; then
  "$LT" sink --pop3-listen "127.0.0.1:$((P + 97))" --pop3-messages "$((MESSAGES / USERS))" \
    --pop3-size 10k 2>> "$WORK/sink.log" &
  PIDS+=($!)
  wait_port $((P + 97))
fi
run() { # target users -> "ops/s errors p50 p99"
  "$LT" pop3 --target "$1" --connections "$C" --duration "$D" --quiet --json "$WORK/out.json" \
    --password "$BENCH_PASSWORD" --user-pattern "$2" > /dev/null || true
  python3 -c "import json; s=json.load(open('$WORK/out.json')); l=s['latency_ms']; print(f\"{s['ops_per_s']:.0f} {s['errors_total']} {l['p50']:.1f} {l['p99']:.1f}\")"
}
declare -A all=()
NAMES=()
for b in "${!BUILDS[@]}"; do NAMES+=("$b:$(basename "${BUILDS[$b]}")"); done
[ -n "${DOVECOT:-}" ] && NAMES+=(dovecot)
[ -n "${SINK:-}" ] && NAMES+=(sink)
for r in $(seq 1 "$ROUNDS"); do
  for row in 10k 1m; do
    [ "$row" = 1m ] && [ "$BIG_MESSAGES" -eq 0 ] && continue
    u=$users; [ "$row" = 1m ] && u=$big
    line="round $r $row:"
    for n in "${NAMES[@]}"; do
      case $n in
        dovecot) t="127.0.0.1:$DOVECOT_POP3_PORT";;
        sink) [ "$row" = 1m ] && continue; t="127.0.0.1:$((P + 97))";;
        *) t="127.0.0.1:$((P + 100 * ${n%%:*} + 10))";;
      esac
      perf_pid=
      if [ -n "${PERF:-}" ] && [ "$r" = 1 ] && [ "$row" = 10k ] && [ "${n%%:*}" = 0 ]; then
        perf record -g -o "$WORK/perf.data" -p "${PIDS[0]}" -- sleep "$PERF" > /dev/null 2>&1 &
        perf_pid=$!
      fi
      res=$(run "$t" "$u")
      if [ -n "$perf_pid" ]; then
        wait "$perf_pid" || true
        perf report -i "$WORK/perf.data" --stdio --no-children --percent-limit 0.7 \
          > "${PERF_OUT:-/tmp/pop3-perf.txt}" 2> /dev/null || true
        echo "perf report: ${PERF_OUT:-/tmp/pop3-perf.txt}"
      fi
      line+=" $n=[$res]"
      all[$n-$row]+="${res%% *} "
    done
    echo "$line"
  done
done
for row in 10k 1m; do
  [ "$row" = 1m ] && [ "$BIG_MESSAGES" -eq 0 ] && continue
  med="median $row RETR/s:"
  for n in "${NAMES[@]}"; do
    [ -z "${all[$n-$row]:-}" ] && continue
    med+=" $n=$(python3 -c "import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))" ${all[$n-$row]})"
  done
  echo "$med"
done
