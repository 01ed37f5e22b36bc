//! Local delivery as the SMTP side sees it: a message is accepted (250) once its bytes and its queue
//! entry are durable in this shard's log, in one group commit; filing into the recipients' INBOXes
//! follows through the queue (`super::queue`). Also the loop that serves other shards' requests.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use shardmail_storage::{Error as StoreError, Position};

use super::mesh::ShardMsg;
use super::{compact, queue, ShardCtx};

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

impl DeliverError {
    pub fn is_disk_full(&self) -> bool {
        matches!(self, DeliverError::Store(e) if e.is_disk_full())
    }
}

/// Accepts `parts` (the message as delivered: Return-Path, trace header, body) from `sender` for the
/// INBOX of every account and for the `remote` addresses (an authenticated submission; they wait in
/// the queue for the relay); resolves when the message is accepted, with its queue id. Recipients
/// this shard owns are filed in the same group commit; the others right after, by their owners.
pub async fn deliver(
    ctx: &Rc<ShardCtx>,
    parts: &[&[u8]],
    sender: &str,
    accounts: &[String],
    remote: &[String],
    internal_date: i64,
) -> Result<Position, DeliverError> {
    Ok(queue::accept(ctx, parts, sender, accounts, remote, internal_date).await?)
}

/// Serves the requests other shards send to this one.
pub async fn inbox_loop(ctx: Rc<ShardCtx>, inbox: async_channel::Receiver<ShardMsg>) {
    while let Ok(msg) = inbox.recv().await {
        ctx.metrics()
            .cross_shard_received
            .fetch_add(1, Ordering::Relaxed);
        match msg {
            ShardMsg::File(req) => queue::serve_file(&ctx, req),
            ShardMsg::Compact(req) => compact::serve(&ctx, req),
            ShardMsg::Imap(a) => {
                glommio::spawn_local(crate::imap::conn::arrive(ctx.clone(), *a)).detach();
            }
            ShardMsg::Pop3(a) => {
                glommio::spawn_local(crate::pop3::conn::arrive(ctx.clone(), *a)).detach();
            }
        }
    }
}
