//! SDK-backed operations: SSM `GetCommandInvocation`, Auto Scaling
//! `DescribeAutoScalingInstances` and DynamoDB `GetItem`, taking their input and rendering their
//! output in the AWS API's JSON shape.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ssm::config::http::HttpResponse;
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde_json::{Map, Value};

use crate::codec;

use asg_lifecycle::waiter::{
    CallError, Operation, OperationError, Operations, check_members, optional_str, required_str,
};

/// Turns an SDK error into an error response (service errors) or a failed call (the rest).
fn call_error<E>(error: SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(context) => CallError::Service(OperationError {
            code: context.err().code().unwrap_or("Unknown").to_string(),
            message: context.err().message().unwrap_or_default().to_string(),
            http_status: Some(context.raw().status().as_u16()),
        }),
        _ => CallError::Dispatch(DisplayErrorContext(&error).to_string()),
    }
}

/// Inserts `value` under `key` when there is one (the API omits absent members).
fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value.into());
    }
}

/// SSM `GetCommandInvocation`: input `CommandId`, `InstanceId`, optional `PluginName`.
#[derive(Clone, Debug)]
pub struct GetCommandInvocation(pub aws_sdk_ssm::Client);

#[async_trait]
impl Operation for GetCommandInvocation {
    async fn call(&self, input: &Value) -> Result<Value, CallError> {
        check_members(input, &["CommandId", "InstanceId", "PluginName"])?;
        let out = self
            .0
            .get_command_invocation()
            .command_id(required_str(input, "CommandId")?)
            .instance_id(required_str(input, "InstanceId")?)
            .set_plugin_name(optional_str(input, "PluginName")?.map(String::from))
            .send()
            .await
            .map_err(call_error)?;
        let mut map = Map::new();
        put(&mut map, "CommandId", out.command_id());
        put(&mut map, "InstanceId", out.instance_id());
        put(&mut map, "Comment", out.comment());
        put(&mut map, "DocumentName", out.document_name());
        put(&mut map, "DocumentVersion", out.document_version());
        put(&mut map, "PluginName", out.plugin_name());
        map.insert("ResponseCode".into(), out.response_code().into());
        put(
            &mut map,
            "ExecutionStartDateTime",
            out.execution_start_date_time(),
        );
        put(
            &mut map,
            "ExecutionElapsedTime",
            out.execution_elapsed_time(),
        );
        put(
            &mut map,
            "ExecutionEndDateTime",
            out.execution_end_date_time(),
        );
        put(&mut map, "Status", out.status().map(|s| s.as_str()));
        put(&mut map, "StatusDetails", out.status_details());
        put(
            &mut map,
            "StandardOutputContent",
            out.standard_output_content(),
        );
        put(&mut map, "StandardOutputUrl", out.standard_output_url());
        put(
            &mut map,
            "StandardErrorContent",
            out.standard_error_content(),
        );
        put(&mut map, "StandardErrorUrl", out.standard_error_url());
        Ok(Value::Object(map))
    }
}

/// Auto Scaling `DescribeAutoScalingInstances`: input `InstanceIds`, `MaxRecords`, `NextToken`.
#[derive(Clone, Debug)]
pub struct DescribeAutoScalingInstances(pub aws_sdk_autoscaling::Client);

#[async_trait]
impl Operation for DescribeAutoScalingInstances {
    async fn call(&self, input: &Value) -> Result<Value, CallError> {
        check_members(input, &["InstanceIds", "MaxRecords", "NextToken"])?;
        let ids = match input.get("InstanceIds") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        CallError::InvalidInput("`InstanceIds` must be strings".into())
                    })?,
            ),
            // One id given as a plain `--param InstanceIds=i-1` is a list of one.
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(other) => {
                return Err(CallError::InvalidInput(format!(
                    "`InstanceIds` must be a list of strings, got {other}"
                )));
            }
        };
        let max_records =
            match input.get("MaxRecords") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(
                    || CallError::InvalidInput("`MaxRecords` must be an integer".into()),
                )?),
            };
        let out = self
            .0
            .describe_auto_scaling_instances()
            .set_instance_ids(ids)
            .set_max_records(max_records)
            .set_next_token(optional_str(input, "NextToken")?.map(String::from))
            .send()
            .await
            .map_err(call_error)?;
        let instances: Vec<Value> = out
            .auto_scaling_instances()
            .iter()
            .map(|i| {
                let mut map = Map::new();
                put(&mut map, "InstanceId", i.instance_id());
                put(&mut map, "InstanceType", i.instance_type());
                put(
                    &mut map,
                    "AutoScalingGroupName",
                    i.auto_scaling_group_name(),
                );
                put(&mut map, "AvailabilityZone", i.availability_zone());
                put(&mut map, "LifecycleState", i.lifecycle_state());
                put(&mut map, "HealthStatus", i.health_status());
                put(
                    &mut map,
                    "LaunchConfigurationName",
                    i.launch_configuration_name(),
                );
                if let Some(t) = i.launch_template() {
                    let mut lt = Map::new();
                    put(&mut lt, "LaunchTemplateId", t.launch_template_id());
                    put(&mut lt, "LaunchTemplateName", t.launch_template_name());
                    put(&mut lt, "Version", t.version());
                    map.insert("LaunchTemplate".into(), Value::Object(lt));
                }
                put(
                    &mut map,
                    "ProtectedFromScaleIn",
                    i.protected_from_scale_in(),
                );
                put(&mut map, "WeightedCapacity", i.weighted_capacity());
                Value::Object(map)
            })
            .collect();
        let mut map = Map::new();
        map.insert("AutoScalingInstances".into(), Value::Array(instances));
        put(&mut map, "NextToken", out.next_token());
        Ok(Value::Object(map))
    }
}

/// DynamoDB `GetItem`: input `TableName`, `Key` (attribute values in the API's JSON form),
/// `ConsistentRead`, `ProjectionExpression`, `ExpressionAttributeNames`.
#[derive(Clone, Debug)]
pub struct GetItem(pub aws_sdk_dynamodb::Client);

#[async_trait]
impl Operation for GetItem {
    async fn call(&self, input: &Value) -> Result<Value, CallError> {
        check_members(
            input,
            &[
                "TableName",
                "Key",
                "ConsistentRead",
                "ProjectionExpression",
                "ExpressionAttributeNames",
            ],
        )?;
        let key = match input.get("Key") {
            Some(Value::Object(map)) => {
                codec::parse_item(map).map_err(|e| CallError::InvalidInput(e.to_string()))?
            }
            Some(other) => {
                return Err(CallError::InvalidInput(format!(
                    "`Key` must map names to attribute values, got {other}"
                )));
            }
            None => return Err(CallError::InvalidInput("`Key` is required".into())),
        };
        let consistent = match input.get("ConsistentRead") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
            Some(other) => {
                return Err(CallError::InvalidInput(format!(
                    "`ConsistentRead` must be true or false, got {other}"
                )));
            }
        };
        let names = match input.get("ExpressionAttributeNames") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(
                map.iter()
                    .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect::<Option<HashMap<_, _>>>()
                    .ok_or_else(|| {
                        CallError::InvalidInput(
                            "`ExpressionAttributeNames` values must be strings".into(),
                        )
                    })?,
            ),
            Some(_) => {
                return Err(CallError::InvalidInput(
                    "`ExpressionAttributeNames` must be an object".into(),
                ));
            }
        };
        let out = self
            .0
            .get_item()
            .table_name(required_str(input, "TableName")?)
            .set_key(Some(key))
            .set_consistent_read(consistent)
            .set_projection_expression(
                optional_str(input, "ProjectionExpression")?.map(String::from),
            )
            .set_expression_attribute_names(names)
            .send()
            .await
            .map_err(call_error)?;
        let mut map = Map::new();
        if let Some(item) = out.item() {
            map.insert("Item".into(), codec::render_item(item));
        }
        Ok(Value::Object(map))
    }
}

/// The three SDK operations under their API names, from one SDK configuration.
#[must_use]
pub fn sdk_operations(config: &aws_config::SdkConfig) -> Operations {
    Operations::new()
        .with(
            "GetCommandInvocation",
            Arc::new(GetCommandInvocation(aws_sdk_ssm::Client::new(config))),
        )
        .with(
            "DescribeAutoScalingInstances",
            Arc::new(DescribeAutoScalingInstances(
                aws_sdk_autoscaling::Client::new(config),
            )),
        )
        .with(
            "GetItem",
            Arc::new(GetItem(aws_sdk_dynamodb::Client::new(config))),
        )
}
