//! A simulator of the Algolia REST API's record write and delete (`PUT` and `DELETE
//! /1/indexes/{index}/{objectID}`).
//!
//! It checks what Algolia checks — the application id and API key headers, a JSON object body,
//! the objectID in the path matching the body's, a record size limit — answers in Algolia's
//! shapes, and can fail on purpose (a 5xx, a delay past the client's timeout, or being down),
//! so the client's host-retry strategy can be tested host by host. It keeps every accepted
//! write so tests can read what the index received.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::put,
};
use serde_json::{Value, json};

/// Algolia refuses records over 10 KB on the default plans.
pub const MAX_RECORD_BYTES: usize = 10 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None = 0,
    /// Answer 503.
    ServerError = 1,
    /// Answer, but only after a long delay.
    Slow = 2,
}

/// One Algolia host.
pub struct AlgoliaSim {
    app_id: String,
    api_key: String,
    fault: AtomicU8,
    slow_ms: AtomicU64,
    /// index → objectID → every record accepted, in order; `null` for a delete.
    writes: Mutex<HashMap<String, HashMap<String, Vec<Value>>>>,
    requests: AtomicU64,
}

impl AlgoliaSim {
    pub fn new(app_id: &str, api_key: &str) -> Arc<Self> {
        Arc::new(Self {
            app_id: app_id.into(),
            api_key: api_key.into(),
            fault: AtomicU8::new(0),
            slow_ms: AtomicU64::new(5_000),
            writes: Mutex::default(),
            requests: AtomicU64::new(0),
        })
    }

    pub fn set_fault(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
    }

    /// Requests received, answered or not.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every record accepted for `object_id`, oldest first; a delete is `null`.
    pub fn writes_of(&self, index: &str, object_id: &str) -> Vec<Value> {
        let writes = self.writes.lock().expect("sim lock");
        writes
            .get(index)
            .and_then(|objects| objects.get(object_id))
            .cloned()
            .unwrap_or_default()
    }

    /// The current record of every object in `index` (deleted ones are absent).
    pub fn objects(&self, index: &str) -> HashMap<String, Value> {
        let writes = self.writes.lock().expect("sim lock");
        writes
            .get(index)
            .map(|objects| {
                objects
                    .iter()
                    .filter_map(|(id, records)| {
                        Some((id.clone(), records.last().filter(|r| !r.is_null())?.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Total accepted writes to `index`.
    pub fn write_count(&self, index: &str) -> usize {
        let writes = self.writes.lock().expect("sim lock");
        writes
            .get(index)
            .map(|objects| objects.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// Serves this host on `addr`; returns the bound address.
    pub async fn spawn(self: &Arc<Self>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = Router::new()
            .route(
                "/1/indexes/{index}/{object_id}",
                put(save_object).delete(delete_object),
            )
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(bound)
    }
}

fn algolia_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"message": message, "status": status.as_u16()})),
    )
        .into_response()
}

async fn save_object(
    State(sim): State<Arc<AlgoliaSim>>,
    Path((index, object_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refusal) = sim.refusal(&headers).await {
        return refusal;
    }
    if body.len() > MAX_RECORD_BYTES {
        return algolia_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Record at the position 0 objectID={object_id} is too big size={}/{MAX_RECORD_BYTES} bytes",
                body.len()
            ),
        );
    }
    let Ok(mut record) = serde_json::from_slice::<Value>(&body) else {
        return algolia_error(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    let Some(object) = record.as_object_mut() else {
        return algolia_error(StatusCode::BAD_REQUEST, "Record must be an object");
    };
    if object
        .get("objectID")
        .is_some_and(|id| id.as_str() != Some(object_id.as_str()))
    {
        return algolia_error(
            StatusCode::BAD_REQUEST,
            "objectID in the body does not match the path",
        );
    }
    object.insert("objectID".into(), Value::String(object_id.clone()));
    sim.writes
        .lock()
        .expect("sim lock")
        .entry(index)
        .or_default()
        .entry(object_id.clone())
        .or_default()
        .push(record);
    Json(json!({
        "objectID": object_id,
        "taskID": sim.requests.load(Ordering::SeqCst),
        "updatedAt": chrono::Utc::now().to_rfc3339(),
    }))
    .into_response()
}

/// Deletes the record; as Algolia does, a record it does not have is deleted all the same.
async fn delete_object(
    State(sim): State<Arc<AlgoliaSim>>,
    Path((index, object_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = sim.refusal(&headers).await {
        return refusal;
    }
    sim.writes
        .lock()
        .expect("sim lock")
        .entry(index)
        .or_default()
        .entry(object_id)
        .or_default()
        .push(Value::Null);
    Json(json!({
        "taskID": sim.requests.load(Ordering::SeqCst),
        "deletedAt": chrono::Utc::now().to_rfc3339(),
    }))
    .into_response()
}

impl AlgoliaSim {
    /// Counts the request, applies the fault, checks the credentials: an answer when refused.
    async fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        match self.fault.load(Ordering::SeqCst) {
            1 => {
                return Some(algolia_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                ));
            }
            2 => {
                tokio::time::sleep(Duration::from_millis(self.slow_ms.load(Ordering::SeqCst))).await
            }
            _ => {}
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if header("x-algolia-application-id") != Some(self.app_id.as_str())
            || header("x-algolia-api-key") != Some(self.api_key.as_str())
        {
            return Some(algolia_error(
                StatusCode::FORBIDDEN,
                "Invalid Application-ID or API key",
            ));
        }
        None
    }
}
