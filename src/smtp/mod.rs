//! SMTP (RFC 5321): a sans-io core (`command`, `reply`, `data`, `session`) and the glommio shell (`conn`).

pub mod command;
pub mod conn;
pub mod data;
pub mod reply;
pub mod session;

#[cfg(test)]
mod transcript;
