//! The trace fields of a stored message (RFC 5321 4.4): `Return-Path` and `Received`, with the
//! protocol names of RFC 3848 (ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 3.7.3 (UTF8SMTP and its S/A
//! forms), and the RFC 5322 date-time they end with.

/// What a `Received` field says.
pub struct Received<'a> {
    /// The reverse path; empty for the null sender.
    pub from: &'a str,
    pub helo: &'a str,
    pub peer: &'a str,
    pub by: &'a str,
    pub id: &'a str,
    pub date: &'a str,
    pub protocol: &'static str,
    /// The one recipient, when there is exactly one.
    pub for_rcpt: Option<&'a str>,
}

/// The `with` protocol: SMTP for HELO, ESMTP for EHLO (UTF8SMTP with SMTPUTF8), then `S` when TLS
/// protected the session and `A` when the client authenticated (RFC 3848 2, RFC 6531 3.7.3).
pub fn protocol(esmtp: bool, smtputf8: bool, tls: bool, authenticated: bool) -> &'static str {
    match (esmtp, smtputf8, tls, authenticated) {
        (false, _, _, _) => "SMTP",
        (true, false, false, false) => "ESMTP",
        (true, false, true, false) => "ESMTPS",
        (true, false, false, true) => "ESMTPA",
        (true, false, true, true) => "ESMTPSA",
        (true, true, false, false) => "UTF8SMTP",
        (true, true, true, false) => "UTF8SMTPS",
        (true, true, false, true) => "UTF8SMTPA",
        (true, true, true, true) => "UTF8SMTPSA",
    }
}

impl Received<'_> {
    /// `Return-Path` (this server is the final delivery for local recipients) and `Received`, each
    /// ending in CRLF.
    pub fn headers(&self) -> String {
        let for_clause = match self.for_rcpt {
            Some(one) => format!("\r\n\tfor <{}>", header_text(one)),
            None => String::new(),
        };
        format!(
            "Return-Path: <{}>\r\nReceived: from {} ([{}])\r\n\tby {} (shardmail) with {} id {}{for_clause};\r\n\t{}\r\n",
            header_text(self.from),
            header_text(self.helo),
            header_text(self.peer),
            header_text(self.by),
            self.protocol,
            header_text(self.id),
            header_text(self.date),
        )
    }
}

/// A value for a header field we write: the parsers already refuse control characters in EHLO
/// arguments and paths, and this keeps it so for every field whatever its source (RFC 5322 2.2: a
/// field body is printable characters and whitespace; a CR, LF or NUL would end or corrupt the field).
fn header_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// Formats a Unix time as an RFC 5322 date-time in UTC (`Mon, 23 Nov 2026 01:02:03 +0000`).
pub fn rfc5322_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d} {mon} {y} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_replaces_control_characters() {
        assert_eq!(header_text("mx.example"), "mx.example");
        assert_eq!(
            header_text("evil\0\rX-Injected:yes\n"),
            "evil??X-Injected:yes?"
        );
        assert_eq!(header_text("a\u{85}b"), "a?b");
    }

    #[test]
    fn protocol_names_follow_rfc_3848_and_6531() {
        assert_eq!(protocol(false, true, true, true), "SMTP");
        assert_eq!(protocol(true, false, false, false), "ESMTP");
        assert_eq!(protocol(true, false, true, false), "ESMTPS");
        assert_eq!(protocol(true, false, false, true), "ESMTPA");
        assert_eq!(protocol(true, false, true, true), "ESMTPSA");
        assert_eq!(protocol(true, true, false, false), "UTF8SMTP");
        assert_eq!(protocol(true, true, true, true), "UTF8SMTPSA");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_395_723),
            "Mon, 23 Nov 2026 01:02:03 +0000"
        );
    }
}
