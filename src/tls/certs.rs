//! The server's certificates: read from the `[tls]` files, checked before anything is served (a
//! missing, unreadable, expired, not yet valid or mismatched certificate stops the start, or is
//! refused by a reload, naming the path and the reason), and chosen per connection by the name the
//! client asks for (SNI, RFC 6066 3), falling back to the default certificate.
//!
//! TLS 1.2 and 1.3 only (RFC 8996 deprecates the older ones; RFC 8314 4.1 asks for 1.2 or later),
//! with rustls's aws-lc-rs provider and its default, forward-secret cipher suites.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::handshake::Acceptor;
use super::x509;
use crate::config::TlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("[tls]: {0}")]
    Config(String),
}

fn file_err(path: &Path, reason: impl Into<String>) -> CertError {
    CertError::File {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// One certificate chain with its key, checked.
#[derive(Debug)]
pub struct Loaded {
    pub cert_path: PathBuf,
    pub key: Arc<CertifiedKey>,
    pub info: x509::Info,
}

/// Reads and checks one certificate chain (PEM, end-entity first) and its private key (PEM,
/// PKCS#8, PKCS#1 or SEC1) against the time `now` (Unix seconds).
pub fn load_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
    now: i64,
) -> Result<Loaded, CertError> {
    let pem = std::fs::read(cert).map_err(|e| file_err(cert, format!("cannot read: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(cert, format!("not a PEM certificate file: {e}")))?;
    let Some(first) = chain.first() else {
        return Err(file_err(cert, "holds no certificate"));
    };
    let info = x509::parse(first).map_err(|e| file_err(cert, e.to_string()))?;
    if now < info.not_before {
        return Err(file_err(
            cert,
            format!("not valid before {}", x509::format_time(info.not_before)),
        ));
    }
    if now > info.not_after {
        return Err(file_err(
            cert,
            format!("expired on {}", x509::format_time(info.not_after)),
        ));
    }
    let key_pem = std::fs::read(key).map_err(|e| file_err(key, format!("cannot read: {e}")))?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| file_err(key, format!("not a PEM private key: {e}")))?;
    let certified = CertifiedKey::from_der(chain, key_der, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => file_err(
            key,
            format!("does not match the certificate {}", cert.display()),
        ),
        e => file_err(key, format!("unusable private key: {e}")),
    })?;
    Ok(Loaded {
        cert_path: cert.to_path_buf(),
        key: Arc::new(certified),
        info,
    })
}

/// Picks a certificate by the client's SNI name: an exact DNS name, then a wildcard for its parent
/// (RFC 6125 6.4.3: `*` stands for the one leftmost label), else the default.
#[derive(Debug)]
pub struct BySni {
    default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl BySni {
    /// The first certificate is the default; a name two certificates hold goes to the first.
    pub fn new(certs: &[Loaded]) -> Option<BySni> {
        let default = certs.first()?.key.clone();
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for c in certs {
            for name in &c.info.dns_names {
                match name.strip_prefix("*.") {
                    Some(parent) => wildcard.entry(parent.to_string()),
                    None => exact.entry(name.clone()),
                }
                .or_insert_with(|| c.key.clone());
            }
        }
        Some(BySni {
            default,
            exact,
            wildcard,
        })
    }

    pub fn pick(&self, server_name: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = server_name else {
            return &self.default;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return k;
        }
        name.split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent))
            .unwrap_or(&self.default)
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()).clone())
    }
}

/// The certificate files the config names, default first: `[tls] cert`/`key`, then each
/// `[[tls.certificates]]`.
pub fn pairs(c: &TlsConfig) -> Result<Vec<(PathBuf, PathBuf)>, CertError> {
    let mut out = Vec::new();
    match (&c.cert, &c.key) {
        (Some(cert), Some(key)) => out.push((cert.clone(), key.clone())),
        (None, None) => {}
        (Some(_), None) => return Err(CertError::Config("`cert` is set but `key` is not".into())),
        (None, Some(_)) => return Err(CertError::Config("`key` is set but `cert` is not".into())),
    }
    for p in &c.certificates {
        out.push((p.cert.clone(), p.key.clone()));
    }
    Ok(out)
}

/// Loads every configured certificate and builds the acceptor; `None` when no certificate is
/// configured (TLS is then neither offered nor served).
pub fn acceptor(c: &TlsConfig, now: i64) -> Result<Option<Acceptor>, CertError> {
    let pairs = pairs(c)?;
    if pairs.is_empty() {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let loaded = pairs
        .iter()
        .map(|(cert, key)| load_pair(cert, key, &provider, now))
        .collect::<Result<Vec<_>, _>>()?;
    let resolver = BySni::new(&loaded).ok_or_else(|| CertError::Config("no certificate".into()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| CertError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    // Resumption by stateless tickets (RFC 8446 4.6.1, RFC 5077): any shard can resume any session
    // and no session cache is shared between the shards (the default cache is one mutex).
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.ticketer =
        rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| CertError::Config(e.to_string()))?;
    config.send_tls13_tickets = 1;
    Ok(Some(Acceptor::new(Arc::new(config))))
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pem {
        cert: String,
        key: String,
    }

    fn make(names: &[&str], from: (i32, u8, u8), to: (i32, u8, u8)) -> Pem {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        p.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        Pem {
            cert: p.self_signed(&key).unwrap().pem(),
            key: key.serialize_pem(),
        }
    }

    fn write(dir: &Path, name: &str, pem: &Pem) -> (PathBuf, PathBuf) {
        let c = dir.join(format!("{name}.crt"));
        let k = dir.join(format!("{name}.key"));
        std::fs::write(&c, &pem.cert).unwrap();
        std::fs::write(&k, &pem.key).unwrap();
        (c, k)
    }

    const VALID: ((i32, u8, u8), (i32, u8, u8)) = ((2000, 1, 1), (2999, 1, 1));

    fn provider() -> CryptoProvider {
        rustls::crypto::aws_lc_rs::default_provider()
    }

    #[test]
    fn a_good_pair_loads_and_bad_ones_name_the_path_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_secs();
        let (c, k) = write(dir.path(), "good", &make(&["a.test"], VALID.0, VALID.1));
        let ok = load_pair(&c, &k, &provider(), now).unwrap();
        assert_eq!(ok.info.dns_names, ["a.test"]);

        let missing = dir.path().join("nope.pem");
        let e = load_pair(&missing, &k, &provider(), now)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.pem") && e.contains("cannot read"), "{e}");

        let (c2, _) = write(
            dir.path(),
            "old",
            &make(&["a.test"], (2000, 1, 1), (2001, 1, 1)),
        );
        let e = load_pair(&c2, &k, &provider(), now)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("old.crt") && e.contains("expired on 2001-01-01"),
            "{e}"
        );

        let (c3, _) = write(
            dir.path(),
            "future",
            &make(&["a.test"], (2990, 1, 1), VALID.1),
        );
        let e = load_pair(&c3, &k, &provider(), now)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid before 2990-01-01"), "{e}");

        // Another certificate's key: the pair does not match.
        let (_, other_key) = write(dir.path(), "other", &make(&["b.test"], VALID.0, VALID.1));
        let e = load_pair(&c, &other_key, &provider(), now)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("other.key") && e.contains("does not match"),
            "{e}"
        );

        // A key file where the certificate should be, and garbage for a key.
        let e = load_pair(&k, &k, &provider(), now).unwrap_err().to_string();
        assert!(
            e.contains("good.key") && e.contains("no certificate"),
            "{e}"
        );
        let junk = dir.path().join("junk.key");
        std::fs::write(&junk, "hello").unwrap();
        let e = load_pair(&c, &junk, &provider(), now)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("junk.key") && e.contains("not a PEM private key"),
            "{e}"
        );
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_secs();
        let mut loaded = Vec::new();
        for (n, names) in [
            ("default", &["mail.a.test"][..]),
            ("b", &["mail.b.test", "*.b.test"][..]),
            ("c", &["MAIL.C.TEST"][..]),
        ] {
            let (c, k) = write(dir.path(), n, &make(names, VALID.0, VALID.1));
            loaded.push(load_pair(&c, &k, &provider(), now).unwrap());
        }
        let r = BySni::new(&loaded).unwrap();
        let which = |name: Option<&str>| {
            let k = r.pick(name);
            loaded.iter().position(|l| Arc::ptr_eq(&l.key, k)).unwrap()
        };
        assert_eq!(which(None), 0);
        assert_eq!(which(Some("mail.a.test")), 0);
        assert_eq!(which(Some("mail.b.test")), 1);
        assert_eq!(which(Some("imap.b.test")), 1, "wildcard");
        assert_eq!(
            which(Some("x.imap.b.test")),
            0,
            "a wildcard covers one label only"
        );
        assert_eq!(which(Some("b.test")), 0);
        assert_eq!(
            which(Some("Mail.C.Test.")),
            2,
            "case and a trailing dot do not matter"
        );
        assert_eq!(which(Some("unknown.test")), 0);
    }

    #[test]
    fn cert_without_key_is_a_config_error() {
        let c = TlsConfig {
            cert: Some("x.pem".into()),
            ..TlsConfig::default()
        };
        let e = acceptor(&c, 0).unwrap_err().to_string();
        assert!(e.contains("`key` is not"), "{e}");
        assert!(acceptor(&TlsConfig::default(), 0).unwrap().is_none());
    }
}
