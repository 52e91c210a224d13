# Sourced by bench/instructions.sh and bench/graph-instructions.sh: valgrind, the `count`
# binary, and the instructions one request costs in process.
#
# COUNT=path runs that binary (one built at another commit, to compare) instead of building.

TARGET_DIR=${CARGO_TARGET_DIR:-target}
if ! command -v valgrind >/dev/null; then
  apt-get update >/dev/null && apt-get install -y valgrind >/dev/null
fi
if [ -n "${COUNT:-}" ]; then
  count=$COUNT
else
  cargo build --release -p di-bench --bin count >&2
  count="$TARGET_DIR/release/count"
fi

total() { # impl uri n -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$count" "$1" "$2" "$3" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

per_request() { # impl uri n -> instructions of one request: (run of n - run of none) / n
  local base full
  base=$(total "$1" "$2" 0)
  full=$(total "$1" "$2" "$3")
  echo $(( (full - base) / $3 ))
}
