//! SMS stand-ins: the development inbox of the `log` sender, and a gateway simulator that
//! receives what the `webhook` and `twilio` senders send, checking what the real receivers
//! check.
//!
//! - The webhook receiver verifies `X-Signature-256: sha256=<hex>`, an HMAC-SHA256 with the
//!   shared secret over `"<X-Signature-Timestamp>.<body>"`, refuses timestamps more than five
//!   minutes off, and treats a repeated `Idempotency-Key` as delivered (200, stored once).
//! - The Twilio simulator answers the Messaging API's "Create a Message"
//!   (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`) as Twilio does: HTTP Basic with
//!   the account SID and auth token (else 401, code 20003), form fields `To` (E.164, else 400
//!   code 21211), `MessagingServiceSid` or `From`, and `Body` (else 400 code 21602); 201 with
//!   the message resource on success.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use aws_lc_rs::{constant_time, hmac};
use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

/// Messages kept; older ones fall off.
const INBOX_SIZE: usize = 200;

/// One message as a receiver got it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxMessage {
    pub to: String,
    pub body: String,
    pub challenge_id: Option<String>,
    /// Which way it came: `log`, `webhook` or `twilio`.
    pub via: &'static str,
}

/// Received messages, newest last; cheap to clone and share.
#[derive(Clone, Default)]
pub struct SmsInbox(Arc<Mutex<VecDeque<InboxMessage>>>);

impl SmsInbox {
    pub fn push(&self, message: InboxMessage) {
        let mut inbox = self.0.lock().expect("sms inbox lock");
        if inbox.len() == INBOX_SIZE {
            inbox.pop_front();
        }
        inbox.push_back(message);
    }

    pub fn messages(&self) -> Vec<InboxMessage> {
        self.0
            .lock()
            .expect("sms inbox lock")
            .iter()
            .cloned()
            .collect()
    }

    /// The messages sent to `to` (E.164), oldest first.
    pub fn to(&self, to: &str) -> Vec<InboxMessage> {
        self.messages().into_iter().filter(|m| m.to == to).collect()
    }
}

/// `GET /sms/inbox`: what the development senders received, as JSON.
pub async fn inbox(State(inbox): State<SmsInbox>) -> Json<Vec<InboxMessage>> {
    Json(inbox.messages())
}

/// The gateway simulator's settings: the webhook secret and the Twilio account.
#[derive(Clone)]
pub struct GatewayConfig {
    pub webhook_secret: String,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
}

#[derive(Clone)]
struct Gateway {
    config: GatewayConfig,
    inbox: SmsInbox,
    /// Idempotency keys already delivered.
    seen: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Requests refused (bad signature, bad auth, bad fields), for tests to see.
    refused: Arc<Mutex<Vec<String>>>,
}

/// Serves the webhook receiver and the Twilio API on `addr`; returns the bound address.
pub async fn spawn_gateway(
    addr: SocketAddr,
    config: GatewayConfig,
    inbox: SmsInbox,
) -> anyhow::Result<(SocketAddr, GatewayRefusals)> {
    let refused = Arc::new(Mutex::new(Vec::new()));
    let gateway = Gateway {
        config,
        inbox: inbox.clone(),
        seen: Arc::default(),
        refused: refused.clone(),
    };
    let app = Router::new()
        .route("/webhook", post(webhook))
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio))
        .with_state(gateway)
        .merge(
            Router::new()
                .route("/sms/inbox", get(self::inbox))
                .with_state(inbox),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the SMS gateway simulator stopped");
        }
    });
    Ok((bound, GatewayRefusals(refused)))
}

/// Why the gateway refused requests, oldest first.
#[derive(Clone)]
pub struct GatewayRefusals(Arc<Mutex<Vec<String>>>);

impl GatewayRefusals {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("refusals lock").clone()
    }
}

impl Gateway {
    fn refuse(&self, status: StatusCode, why: &str, body: serde_json::Value) -> Response {
        self.refused
            .lock()
            .expect("refusals lock")
            .push(why.to_owned());
        (status, Json(body)).into_response()
    }
}

/// Stripe-style: the signature covers the timestamp and the exact bytes received.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let hex: String = context
        .sign()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

async fn webhook(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let timestamp = header("x-signature-timestamp").and_then(|t| t.parse::<i64>().ok());
    let (Some(timestamp), Some(signature)) = (timestamp, header("x-signature-256")) else {
        return gateway.refuse(
            StatusCode::UNAUTHORIZED,
            "unsigned",
            json!({"error": "unsigned"}),
        );
    };
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
        return gateway.refuse(
            StatusCode::UNAUTHORIZED,
            "stale timestamp",
            json!({"error": "stale"}),
        );
    }
    let expected = webhook_signature(&gateway.config.webhook_secret, timestamp, &body);
    if constant_time::verify_slices_are_equal(expected.as_bytes(), signature.as_bytes()).is_err() {
        return gateway.refuse(
            StatusCode::UNAUTHORIZED,
            "bad signature",
            json!({"error": "bad signature"}),
        );
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Message {
        to: String,
        body: String,
        challenge_id: String,
        #[allow(dead_code)]
        expires_at: chrono::DateTime<chrono::Utc>,
    }
    let Ok(message) = serde_json::from_slice::<Message>(&body) else {
        return gateway.refuse(
            StatusCode::BAD_REQUEST,
            "bad body",
            json!({"error": "bad body"}),
        );
    };
    let Some(key) = header("idempotency-key").map(str::to_owned) else {
        return gateway.refuse(
            StatusCode::BAD_REQUEST,
            "no idempotency key",
            json!({"error": "Idempotency-Key required"}),
        );
    };
    if gateway.seen.lock().expect("seen lock").insert(key) {
        gateway.inbox.push(InboxMessage {
            to: message.to,
            body: message.body,
            challenge_id: Some(message.challenge_id),
            via: "webhook",
        });
    }
    (StatusCode::OK, Json(json!({"status": "accepted"}))).into_response()
}

#[derive(Deserialize)]
struct TwilioForm {
    #[serde(rename = "To")]
    to: Option<String>,
    #[serde(rename = "Body")]
    body: Option<String>,
    #[serde(rename = "MessagingServiceSid")]
    messaging_service_sid: Option<String>,
    #[serde(rename = "From")]
    from: Option<String>,
}

fn twilio_error(code: u32, message: &str, status: StatusCode) -> serde_json::Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    })
}

async fn twilio(
    State(gateway): State<Gateway>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TwilioForm>,
) -> Response {
    let config = &gateway.config;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            config.twilio_account_sid, config.twilio_auth_token
        ))
    );
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
        && sid == config.twilio_account_sid;
    if !authorized {
        let status = StatusCode::UNAUTHORIZED;
        return gateway.refuse(
            status,
            "twilio auth",
            twilio_error(20003, "Authenticate", status),
        );
    }
    let bad = StatusCode::BAD_REQUEST;
    let to = form.to.unwrap_or_default();
    let e164 = to.len() > 2
        && to.len() <= 16
        && to.starts_with('+')
        && to[1..].bytes().all(|b| b.is_ascii_digit())
        && !to[1..].starts_with('0');
    if !e164 {
        return gateway.refuse(
            bad,
            "twilio To",
            twilio_error(21211, "The 'To' number is not a valid phone number.", bad),
        );
    }
    let Some(body) = form.body.filter(|b| !b.is_empty()) else {
        return gateway.refuse(
            bad,
            "twilio Body",
            twilio_error(21602, "Message body is required.", bad),
        );
    };
    if form.messaging_service_sid.is_none() && form.from.is_none() {
        return gateway.refuse(
            bad,
            "twilio From",
            twilio_error(
                21603,
                "A 'From' or 'MessagingServiceSid' parameter is required",
                bad,
            ),
        );
    }
    let message_sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    gateway.inbox.push(InboxMessage {
        to: to.clone(),
        body: body.clone(),
        challenge_id: None,
        via: "twilio",
    });
    (
        StatusCode::CREATED,
        Json(json!({
            "sid": message_sid,
            "account_sid": sid,
            "to": to,
            "from": form.from,
            "messaging_service_sid": form.messaging_service_sid,
            "body": body,
            "status": "accepted",
            "num_segments": "1",
            "error_code": null,
            "error_message": null,
            "api_version": "2010-04-01",
            "uri": format!("/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json"),
        })),
    )
        .into_response()
}
