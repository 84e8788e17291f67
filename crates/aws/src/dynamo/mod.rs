//! [`DynamoStore`]: the [`StateStore`] on one DynamoDB table (see [`crate::table`]).
//!
//! # Guarantees
//! - Reads are consistent (`GetItem` with `ConsistentRead`).
//! - Every [`Commit`] is one conditional `UpdateItem` (expected `ItemStatus`, expected `Version`
//!   or its absence, event id not in `RecentEvents`); a failed condition is
//!   [`StoreError::Conflict`], never an overwrite.
//! - Only the attributes a commit names are written: what cloud-init stored stays.
//! - Active records are listed with `Query` on the sparse `active-index`, never with `Scan`.
//! - The first listing of every group adds the configured groups to the table's `#groups` item
//!   (`groups.rs`), so that readers know them; [`DynamoStore::without_group_registry`] for
//!   observers that must not write.
//! - Throttling, 5xx answers, timeouts and broken connections are retried ([`RetryPolicy`]),
//!   then surface as [`StoreError::Unavailable`]; everything else is [`StoreError::Other`].
//!
//! # Assumptions
//! - Cloud-init writes with `update-item` (merge), never `put-item`: see `docs/cloud-init.md`.
//! - The active index is eventually consistent (a GSI): a record that just changed may show up
//!   in its old form or not yet; the sweep reloads every record it handles.

mod groups;
mod retry;
mod update;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::{Map, Value};

pub use groups::GROUPS_KEY;
pub use retry::RetryPolicy;

use crate::codec::{Item, record_from_item};
use crate::table::ACTIVE_INDEX;
use asg_lifecycle::record::{InstanceRecord, attr};
use asg_lifecycle::registration::{self, Registration};
use asg_lifecycle::store::{BaseLists, Commit, Page, Result, StateStore, StoreError};

/// The group value of active records whose group is not known yet.
const UNKNOWN_GROUP: &str = "-";
/// Separates the group from the `Ident` in a page token of a query over several groups.
const TOKEN_SEPARATOR: char = '\t';

/// A DynamoDB client configuration for the store: region and endpoint as given (else from the
/// environment), and the SDK's own retries off, since [`DynamoStore`] retries itself.
///
/// Add interceptors to the builder before `build()` if needed.
pub async fn client_config(
    endpoint_url: Option<&str>,
    region: Option<&str>,
) -> aws_sdk_dynamodb::config::Builder {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::disabled());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    aws_sdk_dynamodb::config::Builder::from(&loader.load().await)
}

/// The store's DynamoDB client configuration derived from a shared configuration already loaded
/// (credentials, region, endpoint and HTTP client shared), bounded as [`client_config`]'s is: the
/// SDK's own retries off and no per-attempt bound (the shared one is the other clients'), only
/// the SDK's default connection timeout.
///
/// Loading the configuration once for every client saves a process its second credential and
/// region chains (an STS client among them) on its first AWS call.
#[must_use]
pub fn client_config_from(shared: &aws_config::SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    // A service's timeouts are merged with the shared ones: the attempt bound is disabled
    // explicitly, not left unset.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(crate::sdk::DEFAULT_CONNECT_TIMEOUT)
        .disable_operation_attempt_timeout()
        .build();
    aws_sdk_dynamodb::config::Builder::from(shared)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(timeouts)
}

/// Instance records in one DynamoDB table with partition key `Ident`.
///
/// # Example
/// ```no_run
/// # async fn example() {
/// use asg_lifecycle_aws::{DynamoStore, dynamo};
/// let client = aws_sdk_dynamodb::Client::from_conf(dynamo::client_config(None, None).await.build());
/// let store = DynamoStore::new(client, "asg-lifecycle").with_groups(["web-asg"]);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    groups: Vec<String>,
    retry: RetryPolicy,
    registration_prefix: Option<String>,
    /// Whether listing every group registers them (`groups.rs`); off for read-only observers.
    register_groups: bool,
    /// Set once the registry write succeeded (shared by clones).
    groups_registered: Arc<AtomicBool>,
}

impl DynamoStore {
    /// A store on a table, with the default [`RetryPolicy`] and no known groups.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            groups: Vec::new(),
            retry: RetryPolicy::default(),
            registration_prefix: None,
            register_groups: true,
            groups_registered: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The key prefix of instances' registration items: `arn:PARTITION:ec2:REGION:ACCOUNT:instance/`
    /// (the template's `REGISTRATION_KEY_PREFIX`). An instance's registration is the item keyed by
    /// its ARN, the only item its instance profile may write. Without a prefix the store reads no
    /// registration ([`StateStore::registration`] answers `None`): the handler then learns of
    /// registrations from the table's stream only.
    #[must_use]
    pub fn with_registration_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.registration_prefix = Some(prefix.into());
        self
    }

    /// A store built from the environment's credentials, with an optional endpoint (DynamoDB
    /// Local, moto) and region.
    pub async fn connect(
        table: impl Into<String>,
        endpoint_url: Option<&str>,
        region: Option<&str>,
    ) -> Self {
        let config = client_config(endpoint_url, region).await.build();
        Self::new(Client::from_conf(config), table)
    }

    /// The Auto Scaling groups whose active records [`StateStore::query_active`] lists when no
    /// group is given (the sweep). The index is partitioned by group, so listing every group
    /// without a `Scan` needs their names; records of an unknown group (`-`) are always listed.
    #[must_use]
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(ident: &str) -> (String, AttributeValue) {
        (
            attr::IDENT.to_string(),
            AttributeValue::S(ident.to_string()),
        )
    }

    /// One page of one group's active records, starting after `start`.
    async fn query_group(
        &self,
        group: &str,
        start: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<InstanceRecord>, Option<String>)> {
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        let start_key = start.map(|ident| {
            Item::from([
                Self::key(ident),
                (
                    attr::ACTIVE_GROUP.to_string(),
                    AttributeValue::S(group.to_string()),
                ),
            ])
        });
        let output = retry::retrying(&self.retry, "query", group, || {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(ACTIVE_INDEX)
                .key_condition_expression("#g = :g")
                .expression_attribute_names("#g", attr::ACTIVE_GROUP)
                .expression_attribute_values(":g", AttributeValue::S(group.to_string()))
                .set_exclusive_start_key(start_key.clone())
                .limit(limit)
                .send()
        })
        .await?;
        // One malformed item must not stop the sweep for every record after it: it is logged
        // and passed over (a direct `get` of it still reports the error).
        let records = output
            .items()
            .iter()
            .filter_map(|item| match record_from_item(item) {
                Ok(record) => Some(record),
                Err(e) => {
                    tracing::error!(error = %e, "skipping a malformed record in the active index");
                    None
                }
            })
            .collect::<Vec<_>>();
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get(attr::IDENT))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok((records, next))
    }

    /// Pages through every known group (then `-`), in order; the token is `group\tident`.
    async fn query_all_groups(&self, start: Option<&str>, limit: usize) -> Result<Page> {
        if start.is_none() {
            self.register_groups_once().await;
        }
        let mut groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        if !groups.contains(&UNKNOWN_GROUP) {
            groups.push(UNKNOWN_GROUP);
        }
        let (mut index, mut after) = (0, None::<String>);
        if let Some(token) = start {
            let (group, ident) =
                token
                    .rsplit_once(TOKEN_SEPARATOR)
                    .ok_or_else(|| StoreError::Other {
                        message: format!("malformed page token `{token}`"),
                    })?;
            index = groups
                .iter()
                .position(|g| *g == group)
                .ok_or_else(|| StoreError::Other {
                    message: format!(
                        "page token names group `{group}`, which this store does not list"
                    ),
                })?;
            after = (!ident.is_empty()).then(|| ident.to_string());
        }
        let limit = limit.max(1);
        let mut page = Page::default();
        while let Some(group) = groups.get(index) {
            let (records, next) = self
                .query_group(group, after.as_deref(), limit - page.records.len())
                .await?;
            page.records.extend(records);
            if let Some(next) = next {
                page.next = Some(format!("{group}{TOKEN_SEPARATOR}{next}"));
                return Ok(page);
            }
            index += 1;
            after = None;
            if page.records.len() >= limit {
                page.next = groups.get(index).map(|g| format!("{g}{TOKEN_SEPARATOR}"));
                return Ok(page);
            }
        }
        Ok(page)
    }
}

/// The item that remembers where the last sweep stopped: not an instance (no `ItemStatus`, never
/// in the active index).
const SWEEP_CURSOR_KEY: &str = "#sweep-cursor";
/// Its attribute: the page key the next sweep starts from.
const SWEEP_CURSOR_ATTRIBUTE: &str = "SweepCursor";

#[async_trait]
impl StateStore for DynamoStore {
    async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>> {
        let output = retry::retrying(&self.retry, "get", ident, || {
            self.client
                .get_item()
                .table_name(&self.table)
                .key(attr::IDENT, AttributeValue::S(ident.to_string()))
                .consistent_read(true)
                .send()
        })
        .await?;
        Ok(output.item().map(record_from_item).transpose()?)
    }

    async fn sweep_cursor(&self) -> Result<Option<String>> {
        let output = retry::retrying(&self.retry, "get", SWEEP_CURSOR_KEY, || {
            self.client
                .get_item()
                .table_name(&self.table)
                .key(attr::IDENT, AttributeValue::S(SWEEP_CURSOR_KEY.to_string()))
                .consistent_read(true)
                .send()
        })
        .await?;
        Ok(output
            .item()
            .and_then(|item| item.get(SWEEP_CURSOR_ATTRIBUTE))
            .and_then(|value| value.as_s().ok())
            .cloned())
    }

    async fn save_sweep_cursor(&self, cursor: Option<&str>) -> Result<()> {
        retry::retrying(&self.retry, "commit", SWEEP_CURSOR_KEY, || {
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(attr::IDENT, AttributeValue::S(SWEEP_CURSOR_KEY.to_string()))
                .expression_attribute_names("#c", SWEEP_CURSOR_ATTRIBUTE);
            match cursor {
                Some(cursor) => request
                    .update_expression("SET #c = :c")
                    .expression_attribute_values(":c", AttributeValue::S(cursor.to_string())),
                None => request.update_expression("REMOVE #c"),
            }
            .send()
        })
        .await?;
        Ok(())
    }

    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord> {
        let base = match &commit.base {
            Some(base) => base.clone(),
            // Without the lists as read, read them: the Version condition still guards the write.
            None => self
                .get(&commit.ident)
                .await?
                .map(|r| BaseLists::of(&r))
                .unwrap_or_default(),
        };
        commit.new_version()?;
        let expression = update::commit_expression(commit, &base);
        let output = retry::retrying(&self.retry, "commit", &commit.ident, || {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(attr::IDENT, AttributeValue::S(commit.ident.clone()))
                .set_update_expression(expression.update())
                .set_condition_expression(expression.condition())
                .set_expression_attribute_names(Some(expression.names.clone()))
                .set_expression_attribute_values(Some(expression.values.clone()))
                .return_values(ReturnValue::AllNew)
                .send()
        })
        .await?;
        let item = output.attributes().ok_or_else(|| StoreError::Other {
            message: format!(
                "commit `{}`: the update returned no attributes",
                commit.ident
            ),
        })?;
        Ok(record_from_item(item)?)
    }

    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        match group {
            Some(group) => {
                let (records, next) = self.query_group(group, start, limit).await?;
                Ok(Page { records, next })
            }
            None if self.groups.is_empty() => Err(StoreError::Other {
                message: "listing active records of every group needs the group names \
                          (the index is partitioned by group and the table is never scanned): \
                          configure them or name a group"
                    .into(),
            }),
            None => self.query_all_groups(start, limit).await,
        }
    }

    async fn cloud_init_update(&self, ident: &str, attributes: &Map<String, Value>) -> Result<()> {
        let Some(prefix) = &self.registration_prefix else {
            return Err(StoreError::Other {
                message: "writing a registration needs the registration key prefix \
                          (`arn:aws:ec2:REGION:ACCOUNT:instance/`)"
                    .into(),
            });
        };
        let key = registration::key_of(prefix, ident);
        let expression = update::cloud_init_expression(attributes);
        let (names, values) = (
            (!expression.names.is_empty()).then(|| expression.names.clone()),
            (!expression.values.is_empty()).then(|| expression.values.clone()),
        );
        retry::retrying(&self.retry, "registration update", ident, || {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(attr::IDENT, AttributeValue::S(key.clone()))
                .set_update_expression(expression.update())
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .send()
        })
        .await?;
        Ok(())
    }

    async fn registration(&self, ident: &str) -> Result<Option<Registration>> {
        let Some(prefix) = &self.registration_prefix else {
            return Ok(None);
        };
        let key = registration::key_of(prefix, ident);
        let output = retry::retrying(&self.retry, "registration get", ident, || {
            self.client
                .get_item()
                .table_name(&self.table)
                .key(attr::IDENT, AttributeValue::S(key.clone()))
                .consistent_read(true)
                .send()
        })
        .await?;
        Ok(output
            .item()
            .map(|item| Registration::from_item(&crate::codec::item_to_json(item))))
    }
}
