//! SMTP AUTH exchanges (RFC 4954 4) with the PLAIN (RFC 4616) and LOGIN mechanisms, sans-io: the
//! session hands in the AUTH arguments and each client response line, and gets back a challenge to
//! send, credentials to verify, or a refusal. Checking the password is the shell's business.

use std::fmt;

use super::reply::Reply;
use crate::imap::command::raw::decode_base64;

/// The mechanisms offered, in the EHLO keyword's order.
pub const MECHANISMS: &str = "PLAIN LOGIN";

/// The longest AUTH command or response line accepted (CRLF included): room for a PLAIN initial
/// response with long names and passwords; SMTP's 512 octets (RFC 5321 4.5.3.1.4) are too few for
/// that, and a SASL exchange is no place to be stingy by a few hundred octets.
pub const MAX_AUTH_LINE: usize = 12_288;

/// `Username:` and `Password:`, base64: the challenges of the LOGIN mechanism
/// (draft-murchison-sasl-login 2), which clients recognize by position, not text.
const LOGIN_USER: &str = "VXNlcm5hbWU6";
const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

/// A user name and password to check. Not `Debug`-printable with the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// An exchange waiting for the client's next response line.
#[derive(Clone, PartialEq, Eq)]
pub enum Exchange {
    /// PLAIN without an initial response: the answer to the empty challenge.
    Plain,
    /// LOGIN: the user name.
    LoginUser,
    /// LOGIN: the password for this user name.
    LoginPassword(String),
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exchange::Plain => f.write_str("Plain"),
            Exchange::LoginUser => f.write_str("LoginUser"),
            Exchange::LoginPassword(_) => f.write_str("LoginPassword"),
        }
    }
}

/// What the session does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Send `334 <challenge>` and read the next line into [`step`].
    Challenge(&'static str, Exchange),
    /// Verify these credentials, then answer 235 or 535.
    Verify(Credentials),
    /// End the exchange with this reply.
    Refuse(Reply),
}

/// RFC 4954 6 and RFC 3463 codes of the refusals an exchange can end with.
pub mod refusal {
    use super::Reply;

    pub fn unknown_mechanism() -> Reply {
        Reply::new(504, (5, 5, 4), "Unrecognized authentication type")
    }
    pub fn syntax() -> Reply {
        Reply::new(501, (5, 5, 4), "Syntax: AUTH mechanism [initial-response]")
    }
    pub fn cancelled() -> Reply {
        // RFC 4954 4: a `*` line cancels; the server MUST reject the AUTH command with 501.
        Reply::new(501, (5, 0, 0), "Authentication cancelled")
    }
    pub fn bad_base64() -> Reply {
        Reply::new(501, (5, 5, 2), "Cannot decode the response")
    }
    pub fn invalid() -> Reply {
        Reply::new(535, (5, 7, 8), "Authentication credentials invalid")
    }
}

/// `AUTH mechanism [initial-response]` (the text after `AUTH`, trimmed).
pub fn start(args: &str) -> Next {
    let mut it = args.split(' ').filter(|s| !s.is_empty());
    let (Some(mech), initial, None) = (it.next(), it.next(), it.next()) else {
        return Next::Refuse(refusal::syntax());
    };
    if mech.eq_ignore_ascii_case("PLAIN") {
        match initial {
            // RFC 4954 4: no initial response, so an empty challenge (RFC 4616 2 has none).
            None => Next::Challenge("", Exchange::Plain),
            Some(ir) => plain(ir.as_bytes()),
        }
    } else if mech.eq_ignore_ascii_case("LOGIN") {
        match initial {
            None => Next::Challenge(LOGIN_USER, Exchange::LoginUser),
            // The initial response of LOGIN is the user name.
            Some(ir) => login_user(ir.as_bytes()),
        }
    } else {
        Next::Refuse(refusal::unknown_mechanism())
    }
}

/// One client response line (without its line end) for `ex`.
pub fn step(ex: Exchange, line: &[u8]) -> Next {
    if line == b"*" {
        return Next::Refuse(refusal::cancelled());
    }
    match ex {
        Exchange::Plain => plain(line),
        Exchange::LoginUser => login_user(line),
        Exchange::LoginPassword(user) => match decode(line) {
            None => Next::Refuse(refusal::bad_base64()),
            Some(p) => match String::from_utf8(p) {
                Ok(password) => Next::Verify(Credentials { user, password }),
                Err(_) => Next::Refuse(refusal::invalid()),
            },
        },
    }
}

/// Base64 of a response; `=` (RFC 4954 4: how an empty initial response is sent) and an empty line
/// are empty.
fn decode(b64: &[u8]) -> Option<Vec<u8>> {
    if b64.is_empty() || b64 == b"=" {
        return Some(Vec::new());
    }
    decode_base64(b64)
}

fn login_user(b64: &[u8]) -> Next {
    match decode(b64).map(String::from_utf8) {
        None => Next::Refuse(refusal::bad_base64()),
        Some(Ok(user)) if !user.is_empty() => {
            Next::Challenge(LOGIN_PASSWORD, Exchange::LoginPassword(user))
        }
        Some(_) => Next::Refuse(refusal::invalid()),
    }
}

/// RFC 4616 2: `[authzid] NUL authcid NUL passwd`. An authorization identity other than the
/// authenticated one would be acting as someone else, which no account may.
fn plain(b64: &[u8]) -> Next {
    let Some(msg) = decode(b64) else {
        return Next::Refuse(refusal::bad_base64());
    };
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authz), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Next::Refuse(refusal::invalid());
    };
    let (Ok(authz), Ok(user), Ok(pass)) = (
        std::str::from_utf8(authz),
        std::str::from_utf8(user),
        std::str::from_utf8(pass),
    ) else {
        return Next::Refuse(refusal::invalid());
    };
    if user.is_empty() || (!authz.is_empty() && !authz.eq_ignore_ascii_case(user)) {
        return Next::Refuse(refusal::invalid());
    }
    Next::Verify(Credentials {
        user: user.to_string(),
        password: pass.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, password: &str) -> Next {
        Next::Verify(Credentials {
            user: user.into(),
            password: password.into(),
        })
    }

    #[test]
    fn plain_with_and_without_an_initial_response() {
        // base64("\0alice@example.test\0s3cret")
        let ir = "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQ=";
        assert_eq!(
            start(&format!("PLAIN {ir}")),
            creds("alice@example.test", "s3cret")
        );
        assert_eq!(
            start(&format!("plain  {ir}")),
            creds("alice@example.test", "s3cret")
        );
        assert_eq!(start("PLAIN"), Next::Challenge("", Exchange::Plain));
        assert_eq!(
            step(Exchange::Plain, ir.as_bytes()),
            creds("alice@example.test", "s3cret")
        );
        // authzid equal to the user (any case) is fine; another one is not.
        // base64("ALICE@example.test\0alice@example.test\0pw")
        let same = "QUxJQ0VAZXhhbXBsZS50ZXN0AGFsaWNlQGV4YW1wbGUudGVzdABwdw==";
        assert_eq!(
            start(&format!("PLAIN {same}")),
            creds("alice@example.test", "pw")
        );
        // base64("bob@example.test\0alice@example.test\0pw")
        let other = "Ym9iQGV4YW1wbGUudGVzdABhbGljZUBleGFtcGxlLnRlc3QAcHc=";
        assert_eq!(
            start(&format!("PLAIN {other}")),
            Next::Refuse(refusal::invalid())
        );
    }

    #[test]
    fn login_asks_for_user_then_password() {
        assert_eq!(
            start("LOGIN"),
            Next::Challenge(LOGIN_USER, Exchange::LoginUser)
        );
        let Next::Challenge(c, ex) = step(Exchange::LoginUser, b"YWxpY2VAZXhhbXBsZS50ZXN0") else {
            panic!("a password challenge")
        };
        assert_eq!(c, LOGIN_PASSWORD);
        assert_eq!(step(ex, b"czNjcmV0"), creds("alice@example.test", "s3cret"));
        // The initial response is the user name.
        assert_eq!(
            start("LOGIN YWxpY2VAZXhhbXBsZS50ZXN0"),
            Next::Challenge(
                LOGIN_PASSWORD,
                Exchange::LoginPassword("alice@example.test".into())
            )
        );
        // An empty password is a password (the check fails it).
        assert_eq!(
            step(Exchange::LoginPassword("a".into()), b""),
            creds("a", "")
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(start(""), Next::Refuse(refusal::syntax()));
        assert_eq!(start("PLAIN a b"), Next::Refuse(refusal::syntax()));
        assert_eq!(
            start("CRAM-MD5"),
            Next::Refuse(refusal::unknown_mechanism())
        );
        assert_eq!(start("PLAIN !!!"), Next::Refuse(refusal::bad_base64()));
        assert_eq!(
            step(Exchange::LoginUser, b"*"),
            Next::Refuse(refusal::cancelled())
        );
        assert_eq!(
            step(Exchange::Plain, b"*"),
            Next::Refuse(refusal::cancelled())
        );
        // Two parts only, an empty PLAIN message, an empty LOGIN user.
        assert_eq!(
            step(Exchange::Plain, b"AGFsaWNl"),
            Next::Refuse(refusal::invalid())
        );
        assert_eq!(start("PLAIN ="), Next::Refuse(refusal::invalid()));
        assert_eq!(
            step(Exchange::LoginUser, b""),
            Next::Refuse(refusal::invalid())
        );
        // Not UTF-8.
        assert_eq!(
            step(Exchange::LoginPassword("a".into()), b"/w=="),
            Next::Refuse(refusal::invalid())
        );
    }

    #[test]
    fn the_password_is_never_printed() {
        let c = Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        let shown = format!("{c:?} {:?}", Exchange::LoginPassword("alice".into()));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any arguments and any response lines: no panic, and only well-formed outcomes.
            #[test]
            fn any_exchange_ends_well(
                args in "[A-Za-z0-9+/= *!-]{0,40}",
                lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
            ) {
                let mut next = start(&args);
                for l in &lines {
                    match next {
                        Next::Challenge(_, ex) => next = step(ex, l),
                        _ => break,
                    }
                }
                if let Next::Refuse(r) = next {
                    prop_assert!(r.code == 501 || r.code == 504 || r.code == 535);
                }
            }
        }
    }
}
