//! Messages between shards: small requests carrying ids and log positions, never message bytes.

use shardmail_storage::Position;

/// A reply channel for one request.
pub type Reply<T> = async_channel::Sender<T>;

/// What one shard asks of the shard that owns an account.
pub enum ShardMsg {
    /// Record the delivery of the message at `pos` (already durable in the sender's log) into the
    /// INBOX of each account, creating the account's mailboxes on first delivery. Replies once the
    /// delivery events are durable, with each account's new UID.
    Deliver {
        pos: Position,
        size: u32,
        internal_date: i64,
        accounts: Vec<String>,
        reply: Reply<Result<Vec<u32>, String>>,
    },
}

/// The senders to every shard's inbox, indexed by shard.
#[derive(Clone)]
pub struct Mesh {
    pub to: Vec<async_channel::Sender<ShardMsg>>,
}

impl Mesh {
    pub fn new(n: usize) -> (Mesh, Vec<async_channel::Receiver<ShardMsg>>) {
        let (to, from): (Vec<_>, Vec<_>) = (0..n).map(|_| async_channel::bounded(1024)).unzip();
        (Mesh { to }, from)
    }
}
