//! Prints the rule coverage of a protocol's CI profile, and its gaps (for developing the
//! catalogues; `ballot check --coverage` is the user's way).
//!
//! `cargo run --release -p ballot-models --example coverage -- raft [quick|ci|deep]`

use ballot_models::config::Profile;
use ballot_models::spec::{profile_coverage, Spec};
use ballot_models::{fle::FleModel, raft::RaftModel, zab::ZabModel};

fn report<S: Spec>(profile: Profile) {
    let (counts, verdicts) = profile_coverage::<S>(profile, 2);
    let cat = S::catalogue();
    for (name, ok) in verdicts {
        println!("configuration {name}: {}", if ok { "ok" } else { "FAILED" });
    }
    for (i, r) in cat.rules.iter().enumerate() {
        println!("{:>12}  {}", counts.fired(cat.family, i), r.id);
        for (g, def) in cat.guards.iter().enumerate().filter(|(_, d)| d.rule == i) {
            let [t, f] = counts.decided(cat.family, g);
            println!("{:>12}  {:>12}    /{}", t, f, def.name);
        }
    }
    let gaps = counts.gaps(cat);
    println!("{} gaps", gaps.len());
    for g in gaps {
        println!("  {g}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = match args.get(1).map(String::as_str) {
        None | Some("ci") => Profile::Ci,
        Some("quick") => Profile::Quick,
        Some("deep") => Profile::Deep,
        Some(other) => panic!("unknown profile {other}"),
    };
    match args.first().map(String::as_str) {
        Some("raft") => report::<RaftModel>(profile),
        Some("zab") => report::<ZabModel>(profile),
        Some("fle") => report::<FleModel>(profile),
        _ => eprintln!("usage: coverage raft|zab|fle [quick|ci|deep]"),
    }
}
