//! A Rust model whose condition asks ELBv2: a leaving node is drained from its cluster, then
//! waits until its load balancer no longer routes to it (`DescribeTargetHealth`) before its
//! lifecycle hook is completed.
//!
//! The condition is an [`AsyncCondition`]: the handler awaits it before each decision, with the
//! ELBv2 client the Lambda builds once from the shared SDK configuration
//! ([`asg_lifecycle_lambda::run_with_extensions`]). Run it as a Lambda with this `main`
//! (`cargo lambda build --release --arm64 --example target_health_model`, or a binary of your own
//! crate with the same `main`).

use std::sync::Arc;

use asg_lifecycle::aws::Extensions;
use asg_lifecycle::machine::{FileModel, Model, ModelSpec};
use asg_lifecycle::tasks::{AsyncCondition, AsyncConditionContext};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthStateEnum};
use serde_json::Value;

/// The model: `ready` instances leave once terminating and deregistered from `tg` (a waiting
/// step re-checked by the sweep, whose scheduled event re-evaluates the condition).
pub const MODEL: &str = r"
initial: ready
failure: failure
terminal: [gone, abandoned]
stable: [ready]
states: [ready, deregistering, gone, failure, abandoned]
transitions:
  - source: ready
    dest: deregistering
    triggers: [{name: start_leaving, conditions: [is_terminating]}]
  - source: deregistering
    dest: gone
    triggers:
      - name: leave
        conditions: [{target_deregistered: {target_group: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef'}}]
        before: [{complete_lifecycle_action: {result: CONTINUE}}]
  - source: failure
    dest: abandoned
    triggers: [{name: abandon, before: [{complete_lifecycle_action: {result: ABANDON}}]}]
";

/// `target_deregistered: {target_group: ARN}`: true when the load balancer no longer routes to
/// the instance (its target is `unused`, or not listed at all); `draining` and every routed state
/// are false.
pub struct TargetDeregistered;

#[async_trait]
impl AsyncCondition for TargetDeregistered {
    async fn evaluate(&self, ctx: AsyncConditionContext<'_>, args: &Value) -> Result<bool, String> {
        let elb = ctx
            .aws
            .extensions
            .get::<aws_sdk_elasticloadbalancingv2::Client>()
            .ok_or("the function was started without an ELBv2 client (run_with_extensions)")?;
        let group = args["target_group"]
            .as_str()
            .ok_or("target_group is missing")?;
        let target = TargetDescription::builder().id(&ctx.record.ident).build();
        let answer = elb
            .describe_target_health()
            .target_group_arn(group)
            .targets(target)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DescribeTargetHealth: {}",
                    aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext(&e)
                )
            })?;
        let routed = answer.target_health_descriptions().iter().any(|d| {
            d.target().and_then(|t| t.id()) == Some(ctx.record.ident.as_str())
                && d.target_health()
                    .and_then(|h| h.state())
                    .is_some_and(|state| *state != TargetHealthStateEnum::Unused)
        });
        Ok(!routed)
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        match args["target_group"].as_str() {
            Some(arn) if arn.starts_with("arn:") => Ok(()),
            _ => Err("target_group must be a target group ARN".into()),
        }
    }
}

/// The model with its condition.
pub struct DrainingNode(pub FileModel);

impl DrainingNode {
    /// The model of [`MODEL`].
    ///
    /// # Panics
    /// Never: the embedded model is valid (tested).
    #[must_use]
    pub fn new() -> Self {
        Self(FileModel::parse("target_health_model.yaml", MODEL).expect("a valid model"))
    }
}

impl Default for DrainingNode {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for DrainingNode {
    fn transitions(&self) -> ModelSpec {
        self.0.transitions()
    }

    fn async_conditions(&self) -> Vec<(String, Arc<dyn AsyncCondition>)> {
        vec![("target_deregistered".into(), Arc::new(TargetDeregistered))]
    }
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> Result<(), asg_lifecycle_lambda::Error> {
    asg_lifecycle_lambda::run_with_extensions(&DrainingNode::new(), |sdk| {
        Extensions::default().with(aws_sdk_elasticloadbalancingv2::Client::new(sdk))
    })
    .await
}
