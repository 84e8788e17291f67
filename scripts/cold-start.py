#!/usr/bin/env python3
"""Cold start of `lifecycle-handler`: process start to the answer of its first event.

Serves a loopback Lambda Runtime API (`/2018-06-01/runtime/invocation/next` once, with an event
that needs no AWS call: an event of an unknown source, answered as a poison payload without
AWS when the function has no dead-letter queue), starts the binary RUNS times (default 30) with
a Lambda-like environment, and times each run from just before the process is spawned to the
arrival of its answer (`/response` or `/error`). Prints each run's time, the median and the
best; also the time to spawn and reap `/bin/true` (the floor a process start costs here).
Several binaries are run in turn, run by run, so that a busy machine slows them alike.

Usage: scripts/cold-start.py [BINARY...] [RUNS]
  BINARY default target/release/lifecycle-handler (build it first, e.g.
  `cargo build --release -p asg-lifecycle-lambda`, or `--profile lambda-release`:
  target/lambda-release/)."""
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVENT = json.dumps({"version": "0", "id": "cold-start-1", "source": "aws.ec2",
                    "detail-type": "EC2 Instance State-change Notification",
                    "time": "2026-12-01T00:00:00Z", "region": "us-east-1", "resources": [],
                    "detail": {"instance-id": "i-0abc", "state": "running"}}).encode()


class Server(http.server.ThreadingHTTPServer):
    """One Runtime API per run (a killed process's late requests reach only its own)."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Runtime)
        self.served = threading.Event()
        self.answered = threading.Event()
        self.answer = None
        self.answered_at = 0.0

    def handle_error(self, request, client_address):
        pass  # connections reset by the killed process


class Runtime(http.server.BaseHTTPRequestHandler):
    """One invocation per process: the first `next` gets the event, later ones wait."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        if self.server.served.is_set():
            time.sleep(30)  # the process is killed before this ends
            return
        self.server.served.set()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:lifecycle")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(EVENT)))
        self.end_headers()
        self.wfile.write(EVENT)

    def do_POST(self):
        at = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        kind = self.path.rsplit("/", 1)[-1] if "/invocation/" in self.path else "init/error"
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if not self.server.answered.is_set():
            self.server.answered_at, self.server.answer = at, (kind, body)
            self.server.answered.set()


def main():
    args = sys.argv[1:]
    runs = int(args.pop()) if args and args[-1].isdigit() else 30
    binaries = args or [os.path.join(ROOT, "target/release/lifecycle-handler")]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "lifecycle",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/lifecycle",
        "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "TABLE_NAME": "lifecycle",
        "GROUP_NAMES": "web-asg",
        "TRANSITIONS_FILE": os.path.join(ROOT, "transitions/cluster-node.yaml"),
        "FUNCTION_TIMEOUT": "60",
    }
    floor = []
    times = {binary: [] for binary in binaries}
    for run in range(1, runs + 1):
        start = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        floor.append((time.perf_counter() - start) * 1000)
        for binary in binaries:
            ms, (kind, body) = first_answer(binary, env)
            times[binary].append(ms)
            print(f"run {run} {binary}: {ms:.2f} ms ({kind}: {body[:80]})")
    print(f"spawn+wait of /bin/true: median {statistics.median(floor):.2f} ms")
    for binary, ms in times.items():
        print(f"{binary}: first answer median {statistics.median(ms):.2f} ms, best {min(ms):.2f} ms, "
              f"worst {max(ms):.2f} ms ({runs} runs, {os.cpu_count()} cores)")


def first_answer(binary, env):
    """Milliseconds from spawning `binary` to its answer, and the answer."""
    server = Server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = server.answered.wait(10)
    proc.kill()
    _, err = proc.communicate()
    server.shutdown()
    server.server_close()
    if not ok:
        print(f"{binary}: no answer within 10 s; stderr:\n{err.decode(errors='replace')}")
        sys.exit(1)
    return (server.answered_at - start) * 1000, server.answer


if __name__ == "__main__":
    main()
