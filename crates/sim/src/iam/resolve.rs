//! The template's intrinsic functions, resolved for a [`Deployment`].

use marked_yaml::Node;
use serde_json::Value;

use super::{Condition, Deployment, OPERATORS, TEMPLATE};

/// The template as JSON, every scalar a string; parsed once (the simulator reads it at every
/// poison payload's check).
///
/// # Panics
/// When the embedded template is not plain YAML (a build of the simulator checks it).
#[must_use]
pub fn template_json() -> &'static Value {
    static PARSED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        let root = marked_yaml::parse_yaml(0, TEMPLATE).expect("template.yaml is plain YAML");
        to_json(&root)
    })
}

/// Every scalar as a string: YAML leaves types to the reader.
pub(super) fn to_json(node: &Node) -> Value {
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

pub(super) struct Resolver<'a> {
    pub(super) template: &'a Value,
    pub(super) deployment: &'a Deployment,
}

impl Resolver<'_> {
    /// A string or a list of strings, intrinsics resolved.
    pub(super) fn strings(&self, value: &Value) -> Result<Vec<String>, String> {
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

    pub(super) fn conditions(&self, value: &Value) -> Result<Vec<Condition>, String> {
        let Some(operators) = value.as_object() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (operator, keys) in operators {
            if !OPERATORS.contains(&operator.as_str()) {
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
