#!/usr/bin/env bash
# The request log's cost: Sluice with `logging.enabled: true` vs `false` at fixed rates, and
# the sustained write rate of the log writer into SQLite and into Postgres.
#
#   bench/logging.sh                                   # ~1 minute after the release build
#   DURATION=5s RATES="1000 4000" bench/logging.sh
#   PG_URL="" bench/logging.sh                       # skip the Postgres write rate
#
# The Postgres run writes into PG_URL (default: database sluice_bench on the local server,
# dropped and created afresh with dropdb/createdb when they are installed).
#
# Prints one table; nothing is written to docs/. Pinning is bench/run.sh's: Sluice on
# SLUICE_CORE, the mock and oha on LOAD_CORE.
set -euo pipefail

DURATION=${DURATION:-10s}
read -r -a RATES <<<"${RATES:-1000 4000}"
CONNS=${CONNS:-50}
RECORDS=${RECORDS:-200000}                      # records per write-rate run
PG_URL=${PG_URL-postgres://postgres@127.0.0.1:5432/sluice_bench}
SLUICE_CORE=${SLUICE_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
NO_BUILD=${NO_BUILD:-}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SLUICE_BIN="$ROOT/target/release/sluice"
MOCK_BIN="$ROOT/target/release/sluice-mock"
RATE_BIN="$ROOT/target/release/examples/write_rate"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

OHA=$(command -v oha || true)
[[ -z "$OHA" && -x "$HOME/.cargo/bin/oha" ]] && OHA="$HOME/.cargo/bin/oha"
[[ -n "$OHA" ]] || die "oha is not installed: cargo install oha --locked"
for tool in python3 taskset curl; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

if [[ -z "$NO_BUILD" ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p sluice -p sluice-testkit \
        && cargo build --release -p sluice-store --example write_rate)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-logbench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

taskset -c "$LOAD_CORE" "$MOCK_BIN" --listen 127.0.0.1:0 >"$WORK/mock.log" 2>&1 &
PIDS+=($!)
MOCK_ADDR=""
for _ in $(seq 100); do
    MOCK_ADDR=$(sed -n 's/^listening on //p' "$WORK/mock.log" | head -n 1)
    [[ -n "$MOCK_ADDR" ]] && break
    sleep 0.05
done
[[ -n "$MOCK_ADDR" ]] || die "sluice-mock did not report its address"
python3 "$ROOT/bench/bench.py" body bench false "$WORK/body.json"

# p50 and p99 in µs, and the failure count, of an oha JSON report.
summarize() {
    python3 - "$1" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
lat = j.get("latencyPercentiles", {})
codes = j.get("statusCodeDistribution", {})
failed = sum(n for code, n in codes.items() if code != "200") + sum(j.get("errorDistribution", {}).values())
print(f"{lat.get('p50', 0) * 1e6:.0f} {lat.get('p99', 0) * 1e6:.0f} {failed}")
EOF
}

RESULTS=()
for logging in true false; do
    port=$(free_port)
    cat >"$WORK/sluice-$logging.yaml" <<EOF
store: sqlite://$WORK/sluice-$logging.db
logging: { enabled: $logging, journal: "$WORK/journal-$logging" }
providers:
  mock: { kind: openai-compatible, base_url: "http://$MOCK_ADDR/v1", api_key: "sk-bench" }
models:
  - name: bench
    targets: [ { provider: mock, model: gpt-4o-mini } ]
EOF
    SLUICE_LOG=warn taskset -c "$SLUICE_CORE" "$SLUICE_BIN" serve \
        --config "$WORK/sluice-$logging.yaml" --listen "127.0.0.1:$port" >"$WORK/sluice-$logging.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 200); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/health/ready" 2>/dev/null && break
        sleep 0.05
    done
    url="http://127.0.0.1:$port/v1/chat/completions"
    for rate in "${RATES[@]}"; do
        log "logging $logging, $rate req/s for $DURATION"
        taskset -c "$LOAD_CORE" "$OHA" --no-tui --output-format json -z "$DURATION" -w \
            -m POST -T application/json -H 'authorization: Bearer sk-bench' \
            -D "$WORK/body.json" -q "$rate" -c "$CONNS" --latency-correction "$url" \
            >"$WORK/oha-$logging-$rate.json"
        RESULTS+=("$logging $rate $(summarize "$WORK/oha-$logging-$rate.json")")
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done

printf '\nlatency through Sluice, request log on vs off (oha, %s per run, %s connections)\n' "$DURATION" "$CONNS"
printf '%-8s %8s %10s %10s %8s\n' logging req/s p50_us p99_us failed
for row in "${RESULTS[@]}"; do
    read -r logging rate p50 p99 failed <<<"$row"
    printf '%-8s %8s %10s %10s %8s\n' "$logging" "$rate" "$p50" "$p99" "$failed"
done

printf '\nsustained log write rate (%s records through the LogWriter)\n' "$RECORDS"
printf '%-10s %10s %10s %12s %11s\n' backend records seconds records/s journalled
taskset -c "$SLUICE_CORE" "$RATE_BIN" "sqlite://$WORK/rate.db" "$RECORDS" |
    awk '{printf "%-10s %10s %10s %12s %11s\n", $1, $2, $3, $4, $5}'
if [[ -n "$PG_URL" ]]; then
    if [[ $PG_URL == */sluice_bench ]] && command -v createdb >/dev/null; then
        dropdb --if-exists -h 127.0.0.1 -U postgres sluice_bench
        createdb -h 127.0.0.1 -U postgres sluice_bench
    fi
    taskset -c "$SLUICE_CORE" "$RATE_BIN" "$PG_URL" "$RECORDS" |
        awk '{printf "%-10s %10s %10s %12s %11s\n", $1, $2, $3, $4, $5}'
fi
