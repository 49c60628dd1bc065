//! Embedded migrations, one set per backend, run at start-up and by `gateway migrate`.

use diesel::Connection;
use diesel::sqlite::SqliteConnection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Backend, DbError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// What to do with the migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Apply every pending migration.
    Up,
    /// Revert every applied migration.
    DownAll,
}

/// Runs the migrations for `url`'s backend and returns the versions touched.
///
/// Runs on a blocking thread: the harness is synchronous, and the PostgreSQL wrapper
/// blocks on its own runtime, which must not happen on an async worker.
pub async fn run(url: &str, direction: Direction) -> Result<Vec<String>, DbError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || match Backend::of_url(&url) {
        Backend::Postgres => {
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
                .map_err(|e| DbError::Migration(e.to_string()))?;
            apply(&mut conn, POSTGRES, direction)
        }
        Backend::Sqlite => {
            super::prepare_sqlite();
            let mut conn =
                SqliteConnection::establish(&url).map_err(|e| DbError::Migration(e.to_string()))?;
            // Foreign keys are off while migrating, as SQLite's table rebuilds need
            // (a dropped parent would otherwise cascade into its children), and every
            // reference is checked once the migrations are done.
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA foreign_keys = OFF;",
            )
            .map_err(|e| DbError::Migration(e.to_string()))?;
            let versions = apply(&mut conn, SQLITE, direction)?;
            if !versions.is_empty() {
                check_foreign_keys(&mut conn)?;
            }
            Ok(versions)
        }
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))?
}

fn apply<C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
    direction: Direction,
) -> Result<Vec<String>, DbError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let versions = match direction {
        Direction::Up => conn.run_pending_migrations(migrations),
        Direction::DownAll => conn.revert_all_migrations(migrations),
    }
    .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(versions.into_iter().map(|v| v.to_string()).collect())
}

/// Fails when any row references a missing parent.
fn check_foreign_keys(conn: &mut SqliteConnection) -> Result<(), DbError> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Violation {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table: String,
    }
    let violations: Vec<Violation> = diesel::sql_query("PRAGMA foreign_key_check")
        .load(conn)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    match violations.first() {
        None => Ok(()),
        Some(v) => Err(DbError::Migration(format!(
            "{} rows reference missing parents (first in `{}`)",
            violations.len(),
            v.table
        ))),
    }
}
