//! Every subcommand with `--output json --query ...`: what it prints and how it exits; the
//! `text` and `table` forms; environment variables; usage errors. The AWS subcommands (`waiter
//! run`, `table create`) run against moto_server (`MOTO_ENDPOINT`, started by the test script).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"));
    command
        .current_dir(crate::repo_root())
        .env_remove("ASG_LIFECYCLE_TABLE")
        .env_remove("ASG_LIFECYCLE_GROUPS")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Each stdout line as JSON.
fn documents(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A store with `i-1` ready in `web` and `i-2` joining in `api`.
fn store(dir: &Path) -> String {
    let path = dir.join("state.json");
    let records = json!({
        "i-1": {"ItemStatus": "ready", "GroupName": "web", "ActiveGroup": "web"},
        "i-2": {"ItemStatus": "join_cluster", "GroupName": "api", "ActiveGroup": "api"},
    });
    std::fs::write(&path, records.to_string()).unwrap();
    path.display().to_string()
}

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: start moto_server (scripts/test.sh does) and export its URL",
    )
}

#[test]
fn validate_graph_status_and_waiter_list_answer_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let broken: PathBuf = dir.path().join("broken.yaml");
    std::fs::write(&broken, "initial: nowhere\nstates: [a]\ntransitions: []\n").unwrap();
    let broken = broken.display().to_string();

    let out = run(&[
        "validate",
        "transitions/cluster-node.yaml",
        &broken,
        "--output",
        "json",
        "--query",
        "files[].valid",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(documents(&out), [json!([true, false])]);

    let out = run(&[
        "graph",
        "transitions/cluster-node.yaml",
        "--store",
        &store,
        "--output",
        "json",
        "--query",
        "counts",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(documents(&out), [json!({"join_cluster": 1, "ready": 1})]);

    let out = run(&[
        "status",
        "--store",
        &store,
        "--output",
        "json",
        "--query",
        "instances[?status=='InProgress'].instance",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(documents(&out), [json!(["i-2"])]);

    // `--group` filters, and the groups may come from the environment.
    let out = bin()
        .args([
            "status",
            "--store",
            &store,
            "--query",
            "instances[].instance",
        ])
        .env("ASG_LIFECYCLE_GROUPS", "web")
        .output()
        .unwrap();
    assert_eq!(documents(&out), [json!(["i-1"])]);

    let out = run(&[
        "waiter",
        "list",
        "--output",
        "json",
        "--query",
        "waiters[?name=='RecordReachedStatus'].[operation, origin]",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(documents(&out), [json!([["GetItem", "built-in"]])]);
}

#[test]
fn invoke_wait_watch_and_simulate_answer_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());

    let state = dir.path().join("launch.json");
    std::fs::write(
        &state,
        json!({"i-0abc1234567890def": {"ItemStatus": "finished_cloud_init"}}).to_string(),
    )
    .unwrap();
    let out = run(&[
        "invoke",
        "--store",
        &state.display().to_string(),
        "crates/core/tests/fixtures/events/autoscaling-launch.json",
        "--output",
        "json",
        "--query",
        "[outcome, transitions[].to]",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(documents(&out), [json!(["advanced", ["join_cluster"]])]);

    // A stream: the updates have no `instances`, so only the closing document prints.
    let out = run(&[
        "wait",
        "--store",
        &store,
        "--group",
        "web",
        "--output",
        "json",
        "--query",
        "instances",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(documents(&out), [json!(1)]);

    let out = run(&[
        "watch",
        "--store",
        &store,
        "--group",
        "api",
        "--timeout",
        "500ms",
        "--output",
        "json",
        "--query",
        "[event, instance]",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        documents(&out),
        [
            json!(["init", null]),
            json!(["init-apply", "i-2"]),
            json!(["init-done", null]),
            json!(["closed", null]),
        ]
    );

    let out = run(&[
        "simulate",
        "--instances",
        "10",
        "--faults",
        "none",
        "--latency",
        "none",
        "--output",
        "json",
        "--query",
        "violation_count",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(documents(&out), [json!(0)]);
}

#[test]
fn table_create_and_waiter_run_answer_queries_against_dynamodb() {
    let endpoint = moto_endpoint();
    let table = format!("output-cli-{}", std::process::id());
    let out = run(&[
        "table",
        "create",
        "--table",
        &table,
        "--endpoint-url",
        &endpoint,
        "--region",
        "us-east-1",
        "--output",
        "json",
        "--query",
        "status",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(documents(&out), [json!("ACTIVE")]);

    // A numeric-looking status: `--param ItemStatus=123` must stay the string "123".
    put_record(&table, &endpoint, "123");
    let waiter = |status: &str, attempts: &str| {
        let status = format!("ItemStatus={status}");
        let table = format!("TableName={table}");
        bin()
            .args(["waiter", "run", "RecordReachedStatus", "--param", &table])
            .args([
                "--param",
                r#"Key:={"Ident":{"S":"i-1"}}"#,
                "--param",
                "ConsistentRead:=true",
            ])
            .args([
                "--param",
                &status,
                "--delay",
                "0s",
                "--max-attempts",
                attempts,
            ])
            .args(["--output", "json", "--query", "[attempt, state]"])
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let out = waiter("123", "2");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(documents(&out), [json!([1, "success"])]);
    let out = waiter("124", "2");
    assert_eq!(out.status.code(), Some(2));
    // No acceptor matched: no state, and attempts ran out (exit 2).
    assert_eq!(documents(&out), [json!([1, null]), json!([2, null])]);
}

/// Writes record `i-1` with `status` into `table` through the SDK.
fn put_record(table: &str, endpoint: &str, status: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
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
            .item(
                "Ident",
                aws_sdk_dynamodb::types::AttributeValue::S("i-1".into()),
            )
            .item(
                "ItemStatus",
                aws_sdk_dynamodb::types::AttributeValue::S(status.into()),
            )
            .send()
            .await
            .expect("put the record");
    });
}

#[test]
fn text_is_tab_separated_and_table_is_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let out = run(&[
        "status",
        "--store",
        &store,
        "--output",
        "text",
        "--query",
        "instances[].[instance, state, status]",
    ]);
    assert_eq!(
        stdout(&out),
        "i-1\tready\tCurrent\ni-2\tjoin_cluster\tInProgress\n"
    );
    let out = run(&[
        "status",
        "--store",
        &store,
        "--output",
        "table",
        "--query",
        "instances[].{instance: instance, status: status}",
    ]);
    assert_eq!(
        stdout(&out),
        "INSTANCE  STATUS\ni-1       Current\ni-2       InProgress\n"
    );
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    for args in [
        &["status", "--bogus"][..],
        &[
            "wait",
            "--store",
            "x.json",
            "--group",
            "web",
            "--timeout",
            "soon",
        ],
        &[
            "wait",
            "--store",
            "x.json",
            "--timeout",
            "99999999999999999999999s",
        ],
        &["waiter", "run", "X", "--param", "novalue"],
        &["waiter", "run", "X", "--param", "Key:={not json"],
        &["status", "--store", "x.json", "--query", "[unclosed"],
        &["no-such-command"],
        &["wait"],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run(&["status", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    assert!(help.contains("[env: ASG_LIFECYCLE_TABLE="), "{help}");
    assert!(help.contains("[env: AWS_ENDPOINT_URL="), "{help}");
    assert!(help.contains("Examples:"), "{help}");
}

/// The README's table of exit codes: code → meaning.
fn readme_exit_codes() -> std::collections::BTreeMap<u8, String> {
    let readme = std::fs::read_to_string(crate::repo_root().join("README.md")).unwrap();
    let section = readme
        .split("### Exit codes")
        .nth(1)
        .expect("the README has an Exit codes section");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| code"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].parse().unwrap(), cells[2].to_string())
        })
        .collect()
}

#[test]
fn the_readme_exit_code_table_is_what_the_commands_return() {
    let table = readme_exit_codes();
    assert_eq!(
        table.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3, 64, 75, 130, 143]
    );
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "states: [a]\n").unwrap();
    let broken = broken.display().to_string();
    let missing = dir.path().join("missing.json").display().to_string();
    let cases: [(&[&str], u8, &str); 5] = [
        (&["waiter", "list"], 0, "success"),
        (&["validate", &broken], 1, "invalid model"),
        (
            &[
                "wait",
                "--store",
                &store,
                "--group",
                "api",
                "--timeout",
                "0s",
            ],
            2,
            "`wait --timeout` passed",
        ),
        (&["status", "--store", &missing], 3, "could not be opened"),
        (&["status", "--store", &store, "--bogus"], 64, "usage error"),
    ];
    for (args, code, meaning) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(i32::from(code)), "{args:?}");
        assert!(table[&code].contains(meaning), "{code}: {}", table[&code]);
    }
    // 130 and 143 are checked by cli_interrupt.rs; 75 (`invoke` retry) needs another invocation
    // holding the instance, which no scenario here sets up: only its row is checked.
    assert!(table[&75].contains("`invoke`"));
    assert!(table[&130].contains("SIGINT") && table[&143].contains("SIGTERM"));
}

#[test]
fn a_named_profile_gives_the_credentials_and_the_region() {
    let endpoint = moto_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[profile ops]\nregion = us-east-1\n").unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        "[ops]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    let table = format!("profile-cli-{}", std::process::id());
    let create = |profile: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"));
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
        ] {
            command.env_remove(name);
        }
        command
            .args(["table", "create", "--table", &table, "--profile", profile])
            .args(["--output", "text", "--query", "status"])
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    };
    let out = create("ops");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "ACTIVE\n");
    let out = create("nobody");
    assert_eq!(
        out.status.code(),
        Some(1),
        "no such profile: no credentials, no region"
    );
}
