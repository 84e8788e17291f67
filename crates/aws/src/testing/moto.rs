//! DynamoDB on `moto_server`: its endpoint, tables isolated by name, a request-counting
//! interceptor, and clients and stores on it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::{DynamoStore, dynamo, table};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::{Map, Value};

/// The `moto_server` endpoint; `scripts/test.sh` starts the server and exports it.
///
/// # Panics
/// When `MOTO_ENDPOINT` is not set: the message says how to start the server.
#[must_use]
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set: the DynamoDB tests need a running moto_server. \
             Run scripts/test.sh, or start `target/pyenv/bin/moto_server -H 127.0.0.1 -p 5056` and \
             set MOTO_ENDPOINT=http://127.0.0.1:5056 AWS_ACCESS_KEY_ID=testing \
             AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"
        )
    })
}

/// A table name no other test uses.
#[must_use]
pub fn unique_table(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Counts DynamoDB requests sent, by operation (from the `X-Amz-Target` header); retries count.
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl RequestCounter {
    /// Requests of one operation (`GetItem`, `UpdateItem`, `Query`, `Scan`, ...).
    #[must_use]
    pub fn count(&self, operation: &str) -> usize {
        self.counts
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Every operation's count.
    #[must_use]
    pub fn all(&self) -> BTreeMap<String, usize> {
        self.counts.lock().unwrap().clone()
    }

    /// Forgets the counts so far.
    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("unknown");
        let operation = target.rsplit('.').next().unwrap_or(target).to_string();
        *self.counts.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

/// A client of moto with a request counter.
pub async fn moto_client() -> (aws_sdk_dynamodb::Client, RequestCounter) {
    let counter = RequestCounter::default();
    let config = dynamo::client_config(Some(&moto_endpoint()), Some("us-east-1"))
        .await
        .interceptor(counter.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), counter)
}

/// A fresh table on moto, and a store on it that lists `groups` in sweeps; the counter starts
/// at zero once the table exists.
///
/// # Panics
/// When the table cannot be created (is moto running?).
pub async fn moto_store(groups: &[&str]) -> (DynamoStore, RequestCounter) {
    let (client, counter) = moto_client().await;
    let name = unique_table("asg");
    table::create_table(&client, &name)
        .await
        .unwrap_or_else(|e| panic!("failed to create table {name} on moto: {e}"));
    counter.reset();
    (
        DynamoStore::new(client, name)
            .with_groups(groups.iter().copied())
            .with_registration_prefix(REGISTRATION_PREFIX),
        counter,
    )
}

/// The registration key prefix of the test stores (account `123456789012`, `us-east-1`).
pub const REGISTRATION_PREFIX: &str = "arn:aws:ec2:us-east-1:123456789012:instance/";

/// Attributes as a JSON map.
///
/// # Panics
/// When `value` is no JSON object.
#[must_use]
pub fn attrs(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("a JSON object")
}
