//! The accounts file: addresses and argon2id password hashes, shared by the CLI and the running server.
//!
//! One line per account, `address<TAB>$argon2id$...`, in `<data_dir>/accounts`. The CLI rewrites it
//! atomically (temporary file, fsync, rename, directory fsync) so the server, which re-reads it when
//! its modification time changes (polled every 250 ms), never sees half a file. A domain is local when
//! some account is at it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub const ACCOUNTS_FILE: &str = "accounts";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("{0:?} is not an address of the form local@domain")]
    BadAddress(String),
    #[error("account {0} already exists")]
    Exists(String),
    #[error("no account {0}")]
    Missing(String),
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error("an empty password is not allowed")]
    EmptyPassword,
}

/// Lower-cases the domain and the local part (accounts are matched case-insensitively) and checks the
/// shape `local@domain`.
pub fn normalize(address: &str) -> Result<String, AccountError> {
    let a = address.trim();
    let (local, domain) = a
        .rsplit_once('@')
        .ok_or_else(|| AccountError::BadAddress(address.into()))?;
    let ok_part = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"\\".contains(c))
    };
    if !ok_part(local)
        || !ok_part(domain)
        || domain.contains('@')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(AccountError::BadAddress(address.into()));
    }
    Ok(format!(
        "{}@{}",
        local.to_lowercase(),
        domain.to_lowercase()
    ))
}

/// The accounts as read from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    /// address → PHC hash string
    by_address: BTreeMap<String, String>,
    domains: BTreeSet<String>,
}

impl Accounts {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(ACCOUNTS_FILE)
    }

    /// Reads the accounts file; a missing file is no accounts.
    pub fn load(data_dir: &Path) -> Result<Accounts, AccountError> {
        let path = Accounts::path(data_dir);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Accounts::default()),
            Err(source) => {
                return Err(AccountError::Io {
                    op: "reading",
                    path,
                    source,
                })
            }
        };
        let mut a = Accounts::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |reason| AccountError::Malformed {
                path: path.clone(),
                line: i + 1,
                reason,
            };
            let (addr, hash) = line
                .split_once('\t')
                .ok_or_else(|| malformed("no tab between address and hash"))?;
            let addr = normalize(addr).map_err(|_| malformed("bad address"))?;
            PasswordHash::new(hash).map_err(|_| malformed("bad password hash"))?;
            a.insert(addr, hash.to_string());
        }
        Ok(a)
    }

    fn insert(&mut self, addr: String, hash: String) {
        if let Some((_, d)) = addr.rsplit_once('@') {
            self.domains.insert(d.to_string());
        }
        self.by_address.insert(addr, hash);
    }

    /// The file's modification time, to notice changes cheaply.
    pub fn mtime(data_dir: &Path) -> Option<SystemTime> {
        fs::metadata(Accounts::path(data_dir))
            .and_then(|m| m.modified())
            .ok()
    }

    pub fn contains(&self, address: &str) -> bool {
        normalize(address).is_ok_and(|a| self.by_address.contains_key(&a))
    }

    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains.contains(&domain.to_lowercase())
    }

    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        self.by_address.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    /// Checks a password against the stored argon2id hash.
    pub fn verify(&self, address: &str, password: &str) -> bool {
        let Ok(addr) = normalize(address) else {
            return false;
        };
        let Some(hash) = self.by_address.get(&addr) else {
            return false;
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    /// Adds an account (hashing the password with argon2id) and rewrites the file atomically.
    pub fn add(data_dir: &Path, address: &str, password: &str) -> Result<String, AccountError> {
        if password.is_empty() {
            return Err(AccountError::EmptyPassword);
        }
        let addr = normalize(address)?;
        let mut a = Accounts::load(data_dir)?;
        if a.by_address.contains_key(&addr) {
            return Err(AccountError::Exists(addr));
        }
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| AccountError::Hash(e.to_string()))?
            .to_string();
        a.insert(addr.clone(), hash);
        a.save(data_dir)?;
        Ok(addr)
    }

    /// Removes an account from the file (its mail stays in the logs).
    pub fn delete(data_dir: &Path, address: &str) -> Result<String, AccountError> {
        let addr = normalize(address)?;
        let mut a = Accounts::load(data_dir)?;
        if a.by_address.remove(&addr).is_none() {
            return Err(AccountError::Missing(addr));
        }
        a.domains = a
            .by_address
            .keys()
            .filter_map(|k| k.rsplit_once('@'))
            .map(|(_, d)| d.to_string())
            .collect();
        a.save(data_dir)?;
        Ok(addr)
    }

    fn save(&self, data_dir: &Path) -> Result<(), AccountError> {
        fs::create_dir_all(data_dir).map_err(|source| AccountError::Io {
            op: "creating",
            path: data_dir.into(),
            source,
        })?;
        let path = Accounts::path(data_dir);
        let tmp = data_dir.join(format!("{ACCOUNTS_FILE}.tmp"));
        let io = |op, p: &Path| {
            let p = p.to_path_buf();
            move |source| AccountError::Io {
                op,
                path: p,
                source,
            }
        };
        let mut f = fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        let mut text = String::from(
            "# shardmail accounts: address<TAB>argon2id hash. Edit with `shardmail account`.\n",
        );
        for (addr, hash) in &self.by_address {
            text.push_str(addr);
            text.push('\t');
            text.push_str(hash);
            text.push('\n');
        }
        f.write_all(text.as_bytes()).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("renaming", &path))?;
        fs::File::open(data_dir)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing", data_dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_verify_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Accounts::load(dir.path()).unwrap().is_empty());
        let a = Accounts::add(dir.path(), "Alice@Example.TEST", "s3cret").unwrap();
        assert_eq!(a, "alice@example.test");
        let accts = Accounts::load(dir.path()).unwrap();
        assert!(accts.contains("ALICE@example.test"));
        assert!(accts.is_local_domain("EXAMPLE.test"));
        assert!(accts.verify("alice@example.test", "s3cret"));
        assert!(!accts.verify("alice@example.test", "wrong"));
        let text = fs::read_to_string(Accounts::path(dir.path())).unwrap();
        assert!(text.contains("$argon2id$"), "{text}");
        assert!(!text.contains("s3cret"));
        assert!(matches!(
            Accounts::add(dir.path(), "alice@example.test", "x"),
            Err(AccountError::Exists(_))
        ));
        Accounts::delete(dir.path(), "alice@example.test").unwrap();
        let accts = Accounts::load(dir.path()).unwrap();
        assert!(!accts.contains("alice@example.test"));
        assert!(!accts.is_local_domain("example.test"));
        assert!(matches!(
            Accounts::delete(dir.path(), "alice@example.test"),
            Err(AccountError::Missing(_))
        ));
    }

    #[test]
    fn bad_addresses_and_passwords_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "",
            "nodomain",
            "@example.test",
            "a@",
            "a b@example.test",
            "a@.example",
        ] {
            assert!(
                matches!(
                    Accounts::add(dir.path(), bad, "pw"),
                    Err(AccountError::BadAddress(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Accounts::add(dir.path(), "a@b.test", ""),
            Err(AccountError::EmptyPassword)
        ));
    }

    #[test]
    fn a_malformed_file_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            Accounts::path(dir.path()),
            "# c\nalice@example.test no-tab\n",
        )
        .unwrap();
        let e = Accounts::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
