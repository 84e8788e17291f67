#!/usr/bin/env bash
# Times `asg-lifecycle simulate` at scale in a release build: RUNS runs (default 5) of
# INSTANCES instances (default 10000) with default faults; prints each wall time and the median.
# Usage: scripts/bench-simulate.sh [INSTANCES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
instances="${1:-10000}"
runs="${2:-5}"
cargo build --release --quiet --bin asg-lifecycle
bin=target/release/asg-lifecycle
times=()
for seed in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  "$bin" simulate --instances "$instances" --seed "$seed" --faults default --output json > "/tmp/bench-simulate-$seed.json"
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  times+=("$ms")
  echo "run $seed: ${ms} ms ($(python3 -c "import json;r=json.load(open('/tmp/bench-simulate-$seed.json'));print(f\"{r['violation_count']} violations, {r['lifecycles']} lifecycles, {r['transitions']} transitions\")" 2>/dev/null || echo "report unreadable"))"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median of $runs runs, $instances instances, default faults: ${median} ms"
