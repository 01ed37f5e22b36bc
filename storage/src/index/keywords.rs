//! An account's keywords (RFC 3501 2.3.2 flag keywords, e.g. `$Forwarded`, `$Label1`): names in slots,
//! and the distinct *sets* of slots that messages carry, interned, so a message stores one `u32` set
//! id whatever the number of keywords it has.
//!
//! Slots and sets are reference counted by the messages that use them: a keyword that no message has
//! anymore frees its slot (and its name), so an account can go through any number of keywords over
//! time and hold up to [`MAX_KEYWORDS`] at once. Events carry keyword names, never slots or set ids, so
//! replay does not depend on the order slots were handed out in.
//!
//! Invariant: set id 0 is the empty set and is never freed; every other live set has `refs > 0` once
//! the event that made it is applied; `uses[slot]` is the number of messages whose set holds `slot`.

use foldhash::{HashMap, HashMapExt};

use super::MailboxError;

/// Distinct keywords an account may hold at once (IMAP servers commonly allow a few hundred per
/// mailbox; RFC 3501 sets no limit). The table grows with use; this only bounds what one account can
/// make the owner shard keep.
pub const MAX_KEYWORDS: usize = 4096;

/// A keyword table as archived: names by slot ("" for free), messages per slot, sets (slots, refs).
pub(crate) type KeywordParts = (Vec<String>, Vec<u32>, Vec<(Vec<u32>, u32)>);

#[derive(Clone, Debug, Default)]
struct Set {
    slots: Box<[u32]>,
    refs: u32,
}

#[derive(Clone, Debug)]
pub struct Keywords {
    /// Name by slot (`None`: free).
    names: Vec<Option<Box<str>>>,
    /// Lower-cased name to slot (keywords match case-insensitively).
    by_name: HashMap<Box<str>, u32>,
    uses: Vec<u32>,
    free_slots: Vec<u32>,
    sets: Vec<Set>,
    set_ids: HashMap<Box<[u32]>, u32>,
    free_sets: Vec<u32>,
    /// Slots and sets that may have dropped to no use; checked by `sweep`.
    maybe_dead_slots: Vec<u32>,
    maybe_dead_sets: Vec<u32>,
}

impl Default for Keywords {
    fn default() -> Self {
        let mut set_ids = HashMap::new();
        set_ids.insert(Box::<[u32]>::default(), 0);
        Keywords {
            names: Vec::new(),
            by_name: HashMap::new(),
            uses: Vec::new(),
            free_slots: Vec::new(),
            sets: vec![Set::default()],
            set_ids,
            free_sets: Vec::new(),
            maybe_dead_slots: Vec::new(),
            maybe_dead_sets: Vec::new(),
        }
    }
}

fn key(name: &str) -> Box<str> {
    name.to_ascii_lowercase().into_boxed_str()
}

impl Keywords {
    /// Keywords in use.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Every keyword in use, in slot order (for the FLAGS response of SELECT, RFC 3501 7.2.6).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().filter_map(|n| n.as_deref())
    }

    pub(crate) fn slot(&self, name: &str) -> Option<u32> {
        if let Some(s) = self.by_name.get(name) {
            return Some(*s);
        }
        self.by_name.get(key(name).as_ref()).copied()
    }

    /// The names of set `id`, in slot order.
    pub fn set_names(&self, id: u32) -> impl Iterator<Item = &str> {
        self.sets
            .get(id as usize)
            .map_or(&[][..], |s| &s.slots[..])
            .iter()
            .filter_map(|&s| self.names.get(s as usize).and_then(|n| n.as_deref()))
    }

    /// How many of `names` would need a new slot.
    pub(crate) fn new_names<'a>(&self, names: impl Iterator<Item = &'a String>) -> usize {
        let mut fresh: Vec<Box<str>> = names
            .filter(|n| self.slot(n).is_none())
            .map(|n| key(n))
            .collect();
        fresh.sort_unstable();
        fresh.dedup();
        fresh.len()
    }

    /// Fails unless `new` more keywords fit.
    pub(crate) fn check_room(&self, new: usize) -> Result<(), MailboxError> {
        if self.len() + new > MAX_KEYWORDS {
            return Err(MailboxError::TooManyKeywords);
        }
        Ok(())
    }

    fn slot_or_new(&mut self, name: &str) -> u32 {
        if let Some(s) = self.slot(name) {
            return s;
        }
        let s = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.names.push(None);
                self.uses.push(0);
                (self.names.len() - 1) as u32
            }
        };
        self.names[s as usize] = Some(name.into());
        self.by_name.insert(key(name), s);
        self.maybe_dead_slots.push(s);
        s
    }

    fn set_of(&mut self, mut slots: Vec<u32>) -> u32 {
        slots.sort_unstable();
        slots.dedup();
        if let Some(id) = self.set_ids.get(&slots[..]) {
            return *id;
        }
        let slots: Box<[u32]> = slots.into();
        let id = match self.free_sets.pop() {
            Some(id) => id,
            None => {
                self.sets.push(Set::default());
                (self.sets.len() - 1) as u32
            }
        };
        self.sets[id as usize] = Set {
            slots: slots.clone(),
            refs: 0,
        };
        self.set_ids.insert(slots, id);
        self.maybe_dead_sets.push(id);
        id
    }

    fn slots_of(&self, id: u32) -> &[u32] {
        self.sets.get(id as usize).map_or(&[], |s| &s.slots)
    }

    /// The set id for exactly `names` (slots made for new names), not yet referenced.
    pub(crate) fn intern(&mut self, names: &[String]) -> u32 {
        if names.is_empty() {
            return 0;
        }
        let slots = names.iter().map(|n| self.slot_or_new(n)).collect();
        self.set_of(slots)
    }

    /// The set that set `old` becomes under a STORE of `names` (already interned as set `with`).
    pub(crate) fn combine(&mut self, old: u32, mode: super::FlagMode, with: u32) -> u32 {
        use super::FlagMode;
        let (a, b) = (self.slots_of(old), self.slots_of(with));
        let slots: Vec<u32> = match mode {
            FlagMode::Replace => return with,
            FlagMode::Add => a.iter().chain(b).copied().collect(),
            FlagMode::Remove => a.iter().filter(|s| !b.contains(s)).copied().collect(),
        };
        self.set_of(slots)
    }

    /// Slots of `names` that exist (for removal, which never makes a slot).
    pub(crate) fn existing(&mut self, names: &[String]) -> u32 {
        let slots: Vec<u32> = names.iter().filter_map(|n| self.slot(n)).collect();
        self.set_of(slots)
    }

    /// One more message carries set `id`.
    pub(crate) fn acquire(&mut self, id: u32) {
        let Some(set) = self.sets.get_mut(id as usize) else {
            return;
        };
        set.refs += 1;
        for &s in set.slots.iter() {
            if let Some(u) = self.uses.get_mut(s as usize) {
                *u += 1;
            }
        }
    }

    /// One message fewer carries set `id`.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(set) = self.sets.get_mut(id as usize) else {
            return;
        };
        set.refs = set.refs.saturating_sub(1);
        if set.refs == 0 && id != 0 {
            self.maybe_dead_sets.push(id);
        }
        for &s in set.slots.iter() {
            if let Some(u) = self.uses.get_mut(s as usize) {
                *u = u.saturating_sub(1);
                if *u == 0 {
                    self.maybe_dead_slots.push(s);
                }
            }
        }
    }

    /// Frees the sets and slots that no message uses anymore.
    pub(crate) fn sweep(&mut self) {
        for id in std::mem::take(&mut self.maybe_dead_sets) {
            let Some(set) = self.sets.get_mut(id as usize) else {
                continue;
            };
            if id == 0 || set.refs > 0 || self.set_ids.get(&set.slots) != Some(&id) {
                continue;
            }
            let slots = std::mem::take(&mut set.slots);
            self.set_ids.remove(&slots);
            self.free_sets.push(id);
        }
        for s in std::mem::take(&mut self.maybe_dead_slots) {
            if self.uses.get(s as usize) != Some(&0) {
                continue;
            }
            if let Some(name) = self.names.get_mut(s as usize).and_then(Option::take) {
                self.by_name.remove(key(&name).as_ref());
                self.free_slots.push(s);
            }
        }
    }

    /// The table as archived in a snapshot: names by slot ("" for free), uses, and sets with refs.
    pub(crate) fn to_parts(&self) -> KeywordParts {
        let names = self
            .names
            .iter()
            .map(|n| n.as_deref().unwrap_or("").to_string())
            .collect();
        let sets = self
            .sets
            .iter()
            .map(|s| (s.slots.to_vec(), s.refs))
            .collect();
        (names, self.uses.clone(), sets)
    }

    /// The inverse of `to_parts`. A set with no refs (other than id 0) is free.
    pub(crate) fn from_parts(
        names: Vec<String>,
        uses: Vec<u32>,
        sets: Vec<(Vec<u32>, u32)>,
    ) -> Keywords {
        let mut k = Keywords {
            names: Vec::with_capacity(names.len()),
            uses,
            ..Keywords::default()
        };
        k.uses.resize(names.len(), 0);
        for (i, n) in names.into_iter().enumerate() {
            if n.is_empty() {
                k.names.push(None);
                k.free_slots.push(i as u32);
            } else {
                k.by_name.insert(key(&n), i as u32);
                k.names.push(Some(n.into_boxed_str()));
            }
        }
        k.sets.clear();
        k.set_ids.clear();
        for (i, (slots, refs)) in sets.into_iter().enumerate() {
            let slots: Box<[u32]> = slots.into();
            if i == 0 || refs > 0 {
                k.set_ids.insert(slots.clone(), i as u32);
            } else {
                k.free_sets.push(i as u32);
            }
            k.sets.push(Set { slots, refs });
        }
        if k.sets.is_empty() {
            k.sets.push(Set::default());
            k.set_ids.insert(Box::default(), 0);
        }
        k
    }
}
