#!/usr/bin/env bash
# Starts the private Postfix and Dovecot (setup.sh first); pid files in $PEERS_DIR.
set -euo pipefail
cd "$(dirname "$0")"
. ./env.sh
PF="$PEERS_DIR/postfix"; DC="$PEERS_DIR/dovecot"
[ -f "$PF/config/main.cf" ] || { echo "run setup.sh first" >&2; exit 1; }
./stop.sh >/dev/null 2>&1 || true
setsid dovecot -c "$DC/dovecot.conf" -F > "$DC/stdout.log" 2>&1 &
echo $! > "$PEERS_DIR/dovecot.pid"
setsid postfix -c "$PF/config" start-fg > "$PF/postfix.log" 2>&1 &
echo $! > "$PEERS_DIR/postfix.pid"
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open; see $PEERS_DIR/*/ logs" >&2; return 1
}
wait_port "$POSTFIX_SMTP_PORT"; wait_port "$DOVECOT_IMAP_PORT"; wait_port "$DOVECOT_POP3_PORT"; wait_port "$DOVECOT_LMTP_PORT"
wait_port "$POSTFIX_SMTPS_PORT"; wait_port "$DOVECOT_IMAPS_PORT"; wait_port "$DOVECOT_POP3S_PORT"
echo "postfix smtp 127.0.0.1:$POSTFIX_SMTP_PORT (STARTTLS) smtps :$POSTFIX_SMTPS_PORT, dovecot imap :$DOVECOT_IMAP_PORT imaps :$DOVECOT_IMAPS_PORT pop3 :$DOVECOT_POP3_PORT pop3s :$DOVECOT_POP3S_PORT; certificate $PEERS_TLS_DIR/cert.pem"
