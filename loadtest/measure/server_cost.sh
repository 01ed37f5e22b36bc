#!/usr/bin/env bash
# Measures a running shardmail's memory and CPU under a loadtest scenario (not a timed test: numbers for
# the README and issue notes). Usage:
#   loadtest/measure/server_cost.sh PID SECONDS -- LOADTEST ARGS...
# Prints the server's RSS before, its peak RSS (VmHWM) and RSS at the end of the scenario, and the CPU
# seconds (user+system) the server used while the scenario ran, as a share of one core.
set -euo pipefail
pid=$1; secs=$2; shift 3
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/{print $2}' "/proc/$pid/status"; }
echo "server RSS before: $(rss) kB"
"$@" &
load=$!
# Let the connections open, then measure a quiet window while they are held.
sleep $(( secs / 3 ))
c0=$(cpu); t0=$(date +%s.%N)
sleep $(( secs / 3 ))
c1=$(cpu); t1=$(date +%s.%N)
echo "server RSS during: $(rss) kB (peak $(hwm) kB)"
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$ticks" \
    'BEGIN { s = (c1 - c0) / hz; w = t1 - t0; printf "server CPU in the window: %.2f s over %.1f s = %.1f%% of a core\n", s, w, 100 * s / w }'
wait $load || true
echo "server RSS after: $(rss) kB (peak $(hwm) kB)"
