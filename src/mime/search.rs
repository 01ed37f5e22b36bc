//! `imap::search::Content` over a parsed message: what SEARCH and SORT read from message content
//! (RFC 9051 6.4.4, RFC 5256, RFC 5957), decoded as this module's text functions do it.

use super::Message;
use crate::imap::search::{Address, Content, Stamp};
use std::borrow::Cow;

impl Content for Message<'_> {
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        Message::header_values(self, name.as_bytes())
            .into_iter()
            .map(Cow::Owned)
            .collect()
    }

    fn header_text(&self) -> Cow<'_, str> {
        Cow::Owned(Message::header_text(self))
    }

    fn body_texts(&self) -> Vec<Cow<'_, str>> {
        Message::body_texts(self)
            .into_iter()
            .map(Cow::Owned)
            .collect()
    }

    fn sent_date(&self) -> Option<Stamp> {
        let d = Message::sent_date(self)?;
        Some(Stamp::new(d.timestamp(), d.zone_minutes))
    }

    fn first_address(&self, field: &str) -> Option<Address<'_>> {
        let a = Message::first_address(self, field.as_bytes())?;
        Some(Address {
            name: a.name.map(Cow::Owned),
            mailbox: Some(Cow::Owned(a.mailbox)),
            host: Some(Cow::Owned(a.host)),
        })
    }
}

/// A message parsed on first use: what a session hands SEARCH as `Candidate::Content`, so keys that
/// never read content (flags, UIDs, sizes) never parse.
pub struct LazyMessage<'a> {
    raw: &'a [u8],
    parsed: std::cell::OnceCell<Message<'a>>,
}

impl<'a> LazyMessage<'a> {
    pub fn new(raw: &'a [u8]) -> LazyMessage<'a> {
        LazyMessage {
            raw,
            parsed: std::cell::OnceCell::new(),
        }
    }

    /// The parsed message (parsing it now if this is the first use).
    pub fn get(&self) -> &Message<'a> {
        self.parsed.get_or_init(|| Message::parse(self.raw))
    }

    pub fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }
}

impl Content for LazyMessage<'_> {
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        Content::header_values(self.get(), name)
    }
    fn header_text(&self) -> Cow<'_, str> {
        Content::header_text(self.get())
    }
    fn body_texts(&self) -> Vec<Cow<'_, str>> {
        Content::body_texts(self.get())
    }
    fn sent_date(&self) -> Option<Stamp> {
        Content::sent_date(self.get())
    }
    fn first_address(&self, field: &str) -> Option<Address<'_>> {
        Content::first_address(self.get(), field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::search::{Candidate, Limits, Query, Scope};
    use crate::imap::types::{Date, SearchKey};

    #[test]
    fn content_reads_the_fixture_the_way_search_needs() {
        let eml =
            std::fs::read(super::super::fixtures::dir().join("04-encoded-words.eml")).unwrap();
        let msg = Message::parse(&eml);
        let c: &dyn Content = &msg;
        assert_eq!(c.header_values("Subject"), vec!["café 😀 and plain"]);
        assert_eq!(c.body_texts(), vec!["body\r\n"]);
        let d = c.sent_date().unwrap();
        assert_eq!((d.unix, d.offset_minutes), (1_795_939_199, -480));
        let from = c.first_address("from").unwrap();
        assert_eq!(from.name.as_deref(), Some("Jöran"));
        assert!(c.header_text().contains("Subject: café 😀 and plain\n"));
    }

    /// A candidate whose content is a parsed message.
    struct Parsed<'a>(Message<'a>);

    impl<'a> Candidate for Parsed<'a> {
        type Content = Message<'a>;
        fn seq(&self) -> u32 {
            1
        }
        fn uid(&self) -> u32 {
            1
        }
        fn flags(&self) -> u8 {
            0
        }
        fn has_keyword(&self, _: &str) -> bool {
            false
        }
        fn recent(&self) -> bool {
            false
        }
        fn internal_date(&self) -> Stamp {
            Stamp::new(0, 0)
        }
        fn size(&self) -> u64 {
            self.0.size() as u64
        }
        fn modseq(&self) -> u64 {
            1
        }
        fn content(&self) -> Option<&Message<'a>> {
            Some(&self.0)
        }
    }

    #[test]
    fn search_keys_match_decoded_content() {
        let eml =
            std::fs::read(super::super::fixtures::dir().join("04-encoded-words.eml")).unwrap();
        let m = Parsed(Message::parse(&eml));
        let mailbox = vec![1u32];
        let hit = |key: SearchKey<'_>| {
            Query::compile(
                &key,
                &Scope {
                    mailbox: &mailbox,
                    now: 0,
                },
                &Limits::default(),
            )
            .unwrap()
            .matches(&m)
        };
        let s = |t: &'static str| Cow::Borrowed(t.as_bytes());
        assert!(hit(SearchKey::Subject(s("CAFÉ 😀"))));
        assert!(hit(SearchKey::From(s("jöran"))));
        assert!(hit(SearchKey::To(s("André"))));
        assert!(!hit(SearchKey::Subject(s("tea"))));
        assert!(hit(SearchKey::Body(s("body"))));
        // Written as 28 Nov 23:59:59 -0800: SENTON compares the date as written.
        let nov = |day| Date {
            year: 2026,
            month: 11,
            day,
        };
        assert!(hit(SearchKey::SentOn(nov(28))));
        assert!(!hit(SearchKey::SentOn(nov(29))));

        // Lazily: a key on flags does not parse; a content key does.
        let lazy = LazyMessage::new(&eml);
        assert!(!lazy.is_parsed());
        assert_eq!(
            Content::header_values(&lazy, "subject"),
            vec!["café 😀 and plain"]
        );
        assert!(lazy.is_parsed());
    }
}
