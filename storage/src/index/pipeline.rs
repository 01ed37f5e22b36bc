//! The owner's mailbox service, sans-io: plans see every operation planned before them, durable
//! batches apply in log order, all or nothing, exactly as replay applies them.
//!
//! Two indexes: `applied` holds what is durable and applied (what views and STATUS show), `planned`
//! is `applied` plus every batch that is planned but not yet applied (pending). A plan runs against
//! `planned` and its events are applied to `planned` at once, with the same all-or-nothing
//! [`Index::apply_batch`] that applies them later to `applied` (and on replay). So a plan that passes
//! sees the state its batch will meet: two concurrent STOREs that each add a keyword, or two first
//! deliveries to one account, are planned one after the other against each other's effects, and a
//! durable batch cannot fail to apply because of a batch planned before it.
//!
//! Why this and not one operation at a time per account: a delivery's plan is a few lookups and its
//! durability is a group commit. Serialising plan->commit->apply per account would put one fsync
//! between consecutive deliveries to a busy account; here any number of them are pending at once and
//! share one group commit, while planning itself stays serial (one executor owns the account).
//!
//! The caller appends each planned batch to the log right after planning it (no await between), so
//! ticket order is log order, and reports each append's outcome ([`Mailboxes::durable`],
//! [`Mailboxes::failed`]). Batches apply to `applied` in ticket order once durable; a failed batch is
//! dropped and `planned` is rebuilt from `applied` plus the batches still pending (one planned on top
//! of a failed batch may now be refused: it is refused identically when applied, and on replay).
//!
//! Memory: `planned` shares message chunks with `applied`. Every batch makes each side copy what it
//! changes, so the two drift apart (new messages end up held twice); when an account has nothing
//! pending and has drifted by about a quarter of its chunk table, its planned copy is replaced by a
//! clone of the applied one, sharing everything again. Not at every batch: the next plan would then
//! copy the whole chunk table, O(messages / 64) per delivery; every so often it is O(1) amortized.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use super::event::Event;
use super::feed::{ChangeKind, Feed, FeedReader};
use super::model::Index;
use super::{canonical_account, MailboxError};
use crate::Result;

/// A planned batch, in log order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(u64);

/// What became of a planned batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Durable and applied.
    Applied,
    /// Durable but refused by `apply_batch` (it was planned on top of a batch whose append failed);
    /// replay refuses it too.
    Rejected(MailboxError),
    /// The append failed: not durable, not applied.
    Failed,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Durable,
    Failed,
}

struct Pending {
    ticket: u64,
    events: Vec<Event>,
    accounts: Vec<String>,
    state: State,
    /// Applied to `planned` in the current lineage (since its last rebuild): when durable and nothing
    /// failed since, it applies to `applied` without validation (see `Index::apply_batch_trusted`).
    clean: bool,
}

/// Counters for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub applied: u64,
    pub rejected: u64,
    pub failed: u64,
    pub rebuilds: u64,
}

pub struct Mailboxes {
    applied: Index,
    planned: Index,
    pending: VecDeque<Pending>,
    next_ticket: u64,
    /// Pending batches per account.
    busy: HashMap<String, u32>,
    /// Batches applied per account since its planned copy last shared the applied one's chunks.
    drift: HashMap<String, u32>,
    /// A failed batch left `planned` ahead of what can become durable.
    stale: bool,
    outcomes: HashMap<u64, Outcome>,
    feeds: HashMap<String, Arc<Feed>>,
    stats: PipelineStats,
}

impl Mailboxes {
    pub fn new(index: Index) -> Mailboxes {
        Mailboxes {
            planned: index.clone(),
            applied: index,
            pending: VecDeque::new(),
            next_ticket: 0,
            busy: HashMap::new(),
            drift: HashMap::new(),
            stale: false,
            outcomes: HashMap::new(),
            feeds: HashMap::new(),
            stats: PipelineStats::default(),
        }
    }

    /// What is durable and applied.
    pub fn applied(&self) -> &Index {
        &self.applied
    }

    /// What plans see: applied plus pending.
    pub fn planned(&self) -> &Index {
        &self.planned
    }

    pub fn into_index(self) -> Index {
        self.applied
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// Batches planned and not yet applied or dropped.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Runs `plan` against the planned state and applies its events there (all or nothing). Returns
    /// the ticket to append (none when the plan made no events) and the plan's result.
    pub fn plan<R>(
        &mut self,
        plan: impl FnOnce(&mut Index) -> Result<(Vec<Event>, R)>,
    ) -> Result<(Option<Ticket>, R)> {
        if self.stale {
            self.rebuild();
        }
        let (events, out) = plan(&mut self.planned)?;
        if events.is_empty() {
            return Ok((None, out));
        }
        self.planned.apply_batch(&events)?;
        let mut accounts: Vec<String> = events
            .iter()
            .filter_map(Event::account)
            .map(canonical_account)
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        for a in &accounts {
            // No allocation for an account that has pending batches already (the usual case).
            match self.busy.get_mut(a) {
                Some(n) => *n += 1,
                None => {
                    self.busy.insert(a.clone(), 1);
                }
            }
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.pending.push_back(Pending {
            ticket,
            events,
            accounts,
            state: State::Waiting,
            clean: true,
        });
        Ok((Some(Ticket(ticket)), out))
    }

    /// The events of a pending batch (to encode and append).
    pub fn events(&self, t: Ticket) -> &[Event] {
        self.find(t).map_or(&[], |p| &p.events)
    }

    fn find(&self, t: Ticket) -> Option<&Pending> {
        let first = self.pending.front()?.ticket;
        self.pending.get(t.0.checked_sub(first)? as usize)
    }

    fn mark(&mut self, t: Ticket, state: State) {
        let Some(first) = self.pending.front().map(|p| p.ticket) else {
            return;
        };
        if let Some(p) =
            t.0.checked_sub(first)
                .and_then(|i| self.pending.get_mut(i as usize))
        {
            p.state = state;
        }
    }

    /// The batch's append is durable: apply it (and every durable batch before it) in order.
    pub fn durable(&mut self, t: Ticket) {
        self.mark(t, State::Durable);
        self.drain();
    }

    /// The batch's append failed: it will not be applied, and plans made on top of it are redone.
    pub fn failed(&mut self, t: Ticket) {
        self.mark(t, State::Failed);
        self.stale = true;
        self.drain();
    }

    /// The outcome of a batch once it left the pending queue (taken once).
    pub fn take_outcome(&mut self, t: Ticket) -> Option<Outcome> {
        self.outcomes.remove(&t.0)
    }

    fn drain(&mut self) {
        while self
            .pending
            .front()
            .is_some_and(|p| p.state != State::Waiting)
        {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            let outcome = match p.state {
                State::Durable => match if p.clean && !self.stale {
                    // Planned on exactly this state: the events are moved into place without
                    // validating them a second time.
                    self.applied.apply_batch_trusted(&p.events)
                } else {
                    self.applied.apply_batch(&p.events)
                } {
                    Ok(()) => {
                        self.stats.applied += 1;
                        self.publish(&p.events);
                        Outcome::Applied
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a durable batch did not apply (planned on top of a failed one); replay refuses it too");
                        self.stats.rejected += 1;
                        self.stale = true;
                        Outcome::Rejected(e)
                    }
                },
                _ => {
                    self.stats.failed += 1;
                    Outcome::Failed
                }
            };
            self.outcomes.insert(p.ticket, outcome);
            for a in p.accounts {
                let idle = match self.busy.get_mut(&a) {
                    Some(n) => {
                        *n -= 1;
                        *n == 0
                    }
                    None => false,
                };
                let drift = match self.drift.get_mut(&a) {
                    Some(d) => {
                        *d += 1;
                        *d
                    }
                    None => {
                        self.drift.insert(a.clone(), 1);
                        1
                    }
                };
                if idle {
                    self.busy.remove(&a);
                    if !self.stale && drift >= self.reshare_after(&a) {
                        self.drift.remove(&a);
                        self.reshare(&a);
                    }
                }
            }
        }
        if self.stale && self.pending.is_empty() {
            self.rebuild();
        }
    }

    /// Batches after which an idle account's planned copy is re-shared: a quarter of its chunk table.
    fn reshare_after(&self, account: &str) -> u32 {
        let messages: usize = self
            .applied
            .accounts
            .get(account)
            .map_or(0, |a| a.folders.values().map(|f| f.messages.len()).sum());
        // At least 64: re-sharing clones the account (its folder and subscription maps), which at
        // every 16th batch was 8% of the pipeline's time in 10-recipient ingest; what drifts in
        // between is a few chunks per folder.
        ((messages / super::messages::CHUNK / 4) as u32).max(64)
    }

    /// The planned copy of an idle account becomes the applied one again (same chunks).
    fn reshare(&mut self, account: &str) {
        match self.applied.accounts.get(account) {
            Some(a) => {
                let mut a = a.clone();
                // Keep reservations that plans made without events (never visible, but monotone).
                if let Some(old) = self.planned.accounts.get(account) {
                    for (name, f) in a.folders.iter_mut() {
                        if let Some(o) = old.folders.get(name) {
                            if o.uidvalidity == f.uidvalidity {
                                f.plan_uid = f.plan_uid.max(o.plan_uid);
                                f.plan_modseq = f.plan_modseq.max(o.plan_modseq);
                            }
                        }
                    }
                    a.last_uidvalidity = a.last_uidvalidity.max(old.last_uidvalidity);
                }
                self.planned.accounts.insert(account.to_string(), a);
            }
            None => {
                self.planned.accounts.remove(account);
            }
        }
    }

    /// `planned` := `applied` + the batches still pending, in order (each all or nothing).
    fn rebuild(&mut self) {
        self.stats.rebuilds += 1;
        let mut planned = self.applied.clone();
        for p in self.pending.iter_mut() {
            // A batch that no longer applies here is refused again when durable (validated then).
            p.clean = p.state != State::Failed && planned.apply_batch(&p.events).is_ok();
        }
        self.planned = planned;
        self.drift.clear();
        self.stale = false;
    }

    /// Applies an event another partition made durable (a compaction's relocation) to both states.
    pub fn apply_foreign(&mut self, ev: &Event) -> std::result::Result<(), MailboxError> {
        self.applied.apply(ev)?;
        self.planned.apply(ev)
    }

    /// Follows `account`'s changes from now on.
    pub fn follow(&mut self, account: &str) -> FeedReader {
        self.feeds
            .entry(canonical_account(account))
            .or_default()
            .follow()
    }

    fn publish(&mut self, events: &[Event]) {
        if self.feeds.is_empty() {
            return;
        }
        for ev in events {
            let Some(account) = ev.account() else {
                continue;
            };
            let account = canonical_account(account);
            let Some(feed) = self.feeds.get(&account).cloned() else {
                continue;
            };
            // Nobody follows any more (the map's reference and this clone are all there is).
            if Arc::strong_count(&feed) == 2 {
                self.feeds.remove(&account);
                continue;
            }
            let hms = |folder: &str| {
                self.applied
                    .status(&account, folder)
                    .map_or(0, |s| s.highestmodseq)
            };
            let (modseq, kind) = match ev {
                Event::Deliver {
                    folder,
                    uid,
                    modseq,
                    ..
                } => (
                    *modseq,
                    ChangeKind::Delivered {
                        folder: folder.clone(),
                        uid: *uid,
                    },
                ),
                Event::SetFlags {
                    folder,
                    modseq,
                    uids,
                    ..
                } => (
                    *modseq,
                    ChangeKind::Flags {
                        folder: folder.clone(),
                        uids: uids.clone(),
                    },
                ),
                Event::Expunge {
                    folder,
                    modseq,
                    uids,
                    ..
                } => (
                    *modseq,
                    ChangeKind::Expunged {
                        folder: folder.clone(),
                        uids: uids.clone(),
                    },
                ),
                Event::CreateFolder { folder, .. } => (
                    hms(folder),
                    ChangeKind::FolderCreated {
                        folder: folder.clone(),
                    },
                ),
                Event::RenameFolder { from, to, .. } => (
                    hms(to),
                    ChangeKind::FolderRenamed {
                        from: from.clone(),
                        to: to.clone(),
                    },
                ),
                Event::DeleteFolder { folder, .. } => (
                    0,
                    ChangeKind::FolderDeleted {
                        folder: folder.clone(),
                    },
                ),
                Event::Subscribe {
                    folder, subscribed, ..
                } => (
                    0,
                    ChangeKind::Subscription {
                        folder: folder.clone(),
                        subscribed: *subscribed,
                    },
                ),
                Event::ClaimRecent { folder, uid, .. } => (
                    hms(folder),
                    ChangeKind::RecentClaimed {
                        folder: folder.clone(),
                        uid: *uid,
                    },
                ),
                Event::DeleteAccount { .. } => (0, ChangeKind::AccountDeleted),
                Event::CreateAccount { .. } | Event::Relocate { .. } => continue,
            };
            feed.publish(modseq, kind);
            if matches!(ev, Event::DeleteAccount { .. }) {
                if let Some(f) = self.feeds.remove(&account) {
                    f.close();
                }
            }
        }
    }
}
