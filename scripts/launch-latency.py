#!/usr/bin/env python3
"""A launch event's answer time in `lifecycle-handler`, apart from its store round trips.

Starts moto_server (serialized, scripts/moto_server_serial.py) with the instance table, and a
loopback Lambda Runtime API that is also the function's DynamoDB endpoint: a proxy in front of
moto that times every request it forwards. Each run starts the binary, hands it launch events of
RUNS_EVENTS instances one after the other (the first on a cold process, the rest warm), each
instance's record in `finished_cloud_init`, with the seed-equivalent chain
(crates/core/benches/seed_chain.yaml: 6 transitions, no tasks, so DynamoDB is the only AWS
service touched). For each event it reports the time from the event being handed out to its
answer, the number of DynamoDB requests and the time they took through the proxy, and the rest:
the function's own time (decode, engine, SDK serialization and signing, the answer). For the
first event it also reports the time from the process's start to that answer, so that work moved
before the event's hand-out (to init) is seen too.

Usage: scripts/launch-latency.py [BINARY] [RUNS]
  BINARY default target/release/lifecycle-handler; RUNS default 15 (3 events each).
Needs moto[server] and boto3 (target/pyenv, which scripts/test.sh installs)."""
import http.client
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = "launch-latency"
EVENTS_PER_RUN = 3


def launch_event(n, instance):
    return json.dumps({
        "version": "0", "id": f"launch-{n}", "detail-type": "EC2 Instance-launch Lifecycle Action",
        "source": "aws.autoscaling", "account": "123456789012", "time": "2026-12-01T00:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"LifecycleActionToken": f"token-{n}", "AutoScalingGroupName": "web-asg",
                   "LifecycleHookName": "launch-hook", "EC2InstanceId": instance,
                   "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}}).encode()


class Server(http.server.ThreadingHTTPServer):
    """The Runtime API (GET next, POST response) and the DynamoDB proxy (POST /)."""
    daemon_threads = True

    def __init__(self, moto, events):
        super().__init__(("127.0.0.1", 0), Handler)
        self.moto = moto
        self.events = list(events)
        self.lock = threading.Lock()
        self.log = []  # (kind, start, end)
        self.done = threading.Event()

    def handle_error(self, request, client_address):
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK would add ~40 ms to every answer, which is the harness, not the function.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        with self.server.lock:
            event = self.server.events.pop(0) if self.server.events else None
        if event is None:
            self.server.done.set()
            time.sleep(30)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{len(self.server.log)}")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:lifecycle")
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)
        self.wfile.flush()
        self.server.log.append(("handed", time.perf_counter(), None))

    def do_POST(self):
        start = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/runtime/" in self.path:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.server.log.append(("answered", start, body.decode(errors="replace")))
            return
        # DynamoDB: forward to moto, time the whole round trip.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPConnection(*self.server.moto)
        conn.request("POST", self.path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for k, v in reply.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        conn.close()
        target = self.headers.get("X-Amz-Target", "?").rsplit(".", 1)[-1]
        self.server.log.append((target, start, time.perf_counter()))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    args = sys.argv[1:]
    runs = int(args.pop()) if args and args[-1].isdigit() else 15
    binary = args[0] if args else os.path.join(ROOT, "target/release/lifecycle-handler")
    port = free_port()
    python = os.path.join(ROOT, "target/pyenv/bin/python")
    moto = subprocess.Popen([python, os.path.join(ROOT, "scripts/moto_server_serial.py"),
                             "127.0.0.1", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            sys.exit("moto_server did not start")
        measure(binary, runs, ("127.0.0.1", port))
    finally:
        moto.kill()
        moto.wait()


def measure(binary, runs, moto):
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    dynamo = boto3.client("dynamodb", region_name="us-east-1",
                          endpoint_url=f"http://{moto[0]}:{moto[1]}")
    dynamo.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "Ident", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "Ident", "KeyType": "HASH"}])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "lifecycle", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true",
        "TABLE_NAME": TABLE, "GROUP_NAMES": "web-asg", "FUNCTION_TIMEOUT": "60",
        "TRANSITIONS_FILE": os.path.join(ROOT, "crates/core/benches/seed_chain.yaml"),
        "AWS_LAMBDA_LOG_LEVEL": "WARN",
    }
    rows = {i: [] for i in range(EVENTS_PER_RUN)}
    from_start = []  # per run: (ms from the process's start to its first answer, DynamoDB ms)
    n = 0
    for run in range(1, runs + 1):
        events = []
        for i in range(EVENTS_PER_RUN):
            n += 1
            instance = f"i-{n:017x}"
            dynamo.put_item(TableName=TABLE, Item={"Ident": {"S": instance},
                                                   "ItemStatus": {"S": "finished_cloud_init"},
                                                   "Version": {"N": "1"}})
            events.append(launch_event(n, instance))
        server = Server(moto, events)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        run_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
                       AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{server.server_address[1]}")
        spawned = time.perf_counter()
        proc = subprocess.Popen([binary], env=run_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        finished = server.done.wait(30)
        proc.kill()
        _, err = proc.communicate()
        server.shutdown()
        server.server_close()
        if not finished:
            sys.exit(f"no answers within 30 s; stderr:\n{err.decode(errors='replace')}")
        first_answer = next(start for kind, start, _ in server.log if kind == "answered")
        from_start.append(((first_answer - spawned) * 1000, split(server.log)[0][3]))
        for i, row in enumerate(split(server.log)):
            rows[i].append(row)
            answer, total, requests, store = row
            print(f"run {run} event {i + 1}: answer {total:.2f} ms, {len(requests)} DynamoDB "
                  f"requests ({', '.join(requests)}) {store:.2f} ms, the rest {total - store:.2f} ms"
                  f" [{answer[:60]}]")
    print(f"{os.cpu_count()} cores, {runs} runs, medians:")
    for i, samples in rows.items():
        label = "first event (cold process)" if i == 0 else f"event {i + 1} (warm)"
        total = statistics.median(s[1] for s in samples)
        store = statistics.median(s[3] for s in samples)
        rest = statistics.median(s[1] - s[3] for s in samples)
        count = statistics.median(len(s[2]) for s in samples)
        print(f"  {label}: answer {total:.2f} ms = DynamoDB {store:.2f} ms ({count:g} requests)"
              f" + the function's own {rest:.2f} ms")
    total = statistics.median(t for t, _ in from_start)
    rest = statistics.median(t - store for t, store in from_start)
    print(f"  first event from the process's start: answer {total:.2f} ms, of which all but its"
          f" DynamoDB requests {rest:.2f} ms (process start, init, the first `next`, the function)")


def split(log):
    """Per invocation: (answer, ms from hand-out to answer, request names, ms in requests)."""
    out, current = [], None
    for kind, start, end in log:
        if kind == "handed":
            current = [start, [], 0.0]
        elif kind == "answered" and current:
            out.append((end, (start - current[0]) * 1000, current[1], current[2] * 1000))
            current = None
        elif current is not None:
            current[1].append(kind)
            current[2] += end - start
    return out


if __name__ == "__main__":
    main()
