#!/usr/bin/env bash
# The one test command: formatting, lints, every test (DynamoDB tests against a real moto_server
# started here on loopback), and the model and template checks. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# A venv is (re)filled when it lacks the tools or its requirements file changed since.
python_tools() {
    local venv=$1 requirements=$2 tool=$3
    local want
    want=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [ ! -x "$venv/bin/$tool" ] || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$want" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
        echo "$want" >"$venv/.requirements"
    fi
}

step "python tools (moto[server], cfn-lint, botocore) in target/pyenv"
venv="$root/target/pyenv"
python_tools "$venv" scripts/requirements-test.txt moto_server

step "starting moto_server (serialized) on loopback"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
log="$root/target/moto_server.log"
# Requests one at a time: DynamoDB's conditional writes are atomic, moto's threaded ones are not.
"$venv/bin/python" scripts/moto_server_serial.py 127.0.0.1 "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; }
trap cleanup EXIT
alive() { "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" >/dev/null 2>&1; }
for _ in $(seq 1 100); do
    if alive; then break; fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "error: moto_server exited at start; its log:" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.2
done
if ! alive; then
    echo "error: moto_server did not answer on 127.0.0.1:$port within 20s; its log:" >&2; cat "$log" >&2; exit 1
fi
export MOTO_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
# The Python with boto3/botocore: the differential waiter test runs botocore's waiters with it.
export ASG_LIFECYCLE_TEST_PYTHON="$venv/bin/python"
echo "moto_server at $MOTO_ENDPOINT"

step "cargo test (unit, integration, examples, doc tests)"
results="$root/target/test-results.log"
cargo test --workspace --all-targets --quiet 2>&1 | tee "$results"
cargo test --workspace --doc --quiet 2>&1 | tee -a "$results"

step "validate every model under transitions/"
cargo run --quiet --bin asg-lifecycle -- validate transitions/*.yaml

if [ -f template.yaml ]; then
    step "cfn-lint template.yaml"
    "$venv/bin/cfn-lint" template.yaml

    step "sam validate --lint (offline; the deploy tools in target/lambda-tools)"
    tools="$root/target/lambda-tools"
    python_tools "$tools" scripts/requirements-deploy.txt sam
    SAM_CLI_TELEMETRY=0 "$tools/bin/sam" validate --lint
fi

step "all checks passed"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
