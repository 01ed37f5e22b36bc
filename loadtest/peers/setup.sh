#!/usr/bin/env bash
# Installs Postfix and Dovecot (IMAP, POP3, LMTP) from Debian packages without starting any system
# service, and writes private configurations under $PEERS_DIR that listen only on loopback:
#   Postfix smtpd 127.0.0.1:3525 -> LMTP 127.0.0.1:3024 -> Dovecot Maildir; Dovecot IMAP 3143, POP3 3110.
# Durability: Postfix fsyncs each queue file before it answers 250 (its default, left on); Dovecot runs
# with mail_fsync = always, so a delivery it acknowledges over LMTP is on disk.
set -euo pipefail
cd "$(dirname "$0")"
. ./env.sh
export DEBIAN_FRONTEND=noninteractive

if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null || [ ! -e /usr/lib/dovecot/lmtp ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # A fresh machine's package lists are stale or absent: fetch them first.
  apt-get update -qq
  apt-get install -y -qq postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd >/dev/null
fi
id "$MAIL_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$MAIL_USER"
MAIL_UID=$(id -u "$MAIL_USER"); MAIL_GID=$(id -g "$MAIL_USER")

PF="$PEERS_DIR/postfix"; DC="$PEERS_DIR/dovecot"; MAIL="$PEERS_DIR/mail"
mkdir -p "$PF/config" "$PF/queue" "$PF/data" "$DC/run" "$DC/state" "$MAIL"
chown "$MAIL_USER:$MAIL_USER" "$MAIL"

# Postfix refuses a config directory the default main.cf does not name.
touch /etc/postfix/main.cf
grep -q "^alternate_config_directories *=.*$PF/config" /etc/postfix/main.cf ||
  echo "alternate_config_directories = $PF/config" >> /etc/postfix/main.cf

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
CONF
: > "$PF/config/vmailbox"
for i in $(seq 0 $((BENCH_USERS - 1))); do
  echo "user$i@$BENCH_DOMAIN $BENCH_DOMAIN/user$i/" >> "$PF/config/vmailbox"
done
# master.cf: smtpd on the private port, nothing chrooted (the queue directory is private).
MASTER_SRC=/etc/postfix/master.cf
[ -f "$MASTER_SRC" ] || MASTER_SRC=/usr/share/postfix/master.cf.dist
awk -v port="$POSTFIX_SMTP_PORT" '
  /^smtp[ \t]+inet/ { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
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
ssl = no
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
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $DOVECOT_POP3_PORT
  }
  inet_listener pop3s {
    port = 0
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
