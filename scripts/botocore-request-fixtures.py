#!/usr/bin/env python3
"""Writes crates/aws/tests/fixtures/api/requests.json: requests as botocore serializes them.

For each case (service, operation, input), botocore's own serializer (of the installed botocore,
the version the shipped models come from) gives the method, path with query string, the
protocol headers and the body; `asg_lifecycle_aws::api::serialize` must produce the same.

Usage: target/pyenv/bin/python scripts/botocore-request-fixtures.py
"""
import json
import os

import botocore.session
from botocore.model import ServiceModel
from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence

CASES = [
    ("dynamodb", "GetItem", {"TableName": "t", "Key": {"Ident": {"S": "i-1"}}, "ConsistentRead": True}),
    ("dynamodb", "Query", {"TableName": "t", "KeyConditionExpression": "#k = :v",
                           "ExpressionAttributeNames": {"#k": "Ident"},
                           "ExpressionAttributeValues": {":v": {"S": "i-1"}, ":b": {"B": "raw bytes"}},
                           "Limit": 5}),
    ("ssm", "GetCommandInvocation", {"CommandId": "0c1d2e3f-0000-4000-8000-000000000001", "InstanceId": "i-1"}),
    ("ssm", "ListCommands", {"Filters": [{"key": "InvokedAfter", "value": "2024-05-01T10:00:00Z"}]}),
    ("ecs", "DescribeServices", {"cluster": "c", "services": ["a", "b"], "include": ["TAGS"]}),
    ("autoscaling", "DescribeAutoScalingGroups", {"AutoScalingGroupNames": ["web", "db"], "MaxRecords": 10}),
    ("autoscaling", "DescribeAutoScalingGroups", {"AutoScalingGroupNames": []}),
    ("autoscaling", "DescribeAutoScalingGroups", {"Filters": [{"Name": "tag:env", "Values": ["prod", "a b&c"]}]}),
    ("autoscaling", "CompleteLifecycleAction", {"LifecycleHookName": "h", "AutoScalingGroupName": "g",
                                                "LifecycleActionResult": "CONTINUE", "InstanceId": "i-1"}),
    ("elbv2", "DescribeTargetHealth", {"TargetGroupArn": "arn:tg", "Targets": [{"Id": "i-1", "Port": 80}]}),
    ("cloudformation", "CreateStack", {"StackName": "s", "TemplateBody": "{}",
                                       "Parameters": [{"ParameterKey": "K", "ParameterValue": "V"}],
                                       "Capabilities": ["CAPABILITY_IAM"], "Tags": [{"Key": "k", "Value": "v"}]}),
    ("ec2", "DescribeInstances", {"InstanceIds": ["i-1", "i-2"],
                                  "Filters": [{"Name": "instance-state-name", "Values": ["running"]}]}),
    ("ec2", "DescribeInstances", {"InstanceIds": []}),
    ("ec2", "RunInstances", {"ImageId": "ami-1", "MinCount": 1, "MaxCount": 2,
                             "TagSpecifications": [{"ResourceType": "instance",
                                                    "Tags": [{"Key": "Name", "Value": "x"}]}],
                             "Monitoring": {"Enabled": True}, "UserData": "echo hi"}),
    ("ec2", "DescribeSpotPriceHistory", {"StartTime": "2024-05-01T10:00:00Z", "InstanceTypes": ["t3.micro"]}),
    ("eks", "DescribeNodegroup", {"clusterName": "prod", "nodegroupName": "ng 1/a"}),
    ("eks", "ListNodegroups", {"clusterName": "prod", "maxResults": 5, "nextToken": "a=b"}),
    ("eks", "ListClusters", {"include": ["all", "x"]}),
    ("eks", "UntagResource", {"resourceArn": "arn:aws:eks:us-east-1:1:cluster/c", "tagKeys": ["a", "b"]}),
    ("eks", "CreateNodegroup", {"clusterName": "prod", "nodegroupName": "ng", "subnets": ["s-1"],
                                "nodeRole": "arn:role", "scalingConfig": {"minSize": 1, "maxSize": 2},
                                "labels": {"k": "v"}}),
    ("eks", "UpdateNodegroupConfig", {"clusterName": "prod", "nodegroupName": "ng"}),
]

# Traits no shipped model's input uses: query maps (plain and flattened), flattened lists, list
# members with a locationName; REST greedy labels, headers, header maps and a timestamp query.
SYNTHETIC = {
    "metadata": {"apiVersion": "2020-01-01", "endpointPrefix": "synthetic", "protocol": "query",
                 "serviceId": "Synthetic", "signatureVersion": "v4"},
    "operations": {
        "Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": "PutInput"}},
    },
    "shapes": {
        "PutInput": {"type": "structure", "members": {
            "Attributes": {"shape": "AttributeMap", "locationName": "Attribute"},
            "Plain": {"shape": "PlainMap"},
            "Flat": {"shape": "FlatList"},
            "Named": {"shape": "NamedList"},
            "When": {"shape": "Time"},
            "Data": {"shape": "Bytes"},
            "Ratio": {"shape": "Ratio"}}},
        "AttributeMap": {"type": "map", "key": {"shape": "S", "locationName": "Name"},
                         "value": {"shape": "S", "locationName": "Value"}, "flattened": True},
        "PlainMap": {"type": "map", "key": {"shape": "S"}, "value": {"shape": "S"}},
        "FlatList": {"type": "list", "member": {"shape": "S", "locationName": "Item"},
                     "flattened": True},
        "NamedList": {"type": "list", "member": {"shape": "S", "locationName": "Thing"}},
        "Time": {"type": "timestamp"},
        "Bytes": {"type": "blob"},
        "Ratio": {"type": "double"},
        "S": {"type": "string"},
    },
}
SYNTHETIC_REST = {
    "metadata": {"apiVersion": "2020-01-01", "endpointPrefix": "synthetic", "protocol": "rest-json",
                 "serviceId": "Synthetic", "signatureVersion": "v4"},
    "operations": {
        "Get": {"name": "Get", "http": {"method": "GET", "requestUri": "/things/{Key+}?list"},
                "input": {"shape": "GetInput"}},
    },
    "shapes": {
        "GetInput": {"type": "structure", "required": ["Key"], "members": {
            "Key": {"shape": "S", "location": "uri", "locationName": "Key"},
            "Trace": {"shape": "S", "location": "header", "locationName": "X-Trace"},
            "Meta": {"shape": "Meta", "location": "headers", "locationName": "x-meta-"},
            "Since": {"shape": "Time", "location": "querystring", "locationName": "since"},
            "Deep": {"shape": "B", "location": "querystring", "locationName": "deep"}}},
        "Meta": {"type": "map", "key": {"shape": "S"}, "value": {"shape": "S"}},
        "Time": {"type": "timestamp"},
        "B": {"type": "boolean"},
        "S": {"type": "string"},
    },
}
SYNTHETIC_CASES = [
    (SYNTHETIC, "Put", {"Attributes": {"a": "1", "b": "2"}, "Plain": {"k": "v"},
                        "Flat": ["x", "y"], "Named": ["p"], "When": "2024-05-01T10:00:00Z",
                        "Data": "hi", "Ratio": 0.5}),
    (SYNTHETIC, "Put", {"Flat": [], "Named": []}),
    (SYNTHETIC_REST, "Get", {"Key": "a b/c.txt", "Trace": "t-1", "Meta": {"owner": "me"},
                             "Since": "2024-05-01T10:00:00Z", "Deep": True}),
]


def describe(model, operation, params):
    protocol = model.metadata["protocol"]
    op = model.operation_model(operation)
    request = create_serializer(protocol, include_validation=True).serialize_to_request(params, op)
    path = request["url_path"]
    if request["query_string"]:
        path += ("&" if "?" in path else "?") + percent_encode_sequence(request["query_string"])
    body = request["body"]
    if isinstance(body, dict):
        body = percent_encode_sequence(body)
    if isinstance(body, bytes):
        body = body.decode()
    headers = {k: v for k, v in request["headers"].items()
               if k in ("X-Amz-Target", "Content-Type") or k.lower().startswith("x-")}
    return {"method": request["method"], "path": path, "headers": headers, "body": body}


def main():
    session = botocore.session.get_session()
    out = []
    for service, operation, params in CASES:
        model = session.get_service_model(service)
        out.append({"service": service, "operation": operation, "input": params,
                    **describe(model, operation, params)})
    synthetic = []
    for definition, operation, params in SYNTHETIC_CASES:
        model = ServiceModel(definition, service_name="synthetic")
        synthetic.append({"model": definition, "operation": operation, "input": params,
                          **describe(model, operation, params)})
    target = os.path.join(os.path.dirname(__file__), "..", "crates", "aws", "tests", "fixtures",
                          "api", "requests.json")
    with open(target, "w", encoding="utf-8") as f:
        json.dump({"botocore": botocore.__version__, "requests": out, "synthetic": synthetic},
                  f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
