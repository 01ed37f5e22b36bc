//! Property tests: arbitrary bytes never panic the parser or the receiver, and every AST printed as IMAP
//! text parses back to itself (through `parse` and through the receiver).

use std::borrow::Cow;

use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};

use super::{parse, writer, Options, Receiver, Step};
use crate::imap::types::*;

fn leak_str(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn atom() -> BoxedStrategy<&'static str> {
    "[A-Za-z0-9$_.=-]{1,10}".prop_map(leak_str).boxed()
}

/// Any bytes but NUL (which no string may carry, RFC 9051 4.3): atoms, quoted strings and literals
/// all round-trip through `wire`.
fn astr() -> BoxedStrategy<Str<'static>> {
    prop_oneof![
        "[ -~]{0,12}".prop_map(|s| Cow::Owned(s.into_bytes())),
        proptest::collection::vec(1u8.., 0..16).prop_map(Cow::Owned),
    ]
    .boxed()
}

/// Mailbox names: any but INBOX, which the parser returns upper-cased.
fn mailbox() -> BoxedStrategy<Str<'static>> {
    astr()
        .prop_filter("INBOX is normalized", |m| !m.eq_ignore_ascii_case(b"INBOX"))
        .boxed()
}

fn seq_num() -> impl Strategy<Value = SeqNum> {
    prop_oneof![Just(SeqNum::Largest), (1u32..).prop_map(SeqNum::Value)]
}

/// Sets of one to three ranges, or now and then the empty set that stands for SEARCHRES `$`.
fn seq_set() -> BoxedStrategy<SequenceSet> {
    proptest::collection::vec(
        (seq_num(), seq_num()).prop_map(|(start, end)| SeqRange { start, end }),
        0..4,
    )
    .prop_map(SequenceSet)
    .boxed()
}

fn date() -> impl Strategy<Value = Date> {
    (1000u16..10000, 1u8..=12, 1u8..=28).prop_map(|(year, month, day)| Date { year, month, day })
}

fn date_time() -> impl Strategy<Value = DateTime> {
    (date(), 0u8..24, 0u8..60, 0u8..61, -1439i16..1440).prop_map(
        |(date, hour, minute, second, zone_minutes)| DateTime {
            date,
            hour,
            minute,
            second,
            zone_minutes,
        },
    )
}

fn flag() -> BoxedStrategy<Flag<'static>> {
    prop_oneof![
        Just(Flag::Seen),
        Just(Flag::Answered),
        Just(Flag::Flagged),
        Just(Flag::Deleted),
        Just(Flag::Draft),
        atom().prop_map(Flag::Keyword),
        "\\\\X[a-z]{1,5}".prop_map(|s| Flag::Extension(leak_str(s))),
    ]
    .boxed()
}

fn number64() -> impl Strategy<Value = u64> {
    0..=i64::MAX as u64
}

fn search_key() -> BoxedStrategy<SearchKey<'static>> {
    use SearchKey as K;
    let leaf = Union::new(vec![
        Just(K::All).boxed(),
        Just(K::Answered).boxed(),
        Just(K::Deleted).boxed(),
        Just(K::Draft).boxed(),
        Just(K::Flagged).boxed(),
        Just(K::Seen).boxed(),
        Just(K::Recent).boxed(),
        Just(K::New).boxed(),
        Just(K::Old).boxed(),
        Just(K::Unanswered).boxed(),
        Just(K::Undeleted).boxed(),
        Just(K::Undraft).boxed(),
        Just(K::Unflagged).boxed(),
        Just(K::Unseen).boxed(),
        seq_set().prop_map(K::SequenceSet).boxed(),
        seq_set().prop_map(K::Uid).boxed(),
        atom().prop_map(K::Keyword).boxed(),
        atom().prop_map(K::Unkeyword).boxed(),
        date().prop_map(K::Before).boxed(),
        date().prop_map(K::On).boxed(),
        date().prop_map(K::Since).boxed(),
        date().prop_map(K::SentBefore).boxed(),
        date().prop_map(K::SentOn).boxed(),
        date().prop_map(K::SentSince).boxed(),
        number64().prop_map(K::Larger).boxed(),
        number64().prop_map(K::Smaller).boxed(),
        astr().prop_map(K::From).boxed(),
        astr().prop_map(K::To).boxed(),
        astr().prop_map(K::Cc).boxed(),
        astr().prop_map(K::Bcc).boxed(),
        astr().prop_map(K::Subject).boxed(),
        astr().prop_map(K::Body).boxed(),
        astr().prop_map(K::Text).boxed(),
        (astr(), astr()).prop_map(|(f, v)| K::Header(f, v)).boxed(),
        number64().prop_map(K::ModSeq).boxed(),
        (1u32..).prop_map(K::Older).boxed(),
        (1u32..).prop_map(K::Younger).boxed(),
    ]);
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(K::And),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| K::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| K::Not(Box::new(a))),
        ]
    })
    .boxed()
}

fn returns() -> impl Strategy<Value = Option<Vec<SearchReturn>>> {
    proptest::option::of(proptest::collection::vec(
        prop_oneof![
            Just(SearchReturn::Min),
            Just(SearchReturn::Max),
            Just(SearchReturn::All),
            Just(SearchReturn::Count),
            Just(SearchReturn::Save),
        ],
        0..4,
    ))
}

fn charset() -> BoxedStrategy<Str<'static>> {
    "[A-Za-z0-9-]{1,10}"
        .prop_map(|s| Cow::Owned(s.into_bytes()))
        .boxed()
}

fn partial() -> impl Strategy<Value = Option<Partial>> {
    proptest::option::of(
        (any::<u32>(), 1u32..).prop_map(|(origin, count)| Partial { origin, count }),
    )
}

fn part() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(1u32.., 0..4)
}

fn fetch_att() -> BoxedStrategy<FetchAttr<'static>> {
    let section = (
        part(),
        0u8..5,
        any::<bool>(),
        proptest::collection::vec(astr(), 1..3),
    )
        .prop_map(|(part, kind, not, fields)| {
            let text = match kind {
                0 => None,
                1 => Some(SectionText::Header),
                2 => Some(SectionText::Text),
                3 if !part.is_empty() => Some(SectionText::Mime),
                _ => Some(SectionText::HeaderFields { not, fields }),
            };
            Section { part, text }
        });
    Union::new(vec![
        Just(FetchAttr::Flags).boxed(),
        Just(FetchAttr::InternalDate).boxed(),
        Just(FetchAttr::Rfc822Size).boxed(),
        Just(FetchAttr::Envelope).boxed(),
        Just(FetchAttr::Body).boxed(),
        Just(FetchAttr::BodyStructure).boxed(),
        Just(FetchAttr::Uid).boxed(),
        Just(FetchAttr::ModSeq).boxed(),
        Just(FetchAttr::Rfc822).boxed(),
        Just(FetchAttr::Rfc822Header).boxed(),
        Just(FetchAttr::Rfc822Text).boxed(),
        (any::<bool>(), section, partial())
            .prop_map(|(peek, section, partial)| FetchAttr::Section {
                peek,
                section,
                partial,
            })
            .boxed(),
        (any::<bool>(), part(), partial())
            .prop_map(|(peek, part, partial)| FetchAttr::Binary {
                peek,
                part,
                partial,
            })
            .boxed(),
        part()
            .prop_map(|part| FetchAttr::BinarySize { part })
            .boxed(),
    ])
    .boxed()
}

fn status_item() -> impl Strategy<Value = StatusItem> {
    prop_oneof![
        Just(StatusItem::Messages),
        Just(StatusItem::Recent),
        Just(StatusItem::UidNext),
        Just(StatusItem::UidValidity),
        Just(StatusItem::Unseen),
        Just(StatusItem::Deleted),
        Just(StatusItem::Size),
        Just(StatusItem::HighestModSeq),
        Just(StatusItem::AppendLimit),
    ]
}

fn select_params() -> impl Strategy<Value = SelectParams> {
    let qresync = (
        1u32..,
        number64(),
        proptest::option::of(seq_set()),
        proptest::option::of((seq_set(), seq_set())),
    )
        .prop_map(|(uidvalidity, modseq, known_uids, seq_match)| QResync {
            uidvalidity,
            modseq,
            known_uids,
            seq_match,
        });
    (any::<bool>(), proptest::option::of(qresync))
        .prop_map(|(condstore, qresync)| SelectParams { condstore, qresync })
}

fn list() -> impl Strategy<Value = List<'static>> {
    (
        astr(),
        proptest::collection::vec(astr(), 1..3),
        any::<[bool; 4]>(),
        any::<[bool; 3]>(),
        proptest::option::of(proptest::collection::vec(status_item(), 1..4)),
    )
        .prop_map(|(reference, patterns, s, r, status)| List {
            reference,
            patterns,
            select: ListSelect {
                subscribed: s[0],
                remote: s[1],
                // RFC 5258 3: only with another selection option.
                recursive_match: s[2] && (s[0] || s[3]),
                special_use: s[3],
            },
            returns: ListReturn {
                subscribed: r[0],
                children: r[1],
                special_use: r[2],
                status,
            },
        })
}

fn sort_criterion() -> impl Strategy<Value = SortCriterion> {
    (
        any::<bool>(),
        prop_oneof![
            Just(SortKey::Arrival),
            Just(SortKey::Cc),
            Just(SortKey::Date),
            Just(SortKey::From),
            Just(SortKey::Size),
            Just(SortKey::Subject),
            Just(SortKey::To),
            Just(SortKey::DisplayFrom),
            Just(SortKey::DisplayTo),
        ],
    )
        .prop_map(|(reverse, key)| SortCriterion { reverse, key })
}

fn base64() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        Just(&b""[..]),
        "([A-Za-z0-9+/]{4}){1,4}(|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)"
            .prop_map(|s| leak_str(s).as_bytes()),
    ]
}

fn append_message() -> impl Strategy<Value = AppendMessage<'static>> {
    (
        proptest::collection::vec(flag(), 0..3),
        proptest::option::of(date_time()),
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
    )
        .prop_map(|(flags, date, data, binary)| AppendMessage {
            flags,
            date,
            // NUL only in literal8 (RFC 3516 4.4); a plain literal cannot carry it.
            message: Box::leak(
                data.into_iter()
                    .map(|b| if binary { b } else { b.max(1) })
                    .collect::<Vec<u8>>()
                    .into_boxed_slice(),
            ),
            binary,
        })
}

fn command() -> BoxedStrategy<Command<'static>> {
    use Command as C;
    Union::new(vec![
        Just(C::Capability).boxed(),
        Just(C::Noop).boxed(),
        Just(C::Logout).boxed(),
        Just(C::StartTls).boxed(),
        Just(C::Namespace).boxed(),
        Just(C::Idle).boxed(),
        Just(C::Check).boxed(),
        Just(C::Close).boxed(),
        Just(C::Unselect).boxed(),
        Just(C::Expunge).boxed(),
        proptest::option::of(proptest::collection::vec(
            (astr(), proptest::option::of(astr())),
            0..3,
        ))
        .prop_map(C::Id)
        .boxed(),
        (astr(), astr())
            .prop_map(|(user, password)| C::Login { user, password })
            .boxed(),
        (atom(), proptest::option::of(base64()))
            .prop_map(|(mechanism, initial)| C::Authenticate { mechanism, initial })
            .boxed(),
        proptest::collection::vec(atom(), 1..4)
            .prop_map(C::Enable)
            .boxed(),
        (mailbox(), select_params())
            .prop_map(|(mailbox, params)| C::Select { mailbox, params })
            .boxed(),
        (mailbox(), select_params())
            .prop_map(|(mailbox, params)| C::Examine { mailbox, params })
            .boxed(),
        (
            mailbox(),
            proptest::collection::vec("\\\\[A-Za-z]{1,8}".prop_map(leak_str), 0..3),
        )
            .prop_map(|(mailbox, special_use)| C::Create {
                mailbox,
                special_use,
            })
            .boxed(),
        mailbox().prop_map(C::Delete).boxed(),
        (mailbox(), mailbox())
            .prop_map(|(from, to)| C::Rename { from, to })
            .boxed(),
        mailbox().prop_map(C::Subscribe).boxed(),
        mailbox().prop_map(C::Unsubscribe).boxed(),
        list().prop_map(C::List).boxed(),
        (astr(), astr())
            .prop_map(|(reference, pattern)| C::Lsub { reference, pattern })
            .boxed(),
        (mailbox(), proptest::collection::vec(status_item(), 1..5))
            .prop_map(|(mailbox, items)| C::Status { mailbox, items })
            .boxed(),
        (mailbox(), proptest::collection::vec(append_message(), 1..3))
            .prop_map(|(mailbox, messages)| C::Append { mailbox, messages })
            .boxed(),
        atom().prop_map(C::Compress).boxed(),
        astr().prop_map(C::GetQuota).boxed(),
        mailbox().prop_map(C::GetQuotaRoot).boxed(),
        (
            astr(),
            proptest::collection::vec((atom(), number64()), 0..3),
        )
            .prop_map(|(root, limits)| C::SetQuota { root, limits })
            .boxed(),
        seq_set().prop_map(C::UidExpunge).boxed(),
        (
            any::<bool>(),
            proptest::option::of(charset()),
            returns(),
            search_key(),
        )
            .prop_map(|(uid, charset, returns, key)| {
                C::Search(Search {
                    uid,
                    charset,
                    returns,
                    key,
                })
            })
            .boxed(),
        (
            any::<bool>(),
            seq_set(),
            proptest::collection::vec(fetch_att(), 1..5),
            proptest::option::of(number64()),
            any::<bool>(),
        )
            .prop_map(|(uid, set, items, changed_since, vanished)| {
                C::Fetch(Fetch {
                    uid,
                    set,
                    items,
                    changed_since,
                    vanished: vanished && uid && changed_since.is_some(),
                })
            })
            .boxed(),
        (
            any::<bool>(),
            seq_set(),
            prop_oneof![
                Just(StoreMode::Replace),
                Just(StoreMode::Add),
                Just(StoreMode::Remove)
            ],
            any::<bool>(),
            proptest::collection::vec(flag(), 0..4),
            proptest::option::of(number64()),
        )
            .prop_map(|(uid, set, mode, silent, flags, unchanged_since)| {
                C::Store(Store {
                    uid,
                    set,
                    mode,
                    silent,
                    flags,
                    unchanged_since,
                })
            })
            .boxed(),
        (any::<bool>(), seq_set(), mailbox())
            .prop_map(|(uid, set, mailbox)| C::Copy { uid, set, mailbox })
            .boxed(),
        (any::<bool>(), seq_set(), mailbox())
            .prop_map(|(uid, set, mailbox)| C::Move { uid, set, mailbox })
            .boxed(),
        (
            any::<bool>(),
            proptest::collection::vec(sort_criterion(), 1..4),
            charset(),
            search_key(),
            returns(),
        )
            .prop_map(|(uid, criteria, charset, key, returns)| C::Sort {
                uid,
                criteria,
                charset,
                key,
                returns,
            })
            .boxed(),
        (
            any::<bool>(),
            prop_oneof![
                Just(ThreadAlgorithm::OrderedSubject),
                Just(ThreadAlgorithm::References)
            ],
            charset(),
            search_key(),
        )
            .prop_map(|(uid, algorithm, charset, key)| C::Thread {
                uid,
                algorithm,
                charset,
                key,
            })
            .boxed(),
    ])
    .boxed()
}

fn tagged() -> impl Strategy<Value = Tagged<'static>> {
    ("[A-Za-z0-9.\\]_-]{1,8}".prop_map(leak_str), command())
        .prop_map(|(tag, command)| Tagged { tag, command })
}

fn opts() -> Options {
    Options {
        searchres: true,
        ..Options::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn printed_commands_parse_back(t in tagged()) {
        let text = writer::tagged(&t);
        prop_assert_eq!(parse(&text, &opts()), Ok(t.clone()), "{}", String::from_utf8_lossy(&text));
        // The receiver frames it whole when it arrives at once.
        let mut rx = Receiver::new(opts());
        match rx.receive(&text) {
            Step::Command { command, used } => {
                prop_assert_eq!(used, text.len());
                prop_assert_eq!(command, t);
            }
            s => prop_assert!(false, "{:?}", s),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&bytes, &Options::default());
    }

    #[test]
    fn mutated_commands_never_panic(
        t in tagged(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut text = writer::tagged(&t);
        let i = at.index(text.len());
        text[i] = byte;
        let text = &text[..cut.index(text.len() + 1).max(1).min(text.len())];
        let _ = parse(text, &opts());
        let _ = drive(text, 7);
    }

}

proptest! {
    // Generating these streams dominates (the RNG in a debug build): fewer cases, the fuzz target
    // covers the rest.
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_receiver_survives_any_stream(
        bytes in proptest::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                1 => Just(b'\n'),
                1 => Just(b'{'),
                1 => Just(b'}'),
                1 => Just(b'+'),
            ],
            0..400,
        ),
        read in 1usize..50,
    ) {
        drive(&bytes, read);
    }
}

/// Feeds `bytes` in reads of `read` bytes, following the receiver's instructions; checks that every
/// drop stays within the buffer and that the buffer stays bounded by the limits.
fn drive(bytes: &[u8], read: usize) -> usize {
    let opts = Options {
        limits: super::Limits {
            max_line: 64,
            max_literal: 32,
            max_command: 200,
            max_literals: 4,
            max_depth: 4,
            max_items: 16,
        },
        ..Options::default()
    };
    let mut rx = Receiver::new(opts);
    let mut buf = Vec::new();
    let mut commands = 0;
    let mut chunks = bytes.chunks(read);
    for _ in 0..100_000 {
        let drop = match rx.receive(&buf) {
            Step::Command { used, .. } => {
                commands += 1;
                used
            }
            Step::Reject { skip, .. } | Step::Skip(skip) => skip,
            Step::NeedMore { .. } | Step::Continue => match chunks.next() {
                Some(c) => {
                    buf.extend_from_slice(c);
                    0
                }
                None => return commands,
            },
        };
        assert!(drop <= buf.len());
        buf.drain(..drop);
        assert!(buf.len() <= 200 + 64 + read, "buffer grew to {}", buf.len());
    }
    panic!("the receiver did not progress");
}
