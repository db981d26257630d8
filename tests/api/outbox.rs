//! Search indexing and login events: written with the login, delivered by the relay, never lost.

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use login_api::domain::outbox::Sink;
use login_api::ports::Clock;
use login_api::sim::algolia::Fault;
use serde_json::{Value, json};

use crate::helpers::{ANNA, PASSWORD, TestApp, USERS_INDEX, spawn_app, spawn_app_with};
use crate::moto::{EventCapture, Outage, eventbridge_settings, moto_endpoint};

fn schema() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../../events/user.login.schema.json")).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the event schema compiles")
}

async fn delivered(app: &TestApp, sink: Sink) -> i64 {
    app.store.outbox_counts(sink).await.unwrap().delivered
}

#[tokio::test]
async fn a_login_writes_one_index_update_and_one_event_and_a_failed_login_none() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;

    app.login(ANNA, "wrong", None).await;
    assert_eq!(app.count("outbox").await, 0);

    app.login_as(ANNA, None).await;
    for sink in Sink::ALL {
        let counts = app.store.outbox_counts(sink).await.unwrap();
        assert_eq!(counts.pending, 1, "{sink:?}");
    }
}

#[tokio::test]
async fn the_login_event_arrives_in_sqs_through_eventbridge_exactly_as_documented() {
    let capture = EventCapture::new().await;
    let bus = capture.bus_name.clone();
    let app =
        spawn_app_with(|s| s.eventbridge = Some(eventbridge_settings(moto_endpoint(), &bus))).await;

    let login = app.login_as(ANNA, Some("phone-1")).await;
    app.eventually("the event to be delivered", || async {
        delivered(&app, Sink::EventBus).await == 1
    })
    .await;

    let events = capture.drain().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["source"], "club.login-api");
    assert_eq!(event["detail-type"], "user.login");
    let detail = &event["detail"];
    let validator = schema();
    let errors: Vec<String> = validator
        .iter_errors(detail)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{detail}");
    assert_eq!(detail["user"]["id"], login["user"]["id"]);
    assert_eq!(detail["user"]["email"], ANNA);
    assert_eq!(detail["user"]["membershipNumber"], "RCC-1001");
    assert_eq!(detail["user"]["firstLogin"], true);
    assert_eq!(detail["session"]["id"], login["session"]["id"]);
    assert_eq!(detail["session"]["deviceType"], "IOS");
    assert_eq!(detail["session"]["appVersion"], "3.2.1");
    let text = event.to_string();
    for secret in [
        PASSWORD,
        login["accessToken"].as_str().unwrap(),
        login["refreshToken"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret));
    }
}

#[tokio::test]
async fn the_member_record_reaches_the_search_index_without_email_or_secrets() {
    let app = spawn_app().await;

    let login = app.login_as(ANNA, None).await;
    app.eventually("the record to be indexed", || async {
        delivered(&app, Sink::SearchIndex).await == 1
    })
    .await;

    let user_id = login["user"]["id"].as_str().unwrap();
    let objects = app.algolia[0].objects(USERS_INDEX);
    let record = &objects[user_id];
    assert_eq!(record["objectID"], user_id);
    assert_eq!(record["firstName"], "Anna");
    assert_eq!(record["lastName"], "Rider");
    assert_eq!(record["chapter"], "London");
    assert_eq!(record["membershipActive"], true);
    assert_eq!(record["membershipEndDate"], "2099-12-31");
    assert!(record["updatedAt"].is_string());
    let text = record.to_string();
    assert!(!text.contains(ANNA) && !text.contains(PASSWORD));
}

#[tokio::test]
async fn the_client_falls_back_to_another_host_when_the_main_host_fails() {
    let app = spawn_app().await;
    app.algolia[0].set_fault(Fault::ServerError);

    app.login_as(ANNA, None).await;
    app.eventually("the record to be indexed", || async {
        delivered(&app, Sink::SearchIndex).await == 1
    })
    .await;

    assert_eq!(app.algolia[0].write_count(USERS_INDEX), 0);
    assert_eq!(app.algolia[1].write_count(USERS_INDEX), 1);
    assert!(
        app.algolia[0].requests() >= 1,
        "the main host is tried first"
    );
}

#[tokio::test]
async fn a_slow_host_counts_as_down_and_the_next_host_takes_the_write() {
    let app = spawn_app().await;
    app.algolia[0].set_fault(Fault::Slow);

    app.login_as(ANNA, None).await;
    app.eventually("the record to be indexed", || async {
        delivered(&app, Sink::SearchIndex).await == 1
    })
    .await;

    assert_eq!(app.algolia[1].write_count(USERS_INDEX), 1);
}

#[tokio::test]
async fn sinks_down_during_fifty_logins_lose_nothing_and_deliver_everything_when_back() {
    let capture = EventCapture::new().await;
    let outage = Outage::in_front_of(moto_endpoint()).await;
    let (bus, endpoint) = (capture.bus_name.clone(), outage.endpoint.clone());
    let app = spawn_app_with(|s| s.eventbridge = Some(eventbridge_settings(&endpoint, &bus))).await;
    outage.set_down(true);
    for host in &app.algolia {
        host.set_fault(Fault::ServerError);
    }

    let members: Vec<String> = (0..5).map(|i| format!("member{i}@example.org")).collect();
    for i in 0..50 {
        let response = app.login(&members[i % 5], PASSWORD, None).await;
        assert_eq!(
            response.code(),
            None,
            "login {i} failed while the sinks were down"
        );
    }
    app.eventually("every row to have failed once", || async {
        let store = &app.store;
        store.outbox_counts(Sink::EventBus).await.unwrap().retrying == 50
            && store
                .outbox_counts(Sink::SearchIndex)
                .await
                .unwrap()
                .retrying
                >= 5
    })
    .await;
    assert_eq!(delivered(&app, Sink::EventBus).await, 0);

    outage.set_down(false);
    for host in &app.algolia {
        host.set_fault(Fault::None);
    }
    // Past any backoff, as often as it takes.
    app.wait_until("everything to be delivered", || async {
        app.clock.advance(Duration::minutes(20));
        let (events, index) = (
            delivered(&app, Sink::EventBus).await,
            delivered(&app, Sink::SearchIndex).await,
        );
        if events == 50 && index == 50 {
            Ok(())
        } else {
            Err(format!(
                "{events}/50 events and {index}/50 index updates delivered"
            ))
        }
    })
    .await;

    let mut event_ids = HashSet::new();
    for event in capture.drain().await {
        event_ids.insert(event["detail"]["eventId"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        event_ids.len(),
        50,
        "every eventId at least once, none missing"
    );

    // One user's index updates were applied in order: updatedAt never goes backwards.
    let objects = app.algolia[0].objects(USERS_INDEX);
    assert_eq!(objects.len(), 5);
    for id in objects.keys() {
        let writes: Vec<String> = app
            .algolia
            .iter()
            .flat_map(|host| host.writes_of(USERS_INDEX, id))
            .map(|w| w["updatedAt"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(writes.len(), 10);
        let mut sorted = writes.clone();
        sorted.sort();
        assert_eq!(writes, sorted, "updates of {id} out of order");
    }
}

#[tokio::test]
async fn a_relay_that_dies_mid_delivery_loses_nothing_once_its_lease_runs_out() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    app.login_as(ANNA, None).await;
    let store = &app.store;
    let now = app.clock.now();
    // A relay claims both rows and dies before settling them.
    for sink in Sink::ALL {
        let claimed = store
            .claim_outbox(sink, "crashed", now, now + Duration::seconds(60), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
    }

    let restarted = spawn_app_with(|s| s.database_url = Some(app.database.url.clone())).await;
    restarted.clock.set(now + Duration::seconds(30));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        delivered(&restarted, Sink::SearchIndex).await,
        0,
        "the lease still holds"
    );

    restarted.clock.set(now + Duration::seconds(61));
    restarted
        .eventually("the abandoned rows to be delivered", || async {
            delivered(&restarted, Sink::SearchIndex).await == 1
                && delivered(&restarted, Sink::EventBus).await == 1
        })
        .await;
}

#[tokio::test]
async fn two_relays_claiming_at_once_never_hold_the_same_row() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    for i in 0..5 {
        for _ in 0..4 {
            app.login_as(&format!("member{i}@example.org"), None).await;
        }
    }
    let store = &app.store;
    let now = app.clock.now();

    let claim = |relay: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let batch = store
                .claim_outbox(Sink::EventBus, relay, now, now + Duration::seconds(60), 3)
                .await
                .unwrap();
            if batch.is_empty() {
                return mine;
            }
            mine.extend(batch.into_iter().map(|m| m.id));
        }
    };
    let (a, b) = tokio::join!(claim("relay-a"), claim("relay-b"));

    let a: HashSet<_> = a.into_iter().collect();
    let b: HashSet<_> = b.into_iter().collect();
    assert!(a.is_disjoint(&b), "a row was claimed twice");
    assert_eq!(a.len() + b.len(), 20);
}

#[tokio::test]
async fn one_claim_takes_every_sinks_rows_each_up_to_its_own_limit() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    // Five members, two logins each: ten index updates (five claimable, one per member) and
    // ten events.
    for i in 0..5 {
        for _ in 0..2 {
            app.login_as(&format!("member{i}@example.org"), None).await;
        }
    }
    let store = &app.store;
    let now = app.clock.now();
    let lease = now + Duration::seconds(60);
    let of = |batch: &[login_api::domain::outbox::OutboxMessage], sink: Sink| {
        batch.iter().filter(|m| m.sink == sink).count()
    };
    let mut limits = [0; Sink::ALL.len()];
    let at = |sink: Sink| Sink::ALL.iter().position(|s| *s == sink).unwrap();
    limits[at(Sink::SearchIndex)] = 2;
    limits[at(Sink::EventBus)] = 3;

    let first = store
        .claim_outbox_of_sinks(limits, "r", now, lease)
        .await
        .unwrap()
        .messages;
    assert_eq!(of(&first, Sink::SearchIndex), 2, "{first:?}");
    assert_eq!(of(&first, Sink::EventBus), 3, "{first:?}");
    assert!(first.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    let oldest_event = store
        .claim_outbox(Sink::EventBus, "other", now, lease, 1)
        .await
        .unwrap();
    assert!(
        first
            .iter()
            .all(|m| m.id < oldest_event[0].id || m.sink != Sink::EventBus),
        "each sink's oldest rows were taken"
    );

    // A limit of 0 leaves that sink's rows alone; the key order holds in the joint claim.
    limits[at(Sink::SearchIndex)] = 10;
    limits[at(Sink::EventBus)] = 0;
    let second = store
        .claim_outbox_of_sinks(limits, "r", now, lease)
        .await
        .unwrap()
        .messages;
    assert_eq!(of(&second, Sink::EventBus), 0, "{second:?}");
    assert_eq!(
        of(&second, Sink::SearchIndex),
        3,
        "one update per member at a time: {second:?}"
    );
    let keys: HashSet<&str> = first
        .iter()
        .chain(&second)
        .filter(|m| m.sink == Sink::SearchIndex)
        .map(|m| m.key.as_str())
        .collect();
    assert_eq!(keys.len(), 5, "no member's two updates out at once");
}

#[tokio::test]
async fn only_the_oldest_pending_index_update_of_a_member_is_claimable() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    for _ in 0..3 {
        app.login_as(ANNA, None).await;
    }
    let store = &app.store;
    let now = app.clock.now();

    let first = store
        .claim_outbox(Sink::SearchIndex, "r", now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1, "one member: one claimable update at a time");
    let again = store
        .claim_outbox(
            Sink::SearchIndex,
            "r2",
            now,
            now + Duration::seconds(60),
            10,
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "the next update waits for the first");
}

/// The settle tells the relay to go on at once only where a delivered row was holding back the
/// next of its key: in the search index, which keeps key order; events wait for nothing.
#[tokio::test]
async fn a_settle_reports_a_later_pending_row_of_a_key_only_where_key_order_holds_it_back() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    for _ in 0..2 {
        app.login_as(ANNA, None).await;
    }
    let store = &app.store;
    let now = app.clock.now();
    let lease = now + Duration::seconds(60);
    let settle = |sink: Sink| async move {
        let claimed = store.claim_outbox(sink, "r", now, lease, 1).await.unwrap();
        assert_eq!(claimed.len(), 1, "{sink:?}");
        store
            .settle_delivered(&[claimed[0].id], "r", now)
            .await
            .unwrap()
    };
    assert!(
        settle(Sink::SearchIndex).await,
        "the member's second update has just become claimable"
    );
    assert!(!settle(Sink::SearchIndex).await, "nothing after the second");
    assert!(
        !settle(Sink::EventBus).await,
        "the second event was claimable all along"
    );
    assert_eq!(delivered(&app, Sink::SearchIndex).await, 2);
    assert_eq!(delivered(&app, Sink::EventBus).await, 1);
}

#[tokio::test]
async fn a_members_queued_index_updates_go_one_after_another_without_waiting_for_the_poll() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    for _ in 0..3 {
        app.login_as(ANNA, None).await;
    }
    // Nothing wakes this relay after its first look: only its own settles can move it on.
    let relay = spawn_app_with(|s| {
        s.database_url = Some(app.database.url.clone());
        s.relay.poll_interval = std::time::Duration::from_secs(600);
    })
    .await;
    relay
        .eventually("the three index updates, in turn", || async {
            delivered(&relay, Sink::SearchIndex).await == 3
        })
        .await;
}

#[tokio::test]
async fn a_poison_payload_is_parked_dead_after_the_set_attempts_while_others_flow_past() {
    let app = spawn_app_with(|s| s.relay.max_attempts = 3).await;
    let poison = json!({"objectID": "poison", "bio": "x".repeat(20_000)});
    insert_outbox_row(&app, Sink::SearchIndex, "poison", &poison).await;

    for i in 0..3 {
        app.login_as(&format!("member{i}@example.org"), None).await;
    }
    app.eventually("the poison to be dead and the rest delivered", || async {
        app.clock.advance(Duration::minutes(20));
        let counts = app.store.outbox_counts(Sink::SearchIndex).await.unwrap();
        counts.dead == 1 && counts.delivered == 3
    })
    .await;
    let last_error: Vec<HashMap<String, Value>> = query(
        &app,
        "SELECT attempts, last_error FROM outbox WHERE message_key = 'poison'",
    )
    .await;
    assert_eq!(last_error[0]["attempts"], 3);
    assert!(
        last_error[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("too big")
    );

    // Replay makes it pending again (and it fails again, being poison).
    let replayed = app
        .store
        .replay_dead_outbox(Some(Sink::SearchIndex), app.clock.now())
        .await
        .unwrap();
    assert_eq!(replayed, 1);
    assert_eq!(
        app.store
            .outbox_counts(Sink::SearchIndex)
            .await
            .unwrap()
            .dead,
        0
    );
}

#[tokio::test]
async fn in_a_partly_failed_batch_only_the_failed_events_are_retried() {
    let capture = EventCapture::new().await;
    let bus = capture.bus_name.clone();
    let app = spawn_app_with(|s| {
        s.eventbridge = Some(eventbridge_settings(moto_endpoint(), &bus));
        s.relay_enabled = false;
    })
    .await;
    app.login_as("member1@example.org", None).await;
    insert_outbox_row(
        &app,
        Sink::EventBus,
        "broken",
        &json!({"detailType": "user.login"}),
    )
    .await;
    app.login_as("member2@example.org", None).await;

    let restarted = spawn_app_with(|s| {
        s.database_url = Some(app.database.url.clone());
        s.eventbridge = Some(eventbridge_settings(moto_endpoint(), &bus));
    })
    .await;
    restarted.clock.set(app.clock.now());
    restarted
        .eventually("the good events to be delivered", || async {
            let counts = restarted.store.outbox_counts(Sink::EventBus).await.unwrap();
            counts.delivered == 2 && counts.retrying == 1
        })
        .await;
    assert_eq!(capture.drain().await.len(), 2);
}

pub async fn insert_outbox_row(app: &TestApp, sink: Sink, key: &str, payload: &Value) {
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let now = app.clock.now();
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "INSERT INTO outbox (id, sink, message_key, payload, created_at, available_at, attempts) VALUES ($1, $2, $3, $4, $5, $5, 0)"
        }
        _ => {
            "INSERT INTO outbox (id, sink, message_key, payload, created_at, available_at, attempts) VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0)"
        }
    };
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [
            uuid::Uuid::now_v7().into(),
            sink.as_str().into(),
            key.into(),
            payload.to_string().into(),
            now.into(),
        ],
    ))
    .await
    .unwrap();
}

async fn query(app: &TestApp, sql: &str) -> Vec<HashMap<String, Value>> {
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::{ConnectionTrait, JsonValue};
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let mut map = HashMap::new();
            map.insert(
                "attempts".to_owned(),
                json!(row.try_get::<i32>("", "attempts").unwrap()),
            );
            let error: Option<String> = row.try_get("", "last_error").unwrap();
            map.insert(
                "last_error".to_owned(),
                error.map(JsonValue::String).unwrap_or(JsonValue::Null),
            );
            map
        })
        .collect()
}

#[test]
fn the_sample_event_for_analytics_matches_the_schema() {
    let sample: Value = serde_json::from_str(include_str!(
        "../../examples/analytics/sample-user-login-event.json"
    ))
    .unwrap();
    let errors: Vec<String> = schema()
        .iter_errors(&sample["detail"])
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let rule: Value = serde_json::from_str(include_str!(
        "../../examples/analytics/user-login-rule.json"
    ))
    .unwrap();
    let pattern: Value = serde_json::from_str(rule["EventPattern"].as_str().unwrap()).unwrap();
    assert_eq!(pattern["source"][0], sample["source"]);
    assert_eq!(pattern["detail-type"][0], sample["detail-type"]);
}

#[tokio::test]
async fn delivered_rows_are_purged_after_a_week_and_pending_ones_never() {
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    app.login_as(ANNA, None).await;
    let store = &app.store;
    let now = app.clock.now();
    let claimed = store
        .claim_outbox(
            Sink::SearchIndex,
            "relay",
            now,
            now + Duration::seconds(60),
            10,
        )
        .await
        .unwrap();
    store
        .settle_outbox(
            claimed[0].id,
            "relay",
            now,
            login_api::store::Settlement::Delivered,
        )
        .await
        .unwrap();

    app.clock.advance(Duration::days(8));
    app.auth.purge_expired(100).await.unwrap();

    assert_eq!(
        app.store
            .outbox_counts(Sink::SearchIndex)
            .await
            .unwrap()
            .delivered,
        0
    );
    assert_eq!(
        app.store
            .outbox_counts(Sink::EventBus)
            .await
            .unwrap()
            .pending,
        1
    );
}

#[tokio::test]
async fn writes_committed_while_the_relay_lingers_go_out_in_one_batch() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app_with(|s| {
        s.relay.linger = std::time::Duration::from_secs(5);
        s.relay.poll_interval = std::time::Duration::from_secs(60);
    })
    .await;
    // The first login wakes the relay; it lingers, and the next two join its batch. The clock
    // moves between them: a row settled on its own would carry an earlier `delivered_at`.
    for i in 0..3 {
        app.login_as(&format!("member{i}@example.org"), None).await;
        app.clock.advance(Duration::seconds(1));
    }
    app.eventually("the three records to be indexed", || async {
        delivered(&app, Sink::SearchIndex).await == 3
    })
    .await;
    let db = app.store.connection();
    let settles: i64 = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(DISTINCT delivered_at) AS n FROM outbox WHERE sink = 'algolia'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    assert_eq!(settles, 1, "the three rows were settled in one batch");
}

/// One column of text from each row `sql` returns, in order.
async fn texts(app: &TestApp, sql: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.store.connection();
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect()
}

/// A claim changes no indexed column and finds room on each row's page (migration 16 leaves
/// half of each outbox page free), so PostgreSQL updates the rows in place (HOT), writing no
/// index entry: the claimed rows stay on the pages they were inserted on, and the table's
/// statistics count every update as HOT. Without the room, the rows of full pages moved.
#[tokio::test]
async fn a_claim_is_a_hot_update_on_the_rows_page() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    if app.store.connection().get_database_backend() != sea_orm::DbBackend::Postgres {
        return; // SQLite rewrites pages its own way; the fillfactor is PostgreSQL's.
    }
    // 20 rows, about 12 KB: more than one page's worth.
    for i in 0..5 {
        for _ in 0..2 {
            app.login_as(&format!("member{i}@example.org"), None).await;
        }
    }
    let pages = "SELECT id::text || ' ' || (ctid::text::point)[0]::text FROM outbox ORDER BY id";
    let before = texts(&app, pages).await;
    assert_eq!(before.len(), 20);
    let now = app.clock.now();
    let claimed = app
        .store
        .claim_outbox_of_sinks(
            [100; Sink::ALL.len()],
            "r",
            now,
            now + Duration::seconds(60),
        )
        .await
        .unwrap()
        .messages;
    assert_eq!(
        claimed.len(),
        15,
        "every event, and one index update per member"
    );
    assert_eq!(
        texts(&app, pages).await,
        before,
        "a claimed row moved to another page"
    );
    // A backend reports its counts once idle, rate-limited: within seconds (PostgreSQL 15).
    let updates = "SELECT n_tup_upd::text || ' ' || n_tup_hot_upd::text \
        FROM pg_stat_user_tables WHERE relname = 'outbox'";
    app.eventually("the claim's updates to be counted", || async {
        texts(&app, updates).await[0].starts_with("15 ")
    })
    .await;
    assert_eq!(
        texts(&app, updates).await,
        ["15 15"],
        "updates, of which HOT"
    );
}

/// Autovacuum takes the outbox after a fixed number of dead rows, not after a fifth of a week of
/// delivered rows (migration 17): the pending indexes' dead entries, which every claim walks,
/// stay few however large the table grows. The fillfactor of migration 16 stays beside them.
#[tokio::test]
async fn the_outbox_is_vacuumed_after_a_fixed_number_of_dead_rows() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    if app.store.connection().get_database_backend() != sea_orm::DbBackend::Postgres {
        return; // SQLite has no autovacuum thresholds.
    }
    let options = texts(
        &app,
        "SELECT unnest(reloptions) FROM pg_class WHERE relname = 'outbox' ORDER BY 1",
    )
    .await;
    assert_eq!(
        options,
        [
            "autovacuum_vacuum_insert_scale_factor=0",
            "autovacuum_vacuum_insert_threshold=10000",
            "autovacuum_vacuum_scale_factor=0",
            "autovacuum_vacuum_threshold=10000",
            "fillfactor=50",
        ]
    );
}

/// Outside the pending index only rows without a `member_id` (written before the column
/// existed, or erasure messages) are looked up by key, and no audit row is searched for a NULL
/// subject: those two indexes leave the other rows out (migration 16), so a login inserts two
/// index entries fewer, and a settle one.
#[tokio::test]
async fn the_key_and_subject_indexes_leave_out_the_rows_no_query_finds_through_them() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let definition = |name: &str| match app.store.connection().get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            format!("SELECT indexdef FROM pg_indexes WHERE indexname = '{name}'")
        }
        _ => format!("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = '{name}'"),
    };
    for (index, predicate) in [
        ("idx_outbox_key", "member_id IS NULL"),
        ("idx_auth_events_subject", "subject_hash IS NOT NULL"),
    ] {
        let sql = texts(&app, &definition(index)).await;
        assert_eq!(sql.len(), 1, "{index} exists");
        assert!(sql[0].contains(predicate), "{index}: {}", sql[0]);
    }
}

/// A lookup of one key's pending rows — the claim's key order, the settle's "a later row of the
/// key is pending" — uses the key index, and the claim's walk the walk index (migration 18).
/// When both indexes served both, PostgreSQL took the walk index for lookups by key once the key
/// index had grown, and filtered every pending row of the sink by key.
#[tokio::test]
async fn a_lookup_by_key_uses_the_key_index_and_the_claims_walk_the_walk_index() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app_with(|s| s.relay_enabled = false).await;
    if app.store.connection().get_database_backend() != sea_orm::DbBackend::Postgres {
        return; // The plans checked are PostgreSQL's.
    }
    // The state the benchmark left: the key index, wider, grown by rows since delivered (their
    // entries stay until a vacuum), the walk index small; the planner rates the two alike.
    app.store
        .connection()
        .execute_unprepared(
            "INSERT INTO outbox (id, sink, message_key, payload, created_at, available_at, attempts) \
             SELECT gen_random_uuid(), 'algolia', repeat(md5(g::text), 6), '{}', now(), now(), 0 \
             FROM generate_series(1, 5000) g; \
             UPDATE outbox SET delivered_at = now()",
        )
        .await
        .unwrap();
    let plan = |sql: &str| {
        let sql = format!("EXPLAIN (COSTS OFF) {sql}");
        let app = &app;
        async move { texts(app, &sql).await.join("\n") }
    };
    let by_key = plan(
        "SELECT FROM outbox p WHERE p.sink = 'algolia' AND p.message_key = 'k' \
         AND p.delivered_at IS NULL AND p.dead_at IS NULL",
    )
    .await;
    assert!(
        by_key.contains("idx_outbox_pending_by_key") && !by_key.contains("by_id"),
        "{by_key}"
    );
    let walk = plan(
        "SELECT o.id FROM outbox o WHERE o.sink = 'algolia' AND o.delivered_at IS NULL \
         AND o.dead_at IS NULL AND o.available_at <= now() ORDER BY o.id LIMIT 20",
    )
    .await;
    assert!(walk.contains("idx_outbox_pending_by_id"), "{walk}");
}
