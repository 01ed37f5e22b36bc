//! The running server's view of the account directory: the main thread re-reads the accounts and
//! aliases files when they change, and applies `account del` requests (`<data_dir>/deletions/`) by
//! having each deleted account's owner shard record a `DeleteAccount` in its log, before the new
//! directory is published.
//!
//! Mail is deleted only on an explicit request, never because an account is missing from a file that
//! was read (an unreadable or truncated file keeps the previous directory and deletes nothing). While a
//! deletion is applied, its address is hidden from the directory, so mail to an address deleted and
//! added again goes to the new, empty mailbox and never into the one being deleted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use shardmail_storage::store::owner_of;

use super::{ShardCtx, Shared};
use crate::accounts::{Accounts, Deletion, Stamp};
use crate::net::shutdown::Stage;

/// A request to a shard to delete an account's mailboxes; answered once the deletion is durable.
pub struct DeleteRequest {
    pub account: String,
    pub reply: mpsc::Sender<Result<(), String>>,
}

/// The per-shard channels that carry deletion requests from the main thread.
pub struct Deletions {
    to: Vec<async_channel::Sender<DeleteRequest>>,
    from: Mutex<Vec<Option<async_channel::Receiver<DeleteRequest>>>>,
}

impl Deletions {
    pub fn new(shards: usize) -> Deletions {
        let (to, from) = (0..shards).map(|_| async_channel::bounded(16)).unzip();
        let from: Vec<_> = from;
        Deletions {
            to,
            from: Mutex::new(from.into_iter().map(Some).collect()),
        }
    }
}

/// Loads the account directory with the configured postmaster.
pub fn load(shared_config: &crate::config::Config) -> anyhow::Result<Accounts> {
    Ok(Accounts::load(&shared_config.data_dir)?
        .with_postmaster(shared_config.postmaster.as_deref()))
}

/// The directory to serve at start: pending deletions' addresses stay hidden until applied.
pub fn initial(config: &crate::config::Config) -> anyhow::Result<Accounts> {
    let a = load(config)?;
    let hidden: BTreeSet<String> = Deletion::pending(&config.data_dir)
        .into_iter()
        .filter(|d| d.ready(&a))
        .map(|d| d.account)
        .collect();
    Ok(a.without(&hidden))
}

/// Serves one shard's deletion requests until the shard closes.
pub async fn serve(ctx: Rc<ShardCtx>) {
    let rx = ctx
        .shared
        .deletions
        .from
        .lock()
        .ok()
        .and_then(|mut v| v.get_mut(ctx.id).and_then(Option::take));
    let Some(rx) = rx else {
        return;
    };
    loop {
        let next = futures_lite::future::or(async { rx.recv().await.ok() }, async {
            ctx.shutdown.reached(Stage::Closing).await;
            None
        })
        .await;
        let Some(req) = next else {
            return;
        };
        let result = delete_account(&ctx, &req.account)
            .await
            .map_err(|e| e.to_string());
        let _ = req.reply.send(result);
    }
}

async fn delete_account(ctx: &ShardCtx, account: &str) -> shardmail_storage::Result<()> {
    if !ctx.part.read_index(|ix| ix.has_account(account)) {
        // Never received mail, or deleted already (a request seen again after a crash).
        return Ok(());
    }
    ctx.part
        .execute(|ix| Ok((ix.delete_account(account)?, ())))
        .await?;
    tracing::info!(
        shard = ctx.id,
        account,
        "account deleted with its mailboxes"
    );
    Ok(())
}

/// The main thread's watch over the directory files.
pub struct Watcher {
    data_dir: PathBuf,
    seen: Stamp,
    /// The requests the last look left pending, and whether one of them failed to apply (then the next
    /// look retries; otherwise an unchanged set over unchanged files needs no new look).
    left: Vec<PathBuf>,
    retry: bool,
}

impl Watcher {
    pub fn new(data_dir: &Path) -> Watcher {
        Watcher {
            data_dir: data_dir.to_path_buf(),
            seen: Accounts::stamp(data_dir),
            left: Vec::new(),
            retry: false,
        }
    }

    /// One look: reloads the directory if its files changed or deletions are pending; applies the
    /// deletions the files already reflect; publishes the new directory.
    pub fn poll(&mut self, shared: &Shared) {
        let stamp = Accounts::stamp(&self.data_dir);
        let pending = Deletion::pending(&self.data_dir);
        let paths: Vec<PathBuf> = pending.iter().map(|d| d.path.clone()).collect();
        if stamp == self.seen && !self.retry && paths == self.left {
            return;
        }
        let accounts = match load(&shared.config) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "accounts file unreadable; keeping the previous accounts");
                self.seen = stamp;
                self.left = paths;
                self.retry = false;
                return;
            }
        };
        // Requests whose entry is back in the file wait (see Deletion::ready). The requests were listed
        // before the file was read, and the CLI commits a request only after rewriting the file, so the
        // file read here already lacks the entry of every request listed.
        let (ready, waiting): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|d| d.ready(&accounts));
        // A waiting request's account is a live account; only deletions about to be applied hide
        // their address.
        let unapplied: BTreeSet<String> = ready.iter().map(|d| d.account.clone()).collect();
        if !ready.is_empty() {
            shared.set_accounts(accounts.without(&unapplied));
        }
        let mut still = BTreeSet::new();
        let mut left: Vec<PathBuf> = waiting.iter().map(|d| d.path.clone()).collect();
        self.retry = false;
        for d in &ready {
            match apply(shared, d) {
                Ok(()) => {
                    if let Err(e) = d.done() {
                        tracing::warn!(error = %e, "deletion applied; its request file stays");
                        left.push(d.path.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(account = %d.account, error = %e, "account deletion not applied yet; retrying");
                    still.insert(d.account.clone());
                    self.retry = true;
                }
            }
        }
        left.sort();
        self.left = left;
        tracing::info!(accounts = accounts.len(), "accounts reloaded");
        shared.set_accounts(accounts.without(&still));
        self.seen = stamp;
    }
}

/// Asks the account's owner shard to delete its mailboxes and waits until that is durable.
fn apply(shared: &Shared, d: &Deletion) -> Result<(), String> {
    let owner = owner_of(&d.account, shared.shards as u32) as usize;
    let tx = shared
        .deletions
        .to
        .get(owner)
        .ok_or_else(|| format!("no shard {owner}"))?;
    let (reply, answer) = mpsc::channel();
    // Never blocks the main thread (it also watches for the stop signal): a full or closed channel is
    // a failure this look, retried at the next.
    tx.try_send(DeleteRequest {
        account: d.account.clone(),
        reply,
    })
    .map_err(|e| format!("the owner shard cannot take it now ({e})"))?;
    answer
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the owner shard did not answer".to_string())?
}
