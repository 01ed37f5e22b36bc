//! FETCH responses (RFC 9051 7.5.2, RFC 3501 7.4.2): `* 5 FETCH (UID 9 FLAGS (\Seen) ...)`, built
//! item by item, plus the flag lists and INTERNALDATE shared with other responses.
//!
//! The builder does not hold the output buffer, so between items the caller may flush the buffer and
//! write a large literal's bytes straight from the mmap to the socket ([`FetchResponse::literal`]
//! writes the `NAME {n}` header, the caller the `n` bytes), then go on appending items.

use super::number;
use crate::imap::types::{FetchAttr, Section, SectionText};
use crate::imap::wire;

/// One `* n FETCH (...)` being written.
#[derive(Debug)]
#[must_use = "a FETCH response must be closed with end()"]
pub struct FetchResponse {
    items: usize,
}

impl FetchResponse {
    /// Writes `* seq FETCH (`.
    pub fn begin(out: &mut Vec<u8>, seq: u32) -> FetchResponse {
        out.extend_from_slice(b"* ");
        number(out, seq.into());
        out.extend_from_slice(b" FETCH (");
        FetchResponse { items: 0 }
    }

    /// Starts an item: the separator, `name` and a space; the caller appends the value (ENVELOPE
    /// and BODYSTRUCTURE come pre-encoded from `mime`).
    pub fn item(&mut self, out: &mut Vec<u8>, name: &[u8]) {
        self.sep(out);
        out.extend_from_slice(name);
        out.push(b' ');
    }

    /// Starts the item answering `attr`, named as RFC 9051 7.5.2 says (`BODY[1.TEXT]<0>` for
    /// `BODY.PEEK[1.TEXT]<0.100>`); the caller appends the value.
    pub fn attr(&mut self, out: &mut Vec<u8>, attr: &FetchAttr<'_>) {
        self.sep(out);
        attr_name(out, attr);
        out.push(b' ');
    }

    /// `attr {n}\r\n` (or `~{n}` for BINARY content holding NUL, RFC 3516 4.2): the caller then writes
    /// exactly `n` bytes, from `out` or straight to the stream after flushing `out`.
    pub fn literal(&mut self, out: &mut Vec<u8>, attr: &FetchAttr<'_>, n: usize, literal8: bool) {
        self.attr(out, attr);
        if literal8 {
            out.push(b'~');
        }
        wire::literal_header(out, n);
    }

    /// `attr` followed by its value as an nstring (small sections; `None` is NIL).
    pub fn nstring(&mut self, out: &mut Vec<u8>, attr: &FetchAttr<'_>, value: Option<&[u8]>) {
        self.attr(out, attr);
        wire::nstring(out, value);
    }

    pub fn uid(&mut self, out: &mut Vec<u8>, uid: u32) {
        self.number(out, b"UID", uid.into());
    }

    /// `MODSEQ (n)` (RFC 7162 3.1.4.1).
    pub fn modseq(&mut self, out: &mut Vec<u8>, modseq: u64) {
        self.item(out, b"MODSEQ");
        out.push(b'(');
        number(out, modseq);
        out.push(b')');
    }

    pub fn flags<'f>(&mut self, out: &mut Vec<u8>, flags: impl IntoIterator<Item = &'f str>) {
        self.item(out, b"FLAGS");
        flag_list(out, flags);
    }

    /// `INTERNALDATE "17-Jul-1996 02:44:25 -0700"`.
    pub fn internal_date(&mut self, out: &mut Vec<u8>, unix: i64, offset_minutes: i16) {
        self.item(out, b"INTERNALDATE");
        date_time(out, unix, offset_minutes);
    }

    pub fn rfc822_size(&mut self, out: &mut Vec<u8>, size: u64) {
        self.number(out, b"RFC822.SIZE", size);
    }

    /// `BINARY.SIZE[part] n` (RFC 3516 4.2).
    pub fn binary_size(&mut self, out: &mut Vec<u8>, part: &[u32], size: u64) {
        self.sep(out);
        out.extend_from_slice(b"BINARY.SIZE[");
        part_path(out, part);
        out.extend_from_slice(b"] ");
        number(out, size);
    }

    /// Writes `)\r\n`.
    pub fn end(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b")\r\n");
    }

    fn number(&mut self, out: &mut Vec<u8>, name: &[u8], n: u64) {
        self.item(out, name);
        number(out, n);
    }

    fn sep(&mut self, out: &mut Vec<u8>) {
        if self.items > 0 {
            out.push(b' ');
        }
        self.items += 1;
    }
}

/// The name a FETCH response gives the data of `attr` (RFC 9051 7.5.2 `msg-att`): `.PEEK` dropped,
/// `<origin.count>` shown as `<origin>`.
pub fn attr_name(out: &mut Vec<u8>, attr: &FetchAttr<'_>) {
    let simple: &[u8] = match attr {
        FetchAttr::Flags => b"FLAGS",
        FetchAttr::InternalDate => b"INTERNALDATE",
        FetchAttr::Rfc822Size => b"RFC822.SIZE",
        FetchAttr::Envelope => b"ENVELOPE",
        FetchAttr::Body => b"BODY",
        FetchAttr::BodyStructure => b"BODYSTRUCTURE",
        FetchAttr::Uid => b"UID",
        FetchAttr::ModSeq => b"MODSEQ",
        FetchAttr::Rfc822 => b"RFC822",
        FetchAttr::Rfc822Header => b"RFC822.HEADER",
        FetchAttr::Rfc822Text => b"RFC822.TEXT",
        FetchAttr::Section {
            section, partial, ..
        } => {
            out.extend_from_slice(b"BODY[");
            section_spec(out, section);
            out.push(b']');
            if let Some(p) = partial {
                origin(out, p.origin);
            }
            return;
        }
        FetchAttr::Binary { part, partial, .. } => {
            out.extend_from_slice(b"BINARY[");
            part_path(out, part);
            out.push(b']');
            if let Some(p) = partial {
                origin(out, p.origin);
            }
            return;
        }
        FetchAttr::BinarySize { part } => {
            out.extend_from_slice(b"BINARY.SIZE[");
            part_path(out, part);
            out.push(b']');
            return;
        }
    };
    out.extend_from_slice(simple);
}

fn origin(out: &mut Vec<u8>, origin: u32) {
    out.push(b'<');
    number(out, origin.into());
    out.push(b'>');
}

fn part_path(out: &mut Vec<u8>, part: &[u32]) {
    for (i, p) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        number(out, (*p).into());
    }
}

/// `1.2.HEADER.FIELDS (SUBJECT FROM)` (RFC 9051 9 `section-spec`).
pub fn section_spec(out: &mut Vec<u8>, section: &Section<'_>) {
    part_path(out, &section.part);
    let Some(text) = &section.text else { return };
    if !section.part.is_empty() {
        out.push(b'.');
    }
    match text {
        SectionText::Header => out.extend_from_slice(b"HEADER"),
        SectionText::Text => out.extend_from_slice(b"TEXT"),
        SectionText::Mime => out.extend_from_slice(b"MIME"),
        SectionText::HeaderFields { not, fields } => {
            out.extend_from_slice(if *not {
                b"HEADER.FIELDS.NOT ("
            } else {
                b"HEADER.FIELDS ("
            });
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                wire::astring(out, f);
            }
            out.push(b')');
        }
    }
}

/// `(\Seen $Label1)`. Keywords that are not atoms cannot be written (the parser only accepts atoms,
/// so the store holds none); one that slipped in is left out rather than break the response.
pub fn flag_list<'f>(out: &mut Vec<u8>, flags: impl IntoIterator<Item = &'f str>) {
    out.push(b'(');
    let mut first = true;
    for f in flags {
        if !flag_ok(f) {
            continue;
        }
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(f.as_bytes());
    }
    out.push(b')');
}

/// The system flags set in `bits` (the store's bits, `search::flag::*`), in the order clients show
/// them; chain keywords and, for IMAP4rev1, `\Recent` after them for [`flag_list`].
pub fn system_flags(bits: u8) -> impl Iterator<Item = &'static str> {
    use crate::imap::search::flag;
    [
        (flag::SEEN, "\\Seen"),
        (flag::ANSWERED, "\\Answered"),
        (flag::FLAGGED, "\\Flagged"),
        (flag::DELETED, "\\Deleted"),
        (flag::DRAFT, "\\Draft"),
    ]
    .into_iter()
    .filter(move |(bit, _)| bits & bit != 0)
    .map(|(_, name)| name)
}

/// `flag` (RFC 9051 9): `\` + atom, `\*` (PERMANENTFLAGS), or a keyword atom.
fn flag_ok(f: &str) -> bool {
    match f.strip_prefix('\\') {
        Some("*") => true,
        Some(name) => wire::atom(name.as_bytes()),
        None => wire::atom(f.as_bytes()),
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The instants `date-time` can show: years 0000 to 9999 (`date-year = 4DIGIT`).
const MIN_UNIX: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
const MAX_UNIX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// `"17-Jul-1996 02:44:25 -0700"` (RFC 9051 9 `date-time`): the instant shown in its own zone.
/// The day is `date-day-fixed` (` 7` for single digits). Offsets beyond +-23:59 are clamped, and
/// instants outside years 0000-9999 are shown at the nearest representable one.
pub fn date_time(out: &mut Vec<u8>, unix: i64, offset_minutes: i16) {
    let offset = offset_minutes.clamp(-(23 * 60 + 59), 23 * 60 + 59);
    let local = unix
        .saturating_add(i64::from(offset) * 60)
        .clamp(MIN_UNIX, MAX_UNIX);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    out.push(b'"');
    if d < 10 {
        out.push(b' ');
    }
    number(out, d.into());
    out.push(b'-');
    out.extend_from_slice(MONTHS[(m - 1) as usize]);
    out.push(b'-');
    two(out, (y / 100) as u32);
    two(out, (y % 100) as u32);
    out.push(b' ');
    two(out, (secs / 3600) as u32);
    out.push(b':');
    two(out, (secs / 60 % 60) as u32);
    out.push(b':');
    two(out, (secs % 60) as u32);
    out.push(b' ');
    out.push(if offset < 0 { b'-' } else { b'+' });
    let a = offset.unsigned_abs();
    two(out, u32::from(a / 60));
    two(out, u32::from(a % 60));
    out.push(b'"');
}

fn two(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian (the "civil from
/// days" computation over 400-year eras).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month 1-12, day 1-31) to days since 1970-01-01, the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The instant of an APPEND `date-time` (RFC 9051 6.3.12), as Unix seconds, and its zone offset: what
/// the store keeps as INTERNALDATE. Out-of-range fields (the parser checks them) are not re-checked.
pub fn unix_of(dt: &crate::imap::types::DateTime) -> (i64, i16) {
    let days = days_from_civil(
        i64::from(dt.date.year),
        u32::from(dt.date.month),
        u32::from(dt.date.day),
    );
    let local = days * 86_400
        + i64::from(dt.hour) * 3600
        + i64::from(dt.minute) * 60
        + i64::from(dt.second);
    (local - i64::from(dt.zone_minutes) * 60, dt.zone_minutes)
}
