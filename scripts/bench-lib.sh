# shellcheck shell=bash
# Helpers shared by scripts/bench and scripts/bench-auth; sourced by them,
# never run on its own. It builds what a benchmark needs, serves the app
# (`spin up` or `troupe-host up`) on a free port with a temporary state
# directory, and removes everything it started or created when the calling
# script exits (normally, on an error, or on Ctrl-C).
#
# Benchmarks print figures; they assert nothing about time.

bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$bench_root"

# The figures are for spin.toml's defaults plus the --variable flags each
# script passes: no SPIN_VARIABLE_* from the caller's environment applies.
for bench_variable in "${!SPIN_VARIABLE_@}"; do
    unset "$bench_variable"
done
unset bench_variable

BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/troupe-bench.XXXXXX")"
BENCH_PIDS=()
# Commands run at exit, after the hosts are stopped (e.g. dropping a schema).
BENCH_ON_EXIT=()

bench_cleanup() {
    local pid command
    for pid in "${BENCH_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    for command in "${BENCH_ON_EXIT[@]}"; do
        eval "$command" || echo "cleanup failed: $command" >&2
    done
    rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Build, at low priority (other work shares the machine), the components of
# spin.toml for wasm32-wasip2 and, when it serves them, troupe-host (the
# `host` profile).
bench_build_app() {
    echo "building the components$([ "$BENCH_HOST" = troupe-host ] && echo " and troupe-host")…" >&2
    nice -n 10 scripts/build-wasm -q
    if [ "$BENCH_HOST" = troupe-host ]; then
        nice -n 10 cargo build -q --profile host -p troupe-host
    fi
}

# The host the benchmarks serve the app with: the Spin CLI when one is
# installed (BENCH_HOST=spin), otherwise troupe-host (BENCH_HOST=troupe-host);
# set BENCH_HOST to choose.
if [ -z "${BENCH_HOST:-}" ]; then
    if command -v spin >/dev/null; then BENCH_HOST=spin; else BENCH_HOST=troupe-host; fi
fi
case "$BENCH_HOST" in
    spin | troupe-host) ;;
    *) echo "BENCH_HOST must be spin or troupe-host, not $BENCH_HOST" >&2; exit 2 ;;
esac

# bench_start_host NAME STATE_DIR [VARIABLE=VALUE]...
# Serves spin.toml with $BENCH_HOST on 127.0.0.1 and a free port, the
# variables given as SPIN_VARIABLE_* (which both hosts read), the default
# SQLite database and key-value store in STATE_DIR (`--state-dir`, as
# `spin up` takes it); waits until GET /health answers 200, and sets BENCH_URL.
bench_start_host() {
    local name="$1" state_dir="$2"
    shift 2
    local log="$BENCH_TMP/$name.log" deadline=$((SECONDS + 300)) environment=() assignment
    for assignment in "$@"; do
        environment+=("SPIN_VARIABLE_$(tr '[:lower:]' '[:upper:]' <<<"${assignment%%=*}")=${assignment#*=}")
    done
    : >"$log"
    if [ "$BENCH_HOST" = spin ]; then
        # `spin up` prints the address it was given: pick a free port first.
        local port
        port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        env "${environment[@]}" spin up --from spin.toml --listen "127.0.0.1:$port" \
            --state-dir "$state_dir" >"$log" 2>&1 &
    else
        env "${environment[@]}" target/host/troupe-host up --from spin.toml --listen 127.0.0.1:0 \
            --state-dir "$state_dir" >"$log" 2>&1 &
    fi
    BENCH_PIDS+=("$!")
    local pid="$!"
    BENCH_URL=""
    # Loading compiles the components (or reads them from the host's
    # compilation cache) before the host prints its address.
    until BENCH_URL="$(sed -n 's/^Serving \(http:[^ ]*\)$/\1/p' "$log" | head -1)" && [ -n "$BENCH_URL" ]; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            echo "$BENCH_HOST ($name) did not start:" >&2
            tail -20 "$log" >&2
            return 1
        fi
        sleep 0.2
    done
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BENCH_URL/health")" = 200 ]; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            echo "$BENCH_HOST ($name) never answered /health:" >&2
            tail -20 "$log" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Stops the most recently started host.
bench_stop_last_host() {
    local pid="${BENCH_PIDS[-1]}"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'BENCH_PIDS[-1]'
}

# bench_json FIELD.PATH < json — prints one field of a JSON document.
bench_json() {
    python3 -c '
import json, sys
value = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    value = value[part]
print(value)' "$1"
}

# bench_stats < numbers — "p50 p99 mean" of one number per line (nearest
# rank: with 40 samples, p99 is the slowest one).
bench_stats() {
    python3 -c '
import math, sys
xs = sorted(float(line) for line in sys.stdin if line.strip())
rank = lambda p: xs[min(len(xs), max(1, math.ceil(p * len(xs)))) - 1]
print(f"{rank(0.50):.2f} {rank(0.99):.2f} {sum(xs) / len(xs):.2f}")'
}
