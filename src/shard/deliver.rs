//! Local delivery: the bytes go once into the accepting shard's log; each recipient's owner shard then
//! records a delivery event into that account's INBOX. A message is acknowledged only when all are durable.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use shardmail_storage::index::Index;
use shardmail_storage::{Error as StoreError, Position};

use super::mesh::ShardMsg;
use super::ShardCtx;

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("shard {shard}: {reason}")]
    Remote { shard: usize, reason: String },
    #[error("shard {0} is not answering")]
    Unreachable(usize),
}

impl DeliverError {
    pub fn is_disk_full(&self) -> bool {
        matches!(self, DeliverError::Store(e) if e.is_disk_full())
    }
}

/// Stores `parts` (the message as delivered: Return-Path, trace header, body) once and delivers it to
/// the INBOX of every account; resolves when every delivery is durable.
///
/// Recipients this shard owns cost one group commit: the bytes and their delivery events go into this
/// log together. Other owners are asked only once the bytes are durable (an event must never point at
/// bytes a crash could take back), each recording the delivery in its own log.
pub async fn deliver(
    ctx: &Rc<ShardCtx>,
    parts: &[&[u8]],
    accounts: &[String],
    internal_date: i64,
) -> Result<(), DeliverError> {
    let size: u32 = parts.iter().map(|p| p.len()).sum::<usize>() as u32;
    let mut local = Vec::new();
    let mut by_owner: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for a in accounts {
        match ctx.owner(a) {
            o if o == ctx.id => local.push(a.clone()),
            o => by_owner.entry(o).or_default().push(a.clone()),
        }
    }
    let pos = if local.is_empty() {
        ctx.part.store_message(parts).await?
    } else {
        ensure_accounts(ctx, &local, internal_date).await?;
        let targets: Vec<(String, String)> = local
            .iter()
            .map(|a| (a.clone(), "INBOX".to_string()))
            .collect();
        let (pos, ()) = ctx
            .part
            .store_and_execute(parts, |ix: &mut Index, pos| {
                Ok((
                    ix.deliver(&targets, pos, size, internal_date, Default::default())?,
                    (),
                ))
            })
            .await?;
        pos
    };
    let mut waits = Vec::new();
    for (owner, accts) in by_owner {
        let (tx, rx) = async_channel::bounded(1);
        let msg = ShardMsg::Deliver {
            pos,
            size,
            internal_date,
            accounts: accts,
            reply: tx,
        };
        let to = ctx
            .shared
            .mesh
            .to
            .get(owner)
            .ok_or(DeliverError::Unreachable(owner))?;
        to.send(msg)
            .await
            .map_err(|_| DeliverError::Unreachable(owner))?;
        ctx.metrics()
            .cross_shard_sent
            .fetch_add(1, Ordering::Relaxed);
        waits.push((owner, rx));
    }
    for (owner, rx) in waits {
        match rx.recv().await {
            Ok(Ok(_uids)) => {}
            Ok(Err(reason)) => {
                return Err(DeliverError::Remote {
                    shard: owner,
                    reason,
                })
            }
            Err(_) => return Err(DeliverError::Unreachable(owner)),
        }
    }
    Ok(())
}

/// Creates the mailboxes of accounts that get their first delivery.
async fn ensure_accounts(ctx: &ShardCtx, accounts: &[String], now: i64) -> Result<(), StoreError> {
    for a in accounts {
        ctx.part.ensure_account(a, now).await?;
    }
    Ok(())
}

/// Records the delivery on this (owner) shard, creating the account's mailboxes on first delivery.
pub async fn deliver_here(
    ctx: &ShardCtx,
    pos: Position,
    size: u32,
    internal_date: i64,
    accounts: &[String],
) -> Result<Vec<u32>, StoreError> {
    ensure_accounts(ctx, accounts, internal_date).await?;
    let targets: Vec<(String, String)> = accounts
        .iter()
        .map(|a| (a.clone(), "INBOX".to_string()))
        .collect();
    ctx.part
        .execute(|ix: &mut Index| {
            let events = ix.deliver(&targets, pos, size, internal_date, Default::default())?;
            let uids = events.iter().filter_map(|e| e.delivered_uid()).collect();
            Ok((events, uids))
        })
        .await
}

/// Serves the requests other shards send to this one.
pub async fn inbox_loop(ctx: Rc<ShardCtx>, inbox: async_channel::Receiver<ShardMsg>) {
    while let Ok(msg) = inbox.recv().await {
        ctx.metrics()
            .cross_shard_received
            .fetch_add(1, Ordering::Relaxed);
        match msg {
            ShardMsg::Deliver {
                pos,
                size,
                internal_date,
                accounts,
                reply,
            } => {
                let c = ctx.clone();
                glommio::spawn_local(async move {
                    let r = deliver_here(&c, pos, size, internal_date, &accounts)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = reply.send(r).await;
                })
                .detach();
            }
        }
    }
}
