//! Account deletion: every copy reached (sessions, tokens, the search record, analytics,
//! partners, the outbox, the audit trail), a recent sign-in and a typed confirmation required,
//! an index update in flight never overtaken, and the operators' delete and export.

use chrono::Duration;
use login_api::auth::records::MemberRef;
use login_api::domain::{Email, outbox::Sink, partner::Claim};
use login_api::ports::Clock;
use serde_json::{Value, json};

use crate::helpers::{ANNA, TestApp, USERS_INDEX, spawn_app, spawn_app_with, validate};
use crate::moto::{EventCapture, eventbridge_settings, moto_endpoint};
use crate::partners::{access, add_partner, introspect, minted};

const DELETE: &str =
    "mutation($c: String!) { deleteAccount(input: {confirmation: $c}) { deletedAt purgeAt } }";

async fn delete(app: &TestApp, token: &str, confirmation: &str) -> crate::helpers::Response {
    app.gql(DELETE, json!({"c": confirmation}), Some(token))
        .await
}

/// Every outbox payload, as text.
async fn outbox_payloads(app: &TestApp) -> Vec<String> {
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT payload FROM outbox",
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "payload").unwrap())
    .collect()
}

#[tokio::test]
async fn deleting_an_account_reaches_every_copy_and_a_new_login_is_a_new_member() {
    let capture = EventCapture::of(&["user.deleted", "partner.subject.deleted"]).await;
    let bus = capture.bus_name.clone();
    let app =
        spawn_app_with(|s| s.eventbridge = Some(eventbridge_settings(moto_endpoint(), &bus))).await;
    let secret = add_partner(&app, "rides-pwa", &[Claim::Name]).await;
    let first = app.login_as(ANNA, Some("phone")).await;
    let user_id = first["user"]["id"].as_str().unwrap().to_owned();
    let token = minted(&app, access(&first), "rides-pwa").await;
    let (_, introspected) = introspect(&app, "rides-pwa", &secret, &token).await;
    let subject = introspected["sub"].as_str().unwrap().to_owned();
    app.eventually("the first index update", || async {
        app.algolia[0].objects(USERS_INDEX).contains_key(&user_id)
    })
    .await;

    // A newer update cannot reach the index yet: it is pending when the member deletes.
    app.algolia[0].set_fault(login_api::sim::algolia::Fault::ServerError);
    app.algolia[1].set_fault(login_api::sim::algolia::Fault::ServerError);
    let second = app.login_as(ANNA, Some("tablet")).await;
    app.eventually("the update to fail once", || async {
        app.store
            .outbox_counts(Sink::SearchIndex)
            .await
            .unwrap()
            .retrying
            == 1
    })
    .await;

    let response = delete(&app, access(&second), "DELETE").await;
    assert_eq!(response.code(), None, "{}", response.body);
    let deletion = response.data("deleteAccount");
    let deleted_at: chrono::DateTime<chrono::Utc> =
        deletion["deletedAt"].as_str().unwrap().parse().unwrap();
    let purge_at: chrono::DateTime<chrono::Utc> =
        deletion["purgeAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(purge_at - deleted_at, Duration::days(30));

    // Every token of every session says why, at once.
    for login in [&first, &second] {
        let me = app
            .gql("{ me { id } }", json!({}), Some(access(login)))
            .await;
        assert_eq!(me.status, 401, "{}", me.body);
        assert_eq!(me.code(), Some("UNAUTHENTICATED"));
        assert_eq!(me.error_extension("reason"), "ACCOUNT_DELETED");
        let refreshed = app.refresh(login["refreshToken"].as_str().unwrap()).await;
        assert_eq!(refreshed.code(), Some("INVALID_REFRESH_TOKEN"));
    }
    let replayed = introspect(&app, "rides-pwa", &secret, &token).await.1;
    assert_eq!(replayed, json!({"active": false}));

    // The index: the pending update never lands; the record is deleted after what was there.
    app.algolia[0].set_fault(login_api::sim::algolia::Fault::None);
    app.algolia[1].set_fault(login_api::sim::algolia::Fault::None);
    // The delete may have failed once meanwhile: its retry is due on our clock.
    app.clock.advance(Duration::minutes(10));
    app.eventually("the record to be deleted", || async {
        !app.algolia[0].objects(USERS_INDEX).contains_key(&user_id)
    })
    .await;
    let writes = app.algolia[0].writes_of(USERS_INDEX, &user_id);
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(writes[0].is_object() && writes[1].is_null(), "{writes:?}");

    // Analytics and the partner are told, with nothing personal.
    app.eventually("the erasure events", || async {
        app.store
            .outbox_counts(Sink::EventBus)
            .await
            .unwrap()
            .pending
            == 0
    })
    .await;
    let events = capture.drain().await;
    let detail = |kind: &str| -> Value {
        events
            .iter()
            .find(|e| e["detail-type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))["detail"]
            .clone()
    };
    let user_deleted = detail("user.deleted");
    validate("user.deleted.schema.json", &user_deleted);
    assert_eq!(user_deleted["userId"], user_id.as_str());
    let partner_deleted = detail("partner.subject.deleted");
    validate("partner.subject.deleted.schema.json", &partner_deleted);
    assert_eq!(partner_deleted["subject"], subject.as_str());
    assert_eq!(partner_deleted["partnerId"], "rides-pwa");
    let all = format!("{events:?}");
    assert!(!all.contains(ANNA) && !all.contains("Anna"), "{all}");

    // Nothing left holds the member's data.
    for payload in outbox_payloads(&app).await {
        assert!(
            !payload.contains(ANNA) && !payload.contains("Rider"),
            "{payload}"
        );
    }
    for table in [
        "users",
        "sessions",
        "refresh_tokens",
        "identities",
        "partner_tokens",
    ] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
    let audit = crate::audit::all_events(&app).await;
    assert!(
        audit
            .iter()
            .all(|e| e.user_id.is_none() && e.client_ip.is_none())
    );
    assert!(audit.iter().all(|e| e.details.device_name.is_none()));
    let pseudonym = audit[0].subject_hash.clone().unwrap();
    assert_eq!(audit[0].kind.as_str(), "account.deleted");
    assert!(
        audit
            .iter()
            .filter(|e| e.kind.as_str() == "login.succeeded")
            .all(|e| e.subject_hash.as_deref() == Some(pseudonym.as_str())),
        "the member's rows are kept under one pseudonym"
    );

    // The shop account is untouched: a new login is a new member.
    let again = app.login_as(ANNA, Some("phone")).await;
    assert_ne!(again["user"]["id"], user_id.as_str());
}

#[tokio::test]
async fn deleting_needs_a_recent_sign_in_and_the_typed_word() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("phone")).await;
    for (confirmation, why) in [
        ("delete", "lower case"),
        ("", "empty"),
        (" DELETE", "padded"),
        ("DELETE\u{0}", "a NUL"),
        (&"DELETE".repeat(2000) as &str, "oversized"),
    ] {
        let response = delete(&app, access(&login), confirmation).await;
        assert_eq!(
            response.code(),
            Some("BAD_USER_INPUT"),
            "{why}: {}",
            response.body
        );
        assert_eq!(response.error_extension("field"), "confirmation");
    }
    let anonymous = app.gql(DELETE, json!({"c": "DELETE"}), None).await;
    assert_eq!(anonymous.code(), Some("UNAUTHENTICATED"));

    // A refresh keeps the session alive, not its sign-in recent.
    app.clock.advance(Duration::seconds(301));
    let refreshed = app.refresh(login["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.code(), None, "{}", refreshed.body);
    let token = refreshed.data("refreshSession")["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let stale = delete(&app, &token, "DELETE").await;
    assert_eq!(
        stale.code(),
        Some("REAUTHENTICATION_REQUIRED"),
        "{}",
        stale.body
    );
    assert_eq!(stale.error_extension("reason"), "RECENT_LOGIN_REQUIRED");
    assert_eq!(app.count("users").await, 1, "nothing was deleted");

    let fresh = app.login_as(ANNA, Some("phone")).await;
    let deleted = delete(&app, access(&fresh), "DELETE").await;
    assert_eq!(deleted.code(), None, "{}", deleted.body);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn an_index_update_in_flight_is_never_overtaken_by_the_delete() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    let login = app.login_as(ANNA, Some("phone")).await;
    let user_id = login["user"]["id"].as_str().unwrap().to_owned();
    let now = app.clock.now();
    // Another relay holds the update, mid-delivery.
    let held = app
        .store
        .claim_outbox(
            Sink::SearchIndex,
            "busy",
            now,
            now + Duration::seconds(60),
            10,
        )
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    let event = app
        .store
        .claim_outbox(Sink::EventBus, "busy", now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(event.len(), 1);
    let deleted = delete(&app, access(&login), "DELETE").await;
    assert_eq!(deleted.code(), None, "{}", deleted.body);
    let waiting = app
        .store
        .claim_outbox(
            Sink::SearchIndex,
            "other",
            now,
            now + Duration::seconds(60),
            10,
        )
        .await
        .unwrap();
    assert!(
        waiting.is_empty(),
        "the delete waits behind the held update"
    );
    // The event goes out after all and is settled delivered: the purge removes what it carried.
    app.store
        .settle_outbox(
            event[0].id,
            "busy",
            now,
            login_api::store::Settlement::Delivered,
        )
        .await
        .unwrap();
    assert!(outbox_payloads(&app).await.iter().any(|p| p.contains(ANNA)));
    app.auth.purge_expired(100).await.unwrap();
    assert!(
        outbox_payloads(&app)
            .await
            .iter()
            .all(|p| !p.contains(ANNA)),
        "no row holds the email after the purge"
    );

    // Its lease runs out: a relay finds the member deleted, drops the update, then deletes.
    let relay = spawn_app_with(|s| s.database_url = Some(app.database.url.clone())).await;
    relay.clock.set(now + Duration::seconds(61));
    relay
        .eventually("the delete to be delivered", || async {
            relay
                .store
                .outbox_counts(Sink::SearchIndex)
                .await
                .unwrap()
                .pending
                == 0
        })
        .await;
    assert_eq!(
        relay.algolia[0].writes_of(USERS_INDEX, &user_id),
        [Value::Null],
        "the held update was dropped, never sent after the delete"
    );
}

#[tokio::test]
async fn rows_out_for_delivery_as_their_member_is_deleted_go_when_settled_and_others_stay_delivered()
 {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    let login = app.login_as(ANNA, Some("phone")).await;
    app.login_as("member0@example.org", None).await;
    let now = app.clock.now();
    let mut held = Vec::new();
    for sink in [Sink::SearchIndex, Sink::EventBus] {
        let claimed = app
            .store
            .claim_outbox(sink, "busy", now, now + Duration::seconds(60), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2, "both members' rows of {sink:?}");
        held.extend(claimed.into_iter().map(|m| m.id));
    }
    let deleted = delete(&app, access(&login), "DELETE").await;
    assert_eq!(deleted.code(), None, "{}", deleted.body);

    // The relay delivered all four meanwhile and settles them in one call.
    app.store
        .settle_delivered(&held, "busy", now)
        .await
        .unwrap();
    let payloads = outbox_payloads(&app).await;
    assert!(
        payloads.iter().all(|p| !p.contains(ANNA)),
        "the deleted member's rows went: {payloads:?}"
    );
    assert_eq!(
        app.store
            .outbox_counts(Sink::SearchIndex)
            .await
            .unwrap()
            .delivered
            + app
                .store
                .outbox_counts(Sink::EventBus)
                .await
                .unwrap()
                .delivered,
        2,
        "the other member's two rows are delivered"
    );
}

#[tokio::test]
async fn a_row_written_before_member_id_of_a_deleted_member_is_dropped_not_delivered() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    let login = app.login_as(ANNA, Some("phone")).await;
    let user_id = login["user"]["id"].as_str().unwrap().to_owned();
    let deleted = delete(&app, access(&login), "DELETE").await;
    assert_eq!(deleted.code(), None, "{}", deleted.body);
    // As a release before the column wrote it: the member only in the payload.
    crate::outbox::insert_outbox_row(
        &app,
        Sink::EventBus,
        "legacy",
        &json!({"detailType": "user.login", "detail": {"userId": user_id, "email": ANNA}}),
    )
    .await;

    // Delivered, it would stay a week with her email in it.
    let relay = spawn_app_with(|s| s.database_url = Some(app.database.url.clone())).await;
    relay
        .eventually("the legacy row to be dropped", || async {
            outbox_payloads(&app)
                .await
                .iter()
                .all(|p| !p.contains(ANNA))
        })
        .await;
}

#[tokio::test]
async fn operators_export_and_delete_a_member_by_email_or_id() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("phone")).await;
    let by_email = MemberRef::Email(Email::parse(ANNA).unwrap());
    let export = app.admin.export_user(&by_email).await.unwrap().unwrap();
    assert_eq!(export["user"]["email"], ANNA);
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(export["securityEvents"].as_array().unwrap().len(), 1);
    let text = export.to_string();
    assert!(!text.contains(login["refreshToken"].as_str().unwrap()));
    assert!(!text.contains("token_hash"), "token hashes are left out");

    let deleted = app.admin.delete_user(&by_email).await.unwrap().unwrap();
    assert_eq!(
        deleted.tombstone.user_id.to_string(),
        login["user"]["id"].as_str().unwrap()
    );
    assert!(app.admin.delete_user(&by_email).await.unwrap().is_none());
    assert!(app.admin.export_user(&by_email).await.unwrap().is_none());
    let me = app
        .gql("{ me { id } }", json!({}), Some(access(&login)))
        .await;
    assert_eq!(me.error_extension("reason"), "ACCOUNT_DELETED");
    let audit = crate::audit::all_events(&app).await;
    assert_eq!(audit[0].reason.as_deref(), Some("OPERATOR"));
}

#[tokio::test]
async fn the_tombstone_goes_at_its_purge_time() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("phone")).await;
    let deleted = delete(&app, access(&login), "DELETE").await;
    assert_eq!(deleted.code(), None, "{}", deleted.body);
    assert_eq!(app.count("deleted_accounts").await, 1);
    app.clock.advance(Duration::days(29));
    app.auth.purge_expired(100).await.unwrap();
    assert_eq!(app.count("deleted_accounts").await, 1);
    app.clock.advance(Duration::days(2));
    app.auth.purge_expired(100).await.unwrap();
    assert_eq!(app.count("deleted_accounts").await, 0);
}

#[tokio::test]
async fn the_audit_and_user_commands_list_export_and_delete() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("phone")).await;
    let user_id = login["user"]["id"].as_str().unwrap().to_owned();
    app.login("nobody@example.org", "wrong-pass-1", None).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_login-api"))
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", &app.database.url)
            .args(args)
            .output()
            .unwrap()
    };
    let ok = |args: &[&str]| {
        let output = run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };

    let annas = ok(&["audit", "list", "--email", ANNA]);
    assert!(
        annas.contains("login.succeeded") && annas.contains(&user_id),
        "{annas}"
    );
    let unknown = ok(&[
        "audit",
        "list",
        "--email",
        "Nobody@Example.org",
        "--since",
        "1h",
    ]);
    assert!(
        unknown.contains("login.failed") && unknown.contains("hash:"),
        "{unknown}"
    );
    assert!(!unknown.contains("nobody"), "{unknown}");
    let exported = ok(&["audit", "export", "--since", "1d"]);
    let lines: Vec<Value> = exported
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{exported}");
    assert_eq!(lines[0]["type"], "login.failed");
    assert_eq!(lines[1]["userId"], user_id.as_str());

    let records = ok(&["user", "export", "--id", &user_id]);
    let records: Value = serde_json::from_str(&records).unwrap();
    assert_eq!(records["user"]["email"], ANNA);
    let deleted = ok(&["user", "delete", "--email", ANNA]);
    assert!(deleted.contains(&user_id), "{deleted}");
    assert_eq!(app.count("users").await, 0);
    // The deleted member's history, under its pseudonym, by the Hybris customer id.
    let history = ok(&["audit", "list", "--customer-id", "c-1001"]);
    assert!(
        history.contains("account.deleted") && history.contains("login.succeeded"),
        "{history}"
    );
    assert!(!history.contains(&user_id), "{history}");

    for (args, says) in [
        (&["user", "delete", "--email", ANNA][..], "no such member"),
        (
            &["user", "delete", "--id", "not-a-uuid"][..],
            "not a user id",
        ),
        (
            &["user", "export", "--email", "not an email"][..],
            "--email",
        ),
        (&["audit", "list", "--since", "7w"][..], "--since"),
    ] {
        let output = run(args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn a_read_only_command_away_from_the_database_refuses_and_creates_nothing() {
    let dir = std::env::temp_dir().join(format!("login-api-empty-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for args in [
        &["audit", "list", "--email", ANNA][..],
        &["user", "export", "--email", ANNA][..],
        &["outbox", "status"][..],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_login-api"))
            .current_dir(&dir)
            .env_remove("DATABASE_URL")
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no database at"), "{args:?}: {stderr}");
    }
    assert!(!dir.join("data").exists(), "no empty database was made");
    std::fs::remove_dir_all(dir).ok();
}
