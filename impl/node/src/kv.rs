//! The replicated key-value state machine: operations, client sessions, results, and their
//! application.
//!
//! A `get` is served one of two ways, chosen per request ([`Consistency`]): **linearizable**
//! (the default) goes through the log like a write and is answered with the value at the point
//! where its entry is applied, after every write committed before it. That is the "log round
//! trip" way to linearizable reads (Raft thesis §6.4 names the alternative, ReadIndex, which
//! saves the log write but needs a heartbeat round). Since a leader only learns an entry is
//! committed through a quorum, a deposed leader cannot answer a stale read. **Sequential** is
//! answered by whichever server receives it, from its own applied state ([`SharedStore::get`]),
//! with no log and no quorum: it may be behind (see `docs/implementation.md` § Read consistency).
//!
//! **Client sessions make a retried write apply once** (Raft thesis §6.3). A client whose
//! attempt timed out cannot know whether its entry was committed, so it sends it again; without
//! sessions the second copy is applied a second time, possibly after other clients' writes
//! (readers see A, B, A). A client first appends [`KvOp::Register`]; the log index of that entry
//! is its [`ClientId`]. It then numbers its requests 1, 2, 3… and wraps each in
//! [`KvOp::Windowed`], which also carries the lowest number the client has not yet had an
//! answer for (`first_outstanding`); a retry reuses the number. A client may have many requests
//! in flight (pipelining), so the table keeps the results of every applied request numbered
//! `first_outstanding` or above — the session's **window** — and discards those below, which
//! the client has already read. The table is part of the replicated state ([`KvStore`]), so
//! every replica decides the same way:
//! - a number inside the window not applied yet: applied, and its result remembered;
//! - a number inside the window already applied: a duplicate, answered from the record without
//!   applying it again (a duplicate `get` is read again at its own position, see
//!   [`KvStore::apply`]);
//! - a number below the window: [`Refusal::StaleRequest`], not applied (its answer was
//!   discarded because the client said it had it);
//! - a number [`MAX_SESSION_WINDOW`] or more above the window's start: [`Refusal::BeyondWindow`],
//!   not applied (a session's record stays bounded);
//! - an unknown session (evicted, or never registered): [`Refusal::SessionExpired`], not applied.
//!
//! Sessions expire by the log, never by a clock: the table holds at most [`MAX_SESSIONS`], and
//! registering one more evicts the session whose newest entry has the lowest log index.

use crate::sync::Mutex;
use ballot_core::LogIndex;
use im::OrdMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest value accepted, in bytes (well below the 512 KiB frame limit).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Sessions the state machine remembers at once. A record is a few dozen bytes plus one byte per
/// remembered result (values of reads are not kept), at most [`MAX_SESSION_WINDOW`], so the table
/// stays under about 11 MiB even if every session fills its window; a client idle while this
/// many other sessions register or write is the one that expires.
pub const MAX_SESSIONS: usize = 10_000;
/// Request numbers one session may have open at once: a request numbered this far or further
/// above the lowest number its client still waits for is refused ([`Refusal::BeyondWindow`]), so
/// one session remembers at most this many results. A pipelining client keeps fewer requests in
/// flight than this (`client::PIPELINE_DEPTH`).
pub const MAX_SESSION_WINDOW: u64 = 1024;

/// A client session's id: the log index of the [`KvOp::Register`] entry that opened it, so
/// ids are unique without any randomness, and every replica knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which request of which client an operation is: a retry carries the same pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session.
    pub client: ClientId,
    /// The request's number in the session, from 1.
    pub seq: u64,
}

/// How a read is served; see the module doc and `docs/implementation.md` § Read consistency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Consistency {
    /// Through the log: the read sees every write acknowledged before it was sent, on any
    /// server. Served by the leader only (others redirect).
    #[default]
    Linearizable,
    /// From the applied state of the server that receives it, at once: no log, no quorum, any
    /// server. **Not linearizable**: a server may be behind the leader.
    Sequential,
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Sequential => "sequential",
        })
    }
}

/// A client operation, and the log entry's payload (postcard).
///
/// The encoding only grows at the end: `Put`, `Get` and `Delete` keep their variant numbers, so
/// an entry written before sessions existed still decodes (and applies without deduplication);
/// `Session` entries, written before windows existed, still decode and apply as a window that
/// starts at their own number (the client then had one request in flight).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: String,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: String,
    },
    /// Open a client session; answered with [`KvResult::Registered`].
    Register,
    /// `op` (a put, get or delete) as request `session.seq` of `session.client`, whose client
    /// has no other request open (the window starts at `session.seq`). Written by clients
    /// before [`KvOp::Windowed`]; still applied, for old log entries.
    Session {
        /// Who sends it, and its number.
        session: Session,
        /// The operation.
        op: Box<KvOp>,
    },
    /// `op` (a put, get or delete) as request `session.seq` of `session.client`, whose client
    /// has had answers for every request numbered below `first_outstanding` (Raft thesis §6.3):
    /// their results may be discarded.
    Windowed {
        /// Who sends it, and its number.
        session: Session,
        /// The lowest number the client has not had an answer for; at most `session.seq`.
        first_outstanding: u64,
        /// The operation.
        op: Box<KvOp>,
    },
    /// A no-op that answers [`KvResult::Done`]: the read barrier of earlier versions, which
    /// linearizable reads used before ReadIndex. No longer proposed; kept so that logs written
    /// by those versions still decode and apply.
    Barrier,
}

impl KvOp {
    /// Checks the size limits and the shape of a session request; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let key = match self {
            KvOp::Put { key, value } => {
                if value.len() > MAX_VALUE_BYTES {
                    return Err(format!(
                        "value: {} bytes > max {MAX_VALUE_BYTES}",
                        value.len()
                    ));
                }
                key
            }
            KvOp::Get { key } | KvOp::Delete { key } => key,
            KvOp::Register | KvOp::Barrier => return Ok(()),
            KvOp::Session { session, op } => return validate_in_session(session, session.seq, op),
            KvOp::Windowed {
                session,
                first_outstanding,
                op,
            } => return validate_in_session(session, *first_outstanding, op),
        };
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("key: {} bytes > max {MAX_KEY_BYTES}", key.len()));
        }
        Ok(())
    }

    /// Whether this is a get, bare or in a session: a read, which a server may serve without
    /// the log (see [`Consistency`]).
    pub fn is_read(&self) -> bool {
        match self {
            KvOp::Get { .. } => true,
            KvOp::Session { op, .. } | KvOp::Windowed { op, .. } => op.is_read(),
            _ => false,
        }
    }

    /// Whether this is a put, get or delete (not a session operation).
    pub fn is_data_op(&self) -> bool {
        matches!(
            self,
            KvOp::Put { .. } | KvOp::Get { .. } | KvOp::Delete { .. }
        )
    }
}

/// The checks of a session request's shape: the numbers' relation and the wrapped operation.
fn validate_in_session(session: &Session, first_outstanding: u64, op: &KvOp) -> Result<(), String> {
    if session.seq == 0 {
        return Err("seq: 0 (request numbers start at 1)".into());
    }
    if first_outstanding == 0 || first_outstanding > session.seq {
        return Err(format!(
            "first_outstanding: {first_outstanding} (must be in 1..=seq {})",
            session.seq
        ));
    }
    if !op.is_data_op() {
        return Err("op: a session request wraps a put, get or del".into());
    }
    op.validate()
}

/// What applying an operation produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResult {
    /// A put was applied.
    Done,
    /// A get's answer.
    Value(Option<String>),
    /// A delete's answer: whether the key existed.
    Deleted(bool),
    /// A leader's no-op (never returned to a client).
    Noop,
    /// A session was opened; the client names it in its later requests.
    Registered {
        /// The new session.
        client: ClientId,
    },
    /// The request was not applied.
    Refused(Refusal),
}

/// Why the state machine refused a session request. Nothing was applied by the refused copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The session is not in the table: evicted (see [`MAX_SESSIONS`]) or never registered.
    /// An earlier copy of the request may have been applied while the session lived.
    #[error("session expired")]
    SessionExpired,
    /// The request's number is below the session's window: the client said it had the answer
    /// (a later request named a higher `first_outstanding`), so the result was discarded.
    #[error("stale request: seq {seq}, the session's window starts at {first_outstanding}")]
    StaleRequest {
        /// The request's number.
        seq: u64,
        /// The lowest number the session still remembers.
        first_outstanding: u64,
    },
    /// The request's number is [`MAX_SESSION_WINDOW`] or more above the lowest one its client
    /// still waits for: the session would have to remember too many results. A client keeps
    /// fewer requests in flight; retrying after earlier requests are answered succeeds.
    #[error("seq {seq} beyond the session's window: it starts at {first_outstanding} and holds {window}")]
    BeyondWindow {
        /// The request's number.
        seq: u64,
        /// The lowest number the session still remembers.
        first_outstanding: u64,
        /// [`MAX_SESSION_WINDOW`].
        window: u64,
    },
    /// Not a well-formed session request: seq 0, `first_outstanding` 0 or above seq, a session
    /// operation inside a session, or a number already used for another kind of operation.
    /// Servers validate requests, so only an entry from another build can be refused this way.
    #[error("malformed session request")]
    Malformed,
}

/// The answer a client gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOutcome {
    /// Committed and applied.
    Ok(KvResult),
    /// This node does not lead; try `leader` at `addr` if known.
    NotLeader {
        /// Who this node believes leads.
        leader: Option<u64>,
        /// That server's address.
        addr: Option<String>,
    },
    /// The request is malformed (too large); retrying will not help.
    Invalid {
        /// Which field, and why.
        reason: String,
    },
    /// The request failed (lost leadership before commit, node overloaded or shutting down);
    /// it may or may not have been applied, and may be retried.
    Failed {
        /// Why.
        reason: String,
    },
}

/// What a session remembers of an applied request, to answer a duplicate of it: one byte, so a
/// full window costs [`MAX_SESSION_WINDOW`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Remembered {
    /// A put: answered `Done` again.
    Put,
    /// A delete, and whether the key existed then.
    Deleted(bool),
    /// A get: read again at the duplicate's position, so no value is kept.
    Read,
}

impl Remembered {
    /// What to remember of a first application that produced `result`.
    fn of(result: &KvResult) -> Remembered {
        match result {
            KvResult::Done => Remembered::Put,
            KvResult::Deleted(existed) => Remembered::Deleted(*existed),
            KvResult::Value(_) => Remembered::Read,
            other => unreachable!("a put, get or delete answered {other:?}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SessionRecord {
    /// Log index of the newest entry naming this session (at first, its registration).
    active_at: LogIndex,
    /// The window's start: the highest `first_outstanding` any applied request named (1 at
    /// first). Results below it are discarded; requests below it are stale.
    first_outstanding: u64,
    /// `results[i]`: what request `first_outstanding + i` produced, if it was applied. Never
    /// longer than [`MAX_SESSION_WINDOW`], and never ending in `None`.
    results: VecDeque<Option<Remembered>>,
}

impl SessionRecord {
    /// Moves the window's start up to `first_outstanding` (never down), discarding the results
    /// below it.
    fn advance(&mut self, first_outstanding: u64) {
        if first_outstanding <= self.first_outstanding {
            return;
        }
        let drop = (first_outstanding - self.first_outstanding).min(self.results.len() as u64);
        self.results.drain(..drop as usize);
        self.first_outstanding = first_outstanding;
    }

    /// The slot of request `seq`, which must be inside the window.
    fn offset(&self, seq: u64) -> usize {
        assert!(seq >= self.first_outstanding);
        let offset = seq - self.first_outstanding;
        assert!(offset < MAX_SESSION_WINDOW, "checked by the caller");
        offset as usize
    }

    fn remember(&mut self, seq: u64, remembered: Remembered) {
        let offset = self.offset(seq);
        if self.results.len() <= offset {
            self.results.resize(offset + 1, None);
        }
        assert!(self.results[offset].is_none(), "a request applied twice");
        self.results[offset] = Some(remembered);
        assert!(self.results.len() as u64 <= MAX_SESSION_WINDOW);
    }

    fn recalled(&self, seq: u64) -> Option<Remembered> {
        self.results.get(self.offset(seq)).copied().flatten()
    }
}

/// The session table: bounded, evicting by log index only, so replicas evict identically.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Sessions {
    by_client: BTreeMap<ClientId, SessionRecord>,
    /// `active_at` → session. An entry names at most one session, so keys are unique.
    by_activity: BTreeMap<LogIndex, ClientId>,
}

impl Sessions {
    fn register(&mut self, index: LogIndex) -> ClientId {
        if self.by_client.len() == MAX_SESSIONS {
            let (_, oldest) = self.by_activity.pop_first().expect("the table is full");
            self.by_client
                .remove(&oldest)
                .expect("indexed session exists");
        }
        let client = ClientId(index.0);
        let record = SessionRecord {
            active_at: index,
            first_outstanding: 1,
            results: VecDeque::new(),
        };
        assert!(self.by_client.insert(client, record).is_none(), "id reused");
        assert!(self.by_activity.insert(index, client).is_none());
        self.check();
        client
    }

    /// The session's record, marked active at `index`; `None` if it is not in the table.
    fn touch(&mut self, client: ClientId, index: LogIndex) -> Option<&mut SessionRecord> {
        let record = self.by_client.get_mut(&client)?;
        assert!(index > record.active_at, "entries apply in log order");
        assert_eq!(self.by_activity.remove(&record.active_at), Some(client));
        self.by_activity.insert(index, client);
        record.active_at = index;
        Some(record)
    }

    fn check(&self) {
        assert!(self.by_client.len() <= MAX_SESSIONS);
        assert_eq!(self.by_client.len(), self.by_activity.len());
    }

    /// What `check` and the records' own assertions rely on, for a table decoded from a
    /// snapshot (which came from a file or a peer): an error instead of a later panic.
    fn validate(&self) -> Result<(), String> {
        if self.by_client.len() > MAX_SESSIONS {
            return Err(format!(
                "{} sessions, above {MAX_SESSIONS}",
                self.by_client.len()
            ));
        }
        if self.by_client.len() != self.by_activity.len() {
            return Err("session indices disagree".into());
        }
        for (client, record) in &self.by_client {
            if self.by_activity.get(&record.active_at) != Some(client) {
                return Err(format!(
                    "session {client} is not indexed at {}",
                    record.active_at
                ));
            }
            let len = record.results.len() as u64;
            if len > MAX_SESSION_WINDOW || record.results.back().is_some_and(Option::is_none) {
                return Err(format!("session {client} has a malformed window"));
            }
            if record.first_outstanding == 0 {
                return Err(format!("session {client} has first_outstanding 0"));
            }
        }
        Ok(())
    }
}

/// The state machine: the map and the client sessions, both replicated; a snapshot holds both
/// (exactly-once depends on the session table as much as on the map).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStore {
    /// A persistent map: cloning it (a snapshot) is O(1) and shares its structure.
    map: OrdMap<String, String>,
    sessions: Sessions,
    /// Index of the last applied entry (0 before any).
    applied: LogIndex,
}

impl KvStore {
    /// Applies the operation committed at `index`.
    ///
    /// A duplicate of a session's write gets the first copy's result and changes nothing.
    /// A duplicate `get` is read again here: the call that sent it began before the first copy
    /// was appended and has not returned, so this position is as linearizable as the first one,
    /// and the table need not hold values of up to [`MAX_VALUE_BYTES`] per request.
    ///
    /// # Panics
    /// If `index` is not above the last applied index (entries apply in log order, once).
    pub fn apply(&mut self, index: LogIndex, op: KvOp) -> KvResult {
        assert!(index > self.applied, "index {index} applied out of order");
        self.applied = index;
        match op {
            KvOp::Register => KvResult::Registered {
                client: self.sessions.register(index),
            },
            KvOp::Barrier => KvResult::Done,
            // Written by a client with one request in flight: every lower number was answered.
            KvOp::Session { session, op } => {
                self.apply_in_session(index, session, session.seq, *op)
            }
            KvOp::Windowed {
                session,
                first_outstanding,
                op,
            } => self.apply_in_session(index, session, first_outstanding, *op),
            op => execute(&mut self.map, op),
        }
    }

    /// An entry at `index` that changes nothing here (a leader's no-op, an op this build cannot
    /// decode) was applied: only the applied index moves, so that a snapshot taken there says
    /// the index it is at.
    ///
    /// # Panics
    /// If `index` is not above the last applied index.
    pub fn skip(&mut self, index: LogIndex) {
        assert!(index > self.applied, "index {index} applied out of order");
        self.applied = index;
    }

    fn apply_in_session(
        &mut self,
        index: LogIndex,
        session: Session,
        first_outstanding: u64,
        op: KvOp,
    ) -> KvResult {
        let seq = session.seq;
        if seq == 0 || first_outstanding == 0 || first_outstanding > seq || !op.is_data_op() {
            return KvResult::Refused(Refusal::Malformed);
        }
        let Some(record) = self.sessions.touch(session.client, index) else {
            return KvResult::Refused(Refusal::SessionExpired);
        };
        record.advance(first_outstanding);
        if seq < record.first_outstanding {
            return KvResult::Refused(Refusal::StaleRequest {
                seq,
                first_outstanding: record.first_outstanding,
            });
        }
        if seq - record.first_outstanding >= MAX_SESSION_WINDOW {
            return KvResult::Refused(Refusal::BeyondWindow {
                seq,
                first_outstanding: record.first_outstanding,
                window: MAX_SESSION_WINDOW,
            });
        }
        match (record.recalled(seq), &op) {
            (None, _) => {
                let result = execute(&mut self.map, op);
                record.remember(seq, Remembered::of(&result));
                result
            }
            (Some(Remembered::Read), KvOp::Get { .. }) => execute(&mut self.map, op),
            (Some(Remembered::Put), KvOp::Put { .. }) => KvResult::Done,
            (Some(Remembered::Deleted(existed)), KvOp::Delete { .. }) => KvResult::Deleted(existed),
            (Some(_), _) => KvResult::Refused(Refusal::Malformed),
        }
    }

    /// The value of `key` in the applied state, without going through the log.
    pub fn get(&self, key: &str) -> Option<String> {
        self.map.get(key).cloned()
    }

    /// Index of the last applied entry (0 before any).
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of open sessions.
    pub fn sessions(&self) -> usize {
        self.sessions.by_client.len()
    }

    /// The whole state as a snapshot's data: a format byte, then postcard.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        postcard::to_extend(self, vec![SNAPSHOT_FORMAT]).expect("the store always encodes")
    }

    /// The state a snapshot's data holds, which must be at `index`; an error names what is
    /// wrong (the data came from a file or a peer).
    pub fn decode_snapshot(index: LogIndex, data: &[u8]) -> Result<KvStore, String> {
        let (&format, body) = data.split_first().ok_or("empty KV snapshot")?;
        if format != SNAPSHOT_FORMAT {
            return Err(format!(
                "KV snapshot format {format}, expected {SNAPSHOT_FORMAT}"
            ));
        }
        let store: KvStore =
            postcard::from_bytes(body).map_err(|e| format!("undecodable KV snapshot: {e}"))?;
        if store.applied != index {
            return Err(format!(
                "KV snapshot is at index {}, the log's snapshot at {index}",
                store.applied
            ));
        }
        store.sessions.validate()?;
        Ok(store)
    }
}

/// The first byte of a KV snapshot: its encoding's version.
pub const SNAPSHOT_FORMAT: u8 = 1;

/// The store shared between the node loop, which applies committed entries to it, and the
/// client connections, which read it for [`Consistency::Sequential`] gets. One lock (from the
/// `sync` shim), held for one apply or one read: a reader sees the state after some whole
/// number of applied entries, never half of one.
#[derive(Debug, Default)]
pub struct SharedStore(Mutex<KvStore>);

impl SharedStore {
    /// A store holding `store`.
    pub fn new(store: KvStore) -> Self {
        SharedStore(Mutex::new(store))
    }

    /// Applies the operation committed at `index` ([`KvStore::apply`]).
    pub fn apply(&self, index: LogIndex, op: KvOp) -> KvResult {
        self.0.lock().apply(index, op)
    }

    /// An entry that changes nothing was applied at `index` ([`KvStore::skip`]).
    pub fn skip(&self, index: LogIndex) {
        self.0.lock().skip(index)
    }

    /// `key`'s value in the applied state now, and the index that state is at.
    pub fn get(&self, key: &str) -> (Option<String>, LogIndex) {
        let store = self.0.lock();
        (store.get(key), store.applied())
    }

    /// A copy of the whole state (tests and diagnostics).
    pub fn snapshot(&self) -> KvStore {
        self.0.lock().clone()
    }

    /// The state as a snapshot's data ([`KvStore::encode_snapshot`]).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        self.0.lock().encode_snapshot()
    }

    /// Replaces the state with a snapshot's ([`KvStore::decode_snapshot`]); on an error the
    /// state is unchanged.
    pub fn restore(&self, index: LogIndex, data: &[u8]) -> Result<(), String> {
        let store = KvStore::decode_snapshot(index, data)?;
        *self.0.lock() = store;
        Ok(())
    }
}

/// Applies a put, get or delete to the map.
fn execute(map: &mut OrdMap<String, String>, op: KvOp) -> KvResult {
    match op {
        KvOp::Put { key, value } => {
            map.insert(key, value);
            KvResult::Done
        }
        KvOp::Get { key } => KvResult::Value(map.get(&key).cloned()),
        KvOp::Delete { key } => KvResult::Deleted(map.remove(&key).is_some()),
        KvOp::Register | KvOp::Session { .. } | KvOp::Windowed { .. } | KvOp::Barrier => {
            unreachable!("callers pass data ops only")
        }
    }
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> KvOp {
        KvOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    fn get(key: &str) -> KvOp {
        KvOp::Get { key: key.into() }
    }

    fn in_session(client: ClientId, seq: u64, op: KvOp) -> KvOp {
        KvOp::Session {
            session: Session { client, seq },
            op: Box::new(op),
        }
    }

    /// A store and a log index counter: `step` applies the next entry.
    struct Log {
        kv: KvStore,
        next: u64,
    }

    impl Log {
        fn new() -> Self {
            Log {
                kv: KvStore::default(),
                next: 1,
            }
        }

        fn step(&mut self, op: KvOp) -> KvResult {
            let index = LogIndex(self.next);
            self.next += 1;
            self.kv.apply(index, op)
        }

        fn register(&mut self) -> ClientId {
            match self.step(KvOp::Register) {
                KvResult::Registered { client } => client,
                other => panic!("register answered {other:?}"),
            }
        }
    }

    #[test]
    fn put_get_delete() {
        let mut log = Log::new();
        assert_eq!(log.step(get("k")), KvResult::Value(None));
        assert_eq!(log.step(put("k", "v")), KvResult::Done);
        assert_eq!(log.step(get("k")), KvResult::Value(Some("v".into())));
        let del = || KvOp::Delete { key: "k".into() };
        assert_eq!(log.step(del()), KvResult::Deleted(true));
        assert_eq!(log.step(del()), KvResult::Deleted(false));
    }

    /// The user's fault probe, at the state machine: put A (c1, seq 1), put B (c2, seq 1), and
    /// the retry of put A (c1, seq 1). Without sessions the log reads A, B, A.
    #[test]
    fn retried_put_after_another_clients_write_is_not_applied_again() {
        let mut log = Log::new();
        let (c1, c2) = (log.register(), log.register());
        assert_ne!(c1, c2);
        let first = log.step(in_session(c1, 1, put("x", "A")));
        assert_eq!(first, KvResult::Done);
        assert_eq!(log.step(in_session(c2, 1, put("x", "B"))), KvResult::Done);
        let retry = log.step(in_session(c1, 1, put("x", "A")));
        assert_eq!(retry, first, "the duplicate gets the first copy's result");
        assert_eq!(log.step(get("x")), KvResult::Value(Some("B".into())));
        // The next request of c1 applies normally.
        assert_eq!(log.step(in_session(c1, 2, put("x", "C"))), KvResult::Done);
        assert_eq!(log.step(get("x")), KvResult::Value(Some("C".into())));
    }

    #[test]
    fn duplicate_delete_gets_the_first_answer() {
        let mut log = Log::new();
        let c = log.register();
        log.step(put("k", "v"));
        let del = || in_session(c, 1, KvOp::Delete { key: "k".into() });
        assert_eq!(log.step(del()), KvResult::Deleted(true));
        log.step(put("k", "again"));
        assert_eq!(log.step(del()), KvResult::Deleted(true));
        assert_eq!(log.step(get("k")), KvResult::Value(Some("again".into())));
    }

    /// A duplicate read is read again at its own position (no value is kept in the table).
    #[test]
    fn duplicate_get_reads_at_its_own_position() {
        let mut log = Log::new();
        let (c1, c2) = (log.register(), log.register());
        log.step(put("k", "old"));
        let read = || in_session(c1, 1, get("k"));
        assert_eq!(log.step(read()), KvResult::Value(Some("old".into())));
        log.step(in_session(c2, 1, put("k", "new")));
        assert_eq!(log.step(read()), KvResult::Value(Some("new".into())));
    }

    #[test]
    fn older_request_is_refused_as_stale_and_not_applied() {
        let mut log = Log::new();
        let c = log.register();
        log.step(in_session(c, 1, put("k", "1")));
        log.step(in_session(c, 2, put("k", "2")));
        assert_eq!(
            log.step(in_session(c, 1, put("k", "1"))),
            KvResult::Refused(Refusal::StaleRequest {
                seq: 1,
                first_outstanding: 2
            })
        );
        assert_eq!(log.step(get("k")), KvResult::Value(Some("2".into())));
    }

    #[test]
    fn unknown_session_is_refused_and_not_applied() {
        let mut log = Log::new();
        assert_eq!(
            log.step(in_session(ClientId(99), 1, put("k", "v"))),
            KvResult::Refused(Refusal::SessionExpired)
        );
        assert_eq!(log.step(get("k")), KvResult::Value(None));
    }

    #[test]
    fn seq_reused_for_another_kind_of_operation_is_refused() {
        let mut log = Log::new();
        let c = log.register();
        log.step(in_session(c, 1, put("k", "v")));
        assert_eq!(
            log.step(in_session(c, 1, KvOp::Delete { key: "k".into() })),
            KvResult::Refused(Refusal::Malformed)
        );
        assert_eq!(
            log.step(in_session(c, 2, KvOp::Register)),
            KvResult::Refused(Refusal::Malformed)
        );
        assert_eq!(log.step(get("k")), KvResult::Value(Some("v".into())));
    }

    /// A full table evicts the session whose newest entry is the oldest; that client is then
    /// refused, including the retry of a request applied while its session lived.
    #[test]
    fn full_table_evicts_the_least_recently_active_session() {
        let mut log = Log::new();
        let idle = log.register();
        let busy = log.register();
        log.step(in_session(idle, 1, put("k", "idle")));
        // `busy` writes after `idle`, so `idle` is the least recently active.
        log.step(in_session(busy, 1, put("k", "busy")));
        for _ in 2..MAX_SESSIONS {
            log.register();
        }
        assert_eq!(log.kv.sessions(), MAX_SESSIONS);
        log.register(); // evicts `idle`
        assert_eq!(log.kv.sessions(), MAX_SESSIONS);
        assert_eq!(
            log.step(in_session(idle, 1, put("k", "idle"))),
            KvResult::Refused(Refusal::SessionExpired)
        );
        assert_eq!(
            log.step(in_session(busy, 1, put("k", "busy"))),
            KvResult::Done
        );
        // The retry made `busy` the most recently active: the next eviction spares it.
        log.register();
        assert_eq!(
            log.step(in_session(busy, 2, get("k"))),
            KvResult::Value(Some("busy".into()))
        );
    }

    fn windowed(client: ClientId, seq: u64, first_outstanding: u64, op: KvOp) -> KvOp {
        KvOp::Windowed {
            session: Session { client, seq },
            first_outstanding,
            op: Box::new(op),
        }
    }

    fn del(key: &str) -> KvOp {
        KvOp::Delete { key: key.into() }
    }

    /// A snapshot holds the map and the session table: a retry of a request applied before
    /// the snapshot is still a duplicate after a restore (exactly-once across compaction).
    #[test]
    fn a_snapshot_restores_the_sessions_so_a_retry_after_it_is_a_duplicate() {
        let mut log = Log::new();
        let c = log.register();
        log.step(windowed(c, 1, 1, put("k", "first")));
        log.step(windowed(c, 2, 1, del("gone")));
        let data = log.kv.encode_snapshot();
        let restored = KvStore::decode_snapshot(LogIndex(3), &data).unwrap();
        assert_eq!(restored, log.kv);
        let mut after = Log {
            kv: restored,
            next: 4,
        };
        after.step(put("k", "other")); // another client's write
                                       // The retry of request 1 is answered from the table, not applied again.
        assert_eq!(
            after.step(windowed(c, 1, 1, put("k", "first"))),
            KvResult::Done
        );
        assert_eq!(after.kv.get("k").as_deref(), Some("other"));
        assert_eq!(
            after.step(windowed(c, 2, 1, del("gone"))),
            KvResult::Deleted(false)
        );
        // A snapshot must be at the index it claims, and be whole.
        assert!(KvStore::decode_snapshot(LogIndex(4), &data)
            .unwrap_err()
            .contains("at index 3, the log's snapshot at 4"));
        assert!(
            KvStore::decode_snapshot(LogIndex(3), &data[..data.len() - 1])
                .unwrap_err()
                .starts_with("undecodable KV snapshot")
        );
        let mut broken = log.kv.clone();
        broken.sessions.by_activity.clear();
        let err = KvStore::decode_snapshot(LogIndex(3), &broken.encode_snapshot()).unwrap_err();
        assert_eq!(err, "session indices disagree");
    }

    /// What session `client` remembers: the window's start and how many slots it holds.
    fn window(log: &Log, client: ClientId) -> (u64, usize) {
        let record = &log.kv.sessions.by_client[&client];
        (record.first_outstanding, record.results.len())
    }

    /// Pipelined requests apply in log order, which need not be their numbering (a resend
    /// after a leader change can land after a later request): all inside the window apply once.
    #[test]
    fn requests_inside_the_window_apply_in_log_order_whatever_their_numbers() {
        let mut log = Log::new();
        let c = log.register();
        assert_eq!(log.step(windowed(c, 1, 1, put("a", "1"))), KvResult::Done);
        assert_eq!(log.step(windowed(c, 3, 1, put("c", "3"))), KvResult::Done);
        assert_eq!(log.step(windowed(c, 2, 1, put("b", "2"))), KvResult::Done);
        assert_eq!(window(&log, c), (1, 3));
        for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
            assert_eq!(log.step(get(key)), KvResult::Value(Some(value.into())));
        }
    }

    /// The retry of seq 5 after seq 6 applied, with 5 still outstanding: a duplicate inside the
    /// window, answered from the record (with only the last number kept, it was refused as stale).
    #[test]
    fn a_duplicate_inside_the_window_gets_the_first_answer_and_is_not_applied() {
        let mut log = Log::new();
        let (c, other) = (log.register(), log.register());
        log.step(put("k", "v"));
        assert_eq!(log.step(windowed(c, 5, 5, put("x", "A"))), KvResult::Done);
        assert_eq!(
            log.step(windowed(c, 6, 5, del("k"))),
            KvResult::Deleted(true)
        );
        log.step(windowed(other, 1, 1, put("x", "B")));
        log.step(put("k", "again"));
        // Retries of 5 and 6, still outstanding: the first answers, nothing applied again.
        assert_eq!(log.step(windowed(c, 5, 5, put("x", "A"))), KvResult::Done);
        assert_eq!(
            log.step(windowed(c, 6, 5, del("k"))),
            KvResult::Deleted(true)
        );
        assert_eq!(log.step(get("x")), KvResult::Value(Some("B".into())));
        assert_eq!(log.step(get("k")), KvResult::Value(Some("again".into())));
        // A duplicate read is read again at its own position.
        assert_eq!(
            log.step(windowed(c, 7, 5, get("x"))),
            KvResult::Value(Some("B".into()))
        );
        log.step(windowed(other, 2, 2, put("x", "C")));
        assert_eq!(
            log.step(windowed(c, 7, 5, get("x"))),
            KvResult::Value(Some("C".into()))
        );
        // The same number for another kind of operation is malformed.
        assert_eq!(
            log.step(windowed(c, 5, 5, del("x"))),
            KvResult::Refused(Refusal::Malformed)
        );
    }

    /// `first_outstanding` discards the answers below it: their requests are then stale, and the
    /// record shrinks; a request naming an older start does not move the window back.
    #[test]
    fn answers_below_first_outstanding_are_discarded_and_their_requests_refused_as_stale() {
        let mut log = Log::new();
        let c = log.register();
        for seq in 1..=4 {
            log.step(windowed(c, seq, 1, put("k", &seq.to_string())));
        }
        assert_eq!(window(&log, c), (1, 4));
        // The client had the answers of 1 and 2.
        assert_eq!(log.step(windowed(c, 5, 3, put("k", "5"))), KvResult::Done);
        assert_eq!(window(&log, c), (3, 3));
        assert_eq!(
            log.step(windowed(c, 2, 1, put("k", "2"))),
            KvResult::Refused(Refusal::StaleRequest {
                seq: 2,
                first_outstanding: 3
            })
        );
        // A late request naming the older start (sent before 5) does not move the window back.
        assert_eq!(log.step(windowed(c, 4, 1, put("k", "4"))), KvResult::Done);
        assert_eq!(window(&log, c), (3, 3));
        assert_eq!(log.step(get("k")), KvResult::Value(Some("5".into())));
        // Everything answered: the record holds nothing but its start.
        assert_eq!(
            log.step(windowed(c, 6, 6, get("k"))),
            KvResult::Value(Some("5".into()))
        );
        assert_eq!(window(&log, c), (6, 1));
        assert_eq!(
            log.step(windowed(c, 7, 7, get("k"))),
            KvResult::Value(Some("5".into()))
        );
        assert_eq!(window(&log, c), (7, 1));
    }

    /// A session remembers at most MAX_SESSION_WINDOW results: a number that far above the
    /// window's start is refused, not applied; the last number inside it is applied.
    #[test]
    fn a_request_beyond_the_window_is_refused_and_the_record_stays_bounded() {
        let mut log = Log::new();
        let c = log.register();
        let last_inside = MAX_SESSION_WINDOW;
        assert_eq!(
            log.step(windowed(c, last_inside, 1, put("k", "in"))),
            KvResult::Done
        );
        assert_eq!(window(&log, c), (1, MAX_SESSION_WINDOW as usize));
        assert_eq!(
            log.step(windowed(c, last_inside + 1, 1, put("k", "out"))),
            KvResult::Refused(Refusal::BeyondWindow {
                seq: last_inside + 1,
                first_outstanding: 1,
                window: MAX_SESSION_WINDOW
            })
        );
        assert_eq!(log.step(get("k")), KvResult::Value(Some("in".into())));
        assert_eq!(window(&log, c), (1, MAX_SESSION_WINDOW as usize));
        // Once the client had the earlier answers, the same number fits.
        assert_eq!(
            log.step(windowed(c, last_inside + 1, 2, put("k", "out"))),
            KvResult::Done
        );
        assert_eq!(window(&log, c), (2, MAX_SESSION_WINDOW as usize));
    }

    /// An entry of the pre-window `Session` kind is a window that starts at its own number:
    /// exactly the old rules (duplicate of the last, stale below it).
    #[test]
    fn a_pre_window_session_entry_starts_the_window_at_its_number() {
        let mut log = Log::new();
        let c = log.register();
        log.step(windowed(c, 1, 1, put("k", "1")));
        log.step(windowed(c, 2, 1, put("k", "2")));
        assert_eq!(log.step(in_session(c, 2, put("k", "2"))), KvResult::Done);
        assert_eq!(window(&log, c), (2, 1));
        assert_eq!(
            log.step(in_session(c, 1, put("k", "1"))),
            KvResult::Refused(Refusal::StaleRequest {
                seq: 1,
                first_outstanding: 2
            })
        );
    }

    #[test]
    fn malformed_windows_are_refused_by_validation_and_by_the_state_machine() {
        let mut log = Log::new();
        let c = log.register();
        for (seq, first_outstanding) in [(3, 4), (3, 0), (0, 0)] {
            let op = windowed(c, seq, first_outstanding, put("k", "v"));
            assert!(op.validate().is_err(), "{op:?}");
            assert_eq!(log.step(op), KvResult::Refused(Refusal::Malformed));
        }
        let err = windowed(c, 3, 4, put("k", "v")).validate().unwrap_err();
        assert!(err.starts_with("first_outstanding:"), "{err}");
        assert_eq!(windowed(c, 3, 1, get("k")).validate(), Ok(()));
        assert!(windowed(c, 3, 1, get("k")).is_read());
        assert!(!windowed(c, 3, 1, del("k")).is_read());
        assert_eq!(log.step(get("k")), KvResult::Value(None));
    }

    /// Readers of the shared store see whole applies; its reads carry the applied index.
    #[test]
    fn the_shared_store_reads_what_was_applied() {
        let shared = SharedStore::default();
        assert_eq!(shared.get("k"), (None, LogIndex(0)));
        shared.apply(LogIndex(1), put("k", "v"));
        assert_eq!(shared.get("k"), (Some("v".into()), LogIndex(1)));
        assert_eq!(shared.snapshot().len(), 1);
    }

    /// Replicas that apply the same log end in the same state, sessions included.
    #[test]
    fn replaying_the_log_rebuilds_the_same_sessions() {
        let ops = |c: ClientId| {
            vec![
                in_session(c, 1, put("a", "1")),
                in_session(c, 1, put("a", "1")),
                in_session(c, 2, get("a")),
                in_session(ClientId(7), 1, put("b", "2")),
            ]
        };
        let run = || {
            let mut log = Log::new();
            let c = log.register();
            let results: Vec<_> = ops(c).into_iter().map(|op| log.step(op)).collect();
            (log.kv, results)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn oversized_key_is_refused_naming_the_field() {
        let op = KvOp::Get {
            key: "x".repeat(MAX_KEY_BYTES + 1),
        };
        assert!(op.validate().unwrap_err().starts_with("key:"));
        let wrapped = in_session(ClientId(1), 1, op);
        assert!(wrapped.validate().unwrap_err().starts_with("key:"));
    }

    #[test]
    fn malformed_session_requests_are_refused_naming_the_field() {
        let seq0 = in_session(ClientId(1), 0, get("k"));
        assert!(seq0.validate().unwrap_err().starts_with("seq:"));
        let nested = in_session(ClientId(1), 1, in_session(ClientId(1), 1, get("k")));
        assert!(nested.validate().unwrap_err().starts_with("op:"));
        assert_eq!(KvOp::Register.validate(), Ok(()));
    }

    /// Entries written before sessions existed keep their encoding.
    #[test]
    fn data_ops_keep_their_encoding() {
        let bytes = postcard::to_allocvec(&put("k", "v")).unwrap();
        assert_eq!(bytes, [0, 1, b'k', 1, b'v']);
        let bytes = postcard::to_allocvec(&get("k")).unwrap();
        assert_eq!(bytes, [1, 1, b'k']);
        let bytes = postcard::to_allocvec(&KvOp::Delete { key: "k".into() }).unwrap();
        assert_eq!(bytes, [2, 1, b'k']);
        let op = in_session(ClientId(300), 2, put("k", "v"));
        let bytes = postcard::to_allocvec(&op).unwrap();
        assert_eq!(bytes, [4, 0xac, 2, 2, 0, 1, b'k', 1, b'v']);
        assert_eq!(postcard::from_bytes::<KvOp>(&bytes).unwrap(), op);
        let op = windowed(ClientId(300), 2, 1, put("k", "v"));
        let bytes = postcard::to_allocvec(&op).unwrap();
        assert_eq!(bytes[0], 5, "Windowed comes after every older variant");
        assert_eq!(postcard::from_bytes::<KvOp>(&bytes).unwrap(), op);
    }
}
