//! One writer's log: append with group commit on glommio's io_uring files.
//!
//! Invariants this file keeps:
//! - `append` resolves with a position only after the record's bytes are durable: one `fdatasync` covers
//!   every record that was waiting when the flusher started its write (group commit). Under `always` each
//!   record gets its own sync; under `none` there is no sync at all (benchmarks only; logged loudly).
//! - Positions are assigned in append order and records land in the file in that order, so the log is a
//!   prefix-closed sequence: if a position is durable, so is every earlier one.
//! - No blocking syscall runs on the executor thread after open: writes, syncs, segment creation and
//!   directory syncs go through io_uring (glommio `BufferedFile`, `Directory`).
//! - A failed write (ENOSPC, EIO) fails every record not yet durable with a typed error, zeroes the
//!   failed range and resets the tail to the committed end: nothing half-written is ever acknowledged, and
//!   the writer goes on once space returns. If that repair fails too, the writer is poisoned: only a
//!   reopen, which re-verifies the tail, can tell what is on disk.
//! - Segments are opened with O_DSYNC (except under `none`), so a batch's single write is also its sync.
//! - Files never shrink: a new segment is preallocated (sparse) to the segment size, and a torn tail is
//!   zeroed in place, so a reader's memory map never points past the end of its file.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::{self, OpenOptions as StdOpenOptions};
use std::future::{poll_fn, Future};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use glommio::io::{BufferedFile, Directory, OpenOptions};

use crate::iotrace::{self, IoEvent, IoObserver};
use crate::reader::{LogReader, LogShared};
use crate::record::{Format, Kind, HEADER_LEN};
use crate::recovery::{next_valid_record, scan_segment, SegmentScan};
use crate::segment::{self, SEGMENT_HEADER_LEN};
use crate::{Error, LogId, Position, Result};

/// When appends become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// One `fdatasync` for every batch of appends waiting together (the default).
    #[default]
    Group,
    /// One `fdatasync` per append.
    Always,
    /// Never sync: an acknowledged record may be lost on power failure. For benchmarks only.
    None,
}

impl std::str::FromStr for SyncPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "group" => Ok(SyncPolicy::Group),
            "always" => Ok(SyncPolicy::Always),
            "none" => Ok(SyncPolicy::None),
            other => Err(Error::InvalidOption {
                name: "sync",
                reason: format!("{other:?} is not one of group, always, none"),
            }),
        }
    }
}

/// Options of a log.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// A segment is rolled over when the next record would not fit. Default 256 MiB; at most 4 GiB - 1.
    pub segment_size: u64,
    pub sync: SyncPolicy,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_size: 256 << 20,
            sync: SyncPolicy::Group,
        }
    }
}

impl LogOptions {
    /// The largest payload one record may carry: whatever fits in an empty segment.
    pub fn max_payload(&self) -> usize {
        (self.segment_size as usize).saturating_sub(SEGMENT_HEADER_LEN + HEADER_LEN)
    }

    pub fn validate(&self) -> Result<()> {
        if self.segment_size < 4096 || self.segment_size > u32::MAX as u64 {
            return Err(Error::InvalidOption {
                name: "segment_size",
                reason: format!("{} is outside 4096 ..= {}", self.segment_size, u32::MAX),
            });
        }
        Ok(())
    }
}

/// What opening a log found and repaired.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub log: LogId,
    pub segments: usize,
    /// Where appends continue.
    pub end: Position,
    /// What the scan of the last segment found (torn tail, corrupt records skipped).
    pub last_segment: SegmentScan,
    /// Bytes of torn tail that were zeroed.
    pub zeroed: u64,
}

/// Upper bounds (microseconds) of the flush latency histogram buckets; a last bucket counts the rest.
pub const SYNC_BUCKETS_US: [u64; 12] = [
    50, 100, 200, 300, 500, 750, 1_000, 2_000, 5_000, 10_000, 50_000, 250_000,
];

/// Counters of the writer, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterStats {
    pub records: u64,
    pub bytes: u64,
    /// Flushes: one durable write (O_DSYNC) of a batch each.
    pub syncs: u64,
    pub sync_time: Duration,
    /// Flush latencies: `sync_hist[i]` counts flushes at or under `SYNC_BUCKETS_US[i]` and over the
    /// previous bound; the last slot counts those over every bound.
    pub sync_hist: [u64; SYNC_BUCKETS_US.len() + 1],
}

impl WriterStats {
    fn record_sync(&mut self, took: Duration) {
        self.syncs += 1;
        self.sync_time += took;
        let us = took.as_micros() as u64;
        let slot = SYNC_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(SYNC_BUCKETS_US.len());
        if let Some(c) = self.sync_hist.get_mut(slot) {
            *c += 1;
        }
    }
}

/// A batch of encoded records bound for one segment, written with one `write`.
struct Batch {
    segment: u32,
    /// The salt of `segment` (a batch that starts a segment creates it with this salt).
    salt: u64,
    start: u64,
    buf: Vec<u8>,
    done: Rc<Completion>,
}

/// Resolves every append of one batch at once.
#[derive(Default)]
struct Completion {
    result: RefCell<Option<Result<(), Rc<Error>>>>,
    wakers: RefCell<Vec<Waker>>,
}

impl Completion {
    fn finish(&self, r: Result<(), Rc<Error>>) {
        *self.result.borrow_mut() = Some(r);
        for w in self.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// Resolves when an append is durable (see [`LogWriter::append_deferred`]).
pub struct Wait(Rc<Completion>);

impl Future for Wait {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match &*self.0.result.borrow() {
            Some(Ok(())) => Poll::Ready(Ok(())),
            Some(Err(e)) => Poll::Ready(Err(duplicate(e))),
            None => {
                self.0.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The flusher's error, handed to each waiting append.
fn duplicate(e: &Error) -> Error {
    match e {
        Error::DiskFull { path } => Error::DiskFull { path: path.clone() },
        Error::Io { op, path, source } => Error::Io {
            op,
            path: path.clone(),
            source: match source.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(source.kind(), source.to_string()),
            },
        },
        Error::Poisoned { path, reason } => Error::Poisoned {
            path: path.clone(),
            reason: reason.clone(),
        },
        other => Error::Poisoned {
            path: PathBuf::new(),
            reason: other.to_string(),
        },
    }
}

/// A one-slot wake-up for the flusher.
#[derive(Default)]
struct Notify {
    flag: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Notify {
    fn notify(&self) {
        self.flag.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
    async fn wait(&self) {
        poll_fn(|cx| {
            if self.flag.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

struct Inner {
    /// Where the next appended record goes.
    next_segment: u32,
    next_offset: u64,
    /// The salt of `next_segment`: chosen when an append rolls over, before the segment exists, since
    /// records are encoded (and checksummed) as they are queued.
    next_salt: u64,
    batches: VecDeque<Batch>,
    poisoned: Option<String>,
    closing: bool,
    flusher_done: bool,
    stats: WriterStats,
}

struct State {
    root: PathBuf,
    dir: PathBuf,
    log: LogId,
    opts: LogOptions,
    shared: Arc<LogShared>,
    inner: RefCell<Inner>,
    work: Notify,
    finished: Notify,
    /// The power-loss test's observer of file operations (see `iotrace.rs`); `None` in the server.
    trace: Option<Arc<dyn IoObserver>>,
}

/// The appending side of one writer's log. Lives on one glommio executor; share it there with `Rc`.
pub struct LogWriter {
    st: Rc<State>,
}

/// The most bytes one flush writes in one `write` call; larger backlogs are split over several batches
/// (still covered by one sync).
const MAX_BATCH_BYTES: usize = 8 << 20;

/// The capacity a new batch starts with: a group commit under load gathers tens of records (a 10 KB
/// message, its queue entry, its filing events, each), and a buffer grown by doubling from empty copied
/// the batch once per doubling (realloc was ~1.5% of a shard in 10 KB x 10-recipient ingest).
const BATCH_START_BYTES: usize = 128 << 10;

impl LogWriter {
    /// Opens (creating if needed) the log of writer `log` under the data directory `root`: verifies the
    /// last segment from `scan_from` (a checkpoint; `None` scans it whole), zeroes a torn tail with a
    /// warning, and starts the flusher task on the current glommio executor.
    ///
    /// Start-up I/O here is synchronous (std); after open, all I/O goes through io_uring.
    pub async fn open(
        root: &Path,
        log: LogId,
        opts: LogOptions,
        scan_from: Option<Position>,
    ) -> Result<(LogWriter, RecoveryReport)> {
        opts.validate()?;
        let trace = iotrace::observer_for(root);
        let (segment, end, salt, report) =
            recover_for_append(root, log, &opts, scan_from, trace.as_deref())?;
        let dir = segment::log_dir(root, log);
        let path = segment::segment_path(&dir, segment);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(dsync_flag(&opts))
            .buffered_open(&path)
            .await
            .map_err(|e| Error::io("opening segment", &path, e.into()))?;
        if let Some(t) = &trace {
            use std::os::fd::AsRawFd;
            t.on(IoEvent::Open {
                path: &path,
                created: false,
                dsync: iotrace::has_dsync(file.as_raw_fd()),
            });
        }
        if opts.sync == SyncPolicy::None {
            tracing::warn!(log, "SYNC POLICY IS `none`: acknowledged records are NOT durable; use only for benchmarks");
        }
        let shared = Arc::new(LogShared::new(
            Position::new(log, segment, end as u32).seg_off(),
        ));
        let st = Rc::new(State {
            root: root.to_path_buf(),
            dir,
            log,
            opts,
            shared,
            inner: RefCell::new(Inner {
                next_segment: segment,
                next_offset: end,
                next_salt: salt,
                batches: VecDeque::new(),
                poisoned: None,
                closing: false,
                flusher_done: false,
                stats: WriterStats::default(),
            }),
            work: Notify::default(),
            finished: Notify::default(),
            trace,
        });
        let open = OpenSegment {
            file,
            segment,
            end,
            salt,
        };
        glommio::spawn_local(flusher(st.clone(), open)).detach();
        Ok((LogWriter { st }, report))
    }

    pub fn log(&self) -> LogId {
        self.st.log
    }

    pub fn options(&self) -> &LogOptions {
        &self.st.opts
    }

    /// The state readers on other threads follow (the committed end).
    pub fn shared(&self) -> Arc<LogShared> {
        self.st.shared.clone()
    }

    /// A reader of this log that follows the writer's visibility rule.
    pub fn reader(&self) -> LogReader {
        LogReader::new(
            &self.st.root,
            self.st.log,
            self.st.opts.max_payload(),
            Some(self.shared()),
        )
    }

    /// The end of the committed records: every record before it is durable.
    pub fn committed_end(&self) -> Position {
        Position::from_seg_off(self.st.log, self.st.shared.committed())
    }

    pub fn stats(&self) -> WriterStats {
        self.st.inner.borrow().stats
    }

    /// Appends one record and resolves with its position once it is durable.
    pub async fn append(&self, kind: Kind, payload: &[u8]) -> Result<Position> {
        self.append_parts(kind, &[payload]).await
    }

    /// Appends one record whose payload is the concatenation of `parts` (e.g. a trace header and a
    /// body), copied once into the write buffer.
    pub async fn append_parts(&self, kind: Kind, parts: &[&[u8]]) -> Result<Position> {
        let (pos, done) = self.enqueue(kind, parts)?;
        self.st.work.notify();
        Wait(done).await?;
        Ok(pos)
    }

    /// Appends without waiting: returns the record's position at once and a future that resolves when
    /// it is durable. A writer's records become durable in append order, so a later append resolving
    /// means this one is durable too (one fsync can cover a message and the events that reference it).
    /// Until then the position must not be handed to readers or other shards.
    pub fn append_deferred(&self, kind: Kind, parts: &[&[u8]]) -> Result<(Position, Wait)> {
        let (pos, done) = self.enqueue(kind, parts)?;
        self.st.work.notify();
        Ok((pos, Wait(done)))
    }

    fn enqueue(&self, kind: Kind, parts: &[&[u8]]) -> Result<(Position, Rc<Completion>)> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let max = self.st.opts.max_payload();
        if len > max {
            return Err(Error::RecordTooLarge { len, max });
        }
        if kind.0 == 0 {
            return Err(Error::InvalidOption {
                name: "kind",
                reason: "record kind 0 is reserved".into(),
            });
        }
        let mut inner = self.st.inner.borrow_mut();
        if let Some(reason) = &inner.poisoned {
            return Err(Error::Poisoned {
                path: self.st.dir.clone(),
                reason: reason.clone(),
            });
        }
        if inner.closing {
            return Err(Error::Closed);
        }
        let total = (HEADER_LEN + len) as u64;
        if inner.next_offset + total > self.st.opts.segment_size {
            let salt =
                segment::new_salt().map_err(|e| Error::io("drawing a salt", &self.st.dir, e))?;
            inner.next_segment += 1;
            inner.next_offset = SEGMENT_HEADER_LEN as u64;
            inner.next_salt = salt;
        }
        let (segment, offset, salt) = (inner.next_segment, inner.next_offset, inner.next_salt);
        let always = self.st.opts.sync == SyncPolicy::Always;
        let fits = matches!(inner.batches.back(), Some(b) if b.segment == segment && b.buf.len() < MAX_BATCH_BYTES && !always);
        if !fits {
            inner.batches.push_back(Batch {
                segment,
                salt,
                start: offset,
                buf: Vec::with_capacity(BATCH_START_BYTES.max(total as usize)),
                done: Rc::default(),
            });
        }
        let batch = inner.batches.back_mut().ok_or(Error::Closed)?;
        // Offsets within a segment fit in u32: segment_size is validated to be at most 4 GiB - 1.
        Format::Salted { salt }.encode_into(&mut batch.buf, offset as u32, kind, parts);
        let done = batch.done.clone();
        inner.next_offset += total;
        inner.stats.records += 1;
        inner.stats.bytes += total;
        Ok((Position::new(self.st.log, segment, offset as u32), done))
    }

    /// Waits until every append made so far is durable, then stops the flusher. Later appends fail
    /// with [`Error::Closed`].
    pub async fn close(self) -> Result<()> {
        self.st.inner.borrow_mut().closing = true;
        self.st.work.notify();
        while !self.st.inner.borrow().flusher_done {
            self.st.finished.wait().await;
        }
        match &self.st.inner.borrow().poisoned {
            Some(reason) => Err(Error::Poisoned {
                path: self.st.dir.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // The flusher drains what is queued, then exits.
        self.st.inner.borrow_mut().closing = true;
        self.st.work.notify();
    }
}

/// The segment file the flusher writes to.
struct OpenSegment {
    file: BufferedFile,
    segment: u32,
    /// Where the next write goes.
    end: u64,
    salt: u64,
}

/// The flusher task: takes every waiting batch, writes it, syncs once, resolves the waiters.
async fn flusher(st: Rc<State>, mut cur: OpenSegment) {
    loop {
        let work: Vec<Batch> = {
            let mut inner = st.inner.borrow_mut();
            if inner.batches.is_empty() {
                if inner.closing {
                    break;
                }
                None
            } else if st.opts.sync == SyncPolicy::Always {
                inner.batches.pop_front().map(|b| vec![b])
            } else {
                Some(inner.batches.drain(..).collect())
            }
        }
        .unwrap_or_default();
        if work.is_empty() {
            st.work.wait().await;
            continue;
        }
        let dones: Vec<Rc<Completion>> = work.iter().map(|b| b.done.clone()).collect();
        let started = Instant::now();
        match flush(&st, &mut cur, work).await {
            Ok(()) => {
                st.shared
                    .publish(Position::new(st.log, cur.segment, cur.end as u32).seg_off());
                {
                    let mut inner = st.inner.borrow_mut();
                    inner.stats.record_sync(started.elapsed());
                }
                for d in dones {
                    d.finish(Ok(()));
                }
            }
            Err(err) => {
                let err = Rc::new(err);
                tracing::error!(log = st.log, error = %err, "log write failed; failing every append not yet durable");
                let committed = Position::from_seg_off(st.log, st.shared.committed());
                let repaired = repair_after_failure(&st, &mut cur, committed).await;
                // Positions handed to queued batches follow the failed ones: fail them too. That
                // includes appends made while the repair above was awaited (they were placed after
                // the failed range), so the queue is drained only now, in the same borrow that moves
                // the tail back: every batch left or added from here on starts at the committed end.
                let queued: Vec<Batch> = {
                    let mut inner = st.inner.borrow_mut();
                    let queued = inner.batches.drain(..).collect();
                    inner.next_segment = committed.segment;
                    inner.next_offset = committed.offset as u64;
                    inner.next_salt = cur.salt;
                    if let Err(reason) = repaired {
                        tracing::error!(log = st.log, %reason, "log writer poisoned; reopen to recover");
                        inner.poisoned = Some(format!("{reason} after: {err}"));
                    }
                    queued
                };
                for d in dones.into_iter().chain(queued.into_iter().map(|b| b.done)) {
                    d.finish(Err(err.clone()));
                }
            }
        }
    }
    if st.opts.sync != SyncPolicy::None {
        match cur.file.fdatasync().await {
            Ok(()) => {
                if let Some(t) = &st.trace {
                    let path = segment::segment_path(&st.dir, cur.segment);
                    t.on(IoEvent::Sync { path: &path });
                }
            }
            Err(e) => tracing::error!(log = st.log, error = %e, "final fdatasync failed"),
        }
    }
    let _ = cur.file.close().await;
    st.inner.borrow_mut().flusher_done = true;
    st.finished.notify();
}

/// Writes the batches in order, rolling segments as they ask; each write is durable when it returns.
async fn flush(st: &State, cur: &mut OpenSegment, work: Vec<Batch>) -> Result<()> {
    for mut b in work {
        if b.segment != cur.segment {
            // The current segment's bytes are durable already (O_DSYNC writes): start the next one.
            let new = create_segment(st, b.segment, b.salt).await?;
            let old = std::mem::replace(&mut cur.file, new);
            let _ = old.close().await;
            cur.segment = b.segment;
            cur.salt = b.salt;
            cur.end = SEGMENT_HEADER_LEN as u64;
        }
        debug_assert_eq!(b.start, cur.end, "batches are contiguous within a segment");
        let buf = std::mem::take(&mut b.buf);
        let len = buf.len() as u64;
        let path = st
            .trace
            .as_ref()
            .map(|_| segment::segment_path(&st.dir, cur.segment));
        traced_write(st, path.as_deref(), &cur.file, buf, b.start)
            .await
            .map_err(|e| Error::io("writing segment", &st.dir, e))?;
        cur.end = b.start + len;
    }
    // With O_DSYNC each write above returned only once its bytes were durable: no separate sync.
    Ok(())
}

/// Segments are opened with O_DSYNC unless the policy is `none`: a batch's one `write` is then also its
/// sync, one io_uring operation instead of two (each of which the kernel hands to a worker thread).
fn dsync_flag(opts: &LogOptions) -> i32 {
    if opts.sync == SyncPolicy::None {
        0
    } else {
        libc::O_DSYNC
    }
}

/// One `write` of the whole batch. A short write on a regular file means the disk (or the file size
/// limit) ran out: it is reported as ENOSPC and the caller fails the batch and repairs the range.
async fn write_all(file: &BufferedFile, buf: Vec<u8>, pos: u64) -> std::io::Result<()> {
    let len = buf.len();
    let n = file
        .write_at(buf, pos)
        .await
        .map_err(std::io::Error::from)?;
    if n < len {
        return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
    }
    Ok(())
}

/// [`write_all`], reported to the power-loss observer (when there is one, `path` names the file).
async fn traced_write(
    st: &State,
    path: Option<&Path>,
    file: &BufferedFile,
    buf: Vec<u8>,
    offset: u64,
) -> std::io::Result<()> {
    let t = st.trace.as_ref().zip(path);
    if let Some((t, path)) = t {
        t.on(IoEvent::WriteIssued {
            path,
            offset,
            bytes: &buf,
        });
    }
    write_all(file, buf, offset).await?;
    if let Some((t, path)) = t {
        t.on(IoEvent::WriteDone { path, offset });
    }
    Ok(())
}

/// Creates segment `n` with `salt`: header, sparse preallocation to the segment size, sync, directory
/// sync.
async fn create_segment(st: &State, n: u32, salt: u64) -> Result<BufferedFile> {
    let path = segment::segment_path(&st.dir, n);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(segment::FILE_MODE)
        .custom_flags(dsync_flag(&st.opts))
        .buffered_open(&path)
        .await
        .map_err(|e| Error::io("creating segment", &path, e.into()))?;
    let io = |op: &'static str| {
        let path = path.clone();
        move |e: glommio::GlommioError<()>| Error::io(op, path, e.into())
    };
    if let Some(t) = &st.trace {
        use std::os::fd::AsRawFd;
        t.on(IoEvent::Open {
            path: &path,
            created: true,
            dsync: iotrace::has_dsync(file.as_raw_fd()),
        });
    }
    let traced = st.trace.as_ref().map(|_| path.as_path());
    traced_write(
        st,
        traced,
        &file,
        segment::header(st.log, n, salt).to_vec(),
        0,
    )
    .await
    .map_err(|e| Error::io("writing segment header", &path, e))?;
    file.truncate(st.opts.segment_size)
        .await
        .map_err(io("preallocating segment"))?;
    file.fdatasync().await.map_err(io("syncing new segment"))?;
    if let Some(t) = &st.trace {
        t.on(IoEvent::SetLen {
            path: &path,
            len: st.opts.segment_size,
        });
        t.on(IoEvent::Sync { path: &path });
    }
    // glommio opens directories relative to no working directory: give it an absolute path.
    let abs = std::path::absolute(&st.dir).unwrap_or_else(|_| st.dir.clone());
    let dir = Directory::open(&abs)
        .await
        .map_err(|e| Error::io("opening log directory", &st.dir, e.into()))?;
    dir.sync()
        .await
        .map_err(|e| Error::io("syncing log directory", &st.dir, e.into()))?;
    let _ = dir.close().await;
    if let Some(t) = &st.trace {
        t.on(IoEvent::DirSync { path: &st.dir });
    }
    Ok(file)
}

/// After a failed write: zero what the failed batch may have left past the committed end, so that a
/// crash now cannot resurrect unacknowledged records, and continue at the committed end (in the
/// committed segment, with its salt).
async fn repair_after_failure(
    st: &State,
    cur: &mut OpenSegment,
    committed: Position,
) -> Result<(), String> {
    if cur.segment != committed.segment {
        // The failure came after a roll: go back to the committed segment and drop the new one.
        let path = segment::segment_path(&st.dir, committed.segment);
        let back = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(dsync_flag(&st.opts))
            .buffered_open(&path)
            .await
            .map_err(|e| format!("reopening {}: {e}", path.display()))?;
        let header = back
            .read_at(0, SEGMENT_HEADER_LEN)
            .await
            .map_err(|e| format!("reading the header of {}: {e}", path.display()))?;
        let salt = match segment::check_header(&header, st.log, committed.segment, &path) {
            Ok(Format::Salted { salt }) => salt,
            Ok(Format::Legacy) => return Err(format!("{} is a legacy segment", path.display())),
            Err(e) => return Err(e.to_string()),
        };
        let newer = segment::segment_path(&st.dir, cur.segment);
        let old = std::mem::replace(&mut cur.file, back);
        let _ = old.remove().await;
        let _ = old.close().await;
        if let Some(t) = &st.trace {
            t.on(IoEvent::Removed { path: &newer });
        }
        tracing::warn!(path = %newer.display(), "removed the segment whose first write failed");
        cur.segment = committed.segment;
        cur.salt = salt;
    }
    let from = committed.offset as u64;
    let len = st.opts.segment_size.saturating_sub(from);
    cur.file
        .deallocate(from, len)
        .await
        .map_err(|e| format!("zeroing the failed range: {e}"))?;
    cur.file
        .fdatasync()
        .await
        .map_err(|e| format!("syncing the zeroed range: {e}"))?;
    if let Some(t) = &st.trace {
        let path = segment::segment_path(&st.dir, cur.segment);
        t.on(IoEvent::Zeroed {
            path: &path,
            offset: from,
            len,
        });
        t.on(IoEvent::Sync { path: &path });
    }
    cur.end = from;
    Ok(())
}

/// Synchronous start-up recovery: make sure the log directory and a last segment exist, verify the
/// last segment, zero a torn tail. Returns (last segment, offset where appends continue, its salt,
/// report). A legacy last segment is verified, then a fresh salted segment is started after it: the
/// writer never appends unsalted records.
fn recover_for_append(
    root: &Path,
    log: LogId,
    opts: &LogOptions,
    scan_from: Option<Position>,
    trace: Option<&dyn IoObserver>,
) -> Result<(u32, u64, u64, RecoveryReport)> {
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        _ => {
            return Err(Error::MissingDir {
                path: root.to_path_buf(),
            })
        }
    }
    let dir = segment::log_dir(root, log);
    if let Err(e) = fs::DirBuilder::new().mode(segment::DIR_MODE).create(&dir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(Error::Unwritable {
                path: dir,
                source: e,
            });
        }
    }
    // Probe writability up front so that an unwritable directory is a clear error at open.
    let probe = dir.join(".probe");
    fs::write(&probe, b"").map_err(|e| Error::Unwritable {
        path: dir.clone(),
        source: e,
    })?;
    let _ = fs::remove_file(&probe);

    let segments = segment::list_segments(&dir)?;
    let mut report = RecoveryReport {
        log,
        segments: segments.len(),
        ..Default::default()
    };
    let fresh = |n: u32, report: &mut RecoveryReport| -> Result<(u32, u64, u64)> {
        let salt = create_segment_sync(&dir, log, n, opts.segment_size, trace)?;
        report.end = Position::new(log, n, SEGMENT_HEADER_LEN as u32);
        Ok((n, SEGMENT_HEADER_LEN as u64, salt))
    };
    let Some(&last) = segments.last() else {
        let (n, end, salt) = fresh(0, &mut report)?;
        segment::sync_dir(root)?;
        if let Some(t) = trace {
            t.on(IoEvent::DirSync { path: root });
        }
        report.segments = 1;
        return Ok((n, end, salt, report));
    };
    let path = segment::segment_path(&dir, last);
    let file = StdOpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("opening segment", &path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("reading size of", &path, e))?
        .len();
    // SAFETY: nothing else writes this log while its writer opens it (one writer per log).
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("mapping segment", &path, e))?;
    let format = match segment::check_header(&map, log, last, &path) {
        Ok(f) => f,
        Err(e) => {
            let data_end = segment::data_end(&file)
                .map_err(|e| Error::io("finding data in", &path, e))?
                as usize;
            if map[..data_end.min(map.len())].iter().all(|&b| b == 0) {
                // A crash between creating the file and syncing its header: nothing was ever in it.
                tracing::warn!(path = %path.display(), "re-initialising an empty segment left by a crash");
                drop(map);
                drop(file);
                let (n, end, salt) = fresh(last, &mut report)?;
                return Ok((n, end, salt, report));
            }
            if segment::header_never_landed(&map) {
                // The same crash, with the header's sectors left stale or garbage: nothing in it was
                // acknowledged (see `header_never_landed`). Keep its bytes for the operator, start anew.
                let copy = dir.join(format!("{last:010}.seg.bad-header"));
                drop(map);
                drop(file);
                std::fs::rename(&path, &copy).map_err(|e| {
                    Error::io("moving aside a segment whose header never landed", &path, e)
                })?;
                tracing::error!(path = %path.display(), copy = %copy.display(), error = %e, "the last segment's header never landed (power cut at its creation); moved aside, starting it anew");
                let (n, end, salt) = fresh(last, &mut report)?;
                return Ok((n, end, salt, report));
            }
            return Err(e);
        }
    };
    let from = match scan_from {
        Some(p) if p.log == log && p.segment == last => p.offset as u64,
        _ => 0,
    };
    let data_end = (segment::data_end(&file).map_err(|e| Error::io("finding data in", &path, e))?
        as usize)
        .min(map.len());
    let max_payload = opts.max_payload().max(len as usize);
    // The last segment: no resynchronisation, the first invalid record is the torn tail.
    let scan = scan_segment(&map[..data_end], from, max_payload, format, false);
    let end = scan.end;
    if let Some((off, why)) = scan.torn_tail {
        // Zero from the end of the last good record to the last non-zero byte.
        let last_nonzero = map[..data_end]
            .iter()
            .rposition(|&b| b != 0)
            .map_or(end, |p| p as u64 + 1);
        let tail = end as usize..(last_nonzero as usize).max(end as usize);
        // Records that pass the full salted check after the tear were written by this writer: a torn
        // batch whose later sectors landed (never acknowledged), or synced records behind a record
        // the disk damaged. Either way they are not part of the log any more; keep a copy for the
        // operator before zeroing, in case it is the second.
        if let Format::Salted { .. } = format {
            if let Some(valid) =
                next_valid_record(&map[..data_end], end as usize + 1, max_payload, format)
            {
                let copy = dir.join(format!("{last:010}.seg.torn-{end}"));
                match write_private(&copy, &map[tail.clone()]) {
                    Ok(()) => {
                        tracing::error!(path = %path.display(), offset = off, first_valid_after = valid, copy = %copy.display(), "valid records follow a torn record in the last segment; they are dropped from the log and kept in the copy")
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), offset = off, first_valid_after = valid, error = %e, "valid records follow a torn record in the last segment; they are dropped and could not be copied")
                    }
                }
            }
        }
        tracing::warn!(path = %path.display(), offset = off, reason = why, bytes = last_nonzero.saturating_sub(end), "truncating a torn tail");
        drop(map);
        zero_range(&file, end, last_nonzero.saturating_sub(end))
            .map_err(|e| Error::io("zeroing torn tail", &path, e))?;
        file.sync_data()
            .map_err(|e| Error::io("syncing segment", &path, e))?;
        if let Some(t) = trace {
            t.on(IoEvent::Zeroed {
                path: &path,
                offset: end,
                len: last_nonzero.saturating_sub(end),
            });
            t.on(IoEvent::Sync { path: &path });
        }
        report.zeroed = last_nonzero.saturating_sub(end);
    }
    if len < opts.segment_size {
        file.set_len(opts.segment_size)
            .map_err(|e| Error::io("preallocating segment", &path, e))?;
        file.sync_all()
            .map_err(|e| Error::io("syncing segment", &path, e))?;
        if let Some(t) = trace {
            t.on(IoEvent::SetLen {
                path: &path,
                len: opts.segment_size,
            });
            t.on(IoEvent::Sync { path: &path });
        }
    }
    report.last_segment = scan;
    match format {
        Format::Salted { salt } => {
            report.end = Position::new(log, last, end as u32);
            Ok((last, end, salt, report))
        }
        Format::Legacy => {
            tracing::info!(path = %path.display(), "last segment has the legacy format; appends continue in a new salted segment");
            let next = last.checked_add(1).ok_or(Error::InvalidOption {
                name: "segment",
                reason: "segment numbers exhausted".into(),
            })?;
            let (n, end, salt) = fresh(next, &mut report)?;
            report.segments += 1;
            Ok((n, end, salt, report))
        }
    }
}

/// Writes a file only the owner can read (mail is private).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = StdOpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn zero_range(file: &fs::File, from: u64, len: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; 64 << 10];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], from + done)?;
        done += n as u64;
    }
    Ok(())
}

/// Creates segment `n` with a fresh salt, synchronously (start-up); returns the salt.
fn create_segment_sync(
    dir: &Path,
    log: LogId,
    n: u32,
    size: u64,
    trace: Option<&dyn IoObserver>,
) -> Result<u64> {
    let path = segment::segment_path(dir, n);
    let salt = segment::new_salt().map_err(|e| Error::io("drawing a salt", &path, e))?;
    let mut f = StdOpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(segment::FILE_MODE)
        .truncate(true)
        .open(&path)
        .map_err(|e| Error::io("creating segment", &path, e))?;
    let header = segment::header(log, n, salt);
    if let Some(t) = trace {
        t.on(IoEvent::Open {
            path: &path,
            created: true,
            dsync: false,
        });
        t.on(IoEvent::WriteIssued {
            path: &path,
            offset: 0,
            bytes: &header,
        });
    }
    f.write_all(&header)
        .map_err(|e| Error::io("writing segment header", &path, e))?;
    f.set_len(size)
        .map_err(|e| Error::io("preallocating segment", &path, e))?;
    f.sync_all()
        .map_err(|e| Error::io("syncing new segment", &path, e))?;
    segment::sync_dir(dir)?;
    if let Some(t) = trace {
        t.on(IoEvent::WriteDone {
            path: &path,
            offset: 0,
        });
        t.on(IoEvent::SetLen {
            path: &path,
            len: size,
        });
        t.on(IoEvent::Sync { path: &path });
        t.on(IoEvent::DirSync { path: dir });
    }
    Ok(salt)
}
