//! Dates of SEARCH (`date`) and APPEND (`date-time`), RFC 9051 9.

use super::lexer::{Cursor, PResult};
use super::Error;
use crate::imap::types::{Date, DateTime};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The month names as written (`Jan` ... `Dec`), for the test writer.
#[cfg(test)]
pub fn month_name(month: u8) -> &'static str {
    match MONTHS.get(usize::from(month).wrapping_sub(1)) {
        Some(m) => std::str::from_utf8(&m[..]).unwrap_or("Jan"),
        None => "Jan",
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    // Gregorian leap years (remainders bound first: `is_multiple_of` is newer than our MSRV).
    let (r4, r100, r400) = (year % 4, year % 100, year % 400);
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (r4 == 0 && r100 != 0) || r400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

fn digits(c: &mut Cursor<'_, '_>, min: usize, max: usize) -> PResult<u32> {
    let start = c.pos;
    let mut n = 0u32;
    while c.pos - start < max {
        match c.peek()? {
            d @ b'0'..=b'9' => {
                n = n * 10 + u32::from(d - b'0');
                c.pos += 1;
            }
            _ => break,
        }
    }
    if c.pos - start < min {
        return Err(Error::Syntax("invalid date"));
    }
    Ok(n)
}

/// `date-month "-" date-year` after the day and its dash, checking the day against the month.
fn month_year(c: &mut Cursor<'_, '_>, day: u32) -> PResult<Date> {
    let m = c.buf.get(c.pos..c.pos + 3).ok_or(Error::Incomplete)?;
    let month = MONTHS
        .iter()
        .position(|name| name.eq_ignore_ascii_case(m))
        .ok_or(Error::Syntax("invalid month in a date"))?;
    c.pos += 3;
    c.expect(b'-', "invalid date")?;
    let year = digits(c, 4, 4)?;
    let year = u16::try_from(year).map_err(|_| Error::Syntax("invalid date"))?;
    let month = (month + 1) as u8;
    let day = u8::try_from(day).map_err(|_| Error::Syntax("invalid date"))?;
    if day == 0 || day > days_in_month(year, month) {
        return Err(Error::Syntax("invalid day of the month"));
    }
    Ok(Date { year, month, day })
}

/// `date = date-text / DQUOTE date-text DQUOTE`, `date-text = date-day "-" date-month "-" date-year`.
pub fn date(c: &mut Cursor<'_, '_>) -> PResult<Date> {
    let quoted = c.eat(b'"');
    let day = digits(c, 1, 2)?;
    c.expect(b'-', "invalid date")?;
    let date = month_year(c, day)?;
    if quoted {
        c.expect(b'"', "invalid date")?;
    }
    Ok(date)
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`, with
/// `date-day-fixed = (SP DIGIT) / 2DIGIT`, `time = 2DIGIT ":" 2DIGIT ":" 2DIGIT`,
/// `zone = ("+" / "-") 4DIGIT`.
pub fn date_time(c: &mut Cursor<'_, '_>) -> PResult<DateTime> {
    c.expect(b'"', "expected a date-time")?;
    c.eat(b' ');
    let day = digits(c, 1, 2)?;
    c.expect(b'-', "invalid date-time")?;
    let date = month_year(c, day)?;
    c.sp()?;
    let hour = digits(c, 2, 2)?;
    c.expect(b':', "invalid time")?;
    let minute = digits(c, 2, 2)?;
    c.expect(b':', "invalid time")?;
    let second = digits(c, 2, 2)?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(Error::Syntax("invalid time"));
    }
    c.sp()?;
    let sign: i16 = match c.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(Error::Syntax("invalid time zone")),
    };
    c.pos += 1;
    let zh = digits(c, 2, 2)?;
    let zm = digits(c, 2, 2)?;
    if zm > 59 {
        return Err(Error::Syntax("invalid time zone"));
    }
    c.expect(b'"', "invalid date-time")?;
    Ok(DateTime {
        date,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        zone_minutes: sign * (zh * 60 + zm) as i16,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::command::Options;

    fn run<T>(s: &[u8], f: fn(&mut Cursor<'_, '_>) -> PResult<T>) -> PResult<T> {
        let opts = Options::default();
        let mut c = Cursor::new(s, &opts);
        f(&mut c)
    }

    #[test]
    fn search_dates() {
        let d = |y, m, d| {
            Ok(Date {
                year: y,
                month: m,
                day: d,
            })
        };
        assert_eq!(run(b"1-Feb-2024 ", date), d(2024, 2, 1));
        assert_eq!(run(b"\"29-feb-2024\" ", date), d(2024, 2, 29));
        assert!(matches!(run(b"29-Feb-2023 ", date), Err(Error::Syntax(_))));
        assert!(matches!(run(b"31-Apr-2023 ", date), Err(Error::Syntax(_))));
        assert!(matches!(run(b"1-Foo-2023 ", date), Err(Error::Syntax(_))));
        assert!(matches!(run(b"123-Jan-2023 ", date), Err(Error::Syntax(_))));
        assert!(matches!(run(b"1-Jan-23 ", date), Err(Error::Syntax(_))));
    }

    #[test]
    fn append_date_times() {
        let dt = run(b"\" 7-Jul-1996 02:44:25 -0700\" ", date_time);
        assert_eq!(
            dt,
            Ok(DateTime {
                date: Date {
                    year: 1996,
                    month: 7,
                    day: 7
                },
                hour: 2,
                minute: 44,
                second: 25,
                zone_minutes: -420,
            })
        );
        assert!(
            run(b"\"17-Jul-1996 02:44:25 +0530\" ", date_time).is_ok_and(|d| d.zone_minutes == 330)
        );
        assert!(matches!(
            run(b"\"17-Jul-1996 24:00:00 +0000\" ", date_time),
            Err(Error::Syntax(_))
        ));
        assert!(matches!(
            run(b"\"17-Jul-1996 02:44:25 0000\" ", date_time),
            Err(Error::Syntax(_))
        ));
        assert!(matches!(
            run(b"\"17-Jul-1996 2:44:25 +0000\" ", date_time),
            Err(Error::Syntax(_))
        ));
    }
}
