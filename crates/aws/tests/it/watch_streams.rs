//! The watcher over DynamoDB Streams, against a real `moto_server` (`MOTO_ENDPOINT`, started by
//! `scripts/test.sh`): changes in order, resume from a token, no duplicates across a resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use asg_lifecycle::store::MemoryStore;
use asg_lifecycle::watch::{ChangeFeed, Config, ResumeToken, WatchEvent, watcher};
use asg_lifecycle_aws::StreamsFeed;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use futures::{Stream, StreamExt};

fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT must point at a running moto_server (scripts/test.sh starts one on loopback)")
}

async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

struct Table {
    name: String,
    db: aws_sdk_dynamodb::Client,
    feed: Arc<StreamsFeed>,
}

async fn table() -> Table {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "watch-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let config = sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&config);
    db.create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("Ident")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("Ident")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create the table in moto");
    let feed = Arc::new(StreamsFeed::new(
        aws_sdk_dynamodbstreams::Client::new(&config),
        &name,
    ));
    Table { name, db, feed }
}

impl Table {
    async fn put(&self, ident: &str, state: &str) {
        self.db
            .put_item()
            .table_name(&self.name)
            .item("Ident", AttributeValue::S(ident.into()))
            .item("ItemStatus", AttributeValue::S(state.into()))
            .item("GroupName", AttributeValue::S("web".into()))
            .send()
            .await
            .unwrap();
    }

    async fn update(&self, ident: &str, state: &str, version: u64) {
        self.db
            .update_item()
            .table_name(&self.name)
            .key("Ident", AttributeValue::S(ident.into()))
            .update_expression("SET ItemStatus = :s, Version = :v")
            .expression_attribute_values(":s", AttributeValue::S(state.into()))
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .send()
            .await
            .unwrap();
    }

    fn watch(
        &self,
        since: Option<ResumeToken>,
        timeout: Duration,
    ) -> impl Stream<Item = WatchEvent> + use<> {
        let config = Config::default()
            .poll_interval(Duration::from_millis(50))
            .timeout(timeout);
        watcher(
            Arc::new(MemoryStore::new()),
            self.feed.clone(),
            since,
            config,
        )
        .map(|item| item.unwrap_or_else(|e| panic!("watch error: {e}")))
    }
}

async fn next(stream: &mut (impl Stream<Item = WatchEvent> + Unpin)) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("a watch event within 20s")
        .expect("the watch goes on")
}

fn applied(event: &WatchEvent) -> (String, String, ResumeToken) {
    match event {
        WatchEvent::Apply { record, token } => (
            record.ident.clone(),
            record.state().to_string(),
            token.clone(),
        ),
        other => panic!("expected an Apply, got {other:?}"),
    }
}

#[tokio::test]
async fn changes_arrive_in_order_and_a_resume_reports_each_once() {
    let table = table().await;
    let mut watch = Box::pin(table.watch(None, Duration::from_secs(60)));
    assert_eq!(next(&mut watch).await, WatchEvent::Init);
    assert!(matches!(
        next(&mut watch).await,
        WatchEvent::InitDone { .. }
    ));

    table.put("i-1", "new").await;
    // An instance's own registration (keyed by its ARN) is no record: never reported.
    table
        .put(
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
            "finished_cloud_init",
        )
        .await;
    table.update("i-1", "finished_cloud_init", 1).await;
    table.put("i-2", "new").await;
    let first: Vec<_> = [
        next(&mut watch).await,
        next(&mut watch).await,
        next(&mut watch).await,
    ]
    .iter()
    .map(applied)
    .collect();
    let states: Vec<_> = first
        .iter()
        .map(|(i, s, _)| (i.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("i-1", "new"),
            ("i-1", "finished_cloud_init"),
            ("i-2", "new")
        ]
    );
    let sequences: Vec<u128> = first
        .iter()
        .map(|(_, _, t)| {
            let mut sequences = t.positions.values().flatten();
            sequences.next().unwrap().parse().unwrap()
        })
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase: {sequences:?}"
    );
    drop(watch);

    // Resume after the second change: the third comes again, nothing before it does.
    table.update("i-2", "finished_cloud_init", 1).await;
    let resume = first[1].2.clone();
    let mut resumed = Box::pin(table.watch(Some(resume), Duration::from_secs(60)));
    let again: Vec<_> = [next(&mut resumed).await, next(&mut resumed).await]
        .iter()
        .map(applied)
        .collect();
    let states: Vec<_> = again
        .iter()
        .map(|(i, s, _)| (i.as_str(), s.as_str()))
        .collect();
    assert_eq!(states, [("i-2", "new"), ("i-2", "finished_cloud_init")]);
    assert_eq!(again[0].2, first[2].2, "the same change has the same token");

    // From the newest token: no change is reported again; the watch closes with that token.
    let last = again[1].2.clone();
    let tail: Vec<_> = table
        .watch(Some(last.clone()), Duration::from_millis(500))
        .collect()
        .await;
    assert_eq!(
        tail,
        [WatchEvent::Closed {
            token: Some(last),
            reason: asg_lifecycle::watch::CloseReason::Timeout
        }]
    );
}

#[tokio::test]
async fn a_bare_shard_token_replays_the_shard_from_its_oldest_change() {
    let table = table().await;
    table.put("i-1", "new").await;
    table.update("i-1", "ready", 3).await;
    let latest = table.feed.open_latest().await.unwrap();
    assert!(latest.token.positions.values().all(Option::is_none));
    let mut cursor = table.feed.open_at(&latest.token).await.unwrap();
    let changes = table.feed.read(&mut cursor).await.unwrap();
    let states: Vec<_> = changes
        .iter()
        .map(|c| (c.kind, c.new.as_ref().unwrap().state().to_string()))
        .collect();
    use asg_lifecycle::watch::ChangeKind::{Insert, Modify};
    assert_eq!(
        states,
        [(Insert, "new".to_string()), (Modify, "ready".to_string())]
    );
    assert_eq!(changes[1].new.as_ref().unwrap().version, 3);
    assert_eq!(changes[1].old.as_ref().unwrap().state(), "new");
    assert_eq!(cursor.token, changes[1].token);
}

#[tokio::test]
async fn a_table_without_a_stream_fails_the_watch() {
    let table = table().await;
    let feed = Arc::new(StreamsFeed::new(
        aws_sdk_dynamodbstreams::Client::new(&sdk_config().await),
        "no-such-table",
    ));
    let events: Vec<_> = watcher(Arc::new(MemoryStore::new()), feed, None, Config::default())
        .collect()
        .await;
    assert_eq!(events.len(), 1);
    let err = events[0].as_ref().unwrap_err();
    assert!(err.to_string().contains("no stream"), "{err}");
    drop(table);
}
