//! Two instances on one database: a session ended or a member changed on one is seen by the
//! other at its very next request, whatever the other has cached; and while an instance cannot
//! hear the invalidations, it reads the database.

use login_api::ports::Clock;
use serde_json::{Value, json};

use crate::helpers::{ANNA, TestApp, spawn_app_with};

async fn me(app: &TestApp, token: &str) -> crate::helpers::Response {
    app.gql("{ me { id phone } }", json!({}), Some(token)).await
}

/// Logs out on `app` with `scope`, which must succeed.
async fn logout(app: &TestApp, token: &str, scope: &str) {
    let out = app
        .gql(
            &format!("mutation {{ logout(scope: {scope}) }}"),
            json!({}),
            Some(token),
        )
        .await;
    assert_eq!(out.code(), None, "{}", out.body);
}

fn access(login: &Value) -> &str {
    login["accessToken"].as_str().unwrap()
}

/// Waits until `app`'s read cache serves (PostgreSQL; on SQLite it stays off).
async fn cache_on(app: &TestApp) {
    if app.store.can_listen() {
        app.eventually("the read cache to be on", || async {
            cache_gauge(app).await == "login_api_read_cache_enabled 1"
        })
        .await;
    }
}

async fn cache_gauge(app: &TestApp) -> String {
    crate::metrics::scrape(app)
        .await
        .lines()
        .find(|l| l.starts_with("login_api_read_cache_enabled "))
        .unwrap_or_default()
        .to_owned()
}

/// An ES256 key in a PKCS#8 PEM file, for instances that must accept each other's tokens.
fn shared_key() -> std::path::PathBuf {
    use aws_lc_rs::{rand::SystemRandom, signature};
    use base64::{Engine, engine::general_purpose::STANDARD};
    let der = signature::EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &SystemRandom::new(),
    )
    .unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der.as_ref())
    );
    let path = std::env::temp_dir().join(format!("login-api-key-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&path, pem).unwrap();
    path
}

/// One instance whose store has listeners (PostgreSQL); `None` on SQLite.
async fn listening_app() -> Option<TestApp> {
    let app = crate::helpers::spawn_app().await;
    app.store.can_listen().then_some(app)
}

/// Two instances on one database, signing with one key, on the same time.
async fn two_instances() -> (TestApp, TestApp) {
    let key = shared_key();
    let a = spawn_app_with(|s| s.jwt.private_key_file = Some(key.clone())).await;
    let b = spawn_app_with(|s| {
        s.database_url = Some(a.database.url.clone());
        s.jwt.private_key_file = Some(key.clone());
    })
    .await;
    b.clock.set(a.clock.now());
    std::fs::remove_file(key).ok();
    // The read cache is on by default (READ_CACHE); on SQLite it stays off.
    (a, b)
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_the_other_at_its_next_request() {
    let (a, b) = two_instances().await;
    cache_on(&b).await;
    // Each round is a race between A's answer and B's listener, lost by B if A answered
    // before B had applied the invalidation.
    let started = std::time::Instant::now();
    for round in 0..50 {
        let login = a.login_as(ANNA, Some("phone")).await;
        let token = access(&login);
        for _ in 0..3 {
            // Served (and cached) by B.
            assert_eq!(me(&b, token).await.code(), None);
        }
        logout(&a, token, "CURRENT").await;
        let refused = me(&b, token).await;
        assert_eq!(refused.status, 401, "round {round}: {}", refused.body);
        assert_eq!(refused.error_extension("reason"), "LOGOUT");
    }
    // Heard, not outwaited: each round's login and logout would wait out B's lease otherwise.
    assert!(
        started.elapsed() < 50 * login_api::store::cache::LEASE,
        "B's acknowledgements did not arrive: {:?} for 50 rounds",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_revocation_and_a_member_change_reach_the_other_instance() {
    let (a, b) = two_instances().await;
    let phone = a.login_as(ANNA, Some("phone")).await;
    let tablet = a.login_as(ANNA, Some("tablet")).await;
    assert_eq!(me(&b, access(&phone)).await.code(), None);
    assert_eq!(
        me(&b, access(&tablet)).await.data("me")["phone"],
        Value::Null
    );

    // The member's view changes on A: B shows it next.
    crate::phone::enrolled_with(&a, access(&tablet), crate::phone::ANNA_PHONE).await;
    assert_eq!(
        me(&b, access(&tablet)).await.data("me")["phone"],
        crate::phone::ANNA_PHONE
    );

    // The tablet ends the phone's session on A: B refuses the phone's token.
    logout(&a, access(&tablet), "OTHERS").await;
    let refused = me(&b, access(&phone)).await;
    assert_eq!(
        refused.error_extension("reason"),
        "REVOKED",
        "{}",
        refused.body
    );
    assert_eq!(me(&b, access(&tablet)).await.code(), None);
}

#[tokio::test]
async fn without_its_listener_an_instance_reads_the_database_until_it_is_back() {
    let (a, b) = two_instances().await;
    let login = a.login_as(ANNA, Some("phone")).await;
    let token = access(&login);
    assert_eq!(me(&b, token).await.code(), None);
    cache_on(&b).await;

    b.store.reset_invalidation_listener();
    b.eventually("the read cache to be off", || async {
        cache_gauge(&b).await == "login_api_read_cache_enabled 0"
    })
    .await;
    logout(&a, token, "CURRENT").await;
    assert_eq!(me(&b, token).await.error_extension("reason"), "LOGOUT");
    // Back (on PostgreSQL): what it caches from now on is invalidated again.
    cache_on(&b).await;
    let again = a.login_as(ANNA, Some("phone")).await;
    assert_eq!(me(&b, access(&again)).await.code(), None);
    logout(&a, access(&again), "ALL").await;
    assert_eq!(
        me(&b, access(&again)).await.error_extension("reason"),
        "LOGOUT"
    );
}

#[tokio::test]
async fn a_listener_that_does_not_acknowledge_is_outwaited_and_the_logout_still_answers() {
    let Some(app) = listening_app().await else {
        return; // SQLite: one instance, no listeners.
    };
    // An instance that names itself a listener and listens, but never acknowledges: stalled,
    // or cut off from the database without knowing. Its lease lapses; the writer outwaits it.
    let login = app.login_as(ANNA, Some("phone")).await;
    let silent = silent_listener(&app, "00000000000000ff").await;
    let started = std::time::Instant::now();
    logout(&app, access(&login), "CURRENT").await;
    assert!(
        started.elapsed() >= login_api::store::cache::LEASE,
        "answered before the silent instance's lease could lapse"
    );
    assert_eq!(
        me(&app, access(&login)).await.error_extension("reason"),
        "LOGOUT"
    );
    sea_orm::sqlx::Connection::close(silent).await.ok();
}

#[tokio::test]
async fn a_login_outwaits_a_listener_that_does_not_acknowledge() {
    let Some(app) = listening_app().await else {
        return; // SQLite: one instance, no listeners.
    };
    // A login changes the member's view (`lastLoginAt`, the profile): it waits for every
    // leaseholder as a logout does, here one that never acknowledges.
    app.login_as(ANNA, Some("phone")).await;
    let silent = silent_listener(&app, "00000000000000fe").await;
    let started = std::time::Instant::now();
    app.login_as(ANNA, Some("tablet")).await;
    assert!(
        started.elapsed() >= login_api::store::cache::LEASE,
        "answered before the silent instance's lease could lapse"
    );
    sea_orm::sqlx::Connection::close(silent).await.ok();
}

#[tokio::test]
async fn a_login_on_one_instance_shows_in_the_member_view_of_the_other() {
    let (a, b) = two_instances().await;
    cache_on(&b).await;
    let phone = a.login_as(ANNA, Some("phone")).await;
    let before = last_login(&b, access(&phone)).await;
    a.clock.advance(chrono::Duration::seconds(60));
    b.clock.advance(chrono::Duration::seconds(60));
    a.login_as(ANNA, Some("tablet")).await;
    let after = last_login(&b, access(&phone)).await;
    assert_ne!(
        before, after,
        "B served the view it cached before the login"
    );
}

async fn last_login(app: &TestApp, token: &str) -> Value {
    let out = app
        .gql("{ me { lastLoginAt } }", json!({}), Some(token))
        .await;
    out.data("me")["lastLoginAt"].clone()
}

/// A connection that listens for invalidations and holds a fresh lease as `instance` (16 hex
/// digits), but never acknowledges: what a stalled instance looks like to a writer.
async fn silent_listener(app: &TestApp, instance: &str) -> sea_orm::sqlx::PgConnection {
    use sea_orm::sqlx::{Connection, Executor, postgres::PgConnection};
    let mut silent = PgConnection::connect(&app.database.url).await.unwrap();
    silent
        .execute(sea_orm::sqlx::AssertSqlSafe(format!(
            "LISTEN login_api_invalidate; \
             SELECT set_config('login_api.read_cache_protocol', '2', false); \
             INSERT INTO read_cache_leases (instance, renewed_at) \
             VALUES ('{instance}', clock_timestamp())"
        )))
        .await
        .unwrap();
    silent
}

#[tokio::test]
async fn a_lone_instance_logs_in_without_notifying_and_notifies_once_another_holds_a_lease() {
    use sea_orm::sqlx::postgres::PgListener;
    let Some(app) = listening_app().await else {
        return; // SQLite: one instance, no listeners.
    };
    // Hears every invalidation without holding a lease: nobody waits for it.
    let mut ear = PgListener::connect(&app.database.url).await.unwrap();
    ear.listen("login_api_invalidate").await.unwrap();
    // A first login (the member is new here) and a returning one: each writes through its own
    // statements, and neither has anyone to tell.
    app.login_as(ANNA, Some("phone")).await;
    let tablet = app.login_as(ANNA, Some("tablet")).await;
    let heard = tokio::time::timeout(std::time::Duration::from_millis(300), ear.recv()).await;
    assert!(heard.is_err(), "a lone instance notified: {heard:?}");

    // Another instance's lease: the next login tells it (and outwaits it: it never answers).
    let silent = silent_listener(&app, "00000000000000fd").await;
    app.login_as(ANNA, Some("watch")).await;
    let heard = tokio::time::timeout(std::time::Duration::from_secs(1), ear.recv())
        .await
        .expect("the login notified the other leaseholder")
        .unwrap();
    assert!(
        heard
            .payload()
            .ends_with(tablet["user"]["id"].as_str().unwrap()),
        "{}",
        heard.payload()
    );
    sea_orm::sqlx::Connection::close(silent).await.ok();
}

#[tokio::test]
async fn an_instance_joins_only_between_the_logins_that_read_the_leases() {
    use sea_orm::sqlx::{self, Connection, Executor, postgres::PgConnection};
    let Some(app) = listening_app().await else {
        return; // SQLite: one instance, no listeners.
    };
    const OTHERS: &str = "SELECT instance FROM read_cache_others('00000000000000aa', \
        interval '1.5 seconds') AS o(instance)";
    const JOIN: &str = "SELECT 1 FROM read_cache_lease_join('00000000000000ab')";
    // A login between its lookup of the leases and its commit.
    let mut writer = PgConnection::connect(&app.database.url).await.unwrap();
    writer.execute("BEGIN").await.unwrap();
    let others: Vec<String> = sqlx::query_scalar(OTHERS)
        .fetch_all(&mut writer)
        .await
        .unwrap();
    assert!(!others.contains(&"00000000000000ab".to_owned()));
    // Joining now could let the joiner serve what the login has not told it: it gives way.
    let mut joiner = PgConnection::connect(&app.database.url).await.unwrap();
    joiner
        .execute("SELECT set_config('login_api.read_cache_protocol', '2', false)")
        .await
        .unwrap();
    let refused = sqlx::query(JOIN).execute(&mut joiner).await.unwrap_err();
    assert_eq!(
        refused
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("55P03"),
        "{refused}"
    );
    writer.execute("COMMIT").await.unwrap();
    // Once the login has committed it joins, and the next login sees it.
    sqlx::query(JOIN).execute(&mut joiner).await.unwrap();
    let others: Vec<String> = sqlx::query_scalar(OTHERS)
        .fetch_all(&mut writer)
        .await
        .unwrap();
    assert!(
        others.contains(&"00000000000000ab".to_owned()),
        "{others:?}"
    );
    assert!(
        !others.contains(&"00000000000000aa".to_owned()),
        "{others:?}"
    );
}

#[tokio::test]
async fn a_listener_of_a_version_before_the_join_lock_cannot_take_a_lease() {
    use sea_orm::sqlx::{self, Connection, postgres::PgConnection};
    let Some(app) = listening_app().await else {
        return; // SQLite: one instance, no listeners.
    };
    // As earlier versions renewed: a plain upsert, without the lock or the protocol mark.
    let mut old = PgConnection::connect(&app.database.url).await.unwrap();
    let refused = sqlx::query(
        "INSERT INTO read_cache_leases (instance, renewed_at) \
         VALUES ('00000000000000ac', clock_timestamp()) \
         ON CONFLICT (instance) DO UPDATE SET renewed_at = EXCLUDED.renewed_at",
    )
    .execute(&mut old)
    .await
    .unwrap_err();
    assert_eq!(
        refused
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("55000"),
        "{refused}"
    );
    // So a login, which sees no other lease, may leave its NOTIFY out.
    let leases: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM read_cache_leases WHERE instance = '00000000000000ac'",
    )
    .fetch_one(&mut old)
    .await
    .unwrap();
    assert_eq!(leases, 0);
}
