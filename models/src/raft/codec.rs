//! A compact byte encoding of Raft states for the BFS frontier: about 40–80 bytes a state instead
//! of the ~500 the in-memory form takes (fixed-capacity arrays sized for five servers).

use super::state::{Ghost, PendingRead, RaftState, Server};
use super::types::{Entries, Entry, LogIndex, Msg, Role, ServerId, Term, Value};
use crate::engine::StateCodec;
use crate::network::Network;

/// The codec (stateless).
pub struct RaftCodec;

const NONE: u8 = u8::MAX;

fn put_entries(out: &mut Vec<u8>, entries: &[Entry]) {
    out.push(entries.len() as u8);
    for e in entries {
        out.extend_from_slice(&[e.term.0, e.value.0]);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().expect("truncated Raft state encoding");
        self.0 = rest;
        *b
    }
    fn entries(&mut self) -> Entries {
        (0..self.u8())
            .map(|_| Entry {
                term: Term(self.u8()),
                value: Value(self.u8()),
            })
            .collect()
    }
}

fn role_code(r: Role) -> u8 {
    match r {
        Role::Follower => 0,
        Role::Candidate => 1,
        Role::Leader => 2,
        Role::PreCandidate => 3,
    }
}

fn put_msg(out: &mut Vec<u8>, m: &Msg) {
    match m {
        Msg::RequestVote {
            term,
            last_log_term,
            last_log_index,
        } => out.extend_from_slice(&[0, term.0, last_log_term.0, last_log_index.0]),
        Msg::RequestVoteResponse { term, granted } => {
            out.extend_from_slice(&[1, term.0, *granted as u8])
        }
        Msg::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            commit,
            round,
        } => {
            out.extend_from_slice(&[
                2,
                term.0,
                prev_log_index.0,
                prev_log_term.0,
                commit.0,
                *round,
            ]);
            put_entries(out, entries);
        }
        Msg::AppendEntriesResponse {
            term,
            success,
            match_index,
            round,
        } => out.extend_from_slice(&[3, term.0, *success as u8, match_index.0, *round]),
        Msg::PreVote {
            term,
            last_log_term,
            last_log_index,
        } => out.extend_from_slice(&[4, term.0, last_log_term.0, last_log_index.0]),
        Msg::PreVoteResponse { term, granted } => {
            out.extend_from_slice(&[5, term.0, *granted as u8])
        }
        Msg::InstallSnapshot {
            term,
            last_index,
            last_term,
            entries,
        } => {
            out.extend_from_slice(&[6, term.0, last_index.0, last_term.0]);
            put_entries(out, entries);
        }
    }
}

fn get_msg(r: &mut Reader<'_>) -> Msg {
    match r.u8() {
        0 => Msg::RequestVote {
            term: Term(r.u8()),
            last_log_term: Term(r.u8()),
            last_log_index: LogIndex(r.u8()),
        },
        1 => Msg::RequestVoteResponse {
            term: Term(r.u8()),
            granted: r.u8() != 0,
        },
        2 => {
            let term = Term(r.u8());
            let prev_log_index = LogIndex(r.u8());
            let prev_log_term = Term(r.u8());
            let commit = LogIndex(r.u8());
            let round = r.u8();
            Msg::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries: r.entries(),
                commit,
                round,
            }
        }
        3 => Msg::AppendEntriesResponse {
            term: Term(r.u8()),
            success: r.u8() != 0,
            match_index: LogIndex(r.u8()),
            round: r.u8(),
        },
        4 => Msg::PreVote {
            term: Term(r.u8()),
            last_log_term: Term(r.u8()),
            last_log_index: LogIndex(r.u8()),
        },
        5 => Msg::PreVoteResponse {
            term: Term(r.u8()),
            granted: r.u8() != 0,
        },
        6 => Msg::InstallSnapshot {
            term: Term(r.u8()),
            last_index: LogIndex(r.u8()),
            last_term: Term(r.u8()),
            entries: r.entries(),
        },
        t => panic!("bad message tag {t} in Raft state encoding"),
    }
}

// Commit and snapshot indices share a byte in the encoding.
const _: () = assert!(super::types::MAX_LOG < 16);

impl StateCodec<RaftState> for RaftCodec {
    fn encode(&self, st: &RaftState, out: &mut Vec<u8>) {
        let n = st.servers.len();
        out.extend_from_slice(&[n as u8, st.crashes, st.proposed, st.reads]);
        for s in st.servers.iter() {
            // A leader's progress is written; so is anyone else's that is not all zero (only
            // an ablated model gives a non-leader progress), so that the encoding stays exact.
            let progress = s.role == Role::Leader
                || s.next_index[..n].iter().any(|i| i.0 != 0)
                || s.match_index[..n].iter().any(|i| i.0 != 0)
                || s.round != 0
                || s.acked[..n].iter().any(|&a| a != 0)
                || !s.reads.is_empty();
            out.extend_from_slice(&[
                s.term.0,
                s.voted_for.map_or(NONE, |v| v.0),
                (s.up as u8)
                    | (role_code(s.role) << 1)
                    | ((s.heard_leader as u8) << 3)
                    | ((progress as u8) << 4),
                // Indices are at most MAX_LOG (8): commit and snapshot share a byte.
                s.commit.0 | (s.snapshot.0 << 4),
                s.votes,
                s.recent,
            ]);
            put_entries(out, &s.log);
            if progress {
                out.extend(s.next_index[..n].iter().map(|i| i.0));
                out.extend(s.match_index[..n].iter().map(|i| i.0));
                out.push(s.round);
                out.extend_from_slice(&s.acked[..n]);
                out.push(s.reads.len() as u8);
                for read in s.reads.iter() {
                    out.extend_from_slice(&[read.read_index.0, read.round, read.required.0]);
                }
            }
        }
        let flights = st.network.flights();
        out.push(flights.len() as u8);
        for f in flights {
            out.extend_from_slice(&[(f.src << 4) | f.dst, f.copies]);
            put_msg(out, &f.msg);
        }
        let g = &st.ghost;
        out.extend_from_slice(&g.leaders);
        out.extend_from_slice(&g.candidates);
        out.push(g.committed.len() as u8);
        for (e, t) in g.committed.iter() {
            out.extend_from_slice(&[e.term.0, e.value.0, t.0]);
        }
        out.push(
            (g.append_only_broken as u8)
                | ((g.commit_conflict as u8) << 1)
                | ((g.stale_read as u8) << 2)
                | ((g.read_served as u8) << 3)
                | ((g.commit_decreased as u8) << 4)
                | ((g.leader_not_candidate as u8) << 5)
                | ((g.progress_regressed as u8) << 6)
                | ((g.election_without_prevote as u8) << 7),
        );
    }

    fn decode(&self, bytes: &[u8]) -> RaftState {
        let mut r = Reader(bytes);
        let n = r.u8() as usize;
        let mut st = RaftState::new(n);
        st.crashes = r.u8();
        st.proposed = r.u8();
        st.reads = r.u8();
        for i in 0..n {
            let mut s = Server {
                term: Term(r.u8()),
                ..Server::default()
            };
            s.voted_for = match r.u8() {
                NONE => None,
                v => Some(ServerId(v)),
            };
            let flags = r.u8();
            s.up = flags & 1 != 0;
            s.role = match (flags >> 1) & 3 {
                0 => Role::Follower,
                1 => Role::Candidate,
                2 => Role::Leader,
                _ => Role::PreCandidate,
            };
            s.heard_leader = flags & 8 != 0;
            let indices = r.u8();
            s.commit = LogIndex(indices & 0xf);
            s.snapshot = LogIndex(indices >> 4);
            s.votes = r.u8();
            s.recent = r.u8();
            s.log = r.entries();
            if flags & 16 != 0 {
                for j in 0..n {
                    s.next_index[j] = LogIndex(r.u8());
                }
                for j in 0..n {
                    s.match_index[j] = LogIndex(r.u8());
                }
                s.round = r.u8();
                for j in 0..n {
                    s.acked[j] = r.u8();
                }
                for _ in 0..r.u8() {
                    s.reads.push(PendingRead {
                        read_index: LogIndex(r.u8()),
                        round: r.u8(),
                        required: LogIndex(r.u8()),
                    });
                }
            }
            st.servers[i] = s;
        }
        let mut flights = Vec::new();
        for _ in 0..r.u8() {
            let ends = r.u8();
            let copies = r.u8();
            flights.push(crate::network::Flight {
                src: ends >> 4,
                dst: ends & 0xf,
                msg: get_msg(&mut r),
                copies,
            });
        }
        st.network = Network::from_sorted(flights);
        let mut g = Ghost::default();
        for l in g.leaders.iter_mut().chain(g.candidates.iter_mut()) {
            *l = r.u8();
        }
        for _ in 0..r.u8() {
            let e = Entry {
                term: Term(r.u8()),
                value: Value(r.u8()),
            };
            g.committed.push((e, Term(r.u8())));
        }
        let flags = r.u8();
        g.append_only_broken = flags & 1 != 0;
        g.commit_conflict = flags & 2 != 0;
        g.stale_read = flags & 4 != 0;
        g.read_served = flags & 8 != 0;
        g.commit_decreased = flags & 16 != 0;
        g.leader_not_candidate = flags & 32 != 0;
        g.progress_regressed = flags & 64 != 0;
        g.election_without_prevote = flags & 128 != 0;
        st.ghost = g;
        assert!(r.0.is_empty(), "trailing bytes in Raft state encoding");
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(st: &RaftState) -> RaftState {
        let mut bytes = Vec::new();
        RaftCodec.encode(st, &mut bytes);
        RaftCodec.decode(&bytes)
    }

    /// The encoding is exact: a non-leader's progress fields (non-zero only in an ablated model,
    /// e.g. `raft.append.response/leader` inverted) and every ghost flag survive it. A lossy
    /// encoding makes a counterexample's path unreplayable.
    #[test]
    fn encoding_is_exact_for_progress_and_ghost_flags() {
        let mut st = RaftState::new(3);
        st.servers[1].match_index[2] = LogIndex(1);
        st.servers[1].next_index[2] = LogIndex(2);
        st.servers[2].role = Role::Leader;
        st.servers[2].next_index[..3].fill(LogIndex(1));
        let g = &mut st.ghost;
        g.commit_decreased = true;
        g.leader_not_candidate = true;
        g.progress_regressed = true;
        g.election_without_prevote = true;
        let back = round_trip(&st);
        // Padding past the servers is not encoded; compare what is.
        for i in 0..3 {
            assert_eq!(
                back.servers[i].match_index[..3],
                st.servers[i].match_index[..3]
            );
            assert_eq!(
                back.servers[i].next_index[..3],
                st.servers[i].next_index[..3]
            );
            assert_eq!(back.servers[i].role, st.servers[i].role);
        }
        assert_eq!(back.ghost, st.ghost);
        let plain = RaftState::new(3);
        assert_eq!(round_trip(&plain), plain);
    }
}
