#!/usr/bin/env python3
"""ballot's engine beside Stateright 0.31's own checkers on one model, in one run.

Each configuration is a separate `ballot check` process (so peak RSS is that engine's alone),
exhausting the same state space: symmetry is off because Stateright's BFS has none, so every
engine must report the same unique state count (checked). Prints a Markdown table with ratios
against Stateright's BFS at the same thread count.

    python3 scripts/compare_engines.py [--ballot target/release/ballot] [-- BOUNDS...]

Default bounds: the Raft model's CI bounds.
"""

import argparse
import json
import os
import subprocess
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--ballot", default="target/release/ballot")
parser.add_argument("--protocol", default="raft")
parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
parser.add_argument("bounds", nargs="*", help="extra bound flags, after `--`")
args = parser.parse_args()

RUNS = [
    ("ballot", "bfs"),
    ("stateright", "bfs"),
    ("ballot", "dfs"),
    ("stateright", "dfs"),
]


def run(engine, strategy, threads):
    cmd = [args.ballot, "check", args.protocol, "--symmetry", "false", "--engine", engine,
           "--strategy", strategy, "--threads", str(threads), "--format", "json", "-q",
           # Without bounds, `ballot check` runs the CI profile; the quick one is the default
           # bounds alone, one configuration to compare on.
           *(args.bounds or ["--profile", "quick"])]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr[-2000:]}")
    s = json.loads(r.stdout)["runs"][0]["stats"]
    return {
        "unique": s["unique_states"],
        "rate": s["unique_states_per_s"],
        "secs": s["elapsed_s"],
        "rss": s["peak_rss_bytes"] / 2**20,
    }


print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start",
      file=sys.stderr)
rows, unique = [], None
for threads in [int(t) for t in args.threads.split(",")]:
    results = {}
    for engine, strategy in RUNS:
        print(f"  {engine} {strategy} {threads} thread(s)...", file=sys.stderr, flush=True)
        res = run(engine, strategy, threads)
        if unique is None:
            unique = res["unique"]
        if res["unique"] != unique:
            sys.exit(f"{engine} {strategy}/{threads}: {res['unique']} unique states, "
                     f"expected {unique}: the engines disagree")
        results[(engine, strategy)] = res
    base = results[("stateright", "bfs")]
    for (engine, strategy), res in results.items():
        rows.append((engine, strategy, threads, res, res["rate"] / base["rate"],
                     res["rss"] / base["rss"]))

print(f"{unique:,} unique states ({args.protocol} {' '.join(args.bounds) or 'CI bounds'}, "
      "symmetry off); ratios against Stateright BFS at the same thread count\n")
print("| engine | strategy | threads | unique states/s | time (s) | peak RSS (MiB) "
      "| speed vs SR BFS | memory vs SR BFS |")
print("|---|---|---|---:|---:|---:|---:|---:|")
for engine, strategy, threads, res, speed, mem in rows:
    print(f"| {engine} | {strategy} | {threads} | {res['rate']:,.0f} | {res['secs']:.1f} "
          f"| {res['rss']:.0f} | {speed:.2f}× | {mem:.2f}× |")
