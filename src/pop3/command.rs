//! POP3 command lines (RFC 1939 3 and 9, RFC 2449 5 CAPA, RFC 5034 4 AUTH, RFC 2595 4 STLS): one
//! line without its CRLF in, a [`Command`] borrowing from it out. Never panics (proptest below, and
//! the `pop3_command` fuzz target).
//!
//! RFC 1939 3: a keyword of 3-4 characters, case-insensitive, then arguments separated by single
//! spaces, each up to 40 characters. We are lenient where clients differ and nothing is lost: runs
//! of spaces and a trailing space are accepted; PASS takes the rest of the line (passwords may hold
//! spaces, RFC 1939 7 notes servers commonly allow that).

/// A message number or a line count: decimal, at most this many digits (u32 range is checked too).
const MAX_DIGITS: usize = 10;
// RFC 1939 3: arguments "may be up to 40 characters long"; user names and AUTH responses may be
// longer in practice, so only message numbers are held to a bound (above); the rest is bounded by
// the line length.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// RFC 1939 7.
    User(&'a [u8]),
    /// RFC 1939 7: the rest of the line.
    Pass(&'a [u8]),
    /// RFC 1939 7 (APOP is optional and not offered).
    Apop,
    /// RFC 1939 5.
    Stat,
    /// RFC 1939 5: LIST [msg].
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    /// RFC 1939 5 (TRANSACTION) and 6 (UPDATE); in AUTHORIZATION, ends the session.
    Quit,
    /// RFC 1939 7: TOP msg n.
    Top {
        msg: u32,
        lines: u32,
    },
    /// RFC 1939 7: UIDL [msg].
    Uidl(Option<u32>),
    /// RFC 2449 5.
    Capa,
    /// RFC 5034 4: AUTH mechanism [initial-response]; no mechanism lists the mechanisms (what RFC
    /// 1734 clients send to probe).
    Auth {
        mechanism: Option<&'a [u8]>,
        initial: Option<&'a [u8]>,
    },
    /// RFC 2595 4.
    Stls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty command line")]
    Empty,
    #[error("unknown command")]
    Unknown,
    #[error("missing argument")]
    MissingArgument,
    #[error("too many arguments")]
    ExtraArguments,
    #[error("invalid message number or count")]
    BadNumber,
    #[error("invalid character in the command")]
    BadCharacter,
}

/// Parses one command line (`line` without CRLF).
pub fn parse(line: &[u8]) -> Result<Command<'_>, ParseError> {
    // RFC 1939 3: commands are ASCII; a NUL or another control character is no part of one.
    if line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(ParseError::BadCharacter);
    }
    let (keyword, rest) = match memchr::memchr(b' ', line) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    if keyword.is_empty() {
        return Err(ParseError::Empty);
    }
    if keyword.len() > 4 {
        return Err(ParseError::Unknown);
    }
    let mut k = [0u8; 4];
    for (d, s) in k.iter_mut().zip(keyword) {
        *d = s.to_ascii_uppercase();
    }
    let k = &k[..keyword.len()];
    let mut args = Args::new(rest);
    let cmd = match k {
        b"USER" => Command::User(args.required()?),
        b"PASS" => {
            // RFC 1939 7: the password is the argument; take it whole, spaces included.
            if rest.is_empty() {
                return Err(ParseError::MissingArgument);
            }
            return Ok(Command::Pass(rest));
        }
        b"APOP" => return Ok(Command::Apop),
        b"STAT" => Command::Stat,
        b"LIST" => Command::List(args.optional_number()?),
        b"RETR" => Command::Retr(number(args.required()?)?),
        b"DELE" => Command::Dele(number(args.required()?)?),
        b"NOOP" => Command::Noop,
        b"RSET" => Command::Rset,
        b"QUIT" => Command::Quit,
        b"TOP" => {
            let msg = number(args.required()?)?;
            let lines = number(args.required()?)?;
            Command::Top { msg, lines }
        }
        b"UIDL" => Command::Uidl(args.optional_number()?),
        b"CAPA" => Command::Capa,
        b"AUTH" => {
            let mechanism = args.next();
            let initial = args.next();
            Command::Auth { mechanism, initial }
        }
        b"STLS" => Command::Stls,
        _ => return Err(ParseError::Unknown),
    };
    args.end()?;
    Ok(cmd)
}

/// A decimal message number or line count (RFC 1939 3: no sign, no other characters).
fn number(arg: &[u8]) -> Result<u32, ParseError> {
    if arg.is_empty() || arg.len() > MAX_DIGITS || !arg.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadNumber);
    }
    let mut n: u64 = 0;
    for &d in arg {
        n = n * 10 + u64::from(d - b'0');
    }
    u32::try_from(n).map_err(|_| ParseError::BadNumber)
}

/// Space-separated arguments; runs of spaces count as one separator.
struct Args<'a> {
    rest: &'a [u8],
}

impl<'a> Args<'a> {
    fn new(rest: &'a [u8]) -> Args<'a> {
        Args { rest }
    }

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let rest = &self.rest[start..];
        let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
        self.rest = &rest[end..];
        Some(&rest[..end])
    }

    fn required(&mut self) -> Result<&'a [u8], ParseError> {
        self.next().ok_or(ParseError::MissingArgument)
    }

    fn optional_number(&mut self) -> Result<Option<u32>, ParseError> {
        self.next().map(number).transpose()
    }

    fn end(&mut self) -> Result<(), ParseError> {
        match self.next() {
            None => Ok(()),
            Some(_) => Err(ParseError::ExtraArguments),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1939_commands_parse_case_insensitively() {
        assert_eq!(parse(b"user alice"), Ok(Command::User(b"alice")));
        assert_eq!(parse(b"PASS se cret "), Ok(Command::Pass(b"se cret ")));
        assert_eq!(parse(b"STAT"), Ok(Command::Stat));
        assert_eq!(parse(b"list"), Ok(Command::List(None)));
        assert_eq!(parse(b"LIST 2"), Ok(Command::List(Some(2))));
        assert_eq!(parse(b"RETR 1"), Ok(Command::Retr(1)));
        assert_eq!(parse(b"dele 4294967295"), Ok(Command::Dele(u32::MAX)));
        assert_eq!(parse(b"NOOP"), Ok(Command::Noop));
        assert_eq!(parse(b"RSET"), Ok(Command::Rset));
        assert_eq!(parse(b"QUIT"), Ok(Command::Quit));
        assert_eq!(parse(b"TOP 1 10"), Ok(Command::Top { msg: 1, lines: 10 }));
        assert_eq!(parse(b"UIDL"), Ok(Command::Uidl(None)));
        assert_eq!(parse(b"uidl 3"), Ok(Command::Uidl(Some(3))));
        assert_eq!(parse(b"CAPA"), Ok(Command::Capa));
        assert_eq!(parse(b"STLS"), Ok(Command::Stls));
        assert_eq!(parse(b"APOP a b"), Ok(Command::Apop));
        assert_eq!(
            parse(b"AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
            Ok(Command::Auth {
                mechanism: Some(b"PLAIN"),
                initial: Some(b"AGFsaWNlAHNlY3JldA==")
            })
        );
        assert_eq!(
            parse(b"AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        // Lenient spacing.
        assert_eq!(parse(b"LIST  2 "), Ok(Command::List(Some(2))));
    }

    #[test]
    fn bad_lines_get_a_reason() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b" STAT"), Err(ParseError::Empty));
        assert_eq!(parse(b"FROB"), Err(ParseError::Unknown));
        assert_eq!(parse(b"STATUS"), Err(ParseError::Unknown));
        assert_eq!(parse(b"RETR"), Err(ParseError::MissingArgument));
        assert_eq!(parse(b"PASS"), Err(ParseError::MissingArgument));
        assert_eq!(parse(b"RETR x"), Err(ParseError::BadNumber));
        assert_eq!(parse(b"RETR -1"), Err(ParseError::BadNumber));
        assert_eq!(parse(b"RETR +1"), Err(ParseError::BadNumber));
        assert_eq!(parse(b"RETR 4294967296"), Err(ParseError::BadNumber));
        assert_eq!(parse(b"RETR 99999999999"), Err(ParseError::BadNumber));
        assert_eq!(parse(b"TOP 1"), Err(ParseError::MissingArgument));
        assert_eq!(parse(b"STAT 1"), Err(ParseError::ExtraArguments));
        assert_eq!(parse(b"RETR 1 2"), Err(ParseError::ExtraArguments));
        assert_eq!(parse(b"AUTH PLAIN a b"), Err(ParseError::ExtraArguments));
        assert_eq!(parse(b"USER a\0b"), Err(ParseError::BadCharacter));
        assert_eq!(parse(b"NOOP\r"), Err(ParseError::BadCharacter));
    }

    proptest! {
        #[test]
        fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&line);
        }

        #[test]
        fn parse_never_panics_on_commandlike_lines(
            kw in prop::sample::select(vec!["USER", "PASS", "LIST", "RETR", "DELE", "TOP", "UIDL",
                "AUTH", "CAPA", "STAT", "quit", "noop", "rset", "stls", "apop"]),
            args in proptest::collection::vec("[ 0-9a-zA-Z+=/-]{0,12}", 0..4),
        ) {
            let line = format!("{kw} {}", args.join(" "));
            let _ = parse(line.as_bytes());
        }

        #[test]
        fn numbers_round_trip(n in any::<u32>(), m in any::<u32>()) {
            let line = format!("TOP {n} {m}");
            prop_assert_eq!(parse(line.as_bytes()), Ok(Command::Top { msg: n, lines: m }));
        }
    }
}
