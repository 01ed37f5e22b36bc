//! SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4; MODSEQ of RFC 7162 3.1.5; OLDER/YOUNGER of RFC 5032):
//! a search key compiled once against the selected mailbox into a [`Query`], then matched against
//! one message at a time through the [`Candidate`] trait the session implements.
//!
//! Compiling resolves sequence and UID sets to sequence ranges, folds the search strings (case
//! insensitive, [`text`]), turns dates into day numbers and OLDER/YOUNGER into cut-off times (the
//! session passes "now": the core reads no clock), bounds the key's size and depth ([`Limits`]), and
//! orders each AND so that keys answered from the index run before keys that read the message, and
//! each OR so that its cheaper side runs first. A query whose keys need no content never asks for it,
//! so the session reads no message bytes ([`Query::needs_content`]).

pub mod date;
pub mod text;

use std::borrow::Cow;

use super::seqset::{self, Messages, Ranges, SeqError};
use super::types::SearchKey;
pub use date::Stamp;
use text::Needle;

/// System flag bits as [`Candidate::flags`] reports them; the same values as the storage index's
/// (`shardmail_storage::index::SEEN`...), so a session passes a message's stored bits unchanged.
pub mod flag {
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 2;
    pub const FLAGGED: u8 = 4;
    pub const DELETED: u8 = 8;
    pub const DRAFT: u8 = 16;
}

/// The charsets SEARCH, SORT and THREAD accept (RFC 9051 6.4.4: US-ASCII and UTF-8 must be).
pub const CHARSETS: [&str; 2] = ["US-ASCII", "UTF-8"];

/// Why a search cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// Reply `NO [BADCHARSET (US-ASCII UTF-8)]` (RFC 9051 6.4.4, 7.1).
    #[error("charset {0} is not supported")]
    BadCharset(String),
    /// Reply BAD (or NO [LIMIT]): the key exceeds [`Limits`].
    #[error("search is too complex: {0}")]
    TooComplex(&'static str),
    /// A message sequence number the mailbox does not have: reply BAD.
    #[error(transparent)]
    Seq(#[from] SeqError),
}

/// Accepts the charsets of [`CHARSETS`] (case-insensitively, RFC 2978 names) or none given.
pub fn check_charset(charset: Option<&[u8]>) -> Result<(), SearchError> {
    match charset {
        None => Ok(()),
        Some(c)
            if CHARSETS
                .iter()
                .any(|n| c.eq_ignore_ascii_case(n.as_bytes())) =>
        {
            Ok(())
        }
        Some(c) => Err(SearchError::BadCharset(
            String::from_utf8_lossy(c).into_owned(),
        )),
    }
}

/// Bounds on a search key (the parser bounds them too; this holds for keys built any other way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Keys in all, counting every AND/OR/NOT.
    pub max_keys: usize,
    /// Nesting of AND/OR/NOT.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_keys: 1000,
            max_depth: 64,
        }
    }
}

/// What SEARCH reads from a message's content, decoded: header values with RFC 2047 encoded words
/// decoded and unfolded, body text parts with their transfer encoding removed and charset converted,
/// all as UTF-8. The session implements it lazily (parse on first use) over the message bytes.
pub trait Content {
    /// The values of every top-level header field named `name` (ASCII case-insensitive), decoded,
    /// in the order they appear.
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>>;
    /// The whole top-level header, decoded (for TEXT).
    fn header_text(&self) -> Cow<'_, str>;
    /// The decoded text of each text part of the body (for BODY and TEXT).
    fn body_texts(&self) -> Vec<Cow<'_, str>>;
    /// The Date: header (RFC 5322 3.3) with its zone; `None` when absent or unparseable.
    fn sent_date(&self) -> Option<Stamp>;
    /// The first address of an address-list field (`From`, `To`, `Cc`; RFC 5322 3.4), for SORT
    /// (RFC 5256 FROM/TO/CC, RFC 5957 DISPLAYFROM/DISPLAYTO); `None` if the field is absent or holds
    /// no address.
    fn first_address(&self, field: &str) -> Option<Address<'_>>;
}

/// One parsed address, as ENVELOPE reports it (RFC 9051 7.5.2: `addr-name`, `addr-mailbox`,
/// `addr-host`), with the display name decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address<'a> {
    pub name: Option<Cow<'a, str>>,
    pub mailbox: Option<Cow<'a, str>>,
    pub host: Option<Cow<'a, str>>,
}

/// One message as SEARCH sees it.
pub trait Candidate {
    type Content: Content + ?Sized;
    /// Its message sequence number in the mailbox the query was compiled against.
    fn seq(&self) -> u32;
    fn uid(&self) -> u32;
    /// System flags as [`flag`] bits.
    fn flags(&self) -> u8;
    /// Whether it has this keyword (the session decides case-sensitivity; RFC 9051 2.3.2 keywords).
    fn has_keyword(&self, keyword: &str) -> bool;
    /// \Recent (RFC 3501 2.3.2; always false for IMAP4rev2 sessions).
    fn recent(&self) -> bool;
    fn internal_date(&self) -> Stamp;
    /// RFC822.SIZE.
    fn size(&self) -> u64;
    /// RFC 7162 mod-sequence.
    fn modseq(&self) -> u64;
    /// The parsed content; `None` if the message cannot be read (content keys then match nothing).
    fn content(&self) -> Option<&Self::Content>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateOp {
    Before,
    On,
    Since,
}

#[derive(Debug, Clone)]
enum Node {
    Const(bool),
    And(Vec<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    /// Sequence numbers (UID sets are resolved to sequence numbers when compiling).
    Seqs(Ranges),
    /// All these flag bits set (`want`) or all clear.
    Flags {
        mask: u8,
        want: bool,
    },
    Recent(bool),
    Keyword(String, bool),
    Internal(DateOp, i64),
    Sent(DateOp, i64),
    Larger(u64),
    Smaller(u64),
    ModSeq(u64),
    /// Internal date strictly before this time (OLDER).
    OlderThan(i64),
    /// Internal date at or after this time (YOUNGER).
    NotBefore(i64),
    /// A header field by name and the string its decoded value must contain.
    Header(String, Needle),
    Body(Needle),
    Text(Needle),
}

/// How much work a key costs: answered from the index, from the header, or from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cost {
    Index,
    Header,
    Body,
}

impl Node {
    fn cost(&self) -> Cost {
        match self {
            Node::And(v) => v.iter().map(Node::cost).max().unwrap_or(Cost::Index),
            Node::Or(a, b) => a.cost().max(b.cost()),
            Node::Not(a) => a.cost(),
            Node::Sent(..) | Node::Header(..) => Cost::Header,
            Node::Body(_) | Node::Text(_) => Cost::Body,
            _ => Cost::Index,
        }
    }
}

/// A compiled search key.
#[derive(Debug, Clone)]
pub struct Query {
    root: Node,
    modseq: bool,
}

/// Where a compiled key gets its mailbox facts.
pub struct Scope<'a, M: Messages + ?Sized> {
    /// The selected mailbox as the client knows it (sequence numbers and UIDs).
    pub mailbox: &'a M,
    /// Seconds since the epoch, for OLDER/YOUNGER.
    pub now: i64,
}

impl Query {
    /// Compiles `key` for the mailbox in `scope` (RFC 9051 6.4.4).
    pub fn compile<M: Messages + ?Sized>(
        key: &SearchKey<'_>,
        scope: &Scope<'_, M>,
        limits: &Limits,
    ) -> Result<Query, SearchError> {
        Query::compile_with_saved(key, scope, limits, None)
    }

    /// [`Query::compile`] with SEARCHRES: `$` (as a sequence set or a UID set) stands for the saved
    /// result `saved`, kept as UIDs (RFC 5182 2.1; [`seqset::resolve_with_saved`]).
    pub fn compile_with_saved<M: Messages + ?Sized>(
        key: &SearchKey<'_>,
        scope: &Scope<'_, M>,
        limits: &Limits,
        saved: Option<&Ranges>,
    ) -> Result<Query, SearchError> {
        let mut c = Compiler {
            scope,
            limits,
            saved,
            keys: 0,
            modseq: false,
        };
        let root = c.node(key, 0)?;
        Ok(Query {
            root,
            modseq: c.modseq,
        })
    }

    /// Does the message match?
    pub fn matches<C: Candidate + ?Sized>(&self, c: &C) -> bool {
        let mut eval = Eval {
            candidate: c,
            scratch: String::new(),
        };
        eval.node(&self.root)
    }

    /// Whether matching may read the message's content (headers or body); `false` means the session
    /// need not touch message bytes at all.
    pub fn needs_content(&self) -> bool {
        self.root.cost() > Cost::Index
    }

    /// Whether the key used MODSEQ: the reply then carries `(MODSEQ n)` (RFC 7162 3.1.5).
    pub fn uses_modseq(&self) -> bool {
        self.modseq
    }

    /// The sequence numbers outside which nothing can match, when the key restricts them (a top-level
    /// sequence or UID set): the session scans only these. `None` means every message.
    pub fn scan_range(&self) -> Option<&Ranges> {
        match &self.root {
            Node::Seqs(r) => Some(r),
            Node::And(v) => v.iter().find_map(|n| match n {
                Node::Seqs(r) => Some(r),
                _ => None,
            }),
            _ => None,
        }
    }

    /// Whether the query can match nothing whatever the message (a set naming no message, ...).
    pub fn matches_nothing(&self) -> bool {
        matches!(self.root, Node::Const(false))
    }

    /// Runs the query over the messages `1..=count` (only those in [`Query::scan_range`] when the key
    /// restricts them), asking `candidate` for each one visited (`None` skips it, e.g. a message
    /// expunged meanwhile). Returns the matching sequence numbers, ascending.
    pub fn search<C: Candidate>(
        &self,
        count: u32,
        mut candidate: impl FnMut(u32) -> Option<C>,
    ) -> Vec<u32> {
        let mut out = Vec::new();
        if self.matches_nothing() {
            return out;
        }
        let mut visit = |seq: u32| {
            if let Some(c) = candidate(seq) {
                if self.matches(&c) {
                    out.push(seq);
                }
            }
        };
        match self.scan_range() {
            Some(r) => r.iter().take_while(|&s| s <= count).for_each(&mut visit),
            None => (1..=count).for_each(&mut visit),
        }
        out
    }
}

struct Compiler<'s, 'a, M: Messages + ?Sized> {
    scope: &'s Scope<'a, M>,
    limits: &'s Limits,
    saved: Option<&'s Ranges>,
    keys: usize,
    modseq: bool,
}

impl<M: Messages + ?Sized> Compiler<'_, '_, M> {
    fn node(&mut self, key: &SearchKey<'_>, depth: usize) -> Result<Node, SearchError> {
        self.keys += 1;
        if self.keys > self.limits.max_keys {
            return Err(SearchError::TooComplex("too many search keys"));
        }
        if depth > self.limits.max_depth {
            return Err(SearchError::TooComplex("search keys nested too deeply"));
        }
        use SearchKey as K;
        let flags = |mask: u8, want: bool| Node::Flags { mask, want };
        Ok(match key {
            K::All => Node::Const(true),
            K::And(keys) => {
                let mut v = Vec::with_capacity(keys.len());
                for k in keys {
                    v.push(self.node(k, depth + 1)?);
                }
                and(v)
            }
            K::Or(a, b) => or(self.node(a, depth + 1)?, self.node(b, depth + 1)?),
            K::Not(a) => not(self.node(a, depth + 1)?),
            K::SequenceSet(set) => seqs(seqset::resolve_with_saved(
                set,
                false,
                self.scope.mailbox,
                self.saved,
            )?),
            K::Uid(set) => seqs(seqset::resolve_with_saved(
                set,
                true,
                self.scope.mailbox,
                self.saved,
            )?),
            K::Answered => flags(flag::ANSWERED, true),
            K::Deleted => flags(flag::DELETED, true),
            K::Draft => flags(flag::DRAFT, true),
            K::Flagged => flags(flag::FLAGGED, true),
            K::Seen => flags(flag::SEEN, true),
            K::Unanswered => flags(flag::ANSWERED, false),
            K::Undeleted => flags(flag::DELETED, false),
            K::Undraft => flags(flag::DRAFT, false),
            K::Unflagged => flags(flag::FLAGGED, false),
            K::Unseen => flags(flag::SEEN, false),
            K::Recent => Node::Recent(true),
            // RFC 3501 6.4.4: NEW is "RECENT UNSEEN", OLD is "NOT RECENT".
            K::New => and(vec![Node::Recent(true), flags(flag::SEEN, false)]),
            K::Old => Node::Recent(false),
            K::Keyword(k) => Node::Keyword((*k).to_string(), true),
            K::Unkeyword(k) => Node::Keyword((*k).to_string(), false),
            K::Before(d) => Node::Internal(DateOp::Before, date::day_of(*d)),
            K::On(d) => Node::Internal(DateOp::On, date::day_of(*d)),
            K::Since(d) => Node::Internal(DateOp::Since, date::day_of(*d)),
            K::SentBefore(d) => Node::Sent(DateOp::Before, date::day_of(*d)),
            K::SentOn(d) => Node::Sent(DateOp::On, date::day_of(*d)),
            K::SentSince(d) => Node::Sent(DateOp::Since, date::day_of(*d)),
            K::Larger(n) => Node::Larger(*n),
            K::Smaller(n) => Node::Smaller(*n),
            K::From(s) => header("From", s),
            K::To(s) => header("To", s),
            K::Cc(s) => header("Cc", s),
            K::Bcc(s) => header("Bcc", s),
            K::Subject(s) => header("Subject", s),
            K::Header(name, s) => {
                Node::Header(String::from_utf8_lossy(name).into_owned(), Needle::new(s))
            }
            K::Body(s) => Node::Body(Needle::new(s)),
            K::Text(s) => Node::Text(Needle::new(s)),
            K::ModSeq(n) => {
                self.modseq = true;
                Node::ModSeq(*n)
            }
            // RFC 5032: the cut-off is now minus the interval; OLDER is strictly before it, YOUNGER
            // at or after it ("younger than or equal to").
            K::Older(secs) => Node::OlderThan(self.scope.now.saturating_sub(i64::from(*secs))),
            K::Younger(secs) => Node::NotBefore(self.scope.now.saturating_sub(i64::from(*secs))),
        })
    }
}

fn header(name: &str, s: &[u8]) -> Node {
    Node::Header(name.to_string(), Needle::new(s))
}

fn seqs(r: Ranges) -> Node {
    if r.is_empty() {
        Node::Const(false)
    } else {
        Node::Seqs(r)
    }
}

/// AND of `v`: constants folded, nested ANDs flattened, cheap keys first (a stable sort keeps the
/// client's order among keys of one cost).
fn and(v: Vec<Node>) -> Node {
    let mut out = Vec::with_capacity(v.len());
    for n in v {
        match n {
            Node::Const(true) => {}
            Node::Const(false) => return Node::Const(false),
            Node::And(inner) => out.extend(inner),
            n => out.push(n),
        }
    }
    out.sort_by_key(Node::cost);
    match out.len() {
        0 => Node::Const(true),
        1 => out.pop().unwrap_or(Node::Const(true)),
        _ => Node::And(out),
    }
}

/// OR of `a` and `b`, the cheaper side first (it short-circuits the other).
fn or(a: Node, b: Node) -> Node {
    match (a, b) {
        (Node::Const(true), _) | (_, Node::Const(true)) => Node::Const(true),
        (Node::Const(false), n) | (n, Node::Const(false)) => n,
        (a, b) if b.cost() < a.cost() => Node::Or(Box::new(b), Box::new(a)),
        (a, b) => Node::Or(Box::new(a), Box::new(b)),
    }
}

fn not(a: Node) -> Node {
    match a {
        Node::Const(b) => Node::Const(!b),
        Node::Not(inner) => *inner,
        a => Node::Not(Box::new(a)),
    }
}

struct Eval<'c, C: Candidate + ?Sized> {
    candidate: &'c C,
    /// Reused for folding haystacks.
    scratch: String,
}

impl<C: Candidate + ?Sized> Eval<'_, C> {
    fn node(&mut self, n: &Node) -> bool {
        let c = self.candidate;
        match n {
            Node::Const(b) => *b,
            Node::And(v) => v.iter().all(|n| self.node(n)),
            Node::Or(a, b) => self.node(a) || self.node(b),
            Node::Not(a) => !self.node(a),
            Node::Seqs(r) => r.contains(c.seq()),
            Node::Flags { mask, want } => {
                let set = c.flags() & mask;
                if *want {
                    set == *mask
                } else {
                    set == 0
                }
            }
            Node::Recent(want) => c.recent() == *want,
            Node::Keyword(k, want) => c.has_keyword(k) == *want,
            Node::Internal(op, day) => date_matches(*op, c.internal_date().local_day(), *day),
            // RFC 9051 6.4.4 SENT*: the Date: header's date; a message without a usable one has no
            // such date and matches none of them.
            Node::Sent(op, day) => c
                .content()
                .and_then(Content::sent_date)
                .is_some_and(|d| date_matches(*op, d.local_day(), *day)),
            Node::Larger(n) => c.size() > *n,
            Node::Smaller(n) => c.size() < *n,
            // RFC 7162 3.1.5: "equal or greater than".
            Node::ModSeq(n) => c.modseq() >= *n,
            Node::OlderThan(t) => c.internal_date().unix < *t,
            Node::NotBefore(t) => c.internal_date().unix >= *t,
            Node::Header(name, needle) => {
                let Some(content) = c.content() else {
                    return false;
                };
                // RFC 9051 6.4.4 HEADER: an empty string matches every message that has the field.
                content
                    .header_values(name)
                    .iter()
                    .any(|v| needle.found_in(v, &mut self.scratch))
            }
            Node::Body(needle) => {
                let Some(content) = c.content() else {
                    return false;
                };
                self.in_body(content, needle)
            }
            Node::Text(needle) => {
                let Some(content) = c.content() else {
                    return false;
                };
                needle.found_in(&content.header_text(), &mut self.scratch)
                    || self.in_body(content, needle)
            }
        }
    }

    fn in_body(&mut self, content: &C::Content, needle: &Needle) -> bool {
        if needle.is_empty() {
            return true;
        }
        content
            .body_texts()
            .iter()
            .any(|t| needle.found_in(t, &mut self.scratch))
    }
}

fn date_matches(op: DateOp, day: i64, key: i64) -> bool {
    match op {
        DateOp::Before => day < key,
        DateOp::On => day == key,
        DateOp::Since => day >= key,
    }
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod message_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
