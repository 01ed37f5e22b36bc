//! The session's response shapes, as a thin adapter over the response encoder [`crate::imap::reply`]
//! (one writer per thing): the session names response codes as strings (`"TRYCREATE"`,
//! `"COPYUID 7 1:3 10:12"`), which go out as the encoder's codes; text goes through the encoder's
//! sanitizing (RFC 9051 9 `text`: one line; 7-bit unless the client enabled IMAP4rev2 or
//! UTF8=ACCEPT), dates through its clamped `date-time`.

use super::super::backend::{self, Message};
use super::super::reply::{self as enc, fetch, Code, TextMode};
use super::super::wire;

/// Tagged or untagged status (RFC 9051 7.1): the encoder's condition.
pub(crate) type Status = enc::Cond;

/// `"ATOM rest"` as the encoder's code: the atom, and what follows it as the code's text.
fn code(code: &str) -> Option<Code<'_>> {
    if code.is_empty() {
        return None;
    }
    Some(match code.split_once(' ') {
        Some((atom, rest)) => Code::Other(atom, Some(rest)),
        None => Code::Other(code, None),
    })
}

/// `tag OK [code] text\r\n`; `code` is written as given (without brackets), empty for none. Text
/// is 7-bit: right for every client.
pub(crate) fn tagged(out: &mut Vec<u8>, tag: &str, status: Status, c: &str, text: &str) {
    enc::tagged(out, tag, status, code(c).as_ref(), text);
}

/// [`tagged`], with UTF-8 text when `utf8` (IMAP4rev2 or UTF8=ACCEPT enabled).
pub(crate) fn tagged_text(
    out: &mut Vec<u8>,
    utf8: bool,
    tag: &str,
    status: Status,
    c: &str,
    text: &str,
) {
    enc::tagged_in(out, mode(utf8), tag, status, code(c).as_ref(), text);
}

/// `* OK [code] text\r\n`
pub(crate) fn untagged(out: &mut Vec<u8>, status: Status, c: &str, text: &str) {
    enc::untagged(out, status, code(c).as_ref(), text);
}

fn mode(utf8: bool) -> TextMode {
    if utf8 {
        TextMode::Utf8
    } else {
        TextMode::Ascii
    }
}

/// `* BYE text\r\n` (RFC 9051 7.1.5).
pub(crate) fn bye(out: &mut Vec<u8>, text: &str) {
    enc::bye(out, None, text);
}

/// `(\Seen \Answered \Recent kw ...)`: `\Recent` (IMAP4rev1 only) after the system flags.
pub(crate) fn flag_list<'k>(out: &mut Vec<u8>, system: u8, keywords: &[&'k str], recent: bool) {
    let system = fetch::system_flags(system).map(|f| -> &'k str { f });
    fetch::flag_list(
        out,
        system
            .chain(recent.then_some("\\Recent"))
            .chain(keywords.iter().copied()),
    );
}

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    fetch::days_from_civil(year, month, day)
}

/// INTERNALDATE as `"17-Jul-1996 02:44:25 -0700"` (RFC 9051 9 `date-time`), in the zone the
/// message arrived with; instants and zones beyond what the syntax can show are clamped.
pub(crate) fn date_time(out: &mut Vec<u8>, unix: i64, zone_minutes: i16) {
    fetch::date_time(out, unix, zone_minutes);
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
    fn dates_print_in_their_zone_and_extremes_do_not_overflow() {
        let mut out = Vec::new();
        // 1996-07-17 09:44:25 UTC at -0700.
        date_time(&mut out, 837_596_665, -420);
        assert_eq!(out, b"\"17-Jul-1996 02:44:25 -0700\"");
        out.clear();
        date_time(&mut out, 0, 0);
        assert_eq!(out, b"\" 1-Jan-1970 00:00:00 +0000\"");
        // The stopgap computed `unix + zone * 60` and overflowed here (a panic in debug builds).
        for (unix, zone) in [(i64::MAX, i16::MAX), (i64::MIN, i16::MIN), (i64::MAX, 0)] {
            out.clear();
            date_time(&mut out, unix, zone);
            assert_eq!(out.len(), 28, "{}", String::from_utf8_lossy(&out));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn status_text_never_breaks_the_line_and_is_7bit_unless_utf8_is_on() {
        let mut out = Vec::new();
        tagged(&mut out, "a1", Status::No, "TRYCREATE", "no\r\nsuch");
        assert_eq!(out, b"a1 NO [TRYCREATE] no??such\r\n");
        out.clear();
        tagged(&mut out, "a2", Status::No, "", "Mailbox Entwürfe not found");
        assert_eq!(out, b"a2 NO Mailbox Entw??rfe not found\r\n");
        out.clear();
        tagged_text(&mut out, true, "a3", Status::No, "", "Mailbox Entwürfe\r\n");
        assert_eq!(out, "a3 NO Mailbox Entwürfe??\r\n".as_bytes());
        out.clear();
        untagged(&mut out, Status::Ok, "COPYUID 7 1:3 10:12", "done");
        assert_eq!(out, b"* OK [COPYUID 7 1:3 10:12] done\r\n");
        out.clear();
        // A code's text cannot close the code early.
        untagged(&mut out, Status::Ok, "X-ODD a]b", "t");
        assert_eq!(out, b"* OK [X-ODD a?b] t\r\n");
    }

    #[test]
    fn flags_keep_the_sessions_order() {
        let mut out = Vec::new();
        flag_list(
            &mut out,
            backend::SEEN | backend::FLAGGED,
            &["$Label1"],
            true,
        );
        assert_eq!(out, b"(\\Seen \\Flagged \\Recent $Label1)");
    }
}
