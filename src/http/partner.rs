//! `POST /partner/introspect`: OAuth 2.0 Token Introspection (RFC 7662) for partner servers.
//!
//! The partner authenticates with HTTP Basic (its id and secret, form-urlencoded first as
//! RFC 6749 §2.3.1 asks); the body is `token=…` as `application/x-www-form-urlencoded`. An
//! inactive token answers exactly `{"active": false}` (RFC 7662 §2.2).

use std::sync::Arc;

use axum::{
    Form, Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::auth::audit::{RequestContext, in_request};
use crate::auth::partner::{IntrospectError, Introspection};

#[derive(Deserialize)]
pub struct IntrospectionForm {
    token: Option<String>,
}

pub async fn introspect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<IntrospectionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some((id, secret)) = basic_credentials(&headers) else {
        return invalid_client();
    };
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send token=… as application/x-www-form-urlencoded",
        );
    };
    let Some(token) = form.token else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token parameter is missing",
        );
    };
    // The caller is the partner's server: its address says nothing about the member.
    let audit_context = RequestContext {
        request_id: headers
            .get(super::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        client_ip: None,
    };
    let outcome = in_request(
        audit_context,
        state.auth.introspect_partner_token(&id, &secret, &token),
    )
    .await;
    let mut response = match outcome {
        Ok(Introspection::Inactive) => Json(json!({"active": false})).into_response(),
        Ok(Introspection::Active {
            subject,
            name,
            membership_number,
            issued_at,
            expires_at,
            partner,
        }) => {
            let mut body = json!({
                "active": true,
                "sub": subject,
                "client_id": partner.as_str(),
                "token_type": "partner_handoff",
                "iat": issued_at.timestamp(),
                "exp": expires_at.timestamp(),
            });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if let Some(number) = membership_number {
                body["membership_number"] = json!(number);
            }
            Json(body).into_response()
        }
        Err(IntrospectError::InvalidClient) => return invalid_client(),
        Err(IntrospectError::RateLimited { retry_after }) => {
            let mut response = oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many requests",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
            response
        }
        Err(IntrospectError::Unexpected(error)) => {
            tracing::error!(error = %format!("{error:#}"), "partner introspection failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    };
    // RFC 7662 §4: introspection responses must not be cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = super::authorization::credentials(headers, "Basic")?.ok()?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

fn form_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn invalid_client() -> Response {
    let mut response = oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "partner authentication failed",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="partner""#),
    );
    response
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}
