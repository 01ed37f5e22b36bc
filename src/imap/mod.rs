//! IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051): a sans-io core (command grammar, session, replies)
//! and the shell that runs sessions on the shard that owns the account.

pub mod backend;
pub mod capability;
pub mod command;
pub mod compress;
pub mod conn;
pub mod listmatch;
pub mod reply;
pub mod search;
pub mod seqset;
pub mod session;
pub mod sort;
pub mod store;
pub mod summary;
pub mod thread;
pub mod types;
pub mod utf7;
pub mod wire;
