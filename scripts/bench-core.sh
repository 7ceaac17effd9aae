#!/usr/bin/env bash
# Core benchmarks for BENCHMARKS.md, all in one run on one machine:
#   1. pgbench's default (TPC-B-like) TPS with N clients: the baseline
#   2. jitaccess bench lifecycle with the same N clients, against PostgreSQL,
#      and the audit seal delay under it
#   3. one sweep of 100,000 expired grants ÷ the bare-SQL floor, same run
#   3b. the sweep's plan after a finished-only ANALYZE (10k due, 100k finished)
#   4. sweeper lag on the default 5 s schedule, and the revocation lag at a
#      webhook target (3,000 grants over a minute), with and without the
#      sweeper's wake-up (--cron-only: the baseline)
#   5. cmd/checkload: GET /api/v1/me vs GET /healthz, and check (durable
#      audit, --audit-checks all) vs /me, same server, same run
#   6. audit verify over 1,000,000 records ÷ sha256sum of the same bytes
#      (the canonical encodings the verifier hashes), same run, medians of 5
# Each step gets a fresh scratch database, dropped at the end.
#
# Usage: scripts/bench-core.sh [CLIENTS] [PGBENCH_SECONDS]
# Env:   PGURL (default postgres://postgres@127.0.0.1:5432), LIFECYCLES (default 3000)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8}
seconds=${2:-30}
lifecycles=${LIFECYCLES:-3000}
. scripts/pg-env.sh
trap 'for d in jab_pgbench jab_api jab_sweep jab_plan jab_lag jab_lag_cron jab_check jab_verify; do psqlc -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done' EXIT

go build -o /tmp/jitaccess-bench ./cmd/jitaccess
echo "machine: $(nproc) cores, $(uname -m), $(psql --version | head -1), $(go version | cut -d' ' -f3)"

echo "== pgbench baseline: scale 10, $clients clients, ${seconds}s"
fresh jab_pgbench
pgbench -h "$host" -p "$port" -U "$user" -i -s 10 -q jab_pgbench >/dev/null 2>&1
tps=$(pgbench -h "$host" -p "$port" -U "$user" -c "$clients" -j 2 -T "$seconds" jab_pgbench 2>/dev/null | sed -nE 's/^tps = ([0-9.]+).*/\1/p')
echo "pgbench tps: $tps"

echo "== jitaccess bench lifecycle: $clients clients, $lifecycles lifecycles"
fresh jab_api
out=$(/tmp/jitaccess-bench bench lifecycle --database "$pg/jab_api?sslmode=disable" --clients "$clients" --lifecycles "$lifecycles")
echo "$out"
api=$(echo "$out" | sed -nE 's/^throughput: +([0-9.]+).*/\1/p')
echo "ratio: jitaccess transitions/s / pgbench tps = $(awk -v a="$api" -v b="$tps" 'BEGIN{printf "%.2f", a/b}') (bar >= 0.40, goal >= 0.60)"
echo "seal delay under that load: $(echo "$out" | sed -nE 's/^seal delay p99: +(.*)/\1/p') (bar p99 <= 1 s, goal <= 200 ms; scaling 2 -> 16 clients and before/after: scripts/bench-sealer.sh)"

echo "== one sweep of 100,000 expired grants, and the bare-SQL floor in the same run"
fresh jab_sweep
out=$(/tmp/jitaccess-bench bench sweep --database "$pg/jab_sweep?sslmode=disable" --requests 100000)
echo "$out"
echo "sweep ratio: $(echo "$out" | sed -nE 's/^ratio: +([0-9.]+).*/\1/p') × the floor (bar <= 3.0, goal <= 2.0)"

echo "== the sweep's plan: 10,000 due after ANALYZE of 100,000 finished requests"
fresh jab_plan
/tmp/jitaccess-bench bench sweep --database "$pg/jab_plan?sslmode=disable" --requests 10000 --finished 100000 --explain

echo "== sweeper and revocation lag, default schedule, 3,000 grants over 60s: cron only (baseline), then with the wake-up"
fresh jab_lag_cron
cron=$(/tmp/jitaccess-bench bench sweep-lag --database "$pg/jab_lag_cron?sslmode=disable" --requests 3000 --spread 60s --cron-only)
echo "$cron"
fresh jab_lag
wake=$(/tmp/jitaccess-bench bench sweep-lag --database "$pg/jab_lag?sslmode=disable" --requests 3000 --spread 60s)
echo "$wake"
p99() { echo "$1" | sed -nE 's/^revocation p99: +([0-9.]+)s.*/\1/p'; }
echo "revocation lag p99 at the target: $(p99 "$wake")s with the wake-up, $(p99 "$cron")s cron only (bar <= 1s, goal <= 0.1s)"

echo "== check and mask: cmd/checkload, $clients clients, audit all (durable)"
go build -o /tmp/jitaccess-checkload ./cmd/checkload
fresh jab_check
out=$(/tmp/jitaccess-checkload --clients "$clients" --duration 10s --audit all --database "$pg/jab_check?sslmode=disable")
echo "$out"
rps() { echo "$out" | awk -F'|' -v n="$1" 'index($2, n) == 2 {gsub(/ /, "", $3); print $3; exit}'; }
healthz=$(rps "GET /healthz"); me=$(rps "GET /api/v1/me"); check=$(rps "GET /api/v1/grants/check (allowed)")
echo "ratio: GET /api/v1/me / GET /healthz = $(awk -v a="$me" -v b="$healthz" 'BEGIN{printf "%.2f", a/b}') (target >= 0.80, goal 0.90)"
echo "ratio: check (audit all) / GET /api/v1/me = $(awk -v a="$check" -v b="$me" 'BEGIN{printf "%.2f", a/b}') (target >= 0.50, goal 0.80)"
echo "== audit verify over 1,000,000 records, and sha256sum of the same bytes in the same run"
fresh jab_verify
out=$(/tmp/jitaccess-bench bench verify --database "$pg/jab_verify?sslmode=disable" --records 1000000 --rounds 5)
echo "$out"
echo "verify ratio: $(echo "$out" | sed -nE 's/^ratio: +([0-9.]+).*/\1/p') × sha256sum (bar <= 2.0, goal <= 1.2); before: $(echo "$out" | sed -nE 's/^before: +([0-9.]+).*/\1/p')"
echo "load average: $(uptime | sed 's/.*load average: //')"
