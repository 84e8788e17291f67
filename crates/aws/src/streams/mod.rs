//! [`ChangeFeed`] over the table's DynamoDB stream (view type `NEW_AND_OLD_IMAGES`), every
//! shard of it.
//!
//! # Guarantees
//! - Every shard is followed. A fresh watch opens every open shard at its end (`LATEST`); a
//!   token reopens each of its shards after its last change seen (`AFTER_SEQUENCE_NUMBER`), or
//!   from its oldest retained change (`TRIM_HORIZON`) when none was seen in it.
//! - Parents before children: a shard that closes (a split) is read to its end first, then its
//!   children are followed from their oldest change, so an item's changes stay in order across
//!   the split and none is lost.
//! - Each change carries the token of every shard's position right after it, so resuming from
//!   any change's token reports neither that change nor any before it, in any shard.
//! - A shard of the token the stream no longer has (trimmed after 24 hours, or unknown) makes the
//!   token gone (the watcher relists); an expired iterator is opened again at its position.

mod sdk;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::Record;

use asg_lifecycle::watch::{Change, ChangeFeed, Cursor, FeedError, ResumeToken};

pub use sdk::SdkStreams;

/// A shard of the stream, as `DescribeStream` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard id.
    pub id: String,
    /// The shard it was split from, if any.
    pub parent: Option<String>,
    /// True while the shard takes new records (no ending sequence number).
    pub open: bool,
}

/// Where to open a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// After its newest record.
    Latest,
    /// At its oldest retained record.
    TrimHorizon,
    /// Right after this sequence number.
    After(String),
}

/// One `GetRecords` page: the records, and the iterator to read on with (`None`: the shard is
/// closed and read to its end).
#[derive(Clone, Debug, Default)]
pub struct RecordsPage {
    /// The records, oldest first.
    pub records: Vec<Record>,
    /// The next iterator.
    pub next: Option<String>,
}

/// The three DynamoDB Streams calls the feed makes.
#[async_trait]
pub trait StreamApi: Send + Sync {
    /// Every shard of the table's stream.
    async fn shards(&self) -> Result<Vec<ShardInfo>, FeedError>;

    /// An iterator at `position` of `shard`.
    async fn iterator(&self, shard: &str, position: &Position) -> Result<String, FeedError>;

    /// The records at `iterator`; `None` when the iterator expired (open the position again).
    async fn records(&self, iterator: &str) -> Result<Option<RecordsPage>, FeedError>;
}

/// Follows every shard of a table's DynamoDB stream.
#[derive(Debug)]
pub struct StreamsFeed<A = SdkStreams> {
    api: A,
}

impl StreamsFeed {
    /// Follows the stream of `table` through the SDK.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self::over(SdkStreams::new(client, table))
    }
}

impl<A: StreamApi> StreamsFeed<A> {
    /// Follows the stream `api` reads.
    #[must_use]
    pub fn over(api: A) -> Self {
        Self { api }
    }

    /// An iterator at the token's position in `shard`.
    async fn open_shard(&self, shard: &str, token: &ResumeToken) -> Result<String, FeedError> {
        let position = match token.sequence(shard) {
            Some(sequence) => Position::After(sequence.to_string()),
            None => Position::TrimHorizon,
        };
        self.api.iterator(shard, &position).await
    }

    /// Iterators at the oldest change of each child of a closed shard (none while the stream
    /// does not list them yet).
    async fn children_of(&self, parent: &str) -> Result<Vec<(String, String)>, FeedError> {
        let shards = self.api.shards().await?;
        let mut children = Vec::new();
        for child in shards
            .iter()
            .filter(|s| s.parent.as_deref() == Some(parent))
        {
            let iterator = self.api.iterator(&child.id, &Position::TrimHorizon).await?;
            children.push((child.id.clone(), iterator));
        }
        Ok(children)
    }

    /// Reads one page of `shard`, adding its changes and advancing `cursor` and `token`.
    async fn read_shard(
        &self,
        shard: &str,
        iterator: &str,
        cursor: &mut Cursor,
        token: &mut ResumeToken,
        changes: &mut Vec<Change>,
    ) -> Result<(), FeedError> {
        let Some(page) = self.api.records(iterator).await? else {
            // Expired: open the same position again; the next read uses it.
            let reopened = self.open_shard(shard, token).await?;
            cursor.iterators.insert(shard.to_string(), reopened);
            return Ok(());
        };
        for record in &page.records {
            if let Some(change) = sdk::change(shard, record, token) {
                token.clone_from(&change.token);
                changes.push(change);
            } else if let Some(sequence) = record.dynamodb().and_then(|d| d.sequence_number()) {
                // A record that is no change of a handler record (a registration): passed over.
                *token = token.with(shard, Some(sequence));
            }
        }
        match page.next {
            Some(next) => {
                cursor.iterators.insert(shard.to_string(), next);
            }
            None => {
                // Closed and read to its end: its children take its place.
                let children = self.children_of(shard).await?;
                if children.is_empty() {
                    // Not listed yet: read its end again next time, and look again.
                    let again = self.open_shard(shard, token).await?;
                    cursor.iterators.insert(shard.to_string(), again);
                } else {
                    cursor.iterators.remove(shard);
                    token.positions.remove(shard);
                    for (child, iterator) in children {
                        token.positions.insert(child.clone(), None);
                        cursor.iterators.insert(child, iterator);
                    }
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl<A: StreamApi> ChangeFeed for StreamsFeed<A> {
    async fn open_latest(&self) -> Result<Cursor, FeedError> {
        let shards = self.api.shards().await?;
        let mut cursor = Cursor::default();
        for shard in shards.iter().filter(|s| s.open) {
            let iterator = self.api.iterator(&shard.id, &Position::Latest).await?;
            cursor.token.positions.insert(shard.id.clone(), None);
            cursor.iterators.insert(shard.id.clone(), iterator);
        }
        if cursor.iterators.is_empty() {
            return Err(FeedError::Transient {
                message: "the stream has no open shard yet".into(),
            });
        }
        Ok(cursor)
    }

    async fn open_at(&self, token: &ResumeToken) -> Result<Cursor, FeedError> {
        if token.positions.is_empty() {
            return Err(FeedError::Other {
                message: "an empty resume token".into(),
            });
        }
        let mut cursor = Cursor {
            token: token.clone(),
            iterators: BTreeMap::new(),
        };
        for shard in token.positions.keys() {
            let iterator = self.open_shard(shard, token).await?;
            cursor.iterators.insert(shard.clone(), iterator);
        }
        Ok(cursor)
    }

    async fn read(&self, cursor: &mut Cursor) -> Result<Vec<Change>, FeedError> {
        if cursor.iterators.is_empty() {
            *cursor = self.open_at(&cursor.token).await?;
        }
        let mut token = cursor.token.clone();
        let mut changes = Vec::new();
        let shards: Vec<(String, String)> = cursor
            .iterators
            .iter()
            .map(|(shard, iterator)| (shard.clone(), iterator.clone()))
            .collect();
        for (shard, iterator) in shards {
            if let Err(e) = self
                .read_shard(&shard, &iterator, cursor, &mut token, &mut changes)
                .await
            {
                // What was read so far is reported (the cursor moved past it); the failing
                // shard keeps its iterator and fails again on the next read if it must.
                if changes.is_empty() {
                    cursor.token = token;
                    return Err(e);
                }
                break;
            }
        }
        cursor.token = token;
        Ok(changes)
    }
}
