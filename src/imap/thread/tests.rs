//! THREAD tests: the RFC 5256 response examples, each REFERENCES step, ORDEREDSUBJECT, and a chain
//! long enough to break anything recursive.

use super::*;
use crate::imap::search::fake::{FakeContent, Msg};
use crate::imap::search::Stamp;

/// Message `seq` with an id, references, a subject and a date.
fn m(seq: u32, id: Option<&str>, refs: &[&str], subject: &str, date: i64) -> ThreadMsg {
    let b = base_subject(subject);
    ThreadMsg {
        seq,
        id: seq,
        message_id: id.map(str::to_string),
        references: refs.iter().map(|r| r.to_string()).collect(),
        subject: crate::imap::search::text::fold(&b.text),
        reply_or_forward: b.reply_or_forward,
        date,
    }
}

fn refs(msgs: &[ThreadMsg]) -> String {
    references::thread(msgs).to_string()
}

/// Builds a forest from nested (id, children) literals for writer tests.
fn node(f: &mut Forest, id: Option<u32>, children: Vec<usize>) -> usize {
    let n = f.add(id);
    f.nodes[n].children = children;
    n
}

#[test]
fn writer_matches_the_rfc_examples() {
    // RFC 5256 4: "(2)(3 6 (4 23)(44 7 96))".
    let mut f = Forest::default();
    let a = node(&mut f, Some(2), vec![]);
    let n23 = node(&mut f, Some(23), vec![]);
    let n4 = node(&mut f, Some(4), vec![n23]);
    let n96 = node(&mut f, Some(96), vec![]);
    let n7 = node(&mut f, Some(7), vec![n96]);
    let n44 = node(&mut f, Some(44), vec![n7]);
    let n6 = node(&mut f, Some(6), vec![n4, n44]);
    let n3 = node(&mut f, Some(3), vec![n6]);
    f.roots = vec![a, n3];
    assert_eq!(f.to_string(), "(2)(3 6 (4 23)(44 7 96))");
    // "((3)(5))": a dummy parent of two messages.
    let mut f = Forest::default();
    let x = node(&mut f, Some(3), vec![]);
    let y = node(&mut f, Some(5), vec![]);
    let d = node(&mut f, None, vec![x, y]);
    f.roots = vec![d];
    assert_eq!(f.to_string(), "((3)(5))");
    // A dummy whose children have children.
    let mut f = Forest::default();
    let z = node(&mut f, Some(9), vec![]);
    let x = node(&mut f, Some(3), vec![z]);
    let y = node(&mut f, Some(5), vec![]);
    let d = node(&mut f, None, vec![x, y]);
    f.roots = vec![d];
    assert_eq!(f.to_string(), "((3 9)(5))");
    assert_eq!(Forest::default().to_string(), "");
}

#[test]
fn references_links_parents_from_references_and_in_reply_to() {
    let msgs = [
        m(1, Some("a@x"), &[], "Plan", 10),
        m(2, Some("b@x"), &["a@x"], "Re: Plan", 20),
        m(3, Some("c@x"), &["a@x", "b@x"], "Re: Plan", 30),
        // In-Reply-To only (ThreadMsg::of puts it in `references` when References is absent).
        m(4, Some("d@x"), &["b@x"], "Re: Plan", 40),
        m(5, Some("e@x"), &[], "Other", 15),
    ];
    assert_eq!(refs(&msgs), "(1 2 (3)(4))(5)");
}

#[test]
fn references_dummies_for_missing_parents() {
    // Two replies to a message not in the mailbox: a dummy holds them (step 3 keeps a top-level
    // dummy with several children).
    let msgs = [
        m(1, Some("b@x"), &["gone@x"], "Re: Lost", 10),
        m(2, Some("c@x"), &["gone@x"], "Re: Lost", 20),
    ];
    assert_eq!(refs(&msgs), "((1)(2))");
    // One reply to a missing message: the dummy goes and the reply is a thread of its own.
    let msgs = [m(1, Some("b@x"), &["gone@x"], "Re: Lost", 10)];
    assert_eq!(refs(&msgs), "(1)");
    // A missing message in the middle of a chain: the dummy is spliced out below the top.
    let msgs = [
        m(1, Some("a@x"), &[], "Chain", 10),
        m(2, Some("c@x"), &["a@x", "gone@x"], "Re: Chain", 20),
        m(3, Some("d@x"), &["a@x", "gone@x"], "Re: Chain", 30),
    ];
    assert_eq!(refs(&msgs), "(1 (2)(3))");
}

#[test]
fn references_survive_loops_duplicates_and_missing_ids() {
    // A refers to B and B to A: no loop, nothing lost.
    let msgs = [
        m(1, Some("a@x"), &["b@x"], "One", 10),
        m(2, Some("b@x"), &["a@x"], "Two", 20),
    ];
    let out = refs(&msgs);
    assert_eq!(
        out, "(2 1)",
        "B is processed last and becomes the parent? got {out}"
    );
    // Duplicate Message-IDs: the second is a message of its own.
    let msgs = [
        m(1, Some("a@x"), &[], "Dup one", 10),
        m(2, Some("a@x"), &[], "Dup two", 20),
        m(3, Some("r@x"), &["a@x"], "Re: Dup one", 30),
    ];
    assert_eq!(refs(&msgs), "(1 3)(2)");
    // No Message-ID at all.
    let msgs = [m(1, None, &[], "x", 10), m(2, None, &[], "y", 5)];
    assert_eq!(refs(&msgs), "(2)(1)");
    // A message referring to itself.
    let msgs = [m(1, Some("a@x"), &["a@x"], "Self", 10)];
    assert_eq!(refs(&msgs), "(1)");
}

#[test]
fn references_group_by_base_subject() {
    // A reply without references goes under the original with the same base subject.
    let msgs = [
        m(1, Some("a@x"), &[], "Lunch", 10),
        m(2, Some("b@x"), &[], "Re: Lunch", 20),
    ];
    assert_eq!(refs(&msgs), "(1 2)");
    // Two originals with one subject: a new dummy holds both.
    let msgs = [
        m(1, Some("a@x"), &[], "Lunch", 10),
        m(2, Some("b@x"), &[], "lunch", 20),
    ];
    assert_eq!(refs(&msgs), "((1)(2))");
    // The reply is older than the original: the table still prefers the original.
    let msgs = [
        m(1, Some("b@x"), &[], "Re: Lunch", 5),
        m(2, Some("a@x"), &[], "Lunch", 10),
        m(3, Some("c@x"), &[], "Unrelated", 7),
    ];
    assert_eq!(refs(&msgs), "(3)(2 1)");
    // A dummy (two replies to a missing message) attracts an unrelated message with the subject.
    let msgs = [
        m(1, Some("b@x"), &["gone@x"], "Re: Lost", 10),
        m(2, Some("c@x"), &["gone@x"], "Re: Lost", 20),
        m(3, Some("d@x"), &[], "Lost", 30),
    ];
    assert_eq!(refs(&msgs), "((1)(2)(3))");
    // Empty subjects are never grouped.
    let msgs = [
        m(1, Some("a@x"), &[], "", 10),
        m(2, Some("b@x"), &[], "Re:", 20),
    ];
    assert_eq!(refs(&msgs), "(1)(2)");
}

#[test]
fn references_sort_siblings_and_threads_by_date_then_sequence() {
    let msgs = [
        m(1, Some("a@x"), &[], "Root", 50),
        m(2, Some("b@x"), &["a@x"], "Re: Root", 90),
        m(3, Some("c@x"), &["a@x"], "Re: Root", 60),
        m(4, Some("d@x"), &["a@x"], "Re: Root", 60),
        m(5, Some("e@x"), &[], "Early", 1),
    ];
    assert_eq!(refs(&msgs), "(5)(1 (3)(4)(2))");
}

#[test]
fn ordered_subject_groups_by_subject_and_orders_by_date() {
    let msgs = [
        m(1, None, &[], "b", 5),
        m(2, None, &[], "a", 3),
        m(3, None, &[], "Re: a", 4),
        m(4, None, &[], "B", 1),
        m(5, None, &[], "c", 2),
        m(6, None, &[], "[list] a", 9),
    ];
    assert_eq!(ordered_subject(&msgs).to_string(), "(4 1)(5)(2 (3)(6))");
    assert_eq!(
        thread(ThreadAlgorithm::OrderedSubject, &msgs).to_string(),
        "(4 1)(5)(2 (3)(6))"
    );
}

#[test]
fn a_very_long_chain_neither_recurses_nor_loses_messages() {
    // 100,000 replies, each to the one before: linear work (a loop check that walked up the chain
    // for every link would take 5e9 steps here).
    let n = 100_000u32;
    let ids: Vec<String> = (1..=n).map(|i| format!("{i}@chain")).collect();
    let msgs: Vec<ThreadMsg> = (1..=n)
        .map(|i| {
            let mut t = m(
                i,
                Some(&ids[i as usize - 1]),
                &[],
                "Re: chain",
                i64::from(i),
            );
            if i > 1 {
                t.references = vec![ids[i as usize - 2].clone()];
            }
            t
        })
        .collect();
    let out = refs(&msgs);
    let expect: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    assert_eq!(out, format!("({})", expect.join(" ")));
    // ORDEREDSUBJECT: one thread, every reply a child of the first.
    let children: String = (2..=n).map(|i| format!("({i})")).collect();
    assert_eq!(
        ordered_subject(&msgs).to_string(),
        format!("(1 {children})")
    );
}

#[test]
fn msg_ids_are_extracted_from_header_values() {
    assert_eq!(msg_ids("<a@b> <c@d>"), vec!["a@b", "c@d"]);
    assert_eq!(msg_ids(" <a@b>\r\n\t<c@d> "), vec!["a@b", "c@d"]);
    assert_eq!(msg_ids("Your message of <a@b> (comment)"), vec!["a@b"]);
    assert_eq!(msg_ids("<a @ b>"), vec!["a@b"]);
    assert_eq!(msg_ids("<> <<x@y>"), vec!["x@y"]);
    assert!(msg_ids("no ids here").is_empty());
    assert!(msg_ids("<unterminated").is_empty());
}

#[test]
fn thread_msg_reads_the_candidate() {
    let mut c = Msg::new(7, 70);
    c.date = Stamp::new(1000, 0);
    c.content = Some(FakeContent {
        headers: vec![
            ("Message-ID", "<me@x>"),
            ("In-Reply-To", "<parent@x> (sent by Ann)"),
            ("Subject", "Re: [list] Topic"),
        ],
        date: Some(Stamp::new(500, 60)),
        ..FakeContent::default()
    });
    let t = ThreadMsg::of(&c, true);
    assert_eq!(t.id, 70);
    assert_eq!(t.seq, 7);
    assert_eq!(t.message_id.as_deref(), Some("me@x"));
    assert_eq!(t.references, vec!["parent@x"]);
    assert_eq!(t.subject, "topic");
    assert!(t.reply_or_forward);
    assert_eq!(t.date, 500);
    // References wins over In-Reply-To.
    c.content
        .as_mut()
        .unwrap()
        .headers
        .push(("References", "<root@x> <mid@x>"));
    let t = ThreadMsg::of(&c, false);
    assert_eq!(t.id, 7);
    assert_eq!(t.references, vec!["root@x", "mid@x"]);
    // No content: the internal date, no ids.
    c.content = None;
    let t = ThreadMsg::of(&c, false);
    assert_eq!(t.date, 1000);
    assert_eq!(t.message_id, None);
}

proptest::proptest! {
    #[test]
    fn msg_ids_of_any_text_are_bracket_free(s in "([<>@ a-z]|\\PC){0,40}") {
        for id in msg_ids(&s) {
            proptest::prop_assert!(!id.is_empty());
            proptest::prop_assert!(!id.contains('<') && !id.contains('>') && !id.contains(' '));
        }
    }
}

#[test]
fn a_wide_tree_whose_replies_arrive_before_their_parents_threads_in_linear_time() {
    // 30,000 replies R_i to one root; first come their own replies S_i, whose References (`<p>
    // <R_i>`) hang every R_i under a missing message <p>; then each R_i arrives and moves under the
    // root. Removing it from <p>'s 30,000 children one at a time would take 4.5e8 steps.
    let n = 30_000u32;
    let mut msgs = vec![m(1, Some("root@x"), &[], "wide", 1)];
    let mut expect = String::from("(1 ");
    for i in 0..n {
        let date = 10 + 2 * i64::from(i);
        let r = format!("r{i}@x");
        msgs.push(m(
            2 + i,
            Some(&format!("s{i}@x")),
            &["p@x", &r],
            "Re: wide",
            date + 1,
        ));
        expect.push_str(&format!("({} {})", 2 + n + i, 2 + i));
    }
    for i in 0..n {
        let date = 10 + 2 * i64::from(i);
        msgs.push(m(
            2 + n + i,
            Some(&format!("r{i}@x")),
            &["root@x"],
            "Re: wide",
            date,
        ));
    }
    expect.push(')');
    let t = std::time::Instant::now();
    let out = refs(&msgs);
    let took = t.elapsed();
    assert_eq!(out, expect);
    assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
}
