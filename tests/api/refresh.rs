//! `refreshSession`: rotation, reuse detection with a grace window, lifetimes.

use chrono::Duration;
use login_api::ports::Clock;
use serde_json::json;

use crate::helpers::{ANNA, spawn_app, spawn_app_with};

fn token(payload: &serde_json::Value) -> &str {
    payload["refreshToken"].as_str().unwrap()
}

#[tokio::test]
async fn a_refresh_rotates_both_tokens_and_moves_last_accessed_at() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("phone")).await;
    app.clock.advance(Duration::minutes(14));

    let response = app.refresh(token(&login)).await;

    assert_eq!(response.code(), None, "{}", response.body);
    let refreshed = response.data("refreshSession");
    assert_ne!(refreshed["refreshToken"], login["refreshToken"]);
    assert_ne!(refreshed["accessToken"], login["accessToken"]);
    assert_eq!(refreshed["session"]["id"], login["session"]["id"]);
    assert_ne!(
        refreshed["session"]["lastAccessedAt"],
        login["session"]["lastAccessedAt"]
    );
    assert_eq!(refreshed["expiresIn"], 900);
    // The new access token works.
    let me = app
        .gql(
            "{ me { id } }",
            json!({}),
            refreshed["accessToken"].as_str(),
        )
        .await;
    assert_eq!(me.data("me")["id"], login["user"]["id"]);
    // And the new refresh token rotates again.
    app.clock.advance(Duration::minutes(14));
    let again = app.refresh(token(refreshed)).await;
    assert_eq!(again.code(), None, "{}", again.body);
}

#[tokio::test]
async fn the_same_token_inside_the_grace_window_gets_the_same_successor() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;

    let first = app.refresh(token(&login)).await;
    app.clock.advance(Duration::seconds(9));
    let retry = app.refresh(token(&login)).await;

    assert_eq!(retry.code(), None, "{}", retry.body);
    let (first, retry) = (first.data("refreshSession"), retry.data("refreshSession"));
    assert_eq!(first["refreshToken"], retry["refreshToken"]);
    let me = app
        .gql("{ me { id } }", json!({}), retry["accessToken"].as_str())
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(app.count("refresh_tokens").await, 2);
}

#[tokio::test]
async fn a_reused_token_after_the_grace_window_ends_the_whole_session() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    let rotated = app.refresh(token(&login)).await;
    let rotated = rotated.data("refreshSession").clone();
    app.clock.advance(Duration::seconds(10));

    let reuse = app.refresh(token(&login)).await;

    assert_eq!(reuse.code(), Some("REFRESH_TOKEN_REUSED"));
    // Every token of the session is dead: the successor and the access tokens.
    assert_eq!(
        app.refresh(token(&rotated)).await.code(),
        Some("INVALID_REFRESH_TOKEN")
    );
    let me = app
        .gql("{ me { id } }", json!({}), rotated["accessToken"].as_str())
        .await;
    assert_eq!(me.status, 401);
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_yield_one_successor_that_all_agree_on() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;

    let refreshes = (0..20).map(|_| app.refresh(token(&login)));
    let responses = futures::future::join_all(refreshes).await;

    let successors: std::collections::HashSet<String> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.code(), None, "{}", r.body);
            r.data("refreshSession")["refreshToken"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(successors.len(), 1);
    // One used token and one successor: no extra rows from the losers.
    assert_eq!(app.count("refresh_tokens").await, 2);
    let successor = successors.into_iter().next().unwrap();
    assert_eq!(app.refresh(&successor).await.code(), None);
}

#[tokio::test]
async fn unknown_malformed_and_expired_tokens_are_invalid_refresh_token() {
    let app = spawn_app_with(|s| s.lifetimes.refresh_token = Duration::hours(1)).await;
    let login = app.login_as(ANNA, None).await;

    for bad in [
        "",
        "nope",
        &"A".repeat(43),
        &"x".repeat(10_000),
        "' OR 1=1 --",
    ] {
        let response = app.refresh(bad).await;
        assert_eq!(response.code(), Some("INVALID_REFRESH_TOKEN"), "{bad:.20}");
    }

    app.clock.advance(Duration::hours(1) - Duration::seconds(1));
    let last_moment = app.refresh(token(&login)).await;
    assert_eq!(last_moment.code(), None, "{}", last_moment.body);
    let successor = last_moment.data("refreshSession").clone();
    app.clock.advance(Duration::hours(1));
    assert_eq!(
        app.refresh(token(&successor)).await.code(),
        Some("INVALID_REFRESH_TOKEN")
    );
}

#[tokio::test]
async fn a_session_idle_past_its_timeout_cannot_be_refreshed() {
    let app = spawn_app_with(|s| {
        s.lifetimes.idle = Duration::days(2);
        s.lifetimes.refresh_token = Duration::days(30);
    })
    .await;
    let login = app.login_as(ANNA, None).await;

    app.clock.advance(Duration::days(2) - Duration::seconds(1));
    let in_time = app.refresh(token(&login)).await;
    assert_eq!(in_time.code(), None, "{}", in_time.body);
    let successor = in_time.data("refreshSession").clone();

    app.clock.advance(Duration::days(2));
    let idle = app.refresh(token(&successor)).await;
    assert_eq!(idle.code(), Some("INVALID_REFRESH_TOKEN"));
}

#[tokio::test]
async fn a_session_ends_at_its_maximum_lifetime_however_active() {
    let app = spawn_app_with(|s| s.lifetimes.max = Duration::hours(1)).await;
    let mut current = app.login_as(ANNA, None).await;

    for _ in 0..3 {
        app.clock.advance(Duration::minutes(15));
        let response = app.refresh(token(&current)).await;
        assert_eq!(response.code(), None, "{}", response.body);
        current = response.data("refreshSession").clone();
        assert!(current["refreshTokenExpiresIn"].as_i64().unwrap() <= 3600);
    }
    app.clock.advance(Duration::minutes(15));
    assert_eq!(
        app.refresh(token(&current)).await.code(),
        Some("INVALID_REFRESH_TOKEN")
    );
}

#[tokio::test]
async fn a_refresh_after_the_membership_ended_is_membership_inactive_and_ends_the_session() {
    let app = spawn_app().await;
    let login = app.login_as("zoe.endstoday@example.org", None).await;
    // Just past midnight after the membership's last day (UTC is the default club timezone).
    let tomorrow = app.clock.now().date_naive().succ_opt().unwrap();
    app.clock
        .set(tomorrow.and_hms_opt(0, 0, 1).unwrap().and_utc());

    let response = app.refresh(token(&login)).await;

    assert_eq!(
        response.code(),
        Some("MEMBERSHIP_INACTIVE"),
        "{}",
        response.body
    );
    assert_eq!(response.error_extension("reason"), "EXPIRED");
    // The session is over: its refresh token is now simply invalid.
    assert_eq!(
        app.refresh(token(&login)).await.code(),
        Some("INVALID_REFRESH_TOKEN")
    );
    let me = app
        .gql("{ me { id } }", json!({}), login["accessToken"].as_str())
        .await;
    assert_eq!(me.status, 401);
}

#[tokio::test]
async fn a_stored_membership_that_has_ended_refuses_the_refresh_with_reason_expired() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    // The membership on record ends today, as if Hybris had reported a shortened membership.
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let yesterday = app.clock.now().date_naive().pred_opt().unwrap();
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "UPDATE users SET membership_end_date = $1",
            _ => "UPDATE users SET membership_end_date = ?",
        },
        [yesterday.into()],
    ))
    .await
    .unwrap();

    let response = app.refresh(token(&login)).await;

    assert_eq!(response.code(), Some("MEMBERSHIP_INACTIVE"));
    assert_eq!(response.error_extension("reason"), "EXPIRED");
    let me = app
        .gql("{ me { id } }", json!({}), login["accessToken"].as_str())
        .await;
    assert_eq!(me.status, 401, "the session ended");
}

/// On PostgreSQL a refresh finds and claims its token in one statement when the rules
/// certainly allow it; whenever they do not, nothing may be claimed or stored: for each way a
/// refresh is refused, at each rule's boundary, no token is used and no successor written.
#[tokio::test]
async fn a_refused_refresh_uses_no_token_and_stores_no_successor() {
    let used = "refresh_tokens WHERE used_at IS NOT NULL";
    let cases = [
        "expired token",
        "idle session",
        "session at its end",
        "membership ended",
        "membership not started",
        "logged out",
    ];
    for case in cases {
        let app = spawn_app_with(|s| {
            s.lifetimes.refresh_token = Duration::hours(1);
            s.lifetimes.idle = Duration::days(1);
        })
        .await;
        let login = app.login_as(ANNA, None).await;
        let now = app.clock.now();
        let today = now.date_naive();
        // Each case moves one fact of the stored rows to where the rules refuse.
        let change = |sql: &'static str, value: sea_orm::Value| {
            let url = app.database.url.clone();
            async move {
                use sea_orm::ConnectionTrait;
                let db = sea_orm::Database::connect(&url).await.unwrap();
                let backend = db.get_database_backend();
                let sql = match backend {
                    sea_orm::DbBackend::Postgres => sql.replace('?', "$1"),
                    _ => sql.to_owned(),
                };
                db.execute_raw(sea_orm::Statement::from_sql_and_values(
                    backend,
                    sql,
                    [value],
                ))
                .await
                .unwrap();
            }
        };
        match case {
            "expired token" => app.clock.advance(Duration::hours(1)),
            // Seen exactly one idle timeout ago; its older activity is no later.
            "idle session" => {
                let seen = now - Duration::days(1);
                change("UPDATE sessions SET last_accessed_at = ?", seen.into()).await;
                let active = seen - Duration::hours(1);
                change("UPDATE sessions SET last_active_at = ?", active.into()).await;
            }
            "session at its end" => change("UPDATE sessions SET expires_at = ?", now.into()).await,
            "membership ended" => {
                let yesterday = today.pred_opt().unwrap();
                change("UPDATE users SET membership_end_date = ?", yesterday.into()).await;
            }
            "membership not started" => {
                let tomorrow = today.succ_opt().unwrap();
                change(
                    "UPDATE users SET membership_start_date = ?",
                    tomorrow.into(),
                )
                .await;
            }
            _ => {
                let out = app
                    .gql(
                        "mutation { logout(scope: CURRENT) }",
                        json!({}),
                        login["accessToken"].as_str(),
                    )
                    .await;
                assert_eq!(out.code(), None, "{}", out.body);
            }
        }
        let tokens = app.count("refresh_tokens").await;

        let response = app.refresh(token(&login)).await;

        assert!(
            response.code().is_some(),
            "{case}: refused: {}",
            response.body
        );
        assert_eq!(app.count(used).await, 0, "{case}: no token used");
        assert_eq!(
            app.count("refresh_tokens").await,
            tokens,
            "{case}: nothing stored"
        );
    }
}
