#!/usr/bin/env bash
# The audit sealer's figures (issue 14 item 1) for BENCHMARKS.md, in one run:
# pgbench TPS (scale 10) and jitaccess bench lifecycle at each client count,
# the lifecycle run by the binary before the sealer (BEFORE, optional), by
# this one with the sealer (default --audit-seal-interval 200ms) and by this
# one with --audit-seal-interval 0 (chained inline: the old guarantee).
# Rounds alternate so that drift on a shared machine hits all alike.
#
# Usage: BEFORE=/path/to/old/jitaccess scripts/bench-sealer.sh [CLIENTS...]
# Env:   PGURL (default postgres://postgres@127.0.0.1:5432), LIFECYCLES
#        (default 2000), SECONDS_PGBENCH (default 20), ROUNDS (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=("${@:-8}")
[ ${#clients[@]} -eq 0 ] && clients=(8)
lifecycles=${LIFECYCLES:-2000}
secs=${SECONDS_PGBENCH:-20}
rounds=${ROUNDS:-2}
. scripts/pg-env.sh
trap 'for d in jas_pgbench jas_api; do psqlc -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done' EXIT
go build -o /tmp/jitaccess-sealer ./cmd/jitaccess
fresh jas_pgbench
pgbench -h "$host" -p "$port" -U "$user" -i -s 10 -q jas_pgbench >/dev/null 2>&1
life() { # binary, clients, extra flags...
  local bin=$1 c=$2; shift 2
  fresh jas_api
  "$bin" bench lifecycle --database "$pg/jas_api?sslmode=disable" --clients "$c" --lifecycles "$lifecycles" "$@"
}
echo "machine: $(nproc) cores, $(psql --version | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${clients[@]}"; do
  for r in $(seq 1 "$rounds"); do
    tps=$(pgbench -h "$host" -p "$port" -U "$user" -c "$c" -j 2 -T "$secs" jas_pgbench 2>/dev/null | sed -nE 's/^tps = ([0-9.]+).*/\1/p')
    echo "clients $c round $r: pgbench tps $tps"
    if [ -n "${BEFORE:-}" ]; then
      b=$(life "$BEFORE" "$c" | sed -nE 's/^throughput: +([0-9.]+).*/\1/p')
      echo "clients $c round $r: before (advisory lock) $b transitions/s = $(awk -v a="$b" -v t="$tps" 'BEGIN{printf "%.2f", a/t}') of pgbench"
    fi
    out=$(life /tmp/jitaccess-sealer "$c")
    s=$(echo "$out" | sed -nE 's/^throughput: +([0-9.]+).*/\1/p')
    echo "clients $c round $r: sealer 200ms $s transitions/s = $(awk -v a="$s" -v t="$tps" 'BEGIN{printf "%.2f", a/t}') of pgbench; $(echo "$out" | grep -E '^(seal delay|unsealed)' | tr '\n' ';')"
    i=$(life /tmp/jitaccess-sealer "$c" --audit-seal-interval 0 | sed -nE 's/^throughput: +([0-9.]+).*/\1/p')
    echo "clients $c round $r: inline (interval 0) $i transitions/s = $(awk -v a="$i" -v t="$tps" 'BEGIN{printf "%.2f", a/t}') of pgbench"
  done
done
