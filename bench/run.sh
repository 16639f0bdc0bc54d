#!/usr/bin/env bash
# Sluice benchmark: the mock upstream alone vs. Sluice in front of it.
#
#   bench/run.sh                 # ~10 s per load run, about 2 minutes in all
#   DURATION=5s bench/run.sh     # shorter runs
#
# See bench/README.md for what is measured and how; results are appended to
# docs/benchmarks.md.
set -euo pipefail

DURATION=${DURATION:-10s}          # length of each oha load run
RATES=(500 2000)                   # fixed-rate runs, req/s
RATE_CONNS=${RATE_CONNS:-50}       # connections for the fixed-rate runs
MAX_CONNS=${MAX_CONNS:-64}         # connections for the max-throughput run
STREAM_RATE=${STREAM_RATE:-500}    # oha streaming run, req/s
TTFB_N=${TTFB_N:-500}              # sequential streaming requests for time to first byte
OVERHEAD_N=${OVERHEAD_N:-2000}     # sequential requests sampling x-sluice-overhead-us
SLUICE_CORE=${SLUICE_CORE:-0}      # Sluice gets this core to itself
LOAD_CORE=${LOAD_CORE:-1}          # the mock and the load generator share this one
NO_BUILD=${NO_BUILD:-}
FAIL_RATE=${FAIL_RATE:-0.3}          # share of the flaky target's requests that fail
FAILOVER_RATE=${FAILOVER_RATE:-1000} # req/s of the failover run             # set to skip `cargo build --release`

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
RESULTS_MD="$ROOT/docs/benchmarks.md"
SLUICE_BIN="$ROOT/target/release/sluice"
MOCK_BIN="$ROOT/target/release/sluice-mock"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ tools

OHA=$(command -v oha || true)
if [[ -z "$OHA" && -x "$HOME/.cargo/bin/oha" ]]; then OHA="$HOME/.cargo/bin/oha"; fi
if [[ -z "$OHA" ]]; then
    cat >&2 <<'EOF'
bench: `oha` (the HTTP load generator) is not installed. Install it with

    cargo install oha --locked

(it lands in ~/.cargo/bin, which this script also looks in), then run bench/run.sh again.
EOF
    exit 1
fi
# oha ≥ 1.x takes --output-format json; older releases had -j/--json.
if "$OHA" --help 2>&1 | grep -q -- '--output-format'; then
    OHA_JSON=(--output-format json)
else
    OHA_JSON=(--json)
fi
OHA_THREADS=()
if "$OHA" --help 2>&1 | grep -q -- '--worker-threads'; then
    OHA_THREADS=(--worker-threads 1)   # it is pinned to one core anyway
fi
for tool in python3 taskset curl; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
NCPU=$(nproc)
if (( NCPU < 2 )); then
    die "needs at least 2 cores (Sluice on one, mock + load generator on the other); found $NCPU"
fi

# ------------------------------------------------------------------ build

if [[ -z "$NO_BUILD" ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p sluice -p sluice-testkit)
fi
[[ -x "$SLUICE_BIN" && -x "$MOCK_BIN" ]] || die "missing $SLUICE_BIN or $MOCK_BIN; build first"

# ------------------------------------------------------------------ processes

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
MOCK_PID=""
SLUICE_PID=""
FLAKY_PID=""
cleanup() {
    local rc=$?
    for pid in "$SLUICE_PID" "$MOCK_PID" "$FLAKY_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if (( rc != 0 )); then
        for f in mock.log sluice.log; do
            if [[ -s "$WORK/$f" ]]; then
                printf -- '--- %s (last lines)\n' "$f" >&2
                tail -n 20 "$WORK/$f" >&2
            fi
        done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The mock binds port 0 and prints `listening on ADDR`.
log "starting sluice-mock on core $LOAD_CORE"
taskset -c "$LOAD_CORE" "$MOCK_BIN" --listen 127.0.0.1:0 >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
MOCK_ADDR=""
for _ in $(seq 100); do
    MOCK_ADDR=$(sed -n 's/^listening on //p' "$WORK/mock.log" | head -n 1)
    [[ -n "$MOCK_ADDR" ]] && break
    kill -0 "$MOCK_PID" 2>/dev/null || die "sluice-mock exited"
    sleep 0.05
done
[[ -n "$MOCK_ADDR" ]] || die "sluice-mock did not report its address"

# A second mock that answers 30% of requests with a 500, for the failover run.
taskset -c "$LOAD_CORE" "$MOCK_BIN" --listen 127.0.0.1:0 --fail-rate "$FAIL_RATE" >"$WORK/flaky.log" 2>&1 &
FLAKY_PID=$!
FLAKY_ADDR=""
for _ in $(seq 100); do
    FLAKY_ADDR=$(sed -n 's/^listening on //p' "$WORK/flaky.log" | head -n 1)
    [[ -n "$FLAKY_ADDR" ]] && break
    kill -0 "$FLAKY_PID" 2>/dev/null || die "flaky sluice-mock exited"
    sleep 0.05
done
[[ -n "$FLAKY_ADDR" ]] || die "flaky sluice-mock did not report its address"

SLUICE_PORT=$(free_port)
cat >"$WORK/sluice.yaml" <<EOF
# A fresh request log per run, so earlier runs' rows do not weigh on this one.
store: sqlite://$WORK/sluice.db
logging: { journal: "$WORK/journal" }
providers:
  mock: { kind: openai-compatible, base_url: "http://$MOCK_ADDR/v1", api_key: "sk-bench" }
  flaky: { kind: openai-compatible, base_url: "http://$FLAKY_ADDR/v1", api_key: "sk-bench" }
  claude: { kind: anthropic, base_url: "http://$MOCK_ADDR", api_key: "sk-bench" }
models:
  - name: bench
    targets: [ { provider: mock, model: gpt-4o-mini } ]
  - name: translated
    targets: [ { provider: claude, model: claude-sonnet-4-5 } ]
  - name: cached
    targets: [ { provider: mock, model: gpt-4o-mini } ]
    cache: { ttl: 1h }
  - name: guarded
    targets: [ { provider: mock, model: gpt-4o-mini } ]
    guardrails: [pii]
  - name: resilient
    strategy: round-robin
    targets: [ { provider: flaky, model: gpt-4o-mini }, { provider: mock, model: gpt-4o-mini } ]
    retry: { max: 2, backoff: 1ms }
guardrails:
  pii: { kind: pii, action: mask, restore: true }
EOF

log "starting sluice on core $SLUICE_CORE (port $SLUICE_PORT)"
SLUICE_LOG=warn taskset -c "$SLUICE_CORE" "$SLUICE_BIN" serve \
    --config "$WORK/sluice.yaml" --listen "127.0.0.1:$SLUICE_PORT" >"$WORK/sluice.log" 2>&1 &
SLUICE_PID=$!   # taskset execs sluice, so this is Sluice's pid
ready=""
for _ in $(seq 200); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$SLUICE_PORT/health/ready" 2>/dev/null; then
        ready=1
        break
    fi
    kill -0 "$SLUICE_PID" 2>/dev/null || die "sluice exited during startup"
    sleep 0.05
done
[[ -n "$ready" ]] || die "sluice did not become ready on port $SLUICE_PORT"

sleep 1
IDLE_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$SLUICE_PID/status")
log "sluice ready; idle RSS $((IDLE_KB / 1024)) MB"

DIRECT_URL="http://$MOCK_ADDR/v1/chat/completions"
SLUICE_URL="http://127.0.0.1:$SLUICE_PORT/v1/chat/completions"

python3 "$BENCH/bench.py" body gpt-4o-mini false "$WORK/direct.json"
python3 "$BENCH/bench.py" body bench false "$WORK/sluice.json"
python3 "$BENCH/bench.py" body gpt-4o-mini true "$WORK/direct-stream.json"
python3 "$BENCH/bench.py" body bench true "$WORK/sluice-stream.json"

# Sanity: both paths answer 200 before measuring anything.
for target in direct sluice; do
    if [[ $target == direct ]]; then url=$DIRECT_URL; else url=$SLUICE_URL; fi
    code=$(curl -sS -o "$WORK/check.out" -w '%{http_code}' -H 'content-type: application/json' \
        -H 'authorization: Bearer sk-bench' --data-binary "@$WORK/$target.json" "$url")
    [[ $code == 200 ]] || { cat "$WORK/check.out" >&2; die "$target request answered HTTP $code"; }
done
log "request body: $(wc -c <"$WORK/sluice.json") bytes"

# ------------------------------------------------------------------ load runs

mkdir -p "$WORK/results"

# oha NAME URL BODY [oha args...]
run_oha() {
    local name=$1 url=$2 body=$3
    shift 3
    log "oha $name ($DURATION $*)"
    taskset -c "$LOAD_CORE" "$OHA" --no-tui "${OHA_JSON[@]}" "${OHA_THREADS[@]}" \
        -z "$DURATION" -w -m POST -T application/json -H "authorization: Bearer ${KEY:-sk-bench}" \
        -D "$body" "$@" "$url" >"$WORK/results/$name.json"
}

for rate in "${RATES[@]}"; do
    run_oha "direct-q$rate" "$DIRECT_URL" "$WORK/direct.json" -q "$rate" -c "$RATE_CONNS" --latency-correction
    run_oha "sluice-q$rate" "$SLUICE_URL" "$WORK/sluice.json" -q "$rate" -c "$RATE_CONNS" --latency-correction
done
run_oha direct-max "$DIRECT_URL" "$WORK/direct.json" -c "$MAX_CONNS"
run_oha sluice-max "$SLUICE_URL" "$WORK/sluice.json" -c "$MAX_CONNS"
run_oha direct-stream "$DIRECT_URL" "$WORK/direct-stream.json" -q "$STREAM_RATE" -c "$RATE_CONNS" --latency-correction
run_oha sluice-stream "$SLUICE_URL" "$WORK/sluice-stream.json" -q "$STREAM_RATE" -c "$RATE_CONNS" --latency-correction

# Translation: OpenAI in, Anthropic Messages out (the mock speaks both), same rate as the
# 500 req/s pass-through run.
python3 "$BENCH/bench.py" body translated false "$WORK/translated.json"
python3 "$BENCH/bench.py" body translated true "$WORK/translated-stream.json"
run_oha sluice-translated "$SLUICE_URL" "$WORK/translated.json" -q 500 -c "$RATE_CONNS" --latency-correction
run_oha sluice-translated-stream "$SLUICE_URL" "$WORK/translated-stream.json" -q "$STREAM_RATE" -c "$RATE_CONNS" --latency-correction

# Guardrails: a stream whose prompt and answer carry an e-mail, masked on the way up and
# restored delta by delta on the way back, against the same body through model bench.
python3 "$BENCH/bench.py" body guarded true "$WORK/guarded-stream.json" true
python3 "$BENCH/bench.py" body bench true "$WORK/guarded-plain-stream.json" true
run_oha sluice-guarded-plain-stream "$SLUICE_URL" "$WORK/guarded-plain-stream.json" -q "$STREAM_RATE" -c "$RATE_CONNS" --latency-correction
run_oha sluice-guarded-stream "$SLUICE_URL" "$WORK/guarded-stream.json" -q "$STREAM_RATE" -c "$RATE_CONNS" --latency-correction

# Failover: one of two targets fails $FAIL_RATE of its requests; the client must see none.
python3 "$BENCH/bench.py" body resilient false "$WORK/resilient.json"
run_oha direct-failover "$DIRECT_URL" "$WORK/direct.json" -q "$FAILOVER_RATE" -c "$RATE_CONNS" --latency-correction
run_oha sluice-failover "$SLUICE_URL" "$WORK/resilient.json" -q "$FAILOVER_RATE" -c "$RATE_CONNS" --latency-correction

# Exact cache hits: one call stores the answer, then every request at 2,000 req/s is a hit.
python3 "$BENCH/bench.py" body cached false "$WORK/cached.json"
warm_cache() {
    for _ in 1 2 3 4 5; do
        curl -sS -o /dev/null -H 'content-type: application/json' -H 'authorization: Bearer sk-bench' \
            --data-binary "@$WORK/cached.json" "$SLUICE_URL"
        sleep 0.2
    done
}
warm_cache
run_oha sluice-cached-q2000 "$SLUICE_URL" "$WORK/cached.json" -q 2000 -c "$RATE_CONNS" --latency-correction

# oha reports whole-response latency only, so time to first byte is measured separately.
log "time to first byte: $TTFB_N sequential streaming requests each way"
taskset -c "$LOAD_CORE" python3 "$BENCH/bench.py" ttfb "$DIRECT_URL" "$WORK/direct-stream.json" "$TTFB_N" "$WORK/results/ttfb-direct.json"
taskset -c "$LOAD_CORE" python3 "$BENCH/bench.py" ttfb "$SLUICE_URL" "$WORK/sluice-stream.json" "$TTFB_N" "$WORK/results/ttfb-sluice.json"

log "x-sluice-overhead-us: $OVERHEAD_N sequential requests"
taskset -c "$LOAD_CORE" python3 "$BENCH/bench.py" overhead "$SLUICE_URL" "$WORK/sluice.json" "$OVERHEAD_N" "$WORK/results/overhead.json"

kill -0 "$SLUICE_PID" 2>/dev/null || die "sluice died during the benchmark"
PEAK_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$SLUICE_PID/status")

# Tenancy: a virtual key whose RPM, TPM and budget are checked (and settled) on every
# request, against the in-memory limiter, then against Redis in a second gateway.
create_key() {
    curl -fsS -H 'content-type: application/json' \
        --data '{"name":"bench","rpm":1000000000,"tpm":1000000000000,"budget":{"amount":"1000000","period":"monthly"}}' \
        "$1/admin/v1/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}
KEY=$(create_key "http://127.0.0.1:$SLUICE_PORT")
run_oha sluice-keyed-q2000 "$SLUICE_URL" "$WORK/sluice.json" -q 2000 -c "$RATE_CONNS" --latency-correction
BENCH_KEY=$KEY taskset -c "$LOAD_CORE" python3 "$BENCH/bench.py" overhead "$SLUICE_URL" "$WORK/sluice.json" "$OVERHEAD_N" "$WORK/results/overhead-keyed-memory.json"
unset KEY
if python3 -c 'import socket; s=socket.create_connection(("127.0.0.1",6379),1); s.sendall(b"PING\r\n"); assert s.recv(7)==b"+PONG\r\n"' 2>/dev/null; then
    kill "$SLUICE_PID"; wait "$SLUICE_PID" 2>/dev/null || true; SLUICE_PID=""
    sed -e "s|^store: .*|store: sqlite://$WORK/redis.db\nredis: redis://127.0.0.1:6379|" \
        -e "s|journal: \"$WORK/journal\"|journal: \"$WORK/journal-redis\"|" "$WORK/sluice.yaml" >"$WORK/sluice-redis.yaml"
    log "starting sluice with Redis limits on core $SLUICE_CORE"
    SLUICE_LOG=warn taskset -c "$SLUICE_CORE" "$SLUICE_BIN" serve \
        --config "$WORK/sluice-redis.yaml" --listen "127.0.0.1:$SLUICE_PORT" >"$WORK/sluice-redis.log" 2>&1 &
    SLUICE_PID=$!
    for _ in $(seq 200); do
        curl -fsS -o /dev/null "http://127.0.0.1:$SLUICE_PORT/health/ready" 2>/dev/null && break
        sleep 0.05
    done
    warm_cache
    run_oha sluice-cached-redis-q2000 "$SLUICE_URL" "$WORK/cached.json" -q 2000 -c "$RATE_CONNS" --latency-correction
    KEY=$(create_key "http://127.0.0.1:$SLUICE_PORT")
    run_oha sluice-keyed-redis-q2000 "$SLUICE_URL" "$WORK/sluice.json" -q 2000 -c "$RATE_CONNS" --latency-correction
    BENCH_KEY=$KEY taskset -c "$LOAD_CORE" python3 "$BENCH/bench.py" overhead "$SLUICE_URL" "$WORK/sluice.json" "$OVERHEAD_N" "$WORK/results/overhead-keyed-redis.json"
    unset KEY
else
    log "no Redis at 127.0.0.1:6379: skipping the Redis limits run"
fi
printf '{"idle_kb": %d, "peak_kb": %d}\n' "$IDLE_KB" "$PEAK_KB" >"$WORK/results/rss.json"

# ------------------------------------------------------------------ report

DATE=$(date -u +%F)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $COMMIT != unknown ]] && [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    COMMIT="$COMMIT+dirty"
fi

python3 "$BENCH/bench.py" report "$WORK/results" "$WORK/row.md" "$DATE" "$COMMIT" "$DURATION" \
    "$SLUICE_CORE" "$LOAD_CORE"

if [[ -f "$RESULTS_MD" ]]; then
    cat "$WORK/row.md" >>"$RESULTS_MD"
    log "appended a row to ${RESULTS_MD#"$ROOT"/}"
else
    log "${RESULTS_MD#"$ROOT"/} not found; row not recorded:"
    cat "$WORK/row.md" >&2
fi
