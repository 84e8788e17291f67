//! `DynamoStore` error mapping and retries, against a scripted HTTP server on loopback that
//! answers like DynamoDB (throttling, 5xx, conditional check failure, missing table).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::{Commit, StateStore, StoreError};
use asg_lifecycle_aws::{DynamoStore, RetryPolicy, dynamo};

/// One scripted answer: HTTP status and JSON body.
type Answer = (u16, String);

fn error(status: u16, code: &str) -> Answer {
    (
        status,
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"scripted {code}"}}"#
        ),
    )
}

/// Serves the answers in order (the last one repeats); returns the endpoint and the request count.
fn scripted_server(answers: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let n = count.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answers[n.min(answers.len() - 1)].clone();
            let response = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: r{n}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (endpoint, served)
}

/// The store over `config`, retrying quickly (the scripted server answers at once).
fn over(config: aws_sdk_dynamodb::Config) -> DynamoStore {
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "t").with_retry(RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    })
}

async fn store(endpoint: &str) -> DynamoStore {
    // Scripted answers need no real credentials.
    let config = dynamo::client_config(Some(endpoint), Some("us-east-1"))
        .await
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .build();
    over(config)
}

#[tokio::test]
async fn throttling_is_retried_until_it_passes() {
    let (endpoint, served) = scripted_server(vec![
        error(400, "ThrottlingException"),
        error(400, "ProvisionedThroughputExceededException"),
        (200, "{}".into()),
    ]);
    let found = store(&endpoint).await.get("i-1").await.unwrap();
    assert_eq!(found, None);
    assert_eq!(served.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn server_errors_that_outlive_the_retries_are_unavailable() {
    let (endpoint, served) = scripted_server(vec![error(500, "InternalServerError")]);
    let err = store(&endpoint).await.get("i-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(served.load(Ordering::SeqCst), 4, "max_attempts requests");
}

#[tokio::test]
async fn a_failed_condition_is_a_conflict_at_once() {
    let (endpoint, served) = scripted_server(vec![error(400, "ConditionalCheckFailedException")]);
    let commit = Commit::expecting(&InstanceRecord::new("i-1"), chrono::Utc::now());
    let err = store(&endpoint).await.commit(&commit).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { ref ident } if ident == "i-1"),
        "{err:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_missing_table_is_a_permanent_error_naming_the_cause() {
    let (endpoint, served) = scripted_server(vec![error(400, "ResourceNotFoundException")]);
    let err = store(&endpoint).await.get("i-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Other { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_after_the_retries() {
    let endpoint = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let err = store(&endpoint).await.get("i-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}

/// The store over the configuration the Lambda builds: DynamoDB's derived from the shared one.
async fn store_from_shared(endpoint: &str) -> DynamoStore {
    let shared = asg_lifecycle_aws::load_sdk_config(Some(endpoint), Some("us-east-1")).await;
    let config = dynamo::client_config_from(&shared)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .build();
    assert_eq!(
        config.retry_config().map(|r| r.max_attempts()),
        Some(1),
        "the SDK does not retry the store's calls: the store does"
    );
    let timeouts = config.timeout_config().expect("a timeout configuration");
    assert_eq!(
        timeouts.connect_timeout(),
        Some(Duration::from_millis(3100))
    );
    assert_eq!(
        timeouts.operation_attempt_timeout(),
        None,
        "the shared per-attempt bound is not the store's"
    );
    // Bounded as the store's own configuration (`client_config`) is.
    let own = dynamo::client_config(Some(endpoint), Some("us-east-1"))
        .await
        .build();
    assert_eq!(
        own.retry_config().map(|r| r.max_attempts()),
        Some(1),
        "the store's own configuration"
    );
    let own = own.timeout_config().expect("a timeout configuration");
    assert_eq!(own.connect_timeout(), timeouts.connect_timeout());
    assert_eq!(own.operation_attempt_timeout(), None);
    assert_eq!(own.operation_timeout(), timeouts.operation_timeout());
    assert_eq!(own.read_timeout(), timeouts.read_timeout());
    over(config)
}

#[tokio::test]
async fn a_store_configured_from_the_shared_configuration_is_retried_by_the_store_alone() {
    let (endpoint, served) = scripted_server(vec![
        error(400, "ThrottlingException"),
        error(500, "InternalServerError"),
        (200, "{}".into()),
    ]);
    let found = store_from_shared(&endpoint).await.get("i-1").await.unwrap();
    assert_eq!(found, None);
    assert_eq!(
        served.load(Ordering::SeqCst),
        3,
        "one request per store attempt"
    );
    let (endpoint, served) = scripted_server(vec![error(500, "InternalServerError")]);
    let err = store_from_shared(&endpoint)
        .await
        .get("i-1")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert_eq!(
        served.load(Ordering::SeqCst),
        4,
        "max_attempts requests, no SDK retries"
    );
}
