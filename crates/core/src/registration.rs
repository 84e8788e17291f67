//! An instance's own registration: the one item the instance may write.
//!
//! The instance profile allows `dynamodb:UpdateItem` only on the item whose key is the calling
//! instance's ARN (`dynamodb:LeadingKeys` = `${ec2:SourceInstanceARN}`), only with the attributes
//! of an allow-list, and without `ReturnValues` (template resource `InstanceRegistrationPolicy`).
//! The handler's record of the instance (keyed by the bare instance id) is written by the handler
//! alone: it copies what it accepts from the registration — a pending or initial state and the
//! instance's own attributes, never a handler-owned one — and trusts nothing else an instance
//! wrote.

use serde_json::{Map, Value};

use crate::record::attr;

/// What an instance registered about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registration {
    /// `ItemStatus` as the instance wrote it (`None`: absent or not a string).
    pub status: Option<String>,
    /// The instance's own attributes (`InstanceIp`, `ClusterName`, ...): neither the key, nor
    /// `ItemStatus`, nor any handler-owned name.
    pub attributes: Map<String, Value>,
}

impl Registration {
    /// From the attributes of a registration item (plain JSON values): the key, `ItemStatus` and
    /// handler-owned names are not attributes of the instance.
    #[must_use]
    pub fn from_item(item: &Map<String, Value>) -> Self {
        let status = item
            .get(attr::ITEM_STATUS)
            .and_then(Value::as_str)
            .map(str::to_string);
        let attributes = item
            .iter()
            .filter(|(name, _)| is_instance_attribute(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Self { status, attributes }
    }
}

/// True for a name an instance may register: not the key, not `ItemStatus`, not handler-owned.
#[must_use]
pub fn is_instance_attribute(name: &str) -> bool {
    name != attr::IDENT && name != attr::ITEM_STATUS && !attr::HANDLER_OWNED.contains(&name)
}

/// The instance id of a registration key: an EC2 instance ARN
/// (`arn:PARTITION:ec2:REGION:ACCOUNT:instance/i-...`), as `${ec2:SourceInstanceARN}` gives it.
#[must_use]
pub fn instance_of_key(key: &str) -> Option<&str> {
    let mut parts = key.splitn(6, ':');
    let (arn, _partition, service, _region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let id = resource.strip_prefix("instance/")?;
    let valid = arn == "arn"
        && service == "ec2"
        && id.starts_with("i-")
        && id.len() > 2
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then_some(id)
}

/// The registration key of `instance` under `prefix` (`arn:aws:ec2:REGION:ACCOUNT:instance/`).
#[must_use]
pub fn key_of(prefix: &str, instance: &str) -> String {
    format!("{prefix}{instance}")
}

/// The key prefix of the instances of an account in a region (`arn:PARTITION:ec2:REGION:ACCOUNT:instance/`).
#[must_use]
pub fn key_prefix(region: &str, account: &str) -> String {
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    format!("arn:{partition}:ec2:{region}:{account}:instance/")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_registration_key_names_one_instance() {
        assert_eq!(
            instance_of_key("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc12"),
            Some("i-0abc12")
        );
        assert_eq!(
            instance_of_key("arn:aws-cn:ec2:cn-north-1:123456789012:instance/i-1"),
            Some("i-1")
        );
        for bad in [
            "i-0abc",
            "arn:aws:ec2:us-east-1:123456789012:volume/vol-1",
            "arn:aws:s3:us-east-1:123456789012:instance/i-0abc",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc/extra",
            "arn:aws:ec2:us-east-1:123456789012:instance/x-0abc",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-0a:b",
        ] {
            assert_eq!(instance_of_key(bad), None, "{bad}");
        }
        let prefix = key_prefix("cn-north-1", "1");
        assert_eq!(
            instance_of_key(&key_of(&prefix, "i-0f")),
            Some("i-0f"),
            "{prefix}"
        );
    }

    #[test]
    fn only_the_instances_own_attributes_are_taken_from_a_registration() {
        let item = json!({"Ident": "arn:aws:ec2:r:1:instance/i-1", "ItemStatus": "finished_cloud_init",
            "InstanceIp": "10.0.0.1", "Role": "web", "LifecycleAction": {"Token": "t"},
            "ActiveGroup": "g", "Version": 9});
        let registration = Registration::from_item(item.as_object().unwrap());
        assert_eq!(registration.status.as_deref(), Some("finished_cloud_init"));
        assert_eq!(
            Value::Object(registration.attributes),
            json!({"InstanceIp": "10.0.0.1", "Role": "web"})
        );
    }
}
