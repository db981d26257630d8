//! The composition root: the only place that names concrete adapters.
//!
//! Design: building and running are separate. `Application::build` connects, migrates, wires the
//! use cases and binds the listener (port 0 picks a free one, which the tests use); `run` serves
//! until the shutdown future resolves, then drains in-flight requests.

mod outbox;
mod sms;
mod social;

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use crate::adapters::hybris::HybrisClient;
use crate::adapters::hybris::{HybrisSettings, TrustedClient};
use crate::adapters::rate_counter::{FallbackCounter, MemoryCounter, RedisCounter};
use crate::auth::{Auth, PasswordVerifier, Policy, admin::Admin, tokens::TokenKeys};
use crate::config::Settings;
use crate::graphql::{SchemaLimits, build_fast_schema, build_schema};
use crate::http::{AppState, router};
use crate::metrics::Metrics;
use crate::ports::{Clock, RateCounter};
use crate::relay::Relay;
use crate::sim;
use crate::sim::{SIMULATOR_BASE_SITE, SIMULATOR_CLIENT_ID, SIMULATOR_CLIENT_SECRET};
use crate::store::Store;

pub struct Application {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    auth: Arc<Auth>,
    admin: Admin,
    store: Store,
    purge_interval: std::time::Duration,
    relay: Option<Arc<Relay>>,
    sms_inbox: sim::sms::SmsInbox,
    database_url: String,
    read_cache: bool,
}

impl Application {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url()).await?;
        if settings.run_migrations {
            store.migrate().await?;
        }

        let sms_inbox = sim::sms::SmsInbox::default();
        let (hybris, trusted_client) = match settings.hybris.clone() {
            Some(hybris) => (hybris, settings.hybris_trusted_client.clone()),
            None => {
                let (hybris, trusted) = start_embedded_simulator(sms_inbox.clone()).await?;
                (
                    hybris,
                    settings.hybris_trusted_client.clone().or(Some(trusted)),
                )
            }
        };
        let http = crate::adapters::http_client().context("building the HTTP client")?;
        let metrics = Arc::new(Metrics::default());
        let hybris = Arc::new(
            HybrisClient::new(
                http.clone(),
                metrics.clone(),
                settings.hybris_timeout,
                hybris.base_url,
                hybris.client_id,
                hybris.client_secret,
                hybris.base_site,
            )
            .with_roles_field(settings.hybris_roles_field.clone())
            .with_breaker(
                settings.hybris_breaker,
                settings.hybris_max_in_flight,
                clock.clone(),
            )
            .with_circuit_observer(Arc::new(crate::auth::audit::CircuitAudit {
                store: store.clone(),
                clock: clock.clone(),
            })),
        );
        if !settings.short_lifetimes.is_empty() {
            tracing::warn!(
                variables = settings.short_lifetimes.join(", "),
                "lifetimes below production's minimums: for app testing only (APP_ENV is not production)"
            );
        }

        let tokens = TokenKeys::from_settings(&settings.jwt)?;
        if tokens.ephemeral {
            tracing::warn!(
                algorithm = ?settings.jwt.algorithm,
                "no JWT key configured (JWT_PRIVATE_KEY_FILE / JWT_SECRET): using an ephemeral key; tokens will not survive a restart"
            );
        }
        if settings.audit.development_key {
            tracing::warn!(
                "AUDIT_HASH_KEY is not set: the audit trail hashes identifiers with the built-in development key"
            );
        }

        let sinks = outbox::outbox_sinks(&settings, http.clone()).await;
        let outbox_written = Arc::new(tokio::sync::Notify::new());
        let relay = settings.relay_enabled.then(|| {
            Arc::new(Relay::new(
                store.clone(),
                clock.clone(),
                settings.relay.clone(),
                outbox_written.clone(),
                sinks,
            ))
        });

        let rate_counter = rate_counter(&settings, clock.clone())?;
        let social_clock = clock.clone();
        let admin = Admin::new(store.clone(), clock.clone()).with_audit(settings.audit.clone());
        let phone_codes = match &settings.phone {
            Some(phone) => Some(
                sms::phone_codes(phone, http.clone(), metrics.clone(), sms_inbox.clone()).await,
            ),
            None => {
                tracing::info!("phone sign-in is off (SMS_PROVIDER unset or off in production)");
                None
            }
        };
        let mut auth = Auth::new(
            store.clone(),
            PasswordVerifier {
                checker: hybris.clone(),
                directory: hybris.clone(),
            },
            clock,
            tokens,
            Policy {
                lifetimes: settings.lifetimes,
                timezone: settings.membership_timezone,
                limits: settings.limits,
                partner_token_ttl: settings.partner_token_ttl,
                activity_min_interval: settings.activity_min_interval,
                snapshot: settings.snapshot,
            },
            rate_counter,
            outbox_written,
        );
        if let Some(phone_codes) = phone_codes {
            auth = auth.with_phone_codes(phone_codes);
        }
        auth = auth
            .with_social(social::social_providers(&settings, http.clone(), social_clock).await?)
            .with_audit(settings.audit.clone());
        if let Some(trusted) = trusted_client {
            auth = auth.with_member_lookup(Arc::new(TrustedClient::new(
                hybris,
                trusted.client_id,
                trusted.client_secret,
            )));
        }
        let auth = Arc::new(auth);
        let limits = SchemaLimits {
            max_depth: settings.http.max_depth,
            max_complexity: settings.http.max_complexity,
            introspection: settings.http.introspection,
        };
        let services = || Some((auth.clone(), metrics.clone()));
        let schema = build_schema(services(), limits);
        let fast_schema = build_fast_schema(services(), limits);
        let router = router(AppState {
            auth: auth.clone(),
            documents: Default::default(),
            schema,
            fast_schema,
            settings: Arc::new(settings.http.clone()),
            metrics,
        });
        let listener = tokio::net::TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("binding LISTEN_ADDR {}", settings.listen_addr))?;
        Ok(Self {
            listener,
            router,
            auth,
            admin,
            store,
            purge_interval: settings.purge_interval,
            relay,
            sms_inbox,
            database_url: settings.database_url(),
            read_cache: settings.read_cache,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn auth(&self) -> Arc<Auth> {
        self.auth.clone()
    }

    /// The operators' use cases on this application's database and clock.
    pub fn admin(&self) -> Admin {
        self.admin.clone()
    }

    /// What the `log` SMS sender "sent" (development and tests).
    pub fn sms_inbox(&self) -> sim::sms::SmsInbox {
        self.sms_inbox.clone()
    }

    /// The database, for tests that look at rows directly.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let purge = tokio::spawn(purge_periodically(self.auth.clone(), self.purge_interval));
        // The cache turns on only once its listener runs; with the cache off the listener
        // still acknowledges the other instances' invalidations.
        let invalidations = self
            .store
            .listen_for_invalidations(&self.database_url, self.read_cache);
        if invalidations.is_some()
            && !self
                .store
                .await_listener(std::time::Duration::from_secs(5))
                .await
        {
            tracing::warn!(
                "serving before the invalidation listener listens: the read cache stays off until it does"
            );
        }
        tracing::info!(addr = %self.local_addr(), "listening");
        let relay = self.relay.map(|relay| tokio::spawn(relay.run()));
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
        purge.abort();
        if let Some(listener) = invalidations {
            listener.abort();
        }
        if let Some(relay) = relay {
            relay.abort();
        }
        served
    }
}

/// Applies pending migrations to the configured database.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    Store::connect(&settings.database_url())
        .await?
        .migrate()
        .await
}

/// The operators' use cases for the CLI on the configured database and the system clock;
/// `migrate` first applies pending migrations (read-only commands pass false, so they work
/// with a role without DDL rights and beside a newer release's schema).
pub async fn admin(settings: &Settings, migrate: bool) -> anyhow::Result<Admin> {
    let url = settings.database_url();
    // A read-only command must not create an empty database beside the server's.
    if !migrate && let Some(path) = crate::store::sqlite_file(&url) {
        anyhow::ensure!(
            path.exists(),
            "no database at {}: run the command in the directory the server runs in (its ./data), or set DATABASE_URL",
            path.display()
        );
    }
    let store = Store::connect(&url).await?;
    if migrate {
        store.migrate().await?;
    }
    Ok(Admin::new(store, Arc::new(crate::ports::SystemClock)).with_audit(settings.audit.clone()))
}

/// Starts the Hybris simulator in-process with the example members, for `serve` without
/// `HYBRIS_BASE_URL`; it serves `inbox` at `/sms/inbox` and knows its trusted client.
async fn start_embedded_simulator(
    inbox: sim::sms::SmsInbox,
) -> anyhow::Result<(HybrisSettings, crate::config::TrustedClientSettings)> {
    let users = sim::parse_users(sim::EXAMPLE_USERS)?;
    let control = Arc::new(sim::SimControl::with_sms_inbox(inbox));
    let addr = sim::spawn(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        sim::SimConfig {
            users,
            client_id: SIMULATOR_CLIENT_ID.into(),
            client_secret: SIMULATOR_CLIENT_SECRET.into(),
            base_site: SIMULATOR_BASE_SITE.into(),
        },
        control,
    )
    .await?;
    tracing::warn!(
        %addr,
        sms_inbox = %format!("http://{addr}/sms/inbox"),
        "HYBRIS_BASE_URL is not set: using the built-in Hybris simulator with the example members of hybris-sim/users.json \
         (log in as anna.rider@example.org with password Ride-2026!); with SMS_PROVIDER unset, sign-in codes are at sms_inbox"
    );
    Ok((
        HybrisSettings {
            base_url: format!("http://{addr}"),
            client_id: SIMULATOR_CLIENT_ID.into(),
            client_secret: SecretString::from(SIMULATOR_CLIENT_SECRET),
            base_site: SIMULATOR_BASE_SITE.into(),
        },
        crate::config::TrustedClientSettings {
            client_id: sim::SIMULATOR_TRUSTED_CLIENT_ID.into(),
            client_secret: SecretString::from(sim::SIMULATOR_TRUSTED_CLIENT_SECRET),
        },
    ))
}

async fn purge_periodically(auth: Arc<Auth>, every: std::time::Duration) {
    // The first purge one interval after start: not racing the first requests.
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        interval.tick().await;
        match auth.purge_expired(500).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "purged expired sessions and refresh tokens"),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "purging expired sessions failed")
            }
        }
    }
}

/// Redis-backed counters (shared by every instance) when `REDIS_URL` is set, else memory.
fn rate_counter(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn RateCounter>> {
    let memory = MemoryCounter::new(clock);
    Ok(match &settings.redis_url {
        Some(url) => {
            let redis = RedisCounter::new(url.expose_secret(), settings.redis_key_prefix.clone())
                .context("REDIS_URL: not a Redis URL")?;
            Arc::new(FallbackCounter::new(redis, memory))
        }
        None => {
            tracing::info!("REDIS_URL is not set: rate limits are counted per instance, in memory");
            Arc::new(memory)
        }
    })
}
