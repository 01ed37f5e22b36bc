//! The Date: header as a point in time with its zone (RFC 5322 3.3, with the obsolete forms of 4.3:
//! two-digit years, zone names, missing seconds), for SENTBEFORE/SENTON/SENTSINCE (RFC 9051 6.4.4,
//! which compare the date as written, "disregarding time and timezone") and SORT DATE (RFC 5256,
//! which compares instants).

use super::header::Cursor;
use super::Message;
use crate::imap::types::Date;

/// A parsed Date: header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentDate {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset east of UTC, in minutes.
    pub zone_minutes: i16,
}

impl SentDate {
    /// The calendar date as written in the header (the SENT* search keys).
    pub fn date(&self) -> Date {
        Date {
            year: self.year,
            month: self.month,
            day: self.day,
        }
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn timestamp(&self) -> i64 {
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone_minutes) * 60
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the era-based day count: 400-year cycles of
/// 146097 days, years starting in March so that the leap day comes last).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

impl Message<'_> {
    /// The message's Date: header, if present and readable.
    pub fn sent_date(&self) -> Option<SentDate> {
        parse(self.field_value(self.node(0).header, b"date")?)
    }
}

/// Parses an RFC 5322 `date-time` (leniently: the obsolete forms, comments anywhere).
pub fn parse(v: &[u8]) -> Option<SentDate> {
    let mut c = Cursor::new(v);
    let mut words: Vec<&[u8]> = Vec::with_capacity(8);
    loop {
        c.skip_cfws();
        let start = c.pos;
        while c
            .peek()
            .is_some_and(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'(' | b',' | b':'))
        {
            c.pos += 1;
        }
        if c.pos > start {
            words.push(&v[start..c.pos]);
        } else if c.peek().is_some() {
            // `,` after the day name and `:` in the time are separators here.
            if c.peek() == Some(b':') {
                words.push(b":");
            }
            c.pos += 1;
        } else {
            break;
        }
    }
    // Drop the day of the week (RFC 5322 3.3 `day-of-week`).
    let mut w = words.as_slice();
    if w.first()
        .is_some_and(|x| x.first().is_some_and(u8::is_ascii_alphabetic))
    {
        w = &w[1..];
    }
    let (day, month, year, rest) = match w {
        [d, m, y, rest @ ..] => (*d, *m, *y, rest),
        _ => return None,
    };
    let day = num(day).filter(|d| (1..=31).contains(d))? as u8;
    let month = MONTHS
        .iter()
        .position(|m| month.len() >= 3 && month[..3].eq_ignore_ascii_case(&m[..]))?
        as u8
        + 1;
    let year = match (year.len(), num(year)?) {
        // RFC 5322 4.3: two-digit years 00-49 are 20xx, 50-99 and three-digit years add 1900.
        (2, y) if y < 50 => 2000 + y,
        (2 | 3, y) => 1900 + y,
        (_, y) => y,
    };
    if year > 9999 {
        return None;
    }
    // hour ":" minute [":" second] zone
    let (hour, minute, second, zone) = match rest {
        [h, b":", m, b":", s, z, ..] => (num(h)?, num(m)?, num(s)?, Some(*z)),
        [h, b":", m, b":", s] => (num(h)?, num(m)?, num(s)?, None),
        [h, b":", m, z, ..] => (num(h)?, num(m)?, 0, Some(*z)),
        [h, b":", m] => (num(h)?, num(m)?, 0, None),
        _ => return None,
    };
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(SentDate {
        year: year as u16,
        month,
        day,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        zone_minutes: zone.map_or(Some(0), zone_minutes)?,
    })
}

fn num(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// `+hhmm` / `-hhmm`, or an obsolete zone name (RFC 5322 4.3; military letters and unknown names
/// mean an unknown zone, taken as UTC).
fn zone_minutes(z: &[u8]) -> Option<i16> {
    if let (Some(&sign), Some(digits)) = (z.first(), z.get(1..)) {
        if matches!(sign, b'+' | b'-') {
            if digits.len() != 4 {
                return None;
            }
            let n = num(digits)? as i16;
            let (h, m) = (n / 100, n % 100);
            if m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            return Some(if sign == b'-' { -minutes } else { minutes });
        }
    }
    let hours: i16 = match z.to_ascii_uppercase().as_slice() {
        b"EDT" => -4,
        b"EST" | b"CDT" => -5,
        b"CST" | b"MDT" => -6,
        b"MST" | b"PDT" => -7,
        b"PST" => -8,
        _ => 0,
    };
    Some(hours * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_with_zones() {
        let d = parse(b"Fri, 27 Nov 2026 10:00:00 +0100").unwrap();
        assert_eq!(
            (d.year, d.month, d.day, d.hour, d.zone_minutes),
            (2026, 11, 27, 10, 60)
        );
        assert_eq!(d.timestamp(), 1_795_770_000);
        let d = parse(b"1 Jan 2026 00:00 +0000").unwrap();
        assert_eq!(d.timestamp(), 1_767_225_600);
        let d = parse(b"Sat, 28 Nov 2026 23:59:59 -0800").unwrap();
        // Still the 28th as written (SENTON), the 29th in UTC (SORT DATE).
        assert_eq!(
            d.date(),
            Date {
                year: 2026,
                month: 11,
                day: 28
            }
        );
        assert_eq!(
            d.timestamp(),
            parse(b"29 Nov 2026 07:59:59 +0000").unwrap().timestamp()
        );
        let d = parse(b"Wed, 4 Apr 26 04:04:04 GMT (comment)").unwrap();
        assert_eq!((d.year, d.zone_minutes), (2026, 0));
        assert_eq!(parse(b"4 Apr 99 04:04 EDT").unwrap().year, 1999);
        assert_eq!(parse(b"4 Apr 99 04:04 EDT").unwrap().zone_minutes, -240);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn bad_dates_are_none() {
        for bad in [
            &b""[..],
            b"yesterday",
            b"32 Jan 2026 00:00 +0000",
            b"1 Foo 2026 00:00 +0000",
            b"1 Jan 2026 25:00 +0000",
            b"1 Jan 2026 00:00 +01",
            b"1 Jan 2026",
            b"1 Jan 99999 00:00 +0000",
        ] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
