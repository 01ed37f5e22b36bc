//! `shardmail cert self-signed`: a development certificate and key for a host name, so TLS can be
//! tried without a CA. ECDSA P-256 (the cheapest handshakes rustls offers), valid from now for a
//! year; the key is written 0600 (nobody else may read a secret).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    #[error("cannot make a certificate for {host:?}: {reason}")]
    Generate { host: String, reason: String },
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The PEM certificate and key for `host` (also the certificate's subjectAltName), valid for
/// `days` days from `now` (Unix seconds).
pub fn generate(host: &str, now: i64, days: i64) -> Result<(String, String), SelfSignedError> {
    let fail = |e: rcgen::Error| SelfSignedError::Generate {
        host: host.to_string(),
        reason: e.to_string(),
    };
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).map_err(fail)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, host);
    // What a server certificate says it is for (RFC 5280 4.2.1.3, 4.2.1.12): strict clients
    // (OpenSSL's X509_STRICT, Python 3.13's default) want both.
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    // Not a CA (said explicitly, as OpenSSL's own self-signed server certificates do).
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let (y, m, d) = ymd(now - 86_400);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(now + days * 86_400);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The civil date (UTC) of a Unix time.
fn ymd(t: i64) -> (i32, u8, u8) {
    let s = super::x509::format_time(t);
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|p| p.parse::<i64>().ok()).unwrap_or(1);
    (n(0..4) as i32, n(5..7) as u8, n(8..10) as u8)
}

/// Writes `cert.pem` (0644) and `key.pem` (0600) into `dir`; returns their paths.
pub fn write(dir: &Path, cert: &str, key: &str) -> Result<(PathBuf, PathBuf), SelfSignedError> {
    let c = dir.join("cert.pem");
    let k = dir.join("key.pem");
    write_file(&k, key, 0o600)?;
    write_file(&c, cert, 0o644)?;
    Ok((c, k))
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), SelfSignedError> {
    let err = |source| SelfSignedError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    // An existing file keeps its mode through `open`: set it.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_loads_for_its_host_with_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        // A key file left readable by others is made private by the next run.
        std::fs::write(dir.path().join("key.pem"), "old").unwrap();
        std::fs::set_permissions(
            dir.path().join("key.pem"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let now = super::super::certs::now_secs();
        let (cert, key) = generate("mail.example.test", now, 365).unwrap();
        let (c, k) = write(dir.path(), &cert, &key).unwrap();
        let mode = std::fs::metadata(&k).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let loaded = super::super::certs::load_pair(&c, &k, &provider, now).unwrap();
        assert_eq!(loaded.info.dns_names, ["mail.example.test"]);
        assert!(loaded.info.not_before <= now && now + 364 * 86_400 < loaded.info.not_after);
    }
}
