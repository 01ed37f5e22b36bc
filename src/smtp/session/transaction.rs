//! MAIL and RCPT (RFC 5321 4.1.1.2, 4.1.1.3) with their ESMTP parameters, the submission rules
//! (RFC 6409 with RFC 4954: authentication first, the sender owned by the account, relaying for the
//! authenticated only) and admission of the transaction by the shell.

use super::{Action, Admission, Directory, Envelope, Lookup, Session};
use crate::smtp::command::{Mailbox, Params, Recipient};
use crate::smtp::reply::{r, Reply};

impl Session {
    pub(super) fn mail(
        &mut self,
        from: Option<Mailbox<'_>>,
        params: Params<'_>,
        dir: &dyn Directory,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        if self.helo.is_none() {
            return self.error(r::bad_sequence("Send EHLO or HELO first"), out);
        }
        if self.tx.is_some() {
            return self.error(r::bad_sequence("Nested MAIL command"), out);
        }
        if self.cfg.submission && self.account.is_none() {
            // RFC 4954 6: the submission listener takes mail from authenticated clients only.
            return self.error(Reply::new(530, (5, 7, 0), "Authentication required"), out);
        }
        let mut env = Envelope::default();
        let mut declared = 0;
        if !self.esmtp && !params.is_empty() {
            return self.error(r::param_not_recognized("Parameters need EHLO"), out);
        }
        for (key, value) in params.iter() {
            if key.eq_ignore_ascii_case("SIZE") {
                // RFC 1870 6: SIZE=n, refused at MAIL when above the limit.
                let n = value.filter(|v| {
                    !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit())
                });
                let Some(n) = n.and_then(|v| v.parse::<u64>().ok()) else {
                    return self.error(r::syntax("Bad SIZE parameter"), out);
                };
                if n > self.cfg.max_message_size as u64 {
                    return self.error(r::too_big(self.cfg.max_message_size), out);
                }
                declared = n;
            } else if key.eq_ignore_ascii_case("BODY") {
                match value {
                    Some(v) if v.eq_ignore_ascii_case("7BIT") => {}
                    Some(v) if v.eq_ignore_ascii_case("8BITMIME") => env.body_8bit = true,
                    _ => {
                        return self.error(
                            r::param_not_recognized("BODY must be 7BIT or 8BITMIME"),
                            out,
                        )
                    }
                }
            } else if key.eq_ignore_ascii_case("SMTPUTF8") && value.is_none() {
                env.smtputf8 = true;
            } else if key.eq_ignore_ascii_case("AUTH") && self.cfg.submission && value.is_some() {
                // RFC 4954 5: a server offering AUTH accepts the parameter. We do not relay other
                // servers' authenticated submissions, so the identity it names is not kept (as if
                // `AUTH=<>`).
            } else {
                return self.error(
                    r::param_not_recognized(&format!("Unsupported parameter {key}")),
                    out,
                );
            }
        }
        if let Some(m) = from {
            if !m.is_ascii() && !env.smtputf8 {
                return self.error(r::needs_smtputf8(), out);
            }
            env.from = m.address.to_string();
        }
        if let Some(account) = &self.account {
            // The authenticated account sends as itself (or what the directory allows it).
            if !dir.may_send_as(account, &env.from) {
                let why = "Sender address is not owned by the authenticated account";
                return self.error(Reply::new(553, (5, 7, 1), why), out);
            }
        }
        // RFC 1870 6.1 and RFC 3463 4.3.1: refused at MAIL, before the upload, when the server knows
        // it cannot take the message now; a transient reply, and the session goes on.
        match dir.admit(declared) {
            Admission::Yes => {}
            Admission::Busy => {
                self.send(
                    Reply::new(452, (4, 3, 1), "Too much mail in flight, try again later"),
                    out,
                );
                return None;
            }
            Admission::NoStorage => {
                self.send(r::storage_full(), out);
                return None;
            }
        }
        self.tx = Some(env);
        self.chunking = false;
        self.release_body();
        self.send(r::sender_ok(), out);
        None
    }

    pub(super) fn rcpt(
        &mut self,
        to: Recipient<'_>,
        params: Params<'_>,
        dir: &dyn Directory,
        out: &mut Vec<u8>,
    ) -> Option<Action> {
        let Some(tx) = &self.tx else {
            return self.error(r::bad_sequence("Need MAIL command"), out);
        };
        if let Some((key, _)) = params.iter().next() {
            return self.error(
                r::param_not_recognized(&format!("Unsupported parameter {key}")),
                out,
            );
        }
        let address = match to {
            Recipient::Postmaster => match dir.postmaster() {
                Some(a) => a,
                None => return self.error(r::unknown_user(), out),
            },
            Recipient::Mailbox(m) => {
                if !m.is_ascii() && !tx.smtputf8 {
                    return self.error(r::needs_smtputf8(), out);
                }
                m.address.to_string()
            }
        };
        if tx.rcpt_count() >= self.cfg.max_recipients {
            // RFC 5321 4.5.3.1.10: 452 for too many recipients; the client sends the rest later.
            self.send(r::too_many_recipients(), out);
            return None;
        }
        match dir.lookup(&address) {
            Lookup::Local(account) => {
                if let Some(tx) = &mut self.tx {
                    if !tx.recipients.contains(&account) {
                        tx.recipients.push(account);
                    }
                }
                self.send(r::recipient_ok(), out);
                None
            }
            Lookup::UnknownUser => self.error(r::unknown_user(), out),
            // An authenticated submission may go anywhere: the relay delivers it.
            Lookup::NotLocal if self.account.is_some() => {
                if let Some(tx) = &mut self.tx {
                    if !tx.remote.contains(&address) {
                        tx.remote.push(address);
                    }
                }
                self.send(r::recipient_ok(), out);
                None
            }
            Lookup::NotLocal => self.error(r::relay_denied(), out),
        }
    }
}
