//! SORT (RFC 5256 3, with DISPLAYFROM/DISPLAYTO of RFC 5957): the keys of each matching message are
//! taken once ([`SortKeys::of`], reading the content only when a criterion needs it), then sorted;
//! messages equal under every criterion stay in mailbox order (RFC 5256 3: "sorted in the order ...
//! of the message sequence numbers"). Strings compare with SORT's default comparator,
//! `i;ascii-casemap` (RFC 5256 3, RFC 4790 9.2): ASCII letters upper-cased, everything else by octet
//! (UTF-8 octet order is code point order). Upper, not lower: `_` sorts after `A` as it does there.

pub mod subject;

use std::cmp::Ordering;

use super::search::{Address, Candidate, Content};
use super::types::{SortCriterion, SortKey};
pub use subject::{base_subject, BaseSubject};

/// The sort keys of one message: only those the criteria name are filled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortKeys {
    pub seq: u32,
    pub uid: u32,
    /// INTERNALDATE, seconds since the epoch (ARRIVAL).
    pub arrival: i64,
    /// The sent date in UTC (RFC 5256 2.2: the Date: header, else INTERNALDATE).
    pub date: i64,
    pub size: u64,
    /// Strings in `i;ascii-casemap` form: FROM/TO/CC addr-mailbox, DISPLAYFROM/DISPLAYTO, base subject.
    pub from: String,
    pub to: String,
    pub cc: String,
    pub display_from: String,
    pub display_to: String,
    pub subject: String,
}

impl SortKeys {
    /// The keys `criteria` need from `c`.
    pub fn of<C: Candidate + ?Sized>(criteria: &[SortCriterion], c: &C) -> SortKeys {
        let mut k = SortKeys {
            seq: c.seq(),
            uid: c.uid(),
            ..SortKeys::default()
        };
        for crit in criteria {
            match crit.key {
                SortKey::Arrival => k.arrival = c.internal_date().unix,
                SortKey::Size => k.size = c.size(),
                SortKey::Date => k.date = sent_date(c),
                SortKey::From => k.from = mailbox_of(c, "From"),
                SortKey::To => k.to = mailbox_of(c, "To"),
                SortKey::Cc => k.cc = mailbox_of(c, "Cc"),
                SortKey::DisplayFrom => k.display_from = display_of(c, "From"),
                SortKey::DisplayTo => k.display_to = display_of(c, "To"),
                SortKey::Subject => {
                    k.subject = c
                        .content()
                        .and_then(|ct| ct.header_values("Subject").into_iter().next())
                        .map(|s| casemap(&base_subject(&s).text))
                        .unwrap_or_default();
                }
            }
        }
        k
    }

    fn compare(&self, other: &SortKeys, key: SortKey) -> Ordering {
        match key {
            SortKey::Arrival => self.arrival.cmp(&other.arrival),
            SortKey::Size => self.size.cmp(&other.size),
            SortKey::Date => self.date.cmp(&other.date),
            SortKey::From => self.from.cmp(&other.from),
            SortKey::To => self.to.cmp(&other.to),
            SortKey::Cc => self.cc.cmp(&other.cc),
            SortKey::DisplayFrom => self.display_from.cmp(&other.display_from),
            SortKey::DisplayTo => self.display_to.cmp(&other.display_to),
            SortKey::Subject => self.subject.cmp(&other.subject),
        }
    }
}

/// `i;ascii-casemap` (RFC 4790 9.2): the string with ASCII letters upper-cased, compared by octets.
pub fn casemap(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// RFC 5256 2.2: the Date: header converted to UTC, or INTERNALDATE when it is missing or unparseable.
pub fn sent_date<C: Candidate + ?Sized>(c: &C) -> i64 {
    c.content()
        .and_then(Content::sent_date)
        .unwrap_or_else(|| c.internal_date())
        .unix
}

/// RFC 5256 3 FROM/TO/CC: the `addr-mailbox` of the first address; empty when there is none.
fn mailbox_of<C: Candidate + ?Sized>(c: &C, field: &str) -> String {
    c.content()
        .and_then(|ct| ct.first_address(field))
        .and_then(|a| a.mailbox.map(|m| casemap(&m)))
        .unwrap_or_default()
}

/// RFC 5957 3: the first address's display name when it has a non-empty one, else its `mailbox@host`;
/// empty when there is no address.
fn display_of<C: Candidate + ?Sized>(c: &C, field: &str) -> String {
    c.content()
        .and_then(|ct| ct.first_address(field))
        .map(|a| casemap(&display_name(&a)))
        .unwrap_or_default()
}

fn display_name(a: &Address<'_>) -> String {
    if let Some(name) = a.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        return name.to_string();
    }
    match (a.mailbox.as_deref(), a.host.as_deref()) {
        (Some(m), Some(h)) if !h.is_empty() => format!("{m}@{h}"),
        (Some(m), _) => m.to_string(),
        (None, _) => String::new(),
    }
}

/// Sorts by the criteria in order, each reversed when asked (REVERSE applies to the key after it
/// only), ties by sequence number.
pub fn sort(criteria: &[SortCriterion], keys: &mut [SortKeys]) {
    keys.sort_by(|a, b| {
        for crit in criteria {
            let o = a.compare(b, crit.key);
            let o = if crit.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.seq.cmp(&b.seq)
    });
}

#[cfg(test)]
mod tests;
