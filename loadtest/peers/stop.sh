#!/usr/bin/env bash
# Stops the private Postfix and Dovecot by their pid files.
set -uo pipefail
cd "$(dirname "$0")"
. ./env.sh
for name in postfix dovecot; do
  f="$PEERS_DIR/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  # setsid made each the leader of its own process group: stop the whole group.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
done
echo stopped
