//! The durable queue: what an accepted message still owes its recipients.
//!
//! Accepting a message is one group commit on the accepting shard: the message record and an
//! [`QueueRecord::Enqueue`] record (the envelope: sender, recipients and how each is reached) go into its
//! log together, and the client gets its 250 then. Consumers do the rest: the local consumer asks each
//! recipient's owner to file the message into the INBOX; the relay consumer (issue 13, not built yet)
//! will deliver [`Route::Remote`] recipients over SMTP and record its attempts with further record tags.
//! When a recipient is finished the consumer writes [`QueueRecord::Done`].
//!
//! Invariants:
//! - An `Enqueue` is written only in the same log as, and after, the message it names; a queue id *is*
//!   that message's position, so it is unique for the life of the data directory.
//! - Filing is idempotent per (queue id, account): the owner remembers every filing of a queue id that
//!   is not yet done ([`Filed`]), persists that memory in its queue snapshot, and on recovery rebuilds it
//!   from the snapshot plus the `Deliver` events of the log tail. A redo after a crash therefore never
//!   files twice, even when the crash fell between the owner's event and the `Done`.
//! - A queue snapshot covers exactly what was applied in memory: every operation that appends a queue
//!   record or a filing and updates the memory after it is durable holds an [`InFlight`] mark from
//!   before its append, and the snapshot's checkpoint for its own log stays below every open mark.
//! - A segment that holds a message some queue entry still names is never compacted away.

mod inflight;
mod record;
mod recover;
mod snapshot;
mod state;

pub use inflight::{InFlight, Mark};
pub use record::{Envelope, QueueRecord, Recipient, Route};
pub use recover::{recover_queue, QueueRecovered, QueueReport};
pub use snapshot::{queue_snapshot_name, QueueSnapshot};
pub use state::{Entry, Filed, QueueState};
