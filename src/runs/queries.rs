use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::{Run, RunFilter, RunStep};
use crate::db::schema::{run_steps, runs};
use crate::db::{Conn, Id, sql_types};
use crate::dispatch;
use crate::pagination::Window;

pub async fn insert_run(conn: &mut Conn<'_>, run: &Run) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::insert_into(runs::table)
        .values(run)
        .execute(c)
        .await)
}

pub async fn insert_steps(conn: &mut Conn<'_>, steps: &[RunStep]) -> QueryResult<usize> {
    match conn {
        Conn::Pg(c) => {
            diesel::insert_into(run_steps::table)
                .values(steps)
                .execute(*c)
                .await
        }
        // diesel has no multi-row INSERT for SQLite; rows go one by one (inside the
        // caller's transaction, so still atomic).
        Conn::Sqlite(c) => {
            let mut inserted = 0;
            for step in steps {
                inserted += diesel::insert_into(run_steps::table)
                    .values(step)
                    .execute(*c)
                    .await?;
            }
            Ok(inserted)
        }
    }
}

/// The organization's runs among `ids`.
pub async fn by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<Run>> {
    dispatch!(conn, |c| runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::id.eq_any(ids))
        .select(Run::as_select())
        .load(c)
        .await)
}

/// Steps of the organization's runs among `run_ids`, by run then position.
pub async fn steps_of_runs(
    conn: &mut Conn<'_>,
    org: Id,
    run_ids: &[Id],
) -> QueryResult<Vec<RunStep>> {
    dispatch!(conn, |c| run_steps::table
        .filter(run_steps::organization_id.eq(org))
        .filter(run_steps::run_id.eq_any(run_ids))
        .order((run_steps::run_id.asc(), run_steps::position.asc()))
        .select(RunStep::as_select())
        .load(c)
        .await)
}

/// Number of runs per team, for the teams among `team_ids` that have any.
pub async fn count_by_teams(
    conn: &mut Conn<'_>,
    org: Id,
    team_ids: &[Id],
    filter: RunFilter,
) -> QueryResult<HashMap<Id, i64>> {
    let rows: Vec<(Id, i64)> = dispatch!(conn, |c| {
        let mut query = runs::table
            .filter(runs::organization_id.eq(org))
            .filter(runs::team_id.eq_any(team_ids))
            .group_by(runs::team_id)
            .select((runs::team_id, diesel::dsl::count_star()))
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(runs::status.eq(status));
        }
        query.load(c).await
    })?;
    Ok(rows.into_iter().collect())
}

/// The same window of each team's runs, newest first: one statement for all teams.
///
/// PostgreSQL walks the `(organization_id, team_id, created_at DESC, id DESC)` index
/// once per team through a LATERAL join; SQLite, which has no LATERAL, numbers each
/// team's runs with a window function over the same index.
pub async fn recent_by_teams(
    conn: &mut Conn<'_>,
    org: Id,
    team_ids: &[Id],
    filter: RunFilter,
    window: Window,
) -> QueryResult<Vec<Run>> {
    if team_ids.is_empty() || window.limit <= 0 {
        return Ok(Vec::new());
    }
    let status = filter.status.map(|s| s.as_str());
    match conn {
        Conn::Pg(c) => {
            let sql = format!(
                "SELECT r.* FROM unnest($2) WITH ORDINALITY AS t(team_id, ord) CROSS JOIN LATERAL ( \
                   SELECT * FROM runs WHERE runs.organization_id = $1 AND runs.team_id = t.team_id {} \
                   ORDER BY runs.created_at DESC, runs.id DESC LIMIT $3 OFFSET $4) r \
                 ORDER BY t.ord, r.created_at DESC, r.id DESC",
                if status.is_some() {
                    "AND runs.status = $5"
                } else {
                    ""
                }
            );
            let query = diesel::sql_query(sql)
                .into_boxed()
                .bind::<sql_types::PortableUuid, _>(org)
                .bind::<diesel::sql_types::Array<sql_types::PortableUuid>, _>(team_ids)
                .bind::<BigInt, _>(window.limit)
                .bind::<BigInt, _>(window.offset);
            let query = match status {
                Some(s) => query.bind::<diesel::sql_types::Text, _>(s),
                None => query,
            };
            query.load::<Run>(*c).await
        }
        Conn::Sqlite(c) => {
            let placeholders = vec!["?"; team_ids.len()].join(", ");
            let sql = format!(
                "SELECT id, organization_id, team_id, triggered_by, kind, status, inputs, execution_config, \
                   estimated_cost, result, error_message, total_steps, completed_steps, tokens_used, cost, \
                   duration_ms, claimed_by, lease_expires_at, started_at, completed_at, created_at, updated_at \
                 FROM (SELECT runs.*, ROW_NUMBER() OVER ( \
                         PARTITION BY team_id ORDER BY created_at DESC, id DESC) AS rn \
                       FROM runs WHERE organization_id = ? AND team_id IN ({placeholders}) {}) \
                 WHERE rn > ? AND rn <= ? ORDER BY team_id, rn",
                if status.is_some() {
                    "AND status = ?"
                } else {
                    ""
                }
            );
            let mut query = diesel::sql_query(sql)
                .into_boxed()
                .bind::<sql_types::PortableUuid, _>(org);
            for id in team_ids {
                query = query.bind::<sql_types::PortableUuid, _>(*id);
            }
            if let Some(s) = status {
                query = query.bind::<diesel::sql_types::Text, _>(s);
            }
            query
                .bind::<BigInt, _>(window.offset)
                .bind::<BigInt, _>(window.offset + window.limit)
                .load::<Run>(*c)
                .await
        }
    }
}
