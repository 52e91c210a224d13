#!/usr/bin/env bash
# Server instructions per request of the workloads beyond the reference one (the `workloads`
# binary, di against axum): each server runs under callgrind and is sent a fixed number of
# requests by `load` (WARM of warm-up, then N more, or none); the difference of the two runs'
# totals over N is one request's cost, start-up and warm-up excluded.
#
#   bench/workload-instructions.sh                     # the default workloads, di and axum
#   WORKLOADS="json form" IMPLS=di N=500 bench/workload-instructions.sh
#
# The default WORKLOADS: json json-list path bytes vec json-big form h2 h2-json h2-json-list
# 404 405. Run only when named (WORKLOADS="json422 close ..."):
#   json422          POST /json, a body whose fields have the wrong types (and the rest missing)
#   json422-missing  POST /json-signup (a Json<Signup>, 9 required fields), a 1 MB body of one
#                    long string field and none of them (one connection; N=20 is enough)
#   q422             GET /q?limit=abc, a Query<Limit> whose number does not parse
#   path422          GET /users/x/posts/y, a Path<(u64, u64)> that does not parse
#   hdr50            GET /hdr, a Header<Agent> (User-Agent) beside 50 other header fields
#                    (axum reads its HeaderMap)
#   close            GET /hello with Connection: close, a connection per request
#   upload           POST /upload, a Bytes body of 1 MB sent Transfer-Encoding: chunked in
#                    1 KB chunks (N=50 is enough)
#   cookie           GET /cookie, a Cookie<Session> (5 fields, one optional) among 8 cookies
#                    (axum parses its Cookie header by hand)
#   query10          GET /find?..., a Query<Search> of 10 fields (9 sent, 4 Options, a Vec of
#                    a repeated key; axum reads the pairs with form_urlencoded by hand)
#   stream           GET /events, 1,000 events of about 20 bytes streamed (StreamBody; axum's
#                    Body::from_stream)
#   deps             GET /deps, 8 plain dependencies, 2 app-scope values and a handler-scoped
#                    generator (axum calls the same functions in its handler, State for the rest)
#   head             HEAD /ack, a GET route answering a small Json<Ack>
#   headers15        GET /headers, a small answer with 15 headers given as text pairs
#   json-escape      POST /json-text, a 3.3 KB Json<Note> full of string and \u escapes
#   path4            GET /shops/acme/items/12345/variants/7/sizes/42, Path<(String, u64, u32, u8)>
#   form30           POST /form30, a Form<Profile> of 30 fields (29 sent, 660 bytes)
#   expect           POST /json as json, with Expect: 100-continue (hyper answers 100 Continue
#                    before the body is read, in both)
# The 4xx workloads are answered by each framework its own way (di a 422 with its JSON problem
# list, axum its own 400 or 422 text): the last column then gives each server's response.
set -euo pipefail
cd "$(dirname "$0")/.."

IMPLS=${IMPLS:-"di axum"}
N=${N:-400}
WARM=${WARM:-50}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BASE_PORT=${BASE_PORT:-39300}
WORKLOADS=${WORKLOADS:-"json json-list path bytes vec json-big form h2 h2-json h2-json-list 404 405"}
# KEEP=dir keeps each measured run's callgrind output there (for callgrind_annotate).
KEEP=${KEEP:-}

# shellcheck source=bench/install-lib.sh
. bench/install-lib.sh
if ! command -v valgrind >/dev/null; then
  install_packages valgrind
fi
if [ -n "${SERVER:-}" ]; then
  server=$SERVER
else
  cargo build --release -p di-bench --bin workloads --bin load >&2
  server="$TARGET_DIR/release/workloads"
fi
load="$TARGET_DIR/release/load"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

args_of() { # workload -> load's arguments
  case $1 in
    json) echo "--method POST --path /json --body order" ;;
    json-list) echo "--method POST --path /json-list --body lines" ;;
    path) echo "--path /users/12/posts/34" ;;
    bytes) echo "--path /bytes" ;;
    vec) echo "--path /vec" ;;
    json-big) echo "--path /json-big" ;;
    form) echo "--method POST --path /form --body form" ;;
    h2) echo "--path /hello --h2 64" ;;
    h2-json) echo "--method POST --path /json --body order --h2 64" ;;
    h2-json-list) echo "--method POST --path /json-list --body lines --h2 16" ;;
    404) echo "--path /no/such/path" ;;
    405) echo "--method POST --path /hello" ;;
    json422) echo "--method POST --path /json --body bad-order" ;;
    json422-missing) echo "--method POST --path /json-signup --body long-note --connections 1" ;;
    q422) echo "--path /q?limit=abc" ;;
    path422) echo "--path /users/x/posts/y" ;;
    hdr50) echo "--path /hdr --header user-agent:di-bench/1.0 --extra-headers 50" ;;
    close) echo "--path /hello --close 1" ;;
    upload) echo "--method POST --path /upload --body upload" ;;
    cookie) echo "--path /cookie --cookies 1" ;;
    query10) echo "--path /find?q=rust+web+framework&page=2&per_page=50&sort=price&order=desc&lang=en&min_price=10.5&in_stock=true&tag=async&tag=http&tag=di" ;;
    stream) echo "--path /events" ;;
    deps) echo "--path /deps" ;;
    head) echo "--method HEAD --path /ack" ;;
    headers15) echo "--path /headers" ;;
    json-escape) echo "--method POST --path /json-text --body escaped" ;;
    path4) echo "--path /shops/acme/items/12345/variants/7/sizes/42" ;;
    form30) echo "--method POST --path /form30 --body form30" ;;
    expect) echo "--method POST --path /json --body order --header expect:100-continue" ;;
    *) echo "unknown workload $1" >&2; exit 2 ;;
  esac
}

run() { # impl workload requests port out -> total instructions
  valgrind --tool=callgrind --callgrind-out-file="$5" "$server" --impl "$1" \
    --addr "127.0.0.1:$4" >"$log/server" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    "$load" --addr "127.0.0.1:$4" --requests 0 >/dev/null 2>&1 && break
    sleep 0.2
  done
  # shellcheck disable=SC2046
  "$load" --addr "127.0.0.1:$4" --requests "$WARM" $(args_of "$2") >"$log/load"
  if [ "$3" -gt 0 ]; then
    # shellcheck disable=SC2046
    "$load" --addr "127.0.0.1:$4" --requests "$3" $(args_of "$2") >"$log/load"
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log/server"
}

echo "| workload | $(echo "$IMPLS" | sed 's/ / | /g') | response |"
echo "|---|$(for _ in $IMPLS; do printf -- '---:|'; done)---|"
port=$BASE_PORT
for workload in $WORKLOADS; do
  row="| $workload |"
  responses=""
  for impl in $IMPLS; do
    out=/dev/null
    [ -n "$KEEP" ] && mkdir -p "$KEEP" && out="$KEEP/$impl-$workload.out"
    base=$(run "$impl" "$workload" 0 $((port += 1)) /dev/null)
    total=$(run "$impl" "$workload" "$N" $((port += 1)) "$out")
    row="$row $(( (total - base) / N )) |"
    # Each server's own answer, as `load` saw it: one text when they all agree.
    responses="$responses${responses:+; }$impl: $(cat "$log/load")"
  done
  if [ "$(echo "$responses" | tr ';' '\n' | sed 's/^ *[^:]*: //' | sort -u | wc -l)" = 1 ]; then
    responses=$(cat "$log/load")
  fi
  echo "$row $responses |"
done
