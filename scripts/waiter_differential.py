#!/usr/bin/env python3
"""Differential test: the same official waiters through botocore and through asg-lifecycle.

Against a running moto_server, sets up resources of several services, then runs each scenario's
waiter (small delay and attempts) twice: with botocore (`client.get_waiter(...).wait(...)`; the
Auto Scaling waiters, which botocore does not ship, from asg-lifecycle's shipped
`waiters-2.json` through botocore's own `create_waiter_with_client`) and with
`asg-lifecycle waiter run SERVICE.Name`. Verdicts (success, failure, timeout, error) must agree.
It also compares `asg-lifecycle api call` outputs with boto3's for a few operations.

Usage: waiter_differential.py ENDPOINT ASG_LIFECYCLE_BINARY
Prints one JSON line per check; exits 1 when any disagrees, 2 on a setup error.
"""
import base64
import datetime
import json
import os
import subprocess
import sys
import uuid

import boto3
import botocore.waiter
from botocore.exceptions import WaiterError
from botocore import xform_name

ENDPOINT, BINARY = sys.argv[1], sys.argv[2]
REGION = "us-east-1"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DELAY, ATTEMPTS = 0, 2
ENV = dict(os.environ, AWS_ENDPOINT_URL=ENDPOINT, AWS_REGION=REGION,
           AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
ENV.pop("AWS_PROFILE", None)


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def botocore_verdict(service, name, params):
    c = client(service)
    if service == "autoscaling":
        with open(os.path.join(ROOT, "crates/aws/models/autoscaling/waiters-2.json")) as f:
            model = botocore.waiter.WaiterModel(json.load(f))
        waiter = botocore.waiter.create_waiter_with_client(name, model, c)
    else:
        waiter = c.get_waiter(xform_name(name))
    try:
        waiter.wait(WaiterConfig={"Delay": DELAY, "MaxAttempts": ATTEMPTS}, **params)
        return "success"
    except WaiterError as e:
        reason = str(e.kwargs.get("reason", ""))
        if reason.startswith("Max attempts exceeded"):
            return "timeout"
        if "terminal failure state" in reason:
            return "failure"
        return "error"


def ours_verdict(service, name, params):
    args = [BINARY, "waiter", "run", f"{service}.{name}", "--delay", f"{DELAY}s",
            "--max-attempts", str(ATTEMPTS)]
    for key, value in params.items():
        args += ["--param", f"{key}:={json.dumps(value)}"]
    run = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=60)
    verdict = {0: "success", 1: "failure", 2: "timeout", 3: "error"}.get(run.returncode)
    return verdict or f"exit {run.returncode}: {run.stderr.strip()}", run.stderr.strip()


def normalize(botocore_value, ours):
    """botocore's output with datetimes and bytes as asg-lifecycle renders them."""
    if isinstance(botocore_value, dict):
        return {k: normalize(v, (ours or {}).get(k) if isinstance(ours, dict) else None)
                for k, v in botocore_value.items() if k != "ResponseMetadata"}
    if isinstance(botocore_value, list):
        ours = ours if isinstance(ours, list) else []
        return [normalize(v, ours[i] if i < len(ours) else None)
                for i, v in enumerate(botocore_value)]
    if isinstance(botocore_value, datetime.datetime):
        # Equal instants compare equal whatever the text's form.
        if isinstance(ours, str):
            try:
                parsed = datetime.datetime.fromisoformat(ours.replace("Z", "+00:00"))
                if parsed == botocore_value:
                    return ours
            except ValueError:
                pass
        return botocore_value.isoformat()
    if isinstance(botocore_value, bytes):
        return base64.b64encode(botocore_value).decode()
    return botocore_value


def compare_output(service, operation, params):
    expected = getattr(client(service), xform_name(operation))(**params)
    args = [BINARY, "api", "call", service, operation, "--output", "json",
            "--input", json.dumps(params)]
    run = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=60)
    ours = json.loads(run.stdout) if run.returncode == 0 else {"exit": run.returncode,
                                                              "stderr": run.stderr}
    want = normalize(expected, ours)
    return want == ours, want, ours


def setup():
    """Creates the resources; returns the scenarios as (service, waiter, params, expected)."""
    tag = uuid.uuid4().hex[:8]
    ec2 = client("ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    run = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    running = run["Instances"][0]["InstanceId"]
    gone = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[gone])
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    subnet2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.2.0/24",
                                AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    key = f"key-{tag}"
    ec2.create_key_pair(KeyName=key)

    asg = client("autoscaling")
    group = f"group-{tag}"
    asg.create_launch_configuration(LaunchConfigurationName=f"lc-{tag}", ImageId=ami,
                                    InstanceType="t3.micro")
    asg.create_auto_scaling_group(AutoScalingGroupName=group, LaunchConfigurationName=f"lc-{tag}",
                                  MinSize=1, MaxSize=2, DesiredCapacity=1,
                                  VPCZoneIdentifier=subnet)

    ddb = client("dynamodb")
    table = f"table-{tag}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "Ident", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "Ident", "KeyType": "HASH"}])

    elb = client("elbv2")
    lb = elb.create_load_balancer(Name=f"lb-{tag}", Subnets=[subnet, subnet2])
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name=f"tg-{tag}", Protocol="HTTP", Port=80, VpcId=vpc,
                                 TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": running, "Port": 80}])

    ecs = client("ecs")
    cluster = f"cluster-{tag}"
    ecs.create_cluster(clusterName=cluster)

    eks = client("eks")
    eks_cluster = f"eks-{tag}"
    eks.create_cluster(name=eks_cluster, roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": [subnet, subnet2]})
    eks.create_nodegroup(clusterName=eks_cluster, nodegroupName="ng", subnets=[subnet],
                         nodeRole="arn:aws:iam::123456789012:role/node")

    cfn = client("cloudformation")
    stack = f"stack-{tag}"
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))

    ssm = client("ssm")
    command = ssm.send_command(InstanceIds=[running], DocumentName="AWS-RunShellScript",
                               Parameters={"commands": ["true"]})["Command"]["CommandId"]

    missing_instance = "i-0123456789abcdef0"
    scenarios = [
        ("ec2", "InstanceRunning", {"InstanceIds": [running]}),
        ("ec2", "InstanceRunning", {"InstanceIds": [gone]}),
        ("ec2", "InstanceStopped", {"InstanceIds": [running]}),
        ("ec2", "InstanceTerminated", {"InstanceIds": [gone]}),
        ("ec2", "InstanceExists", {"InstanceIds": [missing_instance]}),
        ("ec2", "InstanceStatusOk", {"InstanceIds": [running]}),
        ("ec2", "VpcAvailable", {"VpcIds": [vpc]}),
        ("ec2", "SubnetAvailable", {"SubnetIds": [subnet]}),
        ("ec2", "VolumeAvailable", {"VolumeIds": [volume]}),
        ("ec2", "VolumeInUse", {"VolumeIds": [volume]}),
        ("ec2", "KeyPairExists", {"KeyNames": [key]}),
        ("ec2", "KeyPairExists", {"KeyNames": [f"missing-{tag}"]}),
        ("autoscaling", "GroupExists", {"AutoScalingGroupNames": [group]}),
        ("autoscaling", "GroupExists", {"AutoScalingGroupNames": [f"missing-{tag}"]}),
        ("autoscaling", "GroupInService", {"AutoScalingGroupNames": [group]}),
        ("autoscaling", "GroupNotExists", {"AutoScalingGroupNames": [group]}),
        ("autoscaling", "GroupNotExists", {"AutoScalingGroupNames": [f"missing-{tag}"]}),
        ("dynamodb", "TableExists", {"TableName": table}),
        ("dynamodb", "TableExists", {"TableName": f"missing-{tag}"}),
        ("dynamodb", "TableNotExists", {"TableName": f"missing-{tag}"}),
        ("dynamodb", "TableNotExists", {"TableName": table}),
        ("elbv2", "LoadBalancerExists", {"LoadBalancerArns": [lb_arn]}),
        ("elbv2", "LoadBalancerAvailable", {"LoadBalancerArns": [lb_arn]}),
        ("elbv2", "LoadBalancersDeleted", {"LoadBalancerArns": [lb_arn]}),
        ("elbv2", "TargetInService", {"TargetGroupArn": tg, "Targets": [{"Id": running, "Port": 80}]}),
        ("elbv2", "TargetDeregistered", {"TargetGroupArn": tg, "Targets": [{"Id": running, "Port": 80}]}),
        ("ecs", "ServicesInactive", {"cluster": cluster, "services": ["missing"]}),
        ("ecs", "ServicesStable", {"cluster": cluster, "services": ["missing"]}),
        ("eks", "ClusterActive", {"name": eks_cluster}),
        ("eks", "ClusterDeleted", {"name": f"missing-{tag}"}),
        ("eks", "ClusterDeleted", {"name": eks_cluster}),
        ("eks", "NodegroupActive", {"clusterName": eks_cluster, "nodegroupName": "ng"}),
        ("eks", "NodegroupDeleted", {"clusterName": eks_cluster, "nodegroupName": "missing"}),
        ("cloudformation", "StackExists", {"StackName": stack}),
        ("cloudformation", "StackCreateComplete", {"StackName": stack}),
        ("cloudformation", "StackDeleteComplete", {"StackName": stack}),
        ("cloudformation", "StackExists", {"StackName": f"missing-{tag}"}),
        ("ssm", "CommandExecuted", {"CommandId": command, "InstanceId": running}),
        ("ssm", "CommandExecuted", {"CommandId": str(uuid.uuid4()), "InstanceId": running}),
    ]
    outputs = [
        ("ec2", "DescribeInstances", {"InstanceIds": [running, gone]}),
        ("ec2", "DescribeVolumes", {"VolumeIds": [volume]}),
        ("autoscaling", "DescribeAutoScalingGroups", {"AutoScalingGroupNames": [group]}),
        ("dynamodb", "DescribeTable", {"TableName": table}),
        ("elbv2", "DescribeTargetHealth", {"TargetGroupArn": tg}),
        ("elbv2", "DescribeLoadBalancers", {"LoadBalancerArns": [lb_arn]}),
        ("ecs", "DescribeClusters", {"clusters": [cluster]}),
        ("eks", "DescribeNodegroup", {"clusterName": eks_cluster, "nodegroupName": "ng"}),
        ("cloudformation", "DescribeStacks", {"StackName": stack}),
        ("ssm", "GetCommandInvocation", {"CommandId": command, "InstanceId": running}),
    ]
    return scenarios, outputs


def main():
    try:
        scenarios, outputs = setup()
    except Exception as e:  # noqa: BLE001 - any setup failure is reported as such
        print(json.dumps({"setup_error": repr(e)}))
        return 2
    failed = 0
    for service, name, params in scenarios:
        theirs = botocore_verdict(service, name, params)
        ours, stderr = ours_verdict(service, name, params)
        agree = theirs == ours
        failed += not agree
        line = {"waiter": f"{service}.{name}", "params": params, "botocore": theirs,
                "asg_lifecycle": ours, "agree": agree}
        if not agree:
            line["stderr"] = stderr
        print(json.dumps(line), flush=True)
    for service, operation, params in outputs:
        agree, want, ours = compare_output(service, operation, params)
        failed += not agree
        line = {"output": f"{service}.{operation}", "agree": agree}
        if not agree:
            line.update(botocore=want, asg_lifecycle=ours)
        print(json.dumps(line, default=str), flush=True)
    print(json.dumps({"checks": len(scenarios) + len(outputs), "disagreements": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
