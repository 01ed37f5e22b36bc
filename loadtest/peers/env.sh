# Shared settings of the peer scripts (sourced). Ports are loopback only.
PEERS_DIR=${PEERS_DIR:-/tmp/shardmail-peers}
POSTFIX_SMTP_PORT=${POSTFIX_SMTP_PORT:-3525}
DOVECOT_IMAP_PORT=${DOVECOT_IMAP_PORT:-3143}
DOVECOT_POP3_PORT=${DOVECOT_POP3_PORT:-3110}
DOVECOT_LMTP_PORT=${DOVECOT_LMTP_PORT:-3024}
# The test accounts, the same on every server: user0..user$((BENCH_USERS-1))@bench.test.
BENCH_DOMAIN=${BENCH_DOMAIN:-bench.test}
BENCH_USERS=${BENCH_USERS:-100}
BENCH_PASSWORD=${BENCH_PASSWORD:-benchpass}
MAIL_USER=benchmail
