#!/usr/bin/env python3
"""Checks asg-lifecycle's SigV4 signatures with botocore's signer.

Serves one loopback HTTP endpoint that records each request and answers it with an empty but
valid response, runs `asg-lifecycle api call` against it for a few operations (query, ec2, json,
rest-json with an encoded path and a query string), then recomputes each request's signature with
botocore's `SigV4Auth` over the same signed headers and timestamp, and compares.

Usage: sigv4_check.py ASG_LIFECYCLE_BINARY
Prints one JSON line per request; exits 1 when a signature differs.
"""
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BINARY = sys.argv[1]
CALLS = [
    ("ec2", ["api", "call", "ec2", "DescribeInstances", "--param", 'InstanceIds:=["i-1"]'],
     b'<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"/>', "text/xml"),
    ("autoscaling", ["api", "call", "autoscaling", "DescribeAutoScalingGroups"],
     b"<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult/></DescribeAutoScalingGroupsResponse>",
     "text/xml"),
    ("dynamodb", ["api", "call", "dynamodb", "DescribeTable", "--param", "TableName=t"],
     b"{}", "application/x-amz-json-1.0"),
    ("eks", ["api", "call", "eks", "ListNodegroups", "--param", "clusterName=a b+c",
             "--param", "nextToken=x=y&z", "--param", "maxResults:=5"],
     b"{}", "application/json"),
]
captured = []
answer = {}


class Handler(BaseHTTPRequestHandler):
    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        captured.append({"method": self.command, "path": self.path,
                         "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": body})
        self.send_response(200)
        self.send_header("Content-Type", answer["type"])
        self.send_header("Content-Length", str(len(answer["body"])))
        self.end_headers()
        self.wfile.write(answer["body"])

    do_GET = do_POST = do_DELETE = do_PUT = _serve

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
               AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
               AWS_SESSION_TOKEN="session-token", AWS_REGION="eu-west-3",
               AWS_ENDPOINT_URL=endpoint)
    env.pop("AWS_PROFILE", None)
    credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                              env["AWS_SESSION_TOKEN"])
    failed = 0
    for service, args, body, content_type in CALLS:
        answer.update(body=body, type=content_type)
        captured.clear()
        run = subprocess.run([BINARY, *args], env=env, capture_output=True, text=True,
                             timeout=60)
        if run.returncode != 0 or len(captured) != 1:
            print(json.dumps({"service": service, "error": run.stderr, "requests": len(captured)}))
            failed += 1
            continue
        request = captured[0]
        authorization = request["headers"]["authorization"]
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        headers = {k: v for k, v in request["headers"].items() if k in signed}
        aws_request = AWSRequest(method=request["method"], url=endpoint + request["path"],
                                 data=request["body"], headers=headers)
        aws_request.context["timestamp"] = request["headers"]["x-amz-date"]
        signer = SigV4Auth(credentials, service, "eu-west-3")
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        ours = authorization.split("Signature=")[1]
        scope_ok = f"/eu-west-3/{service}/aws4_request" in authorization
        token_ok = request["headers"].get("x-amz-security-token") == "session-token"
        agree = ours == expected and scope_ok and token_ok
        failed += not agree
        line = {"service": service, "path": request["path"], "agree": agree}
        if not agree:
            line.update(ours=authorization, botocore=expected, canonical=canonical)
        print(json.dumps(line), flush=True)
    server.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
