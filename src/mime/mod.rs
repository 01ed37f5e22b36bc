//! Zero-copy MIME structure of a stored message for IMAP (RFC 3501/9051 FETCH): one pass finds every
//! part's header and body as byte ranges of the message (so sections are served from the log's mmap),
//! and the writers build ENVELOPE, BODY and BODYSTRUCTURE from the raw header values.
//!
//! Why not `mail-parser` for the structure: IMAP needs the byte ranges, line counts and raw (undecoded)
//! header values that RFC 3501 7.4.2 defines, with the boundary rules of RFC 2046 5.1.1. mail-parser
//! 0.11 ends a multipart that closes itself two bytes before IMAP's sizes, lists no part for an empty
//! multipart and does not read digest parts as messages (fixtures 10, 11, 15, 20), and decodes every
//! part eagerly: on a 1 MB multipart it took 39 ms where this parse with ENVELOPE and BODYSTRUCTURE
//! takes 0.4 ms (see the commit that added this module). Charsets go through `encoding_rs`, which
//! mail-parser's own full charset support uses.
//!
//! `Message::parse` never panics: nesting depth and the number of parts are bounded ([`MAX_DEPTH`],
//! [`MAX_PARTS`]); past them, parts are leaves.

mod address;
mod binary;
mod bodystructure;
mod date;
mod envelope;
mod header;
mod parse;
mod search;
mod section;
mod text;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

pub use address::Address;
pub use binary::BinaryError;
pub use date::SentDate;
pub use search::LazyMessage;
pub use section::{header_fields, partial, SectionData};
pub use text::{decode_charset, decode_header, FirstAddress};

/// Deepest nesting of multiparts and encapsulated messages parsed; deeper parts are leaves.
pub const MAX_DEPTH: usize = 48;
/// Most parts (nodes) one message yields; later parts of a multipart are not listed.
pub const MAX_PARTS: usize = 10_000;

/// A byte range of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// What a part contains, as far as the structure goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A body that is not split further (text, image, ...; also a multipart past the limits).
    Leaf,
    /// `multipart/*` with its first child; children are chained by `Node::next`.
    Multipart { first: u32 },
    /// `message/rfc822` or `message/global` (RFC 6532): the encapsulated message.
    Message { inner: u32 },
}

/// One MIME part (or a whole message). Raw header values are spans of the message; they are parsed
/// when written, so a node is small and the parse allocates only the node list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// The MIME header, ending with its blank line when it has one (RFC 9051 6.4.5 `MIME`).
    pub header: Span,
    pub body: Span,
    pub kind: Kind,
    /// Next sibling in the parent multipart.
    pub next: Option<u32>,
    /// Content-Type `type` and `subtype` as written; `None` means the default (RFC 2045 5.2:
    /// text/plain; RFC 2046 5.1.5: message/rfc822 inside multipart/digest).
    pub media: Option<(Span, Span)>,
    pub digest_default: bool,
    /// Raw values (after the colon, leading white space skipped) of the fields BODYSTRUCTURE uses.
    pub content_type: Option<Span>,
    pub cte: Option<Span>,
    pub id: Option<Span>,
    pub description: Option<Span>,
    pub disposition: Option<Span>,
    pub language: Option<Span>,
    pub location: Option<Span>,
    pub md5: Option<Span>,
}

impl Node {
    fn empty(at: usize) -> Node {
        Node {
            header: Span::new(at, at),
            body: Span::new(at, at),
            kind: Kind::Leaf,
            next: None,
            media: None,
            digest_default: false,
            content_type: None,
            cte: None,
            id: None,
            description: None,
            disposition: None,
            language: None,
            location: None,
            md5: None,
        }
    }
}

/// What FETCH ENVELOPE, BODY and BODYSTRUCTURE send for one message, in IMAP syntax, and its
/// top-level header (what HEADER and HEADER.FIELDS read). Computed once (one parse), it is all a session
/// needs to answer those items again: `imap::summary` keeps it per shard, keyed by the message's log
/// position, so a second FETCH or a second client does not parse again. A few hundred bytes per
/// message plus the header when that is small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// RFC822.SIZE of the bytes it was computed from (a check that a cached summary fits).
    pub size: usize,
    pub envelope: Box<[u8]>,
    pub body: Box<[u8]>,
    pub body_structure: Box<[u8]>,
    /// The message's header block (RFC 9051 6.4.5 `HEADER`, with its blank line) as a range of the
    /// message.
    pub header: Span,
    /// A copy of those bytes when the header is at most [`Summary::HEADER_COPY_MAX`] long, so HEADER
    /// and HEADER.FIELDS need not read the message; `None` for longer headers.
    pub header_copy: Option<Box<[u8]>>,
    /// The fields of the copy as (start, end of name, end of field with its line break) offsets,
    /// so HEADER.FIELDS picks fields without scanning lines again (empty without a copy).
    pub header_index: Box<[[u16; 3]]>,
}

impl Summary {
    /// Longest header copied into a summary. Most headers are 0.5-3 KB; a long `Received:` chain is
    /// read from the message instead of filling the cache.
    pub const HEADER_COPY_MAX: usize = 4096;

    /// Bytes of memory the summary holds (its boxes and itself).
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Summary>()
            + self.envelope.len()
            + self.body.len()
            + self.body_structure.len()
            + self.header_copy.as_ref().map_or(0, |h| h.len())
            + std::mem::size_of_val(&*self.header_index)
    }

    /// The whole fields (lines and line breaks) of the copied header that HEADER.FIELDS (`not`:
    /// HEADER.FIELDS.NOT) with `names` selects, in order; `None` when the header was not copied
    /// (use [`header_fields`] on the message's bytes).
    pub fn fields_matching<'s, N: AsRef<[u8]>>(
        &'s self,
        names: &'s [N],
        not: bool,
    ) -> Option<impl Iterator<Item = &'s [u8]> + 's> {
        let h = self.header_copy.as_deref()?;
        Some(self.header_index.iter().filter_map(move |&[s, n, e]| {
            let name = h.get(usize::from(s)..usize::from(n))?;
            let listed = names.iter().any(|x| x.as_ref().eq_ignore_ascii_case(name));
            (listed != not).then(|| h.get(usize::from(s)..usize::from(e)))?
        }))
    }

    /// The header block: the copy, or the range of `raw` (the message's bytes) when not copied.
    pub fn header_bytes<'r>(&'r self, raw: &'r [u8]) -> &'r [u8] {
        match &self.header_copy {
            Some(h) => h,
            None => raw.get(self.header.range()).unwrap_or_default(),
        }
    }
}

/// The parsed structure of one message: the node list, free of borrows, so a session can keep it
/// beside the message's log position and rebuild a [`Message`] with [`Message::with_layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    nodes: Vec<Node>,
}

/// A message and its MIME structure. Node 0 is the message itself.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    raw: &'a [u8],
    nodes: Vec<Node>,
}

impl<'a> Message<'a> {
    /// Parses the structure of `raw` (any bytes: never panics, linear in the length times the
    /// nesting depth of boundaries, which is bounded).
    pub fn parse(raw: &'a [u8]) -> Message<'a> {
        Message {
            raw,
            nodes: parse::parse(raw),
        }
    }

    /// The structure, to keep for a later [`Message::with_layout`] on the same bytes.
    pub fn layout(&self) -> Layout {
        Layout {
            nodes: self.nodes.clone(),
        }
    }

    /// A message from its bytes and the layout a parse of the same bytes returned; `None` if the
    /// layout does not fit these bytes (a layout from another message).
    pub fn with_layout(raw: &'a [u8], layout: Layout) -> Option<Message<'a>> {
        let fits = layout.nodes.iter().all(|n| {
            n.header.end <= raw.len() && n.body.end <= raw.len() && n.header.end <= n.body.start
        });
        (fits && !layout.nodes.is_empty()).then_some(Message {
            raw,
            nodes: layout.nodes,
        })
    }

    /// The message bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// RFC822.SIZE: the message as stored.
    pub fn size(&self) -> usize {
        self.raw.len()
    }

    /// ENVELOPE, BODY, BODYSTRUCTURE and the header at once, to keep (see [`Summary`]).
    pub fn summary(&self) -> Summary {
        let header = self.node(0).header;
        let copy = (header.len() <= Summary::HEADER_COPY_MAX)
            .then(|| self.bytes(header).to_vec().into_boxed_slice());
        let header_index = match &copy {
            // Offsets fit u16: the copy is at most HEADER_COPY_MAX (4 KiB) long.
            Some(h) => header::fields(h, Span::new(0, h.len()))
                .filter_map(|f| {
                    let at = |x: usize| u16::try_from(x).ok();
                    Some([at(f.whole.start)?, at(f.name.end)?, at(f.whole.end)?])
                })
                .collect(),
            None => Box::default(),
        };
        Summary {
            size: self.raw.len(),
            envelope: self.envelope().into_boxed_slice(),
            body: self.body_structure(false).into_boxed_slice(),
            body_structure: self.body_structure(true).into_boxed_slice(),
            header,
            header_copy: copy,
            header_index,
        }
    }

    /// BODY[section] for the parser's `Section` (see [`Message::section`]).
    pub fn section_of(&self, s: &crate::imap::types::Section<'_>) -> SectionData {
        self.section(&s.part, s.text.as_ref())
    }

    /// Number of parts (nodes), the message itself included.
    pub fn part_count(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn node(&self, i: u32) -> &Node {
        // Indices come from the parser, which only links nodes it pushed.
        &self.nodes[i as usize]
    }

    pub(crate) fn bytes(&self, s: Span) -> &'a [u8] {
        self.raw.get(s.range()).unwrap_or_default()
    }

    /// Children of a multipart node, in order.
    pub(crate) fn children(&self, i: u32) -> Children<'_, 'a> {
        let next = match self.node(i).kind {
            Kind::Multipart { first } => Some(first),
            _ => None,
        };
        Children { msg: self, next }
    }
}

pub(crate) struct Children<'m, 'a> {
    msg: &'m Message<'a>,
    next: Option<u32>,
}

impl Iterator for Children<'_, '_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let i = self.next?;
        self.next = self.msg.node(i).next;
        Some(i)
    }
}
