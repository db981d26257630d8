//! The command line: `serve` (default), `migrate`, `hybris-sim`, `print-schema`, `healthcheck`,
//! and the operators' `partner …`, `outbox …`, `audit …` and `user …`.
//!
//! Design: commands call use cases (`auth::admin`) built by `startup`, never the store, so the
//! CLI and the API apply the same rules.

mod records;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::{
    auth::admin::NewPartner,
    config::Settings,
    domain::outbox::Sink,
    domain::partner::{Claim, PartnerId},
    graphql,
    ports::SystemClock,
    sim,
    startup::{self, Application},
    telemetry,
};

/// `login-api [COMMAND]`.
#[derive(Parser)]
#[command(
    name = "login-api",
    version,
    about = "GraphQL login API for the club's mobile apps"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Run pending database migrations, then exit.
    Migrate,
    /// Run the Hybris simulator alone.
    HybrisSim {
        #[arg(long, env = "HYBRIS_SIM_ADDR", default_value = "127.0.0.1:9002")]
        addr: SocketAddr,
        /// A JSON array of users; the shipped example members when omitted.
        #[arg(long, env = "HYBRIS_SIM_USERS_FILE")]
        users: Option<PathBuf>,
        #[arg(long, env = "HYBRIS_SIM_CLIENT_ID", default_value = crate::sim::SIMULATOR_CLIENT_ID)]
        client_id: String,
        #[arg(long, env = "HYBRIS_SIM_CLIENT_SECRET", default_value = crate::sim::SIMULATOR_CLIENT_SECRET)]
        client_secret: String,
        #[arg(long, env = "HYBRIS_SIM_BASE_SITE", default_value = crate::sim::SIMULATOR_BASE_SITE)]
        base_site: String,
        /// Added to every response.
        #[arg(long, env = "HYBRIS_SIM_LATENCY_MS", default_value_t = 0)]
        latency_ms: u64,
        /// Answer every request with 503.
        #[arg(long, env = "HYBRIS_SIM_OUTAGE", default_value_t = false)]
        outage: bool,
    },
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    PrintSchema,
    /// Inspect or replay the outbox of index updates and events.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Manage partner web apps that members may sign in to.
    Partner {
        #[command(subcommand)]
        command: PartnerCommand,
    },
    /// Read the security audit trail.
    Audit {
        #[command(subcommand)]
        command: records::AuditCommand,
    },
    /// Delete or export a member (erasure and access requests).
    User {
        #[command(subcommand)]
        command: records::UserCommand,
    },
    /// Exit 0 when the server at LISTEN_ADDR answers /healthz (for container health checks).
    Healthcheck,
}

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// Print pending, retrying, delivered and dead rows per sink.
    Status,
    /// Make dead rows deliverable again (all sinks, or one: algolia, eventbridge).
    Replay {
        #[arg(long)]
        sink: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PartnerCommand {
    /// Register a partner; prints its secret once.
    Add {
        /// a-z, 0-9, - and _, at most 64.
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Claims the partner may learn: name, membership_number (comma-separated).
        #[arg(long, default_value = "name,membership_number")]
        claims: String,
        /// Token lifetime in seconds, at most 900.
        #[arg(long, default_value_t = 300)]
        ttl_secs: i64,
    },
    /// List partners (never their secrets).
    List,
    /// Replace a partner's secret; prints the new one once.
    RotateSecret {
        #[arg(long)]
        id: String,
    },
    /// Stop a partner: its tokens can no longer be minted or redeemed.
    Disable {
        #[arg(long)]
        id: String,
    },
}

/// Runs one command to its end.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::PrintSchema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Healthcheck => {
            let settings = Settings::from_env()?;
            let mut addr = settings.listen_addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let response = reqwest::Client::new()
                .get(format!("http://{addr}/healthz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .context("the server did not answer")?;
            anyhow::ensure!(
                response.status().is_success(),
                "/healthz answered {}",
                response.status()
            );
            Ok(())
        }
        Command::Partner { command } => partner(command).await,
        Command::Outbox { command } => outbox(command).await,
        Command::Audit { command } => records::audit(command).await,
        Command::User { command } => records::user(command).await,
        Command::Migrate => {
            let settings = Settings::from_env()?;
            let _telemetry = telemetry::init(settings.log_format);
            startup::migrate(&settings).await?;
            tracing::info!("migrations are up to date");
            Ok(())
        }
        Command::Serve => {
            let settings = Settings::from_env()?;
            let _telemetry = telemetry::init(settings.log_format);
            let app = Application::build(settings, Arc::new(SystemClock)).await?;
            app.run(shutdown_signal()).await
        }
        Command::HybrisSim {
            addr,
            users,
            client_id,
            client_secret,
            base_site,
            latency_ms,
            outage,
        } => {
            let _telemetry = telemetry::init(crate::telemetry::LogFormat::Text);
            let users = match users {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => sim::EXAMPLE_USERS.to_owned(),
            };
            let control = Arc::new(sim::SimControl::default());
            control.set_latency(Duration::from_millis(latency_ms));
            control.set_outage(outage);
            let config = sim::SimConfig {
                users: sim::parse_users(&users)?,
                client_id,
                client_secret,
                base_site,
            };
            let bound = sim::spawn(addr, config, control).await?;
            tracing::info!(%bound, "Hybris simulator listening");
            shutdown_signal().await;
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

async fn partner(command: PartnerCommand) -> anyhow::Result<()> {
    let admin = startup::admin(&Settings::from_env()?, true).await?;
    let id = |raw: &str| PartnerId::parse(raw).map_err(|e| anyhow::anyhow!("--id {e}"));
    match command {
        PartnerCommand::Add {
            id: raw,
            name,
            claims,
            ttl_secs,
        } => {
            let partner = NewPartner {
                id: id(&raw)?,
                display_name: name,
                allowed_claims: Claim::parse_list(&claims)
                    .map_err(|e| anyhow::anyhow!("--claims: {e}"))?,
                token_ttl_secs: ttl_secs,
            };
            let secret = admin.add_partner(partner).await?;
            println!(
                "partner {raw} added; its secret (shown once, store it safely):\n{}",
                secret.expose()
            );
        }
        PartnerCommand::List => {
            println!(
                "{:<24} {:<8} {:<6} {:<28} name",
                "id", "active", "ttl", "claims"
            );
            for p in admin.partners().await? {
                println!(
                    "{:<24} {:<8} {:<6} {:<28} {}",
                    p.id.as_str(),
                    p.active,
                    p.token_ttl_secs,
                    Claim::join(&p.allowed_claims),
                    p.display_name
                );
            }
        }
        PartnerCommand::RotateSecret { id: raw } => {
            let secret = admin.rotate_partner_secret(&id(&raw)?).await?;
            println!(
                "partner {raw} has a new secret (shown once; the old one no longer works):\n{}",
                secret.expose()
            );
        }
        PartnerCommand::Disable { id: raw } => {
            admin.disable_partner(&id(&raw)?).await?;
            println!("partner {raw} disabled");
        }
    }
    Ok(())
}

async fn outbox(command: OutboxCommand) -> anyhow::Result<()> {
    let admin = startup::admin(&Settings::from_env()?, false).await?;
    match command {
        OutboxCommand::Status => {
            println!(
                "{:<12} {:>8} {:>8} {:>10} {:>6}",
                "sink", "pending", "retrying", "delivered", "dead"
            );
            for (sink, c) in admin.outbox_status().await? {
                println!(
                    "{:<12} {:>8} {:>8} {:>10} {:>6}",
                    sink.as_str(),
                    c.pending,
                    c.retrying,
                    c.delivered,
                    c.dead
                );
            }
        }
        OutboxCommand::Replay { sink } => {
            let sink = sink
                .map(|name| {
                    Sink::parse(&name).with_context(|| {
                        format!("unknown sink {name:?}: use algolia or eventbridge")
                    })
                })
                .transpose()?;
            let replayed = admin.replay_dead_outbox(sink).await?;
            println!("{replayed} dead rows are pending again");
        }
    }
    Ok(())
}
