//! `GetItem` served by any [`StateStore`]: lets the built-in `RecordReachedStatus` waiter run
//! against the handler's own store, whether DynamoDB or in memory.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::operation::{CallError, Operation, check_members};
use crate::store::StateStore;

/// A value in DynamoDB's JSON attribute-value shape (`{"S": ..}`, `{"N": ..}`, `{"M": ..}`, ...).
#[must_use]
pub fn attribute_value(value: &Value) -> Value {
    match value {
        Value::Null => json!({"NULL": true}),
        Value::Bool(b) => json!({"BOOL": b}),
        Value::Number(n) => json!({"N": n.to_string()}),
        Value::String(s) => json!({"S": s}),
        Value::Array(items) => json!({"L": items.iter().map(attribute_value).collect::<Vec<_>>()}),
        Value::Object(map) => json!({"M": item(map)}),
    }
}

fn item(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| (k.clone(), attribute_value(v)))
        .collect()
}

/// `GetItem` over a [`StateStore`]: `{"Key": {"Ident": {"S": ID}}}` → `{"Item": {...}}`, or `{}`
/// when there is no record (as DynamoDB answers). `TableName` is accepted and ignored.
pub struct StoreGetItem {
    store: Arc<dyn StateStore>,
}

impl StoreGetItem {
    /// The operation over a store.
    #[must_use]
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Operation for StoreGetItem {
    async fn call(&self, input: &Value) -> Result<Value, CallError> {
        check_members(input, &["TableName", "Key", "ConsistentRead"])?;
        let ident = input
            .pointer("/Key/Ident/S")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                CallError::InvalidInput("`Key` must be {\"Ident\": {\"S\": ID}}".into())
            })?;
        match self.store.get(ident).await {
            Ok(Some(record)) => Ok(json!({"Item": item(&record.to_item())})),
            Ok(None) => Ok(json!({})),
            Err(e) => Err(CallError::Dispatch(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn get_item_renders_the_record_in_attribute_value_shape() {
        let store = Arc::new(MemoryStore::new());
        let mut attrs = Map::new();
        attrs.insert("ItemStatus".into(), json!("new"));
        store.cloud_init_update("i-1", &attrs).await.unwrap();
        let op = StoreGetItem::new(store);
        let out = op
            .call(&json!({"TableName": "t", "Key": {"Ident": {"S": "i-1"}}}))
            .await
            .unwrap();
        assert_eq!(out["Item"]["ItemStatus"], json!({"S": "new"}));
        let missing = op
            .call(&json!({"Key": {"Ident": {"S": "i-2"}}}))
            .await
            .unwrap();
        assert_eq!(missing, json!({}));
        assert!(op.call(&json!({"Key": {}})).await.is_err());
    }
}
