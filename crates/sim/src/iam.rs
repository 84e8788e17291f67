//! The function role of `template.yaml`, evaluated: the simulated services answer `AccessDenied`
//! to every call the deployed function's role does not allow.
//!
//! The role's inline policy is read from the template itself (the one `sam deploy` deploys) and
//! its intrinsic functions resolved for a [`Deployment`] (stack, region, account, group names,
//! allowed documents). Evaluation follows IAM for the subset the template uses: `Allow`
//! statements only (no explicit deny), `Action` and `Resource` with `*`/`?` wildcards (actions
//! case-insensitive), and `StringEquals`/`ArnEquals` conditions on request context keys. A call
//! on several resources (SSM `SendCommand`: the document and the instance) needs every resource
//! allowed.
//!
//! # Assumptions
//! Only the intrinsic functions the template uses are resolved (`Ref`, `Fn::GetAtt` of an `Arn`,
//! `Fn::Sub`, `Fn::Join`, `Fn::Split`); anything else is an error at load, so a template change
//! the simulator cannot follow fails loudly instead of granting or denying by accident.

use std::collections::BTreeMap;

use marked_yaml::Node;
use serde_json::Value;

/// The template the simulator and the deployment share.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The logical id of the function's role in the template.
const ROLE: &str = "LifecycleRole";

/// Where the stack is deployed: the values the template's parameters and pseudo parameters take.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// `AWS::StackName`.
    pub stack: String,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account: String,
    /// The `GroupNames` parameter.
    pub groups: Vec<String>,
    /// The `AllowedDocuments` parameter.
    pub documents: Vec<String>,
    /// The physical name of the table.
    pub table: String,
}

impl Deployment {
    /// A stack `asg-lifecycle` in `us-east-1` of account `123456789012` managing `groups`, with
    /// the template's default documents.
    #[must_use]
    pub fn for_groups(groups: &[&str]) -> Self {
        Self {
            stack: "asg-lifecycle".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            groups: groups.iter().map(|g| (*g).to_string()).collect(),
            documents: vec!["AWS-RunShellScript".into()],
            table: "asg-lifecycle-InstanceTable-SIM".into(),
        }
    }

    /// The ARN of the table.
    #[must_use]
    pub fn table_arn(&self) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{}",
            self.region, self.account, self.table
        )
    }

    /// The ARN of an Auto Scaling group.
    #[must_use]
    pub fn group_arn(&self, group: &str) -> String {
        format!(
            "arn:aws:autoscaling:{}:{}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/{group}",
            self.region, self.account
        )
    }

    /// The ARN of an SSM document (AWS-owned documents have no account).
    #[must_use]
    pub fn document_arn(&self, document: &str) -> String {
        let account = if document.starts_with("AWS-") {
            ""
        } else {
            self.account.as_str()
        };
        format!("arn:aws:ssm:{}:{account}:document/{document}", self.region)
    }

    /// The ARN of a queue of the stack (its logical id in the template).
    #[must_use]
    pub fn queue_arn(&self, logical_id: &str) -> String {
        format!(
            "arn:aws:sqs:{}:{}:{}-{logical_id}-SIM",
            self.region, self.account, self.stack
        )
    }

    /// The ARN of an EC2 instance.
    #[must_use]
    pub fn instance_arn(&self, instance: &str) -> String {
        format!(
            "arn:aws:ec2:{}:{}:instance/{instance}",
            self.region, self.account
        )
    }
}

/// One resource of a request, with the condition keys that describe it.
#[derive(Clone, Debug)]
pub struct Resource {
    /// The ARN (`*` for actions without resource-level permissions).
    pub arn: String,
    /// Condition keys of this resource (e.g. `ssm:resourceTag/aws:autoscaling:groupName`).
    pub keys: BTreeMap<String, String>,
}

impl Resource {
    /// A resource without condition keys of its own.
    #[must_use]
    pub fn arn(arn: impl Into<String>) -> Self {
        Self {
            arn: arn.into(),
            keys: BTreeMap::new(),
        }
    }

    /// With a condition key.
    #[must_use]
    pub fn with_key(mut self, key: &str, value: &str) -> Self {
        self.keys.insert(key.to_string(), value.to_string());
        self
    }
}

/// A call to authorize: `service:Operation` on resources, in a region.
#[derive(Clone, Debug)]
pub struct Request {
    /// `dynamodb:GetItem`, `ssm:SendCommand`, ...
    pub action: String,
    /// What the call touches; every one must be allowed.
    pub resources: Vec<Resource>,
    /// `aws:RequestedRegion`.
    pub region: String,
}

#[derive(Clone, Debug)]
struct Condition {
    operator: String,
    key: String,
    values: Vec<String>,
}

#[derive(Clone, Debug)]
struct Statement {
    sid: String,
    actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

/// The function role's permissions.
#[derive(Clone, Debug)]
pub struct Policy {
    statements: Vec<Statement>,
}

impl Policy {
    /// The role of [`TEMPLATE`] for `deployment`.
    ///
    /// # Errors
    /// When the template cannot be read or uses a construct this evaluator does not know.
    pub fn from_template(deployment: &Deployment) -> Result<Self, String> {
        Self::parse(TEMPLATE, deployment)
    }

    /// The role `LifecycleRole` of a template's text.
    ///
    /// # Errors
    /// When the template cannot be read or uses a construct this evaluator does not know.
    pub fn parse(text: &str, deployment: &Deployment) -> Result<Self, String> {
        let root = marked_yaml::parse_yaml(0, text).map_err(|e| format!("template.yaml: {e}"))?;
        let template = to_json(&root);
        let resolver = Resolver {
            template: &template,
            deployment,
        };
        let policies = &template["Resources"][ROLE]["Properties"]["Policies"];
        let mut statements = Vec::new();
        for policy in policies.as_array().ok_or("the role has no Policies")? {
            let list = policy["PolicyDocument"]["Statement"]
                .as_array()
                .ok_or("a role policy has no Statement list")?;
            for (index, statement) in list.iter().enumerate() {
                if statement["Effect"] != "Allow" {
                    return Err(format!(
                        "statement {index} is not an Allow: the evaluator knows no Deny"
                    ));
                }
                statements.push(Statement {
                    sid: statement["Sid"].as_str().unwrap_or("").to_string(),
                    actions: resolver.strings(&statement["Action"])?,
                    resources: resolver.strings(&statement["Resource"])?,
                    conditions: resolver.conditions(&statement["Condition"])?,
                });
            }
        }
        Ok(Self { statements })
    }

    /// Whether the role allows the request: every resource by some statement.
    #[must_use]
    pub fn allows(&self, request: &Request) -> bool {
        request.resources.iter().all(|resource| {
            self.statements
                .iter()
                .any(|s| s.allows(&request.action, resource, &request.region))
        })
    }

    /// The statement ids, for messages.
    pub fn sids(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().map(|s| s.sid.as_str())
    }

    /// Every action some statement names (patterns as written).
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.statements
            .iter()
            .flat_map(|s| s.actions.iter().map(String::as_str))
    }
}

impl Statement {
    fn allows(&self, action: &str, resource: &Resource, region: &str) -> bool {
        let action_matches = self
            .actions
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()));
        let resource_matches = self.resources.iter().any(|r| glob(r, &resource.arn));
        action_matches
            && resource_matches
            && self.conditions.iter().all(|c| {
                let value = if c.key == "aws:RequestedRegion" {
                    Some(region)
                } else {
                    resource.keys.get(&c.key).map(String::as_str)
                };
                // A key absent from the request fails a StringEquals/ArnEquals condition.
                value.is_some_and(|v| match c.operator.as_str() {
                    "ArnEquals" | "ArnLike" => c.values.iter().any(|p| glob(p, v)),
                    _ => c.values.iter().any(|p| p == v),
                })
            })
    }
}

/// IAM wildcard matching: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The template as JSON, every scalar a string.
///
/// # Panics
/// When the embedded template is not plain YAML (a build of the simulator checks it).
#[must_use]
pub fn template_json() -> Value {
    let root = marked_yaml::parse_yaml(0, TEMPLATE).expect("template.yaml is plain YAML");
    to_json(&root)
}

/// Every scalar as a string: YAML leaves types to the reader.
fn to_json(node: &Node) -> Value {
    match node {
        Node::Scalar(s) => Value::String(s.as_str().to_string()),
        Node::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Node::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

struct Resolver<'a> {
    template: &'a Value,
    deployment: &'a Deployment,
}

impl Resolver<'_> {
    /// A string or a list of strings, intrinsics resolved.
    fn strings(&self, value: &Value) -> Result<Vec<String>, String> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.strings(item)?);
                }
                Ok(out)
            }
            Value::Object(_) => self.intrinsic(value),
            other => Err(format!("unexpected value {other}")),
        }
    }

    fn one(&self, value: &Value) -> Result<String, String> {
        let mut all = self.strings(value)?;
        if all.len() == 1 {
            Ok(all.remove(0))
        } else {
            Err(format!("expected one string, got {all:?} from {value}"))
        }
    }

    fn conditions(&self, value: &Value) -> Result<Vec<Condition>, String> {
        let Some(operators) = value.as_object() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (operator, keys) in operators {
            if !matches!(operator.as_str(), "StringEquals" | "ArnEquals" | "ArnLike") {
                return Err(format!("condition operator {operator} is not evaluated"));
            }
            for (key, values) in keys.as_object().ok_or("a condition without keys")? {
                out.push(Condition {
                    operator: operator.clone(),
                    key: key.clone(),
                    values: self.strings(values)?,
                });
            }
        }
        Ok(out)
    }

    fn intrinsic(&self, value: &Value) -> Result<Vec<String>, String> {
        let map = value.as_object().ok_or("not an intrinsic")?;
        let (name, argument) = map
            .iter()
            .next()
            .filter(|_| map.len() == 1)
            .ok_or_else(|| format!("not an intrinsic function: {value}"))?;
        match name.as_str() {
            "Ref" => self.reference(argument.as_str().ok_or("Ref of a non-string")?),
            "Fn::GetAtt" => {
                let parts = self.strings(argument)?;
                match parts.as_slice() {
                    [resource, attribute] if attribute == "Arn" => Ok(vec![self.arn_of(resource)?]),
                    [resource, attribute] => Ok(vec![format!("{resource}.{attribute}")]),
                    _ => Err(format!("Fn::GetAtt of {argument}")),
                }
            }
            "Fn::Sub" => {
                Ok(vec![self.substitute(
                    argument.as_str().ok_or("Fn::Sub of a non-string")?,
                )?])
            }
            "Fn::Join" => {
                let args = argument.as_array().ok_or("Fn::Join of a non-list")?;
                let [delimiter, list] = args.as_slice() else {
                    return Err("Fn::Join takes [delimiter, list]".into());
                };
                Ok(vec![self.strings(list)?.join(&self.one(delimiter)?)])
            }
            "Fn::Split" => {
                let args = argument.as_array().ok_or("Fn::Split of a non-list")?;
                let [delimiter, text] = args.as_slice() else {
                    return Err("Fn::Split takes [delimiter, string]".into());
                };
                let delimiter = self.one(delimiter)?;
                Ok(self
                    .one(text)?
                    .split(delimiter.as_str())
                    .map(str::to_string)
                    .collect())
            }
            other => Err(format!("intrinsic {other} is not evaluated")),
        }
    }

    fn reference(&self, name: &str) -> Result<Vec<String>, String> {
        let d = self.deployment;
        Ok(match name {
            "AWS::Region" => vec![d.region.clone()],
            "AWS::AccountId" => vec![d.account.clone()],
            "AWS::Partition" => vec!["aws".into()],
            "AWS::StackName" => vec![d.stack.clone()],
            "GroupNames" => d.groups.clone(),
            "AllowedDocuments" => d.documents.clone(),
            "InstanceTable" => vec![d.table.clone()],
            other => {
                let parameter = &self.template["Parameters"][other];
                match parameter["Default"].as_str() {
                    Some(default) => vec![default.to_string()],
                    None => return Err(format!("Ref {other} has no value in the simulation")),
                }
            }
        })
    }

    fn arn_of(&self, resource: &str) -> Result<String, String> {
        let d = self.deployment;
        let kind = self.template["Resources"][resource]["Type"]
            .as_str()
            .ok_or_else(|| format!("no resource {resource}"))?;
        Ok(match kind {
            "AWS::DynamoDB::Table" => d.table_arn(),
            "AWS::SQS::Queue" => d.queue_arn(resource),
            "AWS::Logs::LogGroup" => format!(
                "arn:aws:logs:{}:{}:log-group:/aws/lambda/{}-lifecycle-handler:*",
                d.region, d.account, d.stack
            ),
            "AWS::Events::Rule" => format!(
                "arn:aws:events:{}:{}:rule/{}-{resource}",
                d.region, d.account, d.stack
            ),
            other => format!(
                "arn:aws:unknown:{}:{}:{other}/{resource}",
                d.region, d.account
            ),
        })
    }

    fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text}"))?;
            let name = &after[..end];
            let value = match name.split_once('.') {
                Some((resource, "Arn")) => self.arn_of(resource)?,
                _ => {
                    let values = self.reference(name)?;
                    values.join(",")
                }
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> (Policy, Deployment) {
        let deployment = Deployment::for_groups(&["web", "api"]);
        (Policy::from_template(&deployment).unwrap(), deployment)
    }

    fn request(action: &str, resources: Vec<Resource>) -> Request {
        Request {
            action: action.into(),
            resources,
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(glob(
            "arn:*:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/web",
            "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:u-u:autoScalingGroupName/web"
        ));
        assert!(!glob(
            "arn:*:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/web",
            "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:u:autoScalingGroupName/web2"
        ));
        assert!(glob("*", "anything"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
    }

    #[test]
    fn the_role_reads_and_writes_the_table_but_never_scans_or_puts() {
        let (policy, d) = policy();
        for action in ["dynamodb:GetItem", "dynamodb:UpdateItem"] {
            assert!(policy.allows(&request(action, vec![Resource::arn(d.table_arn())])));
        }
        let index = format!("{}/index/active-index", d.table_arn());
        assert!(policy.allows(&request("dynamodb:Query", vec![Resource::arn(index)])));
        for action in ["dynamodb:Scan", "dynamodb:PutItem", "dynamodb:DeleteItem"] {
            assert!(!policy.allows(&request(action, vec![Resource::arn(d.table_arn())])));
        }
        let other = d.table_arn().replace("SIM", "OTHER");
        assert!(!policy.allows(&request("dynamodb:GetItem", vec![Resource::arn(other)])));
    }

    #[test]
    fn lifecycle_calls_are_limited_to_the_managed_groups_and_region() {
        let (policy, d) = policy();
        let on = |group: &str| vec![Resource::arn(d.group_arn(group))];
        assert!(policy.allows(&request("autoscaling:CompleteLifecycleAction", on("web"))));
        assert!(policy.allows(&request(
            "autoscaling:RecordLifecycleActionHeartbeat",
            on("api")
        )));
        assert!(!policy.allows(&request("autoscaling:CompleteLifecycleAction", on("other"))));
        let mut elsewhere = request("autoscaling:CompleteLifecycleAction", on("web"));
        elsewhere.region = "eu-west-1".into();
        assert!(!policy.allows(&elsewhere));
    }

    #[test]
    fn send_command_needs_an_allowed_document_and_an_instance_of_a_group() {
        let (policy, d) = policy();
        let instance = |group: &str| {
            Resource::arn(d.instance_arn("i-1"))
                .with_key("ssm:resourceTag/aws:autoscaling:groupName", group)
        };
        let doc = Resource::arn(d.document_arn("AWS-RunShellScript"));
        assert!(policy.allows(&request(
            "ssm:SendCommand",
            vec![doc.clone(), instance("web")]
        )));
        assert!(!policy.allows(&request("ssm:SendCommand", vec![doc, instance("other")])));
        let foreign = Resource::arn(d.document_arn("Evil-Document"));
        assert!(!policy.allows(&request("ssm:SendCommand", vec![foreign, instance("web")])));
    }

    #[test]
    fn an_unknown_intrinsic_fails_the_load_rather_than_granting_anything() {
        let text = TEMPLATE.replace("Fn::Split:", "Fn::Select:");
        let err = Policy::parse(&text, &Deployment::for_groups(&["web"])).unwrap_err();
        assert!(err.contains("Fn::Select"), "{err}");
    }
}
