//! Address lists (RFC 5322 3.4, with the obsolete routes of 4.4) as the ENVELOPE sees them
//! (RFC 3501 7.4.2): each mailbox as name, source route, local part and domain, undecoded; groups as a
//! start marker (name only) and an end marker (all NIL).

use super::header::Cursor;
use std::borrow::Cow;

/// One ENVELOPE `address`. A group start has only `mailbox` (the group name); a group end has nothing.
/// A mailbox without a domain has `host` `Some("")`: `NIL` there would mark a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address<'a> {
    pub name: Option<Cow<'a, [u8]>>,
    pub adl: Option<Cow<'a, [u8]>>,
    pub mailbox: Option<Cow<'a, [u8]>>,
    pub host: Option<Cow<'a, [u8]>>,
}

impl Address<'_> {
    pub fn is_group_start(&self) -> bool {
        self.host.is_none() && self.mailbox.is_some()
    }
    pub fn is_group_end(&self) -> bool {
        self.host.is_none() && self.mailbox.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    /// An atom or dot-atom as written.
    Atom(&'a [u8]),
    /// A quoted string: its unescaped content and its raw text with the quotes.
    Quoted(Cow<'a, [u8]>, &'a [u8]),
    Comment(&'a [u8]),
    /// `[...]` as written.
    Literal(&'a [u8]),
    Special(u8),
}

fn tokens(v: &[u8]) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut c = Cursor::new(v);
    while let Some(b) = c.peek() {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => c.pos += 1,
            b'(' => out.push(Tok::Comment(c.comment())),
            b'"' => {
                let start = c.pos;
                let q = c.quoted();
                out.push(Tok::Quoted(q, &v[start..c.pos]));
            }
            b'[' => {
                let start = c.pos;
                while let Some(b) = c.peek() {
                    c.pos += 1;
                    if b == b']' {
                        break;
                    }
                    if b == b'\\' {
                        c.pos += 1;
                    }
                }
                c.pos = c.pos.min(v.len());
                out.push(Tok::Literal(&v[start..c.pos]));
            }
            b'<' | b'>' | b',' | b':' | b';' | b'@' => {
                c.pos += 1;
                out.push(Tok::Special(b));
            }
            _ => {
                let start = c.pos;
                while c.peek().is_some_and(|b| {
                    !matches!(
                        b,
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'('
                            | b'"'
                            | b'['
                            | b'<'
                            | b'>'
                            | b','
                            | b':'
                            | b';'
                            | b'@'
                    )
                }) {
                    c.pos += 1;
                }
                out.push(Tok::Atom(&v[start..c.pos]));
            }
        }
    }
    out
}

/// Parses an address-list header value into ENVELOPE addresses.
pub(crate) fn parse_list(v: &[u8]) -> Vec<Address<'_>> {
    let toks = tokens(v);
    let mut out = Vec::new();
    let mut cur: Vec<Tok<'_>> = Vec::new();
    let mut in_angle = false;
    let mut in_group = false;
    for t in toks {
        match t {
            Tok::Special(b'<') => {
                in_angle = true;
                cur.push(t);
            }
            Tok::Special(b'>') => {
                in_angle = false;
                cur.push(t);
            }
            Tok::Special(b':') if !in_angle && !in_group && !has_at(&cur) => {
                out.push(Address {
                    mailbox: Some(phrase(&cur).unwrap_or(Cow::Borrowed(&b""[..]))),
                    ..Address::default()
                });
                in_group = true;
                cur.clear();
            }
            Tok::Special(b';') if !in_angle && in_group => {
                mailbox(&cur, &mut out);
                cur.clear();
                out.push(Address::default());
                in_group = false;
            }
            Tok::Special(b',') if !in_angle => {
                mailbox(&cur, &mut out);
                cur.clear();
            }
            t => cur.push(t),
        }
    }
    mailbox(&cur, &mut out);
    if in_group {
        out.push(Address::default());
    }
    out
}

fn has_at(toks: &[Tok<'_>]) -> bool {
    toks.iter()
        .any(|t| matches!(t, Tok::Special(b'@') | Tok::Special(b'<')))
}

/// The display name: words joined by one space, quoted strings unquoted; `None` when empty.
fn phrase<'a>(toks: &[Tok<'a>]) -> Option<Cow<'a, [u8]>> {
    let words: Vec<&[u8]> = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Atom(a) => Some(*a),
            Tok::Quoted(q, _) => Some(&**q),
            _ => None,
        })
        .collect();
    match words.as_slice() {
        [] => None,
        [[]] => None,
        [w] => Some(Cow::Owned(w.to_vec())),
        ws => Some(Cow::Owned(ws.join(&b' '))),
    }
}

/// One mailbox (`name-addr` or `addr-spec`) from its tokens; nothing for an empty list.
fn mailbox<'a>(toks: &[Tok<'a>], out: &mut Vec<Address<'a>>) {
    if toks.is_empty() {
        return;
    }
    let lt = toks.iter().position(|t| *t == Tok::Special(b'<'));
    let (name, spec) = match lt {
        Some(i) => {
            let end = toks[i + 1..]
                .iter()
                .position(|t| *t == Tok::Special(b'>'))
                .map_or(toks.len(), |j| i + 1 + j);
            (phrase(&toks[..i]), &toks[i + 1..end])
        }
        None => {
            // Old style `addr (Full Name)`: the comment names the mailbox (as Dovecot does).
            let comment = toks.iter().rev().find_map(|t| match t {
                Tok::Comment(c) if !c.is_empty() => Some(Cow::Borrowed(*c)),
                _ => None,
            });
            (comment, toks)
        }
    };
    // A source route `@a,@b:` before the addr-spec (RFC 5322 4.4 obs-route).
    let (adl, spec) = match spec.iter().position(|t| *t == Tok::Special(b':')) {
        Some(colon) if spec.first() == Some(&Tok::Special(b'@')) => {
            let mut route = Vec::new();
            for t in &spec[..colon] {
                push_raw(&mut route, t);
            }
            (Some(Cow::Owned(route)), &spec[colon + 1..])
        }
        _ => (None, spec),
    };
    let spec: Vec<&Tok<'a>> = spec
        .iter()
        .filter(|t| !matches!(t, Tok::Comment(_)))
        .collect();
    if spec.is_empty() && name.is_none() {
        return;
    }
    let at = spec.iter().rposition(|t| **t == Tok::Special(b'@'));
    let (local, domain) = match at {
        Some(i) => (&spec[..i], Some(&spec[i + 1..])),
        None => (&spec[..], None),
    };
    let mut mbox = Vec::new();
    for t in local {
        push_raw(&mut mbox, t);
    }
    let host = domain.map(|d| {
        let mut h = Vec::new();
        for t in d {
            push_raw(&mut h, t);
        }
        h
    });
    out.push(Address {
        name,
        adl,
        mailbox: Some(Cow::Owned(mbox)),
        host: Some(Cow::Owned(host.unwrap_or_default())),
    });
}

/// A token as written (quoted strings keep their quotes, as the local part needs them).
fn push_raw(out: &mut Vec<u8>, t: &Tok<'_>) {
    match t {
        Tok::Atom(a) | Tok::Literal(a) => out.extend_from_slice(a),
        Tok::Quoted(_, raw) => out.extend_from_slice(raw),
        Tok::Special(b) => out.push(*b),
        Tok::Comment(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(v: &[u8]) -> String {
        let f = |o: &Option<Cow<'_, [u8]>>| match o {
            Some(s) => format!("{:?}", String::from_utf8_lossy(s)),
            None => "NIL".into(),
        };
        parse_list(v)
            .iter()
            .map(|a| {
                format!(
                    "({} {} {} {})",
                    f(&a.name),
                    f(&a.adl),
                    f(&a.mailbox),
                    f(&a.host)
                )
            })
            .collect()
    }

    #[test]
    fn mailboxes_groups_and_routes() {
        assert_eq!(
            show(b"Alice Example <alice@example.test>"),
            r#"("Alice Example" NIL "alice" "example.test")"#
        );
        assert_eq!(
            show(b"Team: a@example.test, \"B\" <b@example.test>;"),
            r#"(NIL NIL "Team" NIL)(NIL NIL "a" "example.test")("B" NIL "b" "example.test")(NIL NIL NIL NIL)"#
        );
        assert_eq!(
            show(b"Empty Group:;, <@route.example:c@example.test>, d@[192.0.2.1]"),
            r#"(NIL NIL "Empty Group" NIL)(NIL NIL NIL NIL)(NIL "@route.example" "c" "example.test")(NIL NIL "d" "[192.0.2.1]")"#
        );
        assert_eq!(
            show(b"\"quoted \\\"name\\\"\" <q@example.test>"),
            r#"("quoted \"name\"" NIL "q" "example.test")"#
        );
        assert_eq!(
            show(b"bare@example.test (comment here)"),
            r#"("comment here" NIL "bare" "example.test")"#
        );
        assert_eq!(
            show(b"=?UTF-8?Q?M=C3=BCller?= <mueller@example.test>, \"\" <empty@example.test>"),
            r#"("=?UTF-8?Q?M=C3=BCller?=" NIL "mueller" "example.test")(NIL NIL "empty" "example.test")"#
        );
    }

    #[test]
    fn odd_addresses() {
        // No domain: an empty host, not NIL (which would mean a group).
        assert_eq!(show(b"bob"), r#"(NIL NIL "bob" "")"#);
        assert_eq!(show(b"\"a b\"@x.test"), r#"(NIL NIL "\"a b\"" "x.test")"#);
        assert_eq!(show(b"<@a,@b:c@d>"), r#"(NIL "@a,@b" "c" "d")"#);
        assert_eq!(
            show(b"Unclosed: x@y"),
            r#"(NIL NIL "Unclosed" NIL)(NIL NIL "x" "y")(NIL NIL NIL NIL)"#
        );
        assert_eq!(show(b""), "");
        assert_eq!(show(b" , ,"), "");
        // A null path names no mailbox.
        assert_eq!(show(b"<>"), "");
    }
}
