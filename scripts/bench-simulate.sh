#!/usr/bin/env bash
# Times `asg-lifecycle simulate` at scale in a release build: RUNS runs (default 5) of
# INSTANCES instances (default 10000) with default faults; prints each wall time with the
# lifecycles the report counts (its `lifecycles` field) per second of wall time, the process's
# user and system CPU time, and the medians. System time is printed apart because on a virtual
# machine it varies between identical runs (on the 2-core Firecracker machines here, 0.02 s or
# 0.4 s at 10,000 instances: the host backing guest memory touched for the first time), which
# moves the wall time with it; user time does not.
# ASG_LIFECYCLE=BINARY times that binary instead of building this tree's.
# Usage: scripts/bench-simulate.sh [INSTANCES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
instances="${1:-10000}"
runs="${2:-5}"
if [ -n "${ASG_LIFECYCLE:-}" ]; then
  bin="$ASG_LIFECYCLE"  # another build to compare (e.g. one of an earlier commit)
else
  cargo build --release --quiet -p asg-lifecycle-cli --no-default-features
  bin=target/release/asg-lifecycle
fi
times=()
rates=()
users=()
systems=()
for seed in $(seq 1 "$runs"); do
  report="/tmp/bench-simulate-$seed.json"
  cpu="/tmp/bench-simulate-$seed.cpu"
  start=$(date +%s%N)
  # bash's `time`: the child's user and system CPU seconds.
  { TIMEFORMAT='%U %S'; time "$bin" simulate --instances "$instances" --seed "$seed" --faults default --output json > "$report"; } 2> "$cpu"
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  read -r user system < <(tail -n 1 "$cpu")
  times+=("$ms")
  users+=("$user")
  systems+=("$system")
  summary=$(python3 - "$report" "$ms" <<'PY' 2>/dev/null || echo "report unreadable|0"
import json, sys
r = json.load(open(sys.argv[1]))
rate = r["lifecycles"] / (int(sys.argv[2]) / 1000)
print(f"{r['violation_count']} violations, {r['lifecycles']} lifecycles, "
      f"{r['transitions']} transitions, {rate:.0f} lifecycles/s|{rate:.0f}")
PY
)
  rates+=("${summary##*|}")
  echo "run $seed: ${ms} ms, user ${user} s, system ${system} s (${summary%|*})"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median of $runs runs, $instances instances, default faults: $(printf '%s\n' "${times[@]}" | median) ms, $(printf '%s\n' "${rates[@]}" | median) lifecycles/s, user $(printf '%s\n' "${users[@]}" | median) s, system $(printf '%s\n' "${systems[@]}" | median) s"
