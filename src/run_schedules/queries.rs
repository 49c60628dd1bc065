use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{RunSchedule, RunScheduleStatus};
use crate::db::schema::{run_schedules, runs};
use crate::db::{Conn, Id, Timestamp};
use crate::dispatch;
use crate::pagination::Window;

/// One page of the organization's run schedules (of one team, if given), newest first.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    team_id: Option<Id>,
    window: Window,
) -> QueryResult<Vec<RunSchedule>> {
    dispatch!(conn, |c| {
        let mut query = run_schedules::table
            .filter(run_schedules::organization_id.eq(org))
            .into_boxed();
        if let Some(team) = team_id {
            query = query.filter(run_schedules::team_id.eq(team));
        }
        query
            .order((run_schedules::created_at.desc(), run_schedules::id.desc()))
            .offset(window.offset)
            .limit(window.limit)
            .select(RunSchedule::as_select())
            .load(c)
            .await
    })
}

pub async fn count(conn: &mut Conn<'_>, org: Id, team_id: Option<Id>) -> QueryResult<i64> {
    dispatch!(conn, |c| {
        let mut query = run_schedules::table
            .filter(run_schedules::organization_id.eq(org))
            .into_boxed();
        if let Some(team) = team_id {
            query = query.filter(run_schedules::team_id.eq(team));
        }
        query.count().get_result(c).await
    })
}

pub async fn by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<RunSchedule>> {
    dispatch!(conn, |c| run_schedules::table
        .filter(run_schedules::organization_id.eq(org))
        .filter(run_schedules::id.eq_any(ids))
        .select(RunSchedule::as_select())
        .load(c)
        .await)
}

/// A schedule of the organization, locked until the transaction ends.
pub async fn lock(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<RunSchedule>> {
    let query = run_schedules::table
        .filter(run_schedules::organization_id.eq(org))
        .filter(run_schedules::id.eq(id));
    crate::first_for_update!(conn, query, RunSchedule)
}

pub async fn insert(conn: &mut Conn<'_>, row: &RunSchedule) -> QueryResult<RunSchedule> {
    dispatch!(conn, |c| diesel::insert_into(run_schedules::table)
        .values(row)
        .returning(RunSchedule::as_returning())
        .get_result(c)
        .await)
}

/// Stores what a client may change, and the status and next occurrence.
pub async fn save(conn: &mut Conn<'_>, row: &RunSchedule) -> QueryResult<RunSchedule> {
    dispatch!(conn, |c| diesel::update(
        run_schedules::table
            .filter(run_schedules::organization_id.eq(row.organization_id))
            .filter(run_schedules::id.eq(row.id))
    )
    .set((
        run_schedules::name.eq(&row.name),
        run_schedules::created_by.eq(row.created_by),
        run_schedules::template_id.eq(row.template_id),
        run_schedules::cron.eq(&row.cron),
        run_schedules::timezone.eq(&row.timezone),
        run_schedules::inputs.eq(&row.inputs),
        run_schedules::status.eq(row.status),
        run_schedules::missed_policy.eq(row.missed_policy),
        run_schedules::next_run_at.eq(row.next_run_at),
        run_schedules::last_error.eq(&row.last_error),
        run_schedules::updated_at.eq(row.updated_at),
    ))
    .returning(RunSchedule::as_returning())
    .get_result(c)
    .await)
}

/// Detaches the schedule's runs, then deletes it.
pub async fn delete(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| {
        diesel::update(
            runs::table
                .filter(runs::organization_id.eq(org))
                .filter(runs::schedule_id.eq(id)),
        )
        .set(runs::schedule_id.eq(None::<Id>))
        .execute(c)
        .await?;
        diesel::delete(
            run_schedules::table
                .filter(run_schedules::organization_id.eq(org))
                .filter(run_schedules::id.eq(id)),
        )
        .execute(c)
        .await
    })
}

/// Active schedules whose next occurrence has come, across organizations, earliest
/// first: `(organization, id, next_run_at)`.
pub async fn due(
    conn: &mut Conn<'_>,
    now: Timestamp,
    limit: i64,
) -> QueryResult<Vec<(Id, Id, Timestamp)>> {
    dispatch!(conn, |c| run_schedules::table
        .filter(run_schedules::status.eq(RunScheduleStatus::Active))
        .filter(run_schedules::next_run_at.le(now))
        .order(run_schedules::next_run_at)
        .limit(limit)
        .select((
            run_schedules::organization_id,
            run_schedules::id,
            run_schedules::next_run_at.assume_not_null(),
        ))
        .load(c)
        .await)
}

/// Claims the occurrence due at `due`: moves the schedule on to `next`, provided it
/// is still active and still waiting for `due` (no other process claimed it). On
/// PostgreSQL a concurrent claim waits for this one and then finds nothing to claim.
pub async fn claim(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
    due: Timestamp,
    next: Option<Timestamp>,
    now: Timestamp,
) -> QueryResult<Option<RunSchedule>> {
    dispatch!(conn, |c| diesel::update(
        run_schedules::table
            .filter(run_schedules::organization_id.eq(org))
            .filter(run_schedules::id.eq(id))
            .filter(run_schedules::status.eq(RunScheduleStatus::Active))
            .filter(run_schedules::next_run_at.eq(due))
    )
    .set((
        run_schedules::next_run_at.eq(next),
        run_schedules::updated_at.eq(now),
    ))
    .returning(RunSchedule::as_returning())
    .get_result(c)
    .await
    .optional())
}

/// What firing an occurrence came to.
pub struct Fired<'a> {
    pub occurrence: Timestamp,
    pub run_id: Option<Id>,
    pub error: Option<&'a str>,
    /// The schedule cannot go on (its team or owner is gone): it is paused.
    pub pause: bool,
    pub now: Timestamp,
}

pub async fn record_fired(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
    fired: &Fired<'_>,
) -> QueryResult<RunSchedule> {
    let started = i32::from(fired.run_id.is_some());
    dispatch!(conn, |c| {
        let mut query = diesel::update(
            run_schedules::table
                .filter(run_schedules::organization_id.eq(org))
                .filter(run_schedules::id.eq(id)),
        )
        .set((
            run_schedules::last_run_at.eq(fired.occurrence),
            run_schedules::last_run_id.eq(fired.run_id),
            run_schedules::last_error.eq(fired.error),
            run_schedules::run_count.eq(run_schedules::run_count + started),
            run_schedules::updated_at.eq(fired.now),
        ))
        .returning(RunSchedule::as_returning())
        .get_result(c)
        .await?;
        if fired.pause {
            query = diesel::update(
                run_schedules::table
                    .filter(run_schedules::organization_id.eq(org))
                    .filter(run_schedules::id.eq(id)),
            )
            .set((
                run_schedules::status.eq(RunScheduleStatus::Paused),
                run_schedules::next_run_at.eq(None::<Timestamp>),
            ))
            .returning(RunSchedule::as_returning())
            .get_result(c)
            .await?;
        }
        Ok(query)
    })
}

/// One page of the runs a schedule started, newest first.
pub async fn runs_of(
    conn: &mut Conn<'_>,
    org: Id,
    schedule_id: Id,
    window: Window,
) -> QueryResult<Vec<crate::runs::Run>> {
    dispatch!(conn, |c| runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::schedule_id.eq(schedule_id))
        .order((runs::created_at.desc(), runs::id.desc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(crate::runs::Run::as_select())
        .load(c)
        .await)
}

pub async fn count_runs_of(conn: &mut Conn<'_>, org: Id, schedule_id: Id) -> QueryResult<i64> {
    dispatch!(conn, |c| runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::schedule_id.eq(schedule_id))
        .count()
        .get_result(c)
        .await)
}
