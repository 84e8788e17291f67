//! `template.yaml` mirrors the crate: the table definition, the sweep rule name, the binary and
//! the handler's environment. (`cfn-lint template.yaml`, run by `scripts/test.sh`, checks it
//! against CloudFormation itself.)

use asg_lifecycle::handler::HandlerConfig;
use asg_lifecycle_aws::table::{ACTIVE_INDEX, cloudformation_resource};
use asg_lifecycle_lambda::{ENV_GROUP_NAMES, ENV_SWEEP_RULE, ENV_TABLE_NAME};
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
