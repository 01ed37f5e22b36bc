//! `loadtest`: a thread-per-core load generator for SMTP, IMAP and POP3 servers (see the binary's help).

pub mod connect;
pub mod handshake;
pub mod idle;
pub mod imap;
pub mod message;
pub mod notify;
pub mod pattern;
pub mod pop3;
pub mod report;
pub mod runner;
pub mod sink;
pub mod smtp;
pub mod stats;
pub mod tls;
pub mod wire;
