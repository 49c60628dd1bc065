use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::{Run, RunEventRow, RunFilter, RunStatus, RunStep, StepLine, StepStatus};
use crate::db::schema::{run_events, run_steps, runs, teams};
use crate::db::{Conn, Decimal, Id, Json, Timestamp, sql_types};
use crate::dispatch;
use crate::pagination::Window;
use crate::teams::TeamStatus;

pub async fn insert_run(conn: &mut Conn<'_>, run: &Run) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::insert_into(runs::table)
        .values(run)
        .execute(c)
        .await)
}

pub async fn insert_steps(conn: &mut Conn<'_>, steps: &[RunStep]) -> QueryResult<usize> {
    crate::insert_rows!(conn, run_steps::table, steps)
}

/// The organization's runs among `ids`.
pub async fn by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<Run>> {
    let ids = ids.to_vec();
    crate::load!(
        conn,
        runs::table
            .filter(runs::organization_id.eq(org))
            .filter(runs::id.eq_any(ids))
            .select(Run::as_select())
    )
}

/// Steps of the organization's runs among `run_ids`, by run then position.
#[diesel::dsl::auto_type(no_type_alias)]
fn steps_in_order(org: Id, run_ids: Vec<Id>) -> _ {
    run_steps::table
        .filter(run_steps::organization_id.eq(org))
        .filter(run_steps::run_id.eq_any(run_ids))
        .order((run_steps::run_id.asc(), run_steps::position.asc()))
}

/// Steps of the organization's runs among `run_ids`, by run then position.
pub async fn steps_of_runs(
    conn: &mut Conn<'_>,
    org: Id,
    run_ids: &[Id],
) -> QueryResult<Vec<RunStep>> {
    let run_ids = run_ids.to_vec();
    crate::load!(
        conn,
        steps_in_order(org, run_ids).select(RunStep::as_select())
    )
}

/// [`steps_of_runs`] with only the columns of a [`StepLine`].
pub async fn step_lines_of_runs(
    conn: &mut Conn<'_>,
    org: Id,
    run_ids: &[Id],
) -> QueryResult<Vec<StepLine>> {
    let run_ids = run_ids.to_vec();
    crate::load!(
        conn,
        steps_in_order(org, run_ids).select(StepLine::as_select())
    )
}

/// Number of runs per team, for the teams among `team_ids` that have any.
pub async fn count_by_teams(
    conn: &mut Conn<'_>,
    org: Id,
    team_ids: &[Id],
    filter: RunFilter,
) -> QueryResult<HashMap<Id, i64>> {
    let rows: Vec<(Option<Id>, i64)> = dispatch!(conn, |c| {
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
    Ok(rows
        .into_iter()
        .filter_map(|(team, n)| team.map(|t| (t, n)))
        .collect())
}

/// `runs`' columns in the table's (and [`Run`]'s) order.
const RUN_COLUMNS: &str = "id, organization_id, team_id, triggered_by, kind, status, inputs, \
    execution_config, estimated_cost, result, error_message, total_steps, completed_steps, \
    tokens_used, cost, duration_ms, claimed_by, lease_expires_at, started_at, completed_at, \
    created_at, updated_at, event_seq, project_id, template_id, schedule_id";

/// The same window of each team's runs, newest first: one statement for all teams.
///
/// Both walk the `(organization_id, team_id, created_at DESC, id DESC)` index once per
/// team and read only the page's rows: PostgreSQL through a LATERAL join; SQLite, which
/// has no LATERAL, through a correlated subquery of each team's page of row ids (it
/// numbered all of each team's runs with a window function before, three times slower).
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
    let page = TeamRunsPage {
        org,
        team_ids: team_ids.to_vec(),
        status: filter.status.map(|s| s.as_str()),
        window,
    };
    crate::load!(conn, page)
}

/// [`recent_by_teams`]'s statement. Its rows are read by position, in the table's
/// column order (`SqlType` is the table's), not by name as `sql_query` reads them: a
/// page of runs is thousands of columns, and each by-name read searches the row's
/// columns for its name.
struct TeamRunsPage {
    org: Id,
    team_ids: Vec<Id>,
    status: Option<&'static str>,
    window: Window,
}

impl diesel::query_builder::QueryId for TeamRunsPage {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for TeamRunsPage {
    type SqlType = runs::SqlType;
}

impl TeamRunsPage {
    /// The status filter, newest-first order and window of one team's page, on the runs
    /// table as `alias`: the same on both backends.
    fn walk_filter_and_window<'b, DB>(
        &'b self,
        alias: &str,
        out: &mut diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>
    where
        DB: diesel::backend::Backend
            + diesel::sql_types::HasSqlType<diesel::sql_types::Text>
            + diesel::sql_types::HasSqlType<BigInt>,
        &'static str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        i64: diesel::serialize::ToSql<BigInt, DB>,
    {
        if let Some(status) = &self.status {
            out.push_sql(" AND ");
            out.push_sql(alias);
            out.push_sql(".status = ");
            out.push_bind_param::<diesel::sql_types::Text, _>(status)?;
        }
        out.push_sql(" ORDER BY ");
        out.push_sql(alias);
        out.push_sql(".created_at DESC, ");
        out.push_sql(alias);
        out.push_sql(".id DESC LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.window.limit)?;
        out.push_sql(" OFFSET ");
        out.push_bind_param::<BigInt, _>(&self.window.offset)?;
        Ok(())
    }
}

// The synchronous load of SQLite's connection thread (see `load!`).
impl<C> diesel::RunQueryDsl<C> for TeamRunsPage {}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for TeamRunsPage {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("SELECT r.* FROM unnest(");
        out.push_bind_param::<diesel::sql_types::Array<sql_types::PortableUuid>, _>(
            &self.team_ids,
        )?;
        out.push_sql(") WITH ORDINALITY AS t(team_id, ord) CROSS JOIN LATERAL (SELECT ");
        out.push_sql(RUN_COLUMNS);
        out.push_sql(" FROM runs WHERE runs.organization_id = ");
        out.push_bind_param::<sql_types::PortableUuid, _>(&self.org)?;
        out.push_sql(" AND runs.team_id = t.team_id");
        self.walk_filter_and_window("runs", &mut out)?;
        out.push_sql(") r ORDER BY t.ord, r.created_at DESC, r.id DESC");
        Ok(())
    }
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for TeamRunsPage {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        out.push_sql("WITH wanted(wanted_team) AS (VALUES ");
        for (i, team) in self.team_ids.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<sql_types::PortableUuid, _>(team)?;
            out.push_sql(")");
        }
        out.push_sql(") SELECT ");
        out.push_sql(RUN_COLUMNS);
        out.push_sql(
            " FROM wanted JOIN runs ON runs.rowid IN (SELECT page.rowid FROM runs AS page \
             WHERE page.organization_id = ",
        );
        out.push_bind_param::<sql_types::PortableUuid, _>(&self.org)?;
        out.push_sql(" AND page.team_id = wanted.wanted_team");
        self.walk_filter_and_window("page", &mut out)?;
        out.push_sql(") ORDER BY runs.team_id, runs.created_at DESC, runs.id DESC");
        Ok(())
    }
}

/// The oldest claimable run, given the time as `$3`.
const CLAIM_PICK: &str = "SELECT id FROM runs WHERE status IN ('PENDING', 'RUNNING') \
     AND (status = 'PENDING' OR lease_expires_at IS NULL OR lease_expires_at < $3) \
     ORDER BY created_at LIMIT 1";

/// Takes the oldest claimable run (pending, or running with an expired lease) for the
/// claim `token` and bumps its event sequence for the start event.
///
/// PostgreSQL skips rows other workers hold locked, so several processes share the
/// queue; SQLite has a single writer, and the caller's IMMEDIATE transaction makes the
/// select-and-update atomic.
pub async fn claim_one(
    conn: &mut Conn<'_>,
    token: &str,
    now: Timestamp,
    lease_until: Timestamp,
) -> QueryResult<Option<Run>> {
    const SET: &str = "UPDATE runs SET status = 'RUNNING', claimed_by = $1, lease_expires_at = $2, \
         started_at = COALESCE(started_at, $3), updated_at = $3, event_seq = event_seq + 1";
    match conn {
        // Kept prepared: every idle worker runs this on every poll.
        Conn::Pg(c) => ClaimQuery {
            token,
            lease_until,
            now,
        }
        .get_result::<Run>(*c)
        .await
        .optional(),
        Conn::Sqlite(c) => {
            diesel::sql_query(format!("{SET} WHERE id = ({CLAIM_PICK}) RETURNING *"))
                .bind::<diesel::sql_types::Text, _>(token)
                .bind::<sql_types::PortableTimestamp, _>(lease_until)
                .bind::<sql_types::PortableTimestamp, _>(now)
                .get_result::<Run>(*c)
                .await
                .optional()
        }
    }
}

/// [`claim_one`]'s PostgreSQL statement, which diesel may keep prepared (unlike
/// `sql_query`): the binds are pushed where `$1`, `$2`, `$3` first appear.
struct ClaimQuery<'a> {
    token: &'a str,
    lease_until: Timestamp,
    now: Timestamp,
}

impl diesel::query_builder::QueryId for ClaimQuery<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for ClaimQuery<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for ClaimQuery<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("UPDATE runs SET status = 'RUNNING', claimed_by = ");
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.token)?;
        out.push_sql(", lease_expires_at = ");
        out.push_bind_param::<sql_types::PortableTimestamp, _>(&self.lease_until)?;
        out.push_sql(", started_at = COALESCE(started_at, ");
        out.push_bind_param::<sql_types::PortableTimestamp, _>(&self.now)?;
        out.push_sql("), updated_at = $3, event_seq = event_seq + 1 WHERE id = (");
        out.push_sql(CLAIM_PICK);
        out.push_sql(" FOR UPDATE SKIP LOCKED) RETURNING *");
        Ok(())
    }
}

/// Extends the lease of a run this claim still holds; false once it does not (the
/// run was cancelled, or another worker took it over).
pub async fn renew_lease(
    conn: &mut Conn<'_>,
    run_id: Id,
    token: &str,
    until: Timestamp,
) -> QueryResult<bool> {
    let updated = dispatch!(conn, |c| diesel::update(
        runs::table
            .filter(runs::id.eq(run_id))
            .filter(runs::claimed_by.eq(token))
            .filter(runs::status.eq(RunStatus::Running))
    )
    .set(runs::lease_expires_at.eq(until))
    .execute(c)
    .await)?;
    Ok(updated == 1)
}

/// A run's row locked for a status change (`FOR UPDATE` on PostgreSQL; SQLite's
/// IMMEDIATE transaction already excludes other writers).
pub async fn lock(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Run>> {
    let query = runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::id.eq(id));
    crate::first_for_update!(conn, query, Run)
}

/// The changes a step or a run end makes to the run row.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = runs, treat_none_as_null = true)]
pub struct RunProgressUpdate {
    pub status: RunStatus,
    pub claimed_by: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    pub result: Option<String>,
    pub error_message: Option<String>,
    pub duration_ms: Option<i64>,
    pub completed_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

/// Adds a step's figures to a run this claim holds and reserves `events` sequence
/// numbers; `None` when the claim was lost.
pub async fn advance(
    conn: &mut Conn<'_>,
    org: Id,
    run_id: Id,
    token: &str,
    add: (i32, i64, &Decimal),
    events: i64,
    update: &RunProgressUpdate,
) -> QueryResult<Option<Run>> {
    let (steps, tokens, cost) = (add.0, add.1, add.2.clone());
    dispatch!(conn, |c| diesel::update(
        runs::table
            .filter(runs::organization_id.eq(org))
            .filter(runs::id.eq(run_id))
            .filter(runs::claimed_by.eq(token))
            .filter(runs::status.eq(RunStatus::Running))
    )
    .set((
        runs::completed_steps.eq(runs::completed_steps + steps),
        runs::tokens_used.eq(runs::tokens_used + tokens),
        runs::cost.eq(plus("cost", cost.clone())),
        runs::event_seq.eq(runs::event_seq + events),
        update,
    ))
    .returning(Run::as_returning())
    .get_result(c)
    .await
    .optional())
}

/// Ends an unfinished run (`PENDING` or `RUNNING`) whoever holds it, reserving
/// `events` sequence numbers; `None` when it had already ended.
pub async fn end_unfinished(
    conn: &mut Conn<'_>,
    org: Id,
    run_id: Id,
    events: i64,
    update: &RunProgressUpdate,
) -> QueryResult<Option<Run>> {
    dispatch!(conn, |c| diesel::update(
        runs::table
            .filter(runs::organization_id.eq(org))
            .filter(runs::id.eq(run_id))
            .filter(runs::status.eq_any([RunStatus::Pending, RunStatus::Running]))
    )
    .set((runs::event_seq.eq(runs::event_seq + events), update))
    .returning(Run::as_returning())
    .get_result(c)
    .await
    .optional())
}

/// A step's outcome as stored.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = run_steps, treat_none_as_null = true)]
pub struct StepUpdate {
    pub status: StepStatus,
    pub output: Option<Json>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub tokens_used: i64,
    pub cost: Decimal,
    pub duration_ms: Option<i64>,
    pub error_message: Option<String>,
    pub completed_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

pub async fn update_step(
    conn: &mut Conn<'_>,
    org: Id,
    run_id: Id,
    position: i32,
    update: &StepUpdate,
) -> QueryResult<Option<RunStep>> {
    dispatch!(conn, |c| diesel::update(
        run_steps::table
            .filter(run_steps::organization_id.eq(org))
            .filter(run_steps::run_id.eq(run_id))
            .filter(run_steps::position.eq(position))
    )
    .set(update)
    .returning(RunStep::as_returning())
    .get_result(c)
    .await
    .optional())
}

/// Marks a step as started.
pub async fn start_step(
    conn: &mut Conn<'_>,
    org: Id,
    run_id: Id,
    position: i32,
    now: Timestamp,
) -> QueryResult<Option<RunStep>> {
    dispatch!(conn, |c| diesel::update(
        run_steps::table
            .filter(run_steps::organization_id.eq(org))
            .filter(run_steps::run_id.eq(run_id))
            .filter(run_steps::position.eq(position))
    )
    .set((
        run_steps::status.eq(StepStatus::Running),
        run_steps::started_at.eq(now),
        run_steps::updated_at.eq(now),
    ))
    .returning(RunStep::as_returning())
    .get_result(c)
    .await
    .optional())
}

/// Gives every unfinished step of a run the final `status`.
pub async fn close_open_steps(
    conn: &mut Conn<'_>,
    org: Id,
    run_id: Id,
    status: StepStatus,
    now: Timestamp,
) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::update(
        run_steps::table
            .filter(run_steps::organization_id.eq(org))
            .filter(run_steps::run_id.eq(run_id))
            .filter(run_steps::status.eq_any([StepStatus::Pending, StepStatus::Running]))
    )
    .set((run_steps::status.eq(status), run_steps::updated_at.eq(now)))
    .execute(c)
    .await)
}

pub async fn insert_events(conn: &mut Conn<'_>, rows: &[RunEventRow]) -> QueryResult<usize> {
    crate::insert_rows!(conn, run_events::table, rows)
}

/// Events of a run with `seq` in `after < seq <= upto`, in order.
pub async fn events_between(
    conn: &mut Conn<'_>,
    org: Id,
    run_id: Id,
    after: i64,
    upto: i64,
) -> QueryResult<Vec<RunEventRow>> {
    dispatch!(conn, |c| run_events::table
        .filter(run_events::organization_id.eq(org))
        .filter(run_events::run_id.eq(run_id))
        .filter(run_events::seq.gt(after))
        .filter(run_events::seq.le(upto))
        .order(run_events::seq.asc())
        .select(RunEventRow::as_select())
        .load(c)
        .await)
}

/// Whether the team has unfinished runs other than `except`.
pub async fn team_has_other_active(
    conn: &mut Conn<'_>,
    org: Id,
    team_id: Id,
    except: Id,
) -> QueryResult<bool> {
    dispatch!(conn, |c| diesel::select(diesel::dsl::exists(
        runs::table
            .filter(runs::organization_id.eq(org))
            .filter(runs::team_id.eq(team_id))
            .filter(runs::id.ne(except))
            .filter(runs::status.eq_any([RunStatus::Pending, RunStatus::Running]))
    ))
    .get_result(c)
    .await)
}

/// Charges `cost` to a team's spend if it fits the monthly budget; false if not.
pub async fn charge_team(
    conn: &mut Conn<'_>,
    org: Id,
    team_id: Id,
    cost: &Decimal,
    now: Timestamp,
) -> QueryResult<bool> {
    let cost = cost.clone();
    let updated = dispatch!(conn, |c| diesel::update(
        teams::table
            .filter(teams::organization_id.eq(org))
            .filter(teams::id.eq(team_id))
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("current_spend + ")
                    .bind::<sql_types::PortableNumeric, _>(cost.clone())
                    .sql(" <= monthly_budget")
            )
    )
    .set((
        teams::current_spend.eq(plus("current_spend", cost.clone())),
        teams::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    Ok(updated == 1)
}

/// Adds `cost` to a team's spend, even past its budget: work already done is charged.
pub async fn add_team_spend(
    conn: &mut Conn<'_>,
    org: Id,
    team_id: Id,
    cost: &Decimal,
    now: Timestamp,
) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::update(
        teams::table
            .filter(teams::organization_id.eq(org))
            .filter(teams::id.eq(team_id))
    )
    .set((
        teams::current_spend.eq(plus("current_spend", cost.clone())),
        teams::updated_at.eq(now),
    ))
    .execute(c)
    .await)
}

pub async fn set_team_status(
    conn: &mut Conn<'_>,
    org: Id,
    team_id: Id,
    status: TeamStatus,
    executed_at: Option<Timestamp>,
    now: Timestamp,
) -> QueryResult<usize> {
    dispatch!(conn, |c| {
        let target = teams::table
            .filter(teams::organization_id.eq(org))
            .filter(teams::id.eq(team_id));
        match executed_at {
            Some(at) => {
                diesel::update(target)
                    .set((
                        teams::status.eq(status),
                        teams::last_executed_at.eq(at),
                        teams::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await
            }
            None => {
                diesel::update(target)
                    .set((teams::status.eq(status), teams::updated_at.eq(now)))
                    .execute(c)
                    .await
            }
        }
    })
}

/// `<column> + amount` for a numeric column (exact on both backends: `numeric` on
/// PostgreSQL, integer ten-thousandths on SQLite).
fn plus(
    column: &'static str,
    amount: Decimal,
) -> diesel::expression::UncheckedBind<
    diesel::expression::SqlLiteral<sql_types::PortableNumeric>,
    diesel::internal::derives::as_expression::Bound<sql_types::PortableNumeric, Decimal>,
> {
    diesel::dsl::sql::<sql_types::PortableNumeric>(&format!("{column} + "))
        .bind::<sql_types::PortableNumeric, _>(amount)
}

/// Gives up a claim so another worker may take the run over at once.
pub async fn release_lease(
    conn: &mut Conn<'_>,
    run_id: Id,
    token: &str,
    now: Timestamp,
) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::update(
        runs::table
            .filter(runs::id.eq(run_id))
            .filter(runs::claimed_by.eq(token))
            .filter(runs::status.eq(RunStatus::Running))
    )
    .set(runs::lease_expires_at.eq(now))
    .execute(c)
    .await)
}

/// Every event of the organization's runs among `run_ids`, by run then `seq`.
pub async fn events_of_runs(
    conn: &mut Conn<'_>,
    org: Id,
    run_ids: &[Id],
) -> QueryResult<Vec<RunEventRow>> {
    dispatch!(conn, |c| run_events::table
        .filter(run_events::organization_id.eq(org))
        .filter(run_events::run_id.eq_any(run_ids))
        .order((run_events::run_id.asc(), run_events::seq.asc()))
        .select(RunEventRow::as_select())
        .load(c)
        .await)
}

/// Everything one step commit writes, for [`commit_step_pg`].
pub struct StepCommit<'a> {
    pub org: Id,
    pub run_id: Id,
    pub token: &'a str,
    /// The run's `event_seq` before this commit: a second fence beside the claim.
    pub prior_seq: i64,
    pub position: i32,
    pub next_position: Option<i32>,
    pub cost: &'a Decimal,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub output: &'a Json,
    pub duration_ms: i64,
    pub now: Timestamp,
    pub run: &'a RunProgressUpdate,
    pub last: bool,
    /// `[{id, seq, kind, payload}]`
    pub events: Json,
    pub notify: Option<(&'a str, String)>,
    /// The `data` of the `run.completed` webhook deliveries written when `last`.
    pub completion: Json,
    /// The step's usage lines: its token line (the other is one agent run).
    pub usage: &'a crate::billing::UsageRecord,
}

/// Outcome of [`commit_step_pg`] when the statement failed as designed.
pub const OVER_BUDGET_ABORT: &str = "division by zero";

/// A step's commit on PostgreSQL in one statement (one round trip, atomic on its own):
/// the run's counters behind the claim fence, the team's spend if it fits the budget,
/// the step, the next step's start, the events and the notification. `None` when the
/// claim was lost (nothing written); when the budget does not fit, the statement
/// aborts with [`OVER_BUDGET_ABORT`] and nothing is written either.
pub async fn commit_step_pg(
    conn: &mut diesel_async::AsyncPgConnection,
    commit: &StepCommit<'_>,
) -> QueryResult<Option<(Run, i64)>> {
    const SQL: &str = "WITH r AS ( \
        UPDATE runs SET completed_steps = completed_steps + 1, tokens_used = tokens_used + $8, \
          cost = cost + $7, event_seq = event_seq + $21, status = $22, claimed_by = $23, \
          lease_expires_at = $14, result = $16, duration_ms = $17, completed_at = $24, updated_at = $13 \
        WHERE organization_id = $1 AND id = $2 AND claimed_by = $3 AND status = 'RUNNING' AND event_seq = $4 \
        RETURNING *), \
      t AS ( \
        UPDATE teams SET current_spend = current_spend + $7, updated_at = $13, \
          status = CASE WHEN $15 THEN CASE WHEN EXISTS (SELECT 1 FROM runs o WHERE o.organization_id = $1 \
            AND o.team_id = teams.id AND o.id <> $2 AND o.status IN ('PENDING', 'RUNNING')) \
            THEN 'RUNNING' ELSE 'COMPLETED' END ELSE status END, \
          last_executed_at = CASE WHEN $15 THEN $13 ELSE last_executed_at END \
        WHERE organization_id = $1 AND id = (SELECT team_id FROM r) AND current_spend + $7 <= monthly_budget \
        RETURNING id), \
      s AS ( \
        UPDATE run_steps SET status = 'COMPLETED', output = $11, prompt_tokens = $9, completion_tokens = $10, \
          tokens_used = $9 + $10, cost = $7, duration_ms = $12, error_message = NULL, completed_at = $13, updated_at = $13 \
        WHERE organization_id = $1 AND run_id = $2 AND position = $5 AND EXISTS (SELECT 1 FROM t) \
        RETURNING id), \
      nx AS ( \
        UPDATE run_steps SET status = 'RUNNING', started_at = $13, updated_at = $13 \
        WHERE organization_id = $1 AND run_id = $2 AND position = $6 AND EXISTS (SELECT 1 FROM t) \
        RETURNING id), \
      e AS ( \
        INSERT INTO run_events (id, organization_id, run_id, seq, kind, payload, created_at) \
        SELECT x.id, $1, $2, x.seq, x.kind, x.payload, $13 \
        FROM jsonb_to_recordset($18) AS x(id uuid, seq bigint, kind text, payload jsonb) \
        WHERE EXISTS (SELECT 1 FROM t) \
        RETURNING id), \
      n AS (SELECT pg_notify($19, $20) FROM t WHERE $19 <> ''), \
      w AS ( \
        INSERT INTO webhook_deliveries (id, organization_id, webhook_id, event, payload, status, attempts, \
          next_attempt_at, created_at, updated_at) \
        SELECT gen_random_uuid(), $1, h.id, 'run.completed', $25, 'PENDING', 0, $13, $13, $13 \
        FROM webhooks h WHERE $15 AND h.organization_id = $1 AND h.is_active \
          AND jsonb_exists(h.events, 'run.completed') AND EXISTS (SELECT 1 FROM t) \
        RETURNING id), \
      u AS ( \
        INSERT INTO usage_records (id, organization_id, subscription_id, team_id, run_id, step_id, model, \
          billing_unit, quantity, unit_price, total_cost, currency, usage_day, period_start, period_end, created_at) \
        SELECT gen_random_uuid(), $1, (SELECT id FROM subscriptions WHERE organization_id = $1), \
          (SELECT id FROM t), $2, $26, $27, x.unit, x.quantity, x.price, x.cost, 'USD', $28, $29, $30, $13 \
        FROM (VALUES ('token', $8, $31, $7), ('agent_run', 1, 0, 0)) AS x(unit, quantity, price, cost) \
        WHERE EXISTS (SELECT 1 FROM t) \
        RETURNING id) \
      SELECT r.*, 1 / (SELECT count(*)::int FROM t) AS charged, (SELECT count(*) FROM n) AS notified, \
        (SELECT count(*) FROM s) AS stored, (SELECT count(*) FROM nx) AS started, (SELECT count(*) FROM e) AS logged, \
        (SELECT count(*) FROM w) AS hooked \
      FROM r";
    let (channel, payload) = match &commit.notify {
        Some((channel, payload)) => (*channel, payload.as_str()),
        None => ("", ""),
    };
    StepCommitQuery {
        sql: SQL,
        commit,
        tokens: commit.prompt_tokens + commit.completion_tokens,
        events_count: if commit.last { 2 } else { 1 },
        channel,
        payload,
    }
    .get_result::<CommittedStep>(conn)
    .await
    .optional()
    .map(|row| row.map(|row| (row.run, row.hooked)))
}

/// What [`commit_step_pg`]'s statement returns: the run, and how many webhook
/// deliveries it wrote.
#[derive(QueryableByName)]
struct CommittedStep {
    #[diesel(embed)]
    run: Run,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    hooked: i64,
}

/// [`commit_step_pg`]'s statement. Unlike `sql_query`, diesel may keep it prepared
/// (its text never changes), so PostgreSQL plans it once per connection rather than
/// on every step. The binds are listed once at the end of the statement, numbered in
/// the order the text refers to them.
struct StepCommitQuery<'a> {
    sql: &'static str,
    commit: &'a StepCommit<'a>,
    tokens: i64,
    events_count: i64,
    channel: &'a str,
    payload: &'a str,
}

impl diesel::query_builder::QueryId for StepCommitQuery<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for StepCommitQuery<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for StepCommitQuery<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
        use sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};
        let c = self.commit;
        out.push_sql(self.sql);
        out.push_sql(" CROSS JOIN (SELECT ");
        out.push_bind_param::<PortableUuid, _>(&c.org)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableUuid, _>(&c.run_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&c.token)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&c.prior_seq)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&c.position)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&c.next_position)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableNumeric, _>(c.cost)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.tokens)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&c.prompt_tokens)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&c.completion_tokens)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableJson, _>(c.output)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&c.duration_ms)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableTimestamp, _>(&c.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<PortableTimestamp>, _>(&c.run.lease_expires_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&c.last)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&c.run.result)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&c.run.duration_ms)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableJson, _>(&c.events)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.channel)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.payload)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.events_count)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&c.run.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&c.run.claimed_by)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<PortableTimestamp>, _>(&c.run.completed_at)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableJson, _>(&c.completion)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<PortableUuid>, _>(&c.usage.step_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&c.usage.model)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&c.usage.usage_day)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableTimestamp, _>(&c.usage.period_start)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableTimestamp, _>(&c.usage.period_end)?;
        out.push_sql(", ");
        out.push_bind_param::<PortableNumeric, _>(&c.usage.unit_price)?;
        out.push_sql(") AS params");
        Ok(())
    }
}

/// Runs of every organization by status: the operator's view, for `/metrics`.
pub async fn count_by_status(conn: &mut Conn<'_>) -> QueryResult<Vec<(RunStatus, i64)>> {
    dispatch!(conn, |c| runs::table
        .group_by(runs::status)
        .select((runs::status, diesel::dsl::count_star()))
        .load(c)
        .await)
}
