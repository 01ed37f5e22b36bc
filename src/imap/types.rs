//! The IMAP command grammar as data: what the parser (`command/`) produces and the session consumes.
//!
//! Commands borrow from the assembled command bytes (the receiver gathers a command with its literals
//! into one buffer, then parses it in place); strings that needed unescaping (quoted strings with `\"`
//! or `\\`) are owned. Mailbox names stay raw bytes here: whether they are modified UTF-7 (RFC 3501
//! 5.1.3) or UTF-8 (RFC 9051 5.1, UTF8=ACCEPT) depends on the session's state, so the session decodes
//! them. Grammar references: RFC 3501 9 and RFC 9051 9 (formal syntax), and per extension the RFC named
//! at each item.

use std::borrow::Cow;

/// An IMAP string (atom, quoted or literal) as bytes.
pub type Str<'a> = Cow<'a, [u8]>;

/// One command line (with its literals) and its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged<'a> {
    pub tag: &'a str,
    pub command: Command<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    // Any state (RFC 9051 6.1).
    Capability,
    Noop,
    Logout,
    /// RFC 2971: `ID NIL` or `ID ("name" "value" ...)`; values may be NIL.
    Id(Option<Vec<(Str<'a>, Option<Str<'a>>)>>),

    // Not authenticated (RFC 9051 6.2).
    /// RFC 3501 6.2.1 (the TLS issue performs it; the parser knows it).
    StartTls,
    Login {
        user: Str<'a>,
        password: Str<'a>,
    },
    /// RFC 9051 6.2.2 with SASL-IR (RFC 4959): `initial` is the base64 text as sent (`=` means an
    /// empty initial response and arrives as `Some(b"")`); further client lines are read raw by the
    /// receiver, not parsed as commands.
    Authenticate {
        mechanism: &'a str,
        initial: Option<&'a [u8]>,
    },

    // Authenticated (RFC 9051 6.3).
    /// RFC 5161: capability names as sent (atoms).
    Enable(Vec<&'a str>),
    Select {
        mailbox: Str<'a>,
        params: SelectParams,
    },
    Examine {
        mailbox: Str<'a>,
        params: SelectParams,
    },
    /// RFC 6154 5.2 CREATE-SPECIAL-USE: `CREATE name (USE (\Drafts))`; the attributes keep their
    /// backslash (`"\\Drafts"`).
    Create {
        mailbox: Str<'a>,
        special_use: Vec<&'a str>,
    },
    Delete(Str<'a>),
    Rename {
        from: Str<'a>,
        to: Str<'a>,
    },
    Subscribe(Str<'a>),
    Unsubscribe(Str<'a>),
    /// LIST, with LIST-EXTENDED (RFC 5258) selection and return options.
    List(List<'a>),
    Lsub {
        reference: Str<'a>,
        pattern: Str<'a>,
    },
    /// RFC 2342.
    Namespace,
    Status {
        mailbox: Str<'a>,
        items: Vec<StatusItem>,
    },
    /// One or more messages (MULTIAPPEND, RFC 3502).
    Append {
        mailbox: Str<'a>,
        messages: Vec<AppendMessage<'a>>,
    },
    /// RFC 2177; the receiver then waits for `DONE`.
    Idle,
    /// RFC 4978 (`DEFLATE`).
    Compress(&'a str),
    /// RFC 9208.
    GetQuota(Str<'a>),
    GetQuotaRoot(Str<'a>),
    SetQuota {
        root: Str<'a>,
        limits: Vec<(&'a str, u64)>,
    },

    // Selected (RFC 9051 6.4).
    Check,
    Close,
    /// RFC 3691.
    Unselect,
    Expunge,
    /// RFC 4315 2.1.
    UidExpunge(SequenceSet),
    Search(Search<'a>),
    Fetch(Fetch<'a>),
    Store(Store<'a>),
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: Str<'a>,
    },
    /// RFC 6851.
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: Str<'a>,
    },
    /// RFC 5256 SORT (with ESORT-style RETURN options when given, RFC 5267).
    Sort {
        uid: bool,
        criteria: Vec<SortCriterion>,
        charset: Str<'a>,
        key: SearchKey<'a>,
        returns: Option<Vec<SearchReturn>>,
    },
    /// RFC 5256 THREAD.
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: Str<'a>,
        key: SearchKey<'a>,
    },
}

/// A sequence set (RFC 9051 9 `sequence-set`), in the order given; ranges may be reversed (`5:3`) and
/// `*` is the largest number in use. The session resolves it against the mailbox.
///
/// The empty set is SEARCHRES `$` (RFC 5182, RFC 9051 6.4.4.1: the result saved by the last
/// `SEARCH RETURN (SAVE)`); the parser produces it only when the session accepts SEARCHRES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<SeqRange>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub start: SeqNum,
    pub end: SeqNum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    Value(u32),
    /// `*`
    Largest,
}

/// SELECT/EXAMINE parameters (RFC 7162 3.1.8 CONDSTORE, 3.2.5 QRESYNC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<QResync>,
}

/// `(QRESYNC (uidvalidity modseq [known-uids [(seq-match-data)]]))`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    /// (known sequence numbers, their UIDs)
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<'a> {
    pub reference: Str<'a>,
    /// One pattern, or several in parentheses (LIST-EXTENDED).
    pub patterns: Vec<Str<'a>>,
    pub select: ListSelect,
    pub returns: ListReturn,
}

/// LIST-EXTENDED selection options (RFC 5258 3.1; SPECIAL-USE: RFC 6154 5.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSelect {
    pub subscribed: bool,
    pub remote: bool,
    pub recursive_match: bool,
    pub special_use: bool,
}

/// LIST return options (RFC 5258 3.2, RFC 6154 5.1, LIST-STATUS RFC 5819).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    pub status: Option<Vec<StatusItem>>,
}

/// STATUS data items (RFC 9051 6.3.11; HIGHESTMODSEQ RFC 7162; SIZE RFC 8438; APPENDLIMIT RFC 7889).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModSeq,
    AppendLimit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage<'a> {
    pub flags: Vec<Flag<'a>>,
    pub date: Option<DateTime>,
    /// The message literal (`literal8`, RFC 3516 4.4, when `binary`).
    pub message: &'a [u8],
    pub binary: bool,
}

/// A flag as sent. `\Recent` cannot be stored (RFC 3501 2.3.2), so the parser refuses it in STORE
/// and APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag<'a> {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// A keyword atom, e.g. `$Junk` or `NonJunk`.
    Keyword(&'a str),
    /// A `\Name` not defined by the RFCs (kept so the session can refuse it by name), backslash
    /// included.
    Extension(&'a str),
}

/// A calendar date, as in SEARCH (`date` = `d-MMM-yyyy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// `date-time` of APPEND (RFC 9051 9): `"dd-MMM-yyyy hh:mm:ss +zzzz"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset east of UTC.
    pub zone_minutes: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search<'a> {
    pub uid: bool,
    pub charset: Option<Str<'a>>,
    /// `RETURN (...)` (ESEARCH, RFC 4731 / RFC 9051 6.4.4): `Some(vec![])` means `RETURN ()`, which
    /// is `ALL` in an ESEARCH reply.
    pub returns: Option<Vec<SearchReturn>>,
    pub key: SearchKey<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    /// RFC 5182 SEARCHRES; the parser accepts it only if the session advertises it.
    Save,
}

/// SEARCH keys (RFC 9051 6.4.4, RFC 3501 6.4.4; MODSEQ RFC 7162 3.1.5; OLDER/YOUNGER RFC 5032).
/// A list of keys is their AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey<'a> {
    All,
    And(Vec<SearchKey<'a>>),
    Or(Box<SearchKey<'a>>, Box<SearchKey<'a>>),
    Not(Box<SearchKey<'a>>),
    SequenceSet(SequenceSet),
    Uid(SequenceSet),
    Answered,
    Deleted,
    Draft,
    Flagged,
    Seen,
    Recent,
    New,
    Old,
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unseen,
    Keyword(&'a str),
    Unkeyword(&'a str),
    /// Internal date (the date part, in the server's zone as the RFC says).
    Before(Date),
    On(Date),
    Since(Date),
    /// The Date: header.
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Larger(u64),
    Smaller(u64),
    From(Str<'a>),
    To(Str<'a>),
    Cc(Str<'a>),
    Bcc(Str<'a>),
    Subject(Str<'a>),
    /// `HEADER field-name string`; an empty string matches every message with the field.
    Header(Str<'a>, Str<'a>),
    Body(Str<'a>),
    Text(Str<'a>),
    /// `MODSEQ [entry-name entry-type] mod-sequence-valzer`; the entry is parsed and ignored.
    ModSeq(u64),
    /// Seconds (RFC 5032 WITHIN).
    Older(u32),
    Younger(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch<'a> {
    pub uid: bool,
    pub set: SequenceSet,
    /// Macros (ALL, FAST, FULL) are expanded by the parser. `UID FETCH` always reports UID: the
    /// session adds it, not the parser.
    pub items: Vec<FetchAttr<'a>>,
    /// RFC 7162 3.1.4.1 `(CHANGEDSINCE n)`.
    pub changed_since: Option<u64>,
    /// RFC 7162 3.2.6 `(CHANGEDSINCE n VANISHED)`, UID FETCH only.
    pub vanished: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr<'a> {
    Flags,
    InternalDate,
    Rfc822Size,
    Envelope,
    /// `BODY` without a section: the non-extensible BODYSTRUCTURE.
    Body,
    BodyStructure,
    Uid,
    ModSeq,
    /// `RFC822` (= BODY[]), `RFC822.HEADER` (= BODY.PEEK[HEADER]), `RFC822.TEXT` (= BODY[TEXT]):
    /// kept apart because the reply names them as asked.
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    /// `BODY[section]<partial>` and `BODY.PEEK[...]`.
    Section {
        peek: bool,
        section: Section<'a>,
        partial: Option<Partial>,
    },
    /// RFC 3516 `BINARY[part]<partial>` and `BINARY.PEEK`.
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<Partial>,
    },
    /// RFC 3516 `BINARY.SIZE[part]`.
    BinarySize {
        part: Vec<u32>,
    },
}

/// `<origin.count>`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub origin: u32,
    pub count: u32,
}

/// `[1.2.HEADER]`: a part path (empty = the whole message) and what of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section<'a> {
    pub part: Vec<u32>,
    pub text: Option<SectionText<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText<'a> {
    Header,
    /// `HEADER.FIELDS (...)` or, with `not`, `HEADER.FIELDS.NOT (...)`.
    HeaderFields {
        not: bool,
        fields: Vec<Str<'a>>,
    },
    Text,
    /// Only with a part number.
    Mime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store<'a> {
    pub uid: bool,
    pub set: SequenceSet,
    pub mode: StoreMode,
    pub silent: bool,
    pub flags: Vec<Flag<'a>>,
    /// RFC 7162 3.1.3 `(UNCHANGEDSINCE n)`.
    pub unchanged_since: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

/// RFC 5256 sort criteria (DISPLAYFROM/DISPLAYTO: RFC 5957).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}
