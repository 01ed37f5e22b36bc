#!/usr/bin/env bash
# Where the 2 CPUs go during SMTP ingest: CPU seconds of the server and of the load generator over one
# run, for 1 and 2 shards (release build; bench accounts from a bench.sh work dir).
# usage: loadtest/measure/cpu_split.sh ACCOUNTS_FILE [SECONDS] [RCPTS]   (env C: connections, default 16)
set -euo pipefail
acc=$(realpath "$1"); D=${2:-10}; R=${3:-1}
cd "$(dirname "$0")/../.."
SM=target/release/shardmail; LT=target/release/loadtest
W=$(mktemp -d /tmp/cpusplit.XXXX)
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
total() { awk '/^cpu /{s=0; for(i=2;i<=NF;i++) s+=$i; print s, $5+$6}' /proc/stat; } # all, idle+iowait
for n in 1 2; do
  rm -rf "$W/data"; mkdir -p "$W/data"; cp "$acc" "$W/data/accounts"
  cat > "$W/sm.toml" <<CONF
data_dir = "$W/data"
hostname = "bench.test"
[smtp]
listen = ["127.0.0.1:4625"]
[metrics]
listen = ["127.0.0.1:4626"]
[imap]
listen = ["127.0.0.1:4627"]
[pop3]
listen = ["127.0.0.1:4628"]
[submission]
listen = ["127.0.0.1:4629"]
CONF
  "$SM" --config "$W/sm.toml" serve --shards $n 2>>"$W/log" & spid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/4625) 2>/dev/null && break; sleep 0.1; done
  "$LT" smtp --target 127.0.0.1:4625 --connections ${C:-16} --duration "$D" --size 10k --rcpts "$R" \
    --to "user{0..99}@bench.test" --quiet --json "$W/r$n.json" >/dev/null & lpid=$!
  sleep 1
  s0=$(cpu $spid); l0=$(cpu $lpid); read -r t0 i0 < <(total); w0=$(date +%s.%N)
  sleep $((D - 2))
  s1=$(cpu $spid); l1=$(cpu $lpid); read -r t1 i1 < <(total); w1=$(date +%s.%N)
  wait $lpid || true
  kill -TERM $spid; wait $spid || true
  python3 - "$n" "$s0" "$s1" "$l0" "$l1" "$t0" "$t1" "$i0" "$i1" "$w0" "$w1" "$hz" "$W/r$n.json" <<'PY'
import json, sys
n, s0, s1, l0, l1, t0, t1, i0, i1, w0, w1, hz, js = sys.argv[1:]
hz = float(hz); wall = float(w1) - float(w0)
srv = (float(s1) - float(s0)) / hz / wall
lt = (float(l1) - float(l0)) / hz / wall
busy = ((float(t1) - float(t0)) - (float(i1) - float(i0))) / hz / wall
rate = json.load(open(js))["ops_per_s"]
print(f"{n} shard(s): {rate:.0f} msg/s; CPUs busy {busy:.2f} of 2; server {srv:.2f} cores, loadtest {lt:.2f} cores, other (kernel threads, softirq, rest) {busy - srv - lt:.2f}")
PY
done
rm -rf "$W"
