//! The global state of the FLE model: servers, their election connections, the fault budget, and
//! the ghost history the properties read.

use serde::Serialize;
use std::hash::{Hash, Hasher};

use super::server::FleServer;
use super::types::{Notification, Sid, MAX_SERVERS};
use crate::copyvec::CopyVec;

/// One server: whether its process runs, and its election state. Its history (epoch, zxid) is
/// constant in this model and lives in the configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Node {
    pub up: bool,
    #[serde(flatten)]
    pub fle: FleServer,
}

/// The connection from one server to another (QuorumCnxManager): the send queue holds one
/// message (`SEND_CAPACITY = 1`, a newer message replaces an older one), and the sender remembers
/// the last message it sent (`lastMessageSent`), which it sends again when the connection is
/// re-established. The queue and the socket are one slot here: `last` with `pending` set is in
/// flight; with `pending` clear it was delivered (or lost) and is kept only while a reconnect
/// could send it again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Chan {
    pub last: Option<Notification>,
    pub pending: bool,
}

impl Hash for Chan {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.last.map_or(0, |n| n.packed() | 1 << 62) | (self.pending as u64) << 63);
    }
}

impl Chan {
    /// The message in flight, if any.
    pub fn in_flight(&self) -> Option<Notification> {
        self.last.filter(|_| self.pending)
    }
}

/// History no server keeps, for the properties (ZooKeeper's TLA+ specs keep the like).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Ghost {
    /// Per server, the leaders it decided for (FOLLOWING or LEADING), over the whole run.
    pub decided: [u8; MAX_SERVERS],
    /// A LOOKING server's proposal moved down (or sideways) in the vote order within a round.
    pub vote_circle: bool,
    /// A server decided without a quorum that really voted (or decided) for the leader.
    pub unbacked_decision: bool,
    /// A LOOKING-path decision for a leader less up to date than a server of its quorum.
    pub leader_behind: bool,
    /// A live server's `logicalclock` went down while it stayed LOOKING, or a new election did
    /// not start in a later round than the one it decided in.
    pub round_went_back: bool,
    /// A LOOKING server took a proposal that is neither its own vote nor the vote of a LOOKING
    /// notification of the round it is now in.
    pub foreign_vote: bool,
}

// Sets of servers are bitmasks of a `u8`.
const _: () = assert!(MAX_SERVERS <= 8);

/// The state of the whole system. Its `Debug` is the compact per-server view (fle/spec.rs).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct FleState {
    pub servers: CopyVec<Node, MAX_SERVERS>,
    /// `chans[src][dst]`; `chans[i][i]` is the loopback a server's own notifications take.
    pub chans: [[Chan; MAX_SERVERS]; MAX_SERVERS],
    /// Crashes so far.
    pub crashes: u8,
    #[serde(skip)]
    pub ghost: Ghost,
}

impl Hash for FleState {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let n = self.servers.len();
        self.servers.hash(h);
        for row in &self.chans[..n] {
            Chan::hash_slice(&row[..n], h);
        }
        h.write_u8(self.crashes);
        self.ghost.hash(h);
    }
}

impl FleState {
    pub fn node(&self, s: Sid) -> &Node {
        &self.servers[s.ix()]
    }

    pub fn chan(&self, src: Sid, dst: Sid) -> &Chan {
        &self.chans[src.ix()][dst.ix()]
    }
}
