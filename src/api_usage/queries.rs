use diesel::QueryResult;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;

use super::ApiCall;
use crate::db::schema::api_usage;
use crate::db::sql_types::{PortableTimestamp, PortableUuid};
use crate::db::{Conn, Id, Pool, Timestamp};
use crate::error::AppResult;
use crate::{insert_rows, transaction};

/// Writes `calls` at once: one multi-row INSERT on PostgreSQL, one transaction on SQLite.
pub async fn insert(pool: &Pool, calls: &[ApiCall]) -> AppResult<()> {
    let mut pooled = pool.get().await?;
    let mut conn = pooled.conn();
    transaction!(&mut conn, |tx| -> AppResult<()> {
        for chunk in calls.chunks(500) {
            insert_rows!(tx, api_usage::table, chunk)?;
        }
        Ok(())
    })
}

/// What an API usage report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallGrouping {
    Operation,
    Kind,
    Day,
    Status,
}

/// One group's calls: how many, how many failed, and latency in microseconds at the
/// 50th, 95th and 99th percentile (nearest rank) and the maximum.
#[derive(Debug, Clone, QueryableByName)]
pub struct CallStats {
    #[diesel(sql_type = Nullable<Text>)]
    pub key: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    /// Calls that ended in anything but `ok`.
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
    #[diesel(sql_type = BigInt)]
    pub total_us: i64,
    #[diesel(sql_type = BigInt)]
    pub p50_us: i64,
    #[diesel(sql_type = BigInt)]
    pub p95_us: i64,
    #[diesel(sql_type = BigInt)]
    pub p99_us: i64,
    #[diesel(sql_type = BigInt)]
    pub max_us: i64,
}

/// The organization's calls in `[from, to)` per group, busiest first. Percentiles are
/// read in the database (a window over each group's ordered latencies), the same SQL
/// on both backends.
pub async fn report(
    conn: &mut Conn<'_>,
    org: Id,
    from: Timestamp,
    to: Timestamp,
    grouping: CallGrouping,
) -> QueryResult<Vec<CallStats>> {
    let key = match grouping {
        CallGrouping::Operation => "operation_name",
        CallGrouping::Kind => "operation_type",
        CallGrouping::Day => "usage_day",
        CallGrouping::Status => "status",
    };
    // `(n * p + 99) / 100` is the nearest rank ceil(n * p / 100) in integer arithmetic.
    let sql = |p: [&str; 3]| {
        format!(
            "WITH ranked AS ( \
               SELECT {key} AS key, status, errors_count, duration_us, \
                 ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY duration_us) AS rn, \
                 COUNT(*) OVER (PARTITION BY {key}) AS n \
               FROM api_usage WHERE organization_id = {} AND created_at >= {} AND created_at < {}) \
             SELECT key, CAST(COUNT(*) AS BIGINT) AS calls, \
               CAST(SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
               CAST(SUM(errors_count) AS BIGINT) AS errors, \
               CAST(SUM(duration_us) AS BIGINT) AS total_us, \
               CAST(MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN duration_us ELSE 0 END) AS BIGINT) AS p50_us, \
               CAST(MAX(CASE WHEN rn = (n * 95 + 99) / 100 THEN duration_us ELSE 0 END) AS BIGINT) AS p95_us, \
               CAST(MAX(CASE WHEN rn = (n * 99 + 99) / 100 THEN duration_us ELSE 0 END) AS BIGINT) AS p99_us, \
               CAST(MAX(duration_us) AS BIGINT) AS max_us \
             FROM ranked GROUP BY key ORDER BY calls DESC, key",
            p[0], p[1], p[2]
        )
    };
    match conn {
        Conn::Pg(c) => {
            diesel::sql_query(sql(["$1", "$2", "$3"]))
                .bind::<PortableUuid, _>(org)
                .bind::<PortableTimestamp, _>(from)
                .bind::<PortableTimestamp, _>(to)
                .load(*c)
                .await
        }
        Conn::Sqlite(c) => {
            diesel::sql_query(sql(["?", "?", "?"]))
                .bind::<PortableUuid, _>(org)
                .bind::<PortableTimestamp, _>(from)
                .bind::<PortableTimestamp, _>(to)
                .load(*c)
                .await
        }
    }
}
