#!/usr/bin/env bash
# Runs `asg-lifecycle simulate` over the hook/sweep/fault matrix of the production-fidelity
# guarantee and prints violations per cell: SEEDS seeds (default 100) of INSTANCES instances
# (default 300), each cell's seeds spread over the cores (`simulate --seeds`). Exit 1 when any
# run has a violation.
# Usage: scripts/sim-matrix.sh [SEEDS] [INSTANCES]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-100}"
instances="${2:-300}"
# ASG_LIFECYCLE_BIN: a binary to run instead of building one (e.g. a copy, while you rebuild).
bin="${ASG_LIFECYCLE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet -p asg-lifecycle-cli --no-default-features
  bin="${CARGO_TARGET_DIR:-target}/release/asg-lifecycle"
fi
status=0
for cell in "10m 5m" "15m 5m" "60m 5m" "5m 1m"; do
  set -- $cell
  for faults in default harsh; do
    # One command per cell: its seeds run in parallel on every core (`--seeds`).
    out=$("$bin" simulate --instances "$instances" --seed 1 --seeds "$seeds" --faults "$faults" \
      --heartbeat-timeout "$1" --sweep-period "$2" --output json 2>/dev/null || true)
    failing=$(printf '%s' "$out" | python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["failing_seeds"])))' 2>/dev/null || echo "unreadable")
    total=$seeds; bad=0
    for seed in $failing; do bad=$((bad + 1)); echo "  hooks $1 sweep $2 $faults seed $seed: violations"; done
    echo "hooks $1, sweep $2, faults $faults: $bad of $total runs with violations"
    [ "$bad" = 0 ] || status=1
  done
done
exit "$status"
