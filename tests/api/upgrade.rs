//! Upgrading a database of the previous release: its schema (the migrations it shipped) and rows
//! as it wrote them. After the upgrade the same members log in, refresh and log out, each old
//! user has exactly one `hybris` identity, and pending outbox rows are still delivered.

use chrono::{Duration, Utc};
use login_api::domain::RefreshToken;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection,
    sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr},
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{ANNA, PASSWORD, TestDatabase, USERS_INDEX, spawn_app_on};

/// The migrations the previous release shipped (up to the outbox's pending indexes).
const PREVIOUS_RELEASE_MIGRATIONS: u32 = 6;

struct OldRows {
    anna_id: Uuid,
    refresh_token: RefreshToken,
    outbox_object_id: String,
}

async fn insert(db: &DatabaseConnection, table: &str, row: Vec<(&str, SimpleExpr)>) {
    let (columns, values): (Vec<_>, Vec<_>) = row.into_iter().unzip();
    let statement = Query::insert()
        .into_table(Alias::new(table))
        .columns(columns.into_iter().map(Alias::new))
        .values_panic(values)
        .to_owned();
    db.execute(&statement)
        .await
        .unwrap_or_else(|e| panic!("inserting into {table}: {e}"));
}

/// Two members, anna with a live session on a phone and its unused refresh token, and a
/// pending index update: what the previous release left behind.
async fn previous_release(database: &TestDatabase) -> OldRows {
    let db = Database::connect(&database.url).await.unwrap();
    Migrator::up(&db, Some(PREVIOUS_RELEASE_MIGRATIONS))
        .await
        .unwrap();
    let now = Utc::now();
    let (anna_id, member_id) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, customer_id, email) in [
        (anna_id, "c-1001", ANNA),
        (member_id, "t-member-0", "member0@example.org"),
    ] {
        insert(
            &db,
            "users",
            vec![
                ("id", id.into()),
                ("upstream_customer_id", customer_id.into()),
                ("email", email.into()),
                ("first_name", "Old".into()),
                ("last_name", "Row".into()),
                ("membership_number", "RCC-OLD".into()),
                (
                    "membership_start_date",
                    (now.date_naive() - Duration::days(30)).into(),
                ),
                (
                    "membership_end_date",
                    (now.date_naive() + Duration::days(300)).into(),
                ),
                ("created_at", (now - Duration::days(60)).into()),
                ("updated_at", (now - Duration::days(1)).into()),
                ("last_login_at", (now - Duration::days(1)).into()),
            ],
        )
        .await;
    }
    let session_id = Uuid::now_v7();
    insert(
        &db,
        "sessions",
        vec![
            ("id", session_id.into()),
            ("user_id", anna_id.into()),
            ("device_id", "old-phone".into()),
            ("device_type", "IOS".into()),
            ("created_at", (now - Duration::days(1)).into()),
            ("last_accessed_at", (now - Duration::hours(1)).into()),
            ("expires_at", (now + Duration::days(80)).into()),
        ],
    )
    .await;
    let refresh_token = RefreshToken::generate();
    insert(
        &db,
        "refresh_tokens",
        vec![
            ("id", Uuid::now_v7().into()),
            ("token_hash", refresh_token.hash().as_str().into()),
            ("session_id", session_id.into()),
            ("issued_at", (now - Duration::hours(1)).into()),
            ("expires_at", (now + Duration::days(29)).into()),
        ],
    )
    .await;
    let outbox_object_id = anna_id.to_string();
    insert(
        &db,
        "outbox",
        vec![
            ("id", Uuid::now_v7().into()),
            ("sink", "algolia".into()),
            ("message_key", outbox_object_id.clone().into()),
            (
                "payload",
                json!({"objectID": outbox_object_id, "firstName": "Old", "lastName": "Row",
                       "chapter": null, "membershipActive": true,
                       "membershipStartDate": null, "membershipEndDate": null,
                       "updatedAt": "2026-11-29T00:00:00.000Z"})
                .to_string()
                .into(),
            ),
            ("created_at", (now - Duration::minutes(5)).into()),
            ("available_at", (now - Duration::minutes(5)).into()),
            ("attempts", 0.into()),
        ],
    )
    .await;
    db.close().await.ok();
    OldRows {
        anna_id,
        refresh_token,
        outbox_object_id,
    }
}

#[tokio::test]
async fn a_previous_release_database_upgrades_and_its_members_carry_on() {
    let database = TestDatabase::create().await;
    let old = previous_release(&database).await;
    let app = spawn_app_on(database, |_| {}).await;

    // Every old user has exactly one hybris identity, subject = its customer id.
    assert_eq!(app.count("identities").await, 2);
    let db = Database::connect(&app.database.url).await.unwrap();
    let row = db
        .query_one(
            Query::select()
                .column(Alias::new("subject"))
                .from(Alias::new("identities"))
                .and_where(Expr::col(Alias::new("user_id")).eq(old.anna_id))
                .and_where(Expr::col(Alias::new("provider")).eq("hybris")),
        )
        .await
        .unwrap()
        .expect("anna's hybris identity");
    assert_eq!(row.try_get::<String>("", "subject").unwrap(), "c-1001");
    db.close().await.ok();

    // The old session's refresh token still rotates, as a password session.
    let refreshed = app
        .gql(
            "mutation($t: String!) { refreshSession(refreshToken: $t) {
                accessToken user { id } session { authMethod } } }",
            json!({"t": old.refresh_token.expose()}),
            None,
        )
        .await;
    assert_eq!(refreshed.code(), None, "{}", refreshed.body);
    let refreshed = refreshed.data("refreshSession").clone();
    assert_eq!(refreshed["user"]["id"], old.anna_id.to_string());
    assert_eq!(refreshed["session"]["authMethod"], "PASSWORD");

    // The same member logs in by password: the same user, still one hybris identity.
    let login = app.login(ANNA, PASSWORD, Some("new-phone")).await;
    assert_eq!(login.code(), None, "{}", login.body);
    assert_eq!(login.data("login")["user"]["id"], old.anna_id.to_string());
    assert_eq!(app.count("identities").await, 2);
    assert_eq!(app.count("users").await, 2);

    // And logs out of everything: the old session's tokens stop working.
    let logout = app
        .gql(
            "mutation { logout(scope: ALL) }",
            json!({}),
            refreshed["accessToken"].as_str(),
        )
        .await;
    assert_eq!(logout.data("logout"), true, "{}", logout.body);
    let me = app
        .gql(
            "{ me { id } }",
            json!({}),
            refreshed["accessToken"].as_str(),
        )
        .await;
    assert_eq!(me.status, 401);

    // The index update the old release left pending is delivered.
    app.eventually("the old outbox row to reach the index", || async {
        app.algolia.iter().any(|host| {
            !host
                .writes_of(USERS_INDEX, &old.outbox_object_id)
                .is_empty()
        })
    })
    .await;
}
