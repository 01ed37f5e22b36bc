//! Dot-stuffing of RETR and TOP replies (RFC 1939 3: a line of a multi-line reply that starts with
//! `.` gets one more `.`; the reply ends with `.` alone on a line), over a message handed in chunks
//! (windows of an mmap): a line start may fall at the end of one chunk and its `.` at the start of
//! the next. The stuffer does not copy: it says which ranges of each chunk go out as they are, and
//! where an extra `.` goes, so the caller splices the ranges from the mmap.
//!
//! TOP (RFC 1939 7): the header, the blank line after it, then the first `n` lines of the body.
//! A bare LF ends a line too (a stored message should have CRLF; if one does not, a `.` after a bare
//! LF must still not end the reply early in a lenient client).

use std::ops::Range;

use memchr::memmem::Finder;

/// What to write next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// These bytes of the chunk, unchanged.
    Chunk(Range<usize>),
    /// Bytes of our own (the stuffed `.`, the end of the reply).
    Lit(&'static [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Nothing of the current line seen yet.
    Start,
    /// Only a CR seen (a blank line if LF follows).
    Cr,
    /// Something else seen.
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// RETR: the whole message.
    All,
    /// TOP, in the header.
    Header { body_lines: u32 },
    /// TOP, in the body, this many lines still to send.
    Body { left: u32 },
}

/// The state carried from one chunk to the next.
#[derive(Debug, Clone)]
pub struct Stuffer {
    mode: Mode,
    line: Line,
    /// Everything wanted was sent (TOP's count reached): later chunks are not read.
    done: bool,
    /// The last byte written was LF (or nothing was written).
    ended_lf: bool,
    /// `\n.`: a dot after a line end, found with one pass of memmem in RETR's mode.
    dot_after_lf: Finder<'static>,
}

impl Stuffer {
    /// The whole message (RETR).
    pub fn all() -> Stuffer {
        Stuffer::new(Mode::All)
    }

    /// The header and the first `body_lines` lines of the body (TOP).
    pub fn top(body_lines: u32) -> Stuffer {
        Stuffer::new(Mode::Header { body_lines })
    }

    fn new(mode: Mode) -> Stuffer {
        Stuffer {
            mode,
            line: Line::Start,
            done: false,
            ended_lf: true,
            dot_after_lf: Finder::new(b"\n.").into_owned(),
        }
    }

    /// Everything wanted was written (TOP stopped early); feed nothing more, call [`Stuffer::finish`].
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Writes the next `chunk` of the message as pieces through `emit`; returns the bytes of the
    /// chunk used (all of it, unless TOP's count was reached inside it).
    pub fn feed(&mut self, chunk: &[u8], emit: &mut impl FnMut(Piece)) -> usize {
        if self.done || chunk.is_empty() {
            return 0;
        }
        let used = match self.mode {
            Mode::All => self.feed_all(chunk, emit),
            _ => self.feed_lines(chunk, emit),
        };
        if used > 0 {
            self.ended_lf = chunk[used - 1] == b'\n';
        }
        used
    }

    /// RETR: every `.` at a line start gets another; lines need not be counted.
    fn feed_all(&mut self, chunk: &[u8], emit: &mut impl FnMut(Piece)) -> usize {
        let mut from = 0;
        if self.line == Line::Start && chunk[0] == b'.' {
            emit(Piece::Lit(b"."));
        }
        for i in self.dot_after_lf.find_iter(chunk) {
            // chunk[i] is LF, chunk[i + 1] a dot at a line start: write up to it, then the extra dot.
            emit(Piece::Chunk(from..i + 1));
            emit(Piece::Lit(b"."));
            from = i + 1;
        }
        emit(Piece::Chunk(from..chunk.len()));
        self.line = if chunk[chunk.len() - 1] == b'\n' {
            Line::Start
        } else {
            Line::Text
        };
        chunk.len()
    }

    /// TOP: line by line, to find the header's end and count the body's lines.
    fn feed_lines(&mut self, chunk: &[u8], emit: &mut impl FnMut(Piece)) -> usize {
        let mut from = 0;
        let mut pos = 0;
        if let Mode::Body { left: 0 } = self.mode {
            self.done = true;
            return 0;
        }
        while pos < chunk.len() {
            if self.line == Line::Start && chunk[pos] == b'.' {
                emit(Piece::Chunk(from..pos));
                emit(Piece::Lit(b"."));
                from = pos;
            }
            let Some(lf) = memchr::memchr(b'\n', &chunk[pos..]).map(|i| pos + i) else {
                // The line goes on in the next chunk.
                self.line = match (self.line, &chunk[pos..]) {
                    (Line::Start, b"\r") => Line::Cr,
                    _ => Line::Text,
                };
                pos = chunk.len();
                break;
            };
            let blank = match self.line {
                Line::Start => lf == pos || (lf == pos + 1 && chunk[pos] == b'\r'),
                Line::Cr => lf == pos,
                Line::Text => false,
            };
            pos = lf + 1;
            self.line = Line::Start;
            self.mode = match self.mode {
                Mode::Header { body_lines } if blank => Mode::Body { left: body_lines },
                Mode::Body { left } => Mode::Body {
                    left: left.saturating_sub(1),
                },
                m => m,
            };
            if let Mode::Body { left: 0 } = self.mode {
                self.done = true;
                break;
            }
        }
        emit(Piece::Chunk(from..pos));
        pos
    }

    /// The end of the reply: a line end if the message lacked one, then `.` CRLF.
    pub fn finish(&mut self, emit: &mut impl FnMut(Piece)) {
        if !self.ended_lf {
            emit(Piece::Lit(b"\r\n"));
        }
        emit(Piece::Lit(b".\r\n"));
        self.done = true;
    }
}

/// The stuffed form of `message` in one buffer (tests, benches, small messages).
pub fn stuff_to_vec(mut s: Stuffer, message: &[u8], chunk: usize, out: &mut Vec<u8>) {
    let mut at = 0;
    while at < message.len() && !s.is_done() {
        let end = message.len().min(at + chunk.max(1));
        let c = &message[at..end];
        let used = s.feed(c, &mut |p| match p {
            Piece::Chunk(r) => out.extend_from_slice(&c[r]),
            Piece::Lit(l) => out.extend_from_slice(l),
        });
        at += used;
        if used < c.len() {
            break;
        }
    }
    s.finish(&mut |p| {
        if let Piece::Lit(l) = p {
            out.extend_from_slice(l);
        }
    });
}

#[cfg(test)]
mod tests;
