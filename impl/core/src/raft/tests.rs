//! Unit tests: one per rule of Figure 2 and of § PreVote and CheckQuorum (as restated in
//! `docs/protocols/raft.md`), each asserting the exact commands the core emits.

use super::*;
use crate::command::{Command, Core, DurableWrite, Event, LogWrite, Timer};
use crate::types::{Entry, LogBase, LogIndex, PersistId, RequestId, ServerId, Snapshot, Term};
use std::collections::BTreeSet;

type Cmds = Vec<Command<Message, HardState>>;

const S1: ServerId = ServerId(1);
const S2: ServerId = ServerId(2);
const S3: ServerId = ServerId(3);

fn core(id: ServerId, term: u64, voted_for: Option<ServerId>, log: &[(u64, u8)]) -> RaftCore {
    restored(RaftConfig::new(id, vec![S1, S2, S3]), term, voted_for, log)
}

/// A started core with `config` and the given durable state.
fn restored(
    config: RaftConfig,
    term: u64,
    voted_for: Option<ServerId>,
    log: &[(u64, u8)],
) -> RaftCore {
    let log = log.iter().map(|&(t, v)| entry(t, v)).collect();
    let mut c = RaftCore::restore(
        config,
        HardState {
            term: Term(term),
            voted_for,
        },
        log,
    );
    c.start();
    assert_eq!(c.take_commands(), vec![Command::SetTimer(Timer::Election)]);
    c
}

/// Value 0 is the no-op, as in the model.
fn entry(term: u64, value: u8) -> Entry {
    if value == 0 {
        Entry::noop(Term(term))
    } else {
        Entry::command(Term(term), vec![value])
    }
}

fn step(c: &mut RaftCore, event: Event<Message>) -> Cmds {
    c.handle(event);
    c.take_commands()
}

fn deliver(c: &mut RaftCore, from: ServerId, msg: Message) -> Cmds {
    step(c, Event::Message { from, msg })
}

fn persisted(c: &mut RaftCore, id: u64) -> Cmds {
    step(c, Event::Persisted { id: PersistId(id) })
}

fn hs(term: u64, voted_for: Option<ServerId>) -> Option<HardState> {
    Some(HardState {
        term: Term(term),
        voted_for,
    })
}

fn persist(
    id: u64,
    hard_state: Option<HardState>,
    log: Vec<LogWrite>,
) -> Command<Message, HardState> {
    // Raft writes its hard state before the log writes of the same event (see `finish`).
    let writes = hard_state
        .map(DurableWrite::HardState)
        .into_iter()
        .chain(log.into_iter().map(DurableWrite::Log))
        .collect();
    Command::Persist {
        id: PersistId(id),
        writes,
    }
}

fn send(to: ServerId, msg: Message) -> Command<Message, HardState> {
    Command::Send { to, msg }
}

fn append_write(index: u64, term: u64, value: u8) -> LogWrite {
    LogWrite::Append {
        index: LogIndex(index),
        entry: entry(term, value),
    }
}

fn rv(term: u64, last_log_term: u64, last_log_index: u64) -> Message {
    Message::RequestVote {
        term: Term(term),
        last_log_term: Term(last_log_term),
        last_log_index: LogIndex(last_log_index),
    }
}

fn rvr(term: u64, granted: bool) -> Message {
    Message::RequestVoteResponse {
        term: Term(term),
        granted,
    }
}

fn ae(term: u64, prev: u64, prev_term: u64, entries: &[(u64, u8)], commit: u64) -> Message {
    Message::AppendEntries {
        term: Term(term),
        prev_log_index: LogIndex(prev),
        prev_log_term: Term(prev_term),
        entries: entries.iter().map(|&(t, v)| entry(t, v)).collect(),
        commit: LogIndex(commit),
        round: 0,
    }
}

fn aer(term: u64, success: bool, match_index: u64) -> Message {
    Message::AppendEntriesResponse {
        term: Term(term),
        success,
        match_index: LogIndex(match_index),
        round: 0,
    }
}

fn pv(term: u64, last_log_term: u64, last_log_index: u64) -> Message {
    Message::PreVote {
        term: Term(term),
        last_log_term: Term(last_log_term),
        last_log_index: LogIndex(last_log_index),
    }
}

fn pvr(term: u64, granted: bool) -> Message {
    Message::PreVoteResponse {
        term: Term(term),
        granted,
    }
}

fn apply(index: u64, term: u64, value: u8) -> Command<Message, HardState> {
    Command::Apply {
        index: LogIndex(index),
        entry: entry(term, value),
    }
}

/// Makes `S1` leader of term 1 with the no-op at index 1 durable; returns it with no commands queued.
fn leader_of_term_1() -> RaftCore {
    leader_of_term_1_with(RaftConfig::new(S1, vec![S1, S2, S3]))
}

/// `leader_of_term_1` with `config` (whose id is `S1`).
fn leader_of_term_1_with(config: RaftConfig) -> RaftCore {
    let mut c = restored(config, 0, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    let cmds = deliver(&mut c, S2, rvr(1, true));
    assert_eq!(c.role(), Role::Leader);
    assert_eq!(cmds.len(), 5, "{cmds:?}");
    persisted(&mut c, 2);
    c
}

#[test]
fn election_timeout_makes_a_candidate_whose_requests_wait_for_the_vote_to_be_durable() {
    let mut c = core(S1, 0, None, &[(0, 0)][..0]);
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(1, hs(1, Some(S1)), vec![])
        ]
    );
    assert_eq!(
        (c.role(), c.term(), c.voted_for()),
        (Role::Candidate, Term(1), Some(S1))
    );
    assert_eq!(
        persisted(&mut c, 1),
        vec![send(S2, rv(1, 0, 0)), send(S3, rv(1, 0, 0))]
    );
}

#[test]
fn request_vote_carries_the_last_log_term_and_index() {
    let mut c = core(S1, 2, None, &[(1, 1), (2, 2)]);
    step(&mut c, Event::Timer(Timer::Election));
    assert_eq!(
        persisted(&mut c, 1),
        vec![send(S2, rv(3, 2, 2)), send(S3, rv(3, 2, 2))]
    );
}

#[test]
fn higher_term_is_adopted_and_persisted_before_the_reply() {
    // Figure 2, all servers: "If RPC request or response contains term T > currentTerm: set
    // currentTerm = T, convert to follower".
    let mut c = core(S1, 1, Some(S1), &[]);
    assert_eq!(
        deliver(&mut c, S2, rv(3, 0, 0)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(1, hs(3, Some(S2)), vec![])
        ]
    );
    assert_eq!(persisted(&mut c, 1), vec![send(S2, rvr(3, true))]);
}

#[test]
fn vote_is_granted_once_per_term() {
    let mut c = core(S1, 1, None, &[]);
    assert_eq!(
        deliver(&mut c, S2, rv(1, 0, 0)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(1, hs(1, Some(S2)), vec![])
        ]
    );
    persisted(&mut c, 1);
    // Same term, another candidate: refused, nothing to persist, and the refusal is not sent.
    assert_eq!(deliver(&mut c, S3, rv(1, 0, 0)), vec![]);
    // The same candidate again (a retransmission): granted again, no new persist.
    assert_eq!(
        deliver(&mut c, S2, rv(1, 0, 0)),
        vec![Command::SetTimer(Timer::Election), send(S2, rvr(1, true))]
    );
}

#[test]
fn vote_is_refused_to_a_less_up_to_date_log() {
    // §5.4.1: last term compared first, then length.
    // Refusals in the candidate's own term are not sent.
    let mut c = core(S1, 2, None, &[(1, 1), (2, 2)]);
    assert_eq!(deliver(&mut c, S2, rv(2, 1, 5)), vec![]);
    assert_eq!(deliver(&mut c, S2, rv(2, 2, 1)), vec![]);
    assert_eq!(
        deliver(&mut c, S3, rv(2, 2, 2)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(1, hs(2, Some(S3)), vec![])
        ]
    );
}

#[test]
fn request_vote_with_smaller_term_is_refused() {
    // The refusal is sent: its newer term makes the stale candidate step down.
    let mut c = core(S1, 3, None, &[]);
    assert_eq!(
        deliver(&mut c, S2, rv(2, 0, 0)),
        vec![send(S2, rvr(3, false))]
    );
}

#[test]
fn refusal_after_adopting_the_candidates_term_is_persisted_but_not_sent() {
    // The higher term is adopted (and persisted), then the request is refused in what is now the
    // candidate's own term: nothing is sent, not even once the term is durable.
    let mut c = core(S1, 1, Some(S1), &[(1, 1), (1, 2)]);
    assert_eq!(
        deliver(&mut c, S2, rv(3, 0, 0)),
        vec![persist(1, hs(3, None), vec![])]
    );
    assert_eq!(persisted(&mut c, 1), vec![]);
    assert_eq!((c.term(), c.voted_for()), (Term(3), None));
    // A leader deposed by a candidate it refuses: steps down, persists, sends nothing.
    let mut c = leader_of_term_1();
    assert_eq!(
        deliver(&mut c, S2, rv(2, 0, 0)),
        vec![
            Command::CancelTimer(Timer::Heartbeat),
            Command::SetTimer(Timer::Election),
            persist(3, hs(2, None), vec![]),
        ]
    );
    assert_eq!(persisted(&mut c, 3), vec![]);
    assert_eq!(c.role(), Role::Follower);
}

#[test]
fn candidate_and_leader_refuse_their_own_term_silently() {
    // Each voted for itself in its term, so a rival candidate of that term is refused, unsent.
    let mut c = core(S1, 0, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    assert_eq!(deliver(&mut c, S2, rv(1, 0, 0)), vec![]);
    assert_eq!(c.role(), Role::Candidate);
    let mut c = leader_of_term_1();
    assert_eq!(deliver(&mut c, S3, rv(1, 1, 1)), vec![]);
    assert_eq!(c.role(), Role::Leader);
}

#[test]
fn majority_of_votes_makes_a_leader_that_appends_a_noop_and_replicates() {
    let mut c = core(S1, 0, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    assert_eq!(
        deliver(&mut c, S2, rvr(1, true)),
        vec![
            Command::CancelTimer(Timer::Election),
            Command::SetTimer(Timer::Heartbeat),
            send(S2, ae(1, 0, 0, &[(1, 0)], 0)),
            send(S3, ae(1, 0, 0, &[(1, 0)], 0)),
            persist(2, None, vec![append_write(1, 1, 0)]),
        ]
    );
    assert_eq!(c.role(), Role::Leader);
    let p = c.progress()[&S3];
    assert_eq!((p.next_index, p.match_index), (LogIndex(1), LogIndex(0)));
    // A late vote changes nothing.
    assert_eq!(deliver(&mut c, S3, rvr(1, true)), vec![]);
}

#[test]
fn leader_without_noop_sends_empty_append_entries() {
    let mut config = RaftConfig::new(S1, vec![S1, S2, S3]);
    config.leader_noop = false;
    let mut c = RaftCore::restore(config, HardState::default(), vec![]);
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    assert_eq!(
        deliver(&mut c, S2, rvr(1, true)),
        vec![
            Command::CancelTimer(Timer::Election),
            Command::SetTimer(Timer::Heartbeat),
            send(S2, ae(1, 0, 0, &[], 0)),
            send(S3, ae(1, 0, 0, &[], 0)),
        ]
    );
}

#[test]
fn stale_and_refused_vote_responses_are_ignored() {
    let mut c = core(S1, 4, None, &[]);
    step(&mut c, Event::Timer(Timer::Election)); // term 5
    persisted(&mut c, 1);
    assert_eq!(deliver(&mut c, S2, rvr(4, true)), vec![]);
    assert_eq!(deliver(&mut c, S2, rvr(5, false)), vec![]);
    assert_eq!(c.role(), Role::Candidate);
    assert_eq!(c.votes().len(), 1);
}

#[test]
fn candidate_times_out_into_a_new_term() {
    let mut c = core(S1, 0, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(2, hs(2, Some(S1)), vec![])
        ]
    );
}

#[test]
fn append_entries_with_smaller_term_is_refused() {
    let mut c = core(S1, 3, None, &[]);
    assert_eq!(
        deliver(&mut c, S2, ae(2, 0, 0, &[], 0)),
        vec![send(S2, aer(3, false, 0))]
    );
}

#[test]
fn append_entries_in_current_term_turns_a_candidate_into_follower() {
    let mut c = core(S1, 0, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    assert_eq!(
        deliver(&mut c, S2, ae(1, 0, 0, &[], 0)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, aer(1, true, 0))
        ]
    );
    assert_eq!((c.role(), c.leader()), (Role::Follower, Some(S2)));
}

#[test]
fn append_entries_fails_the_log_check() {
    let mut c = core(S1, 2, None, &[(1, 1)]);
    // prev index beyond the log
    assert_eq!(
        deliver(&mut c, S2, ae(2, 2, 1, &[(2, 3)], 0)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, aer(2, false, 0))
        ]
    );
    // prev term mismatch
    assert_eq!(
        deliver(&mut c, S2, ae(2, 1, 2, &[(2, 3)], 0)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, aer(2, false, 0))
        ]
    );
    assert_eq!(c.log().len(), 1);
}

#[test]
fn append_entries_appends_and_replies_after_the_entries_are_durable() {
    let mut c = core(S1, 1, None, &[]);
    assert_eq!(
        deliver(&mut c, S2, ae(1, 0, 0, &[(1, 0), (1, 7)], 1)),
        vec![
            Command::SetTimer(Timer::Election),
            apply(1, 1, 0),
            persist(1, None, vec![append_write(1, 1, 0), append_write(2, 1, 7)]),
        ]
    );
    assert_eq!(c.commit(), LogIndex(1));
    // A heartbeat while the append is not yet durable: its reply waits too.
    assert_eq!(
        deliver(&mut c, S2, ae(1, 2, 1, &[], 2)),
        vec![Command::SetTimer(Timer::Election), apply(2, 1, 7)]
    );
    assert_eq!(
        persisted(&mut c, 1),
        vec![send(S2, aer(1, true, 2)), send(S2, aer(1, true, 2))]
    );
}

#[test]
fn conflicting_entries_are_truncated_and_replaced() {
    // Figure 2 receiver rule 3: delete the conflicting entry and all that follow it.
    let mut c = core(S1, 3, None, &[(1, 1), (2, 2), (2, 3)]);
    assert_eq!(
        deliver(&mut c, S2, ae(3, 1, 1, &[(3, 4)], 0)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(
                1,
                None,
                vec![
                    LogWrite::Truncate { from: LogIndex(2) },
                    append_write(2, 3, 4)
                ]
            ),
        ]
    );
    assert_eq!(c.log(), &[entry(1, 1), entry(3, 4)]);
}

#[test]
fn stale_shorter_append_entries_never_truncates() {
    let mut c = core(S1, 1, None, &[(1, 1), (1, 2), (1, 3)]);
    assert_eq!(
        deliver(&mut c, S2, ae(1, 0, 0, &[(1, 1)], 0)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, aer(1, true, 1))
        ]
    );
    assert_eq!(c.log().len(), 3);
}

#[test]
fn follower_commit_is_bounded_by_its_log_length() {
    // `commit = max(commit, min(message.commit, length))`: bounded by the follower's log, not by
    // what this message carries (a correct leader never sends commit > prev + len(entries)).
    let mut c = core(S1, 1, None, &[(1, 1), (1, 2), (1, 3)]);
    assert_eq!(
        deliver(&mut c, S2, ae(1, 1, 1, &[], 9)),
        vec![
            Command::SetTimer(Timer::Election),
            apply(1, 1, 1),
            apply(2, 1, 2),
            apply(3, 1, 3),
            send(S2, aer(1, true, 1)),
        ]
    );
    assert_eq!(c.commit(), LogIndex(3));
}

#[test]
fn follower_commit_never_decreases() {
    let mut c = core(S1, 1, None, &[]);
    deliver(&mut c, S2, ae(1, 0, 0, &[(1, 1), (1, 2)], 2));
    persisted(&mut c, 1);
    deliver(&mut c, S2, ae(1, 0, 0, &[(1, 1)], 0));
    assert_eq!(c.commit(), LogIndex(2));
}

#[test]
fn leader_ignores_append_entries_of_its_own_term() {
    let mut c = leader_of_term_1();
    assert_eq!(deliver(&mut c, S2, ae(1, 0, 0, &[], 0)), vec![]);
    assert_eq!(c.role(), Role::Leader);
}

#[test]
fn heartbeat_carries_no_entries_and_commit_bounded_by_prev() {
    let mut c = leader_of_term_1();
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Heartbeat)),
        vec![
            Command::SetTimer(Timer::Heartbeat),
            send(S2, ae(1, 0, 0, &[], 0)),
            send(S3, ae(1, 0, 0, &[], 0)),
        ]
    );
    // S2 acknowledges the no-op (commit 1); a client entry follows, not yet acknowledged.
    assert_eq!(deliver(&mut c, S2, aer(1, true, 1)), vec![apply(1, 1, 0)]);
    step(
        &mut c,
        Event::ClientRequest {
            request: RequestId(1),
            data: vec![5],
        },
    );
    // Even though S2 and S3 lack index 2, the heartbeat sends nothing from next_index:
    // S2 (next 2) hears prev 1 and commit min(1, 1); S3 (next 1) hears prev 0 and commit 0.
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Heartbeat)),
        vec![
            Command::SetTimer(Timer::Heartbeat),
            send(S2, ae(1, 1, 1, &[], 1)),
            send(S3, ae(1, 0, 0, &[], 0)),
        ]
    );
}

#[test]
fn success_that_leaves_the_follower_behind_sends_the_rest() {
    let mut c = leader_of_term_1();
    for (request, value) in [(1, 4), (2, 5)] {
        step(
            &mut c,
            Event::ClientRequest {
                request: RequestId(request),
                data: vec![value],
            },
        );
    }
    persisted(&mut c, 4);
    // S2 acknowledges only the no-op: match 1, next 2 <= length 3. The commit advances first, so
    // the catch-up carries the new commit.
    assert_eq!(
        deliver(&mut c, S2, aer(1, true, 1)),
        vec![apply(1, 1, 0), send(S2, ae(1, 1, 1, &[(1, 4), (1, 5)], 1))]
    );
    // A success that brings the follower to the end sends nothing.
    assert_eq!(
        deliver(&mut c, S2, aer(1, true, 3)),
        vec![apply(2, 1, 4), apply(3, 1, 5)]
    );
    let p = c.progress()[&S2];
    assert_eq!((p.next_index, p.match_index), (LogIndex(4), LogIndex(3)));
}

#[test]
fn acknowledged_match_index_is_clamped_to_the_leaders_log() {
    // `match_index[j] = max(match_index[j], min(m.match_index, length))`: an acknowledgement past
    // the leader's end counts as its whole log, and next_index stays within length + 1.
    let mut c = leader_of_term_1();
    assert_eq!(deliver(&mut c, S2, aer(1, true, 7)), vec![apply(1, 1, 0)]);
    let p = c.progress()[&S2];
    assert_eq!((p.next_index, p.match_index), (LogIndex(2), LogIndex(1)));
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Heartbeat)),
        vec![
            Command::SetTimer(Timer::Heartbeat),
            send(S2, ae(1, 1, 1, &[], 1)),
            send(S3, ae(1, 0, 0, &[], 0)),
        ]
    );
}

#[test]
fn leader_commits_on_majority_and_tells_followers_only_what_they_share() {
    let mut c = leader_of_term_1();
    assert_eq!(deliver(&mut c, S2, aer(1, true, 1)), vec![apply(1, 1, 0)]);
    assert_eq!(c.commit(), LogIndex(1));
    let request = RequestId(9);
    assert_eq!(
        step(
            &mut c,
            Event::ClientRequest {
                request,
                data: vec![5]
            }
        ),
        vec![
            Command::ClientAccepted {
                request,
                index: LogIndex(2),
                term: Term(1)
            },
            send(S2, ae(1, 1, 1, &[(1, 5)], 1)),
            // S3 has next_index 1: it gets both entries and commit = min(1, 0 + 2).
            send(S3, ae(1, 0, 0, &[(1, 0), (1, 5)], 1)),
            persist(3, None, vec![append_write(2, 1, 5)]),
        ]
    );
    // A follower acknowledges index 2 before the leader's own write is durable: no commit yet.
    assert_eq!(deliver(&mut c, S3, aer(1, true, 2)), vec![]);
    assert_eq!(persisted(&mut c, 3), vec![apply(2, 1, 5)]);
}

#[test]
fn leader_only_commits_entries_of_its_own_term_by_counting() {
    // §5.4.2 / Figure 8 (raft-rs test_leader_only_commits_log_from_current_term).
    let mut config = RaftConfig::new(S1, vec![S1, S2, S3]);
    config.leader_noop = false;
    let mut c = RaftCore::restore(
        config,
        HardState {
            term: Term(2),
            voted_for: None,
        },
        vec![entry(1, 1), entry(2, 2)],
    );
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    deliver(&mut c, S2, rvr(3, true));
    assert_eq!(c.role(), Role::Leader);
    assert_eq!(deliver(&mut c, S2, aer(3, true, 1)), vec![]);
    assert_eq!(deliver(&mut c, S2, aer(3, true, 2)), vec![]);
    assert_eq!(c.commit(), LogIndex(0));
    step(
        &mut c,
        Event::ClientRequest {
            request: RequestId(1),
            data: vec![3],
        },
    );
    persisted(&mut c, 2);
    assert_eq!(
        deliver(&mut c, S2, aer(3, true, 3)),
        vec![apply(1, 1, 1), apply(2, 2, 2), apply(3, 3, 3)]
    );
}

#[test]
fn rejection_decrements_next_index_and_resends_at_once() {
    let mut c = leader_of_term_1();
    step(
        &mut c,
        Event::ClientRequest {
            request: RequestId(1),
            data: vec![4],
        },
    );
    deliver(&mut c, S2, aer(1, true, 2));
    assert_eq!(c.progress()[&S2].next_index, LogIndex(3));
    assert_eq!(
        deliver(&mut c, S2, aer(1, false, 0)),
        vec![send(S2, ae(1, 1, 1, &[(1, 4)], 1))]
    );
    assert_eq!(c.progress()[&S2].next_index, LogIndex(2));
    // next_index never goes below 1
    deliver(&mut c, S3, aer(1, false, 0));
    assert_eq!(c.progress()[&S3].next_index, LogIndex(1));
}

#[test]
fn success_never_moves_match_or_next_backwards() {
    let mut c = leader_of_term_1();
    step(
        &mut c,
        Event::ClientRequest {
            request: RequestId(1),
            data: vec![4],
        },
    );
    deliver(&mut c, S2, aer(1, true, 2));
    deliver(&mut c, S2, aer(1, true, 1));
    let p = c.progress()[&S2];
    assert_eq!((p.next_index, p.match_index), (LogIndex(3), LogIndex(2)));
}

#[test]
fn leader_steps_down_on_a_higher_term() {
    let mut c = leader_of_term_1();
    assert_eq!(
        deliver(&mut c, S2, aer(2, false, 0)),
        vec![
            Command::CancelTimer(Timer::Heartbeat),
            Command::SetTimer(Timer::Election),
            persist(3, hs(2, None), vec![]),
        ]
    );
    assert_eq!(
        (c.role(), c.term(), c.leader()),
        (Role::Follower, Term(2), None)
    );
}

#[test]
fn follower_rejects_client_requests_naming_the_leader() {
    let mut c = core(S1, 1, None, &[]);
    deliver(&mut c, S3, ae(1, 0, 0, &[], 0));
    assert_eq!(
        step(
            &mut c,
            Event::ClientRequest {
                request: RequestId(4),
                data: vec![1]
            }
        ),
        vec![Command::ClientRejected {
            request: RequestId(4),
            leader: Some(S3)
        }]
    );
}

#[test]
fn restart_keeps_term_vote_and_log_but_resets_commit() {
    let mut c = core(S1, 1, None, &[]);
    deliver(&mut c, S2, ae(1, 0, 0, &[(1, 0)], 1));
    let restarted = RaftCore::restore(c.config().clone(), c.hard_state(), c.log().to_vec());
    assert_eq!(
        (restarted.commit(), restarted.term(), restarted.log().len()),
        (LogIndex(0), Term(1), 1)
    );
    assert_eq!(restarted.role(), Role::Follower);
}

#[test]
fn single_server_cluster_elects_itself_and_commits_alone() {
    let mut c = RaftCore::restore(RaftConfig::new(S1, vec![S1]), HardState::default(), vec![]);
    c.start();
    c.take_commands();
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::SetTimer(Timer::Election),
            Command::CancelTimer(Timer::Election),
            Command::SetTimer(Timer::Heartbeat),
            persist(1, hs(1, Some(S1)), vec![append_write(1, 1, 0)]),
        ]
    );
    assert_eq!(persisted(&mut c, 1), vec![apply(1, 1, 0)]);
}

#[test]
fn messages_from_unknown_servers_are_ignored() {
    let mut c = core(S1, 1, None, &[]);
    assert_eq!(deliver(&mut c, ServerId(9), rv(5, 0, 0)), vec![]);
    assert_eq!(deliver(&mut c, S1, rv(5, 0, 0)), vec![]);
    assert_eq!(c.term(), Term(1));
}

#[test]
fn append_entries_respects_the_message_budget() {
    let mut config = RaftConfig::new(S1, vec![S1, S2, S3]);
    config.max_append_entries = 2;
    let mut c = RaftCore::restore(
        config,
        HardState::default(),
        vec![entry(0, 1), entry(0, 2), entry(0, 3)],
    );
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    let cmds = deliver(&mut c, S2, rvr(1, true));
    assert!(
        cmds.contains(&send(S2, ae(1, 3, 0, &[(1, 0)], 0))),
        "{cmds:?}"
    );
    deliver(&mut c, S2, aer(1, false, 0));
    let cmds = deliver(&mut c, S2, aer(1, false, 0));
    assert_eq!(cmds, vec![send(S2, ae(1, 1, 0, &[(0, 2), (0, 3)], 0))]);
    // The success leaves S2 behind (next 4 <= length 4): the rest follows at once, so a bounded
    // catch-up needs no heartbeat. Index 3 is of term 0, so nothing commits.
    assert_eq!(
        deliver(&mut c, S2, aer(1, true, 3)),
        vec![send(S2, ae(1, 3, 0, &[(1, 0)], 0))]
    );
    assert_eq!(deliver(&mut c, S2, aer(1, true, 4)), vec![]);
}

#[test]
fn forged_append_entries_that_would_truncate_a_committed_entry_is_ignored() {
    // A legitimate leader never conflicts with a committed entry (Leader Completeness), so such a
    // message is dropped whole: no term, role, leader, log, timer or reply change. Before, it hit
    // an assertion and crashed the server.
    for pre_vote in [false, true] {
        let mut config = RaftConfig::new(S1, vec![S1, S2, S3]);
        config.pre_vote = pre_vote;
        let mut c = restored(config, 1, None, &[]);
        deliver(&mut c, S2, ae(1, 0, 0, &[(1, 1)], 1));
        persisted(&mut c, 1);
        assert_eq!(c.commit(), LogIndex(1));
        let before = format!("{c:?}");
        // Current term, prev 0, one entry of a higher term at the committed index 1.
        assert_eq!(deliver(&mut c, S3, ae(1, 0, 0, &[(2, 9)], 0)), vec![]);
        // Nor does a newer term make it through (the term is not adopted either).
        assert_eq!(deliver(&mut c, S3, ae(2, 0, 0, &[(2, 9)], 0)), vec![]);
        assert_eq!(format!("{c:?}"), before, "pre_vote {pre_vote}");
        // A stale leader's conflicting message is still answered with the newer term.
        assert_eq!(
            deliver(&mut c, S3, ae(0, 0, 0, &[(0, 9)], 0)),
            vec![send(S3, aer(1, false, 0))]
        );
    }
}

/// A started core of `S1..S3` with PreVote and CheckQuorum on.
fn pre_vote_core(
    id: ServerId,
    term: u64,
    voted_for: Option<ServerId>,
    log: &[(u64, u8)],
) -> RaftCore {
    let mut config = RaftConfig::new(id, vec![S1, S2, S3]);
    config.pre_vote = true;
    restored(config, term, voted_for, log)
}

/// `S1` with PreVote, leader of term 1 (no-op durable) through a pre-vote and a vote from `S2`.
fn pre_vote_leader_of_term_1() -> RaftCore {
    let mut c = pre_vote_core(S1, 0, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    deliver(&mut c, S2, pvr(1, true));
    persisted(&mut c, 1);
    assert_eq!(
        deliver(&mut c, S2, rvr(1, true)),
        vec![
            // raft.checkquorum.step-down: the election timer stays armed on a leader.
            Command::SetTimer(Timer::Election),
            Command::SetTimer(Timer::Heartbeat),
            send(S2, ae(1, 0, 0, &[(1, 0)], 0)),
            send(S3, ae(1, 0, 0, &[(1, 0)], 0)),
            persist(2, None, vec![append_write(1, 1, 0)]),
        ]
    );
    persisted(&mut c, 2);
    c
}

#[test]
fn pre_vote_timeout_asks_for_pre_votes_without_raising_the_term() {
    // raft.prevote.timeout: term and vote unchanged, nothing persisted, PreVotes sent at once.
    let mut c = pre_vote_core(S1, 2, Some(S3), &[(1, 1), (2, 2)]);
    deliver(&mut c, S3, ae(2, 2, 2, &[], 0));
    assert_eq!(c.leader(), Some(S3));
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, pv(3, 2, 2)),
            send(S3, pv(3, 2, 2)),
        ]
    );
    assert_eq!(
        (c.role(), c.term(), c.voted_for(), c.leader()),
        (Role::PreCandidate, Term(2), Some(S3), None)
    );
    assert_eq!(c.role().name(), "pre_candidate");
    assert_eq!(c.votes(), &BTreeSet::from([S1]));
    assert!(!c.has_pending_persist());
    // A pre-candidate that times out asks again, still in the same term; so does a candidate.
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, pv(3, 2, 2)),
            send(S3, pv(3, 2, 2)),
        ]
    );
    let mut c = pre_vote_core(S1, 0, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    deliver(&mut c, S2, pvr(1, true));
    persisted(&mut c, 1);
    assert_eq!(c.role(), Role::Candidate);
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, pv(2, 0, 0)),
            send(S3, pv(2, 0, 0)),
        ]
    );
    assert_eq!(
        (c.role(), c.term(), c.voted_for()),
        (Role::PreCandidate, Term(1), Some(S1))
    );
}

#[test]
fn pre_vote_in_a_one_server_cluster_starts_the_election_at_once() {
    let mut config = RaftConfig::new(S1, vec![S1]);
    config.pre_vote = true;
    let mut c = restored(config, 0, None, &[]);
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::SetTimer(Timer::Election),
            Command::SetTimer(Timer::Election),
            Command::SetTimer(Timer::Heartbeat),
            persist(1, hs(1, Some(S1)), vec![append_write(1, 1, 0)]),
        ]
    );
    assert_eq!(c.role(), Role::Leader);
    // Its quorum check passes alone.
    persisted(&mut c, 1);
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![Command::SetTimer(Timer::Election)]
    );
    assert_eq!(c.role(), Role::Leader);
}

#[test]
fn pre_vote_of_a_newer_term_is_answered_without_adopting_it() {
    // raft.prevote.grant: a grant carries the PreVote's term; the receiver's term and vote do
    // not change and nothing is persisted.
    let mut c = pre_vote_core(S1, 1, Some(S2), &[(1, 1)]);
    assert_eq!(
        deliver(&mut c, S3, pv(2, 1, 1)),
        vec![send(S3, pvr(2, true))]
    );
    // A less up-to-date log is refused in the receiver's own term (which does not make the
    // pre-candidate step down: only a genuinely newer term does).
    assert_eq!(
        deliver(&mut c, S3, pv(2, 0, 0)),
        vec![send(S3, pvr(1, false))]
    );
    // A PreVote for a term not newer than the receiver's is refused in the receiver's term.
    assert_eq!(
        deliver(&mut c, S3, pv(1, 1, 1)),
        vec![send(S3, pvr(1, false))]
    );
    assert_eq!(
        (c.role(), c.term(), c.voted_for()),
        (Role::Follower, Term(1), Some(S2))
    );
    assert!(!c.has_pending_persist());
    // The answer does not wait for an earlier persist: a pre-vote binds no one.
    let mut c = pre_vote_core(S1, 1, None, &[]);
    deliver(&mut c, S2, rv(3, 0, 0));
    assert!(c.has_pending_persist());
    assert_eq!(
        deliver(&mut c, S3, pv(4, 0, 0)),
        vec![send(S3, pvr(4, true))]
    );
}

#[test]
fn pre_vote_is_ignored_in_lease() {
    // raft.prevote.grant: a follower that heard from its leader since its last timeout, and a
    // leader, answer nothing.
    let mut c = pre_vote_core(S1, 1, None, &[]);
    deliver(&mut c, S2, ae(1, 0, 0, &[], 0));
    assert_eq!(deliver(&mut c, S3, pv(2, 5, 5)), vec![]);
    assert_eq!(deliver(&mut c, S3, pv(1, 5, 5)), vec![]);
    assert_eq!((c.term(), c.leader()), (Term(1), Some(S2)));
    let mut c = pre_vote_leader_of_term_1();
    assert_eq!(deliver(&mut c, S3, pv(2, 5, 5)), vec![]);
    assert_eq!((c.role(), c.term()), (Role::Leader, Term(1)));
    // The lease ends with the election timeout: the pre-candidate answers.
    let mut c = pre_vote_core(S1, 1, None, &[]);
    deliver(&mut c, S2, ae(1, 0, 0, &[], 0));
    step(&mut c, Event::Timer(Timer::Election));
    assert_eq!(
        deliver(&mut c, S3, pv(2, 0, 0)),
        vec![send(S3, pvr(2, true))]
    );
}

#[test]
fn a_majority_of_pre_votes_starts_the_real_election() {
    // raft.prevote.count: exactly Figure 2's election timeout, RequestVotes after the persist.
    let mut c = pre_vote_core(S1, 1, None, &[(1, 1)]);
    step(&mut c, Event::Timer(Timer::Election));
    assert_eq!(
        deliver(&mut c, S3, pvr(2, true)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(1, hs(2, Some(S1)), vec![])
        ]
    );
    assert_eq!(
        (c.role(), c.term(), c.voted_for()),
        (Role::Candidate, Term(2), Some(S1))
    );
    assert_eq!(c.votes(), &BTreeSet::from([S1]));
    assert_eq!(
        persisted(&mut c, 1),
        vec![send(S2, rv(2, 1, 1)), send(S3, rv(2, 1, 1))]
    );
    // A late pre-vote grant changes nothing now.
    assert_eq!(deliver(&mut c, S2, pvr(2, true)), vec![]);
    assert_eq!(c.role(), Role::Candidate);
}

#[test]
fn other_pre_vote_responses_are_ignored() {
    // raft.prevote.count: a grant is not a newer term, and counts only at a pre-candidate for
    // its next term; a refusal not newer than the receiver's term is dead.
    let mut c = pre_vote_core(S1, 1, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    assert_eq!(deliver(&mut c, S2, pvr(3, true)), vec![]);
    assert_eq!(deliver(&mut c, S2, pvr(1, true)), vec![]);
    assert_eq!(deliver(&mut c, S2, pvr(1, false)), vec![]);
    assert_eq!(
        (c.role(), c.term(), c.votes().len()),
        (Role::PreCandidate, Term(1), 1)
    );
    // A follower does not count a grant (nor adopt its term).
    let mut c = pre_vote_core(S1, 1, None, &[]);
    assert_eq!(deliver(&mut c, S2, pvr(2, true)), vec![]);
    assert_eq!((c.role(), c.term()), (Role::Follower, Term(1)));
}

#[test]
fn pre_vote_refusal_of_a_newer_term_steps_down() {
    // raft.prevote.count: a refusal with a newer term is adopted like any newer term.
    let mut c = pre_vote_core(S1, 1, Some(S1), &[]);
    step(&mut c, Event::Timer(Timer::Election));
    assert_eq!(
        deliver(&mut c, S2, pvr(3, false)),
        vec![persist(1, hs(3, None), vec![])]
    );
    assert_eq!(
        (c.role(), c.term(), c.voted_for()),
        (Role::Follower, Term(3), None)
    );
    assert!(c.votes().is_empty());
}

#[test]
fn request_vote_of_a_newer_term_is_ignored_in_lease() {
    // raft.lease.ignore-vote: no term adoption, no reply, at a follower that hears its leader
    // and at a leader.
    let mut c = pre_vote_core(S1, 1, None, &[]);
    deliver(&mut c, S2, ae(1, 0, 0, &[], 0));
    assert_eq!(deliver(&mut c, S3, rv(2, 5, 5)), vec![]);
    assert_eq!((c.term(), c.voted_for()), (Term(1), None));
    let mut c = pre_vote_leader_of_term_1();
    assert_eq!(deliver(&mut c, S3, rv(2, 5, 5)), vec![]);
    assert_eq!((c.role(), c.term()), (Role::Leader, Term(1)));
    // Out of lease (after its timeout) the same request is adopted and granted.
    let mut c = pre_vote_core(S1, 1, None, &[]);
    deliver(&mut c, S2, ae(1, 0, 0, &[], 0));
    step(&mut c, Event::Timer(Timer::Election));
    assert_eq!(
        deliver(&mut c, S3, rv(2, 5, 5)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(1, hs(2, Some(S3)), vec![])
        ]
    );
    // Without PreVote there is no lease: a follower that hears its leader adopts the term.
    let mut c = core(S1, 1, None, &[]);
    deliver(&mut c, S2, ae(1, 0, 0, &[], 0));
    assert_eq!(
        deliver(&mut c, S3, rv(2, 5, 5)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(1, hs(2, Some(S3)), vec![])
        ]
    );
}

#[test]
fn leader_with_a_quorum_stays_and_starts_a_new_period() {
    // raft.checkquorum.recent, raft.checkquorum.step-down.
    let mut c = pre_vote_leader_of_term_1();
    assert_eq!(deliver(&mut c, S2, aer(1, true, 1)), vec![apply(1, 1, 0)]);
    // A refusal of its term counts as hearing from S3 too.
    deliver(&mut c, S3, aer(1, false, 0));
    assert_eq!(c.recent_active(), &BTreeSet::from([S2, S3]));
    // Responses of another term do not count.
    deliver(&mut c, S2, aer(0, true, 0));
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![Command::SetTimer(Timer::Election)]
    );
    assert!(c.recent_active().is_empty());
    assert_eq!((c.role(), c.term()), (Role::Leader, Term(1)));
}

#[test]
fn leader_without_a_quorum_steps_down_in_its_term() {
    // raft.checkquorum.step-down: follower of the same term, no leader, heartbeats stop; nothing
    // is persisted (term and vote are unchanged).
    let mut c = pre_vote_leader_of_term_1();
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::CancelTimer(Timer::Heartbeat),
            Command::SetTimer(Timer::Election),
        ]
    );
    assert_eq!(
        (c.role(), c.term(), c.voted_for(), c.leader()),
        (Role::Follower, Term(1), Some(S1), None)
    );
    assert!(c.progress().is_empty() && c.recent_active().is_empty());
    assert!(!c.has_pending_persist());
    // Its next timeout asks for pre-votes.
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Election)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, pv(2, 1, 1)),
            send(S3, pv(2, 1, 1)),
        ]
    );
}

#[test]
fn without_pre_vote_a_leader_tracks_no_quorum() {
    let mut c = leader_of_term_1();
    deliver(&mut c, S2, aer(1, true, 1));
    assert!(c.recent_active().is_empty());
    assert_eq!(step(&mut c, Event::Timer(Timer::Election)), vec![]);
    assert_eq!(c.role(), Role::Leader);
}

#[test]
fn append_entries_turns_a_pre_candidate_into_a_follower_in_lease() {
    let mut c = pre_vote_core(S1, 1, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    assert_eq!(
        deliver(&mut c, S2, ae(1, 0, 0, &[], 0)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, aer(1, true, 0))
        ]
    );
    assert_eq!((c.role(), c.leader()), (Role::Follower, Some(S2)));
    assert!(c.votes().is_empty());
    // In lease now: a PreVote is ignored.
    assert_eq!(deliver(&mut c, S3, pv(2, 0, 0)), vec![]);
}

/// One test per seeded bug (`ImplMutant`): the same scenario on the correct core and on the
/// mutated one, asserting exactly what differs. Each fails if its mutant's branch is removed.
#[cfg(feature = "impl-mutants")]
mod impl_mutants {
    use super::*;

    /// The three-server configuration of `id`, running `mutant`.
    fn config(id: ServerId, mutant: Option<ImplMutant>) -> RaftConfig {
        let mut config = RaftConfig::new(id, vec![S1, S2, S3]);
        config.mutant = mutant;
        config
    }

    /// Runs `scenario` on the correct core and under `mutant`: (correct, mutated).
    fn both<T>(mutant: ImplMutant, scenario: impl Fn(Option<ImplMutant>) -> T) -> (T, T) {
        (scenario(None), scenario(Some(mutant)))
    }

    #[test]
    fn vote_ignores_log_grants_a_less_up_to_date_candidate() {
        // S1 holds (1,1),(2,2); S2 asks in term 2 with last term 1: correctly refused, unsent.
        let (correct, mutated) = both(ImplMutant::VoteIgnoresLog, |m| {
            let mut c = restored(config(S1, m), 2, None, &[(1, 1), (2, 2)]);
            let cmds = deliver(&mut c, S2, rv(2, 1, 5));
            let released = persisted(&mut c, 1);
            (cmds, released, c.voted_for())
        });
        assert_eq!(correct, (vec![], vec![], None));
        assert_eq!(
            mutated,
            (
                vec![
                    Command::SetTimer(Timer::Election),
                    persist(1, hs(2, Some(S2)), vec![])
                ],
                vec![send(S2, rvr(2, true))],
                Some(S2)
            )
        );
    }

    #[test]
    fn commit_previous_term_commits_an_earlier_terms_entry_by_counting() {
        // Figure 8: S1 leads term 3 (no no-op) over (1,1),(2,2); S2 acknowledges both.
        let (correct, mutated) = both(ImplMutant::CommitPreviousTerm, |m| {
            let mut config = config(S1, m);
            config.leader_noop = false;
            let mut c = restored(config, 2, None, &[(1, 1), (2, 2)]);
            step(&mut c, Event::Timer(Timer::Election));
            persisted(&mut c, 1);
            deliver(&mut c, S2, rvr(3, true));
            assert_eq!(c.role(), Role::Leader);
            let first = deliver(&mut c, S2, aer(3, true, 1));
            let second = deliver(&mut c, S2, aer(3, true, 2));
            (first, second, c.commit())
        });
        assert_eq!(correct, (vec![], vec![], LogIndex(0)));
        assert_eq!(
            mutated,
            (vec![apply(1, 1, 1)], vec![apply(2, 2, 2)], LogIndex(2))
        );
    }

    #[test]
    fn vote_not_persisted_neither_writes_the_vote_nor_waits_for_it() {
        // A grant in the voter's current term: correctly persisted before the reply leaves.
        let (correct, mutated) = both(ImplMutant::VoteNotPersisted, |m| {
            let mut c = restored(config(S1, m), 1, None, &[]);
            let cmds = deliver(&mut c, S2, rv(1, 0, 0));
            (cmds, c.voted_for(), c.has_pending_persist())
        });
        assert_eq!(
            correct,
            (
                vec![
                    Command::SetTimer(Timer::Election),
                    persist(1, hs(1, Some(S2)), vec![])
                ],
                Some(S2),
                true
            )
        );
        assert_eq!(
            mutated,
            (
                vec![Command::SetTimer(Timer::Election), send(S2, rvr(1, true))],
                Some(S2),
                false
            )
        );
        // A grant together with a newer term: the term is written, the vote is not.
        let (correct, mutated) = both(ImplMutant::VoteNotPersisted, |m| {
            let mut c = restored(config(S1, m), 1, Some(S1), &[]);
            let cmds = deliver(&mut c, S2, rv(3, 0, 0));
            (cmds, persisted(&mut c, 1), c.voted_for())
        });
        let released = vec![send(S2, rvr(3, true))];
        assert_eq!(
            correct,
            (
                vec![
                    Command::SetTimer(Timer::Election),
                    persist(1, hs(3, Some(S2)), vec![])
                ],
                released.clone(),
                Some(S2)
            )
        );
        assert_eq!(
            mutated,
            (
                vec![
                    Command::SetTimer(Timer::Election),
                    persist(1, hs(3, None), vec![])
                ],
                released,
                Some(S2)
            )
        );
        // A candidate's vote for itself is still written.
        let mut c = restored(config(S1, Some(ImplMutant::VoteNotPersisted)), 0, None, &[]);
        assert_eq!(
            step(&mut c, Event::Timer(Timer::Election)),
            vec![
                Command::SetTimer(Timer::Election),
                persist(1, hs(1, Some(S1)), vec![])
            ]
        );
    }

    #[test]
    fn reply_before_persist_sends_ahead_of_the_persist() {
        // A follower appends two entries: correctly, the acknowledgement waits for them.
        let (correct, mutated) = both(ImplMutant::ReplyBeforePersist, |m| {
            let mut c = restored(config(S1, m), 1, None, &[]);
            let cmds = deliver(&mut c, S2, ae(1, 0, 0, &[(1, 0), (1, 7)], 1));
            (cmds, persisted(&mut c, 1))
        });
        let write = persist(1, None, vec![append_write(1, 1, 0), append_write(2, 1, 7)]);
        let ack = send(S2, aer(1, true, 2));
        let timer = Command::SetTimer(Timer::Election);
        assert_eq!(
            correct,
            (
                vec![timer.clone(), apply(1, 1, 0), write.clone()],
                vec![ack.clone()]
            )
        );
        assert_eq!(mutated, (vec![timer, apply(1, 1, 0), ack, write], vec![]));
        // A candidate's RequestVotes leave before its vote for itself is durable.
        let mut c = restored(
            config(S1, Some(ImplMutant::ReplyBeforePersist)),
            0,
            None,
            &[],
        );
        assert_eq!(
            step(&mut c, Event::Timer(Timer::Election)),
            vec![
                Command::SetTimer(Timer::Election),
                send(S2, rv(1, 0, 0)),
                send(S3, rv(1, 0, 0)),
                persist(1, hs(1, Some(S1)), vec![])
            ]
        );
    }

    #[test]
    fn keep_conflicting_suffix_replaces_one_entry_and_keeps_the_rest() {
        // S1 holds (1,1),(2,2),(2,3); term 3 puts (3,4) at index 2.
        let (correct, mutated) = both(ImplMutant::KeepConflictingSuffix, |m| {
            let mut c = restored(config(S1, m), 3, None, &[(1, 1), (2, 2), (2, 3)]);
            let cmds = deliver(&mut c, S2, ae(3, 1, 1, &[(3, 4)], 0));
            (cmds, persisted(&mut c, 1), c.log().to_vec())
        });
        let timer = Command::SetTimer(Timer::Election);
        let truncate = LogWrite::Truncate { from: LogIndex(2) };
        let ack = vec![send(S2, aer(3, true, 2))];
        assert_eq!(
            correct,
            (
                vec![
                    timer.clone(),
                    persist(1, None, vec![truncate.clone(), append_write(2, 3, 4)])
                ],
                ack.clone(),
                vec![entry(1, 1), entry(3, 4)]
            )
        );
        assert_eq!(
            mutated,
            (
                vec![
                    timer,
                    persist(
                        1,
                        None,
                        vec![truncate, append_write(2, 3, 4), append_write(3, 2, 3)]
                    )
                ],
                ack,
                vec![entry(1, 1), entry(3, 4), entry(2, 3)]
            )
        );
        // The mutant overwrites a committed entry without panicking: that is the harness's catch.
        let mut c = restored(
            config(S1, Some(ImplMutant::KeepConflictingSuffix)),
            1,
            None,
            &[],
        );
        deliver(&mut c, S2, ae(1, 0, 0, &[(1, 1), (1, 2)], 2));
        deliver(&mut c, S3, ae(2, 0, 0, &[(2, 3)], 0));
        assert_eq!(c.log(), &[entry(2, 3), entry(1, 2)]);
    }

    #[test]
    fn commit_past_match_tells_a_follower_the_whole_commit_index() {
        // S1 commits its no-op with S2; S3 (next_index 1) hears a heartbeat after index 0.
        let (correct, mutated) = both(ImplMutant::CommitPastMatch, |m| {
            let mut c = leader_of_term_1_with(config(S1, m));
            assert_eq!(deliver(&mut c, S2, aer(1, true, 1)), vec![apply(1, 1, 0)]);
            step(&mut c, Event::Timer(Timer::Heartbeat))
        });
        let timer = Command::SetTimer(Timer::Heartbeat);
        let to_s2 = send(S2, ae(1, 1, 1, &[], 1));
        assert_eq!(
            correct,
            vec![timer.clone(), to_s2.clone(), send(S3, ae(1, 0, 0, &[], 0))]
        );
        assert_eq!(mutated, vec![timer, to_s2, send(S3, ae(1, 0, 0, &[], 1))]);
    }

    #[test]
    fn count_stale_votes_elects_on_a_grant_from_an_earlier_term() {
        // S1 stands in term 5; S2's grant of term 4 arrives.
        let (correct, mutated) = both(ImplMutant::CountStaleVotes, |m| {
            let mut c = restored(config(S1, m), 4, None, &[]);
            step(&mut c, Event::Timer(Timer::Election));
            persisted(&mut c, 1);
            (deliver(&mut c, S2, rvr(4, true)), c.role())
        });
        assert_eq!(correct, (vec![], Role::Candidate));
        assert_eq!(
            mutated,
            (
                vec![
                    Command::CancelTimer(Timer::Election),
                    Command::SetTimer(Timer::Heartbeat),
                    send(S2, ae(5, 0, 0, &[(5, 0)], 0)),
                    send(S3, ae(5, 0, 0, &[(5, 0)], 0)),
                    persist(2, None, vec![append_write(1, 5, 0)]),
                ],
                Role::Leader
            )
        );
        // Only a candidate counts: a follower ignores the stale grant even under the mutant.
        let mut c = restored(config(S1, Some(ImplMutant::CountStaleVotes)), 4, None, &[]);
        assert_eq!(deliver(&mut c, S2, rvr(3, true)), vec![]);
        assert_eq!(c.role(), Role::Follower);
    }

    #[test]
    fn ack_log_length_acknowledges_the_whole_log() {
        // S1 holds (1,1),(1,2),(1,3); a stale AppendEntries proves only index 1, a heartbeat
        // after index 1 likewise.
        let (correct, mutated) = both(ImplMutant::AckLogLength, |m| {
            let mut c = restored(config(S1, m), 1, None, &[(1, 1), (1, 2), (1, 3)]);
            let append = deliver(&mut c, S2, ae(1, 0, 0, &[(1, 1)], 0));
            let heartbeat = deliver(&mut c, S2, ae(1, 1, 1, &[], 0));
            (append, heartbeat)
        });
        let timer = Command::SetTimer(Timer::Election);
        let acked = |m: u64| vec![timer.clone(), send(S2, aer(1, true, m))];
        assert_eq!(correct, (acked(1), acked(1)));
        assert_eq!(mutated, (acked(3), acked(3)));
    }

    #[test]
    fn pre_vote_adopts_term_raises_the_voters_term() {
        // S1 (term 1, voted for itself, no leader) answers S2's PreVote for term 2: correctly
        // without any change; under the mutant the term is adopted, the vote cleared, persisted.
        let (correct, mutated) = both(ImplMutant::PreVoteAdoptsTerm, |m| {
            let mut config = config(S1, m);
            config.pre_vote = true;
            let mut c = restored(config, 1, Some(S1), &[]);
            let cmds = deliver(&mut c, S2, pv(2, 0, 0));
            (cmds, c.hard_state())
        });
        let grant = send(S2, pvr(2, true));
        assert_eq!(correct, (vec![grant.clone()], hs(1, Some(S1)).unwrap()));
        assert_eq!(
            mutated,
            (
                vec![grant, persist(1, hs(2, None), vec![])],
                hs(2, None).unwrap()
            )
        );
    }
}

#[test]
fn losing_the_leaders_connection_starts_a_pre_vote_at_once() {
    // raft.prevote.leader-lost: the hint acts as the election timeout, for the leader only.
    let mut c = pre_vote_core(S1, 2, None, &[]);
    deliver(&mut c, S3, ae(2, 0, 0, &[], 0));
    assert_eq!(step(&mut c, Event::PeerLost { peer: S2 }), vec![]);
    assert_eq!(c.role(), Role::Follower);
    assert_eq!(
        step(&mut c, Event::PeerLost { peer: S3 }),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, pv(3, 0, 0)),
            send(S3, pv(3, 0, 0)),
        ]
    );
    assert_eq!((c.role(), c.term()), (Role::PreCandidate, Term(2)));
    // Already campaigning: nothing more.
    assert_eq!(step(&mut c, Event::PeerLost { peer: S3 }), vec![]);
    // Without PreVote the hint is ignored (an election there could depose a live leader).
    let mut c = core(S1, 2, None, &[]);
    deliver(&mut c, S3, ae(2, 0, 0, &[], 0));
    assert_eq!(step(&mut c, Event::PeerLost { peer: S3 }), vec![]);
    assert_eq!((c.role(), c.term()), (Role::Follower, Term(2)));
}

// --- § Pipelined replication (raft.pipeline.*) ---

fn pipelined(max_inflight: usize) -> RaftConfig {
    let mut config = RaftConfig::new(S1, vec![S1, S2, S3]);
    config.pipeline = true;
    config.max_inflight = max_inflight;
    config
}

fn propose(c: &mut RaftCore, request: u64, value: u8) -> Cmds {
    step(
        c,
        Event::ClientRequest {
            request: RequestId(request),
            data: vec![value],
        },
    )
}

fn accepted(request: u64, index: u64) -> Command<Message, HardState> {
    Command::ClientAccepted {
        request: RequestId(request),
        index: LogIndex(index),
        term: Term(1),
    }
}

#[test]
fn pipelined_sends_advance_next_index_so_each_request_travels_once() {
    let mut c = leader_of_term_1_with(pipelined(usize::MAX));
    // The election's AppendEntries (the no-op) already moved next_index past it.
    assert_eq!(c.progress()[&S2].next_index, LogIndex(2));
    assert_eq!(
        propose(&mut c, 1, 4),
        vec![
            accepted(1, 2),
            send(S2, ae(1, 1, 1, &[(1, 4)], 0)),
            send(S3, ae(1, 1, 1, &[(1, 4)], 0)),
            persist(3, None, vec![append_write(2, 1, 4)]),
        ]
    );
    // The next request carries only its own entry, not the unacknowledged one before it.
    assert_eq!(
        propose(&mut c, 2, 5)[1..3],
        [
            send(S2, ae(1, 2, 1, &[(1, 5)], 0)),
            send(S3, ae(1, 2, 1, &[(1, 5)], 0)),
        ]
    );
    let p = c.progress()[&S2];
    assert_eq!((p.next_index, p.match_index), (LogIndex(4), LogIndex(0)));
    // An acknowledgement moves match_index only; nothing is resent.
    persisted(&mut c, 4);
    assert_eq!(
        deliver(&mut c, S2, aer(1, true, 2)),
        vec![apply(1, 1, 0), apply(2, 1, 4)]
    );
    let p = c.progress()[&S2];
    assert_eq!((p.next_index, p.match_index), (LogIndex(4), LogIndex(2)));
}

#[test]
fn a_batch_of_requests_is_appended_then_replicated_once_and_persisted_once() {
    let mut c = leader_of_term_1_with(pipelined(usize::MAX));
    let cmds = step(
        &mut c,
        Event::ClientBatch {
            requests: vec![(RequestId(1), vec![4]), (RequestId(2), vec![5])],
        },
    );
    assert_eq!(
        cmds,
        vec![
            accepted(1, 2),
            accepted(2, 3),
            send(S2, ae(1, 1, 1, &[(1, 4), (1, 5)], 0)),
            send(S3, ae(1, 1, 1, &[(1, 4), (1, 5)], 0)),
            persist(3, None, vec![append_write(2, 1, 4), append_write(3, 1, 5)]),
        ]
    );
    // A follower rejects a batch like a single request, naming the leader.
    let mut f = core(S2, 1, None, &[]);
    deliver(&mut f, S1, ae(1, 0, 0, &[], 0));
    assert_eq!(
        step(
            &mut f,
            Event::ClientBatch {
                requests: vec![(RequestId(7), vec![4]), (RequestId(8), vec![5])],
            },
        ),
        vec![
            Command::ClientRejected {
                request: RequestId(7),
                leader: Some(S1)
            },
            Command::ClientRejected {
                request: RequestId(8),
                leader: Some(S1)
            },
        ]
    );
}

#[test]
fn a_full_inflight_window_holds_entries_back_until_an_acknowledgement() {
    let mut c = leader_of_term_1_with(pipelined(2));
    // In flight to each follower: the no-op (ends at 1) and request 1 (ends at 2).
    propose(&mut c, 1, 4);
    // The window is full: request 2 is appended and persisted, but not sent.
    assert_eq!(
        propose(&mut c, 2, 5),
        vec![
            accepted(2, 3),
            persist(4, None, vec![append_write(3, 1, 5)])
        ]
    );
    assert_eq!(c.progress()[&S2].next_index, LogIndex(3));
    // A heartbeat still goes, after next_index - 1.
    let hb = step(&mut c, Event::Timer(Timer::Heartbeat));
    assert!(hb.contains(&send(S2, ae(1, 2, 1, &[], 0))), "{hb:?}");
    // Acknowledging the no-op frees one slot, and the held entry leaves at once.
    persisted(&mut c, 3);
    persisted(&mut c, 4);
    assert_eq!(
        deliver(&mut c, S2, aer(1, true, 1)),
        vec![apply(1, 1, 0), send(S2, ae(1, 2, 1, &[(1, 5)], 1))]
    );
    assert_eq!(c.progress()[&S2].next_index, LogIndex(4));
}

#[test]
fn a_rejection_carries_a_hint_that_skips_the_conflicting_term() {
    let mut config = RaftConfig::new(S2, vec![S1, S2, S3]);
    config.pipeline = true;
    // The follower holds 1,1 then a stale tail of term 2; the leader of term 4 probes at index 5
    // with term 4. Missing index 5: the hint is the last entry of term <= 4 below 5 within the
    // log, index 4 (term 2).
    let mut f = restored(config.clone(), 4, None, &[(1, 1), (1, 2), (2, 3), (2, 4)]);
    assert_eq!(
        deliver(&mut f, S1, ae(4, 5, 4, &[], 0)),
        vec![
            Command::SetTimer(Timer::Election),
            send(S1, aer(4, false, 4))
        ]
    );
    // Probing index 4 with term 3: entries of term 2 are <= 3, so the hint is 3.
    let cmds = deliver(&mut f, S1, ae(4, 4, 3, &[], 0));
    assert_eq!(cmds.last(), Some(&send(S1, aer(4, false, 3))));
    // Probing index 4 with term 1: only the term-1 prefix can match, so the hint is 2, skipping
    // the whole term-2 tail in one round trip.
    let cmds = deliver(&mut f, S1, ae(4, 4, 1, &[], 0));
    assert_eq!(cmds.last(), Some(&send(S1, aer(4, false, 2))));
    // A smaller term is still refused with no hint.
    let cmds = deliver(&mut f, S1, ae(3, 4, 1, &[], 0));
    assert_eq!(cmds.last(), Some(&send(S1, aer(4, false, 0))));
    // Without pipelining a rejection carries 0.
    let mut plain = restored(
        RaftConfig::new(S2, vec![S1, S2, S3]),
        4,
        None,
        &[(1, 1), (1, 2), (2, 3), (2, 4)],
    );
    let cmds = deliver(&mut plain, S1, ae(4, 5, 4, &[], 0));
    assert_eq!(cmds.last(), Some(&send(S1, aer(4, false, 0))));
}

#[test]
fn a_leader_backs_off_to_the_hint_but_never_below_match_or_forward() {
    let mut c = leader_of_term_1_with(pipelined(usize::MAX));
    for (request, value) in [(1, 4), (2, 5), (3, 6)] {
        propose(&mut c, request, value);
    }
    assert_eq!(c.progress()[&S2].next_index, LogIndex(5));
    // Hint 1: resend from index 2, everything to the end in one message, next past it.
    assert_eq!(
        deliver(&mut c, S2, aer(1, false, 1)),
        vec![send(S2, ae(1, 1, 1, &[(1, 4), (1, 5), (1, 6)], 0))]
    );
    assert_eq!(c.progress()[&S2].next_index, LogIndex(5));
    // Match 3 known; a (stale) rejection hinting 0 goes back to 4, not below match.
    persisted(&mut c, 3);
    persisted(&mut c, 6);
    deliver(&mut c, S2, aer(1, true, 3));
    let cmds = deliver(&mut c, S2, aer(1, false, 0));
    assert_eq!(cmds, vec![send(S2, ae(1, 3, 1, &[(1, 6)], 3))]);
    // A hint above next_index - 1 never moves the leader forward: it goes back by one at least.
    let cmds = deliver(&mut c, S3, aer(1, false, 9));
    assert_eq!(cmds, vec![send(S3, ae(1, 3, 1, &[(1, 6)], 3))]);
}

// § Linearizable reads: ReadIndex (raft.read.*).

fn ae_round(
    term: u64,
    prev: u64,
    prev_term: u64,
    entries: &[(u64, u8)],
    commit: u64,
    round: u64,
) -> Message {
    match ae(term, prev, prev_term, entries, commit) {
        Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            commit,
            ..
        } => Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            commit,
            round,
        },
        _ => unreachable!(),
    }
}

fn aer_round(term: u64, success: bool, match_index: u64, round: u64) -> Message {
    Message::AppendEntriesResponse {
        term: Term(term),
        success,
        match_index: LogIndex(match_index),
        round,
    }
}

fn read(requests: &[u64]) -> Event<Message> {
    Event::Read {
        requests: requests.iter().map(|&r| RequestId(r)).collect(),
    }
}

fn ready(request: u64, index: u64) -> Command<Message, HardState> {
    Command::ReadReady {
        request: RequestId(request),
        index: LogIndex(index),
    }
}

/// raft.read.start, .round, .confirm: a new leader holds reads until an entry of its term is
/// committed, then starts round 1 at its commit index with a heartbeat to every peer; an echo
/// of an older round confirms nothing, an echo of round 1 from one peer (a majority with the
/// leader) serves every read of the round.
#[test]
fn a_read_waits_for_a_commit_in_the_leaders_term_then_for_a_majority_to_echo_its_round() {
    let mut c = leader_of_term_1();
    assert_eq!(
        step(&mut c, read(&[7, 8])),
        vec![],
        "no entry of term 1 committed yet"
    );
    assert_eq!(
        deliver(&mut c, S2, aer(1, true, 1)),
        vec![
            apply(1, 1, 0),
            send(S2, ae_round(1, 1, 1, &[], 1, 1)),
            send(S3, ae_round(1, 0, 0, &[], 0, 1)),
        ]
    );
    assert_eq!(
        c.pending_reads().collect::<Vec<_>>(),
        vec![(LogIndex(1), 1)]
    );
    // An answer to a message sent before the round started proves nothing about after it.
    assert_eq!(deliver(&mut c, S2, aer_round(1, true, 1, 0)), vec![]);
    assert_eq!(c.pending_reads().count(), 1);
    assert_eq!(
        deliver(&mut c, S3, aer_round(1, true, 0, 1)),
        vec![
            ready(7, 1),
            ready(8, 1),
            send(S3, ae_round(1, 0, 0, &[(1, 0)], 1, 1)),
        ]
    );
    assert_eq!(c.pending_reads().count(), 0);
    assert!(
        c.read_acks().is_empty(),
        "echoes are forgotten once no read waits"
    );
    // The next read takes the next round at once.
    assert_eq!(
        step(&mut c, read(&[9])),
        vec![
            send(S2, ae_round(1, 1, 1, &[], 1, 2)),
            send(S3, ae_round(1, 0, 0, &[], 0, 2)),
        ]
    );
    // A failed log check in the leader's term still echoes the round: it proves the leader.
    assert_eq!(
        deliver(&mut c, S3, aer_round(1, false, 0, 2)),
        vec![ready(9, 1), send(S3, ae_round(1, 0, 0, &[(1, 0)], 1, 2))]
    );
}

/// raft.read.start with `max_read_rounds`: reads arriving while the bound is reached wait, and
/// one round serves all of them once a round is confirmed.
#[test]
fn reads_beyond_the_round_bound_share_the_next_round() {
    let mut config = RaftConfig::new(S1, vec![S1, S2, S3]);
    config.max_read_rounds = 1;
    let mut c = leader_of_term_1_with(config);
    deliver(&mut c, S2, aer(1, true, 1));
    assert_eq!(step(&mut c, read(&[1])).len(), 2, "round 1: two heartbeats");
    assert_eq!(step(&mut c, read(&[2])), vec![]);
    assert_eq!(step(&mut c, read(&[3])), vec![]);
    assert_eq!(
        deliver(&mut c, S2, aer_round(1, true, 1, 1)),
        vec![
            ready(1, 1),
            send(S2, ae_round(1, 1, 1, &[], 1, 2)),
            send(S3, ae_round(1, 0, 0, &[], 0, 2)),
        ]
    );
    assert_eq!(
        deliver(&mut c, S2, aer_round(1, true, 1, 2)),
        vec![ready(2, 1), ready(3, 1)]
    );
}

/// raft.read.forward: a follower asks its leader; the answer from that leader of its term
/// serves its reads at the leader's index; a follower that knows no leader refuses.
#[test]
fn a_follower_forwards_reads_to_its_leader_and_serves_them_at_the_returned_index() {
    let mut c = core(S2, 0, None, &[]);
    assert_eq!(
        step(&mut c, read(&[1])),
        vec![Command::ClientRejected {
            request: RequestId(1),
            leader: None
        }]
    );
    deliver(&mut c, S1, ae(1, 0, 0, &[], 0));
    persisted(&mut c, 1);
    assert_eq!(
        step(&mut c, read(&[2, 3])),
        vec![send(
            S1,
            Message::ReadIndex {
                term: Term(1),
                ctx: 0
            }
        )]
    );
    let answer = |index| Message::ReadIndexResponse {
        term: Term(1),
        ctx: 0,
        read_index: index,
    };
    assert_eq!(
        deliver(&mut c, S3, answer(Some(LogIndex(4)))),
        vec![
            Command::ClientRejected {
                request: RequestId(2),
                leader: Some(S1)
            },
            Command::ClientRejected {
                request: RequestId(3),
                leader: Some(S1)
            },
        ],
        "an answer from anyone but the leader refuses"
    );
    step(&mut c, read(&[4]));
    assert_eq!(
        deliver(
            &mut c,
            S1,
            Message::ReadIndexResponse {
                term: Term(1),
                ctx: 1,
                read_index: Some(LogIndex(4)),
            }
        ),
        vec![ready(4, 4)]
    );
}

/// raft.read.forward at the leader: a follower's ReadIndex is a read like a local one, and is
/// answered with the read index once its round is confirmed; a server that does not lead
/// that term refuses it.
#[test]
fn a_leader_answers_a_forwarded_read_once_its_round_is_confirmed() {
    let mut c = leader_of_term_1();
    deliver(&mut c, S2, aer(1, true, 1));
    let request = Message::ReadIndex {
        term: Term(1),
        ctx: 9,
    };
    assert_eq!(
        deliver(&mut c, S2, request.clone()).len(),
        2,
        "a round starts"
    );
    assert_eq!(
        deliver(&mut c, S3, aer_round(1, true, 0, 1)),
        vec![
            send(
                S2,
                Message::ReadIndexResponse {
                    term: Term(1),
                    ctx: 9,
                    read_index: Some(LogIndex(1)),
                }
            ),
            send(S3, ae_round(1, 0, 0, &[(1, 0)], 1, 1)),
        ]
    );
    let mut follower = core(S3, 1, None, &[]);
    assert_eq!(
        deliver(&mut follower, S2, request),
        vec![send(
            S2,
            Message::ReadIndexResponse {
                term: Term(1),
                ctx: 9,
                read_index: None,
            }
        )]
    );
}

/// A leader that steps down refuses the reads it holds: they cannot be confirmed any more.
#[test]
fn a_leader_that_steps_down_refuses_its_pending_reads() {
    let mut c = leader_of_term_1();
    deliver(&mut c, S2, aer(1, true, 1));
    step(&mut c, read(&[5]));
    let cmds = deliver(&mut c, S3, aer(2, false, 0));
    assert!(
        cmds.contains(&Command::ClientRejected {
            request: RequestId(5),
            leader: None
        }),
        "{cmds:?}"
    );
    assert_eq!(c.role(), Role::Follower);
    assert_eq!(c.read_round(), 0);
}

/// A leader that is a majority alone serves at once, at its commit index.
#[test]
fn a_one_server_leader_serves_reads_at_once() {
    let mut c = restored(RaftConfig::new(S1, vec![S1]), 0, None, &[]);
    step(&mut c, Event::Timer(Timer::Election));
    persisted(&mut c, 1);
    persisted(&mut c, 2);
    assert_eq!(c.role(), Role::Leader);
    assert_eq!(c.commit(), LogIndex(1));
    assert_eq!(step(&mut c, read(&[1])), vec![ready(1, 1)]);
}

// --- § Snapshots and log compaction (raft.snapshot.*) ---

fn snap(last_index: u64, last_term: u64, data: &[u8]) -> Snapshot {
    Snapshot {
        last_index: LogIndex(last_index),
        last_term: Term(last_term),
        data: data.to_vec(),
    }
}

fn base(index: u64, term: u64) -> LogBase {
    LogBase {
        index: LogIndex(index),
        term: Term(term),
    }
}

fn is(term: u64, snapshot: Snapshot) -> Message {
    Message::InstallSnapshot {
        term: Term(term),
        snapshot,
    }
}

fn compact(index: u64, state: &[u8], keep: u64) -> Event<Message> {
    Event::Compact {
        index: LogIndex(index),
        state: state.to_vec(),
        keep,
    }
}

/// A follower (leader S2, of the term of the last entry, 1 if none) holding `log`, of which the first `commit` entries are
/// committed, applied and durable; no commands queued.
fn follower_with(log: &[(u64, u8)], commit: u64) -> RaftCore {
    let mut c = core(S1, 1, None, log);
    let cmds = deliver(
        &mut c,
        S2,
        ae(
            1,
            log.len() as u64,
            log.last().map_or(0, |e| e.0),
            &[],
            commit,
        ),
    );
    assert_eq!(cmds.len(), 2 + commit as usize, "{cmds:?}"); // timer, applies, reply
    assert_eq!(c.commit(), LogIndex(commit));
    c
}

#[test]
fn compaction_snapshots_the_applied_state_and_drops_the_log_keeping_k_entries() {
    // raft.snapshot.take: snapshot = (applied, term there, state); entries up to applied - k go.
    let mut c = follower_with(&[(1, 1), (1, 2), (1, 3), (1, 4), (1, 5)], 4);
    assert_eq!(
        step(&mut c, compact(4, b"state@4", 1)),
        vec![persist(
            1,
            None,
            vec![
                LogWrite::Snapshot(snap(4, 1, b"state@4")),
                LogWrite::Compact { base: base(3, 1) },
            ]
        )]
    );
    assert_eq!(c.log_base(), base(3, 1));
    assert_eq!(c.log(), &[entry(1, 4), entry(1, 5)]);
    assert_eq!(c.snapshot(), Some(&snap(4, 1, b"state@4")));
    assert_eq!(c.status().last_index, LogIndex(5));
    // The same or an older index again changes nothing.
    assert_eq!(step(&mut c, compact(4, b"state@4", 0)), vec![]);
    // keep = 0 (the model's compact): the log starts right after the snapshot.
    assert_eq!(
        deliver(&mut c, S2, ae(1, 5, 1, &[], 5)),
        vec![Command::SetTimer(Timer::Election), apply(5, 1, 5)]
    );
    assert_eq!(persisted(&mut c, 1), vec![send(S2, aer(1, true, 5))]);
    assert_eq!(
        step(&mut c, compact(5, b"state@5", 0)),
        vec![persist(
            2,
            None,
            vec![
                LogWrite::Snapshot(snap(5, 1, b"state@5")),
                LogWrite::Compact { base: base(5, 1) },
            ]
        )]
    );
    assert!(c.log().is_empty());
    // Log checks still work at the base, and entries after it append at the right index.
    assert_eq!(
        deliver(&mut c, S2, ae(1, 5, 1, &[(1, 6)], 5)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(3, None, vec![append_write(6, 1, 6)])
        ]
    );
}

/// A snapshot the runtime already wrote beside the log: only the compaction is persisted, and
/// a stale one (overtaken by a later snapshot) changes nothing.
#[test]
fn a_snapshot_made_durable_by_the_runtime_only_compacts_the_log() {
    let mut c = follower_with(&[(1, 1), (1, 2), (1, 3), (1, 4), (1, 5)], 4);
    let durable = |index: u64, keep: u64| Event::SnapshotDurable {
        snapshot: snap(index, 1, b"written"),
        keep,
    };
    assert_eq!(
        step(&mut c, durable(4, 1)),
        vec![persist(
            1,
            None,
            vec![LogWrite::Compact { base: base(3, 1) }]
        )]
    );
    assert_eq!(c.snapshot(), Some(&snap(4, 1, b"written")));
    assert_eq!(c.log(), &[entry(1, 4), entry(1, 5)]);
    assert_eq!(
        step(&mut c, durable(3, 0)),
        vec![],
        "older than the snapshot held"
    );
    assert_eq!(step(&mut c, durable(4, 0)), vec![], "the snapshot held");
}

#[test]
#[should_panic(expected = "past applied")]
fn compaction_past_the_applied_index_is_refused() {
    // SN1 (compact-uncommitted): the state handed in can only be the applied one.
    let mut c = follower_with(&[(1, 1), (1, 2)], 1);
    step(&mut c, compact(2, b"state@2", 0));
}

#[test]
fn a_follower_behind_the_leaders_snapshot_gets_install_snapshot_then_the_rest() {
    // raft.snapshot.send, without pipelining: the snapshot instead of AppendEntries, and the
    // entries after it once the follower acknowledges it.
    let mut c = leader_of_term_1();
    step(
        &mut c,
        Event::ClientRequest {
            request: RequestId(1),
            data: vec![2],
        },
    );
    persisted(&mut c, 3);
    deliver(&mut c, S2, aer(1, true, 2)); // commits 1 and 2
    assert_eq!(c.commit(), LogIndex(2));
    step(
        &mut c,
        Event::ClientRequest {
            request: RequestId(2),
            data: vec![3],
        },
    );
    assert_eq!(
        step(&mut c, compact(2, b"s2", 0)),
        vec![persist(
            5,
            None,
            vec![
                LogWrite::Snapshot(snap(2, 1, b"s2")),
                LogWrite::Compact { base: base(2, 1) },
            ]
        )]
    );
    // S3 (next_index 2 after the no-op was sent to it) rejects: its next entries are gone.
    assert_eq!(
        deliver(&mut c, S3, aer(1, false, 0)),
        vec![send(S3, is(1, snap(2, 1, b"s2")))]
    );
    // A heartbeat to it carries the snapshot again (nothing acknowledged it yet).
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Heartbeat)),
        vec![
            Command::SetTimer(Timer::Heartbeat),
            send(S2, ae(1, 2, 1, &[], 2)), // entry 3 is unacknowledged there
            send(S3, is(1, snap(2, 1, b"s2"))),
        ]
    );
    // The acknowledgement is an AppendEntriesResponse at the snapshot's index.
    assert_eq!(
        deliver(&mut c, S3, aer(1, true, 2)),
        vec![send(S3, ae(1, 2, 1, &[(1, 3)], 2))]
    );
    assert_eq!(c.progress()[&S3].match_index, LogIndex(2));
}

#[test]
fn with_pipelining_next_index_passes_the_snapshot_at_once_and_entries_follow_its_ack() {
    // raft.snapshot.send with raft.pipeline.send: next_index = last_index + 1 at once.
    let mut c = leader_of_term_1_with(pipelined(usize::MAX));
    step(
        &mut c,
        Event::ClientRequest {
            request: RequestId(1),
            data: vec![2],
        },
    );
    persisted(&mut c, 3);
    deliver(&mut c, S2, aer(1, true, 2));
    step(
        &mut c,
        Event::ClientRequest {
            request: RequestId(2),
            data: vec![3],
        },
    );
    step(&mut c, compact(2, b"s2", 0));
    // S3 rejects with hint 0: back to 1, which is compacted: the snapshot alone (as in the
    // model: one message per send), next_index past it at once.
    assert_eq!(
        deliver(&mut c, S3, aer(1, false, 0)),
        vec![send(S3, is(1, snap(2, 1, b"s2")))]
    );
    assert_eq!(c.progress()[&S3].next_index, LogIndex(3));
    // Its acknowledgement brings the entry after the snapshot.
    assert_eq!(
        deliver(&mut c, S3, aer(1, true, 2)),
        vec![send(S3, ae(1, 2, 1, &[(1, 3)], 2))]
    );
    assert_eq!(c.progress()[&S3].next_index, LogIndex(4));
    // A heartbeat now goes after the entries already sent, not the snapshot again.
    assert_eq!(
        step(&mut c, Event::Timer(Timer::Heartbeat)),
        vec![
            Command::SetTimer(Timer::Heartbeat),
            send(S2, ae(1, 3, 1, &[], 2)),
            send(S3, ae(1, 3, 1, &[], 2)),
        ]
    );
}

#[test]
fn install_snapshot_keeps_the_log_after_a_matching_entry() {
    // raft.snapshot.install, Figure 13 step 6.
    let mut c = follower_with(&[(1, 1), (1, 2), (1, 3), (1, 4)], 1);
    assert_eq!(
        deliver(&mut c, S2, is(1, snap(3, 1, b"s3"))),
        vec![
            Command::SetTimer(Timer::Election),
            Command::RestoreState {
                snapshot: snap(3, 1, b"s3")
            },
            persist(
                1,
                None,
                vec![
                    LogWrite::Snapshot(snap(3, 1, b"s3")),
                    LogWrite::Compact { base: base(3, 1) },
                ]
            ),
        ]
    );
    assert_eq!(c.commit(), LogIndex(3));
    assert_eq!(c.applied(), LogIndex(3));
    assert_eq!(c.log(), &[entry(1, 4)]);
    // The reply waits for the snapshot to be durable.
    assert_eq!(persisted(&mut c, 1), vec![send(S2, aer(1, true, 3))]);
    // The next commit applies from 4.
    assert_eq!(
        deliver(&mut c, S2, ae(1, 4, 1, &[], 4)),
        vec![
            Command::SetTimer(Timer::Election),
            apply(4, 1, 4),
            send(S2, aer(1, true, 4))
        ]
    );
}

#[test]
fn install_snapshot_discards_a_log_without_the_matching_entry() {
    // raft.snapshot.install, Figure 13 step 7: the entry at last_index has another term.
    let mut c = core(S1, 2, None, &[(1, 1), (1, 2), (1, 3)]);
    deliver(&mut c, S2, ae(2, 3, 1, &[], 1));
    assert_eq!(
        deliver(&mut c, S2, is(2, snap(3, 2, b"s3"))),
        vec![
            Command::SetTimer(Timer::Election),
            Command::RestoreState {
                snapshot: snap(3, 2, b"s3")
            },
            persist(
                1,
                None,
                vec![
                    LogWrite::Snapshot(snap(3, 2, b"s3")),
                    LogWrite::Truncate { from: LogIndex(1) },
                    LogWrite::Compact { base: base(3, 2) },
                ]
            ),
        ]
    );
    assert!(c.log().is_empty());
    assert_eq!(c.log_base(), base(3, 2));
    assert_eq!(c.status().last_index, LogIndex(3));
    // A log shorter than the snapshot is discarded too.
    let mut c = follower_with(&[(1, 1)], 1);
    let cmds = deliver(&mut c, S2, is(1, snap(5, 1, b"s5")));
    assert_eq!(
        cmds[2],
        persist(
            1,
            None,
            vec![
                LogWrite::Snapshot(snap(5, 1, b"s5")),
                LogWrite::Truncate { from: LogIndex(1) },
                LogWrite::Compact { base: base(5, 1) },
            ]
        )
    );
    assert_eq!(c.status().last_index, LogIndex(5));
}

#[test]
fn install_snapshot_at_or_below_commit_changes_nothing_but_is_acknowledged() {
    let mut c = follower_with(&[(1, 1), (1, 2), (1, 3)], 3);
    assert_eq!(
        deliver(&mut c, S2, is(1, snap(2, 1, b"s2"))),
        vec![
            Command::SetTimer(Timer::Election),
            send(S2, aer(1, true, 2))
        ]
    );
    assert_eq!(c.log().len(), 3);
    assert_eq!(c.snapshot(), None);
}

#[test]
fn install_snapshot_term_rules() {
    // A smaller term is answered as a stale AppendEntries; a candidate of the same term follows.
    let mut c = core(S1, 3, None, &[]);
    assert_eq!(
        deliver(&mut c, S2, is(2, snap(1, 1, b"s1"))),
        vec![send(S2, aer(3, false, 0))]
    );
    step(&mut c, Event::Timer(Timer::Election)); // candidate of term 4
    persisted(&mut c, 1);
    assert_eq!(c.role(), Role::Candidate);
    let cmds = deliver(&mut c, S3, is(4, snap(1, 1, b"s1")));
    assert_eq!(c.role(), Role::Follower);
    assert_eq!(c.leader(), Some(S3));
    assert_eq!(
        cmds[1],
        Command::RestoreState {
            snapshot: snap(1, 1, b"s1")
        }
    );
}

#[test]
fn append_entries_below_the_base_passes_the_log_check_and_skips_compacted_entries() {
    let mut c = follower_with(&[(1, 1), (1, 2), (1, 3)], 3);
    step(&mut c, compact(3, b"s3", 0));
    persisted(&mut c, 1);
    // prev 1 < base 3: passes; entries 2 and 3 are skipped, 4 is appended.
    assert_eq!(
        deliver(&mut c, S2, ae(1, 1, 1, &[(1, 2), (1, 3), (1, 4)], 3)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(2, None, vec![append_write(4, 1, 4)])
        ]
    );
    assert_eq!(persisted(&mut c, 2), vec![send(S2, aer(1, true, 4))]);
}

#[test]
fn a_restart_from_a_snapshot_and_a_tail_restores_the_state_and_applies_after_it() {
    let durable = DurableLog {
        snapshot: Some(snap(3, 1, b"s3")),
        base: base(2, 1),
        entries: vec![entry(1, 3), entry(1, 4)],
    };
    let mut c = RaftCore::restore_compacted(
        RaftConfig::new(S1, vec![S1, S2, S3]),
        HardState {
            term: Term(1),
            voted_for: None,
        },
        durable,
    );
    c.start();
    assert_eq!(
        c.take_commands(),
        vec![
            Command::RestoreState {
                snapshot: snap(3, 1, b"s3")
            },
            Command::SetTimer(Timer::Election)
        ]
    );
    assert_eq!((c.commit(), c.applied()), (LogIndex(3), LogIndex(3)));
    assert_eq!(c.status().last_index, LogIndex(4));
    assert_eq!(
        deliver(&mut c, S2, ae(1, 4, 1, &[], 4)),
        vec![
            Command::SetTimer(Timer::Election),
            apply(4, 1, 4),
            send(S2, aer(1, true, 4))
        ]
    );
    // A log that ends before its snapshot restarts empty after it.
    let c = RaftCore::restore_compacted(
        RaftConfig::new(S1, vec![S1, S2, S3]),
        HardState::default(),
        DurableLog {
            snapshot: Some(snap(6, 2, b"s6")),
            base: LogBase::default(),
            entries: Vec::new(),
        },
    );
    assert_eq!(c.log_base(), base(6, 2));
    assert_eq!(c.status().last_index, LogIndex(6));
}

#[test]
fn append_entries_contradicting_the_base_is_ignored_whole() {
    // The compacted prefix is committed: a message whose entry at the base has another term
    // came from no leader, and appending after it would make the log's terms decrease.
    let mut c = follower_with(&[(1, 1), (1, 2), (1, 3)], 3);
    step(&mut c, compact(3, b"s3", 0));
    persisted(&mut c, 1);
    assert_eq!(c.log_base(), base(3, 1));
    assert_eq!(
        deliver(&mut c, S2, ae(2, 1, 1, &[(2, 2), (2, 3), (2, 4)], 3)),
        vec![]
    );
    assert!(c.log().is_empty());
    // Nothing was adopted: the term is still 1. With the base's term it is a normal append.
    assert_eq!(c.term(), Term(1));
    assert_eq!(
        deliver(&mut c, S2, ae(2, 1, 1, &[(1, 2), (1, 3), (2, 4)], 3)),
        vec![
            Command::SetTimer(Timer::Election),
            persist(2, hs(2, None), vec![append_write(4, 2, 4)])
        ]
    );
}
