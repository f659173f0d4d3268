//! Fresh databases for tests on both backends: SQLite in a temp dir,
//! PostgreSQL in a fresh schema (`HOTLINE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), removed afterwards even if
//! the test panics. Unreachable PostgreSQL fails the test when `CI=true`
//! and prints a loud skip line otherwise.
//!
//! `on_both_backends!(name, ...)` makes, for each `async fn name(&TestDb)`,
//! a module `name` with tests `sqlite` and `postgres`.

use std::path::PathBuf;

use hotline::store::{Backend, Store};
use sqlx::{AssertSqlSafe, Connection};

pub struct TestDb {
    pub store: Store,
    pub url: String,
    _guard: Guard,
}

/// Removes what a test created, on drop (so also after a panic).
pub enum Guard {
    Dir(PathBuf),
    Schema { base_url: String, schema: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self {
            Guard::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Guard::Schema { base_url, schema } => {
                let (base_url, name) = (base_url.clone(), schema.clone());
                // Drop is sync and may run inside the test's runtime: do the
                // async cleanup on a thread with a runtime of its own.
                let done = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("cleanup runtime");
                    rt.block_on(async {
                        let mut conn = sqlx::AnyConnection::connect(&base_url).await?;
                        // After a panic the test's runtime is gone, and a
                        // transaction it left open (sqlx rolls back lazily)
                        // would block the DROP for ever: end the test's
                        // own connections first (they carry the schema's
                        // name as application_name).
                        sqlx::raw_sql(AssertSqlSafe(format!(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE application_name = '{name}'; \
                             SET lock_timeout = '10s'; \
                             DROP SCHEMA IF EXISTS {name} CASCADE"
                        )))
                        .execute(&mut conn)
                        .await?;
                        conn.close().await
                    })
                })
                .join();
                if !matches!(done, Ok(Ok(()))) {
                    eprintln!("warning: could not drop test schema {schema}");
                }
            }
        }
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{:016x}", std::process::id(), fastrand::u64(..))
}

/// A fresh, empty database on `backend`, not connected to yet: its URL and
/// the guard that removes it. `None` when PostgreSQL is unreachable and the
/// test should be skipped (a loud line says so; with `CI=true` it panics).
pub async fn fresh_database(backend: Backend, test: &str) -> Option<(String, Guard)> {
    sqlx::any::install_default_drivers();
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(unique("hotline_store"));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.join("calls.db").display());
            Some((url, Guard::Dir(dir)))
        }
        Backend::Postgres => {
            let base_url = std::env::var("HOTLINE_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let mut conn = match sqlx::AnyConnection::connect(&base_url).await {
                Ok(conn) => conn,
                Err(e) => {
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!(
                            "PostgreSQL unreachable at HOTLINE_TEST_POSTGRES_URL and CI=true: {e}"
                        );
                    }
                    eprintln!(
                        "\n!!!!! SKIPPED the PostgreSQL run of `{test}`: cannot connect \
                         (HOTLINE_TEST_POSTGRES_URL or its default): {e}. \
                         With CI=true this is a failure. !!!!!\n"
                    );
                    return None;
                }
            };
            let schema = unique("t");
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .expect("create test schema");
            conn.close().await.expect("close");
            let sep = if base_url.contains('?') { '&' } else { '?' };
            let url = format!(
                "{base_url}{sep}options=-c%20search_path%3D{schema}&application_name={schema}"
            );
            Some((url, Guard::Schema { base_url, schema }))
        }
    }
}

pub async fn sqlite_db() -> TestDb {
    let (url, guard) = fresh_database(Backend::Sqlite, "")
        .await
        .expect("sqlite is always there");
    let store = Store::connect(&url).await.expect("connect sqlite");
    TestDb {
        store,
        url,
        _guard: guard,
    }
}

pub async fn postgres_db(test: &str) -> Option<TestDb> {
    let (url, guard) = fresh_database(Backend::Postgres, test).await?;
    let store = Store::connect(&url).await.expect("connect postgres");
    Some(TestDb {
        store,
        url,
        _guard: guard,
    })
}

/// For each `name`, a module `name` with tests `sqlite` and `postgres`
/// that run `async fn name(&TestDb)` on that backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::common::db::sqlite_db().await;
                super::$name(&db).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = $crate::common::db::postgres_db(stringify!($name)).await {
                    super::$name(&db).await;
                }
            }
        }
    )*};
}
