//! SMTP command lines (RFC 5321 4.1) parsed into commands borrowed from the read buffer.
//!
//! `parse` takes one line without its CRLF. It never allocates and never panics; every failure is a
//! [`ParseError`] the session turns into the right 5xx reply.

use memchr::memchr;

/// A parsed command, borrowing from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    Ehlo(&'a str),
    Helo(&'a str),
    Mail {
        from: Option<Mailbox<'a>>,
        params: Params<'a>,
    },
    Rcpt {
        to: Recipient<'a>,
        params: Params<'a>,
    },
    Data,
    /// RFC 3030: `BDAT size [LAST]`.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy(&'a str),
    Expn(&'a str),
    Help,
    StartTls,
    Auth(&'a str),
}

/// A mailbox `local@domain` (RFC 5321 4.1.2), as written by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mailbox<'a> {
    pub local: &'a str,
    pub domain: &'a str,
    /// `local@domain` exactly as sent (without the angle brackets and any source route).
    pub address: &'a str,
}

impl Mailbox<'_> {
    pub fn is_ascii(&self) -> bool {
        self.address.is_ascii()
    }
}

/// A RCPT path: a mailbox, or the special `<Postmaster>` every server must accept (RFC 5321 4.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient<'a> {
    Mailbox(Mailbox<'a>),
    Postmaster,
}

/// ESMTP parameters after the path (`KEY[=VALUE]` separated by spaces), iterated without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a>(pub &'a str);

impl<'a> Params<'a> {
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        self.0
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (p, None),
            })
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not a command we know (500 5.5.2).
    Unrecognized,
    /// A known command with bad arguments (501 5.5.4).
    Syntax(&'static str),
    /// A MAIL path that is not a valid address (501 5.1.7).
    BadSender,
    /// A RCPT path that is not a valid address (501 5.1.3).
    BadRecipient,
}

/// RFC 5321 4.5.3.1: local part 64 octets, domain 255, path 256 (with the brackets).
pub const MAX_LOCAL: usize = 64;
pub const MAX_DOMAIN: usize = 255;
pub const MAX_PATH: usize = 256;

/// Parses one command line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command<'_>, ParseError> {
    let (verb, rest) = match memchr(b' ', line) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    if verb.len() < 4 || verb.len() > 8 {
        return Err(ParseError::Unrecognized);
    }
    let mut up = [0u8; 8];
    for (d, s) in up.iter_mut().zip(verb) {
        *d = s.to_ascii_uppercase();
    }
    let verb = &up[..verb.len()];
    let rest = std::str::from_utf8(rest).map_err(|_| match verb {
        b"MAIL" => ParseError::BadSender,
        b"RCPT" => ParseError::BadRecipient,
        _ => ParseError::Syntax("Arguments are not valid UTF-8"),
    })?;
    let no_args = |c: Command<'static>| {
        if rest.trim().is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax("No arguments allowed"))
        }
    };
    match verb {
        b"EHLO" | b"HELO" => {
            // RFC 5321 4.1.1.1: `EHLO SP ( Domain / address-literal )`. The argument is written into
            // the Received: field, so anything else (a NUL, a bare CR, a header smuggled after it) is
            // refused here rather than cleaned later.
            let domain = rest.trim_matches(' ');
            if !valid_domain(domain) {
                return Err(ParseError::Syntax(
                    "Syntax: EHLO domain or address literal (RFC 5321 4.1.1.1)",
                ));
            }
            Ok(if verb == b"EHLO" {
                Command::Ehlo(domain)
            } else {
                Command::Helo(domain)
            })
        }
        b"MAIL" => {
            let arg = strip_keyword(rest, "FROM:")
                .ok_or(ParseError::Syntax("Syntax: MAIL FROM:<address>"))?;
            let (path, params) = parse_path(arg).ok_or(ParseError::BadSender)?;
            let from = match path {
                Path::Null => None,
                Path::Mailbox(m) => Some(m),
                Path::Postmaster => return Err(ParseError::BadSender),
            };
            Ok(Command::Mail {
                from,
                params: Params(params),
            })
        }
        b"RCPT" => {
            let arg = strip_keyword(rest, "TO:")
                .ok_or(ParseError::Syntax("Syntax: RCPT TO:<address>"))?;
            let (path, params) = parse_path(arg).ok_or(ParseError::BadRecipient)?;
            let to = match path {
                Path::Null => return Err(ParseError::BadRecipient),
                Path::Mailbox(m) => Recipient::Mailbox(m),
                Path::Postmaster => Recipient::Postmaster,
            };
            Ok(Command::Rcpt {
                to,
                params: Params(params),
            })
        }
        b"DATA" => no_args(Command::Data),
        b"BDAT" => {
            let mut it = rest.split(' ').filter(|s| !s.is_empty());
            let size = it
                .next()
                .ok_or(ParseError::Syntax("Syntax: BDAT size [LAST]"))?;
            if size.is_empty() || size.len() > 19 || !size.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::Syntax("Syntax: BDAT size [LAST]"));
            }
            let size: u64 = size
                .parse()
                .map_err(|_| ParseError::Syntax("Syntax: BDAT size [LAST]"))?;
            let last = match it.next() {
                None => false,
                Some(l) if l.eq_ignore_ascii_case("LAST") => true,
                Some(_) => return Err(ParseError::Syntax("Syntax: BDAT size [LAST]")),
            };
            if it.next().is_some() {
                return Err(ParseError::Syntax("Syntax: BDAT size [LAST]"));
            }
            Ok(Command::Bdat { size, last })
        }
        b"RSET" => no_args(Command::Rset),
        // RFC 5321 4.1.1.9: NOOP may carry a string, which is ignored.
        b"NOOP" => Ok(Command::Noop),
        b"QUIT" => no_args(Command::Quit),
        b"VRFY" if !rest.trim().is_empty() => Ok(Command::Vrfy(rest.trim())),
        b"VRFY" => Err(ParseError::Syntax("Syntax: VRFY user")),
        b"EXPN" => Ok(Command::Expn(rest.trim())),
        b"HELP" => Ok(Command::Help),
        b"STARTTLS" => no_args(Command::StartTls),
        b"AUTH" => Ok(Command::Auth(rest.trim())),
        _ => Err(ParseError::Unrecognized),
    }
}

/// `FROM:` / `TO:` matched case-insensitively; one optional space after the colon is tolerated, as
/// widely deployed clients send it.
fn strip_keyword<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    let head = s.get(..kw.len())?;
    if !head.eq_ignore_ascii_case(kw) {
        return None;
    }
    let rest = &s[kw.len()..];
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

enum Path<'a> {
    Null,
    Postmaster,
    Mailbox(Mailbox<'a>),
}

/// Parses `<path>` at the start of `s` and returns it with the rest (the parameters).
fn parse_path(s: &str) -> Option<(Path<'_>, &str)> {
    let inner_start = s.strip_prefix('<')?;
    let close = find_close(inner_start)?;
    let inner = &inner_start[..close];
    let rest = &inner_start[close + 1..];
    if !(rest.is_empty() || rest.starts_with(' ')) || inner.len() + 2 > MAX_PATH {
        return None;
    }
    let rest = rest.trim_start_matches(' ');
    if inner.is_empty() {
        return Some((Path::Null, rest));
    }
    if inner.eq_ignore_ascii_case("postmaster") {
        return Some((Path::Postmaster, rest));
    }
    // RFC 5321 4.1.2 / C: a source route `@a,@b:` is accepted and ignored.
    let mailbox = if inner.starts_with('@') {
        let colon = inner.find(':')?;
        for hop in inner[..colon].split(',') {
            valid_domain(hop.strip_prefix('@')?).then_some(())?;
        }
        &inner[colon + 1..]
    } else {
        inner
    };
    parse_mailbox(mailbox).map(|m| (Path::Mailbox(m), rest))
}

/// The index of the `>` closing the path, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'>' if !quoted => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// `Local-part "@" ( Domain / address-literal )`, RFC 5321 4.1.2, with RFC 6531 UTF-8 allowed.
pub fn parse_mailbox(s: &str) -> Option<Mailbox<'_>> {
    let at = s.rfind('@')?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.is_empty() || local.len() > MAX_LOCAL || !valid_local(local) || !valid_domain(domain) {
        return None;
    }
    Some(Mailbox {
        local,
        domain,
        address: s,
    })
}

/// RFC 6531 3.3 allows UTF-8 beyond ASCII in atoms, but never control characters (C0, DEL or C1):
/// an address ends up in header fields we write (Return-Path, Received).
fn is_utf8_non_ascii(c: char) -> bool {
    !c.is_ascii() && !c.is_control()
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || is_utf8_non_ascii(c)
}

fn valid_local(local: &str) -> bool {
    if let Some(q) = local.strip_prefix('"') {
        // Quoted-string: qtextSMTP or quoted-pairSMTP, closed by the final quote.
        let Some(body) = q.strip_suffix('"') else {
            return false;
        };
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e) if (' '..='~').contains(&e) => {}
                    _ => return false,
                },
                '"' => return false,
                c if c == ' '
                    || c == '!'
                    || ('#'..='[').contains(&c)
                    || (']'..='~').contains(&c)
                    || is_utf8_non_ascii(c) => {}
                _ => return false,
            }
        }
        return true;
    }
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// A domain of LDH labels (or UTF-8 U-labels), or an address literal `[...]`.
pub fn valid_domain(d: &str) -> bool {
    if d.is_empty() || d.len() > MAX_DOMAIN {
        return false;
    }
    if let Some(lit) = d.strip_prefix('[') {
        let Some(lit) = lit.strip_suffix(']') else {
            return false;
        };
        if let Some(v6) = lit.strip_prefix("IPv6:") {
            return v6.parse::<std::net::Ipv6Addr>().is_ok();
        }
        return lit.parse::<std::net::Ipv4Addr>().is_ok();
    }
    d.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || is_utf8_non_ascii(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mb(address: &str) -> Mailbox<'_> {
        parse_mailbox(address).unwrap()
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(
            parse(b"ehlo client.example"),
            Ok(Command::Ehlo("client.example"))
        );
        assert_eq!(parse(b"HeLo x"), Ok(Command::Helo("x")));
        assert_eq!(parse(b"data"), Ok(Command::Data));
        assert_eq!(parse(b"QUIT"), Ok(Command::Quit));
        assert_eq!(parse(b"noop anything at all"), Ok(Command::Noop));
    }

    #[test]
    fn mail_paths() {
        assert_eq!(
            parse(b"MAIL FROM:<a@b.example>"),
            Ok(Command::Mail {
                from: Some(mb("a@b.example")),
                params: Params("")
            })
        );
        assert_eq!(
            parse(b"MAIL FROM:<>"),
            Ok(Command::Mail {
                from: None,
                params: Params("")
            })
        );
        assert_eq!(
            parse(b"mail from: <a@b.example> SIZE=100 BODY=8BITMIME"),
            Ok(Command::Mail {
                from: Some(mb("a@b.example")),
                params: Params("SIZE=100 BODY=8BITMIME")
            })
        );
        let Ok(Command::Mail { params, .. }) = parse(b"MAIL FROM:<a@b> SIZE=100  SMTPUTF8") else {
            panic!()
        };
        assert_eq!(
            params.iter().collect::<Vec<_>>(),
            vec![("SIZE", Some("100")), ("SMTPUTF8", None)]
        );
        assert_eq!(parse(b"MAIL FROM:a@b"), Err(ParseError::BadSender));
        assert_eq!(parse(b"MAIL FROM:<a@b"), Err(ParseError::BadSender));
        assert_eq!(parse(b"MAIL FROM:<a@b>x"), Err(ParseError::BadSender));
        assert_eq!(parse(b"MAIL FROM:<a@@b>"), Err(ParseError::BadSender));
        assert_eq!(
            parse(b"MAIL TO:<a@b>"),
            Err(ParseError::Syntax("Syntax: MAIL FROM:<address>"))
        );
        assert_eq!(
            parse(b"MAIL"),
            Err(ParseError::Syntax("Syntax: MAIL FROM:<address>"))
        );
    }

    #[test]
    fn rcpt_paths() {
        assert_eq!(
            parse(b"RCPT TO:<user@example.test>"),
            Ok(Command::Rcpt {
                to: Recipient::Mailbox(mb("user@example.test")),
                params: Params("")
            })
        );
        assert_eq!(
            parse(b"RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt {
                to: Recipient::Postmaster,
                params: Params("")
            })
        );
        assert_eq!(parse(b"RCPT TO:<>"), Err(ParseError::BadRecipient));
        // Source route accepted and ignored.
        assert_eq!(
            parse(b"RCPT TO:<@relay.example,@r2.example:user@example.test>"),
            Ok(Command::Rcpt {
                to: Recipient::Mailbox(mb("user@example.test")),
                params: Params("")
            })
        );
        // Quoted local part with a '>' and '@' inside.
        let Ok(Command::Rcpt {
            to: Recipient::Mailbox(m),
            ..
        }) = parse(br#"RCPT TO:<"a>b@c"@example.test>"#)
        else {
            panic!()
        };
        assert_eq!(m.local, r#""a>b@c""#);
        assert_eq!(m.domain, "example.test");
        // UTF-8 addresses parse (the session decides whether SMTPUTF8 allows them).
        let Ok(Command::Rcpt {
            to: Recipient::Mailbox(m),
            ..
        }) = parse("RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>".as_bytes())
        else {
            panic!()
        };
        assert!(!m.is_ascii());
        assert_eq!(parse(b"RCPT TO:<a@[127.0.0.1]>").map(|_| ()), Ok(()));
        assert_eq!(parse(b"RCPT TO:<a@[IPv6:::1]>").map(|_| ()), Ok(()));
        assert_eq!(
            parse(b"RCPT TO:<a@[300.0.0.1]>"),
            Err(ParseError::BadRecipient)
        );
        assert_eq!(parse(b"RCPT TO:<a..b@c>"), Err(ParseError::BadRecipient));
        assert_eq!(parse(b"RCPT TO:<a@-c>"), Err(ParseError::BadRecipient));
        let long = format!("RCPT TO:<{}@example.test>", "x".repeat(65));
        assert_eq!(parse(long.as_bytes()), Err(ParseError::BadRecipient));
    }

    #[test]
    fn bdat() {
        assert_eq!(
            parse(b"BDAT 100"),
            Ok(Command::Bdat {
                size: 100,
                last: false
            })
        );
        assert_eq!(
            parse(b"bdat 0 last"),
            Ok(Command::Bdat {
                size: 0,
                last: true
            })
        );
        assert!(matches!(parse(b"BDAT"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"BDAT -1"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            parse(b"BDAT 1 LAST x"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(
            parse(b"BDAT 99999999999999999999"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(parse(b"BDAT 1 FIRST"), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn ehlo_takes_a_domain_or_an_address_literal() {
        for ok in [
            "EHLO mx.example.test",
            "EHLO localhost",
            "EHLO [192.0.2.1]",
            "EHLO [IPv6:2001:db8::1]",
            "HELO bücher.test",
            "EHLO  spaced.example ",
        ] {
            assert!(parse(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            &b"EHLO evil\0\rX-Injected:yes"[..],
            b"EHLO evil\rX-Injected: yes",
            b"EHLO a b",
            b"EHLO -a.example",
            b"EHLO a..example",
            b"EHLO [300.0.0.1]",
            b"EHLO [192.0.2.1",
            b"HELO a\x7f.example",
            "HELO a\u{85}.example".as_bytes(),
            b"EHLO (comment)",
        ] {
            assert_eq!(
                parse(bad),
                Err(ParseError::Syntax(
                    "Syntax: EHLO domain or address literal (RFC 5321 4.1.1.1)"
                )),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn no_control_characters_in_paths() {
        assert_eq!(
            parse("MAIL FROM:<a\u{85}b@example.test>".as_bytes()),
            Err(ParseError::BadSender)
        );
        assert_eq!(
            parse("MAIL FROM:<\"a\u{9b}\"@example.test>".as_bytes()),
            Err(ParseError::BadSender)
        );
        assert_eq!(
            parse(b"MAIL FROM:<a@example\x00.test>"),
            Err(ParseError::BadSender)
        );
        assert_eq!(
            parse("RCPT TO:<a@exa\u{2}mple.test>".as_bytes()),
            Err(ParseError::BadRecipient)
        );
    }

    #[test]
    fn unknown_and_malformed() {
        assert_eq!(parse(b""), Err(ParseError::Unrecognized));
        assert_eq!(parse(b"FOO"), Err(ParseError::Unrecognized));
        assert_eq!(parse(b"XYZZYXYZZY"), Err(ParseError::Unrecognized));
        assert!(matches!(parse(b"EHLO"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"DATA x"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"VRFY"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            parse(b"HELO \xff\xfe"),
            Err(ParseError::Syntax(_))
        ));
        assert_eq!(parse(b"MAIL FROM:<\xff@b>"), Err(ParseError::BadSender));
    }

    proptest! {
        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&line);
        }

        #[test]
        fn never_panics_on_command_like_input(
            verb in prop::sample::select(vec!["MAIL FROM:", "RCPT TO:", "BDAT ", "EHLO ", "mail from: "]),
            rest in "[<>@\"\\\\:,.\\[\\] a-zA-Z0-9=\u{80}-\u{10ffff}]{0,80}",
        ) {
            let line = format!("{verb}{rest}");
            let _ = parse(line.as_bytes());
        }

        /// Whatever EHLO and MAIL accept carries no control character (it goes into header fields).
        #[test]
        fn accepted_ehlo_and_paths_have_no_control_characters(
            verb in prop::sample::select(vec!["EHLO ", "HELO ", "MAIL FROM:<", "MAIL FROM:<a@", "RCPT TO:<\""]),
            rest in "[\\[\\]a-z0-9.:@\"<>\\x00-\\x1f\\x7f\u{80}-\u{a0}é]{0,40}",
        ) {
            let line = format!("{verb}{rest}");
            match parse(line.as_bytes()) {
                Ok(Command::Ehlo(d)) | Ok(Command::Helo(d)) => {
                    prop_assert!(!d.chars().any(char::is_control), "{:?}", d);
                }
                Ok(Command::Mail { from: Some(m), .. }) => {
                    prop_assert!(!m.address.chars().any(char::is_control), "{:?}", m);
                }
                Ok(Command::Rcpt { to: Recipient::Mailbox(m), .. }) => {
                    prop_assert!(!m.address.chars().any(char::is_control), "{:?}", m);
                }
                _ => {}
            }
        }

        #[test]
        fn valid_addresses_round_trip(local in "[a-z0-9][a-z0-9.+_-]{0,20}[a-z0-9]", domain in "[a-z0-9]{1,10}(\\.[a-z]{2,6}){1,3}") {
            prop_assume!(!local.contains(".."));
            let line = format!("RCPT TO:<{local}@{domain}>");
            match parse(line.as_bytes()) {
                Ok(Command::Rcpt { to: Recipient::Mailbox(m), .. }) => {
                    prop_assert_eq!(m.local, local.as_str());
                    prop_assert_eq!(m.domain, domain.as_str());
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
