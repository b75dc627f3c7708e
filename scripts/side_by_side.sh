#!/usr/bin/env bash
# Apache ZooKeeper 3.8, ballot's Raft KV and ballot's FLE + ZAB KV side by side on this machine,
# in one run, with the same load and the same client runtime; writes the tables into
# docs/benchmarks.md between <!-- side-by-side:begin --> and <!-- side-by-side:end -->.
#
#   scripts/side_by_side.sh [--rounds N] [--seconds S] [--failovers F] [--systems LIST] [--quick]
#                           [--out DIR] [--no-docs]
#
#   --rounds N      rounds (default 3); each starts a fresh 3-server ZooKeeper ensemble and fresh
#                   3-node ballot Raft and ZAB clusters, in an order rotated each round
#   --seconds S     measured seconds per cell (default 10), after 2 s of warm-up load not counted
#   --failovers F   kill -9 of the leader, F times per system, on a fresh cluster (default 20)
#   --systems LIST  comma-separated subset of zookeeper,ballot,ballot-zab (default: all three)
#   --quick         1 round, 2 s per cell, 5 failovers: for trying it out
#   --out DIR       results dir (default target/side-by-side/<date-time>): results.jsonl, logs
#   --no-docs       print the table instead of writing docs/benchmarks.md
#
# What it does (see docs/benchmarks.md § ZooKeeper 3.8 and ballot side by side):
#  1. Installs ZooKeeper 3.8 from Debian if it is absent: `apt-get update && apt-get install -y
#     zookeeper` (with sudo when not root). That package starts no service (zookeeperd would).
#  2. Builds ballot (`cargo build --release`) and the load tool
#     (`cargo build --release --manifest-path scripts/sidebyside/Cargo.toml`).
#  3. Per round and system: a fresh cluster on 127.0.0.1 only — ZooKeeper with the exact
#     configuration of shared/reference/zookeeper-baseline.md (fsync on, -Xmx1000m, its log4j
#     setup; client ports 21811-21813, quorum 28881-28883, election 38881-38883), ballot as three
#     `ballot node --protocol raft|zab --insecure-plaintext` processes (ports 27101-27103, or
#     BALLOT_BASE_PORT+0..2; plaintext because ZooKeeper's client port is plaintext; fsync on,
#     the default) — then the cells: writes and reads with 1, 8 and 32 connections × 1
#     outstanding and 1 connection × 32 pipelined, each a fresh run of the load tool against the
#     leader. ballot's reads are measured both ways (linearizable and sequential).
#  4. Failover: F times per system, kill -9 of the leader until a client's write is acknowledged;
#     the killed server is restarted and the cluster is whole again before the next one.
# Every process it starts is killed when it exits, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ARGS_TEXT="$*"

ROUNDS=3
SECS=10
WARMUP=2
FAILOVERS=20
OUT=
DOCS=1
usage() { sed -n '6,16p' "$0" | sed 's/^# \{0,1\}//'; }
SYSTEMS=zookeeper,ballot,ballot-zab
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
        --seconds) SECS=${2:?--seconds needs a number}; shift 2 ;;
        --failovers) FAILOVERS=${2:?--failovers needs a number}; shift 2 ;;
        --quick) ROUNDS=1; SECS=2; FAILOVERS=5; shift ;;
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        --no-docs) DOCS=0; shift ;;
        --systems) SYSTEMS=${2:?--systems needs a list}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
for v in ROUNDS SECS FAILOVERS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "error: --${v,,}: not a whole number: ${!v}" >&2; exit 2; }
done
[ "$ROUNDS" -ge 1 ] && [ "$SECS" -ge 1 ] || { echo "error: --rounds and --seconds must be at least 1" >&2; exit 2; }
IFS=, read -r -a SYS_LIST <<< "$SYSTEMS"
[ ${#SYS_LIST[@]} -ge 1 ] || { echo "error: --systems: empty list" >&2; exit 2; }
for s in "${SYS_LIST[@]}"; do
    case "$s" in zookeeper|ballot|ballot-zab) ;; *) echo "error: --systems: unknown system '$s' (zookeeper, ballot, ballot-zab)" >&2; exit 2 ;; esac
done

log() { echo "[side-by-side $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Processes: every pid this script starts is in ZK_PID or B_PID and is killed at exit.
declare -A ZK_PID=() B_PID=()
cleanup() {
    local code=$?
    trap - EXIT INT TERM
    local p left=()
    for p in "${ZK_PID[@]}" "${B_PID[@]}"; do
        kill -9 "$p" 2>/dev/null && left+=("$p")
    done
    for p in "${left[@]}"; do gone "$p" || true; done
    [ ${#left[@]} -eq 0 ] || log "stopped ${#left[@]} server process(es): ${left[*]}"
    exit "$code"
}
# Waits (at most 5 s) until process $1 is gone. Servers are disowned children: bash still reaps
# them, but prints no "Killed" job notice when they die of kill -9.
gone() {
    local n=0
    while kill -0 "$1" 2>/dev/null; do
        n=$((n + 1))
        [ "$n" -lt 500 ] || { log "process $1 still there 5 s after kill -9"; return 1; }
        sleep 0.01
    done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

START_TS=$(date +%s)
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-target/side-by-side/$STAMP}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.jsonl
W=$OUT/work
: > "$RESULTS"
mkdir -p "$W"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "results in $OUT (rounds $ROUNDS, $WARMUP s warm-up + $SECS s per cell, $FAILOVERS failovers per system)"

# ---------------------------------------------------------------------------------------------
# 1. ZooKeeper 3.8 from Debian, if absent (and measured).
JARS=(/usr/share/java/zookeeper.jar /usr/share/java/slf4j-log4j12.jar /usr/share/java/log4j-1.2.jar)
ZK_VERSION="not measured" JAVA_VERSION=-
if [[ ",$SYSTEMS," == *,zookeeper,* ]]; then
if ! command -v java >/dev/null || ! dpkg -s zookeeper >/dev/null 2>&1 || [ ! -f "${JARS[0]}" ]; then
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    log "ZooKeeper is not installed: running '${SUDO:+sudo }apt-get update && ${SUDO:+sudo }apt-get install -y zookeeper'"
    log "(Debian's zookeeper 3.8 package and its Java runtime; it starts no service)"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y zookeeper
fi
for j in "${JARS[@]}"; do
    [ -f "$j" ] || die "$j is missing (packages libzookeeper-java, libslf4j-java, liblog4j1.2-java)"
done
ZK_VERSION=$(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null || echo unknown)
JAVA_VERSION=$(java -version 2>&1 | head -1 | sed 's/^[^"]*"\([^"]*\)".*/\1/')
fi

# ---------------------------------------------------------------------------------------------
# 2. Builds.
log "building ballot: cargo build --release"
cargo build --release 2>&1 | tail -3 >&2
log "building the load tool: cargo build --release --manifest-path scripts/sidebyside/Cargo.toml"
cargo build --release --manifest-path scripts/sidebyside/Cargo.toml 2>&1 | tail -3 >&2
BALLOT=$ROOT/target/release/ballot
TOOL=$ROOT/scripts/sidebyside/target/release/sidebyside
[ -x "$BALLOT" ] || die "no $BALLOT after the build"
[ -x "$TOOL" ] || die "no $TOOL after the build"

# ---------------------------------------------------------------------------------------------
# Clusters (127.0.0.1 only).
ZK_SERVERS=127.0.0.1:21811,127.0.0.1:21812,127.0.0.1:21813
BB=${BALLOT_BASE_PORT:-27101}
B_SERVERS=127.0.0.1:$BB,127.0.0.1:$((BB + 1)),127.0.0.1:$((BB + 2))
B_PEERS=1=127.0.0.1:$BB,2=127.0.0.1:$((BB + 1)),3=127.0.0.1:$((BB + 2))
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 21811 21812 21813 28881 28882 28883 38881 38882 38883 "$BB" $((BB + 1)) $((BB + 2)); do
    ! port_busy "$p" || die "port 127.0.0.1:$p is in use (another ZooKeeper or ballot?); stop it first"
done

cat > "$W/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=${zk.logfile}
log4j.appender.FILE.Append=true
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
EOF

# ZooKeeper: the baseline's zoo.cfg, plus clientPortAddress=127.0.0.1 so the client port is not
# open beyond loopback (the baseline's listened on every interface; nothing else differs).
zk_init() {
    local i d
    C=$W/$1-zookeeper
    rm -rf "$C"
    for i in 1 2 3; do
        d=$C/zk$i
        mkdir -p "$d/data" "$d/log"
        echo "$i" > "$d/data/myid"
        printf '%s\n' tickTime=2000 initLimit=10 syncLimit=5 "dataDir=$d/data" clientPort=2181$i \
            clientPortAddress=127.0.0.1 admin.enableServer=false 4lw.commands.whitelist=srvr,stat,mntr,ruok \
            server.1=127.0.0.1:28881:38881 server.2=127.0.0.1:28882:38882 server.3=127.0.0.1:28883:38883 \
            > "$d/zoo.cfg"
    done
}
zk_start() {
    local i=$1 d=$C/zk$1
    java -Xmx1000m -Dzk.logfile="$d/log/zookeeper.log" -Dlog4j.configuration="file:$W/log4j.properties" \
        -Dzookeeper.jmx.log4j.disable=true -cp "$(IFS=:; echo "${JARS[*]}")" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" >> "$d/log/stdout.log" 2>&1 &
    ZK_PID[$i]=$!
    disown "$!"
}
b_init() { C=$W/$1; rm -rf "$C"; mkdir -p "$C"; }
# $B_PROTOCOL: raft or zab, set by start_cluster.
b_start() {
    local i=$1
    RUST_LOG=${RUST_LOG:-info} "$BALLOT" node --protocol "$B_PROTOCOL" --id "$i" --peers "$B_PEERS" \
        --dir "$C/node$i" --listen "127.0.0.1:$((BB + i - 1))" --insecure-plaintext \
        >> "$C/node$i.log" 2>&1 &
    B_PID[$i]=$!
    disown "$!"
}
# kill -9 and reap one server; the data stays (restart) or is removed by the next *_init.
zk_kill() { kill -9 "${ZK_PID[$1]}" 2>/dev/null || true; gone "${ZK_PID[$1]}"; unset "ZK_PID[$1]"; }
b_kill() { kill -9 "${B_PID[$1]}" 2>/dev/null || true; gone "${B_PID[$1]}"; unset "B_PID[$1]"; }

servers_of() { [ "$1" = zookeeper ] && echo "$ZK_SERVERS" || echo "$B_SERVERS"; }
pids_of() {
    if [ "$1" = zookeeper ]; then echo "${ZK_PID[1]},${ZK_PID[2]},${ZK_PID[3]}"
    else echo "${B_PID[1]},${B_PID[2]},${B_PID[3]}"; fi
}
# A top-level number or string of a one-line JSON object.
field() { printf '%s' "$1" | grep -o "\"$2\":[^,}]*" | head -1 | cut -d: -f2- | tr -d '"'; }

# start_cluster SYSTEM PHASE: a fresh cluster in $W/PHASE-SYSTEM (also $C).
start_cluster() {
    local sys=$1 i out
    if [ "$sys" = zookeeper ]; then
        zk_init "$2"
        for i in 1 2 3; do zk_start "$i"; done
    else
        if [ "$sys" = ballot-zab ]; then B_PROTOCOL=zab; else B_PROTOCOL=raft; fi
        b_init "$2-$B_PROTOCOL"
        for i in 1 2 3; do b_start "$i"; done
    fi
    out=$(timeout --foreground 90 "$TOOL" --system "$sys" --op wait-whole --servers "$(servers_of "$sys")" --wait-s 60) \
        || die "$sys: the cluster did not come up (logs in $C)"
    log "$sys: 3 servers up (pids $(pids_of "$sys")), leader is server $(field "$out" leader_id)"
}
stop_cluster() {
    local i
    for i in 1 2 3; do
        if [ "$1" = zookeeper ]; then zk_kill "$i"; else b_kill "$i"; fi
    done
    # Logs stay; the data (up to a few hundred MB per round) goes.
    if [ "$1" = zookeeper ]; then rm -rf "$C"/zk?/data; else rm -rf "$C"/node?; fi
}

# One cell: a fresh run of the load tool; prints its JSON line's key figures on stderr.
run_cell() {
    local sys=$1 round=$2 op=$3 conns=$4 pipe=$5 extra=("${@:6}") line
    line=$(timeout --foreground $((WARMUP + SECS + 120)) "$TOOL" --system "$sys" --op "$op" \
        --servers "$(servers_of "$sys")" --pids "$(pids_of "$sys")" --connections "$conns" \
        --pipeline "$pipe" --warmup-s "$WARMUP" --seconds "$SECS" --round "$round" "${extra[@]}") \
        || die "$sys $op ${conns}x$pipe: the load tool failed (logs in $C)"
    echo "$line" >> "$RESULTS"
    local what=$op
    [[ " ${extra[*]} " != *" --consistency "* ]] || what="$op $(field "$line" consistency | cut -c1-3)"
    log "$(printf 'round %s %-9s %-9s %2s conn x %2s: %8s ops/s  p50 %7s ms  p99 %7s ms  errors %s  absent %s  elections %s  CPU servers %s%% client %s%%' \
        "$round" "$sys" "$what" "$conns" "$pipe" "$(field "$line" ops_per_s)" "$(field "$line" p50_ms)" \
        "$(field "$line" p99_ms)" "$(field "$line" errors)" "$(field "$line" absent)" "$(field "$line" elections)" \
        "$(field "$line" servers_cpu_pct)" "$(field "$line" client_cpu_pct)")"
    CELL_LINE=$line
}

run_system() {
    local sys=$1 round=$2 shape conns pipe prefix n
    start_cluster "$sys" "r$round"
    for shape in "1 1" "8 1" "32 1" "1 32"; do
        read -r conns pipe <<< "$shape"
        prefix=r$round-c$conns-p$pipe
        run_cell "$sys" "$round" write "$conns" "$pipe" --prefix "$prefix"
        n=$(field "$CELL_LINE" keys_written)
        [ -n "$n" ] && [ "$n" -gt 0 ] || die "$sys: the write cell wrote no key"
        if [ "$sys" = zookeeper ]; then
            run_cell "$sys" "$round" read "$conns" "$pipe" --keys-from "$prefix:$n"
        else
            # ballot reads both ways: linearizable (Raft: a read barrier, its default; ZAB: by
            # the leader once it applied all it logged) and sequential (from the server's
            # applied state, as ZooKeeper's get_data).
            run_cell "$sys" "$round" read "$conns" "$pipe" --keys-from "$prefix:$n" --consistency linearizable
            run_cell "$sys" "$round" read "$conns" "$pipe" --keys-from "$prefix:$n" --consistency sequential
        fi
    done
    stop_cluster "$sys"
}

failovers() {
    local sys=$1 i line killed t
    start_cluster "$sys" failover
    for i in $(seq 1 "$FAILOVERS"); do
        line=$(timeout --foreground 90 "$TOOL" --system "$sys" --op failover --servers "$(servers_of "$sys")" \
            --pids "$(pids_of "$sys")" --label "fo$i" --wait-s 30) \
            || die "$sys failover $i: no write acknowledged (logs in $C)"
        echo "$line" >> "$RESULTS"
        killed=$(field "$line" killed_id)
        if [ "$sys" = zookeeper ]; then zk_kill "$killed"; zk_start "$killed"; else b_kill "$killed"; b_start "$killed"; fi
        t=$(date +%s%N)
        timeout --foreground 90 "$TOOL" --system "$sys" --op wait-whole --servers "$(servers_of "$sys")" --wait-s 60 >/dev/null \
            || die "$sys failover $i: the cluster is not whole again after restarting server $killed"
        log "$(printf '%-9s failover %2s/%s: killed leader %s, write acknowledged after %8s ms (elections %s); whole again %s ms after the restart' \
            "$sys" "$i" "$FAILOVERS" "$killed" "$(field "$line" failover_ms)" "$(field "$line" elections)" \
            $(( ($(date +%s%N) - t) / 1000000 )))"
    done
    stop_cluster "$sys"
}

# ---------------------------------------------------------------------------------------------
# 3. Rounds, interleaved; 4. failover.
for round in $(seq 1 "$ROUNDS"); do
    # Rotate the order each round, so no system always runs first (or last) on a warm machine.
    n=${#SYS_LIST[@]}
    order=()
    for k in $(seq 0 $((n - 1))); do order+=("${SYS_LIST[$(( (k + round - 1) % n ))]}"); done
    for sys in "${order[@]}"; do
        log "round $round/$ROUNDS: $sys"
        run_system "$sys" "$round"
    done
done
if [ "$FAILOVERS" -gt 0 ]; then
    for sys in "${SYS_LIST[@]}"; do
        log "failover: $sys, $FAILOVERS times"
        failovers "$sys"
    done
fi

# ---------------------------------------------------------------------------------------------
# The table.
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - START_TS ))
MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM_GIB=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
OS=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || uname -s)
DIRTY=$(git status --porcelain -- impl src Cargo.toml Cargo.lock 2>/dev/null | wc -l)
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ "$DIRTY" = 0 ] || COMMIT="$COMMIT + $DIRTY uncommitted file(s) under impl/ src/ (work in progress of others)"
NOTES=(
    --note "date=$(date -u '+%Y-%m-%d %H:%M UTC'), $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
    --note "command=\`scripts/side_by_side.sh${ARGS_TEXT:+ $ARGS_TEXT}\`"
    --note "machine=$(nproc) vCPU ($MODEL), $MEM_GIB GiB RAM, $OS, kernel $(uname -r); load average (1, 5, 15 min) $LOAD_START at the start, $LOAD_END at the end"
    --note "versions=ZooKeeper $ZK_VERSION (Debian) on OpenJDK $JAVA_VERSION; ballot at $COMMIT; $(rustc --version | cut -d' ' -f1-2)"
    --note "load=$WARMUP s warm-up (not counted) + $SECS s measured per cell; 100-byte values"
)
if [ "$DOCS" = 1 ]; then
    "$TOOL" --op report --results "$RESULTS" --docs docs/benchmarks.md "${NOTES[@]}"
fi
"$TOOL" --op report --results "$RESULTS" "${NOTES[@]}"
log "done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s; raw results: $RESULTS"
