//! The one-pass structure parser: header blocks, multipart boundaries (RFC 2046 5.1.1) with every
//! open boundary active at once (an outer boundary ends unterminated inner parts), encapsulated
//! messages (RFC 2046 5.2.1), bounded depth and part count.
//!
//! Where a part ends: RFC 2046 5.1.1 gives the line break before a delimiter line to the delimiter,
//! so a part's body stops before it. A multipart whose close delimiter line was already read keeps
//! that line's break (its epilogue is then empty), as Dovecot does: the fixtures' sizes depend on it.

use super::header::{self, fields, line_end};
use super::{Kind, Node, Span, MAX_DEPTH, MAX_PARTS};
use memchr::memmem;

/// Where scanning for the end of a part stopped.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Eof,
    /// A delimiter line of the open multipart at `level` (0 = outermost) starts at `line`; `next` is
    /// just past its line break.
    Boundary {
        level: usize,
        close: bool,
        line: usize,
        next: usize,
    },
}

struct Parser<'a> {
    raw: &'a [u8],
    nodes: Vec<Node>,
    /// The boundaries of the open multiparts, outermost first.
    bounds: Vec<&'a [u8]>,
    finder: memmem::Finder<'static>,
}

pub(crate) fn parse(raw: &[u8]) -> Vec<Node> {
    let mut p = Parser {
        raw,
        nodes: Vec::with_capacity(4),
        bounds: Vec::new(),
        finder: memmem::Finder::new(b"\n--"),
    };
    p.part(0, 0, false);
    p.nodes
}

impl<'a> Parser<'a> {
    /// Parses the part (MIME header, then body) starting at `pos`; returns its index, where it ends and
    /// where the scan stopped.
    fn part(&mut self, pos: usize, depth: usize, in_digest: bool) -> (u32, usize, Stop) {
        let idx = self.nodes.len() as u32;
        let mut node = Node::empty(pos);
        node.digest_default = in_digest;
        let (header_end, cut) = self.header_end(pos);
        node.header = Span::new(pos, header_end);
        self.read_fields(&mut node);
        node.body = Span::new(header_end, header_end);
        self.nodes.push(node);
        if let Some(stop) = cut {
            // A delimiter inside the header: the part has no body.
            self.finish_empty_multipart(idx, header_end);
            return (idx, header_end, stop);
        }
        let class = self.classify(idx, depth);
        let (end, stop) = match class {
            Class::Multipart(boundary) => self.multipart(idx, header_end, boundary, depth),
            Class::Message => {
                let (inner, end, stop) = self.part(header_end, depth + 1, false);
                self.nodes[idx as usize].kind = Kind::Message { inner };
                (end, stop)
            }
            Class::Leaf => {
                let stop = self.scan(header_end);
                (self.end_before(stop, header_end), stop)
            }
        };
        self.nodes[idx as usize].body = Span::new(header_end, end);
        (idx, end, stop)
    }

    fn multipart(
        &mut self,
        idx: u32,
        body: usize,
        boundary: &'a [u8],
        depth: usize,
    ) -> (usize, Stop) {
        let digest = self.nodes[idx as usize]
            .media
            .is_some_and(|(_, s)| self.raw[s.range()].eq_ignore_ascii_case(b"digest"));
        self.bounds.push(boundary);
        let level = self.bounds.len() - 1;
        let mut last: Option<u32> = None;
        let mut floor = body;
        let mut stop = self.scan(body);
        let stop = loop {
            match stop {
                Stop::Boundary {
                    level: l,
                    close: false,
                    next,
                    ..
                } if l == level => {
                    if self.nodes.len() >= MAX_PARTS {
                        // Too many parts: the rest of this multipart is skipped, not listed.
                        stop = self.scan(next);
                        continue;
                    }
                    let (child, end, s) = self.part(next, depth + 1, digest);
                    match last {
                        Some(prev) => self.nodes[prev as usize].next = Some(child),
                        None => self.nodes[idx as usize].kind = Kind::Multipart { first: child },
                    }
                    last = Some(child);
                    floor = end;
                    stop = s;
                }
                Stop::Boundary {
                    level: l,
                    close: true,
                    next,
                    ..
                } if l == level => {
                    // The epilogue: only outer boundaries end it.
                    self.bounds.truncate(level);
                    floor = next;
                    break self.scan(next);
                }
                other => {
                    self.bounds.truncate(level);
                    break other;
                }
            }
        };
        if last.is_none() {
            self.finish_empty_multipart(idx, body);
        }
        (self.end_before(stop, floor), stop)
    }

    /// RFC 3501 `body-type-mpart` needs at least one part: a multipart without any gets one empty
    /// text/plain part (Dovecot does the same, fixture 15).
    fn finish_empty_multipart(&mut self, idx: u32, at: usize) {
        if !matches!(self.nodes[idx as usize].kind, Kind::Leaf) || !self.is_multipart_type(idx) {
            return;
        }
        if self.nodes.len() >= MAX_PARTS {
            return;
        }
        let child = self.nodes.len() as u32;
        self.nodes.push(Node::empty(at));
        self.nodes[idx as usize].kind = Kind::Multipart { first: child };
    }

    fn is_multipart_type(&self, idx: u32) -> bool {
        self.nodes[idx as usize]
            .media
            .is_some_and(|(t, _)| self.raw[t.range()].eq_ignore_ascii_case(b"multipart"))
    }

    fn classify(&self, idx: u32, depth: usize) -> Class<'a> {
        let n = &self.nodes[idx as usize];
        if depth >= MAX_DEPTH || self.nodes.len() >= MAX_PARTS {
            return Class::Leaf;
        }
        let Some((t, s)) = n.media else {
            return if n.digest_default {
                Class::Message
            } else {
                Class::Leaf
            };
        };
        let (t, s) = (&self.raw[t.range()], &self.raw[s.range()]);
        if t.eq_ignore_ascii_case(b"multipart") {
            let Some(ct) = n.content_type else {
                return Class::Leaf;
            };
            let v = &self.raw[ct.range()];
            let boundary = header::media_type(v).and_then(|(_, _, rest)| {
                header::params(&v[rest..])
                    .into_iter()
                    .find(|p| p.name.eq_ignore_ascii_case(b"boundary"))
            });
            return match boundary {
                // The boundary must borrow from the message; a quoted value with escapes is rare
                // enough to be found by its unquoted text in the header.
                Some(p) if !p.value.is_empty() => match memmem::find(v, &p.value) {
                    Some(at) => {
                        Class::Multipart(&self.raw[ct.start + at..ct.start + at + p.value.len()])
                    }
                    None => Class::Leaf,
                },
                _ => Class::Leaf,
            };
        }
        if t.eq_ignore_ascii_case(b"message")
            && (s.eq_ignore_ascii_case(b"rfc822") || s.eq_ignore_ascii_case(b"global"))
        {
            return Class::Message;
        }
        Class::Leaf
    }

    /// Records the raw values of the MIME fields BODYSTRUCTURE uses (the first of each).
    fn read_fields(&self, node: &mut Node) {
        for f in fields(self.raw, node.header) {
            let name = &self.raw[f.name.range()];
            if name.len() < 10 || !name[..8].eq_ignore_ascii_case(b"content-") {
                continue;
            }
            let slot = match &name[8..] {
                n if n.eq_ignore_ascii_case(b"type") => &mut node.content_type,
                n if n.eq_ignore_ascii_case(b"transfer-encoding") => &mut node.cte,
                n if n.eq_ignore_ascii_case(b"id") => &mut node.id,
                n if n.eq_ignore_ascii_case(b"description") => &mut node.description,
                n if n.eq_ignore_ascii_case(b"disposition") => &mut node.disposition,
                n if n.eq_ignore_ascii_case(b"language") => &mut node.language,
                n if n.eq_ignore_ascii_case(b"location") => &mut node.location,
                n if n.eq_ignore_ascii_case(b"md5") => &mut node.md5,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(f.value);
            }
        }
        if let Some(ct) = node.content_type {
            if let Some((t, s, _)) = header::media_type(&self.raw[ct.range()]) {
                node.media = Some((
                    Span::new(ct.start + t.start, ct.start + t.end),
                    Span::new(ct.start + s.start, ct.start + s.end),
                ));
            }
        }
    }

    /// End of the header block starting at `pos`: just past its blank line, or the end of the
    /// message; or a delimiter line of an open multipart met before any blank line.
    fn header_end(&self, pos: usize) -> (usize, Option<Stop>) {
        let raw = self.raw;
        let mut ls = pos;
        while ls < raw.len() {
            match raw[ls] {
                b'\n' => return (ls + 1, None),
                b'\r' if raw.get(ls + 1) == Some(&b'\n') => return (ls + 2, None),
                b'-' if !self.bounds.is_empty() => {
                    if let Some(stop) = self.boundary_at(ls) {
                        return (ls, Some(stop));
                    }
                }
                _ => {}
            }
            ls = line_end(raw, ls, raw.len());
        }
        (raw.len(), None)
    }

    /// The next delimiter line of any open multipart at or after the line start `from`.
    fn scan(&self, from: usize) -> Stop {
        if self.bounds.is_empty() {
            return Stop::Eof;
        }
        if let Some(stop) = self.boundary_at(from) {
            return stop;
        }
        let mut at = from;
        while let Some(i) = self.raw.get(at..).and_then(|s| self.finder.find(s)) {
            let line = at + i + 1;
            if let Some(stop) = self.boundary_at(line) {
                return stop;
            }
            at = line;
        }
        Stop::Eof
    }

    /// Is the line at `ls` a delimiter (`--boundary` then white space) or close delimiter
    /// (`--boundary--`) of an open multipart? The innermost match wins.
    fn boundary_at(&self, ls: usize) -> Option<Stop> {
        let line = self.raw.get(ls..)?.strip_prefix(b"--")?;
        for (level, b) in self.bounds.iter().enumerate().rev() {
            let Some(rest) = line.strip_prefix(*b) else {
                continue;
            };
            let next = line_end(self.raw, ls + 2 + b.len(), self.raw.len());
            if rest.starts_with(b"--") {
                return Some(Stop::Boundary {
                    level,
                    close: true,
                    line: ls,
                    next,
                });
            }
            let tail = &self.raw[ls + 2 + b.len()..next];
            if tail
                .iter()
                .all(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            {
                return Some(Stop::Boundary {
                    level,
                    close: false,
                    line: ls,
                    next,
                });
            }
        }
        None
    }

    /// Where content ends when the scan stopped at `stop`: before the line break that precedes the
    /// delimiter line, but never before `floor`.
    fn end_before(&self, stop: Stop, floor: usize) -> usize {
        match stop {
            Stop::Eof => self.raw.len(),
            Stop::Boundary { line, .. } => {
                let mut end = line;
                if end > 0 && self.raw[end - 1] == b'\n' {
                    end -= 1;
                    if end > 0 && self.raw[end - 1] == b'\r' {
                        end -= 1;
                    }
                }
                end.max(floor)
            }
        }
    }
}

enum Class<'a> {
    Leaf,
    Multipart(&'a [u8]),
    Message,
}
