//! BODY and BODYSTRUCTURE (RFC 3501 7.4.2 / RFC 9051 7.5.2, grammar `body` in 9): the MIME tree with
//! sizes in octets of the body as stored, line counts for text/* and message/rfc822, and, for
//! BODYSTRUCTURE, the extension data (md5, disposition, language, location; multipart parameters).

use super::header::{self, first_token, unfold, Param};
use super::{Kind, Message, Node};
use crate::imap::wire;

impl Message<'_> {
    /// `BODY` (non-extensible, `extension == false`) or `BODYSTRUCTURE` (`true`) of the message.
    pub fn body_structure(&self, extension: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 * self.part_count());
        self.write_body(&mut out, 0, extension);
        out
    }

    fn write_body(&self, out: &mut Vec<u8>, i: u32, ext: bool) {
        let n = self.node(i);
        out.push(b'(');
        match n.kind {
            Kind::Multipart { .. } => {
                for c in self.children(i) {
                    self.write_body(out, c, ext);
                }
                out.push(b' ');
                let sub = n.media.map_or(&b"mixed"[..], |(_, s)| self.bytes(s));
                wire::string(out, sub);
                if ext {
                    out.push(b' ');
                    write_params(out, &self.params(n));
                    self.write_ext_tail(out, n);
                }
            }
            Kind::Message { inner } => {
                let (t, s) = self.media(n);
                self.write_fields(out, n, t, s);
                out.push(b' ');
                self.write_envelope(out, self.node(inner).header);
                out.push(b' ');
                self.write_body(out, inner, ext);
                out.push(b' ');
                out.extend_from_slice(lines(self.bytes(n.body)).to_string().as_bytes());
                if ext {
                    self.write_leaf_ext(out, n);
                }
            }
            Kind::Leaf => {
                let (t, s) = self.media(n);
                self.write_fields(out, n, t, s);
                if t.eq_ignore_ascii_case(b"text") {
                    out.push(b' ');
                    out.extend_from_slice(lines(self.bytes(n.body)).to_string().as_bytes());
                }
                if ext {
                    self.write_leaf_ext(out, n);
                }
            }
        }
        out.push(b')');
    }

    /// The type and subtype to write. Defaults per RFC 2045 5.2 / RFC 2046 5.1.5; a multipart or
    /// message that was not parsed as one (past the limits, no boundary) goes out as
    /// application/octet-stream, since a client reads `"multipart"` or `"message" "rfc822"` as the
    /// start of a structure that is not there.
    fn media(&self, n: &Node) -> (&[u8], &[u8]) {
        let (t, s) = match n.media {
            Some((t, s)) => (self.bytes(t), self.bytes(s)),
            None if n.digest_default => (&b"message"[..], &b"rfc822"[..]),
            None => (&b"text"[..], &b"plain"[..]),
        };
        let structured = matches!(n.kind, Kind::Message { .. });
        let claims = t.eq_ignore_ascii_case(b"multipart")
            || (t.eq_ignore_ascii_case(b"message")
                && (s.eq_ignore_ascii_case(b"rfc822") || s.eq_ignore_ascii_case(b"global")));
        if claims && !structured {
            (&b"application"[..], &b"octet-stream"[..])
        } else {
            (t, s)
        }
    }

    fn params(&self, n: &Node) -> Vec<Param<'_>> {
        let Some(ct) = n.content_type else {
            return Vec::new();
        };
        let v = self.bytes(ct);
        match header::media_type(v) {
            Some((_, _, rest)) => header::params(&v[rest..]),
            None => Vec::new(),
        }
    }

    /// `body-fields`: type, subtype, parameters, id, description, encoding, octets.
    fn write_fields(&self, out: &mut Vec<u8>, n: &Node, t: &[u8], s: &[u8]) {
        wire::string(out, t);
        out.push(b' ');
        wire::string(out, s);
        out.push(b' ');
        let mut params = self.params(n);
        // A text part without parameters is us-ascii (RFC 2045 5.2); Dovecot says so explicitly.
        if params.is_empty() && t.eq_ignore_ascii_case(b"text") {
            params.push(Param {
                name: b"charset"[..].into(),
                value: b"us-ascii"[..].into(),
            });
        }
        write_params(out, &params);
        out.push(b' ');
        self.nstring_field(out, n.id);
        out.push(b' ');
        self.nstring_field(out, n.description);
        out.push(b' ');
        let enc = n.cte.and_then(|c| first_token(self.bytes(c)));
        wire::string(out, enc.unwrap_or(b"7bit"));
        out.push(b' ');
        out.extend_from_slice(n.body.len().to_string().as_bytes());
    }

    fn nstring_field(&self, out: &mut Vec<u8>, v: Option<super::Span>) {
        let v = v.map(|s| unfold(self.bytes(s)));
        wire::nstring(out, v.as_deref());
    }

    /// `body-ext-1part`: md5, then the tail shared with multiparts.
    fn write_leaf_ext(&self, out: &mut Vec<u8>, n: &Node) {
        out.push(b' ');
        self.nstring_field(out, n.md5);
        self.write_ext_tail(out, n);
    }

    /// Disposition, language, location.
    fn write_ext_tail(&self, out: &mut Vec<u8>, n: &Node) {
        out.push(b' ');
        match n
            .disposition
            .and_then(|d| header::disposition(self.bytes(d)))
        {
            Some((t, params)) => {
                out.push(b'(');
                wire::string(out, t);
                out.push(b' ');
                write_params(out, &params);
                out.push(b')');
            }
            None => out.extend_from_slice(b"NIL"),
        }
        out.push(b' ');
        let langs = n
            .language
            .map(|l| header::languages(self.bytes(l)))
            .unwrap_or_default();
        if langs.is_empty() {
            out.extend_from_slice(b"NIL");
        } else {
            out.push(b'(');
            for (k, l) in langs.iter().enumerate() {
                if k > 0 {
                    out.push(b' ');
                }
                wire::string(out, l);
            }
            out.push(b')');
        }
        out.push(b' ');
        self.nstring_field(out, n.location);
    }
}

/// `body-fld-param`: `("name" "value" ...)` or `NIL`.
fn write_params(out: &mut Vec<u8>, params: &[Param<'_>]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (k, p) in params.iter().enumerate() {
        if k > 0 {
            out.push(b' ');
        }
        wire::string(out, &p.name);
        out.push(b' ');
        wire::string(out, &p.value);
    }
    out.push(b')');
}

/// `body-fld-lines`: the line breaks in the body as stored (a last line without one is not counted,
/// as in Dovecot's answers).
pub(crate) fn lines(body: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', body).count()
}
