//! The global state of the ZAB model: servers, network, fault budget, and ghost history.

use arrayvec::ArrayVec;
use serde::Serialize;

use super::config::{MAX_EPOCH, MAX_TXNS};
use super::types::{
    last_zxid, FollowerStage, LeaderStage, Msg, Phase, ServerId, Txn, Txns, Zxid, MAX_LOG,
    MAX_SERVERS,
};
use crate::copyvec::CopyVec;
use crate::network::{Network, NetworkKind};
use crate::permute::permute_groups;

/// One server. The first three fields are persistent (ZooKeeper's `acceptedEpoch` and
/// `currentEpoch` files and its transaction log); the rest are lost on a crash. Fields that do not
/// apply to the server's role are zero, so that equal situations are equal states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Server {
    /// The last epoch this server agreed to (the paper's f.p).
    pub accepted_epoch: super::types::Epoch,
    /// The epoch of the last leader whose history this server took (the paper's f.a).
    pub current_epoch: super::types::Epoch,
    /// The transaction log on disk.
    pub log: Txns,
    pub up: bool,
    pub phase: Phase,
    /// Follower: the leader it follows.
    pub peer: ServerId,
    /// Leader: the epoch it proposes (fixed from `Discovery` on). Follower: the epoch of its
    /// leader's LEADERINFO.
    pub epoch: super::types::Epoch,
    /// How many transactions of [`Server::history`] this server has delivered (applied to its
    /// state machine while serving). Kept across a return to LOOKING (ZooKeeper keeps its
    /// in-memory database), lost on a crash.
    pub committed: u8,
    /// Transactions handed to the SyncThread (`SyncRequestProcessor`), not yet on disk.
    pub queue: Txns,
    /// Follower, synchronizing: how many transactions at the head of `queue` the leader already
    /// committed (they need no ACK).
    pub queue_committed: u8,
    /// Follower, synchronizing: transactions received from the leader and not yet logged
    /// (`packetsNotLogged`).
    pub pending: Txns,
    /// How many transactions at the head of `pending` the leader committed (`packetsCommitted`).
    pub pending_committed: u8,
    /// Follower, in `NewLeader`: the steps still to do (bits of [`super::step::NL_BITS`]).
    pub nl_todo: u8,
    /// Mutant ZK-2845: the in-memory database was kept across a return to LOOKING without being
    /// brought up to the log.
    pub retained: bool,
    /// Leader: learners with a live connection (a LearnerHandler).
    pub connected: u8,
    /// Leader, `Epoch` stage: servers whose FOLLOWERINFO counts towards fixing the epoch (itself
    /// included).
    pub infos: u8,
    /// Leader: learners whose ACKEPOCH arrived and who wait for the history.
    pub ack_epoch: u8,
    /// Leader, `Discovery` stage: ACKEPOCHs that count towards the quorum (itself included).
    pub epoch_acks: u8,
    /// Leader: learners sent NEWLEADER, hence forwarded every PROPOSAL and COMMIT since
    /// (`forwardingFollowers`).
    pub synced: u8,
    /// Leader: learners whose first ACK after NEWLEADER arrived (their LearnerHandler moved on).
    pub nl_first: u8,
    /// Leader: ACKs of NEWLEADER that count towards the quorum (itself included).
    pub nl_acks: u8,
    /// Leader: each waiting learner's last zxid, from its ACKEPOCH.
    pub peer_last: [Zxid; MAX_SERVERS],
    /// Leader, `Broadcast`: per log position not yet committed, the servers that acknowledged it.
    pub acks: [u8; MAX_LOG],
}

impl Server {
    pub(crate) fn new() -> Self {
        Server {
            up: true,
            ..Server::default()
        }
    }

    /// The history as the server holds it in memory: the log, then what the SyncThread has not
    /// yet written, then what the synchronization has not yet handed over.
    pub fn history(&self) -> ArrayVec<Txn, { 3 * MAX_LOG }> {
        let mut h = ArrayVec::new();
        h.extend(self.log.iter().copied());
        h.extend(self.queue.iter().copied());
        h.extend(self.pending.iter().copied());
        h
    }

    /// The delivered prefix of the history.
    pub fn delivered(&self) -> ArrayVec<Txn, { 3 * MAX_LOG }> {
        let mut h = self.history();
        h.truncate(self.committed as usize);
        h
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.phase, Phase::Leading(_))
    }

    pub fn leader_stage(&self) -> Option<LeaderStage> {
        match self.phase {
            Phase::Leading(s) => Some(s),
            _ => None,
        }
    }

    pub fn follower_stage(&self) -> Option<FollowerStage> {
        match self.phase {
            Phase::Following(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this server follows `leader`.
    pub fn follows(&self, leader: ServerId) -> bool {
        matches!(self.phase, Phase::Following(_)) && self.peer == leader
    }

    /// An established leader (ZooKeeper's zabState SYNCHRONIZATION or BROADCAST while LEADING).
    pub fn is_established_leader(&self) -> bool {
        matches!(
            self.phase,
            Phase::Leading(LeaderStage::Synchronization | LeaderStage::Broadcast)
        )
    }

    pub fn last_logged(&self) -> Zxid {
        last_zxid(&self.log)
    }

    /// Forgets everything volatile, keeping the persistent fields and `up`.
    pub(crate) fn reset_volatile(&mut self) {
        *self = Server {
            accepted_epoch: self.accepted_epoch,
            current_epoch: self.current_epoch,
            log: self.log,
            up: self.up,
            ..Server::default()
        };
    }
}

/// History the properties need but no server keeps (Zab.tla's verification variables).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Ghost {
    /// Per epoch, the servers that have been established leader of it (Zab.tla `epochLeader`).
    pub leaders: [u8; MAX_EPOCH as usize + 1],
    /// Every client transaction a leader broadcast, with the leader, in the order proposed
    /// (Zab.tla `proposalMsgsLog`).
    pub proposed: CopyVec<(Txn, ServerId), { MAX_TXNS as usize }>,
    /// Per history position, the transaction some server delivered there (the committed
    /// history). Starts with the prefix of the initial histories that a majority holds: ZAB
    /// keeps such a prefix in every later leader's history, exactly as if it was committed.
    pub committed: Txns,
    /// Two servers delivered different transactions at one position, or one server's delivered
    /// prefix changed under it.
    pub conflict: bool,
    /// A follower received a COMMIT that names no transaction it holds next (Zab paper Issue 1;
    /// AlphaCanisMajoris' `daInv.commitConsistent`).
    pub bad_commit: bool,
    /// A leader synchronizing a learner received, as the reply to NEWLEADER, an ACK of something
    /// else (`daInv.ackConsistent`).
    pub bad_ack: bool,
}

/// The state of the whole system. Its `Debug` is the compact per-server view (zab/spec.rs).
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ZabState {
    pub servers: CopyVec<Server, MAX_SERVERS>,
    #[serde(rename = "in_flight")]
    pub network: Network<Msg>,
    /// Crashes so far.
    pub crashes: u8,
    /// Client transactions proposed so far.
    pub proposals: u8,
    /// The FastLeaderElection half (`--election fle`); none under the oracle.
    pub election: Option<Box<super::election::ElectionState>>,
    #[serde(skip)]
    pub ghost: Ghost,
}

impl ZabState {
    pub(crate) fn new(servers: usize) -> Self {
        ZabState {
            servers: (0..servers).map(|_| Server::new()).collect(),
            network: Network::default(),
            crashes: 0,
            proposals: 0,
            election: None,
            ghost: Ghost::default(),
        }
    }

    pub fn server(&self, id: ServerId) -> &Server {
        &self.servers[id.ix()]
    }

    /// The canonical representative of this state's symmetry class. With the oracle election no
    /// ZAB rule compares server ids, so a state with servers renamed behaves identically.
    ///
    /// Servers are ordered by their id-free fields; servers that tie are ordered every possible
    /// way, and the renaming with the smallest fingerprint wins. Every state of a class yields the
    /// same set of candidates, hence the same representative, which lets a discovered path be
    /// replayed from concrete states by matching representatives' fingerprints.
    pub(crate) fn representative(&self, kind: NetworkKind) -> Self {
        assert!(
            self.election.is_none(),
            "FastLeaderElection orders servers by id: no symmetry"
        );
        let n = self.servers.len();
        let key = |i: usize| {
            let x = &self.servers[i];
            (
                x.up,
                x.phase,
                x.accepted_epoch,
                x.current_epoch,
                x.log,
                x.committed,
                x.epoch,
                (x.connected.count_ones(), x.synced.count_ones()),
            )
        };
        let mut order: ArrayVec<usize, MAX_SERVERS> = (0..n).collect();
        order.sort_by_key(|&i| key(i));
        let mut groups: ArrayVec<(usize, usize), MAX_SERVERS> = ArrayVec::new();
        let mut start = 0;
        for i in 1..=n {
            if i == n || key(order[i]) != key(order[start]) {
                if i - start > 1 {
                    groups.push((start, i));
                }
                start = i;
            }
        }
        if groups.is_empty() {
            return self.renamed(&order, kind);
        }
        let mut best: Option<(u64, Self)> = None;
        permute_groups(&mut order, &groups, &mut |order| {
            let candidate = self.renamed(order, kind);
            let fp = crate::engine::fingerprint(&candidate);
            if best.as_ref().is_none_or(|(b, _)| fp < *b) {
                best = Some((fp, candidate));
            }
        });
        best.expect("at least one ordering").1
    }

    /// This state with server `order[k]` renamed to `k`.
    fn renamed(&self, order: &[usize], kind: NetworkKind) -> Self {
        let n = self.servers.len();
        if order.iter().enumerate().all(|(new, &old)| new == old) {
            return self.clone();
        }
        let mut rename = [0u8; MAX_SERVERS];
        for (new, &old) in order.iter().enumerate() {
            rename[old] = new as u8;
        }
        let map_bits = |bits: u8| -> u8 {
            (0..n)
                .filter(|&i| bits & (1 << i) != 0)
                .fold(0, |acc, i| acc | (1 << rename[i]))
        };
        let mut servers = CopyVec::new();
        for &old in order {
            let s = &self.servers[old];
            let mut t = *s;
            if matches!(s.phase, Phase::Following(_)) {
                t.peer = ServerId(rename[s.peer.ix()]);
            }
            t.connected = map_bits(s.connected);
            t.infos = map_bits(s.infos);
            t.ack_epoch = map_bits(s.ack_epoch);
            t.epoch_acks = map_bits(s.epoch_acks);
            t.synced = map_bits(s.synced);
            t.nl_first = map_bits(s.nl_first);
            t.nl_acks = map_bits(s.nl_acks);
            for (j, &to) in rename.iter().enumerate().take(n) {
                t.peer_last[to as usize] = s.peer_last[j];
            }
            for a in t.acks.iter_mut() {
                *a = map_bits(*a);
            }
            servers.push(t);
        }
        let mut network = self.network.clone();
        network.rename(kind, |s| rename[s as usize]);
        let mut ghost = self.ghost.clone();
        for l in ghost.leaders.iter_mut() {
            *l = map_bits(*l);
        }
        for (_, by) in ghost.proposed.iter_mut() {
            *by = ServerId(rename[by.ix()]);
        }
        ZabState {
            servers,
            network,
            crashes: self.crashes,
            proposals: self.proposals,
            election: None,
            ghost,
        }
    }
}
