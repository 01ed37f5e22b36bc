//! THREAD (RFC 5256 3): ORDEREDSUBJECT and REFERENCES over the messages a search matched, and the
//! THREAD response data (`(1 2)(3 (4)(5))`, RFC 5256 4 `thread-list`).
//!
//! Each message is reduced once to a [`ThreadMsg`] (its ids, references, base subject and sent
//! date; [`ThreadMsg::of`]); the algorithms work on those alone.

mod references;

use super::search::{Candidate, Content};
use super::sort::{base_subject, sent_date};
use super::types::ThreadAlgorithm;

/// What threading needs of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadMsg {
    pub seq: u32,
    /// What the response shows: the sequence number, or the UID for UID THREAD.
    pub id: u32,
    pub message_id: Option<String>,
    /// The References: ids in order, or when it has none, the first In-Reply-To: id (RFC 5256 3,
    /// REFERENCES step 1).
    pub references: Vec<String>,
    /// Base subject (RFC 5256 2.1), case-folded for comparison.
    pub subject: String,
    pub reply_or_forward: bool,
    /// Sent date in UTC (RFC 5256 2.2).
    pub date: i64,
}

impl ThreadMsg {
    /// Reads `c`'s threading facts; `uid` picks what the response shows.
    pub fn of<C: Candidate + ?Sized>(c: &C, uid: bool) -> ThreadMsg {
        let mut t = ThreadMsg {
            seq: c.seq(),
            id: if uid { c.uid() } else { c.seq() },
            date: sent_date(c),
            ..ThreadMsg::default()
        };
        if let Some(ct) = c.content() {
            t.message_id = first_of(ct, "Message-ID").and_then(|v| msg_ids(&v).into_iter().next());
            t.references = first_of(ct, "References")
                .map(|v| msg_ids(&v))
                .unwrap_or_default();
            if t.references.is_empty() {
                t.references = first_of(ct, "In-Reply-To")
                    .and_then(|v| msg_ids(&v).into_iter().next())
                    .into_iter()
                    .collect();
            }
            if let Some(s) = first_of(ct, "Subject") {
                let b = base_subject(&s);
                t.subject = super::search::text::fold(&b.text);
                t.reply_or_forward = b.reply_or_forward;
            }
        }
        t
    }
}

fn first_of<C: Content + ?Sized>(c: &C, name: &str) -> Option<String> {
    c.header_values(name)
        .into_iter()
        .next()
        .map(|v| v.into_owned())
}

/// The `<...>` message ids of a header value, in order (RFC 5322 3.6.4 `msg-id`; spaces inside are
/// dropped, empty ones skipped; text outside angle brackets, such as comments or phrases some
/// clients put in In-Reply-To, is ignored).
pub fn msg_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(['>', '<']) else {
            break;
        };
        if after.as_bytes()[close] == b'>' {
            let id: String = after[..close]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if !id.is_empty() {
                out.push(id);
            }
            rest = &after[close + 1..];
        } else {
            rest = &after[close..];
        }
    }
    out
}

/// Threads as a forest: `roots` in order, each node a message (or, at the top level only, a dummy
/// with `id: None` holding threads that share a subject or a missing parent) with its children in
/// order. Flat (indexes, not nested boxes) so that neither building, writing nor dropping a tree as
/// deep as a crafted References: chain can make it recurses once per level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forest {
    pub nodes: Vec<Node>,
    pub roots: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: Option<u32>,
    pub children: Vec<usize>,
}

impl Forest {
    fn add(&mut self, id: Option<u32>) -> usize {
        self.nodes.push(Node {
            id,
            children: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Writes THREAD response data (RFC 5256 4): each top-level thread in parentheses; a message with
    /// one child continues the list (`1 2`), with several it nests each (`3 (4)(5)`); a dummy shows
    /// only its children. The caller writes `* THREAD ` before and CRLF after.
    pub fn write(&self, out: &mut Vec<u8>) {
        enum Step {
            Members(usize),
            Raw(&'static [u8]),
        }
        let mut stack: Vec<Step> = Vec::new();
        for &t in self.roots.iter().rev() {
            stack.extend([Step::Raw(b")"), Step::Members(t), Step::Raw(b"(")]);
        }
        while let Some(step) = stack.pop() {
            let mut t = match step {
                Step::Raw(bytes) => {
                    out.extend_from_slice(bytes);
                    continue;
                }
                Step::Members(t) => t,
            };
            let mut wrote = false;
            while let Some(node) = self.nodes.get(t) {
                if let Some(id) = node.id {
                    if wrote {
                        out.push(b' ');
                    }
                    out.extend_from_slice(id.to_string().as_bytes());
                    wrote = true;
                }
                match node.children.as_slice() {
                    [] => break,
                    [only] if node.id.is_some() => t = *only,
                    children => {
                        if wrote {
                            out.push(b' ');
                        }
                        for &c in children.iter().rev() {
                            stack.extend([Step::Raw(b")"), Step::Members(c), Step::Raw(b"(")]);
                        }
                        break;
                    }
                }
            }
        }
    }
}

impl std::fmt::Display for Forest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::new();
        self.write(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// Threads the messages with the algorithm.
pub fn thread(algorithm: ThreadAlgorithm, msgs: &[ThreadMsg]) -> Forest {
    match algorithm {
        ThreadAlgorithm::OrderedSubject => ordered_subject(msgs),
        ThreadAlgorithm::References => references::thread(msgs),
    }
}

/// RFC 5256 3 ORDEREDSUBJECT: sorted by base subject then sent date; each run of one subject is a
/// thread whose first message is the parent of all the others; threads ordered by their first
/// message's sent date. Ties by sequence number throughout.
pub fn ordered_subject(msgs: &[ThreadMsg]) -> Forest {
    let mut order: Vec<&ThreadMsg> = msgs.iter().collect();
    order.sort_by(|a, b| (&a.subject, a.date, a.seq).cmp(&(&b.subject, b.date, b.seq)));
    let mut forest = Forest::default();
    let mut groups: Vec<(i64, u32, usize)> = Vec::new();
    let mut current: Option<&str> = None;
    for m in order {
        let node = forest.add(Some(m.id));
        match groups.last() {
            Some(&(_, _, root)) if current == Some(m.subject.as_str()) => {
                forest.nodes[root].children.push(node);
            }
            _ => {
                current = Some(&m.subject);
                groups.push((m.date, m.seq, node));
            }
        }
    }
    groups.sort_by_key(|&(date, seq, _)| (date, seq));
    forest.roots = groups.into_iter().map(|(_, _, n)| n).collect();
    forest
}

#[cfg(test)]
mod tests;
