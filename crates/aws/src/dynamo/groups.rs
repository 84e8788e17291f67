//! The table's registry of the groups the handler sweeps: one item, `#groups`, whose string set
//! `GroupNames` the sweep adds its configured groups to, so that readers (the CLI's `status`,
//! `watch`, `wait`, `graph`, a scheduled `invoke`) list every group's active records without
//! being told the groups, and without a `Scan`.
//!
//! # Guarantees
//! - Written by a store that sweeps (its first listing of every group, [`DynamoStore::with_groups`]),
//!   at most once per store and process while the write succeeds: one `UpdateItem` with `ADD`,
//!   idempotent, no read, no condition. A failed write is logged and tried at the next listing;
//!   it never fails the listing.
//! - Read with one consistent `GetItem` ([`DynamoStore::known_groups`]).
//! - Not an instance record: no `ItemStatus`, never in the active index; stream readers skip it.
//!
//! # Assumptions
//! - A group once configured stays listed after it is removed from the configuration: listing a
//!   group without records costs one empty `Query`.

use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, UNKNOWN_GROUP, retry};
use asg_lifecycle::record::attr;
use asg_lifecycle::store::Result;

/// The registry item's key: not an instance id, not an ARN.
pub const GROUPS_KEY: &str = "#groups";
/// Its attribute: a string set of group names.
const GROUPS_ATTRIBUTE: &str = "GroupNames";

impl DynamoStore {
    /// A store that only reads: it never writes the group registry (an observer such as the
    /// CLI's `status` must not write with an operator's credentials).
    #[must_use]
    pub fn without_group_registry(mut self) -> Self {
        self.register_groups = false;
        self
    }

    /// The groups the handler registered in the table (sorted; empty when it never swept).
    ///
    /// # Errors
    /// The registry item cannot be read.
    pub async fn known_groups(&self) -> Result<Vec<String>> {
        let output = retry::retrying(&self.retry, "get", GROUPS_KEY, || {
            self.client
                .get_item()
                .table_name(&self.table)
                .key(attr::IDENT, AttributeValue::S(GROUPS_KEY.to_string()))
                .consistent_read(true)
                .send()
        })
        .await?;
        let mut groups: Vec<String> = output
            .item()
            .and_then(|item| item.get(GROUPS_ATTRIBUTE))
            .and_then(|value| value.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        groups.sort();
        Ok(groups)
    }

    /// Adds the configured groups to the registry, once per store while it succeeds.
    pub(super) async fn register_groups_once(&self) {
        let groups: Vec<String> = self
            .groups
            .iter()
            .filter(|g| *g != UNKNOWN_GROUP)
            .cloned()
            .collect();
        if !self.register_groups
            || groups.is_empty()
            || self.groups_registered.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let written = retry::retrying(&self.retry, "commit", GROUPS_KEY, || {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(attr::IDENT, AttributeValue::S(GROUPS_KEY.to_string()))
                .update_expression("ADD #g :g")
                .expression_attribute_names("#g", GROUPS_ATTRIBUTE)
                .expression_attribute_values(":g", AttributeValue::Ss(groups.clone()))
                .send()
        })
        .await;
        if let Err(e) = written {
            self.groups_registered.store(false, Ordering::SeqCst);
            tracing::warn!(error = %e, "failed to register the swept groups in the table; the next listing tries again");
        }
    }
}
