//! SMTP replies (RFC 5321 4.2) with enhanced status codes on every one (RFC 2034, RFC 3463), encoded
//! straight into the connection's output buffer.

use std::fmt::Write as _;

/// One reply: a basic code, an enhanced status code and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// `class.subject.detail`; the class always equals the first digit of `code`. None only for the
    /// greeting and the EHLO/HELO reply, which RFC 2034 3 exempts (clients parse EHLO lines as keywords).
    pub status: Option<(u8, u16, u16)>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, status: (u8, u16, u16), text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced status code (greeting, EHLO/HELO).
    pub fn plain(code: u16, lines: Vec<String>) -> Reply {
        Reply {
            code,
            status: None,
            lines,
        }
    }

    /// Appends the wire form: `code-` on every line but the last, `code ` on the last (RFC 5321 4.2.1),
    /// each line carrying the enhanced code (RFC 2034 3).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        let mut l = String::with_capacity(64);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            l.clear();
            let _ = match self.status {
                Some((c, s, d)) => write!(l, "{}{sep}{c}.{s}.{d} {line}\r\n", self.code),
                None => write!(l, "{}{sep}{line}\r\n", self.code),
            };
            out.extend_from_slice(l.as_bytes());
        }
        if self.lines.is_empty() {
            let _ = write!(l, "{}\r\n", self.code);
            out.extend_from_slice(l.as_bytes());
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }
}

/// The replies the session uses, named by what they mean.
pub mod r {
    use super::Reply;

    pub fn ok(text: &str) -> Reply {
        Reply::new(250, (2, 0, 0), text)
    }
    pub fn sender_ok() -> Reply {
        Reply::new(250, (2, 1, 0), "Sender OK")
    }
    pub fn recipient_ok() -> Reply {
        Reply::new(250, (2, 1, 5), "Recipient OK")
    }
    pub fn start_data() -> Reply {
        // RFC 3463 gives no enhanced code meaning for 354; 2.0.0 is the common choice.
        Reply::new(354, (2, 0, 0), "Start mail input; end with <CRLF>.<CRLF>")
    }
    pub fn bye(host: &str) -> Reply {
        Reply::new(221, (2, 0, 0), format!("{host} closing connection"))
    }
    pub fn vrfy() -> Reply {
        Reply::new(
            252,
            (2, 5, 0),
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }
    pub fn help() -> Reply {
        Reply {
            code: 214,
            status: Some((2, 0, 0)),
            lines: vec![
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP".into(),
                "See RFC 5321".into(),
            ],
        }
    }
    pub fn unrecognized() -> Reply {
        Reply::new(500, (5, 5, 2), "Syntax error, command unrecognized")
    }
    pub fn line_too_long(max: usize) -> Reply {
        Reply::new(
            500,
            (5, 5, 2),
            format!("Line too long (limit {max} octets)"),
        )
    }
    pub fn syntax(text: &str) -> Reply {
        Reply::new(501, (5, 5, 4), text)
    }
    pub fn not_implemented(what: &str) -> Reply {
        Reply::new(502, (5, 5, 1), format!("{what} not implemented"))
    }
    /// A command this listener or connection does not offer (STARTTLS without a certificate, AUTH
    /// on the MX listener).
    pub fn not_available(what: &str) -> Reply {
        Reply::new(502, (5, 5, 1), format!("{what} not available"))
    }
    pub fn bad_sequence(text: &str) -> Reply {
        Reply::new(503, (5, 5, 1), text)
    }
    pub fn param_not_recognized(text: &str) -> Reply {
        Reply::new(555, (5, 5, 4), text)
    }
    pub fn too_big(max: usize) -> Reply {
        Reply::new(
            552,
            (5, 3, 4),
            format!("Message size exceeds fixed maximum message size ({max} octets)"),
        )
    }
    pub fn too_many_recipients() -> Reply {
        Reply::new(452, (4, 5, 3), "Too many recipients")
    }
    pub fn unknown_user() -> Reply {
        Reply::new(550, (5, 1, 1), "No such user here")
    }
    pub fn relay_denied() -> Reply {
        // RFC 5321 4.3.2: 550 is among RCPT's replies (554 is not); RFC 3463 5.7.1: not allowed.
        Reply::new(550, (5, 7, 1), "Relay access denied")
    }
    pub fn bad_sender_syntax() -> Reply {
        Reply::new(501, (5, 1, 7), "Bad sender address syntax")
    }
    pub fn bad_recipient_syntax() -> Reply {
        Reply::new(501, (5, 1, 3), "Bad recipient address syntax")
    }
    pub fn needs_smtputf8() -> Reply {
        // RFC 6531 3.6: non-ASCII addresses without the SMTPUTF8 parameter.
        Reply::new(
            553,
            (5, 6, 7),
            "Non-ASCII address requires the SMTPUTF8 parameter",
        )
    }
    pub fn too_many_errors() -> Reply {
        Reply::new(421, (4, 7, 0), "Too many errors, closing connection")
    }
    pub fn timeout() -> Reply {
        Reply::new(421, (4, 4, 2), "Timeout, closing connection")
    }
    pub fn shutting_down() -> Reply {
        Reply::new(421, (4, 3, 2), "Service shutting down, closing connection")
    }
    pub fn storage_full() -> Reply {
        Reply::new(452, (4, 3, 1), "Insufficient system storage")
    }
    pub fn local_error() -> Reply {
        Reply::new(451, (4, 3, 0), "Local error in processing, try again later")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_replies_use_dashes_but_on_the_last_line() {
        let rep = Reply {
            code: 250,
            status: Some((2, 0, 0)),
            lines: vec!["a".into(), "b".into(), "c".into()],
        };
        let mut out = Vec::new();
        rep.encode(&mut out);
        assert_eq!(out, b"250-2.0.0 a\r\n250-2.0.0 b\r\n250 2.0.0 c\r\n");
        let mut out = Vec::new();
        Reply::plain(250, vec!["host".into(), "PIPELINING".into()]).encode(&mut out);
        assert_eq!(out, b"250-host\r\n250 PIPELINING\r\n");
    }

    #[test]
    fn every_named_reply_has_a_matching_class() {
        for rep in [
            r::ok("x"),
            r::sender_ok(),
            r::recipient_ok(),
            r::start_data(),
            r::bye("h"),
            r::vrfy(),
            r::help(),
            r::unrecognized(),
            r::line_too_long(512),
            r::syntax("x"),
            r::not_implemented("x"),
            r::not_available("x"),
            r::bad_sequence("x"),
            r::param_not_recognized("x"),
            r::too_big(1),
            r::too_many_recipients(),
            r::unknown_user(),
            r::relay_denied(),
            r::bad_sender_syntax(),
            r::bad_recipient_syntax(),
            r::needs_smtputf8(),
            r::too_many_errors(),
            r::timeout(),
            r::shutting_down(),
            r::storage_full(),
            r::local_error(),
        ] {
            let class = (rep.code / 100) as u8;
            // 354 is an intermediate reply; its enhanced code is 2.0.0 by convention.
            if rep.code != 354 {
                assert_eq!(Some(class), rep.status.map(|s| s.0), "{rep:?}");
            }
        }
    }
}
