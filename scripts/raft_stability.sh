#!/usr/bin/env bash
# The Raft node's stability targets (issue: "under faults and hostile input"), in one run, under
# the load that made the old timing re-elect continually: a release build of the project and a
# model check running beside the cluster on this machine's two cores.
#
#   scripts/raft_stability.sh            # prints the figures of benches/raft_stability.rs
#   LOAD=0 scripts/raft_stability.sh     # the same without the background load
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin ballot --bench raft_stability -q 2>/dev/null || cargo build --release --bin ballot
load_pids=()
cleanup() { for p in "${load_pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
if [ "${LOAD:-1}" != 0 ]; then
    scratch=$(mktemp -d)
    git clone -q . "$scratch/src"
    # A release build from scratch (its own target dir) keeps both cores busy for minutes.
    (cd "$scratch/src" && CARGO_TARGET_DIR="$scratch/target" nice -n 0 cargo build --release -q >/dev/null 2>&1) &
    load_pids+=($!)
    # And a model check (two threads).
    ./target/release/ballot check raft --max-term 3 --timeout 900 -q >/dev/null 2>&1 &
    load_pids+=($!)
    sleep 5
    echo "load: a release build of the project and ballot check raft --max-term 3 (uptime: $(uptime | sed 's/.*load/load/'))"
fi
cargo bench --bench raft_stability 2>/dev/null | grep raft_stability
echo "after: $(uptime | sed 's/.*load/load/')"
