//! `scripts/cloud-init/register.sh`, run with a fake `curl` (IMDS) and a fake `aws` that records
//! its arguments: the JSON it builds holds every value exactly (every control character
//! escaped), and the update it asks for names each attribute once.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use crate::repo_root;

/// IMDS as the fake `curl` answers it.
const FAKE_CURL: &str = r#"#!/usr/bin/env bash
url=
for arg in "$@"; do case "$arg" in */latest/*) url=$arg ;; esac; done
echo "$url" >> "$FAKE_DIR/curl.log"
case "$url" in
    */latest/api/token) echo token ;;
    */meta-data/instance-id) printf i-0abc ;;
    */meta-data/placement/region) printf us-east-1 ;;
    */meta-data/local-ipv4) printf 10.0.0.5 ;;
    */dynamic/instance-identity/document) printf '{\n  "accountId" : "123456789012",\n  "instanceId" : "i-0abc",\n  "region" : "%s"\n}\n' "${FAKE_HOME_REGION:-us-east-1}" ;;
    *) exit 22 ;;
esac
"#;

/// `aws` that records its arguments, each followed by a NUL.
const FAKE_AWS: &str = r#"#!/usr/bin/env bash
for arg in "$@"; do printf '%s\0' "$arg"; done > "$FAKE_DIR/aws.args"
"#;

struct Run {
    output: Output,
    /// The `aws` arguments, when it was called.
    args: Vec<String>,
    /// The IMDS paths read.
    imds: String,
}

fn install(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let status = Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    assert!(status.success());
}

/// The directory of the fake commands, written once: a file written while another test forks
/// could not be run ("text file busy").
fn fakes() -> &'static Path {
    static FAKES: OnceLock<tempfile::TempDir> = OnceLock::new();
    FAKES
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            install(dir.path(), "curl", FAKE_CURL);
            install(dir.path(), "aws", FAKE_AWS);
            dir
        })
        .path()
}

fn register(args: &[&str]) -> Run {
    register_in(args, "us-east-1")
}

/// A run on an instance of `home` region.
fn register_in(args: &[&str], home: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        fakes().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/cloud-init/register.sh"))
        .args(args)
        .env("PATH", path)
        .env("FAKE_DIR", dir.path())
        .env("ASG_LIFECYCLE_TABLE", "asg-lifecycle")
        .env("IMDS_ENDPOINT", "http://imds.test")
        .env("FAKE_HOME_REGION", home)
        .env_remove("AWS_REGION")
        .output()
        .unwrap();
    let args = std::fs::read(dir.path().join("aws.args"))
        .map(|bytes| {
            String::from_utf8(bytes)
                .unwrap()
                .split_terminator('\0')
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let imds = std::fs::read_to_string(dir.path().join("curl.log")).unwrap_or_default();
    Run { output, args, imds }
}

impl Run {
    fn option(&self, name: &str) -> &str {
        let at = self.args.iter().position(|a| a == name);
        at.and_then(|i| self.args.get(i + 1))
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.args))
    }

    fn json(&self, name: &str) -> serde_json::Map<String, Value> {
        let text = self.option(name);
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} is not JSON ({e}): {text}"))
    }

    /// The attributes the update sets, by name, with their string values; panics when one is
    /// set twice.
    fn attributes_set(&self) -> BTreeMap<String, String> {
        let names = self.json("--expression-attribute-names");
        let values = self.json("--expression-attribute-values");
        let update = self.option("--update-expression");
        let assignments = update.strip_prefix("SET ").expect("a SET update");
        let mut set = BTreeMap::new();
        for assignment in top_level(assignments) {
            let (path, value) = assignment.split_once(" = ").unwrap();
            let name = names[path].as_str().unwrap().to_string();
            let placeholder = value
                .trim_start_matches("if_not_exists(")
                .trim_end_matches(')')
                .rsplit(", ")
                .next()
                .unwrap();
            let value = values[placeholder]["S"].as_str().unwrap().to_string();
            assert!(
                set.insert(name.clone(), value).is_none(),
                "{name} is set twice: {update}"
            );
        }
        set
    }
}

/// The comma-separated parts of `text` outside parentheses.
fn top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts
}

#[test]
fn a_value_with_every_control_character_reaches_the_table_unchanged() {
    let controls: String = (1u8..=0x1f).map(char::from).collect();
    let value = format!("{controls} \"quoted\" back\\slash \\u0041 é ✓ $HOME `id` & end");
    let attr = format!("Note={value}");
    let run = register(&["new", "--attr", &attr]);
    assert!(run.output.status.success(), "{:?}", run.output);
    let set = run.attributes_set();
    assert_eq!(set["Note"], value);
    assert_eq!(set["ItemStatus"], "new");
    assert_eq!(set["InstanceIp"], "10.0.0.5");
    let text = run.option("--expression-attribute-values");
    assert!(
        !text.chars().any(|c| c.is_control()),
        "no raw control character in the JSON: {text:?}"
    );
}

#[test]
fn an_explicit_instance_ip_replaces_the_imds_address_and_is_set_once() {
    let run = register(&["new", "--attr", "InstanceIp=192.0.2.7", "--attr", "Role=db"]);
    assert!(run.output.status.success(), "{:?}", run.output);
    let set = run.attributes_set();
    assert_eq!(set["InstanceIp"], "192.0.2.7");
    assert_eq!(set["Role"], "db");
    assert!(
        !run.imds.contains("local-ipv4"),
        "IMDS's address is not read: {}",
        run.imds
    );
    let run = register(&["new"]);
    assert_eq!(run.attributes_set()["InstanceIp"], "10.0.0.5");
}

#[test]
fn an_attribute_given_twice_or_owned_by_the_handler_is_refused_before_any_write() {
    for (args, message) in [
        (
            ["new", "--attr", "Role=a", "--attr", "Role=b"],
            "attribute Role is given twice with --attr",
        ),
        (
            [
                "new",
                "--attr",
                "InstanceIp=1.2.3.4",
                "--attr",
                "InstanceIp=5.6.7.8",
            ],
            "attribute InstanceIp is given twice with --attr",
        ),
        (
            ["finished", "--attr", "Version=9", "--attr", "x=y"],
            "attribute Version belongs to the handler",
        ),
    ] {
        let run = register(&args);
        assert_eq!(run.output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&run.output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(run.args.is_empty(), "nothing was written: {:?}", run.args);
    }
}

#[test]
fn finished_sets_the_initial_state_and_extra_attributes_once_each() {
    let run = register(&["finished", "--attr", "InstanceIp=192.0.2.8"]);
    assert!(run.output.status.success(), "{:?}", run.output);
    let set = run.attributes_set();
    assert_eq!(set["ItemStatus"], "finished_cloud_init");
    assert_eq!(set["InstanceIp"], "192.0.2.8");
}

#[test]
fn the_item_written_is_keyed_by_the_instances_own_arn() {
    use asg_lifecycle::registration::{instance_of_key, key_of, key_prefix};
    for (home, partition) in [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
    ] {
        let run = register_in(&["new"], home);
        assert!(run.output.status.success(), "{:?}", run.output);
        let key: Value = serde_json::from_str(run.option("--key")).unwrap();
        let key = key["Ident"]["S"].as_str().unwrap().to_string();
        assert_eq!(
            key,
            format!("arn:{partition}:ec2:{home}:123456789012:instance/i-0abc")
        );
        // The same key the handler computes from the template's prefix.
        assert_eq!(key, key_of(&key_prefix(home, "123456789012"), "i-0abc"));
        assert_eq!(instance_of_key(&key), Some("i-0abc"));
        assert!(
            run.imds.contains("instance-identity/document"),
            "{}",
            run.imds
        );
    }
}
