//! Background compaction in the server, across shards (see `shardmail_storage::store::relocate`).
//!
//! Shard 0 coordinates a round every `compact_interval` seconds: it surveys every shard (the records
//! its accounts reference, the segments its queue still needs), picks the sealed segments whose
//! live share is below `compact_min_live_share` and that hold no queued message, copies the messages
//! any shard references in them into its own log, and asks every shard to relocate its references (a
//! `Relocate` event in the shard's own log, under its exclusive gate) and to snapshot its index part and
//! queue. Only when every shard has done both are the segments unlinked, so a restart never needs an
//! event or message from a removed segment. A shard that stops answering, fails, or made a new
//! reference meanwhile (a COPY) makes the round retry or give up without removing anything.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardmail_storage::store::{
    carried_bytes, carry_records, remove_segments, sealed_segments, SegmentId,
};
use shardmail_storage::Position;

use super::mesh::{CompactRequest, FileError, Reply, ShardMsg, Survey};
use super::{lifecycle, ShardCtx};
use crate::net::shutdown::Stage;

/// What a round did.
#[derive(Debug, Default)]
pub struct RoundReport {
    pub segments: usize,
    pub messages_moved: usize,
    pub bytes_reclaimed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("storage: {0}")]
    Store(#[from] shardmail_storage::Error),
    #[error("shard {0}: {1}")]
    Shard(usize, FileError),
    #[error("shard {0} kept referencing new positions in the victims")]
    Unsettled(usize),
}

/// Runs rounds on the coordinating shard until shutdown.
pub async fn run(ctx: Rc<ShardCtx>) {
    let cfg = &ctx.shared.config.storage;
    if ctx.id != 0 || cfg.compact_interval == 0 {
        return;
    }
    let every = Duration::from_secs(cfg.compact_interval);
    loop {
        let stopping = ctx.shutdown.sleep_unless(every, Stage::Draining).await;
        if stopping {
            return;
        }
        let t = Instant::now();
        match round(&ctx, cfg.compact_min_live_share).await {
            Ok(r) if r.segments > 0 => tracing::info!(
                segments = r.segments,
                messages_moved = r.messages_moved,
                bytes_reclaimed = r.bytes_reclaimed,
                ms = t.elapsed().as_millis() as u64,
                "compaction round done"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "compaction round abandoned; nothing was removed"),
        }
    }
}

/// Asks shard `k` (or answers here) one compaction step.
async fn ask<T>(
    ctx: &Rc<ShardCtx>,
    k: usize,
    make: impl FnOnce(Reply<T>) -> CompactRequest,
) -> Result<T, CompactError> {
    let (tx, rx) = async_channel::bounded(1);
    let req = make(tx);
    if k == ctx.id {
        serve(ctx, req);
    } else {
        let to = ctx
            .shared
            .mesh
            .to
            .get(k)
            .ok_or(CompactError::Shard(k, FileError::Unreachable(k)))?;
        to.send(ShardMsg::Compact(req))
            .await
            .map_err(|_| CompactError::Shard(k, FileError::Unreachable(k)))?;
    }
    rx.recv()
        .await
        .map_err(|_| CompactError::Shard(k, FileError::Unreachable(k)))
}

/// One round; see the module comment.
pub async fn round(ctx: &Rc<ShardCtx>, min_live_share: f64) -> Result<RoundReport, CompactError> {
    let n = ctx.shared.shards;
    // A message with recipients on several shards is referenced by each: count it once.
    let mut records: HashMap<Position, u64> = HashMap::new();
    let mut queued: HashSet<SegmentId> = HashSet::new();
    for k in 0..n {
        let s = ask(ctx, k, |reply| CompactRequest::Survey { reply }).await?;
        records.extend(s.live);
        queued.extend(s.queued);
    }
    let mut live: HashMap<SegmentId, u64> = HashMap::new();
    for (pos, b) in records {
        *live.entry((pos.log, pos.segment)).or_default() += b;
    }
    let mut victims: HashSet<SegmentId> = HashSet::new();
    for ((log, seg), data) in sealed_segments(&ctx.shared.logs)? {
        let l = live.get(&(log, seg)).copied().unwrap_or(0);
        let sparse = |l: u64| data > 0 && (l as f64) < min_live_share * data as f64;
        // Records an earlier round carried here count as live (see `carried_bytes`).
        if !queued.contains(&(log, seg))
            && sparse(l)
            && sparse(l + carried_bytes(&ctx.shared.logs, log, seg)?)
        {
            victims.insert((log, seg));
        }
    }
    let mut report = RoundReport::default();
    if victims.is_empty() {
        return Ok(report);
    }
    let victims = Arc::new(victims);
    let mut positions: Vec<Position> = Vec::new();
    for k in 0..n {
        let v = victims.clone();
        positions.extend(
            ask(ctx, k, |reply| CompactRequest::Positions {
                victims: v,
                reply,
            })
            .await?,
        );
    }
    positions.sort_unstable();
    positions.dedup();
    let mut moves: HashMap<Position, Position> = HashMap::new();
    copy(ctx, &positions, &mut moves).await?;
    // The victims' event (and other non-message) records, so that a full replay keeps its history.
    let list: Vec<SegmentId> = victims.iter().copied().collect();
    carry_records(&ctx.shared.logs, &ctx.part, &list).await?;
    let mut moves = Arc::new(moves);
    for k in 0..n {
        let mut settled = false;
        for _ in 0..5 {
            let (v, m) = (victims.clone(), moves.clone());
            let missing = ask(ctx, k, |reply| CompactRequest::Relocate {
                victims: v,
                moves: m,
                reply,
            })
            .await?
            .map_err(|e| CompactError::Shard(k, e))?;
            if missing.is_empty() {
                settled = true;
                break;
            }
            let mut more = (*moves).clone();
            copy(ctx, &missing, &mut more).await?;
            moves = Arc::new(more);
        }
        if !settled {
            return Err(CompactError::Unsettled(k));
        }
    }
    let mut list: Vec<SegmentId> = victims.iter().copied().collect();
    list.sort_unstable();
    report.segments = list.len();
    report.messages_moved = moves.len();
    report.bytes_reclaimed = remove_segments(&ctx.shared.logs, &list).await?;
    Ok(report)
}

/// Copies the records at `positions` (not moved yet) into this shard's log.
async fn copy(
    ctx: &ShardCtx,
    positions: &[Position],
    moves: &mut HashMap<Position, Position>,
) -> Result<(), CompactError> {
    for &pos in positions {
        if moves.contains_key(&pos) {
            continue;
        }
        let rec = ctx.shared.logs.read(pos)?;
        let to = ctx.part.store_message(&[&rec]).await?;
        moves.insert(pos, to);
    }
    Ok(())
}

/// Serves one compaction step on this shard.
pub fn serve(ctx: &Rc<ShardCtx>, req: CompactRequest) {
    match req {
        CompactRequest::Survey { reply } => {
            let s = Survey {
                live: ctx.part.live_records(),
                queued: ctx.queue.queued_segments(),
            };
            let _ = reply.try_send(s);
        }
        CompactRequest::Positions { victims, reply } => {
            let _ = reply.try_send(ctx.part.positions_in(&victims));
        }
        CompactRequest::Relocate {
            victims,
            moves,
            reply,
        } => {
            let c = ctx.clone();
            glommio::spawn_local(async move {
                let r = relocate_here(&c, &victims, &moves).await;
                let _ = reply.send(r).await;
            })
            .detach();
        }
    }
}

async fn relocate_here(
    ctx: &ShardCtx,
    victims: &HashSet<SegmentId>,
    moves: &HashMap<Position, Position>,
) -> Result<Vec<Position>, FileError> {
    let missing = ctx.part.relocate(victims, moves).await?;
    if !missing.is_empty() {
        return Ok(missing);
    }
    // The snapshots must cover every event and queue record in the victims before they go.
    let covered = lifecycle::snapshot_now(ctx).await?;
    let own = ctx.id as shardmail_storage::LogId;
    if victims
        .iter()
        .any(|&(log, seg)| log == own && seg >= covered.segment)
    {
        return Err(FileError::NotCovered);
    }
    Ok(Vec::new())
}
