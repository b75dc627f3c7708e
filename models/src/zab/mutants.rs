//! Seeded historic bugs of ZooKeeper's ZAB (reference zookeeper.md §5). Each is one changed rule
//! inside the model, switched on at run time; none is a copy of the model.

use serde::{Deserialize, Serialize};

use super::config::{InitServer, ZabConfig};
use crate::spec::MutantEntry;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZabMutant {
    /// ZK-2845 (3.4.10): a server that goes back to LOOKING without restarting keeps its
    /// in-memory database, so it reports its last *applied* zxid, not its last logged one; the
    /// leader DIFFs from there and the uncommitted tail of its log survives.
    Zk2845,
    /// ZK-3911 (≤ 3.6.1): a follower acknowledges NEWLEADER before the DIFF transactions are
    /// logged; it hands them to the SyncThread only at UPTODATE.
    Zk3911,
    /// ZK-4643 (3.8.0): on NEWLEADER a follower persists currentEpoch before it logs the
    /// transactions it received.
    Zk4643,
    /// ZK-4646 (3.8.0): on NEWLEADER a follower hands the transactions to the SyncThread
    /// (asynchronous logging) and acknowledges without waiting for them to be on disk.
    Zk4646,
    /// ZK-4712 (3.8.0): `Follower.shutdown` leaves the SyncThread running, so transactions queued
    /// under the old leader are logged after the server synced with a new one.
    Zk4712,
    /// Zab paper, Issue 1 (zookeeper-specifications/protocol-spec/issues.md): the leader sends
    /// PROPOSALs only to followers that acknowledged NEWLEADER (ACK-LD), not to every follower it
    /// is synchronising; a follower misses a proposal and then gets its COMMIT.
    ZabPaperIssue1,
    /// ZK-4394 (3.8.0): NEWLEADER consumes every pending proposal (`packetsNotCommitted.clear()`),
    /// so a COMMIT that follows NEWLEADER finds no proposal (a NullPointerException).
    Zk4394,
    /// ZK-4685 (3.8.0): on NEWLEADER a follower hands its pending proposals to the SyncThread, as
    /// 3.8.0 does, whose ACKs can reach the leader before the ACK of NEWLEADER. (The same change
    /// leaves `packetsNotCommitted` empty, so ZK-4394's NullPointerException is reachable too.)
    Zk4685,
}

/// One step of a follower's NEWLEADER handling, in the order a rule set performs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NlStep {
    /// Log the transactions the leader marked committed (and fsync), synchronously.
    LogTxns,
    /// Write the new `currentEpoch` file.
    PersistEpoch,
    /// Send the ACK of NEWLEADER.
    Ack,
}

/// Where a follower's pending transactions go when NEWLEADER arrives, besides `LogTxns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handover {
    /// Nothing: committed ones are logged by `LogTxns`, outstanding ones wait for UPTODATE.
    None,
    /// The committed ones go to the SyncThread (asynchronous logging).
    CommittedToSyncThread,
    /// Everything goes to the SyncThread (ZooKeeper 3.8.0), which logs the transactions and
    /// acknowledges those not known committed; `packetsNotCommitted` is left empty.
    AllToSyncThread,
    /// Everything waits for UPTODATE.
    AllAtUpToDate,
}

impl ZabMutant {
    pub const ALL: [ZabMutant; 8] = [
        ZabMutant::Zk2845,
        ZabMutant::Zk3911,
        ZabMutant::Zk4643,
        ZabMutant::Zk4646,
        ZabMutant::Zk4712,
        ZabMutant::ZabPaperIssue1,
        ZabMutant::Zk4394,
        ZabMutant::Zk4685,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ZabMutant::Zk2845 => "zk-2845",
            ZabMutant::Zk3911 => "zk-3911",
            ZabMutant::Zk4643 => "zk-4643",
            ZabMutant::Zk4646 => "zk-4646",
            ZabMutant::Zk4712 => "zk-4712",
            ZabMutant::ZabPaperIssue1 => "zab-paper-issue-1",
            ZabMutant::Zk4394 => "zk-4394",
            ZabMutant::Zk4685 => "zk-4685",
        }
    }

    /// Accepts the name or the reference number (`ZK-2845`, `zab-issue-1`).
    pub fn parse(s: &str) -> Option<ZabMutant> {
        let s = s.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s || m.info().id.eq_ignore_ascii_case(&s))
    }

    /// The order of the NEWLEADER steps under a rule set (`None`: the correct protocol, as
    /// ZooKeeper 3.9.3 fixed it after ZK-4643/4646/4685: log, then epoch, then ACK).
    pub(crate) fn nl_order(m: Option<ZabMutant>) -> &'static [NlStep] {
        use NlStep::*;
        match m {
            Some(ZabMutant::Zk4643) => &[PersistEpoch, LogTxns, Ack],
            Some(ZabMutant::Zk3911 | ZabMutant::Zk4646) => &[PersistEpoch, Ack],
            _ => &[LogTxns, PersistEpoch, Ack],
        }
    }

    pub(crate) fn handover(m: Option<ZabMutant>) -> Handover {
        match m {
            Some(ZabMutant::Zk3911) => Handover::AllAtUpToDate,
            Some(ZabMutant::Zk4646) => Handover::CommittedToSyncThread,
            Some(ZabMutant::Zk4685) => Handover::AllToSyncThread,
            _ => Handover::None,
        }
    }

    pub fn info(self) -> MutantEntry<ZabConfig> {
        let base = ZabConfig {
            mutant: Some(self),
            ..ZabConfig::default()
        };
        let init = |s: &str| -> Vec<InitServer> {
            s.split(',')
                .map(|p| InitServer::parse(p).expect("catalogue histories parse"))
                .collect()
        };
        let (id, summary, breaks, precedent, bounds, shortest) = match self {
            ZabMutant::Zk2845 => (
                "ZK-2845",
                "a server back to LOOKING without restart reports its last applied zxid, so its \
                 uncommitted log tail survives the next DIFF",
                "history_consistency",
                "ZooKeeper 3.4.10, reproduced by Disalg mixed_v1 (12 s in TLC)",
                ZabConfig {
                    max_epoch: 2,
                    max_txns: 1,
                    crashes: 0,
                    ..base.clone()
                },
                21,
            ),
            ZabMutant::Zk3911 => (
                "ZK-3911",
                "NEWLEADER acknowledged before the DIFF transactions are logged (logged after \
                 UPTODATE); a crash loses committed transactions",
                "commit_completeness",
                "ZooKeeper ≤ 3.6.1, reproduced by Disalg mixed_v1 (42 s in TLC)",
                // Epoch 2's leader DIFFs 1.1 and commits it on an ACK that is not backed by the
                // log; the loss shows only when a later leader (epoch 3) is elected without it.
                // With `--max-epoch 2` only committed_on_majority can be broken.
                ZabConfig {
                    max_epoch: 3,
                    max_txns: 0,
                    crashes: 1,
                    init: init("1/1/1.1,1/1/,1/1/"),
                    ..base.clone()
                },
                19,
            ),
            ZabMutant::Zk4643 => (
                "ZK-4643",
                "currentEpoch persisted before the NEWLEADER transactions; a crash in between \
                 lets a server with a higher epoch but a shorter log lead and truncate",
                "commit_completeness",
                "ZooKeeper 3.8.0, AlphaCanisMajoris zk spec (20 steps)",
                ZabConfig {
                    max_epoch: 3,
                    max_txns: 0,
                    crashes: 1,
                    init: init("1/1/1.1,1/1/1.1+1.2,1/1/1.1+1.2"),
                    ..base.clone()
                },
                18,
            ),
            ZabMutant::Zk4646 => (
                "ZK-4646",
                "NEWLEADER acknowledged before the SyncThread has logged the transactions; a \
                 crash loses committed transactions",
                "commit_completeness",
                "ZooKeeper 3.8.0, AlphaCanisMajoris zk spec (23 steps)",
                // Epoch 2's leader DIFFs 1.1 and commits it on an ACK that is not backed by the
                // log; the loss shows only when a later leader (epoch 3) is elected without it.
                // With `--max-epoch 2` only committed_on_majority can be broken.
                ZabConfig {
                    max_epoch: 3,
                    max_txns: 0,
                    crashes: 1,
                    init: init("1/1/1.1,1/1/,1/1/"),
                    ..base.clone()
                },
                20,
            ),
            ZabMutant::Zk4712 => (
                "ZK-4712",
                "the SyncThread survives a follower's shutdown and logs an old epoch's proposal \
                 after the follower synced with a new leader",
                "history_consistency",
                "ZooKeeper 3.8.0, AlphaCanisMajoris zk spec (11 steps)",
                ZabConfig {
                    max_epoch: 2,
                    max_txns: 1,
                    crashes: 1,
                    ..base.clone()
                },
                21,
            ),
            ZabMutant::ZabPaperIssue1 => (
                "zab-issue-1",
                "PROPOSALs go only to followers that acknowledged NEWLEADER; a syncing follower \
                 misses one and then receives its COMMIT",
                "commit_consistent",
                "zookeeper-specifications protocol-spec issues.md, Issue 1",
                ZabConfig {
                    max_epoch: 1,
                    max_txns: 1,
                    crashes: 0,
                    ..base.clone()
                },
                24,
            ),
            ZabMutant::Zk4394 => (
                "ZK-4394",
                "NEWLEADER clears the pending proposals, so a COMMIT that follows it finds none \
                 (NullPointerException, the follower drops out)",
                "commit_consistent",
                "ZooKeeper 3.8.0, AlphaCanisMajoris zk_pr_2111 (17 steps)",
                ZabConfig {
                    max_epoch: 1,
                    max_txns: 1,
                    crashes: 0,
                    ..base.clone()
                },
                23,
            ),
            ZabMutant::Zk4685 => (
                "ZK-4685",
                "the SyncThread ACKs an outstanding proposal before the follower's ACK of \
                 NEWLEADER; the leader takes it for a wrong NEWLEADER ACK",
                "ack_consistent",
                "ZooKeeper 3.8.0, AlphaCanisMajoris zk spec (12 steps)",
                ZabConfig {
                    max_epoch: 1,
                    max_txns: 1,
                    crashes: 0,
                    ..base.clone()
                },
                17,
            ),
        };
        MutantEntry {
            name: self.name(),
            id,
            summary,
            breaks,
            precedent,
            bounds,
            shortest,
        }
    }
}
