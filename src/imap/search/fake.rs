//! A message for tests of SEARCH, SORT and THREAD: index facts and decoded content given by hand.

use std::borrow::Cow;
use std::cell::Cell;

use super::date::days_from_civil;
use super::{Address, Candidate, Content, Stamp};

#[derive(Debug, Default)]
pub struct FakeContent {
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: Vec<&'static str>,
    pub date: Option<Stamp>,
    pub addresses: Vec<(&'static str, Address<'static>)>,
}

impl Content for FakeContent {
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| Cow::Borrowed(*v))
            .collect()
    }
    fn header_text(&self) -> Cow<'_, str> {
        let mut s = String::new();
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        Cow::Owned(s)
    }
    fn body_texts(&self) -> Vec<Cow<'_, str>> {
        self.body.iter().map(|b| Cow::Borrowed(*b)).collect()
    }
    fn sent_date(&self) -> Option<Stamp> {
        self.date
    }
    fn first_address(&self, field: &str) -> Option<Address<'_>> {
        self.addresses
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(field))
            .map(|(_, a)| a.clone())
    }
}

#[derive(Debug)]
pub struct Msg {
    pub seq: u32,
    pub uid: u32,
    pub flags: u8,
    pub keywords: Vec<&'static str>,
    pub recent: bool,
    pub date: Stamp,
    pub size: u64,
    pub modseq: u64,
    pub content: Option<FakeContent>,
    pub content_asked: Cell<u32>,
}

impl Msg {
    pub fn new(seq: u32, uid: u32) -> Msg {
        Msg {
            seq,
            uid,
            flags: 0,
            keywords: Vec::new(),
            recent: false,
            date: Stamp::new(days_from_civil(2024, 3, 1) * 86_400 + 12 * 3600, 0),
            size: 1000,
            modseq: 1,
            content: Some(FakeContent::default()),
            content_asked: Cell::new(0),
        }
    }
}

impl Candidate for Msg {
    type Content = FakeContent;
    fn seq(&self) -> u32 {
        self.seq
    }
    fn uid(&self) -> u32 {
        self.uid
    }
    fn flags(&self) -> u8 {
        self.flags
    }
    fn has_keyword(&self, keyword: &str) -> bool {
        self.keywords
            .iter()
            .any(|k| k.eq_ignore_ascii_case(keyword))
    }
    fn recent(&self) -> bool {
        self.recent
    }
    fn internal_date(&self) -> Stamp {
        self.date
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn modseq(&self) -> u64 {
        self.modseq
    }
    fn content(&self) -> Option<&FakeContent> {
        self.content_asked.set(self.content_asked.get() + 1);
        self.content.as_ref()
    }
}
