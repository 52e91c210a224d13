# Sourced by bench/instructions.sh and bench/graph-instructions.sh: valgrind, the `count`
# binary, and the instructions one request costs in process.
#
# COUNT=path runs that binary (one built at another commit, to compare) instead of building.

TARGET_DIR=${CARGO_TARGET_DIR:-target}
# shellcheck source=bench/install-lib.sh
. bench/install-lib.sh
if ! command -v valgrind >/dev/null; then
  install_packages valgrind
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

cache_total() { # impl uri n -> "instructions L1i-misses L1d-misses" of the whole run
  valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file=/dev/null "$count" "$1" "$2" "$3" 2>&1 \
    | awk '/I +refs/ { gsub(",", "", $4); i = $4 }
           /I1 +misses/ { gsub(",", "", $4); i1 = $4 }
           /D1 +misses/ { gsub(",", "", $4); d1 = $4 }
           END { print i, i1, d1 }'
}

cache_per_request() { # impl uri n -> "instructions L1i-misses L1d-misses" of one request
  local i0 i10 d10 i i1 d1
  read -r i0 i10 d10 < <(cache_total "$1" "$2" 0)
  read -r i i1 d1 < <(cache_total "$1" "$2" "$3")
  echo "$(( (i - i0) / $3 )) $(( (i1 - i10) / $3 )) $(( (d1 - d10) / $3 ))"
}
