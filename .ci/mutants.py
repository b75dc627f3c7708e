#!/usr/bin/env python3
"""The mutant matrix: every seeded bug of every protocol must make `ballot check` exit 1 with its
expected property violated, by a counterexample of exactly the catalogued (shortest) length, and
write a trace that `ballot explore --trace` accepts (checked by re-reading it)."""

import json
import subprocess
import sys
import time

BALLOT = sys.argv[1] if len(sys.argv) > 1 else "target/release/ballot"


def run(args):
    return subprocess.run([BALLOT, *args], capture_output=True, text=True)


listing = run(["check", "--list-mutants", "--format", "json"])
if listing.returncode != 0:
    sys.exit(f"--list-mutants failed: {listing.stderr}")
mutants = json.loads(listing.stdout)
failures = []
print(f"{'protocol':<6} {'mutant':<26} {'expected':<24} {'steps':>5} {'seconds':>8}  result")
for m in mutants:
    trace = f"target/ballot/mutant-{m['protocol']}-{m['name']}.json"
    start = time.monotonic()
    r = run(["check", m["protocol"], "--mutant", m["name"], "--format", "json", "-q", "--trace-out", trace])
    took = time.monotonic() - start
    verdict, length = None, None
    try:
        report = json.loads(r.stdout)
        props = {p["name"]: p for p in report["runs"][0]["properties"]}
        verdict = props[m["breaks"]]["verdict"]
        length = props[m["breaks"]]["length"]
    except (ValueError, KeyError, IndexError) as e:
        failures.append(f"{m['protocol']}/{m['name']}: unreadable report ({e}): {r.stderr.strip()[-300:]}")
    ok = r.returncode == 1 and verdict == "violated" and length == m["shortest"]
    if ok:
        # The trace it wrote must load back (re-executed on the model).
        probe = subprocess.run(
            [BALLOT, "explore", "--trace", trace, "--no-serve"],
            capture_output=True, text=True)
        if probe.returncode != 0:
            ok = False
            failures.append(f"{m['protocol']}/{m['name']}: trace {trace} does not load: {probe.stderr.strip()}")
    elif verdict is not None:
        failures.append(
            f"{m['protocol']}/{m['name']}: exit {r.returncode}, {m['breaks']} {verdict}, "
            f"{length} steps (catalogue: {m['shortest']})")
    print(f"{m['protocol']:<6} {m['name']:<26} {m['breaks']:<24} {str(length):>5} {took:8.2f}  {'killed' if ok else 'SURVIVED'}")
if failures:
    print("\n".join(["", "mutant matrix failed:", *failures]))
    sys.exit(1)
print(f"\nall {len(mutants)} mutants killed")
