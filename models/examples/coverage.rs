//! Prints the rule coverage of a protocol's CI profile, and its gaps (for developing the
//! catalogues; `ballot check --coverage` is the user's way).
//!
//! `cargo run --release -p ballot-models --example coverage -- [--ablate] raft [quick|ci|deep]`

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

fn ablate<S: Spec>(profile: Profile) {
    let cat = S::catalogue();
    let equivalent = S::equivalent_ablations();
    for (g, a) in cat.ablations() {
        let id = cat.guard_id(g);
        let t = std::time::Instant::now();
        let outcome =
            ballot_models::spec::ablate_profile::<S>(profile, 2, g, a, None, Default::default());
        let note = equivalent
            .iter()
            .find(|e| e.guard == id && e.ablation == a)
            .map_or("", |_| " (listed as equivalent)");
        println!(
            "{id} {}: {outcome:?} in {:.1}s{note}",
            a.name(),
            t.elapsed().as_secs_f64()
        );
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let ablation = args.first().is_some_and(|a| a == "--ablate");
    if ablation {
        args.remove(0);
    }
    let profile = match args.get(1).map(String::as_str) {
        None | Some("ci") => Profile::Ci,
        Some("quick") => Profile::Quick,
        Some("deep") => Profile::Deep,
        Some(other) => panic!("unknown profile {other}"),
    };
    match args.first().map(String::as_str) {
        Some("raft") if ablation => ablate::<RaftModel>(profile),
        Some("zab") if ablation => ablate::<ZabModel>(profile),
        Some("fle") if ablation => ablate::<FleModel>(profile),
        Some("raft") => report::<RaftModel>(profile),
        Some("zab") => report::<ZabModel>(profile),
        Some("fle") => report::<FleModel>(profile),
        _ => eprintln!("usage: coverage [--ablate] raft|zab|fle [quick|ci|deep]"),
    }
}
