#!/usr/bin/env bash
# Times `asg-lifecycle invoke` per event on the seed-equivalent chain, whole process (issue 14):
# the model crates/core/benches/seed_chain.yaml (the Python baseline's states and `is_launching`
# conditions, no tasks), a JSON store file (`--store`), N launch events (default 2000) handled
# in one process; per event = (time of the N-event run - time of a one-event run) / (N - 1).
# RUNS runs of each (default 5); prints each run and the medians. With PYTHON set to a Python
# that has `transitions` installed, also runs the Python baseline with N events as many times
# in the same session ($PYBASELINE, default /work/shared/bench/pybaseline.py) and prints the
# ratio of the medians.
# ASG_LIFECYCLE=BINARY times that binary instead of building this tree's.
# Usage: scripts/bench-invoke.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
runs="${2:-5}"
if [ -n "${ASG_LIFECYCLE:-}" ]; then
  bin="$ASG_LIFECYCLE"  # another build to compare (e.g. one of an earlier commit)
else
  cargo build --release --quiet -p asg-lifecycle-cli --no-default-features
  bin="$PWD/target/release/asg-lifecycle"
fi
model="$PWD/crates/core/benches/seed_chain.yaml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$n" <<'PY'
import datetime, json, sys, os
work, n = sys.argv[1], int(sys.argv[2])
# Fresh events, as delivered: an action announced long ago would be heartbeated first.
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
os.makedirs(f"{work}/events")
for k in range(n):
    event = {"version": "0", "id": f"launch-i-{k}", "source": "aws.autoscaling",
             "detail-type": "EC2 Instance-launch Lifecycle Action", "time": now,
             "region": "us-east-1", "resources": [],
             "detail": {"LifecycleActionToken": "t", "AutoScalingGroupName": "web-asg",
                        "LifecycleHookName": "launch-hook", "EC2InstanceId": f"i-{k}",
                        "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}}
    with open(f"{work}/events/{k:06d}.json", "w") as f:
        json.dump(event, f)
with open(f"{work}/store0.json", "w") as f:
    json.dump({f"i-{k}": {"ItemStatus": "finished_cloud_init"} for k in range(n)}, f)
PY

# Milliseconds (with microseconds) of one invoke of the first COUNT events on a fresh store.
run() {
  local count=$1
  cp "$work/store0.json" "$work/store.json"
  local events=("$work"/events/*.json)
  local start end
  start=$(date +%s%N)
  "$bin" invoke --transitions "$model" --store "$work/store.json" "${events[@]:0:$count}" > "$work/out.txt"
  end=$(date +%s%N)
  [ "$(grep -c ' Advanced ' "$work/out.txt")" = "$count" ] || { echo "not every event advanced:"; head "$work/out.txt"; exit 1; }
  echo $(( (end - start) / 1000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

per_event=()
for r in $(seq 1 "$runs"); do
  one=$(run 1)
  many=$(run "$n")
  us=$(awk -v a="$many" -v b="$one" -v n="$n" 'BEGIN {printf "%.1f", (a - b) / (n - 1)}')
  per_event+=("$us")
  echo "run $r: $n events ${many} µs, 1 event ${one} µs: ${us} µs per event"
done
rust=$(printf '%s\n' "${per_event[@]}" | median)
echo "asg-lifecycle invoke, seed-equivalent chain, JSON store: median ${rust} µs per event ($runs runs)"

if [ -n "${PYTHON:-}" ]; then
  py=()
  for r in $(seq 1 "$runs"); do
    t=$("$PYTHON" "${PYBASELINE:-/work/shared/bench/pybaseline.py}" "$n")
    py+=("$t")
    echo "python baseline run $r: ${t} µs per event"
  done
  pym=$(printf '%s\n' "${py[@]}" | median)
  echo "python baseline: median ${pym} µs per event; ratio $(awk -v p="$pym" -v r="$rust" 'BEGIN {printf "%.1f", p / r}')x"
fi
