//! Segment files: naming, the 16-byte file header, and listing a log directory.
//!
//! A log is a directory `log-NNNN` (NNNN = the writer's [`LogId`]) of segment files `SSSSSSSSSS.seg`.
//! Each segment starts with `b"SHMLSEG1"`, the log id and the segment number (u32 LE each), then
//! records. The active segment is preallocated (sparse) to the segment size so that readers can map it
//! once; a sealed segment is truncated to its last record.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, LogId, Result};

pub const MAGIC: &[u8; 8] = b"SHMLSEG1";
pub const SEGMENT_HEADER_LEN: usize = 16;

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

pub fn header(log: LogId, segment: u32) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&log.to_le_bytes());
    h[12..16].copy_from_slice(&segment.to_le_bytes());
    h
}

/// Checks a segment's header against the log and segment number its name says it holds.
pub fn check_header(bytes: &[u8], log: LogId, segment: u32, path: &Path) -> Result<()> {
    let bad = |reason| {
        Err(Error::BadSegmentHeader {
            path: path.to_path_buf(),
            reason,
        })
    };
    let Some(h) = bytes.get(..SEGMENT_HEADER_LEN) else {
        return bad("shorter than the header");
    };
    if &h[..8] != MAGIC {
        return bad("bad magic");
    }
    if h[8..12] != log.to_le_bytes() {
        return bad("belongs to another log");
    }
    if h[12..16] != segment.to_le_bytes() {
        return bad("segment number does not match the file name");
    }
    Ok(())
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
