//! `shardmail mailbox ls|cat`: the operator's view into mailboxes, like `doveadm fetch`. Works with the
//! server stopped or running: it recovers the index read-only from the snapshots and logs (a running
//! server's acknowledged messages are durable in the logs, so they are seen).

use std::io::Write;

use anyhow::{bail, Context};
use memchr::memmem;
use shardmail_storage::index::{
    canonical_account, Flags, Index, ANSWERED, DELETED, DRAFT, FLAGGED, SEEN,
};
use shardmail_storage::store::recover;
use shardmail_storage::RecordRef;

use crate::config::Config;
use crate::smtp::session::rfc5322_date;

pub enum MailboxCmd {
    Ls {
        address: String,
        folder: Option<String>,
    },
    Cat {
        address: String,
        folder: String,
        uid: u32,
    },
}

pub fn run(config: &Config, cmd: MailboxCmd) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    let rec = recover(dir, config.log_options().max_payload())
        .with_context(|| format!("reading {}", dir.display()))?;
    let read = |pos| -> anyhow::Result<RecordRef> {
        let r = rec
            .readers
            .get(&pos_log(pos))
            .with_context(|| format!("no log for {pos}"))?;
        r.get(pos).with_context(|| format!("reading {pos}"))
    };
    let ix = &rec.index;
    // An `account del` the store has not recorded yet (the server is stopped, or about to): its
    // mailboxes are as good as gone.
    let deleting: Vec<String> = crate::accounts::Deletion::pending(dir)
        .into_iter()
        .map(|d| d.account)
        .collect();
    let account = |ix: &Index, address: &str| -> anyhow::Result<String> {
        let a = account(ix, address)?;
        if deleting.contains(&a) {
            bail!("{a}: no mailboxes (deleted; the server records it at its next start)");
        }
        Ok(a)
    };
    let mut out = std::io::stdout().lock();
    match cmd {
        MailboxCmd::Ls {
            address,
            folder: None,
        } => {
            let a = account(ix, &address)?;
            writeln!(
                out,
                "{:<24} {:>6} {:>6} {:>8} {:>11} {:>6}",
                "FOLDER", "EXISTS", "UNSEEN", "UIDNEXT", "UIDVALIDITY", "SUBSCRIBED"
            )?;
            for f in ix.folders(&a)? {
                let s = f.status;
                writeln!(
                    out,
                    "{:<24} {:>6} {:>6} {:>8} {:>11} {:>6}",
                    f.name,
                    s.exists,
                    s.unseen,
                    s.uidnext,
                    s.uidvalidity,
                    if f.subscribed { "yes" } else { "no" }
                )?;
            }
        }
        MailboxCmd::Ls {
            address,
            folder: Some(folder),
        } => {
            let a = account(ix, &address)?;
            let msgs = ix
                .messages(&a, &folder)
                .with_context(|| format!("{a}: folder {folder}"))?;
            writeln!(
                out,
                "{:>6} {:>9} {:<31} {:<24} SUBJECT",
                "UID", "SIZE", "DATE", "FLAGS"
            )?;
            for m in msgs {
                let flags = flag_names(&m.flags);
                let subject = read(m.pos)
                    .map(|r| subject(&r))
                    .unwrap_or_else(|e| format!("<unreadable: {e:#}>"));
                writeln!(
                    out,
                    "{:>6} {:>9} {:<31} {:<24} {}",
                    m.uid,
                    m.size,
                    rfc5322_date(m.internal_date.timestamp()),
                    flags,
                    subject
                )?;
            }
        }
        MailboxCmd::Cat {
            address,
            folder,
            uid,
        } => {
            let a = account(ix, &address)?;
            let Some(m) = ix
                .message(&a, &folder, uid)
                .with_context(|| format!("{a}: folder {folder}"))?
            else {
                bail!("{a}: {folder}: no message with UID {uid}");
            };
            let bytes = read(m.pos)?;
            out.write_all(&bytes)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn pos_log(pos: shardmail_storage::Position) -> shardmail_storage::LogId {
    pos.log
}

fn account(ix: &Index, address: &str) -> anyhow::Result<String> {
    // The account's name as the directory writes it (an A-label domain names the same account).
    let a = crate::accounts::normalize(address)
        .map(|a| canonical_account(&a))
        .unwrap_or_else(|_| canonical_account(address.trim()));
    if !ix.has_account(&a) {
        bail!("{a}: no mailboxes (no mail delivered yet, or no such account)");
    }
    Ok(a)
}

fn flag_names(flags: &Flags) -> String {
    let mut names: Vec<String> = [
        (SEEN, "\\Seen"),
        (ANSWERED, "\\Answered"),
        (FLAGGED, "\\Flagged"),
        (DELETED, "\\Deleted"),
        (DRAFT, "\\Draft"),
    ]
    .iter()
    .filter(|(b, _)| flags.system & *b != 0)
    .map(|(_, n)| n.to_string())
    .collect();
    names.extend(flags.keywords.iter().cloned());
    if names.is_empty() {
        "-".into()
    } else {
        names.join(" ")
    }
}

/// The first `Subject:` header field of the header section, unfolded, truncated for a listing.
fn subject(msg: &[u8]) -> String {
    let head_end = memmem::find(msg, b"\r\n\r\n").map_or(msg.len(), |i| i + 2);
    let head = &msg[..head_end];
    let mut at = 0;
    while at < head.len() {
        let line_end = memchr::memchr(b'\n', &head[at..]).map_or(head.len(), |i| at + i + 1);
        let line = &head[at..line_end];
        if line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"subject:") {
            // RFC 5322 2.2.3: continuation lines start with whitespace.
            let mut end = line_end;
            while end < head.len() && (head[end] == b' ' || head[end] == b'\t') {
                end = memchr::memchr(b'\n', &head[end..]).map_or(head.len(), |i| end + i + 1);
            }
            let raw = String::from_utf8_lossy(&head[at + 8..end]);
            let s: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            return s.chars().take(80).collect();
        }
        at = line_end;
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::subject;

    #[test]
    fn subjects() {
        assert_eq!(
            subject(b"From: a\r\nSubject: hello\r\n world\r\n\r\nbody"),
            "hello world"
        );
        assert_eq!(subject(b"SUBJECT:x\r\n\r\nSubject: not this"), "x");
        assert_eq!(subject(b"From: a\r\n\r\nSubject: body"), "");
        assert_eq!(subject(b""), "");
    }
}
