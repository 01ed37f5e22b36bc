//! TLS for the load generator's clients (rustls with the aws-lc-rs provider, the server's own): the client
//! configuration a run shares, and the handshake over a connected socket.
//!
//! Each connection makes a FULL handshake by default: session resumption (RFC 8446 2.2 tickets, TLS 1.2
//! session IDs) is off unless `--tls-resume`, so a benchmark measures the expensive case. The server's
//! certificate is checked against `--ca FILE`, or not at all with `--insecure` (a benchmark talking to
//! its own loopback servers); even then the handshake signature is verified, so the client does the
//! same public-key work as a real one.

use std::io;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use glommio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The TLS stream a client reads and writes once the handshake is done.
pub type TlsStream = futures_rustls::client::TlsStream<TcpStream>;

/// How the server's certificate is checked.
#[derive(Debug, Clone)]
pub enum Verify {
    /// Any certificate (the handshake signature is still verified against it).
    Insecure,
    /// Certificates chaining to one in this PEM file (a self-signed server certificate is its own root).
    Ca(std::path::PathBuf),
}

/// What every connection of a run shares: the rustls configuration and the name the server is asked
/// for (SNI, RFC 6066 3; not sent for an IP address, per the same section).
#[derive(Clone)]
pub struct TlsClient {
    connector: futures_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl TlsClient {
    /// `server_name`: a DNS name or an IP address; `resume`: allow session resumption.
    pub fn new(verify: &Verify, server_name: &str, resume: bool) -> Result<TlsClient> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("the TLS provider supports no protocol version")?;
        let mut config = match verify {
            Verify::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
            Verify::Ca(path) => builder
                .with_root_certificates(roots(path)?)
                .with_no_client_auth(),
        };
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        let name = ServerName::try_from(server_name.to_string())
            .with_context(|| format!("{server_name:?} is neither a DNS name nor an IP address"))?;
        Ok(TlsClient {
            connector: futures_rustls::TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    /// The handshake over `tcp`; the socket's read and write timeouts bound it.
    pub async fn handshake(&self, tcp: TcpStream) -> io::Result<TlsStream> {
        self.connector.connect(self.name.clone(), tcp).await
    }
}

fn roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?;
    for cert in certs {
        let cert = cert.with_context(|| format!("a certificate in {}", path.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("a certificate in {} is not usable", path.display()))?;
    }
    if roots.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(roots)
}

/// Accepts any server certificate, but verifies the handshake signatures made with its key (RFC 8446
/// 4.4.3 CertificateVerify; TLS 1.2's ServerKeyExchange), as a verifying client would.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
