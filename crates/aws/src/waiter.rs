//! SDK-backed operations: SSM `GetCommandInvocation`, Auto Scaling
//! `DescribeAutoScalingInstances` and DynamoDB `GetItem`, taking their input and rendering their
//! output in the AWS API's JSON shape.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ssm::config::http::HttpResponse;
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde_json::{Map, Value, json};

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
            Some(Value::Object(map)) => attribute_map(map)?,
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
            map.insert("Item".into(), render_map(item));
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

/// A DynamoDB attribute value in the API's JSON form (`{"S": "x"}`), rendered.
#[must_use]
pub fn render_attribute(value: &AttributeValue) -> Value {
    let blob = |b: &Blob| Value::String(aws_smithy_types::base64::encode(b.as_ref()));
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": blob(b)}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(b) => json!({"NULL": b}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::Bs(v) => json!({"BS": v.iter().map(blob).collect::<Vec<_>>()}),
        AttributeValue::L(v) => json!({"L": v.iter().map(render_attribute).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": render_map(m)}),
        _ => json!({}),
    }
}

fn render_map(map: &HashMap<String, AttributeValue>) -> Value {
    let mut keys: Vec<_> = map.keys().collect();
    keys.sort();
    Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), render_attribute(&map[k])))
            .collect(),
    )
}

fn attribute_map(map: &Map<String, Value>) -> Result<HashMap<String, AttributeValue>, CallError> {
    map.iter()
        .map(|(k, v)| parse_attribute(v).map(|a| (k.clone(), a)))
        .collect()
}

/// Parses a DynamoDB attribute value in the API's JSON form (`{"S": "x"}`, `{"N": "1"}`, ...).
///
/// # Errors
/// [`CallError::InvalidInput`] naming what does not fit.
pub fn parse_attribute(value: &Value) -> Result<AttributeValue, CallError> {
    let invalid = || CallError::InvalidInput(format!("not a DynamoDB attribute value: {value}"));
    let Some((kind, inner)) = value
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Err(invalid());
    };
    let strings = |v: &Value| -> Result<Vec<String>, CallError> {
        v.as_array()
            .and_then(|items| items.iter().map(|i| i.as_str().map(String::from)).collect())
            .ok_or_else(invalid)
    };
    let blob = |s: &str| {
        aws_smithy_types::base64::decode(s)
            .map(Blob::new)
            .map_err(|_| invalid())
    };
    Ok(match (kind.as_str(), inner) {
        ("S", Value::String(s)) => AttributeValue::S(s.clone()),
        ("N", Value::String(s)) => AttributeValue::N(s.clone()),
        ("N", Value::Number(n)) => AttributeValue::N(n.to_string()),
        ("B", Value::String(s)) => AttributeValue::B(blob(s)?),
        ("BOOL", Value::Bool(b)) => AttributeValue::Bool(*b),
        ("NULL", Value::Bool(b)) => AttributeValue::Null(*b),
        ("SS", v) => AttributeValue::Ss(strings(v)?),
        ("NS", v) => AttributeValue::Ns(strings(v)?),
        ("BS", v) => AttributeValue::Bs(
            strings(v)?
                .iter()
                .map(|s| blob(s))
                .collect::<Result<_, _>>()?,
        ),
        ("L", Value::Array(items)) => AttributeValue::L(
            items
                .iter()
                .map(parse_attribute)
                .collect::<Result<_, _>>()?,
        ),
        ("M", Value::Object(map)) => AttributeValue::M(attribute_map(map)?),
        _ => return Err(invalid()),
    })
}
