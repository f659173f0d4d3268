//! hotline's own tiny migrator (sqlx's needs its macros feature, which we
//! leave out).
//!
//! Migrations are SQL files under `migrations/<backend>/`, embedded with
//! `include_str!` and listed here in version order, one list per backend;
//! both lists must have the same versions and names. [`run`] applies the
//! missing ones at connect, each in its own transaction together with its
//! `schema_migrations` row, so a failed migration leaves nothing behind and
//! running twice is a no-op.
//!
//! Two processes migrating at once are serialised: SQLite by `BEGIN
//! IMMEDIATE` (takes the write lock up front), PostgreSQL by locking
//! `schema_migrations`; each re-checks the version inside its transaction.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;

use super::{Backend, StoreError};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Applied in increasing order; never reused.
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The SQLite migrations, in order.
pub const MIGRATIONS_SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "calls",
        sql: include_str!("../../migrations/sqlite/0001_calls.sql"),
    },
    Migration {
        version: 2,
        name: "customers_tickets",
        sql: include_str!("../../migrations/sqlite/0002_customers_tickets.sql"),
    },
    Migration {
        version: 3,
        name: "service_desk",
        sql: include_str!("../../migrations/sqlite/0003_service_desk.sql"),
    },
    Migration {
        version: 4,
        name: "knowledge_base",
        sql: include_str!("../../migrations/sqlite/0004_knowledge_base.sql"),
    },
    Migration {
        version: 5,
        name: "sip_credentials",
        sql: include_str!("../../migrations/sqlite/0005_sip_credentials.sql"),
    },
    Migration {
        version: 6,
        name: "acd",
        sql: include_str!("../../migrations/sqlite/0006_acd.sql"),
    },
    Migration {
        version: 7,
        name: "recordings",
        sql: include_str!("../../migrations/sqlite/0007_recordings.sql"),
    },
    Migration {
        version: 8,
        name: "qa",
        sql: include_str!("../../migrations/sqlite/0008_qa.sql"),
    },
    Migration {
        version: 9,
        name: "campaigns",
        sql: include_str!("../../migrations/sqlite/0009_campaigns.sql"),
    },
    Migration {
        version: 10,
        name: "outbound_calls",
        sql: include_str!("../../migrations/sqlite/0010_outbound_calls.sql"),
    },
    Migration {
        version: 11,
        name: "report_rollups",
        sql: include_str!("../../migrations/sqlite/0011_report_rollups.sql"),
    },
    Migration {
        version: 12,
        name: "ticket_rollups",
        sql: include_str!("../../migrations/sqlite/0012_ticket_rollups.sql"),
    },
];

/// The PostgreSQL migrations, in order.
pub const MIGRATIONS_POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "calls",
        sql: include_str!("../../migrations/postgres/0001_calls.sql"),
    },
    Migration {
        version: 2,
        name: "customers_tickets",
        sql: include_str!("../../migrations/postgres/0002_customers_tickets.sql"),
    },
    Migration {
        version: 3,
        name: "service_desk",
        sql: include_str!("../../migrations/postgres/0003_service_desk.sql"),
    },
    Migration {
        version: 4,
        name: "knowledge_base",
        sql: include_str!("../../migrations/postgres/0004_knowledge_base.sql"),
    },
    Migration {
        version: 5,
        name: "sip_credentials",
        sql: include_str!("../../migrations/postgres/0005_sip_credentials.sql"),
    },
    Migration {
        version: 6,
        name: "acd",
        sql: include_str!("../../migrations/postgres/0006_acd.sql"),
    },
    Migration {
        version: 7,
        name: "recordings",
        sql: include_str!("../../migrations/postgres/0007_recordings.sql"),
    },
    Migration {
        version: 8,
        name: "qa",
        sql: include_str!("../../migrations/postgres/0008_qa.sql"),
    },
    Migration {
        version: 9,
        name: "campaigns",
        sql: include_str!("../../migrations/postgres/0009_campaigns.sql"),
    },
    Migration {
        version: 10,
        name: "outbound_calls",
        sql: include_str!("../../migrations/postgres/0010_outbound_calls.sql"),
    },
    Migration {
        version: 11,
        name: "report_rollups",
        sql: include_str!("../../migrations/postgres/0011_report_rollups.sql"),
    },
    Migration {
        version: 12,
        name: "ticket_rollups",
        sql: include_str!("../../migrations/postgres/0012_ticket_rollups.sql"),
    },
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT NOT NULL PRIMARY KEY, \
     name TEXT NOT NULL, \
     applied_at BIGINT NOT NULL)";

/// Bring the schema up to date.
pub(super) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let migrations = match backend {
        Backend::Sqlite => MIGRATIONS_SQLITE,
        Backend::Postgres => MIGRATIONS_POSTGRES,
    };
    let failed = |m: &Migration| {
        let (version, name) = (m.version, m.name);
        move |source| StoreError::Migrate {
            version,
            name,
            source,
        }
    };
    let bookkeeping = Migration {
        version: 0,
        name: "schema_migrations",
        sql: CREATE_TABLE,
    };
    sqlx::raw_sql(CREATE_TABLE)
        .execute(pool)
        .await
        .map_err(failed(&bookkeeping))?;

    let known = migrations.last().map_or(0, |m| m.version);
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1")
            .fetch_optional(pool)
            .await
            .map_err(failed(&bookkeeping))?;
    if let Some(found) = newest.filter(|&v| v > known) {
        return Err(StoreError::SchemaTooNew { found, known });
    }

    for m in migrations {
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => pool.begin().await,
        }
        .map_err(failed(m))?;
        if backend == Backend::Postgres {
            // Blocks a concurrent migrator until we commit; plain reads of
            // the table (SHARE ROW EXCLUSIVE does not conflict with them)
            // go on.
            sqlx::raw_sql("LOCK TABLE schema_migrations IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(failed(m))?;
        }
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed(m))?;
        if applied.is_some() {
            tx.commit().await.map_err(failed(m))?;
            continue;
        }
        // raw_sql: the file holds several statements (PostgreSQL's
        // prepared-statement protocol takes only one).
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed(m))?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(failed(m))?;
        tx.commit().await.map_err(failed(m))?;
        tracing::info!(
            version = m.version,
            name = m.name,
            backend = backend.as_str(),
            "applied migration"
        );
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
