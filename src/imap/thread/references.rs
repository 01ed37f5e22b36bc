//! THREAD=REFERENCES (RFC 5256 3, after Jamie Zawinski's algorithm), step by step. Containers live
//! in one vector and link by index; every walk is a loop, never recursion, because a crafted chain of
//! References: can be as long as the mailbox.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{Forest, ThreadMsg};

#[derive(Debug, Clone, Default)]
struct Container {
    /// The message (index into the input); `None` for a dummy.
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Tree<'m> {
    msgs: &'m [ThreadMsg],
    c: Vec<Container>,
}

impl Tree<'_> {
    fn add(&mut self, msg: Option<usize>) -> usize {
        self.c.push(Container {
            msg,
            ..Container::default()
        });
        self.c.len() - 1
    }

    fn link(&mut self, child: usize, parent: usize) {
        self.c[child].parent = Some(parent);
        self.c[parent].children.push(child);
    }

    /// Detaches `child` from its parent in O(1): the parent's list keeps a stale entry until
    /// [`Tree::drop_stale`] (removing it here would scan the siblings: quadratic on a wide tree whose
    /// children move, e.g. replies that arrive before the message they answer).
    fn unlink(&mut self, child: usize) {
        self.c[child].parent = None;
    }

    /// Keeps in each child list only the containers whose parent it is, once each (a child unlinked
    /// and linked again under the same parent has two entries). One pass over all entries.
    fn drop_stale(&mut self) {
        let mut seen = vec![false; self.c.len()];
        for n in 0..self.c.len() {
            let mut kids = std::mem::take(&mut self.c[n].children);
            kids.retain(|&k| {
                let keep = self.c[k].parent == Some(n) && !seen[k];
                seen[k] |= keep;
                keep
            });
            self.c[n].children = kids;
        }
    }

    /// Would making `parent` the parent of `child` close a loop (is `parent` `child` or below it)?
    fn would_loop(&self, parent: usize, child: usize) -> bool {
        // A container without children has nothing below it: the common case (each new message of a
        // reply chain) answers without walking up a chain as long as the thread. (Stale entries, see
        // `unlink`, only make it walk when it need not: the walk follows parent links.)
        if self.c[child].children.is_empty() {
            return parent == child;
        }
        let mut at = Some(parent);
        while let Some(x) = at {
            if x == child {
                return true;
            }
            at = self.c[x].parent;
        }
        false
    }

    /// The message a container stands for when sorting or grouping: its own, or a dummy's first
    /// child's (RFC 5256 3, REFERENCES steps 4 and 5.B.i).
    fn msg_of(&self, n: usize) -> Option<&ThreadMsg> {
        let c = &self.c[n];
        match c.msg {
            Some(m) => self.msgs.get(m),
            None => c
                .children
                .first()
                .and_then(|&f| self.c[f].msg)
                .and_then(|m| self.msgs.get(m)),
        }
    }

    /// Sent date then sequence number (RFC 5256 3, steps 4 and 6: exact ties in mailbox order).
    fn order(&self, a: usize, b: usize) -> Ordering {
        let key = |n| self.msg_of(n).map(|m| (m.date, m.seq));
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (x, y) => x.is_none().cmp(&y.is_none()),
        }
    }

    fn sort_children(&mut self, n: usize) {
        let mut kids = std::mem::take(&mut self.c[n].children);
        kids.sort_by(|&a, &b| self.order(a, b));
        self.c[n].children = kids;
    }
}

pub fn thread(msgs: &[ThreadMsg]) -> Forest {
    let mut t = Tree {
        msgs,
        c: Vec::with_capacity(msgs.len() * 2),
    };
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(msgs.len() * 2);

    // Step 1: link every message to its references.
    for (i, m) in msgs.iter().enumerate() {
        // A message whose id a dummy holds takes that dummy over. A missing id, or a duplicate of a
        // message seen before, gets a container of its own that no reference can reach (step 1:
        // "assign a unique Message ID").
        let me = match m.message_id.as_deref() {
            Some(id) => match ids.get(id) {
                Some(&c) if t.c[c].msg.is_none() => {
                    t.c[c].msg = Some(i);
                    c
                }
                Some(_) => t.add(Some(i)),
                None => {
                    let c = t.add(Some(i));
                    ids.insert(id, c);
                    c
                }
            },
            None => t.add(Some(i)),
        };
        // Step 1.A: each reference is the parent of the next, unless the next has a parent already
        // or the link would make a loop.
        let mut prev: Option<usize> = None;
        for r in &m.references {
            let c = match ids.get(r.as_str()) {
                Some(&c) => c,
                None => {
                    let c = t.add(None);
                    ids.insert(r.as_str(), c);
                    c
                }
            };
            if let Some(p) = prev {
                if t.c[c].parent.is_none() && !t.would_loop(p, c) {
                    t.link(c, p);
                }
            }
            prev = Some(c);
        }
        // Step 1.B: the last reference becomes this message's parent, replacing any parent an
        // earlier message's references gave it; no references, no parent.
        t.unlink(me);
        if let Some(p) = prev {
            if !t.would_loop(p, me) {
                t.link(me, p);
            }
        }
    }

    t.drop_stale();

    // Step 2: the parentless containers are the root's children.
    let roots: Vec<usize> = (0..t.c.len())
        .filter(|&n| t.c[n].parent.is_none())
        .collect();

    // Step 3: prune dummies, children before parents (reverse preorder), so that by the time a
    // container is looked at, its children hold no dummies: an empty dummy goes, a dummy with
    // children is replaced by them, except at the top where a dummy with several stays.
    let mut preorder = Vec::with_capacity(t.c.len());
    let mut stack: Vec<usize> = roots.clone();
    while let Some(n) = stack.pop() {
        preorder.push(n);
        stack.extend(t.c[n].children.iter().copied());
    }
    for &n in preorder.iter().rev() {
        let kids = std::mem::take(&mut t.c[n].children);
        let mut out = Vec::with_capacity(kids.len());
        for k in kids {
            if t.c[k].msg.is_some() {
                out.push(k);
            } else {
                let grandkids = std::mem::take(&mut t.c[k].children);
                for &g in &grandkids {
                    t.c[g].parent = Some(n);
                }
                out.extend(grandkids);
            }
        }
        t.c[n].children = out;
    }
    let mut top: Vec<usize> = Vec::with_capacity(roots.len());
    for n in roots {
        if t.c[n].msg.is_some() || t.c[n].children.len() > 1 {
            top.push(n);
        } else if let Some(&only) = t.c[n].children.first() {
            t.c[only].parent = None;
            top.push(only);
        }
    }

    // Step 4: the top level by sent date (a dummy by its earliest child).
    for &n in &top {
        if t.c[n].msg.is_none() {
            t.sort_children(n);
        }
    }
    top.sort_by(|&a, &b| t.order(a, b));

    // Step 5: gather top-level threads that share a base subject.
    let top = gather_by_subject(&mut t, top);

    // Step 6: sort every set of siblings by sent date.
    let mut stack: Vec<usize> = top.clone();
    let mut all = Vec::new();
    while let Some(n) = stack.pop() {
        all.push(n);
        stack.extend(t.c[n].children.iter().copied());
    }
    // Deepest first, so that a dummy's first child is settled before the dummy is compared.
    for &n in all.iter().rev() {
        t.sort_children(n);
    }
    let mut top = top;
    top.sort_by(|&a, &b| t.order(a, b));

    forest(&t, &top)
}

/// RFC 5256 3, REFERENCES step 5.
fn gather_by_subject(t: &mut Tree<'_>, top: Vec<usize>) -> Vec<usize> {
    let subject = |t: &Tree<'_>, n: usize| -> Option<(String, bool)> {
        t.msg_of(n)
            .filter(|m| !m.subject.is_empty())
            .map(|m| (m.subject.clone(), m.reply_or_forward))
    };
    // 5.A and 5.B: one container per subject, preferring a dummy, then a non-reply.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &n in &top {
        let Some((subj, refwd)) = subject(t, n) else {
            continue;
        };
        match table.get(&subj).copied() {
            None => {
                table.insert(subj, n);
            }
            Some(old) => {
                let old_is_dummy = t.c[old].msg.is_none();
                let old_refwd = t.msg_of(old).is_some_and(|m| m.reply_or_forward);
                if !old_is_dummy && (t.c[n].msg.is_none() || (old_refwd && !refwd)) {
                    table.insert(subj, n);
                }
            }
        }
    }
    // 5.C: merge every other top-level container with the table's.
    let mut top = top;
    let pos: HashMap<usize, usize> = top.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut removed = vec![false; top.len()];
    for i in 0..top.len() {
        let n = top[i];
        let Some((subj, refwd)) = subject(t, n) else {
            continue;
        };
        let Some(&other) = table.get(&subj) else {
            continue;
        };
        if other == n {
            continue;
        }
        let n_dummy = t.c[n].msg.is_none();
        let other_dummy = t.c[other].msg.is_none();
        let other_refwd = t.msg_of(other).is_some_and(|m| m.reply_or_forward);
        if n_dummy && other_dummy {
            // Both dummies: the current one's children join the table's.
            let kids = std::mem::take(&mut t.c[n].children);
            for k in kids {
                t.link(k, other);
            }
        } else if other_dummy || (refwd && !other_refwd) {
            // Under the table's dummy; or, a reply or forward, under the original.
            t.link(n, other);
        } else {
            // Otherwise both go under a new dummy, which takes the table's place in the table and
            // at the top level (the table holds only top-level containers).
            let d = t.add(None);
            t.link(other, d);
            t.link(n, d);
            table.insert(subj, d);
            if let Some(&p) = pos.get(&other) {
                top[p] = d;
            }
        }
        removed[i] = true;
    }
    top.into_iter()
        .zip(removed)
        .filter_map(|(n, gone)| (!gone).then_some(n))
        .collect()
}

/// The containers reachable from `top`, as a [`Forest`] of ids.
fn forest(t: &Tree<'_>, top: &[usize]) -> Forest {
    let mut f = Forest::default();
    let id_of = |n: usize| t.c[n].msg.and_then(|m| t.msgs.get(m)).map(|m| m.id);
    // (container, forest node) pairs still to fill with children.
    let mut todo: Vec<(usize, usize)> = Vec::new();
    for &n in top {
        let node = f.add(id_of(n));
        f.roots.push(node);
        todo.push((n, node));
    }
    while let Some((n, node)) = todo.pop() {
        for &k in &t.c[n].children {
            let child = f.add(id_of(k));
            f.nodes[node].children.push(child);
            todo.push((k, child));
        }
    }
    f
}
