#!/usr/bin/env bash
# Builds the Lambda package the way the deploy path does, and checks it: `sam validate --lint`,
# then `sam build` (samconfig.toml: the rust-cargolambda beta feature), which runs
# `cargo lambda build --release --arm64 --bin lifecycle-handler` in crates/lambda. Prints the
# artifact's architecture and size and the size of the zip Lambda receives.
#
# Needs: Rust with the aarch64-unknown-linux-gnu standard library (added here with rustup when
# missing), Python 3, and the package registries (sam and cargo-lambda from PyPI, in
# target/lambda-tools). No Docker, no AWS account.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

tools="$root/target/lambda-tools"
if [ ! -x "$tools/bin/sam" ] || [ ! -x "$tools/bin/cargo-lambda" ]; then
    step "sam and cargo-lambda into target/lambda-tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-deploy.txt
fi
export PATH="$tools/bin:$PATH" SAM_CLI_TELEMETRY=0

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    step "rustup target add aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu
fi

step "sam validate --lint"
sam validate --lint

step "sam build (opt-level s)"
# SAM's rust-cargolambda build runs `cargo lambda build --release`, which adds its own Lambda
# settings to the release profile (thin LTO, one codegen unit, stripped, panic = abort) but not
# the size-aware optimization level of Cargo.toml's [profile.lambda-release]: given here, for this
# build only (the everyday release builds keep level 3).
export CARGO_PROFILE_RELEASE_OPT_LEVEL=s
start=$(date +%s)
sam build
echo "sam build took $(( $(date +%s) - start )) s"

step "the artifact"
"$tools/bin/python" - .aws-sam/build/LifecycleFunction/bootstrap <<'PY'
import io, os, struct, sys, zipfile
path = sys.argv[1]
with open(path, "rb") as f:
    head = f.read(64)
if head[:4] != b"\x7fELF":
    sys.exit(f"{path}: not an ELF file")
machines = {0x3E: "x86-64", 0xB7: "aarch64"}
elf_class = {1: "32-bit", 2: "64-bit"}[head[4]]
endian = "<" if head[5] == 1 else ">"
e_type, e_machine = struct.unpack(endian + "HH", head[16:20])
arch = machines.get(e_machine, hex(e_machine))
size = os.path.getsize(path)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(path, "bootstrap")
print(f"{path}: ELF {elf_class} {arch}, {size} bytes ({size / 2**20:.1f} MiB); zipped {len(buf.getvalue()) / 2**20:.1f} MiB")
if arch != "aarch64":
    sys.exit("error: the template's function is arm64, the artifact is not")
PY
