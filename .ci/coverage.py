#!/usr/bin/env python3
"""The rule-coverage gate: reads `ballot check --coverage --format json` (the CI profile of every
protocol) and fails if a rule of a contract never fired or a guard was never seen both true and
false, unless that gap is listed below with why. A listed gap that the profile now covers fails
too, so the list cannot go stale. `ballot check --coverage --require-coverage` is the strict
form a user runs (no exceptions)."""

import json
import sys

# Gaps of the CI profile, each with the configuration that does reach it and why that one is not
# in the CI profile.
KNOWN_GAPS = {
    "raft.pipeline.hint/term-at-most never false":
        "(pipeline-noop evaluates it, always true) the hint's search skips an entry of a newer "
        "term only when a leader whose entry at "
        "prevLogIndex is of an older term meets a follower holding an entry of a newer one "
        "there: three terms at least (in two, a follower's term-2 entry came from the term-2 "
        "leader itself, so prevLogTerm is never older), with no-ops, a value and pipelining, "
        "which passed 42 M classes at depth 23 of ~46 from an empty start and was stopped "
        "(measured 2026-12-01); the deep profile's `hint-repair` configuration reaches it",
}


def main():
    report = json.load(open(sys.argv[1]))
    gaps = [g for c in report["coverage"] for g in c["gaps"]]
    failures = [f"uncovered: {g}" for g in gaps if g not in KNOWN_GAPS]
    failures += [f"listed as a gap but now covered (remove it from KNOWN_GAPS): {g}"
                 for g in KNOWN_GAPS if g not in gaps]
    for c in report["coverage"]:
        rules = c["rules"]
        guards = sum(len(r["guards"]) for r in rules)
        print(f"{c['protocol']:<5} {len(rules):>3} rules {guards:>3} guards  {len(c['gaps'])} gaps")
    for g in gaps:
        if g in KNOWN_GAPS:
            print(f"  known gap: {g}\n    why: {KNOWN_GAPS[g]}")
    if failures:
        print("\n".join(["", "coverage gate failed:", *failures]))
        sys.exit(1)
    for run in report["runs"]:
        bad = [p["name"] for p in run["properties"] if p["verdict"] != "holds" and p["verdict"] != "found"]
        status = "PASS" if not bad else "FAIL: " + ", ".join(bad)
        print(f"{run['protocol']}/{run['configuration']:<22} {run['stats']['unique_states']:>12,} unique "
              f"{run['stats']['elapsed_s']:8.2f} s  {status}")
    if report["exit_code"] != 0:
        print(f"ballot check exited {report['exit_code']}")
        sys.exit(1)


main()
