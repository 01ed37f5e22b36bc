#!/usr/bin/env bash
# Installs Postfix and Dovecot (IMAP, POP3, LMTP) from Debian packages without starting any system
# service, and writes private configurations under $PEERS_DIR that listen only on loopback:
#   Postfix smtpd 127.0.0.1:3525 -> LMTP 127.0.0.1:3024 -> Dovecot Maildir; Dovecot IMAP 3143, POP3 3110.
# TLS with one certificate for all (ECDSA P-256, like `shardmail cert self-signed`; in $PEERS_TLS_DIR, made
# once): STARTTLS on Postfix 3525 and STARTTLS/STLS on Dovecot 3143/3110; implicit TLS (RFC 8314) on
# Postfix smtps 3465 (wrapper mode), Dovecot imaps 3993 and pop3s 3995.
# Durability: Postfix fsyncs each queue file before it answers 250 (its default, left on); Dovecot runs
# with mail_fsync = always, so a delivery it acknowledges over LMTP is on disk.
set -euo pipefail
cd "$(dirname "$0")"
. ./env.sh
export DEBIAN_FRONTEND=noninteractive

if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null || [ ! -e /usr/lib/dovecot/lmtp ] ||
  ! command -v openssl >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # A fresh machine's package lists are stale or absent: fetch them first.
  apt-get update -qq
  apt-get install -y -qq postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd openssl >/dev/null
fi
id "$MAIL_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$MAIL_USER"
MAIL_UID=$(id -u "$MAIL_USER"); MAIL_GID=$(id -g "$MAIL_USER")

PF="$PEERS_DIR/postfix"; DC="$PEERS_DIR/dovecot"; MAIL="$PEERS_DIR/mail"
mkdir -p "$PF/config" "$PF/queue" "$PF/data" "$DC/run" "$DC/state" "$MAIL"
chown "$MAIL_USER:$MAIL_USER" "$MAIL"

# Postfix refuses a config directory the default main.cf does not name. Added to the list, so peers set
# up under another PEERS_DIR keep working (a second `alternate_config_directories =` line would replace
# the first).
touch /etc/postfix/main.cf
if ! grep -q "^alternate_config_directories *=.*$PF/config\( \|,\|$\)" /etc/postfix/main.cf; then
  if grep -q "^alternate_config_directories *=" /etc/postfix/main.cf; then
    sed -i "s|^alternate_config_directories *=.*|&, $PF/config|" /etc/postfix/main.cf
  else
    echo "alternate_config_directories = $PF/config" >> /etc/postfix/main.cf
  fi
fi

# The certificate (subjectAltName localhost and 127.0.0.1, not a CA: rustls/webpki accept it as its own
# trust anchor with `loadtest --ca cert.pem`). Kept across setups: every server must present the same.
TLS="$PEERS_TLS_DIR"
mkdir -p "$TLS"
if [ ! -s "$TLS/cert.pem" ] || [ ! -s "$TLS/key.pem" ]; then
  (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" -addext keyUsage=digitalSignature \
    -addext extendedKeyUsage=serverAuth -keyout "$TLS/key.pem" -out "$TLS/cert.pem" 2>/dev/null)
  chmod 0644 "$TLS/cert.pem"
fi

cat > "$PF/config/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
myhostname = peer.$BENCH_DOMAIN
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = /dev/stdout
# This machine has no reachable resolver (see PEERS.md).
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_host_lookup = native
virtual_mailbox_domains = $BENCH_DOMAIN
virtual_mailbox_maps = texthash:$PF/config/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:$DOVECOT_LMTP_PORT
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
# The load generator opens many connections from one address.
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 200
message_size_limit = 52428800
# TLS: offered with STARTTLS on smtpd (RFC 3207), and the wrapper-mode smtps service in master.cf. Both
# sides are offered what the OpenSSL defaults allow; no session cache (every client handshake is full).
smtpd_tls_cert_file = $TLS/cert.pem
smtpd_tls_key_file = $TLS/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
smtpd_tls_session_cache_database =
CONF
: > "$PF/config/vmailbox"
for i in $(seq 0 $((BENCH_USERS - 1))); do
  echo "user$i@$BENCH_DOMAIN $BENCH_DOMAIN/user$i/" >> "$PF/config/vmailbox"
done
# master.cf: smtpd on the private port, nothing chrooted (the queue directory is private).
MASTER_SRC=/etc/postfix/master.cf
[ -f "$MASTER_SRC" ] || MASTER_SRC=/usr/share/postfix/master.cf.dist
awk -v port="$POSTFIX_SMTP_PORT" -v smtps="$POSTFIX_SMTPS_PORT" '
  /^smtp[ \t]+inet/ {
    print "127.0.0.1:" port " inet n - n - - smtpd"
    print "127.0.0.1:" smtps " inet n - n - - smtpd -o smtpd_tls_wrappermode=yes"
    next }
  /^[a-z0-9.:]+[ \t]+(inet|unix|fifo|pass|unix-dgram)[ \t]/ && NF >= 8 { $5 = "n"; print; next }
  { print }' "$MASTER_SRC" > "$PF/config/master.cf"
postfix -c "$PF/config" set-permissions >/dev/null 2>&1 || true
postfix -c "$PF/config" check

cat > "$DC/dovecot.conf" <<CONF
protocols = imap pop3 lmtp
listen = 127.0.0.1
base_dir = $DC/run
state_dir = $DC/state
log_path = $DC/dovecot.log
ssl = yes
ssl_cert = <$TLS/cert.pem
ssl_key = <$TLS/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/
mail_fsync = always
first_valid_uid = $MAIL_UID
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DC/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $DC/users
  default_fields = uid=$MAIL_UID gid=$MAIL_GID
}
service imap-login {
  inet_listener imap {
    port = $DOVECOT_IMAP_PORT
  }
  inet_listener imaps {
    port = $DOVECOT_IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $DOVECOT_POP3_PORT
  }
  inet_listener pop3s {
    port = $DOVECOT_POP3S_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DOVECOT_LMTP_PORT
  }
}
protocol lmtp {
  postmaster_address = postmaster@$BENCH_DOMAIN
}
CONF
: > "$DC/users"
for i in $(seq 0 $((BENCH_USERS - 1))); do
  echo "user$i@$BENCH_DOMAIN:{PLAIN}$BENCH_PASSWORD::::$MAIL/user$i::" >> "$DC/users"
done
chmod 0640 "$DC/users"; chgrp dovecot "$DC/users"
echo "peers configured in $PEERS_DIR (start.sh starts them)"
