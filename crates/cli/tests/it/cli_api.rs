//! `asg-lifecycle api` and the official waiters end to end, against `moto_server` (its address
//! exported by the test script as `MOTO_ENDPOINT`), and the differential test of the official
//! waiters against botocore (`scripts/waiter_differential.py`, run with the test venv's Python,
//! `ASG_LIFECYCLE_TEST_PYTHON`), and the SigV4 signatures checked with botocore's signer
//! (`scripts/sigv4_check.py`: moto does not check them).

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value;

/// The services whose models ship with the tool.
const SHIPPED: [&str; 8] = [
    "autoscaling",
    "cloudformation",
    "dynamodb",
    "ec2",
    "ecs",
    "eks",
    "elbv2",
    "ssm",
];

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: start moto_server (scripts/test.sh does) and export its URL, \
         e.g. MOTO_ENDPOINT=http://127.0.0.1:5055",
    )
}

fn cli(endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the CLI runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", text(&out.stdout), text(&out.stderr)))
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Runs a botocore reference script with the test venv's Python and reads its JSON lines;
/// the script must exit 0.
fn botocore_script(script: &str, args: &[String]) -> (String, Vec<Value>) {
    let python = std::env::var("ASG_LIFECYCLE_TEST_PYTHON").expect(
        "ASG_LIFECYCLE_TEST_PYTHON is not set: it names the Python with boto3 and botocore \
         (scripts/test.sh exports target/pyenv/bin/python)",
    );
    let out = Command::new(python)
        .arg(crate::repo_root().join("scripts").join(script))
        .args(args)
        .arg(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .output()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (stdout, lines)
}

#[test]
fn official_waiters_reach_the_same_verdicts_as_botocore_on_every_shipped_service() {
    let (stdout, lines) = botocore_script("waiter_differential.py", &[moto_endpoint()]);
    let waiters: Vec<&Value> = lines.iter().filter(|l| l.get("waiter").is_some()).collect();
    assert!(
        lines
            .iter()
            .all(|l| l.get("agree") != Some(&Value::Bool(false)))
    );
    let services: BTreeSet<&str> = waiters
        .iter()
        .map(|l| l["waiter"].as_str().unwrap().split('.').next().unwrap())
        .collect();
    assert_eq!(services.into_iter().collect::<Vec<_>>(), SHIPPED);
    let verdicts: BTreeSet<&str> = waiters
        .iter()
        .map(|l| l["botocore"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts.into_iter().collect::<Vec<_>>(),
        ["error", "failure", "success", "timeout"]
    );
    let outputs = lines.iter().filter(|l| l.get("output").is_some()).count();
    assert!(outputs >= 8, "{stdout}");
}

#[test]
fn requests_are_signed_as_botocore_signs_them_in_every_protocol() {
    let (stdout, checked) = botocore_script("sigv4_check.py", &[]);
    assert_eq!(checked.len(), 4, "{stdout}");
    assert!(checked.iter().all(|c| c["agree"] == true), "{stdout}");
}

#[test]
fn api_call_prints_the_output_or_the_error_response() {
    let endpoint = moto_endpoint();
    let name = unique("t");
    let out = cli(
        &endpoint,
        &[
            "api",
            "call",
            "dynamodb",
            "CreateTable",
            "--param",
            &format!("TableName={name}"),
            "--param",
            "BillingMode=PAY_PER_REQUEST",
            "--param",
            r#"AttributeDefinitions:=[{"AttributeName":"Ident","AttributeType":"S"}]"#,
            "--param",
            r#"KeySchema:=[{"AttributeName":"Ident","KeyType":"HASH"}]"#,
            "--query",
            "TableDescription.TableName",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out), Value::String(name.clone()));

    let out = cli(
        &endpoint,
        &[
            "api",
            "call",
            "eks",
            "DescribeCluster",
            "--param",
            "name=nope",
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(json(&out)["Error"]["Code"], "ResourceNotFoundException");
    assert!(
        text(&out.stderr).contains("(HTTP 404)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn api_call_rejects_an_input_the_model_refuses_without_sending_anything() {
    // Nothing listens on port 9: a request would fail with exit 3, not 64.
    let out = cli(
        "http://127.0.0.1:9",
        &[
            "api",
            "call",
            "ec2",
            "DescribeInstances",
            "--param",
            r#"Filters:=[{"Name":"x","Values":"y"}]"#,
            "--param",
            "MaxResult:=5",
        ],
    );
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Filters[0].Values: expected a list, got a string"),
        "{stderr}"
    );
    assert!(stderr.contains("MaxResult: unknown member"), "{stderr}");

    let out = cli("http://127.0.0.1:9", &["api", "call", "nope", "List"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("shipped: autoscaling, cloudformation"));
}

#[test]
fn waiter_list_names_official_waiters_by_service() {
    let out = cli(
        "http://127.0.0.1:9",
        &["waiter", "list", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let listing = json(&out);
    let waiters = listing["waiters"].as_array().unwrap();
    let find = |name: &str| {
        waiters
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed"))
    };
    let running = find("ec2.InstanceRunning");
    assert_eq!(running["service"], "ec2");
    assert_eq!(running["operation"], "DescribeInstances");
    assert!(
        running["origin"]
            .as_str()
            .unwrap()
            .starts_with("official (botocore ")
    );
    assert_eq!(
        find("ssm.CommandExecuted")["operation"],
        "GetCommandInvocation"
    );
    assert_eq!(find("autoscaling.GroupInService")["service"], "autoscaling");
    assert_eq!(
        find("eks.NodegroupActive")["operation"],
        "DescribeNodegroup"
    );
    let own = find("CommandInvocationComplete");
    assert_eq!(own["service"], Value::Null);
    assert_eq!(own["origin"], "built-in");
}

#[test]
fn api_lists_the_shipped_services_and_their_operations() {
    let out = cli("http://127.0.0.1:9", &["api", "services"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), SHIPPED);
    let out = cli(
        "http://127.0.0.1:9",
        &["api", "operations", "eks", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let operations = json(&out)["operations"].as_array().unwrap().clone();
    assert!(operations.contains(&Value::from("ListNodegroups")));
    assert!(operations.contains(&Value::from("DescribeCluster")));
    let out = cli("http://127.0.0.1:9", &["api", "operations", "s3"]);
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn a_custom_waiter_calls_any_operation_of_a_shipped_or_given_model() {
    let endpoint = moto_endpoint();
    let cluster = unique("eks");
    let out = cli(
        &endpoint,
        &[
            "api",
            "call",
            "eks",
            "CreateCluster",
            "--param",
            &format!("name={cluster}"),
            "--param",
            "roleArn=arn:aws:iam::123456789012:role/eks",
            "--param",
            r#"resourcesVpcConfig:={"subnetIds":[]}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The Airflow guide's custom waiter: EKS ListNodegroups, which no built-in waiter calls.
    let dir = tempfile::tempdir().unwrap();
    let waiters = dir.path().join("nodegroups.json");
    std::fs::write(
        &waiters,
        r#"{"version": 2, "waiters": {"NoNodegroups": {"operation": "ListNodegroups",
            "delay": 1, "maxAttempts": 2, "acceptors": [
              {"state": "success", "matcher": "path", "argument": "length(nodegroups)", "expected": 0},
              {"state": "failure", "matcher": "path", "argument": "length(nodegroups) > `0`", "expected": true}]}}}"#,
    )
    .unwrap();
    let waiters = waiters.display().to_string();
    let run = |extra: &[&str], cluster: &str| {
        let mut args = vec!["waiter", "run", "NoNodegroups", "--waiters", &waiters];
        args.extend_from_slice(extra);
        let param = format!("clusterName={cluster}");
        args.extend_from_slice(&["--param", &param, "--delay", "0s"]);
        cli(&endpoint, &args).status.code()
    };
    // The operation is found in the one shipped model that has it (eks) ...
    assert_eq!(run(&[], &cluster), Some(0));
    // ... or named with --service, or read from --service-model.
    assert_eq!(run(&["--service", "eks"], &cluster), Some(0));
    let model = crate::repo_root().join("crates/aws/models/eks/service-2.json.gz");
    let model = model.display().to_string();
    assert_eq!(run(&["--service-model", &model], &cluster), Some(0));
    assert_eq!(run(&["--service", "nope"], &cluster), Some(64));
    let out = cli(
        &endpoint,
        &[
            "api",
            "call",
            "eks",
            "CreateNodegroup",
            "--input",
            &format!(
                r#"{{"clusterName": "{cluster}", "nodegroupName": "ng", "subnets": ["subnet-1"],
                    "nodeRole": "arn:aws:iam::123456789012:role/node"}}"#
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(run(&[], &cluster), Some(1));
}
