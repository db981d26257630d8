//! `/graphql`: POST executes one operation; GET serves GraphiQL and never executes anything.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::{ConnectInfo, RawQuery, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tracing::Instrument;

use super::{AppState, REQUEST_ID, authorization, client_ip, graphiql};
use crate::auth::AuthError;
use crate::auth::audit::{RequestContext, in_request};
use crate::graphql::{Caller, ClientIp, ErrorCode, LoginOnce, RequestId, Throttled, Unauthorized};

pub async fn graphql(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the GraphQL request as JSON with Content-Type: application/json".into(),
        );
    }
    // One operation per request: a JSON array (batch) is refused like any other bad body.
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                format!("the body is not a GraphQL request: {error}"),
            );
        }
    };
    let (operation, validated) = match state.documents.prepare(&request.query, &state.settings) {
        Ok(prepared) => {
            if let Some(document) = prepared.document {
                request.set_parsed_query(document);
            }
            (prepared.operation, prepared.validated)
        }
        Err(message) => return graphql_error_response(message),
    };
    let validated_before = validated.as_ref().is_some_and(|v| v.get());
    let schema = if validated_before {
        &state.fast_schema
    } else {
        &state.schema
    };
    let started = std::time::Instant::now();
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let caller = match bearer_token(&headers) {
        None => Caller::Anonymous,
        Some(Err(())) => Caller::Rejected(AuthError::InvalidToken),
        Some(Ok(token)) => match state.auth.authenticate(token).await {
            Ok(principal) => Caller::Authenticated(principal),
            Err(AuthError::Unexpected(error)) => {
                tracing::error!(request_id, error = %format!("{error:#}"), "authenticating a request failed");
                return internal_error(&request_id);
            }
            Err(reason) => Caller::Rejected(reason),
        },
    };
    let unauthorized = Unauthorized::default();
    let throttled = Throttled::default();
    let client_ip = client_ip::resolve(peer.ip(), &headers, &state.settings.trusted_proxies);
    let audit_context = RequestContext {
        request_id: Some(request_id.clone()),
        client_ip: Some(client_ip),
    };
    let request = request
        .data(caller)
        .data(unauthorized.clone())
        .data(throttled.clone())
        .data(LoginOnce::default())
        .data(ClientIp(Some(client_ip)))
        .data(RequestId(request_id));
    // Our own span: async-graphql's tracing extension records the query text and variables,
    // which may hold a password.
    let mut response = in_request(
        audit_context,
        schema
            .execute(request)
            .instrument(tracing::info_span!("graphql.execute", operation)),
    )
    .await;
    // Parse, validation and variable errors come from async-graphql without a code: they are
    // all the client's input. Resolver errors always carry theirs (see `graphql::error`).
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::BadUserInput.as_str());
        }
    }
    let refused_whole = response.data == async_graphql::Value::Null;
    // A field ran (data, or an error at a path): the document passed validation.
    if let Some(validated) = validated.filter(|_| !validated_before)
        && (!refused_whole || response.errors.iter().any(|e| !e.path.is_empty()))
    {
        validated.set();
    }
    let response = graphql_response(response, &headers);
    state
        .metrics
        .http_latency
        .get_or_create(&crate::metrics::Operation {
            operation: operation.to_owned(),
        })
        .observe(started.elapsed().as_secs_f64());
    if unauthorized.is_set() {
        return with_status(
            response,
            StatusCode::UNAUTHORIZED,
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
    }
    if let Some(seconds) = throttled.retry_after().filter(|_| refused_whole) {
        return with_status(
            response,
            StatusCode::TOO_MANY_REQUESTS,
            header::RETRY_AFTER,
            HeaderValue::from(seconds),
        );
    }
    response
}

/// The media type the client asked for (GraphQL over HTTP): `application/graphql-response+json`
/// when it accepts it, else `application/json`. With the former, a request error (the document
/// did not parse or validate, no field ran) is a 400 without a `data` entry.
fn graphql_response(response: async_graphql::Response, headers: &HeaderMap) -> Response {
    const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wants_graphql_json = accept
        .split(',')
        .any(|media| media.split(';').next().unwrap_or("").trim() == GRAPHQL_RESPONSE_JSON);
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let (status, content_type, body) = if wants_graphql_json && request_error {
        // No field ran: the errors alone, without `data` (the rare path goes through a Value).
        let mut body = serde_json::to_value(&response).unwrap_or_else(|_| serde_json::json!({}));
        if let Some(object) = body.as_object_mut() {
            object.remove("data");
        }
        (
            StatusCode::BAD_REQUEST,
            GRAPHQL_RESPONSE_JSON,
            body.to_string(),
        )
    } else {
        // Straight to text: no intermediate Value tree per response.
        let body = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
        let content_type = if wants_graphql_json {
            GRAPHQL_RESPONSE_JSON
        } else {
            "application/json"
        };
        (StatusCode::OK, content_type, body)
    };
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

fn with_status(
    response: Response,
    status: StatusCode,
    name: HeaderName,
    value: HeaderValue,
) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.status = status;
    parts.headers.insert(name, value);
    Response::from_parts(parts, body)
}

/// `None` without an `Authorization` header; `Err` when it is not a usable bearer token.
fn bearer_token(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    authorization::credentials(headers, "Bearer")
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// An error outside execution, in the GraphQL error shape: `{"errors": [{message, extensions}]}`.
pub(super) fn error_response(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    request_id: Option<&str>,
) -> Response {
    let mut extensions = serde_json::json!({"code": code.as_str()});
    if let Some(id) = request_id {
        extensions["requestId"] = id.into();
    }
    (
        status,
        Json(serde_json::json!({"errors": [{"message": message, "extensions": extensions}]})),
    )
        .into_response()
}

/// A request we could not even read as GraphQL.
fn request_error(status: StatusCode, message: String) -> Response {
    error_response(status, ErrorCode::BadRequest, &message, None)
}

/// A document refused before execution (too many aliases or root fields).
fn graphql_error_response(message: String) -> Response {
    error_response(StatusCode::OK, ErrorCode::BadUserInput, &message, None)
}

fn internal_error(request_id: &str) -> Response {
    let code = ErrorCode::InternalServerError;
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        code,
        code.message(),
        Some(request_id),
    )
}

/// GraphiQL for people; never an operation: GET must not execute anything, least a mutation.
pub async fn graphiql(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    if query.is_some_and(|q| q.split('&').any(|pair| pair.starts_with("query="))) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "operations are accepted only by POST with a JSON body",
            None,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if !state.settings.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    graphiql::page()
}
