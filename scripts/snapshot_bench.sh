#!/usr/bin/env bash
# Memory and restart time of a 3-node Raft KV cluster after many writes, with or without
# snapshots (docs/benchmarks.md § Snapshots). Minutes of load: never run in CI.
#
#   scripts/snapshot_bench.sh [SNAPSHOT_EVERY] [WRITES]
#
# SNAPSHOT_EVERY 0 runs without snapshots (the log, memory and restart time grow with every
# write). Environment: KEYS (10000), BYTES (100), CONNS (4), KEEP (1000), PORT (27100),
# BIN / LOAD (release builds of `ballot` and the example `snapshot_load`).
#
# Starts three `ballot node --insecure-plaintext` processes, writes WRITES puts of BYTES-byte
# values over KEYS keys through CONNS pipelined connections, prints each node's resident memory
# (VmRSS, VmHWM) and data directory size, then kill -9s a follower, restarts it with the same
# command line and times until it serves the last value written (a sequential read on it alone).
set -euo pipefail
EVERY=${1:-10000}
WRITES=${2:-1000000}
KEYS=${KEYS:-10000}
BYTES=${BYTES:-100}
CONNS=${CONNS:-4}
KEEP=${KEEP:-1000}
PORT=${PORT:-27100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/ballot}
LOAD=${LOAD:-$ROOT/target/release/examples/snapshot_load}
DIR=$(mktemp -d /tmp/snapshot-bench.XXXXXX)
ADDRS="127.0.0.1:$PORT,127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2))"
PEERS="1=127.0.0.1:$PORT,2=127.0.0.1:$((PORT + 1)),3=127.0.0.1:$((PORT + 2))"
declare -A PID
cleanup() {
    for id in 1 2 3; do
        [ -n "${PID[$id]:-}" ] && kill -9 "${PID[$id]}" 2>/dev/null || true
    done
}
trap cleanup EXIT

start_node() {
    local id=$1
    "$BIN" node --protocol raft --id "$id" --peers "$PEERS" --dir "$DIR/n$id" \
        --insecure-plaintext --snapshot-every "$EVERY" --snapshot-keep "$KEEP" \
        >>"$DIR/n$id.log" 2>&1 &
    PID[$id]=$!
}

memory() {
    local id=$1
    local rss hwm
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/${PID[$id]}/status")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/${PID[$id]}/status")
    echo "node $id: VmRSS $((rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB, dir $(du -sm "$DIR/n$id" | cut -f1) MiB ($(ls "$DIR/n$id" | tr '\n' ' '))"
}

echo "snapshot-every $EVERY keep $KEEP: $WRITES writes of $BYTES bytes over $KEYS keys, $CONNS connections; dir $DIR"
for id in 1 2 3; do start_node "$id"; done
"$LOAD" write "$ADDRS" "$WRITES" "$KEYS" "$BYTES" "$CONNS"
last=$((WRITES - 1))
key="k$((last % KEYS))"
value=$(printf "%0${BYTES}d" "$last")
# Every node has applied the last write (its own state, read sequentially).
for id in 1 2 3; do
    "$LOAD" wait-value "127.0.0.1:$((PORT + id - 1))" "$key" "$value" 60000 >/dev/null
done
for id in 1 2 3; do memory "$id"; done
leader=$("$BIN" kv --cluster "$ADDRS" --insecure-plaintext status | awk '$4 == "leader" {print $3}')
victim=$(( leader % 3 + 1 ))
echo "leader: node $leader; kill -9 and restart node $victim (a follower)"
kill -9 "${PID[$victim]}"
wait "${PID[$victim]}" 2>/dev/null || true
t0=$(date +%s%N)
start_node "$victim"
"$LOAD" wait-value "127.0.0.1:$((PORT + victim - 1))" "$key" "$value" 120000
t1=$(date +%s%N)
echo "restart: process start to serving the last value: $(( (t1 - t0) / 1000000 )) ms"
grep -E "recovered" "$DIR/n$victim.log" | tail -1 || true
memory "$victim"
rm -rf "$DIR"
