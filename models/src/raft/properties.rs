//! Raft's safety properties (Raft paper, Figure 3) and witnesses, as state predicates. Where a
//! property is about history (a crashed leader is no longer a leader; a restarted server forgets
//! its commit index), it reads the ghost record kept by `RaftModel::record_history`, as raft.tla
//! does with its history variables.

use stateright::Property;

use super::state::{RaftState, Server};
use super::types::{Msg, Role};
use super::RaftModel;

/// The properties, in the order reports list them. `entry_committed` (and with it
/// `snapshot_sent`) is left out at bounds under which nothing can ever be committed (no client
/// value left to propose and no no-op entries): there a missing witness would say nothing about
/// the model. So is `snapshot_sent` with fewer than three servers, where no snapshot is ever
/// needed: a majority is every server, so each holds every committed entry, the one at the
/// leader's snapshot included, and a rejection (or its hint) never sends `next_index` back to
/// or below it.
pub(crate) fn all(m: &RaftModel) -> Vec<Property<RaftModel>> {
    let mut props = vec![
        Property::always("election_safety", election_safety),
        Property::always("leader_append_only", leader_append_only),
        Property::always("log_matching", log_matching),
        Property::always("leader_completeness", leader_completeness),
        Property::always("state_machine_safety", state_machine_safety),
        Property::always("committed_on_majority", committed_on_majority),
        Property::always("commit_in_own_term", commit_in_own_term),
        Property::always("match_index_agrees", match_index_agrees),
        Property::always("commit_never_decreases", commit_never_decreases),
        Property::always("leaders_were_candidates", leaders_were_candidates),
        Property::always("leader_progress_sound", leader_progress_sound),
        Property::sometimes("leader_elected", leader_elected),
    ];
    if m.can_commit() {
        props.push(Property::sometimes("entry_committed", entry_committed));
        if m.config.servers >= 2 {
            props.push(Property::sometimes("follower_commits", follower_commits));
        }
        if m.config.snapshots && m.config.servers >= 3 {
            props.push(Property::sometimes("snapshot_sent", snapshot_sent));
        }
    }
    if m.config.pre_vote {
        props.push(Property::always(
            "elections_follow_prevote",
            elections_follow_prevote,
        ));
    }
    if m.tracks_candidates() {
        props.push(Property::always(
            "votes_for_candidates",
            votes_for_candidates,
        ));
    }
    if m.config.reads > 0 {
        props.push(Property::always("read_linearizable", read_linearizable));
        props.push(Property::sometimes("read_served", read_served));
    }
    props
}

fn pairs(st: &RaftState) -> impl Iterator<Item = (&Server, &Server)> {
    st.servers
        .iter()
        .enumerate()
        .flat_map(move |(i, a)| st.servers[i + 1..].iter().map(move |b| (a, b)))
}

/// Election Safety (Raft paper Fig. 3, §5.2; raft.tla `elections` history): at most one leader can
/// be elected in a given term. Counted over every server that was ever leader of the term, so a
/// leader that crashed or stepped down still counts.
pub fn election_safety(_: &RaftModel, st: &RaftState) -> bool {
    st.ghost.leaders.iter().all(|l| l.count_ones() <= 1)
}

/// Leader Append-Only (Fig. 3, §5.3): a leader never overwrites or deletes entries in its log; it
/// only appends. Checked on every step where a server is leader of the same term before and after.
pub fn leader_append_only(_: &RaftModel, st: &RaftState) -> bool {
    !st.ghost.append_only_broken
}

/// Log Matching (Fig. 3, §5.3): if two logs contain an entry with the same index and term, the
/// logs are identical in all entries up through that index. Over persistent logs, crashed servers
/// included.
pub fn log_matching(_: &RaftModel, st: &RaftState) -> bool {
    pairs(st).all(|(a, b)| {
        let shared = a.log.len().min(b.log.len());
        match (0..shared).rev().find(|&k| a.log[k].term == b.log[k].term) {
            Some(k) => a.log[..=k] == b.log[..=k],
            None => true,
        }
    })
}

/// Leader Completeness (Fig. 3, §5.4): if a log entry is committed in a given term, that entry is
/// present in the logs of the leaders of all higher terms.
pub fn leader_completeness(_: &RaftModel, st: &RaftState) -> bool {
    st.servers
        .iter()
        .filter(|l| l.up && l.role == Role::Leader)
        .all(|l| {
            st.ghost
                .committed
                .iter()
                .enumerate()
                .all(|(k, (e, t))| l.term <= *t || l.log.get(k) == Some(e))
        })
}

/// State Machine Safety (Fig. 3, §5.4.3): if a server has applied a log entry at a given index, no
/// other server ever applies a different entry at that index. The ghost record remembers every
/// entry ever committed, so a conflict with a server that has since crashed is still caught.
pub fn state_machine_safety(_: &RaftModel, st: &RaftState) -> bool {
    !st.ghost.commit_conflict
        && pairs(st).all(|(a, b)| {
            let (x, y) = (a.committed(), b.committed());
            let n = x.len().min(y.len());
            x[..n] == y[..n]
        })
}

/// Majority safety (ballot's mission; CCF/etcd `QuorumLogInv`): every committed entry is stored,
/// at its index, in the persistent logs of a majority of servers, so no quorum can lose it.
pub fn committed_on_majority(m: &RaftModel, st: &RaftState) -> bool {
    let majority = m.majority();
    st.ghost.committed.iter().enumerate().all(|(k, (e, _))| {
        st.servers
            .iter()
            .filter(|s| s.log.get(k) == Some(e))
            .count()
            >= majority
    })
}

/// Raft §5.4.2 as a fact about the commit history: the highest committed entry was first
/// committed in its own term. A leader commits by counting replicas only an entry of its
/// current term, and every lower index with it; an entry of an earlier term becomes committed
/// only under such an entry. Figure 3's properties imply the danger only once a later leader
/// overwrites the entry (Figure 8 needs a fourth term); this fails at the commit itself. The
/// ghost keeps, per index, the lowest term of a server that committed it, which is never below
/// the entry's own term (a server's term is at least that of every entry it holds).
pub fn commit_in_own_term(_: &RaftModel, st: &RaftState) -> bool {
    st.ghost
        .committed
        .iter()
        .last()
        .is_none_or(|(entry, term)| entry.term == *term)
}

/// The leader's bookkeeping is true (raft.append.response; Raft paper §5.3: `matchIndex` is the
/// "index of highest log entry known to be replicated on server"): for a leader of term `t` and
/// every follower still in term `t`, the follower's log holds the leader's entries up to
/// `match_index`. Only an AppendEntries success of term `t` (or an installed snapshot) raises
/// `match_index`, it proves that prefix, and within term `t` the follower truncates only what
/// conflicts with this leader's append-only log, so the prefix stays. Figure 3's properties see
/// a false `match_index` only once it commits something; this fails at the bookkeeping itself
/// (a rejection's hint taken as a match, an acknowledgement of more than the message proved, an
/// install that drops the entries after its snapshot).
pub fn match_index_agrees(_: &RaftModel, st: &RaftState) -> bool {
    st.servers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.up && l.role == Role::Leader)
        .all(|(i, l)| {
            st.servers.iter().enumerate().all(|(j, f)| {
                let m = l.match_index[j].0 as usize;
                j == i
                    || f.term != l.term
                    || (f.log.len() >= m && l.log.len() >= m && f.log[..m] == l.log[..m])
            })
        })
}

/// A server's commit index never decreases while it stays up (Figure 2: `commitIndex` is
/// "initialized to 0, increases monotonically"; raft.append.commit, raft.snapshot.install). A
/// step property, checked by the ghost on every step where the server is up before and after.
/// Figure 3's properties see a lowered commit index only if the server later applies a
/// different entry there; this fails at the step that lowers it.
pub fn commit_never_decreases(_: &RaftModel, st: &RaftState) -> bool {
    !st.ghost.commit_decreased
}

/// Only a candidate becomes leader, and in its own term (§5.2, raft.vote.count): every step
/// where a server becomes leader of term `t` starts from it as a candidate of `t` (or, with
/// one server, from the timeout whose own vote is a majority). A step property.
pub fn leaders_were_candidates(_: &RaftModel, st: &RaftState) -> bool {
    !st.ghost.leader_not_candidate
}

/// A leader's progress bookkeeping is monotone (raft.append.response, raft.pipeline.reject):
/// within its term `match_index[j]` never decreases (it is the highest index *known* to be
/// replicated, and knowledge is not lost), and with `--pipeline` `next_index[j]` stays above
/// `match_index[j]` (the leader never resends what it knows is held). A step property;
/// without `--pipeline` a stale rejection on a reordering network may legitimately send
/// `next_index` back to or below `match_index` (Figure 2's decrement), so only the first half
/// is checked there.
pub fn leader_progress_sound(_: &RaftModel, st: &RaftState) -> bool {
    !st.ghost.progress_regressed
}

/// PreVote's promise (Ongaro's thesis §9.6, raft.prevote.count): with `--pre-vote`, a server
/// stands in a new term only after a majority granted its pre-vote for exactly that term, so a
/// server that could not win does not raise terms and disrupt a working leader. A step
/// property: every step where a server becomes candidate (or leader) of a higher term starts
/// from it as a pre-candidate of the term below with all but at most one grant of a majority
/// (the step's own delivery adds that one).
pub fn elections_follow_prevote(_: &RaftModel, st: &RaftState) -> bool {
    !st.ghost.election_without_prevote
}

/// Every vote names a server that stood in the voter's term (§5.2, raft.vote.grant: a vote is
/// granted only to a RequestVote of the voter's current term, and only a server that started
/// an election of that term sends one). Checked where the model records who stood in each term
/// (when `--max-candidates` bounds the candidates).
pub fn votes_for_candidates(_: &RaftModel, st: &RaftState) -> bool {
    st.servers.iter().all(|s| {
        s.voted_for
            .is_none_or(|c| st.ghost.candidates[s.term.0 as usize] & c.bit() != 0)
    })
}

/// Witness: some server becomes leader (the model is not vacuous).
pub fn leader_elected(_: &RaftModel, st: &RaftState) -> bool {
    st.servers.iter().any(|s| s.up && s.role == Role::Leader)
}

/// Witness: an entry is committed during the run (a client value or a no-op).
pub fn entry_committed(_: &RaftModel, st: &RaftState) -> bool {
    !st.ghost.committed.is_empty()
}

/// Witness: a server that has never been leader learns a commit (raft.append.commit fires with
/// effect: a leader's commit index reaches a follower), so replication is not vacuous. A leader
/// that stepped down keeps the commit index it had as leader, so such servers do not count.
pub fn follower_commits(_: &RaftModel, st: &RaftState) -> bool {
    st.servers
        .iter()
        .enumerate()
        .any(|(i, s)| s.up && s.commit.0 > 0 && st.ghost.leaders.iter().all(|l| l & (1 << i) == 0))
}

/// Linearizable reads (raft.md § Linearizable reads): every read served returns a state that
/// contains every entry committed anywhere before the read started, so no write acknowledged
/// before a read can be missing from it. The ghost record is kept per pending read.
pub fn read_linearizable(_: &RaftModel, st: &RaftState) -> bool {
    !st.ghost.stale_read
}

/// Witness (`--reads`): some read is served.
pub fn read_served(_: &RaftModel, st: &RaftState) -> bool {
    st.ghost.read_served
}

/// Witness (`--snapshots`): an InstallSnapshot is in flight, so a compaction cut into entries a
/// follower still needed and the install rule is exercised (the option is not vacuous).
pub fn snapshot_sent(_: &RaftModel, st: &RaftState) -> bool {
    st.network
        .flights()
        .iter()
        .any(|f| matches!(f.msg, Msg::InstallSnapshot { .. }))
}
