//! The account directory: accounts (addresses and argon2id password hashes), aliases and catch-alls,
//! and the postmaster route (RFC 5321 4.5.1), shared by the CLI and the running server.
//!
//! Files in the data directory, each rewritten atomically (temporary file, fsync, rename, directory
//! fsync) with mode 0600, so the server, which re-reads them when they change (see
//! [`Accounts::stamp`]), never sees half a file:
//! - `accounts`: `address<TAB>$argon2id$...` per line;
//! - `aliases`: `from<TAB>to` per line, `from` an address or `@domain` (a catch-all), `to` an account;
//! - `deletions/`: one file per `account del` not yet applied to the store (see [`Deletion`]), written
//!   as `<id>.prepared` and renamed to `<id>` only after the accounts file no longer has the account.
//!
//! Domains are compared in one form whatever form the client used: lower case, and IDNA A-labels
//! (`xn--bcher-kva.test`) mapped to their Unicode form (`bücher.test`) by UTS 46 (RFC 5890), so an
//! account, an alias and a RCPT address name the same domain however they are written.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::smtp::session::{Directory, Lookup};

pub const ACCOUNTS_FILE: &str = "accounts";
pub const ALIASES_FILE: &str = "aliases";
pub const DELETIONS_DIR: &str = "deletions";
/// Mode of secrets and mail; the data directory is created 0700.
pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;

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
    #[error("{0:?} is neither an address nor @domain")]
    BadAliasSource(String),
    #[error("account {0} already exists")]
    Exists(String),
    #[error("no account {0}")]
    Missing(String),
    #[error("{0} is an account; an alias cannot have its name")]
    AliasIsAccount(String),
    #[error("no alias {0}")]
    MissingAlias(String),
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error("an empty password is not allowed")]
    EmptyPassword,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AccountError {
    let path = path.to_path_buf();
    move |source| AccountError::Io { op, path, source }
}

/// A domain in its one compared form: an address literal lower-cased, otherwise UTS 46 processing
/// (lower case, A-labels decoded to Unicode). None when it is not a valid domain.
pub fn canonical_domain(domain: &str) -> Option<String> {
    if domain.starts_with('[') {
        return Some(domain.to_ascii_lowercase());
    }
    let (unicode, result) = idna::domain_to_unicode(domain);
    result.ok()?;
    (!unicode.is_empty()).then_some(unicode)
}

/// Lower-cases the local part (accounts are matched case-insensitively), puts the domain in its
/// canonical form (see [`canonical_domain`]) and checks the shape `local@domain`.
pub fn normalize(address: &str) -> Result<String, AccountError> {
    let a = address.trim();
    let bad = || AccountError::BadAddress(address.into());
    let (local, domain) = a.rsplit_once('@').ok_or_else(bad)?;
    let ok_part = |s: &str| {
        // Runs for every RCPT: ASCII (nearly every address) is checked a byte at a time; the same
        // rule as the char test below, as ASCII whitespace and controls are bytes <= 0x20 and 0x7f.
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || "<>,;\"\\".contains(c);
        !s.is_empty()
            && if s.is_ascii() {
                !s.bytes()
                    .any(|b| b <= b' ' || b == 0x7f || b"<>,;\"\\".contains(&b))
            } else {
                !s.chars().any(bad_char)
            }
    };
    if !ok_part(local)
        || !ok_part(domain)
        || domain.contains('@')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    let domain = canonical_domain(domain).ok_or_else(bad)?;
    Ok(format!("{}@{domain}", local.to_lowercase()))
}

/// An alias source: a normalized address, or `@domain` for every address at a domain.
fn normalize_alias_source(from: &str) -> Result<String, AccountError> {
    match from.trim().strip_prefix('@') {
        Some(d) if !d.contains('@') => canonical_domain(d)
            .filter(|d| {
                !d.starts_with('.') && !d.ends_with('.') && !d.contains(char::is_whitespace)
            })
            .map(|d| format!("@{d}"))
            .ok_or_else(|| AccountError::BadAliasSource(from.into())),
        Some(_) => Err(AccountError::BadAliasSource(from.into())),
        None => normalize(from),
    }
}

/// What the server compares to notice that the files changed: each file's inode (a rename makes a new
/// one), length and modification time.
pub type Stamp = [Option<(u64, u64, SystemTime)>; 2];

/// The account directory as read from the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    /// address → PHC hash string
    by_address: BTreeMap<String, String>,
    /// alias address or `@domain` → account
    aliases: BTreeMap<String, String>,
    domains: BTreeSet<String>,
    /// The account that receives postmaster mail (config `postmaster`); see [`Accounts::postmaster_for`].
    postmaster: Option<String>,
}

impl Accounts {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(ACCOUNTS_FILE)
    }

    pub fn aliases_path(data_dir: &Path) -> PathBuf {
        data_dir.join(ALIASES_FILE)
    }

    /// Reads the accounts and aliases files; a missing file is an empty one.
    pub fn load(data_dir: &Path) -> Result<Accounts, AccountError> {
        let mut a = Accounts::default();
        let path = Accounts::path(data_dir);
        for (line, addr, hash) in read_table(&path)? {
            let malformed = |reason| AccountError::Malformed {
                path: path.clone(),
                line,
                reason,
            };
            let addr = normalize(&addr).map_err(|_| malformed("bad address"))?;
            PasswordHash::new(&hash).map_err(|_| malformed("bad password hash"))?;
            a.by_address.insert(addr, hash);
        }
        let path = Accounts::aliases_path(data_dir);
        for (line, from, to) in read_table(&path)? {
            let malformed = |reason| AccountError::Malformed {
                path: path.clone(),
                line,
                reason,
            };
            let from = normalize_alias_source(&from).map_err(|_| malformed("bad alias"))?;
            let to = normalize(&to).map_err(|_| malformed("bad alias target"))?;
            a.aliases.insert(from, to);
        }
        a.index_domains();
        Ok(a)
    }

    /// Sets the configured postmaster account (config key `postmaster`).
    pub fn with_postmaster(mut self, postmaster: Option<&str>) -> Accounts {
        self.postmaster = postmaster.and_then(|p| normalize(p).ok());
        self
    }

    fn index_domains(&mut self) {
        let domain_of = |k: &String| k.rsplit_once('@').map(|(_, d)| d.to_string());
        self.domains = self
            .by_address
            .keys()
            .chain(self.aliases.keys())
            .filter_map(domain_of)
            .collect();
    }

    /// The files' identities, to notice changes cheaply (the server polls it).
    pub fn stamp(data_dir: &Path) -> Stamp {
        let id = |p: PathBuf| {
            let m = fs::metadata(p).ok()?;
            Some((m.ino(), m.len(), m.modified().ok()?))
        };
        [
            id(Accounts::path(data_dir)),
            id(Accounts::aliases_path(data_dir)),
        ]
    }

    pub fn contains(&self, address: &str) -> bool {
        normalize(address).is_ok_and(|a| self.by_address.contains_key(&a))
    }

    /// The stored hash of an account (identifies this account among others of the same address).
    pub fn hash_of(&self, account: &str) -> Option<&str> {
        self.by_address.get(account).map(String::as_str)
    }

    pub fn is_local_domain(&self, domain: &str) -> bool {
        canonical_domain(domain).is_some_and(|d| self.domains.contains(&d))
    }

    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        self.by_address.keys().map(String::as_str)
    }

    /// Aliases as (from, to), `from` being an address or `@domain`.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.aliases.iter().map(|(f, t)| (f.as_str(), t.as_str()))
    }

    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    /// This directory without some accounts (hidden while their deletion is being applied).
    pub fn without(&self, accounts: &BTreeSet<String>) -> Accounts {
        let mut a = self.clone();
        a.by_address.retain(|k, _| !accounts.contains(k));
        a
    }

    /// The account that receives `postmaster@domain` when no account or alias has that name: the
    /// configured `postmaster` account; unset (or not an account), the first account of that domain
    /// in sorted order, else the first account of all.
    pub fn postmaster_for(&self, domain: &str) -> Option<String> {
        if let Some(p) = self
            .postmaster
            .as_ref()
            .filter(|p| self.by_address.contains_key(*p))
        {
            return Some(p.clone());
        }
        let suffix = format!("@{domain}");
        self.by_address
            .keys()
            .find(|a| a.ends_with(&suffix))
            .or_else(|| self.by_address.keys().next())
            .cloned()
    }

    /// An alias's account, if that account exists.
    fn alias_target(&self, from: &str) -> Option<Option<String>> {
        let to = self.aliases.get(from)?;
        Some(self.by_address.contains_key(to).then(|| to.clone()))
    }

    /// Whether `address` is the account's own: its address or an alias of it (not a catch-all, which
    /// names a whole domain the account receives for, not addresses it owns). For MAIL FROM on
    /// submission.
    pub fn sends_as(&self, account: &str, address: &str) -> bool {
        let Ok(a) = normalize(address) else {
            return false;
        };
        a == account || self.aliases.get(&a).is_some_and(|to| to == account)
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
        let _writer = WriterLock::take(data_dir)?;
        let mut a = Accounts::load(data_dir)?;
        if a.by_address.contains_key(&addr) {
            return Err(AccountError::Exists(addr));
        }
        if a.aliases.contains_key(&addr) {
            return Err(AccountError::Exists(format!("{addr} (an alias)")));
        }
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| AccountError::Hash(e.to_string()))?
            .to_string();
        a.by_address.insert(addr.clone(), hash);
        a.save_accounts(data_dir)?;
        Ok(addr)
    }

    /// Removes an account. Its mailbox is deleted from the store too: an explicit deletion request is
    /// recorded first (a running server applies it within a second; a stopped one at its next start),
    /// then the account leaves the file. Mail is never deleted because an entry is missing from a
    /// file read, only on such a request.
    pub fn delete(data_dir: &Path, address: &str) -> Result<String, AccountError> {
        let addr = normalize(address)?;
        let _writer = WriterLock::take(data_dir)?;
        let mut a = Accounts::load(data_dir)?;
        let Some(hash) = a.by_address.remove(&addr) else {
            return Err(AccountError::Missing(addr));
        };
        // Prepared, then the account leaves the file, then committed: a CLI that dies half way leaves
        // at most a prepared request, which nothing reads (the account and its mail stay).
        let request = Deletion::prepare(data_dir, &addr, &hash)?;
        if let Err(e) = a.save_accounts(data_dir) {
            let _ = fs::remove_file(&request.path);
            return Err(e);
        }
        request.commit()?;
        Ok(addr)
    }

    /// Adds (or replaces) the alias `from` (an address or `@domain`) to the account `to`.
    pub fn alias_add(
        data_dir: &Path,
        from: &str,
        to: &str,
    ) -> Result<(String, String), AccountError> {
        let from = normalize_alias_source(from)?;
        let to = normalize(to)?;
        let _writer = WriterLock::take(data_dir)?;
        let mut a = Accounts::load(data_dir)?;
        if !a.by_address.contains_key(&to) {
            return Err(AccountError::Missing(to));
        }
        if a.by_address.contains_key(&from) {
            return Err(AccountError::AliasIsAccount(from));
        }
        a.aliases.insert(from.clone(), to.clone());
        a.save_aliases(data_dir)?;
        Ok((from, to))
    }

    pub fn alias_del(data_dir: &Path, from: &str) -> Result<String, AccountError> {
        let from = normalize_alias_source(from)?;
        let _writer = WriterLock::take(data_dir)?;
        let mut a = Accounts::load(data_dir)?;
        if a.aliases.remove(&from).is_none() {
            return Err(AccountError::MissingAlias(from));
        }
        a.save_aliases(data_dir)?;
        Ok(from)
    }

    fn save_accounts(&self, data_dir: &Path) -> Result<(), AccountError> {
        let mut text = String::from(
            "# shardmail accounts: address<TAB>argon2id hash. Edit with `shardmail account`.\n",
        );
        for (addr, hash) in &self.by_address {
            text.push_str(&format!("{addr}\t{hash}\n"));
        }
        write_atomically(data_dir, ACCOUNTS_FILE, text.as_bytes())
    }

    fn save_aliases(&self, data_dir: &Path) -> Result<(), AccountError> {
        let mut text = String::from(
            "# shardmail aliases: address or @domain<TAB>account. Edit with `shardmail alias`.\n",
        );
        for (from, to) in &self.aliases {
            text.push_str(&format!("{from}\t{to}\n"));
        }
        write_atomically(data_dir, ALIASES_FILE, text.as_bytes())
    }
}

/// Where recipients go (RFC 5321 4.5.1: `postmaster` at every local domain is accepted).
impl Directory for Accounts {
    fn lookup(&self, address: &str) -> Lookup {
        let Ok(a) = normalize(address) else {
            return Lookup::UnknownUser;
        };
        if self.by_address.contains_key(&a) {
            return Lookup::Local(a);
        }
        if let Some(target) = self.alias_target(&a) {
            return target.map_or(Lookup::UnknownUser, Lookup::Local);
        }
        let Some((local, domain)) = a.rsplit_once('@') else {
            return Lookup::UnknownUser;
        };
        if !self.domains.contains(domain) {
            return Lookup::NotLocal;
        }
        if local == "postmaster" {
            return self
                .postmaster_for(domain)
                .map_or(Lookup::UnknownUser, Lookup::Local);
        }
        match self.alias_target(&format!("@{domain}")) {
            Some(Some(target)) => Lookup::Local(target),
            _ => Lookup::UnknownUser,
        }
    }

    fn postmaster(&self) -> Option<String> {
        if let Some(p) = self
            .postmaster
            .as_ref()
            .filter(|p| self.by_address.contains_key(*p))
        {
            return Some(p.clone());
        }
        self.by_address.keys().next().cloned()
    }
}

/// The lines of a `key<TAB>value` file as (line number, key, value); a missing file has none.
fn read_table(path: &Path) -> Result<Vec<(usize, String, String)>, AccountError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(AccountError::Io {
                op: "reading",
                path: path.into(),
                source,
            })
        }
    };
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('\t').ok_or(AccountError::Malformed {
            path: path.into(),
            line: i + 1,
            reason: "no tab between the two fields",
        })?;
        rows.push((i + 1, k.to_string(), v.to_string()));
    }
    Ok(rows)
}

/// Creates the data directory (mode 0700) if needed.
pub fn create_data_dir(data_dir: &Path) -> Result<(), AccountError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(data_dir)
        .map_err(io_err("creating", data_dir))
}

/// Writes `name` in `dir` with mode 0600: temporary file, fsync, rename, directory fsync.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), AccountError> {
    create_data_dir(dir)?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io_err("creating", &tmp))?;
    f.write_all(bytes).map_err(io_err("writing", &tmp))?;
    f.sync_all().map_err(io_err("syncing", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err("renaming", &path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", dir))
}

/// Serializes the CLI's read-modify-write of the files (two `account add` at once must not lose one):
/// an exclusive flock on `<data_dir>/accounts.lock`, released when dropped (or by the kernel).
struct WriterLock {
    _file: fs::File,
}

impl WriterLock {
    fn take(data_dir: &Path) -> Result<WriterLock, AccountError> {
        create_data_dir(data_dir)?;
        let path = data_dir.join("accounts.lock");
        let f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } != 0 {
            return Err(AccountError::Io {
                op: "locking",
                path,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(WriterLock { _file: f })
    }
}

/// An `account del` whose mailbox deletion the store has not recorded yet: `<data_dir>/deletions/<id>`
/// holding `address<TAB>hash`. The hash says which account of that address it deletes: if the address
/// was added again since, the new account has another hash (a fresh salt) and keeps its new mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub path: PathBuf,
    pub account: String,
    pub hash: String,
}

impl Deletion {
    /// Writes the request as `<id>.prepared` (not yet seen by the server).
    fn prepare(data_dir: &Path, account: &str, hash: &str) -> Result<Deletion, AccountError> {
        let dir = data_dir.join(DELETIONS_DIR);
        create_data_dir(&dir)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("{nanos:024}-{}.prepared", std::process::id());
        write_atomically(&dir, &name, format!("{account}\t{hash}\n").as_bytes())?;
        Ok(Deletion {
            path: dir.join(name),
            account: account.to_string(),
            hash: hash.to_string(),
        })
    }

    /// Makes a prepared request visible to the server (a rename, then a directory sync).
    fn commit(self) -> Result<(), AccountError> {
        let to = self.path.with_extension("");
        fs::rename(&self.path, &to).map_err(io_err("renaming", &to))?;
        let dir = to.parent().unwrap_or(Path::new("."));
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("syncing", dir))
    }

    /// The committed requests not yet applied, oldest first. Unreadable entries are skipped (and kept).
    pub fn pending(data_dir: &Path) -> Vec<Deletion> {
        let dir = data_dir.join(DELETIONS_DIR);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<Deletion> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_none())
            .filter_map(|path| {
                let text = fs::read_to_string(&path).ok()?;
                let (account, hash) = text.trim_end().split_once('\t')?;
                Some(Deletion {
                    account: normalize(account).ok()?,
                    hash: hash.to_string(),
                    path,
                })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Whether the request can be applied: the deleted entry is not in the file (an account of the same
    /// address added since has another hash). The very entry still present means the file was put back
    /// (a restored backup): the request then waits rather than delete a live account's mail.
    pub fn ready(&self, accounts: &Accounts) -> bool {
        accounts.hash_of(&self.account) != Some(self.hash.as_str())
    }

    /// The store has recorded the deletion: forget the request.
    pub fn done(&self) -> Result<(), AccountError> {
        fs::remove_file(&self.path).map_err(io_err("removing", &self.path))?;
        if let Some(dir) = self.path.parent() {
            let _ = fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
    fn the_ascii_fast_path_refuses_exactly_what_the_char_rule_does() {
        // Every ASCII character in the local part and in the domain, against the rule as written
        // for chars (whitespace, controls, and <>,;"\ are refused; the domain's other checks aside).
        for b in 0u8..0x80 {
            let c = b as char;
            let refused = c.is_whitespace() || c.is_control() || "<>,;\"\\".contains(c);
            let local = format!("a{c}b@example.test");
            assert_eq!(
                normalize(&local).is_err(),
                refused,
                "local part with {b:#04x}"
            );
            if !refused {
                continue;
            }
            let domain = format!("ab@exa{c}mple.test");
            assert!(normalize(&domain).is_err(), "domain with {b:#04x}");
        }
        assert!(normalize("d\u{e9}j\u{e0}@example.test").is_ok());
        assert!(
            normalize("a\u{2003}b@example.test").is_err(),
            "Unicode whitespace"
        );
        assert!(normalize("a\u{85}b@example.test").is_err(), "C1 control");
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

    #[test]
    fn idna_forms_name_the_same_domain() {
        assert_eq!(
            normalize("Alice@XN--BCHER-KVA.test").unwrap(),
            "alice@bücher.test"
        );
        assert_eq!(normalize("alice@BÜCHER.test").unwrap(), "alice@bücher.test");
        assert_eq!(canonical_domain("[IPv6:::1]").unwrap(), "[ipv6:::1]");
        assert!(normalize("a@xn--a.test").is_err(), "an invalid A-label");
        let dir = tempfile::tempdir().unwrap();
        Accounts::add(dir.path(), "alice@xn--bcher-kva.test", "pw").unwrap();
        let a = Accounts::load(dir.path()).unwrap();
        assert!(a.is_local_domain("bücher.test"));
        assert!(a.is_local_domain("xn--bcher-kva.test"));
        assert_eq!(
            a.lookup("alice@xn--bcher-kva.test"),
            Lookup::Local("alice@bücher.test".into())
        );
        assert_eq!(
            a.lookup("ALICE@Bücher.test"),
            Lookup::Local("alice@bücher.test".into())
        );
        Accounts::alias_add(dir.path(), "@XN--BCHER-KVA.test", "alice@bücher.test").unwrap();
        let a = Accounts::load(dir.path()).unwrap();
        assert_eq!(
            a.lookup("anyone@bücher.test"),
            Lookup::Local("alice@bücher.test".into())
        );
    }

    #[test]
    fn an_account_sends_as_itself_and_its_aliases_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        Accounts::add(d, "alice@example.test", "pw").unwrap();
        Accounts::add(d, "bob@example.test", "pw").unwrap();
        Accounts::alias_add(d, "sales@example.test", "alice@example.test").unwrap();
        Accounts::alias_add(d, "@other.test", "alice@example.test").unwrap();
        let a = Accounts::load(d).unwrap();
        let alice = "alice@example.test";
        assert!(a.sends_as(alice, "alice@example.test"));
        assert!(a.sends_as(alice, "Alice@EXAMPLE.test"));
        assert!(a.sends_as(alice, "sales@example.test"));
        assert!(!a.sends_as(alice, "bob@example.test"));
        assert!(
            !a.sends_as(alice, "anyone@other.test"),
            "a catch-all is not an address"
        );
        assert!(!a.sends_as(alice, ""));
        assert!(!a.sends_as("bob@example.test", "sales@example.test"));
    }

    #[test]
    fn aliases_catch_alls_and_postmaster() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        Accounts::add(d, "bob@example.test", "pw").unwrap();
        Accounts::add(d, "alice@example.test", "pw").unwrap();
        Accounts::add(d, "carol@other.test", "pw").unwrap();
        let a = Accounts::load(d).unwrap();
        // RFC 5321 4.5.1: postmaster at every local domain, by default to the domain's first account.
        assert_eq!(
            a.lookup("Postmaster@example.test"),
            Lookup::Local("alice@example.test".into())
        );
        assert_eq!(
            a.lookup("postmaster@other.test"),
            Lookup::Local("carol@other.test".into())
        );
        assert_eq!(a.lookup("postmaster@elsewhere.test"), Lookup::NotLocal);
        assert_eq!(a.postmaster(), Some("alice@example.test".into()));
        let a = a.with_postmaster(Some("Bob@example.test"));
        assert_eq!(
            a.lookup("postmaster@other.test"),
            Lookup::Local("bob@example.test".into())
        );
        assert_eq!(a.postmaster(), Some("bob@example.test".into()));
        // Aliases and catch-alls.
        assert!(matches!(
            Accounts::alias_add(d, "info@example.test", "ghost@example.test"),
            Err(AccountError::Missing(_))
        ));
        assert!(matches!(
            Accounts::alias_add(d, "bob@example.test", "alice@example.test"),
            Err(AccountError::AliasIsAccount(_))
        ));
        assert!(matches!(
            Accounts::alias_add(d, "not an address", "alice@example.test"),
            Err(AccountError::BadAddress(_))
        ));
        Accounts::alias_add(d, "Info@Example.test", "bob@example.test").unwrap();
        Accounts::alias_add(d, "postmaster@example.test", "carol@other.test").unwrap();
        Accounts::alias_add(d, "@catch.test", "carol@other.test").unwrap();
        let a = Accounts::load(d).unwrap();
        assert_eq!(
            a.lookup("info@example.test"),
            Lookup::Local("bob@example.test".into())
        );
        assert_eq!(
            a.lookup("postmaster@example.test"),
            Lookup::Local("carol@other.test".into())
        );
        assert_eq!(
            a.lookup("whoever@catch.test"),
            Lookup::Local("carol@other.test".into())
        );
        assert_eq!(a.lookup("nobody@example.test"), Lookup::UnknownUser);
        assert_eq!(
            a.aliases().collect::<Vec<_>>(),
            vec![
                ("@catch.test", "carol@other.test"),
                ("info@example.test", "bob@example.test"),
                ("postmaster@example.test", "carol@other.test")
            ]
        );
        Accounts::alias_del(d, "@catch.test").unwrap();
        assert!(matches!(
            Accounts::alias_del(d, "@catch.test"),
            Err(AccountError::MissingAlias(_))
        ));
        let a = Accounts::load(d).unwrap();
        assert_eq!(a.lookup("whoever@catch.test"), Lookup::NotLocal);
        // An alias whose account was deleted since routes nowhere.
        Accounts::delete(d, "bob@example.test").unwrap();
        let a = Accounts::load(d).unwrap();
        assert_eq!(a.lookup("info@example.test"), Lookup::UnknownUser);
    }

    #[test]
    fn files_are_0600_in_a_0700_directory() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("data");
        Accounts::add(&d, "alice@example.test", "pw").unwrap();
        Accounts::alias_add(&d, "a@example.test", "alice@example.test").unwrap();
        Accounts::delete(&d, "alice@example.test").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join(DELETIONS_DIR)), 0o700);
        for f in [ACCOUNTS_FILE, ALIASES_FILE, "accounts.lock"] {
            assert_eq!(mode(&d.join(f)), 0o600, "{f}");
        }
        let del = Deletion::pending(&d);
        assert_eq!(del.len(), 1);
        assert_eq!(mode(&del[0].path), 0o600);
    }

    #[test]
    fn deletion_requests_name_the_deleted_account_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        Accounts::add(d, "alice@example.test", "pw").unwrap();
        let old = Accounts::load(d).unwrap();
        Accounts::delete(d, "alice@example.test").unwrap();
        let pending = Deletion::pending(d);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].account, "alice@example.test");
        // Against a file that still holds the deleted entry (put back since): not ready.
        assert!(!pending[0].ready(&old));
        // A prepared request (a CLI that died half way) is not seen at all.
        Accounts::add(d, "carol@example.test", "pw").unwrap();
        let carol = Accounts::load(d).unwrap();
        let p = Deletion::prepare(
            d,
            "carol@example.test",
            carol.hash_of("carol@example.test").unwrap(),
        )
        .unwrap();
        assert!(p.path.exists());
        assert_eq!(Deletion::pending(d).len(), 1);
        assert!(pending[0].ready(&Accounts::load(d).unwrap()));
        // Added again: the new account has another hash, so the request still applies to the old one.
        Accounts::add(d, "alice@example.test", "pw").unwrap();
        assert!(pending[0].ready(&Accounts::load(d).unwrap()));
        pending[0].done().unwrap();
        assert!(Deletion::pending(d).is_empty());
    }
}
