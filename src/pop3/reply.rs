//! POP3 replies (RFC 1939 3): `+OK`/`-ERR` status lines, with the response codes of RFC 2449 8
//! (`-ERR [IN-USE] ...`), and the lines of multi-line replies (terminated by `.` alone).
//! Status text is ours and ASCII; nothing the client sent is echoed into a reply.

/// Writes `+OK text` (no code: RFC 2449 8 codes qualify failures).
pub fn ok(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+OK");
    if !text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Response codes of RFC 2449 8 and its registry (RFC 3206 adds SYS/TEMP, SYS/PERM, AUTH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// RFC 2449 8.1.1: the maildrop is locked by another session.
    InUse,
    /// RFC 2449 8.1.2: logged in too soon after the last login.
    LoginDelay,
    /// RFC 3206 4: a temporary problem of the server.
    SysTemp,
    /// RFC 3206 4: a permanent problem of the server.
    SysPerm,
    /// RFC 3206 5: the credentials were not accepted.
    Auth,
}

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Code::InUse => "IN-USE",
            Code::LoginDelay => "LOGIN-DELAY",
            Code::SysTemp => "SYS/TEMP",
            Code::SysPerm => "SYS/PERM",
            Code::Auth => "AUTH",
        }
    }
}

/// Writes `-ERR [code] text`.
pub fn err(out: &mut Vec<u8>, code: Option<Code>, text: &str) {
    out.extend_from_slice(b"-ERR");
    if let Some(c) = code {
        out.extend_from_slice(b" [");
        out.extend_from_slice(c.name().as_bytes());
        out.push(b']');
    }
    if !text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// The end of a multi-line reply (RFC 1939 3).
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b".\r\n");
}

/// Appends `n` in decimal.
pub fn num(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A scan listing line of LIST (RFC 1939 5: `msg octets`).
pub fn scan_line(out: &mut Vec<u8>, msg: u32, size: u64) {
    num(out, u64::from(msg));
    out.push(b' ');
    num(out, size);
    out.extend_from_slice(b"\r\n");
}

/// The unique-id of a message (RFC 1939 7: 1-70 characters in 0x21-0x7E): `UIDVALIDITY.UID`, the
/// pair that names the message in IMAP too.
pub fn unique_id(out: &mut Vec<u8>, uidvalidity: u32, uid: u32) {
    num(out, u64::from(uidvalidity));
    out.push(b'.');
    num(out, u64::from(uid));
}

/// A unique-id listing line of UIDL (RFC 1939 7: `msg unique-id`).
pub fn uidl_line(out: &mut Vec<u8>, msg: u32, uidvalidity: u32, uid: u32) {
    num(out, u64::from(msg));
    out.push(b' ');
    unique_id(out, uidvalidity, uid);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_and_listings_encode() {
        let mut o = Vec::new();
        ok(&mut o, "2 320");
        err(&mut o, Some(Code::InUse), "maildrop locked");
        err(&mut o, None, "no such message");
        ok(&mut o, "");
        scan_line(&mut o, 1, 0);
        uidl_line(&mut o, 12, 1_700_000_000, u32::MAX);
        num(&mut o, u64::MAX);
        end(&mut o);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "+OK 2 320\r\n-ERR [IN-USE] maildrop locked\r\n-ERR no such message\r\n+OK\r\n\
             1 0\r\n12 1700000000.4294967295\r\n18446744073709551615.\r\n"
        );
    }
}
