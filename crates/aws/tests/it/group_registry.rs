//! The table's registry of swept groups (`#groups`) on moto: written once by a sweeping store,
//! never by a read-only one, read with one `GetItem`, never in the active index.

use asg_lifecycle::store::StateStore;
use asg_lifecycle_aws::DynamoStore;
use asg_lifecycle_aws::testing::moto::{moto_client, moto_store};

#[tokio::test]
async fn the_first_listing_of_every_group_registers_them_once_and_readers_only_read() {
    let (sweeper, counter) = moto_store(&["web", "api"]).await;
    let (client, reader_counter) = moto_client().await;
    let reader = DynamoStore::new(client, sweeper.table())
        .with_groups(["observed"])
        .without_group_registry();
    assert!(reader.known_groups().await.unwrap().is_empty());

    reader.query_active(None, None, 10).await.unwrap();
    assert_eq!(
        reader_counter.count("UpdateItem"),
        0,
        "a reader writes nothing"
    );

    for _ in 0..2 {
        let page = sweeper.query_active(None, None, 10).await.unwrap();
        assert!(
            page.records.is_empty(),
            "the registry is no record: {page:?}"
        );
    }
    assert_eq!(counter.count("UpdateItem"), 1, "{:?}", counter.all());
    assert_eq!(counter.count("Scan"), 0);
    // One group's listing registers nothing: only a sweep over every group does.
    counter.reset();
    sweeper.query_active(Some("web"), None, 10).await.unwrap();
    assert_eq!(counter.count("UpdateItem"), 0);

    assert_eq!(reader.known_groups().await.unwrap(), ["api", "web"]);
    let (client, _) = moto_client().await;
    let other = DynamoStore::new(client, sweeper.table()).with_groups(["db", "web"]);
    other.query_active(None, None, 10).await.unwrap();
    assert_eq!(reader.known_groups().await.unwrap(), ["api", "db", "web"]);
}
