//! `asg-lifecycle waiter` end to end: the binary against a real DynamoDB (`moto_server`, whose
//! address the test script exports as `MOTO_ENDPOINT`).

use std::process::{Command, Output};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: start moto_server (scripts/test.sh does) and export its URL, \
         e.g. MOTO_ENDPOINT=http://127.0.0.1:5055",
    )
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("the CLI runs")
}

/// A fresh table holding one record `i-1` in `status`.
async fn table_with_record(endpoint: &str, table: &str, status: &str) {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("Ident")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("Ident")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create the table in moto_server");
    client
        .put_item()
        .table_name(table)
        .item("Ident", AttributeValue::S("i-1".into()))
        .item("ItemStatus", AttributeValue::S(status.into()))
        .send()
        .await
        .expect("put the record");
}

fn run_record_waiter(endpoint: &str, table: &str, status: &str, extra: &[&str]) -> Output {
    let table = format!("TableName={table}");
    let status = format!("ItemStatus={status}");
    let mut args = vec![
        "waiter",
        "run",
        "RecordReachedStatus",
        "--endpoint-url",
        endpoint,
        "--region",
        "us-east-1",
        "--param",
        &table,
        "--param",
        r#"Key:={"Ident":{"S":"i-1"}}"#,
        "--param",
        "ConsistentRead:=true",
        "--param",
        &status,
        "--delay",
        "0",
        "--max-attempts",
        "2",
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn waiter_run_exits_0_1_2_3_against_a_real_dynamodb() {
    let endpoint = moto_endpoint();
    let table = format!("waiter-cli-{}", std::process::id());
    table_with_record(&endpoint, &table, "ready").await;

    let out = run_record_waiter(&endpoint, &table, "ready", &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "waiter RecordReachedStatus attempt 1/2: success (Item.ItemStatus.S = \"ready\")\n"
    );

    let out = run_record_waiter(&endpoint, &table, "joined", &[]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "one status line per attempt"
    );
    assert!(
        text(&out.stderr).contains(
            r#"last response: {"Item":{"Ident":{"S":"i-1"},"ItemStatus":{"S":"ready"}}}"#
        ),
        "{}",
        text(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("waiters.yaml");
    std::fs::write(
        &file,
        "version: 2\nwaiters:\n  RecordReachedStatus:\n    operation: GetItem\n    delay: 1\n    \
         maxAttempts: 5\n    acceptors:\n      - {state: failure, matcher: path, argument: \
         Item.ItemStatus.S, expected: \"${ItemStatus}\"}\n",
    )
    .unwrap();
    let file_arg = file.display().to_string();
    let out = run_record_waiter(&endpoint, &table, "ready", &["--waiters", &file_arg]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));

    let out = run_record_waiter(&endpoint, "no-such-table", "ready", &[]);
    assert_eq!(out.status.code(), Some(3), "stdout: {}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("ResourceNotFoundException"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn waiter_list_shows_custom_waiters_and_a_bad_file_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{"version": 2, "waiters": {"Mine": {"operation": "GetItem", "delay": 1,
            "maxAttempts": 3, "acceptors": [{"state": "success", "matcher": "error",
            "expected": false}]}}}"#,
    )
    .unwrap();
    let good_arg = good.display().to_string();
    let out = cli(&["waiter", "list", "--waiters", &good_arg]);
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    assert!(
        listing.contains(&format!("Mine\tGetItem\tdelay 1s, 3 attempts\t{good_arg}")),
        "{listing}"
    );
    assert!(
        listing.contains("RecordReachedStatus\tGetItem"),
        "{listing}"
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 2\nwaiters:\n  X:\n    operation: GetItem\n    delay: 1\n",
    )
    .unwrap();
    let bad_arg = bad.display().to_string();
    let out = cli(&["waiter", "run", "X", "--waiters", &bad_arg]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr).lines().collect::<Vec<_>>(),
        [
            format!("{bad_arg}:3:3: error[missing-key]: waiter `X` needs `maxAttempts`"),
            format!("{bad_arg}:3:3: error[missing-key]: waiter `X` needs `acceptors`"),
        ]
    );
}
