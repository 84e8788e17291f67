//! A loopback HTTP server for the end-to-end tests of the `lifecycle-handler` binary. It speaks
//! two protocols on one port:
//!
//! - the **Lambda Runtime API** (`/2018-06-01/runtime/...`): `GET invocation/next` answers the
//!   next queued event with the `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`,
//!   `-Invoked-Function-Arn` and `-Trace-Id` headers; `POST invocation/{id}/response`,
//!   `invocation/{id}/error` and `init/error` are recorded as [`Reply`]s;
//! - a **fake Auto Scaling (awsQuery) and SSM (awsJson 1.1) endpoint** (`POST /`) for the calls
//!   moto cannot serve faithfully: every call is recorded, `SendCommand` can be throttled per
//!   instance a set number of times.
//!
//! Every response closes its connection (`Connection: close`), so no keep-alive handling is
//! needed.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// What the function posted back.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `invocation/{id}/response`.
    Response { request_id: String, body: Value },
    /// `invocation/{id}/error`.
    Error {
        request_id: String,
        error_type: String,
        body: Value,
    },
    /// `init/error`.
    InitError { error_type: String, body: Value },
}

/// One call made to the fake AWS endpoint.
#[derive(Clone, Debug)]
pub struct AwsCall {
    /// `SendCommand`, `CompleteLifecycleAction`, ...
    pub operation: String,
    /// The request body (JSON text for SSM, form-encoded for Auto Scaling).
    pub body: String,
}

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<AwsCall>>,
    throttle_send: Mutex<HashMap<String, usize>>,
    next_command: AtomicUsize,
}

/// The server; lives as long as the test.
pub struct Server {
    /// `127.0.0.1:PORT`, for `AWS_LAMBDA_RUNTIME_API`.
    pub addr: String,
    events: mpsc::Sender<(String, Value)>,
    replies: Mutex<mpsc::Receiver<Reply>>,
    fake: Arc<Fake>,
    next_request: AtomicUsize,
}

impl Server {
    /// Starts the server on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap().to_string();
        let (events_tx, events_rx) = mpsc::channel::<(String, Value)>();
        let (replies_tx, replies_rx) = mpsc::channel::<Reply>();
        let events_rx = Arc::new(Mutex::new(events_rx));
        let fake = Arc::new(Fake::default());
        let fake_for_server = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let events = events_rx.clone();
                let replies = replies_tx.clone();
                let fake = fake_for_server.clone();
                std::thread::spawn(move || serve(stream, &events, &replies, &fake));
            }
        });
        Self {
            addr,
            events: events_tx,
            replies: Mutex::new(replies_rx),
            fake,
            next_request: AtomicUsize::new(1),
        }
    }

    /// The base URL of the fake AWS endpoint.
    pub fn aws_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes the next `times` `SendCommand` calls for `instance` fail with throttling.
    pub fn throttle_send_command(&self, instance: &str, times: usize) {
        self.fake
            .throttle_send
            .lock()
            .unwrap()
            .insert(instance.to_string(), times);
    }

    /// The fake AWS calls so far.
    pub fn aws_calls(&self) -> Vec<AwsCall> {
        self.fake.calls.lock().unwrap().clone()
    }

    /// Queues an invocation and waits (up to `timeout`) for the function's reply to it.
    ///
    /// # Panics
    /// When no reply comes, or the reply is for another request.
    pub fn invoke(&self, payload: Value, timeout: Duration) -> Reply {
        let id = format!("req-{}", self.next_request.fetch_add(1, Ordering::Relaxed));
        self.events.send((id.clone(), payload)).unwrap();
        let reply = self.next_reply(timeout).unwrap_or_else(|| {
            panic!("no reply to {id} within {timeout:?} (did the function crash? see its output)")
        });
        match &reply {
            Reply::Response { request_id, .. } | Reply::Error { request_id, .. } => {
                assert_eq!(request_id, &id, "reply to another request: {reply:?}");
            }
            Reply::InitError { .. } => panic!("init failed instead of answering {id}: {reply:?}"),
        }
        reply
    }

    /// The next reply of any kind, if one comes within `timeout`.
    pub fn next_reply(&self, timeout: Duration) -> Option<Reply> {
        self.replies.lock().unwrap().recv_timeout(timeout).ok()
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut body = Vec::new();
    if let Some(length) = headers.get("content-length") {
        body.resize(length.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond(mut stream: &TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn serve(
    stream: TcpStream,
    events: &Mutex<mpsc::Receiver<(String, Value)>>,
    replies: &mpsc::Sender<Reply>,
    fake: &Fake,
) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let body_json = || serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let error_type = || {
        request
            .headers
            .get("lambda-runtime-function-error-type")
            .cloned()
            .unwrap_or_default()
    };
    let path = request.path.as_str();
    if request.method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
        let next = events.lock().unwrap().recv();
        let Ok((id, payload)) = next else { return };
        let deadline = SystemTime::now() + Duration::from_secs(30);
        let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
        let headers = [
            ("Content-Type", "application/json".to_string()),
            ("Lambda-Runtime-Aws-Request-Id", id),
            ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:lifecycle".to_string(),
            ),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
                    .to_string(),
            ),
        ];
        respond(&stream, 200, &headers, payload.to_string().as_bytes());
        return;
    }
    if request.method == "POST" && path == "/2018-06-01/runtime/init/error" {
        let _ = replies.send(Reply::InitError {
            error_type: error_type(),
            body: body_json(),
        });
        respond(&stream, 202, &[], b"{}");
        return;
    }
    if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/")
        && request.method == "POST"
    {
        let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
        let reply = match kind {
            "response" => Reply::Response {
                request_id: id.to_string(),
                body: body_json(),
            },
            _ => Reply::Error {
                request_id: id.to_string(),
                error_type: error_type(),
                body: body_json(),
            },
        };
        let _ = replies.send(reply);
        respond(&stream, 202, &[], b"{}");
        return;
    }
    if request.method == "POST" && path == "/" {
        fake_aws(&stream, &request, fake);
        return;
    }
    respond(&stream, 404, &[], b"not found");
}

fn fake_aws(stream: &TcpStream, request: &Request, fake: &Fake) {
    let body = String::from_utf8_lossy(&request.body).to_string();
    if let Some(target) = request.headers.get("x-amz-target") {
        let operation = target.rsplit('.').next().unwrap_or(target).to_string();
        fake.calls.lock().unwrap().push(AwsCall {
            operation: operation.clone(),
            body: body.clone(),
        });
        let input: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let json_headers = [("Content-Type", "application/x-amz-json-1.1".to_string())];
        let answer = match operation.as_str() {
            "SendCommand" => {
                let instance = input["InstanceIds"][0].as_str().unwrap_or("").to_string();
                let mut throttle = fake.throttle_send.lock().unwrap();
                if let Some(left) = throttle.get_mut(&instance).filter(|n| **n > 0) {
                    *left -= 1;
                    let error =
                        json!({"__type": "ThrottlingException", "message": "Rate exceeded"});
                    respond(stream, 400, &json_headers, error.to_string().as_bytes());
                    return;
                }
                let n = fake.next_command.fetch_add(1, Ordering::Relaxed);
                json!({"Command": {
                    "CommandId": format!("cmd-{instance}-{n}"),
                    "Comment": input["Comment"], "DocumentName": input["DocumentName"],
                    "InstanceIds": [instance], "Status": "Pending"
                }})
            }
            "ListCommands" => json!({"Commands": []}),
            // Every instance is registered with SSM, with an address derived from its id.
            "DescribeInstanceInformation" => {
                let instance = input["Filters"][0]["Values"][0].as_str().unwrap_or("");
                let last = instance.bytes().last().unwrap_or(b'0');
                json!({"InstanceInformationList": [{
                    "InstanceId": instance, "IPAddress": format!("10.0.0.{last}"),
                    "PingStatus": "Online"
                }]})
            }
            "GetCommandInvocation" => json!({
                "CommandId": input["CommandId"], "InstanceId": input["InstanceId"],
                "Status": "InProgress", "StatusDetails": "InProgress"
            }),
            other => {
                let error = json!({"__type": "InvalidAction", "message": format!("fake: {other}")});
                respond(stream, 400, &json_headers, error.to_string().as_bytes());
                return;
            }
        };
        respond(stream, 200, &json_headers, answer.to_string().as_bytes());
        return;
    }
    // Auto Scaling: awsQuery, `Action=...&...`.
    let operation = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("")
        .to_string();
    fake.calls.lock().unwrap().push(AwsCall {
        operation: operation.clone(),
        body,
    });
    let xml = format!(
        "<{operation}Response xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\
         <{operation}Result/><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>\
         </{operation}Response>"
    );
    respond(
        stream,
        200,
        &[("Content-Type", "text/xml".into())],
        xml.as_bytes(),
    );
}
