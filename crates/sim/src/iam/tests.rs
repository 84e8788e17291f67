//! The function role of the template, evaluated.

use super::*;

fn policy() -> (Policy, Deployment) {
    let deployment = Deployment::for_groups(&["web", "api"]);
    (Policy::from_template(&deployment).unwrap(), deployment)
}

fn request(action: &str, resources: Vec<Resource>) -> Request {
    Request::new(action, resources, "us-east-1")
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
