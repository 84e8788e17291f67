//! The instance registration policy of the template, evaluated on concrete requests: an
//! instance writes its own registration and nothing else.

use super::*;

const OWN: &str = "i-0aaa";
const OTHER: &str = "i-0bbb";

fn policy() -> (Policy, Deployment) {
    let deployment = Deployment::for_groups(&["web"]);
    (
        Policy::instance_from_template(&deployment).unwrap(),
        deployment,
    )
}

/// `OWN`'s update of the item `key`.
fn update(d: &Deployment, key: &str, attributes: &[&str], return_values: Option<&str>) -> Request {
    instance_update(d, OWN, key, attributes, return_values)
}

#[test]
fn an_instance_writes_its_own_registration() {
    let (policy, d) = policy();
    let own = d.instance_arn(OWN);
    for attributes in [
        &["Ident", "ItemStatus", "InstanceIp"][..],
        &["Ident", "ItemStatus"],
        &["Ident", "ItemStatus", "InstanceIp", "ClusterName", "Role"],
    ] {
        assert!(
            policy.allows(&update(&d, &own, attributes, None)),
            "{attributes:?}"
        );
    }
    assert!(policy.allows(&update(&d, &own, &["Ident", "ItemStatus"], Some("NONE"))));
}

#[test]
fn another_instances_key_and_the_handlers_records_are_denied() {
    let (policy, d) = policy();
    let attributes = &["Ident", "ItemStatus", "InstanceIp"];
    for key in [
        d.instance_arn(OTHER),
        OWN.to_string(),
        OTHER.to_string(),
        format!("{}x", d.instance_arn(OWN)),
        "_sweep_cursor".to_string(),
    ] {
        assert!(!policy.allows(&update(&d, &key, attributes, None)), "{key}");
    }
    // Without an instance profile's credentials there is no caller ARN to match.
    let mut anonymous = update(&d, &d.instance_arn(OWN), attributes, None);
    anonymous.context.remove("ec2:SourceInstanceARN");
    assert!(!policy.allows(&anonymous));
}

#[test]
fn handler_owned_and_unlisted_attributes_are_denied() {
    let (policy, d) = policy();
    let own = d.instance_arn(OWN);
    for attribute in [
        "LifecycleAction",
        "ActiveGroup",
        "Version",
        "InFlight",
        "PendingCommand",
        "History",
        "GroupName",
        "Evil",
    ] {
        assert!(
            !policy.allows(&update(&d, &own, &["Ident", "ItemStatus", attribute], None)),
            "{attribute}"
        );
    }
}

#[test]
fn return_values_other_than_none_are_denied() {
    let (policy, d) = policy();
    let own = d.instance_arn(OWN);
    for return_values in ["ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"] {
        assert!(
            !policy.allows(&update(
                &d,
                &own,
                &["Ident", "ItemStatus"],
                Some(return_values)
            )),
            "{return_values}"
        );
    }
}

#[test]
fn no_read_and_no_other_write_is_allowed() {
    let (policy, d) = policy();
    let own = d.instance_arn(OWN);
    let index = format!("{}/index/active-index", d.table_arn());
    for (action, resource) in [
        ("dynamodb:GetItem", d.table_arn()),
        ("dynamodb:BatchGetItem", d.table_arn()),
        ("dynamodb:Query", d.table_arn()),
        ("dynamodb:Query", index.clone()),
        ("dynamodb:Scan", d.table_arn()),
        ("dynamodb:Scan", index),
        ("dynamodb:PutItem", d.table_arn()),
        ("dynamodb:DeleteItem", d.table_arn()),
        ("dynamodb:BatchWriteItem", d.table_arn()),
    ] {
        let request = Request::new(action, vec![Resource::arn(resource)], &d.region)
            .with("ec2:SourceInstanceARN", &[&own])
            .with("dynamodb:LeadingKeys", &[&own]);
        assert!(!policy.allows(&request), "{action}");
    }
    let other_table = Request::new(
        "dynamodb:UpdateItem",
        vec![Resource::arn(d.table_arn().replace("SIM", "OTHER"))],
        &d.region,
    )
    .with("ec2:SourceInstanceARN", &[&own])
    .with("dynamodb:LeadingKeys", &[&own]);
    assert!(!policy.allows(&other_table));
}
