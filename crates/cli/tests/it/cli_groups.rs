//! Groups known to the table (moto_server): once the handler's sweep has run, `status`, `graph`,
//! `watch`, `wait` and a scheduled `invoke` list the table without `--group`; before, they say
//! how to name the groups (exit 64). No Scan: the groups come from the `#groups` item.

use std::process::{Command, Output};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: start moto_server (scripts/test.sh does) and export its URL",
    )
}

fn cli(args: &[&str], endpoint: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .current_dir(crate::repo_root())
        .args(args)
        .env_remove("ASG_LIFECYCLE_GROUPS")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

fn documents(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// An active record of group `web`, as the handler leaves it.
async fn put_active_record(endpoint: &str, table: &str) {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
        .put_item()
        .table_name(table)
        .item("Ident", AttributeValue::S("i-1".into()))
        .item("ItemStatus", AttributeValue::S("ready".into()))
        .item("GroupName", AttributeValue::S("web".into()))
        .item("ActiveGroup", AttributeValue::S("web".into()))
        .send()
        .await
        .expect("put the record");
}

#[tokio::test]
async fn after_a_sweep_the_table_is_listed_without_naming_its_groups() {
    let endpoint = moto_endpoint();
    let table = format!("groups-cli-{}", std::process::id());
    let ok = cli(&["table", "create", "--table", &table], &endpoint);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    put_active_record(&endpoint, &table).await;

    let before = cli(&["status", "--table", &table], &endpoint);
    assert_eq!(before.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&before.stderr).contains("ASG_LIFECYCLE_GROUPS"));

    // The handler's sweep (here run by `invoke`, as the scheduled rule would) registers `web`.
    let sweep = "crates/core/tests/fixtures/events/scheduled-reconcile.json";
    let swept = cli(
        &["invoke", "--table", &table, "--group", "web", sweep],
        &endpoint,
    );
    assert_eq!(swept.status.code(), Some(0));

    let out = cli(
        &["invoke", "--table", &table, sweep, "--query", "instance"],
        &endpoint,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        documents(&out),
        [json!("i-1")],
        "a scheduled invoke sweeps `web`"
    );

    let out = cli(
        &[
            "graph",
            "transitions/cluster-node.yaml",
            "--table",
            &table,
            "--query",
            "counts",
        ],
        &endpoint,
    );
    assert_eq!(documents(&out), [json!({"ready": 1})]);

    let out = cli(
        &[
            "watch",
            "--table",
            &table,
            "--timeout",
            "500ms",
            "--query",
            "instance",
        ],
        &endpoint,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(documents(&out), [json!("i-1")]);

    // `status` and `wait` join the group's Auto Scaling members, as with `--group web`: moto
    // has no such group, and says so for `web`.
    for args in [
        &[
            "status",
            "--table",
            &table,
            "--query",
            "instances[].[instance, last_error]",
        ][..],
        &[
            "wait",
            "--table",
            &table,
            "--timeout",
            "0s",
            "--query",
            "laggards[].[instance, message]",
        ],
    ] {
        let out = cli(args, &endpoint);
        let last = documents(&out).pop().unwrap();
        assert_eq!(last[0][0], "group:web", "{args:?}: {last}");
        assert!(
            last[0][1]
                .as_str()
                .unwrap()
                .contains("Auto Scaling group `web`"),
            "{args:?}: {last}"
        );
    }
}
