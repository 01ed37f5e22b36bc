//! Calendar arithmetic for the SEARCH date keys: a timestamp with its zone ([`Stamp`]) to the date it
//! names in that zone, and SEARCH `date`s to day numbers, with no clock and no time-zone database.

use crate::imap::types::Date;

/// A point in time with the zone it was given in: INTERNALDATE (RFC 9051 2.3.3) or a Date: header
/// (RFC 5322 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Seconds since the Unix epoch (UTC).
    pub unix: i64,
    /// The zone's offset east of UTC in minutes (`-0700` is -420).
    pub offset_minutes: i16,
}

impl Stamp {
    pub fn new(unix: i64, offset_minutes: i16) -> Stamp {
        Stamp {
            unix,
            offset_minutes,
        }
    }

    /// The day (days since 1970-01-01) of the date this stamp shows in its own zone: RFC 9051 6.4.4
    /// compares dates "disregarding time and timezone", i.e. the date as written in the message.
    pub fn local_day(&self) -> i64 {
        self.unix
            .saturating_add(i64::from(self.offset_minutes) * 60)
            .div_euclid(86_400)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the usual era-based computation: years are
/// counted from March so that the leap day ends a year).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

/// The day number of a SEARCH date. The parser checks ranges; out-of-range fields still give a
/// number (monotone in the date), never a panic.
pub fn day_of(date: Date) -> i64 {
    days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_known_values() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1970, 1, 2), 1);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        // 2024-02-29 00:00:00 UTC is 1709164800.
        assert_eq!(days_from_civil(2024, 2, 29), 1_709_164_800 / 86_400);
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28),
            2
        );
        assert_eq!(
            days_from_civil(2023, 3, 1) - days_from_civil(2023, 2, 28),
            1
        );
    }

    #[test]
    fn local_day_uses_the_stamps_own_zone() {
        // 2024-03-01 23:30:00 -0800 is 2024-03-02 07:30 UTC: its date is still the 1st.
        let unix = days_from_civil(2024, 3, 2) * 86_400 + 7 * 3600 + 30 * 60;
        assert_eq!(
            Stamp::new(unix, -480).local_day(),
            days_from_civil(2024, 3, 1)
        );
        assert_eq!(Stamp::new(unix, 0).local_day(), days_from_civil(2024, 3, 2));
        // 2024-03-02 00:30 +0100 is 2024-03-01 23:30 UTC.
        let unix = days_from_civil(2024, 3, 1) * 86_400 + 23 * 3600 + 30 * 60;
        assert_eq!(
            Stamp::new(unix, 60).local_day(),
            days_from_civil(2024, 3, 2)
        );
        // Before the epoch, days round down.
        assert_eq!(Stamp::new(-1, 0).local_day(), -1);
        assert_eq!(
            Stamp::new(i64::MAX, 1439).local_day(),
            i64::MAX.div_euclid(86_400)
        );
    }
}
