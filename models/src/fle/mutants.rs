//! Seeded historic bugs of FastLeaderElection (reference zookeeper.md §5). Each is one changed rule
//! inside the model, switched on at run time; none is a copy of the model.

use serde::{Deserialize, Serialize};

use super::config::{FleConfig, InitServer};
use crate::spec::MutantEntry;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FleMutant {
    /// ZOOKEEPER-1419 (3.4.3): `totalOrderPredicate` misparenthesised as
    /// `(e > e') || (e == e' && z > z') || (z == z' && id > id')`, so a higher id with a lower
    /// epoch wins when the zxids tie; the relation is not an order and votes cycle.
    Zk1419,
    /// ZOOKEEPER-1805/1818 (before 3.4.7/3.5.5): `Vote.equals` compares every field (id, zxid,
    /// electionEpoch, peerEpoch) for out-of-election votes too, so votes for one leader reported
    /// by servers that decided in different rounds do not count together.
    Zk1805,
}

impl FleMutant {
    pub const ALL: [FleMutant; 2] = [FleMutant::Zk1419, FleMutant::Zk1805];

    pub fn name(self) -> &'static str {
        match self {
            FleMutant::Zk1419 => "zk-1419",
            FleMutant::Zk1805 => "zk-1805",
        }
    }

    /// Accepts the name or the JIRA id (`ZK-1419`, `ZOOKEEPER-1419`, `1419`).
    pub fn parse(s: &str) -> Option<FleMutant> {
        let s = s.trim().to_ascii_lowercase();
        let s = s
            .strip_prefix("zookeeper-")
            .map(|n| format!("zk-{n}"))
            .unwrap_or(s);
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s || m.name().strip_prefix("zk-") == Some(s.as_str()))
    }

    pub fn info(self) -> MutantEntry<FleConfig> {
        let base = FleConfig {
            mutant: Some(self),
            ..FleConfig::default()
        };
        let init = |v: &[(u8, u8, u8)]| {
            v.iter()
                .map(|&(e, ze, zc)| InitServer::new(e, ze, zc))
                .collect::<Vec<_>>()
        };
        let (id, summary, breaks, precedent, bounds, shortest) = match self {
            FleMutant::Zk1419 => (
                "ZK-1419",
                "totalOrderPredicate misparenthesised: a higher sid with a lower epoch wins on equal zxids, so votes cycle",
                "no_vote_circle",
                "ZOOKEEPER-1419 (3.4.3); SandTable (EuroSys'24) found it at depth 41 in 232 s on 20 workers",
                // The smallest bounds that expose it: two servers, one round. s0 has accepted
                // epoch 2 but logged nothing in it yet; s1 stopped at the same zxid in epoch 1:
                // the zxids tie, the epochs do not, so each vote beats the other under the broken
                // predicate. `vote_order_total` fails in the initial state (the two proposals are
                // not ordered); `no_vote_circle` fails at the first delivery, when s0 takes s1's
                // vote, which is below its own in the real order: the first step of the circle
                // SandTable reaches at depth 41 (a third server only lengthens it).
                FleConfig {
                    servers: 2,
                    max_round: 1,
                    crashes: 0,
                    init: init(&[(2, 1, 1), (1, 1, 1)]),
                    ..base
                },
                1,
            ),
            FleMutant::Zk1805 => (
                "ZK-1805",
                "Vote.equals compares zxid and electionEpoch of out-of-election votes, so a server cannot join an ensemble whose members decided in different rounds",
                "all_decide",
                "ZOOKEEPER-1805, -1732, -1818 (fixed in 3.4.7/3.5.5, the DONTCARE rule)",
                // The default bounds, which are also the smallest that expose it: the votes that
                // fail to match must come from servers that decided in different rounds, so two
                // rounds; and a third server must be left to join them, so three servers. The
                // histories only rank the servers' votes, and every ranking of three distinct
                // votes gives the same state space up to renaming (6,853,094 states), so none is
                // smaller. A shortest counterexample (16 steps): s0 decides to lead in round 1
                // on s1's vote, its ZAB phase fails before s1 follows, and it starts round 2; s1
                // follows s0 on round 1; s0 wins round 2 with s2's vote, while s2 briefly follows
                // s0 on the round-1 votes and gives up. From then on s2, LOOKING, sees a LEADING
                // vote of round 2 and a FOLLOWING vote of round 1 for the same leader, which never
                // count together, and s0 keeps its quorum with s1, so nothing restarts.
                FleConfig {
                    servers: 3,
                    max_round: 2,
                    crashes: 0,
                    ..base
                },
                16,
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
