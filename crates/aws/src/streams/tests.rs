//! The multi-shard feed over a fake stream whose shards open, split and expire as DynamoDB
//! Streams' do (moto serves one shard and never splits).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, StreamRecord};
use futures::StreamExt;

use super::*;
use asg_lifecycle::store::MemoryStore;
use asg_lifecycle::watch::{Config, WatchEvent, watcher};

#[derive(Default)]
struct FakeShard {
    id: String,
    parent: Option<String>,
    open: bool,
    records: Vec<Record>,
}

/// A stream: shards with their records; iterators are `SHARD:INDEX`.
#[derive(Default)]
struct FakeStream {
    shards: Mutex<Vec<FakeShard>>,
    sequence: Mutex<u64>,
    /// Iterators answered as expired once.
    expire: Mutex<Vec<String>>,
}

impl FakeStream {
    fn open(&self, id: &str, parent: Option<&str>) {
        self.shards.lock().unwrap().push(FakeShard {
            id: id.into(),
            parent: parent.map(str::to_string),
            open: true,
            records: Vec::new(),
        });
    }

    /// A write of `ident` to `state` in `shard`; its sequence number.
    fn write(&self, shard: &str, ident: &str, state: &str) -> String {
        let mut sequence = self.sequence.lock().unwrap();
        *sequence += 1;
        let number = format!("{:021}", *sequence);
        let record = Record::builder()
            .event_name(OperationType::Modify)
            .dynamodb(
                StreamRecord::builder()
                    .sequence_number(&number)
                    .keys("Ident", AttributeValue::S(ident.into()))
                    .new_image("Ident", AttributeValue::S(ident.into()))
                    .new_image("ItemStatus", AttributeValue::S(state.into()))
                    .build(),
            )
            .build();
        let mut shards = self.shards.lock().unwrap();
        let target = shards.iter_mut().find(|s| s.id == shard).unwrap();
        assert!(target.open, "{shard} is closed");
        target.records.push(record);
        number
    }

    /// Splits `parent` into `children` (the parent closes).
    fn split(&self, parent: &str, children: &[&str]) {
        self.shards
            .lock()
            .unwrap()
            .iter_mut()
            .find(|s| s.id == parent)
            .unwrap()
            .open = false;
        for child in children {
            self.open(child, Some(parent));
        }
    }

    /// Drops `shard` (trimmed: older than the stream's 24 hours).
    fn trim(&self, shard: &str) {
        self.shards.lock().unwrap().retain(|s| s.id != shard);
    }
}

#[async_trait]
impl StreamApi for Arc<FakeStream> {
    async fn shards(&self) -> Result<Vec<ShardInfo>, FeedError> {
        Ok(self
            .shards
            .lock()
            .unwrap()
            .iter()
            .map(|s| ShardInfo {
                id: s.id.clone(),
                parent: s.parent.clone(),
                open: s.open,
            })
            .collect())
    }

    async fn iterator(&self, shard: &str, position: &Position) -> Result<String, FeedError> {
        let shards = self.shards.lock().unwrap();
        let Some(found) = shards.iter().find(|s| s.id == shard) else {
            return Err(FeedError::Gone {
                message: format!("ResourceNotFoundException: no shard {shard}"),
            });
        };
        let index = match position {
            Position::Latest => found.records.len(),
            Position::TrimHorizon => 0,
            Position::After(sequence) => {
                found
                    .records
                    .iter()
                    .position(|r| r.dynamodb().unwrap().sequence_number() == Some(sequence))
                    .ok_or_else(|| FeedError::Gone {
                        message: format!("TrimmedDataAccessException: {sequence}"),
                    })?
                    + 1
            }
        };
        Ok(format!("{shard}:{index}"))
    }

    async fn records(&self, iterator: &str) -> Result<Option<RecordsPage>, FeedError> {
        {
            let mut expire = self.expire.lock().unwrap();
            if let Some(at) = expire.iter().position(|e| e == iterator) {
                expire.remove(at);
                return Ok(None);
            }
        }
        let (shard, index) = iterator.rsplit_once(':').unwrap();
        let index: usize = index.parse().unwrap();
        let shards = self.shards.lock().unwrap();
        let found = shards
            .iter()
            .find(|s| s.id == shard)
            .ok_or(FeedError::Gone {
                message: "ResourceNotFoundException".into(),
            })?;
        let records = found.records[index..].to_vec();
        let end = found.records.len();
        Ok(Some(RecordsPage {
            records,
            next: found.open.then(|| format!("{shard}:{end}")),
        }))
    }
}

fn states(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("{}:{}", c.ident, c.new.as_ref().unwrap().state()))
        .collect()
}

#[tokio::test]
async fn every_open_shard_is_followed() {
    let stream = Arc::new(FakeStream::default());
    stream.open("shard-a", None);
    stream.open("shard-b", None);
    stream.write("shard-a", "i-old", "ready");
    let feed = StreamsFeed::over(stream.clone());
    let mut cursor = feed.open_latest().await.unwrap();
    stream.write("shard-a", "i-1", "new");
    stream.write("shard-b", "i-2", "new");
    let changes = feed.read(&mut cursor).await.unwrap();
    assert_eq!(
        states(&changes),
        ["i-1:new", "i-2:new"],
        "from the latest of both"
    );
    let b = stream.write("shard-b", "i-2", "ready");
    assert_eq!(
        states(&feed.read(&mut cursor).await.unwrap()),
        ["i-2:ready"]
    );
    assert_eq!(cursor.token.sequence("shard-b"), Some(b.as_str()));
    assert!(cursor.token.positions.contains_key("shard-a"));
}

#[tokio::test]
async fn a_split_shard_is_read_to_its_end_before_its_children_and_loses_nothing() {
    let stream = Arc::new(FakeStream::default());
    stream.open("parent", None);
    let feed = StreamsFeed::over(stream.clone());
    let mut cursor = feed.open_latest().await.unwrap();
    stream.write("parent", "i-1", "new");
    stream.write("parent", "i-1", "join_cluster");
    stream.split("parent", &["child-1", "child-2"]);
    stream.write("child-1", "i-1", "ready");
    stream.write("child-2", "i-2", "new");
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.extend(states(&feed.read(&mut cursor).await.unwrap()));
    }
    assert_eq!(
        seen,
        ["i-1:new", "i-1:join_cluster", "i-1:ready", "i-2:new"],
        "the parent's changes first, then every child's"
    );
    assert_eq!(
        cursor.token.positions.keys().collect::<Vec<_>>(),
        ["child-1", "child-2"],
        "the closed parent left the token"
    );
    stream.write("child-2", "i-2", "ready");
    assert_eq!(
        states(&feed.read(&mut cursor).await.unwrap()),
        ["i-2:ready"]
    );
}

#[tokio::test]
async fn a_change_token_resumes_every_shard_right_after_what_was_seen() {
    let stream = Arc::new(FakeStream::default());
    stream.open("shard-a", None);
    stream.open("shard-b", None);
    let feed = StreamsFeed::over(stream.clone());
    let mut cursor = feed.open_latest().await.unwrap();
    stream.write("shard-a", "i-1", "new");
    stream.write("shard-b", "i-2", "new");
    stream.write("shard-a", "i-1", "ready");
    let changes = feed.read(&mut cursor).await.unwrap();
    assert_eq!(states(&changes), ["i-1:new", "i-1:ready", "i-2:new"]);
    // Resume after `i-1:ready`: shard-a goes on after it, shard-b from its oldest change.
    let token: ResumeToken = changes[1].token.to_string().parse().unwrap();
    assert_eq!(token, changes[1].token, "the text form round-trips");
    stream.write("shard-a", "i-1", "draining");
    let mut resumed = feed.open_at(&token).await.unwrap();
    assert_eq!(
        states(&feed.read(&mut resumed).await.unwrap()),
        ["i-1:draining", "i-2:new"]
    );
    // From the last token of the first cursor: only what came after.
    let mut last = feed.open_at(&cursor.token).await.unwrap();
    assert_eq!(
        states(&feed.read(&mut last).await.unwrap()),
        ["i-1:draining"]
    );
}

#[tokio::test]
async fn a_trimmed_shard_makes_the_token_gone_and_an_expired_iterator_is_reopened() {
    let stream = Arc::new(FakeStream::default());
    stream.open("shard-a", None);
    stream.open("shard-b", None);
    let feed = StreamsFeed::over(stream.clone());
    let mut cursor = feed.open_latest().await.unwrap();
    stream.write("shard-a", "i-1", "new");
    feed.read(&mut cursor).await.unwrap();
    // The next read of shard-a finds its iterator expired: reopened after `i-1:new`.
    let iterator = cursor.iterators["shard-a"].clone();
    stream.expire.lock().unwrap().push(iterator);
    stream.write("shard-a", "i-1", "ready");
    assert!(feed.read(&mut cursor).await.unwrap().is_empty());
    assert_eq!(
        states(&feed.read(&mut cursor).await.unwrap()),
        ["i-1:ready"]
    );
    let token = cursor.token.clone();
    stream.trim("shard-b");
    assert!(matches!(
        feed.open_at(&token).await,
        Err(FeedError::Gone { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_across_a_split_reports_every_change_in_order() {
    let stream = Arc::new(FakeStream::default());
    stream.open("shard-a", None);
    stream.open("shard-b", None);
    let feed: Arc<dyn ChangeFeed> = Arc::new(StreamsFeed::over(stream.clone()));
    let config = Config::default()
        .poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_secs(5));
    let mut watch = Box::pin(watcher(Arc::new(MemoryStore::new()), feed, None, config));
    assert_eq!(watch.next().await.unwrap().unwrap(), WatchEvent::Init);
    assert!(matches!(
        watch.next().await.unwrap().unwrap(),
        WatchEvent::InitDone { .. }
    ));
    stream.write("shard-a", "i-1", "new");
    stream.write("shard-b", "i-2", "new");
    stream.write("shard-a", "i-1", "join_cluster");
    stream.split("shard-a", &["shard-a1", "shard-a2"]);
    stream.write("shard-a1", "i-1", "ready");
    stream.write("shard-a2", "i-3", "new");
    stream.write("shard-b", "i-2", "ready");
    let mut seen: Vec<String> = Vec::new();
    while seen.len() < 6 {
        match watch.next().await.unwrap().unwrap() {
            WatchEvent::Apply { record, .. } => {
                seen.push(format!("{}:{}", record.ident, record.state()));
            }
            other => panic!("{other:?}"),
        }
    }
    let of = |ident: &str| -> Vec<&str> {
        seen.iter()
            .filter(|s| s.starts_with(&format!("{ident}:")))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(of("i-1"), ["i-1:new", "i-1:join_cluster", "i-1:ready"]);
    assert_eq!(of("i-2"), ["i-2:new", "i-2:ready"]);
    assert_eq!(of("i-3"), ["i-3:new"]);
}
