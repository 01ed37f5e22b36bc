//! ENVELOPE (RFC 3501 7.4.2, RFC 9051 7.5.2): date, subject, from, sender, reply-to, to, cc, bcc,
//! in-reply-to and message-id of a message's header, undecoded (encoded words stay as written),
//! unfolded (RFC 5322 2.2.3), written with `imap::wire`.

use super::address::{self, Address};
use super::header::{fields, unfold};
use super::{Message, Span};
use crate::imap::wire;

impl<'a> Message<'a> {
    /// The ENVELOPE of the message itself.
    pub fn envelope(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_envelope(&mut out, self.node(0).header);
        out
    }

    /// The raw value of the first field named `name` in the header block `header`.
    pub(crate) fn field_value(&self, header: Span, name: &[u8]) -> Option<&'a [u8]> {
        fields(self.raw, header)
            .find(|f| self.bytes(f.name).eq_ignore_ascii_case(name))
            .map(|f| self.bytes(f.value))
    }

    pub(crate) fn write_envelope(&self, out: &mut Vec<u8>, header: Span) {
        // One pass over the header for the ten fields; the first of each counts.
        const NAMES: [&[u8]; 10] = [
            b"date",
            b"subject",
            b"from",
            b"sender",
            b"reply-to",
            b"to",
            b"cc",
            b"bcc",
            b"in-reply-to",
            b"message-id",
        ];
        let mut v: [Option<&[u8]>; 10] = [None; 10];
        for f in fields(self.raw, header) {
            let name = self.bytes(f.name);
            if let Some(k) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
                if v[k].is_none() {
                    v[k] = Some(self.bytes(f.value));
                }
            }
        }
        let text = |out: &mut Vec<u8>, k: usize| {
            let t = v[k].map(unfold);
            wire::nstring(out, t.as_deref());
        };
        let list = |k: usize| v[k].map(address::parse_list).unwrap_or_default();
        out.push(b'(');
        text(out, 0);
        out.push(b' ');
        text(out, 1);
        let from = list(2);
        out.push(b' ');
        write_addresses(out, &from);
        // RFC 3501 7.4.2: sender and reply-to absent or empty take the value of from.
        for k in [3, 4] {
            out.push(b' ');
            let l = list(k);
            write_addresses(out, if l.is_empty() { &from } else { &l });
        }
        for k in [5, 6, 7] {
            out.push(b' ');
            write_addresses(out, &list(k));
        }
        out.push(b' ');
        text(out, 8);
        out.push(b' ');
        text(out, 9);
        out.push(b')');
    }
}

/// `"(" 1*address ")"` or `NIL` for no address.
fn write_addresses(out: &mut Vec<u8>, list: &[Address<'_>]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        wire::nstring(out, a.name.as_deref());
        out.push(b' ');
        wire::nstring(out, a.adl.as_deref());
        out.push(b' ');
        wire::nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        wire::nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}
