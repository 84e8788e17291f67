//! `template.yaml` mirrors the crate: the table definition, the sweep rule name, the binary and
//! the handler's environment. (`cfn-lint template.yaml`, run by `scripts/test.sh`, checks it
//! against CloudFormation itself.)

use asg_lifecycle::handler::HandlerConfig;
use asg_lifecycle_aws::table::{ACTIVE_INDEX, cloudformation_resource};
use asg_lifecycle_lambda::{ENV_GROUP_NAMES, ENV_SWEEP_RULE, ENV_TABLE_NAME};
use std::collections::BTreeSet;

use marked_yaml::Node;
use serde_json::{Map, Value, json};

/// The template as JSON, every scalar a string (YAML leaves types to the reader).
fn template() -> Value {
    let path = crate::repo_root().join("template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml exists");
    let root = marked_yaml::parse_yaml(0, &text).unwrap_or_else(|e| {
        panic!("template.yaml is not plain YAML (use long-form intrinsics): {e}")
    });
    to_json(&root)
}

fn to_json(node: &Node) -> Value {
    match node {
        Node::Scalar(s) => Value::String(s.as_str().to_string()),
        Node::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Node::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_string(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// Every scalar as a string, for comparing JSON with YAML.
fn stringly(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(stringly).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), stringly(v))).collect())
        }
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    }
}

#[test]
fn the_table_mirrors_the_crate_table_definition() {
    let template = template();
    let table = &template["Resources"]["InstanceTable"];
    let expected = stringly(&cloudformation_resource());
    assert_eq!(table["Type"], expected["Type"]);
    assert_eq!(
        table["Properties"], expected["Properties"],
        "template.yaml's InstanceTable differs from cloudformation_resource()"
    );
    // The names the code depends on, spelled out.
    let props = &table["Properties"];
    assert_eq!(props["KeySchema"][0]["AttributeName"], "Ident");
    assert_eq!(
        props["GlobalSecondaryIndexes"][0]["IndexName"],
        ACTIVE_INDEX
    );
    assert_eq!(
        props["TimeToLiveSpecification"]["AttributeName"],
        "ExpiresAt"
    );
}

#[test]
fn the_role_reaches_the_table_and_its_index_only() {
    let template = template();
    let statements = template["Resources"]["LifecycleRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let records = statements
        .iter()
        .find(|s| s["Sid"] == "InstanceRecords")
        .expect("a statement for the table");
    assert_eq!(
        records["Resource"],
        json!([
            {"Fn::GetAtt": ["InstanceTable", "Arn"]},
            {"Fn::Sub": format!("${{InstanceTable.Arn}}/index/{ACTIVE_INDEX}")}
        ])
    );
    for statement in &statements {
        let actions = match &statement["Action"] {
            Value::Array(a) => a.clone(),
            one => vec![one.clone()],
        };
        let writes = actions.iter().any(|a| {
            let a = a.as_str().unwrap();
            !(a.contains(":List") || a.contains(":Get") || a.contains(":Describe"))
        });
        if writes {
            assert_ne!(
                statement["Resource"], "*",
                "write action on *: {statement:#}"
            );
        }
    }
}

/// The SDK operations a source file calls: every `client.operation()` (across line breaks), as
/// `service:Operation`.
fn operations_called(service: &str, path: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(crate::repo_root().join(path)).expect("adapter source");
    let squeezed: String = text.split_whitespace().collect();
    squeezed
        .split("client.")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            rest[name.len()..].starts_with("()").then_some(name)
        })
        .filter(|name| !name.is_empty())
        .map(|snake| {
            let pascal: String = snake
                .split('_')
                .map(|word| {
                    let mut chars = word.chars();
                    chars.next().map_or_else(String::new, |first| {
                        first.to_ascii_uppercase().to_string() + chars.as_str()
                    })
                })
                .collect();
            format!("{service}:{pascal}")
        })
        .collect()
}

#[test]
fn the_role_grants_exactly_the_operations_the_function_calls() {
    // What the Lambda links to reach AWS: the DynamoDB store, the Auto Scaling and SSM
    // implementations of the task traits and the dead-letter queue
    // (`asg_lifecycle_lambda::build_handler`).
    let mut called = BTreeSet::new();
    for (service, path) in [
        ("dynamodb", "crates/aws/src/dynamo/mod.rs"),
        ("dynamodb", "crates/aws/src/dynamo/groups.rs"),
        ("autoscaling", "crates/aws/src/sdk/autoscaling.rs"),
        ("ssm", "crates/aws/src/sdk/ssm.rs"),
        ("sqs", "crates/aws/src/sdk/sqs.rs"),
    ] {
        called.extend(operations_called(service, path));
    }
    assert!(called.contains("ssm:SendCommand") && called.contains("dynamodb:UpdateItem"));
    assert!(
        called.contains("sqs:SendMessage"),
        "poison payloads are kept"
    );
    // Granted for the platform, not for calls of ours: the runtime's log lines. (Lambda's
    // on-failure destination uses `sqs:SendMessage` too, which the function calls itself.)
    // And Lambda's reads of the table's stream for the registration event source mapping.
    let platform: BTreeSet<String> = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    ]
    .map(String::from)
    .into();
    let template = template();
    let granted: BTreeSet<String> = template["Resources"]["LifecycleRole"]["Properties"]
        ["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::Array(a) => a.iter().map(|a| a.as_str().unwrap().to_string()).collect(),
            one => vec![one.as_str().unwrap().to_string()],
        })
        .filter(|a| !platform.contains(a))
        .collect();
    let missing: Vec<_> = called.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&called).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "template.yaml's role differs from what the function calls: not granted {missing:?}, granted but never called {unused:?}"
    );
}

#[test]
fn the_function_runs_the_binary_with_the_configured_sweep_rule() {
    let template = template();
    let resources = &template["Resources"];
    let function = &resources["LifecycleFunction"];
    assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"],
        "lifecycle-handler"
    );
    let props = &function["Properties"];
    assert_eq!(props["Runtime"], "provided.al2023");
    assert_eq!(props["Architectures"], json!(["arm64"]));
    let env = &props["Environment"]["Variables"];
    assert_eq!(env[ENV_TABLE_NAME], json!({"Ref": "InstanceTable"}));
    assert!(env.get(ENV_GROUP_NAMES).is_some());
    assert_eq!(env[ENV_SWEEP_RULE], json!({"Ref": "SweepRuleName"}));
    // The registration key prefix the handler reads registrations under is the ARN prefix of
    // the stack's account and region: what `${ec2:SourceInstanceARN}` gives an instance.
    let prefix = env[asg_lifecycle_lambda::ENV_REGISTRATION_KEY_PREFIX]["Fn::Sub"]
        .as_str()
        .unwrap()
        .replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::AccountId}", "123456789012");
    assert_eq!(
        asg_lifecycle::registration::instance_of_key(&format!("{prefix}i-0abc")),
        Some("i-0abc")
    );
    assert_eq!(
        template["Parameters"]["SweepRuleName"]["Default"],
        HandlerConfig::default().sweep_rule
    );
    // The sweep's events name the configured rule, whatever name the rule itself gets.
    let target = &resources["SweepRule"]["Properties"]["Targets"][0];
    let input = target["InputTransformer"]["InputTemplate"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(input.contains(":rule/${SweepRuleName}\""), "{input}");
    assert!(input.contains("\"id\": \"<id>\""), "{input}");
    let sample: Value = serde_json::from_str(
        &input
            .replace("${AWS::Partition}", "aws")
            .replace("${AWS::Region}", "us-east-1")
            .replace("${AWS::AccountId}", "123456789012")
            .replace("${SweepRuleName}", "reconcile")
            .replace("<id>", "e-1")
            .replace("<account>", "123456789012")
            .replace("<time>", "2026-11-20T12:05:00Z")
            .replace("<region>", "us-east-1"),
    )
    .expect("the input template is JSON");
    let event = asg_lifecycle::event::decode_event(&sample).expect("decodes");
    assert_eq!(
        event.stimulus,
        asg_lifecycle::Stimulus::Scheduled(asg_lifecycle::event::ScheduledEvent {
            rule: "reconcile".into()
        })
    );
}

#[test]
fn poison_payloads_and_failed_invocations_end_in_the_one_dead_letter_queue() {
    let template = template();
    let props = &template["Resources"]["LifecycleFunction"]["Properties"];
    let queue = json!({"Ref": "DeadLetterQueue"});
    assert_eq!(
        props["Environment"]["Variables"][asg_lifecycle_lambda::ENV_DEAD_LETTER_QUEUE_URL],
        queue,
        "the function keeps poison payloads in the dead-letter queue"
    );
    let invoke = &props["EventInvokeConfig"];
    assert_eq!(
        invoke["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]})
    );
    let retries: u32 = invoke["MaximumRetryAttempts"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retries <= 2, "Lambda's retries are bounded: {retries}");
}

#[test]
fn the_registration_mapping_reads_the_table_stream_and_reports_failed_records() {
    let template = template();
    let mapping = &template["Resources"]["RegistrationEvents"];
    assert_eq!(mapping["Type"], "AWS::Lambda::EventSourceMapping");
    let props = &mapping["Properties"];
    assert_eq!(
        props["EventSourceArn"],
        json!({"Fn::GetAtt": ["InstanceTable", "StreamArn"]})
    );
    assert_eq!(
        props["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        props["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]})
    );
    assert_eq!(
        props["FilterCriteria"]["Filters"].as_array().map(Vec::len),
        Some(3),
        "insert, change from another state, change from no state"
    );
}
