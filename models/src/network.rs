//! The network of a model: messages in flight between servers, under one of three semantics.
//!
//! The state is a sorted `Vec` (never a hash map), so it hashes and compares cheaply and
//! deterministically, and actions are enumerated in a fixed order.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How messages travel (`--network`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// One FIFO queue per directed pair of servers, like a TCP connection.
    Ordered,
    /// A multiset: any message in flight may be delivered next, each copy once.
    Unordered,
    /// As `Unordered`, plus an action that duplicates a message in flight.
    UnorderedDup,
}

impl NetworkKind {
    pub const ALL: [NetworkKind; 3] = [
        NetworkKind::Ordered,
        NetworkKind::Unordered,
        NetworkKind::UnorderedDup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Ordered => "ordered",
            NetworkKind::Unordered => "unordered",
            NetworkKind::UnorderedDup => "unordered-dup",
        }
    }
}

impl fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NetworkKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        NetworkKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown network kind `{s}` (accepted: ordered, unordered, unordered-dup)")
            })
    }
}

/// One message in flight, with the number of identical copies (more than one only after a
/// `duplicate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Flight<M> {
    pub src: u8,
    pub dst: u8,
    pub msg: M,
    pub copies: u8,
}

/// Messages in flight. Sorted by channel `(src, dst)`; within a channel, by message for unordered
/// networks and by send order for ordered ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Network<M> {
    flights: Vec<Flight<M>>,
}

impl<M> Default for Network<M> {
    fn default() -> Self {
        Network {
            flights: Vec::new(),
        }
    }
}

impl<M: Clone + Ord> Network<M> {
    /// A network holding exactly `flights`, which must already be in the network's order (as
    /// read back from [`Self::flights`]).
    pub fn from_sorted(flights: Vec<Flight<M>>) -> Self {
        debug_assert!(flights
            .windows(2)
            .all(|w| (w[0].src, w[0].dst) <= (w[1].src, w[1].dst)));
        Network { flights }
    }

    pub fn flights(&self) -> &[Flight<M>] {
        &self.flights
    }

    pub fn is_empty(&self) -> bool {
        self.flights.is_empty()
    }

    /// Sends `msg`. A message identical to one already in flight on the same channel is absorbed:
    /// a retransmission while the first copy is still on its way adds no behaviour that delivery,
    /// loss and explicit duplication do not already cover, and without this rule periodic
    /// heartbeats would make every state space infinite. Returns whether the network changed.
    pub fn send(&mut self, kind: NetworkKind, src: u8, dst: u8, msg: M) -> bool {
        let channel = self.channel(src, dst);
        if self.flights[channel.clone()].iter().any(|f| f.msg == msg) {
            return false;
        }
        let at = match kind {
            NetworkKind::Ordered => channel.end,
            NetworkKind::Unordered | NetworkKind::UnorderedDup => {
                channel.start
                    + self.flights[channel]
                        .binary_search_by(|f| f.msg.cmp(&msg))
                        .unwrap_err()
            }
        };
        self.flights.insert(
            at,
            Flight {
                src,
                dst,
                msg,
                copies: 1,
            },
        );
        true
    }

    fn channel(&self, src: u8, dst: u8) -> std::ops::Range<usize> {
        let start = self
            .flights
            .partition_point(|f| (f.src, f.dst) < (src, dst));
        let end = start + self.flights[start..].partition_point(|f| (f.src, f.dst) == (src, dst));
        start..end
    }

    /// Whether any message from `src` to `dst` is in flight.
    pub fn busy(&self, src: u8, dst: u8) -> bool {
        !self.channel(src, dst).is_empty()
    }

    /// Indices of the flights that can be delivered (or dropped, or duplicated) next.
    pub fn deliverable(&self, kind: NetworkKind) -> impl Iterator<Item = usize> + '_ {
        (0..self.flights.len()).filter(move |&i| {
            kind != NetworkKind::Ordered
                || i == 0
                || (self.flights[i - 1].src, self.flights[i - 1].dst)
                    != (self.flights[i].src, self.flights[i].dst)
        })
    }

    /// The index of a deliverable flight carrying `msg` from `src` to `dst`.
    pub fn find(&self, kind: NetworkKind, src: u8, dst: u8, msg: &M) -> Option<usize> {
        let channel = self.channel(src, dst);
        match kind {
            NetworkKind::Ordered => (!channel.is_empty()
                && self.flights[channel.start].msg == *msg)
                .then_some(channel.start),
            NetworkKind::Unordered | NetworkKind::UnorderedDup => self.flights[channel.clone()]
                .binary_search_by(|f| f.msg.cmp(msg))
                .ok()
                .map(|i| channel.start + i),
        }
    }

    /// Removes one copy of flight `i` and returns its message.
    pub fn take(&mut self, i: usize) -> M {
        let f = &mut self.flights[i];
        if f.copies > 1 {
            f.copies -= 1;
            f.msg.clone()
        } else {
            self.flights.remove(i).msg
        }
    }

    /// Adds a copy of flight `i`.
    pub fn duplicate(&mut self, i: usize) {
        self.flights[i].copies += 1;
    }

    /// Removes every message for which `dead` holds.
    pub fn remove_where(&mut self, dead: impl Fn(&Flight<M>) -> bool) {
        self.flights.retain(|f| !dead(f));
    }

    /// Removes every message to `dst` (its connections broke).
    pub fn drop_to(&mut self, dst: u8) {
        self.flights.retain(|f| f.dst != dst);
    }

    /// Renames servers (for symmetry reduction), keeping the sort order and FIFO order.
    pub fn rename(&mut self, kind: NetworkKind, map: impl Fn(u8) -> u8) {
        for f in &mut self.flights {
            f.src = map(f.src);
            f.dst = map(f.dst);
        }
        match kind {
            // Stable: renaming is a bijection on channels, so each channel's order survives.
            NetworkKind::Ordered => self.flights.sort_by_key(|f| (f.src, f.dst)),
            NetworkKind::Unordered | NetworkKind::UnorderedDup => self.flights.sort(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_delivers_only_the_head_of_each_channel() {
        let mut n = Network::default();
        assert!(n.send(NetworkKind::Ordered, 0, 1, 5u8));
        assert!(n.send(NetworkKind::Ordered, 0, 1, 3));
        assert!(n.send(NetworkKind::Ordered, 1, 0, 7));
        assert!(
            !n.send(NetworkKind::Ordered, 0, 1, 5),
            "identical send absorbed"
        );
        let heads: Vec<u8> = n
            .deliverable(NetworkKind::Ordered)
            .map(|i| n.flights()[i].msg)
            .collect();
        assert_eq!(heads, vec![5, 7]);
        assert_eq!(n.find(NetworkKind::Ordered, 0, 1, &3), None, "not the head");
        let i = n.find(NetworkKind::Ordered, 0, 1, &5).unwrap();
        assert_eq!(n.take(i), 5);
        assert_eq!(n.find(NetworkKind::Ordered, 0, 1, &3), Some(0));
    }

    #[test]
    fn unordered_keeps_copies_and_sorted_order() {
        let k = NetworkKind::UnorderedDup;
        let mut n = Network::default();
        n.send(k, 2, 0, 9u8);
        n.send(k, 0, 1, 5);
        n.send(k, 0, 1, 3);
        assert_eq!(n.deliverable(k).count(), 3);
        let i = n.find(k, 0, 1, &5).unwrap();
        n.duplicate(i);
        assert_eq!(n.take(i), 5);
        assert_eq!(n.find(k, 0, 1, &5), Some(i), "one copy left");
        n.drop_to(1);
        assert_eq!(n.flights().len(), 1);
        n.rename(k, |s| 2 - s);
        assert_eq!((n.flights()[0].src, n.flights()[0].dst), (0, 2));
    }
}
