//! Durable storage: the `Storage` trait the runtime executes `Persist` commands against, the
//! on-disk implementation ([`FileStorage`]) and an in-memory one for tests and harnesses.
//!
//! On disk, a directory holds four files:
//! - `log`: append-only records `len:u32le | crc(payload):u32le | crc(first 8 bytes):u32le |
//!   payload`, the payload a postcard [`LogRecord`] (an append or a truncation). Truncation is
//!   itself a record, so the file is only ever appended to (and cut back to its valid prefix
//!   after a torn tail on recovery). A compaction replaces it (`log.tmp`, fsync, rename, fsync
//!   the directory) with a [`LogRecord::Start`] that names the index and term it starts after,
//!   followed by the records of the kept entries copied byte for byte from the old file (the
//!   storage remembers where each entry's record lies, so nothing is decoded).
//! - `snapshot` (once the log was compacted): `crc(body):u32le | len:u64le | body`, the body a
//!   postcard [`Snapshot`]; replaced atomically like `hardstate`, and always made durable
//!   before the log prefix it covers is dropped, so every crash between the steps leaves a
//!   snapshot and a log that together hold every entry (see [`FileStorage::recover`]).
//! - `hardstate`: `crc:u32le | len:u32le | payload`, replaced atomically (write `hardstate.tmp`,
//!   fsync, rename, fsync the directory).
//! - `LOCK`: held with an exclusive advisory lock ([`File::try_lock`]) for as long as the
//!   storage lives, holding the owner's process id; a second opener fails, naming the directory.
//!
//! **A crash keeps a prefix of the writes.** [`Storage::persist`] is given [`DurableWrite`]s in
//! the order the core issued them and executes them in that order across the two files: a run
//! of consecutive log writes is appended and fsynced together (one `fdatasync` per run, the
//! group commit), and a hard-state write is started only after every log write before it is
//! fsynced, and finished (renamed, directory fsynced) before any write after it is started. So
//! whichever instant a crash hits, what recovery reads is the state after some prefix of the
//! sequence: a later write is never on disk without every earlier one. (This assumes what every
//! torn-tail rule below assumes: a crash keeps a prefix of the bytes appended to `log` since its
//! last fsync, or zeros. `storage::tests::a_crash_anywhere_in_a_zab_newleader_sequence_keeps_a_prefix`
//! crashes before every I/O step and cuts the unsynced bytes at every offset.)
//!
//! Raft's core writes a new term before the entries of that term, so a log with records and no
//! `hardstate` means the file was lost: recovery refuses to start (a node back at term 0
//! beside entries of later terms could vote twice in one term) unless the operator allows it
//! ([`FileStorage::allow_missing_hard_state`]). Likewise a `hardstate` whose term is below the
//! log's last entry's is older than the log, and is refused.
//!
//! Recovery drops a torn tail: an incomplete header or body at the end of the file, a last
//! record whose body checksum fails, or a header region that is all zero bytes to the end
//! (what a filesystem may leave after a crash). Any other checksum failure is corruption in
//! the middle of the log and is an error naming the file and offset: committed data is never
//! discarded silently.

use crate::sync::{Arc, Mutex};
use ballot_core::raft::HardState;
use ballot_core::{DurableWrite, Entry, LogBase, LogIndex, LogWrite, Snapshot, Term};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Header bytes before each log record's payload.
pub const RECORD_HEADER_BYTES: usize = 12;

/// A record of the on-disk log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogRecord {
    /// Entry at `index`.
    Append {
        /// Index, always one past the end at the time of writing.
        index: LogIndex,
        /// The entry.
        entry: Entry,
    },
    /// Delete `from` and everything after it.
    Truncate {
        /// First deleted index.
        from: LogIndex,
    },
    /// The log starts after `base` (the first record of a compacted log, and only there).
    /// Appended last: the earlier variants keep their encoding.
    Start {
        /// The last compacted index and its term.
        base: LogBase,
    },
}

/// Why storage failed. The node stops on any of these: it cannot promise durability.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call failed.
    #[error("{path}: {op}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A checksum or decoding failure that is not a torn tail.
    #[error("{path}: corrupt at byte offset {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The hard state file is missing though the log holds records, so it was lost.
    #[error(
        "{path}: missing beside a log with {log_len} entries: the term and vote it held are lost, \
         and starting from term 0 could vote twice in one term; if the file is really gone, \
         restart once with --recover-missing-hard-state (takes the log's highest term, no vote)"
    )]
    MissingHardState {
        /// The missing file.
        path: PathBuf,
        /// Entries in the recovered log.
        log_len: usize,
    },
    /// Another storage (another process, or another opener in this one) holds the directory.
    #[error("{dir}: another process holds this data directory (lock {lock}{holder})")]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
        /// `", held by pid N"` when the holder wrote its id.
        holder: String,
    },
}

/// What [`FileStorage`] needs to know of a hard state beyond its encoding: its term, to check it
/// against the log, and how to rebuild it from the log when the operator allows.
pub trait RecoverableHardState {
    /// The current term it records.
    fn term(&self) -> Term;
    /// The hard state implied by the log alone, whose highest term is `term`: that term, no
    /// vote.
    fn from_log_term(term: Term) -> Self;
}

impl RecoverableHardState for HardState {
    fn term(&self) -> Term {
        self.term
    }

    fn from_log_term(term: Term) -> Self {
        HardState {
            term,
            voted_for: None,
        }
    }
}

/// What recovery found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered<H> {
    /// The last hard state written (default when none was).
    pub hard_state: H,
    /// The latest snapshot (none before the first compaction).
    pub snapshot: Option<Snapshot>,
    /// What the log starts after: at most the snapshot's last index.
    pub base: LogBase,
    /// The log after `base`; index `i` is element `i - base.index - 1`.
    pub log: Vec<Entry>,
    /// Bytes of a torn tail that were cut off (0 when the log ended cleanly).
    pub torn_tail_bytes: u64,
}

/// Durable state of one server. `persist` returns only when every write it was given is durable.
pub trait Storage<H>: Send + 'static {
    /// Reads what is on disk. Called once, before any `persist`.
    fn recover(&mut self) -> Result<Recovered<H>, StorageError>;
    /// Makes `writes` durable, strictly in order: the write lists of one or more consecutive
    /// `Persist` commands, concatenated (group commit). A crash at any instant, here or in an
    /// earlier call, leaves a prefix of the sequence of every write ever passed, in call order:
    /// each write is whole or absent, and none is durable unless every write before it is.
    /// An implementation may coalesce writes only where that keeps the prefix property (consecutive
    /// log writes under one fsync; consecutive hard states to the last).
    fn persist(&mut self, writes: &[DurableWrite<H>]) -> Result<(), StorageError>;
    /// Whether `persist` blocks the calling thread (file I/O, fsync). The runtime moves a
    /// blocking storage's work to tokio's blocking pool; a storage that does not block (memory)
    /// runs on the node's own task, which keeps a controlled run single-threaded and so
    /// deterministic (the conformance harness relies on it).
    fn blocks(&self) -> bool {
        true
    }
    /// A writer that makes a snapshot the node took itself durable beside the log, outside the
    /// ordered persists: a large state then holds back no log write, and so no reply waiting on
    /// one (a follower's acknowledgements, and with them the leader's quorum). `None`: the
    /// snapshot goes through `persist`, in order (memory storage; the conformance harness).
    fn snapshot_writer(&self) -> Option<SnapshotWriter> {
        None
    }
}

/// Writes snapshots into a storage directory from any thread, one at a time and only forward:
/// a snapshot older than the newest one already durable is not written (a snapshot installed
/// from the leader through `persist` may overtake one the node took itself).
#[derive(Clone, Debug)]
pub struct SnapshotWriter {
    dir: PathBuf,
    newest: Arc<Mutex<LogIndex>>,
}

impl SnapshotWriter {
    fn new(dir: PathBuf) -> Self {
        SnapshotWriter {
            dir,
            newest: Arc::new(Mutex::new(LogIndex(0))),
        }
    }

    /// Replaces the snapshot atomically (`snapshot.tmp`, fsync, rename, fsync the directory)
    /// unless one at the same or a later index is already durable; returns whether it wrote.
    pub fn write(&self, snapshot: &Snapshot) -> Result<bool, StorageError> {
        self.write_through(snapshot, &mut CrashPoints::default())
    }

    /// As [`SnapshotWriter::write`], passing each I/O step through `crash`.
    fn write_through(
        &self,
        snapshot: &Snapshot,
        crash: &mut CrashPoints,
    ) -> Result<bool, StorageError> {
        let mut newest = self.newest.lock();
        if snapshot.last_index <= *newest {
            return Ok(false);
        }
        write_atomically(&self.dir, "snapshot", &encode_snapshot(snapshot), crash)?;
        *newest = snapshot.last_index;
        Ok(true)
    }
}

/// CRC-32 (IEEE 802.3, reflected), table-driven.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in bytes {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Appends one encoded record to `buf`.
pub fn encode_record(record: &LogRecord, buf: &mut Vec<u8>) {
    let payload = postcard::to_allocvec(record).expect("log records always encode");
    let mut header = [0u8; RECORD_HEADER_BYTES];
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&crc32(&payload).to_le_bytes());
    let header_crc = crc32(&header[0..8]);
    header[8..12].copy_from_slice(&header_crc.to_le_bytes());
    buf.extend_from_slice(&header);
    buf.extend_from_slice(&payload);
}

/// What [`replay_log`] read: where the log starts, its entries, and the length of the valid
/// prefix of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// What the log starts after (0, 0 without a [`LogRecord::Start`]).
    pub base: LogBase,
    /// The entries after `base`.
    pub log: Vec<Entry>,
    /// The byte offset of the record that appended each entry of `log` (the latest, where an
    /// index was truncated and appended again).
    pub offsets: Vec<u64>,
    /// Bytes of whole, valid records.
    pub valid: usize,
}

/// Replays the records in `bytes`.
pub fn replay_log(path: &Path, bytes: &[u8]) -> Result<Replayed, StorageError> {
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        reason,
    };
    let mut base = LogBase::default();
    let mut log: Vec<Entry> = Vec::new();
    let mut offsets: Vec<u64> = Vec::new();
    let mut offset = 0usize;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < RECORD_HEADER_BYTES {
            break; // torn header
        }
        let header = &rest[..RECORD_HEADER_BYTES];
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let body_crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let header_crc = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if crc32(&header[0..8]) != header_crc {
            if rest.iter().all(|&b| b == 0) {
                break; // zero-filled tail: the filesystem extended the file, the data never came
            }
            return Err(corrupt(offset, "record header checksum mismatch".into()));
        }
        let end = RECORD_HEADER_BYTES + len;
        if rest.len() < end {
            break; // torn body
        }
        let body = &rest[RECORD_HEADER_BYTES..end];
        if crc32(body) != body_crc {
            if rest.len() == end {
                break; // the last record, partly written
            }
            return Err(corrupt(
                offset,
                "record checksum mismatch in the middle of the log".into(),
            ));
        }
        let record: LogRecord = postcard::from_bytes(body)
            .map_err(|e| corrupt(offset, format!("undecodable record: {e}")))?;
        let last = base.index.0 + log.len() as u64;
        match record {
            LogRecord::Append { index, entry } => {
                if index.0 != last + 1 {
                    return Err(corrupt(
                        offset,
                        format!("append at {index} to a log ending at {last}"),
                    ));
                }
                log.push(entry);
                offsets.push(offset as u64);
            }
            LogRecord::Truncate { from } => {
                if from <= base.index || from.0 > last + 1 {
                    return Err(corrupt(
                        offset,
                        format!(
                            "truncate from {from} of a log holding ({}, {last}]",
                            base.index
                        ),
                    ));
                }
                log.truncate((from.0 - base.index.0 - 1) as usize);
                offsets.truncate(log.len());
            }
            LogRecord::Start { base: start } => {
                if offset != 0 {
                    return Err(corrupt(offset, "a start record after the first".into()));
                }
                base = start;
            }
        }
        offset += end;
    }
    Ok(Replayed {
        base,
        log,
        offsets,
        valid: offset,
    })
}

/// Encodes `snapshot` as the `snapshot` file holds it: `crc(body):u32le | len:u64le | body`.
pub fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    let body = postcard::to_allocvec(snapshot).expect("snapshots always encode");
    let mut bytes = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + body.len());
    bytes.extend_from_slice(&crc32(&body).to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

/// Decodes a `snapshot` file read from `path`; any mismatch is corruption naming the file.
pub fn decode_snapshot(path: &Path, bytes: &[u8]) -> Result<Snapshot, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason,
    };
    if bytes.len() < SNAPSHOT_HEADER_BYTES {
        return Err(corrupt(format!(
            "snapshot shorter than its {SNAPSHOT_HEADER_BYTES}-byte header ({} bytes)",
            bytes.len()
        )));
    }
    let crc = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes"));
    let body = &bytes[SNAPSHOT_HEADER_BYTES..];
    if body.len() as u64 != len {
        return Err(corrupt(format!(
            "snapshot body is {} bytes, its header says {len}",
            body.len()
        )));
    }
    let actual = crc32(body);
    if actual != crc {
        return Err(corrupt(format!(
            "snapshot checksum mismatch (header {crc:#010x}, body {actual:#010x})"
        )));
    }
    postcard::from_bytes(body).map_err(|e| corrupt(format!("undecodable snapshot: {e}")))
}

/// Header bytes of the `snapshot` file.
pub const SNAPSHOT_HEADER_BYTES: usize = 12;

/// Storage in a directory (see the module doc for the format).
#[derive(Debug)]
pub struct FileStorage<H> {
    dir: PathBuf,
    log: Option<File>,
    /// The locked `LOCK` file: the lock lasts as long as this handle.
    lock: Option<File>,
    allow_missing_hard_state: bool,
    buf: Vec<u8>,
    /// What the file's log starts after.
    base: LogBase,
    /// The file offset of the record of each entry after `base` (see [`Replayed::offsets`]):
    /// compaction copies the file from the first kept entry's record on, without decoding.
    offsets: Vec<u64>,
    /// Bytes in the file, all of them whole records.
    file_len: u64,
    snapshots: SnapshotWriter,
    crash: CrashPoints,
    _hard_state: std::marker::PhantomData<fn() -> H>,
}

/// Where a crash may stop a persist: each mutating I/O step (an append, an fsync, a temporary
/// file's write, a rename) passes one first. Tests arm it to fail the `n`th step and every one
/// after, as a kill -9 between two steps would, and then recover the directory; outside tests
/// it holds nothing and passing it costs nothing.
#[derive(Debug, Default)]
struct CrashPoints {
    /// Steps still allowed before the crash (`None`: never crash).
    #[cfg(test)]
    allowed: Option<usize>,
    /// Steps passed so far.
    #[cfg(test)]
    passed: usize,
}

impl CrashPoints {
    /// Allows the step `op` on `path`, or fails it as a crash there would.
    fn pass(&mut self, path: &Path, op: &'static str) -> Result<(), StorageError> {
        #[cfg(test)]
        {
            if self.allowed == Some(0) {
                return Err(StorageError::Io {
                    path: path.to_owned(),
                    op,
                    source: std::io::Error::other("crash injected by a test"),
                });
            }
            if let Some(left) = &mut self.allowed {
                *left -= 1;
            }
            self.passed += 1;
        }
        let _ = (path, op);
        Ok(())
    }
}

impl<H> FileStorage<H> {
    /// Storage in `dir` (created if missing). Nothing is touched before [`Storage::recover`],
    /// which takes the directory's lock.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        FileStorage {
            snapshots: SnapshotWriter::new(dir.clone()),
            dir,
            log: None,
            lock: None,
            allow_missing_hard_state: false,
            buf: Vec::new(),
            base: LogBase::default(),
            offsets: Vec::new(),
            file_len: 0,
            crash: CrashPoints::default(),
            _hard_state: std::marker::PhantomData,
        }
    }

    /// Whether recovery may rebuild a missing or corrupt `hardstate` beside a non-empty log
    /// (default: refuse). The rebuilt hard state takes the highest term in the log and no vote,
    /// and is written at once. It is not what was lost: the node may have voted in that term, or
    /// adopted a higher one, so it may now vote a second time in a term. Use it only when the
    /// file is really gone, knowing that risk.
    pub fn allow_missing_hard_state(mut self, allow: bool) -> Self {
        self.allow_missing_hard_state = allow;
        self
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn hard_state_path(&self) -> PathBuf {
        self.dir.join("hardstate")
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot")
    }

    /// The snapshot on disk: `None` if there is no file; a corrupt one is an error naming it.
    fn read_snapshot(&self) -> Result<Option<Snapshot>, StorageError> {
        let path = self.snapshot_path();
        match fs::read(&path) {
            Ok(bytes) => decode_snapshot(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, "read")(e)),
        }
    }

    /// Replaces the snapshot atomically: `snapshot.tmp`, fsync, rename, fsync the directory
    /// (through the one writer, so it never races one the node writes beside the log).
    fn write_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.snapshots
            .write_through(snapshot, &mut self.crash)
            .map(|_| ())
    }

    /// Writes the records buffered in `buf` to the log and fsyncs it.
    fn flush_log(&mut self) -> Result<(), StorageError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = self.log_path();
        let file = self.log.as_mut().expect("recover before persist");
        self.crash.pass(&path, "append")?;
        file.write_all(&self.buf).map_err(io_err(&path, "append"))?;
        self.crash.pass(&path, "fsync")?;
        file.sync_data().map_err(io_err(&path, "fsync"))?;
        self.file_len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Drops the log's entries up to `base.index`: a start record, then the file's bytes from
    /// the record of the first kept entry on, copied as they are (no decoding: the cost is the
    /// kept tail, not the log written since the last compaction), go to `log.tmp`, which then
    /// replaces `log` atomically (fsync, rename, fsync the directory). A crash before the
    /// rename leaves the old log, which the snapshot written before covers; after it, the new
    /// one.
    ///
    /// The copied records replay after the start record as they did in the old file: the
    /// first is the latest append of index `base.index + 1`, when the log held exactly the
    /// entries up to `base.index`, as the new file's start record says; and no truncation
    /// after it reaches `base.index + 1` or below, or that append would not be the latest.
    fn compact_log(&mut self, base: LogBase) -> Result<(), StorageError> {
        self.flush_log()?;
        assert!(
            base.index >= self.base.index,
            "compaction goes forward: {base:?} after {:?}",
            self.base
        );
        let dropped = ((base.index.0 - self.base.index.0) as usize).min(self.offsets.len());
        let cut = self.offsets.get(dropped).copied().unwrap_or(self.file_len);
        let path = self.log_path();
        let mut tail = Vec::with_capacity((self.file_len - cut) as usize);
        let mut file = File::open(&path).map_err(io_err(&path, "open"))?;
        file.seek(SeekFrom::Start(cut))
            .map_err(io_err(&path, "seek"))?;
        file.take(self.file_len - cut)
            .read_to_end(&mut tail)
            .map_err(io_err(&path, "read"))?;
        if tail.len() as u64 != self.file_len - cut {
            return Err(StorageError::Corrupt {
                path,
                offset: cut + tail.len() as u64,
                reason: format!(
                    "the log ended {} bytes short of what this process wrote to it",
                    self.file_len - cut - tail.len() as u64
                ),
            });
        }
        let mut bytes = Vec::with_capacity(64 + tail.len());
        encode_record(&LogRecord::Start { base }, &mut bytes);
        let start = bytes.len() as u64;
        bytes.extend_from_slice(&tail);
        let offsets = self.offsets[dropped..]
            .iter()
            .map(|&offset| offset - cut + start)
            .collect();
        self.replace_log(base, &bytes, offsets)
    }

    /// Replaces `log` with an empty one that starts after `base`.
    fn start_empty_log(&mut self, base: LogBase) -> Result<(), StorageError> {
        let mut bytes = Vec::new();
        encode_record(&LogRecord::Start { base }, &mut bytes);
        self.replace_log(base, &bytes, Vec::new())
    }

    /// Replaces `log` with `bytes`, a whole log starting after `base` whose entries' records
    /// are at `offsets`, and reopens it for appending.
    fn replace_log(
        &mut self,
        base: LogBase,
        bytes: &[u8],
        offsets: Vec<u64>,
    ) -> Result<(), StorageError> {
        // Close the old file first: the new one replaces it under the same name.
        self.log = None;
        write_atomically(&self.dir, "log", bytes, &mut self.crash)?;
        let path = self.log_path();
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err(&path, "open"))?;
        self.log = Some(file);
        self.base = base;
        self.offsets = offsets;
        self.file_len = bytes.len() as u64;
        Ok(())
    }
}

/// Replaces `dir/name` with `bytes` atomically: `name.tmp`, fsync, rename, fsync the directory.
/// When it returns, the new contents are durable; a crash before leaves the old file (and
/// perhaps a `name.tmp`, which recovery removes) or, once renamed, the new one.
fn write_atomically(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    crash: &mut CrashPoints,
) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{name}.tmp"));
    crash.pass(&tmp, "write")?;
    let mut file = File::create(&tmp).map_err(io_err(&tmp, "create"))?;
    file.write_all(bytes).map_err(io_err(&tmp, "write"))?;
    crash.pass(&tmp, "fsync")?;
    file.sync_all().map_err(io_err(&tmp, "fsync"))?;
    let path = dir.join(name);
    crash.pass(&path, "rename")?;
    fs::rename(&tmp, &path).map_err(io_err(&path, "rename"))?;
    crash.pass(dir, "fsync directory")?;
    sync_dir(dir)
}

fn io_err<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        path: path.to_owned(),
        op,
        source,
    }
}

/// Takes the exclusive lock on `dir/LOCK`, or fails naming the directory (and the holder's pid,
/// if it wrote one).
fn lock_dir(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join("LOCK");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path, "open"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let pid = fs::read_to_string(&path).unwrap_or_default();
            let pid = pid.trim();
            return Err(StorageError::Locked {
                dir: dir.to_owned(),
                lock: path.clone(),
                holder: if pid.is_empty() {
                    String::new()
                } else {
                    format!(", held by pid {pid}")
                },
            });
        }
        Err(TryLockError::Error(e)) => return Err(io_err(&path, "lock")(e)),
    }
    // Only for the next opener's error message; the lock itself is what excludes.
    file.set_len(0)
        .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
        .map_err(io_err(&path, "write"))?;
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "fsync directory"))
}

impl<H> FileStorage<H>
where
    H: RecoverableHardState + Serialize + DeserializeOwned + Default + Send + 'static,
{
    /// The hard state on disk: `None` if there is no file; corrupt contents are an error.
    fn read_hard_state(&self) -> Result<Option<H>, StorageError> {
        let path = self.hard_state_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path, "read")(e)),
        };
        let corrupt = |reason: &str| StorageError::Corrupt {
            path: path.clone(),
            offset: 0,
            reason: reason.to_owned(),
        };
        if bytes.len() < 8 {
            return Err(corrupt("shorter than its header"));
        }
        let crc = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
        let body = bytes.get(8..8 + len).ok_or_else(|| corrupt("truncated"))?;
        if crc32(body) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        postcard::from_bytes(body)
            .map(Some)
            .map_err(|e| corrupt(&format!("undecodable: {e}")))
    }

    /// The hard state to start from, given what is on disk and the recovered log: the file's,
    /// checked against the log; the default for a fresh directory; otherwise an error, or (if
    /// allowed) one rebuilt from the log.
    fn checked_hard_state(
        &mut self,
        on_disk: Result<Option<H>, StorageError>,
        base: LogBase,
        log: &[Entry],
        log_has_records: bool,
    ) -> Result<H, StorageError> {
        let path = self.hard_state_path();
        let last_term = log.last().map_or(base.term, |e| e.term);
        let last_index = base.index.0 + log.len() as u64;
        let problem = match on_disk {
            Ok(Some(hard_state)) if hard_state.term() >= last_term => return Ok(hard_state),
            Ok(Some(hard_state)) => StorageError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: format!(
                    "term {} is below the term {last_term} of the log's last entry (index \
                     {last_index}): the file is older than the log",
                    hard_state.term(),
                ),
            },
            Ok(None) if !log_has_records => return Ok(H::default()),
            Ok(None) => StorageError::MissingHardState {
                path: path.clone(),
                log_len: last_index as usize,
            },
            Err(e @ StorageError::Corrupt { .. }) => e,
            Err(e) => return Err(e),
        };
        if !self.allow_missing_hard_state {
            return Err(problem);
        }
        let rebuilt = H::from_log_term(last_term);
        tracing::warn!(
            file = %path.display(), problem = %problem, term = %rebuilt.term(),
            "rebuilding the hard state from the log as allowed: highest log term, no vote"
        );
        self.write_hard_state(&rebuilt)?;
        Ok(rebuilt)
    }

    fn write_hard_state(&mut self, hard_state: &H) -> Result<(), StorageError> {
        let body = postcard::to_allocvec(hard_state).expect("hard state always encodes");
        let mut bytes = Vec::with_capacity(8 + body.len());
        bytes.extend_from_slice(&crc32(&body).to_le_bytes());
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        write_atomically(&self.dir, "hardstate", &bytes, &mut self.crash)
    }
}

/// How a recovered log stands against the recovered snapshot.
enum Reconciled {
    /// The log starts at or before the snapshot's end and agrees with it there (or there is no
    /// snapshot and the log starts at 0).
    Consistent { base: LogBase, log: Vec<Entry> },
    /// The log ends before the snapshot's index, or holds another term there: it is replaced
    /// by an empty one starting after the snapshot (Figure 13 step 7).
    Discard { base: LogBase },
}

impl<H> FileStorage<H> {
    /// Checks the log against the snapshot. A log that starts after the snapshot's end (or
    /// after 0 with no snapshot) has lost entries that nothing else holds: corruption.
    fn reconcile(
        &self,
        snapshot: Option<&Snapshot>,
        base: LogBase,
        log: Vec<Entry>,
    ) -> Result<Reconciled, StorageError> {
        let last = base.index.0 + log.len() as u64;
        let Some(snapshot) = snapshot else {
            if base != LogBase::default() {
                return Err(StorageError::Corrupt {
                    path: self.snapshot_path(),
                    offset: 0,
                    reason: format!(
                        "missing, but the log starts after index {}: the entries up to it are lost",
                        base.index
                    ),
                });
            }
            return Ok(Reconciled::Consistent { base, log });
        };
        if base.index > snapshot.last_index {
            return Err(StorageError::Corrupt {
                path: self.log_path(),
                offset: 0,
                reason: format!(
                    "starts after index {}, past the snapshot's last index {}: entries between \
                     are lost",
                    base.index, snapshot.last_index
                ),
            });
        }
        let agrees = snapshot.last_index.0 <= last && {
            let at = (snapshot.last_index.0 - base.index.0) as usize;
            let term = if at == 0 { base.term } else { log[at - 1].term };
            term == snapshot.last_term
        };
        Ok(if agrees {
            Reconciled::Consistent { base, log }
        } else {
            Reconciled::Discard {
                base: snapshot.base(),
            }
        })
    }
}

impl<H> Storage<H> for FileStorage<H>
where
    H: RecoverableHardState + Serialize + DeserializeOwned + Default + Send + 'static,
{
    fn recover(&mut self) -> Result<Recovered<H>, StorageError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir, "create directory"))?;
        if self.lock.is_none() {
            self.lock = Some(lock_dir(&self.dir)?);
        }
        let hard_state = self.read_hard_state();
        let path = self.log_path();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err(&path, "open"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_err(&path, "read"))?;
        let Replayed {
            base,
            log,
            offsets,
            valid,
        } = replay_log(&path, &bytes)?;
        let torn_tail_bytes = (bytes.len() - valid) as u64;
        drop(bytes);
        if torn_tail_bytes > 0 {
            tracing::warn!(file = %path.display(), offset = valid, bytes = torn_tail_bytes, "dropping torn tail of the log");
            file.set_len(valid as u64)
                .map_err(io_err(&path, "truncate torn tail"))?;
            file.sync_all().map_err(io_err(&path, "fsync"))?;
        }
        let snapshot = self.read_snapshot()?;
        *self.snapshots.newest.lock() = snapshot.as_ref().map_or(LogIndex(0), |s| s.last_index);
        let has_records = valid > 0 || snapshot.is_some();
        let hard_state = self.checked_hard_state(hard_state, base, &log, has_records)?;
        sync_dir(&self.dir)?;
        self.log = Some(file);
        self.base = base;
        self.offsets = offsets;
        self.file_len = valid as u64;
        let (base, log) = match self.reconcile(snapshot.as_ref(), base, log)? {
            Reconciled::Consistent { base, log } => (base, log),
            Reconciled::Discard { base } => {
                // The log was left behind by a crash between a snapshot's write and the
                // compaction after it: the snapshot holds every entry the log agreed on.
                tracing::warn!(
                    file = %path.display(), base = ?base,
                    "log ends before, or disagrees with, the snapshot: starting after the snapshot"
                );
                self.start_empty_log(base)?;
                (base, Vec::new())
            }
        };
        for leftover in ["log.tmp", "snapshot.tmp", "hardstate.tmp"] {
            // A crash before a rename; the file it would have replaced is intact.
            let _ = fs::remove_file(self.dir.join(leftover));
        }
        Ok(Recovered {
            hard_state,
            snapshot,
            base,
            log,
            torn_tail_bytes,
        })
    }

    fn snapshot_writer(&self) -> Option<SnapshotWriter> {
        Some(self.snapshots.clone())
    }

    /// Strictly in order (see the module doc): log records collect in `buf` and are appended
    /// and fsynced together when the run of log writes ends; a hard state is written only once
    /// the records before it are durable, and is itself durable (atomic replace) before the
    /// next write starts. Two hard states in a row write only the second: no crash prefix then
    /// holds anything the first would have kept that the old or the new one does not.
    fn persist(&mut self, writes: &[DurableWrite<H>]) -> Result<(), StorageError> {
        self.buf.clear();
        let mut writes = writes.iter().peekable();
        while let Some(write) = writes.next() {
            let write = match write {
                DurableWrite::HardState(_)
                    if matches!(writes.peek(), Some(DurableWrite::HardState(_))) =>
                {
                    continue;
                }
                DurableWrite::HardState(hard_state) => {
                    // ZK-4643 is this step done the other way round: a new epoch durable
                    // before the transactions written ahead of it.
                    self.flush_log()?;
                    self.write_hard_state(hard_state)?;
                    continue;
                }
                DurableWrite::Log(write) => write,
            };
            let record = match write {
                LogWrite::Append { index, entry } => {
                    let position = index.0.saturating_sub(self.base.index.0 + 1) as usize;
                    debug_assert_eq!(position, self.offsets.len(), "append out of order");
                    self.offsets.truncate(position);
                    self.offsets.push(self.file_len + self.buf.len() as u64);
                    LogRecord::Append {
                        index: *index,
                        entry: entry.clone(),
                    }
                }
                LogWrite::Truncate { from } => {
                    let kept = from.0.saturating_sub(self.base.index.0 + 1) as usize;
                    self.offsets.truncate(kept);
                    LogRecord::Truncate { from: *from }
                }
                LogWrite::Snapshot(snapshot) => {
                    // Records before it first, in order; then the snapshot, durable before any
                    // write after it can drop what it covers.
                    self.flush_log()?;
                    self.write_snapshot(snapshot)?;
                    continue;
                }
                LogWrite::Compact { base } => {
                    self.compact_log(*base)?;
                    continue;
                }
            };
            encode_record(&record, &mut self.buf);
        }
        self.flush_log()
    }
}

/// What a [`MemStorage`] holds; shared so a harness can inspect or crash it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemDisk<H> {
    /// Durable hard state.
    pub hard_state: H,
    /// Durable snapshot.
    pub snapshot: Option<Snapshot>,
    /// What the durable log starts after.
    pub base: LogBase,
    /// Durable log, after `base`.
    pub log: Vec<Entry>,
    /// Number of `persist` calls (each is one "fsync").
    pub syncs: u64,
    /// Which process incarnation may write: bumped by [`MemStorage::crash`].
    pub incarnation: u64,
}

/// In-memory storage for tests and the conformance harness: "durable" means written here.
#[derive(Clone, Debug, Default)]
pub struct MemStorage<H> {
    // Shared by clones: a harness keeps one to inspect the disk or to restart from it.
    disk: Arc<Mutex<MemDisk<H>>>,
    incarnation: u64,
}

impl<H: Clone> MemStorage<H> {
    /// Storage whose durable content is `disk` (a harness's initial state).
    pub fn with_disk(disk: MemDisk<H>) -> Self {
        let incarnation = disk.incarnation;
        MemStorage {
            disk: Arc::new(Mutex::new(disk)),
            incarnation,
        }
    }

    /// A copy of what is durable now.
    pub fn snapshot(&self) -> MemDisk<H> {
        self.disk.lock().clone()
    }

    /// Reads what is durable now without copying it.
    pub fn read<R>(&self, f: impl FnOnce(&MemDisk<H>) -> R) -> R {
        f(&self.disk.lock())
    }

    /// The process using this disk was killed: every handle of that incarnation is fenced (its
    /// later writes fail, as a dead process writes nothing), and the returned handle is the
    /// restarted process's. Nothing durable is lost; nothing undurable survives.
    pub fn crash(&self) -> Self {
        let mut disk = self.disk.lock();
        disk.incarnation += 1;
        MemStorage {
            disk: self.disk.clone(),
            incarnation: disk.incarnation,
        }
    }
}

impl<H: Clone + Send + 'static> Storage<H> for MemStorage<H> {
    fn recover(&mut self) -> Result<Recovered<H>, StorageError> {
        let disk = self.disk.lock();
        Ok(Recovered {
            hard_state: disk.hard_state.clone(),
            snapshot: disk.snapshot.clone(),
            base: disk.base,
            log: disk.log.clone(),
            torn_tail_bytes: 0,
        })
    }

    /// Applies the writes in order under one lock: the whole list is durable at once, which is
    /// one of the prefixes a crash may leave.
    fn persist(&mut self, writes: &[DurableWrite<H>]) -> Result<(), StorageError> {
        let mut disk = self.disk.lock();
        if disk.incarnation != self.incarnation {
            return Err(StorageError::Io {
                path: PathBuf::from("<memory>"),
                op: "persist after the process crashed",
                source: std::io::Error::other("fenced by a crash"),
            });
        }
        for write in writes {
            let write = match write {
                DurableWrite::HardState(hard_state) => {
                    disk.hard_state = hard_state.clone();
                    continue;
                }
                DurableWrite::Log(write) => write,
            };
            let first = disk.base.index.0 + 1;
            match write {
                LogWrite::Append { index, entry } => {
                    let next = first + disk.log.len() as u64;
                    assert_eq!(index.0, next, "append out of order");
                    disk.log.push(entry.clone());
                }
                LogWrite::Truncate { from } => {
                    assert!(from.0 >= first, "truncating the compacted prefix at {from}");
                    disk.log.truncate((from.0 - first) as usize)
                }
                LogWrite::Snapshot(snapshot) => disk.snapshot = Some(snapshot.clone()),
                LogWrite::Compact { base } => {
                    let covered = disk.snapshot.as_ref().map_or(LogIndex(0), |s| s.last_index);
                    assert!(
                        base.index <= covered,
                        "compacting past the durable snapshot"
                    );
                    let dropped = (base.index.0 + 1).saturating_sub(first);
                    let dropped = dropped.min(disk.log.len() as u64) as usize;
                    disk.log.drain(..dropped);
                    disk.base = *base;
                }
            }
        }
        disk.syncs += 1;
        Ok(())
    }

    fn blocks(&self) -> bool {
        false
    }
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;
    use ballot_core::raft::HardState;
    use ballot_core::{ServerId, Term};
    use proptest::prelude::*;

    fn append(index: u64, term: u64, data: &[u8]) -> LogWrite {
        LogWrite::Append {
            index: LogIndex(index),
            entry: Entry::command(Term(term), data.to_vec()),
        }
    }

    /// What Raft's core emits for one event: the hard state (if it changed), then the log writes.
    fn writes(hard_state: Option<HardState>, log: Vec<LogWrite>) -> Vec<DurableWrite<HardState>> {
        hard_state
            .map(DurableWrite::HardState)
            .into_iter()
            .chain(log.into_iter().map(DurableWrite::Log))
            .collect()
    }

    fn term(t: u64) -> HardState {
        HardState {
            term: Term(t),
            voted_for: None,
        }
    }

    /// A directory as a node leaves it: voted for 2 in term 3, entries of terms 1 and 3.
    fn node_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStorage::<HardState>::new(dir.path());
        s.recover().unwrap();
        s.persist(&writes(
            Some(HardState {
                term: Term(3),
                voted_for: Some(ServerId(2)),
            }),
            vec![append(1, 1, b"a"), append(2, 3, b"b")],
        ))
        .unwrap();
        dir
    }

    #[test]
    fn an_empty_directory_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let r = FileStorage::<HardState>::new(dir.path().join("new"))
            .recover()
            .unwrap();
        assert_eq!((r.hard_state, r.log.len()), (HardState::default(), 0));
    }

    /// The fault probe: a deleted `hardstate` beside a non-empty log was taken as term 0 with no
    /// vote, so the node could vote a second time in term 3.
    #[test]
    fn a_missing_hard_state_beside_a_non_empty_log_is_refused_naming_the_file() {
        let dir = node_dir();
        fs::remove_file(dir.path().join("hardstate")).unwrap();
        let err = FileStorage::<HardState>::new(dir.path())
            .recover()
            .unwrap_err();
        assert!(
            matches!(err, StorageError::MissingHardState { log_len: 2, .. }),
            "{err}"
        );
        let text = err.to_string();
        let path = dir.path().join("hardstate");
        assert!(
            text.starts_with(&format!("{}: missing", path.display())),
            "{text}"
        );
        assert!(text.contains("--recover-missing-hard-state"), "{text}");
        assert!(!path.exists(), "a refusal writes nothing");
    }

    #[test]
    fn when_allowed_a_missing_hard_state_is_rebuilt_from_the_log_without_a_vote() {
        let dir = node_dir();
        fs::remove_file(dir.path().join("hardstate")).unwrap();
        let mut s = FileStorage::<HardState>::new(dir.path()).allow_missing_hard_state(true);
        let r = s.recover().unwrap();
        assert_eq!((r.hard_state, r.log.len()), (term(3), 2));
        drop(s);
        // Written at once: the next start needs no option.
        let r = FileStorage::<HardState>::new(dir.path()).recover().unwrap();
        assert_eq!(r.hard_state, term(3));
    }

    #[test]
    fn a_corrupt_hard_state_is_refused_and_rebuilt_only_when_allowed() {
        let dir = node_dir();
        let path = dir.path().join("hardstate");
        let mut bytes = fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = FileStorage::<HardState>::new(dir.path())
            .recover()
            .unwrap_err();
        assert!(err.to_string().contains("hardstate: corrupt"), "{err}");
        let r = FileStorage::<HardState>::new(dir.path())
            .allow_missing_hard_state(true)
            .recover()
            .unwrap();
        assert_eq!(r.hard_state, term(3));
    }

    /// A `hardstate` restored from an older copy: its term is below the log's, which a node
    /// never writes (the hard state of a batch goes first).
    #[test]
    fn a_hard_state_older_than_the_log_is_refused() {
        let dir = node_dir();
        let old = tempfile::tempdir().unwrap();
        let mut s = FileStorage::<HardState>::new(old.path());
        s.recover().unwrap();
        s.persist(&writes(Some(term(2)), vec![])).unwrap();
        fs::copy(old.path().join("hardstate"), dir.path().join("hardstate")).unwrap();
        let err = FileStorage::<HardState>::new(dir.path())
            .recover()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("term 2 is below the term 3"), "{text}");
    }

    /// The fault probe: two processes ran on one data directory side by side.
    #[test]
    fn a_second_opener_of_a_directory_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = FileStorage::<HardState>::new(dir.path());
        first.recover().unwrap();
        let err = FileStorage::<HardState>::new(dir.path())
            .recover()
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StorageError::Locked { .. }), "{text}");
        assert!(
            text.starts_with(&format!("{}: another process holds", dir.path().display())),
            "{text}"
        );
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        // The first keeps working meanwhile.
        first
            .persist(&writes(Some(term(1)), vec![append(1, 1, b"x")]))
            .unwrap();
        drop(first);
        let r = FileStorage::<HardState>::new(dir.path()).recover().unwrap();
        assert_eq!(r.log.len(), 1);
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn persist_and_recover_hard_state_truncation_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStorage::<HardState>::new(dir.path());
        assert_eq!(s.recover().unwrap().log, vec![]);
        s.persist(&writes(Some(term(1)), vec![])).unwrap();
        let hs = HardState {
            term: Term(3),
            voted_for: Some(ServerId(2)),
        };
        s.persist(
            &[
                writes(None, vec![append(1, 1, b"a"), append(2, 1, b"b")]),
                writes(
                    Some(hs),
                    vec![LogWrite::Truncate { from: LogIndex(2) }, append(2, 3, b"c")],
                ),
            ]
            .concat(),
        )
        .unwrap();
        drop(s);
        let r = FileStorage::<HardState>::new(dir.path()).recover().unwrap();
        assert_eq!(r.hard_state, hs);
        assert_eq!(
            r.log,
            vec![
                Entry::command(Term(1), b"a".to_vec()),
                Entry::command(Term(3), b"c".to_vec())
            ]
        );
        assert!(!dir.path().join("hardstate.tmp").exists());
    }

    #[test]
    fn corruption_in_the_middle_is_an_error_naming_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStorage::<HardState>::new(dir.path());
        s.recover().unwrap();
        s.persist(&writes(
            Some(term(1)),
            vec![append(1, 1, b"first"), append(2, 1, b"second")],
        ))
        .unwrap();
        drop(s);
        let path = dir.path().join("log");
        let mut bytes = fs::read(&path).unwrap();
        bytes[RECORD_HEADER_BYTES + 2] ^= 0x40; // inside the first record's payload
        fs::write(&path, &bytes).unwrap();
        let err = FileStorage::<HardState>::new(dir.path())
            .recover()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("log") && text.contains("offset 0"), "{text}");
        // And the file is untouched: nothing was cut off.
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn corrupt_last_record_is_a_torn_tail_and_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStorage::<HardState>::new(dir.path());
        s.recover().unwrap();
        s.persist(&writes(
            Some(term(1)),
            vec![append(1, 1, b"first"), append(2, 1, b"second")],
        ))
        .unwrap();
        drop(s);
        let path = dir.path().join("log");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let mut s = FileStorage::<HardState>::new(dir.path());
        let r = s.recover().unwrap();
        assert_eq!(r.log.len(), 1);
        assert!(r.torn_tail_bytes > 0);
        // Appending after recovery continues from the valid prefix.
        s.persist(&writes(Some(term(2)), vec![append(2, 2, b"again")]))
            .unwrap();
        drop(s);
        assert_eq!(
            FileStorage::<HardState>::new(dir.path())
                .recover()
                .unwrap()
                .log
                .len(),
            2
        );
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let mut bytes = Vec::new();
        encode_record(
            &LogRecord::Append {
                index: LogIndex(1),
                entry: Entry::noop(Term(1)),
            },
            &mut bytes,
        );
        let valid = bytes.len();
        bytes.extend_from_slice(&[0; 40]);
        let Replayed {
            log, valid: end, ..
        } = replay_log(Path::new("log"), &bytes).unwrap();
        assert_eq!((log.len(), end), (1, valid));
    }

    // --- snapshots and compaction ---

    /// The writer a node uses beside the log: what it writes comes back at recovery, and it never
    /// replaces a snapshot with an older one (one installed through `persist` may overtake it).
    #[test]
    fn the_snapshot_writer_only_moves_forward_and_shares_the_file_with_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStorage::<HardState>::new(dir.path());
        s.recover().unwrap();
        let writer = s
            .snapshot_writer()
            .expect("file storage writes snapshots beside the log");
        assert!(writer.write(&snap(5, 1)).unwrap());
        s.persist(&writes(
            Some(HardState {
                term: Term(2),
                voted_for: None,
            }),
            vec![LogWrite::Snapshot(snap(9, 2))],
        ))
        .unwrap();
        assert!(
            !writer.write(&snap(7, 1)).unwrap(),
            "older than the one installed"
        );
        assert!(!writer.write(&snap(9, 2)).unwrap(), "the one installed");
        drop(s);
        let mut again = FileStorage::<HardState>::new(dir.path());
        assert_eq!(again.recover().unwrap().snapshot, Some(snap(9, 2)));
        let writer = again.snapshot_writer().unwrap();
        assert!(
            !writer.write(&snap(8, 2)).unwrap(),
            "recovery knows what is on disk"
        );
        assert!(writer.write(&snap(12, 2)).unwrap());
    }

    fn snap(last_index: u64, last_term: u64) -> Snapshot {
        Snapshot {
            last_index: LogIndex(last_index),
            last_term: Term(last_term),
            data: format!("state@{last_index}").into_bytes(),
        }
    }

    fn entry(term: u64, data: &[u8]) -> Entry {
        Entry::command(Term(term), data.to_vec())
    }

    fn log_base(index: u64, term: u64) -> LogBase {
        LogBase {
            index: LogIndex(index),
            term: Term(term),
        }
    }

    /// Entries 1..=5 of term 1 (data "1".."5") and hard state term 1, durable in a new directory.
    fn five_entries() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStorage::<HardState>::new(dir.path());
        s.recover().unwrap();
        let log = (1..=5)
            .map(|i| append(i, 1, i.to_string().as_bytes()))
            .collect();
        s.persist(&writes(Some(term(1)), log)).unwrap();
        dir
    }

    fn entries(range: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
        range.map(|i| entry(1, i.to_string().as_bytes())).collect()
    }

    fn recover(dir: &Path) -> Result<Recovered<HardState>, StorageError> {
        FileStorage::<HardState>::new(dir).recover()
    }

    /// What a compaction of `five_entries` to a snapshot at 3, keeping 1, leaves when complete.
    fn compacted_log_bytes() -> Vec<u8> {
        let mut bytes = Vec::new();
        encode_record(
            &LogRecord::Start {
                base: log_base(2, 1),
            },
            &mut bytes,
        );
        for i in 3..=5 {
            let record = LogRecord::Append {
                index: LogIndex(i),
                entry: entry(1, i.to_string().as_bytes()),
            };
            encode_record(&record, &mut bytes);
        }
        bytes
    }

    #[test]
    fn a_snapshot_and_a_compacted_log_come_back_after_a_restart_and_grow_on() {
        let dir = five_entries();
        let mut s = FileStorage::<HardState>::new(dir.path());
        s.recover().unwrap();
        s.persist(&writes(
            None,
            vec![
                LogWrite::Snapshot(snap(3, 1)),
                LogWrite::Compact {
                    base: log_base(2, 1),
                },
                append(6, 1, b"6"),
            ],
        ))
        .unwrap();
        assert_eq!(
            fs::read(dir.path().join("log")).unwrap()[..],
            {
                let mut expected = compacted_log_bytes();
                encode_record(
                    &LogRecord::Append {
                        index: LogIndex(6),
                        entry: entry(1, b"6"),
                    },
                    &mut expected,
                );
                expected
            }[..]
        );
        drop(s);
        let r = recover(dir.path()).unwrap();
        assert_eq!(r.snapshot, Some(snap(3, 1)));
        assert_eq!(r.base, log_base(2, 1));
        assert_eq!(r.log, entries(3..=6));
        // Truncation and appends after the base keep working across restarts.
        let mut s = FileStorage::<HardState>::new(dir.path());
        s.recover().unwrap();
        s.persist(&writes(
            None,
            vec![LogWrite::Truncate { from: LogIndex(5) }, append(5, 1, b"5")],
        ))
        .unwrap();
        drop(s);
        assert_eq!(recover(dir.path()).unwrap().log, entries(3..=5));
        for leftover in ["log.tmp", "snapshot.tmp"] {
            assert!(!dir.path().join(leftover).exists(), "{leftover}");
        }
    }

    /// A crash between any two steps of a compaction (snapshot.tmp written; renamed; log.tmp
    /// written; renamed) recovers every entry, and the node writes on from there.
    #[test]
    fn a_crash_between_any_two_steps_of_a_compaction_loses_nothing() {
        let full = || (None, LogBase::default(), entries(1..=5));
        let with_snapshot = || (Some(snap(3, 1)), LogBase::default(), entries(1..=5));
        let compacted = || (Some(snap(3, 1)), log_base(2, 1), entries(3..=5));
        type Step = fn(&Path);
        type Durable = (Option<Snapshot>, LogBase, Vec<Entry>);
        let steps: [(&str, Step, Durable); 5] = [
            (
                "snapshot.tmp half written",
                |d| {
                    let bytes = encode_snapshot(&snap(3, 1));
                    fs::write(d.join("snapshot.tmp"), &bytes[..bytes.len() / 2]).unwrap();
                },
                full(),
            ),
            (
                "snapshot renamed, log untouched",
                |d| {
                    fs::write(d.join("snapshot"), encode_snapshot(&snap(3, 1))).unwrap();
                },
                with_snapshot(),
            ),
            (
                "log.tmp half written",
                |d| {
                    fs::write(d.join("snapshot"), encode_snapshot(&snap(3, 1))).unwrap();
                    let bytes = compacted_log_bytes();
                    fs::write(d.join("log.tmp"), &bytes[..bytes.len() / 2]).unwrap();
                },
                with_snapshot(),
            ),
            (
                "log.tmp whole, not renamed",
                |d| {
                    fs::write(d.join("snapshot"), encode_snapshot(&snap(3, 1))).unwrap();
                    fs::write(d.join("log.tmp"), compacted_log_bytes()).unwrap();
                },
                with_snapshot(),
            ),
            (
                "log renamed",
                |d| {
                    fs::write(d.join("snapshot"), encode_snapshot(&snap(3, 1))).unwrap();
                    fs::write(d.join("log"), compacted_log_bytes()).unwrap();
                },
                compacted(),
            ),
        ];
        for (name, crash, (snapshot, base, log)) in steps {
            let dir = five_entries();
            crash(dir.path());
            let r = recover(dir.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (&r.snapshot, r.base, &r.log),
                (&snapshot, base, &log),
                "{name}"
            );
            for leftover in ["log.tmp", "snapshot.tmp"] {
                assert!(!dir.path().join(leftover).exists(), "{name}: {leftover}");
            }
            // The node writes on, and a second restart sees it all.
            let mut s = FileStorage::<HardState>::new(dir.path());
            s.recover().unwrap();
            s.persist(&writes(None, vec![append(6, 1, b"6")])).unwrap();
            drop(s);
            let again = recover(dir.path()).unwrap();
            let mut grown = log.clone();
            grown.push(entry(1, b"6"));
            assert_eq!(
                (again.snapshot, again.base, again.log),
                (snapshot, base, grown),
                "{name}"
            );
        }
    }

    /// Figure 13 step 7 interrupted: the snapshot (term 2 at index 3) is durable, the log still
    /// holds index 3 of term 1. Recovery starts after the snapshot and rewrites the log.
    #[test]
    fn a_log_that_disagrees_with_the_snapshot_is_replaced_by_one_after_it() {
        let dir = five_entries();
        fs::write(dir.path().join("hardstate"), {
            let body = postcard::to_allocvec(&term(2)).unwrap();
            let mut bytes = crc32(&body).to_le_bytes().to_vec();
            bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&body);
            bytes
        })
        .unwrap();
        fs::write(dir.path().join("snapshot"), encode_snapshot(&snap(3, 2))).unwrap();
        let r = recover(dir.path()).unwrap();
        assert_eq!((r.base, r.log), (log_base(3, 2), vec![]));
        let mut s = FileStorage::<HardState>::new(dir.path());
        s.recover().unwrap();
        s.persist(&writes(None, vec![append(4, 2, b"x")])).unwrap();
        drop(s);
        assert_eq!(recover(dir.path()).unwrap().log, vec![entry(2, b"x")]);
    }

    #[test]
    fn a_corrupt_snapshot_is_an_error_naming_the_file() {
        let dir = five_entries();
        let mut bytes = encode_snapshot(&snap(3, 1));
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let path = dir.path().join("snapshot");
        fs::write(&path, &bytes).unwrap();
        let err = recover(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: corrupt at byte offset 0: snapshot checksum mismatch",
                path.display()
            )),
            "{err}"
        );
        fs::write(&path, &bytes[..5]).unwrap();
        let err = recover(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("snapshot shorter than its 12-byte header"),
            "{err}"
        );
        fs::write(&path, &encode_snapshot(&snap(3, 1))[..20]).unwrap();
        let err = recover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("its header says"), "{err}");
    }

    #[test]
    fn a_log_starting_after_the_snapshot_is_an_error() {
        let dir = five_entries();
        fs::write(dir.path().join("log"), compacted_log_bytes()).unwrap();
        let err = recover(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(
                "snapshot: corrupt at byte offset 0: missing, but the log starts after index 2"
            ),
            "{err}"
        );
        fs::write(dir.path().join("snapshot"), encode_snapshot(&snap(1, 1))).unwrap();
        let err = recover(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("starts after index 2, past the snapshot's last index 1"),
            "{err}"
        );
    }

    #[test]
    fn memory_storage_compacts_as_the_file_storage_does() {
        let mut s = MemStorage::<HardState>::default();
        let log = (1..=5)
            .map(|i| append(i, 1, i.to_string().as_bytes()))
            .collect();
        s.persist(&writes(Some(term(1)), log)).unwrap();
        s.persist(&writes(
            None,
            vec![
                LogWrite::Snapshot(snap(3, 1)),
                LogWrite::Compact {
                    base: log_base(2, 1),
                },
                append(6, 1, b"6"),
            ],
        ))
        .unwrap();
        let r = s.recover().unwrap();
        assert_eq!(
            (r.snapshot, r.base, r.log),
            (Some(snap(3, 1)), log_base(2, 1), entries(3..=6))
        );
    }

    /// One step of [`file_storage_agrees_with_memory_storage_through_compactions`]: its kind
    /// (append, truncate, snapshot + compact, restart, or end the batch) and a number that picks
    /// its argument.
    fn arb_steps() -> impl Strategy<Value = Vec<(u8, u64)>> {
        proptest::collection::vec((0u8..5, any::<u64>()), 1..40)
    }

    /// The log writes of `step` against a log after `base` holding `log` and a snapshot at
    /// `covered`; updates them as the writes will.
    fn writes_of(
        (kind, pick): (u8, u64),
        base: &mut LogBase,
        log: &mut Vec<Entry>,
        covered: &mut u64,
        next: &mut u64,
    ) -> Vec<LogWrite> {
        let last = base.index.0 + log.len() as u64;
        let term_at = |base: &LogBase, log: &[Entry], i: u64| {
            if i == base.index.0 {
                base.term
            } else {
                log[(i - base.index.0 - 1) as usize].term
            }
        };
        match kind {
            0 => (1..=1 + pick % 3)
                .map(|k| {
                    *next += 1;
                    let e = Entry::command(Term(1 + pick % 4), next.to_le_bytes().to_vec());
                    log.push(e.clone());
                    LogWrite::Append {
                        index: LogIndex(last + k),
                        entry: e,
                    }
                })
                .collect(),
            1 if last > (*covered).max(base.index.0) => {
                let lowest = (*covered).max(base.index.0) + 1;
                let from = lowest + pick % (last - lowest + 1);
                log.truncate((from - base.index.0 - 1) as usize);
                vec![LogWrite::Truncate {
                    from: LogIndex(from),
                }]
            }
            2 if last > *covered => {
                let at = *covered + 1 + pick % (last - *covered);
                let snapshot = Snapshot {
                    last_index: LogIndex(at),
                    last_term: term_at(base, log, at),
                    data: at.to_le_bytes().to_vec(),
                };
                let keep = (pick >> 8) % 4;
                let cut = at.saturating_sub(keep).max(base.index.0);
                let new_base = LogBase {
                    index: LogIndex(cut),
                    term: term_at(base, log, cut),
                };
                log.drain(..(cut - base.index.0) as usize);
                *base = new_base;
                *covered = at;
                vec![
                    LogWrite::Snapshot(snapshot),
                    LogWrite::Compact { base: new_base },
                ]
            }
            _ => Vec::new(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 96,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0xC0_4AC7),
            ..ProptestConfig::default()
        })]
        /// Appends, truncations, snapshots with compactions that keep 0-3 entries, batched
        /// and restarted at random: after every restart and at the end, what the directory
        /// recovers is what memory storage holds after the same writes. Compaction copies the
        /// kept records from their recorded offsets, so this is what shows those offsets
        /// follow appends, truncations, restarts and earlier compactions.
        #[test]
        fn file_storage_agrees_with_memory_storage_through_compactions(steps in arb_steps()) {
            let dir = tempfile::tempdir().unwrap();
            let mut file = FileStorage::<HardState>::new(dir.path());
            file.recover().unwrap();
            let mut mem = MemStorage::<HardState>::default();
            let (mut base, mut log, mut covered, mut next) = (LogBase::default(), Vec::new(), 0, 0);
            let mut batch: Vec<DurableWrite<HardState>> = Vec::new();
            let same = |file: &Recovered<HardState>, mem: &Recovered<HardState>| {
                (file.base, &file.log, &file.snapshot) == (mem.base, &mem.log, &mem.snapshot)
            };
            for step in steps {
                let log_writes = writes_of(step, &mut base, &mut log, &mut covered, &mut next);
                if !log_writes.is_empty() {
                    batch.extend(writes(Some(term(4)), log_writes));
                }
                if step.0 >= 3 && !batch.is_empty() {
                    file.persist(&batch).unwrap();
                    mem.persist(&batch).unwrap();
                    batch.clear();
                }
                if step.0 == 3 {
                    drop(file);
                    file = FileStorage::<HardState>::new(dir.path());
                    let (f, m) = (file.recover().unwrap(), mem.recover().unwrap());
                    prop_assert!(same(&f, &m), "after a restart: file {f:?}, memory {m:?}");
                }
            }
            file.persist(&batch).unwrap();
            mem.persist(&batch).unwrap();
            drop(file);
            let (f, m) = (recover(dir.path()).unwrap(), mem.recover().unwrap());
            prop_assert!(same(&f, &m), "at the end: file {f:?}, memory {m:?}");
            prop_assert_eq!((m.base, m.log), (base, log));
        }
    }

    fn arb_writes() -> impl Strategy<Value = Vec<(bool, u64, Vec<u8>)>> {
        proptest::collection::vec(
            (
                any::<bool>(),
                0u64..4,
                proptest::collection::vec(any::<u8>(), 0..20),
            ),
            1..12,
        )
    }

    proptest! {
        // A fixed seed: a failure reproduces with
        // `cargo test -p ballot-node recovery_after_truncation_at_any_offset`.
        #![proptest_config(ProptestConfig {
            cases: 64,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7012),
            ..ProptestConfig::default()
        })]
        /// Recovery after truncating the file at any byte offset yields exactly the records
        /// that lie wholly before the cut.
        #[test]
        fn recovery_after_truncation_at_any_offset(writes in arb_writes(), cut_seed in any::<u64>()) {
            // Build a valid record sequence, remembering the log after each record.
            let mut bytes = Vec::new();
            let mut log: Vec<Entry> = Vec::new();
            let mut boundaries = vec![(0usize, log.clone())];
            for (truncate, term, data) in writes {
                let record = if truncate && !log.is_empty() {
                    let from = LogIndex(1 + (term % log.len() as u64));
                    log.truncate((from.0 - 1) as usize);
                    LogRecord::Truncate { from }
                } else {
                    let entry = Entry::command(Term(term), data);
                    log.push(entry.clone());
                    LogRecord::Append { index: LogIndex(log.len() as u64), entry }
                };
                encode_record(&record, &mut bytes);
                boundaries.push((bytes.len(), log.clone()));
            }
            let cut = (cut_seed % (bytes.len() as u64 + 1)) as usize;
            let expected = boundaries.iter().rev().find(|(end, _)| *end <= cut).expect("0 is a boundary");
            let Replayed { log: recovered, valid, .. } = replay_log(Path::new("log"), &bytes[..cut]).unwrap();
            prop_assert_eq!(valid, expected.0);
            prop_assert_eq!(&recovered, &expected.1);
        }
    }

    /// A follower's durable state in ZAB: the epoch it accepted (NEWEPOCH) and the epoch whose
    /// history it holds (NEWLEADER). ZooKeeper's `acceptedEpoch` and `currentEpoch` files.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    struct ZabEpochs {
        accepted: u64,
        current: u64,
    }

    impl RecoverableHardState for ZabEpochs {
        /// No transaction of an epoch is logged before that epoch is accepted.
        fn term(&self) -> Term {
            Term(self.accepted)
        }

        fn from_log_term(term: Term) -> Self {
            ZabEpochs {
                accepted: term.0,
                current: term.0,
            }
        }
    }

    fn epochs(accepted: u64, current: u64) -> DurableWrite<ZabEpochs> {
        DurableWrite::HardState(ZabEpochs { accepted, current })
    }

    fn txn(index: u64, epoch: u64, data: &[u8]) -> DurableWrite<ZabEpochs> {
        DurableWrite::Log(LogWrite::Append {
            index: LogIndex(index),
            entry: Entry::command(Term(epoch), data.to_vec()),
        })
    }

    /// The durable state after each prefix of `writes`, from the state `start`.
    fn prefix_states(
        start: (ZabEpochs, Vec<Entry>),
        writes: &[DurableWrite<ZabEpochs>],
    ) -> Vec<(ZabEpochs, Vec<Entry>)> {
        let mut states = vec![start];
        for write in writes {
            let (mut epochs, mut log) = states.last().cloned().expect("the start state");
            match write {
                DurableWrite::HardState(e) => epochs = *e,
                DurableWrite::Log(LogWrite::Truncate { from }) => log.truncate(from.0 as usize - 1),
                DurableWrite::Log(LogWrite::Append { index, entry }) => {
                    assert_eq!(
                        index.0,
                        log.len() as u64 + 1,
                        "the sequence appends in order"
                    );
                    log.push(entry.clone());
                }
                DurableWrite::Log(other) => unreachable!("not in this sequence: {other:?}"),
            }
            states.push((epochs, log));
        }
        states
    }

    /// Copies a storage directory's files (not its lock) into a new directory: one crash
    /// outcome each, from the same starting bytes.
    fn copy_dir(from: &Path) -> tempfile::TempDir {
        let to = tempfile::tempdir().unwrap();
        for file in fs::read_dir(from).unwrap() {
            let file = file.unwrap();
            if file.file_name() != "LOCK" {
                fs::copy(file.path(), to.path().join(file.file_name())).unwrap();
            }
        }
        to
    }

    /// ZK-4643: a follower that made `currentEpoch` durable before the NEWLEADER transactions
    /// written ahead of it, and crashed between the two, comes back in the new epoch with a
    /// history it never received, and may then lead with it. Here the follower (epoch 1, two
    /// transactions) accepts epoch 3, is synchronized by a leader whose history differs from
    /// index 2 on (TRUNC to 1, then the epoch-2 transactions it missed), makes epoch 3 current,
    /// and logs two proposals of epoch 3: four `Persist`s, whose writes are given to the storage
    /// under every grouping a group commit can make. The storage is crashed before each of its
    /// I/O steps in turn (an append, an fsync, a temporary file, a rename, a directory fsync),
    /// and the log bytes written since its last fsync are cut at every offset (the disk may have
    /// kept any prefix of them). Every recovery must find the state after a prefix of the
    /// writes; in particular never epoch 3 current without the whole NEWLEADER history. Every
    /// prefix must also be reached by some crash, so the test sees each boundary it claims.
    #[test]
    fn a_crash_anywhere_in_a_zab_newleader_sequence_keeps_a_prefix() {
        let initial = vec![epochs(1, 1), txn(1, 1, b"a"), txn(2, 1, b"b")];
        let history = [
            Entry::command(Term(1), b"a".to_vec()),
            Entry::command(Term(2), b"c".to_vec()),
            Entry::command(Term(2), b"d".to_vec()),
        ];
        let persists = [
            // NEWEPOCH: acceptedEpoch.
            vec![epochs(3, 1)],
            // NEWLEADER: the transactions first, then currentEpoch.
            vec![
                DurableWrite::Log(LogWrite::Truncate { from: LogIndex(2) }),
                txn(2, 2, b"c"),
                txn(3, 2, b"d"),
                epochs(3, 3),
            ],
            // Proposals of the new epoch.
            vec![txn(4, 3, b"e")],
            vec![txn(5, 3, b"f")],
        ];
        let sequence = persists.concat();
        let start = prefix_states((ZabEpochs::default(), Vec::new()), &initial)
            .pop()
            .expect("the initial state");
        let states = prefix_states(start, &sequence);
        let template = tempfile::tempdir().unwrap();
        {
            let mut s = FileStorage::<ZabEpochs>::new(template.path());
            s.recover().unwrap();
            s.persist(&initial).unwrap();
        }

        let mut reached = vec![false; states.len()];
        let mut outcomes = 0;
        // Bit i of `cuts` set: a group commit ends after persist i (the last one always does).
        for cuts in 0..1u32 << (persists.len() - 1) {
            let mut groups: Vec<Vec<DurableWrite<ZabEpochs>>> = vec![Vec::new()];
            for (i, persist) in persists.iter().enumerate() {
                groups.last_mut().unwrap().extend(persist.iter().cloned());
                if i + 1 < persists.len() && cuts & (1 << i) != 0 {
                    groups.push(Vec::new());
                }
            }
            for crash_at in 0.. {
                let dir = copy_dir(template.path());
                let mut s = FileStorage::<ZabEpochs>::new(dir.path());
                s.recover().unwrap();
                s.crash.allowed = Some(crash_at);
                let crashed = groups.iter().any(|group| s.persist(group).is_err());
                let synced = s.file_len;
                drop(s);
                let written = fs::metadata(dir.path().join("log")).unwrap().len();
                assert!(synced <= written, "fsynced {synced} of {written} bytes");
                for cut in synced..=written {
                    let outcome = copy_dir(dir.path());
                    let log = OpenOptions::new()
                        .write(true)
                        .open(outcome.path().join("log"))
                        .unwrap();
                    log.set_len(cut).unwrap();
                    drop(log);
                    let context = format!(
                        "groups {cuts:#b}, crash before I/O step {crash_at}, log cut at {cut} \
                         (fsynced {synced}, written {written})"
                    );
                    let r = FileStorage::<ZabEpochs>::new(outcome.path())
                        .recover()
                        .unwrap_or_else(|e| panic!("{context}: recovery failed: {e}"));
                    assert_eq!(
                        (r.base, &r.snapshot),
                        (LogBase::default(), &None),
                        "{context}"
                    );
                    if r.hard_state.current == 3 {
                        assert!(
                            r.log.starts_with(&history),
                            "{context}: ZK-4643: epoch 3 is current without its NEWLEADER \
                             history: {:?}",
                            r.log
                        );
                    }
                    let state = (r.hard_state, r.log);
                    if !crashed {
                        assert_eq!(
                            Some(&state),
                            states.last(),
                            "{context}: no crash, all written"
                        );
                    }
                    let mut is_prefix = false;
                    for (at, expected) in states.iter().enumerate() {
                        if *expected == state {
                            reached[at] = true;
                            is_prefix = true;
                        }
                    }
                    assert!(
                        is_prefix,
                        "{context}: recovered {state:?}, the state after no prefix of {sequence:?}"
                    );
                    outcomes += 1;
                }
                if !crashed {
                    break;
                }
            }
        }
        let unreached: Vec<usize> = (0..states.len()).filter(|&at| !reached[at]).collect();
        assert!(
            unreached.is_empty(),
            "no crash left the state after these prefix lengths: {unreached:?} \
             ({outcomes} outcomes)"
        );
    }
}
