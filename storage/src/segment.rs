//! Segment files: naming, the file header, and listing a log directory.
//!
//! A log is a directory `log-NNNN` (NNNN = the writer's [`LogId`]) of segment files `SSSSSSSSSS.seg`.
//! A segment starts with a 32-byte header: `b"SHMLSEG2"`, the log id and the segment number (u32 LE
//! each), the segment's random salt (u64 LE, see `record.rs`), 4 reserved zero bytes and a crc32c of the
//! 28 bytes before it; then records. Segments written by earlier versions start with the 16-byte
//! `b"SHMLSEG1"` header (no salt) and are read as [`Format::Legacy`], never appended to.
//! The active segment is preallocated (sparse) to the segment size so that readers can map it once.

use std::fs;
use std::path::{Path, PathBuf};

use crate::record::Format;
use crate::{Error, LogId, Result};

pub const MAGIC: &[u8; 8] = b"SHMLSEG2";
pub const LEGACY_MAGIC: &[u8; 8] = b"SHMLSEG1";
/// The header of a current segment: where its first record starts.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// The header of a legacy (`SHMLSEG1`) segment.
pub const LEGACY_SEGMENT_HEADER_LEN: usize = 16;

/// Mode of every file the store creates (segments, snapshots): mail is readable by its owner only.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the log directories the store creates.
pub const DIR_MODE: u32 = 0o700;

/// The directory of writer `log` under the data root.
pub fn log_dir(root: &Path, log: LogId) -> PathBuf {
    root.join(format!("log-{log:04}"))
}

pub fn segment_path(dir: &Path, segment: u32) -> PathBuf {
    dir.join(format!("{segment:010}.seg"))
}

/// Where the first record of a segment of this format starts.
pub const fn data_start(format: Format) -> usize {
    match format {
        Format::Legacy => LEGACY_SEGMENT_HEADER_LEN,
        Format::Salted { .. } => SEGMENT_HEADER_LEN,
    }
}

/// A fresh random salt for a new segment, from the kernel's CSPRNG. Neither half is zero (a zero low
/// half would make the payload CRC the legacy, publicly computable one).
pub fn new_salt() -> std::io::Result<u64> {
    loop {
        let mut b = [0u8; 8];
        // SAFETY: getrandom writes at most `b.len()` bytes into the buffer it is given.
        let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n as usize != b.len() {
            continue;
        }
        let salt = u64::from_le_bytes(b);
        if salt as u32 != 0 && (salt >> 32) as u32 != 0 {
            return Ok(salt);
        }
    }
}

/// The header of segment `segment` of log `log`, whose records are salted with `salt`.
pub fn header(log: LogId, segment: u32, salt: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&log.to_le_bytes());
    h[12..16].copy_from_slice(&segment.to_le_bytes());
    h[16..24].copy_from_slice(&salt.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment's header against the log and segment number its name says it holds, and returns
/// the format of its records.
pub fn check_header(bytes: &[u8], log: LogId, segment: u32, path: &Path) -> Result<Format> {
    let bad = |reason| {
        Err(Error::BadSegmentHeader {
            path: path.to_path_buf(),
            reason,
        })
    };
    let Some(h) = bytes.get(..LEGACY_SEGMENT_HEADER_LEN) else {
        return bad("shorter than the header");
    };
    let format = if &h[..8] == MAGIC {
        let Some(h) = bytes.get(..SEGMENT_HEADER_LEN) else {
            return bad("shorter than the header");
        };
        if crc32c::crc32c(&h[..28]).to_le_bytes() != h[28..32] {
            return bad("header crc mismatch");
        }
        let mut salt = [0u8; 8];
        salt.copy_from_slice(&h[16..24]);
        Format::Salted {
            salt: u64::from_le_bytes(salt),
        }
    } else if &h[..8] == LEGACY_MAGIC {
        Format::Legacy
    } else {
        return bad("bad magic");
    };
    if h[8..12] != log.to_le_bytes() {
        return bad("belongs to another log");
    }
    if h[12..16] != segment.to_le_bytes() {
        return bad("segment number does not match the file name");
    }
    Ok(format)
}

/// True when `bytes` do not begin with a structurally valid header of either format: too short, no
/// known magic, or a salted header whose own CRC fails. In a log's last segment this is what a power
/// cut between creating the file and its header's sync leaves (the sectors of an unsynced header may be
/// zero, stale or garbage). No record of such a segment was ever acknowledged: a writer syncs the
/// header before its first append there. A valid header naming another log or segment is not this case
/// (that is a misplaced file, refused).
pub fn header_never_landed(bytes: &[u8]) -> bool {
    match bytes.get(..8) {
        Some(m) if m == MAGIC => match bytes.get(..SEGMENT_HEADER_LEN) {
            Some(h) => crc32c::crc32c(&h[..28]).to_le_bytes() != h[28..32],
            None => true,
        },
        Some(m) if m == LEGACY_MAGIC => bytes.len() < LEGACY_SEGMENT_HEADER_LEN,
        _ => true,
    }
}

/// The segment numbers present in a log directory, ascending. Files that are not segments are ignored.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(num) = name.strip_suffix(".seg") {
            if num.len() == 10 {
                if let Ok(n) = num.parse::<u32>() {
                    out.push(n);
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The writer ids of every `log-NNNN` directory under the data root, ascending.
pub fn list_logs(root: &Path) -> Result<Vec<LogId>> {
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingDir {
                path: root.to_path_buf(),
            })
        }
        Err(e) => return Err(Error::io("listing", root, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("listing", root, e))?;
        let name = entry.file_name();
        if let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix("log-"))
            .and_then(|n| n.parse().ok())
        {
            out.push(id);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// fsync a directory so that a created, renamed or removed entry in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let f = fs::File::open(dir).map_err(|e| Error::io("opening directory", dir, e))?;
    f.sync_all()
        .map_err(|e| Error::io("syncing directory", dir, e))
}

/// The end of the last data extent of a file: everything past it is a hole (the sparse preallocated
/// end of a segment). Scans stop here so that they never fault in hole pages, which on a full tmpfs
/// would be a SIGBUS and elsewhere is wasted work.
pub fn data_end(file: &fs::File) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let mut end = 0i64;
    let mut pos = 0i64;
    loop {
        // SAFETY: lseek on an open fd has no memory effects.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            let e = std::io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::ENXIO) {
                Ok(end as u64)
            } else {
                Err(e)
            };
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(std::io::Error::last_os_error());
        }
        end = hole;
        pos = hole;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_damage_is_named() {
        let p = Path::new("x.seg");
        let h = header(3, 7, 0xdead_beef_0bad_f00d);
        assert_eq!(
            check_header(&h, 3, 7, p).unwrap(),
            Format::Salted {
                salt: 0xdead_beef_0bad_f00d
            }
        );
        assert!(check_header(&h, 4, 7, p).is_err());
        assert!(check_header(&h, 3, 8, p).is_err());
        for byte in 0..SEGMENT_HEADER_LEN {
            let mut d = h;
            d[byte] ^= 0x40;
            assert!(check_header(&d, 3, 7, p).is_err(), "flip in byte {byte}");
        }
        assert!(check_header(&h[..20], 3, 7, p).is_err());
        let mut legacy = [0u8; LEGACY_SEGMENT_HEADER_LEN];
        legacy[..8].copy_from_slice(LEGACY_MAGIC);
        legacy[8..12].copy_from_slice(&3u32.to_le_bytes());
        legacy[12..16].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(check_header(&legacy, 3, 7, p).unwrap(), Format::Legacy);
    }

    #[test]
    fn salts_differ() {
        let a = new_salt().unwrap();
        let b = new_salt().unwrap();
        assert_ne!(a, b);
        assert!(a as u32 != 0 && (a >> 32) != 0);
    }

    #[test]
    fn a_header_that_never_landed_is_told_from_a_misplaced_one() {
        let h = header(3, 7, 0x1234_5678_9abc_def0);
        assert!(!header_never_landed(&h));
        // Zero, short, garbage, or a salted header torn inside: never landed.
        assert!(header_never_landed(&[]));
        assert!(header_never_landed(&[0u8; SEGMENT_HEADER_LEN]));
        assert!(header_never_landed(&h[..20]));
        assert!(header_never_landed(&[0xA5u8; SEGMENT_HEADER_LEN]));
        let mut torn = h;
        torn[20] ^= 0xff;
        assert!(header_never_landed(&torn));
        // A valid header of another log or segment landed: refused elsewhere, not re-initialised.
        assert!(!header_never_landed(&header(4, 9, 1)));
    }
}
