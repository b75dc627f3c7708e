//! The profiles `ballot check` runs by default: every configuration builds, names are unique
//! within a profile, each profile extends the one before it, and no Raft or ZAB configuration
//! starts from a hand-picked state (docs/ARCHITECTURE.md, architecture invariants).

use ballot_models::config::{Profile, ProfileEntry};
use ballot_models::fle::FleModel;
use ballot_models::raft::RaftModel;
use ballot_models::spec::Spec;
use ballot_models::zab::ZabModel;
use std::collections::BTreeSet;

fn names<C>(entries: &[ProfileEntry<C>]) -> BTreeSet<&'static str> {
    entries.iter().map(|e| e.name).collect()
}

fn check_profiles<S: Spec>(starts_fresh: impl Fn(&S::Config) -> bool) {
    let mut previous: BTreeSet<&'static str> = BTreeSet::new();
    for profile in Profile::ALL {
        let entries = S::profile(profile);
        assert!(!entries.is_empty(), "{} {profile:?} is empty", S::PROTOCOL);
        let set = names(&entries);
        assert_eq!(
            set.len(),
            entries.len(),
            "{} {profile:?}: a name repeats",
            S::PROTOCOL
        );
        assert!(
            previous.is_subset(&set),
            "{} {profile:?} drops a configuration of the profile before it",
            S::PROTOCOL
        );
        for entry in &entries {
            S::build(entry.config.clone(), None).unwrap_or_else(|e| {
                panic!(
                    "{} {profile:?} {}: does not build: {e}",
                    S::PROTOCOL,
                    entry.name
                )
            });
            assert!(
                starts_fresh(&entry.config),
                "{} {profile:?} {}: starts from a hand-picked state",
                S::PROTOCOL,
                entry.name
            );
            assert!(!entry.purpose.is_empty());
        }
        previous = set;
    }
}

#[test]
fn raft_profiles_build_grow_and_start_fresh() {
    check_profiles::<RaftModel>(|c| c.init.is_empty());
    let ci = names(&RaftModel::profile(Profile::Ci));
    for rule_family in [
        "election",
        "log-repair",
        "lossy",
        "pre-vote",
        "pipeline",
        "reads",
        "snapshots",
        "snapshot-tail",
        "two-servers-reorder",
        "noop-and-value",
        "pipeline-noop",
    ] {
        assert!(ci.contains(rule_family), "CI profile lacks {rule_family}");
    }
}

#[test]
fn zab_profiles_build_grow_and_start_fresh() {
    check_profiles::<ZabModel>(|c| c.init.is_empty());
}

#[test]
fn fle_profiles_build_and_grow() {
    // FLE's histories are its input: its configuration names them.
    check_profiles::<FleModel>(|_| true);
}
