//! Where a client connects and how it protects the connection: in plaintext, with implicit TLS (RFC 8314
//! 3.3: smtps, imaps, pop3s: the handshake comes first), or with STARTTLS (SMTP: RFC 3207; IMAP: RFC
//! 9051 6.2.1; POP3 STLS: RFC 2595 4). After STARTTLS the session code runs unchanged: the greeting the
//! server sent in plaintext is replayed to it, and it starts over with EHLO / LOGIN / USER as RFC 3207
//! 4.2 and RFC 2595 3.1 require (the server forgot everything from before the handshake).

use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;
use std::time::Duration;

use crate::tls::TlsClient;
use crate::wire::Wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Smtp,
    Imap,
    Pop3,
}

#[derive(Clone)]
pub enum Security {
    Plain,
    /// TLS from the first byte.
    Implicit(TlsClient),
    /// Plaintext greeting, then the protocol's STARTTLS command, then TLS.
    StartTls(TlsClient),
}

impl Security {
    pub fn label(&self) -> &'static str {
        match self {
            Security::Plain => "",
            Security::Implicit(_) => " tls",
            Security::StartTls(_) => " starttls",
        }
    }
}

#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub security: Security,
}

impl Endpoint {
    pub fn plain(addr: SocketAddr, proto: Proto) -> Endpoint {
        Endpoint {
            addr,
            proto,
            security: Security::Plain,
        }
    }

    /// Connects; with TLS, returns once the handshake is done (the greeting still to be read).
    pub async fn open(&self, timeout: Duration) -> Result<Wire> {
        let w = Wire::connect(self.addr, timeout).await?;
        match &self.security {
            Security::Plain => Ok(w),
            Security::Implicit(tls) => w.upgrade(tls, &[]).await,
            Security::StartTls(tls) => {
                let (w, greeting) = match self.proto {
                    Proto::Smtp => smtp(w).await?,
                    Proto::Imap => imap(w).await?,
                    Proto::Pop3 => pop3(w).await?,
                };
                w.upgrade(tls, &greeting).await
            }
        }
    }
}

/// The server answered STARTTLS (or what must precede it) with a refusal.
fn refused(what: &str, line: &[u8]) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "STARTTLS refused at {what}: {}",
            String::from_utf8_lossy(line).trim_end()
        ),
    )
}

/// RFC 3207 4: greeting, EHLO, STARTTLS, 220.
async fn smtp(mut w: Wire) -> Result<(Wire, Vec<u8>)> {
    let mut greeting = Vec::new();
    loop {
        let line = w.line().await?;
        greeting.extend_from_slice(line);
        if line.get(3) != Some(&b'-') {
            break;
        }
    }
    if !greeting.starts_with(b"220") {
        return Err(refused("the greeting", &greeting));
    }
    w.send(b"EHLO loadtest.invalid\r\n").await?;
    let ehlo = w.smtp_reply().await?;
    if ehlo != 250 {
        return Err(refused("EHLO", ehlo.to_string().as_bytes()));
    }
    w.send(b"STARTTLS\r\n").await?;
    let go = w.smtp_reply().await?;
    if go != 220 {
        return Err(refused("STARTTLS", go.to_string().as_bytes()));
    }
    Ok((w, greeting))
}

/// RFC 9051 6.2.1: `* OK` greeting, `s STARTTLS`, tagged OK.
async fn imap(mut w: Wire) -> Result<(Wire, Vec<u8>)> {
    let greeting = w.line().await?.to_vec();
    if !greeting.starts_with(b"* OK") {
        return Err(refused("the greeting", &greeting));
    }
    w.send(b"s0 STARTTLS\r\n").await?;
    loop {
        let line = w.line().await?;
        if let Some(rest) = line.strip_prefix(b"s0 ") {
            if rest.get(..2).is_some_and(|s| s.eq_ignore_ascii_case(b"OK")) {
                return Ok((w, greeting));
            }
            let line = line.to_vec();
            return Err(refused("STARTTLS", &line));
        }
    }
}

/// RFC 2595 4: `+OK` greeting, STLS, `+OK`.
async fn pop3(mut w: Wire) -> Result<(Wire, Vec<u8>)> {
    let greeting = w.line().await?.to_vec();
    if !greeting.starts_with(b"+OK") {
        return Err(refused("the greeting", &greeting));
    }
    w.send(b"STLS\r\n").await?;
    let line = w.line().await?;
    if !line.starts_with(b"+OK") {
        let line = line.to_vec();
        return Err(refused("STLS", &line));
    }
    Ok((w, greeting))
}

/// The TLS options every client subcommand takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// Implicit TLS (RFC 8314): the handshake first, then the protocol (smtps, imaps, pop3s ports).
    #[arg(long, conflicts_with = "starttls")]
    pub tls: bool,
    /// STARTTLS after the greeting (SMTP: RFC 3207; IMAP: RFC 9051 6.2.1; POP3 STLS: RFC 2595 4).
    #[arg(long)]
    pub starttls: bool,
    /// With --tls/--starttls: accept any server certificate (handshake signatures are still verified).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
    /// With --tls/--starttls: verify the server's certificate against the certificates in this PEM
    /// file (a self-signed server certificate may be its own CA).
    #[arg(long)]
    pub ca: Option<std::path::PathBuf>,
    /// The server name sent (SNI) and verified; default: the host of --target.
    #[arg(long)]
    pub server_name: Option<String>,
    /// Allow TLS session resumption. Off by default: every connection makes a full handshake.
    #[arg(long)]
    pub tls_resume: bool,
}

impl TlsArgs {
    /// The endpoint for `target` ("host:port", resolved to `addr`) spoken to in `proto`.
    pub fn endpoint(
        &self,
        target: &str,
        addr: SocketAddr,
        proto: Proto,
    ) -> anyhow::Result<Endpoint> {
        if !self.tls && !self.starttls {
            if self.insecure || self.ca.is_some() || self.server_name.is_some() || self.tls_resume {
                anyhow::bail!(
                    "--insecure, --ca, --server-name and --tls-resume go with --tls or --starttls"
                );
            }
            return Ok(Endpoint::plain(addr, proto));
        }
        let verify = match (&self.ca, self.insecure) {
            (Some(ca), _) => crate::tls::Verify::Ca(ca.clone()),
            (None, true) => crate::tls::Verify::Insecure,
            (None, false) => anyhow::bail!(
                "--tls/--starttls need --ca FILE (verify the server's certificate) or --insecure"
            ),
        };
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => host(target).to_string(),
        };
        let client = TlsClient::new(&verify, &name, self.tls_resume)?;
        let security = if self.tls {
            Security::Implicit(client)
        } else {
            Security::StartTls(client)
        };
        Ok(Endpoint {
            addr,
            proto,
            security,
        })
    }
}

/// The host of "host:port" or "[v6]:port".
pub fn host(target: &str) -> &str {
    let h = target.rsplit_once(':').map_or(target, |(h, _)| h);
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::host;

    #[test]
    fn hosts_of_targets() {
        assert_eq!(host("127.0.0.1:993"), "127.0.0.1");
        assert_eq!(host("mail.example.test:465"), "mail.example.test");
        assert_eq!(host("[::1]:995"), "::1");
        assert_eq!(host("localhost"), "localhost");
    }
}
