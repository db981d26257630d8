//! The connections the hottest statements run on (the refresh's, a password login's writes,
//! the relay's claim and settle, the writers' read-cache leaseholder lookup): on PostgreSQL, a
//! small pool of plain sqlx connections beside sea-orm's.
//!
//! Why: sqlx's pool pings every connection as it is given back, in a task it spawns for it,
//! and no option turns that off. A refresh is one statement, so that ping was one exchange in
//! three, paid by PostgreSQL too. deadpool gives a connection back in its `Drop`, with no
//! exchange. What the ping guarded against is kept: a connection whose statement did not finish
//! (an error, or a request dropped mid-statement) is closed instead of given back, and one idle
//! for `PING_IF_IDLE_FOR` is pinged before it is handed out, as in sea-orm's pool, so that a
//! connection PostgreSQL closed while it sat idle costs no request (one used more recently
//! fails its statement, as in sea-orm's pool). Connections older than `MAX_LIFETIME` are
//! replaced, as sqlx's pool does by default; idle ones stay open (at most `MAX_SIZE`).

use std::str::FromStr;
use std::time::Duration;

use deadpool::managed::{Manager, Metrics, Object, Pool, RecycleError, RecycleResult, Timeouts};
use sea_orm::sqlx::{self, ConnectOptions, Connection, PgConnection, postgres::PgConnectOptions};

use super::PING_IF_IDLE_FOR;

/// How many connections the pool keeps open at most (sea-orm's pool keeps up to 16 more).
pub const MAX_SIZE: usize = 8;

/// A connection this old is closed when it would next be handed out (sqlx's default).
pub const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Opens and checks the pool's connections.
pub struct Connector {
    options: PgConnectOptions,
}

impl Manager for Connector {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        // Boxed, as the ping below: deadpool's checkout future holds this one inline, and so
        // every statement's future would carry sqlx's connect future (several KB, copied
        // whenever a future holding it is created or moved).
        Box::pin(PgConnection::connect_with(&self.options)).await
    }

    /// `metrics.last_used()` counts from the connection's last checkout, so a connection is
    /// pinged at the latest `PING_IF_IDLE_FOR` after its last statement began.
    async fn recycle(
        &self,
        conn: &mut PgConnection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if metrics.age() >= MAX_LIFETIME {
            return Err(RecycleError::message("past its lifetime"));
        }
        if metrics.last_used() >= PING_IF_IDLE_FOR {
            Box::pin(conn.ping()).await?;
        }
        Ok(())
    }
}

/// The pool of `url`'s database (a `postgres://` URL): opens nothing until a statement needs a
/// connection. Errors: the URL does not parse.
pub fn pool(url: &str) -> anyhow::Result<Pool<Connector>> {
    let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
    let timeouts = Timeouts {
        wait: Some(Duration::from_secs(10)),
        create: Some(Duration::from_secs(5)),
        recycle: Some(Duration::from_secs(5)),
    };
    Ok(Pool::builder(Connector { options })
        .max_size(MAX_SIZE)
        .timeouts(timeouts)
        .runtime(deadpool::Runtime::Tokio1)
        // The connection given back last is handed out first: the fewest pings.
        .queue_mode(deadpool::managed::QueueMode::Lifo)
        .build()?)
}

/// A connection of the pool, given back when dropped only if every statement run on it
/// finished (`run`) and no transaction is open (`begin`); otherwise closed.
pub struct DirectConnection {
    object: Option<Object<Connector>>,
    finished: bool,
    in_transaction: bool,
}

impl DirectConnection {
    /// Takes a connection: waits up to 10 s for a free one when all are in use, then up to 5 s
    /// for the ping of one idle for `PING_IF_IDLE_FOR` or for opening a new one. Errors: the
    /// wait timed out (`PoolTimedOut`), opening or pinging timed out (an I/O `TimedOut`), or
    /// PostgreSQL refused the connection.
    pub async fn take(pool: &Pool<Connector>) -> Result<Self, sqlx::Error> {
        use deadpool::managed::{PoolError, TimeoutType};
        let timed_out = |what: &str| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{what} timed out"),
            ))
        };
        let object = pool.get().await.map_err(|error| match error {
            PoolError::Backend(error) => error,
            PoolError::Timeout(TimeoutType::Wait) => sqlx::Error::PoolTimedOut,
            PoolError::Timeout(TimeoutType::Create) => timed_out("connecting to PostgreSQL"),
            PoolError::Timeout(TimeoutType::Recycle) => timed_out("pinging an idle connection"),
            PoolError::Closed => sqlx::Error::PoolClosed,
            other => sqlx::Error::Configuration(other.to_string().into()),
        })?;
        Ok(Self {
            object: Some(object),
            finished: true,
            in_transaction: false,
        })
    }

    /// `BEGIN`: until `commit` or `rollback` has succeeded, dropping the connection closes it
    /// (PostgreSQL then rolls the transaction back).
    pub async fn begin(&mut self) -> Result<(), sqlx::Error> {
        self.in_transaction = true;
        self.simple("BEGIN").await
    }

    /// `COMMIT`. Only after statements that all succeeded: in a failed transaction PostgreSQL
    /// answers `COMMIT` with a rollback, not an error.
    pub async fn commit(&mut self) -> Result<(), sqlx::Error> {
        self.simple("COMMIT").await?;
        self.in_transaction = false;
        Ok(())
    }

    /// `ROLLBACK`, for a transaction a statement has failed in.
    pub async fn rollback(&mut self) -> Result<(), sqlx::Error> {
        self.simple("ROLLBACK").await?;
        self.in_transaction = false;
        Ok(())
    }

    async fn simple(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        use sqlx::Executor;
        self.run(async |c| c.execute(sqlx::raw_sql(sql)).await.map(drop))
            .await
    }

    /// Runs one statement on the connection: `statement` gets it and returns the statement's
    /// future. An error closes the connection when it is dropped, whatever the error was (the
    /// rare case, and a new connection is cheap next to a wrong state).
    pub async fn run<T>(
        &mut self,
        statement: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        self.finished = false;
        let conn = self.object.as_mut().expect("a connection until dropped");
        let outcome = statement(conn).await;
        self.finished = outcome.is_ok();
        outcome
    }
}

impl Drop for DirectConnection {
    fn drop(&mut self) {
        if (!self.finished || self.in_transaction)
            && let Some(object) = self.object.take()
        {
            // Out of the pool: the socket closes with it.
            drop(Object::take(object));
        }
    }
}
