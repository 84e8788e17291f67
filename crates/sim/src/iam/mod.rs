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

use serde_json::Value;

/// The template the simulator and the deployment share.
pub const TEMPLATE: &str = include_str!("../../../../template.yaml");

/// The logical id of the function's role in the template.
const ROLE: &str = "LifecycleRole";
/// The logical id of the instance profile's registration policy in the template.
const INSTANCE_POLICY: &str = "InstanceRegistrationPolicy";

mod resolve;
pub use resolve::template_json;

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

    /// The ARN of the table. (ARNs are joined, not formatted: they are built for every
    /// authorized request.)
    #[must_use]
    pub fn table_arn(&self) -> String {
        [
            "arn:aws:dynamodb:",
            &self.region,
            ":",
            &self.account,
            ":table/",
            &self.table,
        ]
        .concat()
    }

    /// The ARN of an Auto Scaling group.
    #[must_use]
    pub fn group_arn(&self, group: &str) -> String {
        [
            "arn:aws:autoscaling:",
            &self.region,
            ":",
            &self.account,
            ":autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/",
            group,
        ]
        .concat()
    }

    /// The ARN of an SSM document (AWS-owned documents have no account).
    #[must_use]
    pub fn document_arn(&self, document: &str) -> String {
        let account = if document.starts_with("AWS-") {
            ""
        } else {
            self.account.as_str()
        };
        [
            "arn:aws:ssm:",
            &self.region,
            ":",
            account,
            ":document/",
            document,
        ]
        .concat()
    }

    /// The ARN of a queue of the stack (its logical id in the template).
    #[must_use]
    pub fn queue_arn(&self, logical_id: &str) -> String {
        [
            "arn:aws:sqs:",
            &self.region,
            ":",
            &self.account,
            ":",
            &self.stack,
            "-",
            logical_id,
            "-SIM",
        ]
        .concat()
    }

    /// The ARN of an EC2 instance.
    #[must_use]
    pub fn instance_arn(&self, instance: &str) -> String {
        [
            "arn:aws:ec2:",
            &self.region,
            ":",
            &self.account,
            ":instance/",
            instance,
        ]
        .concat()
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
    /// Request condition keys (several values for multivalued keys such as
    /// `dynamodb:LeadingKeys` and `dynamodb:Attributes`), and the principal's keys that policy
    /// variables read (`ec2:SourceInstanceARN` for an instance profile's credentials).
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    /// A request without condition keys of its own.
    #[must_use]
    pub fn new(action: &str, resources: Vec<Resource>, region: &str) -> Self {
        Self {
            action: action.to_string(),
            resources,
            region: region.to_string(),
            context: BTreeMap::new(),
        }
    }

    /// With a condition key's values.
    #[must_use]
    pub fn with(mut self, key: &str, values: &[&str]) -> Self {
        self.context.insert(
            key.to_string(),
            values.iter().map(|v| (*v).to_string()).collect(),
        );
        self
    }

    /// The values of a key: the request's, else the resource's (one value), else the region's.
    fn values<'a>(&'a self, resource: &'a Resource, key: &str) -> Option<Vec<&'a str>> {
        if key == "aws:RequestedRegion" {
            return Some(vec![self.region.as_str()]);
        }
        if let Some(values) = self.context.get(key) {
            return Some(values.iter().map(String::as_str).collect());
        }
        resource.keys.get(key).map(|v| vec![v.as_str()])
    }

    /// A condition value with its policy variables (`${ec2:SourceInstanceARN}`) filled in from
    /// the request; `None` when a variable has no value (the value then matches nothing).
    fn fill(&self, pattern: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let value = self.context.get(&after[..end])?;
            let [one] = value.as_slice() else {
                return None;
            };
            out.push_str(one);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// The `UpdateItem` an instance makes with its instance profile's credentials: as `caller`, on
/// the item keyed `key`, naming `attributes` (the key attribute among them), asking for
/// `return_values` (`None`: the parameter left out, as `register.sh` does).
#[must_use]
pub fn instance_update(
    deployment: &Deployment,
    caller: &str,
    key: &str,
    attributes: &[&str],
    return_values: Option<&str>,
) -> Request {
    let mut request = Request::new(
        "dynamodb:UpdateItem",
        vec![Resource::arn(deployment.table_arn())],
        &deployment.region,
    )
    .with("ec2:SourceInstanceARN", &[&deployment.instance_arn(caller)])
    .with("dynamodb:LeadingKeys", &[key])
    .with("dynamodb:Attributes", attributes);
    if let Some(return_values) = return_values {
        request = request.with("dynamodb:ReturnValues", &[return_values]);
    }
    request
}

/// The condition operators the evaluator knows.
const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringEqualsIfExists",
    "ForAllValues:StringEquals",
    "ArnEquals",
    "ArnLike",
];

#[derive(Clone, Debug)]
struct Condition {
    operator: String,
    key: String,
    values: Vec<String>,
}

impl Condition {
    /// IAM's evaluation of one condition for `request` on `resource`.
    fn holds(&self, request: &Request, resource: &Resource) -> bool {
        let allowed: Vec<String> = self.values.iter().filter_map(|v| request.fill(v)).collect();
        let equal = |v: &str| allowed.iter().any(|p| p == v);
        let found = request.values(resource, &self.key);
        match self.operator.as_str() {
            // Every value the request has is allowed (none at all: true, as in IAM).
            "ForAllValues:StringEquals" => found.is_none_or(|values| values.into_iter().all(equal)),
            // Absent: true; present: one of the allowed values.
            "StringEqualsIfExists" => found.is_none_or(|values| values.into_iter().any(equal)),
            "ArnEquals" | "ArnLike" => found.is_some_and(|values| {
                values
                    .into_iter()
                    .any(|v| allowed.iter().any(|p| glob(p, v)))
            }),
            // A key absent from the request fails a StringEquals condition.
            _ => found.is_some_and(|values| values.into_iter().any(equal)),
        }
    }
}

#[derive(Clone, Debug)]
struct Statement {
    sid: String,
    actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

/// A set of `Allow` statements: the function role, or the instance registration policy.
#[derive(Clone, Debug)]
pub struct Policy {
    statements: Vec<Statement>,
}

impl Policy {
    /// The function role of [`TEMPLATE`] for `deployment`.
    ///
    /// # Errors
    /// When the template cannot be read or uses a construct this evaluator does not know.
    pub fn from_template(deployment: &Deployment) -> Result<Self, String> {
        Self::parse(TEMPLATE, deployment)
    }

    /// The instance registration policy of [`TEMPLATE`] (`InstanceRegistrationPolicy`): what an
    /// instance profile allows cloud-init.
    ///
    /// # Errors
    /// When the template cannot be read or uses a construct this evaluator does not know.
    pub fn instance_from_template(deployment: &Deployment) -> Result<Self, String> {
        Self::parse_resource(TEMPLATE, deployment, INSTANCE_POLICY)
    }

    /// A policy that allows `dynamodb:UpdateItem` on the whole table of `deployment`, without
    /// conditions: the instance profile the cloud-init guide once asked for (a broken world,
    /// for the adversary invariants to catch).
    #[must_use]
    pub fn update_whole_table(deployment: &Deployment) -> Self {
        Self {
            statements: vec![Statement {
                sid: "UpdateWholeTable".into(),
                actions: vec!["dynamodb:UpdateItem".into()],
                resources: vec![deployment.table_arn()],
                conditions: Vec::new(),
            }],
        }
    }

    /// The role `LifecycleRole` of a template's text.
    ///
    /// # Errors
    /// When the template cannot be read or uses a construct this evaluator does not know.
    pub fn parse(text: &str, deployment: &Deployment) -> Result<Self, String> {
        Self::parse_resource(text, deployment, ROLE)
    }

    /// The policy documents of a template resource: a role's `Policies` or a managed policy's
    /// `PolicyDocument`.
    fn parse_resource(
        text: &str,
        deployment: &Deployment,
        logical_id: &str,
    ) -> Result<Self, String> {
        let root = marked_yaml::parse_yaml(0, text).map_err(|e| format!("template.yaml: {e}"))?;
        let template = resolve::to_json(&root);
        let resolver = resolve::Resolver {
            template: &template,
            deployment,
        };
        let properties = &template["Resources"][logical_id]["Properties"];
        let documents: Vec<&Value> = match properties["Policies"].as_array() {
            Some(policies) => policies.iter().map(|p| &p["PolicyDocument"]).collect(),
            None if properties["PolicyDocument"].is_object() => vec![&properties["PolicyDocument"]],
            None => return Err(format!("{logical_id} has no policy document")),
        };
        let mut statements = Vec::new();
        for document in documents {
            let list = document["Statement"]
                .as_array()
                .ok_or("a policy document has no Statement list")?;
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

    /// Whether the policy allows the request: every resource by some statement.
    #[must_use]
    pub fn allows(&self, request: &Request) -> bool {
        request
            .resources
            .iter()
            .all(|resource| self.statements.iter().any(|s| s.allows(request, resource)))
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
    fn allows(&self, request: &Request, resource: &Resource) -> bool {
        // Actions match without regard to ASCII case, resources exactly.
        self.actions
            .iter()
            .any(|a| glob_case(a, &request.action, true))
            && self.resources.iter().any(|r| glob(r, &resource.arn))
            && self.conditions.iter().all(|c| c.holds(request, resource))
    }
}

/// IAM wildcard matching: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    glob_case(pattern, text, false)
}

/// [`glob`], ignoring ASCII case when `fold`. ARNs and actions are ASCII: they are matched byte
/// by byte; other text character by character.
fn glob_case(pattern: &str, text: &str, fold: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        let same = |a: &u8, b: &u8| {
            if fold {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        return wildcard(pattern.as_bytes(), text.as_bytes(), same);
    }
    let lower = |s: &str| {
        if fold {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let (p, t): (Vec<char>, Vec<char>) = (
        lower(pattern).chars().collect(),
        lower(text).chars().collect(),
    );
    wildcard(&p, &t, |a, b| a == b)
}

/// The wildcard match of `p` (where `*` and `?` are wildcards) over `t`.
fn wildcard<T: Copy + PartialEq + From<u8>>(
    p: &[T],
    t: &[T],
    same: impl Fn(&T, &T) -> bool,
) -> bool {
    let (any, one) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || same(&p[pi], &t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any {
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
    p[pi..].iter().all(|c| *c == any)
}

#[cfg(test)]
mod instance_tests;
#[cfg(test)]
mod tests;
