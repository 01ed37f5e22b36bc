//! TLS for every protocol (issue 12; RFC 8314 implicit TLS, RFC 3207 / RFC 2595 / RFC 9051 6.2.1
//! STARTTLS): rustls with the aws-lc-rs provider. The shells run on [`crate::net::stream::Conn`]; a
//! plain connection becomes a TLS one through [`upgrade`], bounded in time. Certificates come from
//! `[tls]` ([`certs`]), are chosen by SNI, and are reloaded on SIGHUP (sessions keep theirs).

pub mod certs;
mod handshake;
pub mod metrics;
pub mod selfsigned;
pub mod stream;
pub mod x509;

pub use handshake::{upgrade, Acceptor, TlsError};
pub use stream::TlsStream;

#[cfg(test)]
pub(crate) mod tests;
