#!/usr/bin/env bash
# Issue 14's per-event ratio, measured as its closing notes give it: ROUNDS rounds (default 3),
# each running the Python baseline (`pybaseline.py 2000`: the original library's engine, on
# pytransitions) and then the seed-equivalent chain's criterion benchmark (no change log) of this
# tree, and of a baseline build when BASE is set, alternately; prints every figure, the medians
# and the ratio of the Python median to each Rust median. On these noisy virtual machines a single
# run can be off by a quarter: compare medians of rounds run in the same minutes.
# SEED_CHAIN=BINARY runs that bench binary instead of building this tree's; BASE=BINARY adds a
# bench binary of another build (e.g. an earlier commit's); PYBASELINE=FILE is the baseline
# script (default ../shared/bench/pybaseline.py beside the repository). `transitions` is
# installed into target/pyenv-bench on first use.
# Usage: scripts/bench-ratio.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
baseline="${PYBASELINE:-../shared/bench/pybaseline.py}"
if [ ! -f "$baseline" ]; then
  echo "bench-ratio: no Python baseline at $baseline (set PYBASELINE)" >&2
  exit 2
fi
venv=target/pyenv-bench
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet transitions
fi
if [ -n "${SEED_CHAIN:-}" ]; then
  bench="$SEED_CHAIN"
else
  bench=$(cargo bench -p asg-lifecycle --bench seed_chain --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "seed_chain":
        print(m["executable"])')
fi
builds=("this:$bench")
if [ -n "${BASE:-}" ]; then
  builds+=("base:$BASE")
fi
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
  py=$("$venv/bin/python" "$baseline" 2000)
  echo "round $round: python $py µs"
  echo "python $py" >> "$results"
  for build in "${builds[@]}"; do
    name="${build%%:*}"
    binary="${build#*:}"
    # criterion's line: `time:   [low median high]`, each with its unit.
    median=$("$binary" --bench "no change log" 2>&1 | python3 -c 'import re, sys
scale = {"ns": 0.001, "µs": 1.0, "us": 1.0, "ms": 1000.0}
for line in sys.stdin:
    m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if m:
        print(f"{float(m.group(1)) * scale[m.group(2)]:.3f}")
        break')
    echo "round $round: $name $median µs"
    echo "$name $median" >> "$results"
  done
done
python3 - "$results" <<'PY'
import statistics, sys
figures = {}
for line in open(sys.argv[1]):
    name, value = line.split()
    figures.setdefault(name, []).append(float(value))
python = statistics.median(figures.pop("python"))
print(f"median python {python:.1f} µs per event")
for name, values in figures.items():
    rust = statistics.median(values)
    print(f"median {name} {rust:.3f} µs per event: {python / rust:.0f}x the Python baseline")
PY
