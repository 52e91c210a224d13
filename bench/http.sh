#!/usr/bin/env bash
# HTTP benchmark on loopback (issue 12): the reference workload served by the hand-written
# hyper service, axum, di and FastAPI + uvicorn, driven in turn by wrk with the same
# connections and duration, in interleaved rounds; prints requests/s, p50 and p99 for each
# server and round, each ratio to axum and to hyper, and a summary of the medians (with the
# median and range of the rounds' own ratios).
#
#   bench/http.sh                          # defaults: wrk -t1 -c32 -d6s, 3 rounds, both routes
#   DURATION=2s ROUNDS=1 bench/http.sh     # a quick smoke run
#
# Environment (all optional):
#   THREADS=1 CONNECTIONS=32 DURATION=6s ROUNDS=3   wrk's -t, -c, -d and the number of rounds
#   WARMUP=1s                                       one wrk run per server and route first
#   ROUTES="/items?limit=5 /stream"                 the routes measured
#   SERVERS="hyper axum di fastapi"                 the servers measured (hyper and axum are
#                                                   the references of the ratios)
#   BASE_PORT=38080                                 servers listen on 127.0.0.1:BASE_PORT+1..4
#   PIN=1:0                                         run the servers on CPU 1 and wrk on CPU 0
#                                                   (taskset lists: PIN=2-3:0-1): each server
#                                                   then has the same cores to itself, and wrk
#                                                   never takes them (unset: shared, as the
#                                                   scheduler likes)
#   H2=STREAMS                                      HTTP/2 instead (h2c, prior knowledge): h2load
#                                                   from Debian's nghttp2-client drives each
#                                                   connection with STREAMS requests in flight
#                                                   (h2load -t THREADS -c CONNECTIONS -m STREAMS
#                                                   -D DURATION); percentiles from its per-request
#                                                   log. FastAPI is left out (uvicorn has no h2c).
#   FASTAPI_WORKERS=$(nproc)                        uvicorn worker processes (with PIN: one
#                                                   per CPU of the servers)
#   VENV=$CARGO_TARGET_DIR/bench-venv               FastAPI's virtual environment
#   OUT=$CARGO_TARGET_DIR/bench-http                raw wrk output, server logs, results.md
#                                                   (CARGO_TARGET_DIR: target by default)
#
# Everything runs on 127.0.0.1 only. Each wrk run is bounded by `timeout`, the whole script by
# a watchdog, and every server it started is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/install-lib.sh
. bench/install-lib.sh

THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-6s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-1s}
ROUTES=${ROUTES:-"/items?limit=5 /stream"}
SERVERS=${SERVERS:-"hyper axum di fastapi"}
H2=${H2:-}
if [[ -n "$H2" ]]; then
    [[ "$H2" =~ ^[1-9][0-9]*$ ]] || { echo "H2 must be the number of streams per connection, for example 32" >&2; exit 2; }
    if [[ " $SERVERS " == *" fastapi "* ]]; then
        echo "http.sh: H2 leaves FastAPI out (uvicorn serves no HTTP/2 without TLS)" >&2
        SERVERS=$(echo " $SERVERS " | sed 's/ fastapi / /; s/^ *//; s/ *$//')
    fi
fi
BASE_PORT=${BASE_PORT:-38080}
PIN=${PIN:-}
SERVER_PIN=()
WRK_PIN=()
if [[ -n "$PIN" ]]; then
    [[ "$PIN" == *:* ]] || { echo "PIN must be SERVER_CPUS:WRK_CPUS, for example 1:0" >&2; exit 2; }
    command -v taskset >/dev/null || { echo "PIN needs taskset (util-linux)" >&2; exit 2; }
    SERVER_PIN=(taskset -c "${PIN%%:*}")
    WRK_PIN=(taskset -c "${PIN#*:}")
fi
# With PIN, one uvicorn worker per CPU the servers are given (taskset reports them).
FASTAPI_WORKERS=${FASTAPI_WORKERS:-$(if [[ -n "$PIN" ]]; then "${SERVER_PIN[@]}" nproc; else nproc; fi)}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${VENV:-$TARGET_DIR/bench-venv}
OUT=${OUT:-$TARGET_DIR/bench-http}

seconds() { # 6s, 500ms, 2m -> whole seconds, rounded up
    case "$1" in
        *ms) echo $((($(echo "${1%ms}" | cut -d. -f1) + 999) / 1000)) ;;
        *s) echo "${1%s}" | cut -d. -f1 ;;
        *m) echo $(($(echo "${1%m}" | cut -d. -f1) * 60)) ;;
        *h) echo $(($(echo "${1%h}" | cut -d. -f1) * 3600)) ;;
        *) echo "$1" ;;
    esac
}
DURATION_S=$(seconds "$DURATION")
WARMUP_S=$(seconds "$WARMUP")
[[ "$DURATION_S" -ge 1 ]] || { echo "DURATION must be at least 1s" >&2; exit 2; }
[[ "$ROUNDS" -ge 1 ]] || { echo "ROUNDS must be at least 1" >&2; exit 2; }

read -r -a SERVER_LIST <<<"$SERVERS"
read -r -a ROUTE_LIST <<<"$ROUTES"
N_SERVERS=${#SERVER_LIST[@]}
N_ROUTES=${#ROUTE_LIST[@]}

# The time budget: builds and installs (up to 30 min on a cold, busy 2-core machine), then
# every wrk run plus 15 s of slack each, plus 60 s per server to start and stop.
RUNS=$((N_SERVERS * N_ROUTES * ROUNDS))
WARM_RUNS=$((N_SERVERS * N_ROUTES))
LIMIT_S=${LIMIT_S:-$((1800 + RUNS * (DURATION_S + 15) + WARM_RUNS * (WARMUP_S + 15) + N_SERVERS * 60))}

PIDS=()
WATCHDOG=
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        # Each server is its own process group (setsid): this also stops uvicorn's workers.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    PIDS=()
    if [[ -n "$WATCHDOG" ]]; then
        kill -TERM -- "-$WATCHDOG" 2>/dev/null || kill -TERM "$WATCHDOG" 2>/dev/null || true
        WATCHDOG=
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The watchdog: past the budget, stop this script (and so, through the trap, its servers).
# Its own process group, so that stopping it also stops its `sleep`.
setsid bash -c 'sleep "$1"; echo "http.sh: over its time budget of $1 s; stopping" >&2; kill -TERM "$2"' \
    watchdog "$LIMIT_S" $$ &
WATCHDOG=$!

mkdir -p "$OUT"
log() { echo "== $*" >&2; }
has() {
    local server
    for server in "${SERVER_LIST[@]}"; do [[ "$server" == "$1" ]] && return 0; done
    return 1
}

# --- tools ------------------------------------------------------------------------------------

if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (Debian package)"
    install_packages wrk || true
    command -v wrk >/dev/null 2>&1 || {
        echo "wrk is missing and could not be installed (apt-get install wrk)" >&2
        exit 1
    }
fi
if [[ -n "$H2" ]] && ! command -v h2load >/dev/null 2>&1; then
    log "installing h2load (Debian package nghttp2-client)"
    install_packages nghttp2-client || true
    command -v h2load >/dev/null 2>&1 || {
        echo "h2load is missing and could not be installed (apt-get install nghttp2-client)" >&2
        exit 1
    }
fi
command -v curl >/dev/null 2>&1 || {
    echo "curl is needed to check the responses" >&2
    exit 1
}

log "building the release server (cargo build --release -p di-bench --bin server)"
cargo build --release -p di-bench --bin server >&2
SERVER_BIN="$TARGET_DIR/release/server"

needs_fastapi=0
has fastapi && needs_fastapi=1
if [[ $needs_fastapi == 1 ]]; then
    if ! "$VENV/bin/python" -c 'import fastapi, uvicorn' 2>/dev/null; then
        log "creating the FastAPI venv in $VENV (pip install fastapi uvicorn[standard])"
        python3 -m venv "$VENV" >&2
        "$VENV/bin/pip" install -q --disable-pip-version-check fastapi 'uvicorn[standard]' >&2
    fi
    FASTAPI_VERSIONS=$("$VENV/bin/python" -c 'import fastapi, uvicorn, sys; print(f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, python {sys.version.split()[0]}")')
fi

# --- servers ----------------------------------------------------------------------------------

port_of() {
    local i
    for i in "${!SERVER_LIST[@]}"; do
        [[ "${SERVER_LIST[$i]}" == "$1" ]] && { echo $((BASE_PORT + i + 1)); return; }
    done
}

start_server() { # name port
    local name=$1 port=$2 pid
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/hello"; then
        echo "127.0.0.1:$port is already in use" >&2
        exit 1
    fi
    case "$name" in
        hyper | axum | di)
            setsid "${SERVER_PIN[@]}" "$SERVER_BIN" --impl "$name" --addr "127.0.0.1:$port" \
                >"$OUT/$name.log" 2>&1 &
            ;;
        fastapi)
            setsid "${SERVER_PIN[@]}" "$VENV/bin/uvicorn" fastapi_ref:app --app-dir "$ROOT/bench" \
                --host 127.0.0.1 --port "$port" --workers "$FASTAPI_WORKERS" \
                --no-access-log --no-server-header --log-level warning \
                >"$OUT/$name.log" 2>&1 &
            ;;
        *)
            echo "unknown server $name (hyper, axum, di or fastapi)" >&2
            exit 2
            ;;
    esac
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 300); do
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/hello"; then
            return
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$name did not start on 127.0.0.1:$port; its log:" >&2
    cat "$OUT/$name.log" >&2
    exit 1
}

for s in "${SERVER_LIST[@]}"; do
    log "starting $s on 127.0.0.1:$(port_of "$s")"
    start_server "$s" "$(port_of "$s")"
done

# --- same bytes everywhere --------------------------------------------------------------------

log "checking the responses with curl"
for route in "${ROUTE_LIST[@]}" /hello; do
    safe=$(echo "$route" | tr -c 'a-zA-Z0-9\n' '_')
    first=
    first_headers=
    for s in "${SERVER_LIST[@]}"; do
        # Over HTTP/2 when the load is: the responses measured are the ones checked.
        curl -sS --max-time 10 ${H2:+--http2-prior-knowledge} -D "$OUT/$s$safe.headers" \
            -o "$OUT/$s$safe.body" "http://127.0.0.1:$(port_of "$s")$route"
        status=$(head -1 "$OUT/$s$safe.headers" | tr -d '\r')
        ctype=$(grep -i '^content-type:' "$OUT/$s$safe.headers" | tr -d '\r' | cut -d' ' -f2-)
        headers=$(grep -v '^HTTP/' "$OUT/$s$safe.headers" | cut -d: -f1 | tr -d '\r' |
            tr 'A-Z' 'a-z' | grep -v '^$' | sort | tr '\n' ' ')
        printf '  %-8s %-16s %s | %s | %s bytes, sha1 %s | headers: %s\n' "$s" "$route" \
            "$status" "$ctype" "$(wc -c <"$OUT/$s$safe.body")" \
            "$(sha1sum "$OUT/$s$safe.body" | cut -c1-12)" "$headers" >&2
        [[ "$status" == *" 200"* ]] || { echo "$s $route: $status" >&2; exit 1; }
        # Every server sends the same header fields too (uvicorn runs with
        # --no-server-header, so FastAPI's are compared as well).
        if [[ -z "${first_headers:-}" ]]; then
            first_headers=$headers
            headers_of=$s
        elif [[ "$headers" != "$first_headers" ]]; then
            echo "$s and $headers_of send different header fields for $route: $headers / $first_headers" >&2
            exit 1
        fi
        if [[ -z "$first" ]]; then
            first=$s
            first_ctype=$ctype
        else
            cmp -s "$OUT/$first$safe.body" "$OUT/$s$safe.body" || {
                echo "$s and $first send different bodies for $route" >&2
                diff <(head -c 300 "$OUT/$first$safe.body") <(head -c 300 "$OUT/$s$safe.body") >&2 || true
                exit 1
            }
            [[ "$ctype" == "$first_ctype" ]] || {
                echo "$s and $first send different content-types for $route" >&2
                exit 1
            }
        fi
    done
done
echo "  status, header fields, content-types and bodies identical on every server${H2:+ (over HTTP/2)}" >&2

# --- load -------------------------------------------------------------------------------------

declare -A RPS P50 P99 ERR

run_wrk() { # server route duration file
    local port
    port=$(port_of "$1")
    timeout $(($(seconds "$3") + 15)) "${WRK_PIN[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$3" --latency \
        "http://127.0.0.1:$port$2" >"$4" 2>&1 || {
        echo "wrk failed for $1 $2:" >&2
        cat "$4" >&2
        exit 1
    }
}

# Prints: requests/s, p50 ms, p99 ms, errors (socket errors + non-2xx responses).
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { errors += $5 }
        END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, errors }
    ' "$1"
}

run_h2load() { # server route duration file (its per-request log beside it: file.log)
    local port
    port=$(port_of "$1")
    timeout $(($(seconds "$3") + 15)) "${WRK_PIN[@]}" h2load -t"$THREADS" -c"$CONNECTIONS" -m"$H2" \
        -D"$(seconds "$3")" --log-file="$4.log" "http://127.0.0.1:$port$2" >"$4" 2>&1 || {
        echo "h2load failed for $1 $2:" >&2
        cat "$4" >&2
        exit 1
    }
}

# The same four numbers from h2load's summary and its log (third column: microseconds from a
# request's start to its response's end).
parse_h2load() {
    local rps errors
    read -r rps errors < <(awk '
        /^finished in/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "req/s,") rps = $i }
        /^requests:/ { gsub(",", ""); for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^(failed|errored|timeout)$/) errors += $i }
        /^status codes:/ { gsub(",", ""); errors += $5 + $7 + $9 }
        END { printf "%.0f %d\n", rps, errors }
    ' "$1")
    sort -n -k3,3 "$1.log" | awk -v rps="$rps" -v errors="$errors" '
        { v[NR] = $3 }
        END {
            p50 = NR ? v[int((NR - 1) * 0.50) + 1] / 1000 : 0
            p99 = NR ? v[int((NR - 1) * 0.99) + 1] / 1000 : 0
            printf "%s %.3f %.3f %d\n", rps, p50, p99, errors
        }'
}

run_load() { # server route duration file
    if [[ -n "$H2" ]]; then run_h2load "$@"; else run_wrk "$@"; fi
}
parse_load() { # file
    if [[ -n "$H2" ]]; then parse_h2load "$1"; else parse_wrk "$1"; fi
}
LOAD="wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
[[ -z "$H2" ]] || LOAD="h2load -t$THREADS -c$CONNECTIONS -m$H2 -D$DURATION_S"

if [[ "$WARMUP_S" -ge 1 ]]; then
    for route in "${ROUTE_LIST[@]}"; do
        for s in "${SERVER_LIST[@]}"; do
            log "warm-up: $s $route ($WARMUP)"
            run_load "$s" "$route" "$WARMUP" "$OUT/warmup.txt"
        done
    done
fi

for round in $(seq "$ROUNDS"); do
    for route in "${ROUTE_LIST[@]}"; do
        # Rotate the order each round, so that no server always runs first or last.
        for k in $(seq 0 $((N_SERVERS - 1))); do
            s=${SERVER_LIST[$(((k + round - 1) % N_SERVERS))]}
            file="$OUT/wrk-$s$(echo "$route" | tr -c 'a-zA-Z0-9\n' '_')-$round.txt"
            log "round $round/$ROUNDS: $s $route ($LOAD)"
            run_load "$s" "$route" "$DURATION" "$file"
            read -r rps p50 p99 errors < <(parse_load "$file")
            RPS["$route|$round|$s"]=$rps
            P50["$route|$round|$s"]=$p50
            P99["$route|$round|$s"]=$p99
            ERR["$route|$round|$s"]=$errors
            echo "   $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $errors" >&2
        done
    done
done

# --- report -----------------------------------------------------------------------------------

ratio() { # a b
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a / b }'
}
median() { # numbers...
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

rounds_vs() { # route server reference -> "median (min-max)" of the per-round ratios
    has "$3" || { echo -; return; }
    local round ratios=()
    for round in $(seq "$ROUNDS"); do
        ratios+=("$(awk -v a="${RPS[$1|$round|$2]}" -v b="${RPS[$1|$round|$3]}" 'BEGIN { if (b > 0) printf "%.4f", a / b }')")
    done
    printf '%.2fx (%s)' "$(median "${ratios[@]}")" \
        "$(printf '%s\n' "${ratios[@]}" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2fx-%.2fx", lo, hi }')"
}

report() {
    local tool
    if [[ -n "$H2" ]]; then
        tool="h2load $(h2load --version 2>&1 | head -1 | awk '{print $2}' || true)"
        echo "# HTTP/2 (h2c) on loopback"
    else
        # `wrk -v` exits with 1: under `pipefail` the assignment would end the script.
        tool="wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}' || true)"
        echo "# HTTP on loopback"
    fi
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $tool $(if [[ -n "$PIN" ]]; then echo "on CPUs ${PIN#*:}, the servers on CPUs ${PIN%%:*} (PIN=$PIN)"; else echo "sharing the machine"; fi)."
    echo "Command: \`THREADS=$THREADS CONNECTIONS=$CONNECTIONS DURATION=$DURATION ROUNDS=$ROUNDS${H2:+ H2=$H2}${PIN:+ PIN=$PIN} bench/http.sh\`"
    echo "($LOAD, $ROUNDS interleaved round(s) after a $WARMUP warm-up; release build; ${FASTAPI_VERSIONS:-no FastAPI}, $FASTAPI_WORKERS uvicorn workers)."
    for route in "${ROUTE_LIST[@]}"; do
        echo
        echo "## GET $route"
        echo
        echo "| round | server | req/s | p50 ms | p99 ms | errors | vs axum | vs hyper |"
        echo "|---:|---|---:|---:|---:|---:|---:|---:|"
        for round in $(seq "$ROUNDS"); do
            for s in "${SERVER_LIST[@]}"; do
                key="$route|$round|$s"
                echo "| $round | $s | ${RPS[$key]} | ${P50[$key]} | ${P99[$key]} | ${ERR[$key]} | $(ratio "${RPS[$key]}" "${RPS[$route|$round|axum]:-}") | $(ratio "${RPS[$key]}" "${RPS[$route|$round|hyper]:-}") |"
            done
        done
        echo
        echo "Medians over the rounds (\"vs\": the medians' ratio; \"rounds vs\": the median of the"
        echo "rounds' own ratios, each server against the reference in the same round, and their range):"
        echo
        echo "| server | req/s | p50 ms | p99 ms | vs axum | vs hyper | rounds vs axum | rounds vs hyper |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        declare -A MED=()
        for s in "${SERVER_LIST[@]}"; do
            r=() a=() b=()
            for round in $(seq "$ROUNDS"); do
                r+=("${RPS[$route|$round|$s]}")
                a+=("${P50[$route|$round|$s]}")
                b+=("${P99[$route|$round|$s]}")
            done
            MED[$s]=$(median "${r[@]}")
            MED[$s.p50]=$(median "${a[@]}")
            MED[$s.p99]=$(median "${b[@]}")
        done
        for s in "${SERVER_LIST[@]}"; do
            vs_axum=- vs_hyper=-
            has axum && vs_axum=$(ratio "${MED[$s]}" "${MED[axum]}")
            has hyper && vs_hyper=$(ratio "${MED[$s]}" "${MED[hyper]}")
            echo "| $s | ${MED[$s]} | ${MED[$s.p50]} | ${MED[$s.p99]} | $vs_axum | $vs_hyper | $(rounds_vs "$route" "$s" axum) | $(rounds_vs "$route" "$s" hyper) |"
        done
        unset MED
    done
}

report | tee "$OUT/results.md"

# Stop the servers now, to show what each one tore down.
cleanup
echo >&2
log "teardown counts reported by the servers at exit"
for s in "${SERVER_LIST[@]}"; do
    grep -h -E "commits=" "$OUT/$s.log" | sed 's/^/  /' >&2 || echo "  $s: (no counts)" >&2
done
echo "(raw output in $OUT; the tables are in $OUT/results.md)" >&2
