//! What the server needs to know of its own certificates before serving them: the validity period
//! (an expired or not-yet-valid certificate stops the start, naming the dates) and the DNS names it
//! is for (chosen by SNI). A small DER walk over the X.509 structure (RFC 5280 4.1), no more: the
//! signature and the rest are the client's to verify. Never panics on any input (proptest below).

/// The parts of an end-entity certificate the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Seconds since the Unix epoch (RFC 5280 4.1.2.5).
    pub not_before: i64,
    pub not_after: i64,
    /// subjectAltName dNSName entries, lowercased (RFC 5280 4.2.1.6); `*.example.com` kept as is.
    pub dns_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a well-formed X.509 certificate: {0}")]
pub struct X509Error(&'static str);

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;
/// `[3] EXPLICIT Extensions`.
const EXTENSIONS: u8 = 0xa3;
/// GeneralName `dNSName [2] IA5String` (implicit, primitive).
const DNS_NAME: u8 = 0x82;
/// id-ce-subjectAltName, 2.5.29.17.
const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11];

/// One DER element: (tag, contents, what follows). Definite lengths only (DER, X.690 10.1).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), X509Error> {
    let (&tag, rest) = input.split_first().ok_or(X509Error("truncated"))?;
    if tag & 0x1f == 0x1f {
        return Err(X509Error("high tag number"));
    }
    let (&first, mut rest) = rest.split_first().ok_or(X509Error("truncated"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(X509Error("bad length"));
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(X509Error("truncated"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], want: u8) -> Result<(&[u8], &[u8]), X509Error> {
    let (tag, value, rest) = tlv(input)?;
    if tag != want {
        return Err(X509Error("unexpected element"));
    }
    Ok((value, rest))
}

/// Reads the validity and DNS names of a DER certificate.
pub fn parse(der: &[u8]) -> Result<Info, X509Error> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    let (_, r) = expect(rest, INTEGER)?; // serialNumber
    let (_, r) = expect(r, SEQUENCE)?; // signature algorithm
    let (_, r) = expect(r, SEQUENCE)?; // issuer
    let (validity, r) = expect(r, SEQUENCE)?;
    let (not_before, v) = time(validity)?;
    let (not_after, _) = time(v)?;
    let (_, r) = expect(r, SEQUENCE)?; // subject
    let (_, mut r) = expect(r, SEQUENCE)?; // subjectPublicKeyInfo
    let mut dns_names = Vec::new();
    // issuerUniqueID [1], subjectUniqueID [2], then extensions [3].
    while !r.is_empty() {
        let (tag, value, next) = tlv(r)?;
        if tag == EXTENSIONS {
            let (mut exts, _) = expect(value, SEQUENCE)?;
            while !exts.is_empty() {
                let (ext, next) = expect(exts, SEQUENCE)?;
                san(ext, &mut dns_names)?;
                exts = next;
            }
        }
        r = next;
    }
    Ok(Info {
        not_before,
        not_after,
        dns_names,
    })
}

/// Collects the dNSNames of one extension if it is the subjectAltName.
fn san(ext: &[u8], names: &mut Vec<String>) -> Result<(), X509Error> {
    let (oid, mut r) = expect(ext, OID)?;
    if oid != SAN_OID {
        return Ok(());
    }
    if r.first() == Some(&BOOLEAN) {
        r = tlv(r)?.2;
    }
    let (value, _) = expect(r, OCTET_STRING)?;
    let (mut general, _) = expect(value, SEQUENCE)?;
    while !general.is_empty() {
        let (tag, name, next) = tlv(general)?;
        if tag == DNS_NAME {
            if let Ok(s) = std::str::from_utf8(name) {
                names.push(s.to_ascii_lowercase());
            }
        }
        general = next;
    }
    Ok(())
}

/// A `Time` (RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime after; both in Zulu time
/// with seconds) as Unix seconds, and what follows it.
fn time(input: &[u8]) -> Result<(i64, &[u8]), X509Error> {
    let (tag, v, rest) = tlv(input)?;
    let (year, body) = match (tag, v.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&v[..2])?;
            // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&v[..4])?, &v[4..]),
        _ => return Err(X509Error("bad time")),
    };
    if body.get(10) != Some(&b'Z') {
        return Err(X509Error("time not in UTC"));
    }
    let month = digits(&body[0..2])?;
    let day = digits(&body[2..4])?;
    let hour = digits(&body[4..6])?;
    let minute = digits(&body[6..8])?;
    let second = digits(&body[8..10])?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(X509Error("bad time"));
    }
    if second > 60 {
        return Err(X509Error("bad time"));
    }
    let days = days_from_civil(year, month, day);
    Ok((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

fn digits(d: &[u8]) -> Result<i64, X509Error> {
    d.iter().try_fold(0i64, |n, &b| {
        if b.is_ascii_digit() {
            Ok(n * 10 + i64::from(b - b'0'))
        } else {
            Err(X509Error("bad time"))
        }
    })
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the well-known civil-from-days inverse:
/// years start in March so the leap day is the last of the year).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`, for messages naming a certificate's dates.
pub fn format_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cert(names: &[&str], from: (i32, u8, u8), to: (i32, u8, u8)) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        p.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn dates_and_names_of_a_generated_certificate() {
        let der = cert(
            &["Mail.Example.com", "*.example.net"],
            (2001, 2, 3),
            (2049, 12, 31),
        );
        let info = parse(&der).unwrap();
        assert_eq!(format_time(info.not_before), "2001-02-03 00:00:00 UTC");
        // 2049 is the last UTCTime year; 2050 and later are GeneralizedTime (RFC 5280 4.1.2.5).
        assert_eq!(format_time(info.not_after), "2049-12-31 00:00:00 UTC");
        assert_eq!(info.dns_names, ["mail.example.com", "*.example.net"]);
        let later = parse(&cert(&["a.test"], (1999, 12, 31), (2100, 3, 1))).unwrap();
        assert_eq!(format_time(later.not_before), "1999-12-31 00:00:00 UTC");
        assert_eq!(format_time(later.not_after), "2100-03-01 00:00:00 UTC");
        assert_eq!(later.not_before, 946_598_400);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let der = cert(&["a.test"], (2020, 1, 1), (2030, 1, 1));
        for n in 0..der.len() {
            assert!(parse(&der[..n]).is_err(), "cut at {n}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn never_panics_on_mutated_certificates(at in 0usize..400, byte in any::<u8>()) {
            let mut der = cert(&["a.test"], (2020, 1, 1), (2030, 1, 1));
            let i = at % der.len();
            der[i] = byte;
            let _ = parse(&der);
        }

        #[test]
        fn civil_days_round_trip(t in -10_000_000_000i64..100_000_000_000i64) {
            let s = format_time(t);
            let y: i64 = s[0..4].parse().unwrap_or(0);
            prop_assume!((1000..=9999).contains(&y));
            let m: i64 = s[5..7].parse().unwrap();
            let d: i64 = s[8..10].parse().unwrap();
            let day = days_from_civil(y, m, d);
            prop_assert_eq!(day, t.div_euclid(86_400));
        }
    }
}
