//! The one place that knows every protocol: which model each name builds, from which flags.
//! Adding a protocol means one arm in each function here, a bounds section in `bounds.rs`, and a
//! variant of [`Protocol`].

use anyhow::Result;

use ballot_models::fle::FleModel;
use ballot_models::raft::RaftModel;
use ballot_models::spec::Spec;
use ballot_models::trace::Trace;
use ballot_models::zab::ZabModel;

use crate::bounds::Bounds;
use crate::check::{self, CheckArgs};
use crate::report::{self, RunReport};
use crate::{explore, Protocol, UsageError};

/// The bounds a mutant is defined with (the mutant included).
pub fn mutant_bounds<S: Spec>(name: &str) -> Result<S::Config> {
    match S::mutants()
        .into_iter()
        .find(|m| m.name == name || m.id.eq_ignore_ascii_case(name))
    {
        Some(m) => Ok(m.bounds),
        None => {
            let names: Vec<&str> = S::mutants().iter().map(|m| m.name).collect();
            Err(UsageError(format!(
                "--mutant: unknown {} mutant `{name}` (accepted: {})",
                S::PROTOCOL,
                names.join(", ")
            ))
            .into())
        }
    }
}

/// The model `bounds` and `mutant` describe: the mutant's bounds (or the defaults), with every
/// bound flag given applied on top.
fn build<S: Spec>(
    bounds: &Bounds,
    mutant: Option<&str>,
    apply: impl FnOnce(&Bounds, S::Config) -> Result<S::Config>,
) -> Result<S>
where
    S::Config: Default,
{
    let base = match mutant {
        Some(name) => mutant_bounds::<S>(name)?,
        None => S::Config::default(),
    };
    let config = apply(bounds, base)?;
    Ok(S::build(config, mutant)?)
}

/// The Raft model the bound flags describe (the CI bounds where none is given).
pub fn build_raft(bounds: &Bounds) -> Result<RaftModel> {
    build::<RaftModel>(bounds, None, Bounds::raft)
}

/// Checks `p` as `args` say: every configuration of a profile, or the one configuration the
/// bound flags (over the defaults or the mutant's bounds) describe.
pub fn check(p: Protocol, args: &CheckArgs) -> Result<Vec<RunReport>> {
    let (bounds, mutant) = (&args.bounds, args.mutant.as_deref());
    if let Some(profile) = args.profile_to_run() {
        return match p {
            Protocol::Raft => check::check_profile::<RaftModel>(profile, args),
            Protocol::Fle => check::check_profile::<FleModel>(profile, args),
            Protocol::Zab => check::check_profile::<ZabModel>(profile, args),
        };
    }
    Ok(vec![match p {
        Protocol::Raft => {
            check::check_spec(&build::<RaftModel>(bounds, mutant, Bounds::raft)?, args)?
        }
        Protocol::Fle => check::check_spec(&build::<FleModel>(bounds, mutant, Bounds::fle)?, args)?,
        Protocol::Zab => check::check_spec(&build::<ZabModel>(bounds, mutant, Bounds::zab)?, args)?,
    }])
}

/// The rule catalogue of `p`'s contract (for `--coverage`, `--ablate`, `--ablation`).
pub fn catalogue(p: Protocol) -> &'static ballot_models::coverage::Catalogue {
    match p {
        Protocol::Raft => RaftModel::catalogue(),
        Protocol::Fle => FleModel::catalogue(),
        Protocol::Zab => ZabModel::catalogue(),
    }
}

/// The ablations of `p`'s catalogue listed as equivalent to the real rule, with their reasons.
pub fn equivalent_ablations(p: Protocol) -> &'static [ballot_models::coverage::Equivalent] {
    match p {
        Protocol::Raft => RaftModel::equivalent_ablations(),
        Protocol::Fle => FleModel::equivalent_ablations(),
        Protocol::Zab => ZabModel::equivalent_ablations(),
    }
}

/// The ablations of `p`'s catalogue known to survive its CI profile, each with why.
pub fn known_gaps(p: Protocol) -> &'static [ballot_models::coverage::Equivalent] {
    match p {
        Protocol::Raft => RaftModel::known_gaps(),
        Protocol::Fle => FleModel::known_gaps(),
        Protocol::Zab => ZabModel::known_gaps(),
    }
}

/// The correct model's rule counts per configuration of `profile` (see
/// [`ballot_models::spec::profile_counts`]).
pub fn profile_counts(
    p: Protocol,
    profile: ballot_models::config::Profile,
    threads: usize,
    before: &dyn Fn(&'static str),
) -> Vec<ballot_models::spec::ConfigurationCounts> {
    use ballot_models::spec::profile_counts;
    match p {
        Protocol::Raft => profile_counts::<RaftModel>(profile, threads, before),
        Protocol::Fle => profile_counts::<FleModel>(profile, threads, before),
        Protocol::Zab => profile_counts::<ZabModel>(profile, threads, before),
    }
}

/// Checks `profile` of `p` with one guard ablated (see [`ballot_models::spec::ablate_profile`]).
pub fn ablate(
    p: Protocol,
    profile: ballot_models::config::Profile,
    threads: usize,
    guard: usize,
    ablation: ballot_models::coverage::Ablation,
    relevance: Option<&[ballot_models::spec::ConfigurationCounts]>,
    limits: ballot_models::spec::SearchLimits,
) -> ballot_models::spec::AblationOutcome {
    use ballot_models::spec::ablate_profile;
    match p {
        Protocol::Raft => {
            ablate_profile::<RaftModel>(profile, threads, guard, ablation, relevance, limits)
        }
        Protocol::Fle => {
            ablate_profile::<FleModel>(profile, threads, guard, ablation, relevance, limits)
        }
        Protocol::Zab => {
            ablate_profile::<ZabModel>(profile, threads, guard, ablation, relevance, limits)
        }
    }
}

pub fn list_mutants(p: Protocol, format: report::Format) -> Vec<serde_json::Value> {
    match p {
        Protocol::Raft => report::list_mutants::<RaftModel>(format),
        Protocol::Fle => report::list_mutants::<FleModel>(format),
        Protocol::Zab => report::list_mutants::<ZabModel>(format),
    }
}

pub fn explore(
    p: Protocol,
    bounds: &Bounds,
    mutant: Option<&str>,
    addr: std::net::SocketAddr,
    serving: bool,
) -> Result<u8> {
    match p {
        Protocol::Raft => explore::serve(
            build::<RaftModel>(bounds, mutant, Bounds::raft)?,
            addr,
            None,
            serving,
        ),
        Protocol::Fle => explore::serve(
            build::<FleModel>(bounds, mutant, Bounds::fle)?,
            addr,
            None,
            serving,
        ),
        Protocol::Zab => explore::serve(
            build::<ZabModel>(bounds, mutant, Bounds::zab)?,
            addr,
            None,
            serving,
        ),
    }
}

pub fn explore_trace(
    trace: &Trace,
    path: &std::path::Path,
    addr: std::net::SocketAddr,
    serving: bool,
) -> Result<u8> {
    match trace.protocol.as_str() {
        "raft" => explore::serve_trace::<RaftModel>(trace, path, addr, serving),
        "fle" => explore::serve_trace::<FleModel>(trace, path, addr, serving),
        "zab" => explore::serve_trace::<ZabModel>(trace, path, addr, serving),
        other => Err(UsageError(format!(
            "{}: protocol `{other}` is not supported (accepted: {})",
            path.display(),
            Protocol::all()
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}
