#!/usr/bin/env bash
# Stops the private Postfix and Dovecot: by their pid files, and Postfix's master by its own pid file
# (the master makes a session of its own, so the group of the `postfix start-fg` wrapper misses it).
set -uo pipefail
cd "$(dirname "$0")"
. ./env.sh
stop_pid() { # pid: TERM its group (setsid made it a leader) or itself, wait, then KILL
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}
for name in postfix dovecot; do
  f="$PEERS_DIR/$name.pid"
  [ -f "$f" ] || continue
  stop_pid "$(cat "$f")"
  rm -f "$f"
done
master="$PEERS_DIR/postfix/queue/pid/master.pid"
if [ -f "$master" ]; then
  pid=$(tr -d ' \n' < "$master")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && stop_pid "$pid"
fi
echo stopped
