# Shared settings of the peer scripts (sourced). Ports are loopback only.
PEERS_DIR=${PEERS_DIR:-/tmp/shardmail-peers}
POSTFIX_SMTP_PORT=${POSTFIX_SMTP_PORT:-3525}
DOVECOT_IMAP_PORT=${DOVECOT_IMAP_PORT:-3143}
DOVECOT_POP3_PORT=${DOVECOT_POP3_PORT:-3110}
DOVECOT_LMTP_PORT=${DOVECOT_LMTP_PORT:-3024}
# TLS (issue 12): Postfix smtps (wrapper mode) and Dovecot imaps/pop3s; STARTTLS/STLS on the ports above.
POSTFIX_SMTPS_PORT=${POSTFIX_SMTPS_PORT:-3465}
DOVECOT_IMAPS_PORT=${DOVECOT_IMAPS_PORT:-3993}
DOVECOT_POP3S_PORT=${DOVECOT_POP3S_PORT:-3995}
# The one certificate every server of the benchmark uses (shardmail's [tls] too), made by setup.sh.
PEERS_TLS_DIR=${PEERS_TLS_DIR:-$PEERS_DIR/tls}
# The test accounts, the same on every server: user0..user$((BENCH_USERS-1))@bench.test.
BENCH_DOMAIN=${BENCH_DOMAIN:-bench.test}
BENCH_USERS=${BENCH_USERS:-100}
BENCH_PASSWORD=${BENCH_PASSWORD:-benchpass}
MAIL_USER=benchmail
