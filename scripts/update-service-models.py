#!/usr/bin/env python3
"""Regenerates crates/aws/models/ from the installed botocore (Apache-2.0).

For each service a lifecycle touches, takes botocore's newest API version of
`service-2.json` (documentation stripped, compact, gzip-compressed, reproducible: no timestamp
in the gzip header) and `waiters-2.json` (as is), and writes
`crates/aws/models/<service>/{service-2.json.gz,waiters-2.json}` plus `VERSION`. Auto Scaling has
no waiters in botocore: its `waiters-2.json` is the project's own file (the AWS SDKs' group
waiters) and is left alone.

Usage: target/pyenv/bin/python scripts/update-service-models.py
"""
import gzip
import json
import os
import sys

import botocore

SERVICES = ["autoscaling", "cloudformation", "dynamodb", "ec2", "ecs", "eks", "elbv2", "ssm"]
DROP = {"documentation", "documentationUrl", "examples", "deprecatedMessage"}


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in DROP}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def read(path):
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rt", encoding="utf-8") as f:
            return json.load(f)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    root = os.path.join(os.path.dirname(__file__), "..", "crates", "aws", "models")
    data = os.path.join(os.path.dirname(botocore.__file__), "data")
    for service in SERVICES:
        versions = sorted(
            v for v in os.listdir(os.path.join(data, service))
            if os.path.exists(os.path.join(data, service, v, "service-2.json"))
            or os.path.exists(os.path.join(data, service, v, "service-2.json.gz"))
        )
        src = os.path.join(data, service, versions[-1])
        out = os.path.join(root, service)
        os.makedirs(out, exist_ok=True)
        model = strip(read(os.path.join(src, "service-2.json")))
        text = json.dumps(model, separators=(",", ":"), sort_keys=False).encode()
        with open(os.path.join(out, "service-2.json.gz"), "wb") as f:
            f.write(gzip.compress(text, compresslevel=9, mtime=0))
        waiters = os.path.join(src, "waiters-2.json")
        if os.path.exists(waiters) or os.path.exists(waiters + ".gz"):
            with open(os.path.join(out, "waiters-2.json"), "w", encoding="utf-8") as f:
                json.dump(read(waiters), f, indent=2)
                f.write("\n")
        print(f"{service}: {versions[-1]}", file=sys.stderr)
    with open(os.path.join(root, "VERSION"), "w", encoding="utf-8") as f:
        f.write(f"botocore {botocore.__version__}\n")


if __name__ == "__main__":
    main()
