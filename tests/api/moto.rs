//! moto in server mode as the EventBridge and SQS peer, and a proxy that can cut it off.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::OnceLock,
};

use aws_sdk_eventbridge::config::{Credentials, Region};
use serde_json::{Value, json};

/// One moto server for the whole test binary; it exits with the test process.
pub fn moto_endpoint() -> &'static str {
    static MOTO: OnceLock<(Child, String)> = OnceLock::new();
    &MOTO
        .get_or_init(|| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_server.py");
            let mut child = Command::new("python3")
                .arg(script)
                .arg(port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python3 runs");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .ok();
            let pinned = include_str!("../../.ci/peers.env")
                .lines()
                .find_map(|l| l.strip_prefix("MOTO_VERSION="))
                .expect("MOTO_VERSION in .ci/peers.env")
                .trim();
            let install = format!("install it with `pip install 'moto[server]=={pinned}'`");
            let version = line
                .trim()
                .strip_prefix("ready ")
                .unwrap_or_else(|| panic!("moto did not start: {install}"));
            // The peer the suite was written against, as .ci/run installs it: a different
            // moto is a different peer, with other timings and answers.
            assert_eq!(version, pinned, "moto {version} is installed: {install}");
            (child, format!("http://127.0.0.1:{port}"))
        })
        .1
}

pub fn eventbridge_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

pub fn eventbridge_settings(
    endpoint: &str,
    bus_name: &str,
) -> login_api::config::EventBridgeSettings {
    login_api::config::EventBridgeSettings {
        bus_name: bus_name.into(),
        source: "club.login-api".into(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.into()),
        static_credentials: Some(("testing".into(), "testing".into())),
    }
}

/// SQS through its JSON protocol (moto does not check signatures).
async fn sqs(action: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(moto_endpoint())
        .header("X-Amz-Target", format!("AmazonSQS.{action}"))
        .header("Content-Type", "application/x-amz-json-1.0")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "SQS {action} failed: {status} {body}");
    body
}

/// A bus with a rule sending `user.login` events (or other detail types) to a fresh SQS queue.
pub struct EventCapture {
    pub bus_name: String,
    queue_url: String,
}

impl EventCapture {
    pub async fn new() -> Self {
        Self::of(&["user.login"]).await
    }

    /// A capture of the events of `detail_types`.
    pub async fn of(detail_types: &[&str]) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let bus_name = format!("rides-service-{id}");
        let queue_url =
            sqs("CreateQueue", json!({"QueueName": format!("logins-{id}")})).await["QueueUrl"]
                .as_str()
                .unwrap()
                .to_owned();
        let queue_arn = sqs(
            "GetQueueAttributes",
            json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
        )
        .await["Attributes"]["QueueArn"]
            .as_str()
            .unwrap()
            .to_owned();
        let events = eventbridge_client(moto_endpoint());
        events
            .create_event_bus()
            .name(&bus_name)
            .send()
            .await
            .expect("create the bus");
        events
            .put_rule()
            .name("user-logins")
            .event_bus_name(&bus_name)
            .event_pattern(
                json!({"source": ["club.login-api"], "detail-type": detail_types}).to_string(),
            )
            .send()
            .await
            .expect("create the rule");
        events
            .put_targets()
            .rule("user-logins")
            .event_bus_name(&bus_name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("target the queue");
        Self {
            bus_name,
            queue_url,
        }
    }

    /// Every event received so far (each message deleted once read).
    pub async fn drain(&self) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let received = sqs(
                "ReceiveMessage",
                json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 10}),
            )
            .await;
            let messages = received["Messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                return events;
            }
            for message in messages {
                events.push(serde_json::from_str(message["Body"].as_str().unwrap()).unwrap());
                sqs(
                    "DeleteMessage",
                    json!({"QueueUrl": self.queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
                )
                .await;
            }
        }
    }
}

/// A TCP proxy in front of a server that can cut every connection on demand: a sink outage.
pub struct Outage {
    pub endpoint: String,
    down: tokio::sync::watch::Sender<bool>,
}

impl Outage {
    pub async fn in_front_of(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (down, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *watch.borrow() {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    // Pooled connections die with the outage too.
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|down| *down) => {}
                    }
                });
            }
        });
        Self { endpoint, down }
    }

    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}
