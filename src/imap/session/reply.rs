//! The few response shapes the session writes (RFC 9051 7): tagged status with an optional response
//! code, untagged data, flags and dates. Strings go through `imap::wire`.

use super::super::backend::{self, Message};
use super::super::wire;

/// Tagged or untagged status (RFC 9051 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    No,
    Bad,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        }
    }
}

/// `tag OK [code] text\r\n`; `code` is written as given (without brackets), empty for none.
pub(crate) fn tagged(out: &mut Vec<u8>, tag: &str, status: Status, code: &str, text: &str) {
    out.extend_from_slice(tag.as_bytes());
    out.push(b' ');
    status_line(out, status, code, text);
}

/// `* OK [code] text\r\n`
pub(crate) fn untagged(out: &mut Vec<u8>, status: Status, code: &str, text: &str) {
    out.extend_from_slice(b"* ");
    status_line(out, status, code, text);
}

fn status_line(out: &mut Vec<u8>, status: Status, code: &str, text: &str) {
    out.extend_from_slice(status.word().as_bytes());
    out.push(b' ');
    if !code.is_empty() {
        out.push(b'[');
        out.extend_from_slice(code.as_bytes());
        out.extend_from_slice(b"] ");
    }
    // Text is `1*TEXT-CHAR`: never empty, never a CR or LF (RFC 9051 9 `text`).
    let text = if text.is_empty() { "done" } else { text };
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// `* BYE text\r\n` (RFC 9051 7.1.5).
pub(crate) fn bye(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"* BYE ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `(\Seen \Answered kw ...)`, with `\Recent` when `recent` (IMAP4rev1 only).
pub(crate) fn flag_list(out: &mut Vec<u8>, system: u8, keywords: &[&str], recent: bool) {
    out.push(b'(');
    let mut first = true;
    let mut put = |out: &mut Vec<u8>, s: &str| {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(s.as_bytes());
    };
    for (bit, name) in SYSTEM_FLAGS {
        if system & bit != 0 {
            put(out, name);
        }
    }
    if recent {
        put(out, "\\Recent");
    }
    for k in keywords {
        put(out, k);
    }
    out.push(b')');
}

/// The five system flags in the order clients see them.
pub(crate) const SYSTEM_FLAGS: [(u8, &str); 5] = [
    (backend::SEEN, "\\Seen"),
    (backend::ANSWERED, "\\Answered"),
    (backend::FLAGGED, "\\Flagged"),
    (backend::DELETED, "\\Deleted"),
    (backend::DRAFT, "\\Draft"),
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day) of a day count since 1970-01-01 (the proleptic Gregorian calendar).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// INTERNALDATE as `"17-Jul-1996 02:44:25 -0700"` (RFC 9051 9 `date-time`), in the zone the
/// message arrived with.
pub(crate) fn date_time(out: &mut Vec<u8>, unix: i64, zone_minutes: i16) {
    let local = unix + i64::from(zone_minutes) * 60;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    let sign = if zone_minutes < 0 { '-' } else { '+' };
    let z = zone_minutes.unsigned_abs();
    let s = format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
        d,
        MONTHS[(m as usize).saturating_sub(1) % 12],
        y.clamp(0, 9999),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        sign,
        z / 60,
        z % 60
    );
    out.extend_from_slice(s.as_bytes());
}

/// The keyword names of `m` in `view` as a FLAGS list.
pub(crate) fn message_flags<V: backend::MailboxView>(
    out: &mut Vec<u8>,
    view: &V,
    m: &Message,
    recent: bool,
) {
    let kw = view.keywords(m);
    flag_list(out, m.system, &kw, recent);
}

/// A mailbox name as an `astring`/`mailbox` (RFC 9051 9): INBOX as an atom, others quoted or as a
/// literal when they must be.
pub(crate) fn mailbox(out: &mut Vec<u8>, name: &[u8]) {
    wire::astring(out, name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_print_in_their_zone() {
        for days in [-800_000i64, -1, 0, 1, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let mut out = Vec::new();
        // 1996-07-17 09:44:25 UTC at -0700.
        date_time(&mut out, 837_596_665, -420);
        assert_eq!(out, b"\"17-Jul-1996 02:44:25 -0700\"");
        out.clear();
        date_time(&mut out, 0, 0);
        assert_eq!(out, b"\"01-Jan-1970 00:00:00 +0000\"");
    }

    #[test]
    fn status_text_never_breaks_the_line() {
        let mut out = Vec::new();
        tagged(&mut out, "a1", Status::No, "TRYCREATE", "no\r\nsuch");
        assert_eq!(out, b"a1 NO [TRYCREATE] no  such\r\n");
    }
}
