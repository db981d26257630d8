//! A returning member's password login in one statement (PostgreSQL; `store/returning_login`):
//! taken when this instance knows the member's row as it stands, and what it returns is what
//! is stored; left for the transaction whenever someone else wrote the row, so that a session
//! opened meanwhile on the same device is seen and ended, and a changed row is returned as it
//! stands. On SQLite every sign-in takes the general path, and these tests hold the same
//! outcomes there.

use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::helpers::{ANNA, PASSWORD, TestApp, spawn_app_with};

/// `login_api_login_writes_total` by path: (one statement, transaction, general).
async fn writes(app: &TestApp) -> (u64, u64, u64) {
    let text = crate::metrics::scrape(app).await;
    let of = |path: &str| {
        let prefix = format!(r#"login_api_login_writes_total{{path="{path}"}} "#);
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map_or(0, |v| v.parse().unwrap())
    };
    (of("one_statement"), of("transaction"), of("general"))
}

async fn execute(app: &TestApp, sql: &str) {
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    db.execute_unprepared(sql).await.unwrap();
    db.close().await.ok();
}

fn member(email: &str, first_name: &str, number: &str, chapter: &str) -> login_api::sim::SimUser {
    login_api::sim::SimUser {
        uid: email.into(),
        customer_id: "c-returning-1".into(),
        password: PASSWORD.into(),
        first_name: Some(first_name.into()),
        last_name: Some("Rider".into()),
        rcc_membership_number: Some(number.into()),
        rcc_member_ship_start_date: Some("2020-01-01".into()),
        rcc_member_ship_end_date: Some("2099-12-31".into()),
        rcc_chapter: Some(chapter.into()),
        deactivation_date: None,
        extra: Default::default(),
    }
}

#[tokio::test]
async fn a_returning_member_s_login_takes_one_statement_and_returns_what_it_stored() {
    let app = spawn_app_with(|_| {}).await;
    app.sim
        .upsert_user(member("ria@example.org", "Ria", "RCC-1", "North"));
    let first = app.login_as("ria@example.org", Some("phone-1")).await;
    // Hybris now says otherwise about everything a login copies.
    app.sim
        .upsert_user(member("ria.new@example.org", "Maria", "RCC-2", "South"));
    app.clock
        .advance(chrono::Duration::nanoseconds(3_600_123_456_789));

    let second = app.login_as("ria.new@example.org", Some("phone-1")).await;

    let postgres = app.store.can_listen();
    assert_eq!(
        writes(&app).await,
        if postgres { (1, 1, 0) } else { (0, 0, 2) }
    );
    let (user, session) = (&second["user"], &second["session"]);
    assert_eq!(user["id"], first["user"]["id"]);
    assert_eq!(user["createdAt"], first["user"]["createdAt"]);
    assert_eq!(
        (
            &user["email"],
            &user["firstName"],
            &user["membership"]["number"]
        ),
        (
            &"ria.new@example.org".into(),
            &"Maria".into(),
            &"RCC-2".into()
        )
    );
    assert_eq!(user["membership"]["chapter"], "South");
    // The row holds what the login returned (to the second: the API's precision).
    let stored = "users WHERE email = 'ria.new@example.org' AND first_name = 'Maria' \
           AND membership_number = 'RCC-2' AND chapter = 'South'";
    assert_eq!(app.count(stored).await, 1);
    if postgres {
        let stored = format!(
            "users WHERE id = '{}' AND {} AND {} AND {}",
            user["id"].as_str().unwrap(),
            same_second("last_login_at", &user["lastLoginAt"]),
            same_second("updated_at", &user["updatedAt"]),
            same_second("created_at", &user["createdAt"]),
        );
        assert_eq!(app.count(&stored).await, 1, "{stored}: {second}");
        let stored = format!(
            "sessions WHERE id = '{}' AND device_id = 'phone-1' AND revoked_at IS NULL \
               AND {} AND {}",
            session["id"].as_str().unwrap(),
            same_second("created_at", &session["createdAt"]),
            same_second("expires_at", &session["expiresAt"]),
        );
        assert_eq!(app.count(&stored).await, 1, "{stored}: {second}");
    }
    // The device's first session ended; its refresh token no longer works.
    assert_eq!(
        app.count("sessions WHERE device_id = 'phone-1' AND revoked_at IS NULL")
            .await,
        1
    );
    let old = app.refresh(first["refreshToken"].as_str().unwrap()).await;
    assert_eq!(old.code(), Some("INVALID_REFRESH_TOKEN"));
    // Its outbox rows (search record, `user.login`) and audit row were written with it.
    assert_eq!(app.count("outbox").await, 4);
    assert_eq!(
        app.count("auth_events WHERE event_type = 'login.succeeded'")
            .await,
        2
    );
    app.eventually("the new record in the search index", || async {
        app.algolia[0]
            .objects(crate::helpers::USERS_INDEX)
            .get(user["id"].as_str().unwrap())
            .is_some_and(|r| r["firstName"] == "Maria" && r["chapter"] == "South")
    })
    .await;
}

/// PostgreSQL: `column` equals the API's `value` to the second.
fn same_second(column: &str, value: &serde_json::Value) -> String {
    let value = value.as_str().unwrap();
    format!("date_trunc('second', {column}) = '{value}'::timestamptz")
}

#[tokio::test]
async fn a_member_written_elsewhere_logs_in_with_the_row_as_it_stands() {
    let app = spawn_app_with(|_| {}).await;
    let first = app.login_as(ANNA, None).await;
    // Another instance (or an operator) writes the row: this instance's copy is stale.
    assert_eq!(first["user"]["email"], ANNA);
    let created = if app.store.can_listen() {
        "'2020-01-02T03:04:05Z'"
    } else {
        // As sea-orm writes times into SQLite.
        "'2020-01-02 03:04:05 +00:00'"
    };
    execute(
        &app,
        &format!("UPDATE users SET created_at = {created} WHERE email = '{ANNA}'"),
    )
    .await;

    let second = app.login_as(ANNA, None).await;

    assert_eq!(second["user"]["createdAt"], "2020-01-02T03:04:05Z");
    let third = app.login_as(ANNA, None).await;
    assert_eq!(third["user"]["createdAt"], "2020-01-02T03:04:05Z");
    if app.store.can_listen() {
        // The stale copy is left for the transaction, which learns the row; then one statement.
        assert_eq!(writes(&app).await, (1, 2, 0));
    }
}

#[tokio::test]
async fn a_login_meets_a_session_opened_meanwhile_on_its_device_and_ends_it() {
    let app = spawn_app_with(|_| {}).await;
    if !app.store.can_listen() {
        // SQLite has one writer at a time and takes the general path: nothing to race.
        return;
    }
    let first = app.login_as(ANNA, Some("phone-1")).await;
    let user_id = first["user"]["id"].as_str().unwrap().to_owned();

    // Another login on the same device, still uncommitted: the member's row is updated (as
    // every sign-in does) and its session inserted.
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    let other = db.begin().await.unwrap();
    other
        .execute_unprepared(&format!(
            "UPDATE users SET last_login_at = now() WHERE id = '{user_id}'"
        ))
        .await
        .unwrap();
    other
        .execute_unprepared(&format!(
            "INSERT INTO sessions (id, user_id, device_id, auth_method, created_at, \
               last_accessed_at, expires_at) \
             VALUES ('{}', '{user_id}', 'phone-1', 'password', now(), now(), \
               '2999-01-01T00:00:00Z')",
            uuid::Uuid::now_v7()
        ))
        .await
        .unwrap();

    let (login, ()) = tokio::join!(app.login(ANNA, PASSWORD, Some("phone-1")), async {
        // The login waits for the member's row.
        app.eventually("the login to wait for the member's row", || async {
            app.count(
                "pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
            )
            .await
                == 1
        })
        .await;
        other.commit().await.unwrap();
    });
    assert_eq!(login.code(), None, "{}", login.body);
    let session = login.data("login")["session"]["id"].as_str().unwrap();
    assert_eq!(
        app.count("sessions WHERE device_id = 'phone-1' AND revoked_at IS NULL")
            .await,
        1,
        "the session opened meanwhile was ended"
    );
    assert_eq!(
        app.count(&format!(
            "sessions WHERE device_id = 'phone-1' AND revoked_at IS NULL AND id = '{session}'"
        ))
        .await,
        1
    );
    // The transaction took it: the statement found the row written since it knew it.
    assert_eq!(writes(&app).await, (0, 2, 0));
}
