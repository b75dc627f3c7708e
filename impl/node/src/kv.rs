//! The replicated key-value state machine: operations, client sessions, results, and their
//! application.
//!
//! Every operation, reads included, goes through the log: a `get` is answered with the value
//! at the point where its entry is applied, after every write committed before it. That is
//! the "log round trip" way to linearizable reads (Raft thesis §6.4 names the alternative,
//! ReadIndex, which saves the log write but needs a heartbeat round). Since a leader only
//! learns an entry is committed through a quorum, a deposed leader cannot answer a stale read.
//!
//! **Client sessions make a retried write apply once** (Raft thesis §6.3). A client whose
//! attempt timed out cannot know whether its entry was committed, so it sends it again; without
//! sessions the second copy is applied a second time, possibly after other clients' writes
//! (readers see A, B, A). A client first appends [`KvOp::Register`]; the log index of that entry
//! is its [`ClientId`]. It then numbers its requests 1, 2, 3… and wraps each in
//! [`KvOp::Session`]; a retry reuses the number. The table of sessions is part of the replicated
//! state ([`KvStore`]), so every replica decides the same way:
//! - `seq` above the session's last applied one: applied, and its result remembered;
//! - `seq` equal to it: a duplicate, answered from the record without applying it again
//!   (a duplicate `get` is read again at its own position, see [`KvStore::apply`]);
//! - `seq` below it: [`Refusal::StaleRequest`], not applied;
//! - an unknown session (evicted, or never registered): [`Refusal::SessionExpired`], not applied.
//!
//! Sessions expire by the log, never by a clock: the table holds at most [`MAX_SESSIONS`], and
//! registering one more evicts the session whose newest entry has the lowest log index.

use ballot_core::LogIndex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest value accepted, in bytes (well below the 512 KiB frame limit).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Sessions the state machine remembers at once. A record is a few dozen bytes (results of
/// reads are not kept), so the table stays under a megabyte; a client idle while this many
/// other sessions register or write is the one that expires.
pub const MAX_SESSIONS: usize = 10_000;

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

/// A client operation, and the log entry's payload (postcard).
///
/// The encoding only grows at the end: `Put`, `Get` and `Delete` keep their variant numbers, so
/// an entry written before sessions existed still decodes (and applies without deduplication).
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
    /// `op` (a put, get or delete) as request `session.seq` of `session.client`.
    Session {
        /// Who sends it, and its number.
        session: Session,
        /// The operation.
        op: Box<KvOp>,
    },
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
            KvOp::Register => return Ok(()),
            KvOp::Session { session, op } => {
                if session.seq == 0 {
                    return Err("seq: 0 (request numbers start at 1)".into());
                }
                if !op.is_data_op() {
                    return Err("op: a session request wraps a put, get or del".into());
                }
                return op.validate();
            }
        };
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("key: {} bytes > max {MAX_KEY_BYTES}", key.len()));
        }
        Ok(())
    }

    /// Whether this is a put, get or delete (not a session operation).
    pub fn is_data_op(&self) -> bool {
        matches!(
            self,
            KvOp::Put { .. } | KvOp::Get { .. } | KvOp::Delete { .. }
        )
    }
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
    /// The session already applied a later request, and keeps only the latest result.
    #[error("stale request: seq {seq}, the session is at {last}")]
    StaleRequest {
        /// The request's number.
        seq: u64,
        /// The session's last applied number.
        last: u64,
    },
    /// Not a well-formed session request: seq 0, a session operation inside a session, or a
    /// number already used for another kind of operation. Servers validate requests, so only an
    /// entry from another build can be refused this way.
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

/// What a session remembers of its last applied request, to answer a duplicate of it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Remembered {
    /// A put's or delete's result, returned again.
    Write(KvResult),
    /// A get: read again at the duplicate's position, so no value is kept.
    Read,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SessionRecord {
    /// Log index of the newest entry naming this session (at first, its registration).
    active_at: LogIndex,
    /// The last applied request's number and what it produced; `None` before the first.
    last: Option<(u64, Remembered)>,
}

/// The session table: bounded, evicting by log index only, so replicas evict identically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
            last: None,
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
}

/// The state machine: the map and the client sessions, both replicated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    map: BTreeMap<String, String>,
    sessions: Sessions,
    /// Index of the last applied entry (0 before any).
    applied: LogIndex,
}

impl KvStore {
    /// Applies the operation committed at `index`.
    ///
    /// A duplicate of a session's last write gets the first copy's result and changes nothing.
    /// A duplicate `get` is read again here: the call that sent it began before the first copy
    /// was appended and has not returned, so this position is as linearizable as the first one,
    /// and the table need not hold values of up to [`MAX_VALUE_BYTES`] per session.
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
            KvOp::Session { session, op } => self.apply_in_session(index, session, *op),
            op => execute(&mut self.map, op),
        }
    }

    fn apply_in_session(&mut self, index: LogIndex, session: Session, op: KvOp) -> KvResult {
        if session.seq == 0 || !op.is_data_op() {
            return KvResult::Refused(Refusal::Malformed);
        }
        let Some(record) = self.sessions.touch(session.client, index) else {
            return KvResult::Refused(Refusal::SessionExpired);
        };
        match &record.last {
            Some((last, _)) if session.seq < *last => KvResult::Refused(Refusal::StaleRequest {
                seq: session.seq,
                last: *last,
            }),
            Some((last, remembered)) if session.seq == *last => match (remembered, &op) {
                (Remembered::Read, KvOp::Get { .. }) => execute(&mut self.map, op),
                (Remembered::Write(result @ KvResult::Done), KvOp::Put { .. })
                | (Remembered::Write(result @ KvResult::Deleted(_)), KvOp::Delete { .. }) => {
                    result.clone()
                }
                _ => KvResult::Refused(Refusal::Malformed),
            },
            _ => {
                let is_read = matches!(op, KvOp::Get { .. });
                let result = execute(&mut self.map, op);
                let remembered = if is_read {
                    Remembered::Read
                } else {
                    Remembered::Write(result.clone())
                };
                record.last = Some((session.seq, remembered));
                result
            }
        }
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
}

/// Applies a put, get or delete to the map.
fn execute(map: &mut BTreeMap<String, String>, op: KvOp) -> KvResult {
    match op {
        KvOp::Put { key, value } => {
            map.insert(key, value);
            KvResult::Done
        }
        KvOp::Get { key } => KvResult::Value(map.get(&key).cloned()),
        KvOp::Delete { key } => KvResult::Deleted(map.remove(&key).is_some()),
        KvOp::Register | KvOp::Session { .. } => unreachable!("callers pass data ops only"),
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
            KvResult::Refused(Refusal::StaleRequest { seq: 1, last: 2 })
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
        assert_eq!(postcard::from_bytes::<KvOp>(&bytes).unwrap(), op);
    }
}
