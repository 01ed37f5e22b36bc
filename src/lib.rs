//! shardmail: a thread-per-core mail server (SMTP, IMAP, POP3) over the append-only log of `shardmail-storage`.
//!
//! The server runtime and protocols are built on top of the storage crate; see DESIGN in the README.

pub use shardmail_storage as storage;

pub mod accounts;
pub mod config;
pub mod datadir;
pub mod imap;
pub mod inspect;
pub mod mem;
pub mod metrics;
pub mod mime;
pub mod net;
pub mod pop3;
pub mod shard;
pub mod smtp;
pub mod tls;
