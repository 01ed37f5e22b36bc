//! STARTTLS (RFC 3207) and AUTH (RFC 4954) in the SMTP session: the commands and the response lines
//! of an AUTH exchange. The handshake and the password check are the shell's (`Action::StartTls`,
//! `Action::Authenticate`).

use super::{Action, AuthOutcome, Mode, Session};
use crate::smtp::auth::{self, Credentials, Next};
use crate::smtp::reply::{r, Reply};

impl Session {
    /// The credentials [`Action::Authenticate`] asked to check (taken: the password is not kept).
    pub fn take_credentials(&mut self) -> Option<Credentials> {
        self.verify.take()
    }

    /// Reports the check asked for by [`Action::Authenticate`] (RFC 4954 6 replies).
    pub fn auth_done(&mut self, outcome: AuthOutcome, out: &mut Vec<u8>) {
        self.verify = None;
        match outcome {
            AuthOutcome::Ok(account) => {
                self.account = Some(account);
                self.send(Reply::new(235, (2, 7, 0), "Authentication successful"), out);
            }
            AuthOutcome::Failed => {
                if self.error(auth::refusal::invalid(), out).is_some() {
                    self.closing = true;
                }
            }
            AuthOutcome::Unavailable => {
                self.send(
                    Reply::new(454, (4, 7, 0), "Temporary authentication failure"),
                    out,
                );
            }
        }
    }

    /// The TLS handshake after [`Action::StartTls`] succeeded. RFC 3207 4.2: everything learned from
    /// the client before it is forgotten (EHLO, an authentication, a transaction); the client starts
    /// again with EHLO.
    pub fn tls_started(&mut self) {
        self.link.tls = true;
        self.helo = None;
        self.esmtp = false;
        self.account = None;
        self.sasl = None;
        self.verify = None;
        self.after_chunk = None;
        self.mode = Mode::Command;
        self.reset_tx();
    }

    /// AUTH may be used on this connection: a submission listener, and TLS or a plaintext-auth
    /// allowance (RFC 4954 4: PLAIN and LOGIN are for protected connections).
    pub(super) fn auth_usable(&self) -> bool {
        self.cfg.submission && (self.link.tls || self.link.plaintext_auth)
    }

    /// RFC 3207 4: `220` and the handshake, once, when a certificate is configured.
    pub(super) fn starttls(&mut self, out: &mut Vec<u8>) -> Option<Action> {
        if self.link.tls {
            return self.error(r::bad_sequence("TLS already active"), out);
        }
        if !self.link.starttls {
            return self.error(r::not_available("STARTTLS"), out);
        }
        if self.helo.is_none() {
            return self.error(r::bad_sequence("Send EHLO first"), out);
        }
        self.send(Reply::new(220, (2, 0, 0), "Ready to start TLS"), out);
        Some(Action::StartTls)
    }

    /// RFC 4954 4: `AUTH mechanism [initial-response]`.
    pub(super) fn auth(&mut self, args: &str, out: &mut Vec<u8>) -> Option<Action> {
        if !self.cfg.submission {
            // The MX listener takes no logins: accounts submit on the submission port.
            return self.error(r::not_available("AUTH"), out);
        }
        if !self.esmtp {
            return self.error(r::bad_sequence("Send EHLO first"), out);
        }
        if self.account.is_some() {
            // RFC 4954 4: after a successful AUTH, further AUTH commands get 503.
            return self.error(r::bad_sequence("Already authenticated"), out);
        }
        if self.tx.is_some() {
            // RFC 4954 4: not permitted during a mail transaction.
            return self.error(
                r::bad_sequence("AUTH not allowed in a mail transaction"),
                out,
            );
        }
        if !self.auth_usable() {
            // RFC 4954 6: 538 for a mechanism that needs an encrypted connection.
            self.plaintext_refusals += 1;
            let why = "Encryption required for requested authentication mechanism";
            return self.error(Reply::new(538, (5, 7, 11), why), out);
        }
        let next = auth::start(args);
        self.sasl_next(next, out)
    }

    /// A response line of the exchange under way (its line end still on).
    pub(super) fn auth_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Option<Action> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(ex) = self.sasl.take() else {
            return self.error(r::bad_sequence("No authentication in progress"), out);
        };
        let next = auth::step(ex, line);
        self.sasl_next(next, out)
    }

    fn sasl_next(&mut self, next: Next, out: &mut Vec<u8>) -> Option<Action> {
        match next {
            Next::Challenge(challenge, ex) => {
                // RFC 4954 4: `334` and the base64 challenge, no enhanced code (it is data).
                self.send(Reply::plain(334, vec![challenge.to_string()]), out);
                self.sasl = Some(ex);
                self.mode = Mode::AuthLine;
                None
            }
            Next::Verify(c) => {
                self.verify = Some(c);
                Some(Action::Authenticate)
            }
            Next::Refuse(rep) => self.error(rep, out),
        }
    }
}
