//! SMTP (RFC 5321): a sans-io core (`command`, `reply`, `data`, `auth`, `trace`, `session`) and the
//! glommio shell (`conn`).

pub mod auth;
pub mod command;
pub mod conn;
pub mod data;
pub mod reply;
pub mod session;
pub mod trace;

#[cfg(test)]
mod transcript;
#[cfg(test)]
mod transcript_secure;
