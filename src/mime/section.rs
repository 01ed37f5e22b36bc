//! FETCH BODY[section]<partial> (RFC 3501 6.4.5, RFC 9051 6.4.5): part numbers resolved to byte
//! ranges of the message, so the shell writes `[]`, `[HEADER]`, `[TEXT]`, `[1.2]` and `[1.2.MIME]`
//! straight from the mmap; `HEADER.FIELDS (...)` and `.NOT` are built.
//!
//! Part numbering: the parts of a message are the parts of its body when that is a multipart, else
//! the message body alone is part 1. A message/rfc822 part's parts are those of the encapsulated
//! message. A part that is neither (a leaf) answers `1` with itself, as Dovecot does (fixture 09:
//! `[2.1]` = `[2]`). A part that does not exist is empty (Dovecot answers `{0}`; the RFCs are silent).

use super::header::fields;
use super::{Kind, Message, Span};
use crate::imap::types::SectionText;
use std::ops::Range;

/// The bytes of a section: a range of the message when the RFC lets us send the stored bytes, or
/// bytes built for `HEADER.FIELDS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionData {
    Range(Range<usize>),
    Built(Vec<u8>),
}

impl SectionData {
    /// The section's bytes, given the message they were resolved on.
    pub fn bytes<'m>(&'m self, raw: &'m [u8]) -> &'m [u8] {
        match self {
            SectionData::Range(r) => raw.get(r.clone()).unwrap_or_default(),
            SectionData::Built(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SectionData::Range(r) => r.len(),
            SectionData::Built(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `<origin.count>` sub-range of this section (see [`partial`]).
    pub fn partial(self, origin: u32, count: u32) -> SectionData {
        let r = partial(self.len(), origin, count);
        match self {
            SectionData::Range(s) => SectionData::Range(s.start + r.start..s.start + r.end),
            SectionData::Built(mut v) => {
                v.truncate(r.end);
                v.drain(..r.start);
                SectionData::Built(v)
            }
        }
    }
}

/// RFC 9051 6.4.5 partial fetch: `count` octets from `origin` of a text `len` long; an origin past the
/// end gives an empty string.
pub fn partial(len: usize, origin: u32, count: u32) -> Range<usize> {
    let start = (origin as usize).min(len);
    start..start.saturating_add(count as usize).min(len)
}

impl Message<'_> {
    /// The node a part path names, `None` if there is no such part. The empty path is the message.
    pub(crate) fn resolve(&self, part: &[u32]) -> Option<u32> {
        let mut cur = 0u32;
        for (k, &n) in part.iter().enumerate() {
            let n = (n as usize).checked_sub(1)?;
            // Walk the sibling chain instead of collecting: part numbers can be large.
            cur = match self.node(cur).kind {
                Kind::Multipart { .. } => self.children(cur).nth(n)?,
                Kind::Message { inner } if k > 0 => match self.node(inner).kind {
                    Kind::Multipart { .. } => self.children(inner).nth(n)?,
                    _ if n == 0 => inner,
                    _ => return None,
                },
                _ if n == 0 => cur,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// BODY[section]: `part` is the part path (empty for the whole message), `text` what of it.
    pub fn section(&self, part: &[u32], text: Option<&SectionText<'_>>) -> SectionData {
        let empty = SectionData::Range(0..0);
        let Some(i) = self.resolve(part) else {
            return empty;
        };
        let n = self.node(i);
        // HEADER, TEXT and HEADER.FIELDS apply to a message: the whole one, or a message/rfc822 part.
        let message = if part.is_empty() {
            Some(0)
        } else if let Kind::Message { inner } = n.kind {
            Some(inner)
        } else {
            None
        };
        match text {
            None if part.is_empty() => SectionData::Range(0..self.raw.len()),
            None => SectionData::Range(n.body.range()),
            Some(SectionText::Mime) if part.is_empty() => empty,
            Some(SectionText::Mime) => SectionData::Range(n.header.range()),
            Some(SectionText::Header) => match message {
                Some(m) => SectionData::Range(self.node(m).header.range()),
                None => empty,
            },
            Some(SectionText::Text) => match message {
                Some(m) => SectionData::Range(self.node(m).body.range()),
                None => empty,
            },
            Some(SectionText::HeaderFields { not, fields }) => match message {
                Some(m) => SectionData::Built(self.header_fields(
                    self.node(m).header,
                    fields.as_slice(),
                    *not,
                )),
                None => empty,
            },
        }
    }

    /// RFC 9051 6.4.5 HEADER.FIELDS / HEADER.FIELDS.NOT of the header block `header`.
    pub(crate) fn header_fields<N: AsRef<[u8]>>(
        &self,
        header: Span,
        names: &[N],
        not: bool,
    ) -> Vec<u8> {
        header_fields(self.raw.get(header.range()).unwrap_or_default(), names, not)
    }
}

/// RFC 9051 6.4.5 HEADER.FIELDS / HEADER.FIELDS.NOT of a header block (`header` is the block alone,
/// as [`super::Summary::header_bytes`] gives it): the fields named (or not named), each with its
/// continuation lines, then the blank line.
pub fn header_fields<N: AsRef<[u8]>>(header: &[u8], names: &[N], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields(header, Span::new(0, header.len())) {
        let name = header.get(f.name.range()).unwrap_or_default();
        let listed = names.iter().any(|n| n.as_ref().eq_ignore_ascii_case(name));
        if listed != not {
            out.extend_from_slice(header.get(f.whole.range()).unwrap_or_default());
            if !out.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}
