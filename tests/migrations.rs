//! Every migration applies, reverts and re-applies on both backends.

mod common;

use common::{Backend, TestDatabase};
use diesel_async::SimpleAsyncConnection;
use gateway::db::migrations::{self, Direction};
use gateway::db::{Pool, PoolOptions, StatementCounter};

const TABLES: [&str; 9] = [
    "organizations",
    "users",
    "api_keys",
    "teams",
    "roles",
    "runs",
    "run_steps",
    "run_events",
    "audit_logs",
];

/// Whether a table exists: selecting from a missing table fails on both backends.
async fn table_exists(url: &str, table: &str) -> bool {
    let options = PoolOptions {
        max_size: 1,
        acquire_timeout: std::time::Duration::from_secs(5),
        statement_timeout: std::time::Duration::from_secs(5),
    };
    let pool = Pool::new(url, &options, StatementCounter::default()).expect("pool");
    let mut pooled = pool.get().await.expect("connection");
    let mut conn = pooled.conn();
    let sql = format!("SELECT 1 FROM {table} WHERE 1 = 0");
    gateway::dispatch!(&mut conn, |c| c.batch_execute(&sql).await).is_ok()
}

async fn round_trip(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let applied = migrations::run(&db.url, Direction::Up).await.expect("up");
    assert_eq!(applied.len(), 4);
    for table in TABLES {
        assert!(
            table_exists(&db.url, table).await,
            "{table} exists after up"
        );
    }
    let reverted = migrations::run(&db.url, Direction::DownAll)
        .await
        .expect("down");
    assert_eq!(reverted.len(), 4);
    for table in TABLES {
        assert!(
            !table_exists(&db.url, table).await,
            "{table} is gone after down"
        );
    }
    let reapplied = migrations::run(&db.url, Direction::Up)
        .await
        .expect("up again");
    assert_eq!(reapplied, applied);
    assert!(
        migrations::run(&db.url, Direction::Up)
            .await
            .expect("idempotent")
            .is_empty()
    );
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_up_down_up() {
    round_trip(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_up_down_up() {
    round_trip(Backend::Postgres).await;
}
