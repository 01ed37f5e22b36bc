//! Until `crate::mime` (the MIME helper's module) is on main: the top-level sections FETCH can serve
//! without a MIME parser (`[]`, `[HEADER]`, `[TEXT]`, `[HEADER.FIELDS (...)]`). ENVELOPE,
//! BODYSTRUCTURE and part numbers wait for `crate::mime`; the session refuses them meanwhile.

use std::ops::Range;

use super::super::types::SectionText;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SectionData {
    Range(Range<usize>),
    Built(Vec<u8>),
}

impl SectionData {
    pub(crate) fn bytes<'m>(&'m self, raw: &'m [u8]) -> &'m [u8] {
        match self {
            SectionData::Range(r) => raw.get(r.clone()).unwrap_or_default(),
            SectionData::Built(v) => v,
        }
    }

    fn len(&self) -> usize {
        match self {
            SectionData::Range(r) => r.len(),
            SectionData::Built(v) => v.len(),
        }
    }

    pub(crate) fn partial(self, origin: u32, count: u32) -> SectionData {
        let r = partial(self.len(), origin, count);
        match self {
            SectionData::Range(s) => SectionData::Range(s.start + r.start..s.start + r.end),
            SectionData::Built(v) => SectionData::Built(v[r].to_vec()),
        }
    }
}

/// RFC 9051 6.4.5: `count` octets from `origin`; past the end is empty.
pub(crate) fn partial(len: usize, origin: u32, count: u32) -> Range<usize> {
    let start = (origin as usize).min(len);
    let end = start.saturating_add(count as usize).min(len);
    start..end
}

/// Where the header ends (after its blank line) in `raw`.
fn header_end(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        let line_end = memchr::memchr(b'\n', &raw[i..]).map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return line_end;
        }
        i = line_end;
    }
    raw.len()
}

/// The top-level section of `raw`; `None` for what needs the MIME structure.
pub(crate) fn section(
    raw: &[u8],
    part: &[u32],
    text: Option<&SectionText<'_>>,
) -> Option<SectionData> {
    if !part.is_empty() {
        return None;
    }
    let end = header_end(raw);
    Some(match text {
        None => SectionData::Range(0..raw.len()),
        Some(SectionText::Header) => SectionData::Range(0..end),
        Some(SectionText::Text) => SectionData::Range(end..raw.len()),
        Some(SectionText::Mime) => return None,
        Some(SectionText::HeaderFields { not, fields }) => {
            // RFC 9051 6.4.5: the named fields (folded lines kept), then the blank line.
            let mut out = Vec::new();
            let head = &raw[..end];
            let mut i = 0;
            let mut keep = false;
            while i < head.len() {
                let line_end = memchr::memchr(b'\n', &head[i..]).map_or(head.len(), |p| i + p + 1);
                let line = &head[i..line_end];
                if line == b"\r\n" || line == b"\n" {
                    break;
                }
                if !matches!(line.first(), Some(b' ' | b'\t')) {
                    let name = line.split(|&b| b == b':').next().unwrap_or_default();
                    let named = fields
                        .iter()
                        .any(|f| f.eq_ignore_ascii_case(name.trim_ascii()));
                    keep = named != *not;
                }
                if keep {
                    out.extend_from_slice(line);
                }
                i = line_end;
            }
            out.extend_from_slice(b"\r\n");
            SectionData::Built(out)
        }
    })
}
